//! Ed25519 evaluator keys: generation, key files, key ids and record signing
//! (SPEC.md, "Keys" and "Signatures").

use core::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_core::chain::{chain_hash, signed_message};
use airlock_core::record::{Record, Signature, SignedEntry};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

pub use crate::error::KeyFormatError;
use crate::error::{AttestError, io_err};
use crate::fsutil::{create_dirs, create_new_file, sync_dir};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 key bytes follow.
pub const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// PEM label of a private key file (PKCS#8).
pub const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";
/// PEM label of a public key file (SubjectPublicKeyInfo).
pub const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// Key files are a few hundred bytes; reading stops here so that a wrong
/// path (a disk image, a device) is refused quickly.
const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

/// The y coordinates (32 bytes little-endian, sign bit clear) of every
/// point of small order on edwards25519, and their non-canonical spellings:
/// 0 (order 4), 1 (the identity), the two order-8 values, p − 1 (order 2),
/// p (= 0) and p + 1 (= 1). With either sign bit they are the encodings
/// libsodium's `ge25519_has_small_order` and "Taming the many EdDSAs"
/// (Chalkias et al., 2020) list. No signing key made from a seed has one
/// of them as its public half: those are multiples of the prime-order
/// base point.
const SMALL_ORDER_Y: [[u8; 32]; 7] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    field_prime_plus(-1),
    field_prime_plus(0),
    field_prime_plus(1),
];

/// p + `delta` (for small `delta`), little-endian, p = 2^255 − 19.
const fn field_prime_plus(delta: i8) -> [u8; 32] {
    let mut out = [0xff; 32];
    out[0] = (0xed_i16 + delta as i16) as u8;
    out[31] = 0x7f;
    out
}

/// An Ed25519 public key: 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(key id {})", self.key_id())
    }
}

impl PublicKey {
    /// The key id: SHA-256 of the canonical JSON
    /// `{"keytype":"ed25519","keyval":{"public":"<hex>"},"scheme":"ed25519"}`,
    /// the keyid Python securesystemslib computes, so one id names the key in
    /// records and in DSSE signatures alike.
    pub fn key_id(&self) -> Digest {
        let json = format!(
            "{{\"keytype\":\"ed25519\",\"keyval\":{{\"public\":\"{}\"}},\"scheme\":\"ed25519\"}}",
            Digest(self.0).to_hex()
        );
        let d = ring::digest::digest(&ring::digest::SHA256, json.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Digest(out)
    }

    /// Why this key must never be trusted, if it must not: a point of
    /// small order, or a y coordinate spelled as a value ≥ p. Checked when
    /// a key is loaded and again by [`PublicKey::verify`], so a weak key
    /// made in code verifies nothing either.
    pub fn weakness(&self) -> Option<KeyFormatError> {
        let mut y = self.0;
        y[31] &= 0x7f;
        if SMALL_ORDER_Y.contains(&y) {
            return Some(KeyFormatError::WeakKey);
        }
        // y ≥ p = 2^255 − 19: every byte but the first and last 0xff, the
        // last 0x7f (sign bit cleared above) and the first at least 0xed.
        if y[31] == 0x7f && y[1..31].iter().all(|&b| b == 0xff) && y[0] >= 0xed {
            return Some(KeyFormatError::NonCanonicalKey);
        }
        None
    }

    /// The DER SubjectPublicKeyInfo: [`SPKI_PREFIX`] ‖ key.
    pub fn to_spki_der(&self) -> [u8; 44] {
        let mut out = [0u8; 44];
        out[..12].copy_from_slice(&SPKI_PREFIX);
        out[12..].copy_from_slice(&self.0);
        out
    }

    /// The SPKI PEM text (label `PUBLIC KEY`), as OpenSSL writes it.
    pub fn to_spki_pem(&self) -> String {
        pem_encode(PUBLIC_KEY_LABEL, &self.to_spki_der())
    }

    /// Parses an SPKI PEM holding an Ed25519 public key.
    pub fn from_spki_pem(text: &str) -> Result<PublicKey, KeyFormatError> {
        let (label, der) = pem_decode(text)?;
        if label != PUBLIC_KEY_LABEL {
            return Err(KeyFormatError::WrongLabel {
                found: label,
                expected: PUBLIC_KEY_LABEL,
            });
        }
        PublicKey::from_spki_der(&der)
    }

    /// Parses a DER SubjectPublicKeyInfo holding an Ed25519 public key.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyFormatError> {
        if der.len() != 44 || der[..12] != SPKI_PREFIX {
            return Err(KeyFormatError::BadDer(
                "not an Ed25519 SubjectPublicKeyInfo (expected 44 bytes starting 302a300506032b6570032100)",
            ));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&der[12..]);
        let key = PublicKey(key);
        match key.weakness() {
            Some(problem) => Err(problem),
            None => Ok(key),
        }
    }

