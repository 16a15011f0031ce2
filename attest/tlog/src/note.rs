//! C2SP signed notes (`c2sp.org/signed-note`): note text, signature lines,
//! key ids and verifier keys (vkeys).
//!
//! The parser follows the specification and Go's reference implementation
//! (`golang.org/x/mod/sumdb/note`): the whole note is UTF-8 with no control
//! character but newline, the text is everything up to and including the
//! newline before the *last* blank line, and every line after that blank
//! line is a signature line; at most 100 signature lines are read.
//!
//! Base64 is decoded strictly (padding required, unused bits zero), so a
//! parsed note written back with [`Note::to_bytes`] gives the same bytes.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::digest;
use ring::signature::{ED25519, UnparsedPublicKey};

use crate::TlogError;

/// Signature type 0x01: Ed25519 over the note text (c2sp.org/signed-note).
pub const ALG_ED25519: u8 = 0x01;
/// The largest timestamp tlog-cosignature allows, 2^63-1.
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = i64::MAX as u64;

/// The message a `cosignature/v1` signs: `cosignature/v1\n`, `time <ts>\n`,
/// then the checkpoint's note text (with its final newline). Defined here,
/// beside the verifier of type-0x04 keys, so that the note module needs
/// nothing from the cosignature module that builds on it.
pub fn cosignature_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// Signature type 0x04: timestamped Ed25519 checkpoint cosignatures
/// (c2sp.org/tlog-cosignature, `cosignature/v1`).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The most signature lines a note may carry; Go's note.go refuses more
/// than 100, and the specification asks verifiers to accept at least 16.
pub const MAX_SIGNATURES: usize = 100;

/// The signature line prefix: em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// A signed note: its text and its signature lines, as read (not verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The note text, including its final newline, without the blank line
    /// and the signature lines.
    pub text: String,
    /// The signature lines in the order they appear.
    pub signatures: Vec<NoteSignature>,
}

/// One signature line: `— <name> base64(key id || signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id: the first four bytes of the decoded signature, big-endian.
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, with its final newline.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

/// Where and why a note failed to parse, before the caller places the line
/// in its own numbering (a note embedded in a proof or request).
#[derive(Debug)]
pub(crate) struct NoteFault {
    /// 1-based line within the note.
    pub(crate) line: usize,
    /// Whether the line is in the signature block (after the blank line).
    pub(crate) in_signatures: bool,
    pub(crate) reason: String,
}

impl NoteFault {
    fn into_error(self) -> TlogError {
        TlogError::NoteMalformed {
            line: self.line,
            reason: self.reason,
        }
    }
}

/// Why a key name is not one a signed note can carry, if it is not.
pub(crate) fn key_name_fault(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the key name is empty")
    } else if name.chars().any(char::is_whitespace) {
        // char::is_whitespace is Unicode White_Space, the set Go's
        // unicode.IsSpace tests.
        Some("the key name contains a Unicode space")
    } else if name.contains('+') {
        Some("the key name contains a plus (U+002B)")
    } else {
        None
    }
}

/// Why `text` cannot be a note text, if it cannot, with the 1-based line.
pub(crate) fn text_fault(text: &str) -> Option<(usize, String)> {
    if let Some((line, c)) = control_char(text, 1) {
        return Some((line, control_reason(c)));
    }
    if !text.ends_with('\n') {
        return Some((
            text.split('\n').count(),
            "the text does not end in a newline".into(),
        ));
    }
    None
}

fn control_reason(c: char) -> String {
    format!(
        "control character U+{:04X} (only newline is allowed)",
        u32::from(c)
    )
}

