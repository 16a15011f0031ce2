//! C2SP tlog-cosignature `cosignature/v1`: a witness's timestamped Ed25519
//! signature (signature type 0x04) over a checkpoint.
//!
//! A cosignature line is a note signature whose bytes are the timestamp
//! (8 bytes, big-endian) followed by the Ed25519 signature of
//! [`signed_message`]. [`crate::note::VerifierKey::verify`] checks one.

use crate::TlogError;
use crate::checkpoint;
use crate::note::{self, ALG_COSIGNATURE_V1, NoteSignature};

// The signed message and the timestamp bound live with the note key types,
// whose verifier checks type-0x04 lines; they are this module's API.
pub use crate::note::{
    MAX_COSIGNATURE_TIMESTAMP as MAX_TIMESTAMP, cosignature_message as signed_message,
};

/// Cosigns a checkpoint as witness `name` at `timestamp` (POSIX seconds):
/// checks that the text is a checkpoint body, the name a key name and the
/// timestamp at most 2^63-1, and has the caller's `sign` (holding the
/// private key of `public`) sign [`signed_message`].
pub fn sign(
    checkpoint_text: &str,
    name: &str,
    public: &[u8; 32],
    timestamp: u64,
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Result<NoteSignature, TlogError> {
    if timestamp > MAX_TIMESTAMP {
        return Err(TlogError::CosignatureTimestamp { timestamp });
    }
    note::check_signing_input(checkpoint_text, name)?;
    // A cosignature states that the witness saw this tree head; it is only
    // ever made over a checkpoint.
    checkpoint::parse(checkpoint_text)?;
    let mut signature = Vec::with_capacity(72);
    signature.extend_from_slice(&timestamp.to_be_bytes());
    signature.extend_from_slice(&sign(&signed_message(checkpoint_text, timestamp)));
    Ok(NoteSignature {
        name: name.into(),
        key_id: note::key_id(name, ALG_COSIGNATURE_V1, public),
        signature,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::note::tests::{keypair, signer};
    use crate::note::{Note, VerifierKey};

    const SOFA: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn signed_message_is_the_spec_example() {
        assert_eq!(
            signed_message(SOFA, 1679315147),
            b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn spec_example_cosignature_line_carries_its_timestamp() {
        // The spec's example witness line: key id, then the timestamp
        // 0x641850cb = 1679315147 (the spec's example time).
        let note = format!(
            "{SOFA}\n\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
        );
        let n = crate::note::parse(note.as_bytes()).unwrap();
        let sig = &n.signatures[0];
        assert_eq!(sig.key_id, 0x8d66cf3f);
        assert_eq!(sig.signature.len(), 72);
        assert_eq!(
            u64::from_be_bytes(sig.signature[..8].try_into().unwrap()),
            1679315147
        );
        assert_eq!(n.to_bytes(), note.as_bytes());
    }

    #[test]
    fn sign_then_verify_returns_the_timestamp() {
        let (kp, public) = keypair(9);
        let sig = sign(
            SOFA,
            "witness.example/w1",
            &public,
            1_700_000_000,
            signer(&kp),
        )
        .unwrap();
        assert_eq!(&sig.signature[..8], &1_700_000_000u64.to_be_bytes());
        let key = VerifierKey::new("witness.example/w1", ALG_COSIGNATURE_V1, &public).unwrap();
        assert_eq!(sig.key_id, key.key_id);
        let note = Note {
            text: SOFA.into(),
            signatures: vec![sig.clone()],
        };
        assert_eq!(key.verify(&note), Ok(Some(1_700_000_000)));
        // The timestamp is signed: changing it breaks the cosignature.
        let mut later = note.clone();
        later.signatures[0].signature[7] ^= 1;
        assert!(matches!(
            key.verify(&later),
            Err(TlogError::SignatureInvalid { .. })
        ));
        // So is the text.
        let mut other = note.clone();
        other.text = SOFA.replace("20852163", "20852164");
        assert!(matches!(
            key.verify(&other),
            Err(TlogError::SignatureInvalid { .. })
        ));
        // A type 0x01 key of the same public key has another key id, so it
        // finds no signature of its own.
        let plain = VerifierKey::new("witness.example/w1", 0x01, &public).unwrap();
        assert!(matches!(
            plain.verify(&note),
            Err(TlogError::SignatureMissing { .. })
        ));
    }

    #[test]
    fn the_latest_of_several_cosignatures_is_returned() {
        let (kp, public) = keypair(9);
        let a = sign(SOFA, "w", &public, 5, signer(&kp)).unwrap();
        let b = sign(SOFA, "w", &public, 9, signer(&kp)).unwrap();
        let key = VerifierKey::new("w", ALG_COSIGNATURE_V1, &public).unwrap();
        let note = Note {
            text: SOFA.into(),
            signatures: vec![b, a],
        };
        assert_eq!(key.verify(&note), Ok(Some(9)));
    }

    #[test]
    fn timestamps_above_2_63_minus_1_are_refused() {
        let (kp, public) = keypair(9);
        assert!(sign(SOFA, "w", &public, MAX_TIMESTAMP, signer(&kp)).is_ok());
        assert_eq!(
            sign(SOFA, "w", &public, MAX_TIMESTAMP + 1, signer(&kp)),
            Err(TlogError::CosignatureTimestamp {
                timestamp: MAX_TIMESTAMP + 1
            })
        );
        // A cosignature line claiming such a timestamp does not verify.
        let mut sig = sign(SOFA, "w", &public, 1, signer(&kp)).unwrap();
        sig.signature[..8].copy_from_slice(&(MAX_TIMESTAMP + 1).to_be_bytes());
        let key = VerifierKey::new("w", ALG_COSIGNATURE_V1, &public).unwrap();
        let note = Note {
            text: SOFA.into(),
            signatures: vec![sig],
        };
        let e = key.verify(&note).unwrap_err();
        assert!(e.to_string().contains("exceeds 2^63-1"), "{e}");
    }

    #[test]
    fn only_checkpoints_are_cosigned() {
        let (kp, public) = keypair(9);
        let e = sign("just a note\n", "w", &public, 1, signer(&kp)).unwrap_err();
        assert!(matches!(e, TlogError::CheckpointMalformed { .. }), "{e:?}");
        let e = sign(SOFA, "w w", &public, 1, signer(&kp)).unwrap_err();
        assert!(matches!(e, TlogError::NoteSigningInput { .. }), "{e:?}");
    }

    #[test]
    fn a_short_cosignature_is_an_integrity_error() {
        let (_, public) = keypair(9);
        let key = VerifierKey::new("w", ALG_COSIGNATURE_V1, &public).unwrap();
        let note = Note {
            text: SOFA.into(),
            signatures: vec![NoteSignature {
                name: "w".into(),
                key_id: key.key_id,
                signature: vec![0; 71],
            }],
        };
        let e = key.verify(&note).unwrap_err();
        assert!(e.to_string().contains("72 bytes"), "{e}");
    }
}