    /// Reads a public key file (SPKI PEM).
    pub fn load(path: &Path) -> Result<PublicKey, AttestError> {
        let (_, text) = read_key_file(path)?;
        match PublicKey::from_spki_pem(&text) {
            Ok(key) => Ok(key),
            Err(KeyFormatError::WrongLabel { found, .. }) if found.ends_with(PRIVATE_KEY_LABEL) => {
                Err(AttestError::PrivateKeyGiven {
                    path: path.to_path_buf(),
                })
            }
            Err(problem) => Err(AttestError::BadKeyFile {
                path: path.to_path_buf(),
                problem,
            }),
        }
    }

    /// Whether `signature` is this key's Ed25519 signature of `message`.
    /// Never, for a weak key ([`PublicKey::weakness`]): ring checks the
    /// equation, and a small-order key satisfies it for forged signatures.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        if self.weakness().is_some() {
            return false;
        }
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, &signature.0)
            .is_ok()
    }

    /// Whether the entry's signature is this key's signature of
    /// [`signed_message`] of the entry's stored chain hash.
    pub fn verify_entry(&self, entry: &SignedEntry) -> bool {
        self.verify(&signed_message(&entry.chain_hash), &entry.signature)
    }
}

/// An evaluator's Ed25519 signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        write!(f, "SigningKey(key id {})", self.public.key_id())
    }
}