/// The first control character other than newline, with its line.
fn control_char(s: &str, first_line: usize) -> Option<(usize, char)> {
    let mut line = first_line;
    for c in s.chars() {
        if c == '\n' {
            line += 1;
        } else if c < ' ' {
            return Some((line, c));
        }
    }
    None
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

/// Parses a signed note without verifying any signature.
///
/// Errors name the note's line (line 1 is its first line) and the rule
/// that line breaks.
pub fn parse(bytes: &[u8]) -> Result<Note, TlogError> {
    parse_inner(bytes).map_err(NoteFault::into_error)
}

pub(crate) fn parse_inner(bytes: &[u8]) -> Result<Note, NoteFault> {
    // The text ends at the last blank line; everything after it must be
    // signature lines (Go: bytes.LastIndex(msg, "\n\n")).
    let split = bytes.windows(2).rposition(|w| w == b"\n\n");
    let sig_start = split.map_or(usize::MAX, |s| s + 2);

    let all = match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let at = e.valid_up_to();
            return Err(NoteFault {
                line: line_of(bytes, at),
                in_signatures: at >= sig_start,
                reason: "not valid UTF-8".into(),
            });
        }
    };
    if let Some((line, c)) = control_char(all, 1) {
        let sig_first_line = split.map_or(usize::MAX, |s| line_of(bytes, s + 2));
        return Err(NoteFault {
            line,
            in_signatures: line >= sig_first_line,
            reason: control_reason(c),
        });
    }
    let Some(split) = split else {
        return Err(NoteFault {
            line: all.split('\n').count(),
            in_signatures: false,
            reason: "no blank line separates the text from the signature lines".into(),
        });
    };
    let text = &all[..split + 1];
    let sigs = &all[split + 2..];
    let blank_line = line_of(bytes, split + 1);
    if sigs.is_empty() {
        return Err(NoteFault {
            line: blank_line,
            in_signatures: true,
            reason: "no signature line follows the blank line".into(),
        });
    }
    let mut signatures = Vec::new();
    let mut rest = sigs;
    let mut line = blank_line;
    while !rest.is_empty() {
        line += 1;
        let fault = |reason: String| NoteFault {
            line,
            in_signatures: true,
            reason,
        };
        let Some((sig_line, after)) = rest.split_once('\n') else {
            return Err(fault(
                "the last signature line does not end in a newline".into(),
            ));
        };
        rest = after;
        if signatures.len() == MAX_SIGNATURES {
            return Err(fault(format!("more than {MAX_SIGNATURES} signature lines")));
        }
        signatures.push(parse_signature_line(sig_line).map_err(fault)?);
    }
    Ok(Note {
        text: text.into(),
        signatures,
    })
}

/// Parses one signature line (without its newline).
pub(crate) fn parse_signature_line(line: &str) -> Result<NoteSignature, String> {
    let Some(body) = line.strip_prefix(SIG_PREFIX) else {
        return Err("a signature line must start with an em dash (U+2014) and a space".into());
    };
    let Some((name, b64)) = body.split_once(' ') else {
        return Err("no space between the key name and the signature".into());
    };
    if let Some(why) = key_name_fault(name) {
        return Err(format!("{why}: {name:?}"));
    }
    if b64.is_empty() {
        return Err(format!("the signature by {name} is empty"));
    }
    let Ok(raw) = B64.decode(b64) else {
        return Err(format!("the signature by {name} is not base64"));
    };
    let Some((id, signature)) = raw.split_first_chunk::<4>() else {
        return Err(format!(
            "the signature by {name} is shorter than its 4-byte key id"
        ));
    };
    if signature.is_empty() {
        return Err(format!(
            "the signature by {name} has a key id and no signature bytes"
        ));
    }
    Ok(NoteSignature {
        name: name.into(),
        key_id: u32::from_be_bytes(*id),
        signature: signature.to_vec(),
    })
}

impl Note {
    /// The signed note: the text, a blank line, then each signature line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.text.len() + 1 + 100 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.to_line());
        }
        out.into_bytes()
    }
}

/// The key id of a key: the first four bytes, big-endian, of
/// SHA-256(name || "\n" || alg || public).
pub fn key_id(name: &str, alg: u8, public: &[u8; 32]) -> u32 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[alg]);
    ctx.update(public);
    let sum = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&sum.as_ref()[..4]);
    u32::from_be_bytes(id)
}

/// A verifier key: a key name, its key id, and an Ed25519 public key of
/// signature type 0x01 (note signatures) or 0x04 (cosignatures).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifierKey {
    /// The key name, as on signature lines.
    pub name: String,
    /// The key id, as on signature lines.
    pub key_id: u32,
    /// The signature type: [`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`].
    pub alg: u8,
    /// The Ed25519 public key.
    pub public: [u8; 32],
}

