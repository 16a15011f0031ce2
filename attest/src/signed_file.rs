//! The layout two signed files share, a suite manifest and a campaign plan:
//! `magic (8) ‖ version u16 LE ‖ flags u16 LE (0) ‖ signer public key (32)
//! ‖ body length u32 LE ‖ body ‖ Ed25519 signature (64)`, nothing after.
//! What the body is and what the signature covers is each file's own.

use airlock_core::record::Signature;

use crate::error::SignedFileError;
use crate::keys::PublicKey;

/// Bytes before the body.
const FIXED_LEN: usize = 8 + 2 + 2 + 32 + 4;

/// What a signed file's bytes hold, its signature not yet checked.
pub(crate) struct SignedFile<'a> {
    /// The key in the header.
    pub(crate) signer: PublicKey,
    /// The body.
    pub(crate) body: &'a [u8],
    /// The signature after the body.
    pub(crate) signature: Signature,
}

/// What one kind of signed file is.
#[derive(Clone, Copy)]
pub(crate) struct Kind {
    /// Its magic.
    pub(crate) magic: [u8; 8],
    /// The version this build writes and reads.
    pub(crate) version: u16,
    /// The largest body accepted.
    pub(crate) max_body: u32,
    /// What the file is called in messages ("suite manifest").
    pub(crate) name: &'static str,
}

impl Kind {
    /// The most bytes a file of this kind can have: a bound for reading one.
    pub(crate) fn max_file_len(self) -> u64 {
        u64::from(self.max_body) + FIXED_LEN as u64 + 64
    }

    /// The file's bytes.
    pub(crate) fn encode(self, signer: &PublicKey, body: &[u8], signature: &Signature) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + body.len() + 64);
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&signer.0);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&signature.0);
        out
    }

    /// Splits a file's bytes into signer, body and signature, refusing any
    /// other magic, version, flags, a length over the bound, a cut file and
    /// bytes after the signature.
    pub(crate) fn decode(self, bytes: &[u8]) -> Result<SignedFile<'_>, SignedFileError> {
        if bytes.len() < FIXED_LEN {
            return Err(SignedFileError::Truncated);
        }
        let (fixed, rest) = bytes.split_at(FIXED_LEN);
        if fixed[..8] != self.magic {
            return Err(SignedFileError::BadMagic { kind: self.name });
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != self.version {
            return Err(SignedFileError::UnsupportedVersion {
                found: version,
                reads: self.version,
            });
        }
        let flags = u16::from_le_bytes([fixed[10], fixed[11]]);
        if flags != 0 {
            return Err(SignedFileError::NonZeroFlags(flags));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&fixed[12..44]);
        let len = u32::from_le_bytes([fixed[44], fixed[45], fixed[46], fixed[47]]);
        if len > self.max_body {
            return Err(SignedFileError::TooLong {
                kind: self.name,
                len,
                max: self.max_body,
            });
        }
        let len = len as usize;
        if rest.len() < len + 64 {
            return Err(SignedFileError::Truncated);
        }
        if rest.len() > len + 64 {
            return Err(SignedFileError::TrailingBytes);
        }
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&rest[len..]);
        Ok(SignedFile {
            signer: PublicKey(key),
            body: &rest[..len],
            signature: Signature(signature),
        })
    }
}
