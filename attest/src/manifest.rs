//! Signed suite manifests (SPEC.md, "Suite manifest"): the ordered list of a
//! suite's modules with their blake3 digests, signed by a suite authority.
//!
//! File layout: `magic (8) ‖ version u16 LE ‖ flags u16 LE ‖ authority
//! public key (32) ‖ manifest length u32 LE ‖ postcard(SuiteManifest) ‖
//! signature (64)`, nothing after. The signature is Ed25519 over
//! [`SuiteManifest::signed_message`].

use std::io::{Read, Write};
use std::path::Path;

use airlock_core::record::Signature;
use airlock_core::suite::SuiteManifest;

use crate::error::{AttestError, io_err};
pub use crate::error::{MANIFEST_VERSION, MAX_MANIFEST_LEN, ManifestFormatError, SignedFileError};
use crate::fsutil::{AtomicFile, Overwrite};
use crate::keys::{PublicKey, SigningKey};
use crate::signed_file::Kind;

/// Magic of a suite manifest file: `\x89ALS\r\n\x1a\n`.
pub const MANIFEST_MAGIC: [u8; 8] = *b"\x89ALS\r\n\x1a\n";
/// The file name of a suite directory's manifest.
pub const MANIFEST_FILE_NAME: &str = "suite.manifest";

/// A manifest whose signature verified under a trusted authority key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedManifest {
    /// The manifest.
    pub manifest: SuiteManifest,
    /// The authority key that signed it.
    pub authority: PublicKey,
}

/// The layout of a manifest file.
const KIND: Kind = Kind {
    magic: MANIFEST_MAGIC,
    version: MANIFEST_VERSION,
    max_body: MAX_MANIFEST_LEN,
    name: "suite manifest",
};

/// The bytes of a signed manifest file.
pub fn encode_manifest(manifest: &SuiteManifest, authority: &SigningKey) -> Vec<u8> {
    let body = postcard::to_allocvec(manifest).unwrap_or_default();
    let signature = authority.sign(&manifest.signed_message());
    KIND.encode(&authority.public_key(), &body, &signature)
}

/// Parses a manifest file's bytes, without checking the signature.
pub fn decode_manifest(
    bytes: &[u8],
) -> Result<(SuiteManifest, PublicKey, Signature), ManifestFormatError> {
    let file = KIND.decode(bytes).map_err(ManifestFormatError::Layout)?;
    let manifest: SuiteManifest =
        airlock_core::decode_exact(file.body).map_err(|_| ManifestFormatError::Undecodable)?;
    for task in &manifest.tasks {
        let name = &task.file_name;
        if name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
            return Err(ManifestFormatError::BadFileName(name.clone()));
        }
    }
    Ok((manifest, file.signer, file.signature))
}

/// Signs `manifest` with `authority` and writes it to `path` atomically.
pub fn write_manifest(
    path: &Path,
    manifest: &SuiteManifest,
    authority: &SigningKey,
    overwrite: Overwrite,
) -> Result<(), AttestError> {
    let bytes = encode_manifest(manifest, authority);
    let mut file = AtomicFile::create(path, overwrite)?;
    let target = file.target_path().to_path_buf();
    file.file()?
        .write_all(&bytes)
        .map_err(io_err(&target, "write"))?;
    file.commit()
}

/// Reads `path` and verifies its signature under one of `trusted`.
pub fn read_manifest(path: &Path, trusted: &[PublicKey]) -> Result<VerifiedManifest, AttestError> {
    let (file, _) = crate::fsutil::open_regular(path)?;
    let mut bytes = Vec::new();
    // Bounded read: a hostile "manifest" of gigabytes is refused, not loaded.
    file.take(KIND.max_file_len() + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path, "read"))?;
    let (manifest, authority, signature) =
        decode_manifest(&bytes).map_err(|problem| AttestError::BadManifest {
            path: path.to_path_buf(),
            problem,
        })?;
    if !trusted.contains(&authority) {
        return Err(AttestError::UntrustedManifest {
            path: path.to_path_buf(),
            key_id: authority.key_id(),
        });
    }
    if !authority.verify(&manifest.signed_message(), &signature) {
        return Err(AttestError::ManifestSignature {
            path: path.to_path_buf(),
        });
    }
    Ok(VerifiedManifest {
        manifest,
        authority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::Digest;
    use airlock_core::suite::ManifestTask;

    fn sample() -> SuiteManifest {
        SuiteManifest {
            name: "s".into(),
            tasks: vec![ManifestTask {
                task_id: "a".into(),
                version: 1,
                file_name: "a.wasm".into(),
                module_digest: Digest([1; 32]),
            }],
        }
    }

    /// Exact bytes of a manifest file (SPEC.md, "Suite manifest").
    #[test]
    fn manifest_file_bytes_are_pinned() {
        let key = SigningKey::from_seed(&[7; 32]);
        let bytes = encode_manifest(&sample(), &key);
        assert_eq!(&bytes[..12], b"\x89ALS\r\n\x1a\n\x01\x00\x00\x00");
        assert_eq!(&bytes[12..44], &key.public_key().0);
        assert_eq!(&bytes[44..48], &[45, 0, 0, 0]);
        assert_eq!(bytes.len(), 48 + 45 + 64);
        let (manifest, authority, signature) = decode_manifest(&bytes).unwrap();
        assert_eq!(manifest, sample());
        assert_eq!(authority, key.public_key());
        assert!(authority.verify(&manifest.signed_message(), &signature));
    }

    #[test]
    fn every_single_byte_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_seed(&[7; 32]);
        let path = dir.path().join(MANIFEST_FILE_NAME);
        write_manifest(&path, &sample(), &key, Overwrite::Refuse).unwrap();
        let good = std::fs::read(&path).unwrap();
        assert!(read_manifest(&path, &[key.public_key()]).is_ok());
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            assert!(
                read_manifest(&path, &[key.public_key()]).is_err(),
                "byte {i} changed and the manifest was still accepted"
            );
        }
    }

    #[test]
    fn untrusted_authority_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_seed(&[7; 32]);
        let other = SigningKey::from_seed(&[8; 32]);
        let path = dir.path().join(MANIFEST_FILE_NAME);
        write_manifest(&path, &sample(), &key, Overwrite::Refuse).unwrap();
        let err = read_manifest(&path, &[other.public_key()]).unwrap_err();
        assert!(matches!(err, AttestError::UntrustedManifest { .. }));
        assert!(err.to_string().contains(&key.key_id().to_hex().to_string()));
    }

    #[test]
    fn path_like_file_names_are_refused() {
        let key = SigningKey::from_seed(&[7; 32]);
        let mut m = sample();
        m.tasks[0].file_name = "../escape.wasm".into();
        let bytes = encode_manifest(&m, &key);
        assert!(matches!(
            decode_manifest(&bytes),
            Err(ManifestFormatError::BadFileName(_))
        ));
    }
}