fn vkey_error(reason: impl Into<String>) -> TlogError {
    TlogError::VerifierKeyMalformed {
        reason: reason.into(),
    }
}

impl VerifierKey {
    /// Parses a vkey, `<name>+<8 hex digit key id>+<base64(alg || public)>`,
    /// checking the key id against the one computed from the key.
    pub fn parse(vkey: &str) -> Result<VerifierKey, TlogError> {
        let Some((name, rest)) = vkey.split_once('+') else {
            return Err(vkey_error(
                "not of the form <name>+<key id>+<key> (no plus after the name)",
            ));
        };
        let Some((hex, b64)) = rest.split_once('+') else {
            return Err(vkey_error(
                "not of the form <name>+<key id>+<key> (no plus after the key id)",
            ));
        };
        if let Some(why) = key_name_fault(name) {
            return Err(vkey_error(format!("{why}: {name:?}")));
        }
        // The specification's hex is fixed-length lowercase, which is also
        // what Display writes back.
        if hex.len() != 8 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(vkey_error(format!(
                "key id {hex:?} is not 8 lowercase hex digits"
            )));
        }
        let claimed = u32::from_str_radix(hex, 16)
            .map_err(|_| vkey_error(format!("key id {hex:?} is not hex")))?;
        let raw = B64
            .decode(b64)
            .map_err(|_| vkey_error("the key is not base64"))?;
        let Some((&alg, public)) = raw.split_first() else {
            return Err(vkey_error("the key is empty"));
        };
        check_alg(alg)?;
        let public: [u8; 32] = public.try_into().map_err(|_| {
            vkey_error(format!(
                "the public key is {} bytes, not the 32 of Ed25519",
                public.len()
            ))
        })?;
        let key = VerifierKey::new(name, alg, &public)?;
        if key.key_id != claimed {
            return Err(vkey_error(format!(
                "key id {claimed:08x} does not match the key (its id is {:08x})",
                key.key_id
            )));
        }
        Ok(key)
    }

    /// The verifier key of `public` under `name` for signature type `alg`
    /// (0x01 or 0x04), with its computed key id.
    pub fn new(name: &str, alg: u8, public: &[u8; 32]) -> Result<VerifierKey, TlogError> {
        if let Some(why) = key_name_fault(name) {
            return Err(vkey_error(format!("{why}: {name:?}")));
        }
        check_alg(alg)?;
        Ok(VerifierKey {
            name: name.into(),
            key_id: key_id(name, alg, public),
            alg,
            public: *public,
        })
    }

    /// Verifies every signature line of `note` with this key's name and key
    /// id, ignoring all others.
    ///
    /// Returns `Ok(None)` for a type 0x01 key and `Ok(Some(timestamp))` for
    /// a cosignature (type 0x04) key: the latest timestamp when the note
    /// carries more than one cosignature by the key. Every matching line
    /// must verify: the specification tells clients to reject a note in
    /// which a known key's signature fails.
    pub fn verify(&self, note: &Note) -> Result<Option<u64>, TlogError> {
        let mut found = false;
        let mut latest: Option<u64> = None;
        let matching = note
            .signatures
            .iter()
            .filter(|s| s.name == self.name && s.key_id == self.key_id);
        for sig in matching {
            found = true;
            let bad = |reason| TlogError::SignatureInvalid {
                name: self.name.clone(),
                key_id: self.key_id,
                reason,
            };
            match self.alg {
                ALG_ED25519 => {
                    if sig.signature.len() != 64 {
                        return Err(bad("an Ed25519 signature is 64 bytes"));
                    }
                    ed25519_verify(&self.public, note.text.as_bytes(), &sig.signature)
                        .map_err(|()| bad("the Ed25519 signature does not match the text"))?;
                }
                ALG_COSIGNATURE_V1 => {
                    let Some((ts, ed)) = sig.signature.split_first_chunk::<8>() else {
                        return Err(bad("a cosignature is 72 bytes (timestamp and Ed25519)"));
                    };
                    if ed.len() != 64 {
                        return Err(bad("a cosignature is 72 bytes (timestamp and Ed25519)"));
                    }
                    let ts = u64::from_be_bytes(*ts);
                    if ts > MAX_COSIGNATURE_TIMESTAMP {
                        return Err(bad("the cosignature timestamp exceeds 2^63-1"));
                    }
                    let msg = cosignature_message(&note.text, ts);
                    ed25519_verify(&self.public, &msg, ed).map_err(|()| {
                        bad("the cosignature does not match the text and its timestamp")
                    })?;
                    latest = Some(latest.map_or(ts, |l| l.max(ts)));
                }
                _ => return Err(bad("unsupported signature type")),
            }
        }
        if !found {
            return Err(TlogError::SignatureMissing {
                name: self.name.clone(),
            });
        }
        Ok(latest)
    }
}