impl SigningKey {
    /// A fresh random key and its PKCS#8 v2 document (as ring writes it).
    pub fn generate() -> Result<(SigningKey, Vec<u8>), KeyFormatError> {
        let rng = SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| KeyFormatError::BadDer("the system random generator failed"))?;
        let key = SigningKey::from_pkcs8_der(doc.as_ref())?;
        Ok((key, doc.as_ref().to_vec()))
    }

    /// A key from a 32-byte seed. Deterministic: for test vectors and tests,
    /// never for a real evaluator key.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        // from_seed_unchecked fails only for a seed of the wrong length,
        // which the type rules out.
        #[allow(clippy::expect_used)]
        let pair =
            Ed25519KeyPair::from_seed_unchecked(seed).expect("a 32-byte seed is always accepted");
        SigningKey::from_pair(pair)
    }

    fn from_pair(pair: Ed25519KeyPair) -> SigningKey {
        let mut public = [0u8; 32];
        public.copy_from_slice(pair.public_key().as_ref());
        SigningKey {
            pair,
            public: PublicKey(public),
        }
    }

    /// Signs `message` as it is. Every Airlock message starts with its own
    /// domain string (records, suite manifests, DSSE's PAE), so a signature
    /// made for one purpose never verifies for another.
    pub fn sign(&self, message: &[u8]) -> Signature {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        Signature(out)
    }

    /// Parses a PKCS#8 (v1 or v2) Ed25519 private key in DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyFormatError> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(SigningKey::from_pair)
            .map_err(|_| KeyFormatError::BadDer("not a PKCS#8 Ed25519 private key"))
    }

    /// Parses a PKCS#8 PEM (label `PRIVATE KEY`).
    pub fn from_pkcs8_pem(text: &str) -> Result<SigningKey, KeyFormatError> {
        let (label, der) = pem_decode(text)?;
        if label != PRIVATE_KEY_LABEL {
            return Err(KeyFormatError::WrongLabel {
                found: label,
                expected: PRIVATE_KEY_LABEL,
            });
        }
        SigningKey::from_pkcs8_der(&der)
    }

    /// Reads a private key file. Refuses a file that group or others may
    /// read or write, as ssh does, since a leaked evaluator key lets anyone
    /// sign results. A file that is no private key at all is named as such
    /// first: its mode is then not the problem.
    pub fn load(path: &Path) -> Result<SigningKey, AttestError> {
        let (file, text) = read_key_file(path)?;
        let key = match SigningKey::from_pkcs8_pem(&text) {
            Ok(key) => key,
            Err(KeyFormatError::WrongLabel { found, .. }) if found == PUBLIC_KEY_LABEL => {
                return Err(AttestError::PublicKeyGiven {
                    path: path.to_path_buf(),
                });
            }
            Err(problem) => {
                return Err(AttestError::BadKeyFile {
                    path: path.to_path_buf(),
                    problem,
                });
            }
        };
        // The mode of the file that was read, from its descriptor: a check
        // by path would look at whatever the path names by now (a symlink
        // swapped after the read).
        check_private_mode(path, &file)?;
        Ok(key)
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The key id of the public half ([`PublicKey::key_id`]).
    pub fn key_id(&self) -> Digest {
        self.public.key_id()
    }

    /// Signs `record` as entry `seq` after the entry whose chain hash is
    /// `prev` ([`airlock_core::chain::GENESIS`] for seq 0).
    pub fn sign_next(&self, prev: &Digest, seq: u64, record: &Record) -> SignedEntry {
        self.sign_body(prev, seq, record.to_bytes())
    }

    /// Signs arbitrary record bytes as entry `seq`. [`SigningKey::sign_next`]
    /// is the normal way; this exists so that tests can sign bodies that are
    /// not valid records and check that verifiers refuse them.
    pub fn sign_body(&self, prev: &Digest, seq: u64, body: Vec<u8>) -> SignedEntry {
        let hash = chain_hash(prev, seq, &body);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(self.pair.sign(&signed_message(&hash)).as_ref());
        SignedEntry {
            seq,
            body,
            chain_hash: hash,
            signature: Signature(signature),
        }
    }
}

/// What [`keygen`] wrote.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// The private key file (`DIR/NAME.key`).
    pub private_path: PathBuf,
    /// The public key file (`DIR/NAME.pub`).
    pub public_path: PathBuf,
    /// The public key.
    pub public_key: PublicKey,
    /// Its key id.
    pub key_id: Digest,
}

/// Generates an evaluator key: `DIR/NAME.key` (PKCS#8 PEM, mode 0600) and
/// `DIR/NAME.pub` (SPKI PEM). Never overwrites: if either file exists,
/// nothing is written. Creates `dir` if missing.
pub fn keygen(dir: &Path, name: &str) -> Result<GeneratedKey, AttestError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(AttestError::InvalidKeyName {
            name: name.to_owned(),
        });
    }
    let private_path = dir.join(format!("{name}.key"));
    let public_path = dir.join(format!("{name}.pub"));
    for path in [&private_path, &public_path] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(AttestError::AlreadyExists { path: path.clone() });
        }
    }
    let created = create_dirs(dir)?;
    let (key, pkcs8) = SigningKey::generate().map_err(|problem| AttestError::BadKeyFile {
        path: private_path.clone(),
        problem,
    })?;
    let public_key = key.public_key();

    write_new(&private_path, 0o600, &pem_encode(PRIVATE_KEY_LABEL, &pkcs8))?;
    if let Err(e) = write_new(&public_path, 0o644, &public_key.to_spki_pem()) {
        // Leave no half pair behind: the private key alone is useless and
        // would make the next keygen refuse.
        let _ = fs::remove_file(&private_path);
        return Err(e);
    }
    if let Err(e) = sync_dir(dir) {
        let _ = fs::remove_file(&private_path);
        let _ = fs::remove_file(&public_path);
        return Err(e);
    }
    created.keep();
    Ok(GeneratedKey {
        private_path,
        public_path,
        public_key,
        key_id: public_key.key_id(),
    })
}