fn check_alg(alg: u8) -> Result<(), TlogError> {
    if alg == ALG_ED25519 || alg == ALG_COSIGNATURE_V1 {
        Ok(())
    } else {
        Err(vkey_error(format!(
            "signature type 0x{alg:02x} is not supported (only 0x01 and 0x04)"
        )))
    }
}

fn ed25519_verify(public: &[u8; 32], msg: &[u8], sig: &[u8]) -> Result<(), ()> {
    UnparsedPublicKey::new(&ED25519, public)
        .verify(msg, sig)
        .map_err(|_| ())
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 33];
        raw[0] = self.alg;
        raw[1..].copy_from_slice(&self.public);
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }
}

/// Signs `text` as a note with type 0x01 Ed25519: checks that `text` is a
/// note text and `name` a key name, and has the caller's `sign` (holding
/// the private key of `public`) sign the text's bytes.
pub fn sign_ed25519(
    text: &str,
    name: &str,
    public: &[u8; 32],
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Result<NoteSignature, TlogError> {
    check_signing_input(text, name)?;
    Ok(NoteSignature {
        name: name.into(),
        key_id: key_id(name, ALG_ED25519, public),
        signature: sign(text.as_bytes()).to_vec(),
    })
}

pub(crate) fn check_signing_input(text: &str, name: &str) -> Result<(), TlogError> {
    if let Some((line, reason)) = text_fault(text) {
        return Err(TlogError::NoteSigningInput {
            reason: format!("text line {line}: {reason}"),
        });
    }
    if let Some(why) = key_name_fault(name) {
        return Err(TlogError::NoteSigningInput {
            reason: format!("{why}: {name:?}"),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    pub(crate) const PETER_VKEY: &str =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    /// Go's note_test.go skey for PeterNeumann: 0x01 || 32-byte seed.
    const PETER_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                              then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    /// A test key pair from a fixed seed.
    pub(crate) fn keypair(seed: u8) -> (Ed25519KeyPair, [u8; 32]) {
        let kp = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        let public: [u8; 32] = kp.public_key().as_ref().try_into().unwrap();
        (kp, public)
    }

    /// A signing closure over `kp`, as the station key's crate would pass.
    pub(crate) fn signer(kp: &Ed25519KeyPair) -> impl FnOnce(&[u8]) -> [u8; 64] + '_ {
        |msg| kp.sign(msg).as_ref().try_into().unwrap()
    }

    fn peter_note() -> String {
        format!("{PETER_TEXT}\n{PETER_SIG}")
    }

    fn err_line(bytes: &[u8]) -> (usize, String) {
        match parse(bytes) {
            Err(TlogError::NoteMalformed { line, reason }) => (line, reason),
            other => panic!("expected NoteMalformed, got {other:?}"),
        }
    }

    #[test]
    fn go_vkey_parses_with_its_key_id_and_round_trips() {
        let k = VerifierKey::parse(PETER_VKEY).unwrap();
        assert_eq!(k.name, "PeterNeumann");
        assert_eq!(k.key_id, 0xc74f20a3);
        assert_eq!(k.alg, ALG_ED25519);
        assert_eq!(key_id("PeterNeumann", ALG_ED25519, &k.public), 0xc74f20a3);
        assert_eq!(k.to_string(), PETER_VKEY);
        let e = VerifierKey::parse(ENOCH_VKEY).unwrap();
        assert_eq!(e.key_id, 0xaf0cfe78);
        assert_eq!(e.to_string(), ENOCH_VKEY);
    }

    #[test]
    fn go_vkey_manglings_are_refused() {
        // Go's TestNewVerifier: every proper substring and every byte
        // incremented must be refused.
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i != 0 || j != b.len() {
                    let s = core::str::from_utf8(&b[i..j]).unwrap();
                    assert!(VerifierKey::parse(s).is_err(), "{s:?} accepted");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let s = core::str::from_utf8(&m).unwrap();
            assert!(VerifierKey::parse(s).is_err(), "{s:?} accepted");
        }
    }

    fn vkey_reason(s: &str) -> String {
        match VerifierKey::parse(s) {
            Err(TlogError::VerifierKeyMalformed { reason }) => reason,
            other => panic!("expected VerifierKeyMalformed for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn vkey_errors_say_what_is_wrong() {
        // Go's own two: a wrong-length key and an unknown algorithm, both
        // with their key ids adjusted to match. The first ends in
        // non-canonical base64 ("EY==" leaves bits set), which the strict
        // decoder refuses before the length is looked at.
        assert!(
            vkey_reason(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            )
            .contains("not base64")
        );
        // A canonical 34-byte key with its key id adjusted to match.
        let mut raw = B64
            .decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .unwrap();
        raw.push(0);
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"PeterNeumann\n");
        ctx.update(&raw);
        let id = u32::from_be_bytes(ctx.finish().as_ref()[..4].try_into().unwrap());
        assert!(
            vkey_reason(&format!("PeterNeumann+{id:08x}+{}", B64.encode(&raw)))
                .contains("33 bytes, not the 32 of Ed25519")
        );
        assert!(
            vkey_reason("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .contains("0x65 is not supported")
        );
        assert!(vkey_reason("PeterNeumann").contains("no plus after the name"));
        assert!(vkey_reason("PeterNeumann+c74f20a3").contains("no plus after the key id"));
        assert!(vkey_reason("+c74f20a3+AA==").contains("key name is empty"));
        assert!(
            vkey_reason("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .contains("lowercase hex")
        );
        assert!(
            vkey_reason("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .contains("does not match the key (its id is c74f20a3)")
        );
        assert!(vkey_reason("PeterNeumann+c74f20a3+!!!!").contains("not base64"));
        assert!(vkey_reason("PeterNeumann+c74f20a3+").contains("empty"));
    }

    #[test]
    fn spec_example_vkey_verifies_spec_example_note() {
        let k = VerifierKey::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .unwrap();
        let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        let n = parse(note.as_bytes()).unwrap();
        assert_eq!(n.text, "This is an example message.\n");
        assert_eq!(n.signatures.len(), 1);
        assert_eq!(n.signatures[0].key_id, 0x530d903a);
        assert_eq!(k.verify(&n), Ok(None));
        assert_eq!(n.to_bytes(), note.as_bytes());
    }

    #[test]
    fn go_signed_note_parses_verifies_and_round_trips() {
        let both = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let n = parse(both.as_bytes()).unwrap();
        assert_eq!(n.text, PETER_TEXT);
        assert_eq!(n.signatures[0].name, "PeterNeumann");
        assert_eq!(n.signatures[0].key_id, 0xc74f20a3);
        assert_eq!(n.signatures[0].signature.len(), 64);
        assert_eq!(n.signatures[1].key_id, 0xaf0cfe78);
        assert_eq!(n.to_bytes(), both.as_bytes());
        assert_eq!(VerifierKey::parse(PETER_VKEY).unwrap().verify(&n), Ok(None));
        assert_eq!(VerifierKey::parse(ENOCH_VKEY).unwrap().verify(&n), Ok(None));
    }

    #[test]
    fn ring_signing_with_gos_seed_gives_gos_signature_line() {
        let skey = B64.decode(PETER_SKEY_B64).unwrap();
        assert_eq!(skey[0], ALG_ED25519);
        let kp = Ed25519KeyPair::from_seed_unchecked(&skey[1..]).unwrap();
        let public: [u8; 32] = kp.public_key().as_ref().try_into().unwrap();
        assert_eq!(
            VerifierKey::new("PeterNeumann", ALG_ED25519, &public)
                .unwrap()
                .to_string(),
            PETER_VKEY
        );
        let sig = sign_ed25519(PETER_TEXT, "PeterNeumann", &public, signer(&kp)).unwrap();
        assert_eq!(sig.to_line(), PETER_SIG);
        let note = Note {
            text: PETER_TEXT.into(),
            signatures: vec![sig],
        };
        assert_eq!(note.to_bytes(), peter_note().as_bytes());
    }

    #[test]
    fn one_altered_byte_in_text_signature_or_name_fails() {
        let (kp, public) = keypair(7);
        let text = "example.com/log\n42\nAAAA\n";
        let sig = sign_ed25519(text, "example.com/log", &public, signer(&kp)).unwrap();
        let key = VerifierKey::new("example.com/log", ALG_ED25519, &public).unwrap();
        let note = Note {
            text: text.into(),
            signatures: vec![sig],
        };
        assert_eq!(key.verify(&note), Ok(None));
        let bytes = note.to_bytes();
        let mut checked = 0;
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x20] {
                let mut m = bytes.clone();
                m[i] ^= flip;
                // A changed byte either breaks the syntax, hides the
                // signature (other name or key id) or fails to verify.
                if let Ok(n) = parse(&m) {
                    assert!(
                        key.verify(&n).is_err(),
                        "byte {i} ^ {flip:#x} still verifies"
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 2 * bytes.len());
        // A changed signature byte is an integrity error naming the key.
        let mut bad = note.clone();
        bad.signatures[0].signature[10] ^= 1;
        let e = key.verify(&bad).unwrap_err();
        assert!(
            matches!(e, TlogError::SignatureInvalid { ref name, .. } if name == "example.com/log")
        );
        assert_eq!(
            airlock_core::Classify::class(&e),
            airlock_core::ErrorClass::Integrity
        );
        // A changed name hides the signature: no signature by the key.
        let mut renamed = note.clone();
        renamed.signatures[0].name = "example.com/lox".into();
        assert_eq!(
            key.verify(&renamed).unwrap_err().to_string(),
            "no signature by example.com/log"
        );
    }

    #[test]
    fn unknown_keys_are_ignored_and_missing_key_is_named() {
        let n = parse(format!("{PETER_TEXT}\n{ENOCH_SIG}").as_bytes()).unwrap();
        let e = VerifierKey::parse(PETER_VKEY)
            .unwrap()
            .verify(&n)
            .unwrap_err();
        assert_eq!(e.to_string(), "no signature by PeterNeumann");
        // Same name, other key id (a different key): ignored, so missing.
        let (_, public) = keypair(1);
        let other = VerifierKey::new("EnochRoot", ALG_ED25519, &public).unwrap();
        assert!(matches!(
            other.verify(&n),
            Err(TlogError::SignatureMissing { .. })
        ));
    }

    #[test]
    fn malformed_notes_are_refused_with_their_line() {
        let sig = PETER_SIG;
        let text = PETER_TEXT;
        // Go's badMsgs, each with the line that is wrong.
        assert_eq!(
            err_line(text.as_bytes()),
            (
                3,
                "no blank line separates the text from the signature lines".into()
            )
        );
        assert_eq!(
            err_line(format!("{text}\n").as_bytes()),
            (3, "no signature line follows the blank line".into())
        );
        assert_eq!(
            err_line(format!("{text}\n{}", &sig[..sig.len() - 1]).as_bytes()),
            (
                4,
                "the last signature line does not end in a newline".into()
            )
        );
        let (l, r) = err_line(format!("\x01{text}\n{sig}").as_bytes());
        assert_eq!(
            (l, r.as_str()),
            (1, "control character U+0001 (only newline is allowed)")
        );
        assert_eq!(
            err_line(&[b"\xff", text.as_bytes(), b"\n", sig.as_bytes()].concat()),
            (1, "not valid UTF-8".into())
        );
        let (l, r) = err_line(format!("{text}\n\u{2014} Bad Name x08go/ZJ=\n").as_bytes());
        assert_eq!(l, 4);
        assert!(r.contains("not base64"), "{r}");
        let (l, r) = err_line(format!("{text}\n{sig}Unexpected line.\n").as_bytes());
        assert_eq!(l, 5);
        assert!(r.contains("em dash"), "{r}");
    }

    #[test]
    fn signature_line_rules_are_each_refused() {
        let cases: &[(&str, &str)] = &[
            ("\u{2014} PeterNeumann\n", "no space between"),
            ("\u{2014} PeterNeumann \n", "is empty"),
            ("\u{2014}  x08go/ZJ\n", "key name is empty"),
            ("\u{2014} Peter+Neumann AAAAAAA=\n", "contains a plus"),
            ("\u{2014} Peter\u{a0}Neumann AAAAAAA=\n", "Unicode space"),
            (
                "\u{2014} PeterNeumann AAAA\n",
                "shorter than its 4-byte key id",
            ),
            ("\u{2014} PeterNeumann AAAAAA==\n", "no signature bytes"),
            // Non-zero unused bits: not canonical base64, refused so that
            // to_bytes gives back the bytes that were read.
            ("\u{2014} PeterNeumann AAAAAAB=\n", "not base64"),
            ("- PeterNeumann AAAAAAA=\n", "em dash"),
        ];
        for (line, want) in cases {
            let (l, r) = err_line(format!("{PETER_TEXT}\n{PETER_SIG}{line}").as_bytes());
            assert_eq!(l, 5, "{line:?}");
            assert!(r.contains(want), "{line:?}: {r}");
        }
    }

    #[test]
    fn a_control_character_in_a_signature_line_names_that_line() {
        let (l, r) =
            err_line(format!("{PETER_TEXT}\n{PETER_SIG}\u{2014} a\tb AAAAAAA=\n").as_bytes());
        assert_eq!(l, 5);
        assert!(r.contains("U+0009"));
        let fault = parse_inner(format!("{PETER_TEXT}\n\r{PETER_SIG}").as_bytes()).unwrap_err();
        assert_eq!(fault.line, 4);
        assert!(fault.in_signatures);
        let fault = parse_inner(format!("x\r\n{PETER_TEXT}\n{PETER_SIG}").as_bytes()).unwrap_err();
        assert_eq!(fault.line, 1);
        assert!(!fault.in_signatures);
    }

    #[test]
    fn text_may_hold_blank_lines_and_splits_at_the_last() {
        let text = "a\n\nb\n\n";
        let note = format!("{text}\n{PETER_SIG}");
        let n = parse(note.as_bytes()).unwrap();
        assert_eq!(n.text, text);
        assert_eq!(n.to_bytes(), note.as_bytes());
        // A blank line after the signatures leaves no signature line.
        let (l, _) = err_line(format!("{PETER_TEXT}\n{PETER_SIG}\n").as_bytes());
        assert_eq!(l, 5);
    }

    #[test]
    fn at_most_100_signature_lines() {
        let ok = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(100));
        assert_eq!(parse(ok.as_bytes()).unwrap().signatures.len(), 100);
        let bad = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(101));
        assert_eq!(
            err_line(bad.as_bytes()),
            (104, "more than 100 signature lines".into())
        );
    }

    #[test]
    fn signing_refuses_bad_text_and_names() {
        let (kp, public) = keypair(2);
        let e = sign_ed25519("abc", "n", &public, signer(&kp)).unwrap_err();
        assert!(e.to_string().contains("does not end in a newline"), "{e}");
        let e = sign_ed25519("a\x07\n", "n", &public, signer(&kp)).unwrap_err();
        assert!(e.to_string().contains("U+0007"), "{e}");
        let e = sign_ed25519("a\n", "bad name", &public, signer(&kp)).unwrap_err();
        assert!(e.to_string().contains("Unicode space"), "{e}");
        let e = sign_ed25519("a\n", "", &public, signer(&kp)).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn new_refuses_unsupported_types_and_bad_names() {
        let (_, public) = keypair(3);
        assert!(VerifierKey::new("a", 0x02, &public).is_err());
        assert!(VerifierKey::new("a+b", ALG_ED25519, &public).is_err());
        let k = VerifierKey::new("a", ALG_COSIGNATURE_V1, &public).unwrap();
        assert_eq!(k.key_id, key_id("a", 0x04, &public));
        assert_ne!(k.key_id, key_id("a", 0x01, &public));
        assert_eq!(VerifierKey::parse(&k.to_string()).unwrap(), k);
    }
}