fn write_new(path: &Path, mode: u32, text: &str) -> Result<(), AttestError> {
    let mut file = create_new_file(path, mode)?;
    let result = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_err(path, "write"));
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// The opened file and its text: the file is opened once, and what is
/// checked about it afterwards (its mode) is asked of this descriptor.
fn read_key_file(path: &Path) -> Result<(File, String), AttestError> {
    let mut file = File::open(path).map_err(io_err(path, "open"))?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path, "read"))?;
    let bad = |problem| AttestError::BadKeyFile {
        path: path.to_path_buf(),
        problem,
    };
    if bytes.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(bad(KeyFormatError::TooLarge));
    }
    let text = String::from_utf8(bytes).map_err(|_| bad(KeyFormatError::NotText))?;
    Ok((file, text))
}

#[cfg(unix)]
fn check_private_mode(path: &Path, file: &File) -> Result<(), AttestError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(io_err(path, "stat"))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(AttestError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(_path: &Path, _file: &File) -> Result<(), AttestError> {
    Ok(())
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        // base64 output is ASCII.
        out.push_str(core::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The label and DER of the first PEM block in `text`.
fn pem_decode(text: &str) -> Result<(String, Vec<u8>), KeyFormatError> {
    let mut lines = text.lines().map(str::trim);
    let label = loop {
        let line = lines.next().ok_or(KeyFormatError::NoPemBlock)?;
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        {
            break label.to_owned();
        }
    };
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    loop {
        let line = lines.next().ok_or(KeyFormatError::UnterminatedPem)?;
        if line == end {
            break;
        }
        if line.starts_with("-----") {
            return Err(KeyFormatError::UnterminatedPem);
        }
        body.push_str(line);
    }
    let der = BASE64
        .decode(body.as_bytes())
        .map_err(|_| KeyFormatError::BadBase64)?;
    Ok((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::chain::GENESIS;

    /// RFC 8032, section 7.1, TEST 1: a published key, so anyone can
    /// reproduce the vectors in SPEC.md.
    pub(crate) const RFC8032_SEED: [u8; 32] = [
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c,
        0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae,
        0x7f, 0x60,
    ];

    #[test]
    fn rfc8032_public_key() {
        let key = SigningKey::from_seed(&RFC8032_SEED);
        assert_eq!(
            Digest(key.public_key().0).to_hex().as_str(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }

    /// Key id vector (SPEC.md, "Key id"). Cross-checked once by hand with
    /// Python securesystemslib 1.6.0:
    /// `SSlibKey.from_crypto(load_pem_public_key(pem)).keyid` for the SPKI PEM
    /// of this key gives the same hex (and its `verify_signature` accepts
    /// SIGNATURE_VECTOR over the signed message below).
    #[test]
    fn key_id_vector() {
        let key = SigningKey::from_seed(&RFC8032_SEED);
        assert_eq!(key.key_id().to_hex().as_str(), KEY_ID_VECTOR);
    }

    pub(crate) const KEY_ID_VECTOR: &str =
        "74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916";

    #[test]
    fn spki_pem_vector_and_round_trip() {
        let key = SigningKey::from_seed(&RFC8032_SEED).public_key();
        let pem = key.to_spki_pem();
        assert_eq!(
            pem,
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n"
        );
        assert_eq!(PublicKey::from_spki_pem(&pem).unwrap(), key);
        assert_eq!(
            PublicKey::from_spki_pem(&pem.replace("\n", "\r\n")).unwrap(),
            key
        );
    }

    /// Signature vector (SPEC.md, "Signatures"): record signature over the
    /// chain hash of (GENESIS, 0, "airlock").
    #[test]
    fn signature_vector() {
        let key = SigningKey::from_seed(&RFC8032_SEED);
        let entry = key.sign_body(&GENESIS, 0, b"airlock".to_vec());
        assert_eq!(
            entry.chain_hash.to_hex().as_str(),
            "f93530906140fb08b9081147244ac1a186cb5ede945514a7316ab6c3d08cd308"
        );
        assert_eq!(
            airlock_core::hex::encode(&entry.signature.0),
            SIGNATURE_VECTOR
        );
        assert!(key.public_key().verify_entry(&entry));
        let mut bad = entry.clone();
        bad.chain_hash.0[0] ^= 1;
        assert!(!key.public_key().verify_entry(&bad));
    }

    const SIGNATURE_VECTOR: &str = "c58a8316ab44b87e0e25653741385764aa8644749fd4307e5e2d1fb503c1bba3a890371d5204d078d1b32c84994e6aef61e7d173205bdb0d4aa15fdac0ba3a02";

    #[test]
    fn keygen_writes_pair_with_modes_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("keys");
        let made = keygen(&sub, "evaluator").unwrap();
        let key = SigningKey::load(&made.private_path).unwrap();
        let public = PublicKey::load(&made.public_path).unwrap();
        assert_eq!(key.public_key(), public);
        assert_eq!(made.key_id, public.key_id());
        let text = fs::read_to_string(&made.private_path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&made.private_path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let before = fs::read(&made.private_path).unwrap();
        match keygen(&sub, "evaluator") {
            Err(AttestError::AlreadyExists { path }) => assert_eq!(path, made.private_path),
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert_eq!(fs::read(&made.private_path).unwrap(), before);

        // Only the .pub exists: still nothing written, and the error names it.
        fs::write(sub.join("other.pub"), "x").unwrap();
        match keygen(&sub, "other") {
            Err(AttestError::AlreadyExists { path }) => assert_eq!(path, sub.join("other.pub")),
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert!(!sub.join("other.key").exists());
        assert!(matches!(
            keygen(&sub, "../x"),
            Err(AttestError::InvalidKeyName { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn private_key_open_to_others_is_refused_naming_file_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let made = keygen(dir.path(), "k").unwrap();
        fs::set_permissions(&made.private_path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = SigningKey::load(&made.private_path).unwrap_err();
        assert!(matches!(err, AttestError::InsecurePermissions { .. }));
        let msg = err.to_string();
        assert!(msg.contains("k.key"), "{msg}");
        assert!(msg.contains("0640"), "{msg}");
    }

    #[test]
    fn public_and_private_keys_swapped_get_specific_errors() {
        let dir = tempfile::tempdir().unwrap();
        let made = keygen(dir.path(), "k").unwrap();
        let err = SigningKey::load(&made.public_path).unwrap_err();
        assert!(matches!(err, AttestError::PublicKeyGiven { .. }));
        assert!(
            err.to_string()
                .ends_with("is a public key; a private key is needed")
        );
        let err = PublicKey::load(&made.private_path).unwrap_err();
        assert!(matches!(err, AttestError::PrivateKeyGiven { .. }));
        assert!(
            err.to_string()
                .ends_with("is a private key; a public key is needed")
        );
    }

    #[test]
    fn garbage_key_files_get_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.key");
        for (content, want) in [
            (&b"hello"[..], "no PEM block"),
            (b"-----BEGIN PRIVATE KEY-----\nAAAA\n", "no END line"),
            (
                b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
                "not valid base64",
            ),
            (
                b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "not a PKCS#8 Ed25519 private key",
            ),
            (&[0xff, 0xfe, 0x00][..], "not PEM text"),
        ] {
            let _ = fs::remove_file(&path);
            crate::fsutil::create_new(&path, 0o600)
                .unwrap()
                .write_all(content)
                .unwrap();
            let err = SigningKey::load(&path).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("g.key") && msg.contains(want), "{msg}");
        }
        let err = PublicKey::load(&dir.path().join("missing.pub")).unwrap_err();
        assert!(
            err.to_string().contains("missing.pub: cannot open"),
            "{err}"
        );
    }

    /// Every small-order point, with either sign bit, and the non-canonical
    /// spellings of 0 and 1 (p and p + 1).
    fn small_order_encodings() -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        for y in SMALL_ORDER_Y {
            for sign in [0x00, 0x80] {
                let mut e = y;
                e[31] |= sign;
                out.push(e);
            }
        }
        out
    }

    /// Under the identity point as a public key, the forged signature
    /// R = identity, s = 0 satisfies the Ed25519 equation for every
    /// message; under each other small-order point it does for the
    /// messages whose challenge the point's order divides. None of them
    /// verifies anything, and none loads from a key file.
    #[test]
    fn small_order_public_keys_verify_nothing_and_are_refused_at_load() {
        let mut forged = [0u8; 64];
        forged[0] = 1; // R = the identity's encoding; s = 0
        let forged = Signature(forged);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weak.pub");
        for (i, encoding) in small_order_encodings().into_iter().enumerate() {
            let key = PublicKey(encoding);
            assert!(key.weakness().is_some(), "encoding {i}");
            for n in 0u8..16 {
                let message = signed_message(&Digest([n; 32]));
                assert!(!key.verify(&message, &forged), "encoding {i}, message {n}");
            }
            fs::write(&path, key.to_spki_pem()).unwrap();
            let err = PublicKey::load(&path).unwrap_err().to_string();
            assert!(
                err.contains("weak.pub") && err.contains("small-order (weak)"),
                "encoding {i}: {err}"
            );
        }
        // Real keys are not caught.
        let real = SigningKey::from_seed(&RFC8032_SEED).public_key();
        assert_eq!(real.weakness(), None);
        for seed in 0u8..64 {
            assert_eq!(
                SigningKey::from_seed(&[seed; 32]).public_key().weakness(),
                None
            );
        }
    }

    #[test]
    fn non_canonical_key_encodings_are_refused() {
        for delta in 2i8..=18 {
            let key = PublicKey(field_prime_plus(delta));
            assert_eq!(
                key.weakness(),
                Some(KeyFormatError::NonCanonicalKey),
                "p + {delta}"
            );
        }
        let err = PublicKey::from_spki_der(&PublicKey(field_prime_plus(5)).to_spki_der());
        assert_eq!(err, Err(KeyFormatError::NonCanonicalKey));
    }

    /// The mode checked is the mode of the file that was read. The key
    /// path is a symlink to a FIFO of mode 0644 whose writer, after the key
    /// text and before the end of the file, points the symlink at a 0600
    /// copy: a check by path after the read sees 0600 and admits the key
    /// read from the 0644 file.
    #[cfg(unix)]
    #[test]
    fn the_mode_checked_is_the_mode_of_the_file_read() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let made = keygen(dir.path(), "k").unwrap();
        let text = fs::read_to_string(&made.private_path).unwrap();
        let fifo = dir.path().join("open.fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        fs::set_permissions(&fifo, fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("evaluator.key");
        symlink(&fifo, &link).unwrap();
        let writer = {
            let (fifo, link, secure) = (fifo.clone(), link.clone(), made.private_path.clone());
            std::thread::spawn(move || {
                let mut w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                w.write_all(text.as_bytes()).unwrap();
                // Re-point the path at the 0600 file while the reader
                // still waits for the end of this one.
                let next = link.with_extension("next");
                symlink(&secure, &next).unwrap();
                fs::rename(&next, &link).unwrap();
                drop(w);
            })
        };
        let loaded = SigningKey::load(&link);
        writer.join().unwrap();
        let err = loaded.unwrap_err();
        assert!(
            matches!(err, AttestError::InsecurePermissions { mode, .. } if mode & 0o777 == 0o644),
            "{err}"
        );
        // The path now names the 0600 file, which loads.
        SigningKey::load(&link).unwrap();
    }
}
