//! Record, signed entry and transcript decoding: whatever decodes must
//! encode back to a value that decodes to itself. And the verifier, which
//! decodes a bundle's first record as a stream (a RunStart's plan grows
//! with the run), must accept and refuse exactly the bodies a whole decode
//! does, with the same error.
#![no_main]

use airlock_attest::bundle::BundleWriter;
use airlock_attest::verify::{Level, Status};
use airlock_attest::{PublicKey, VerifyOptions, verify_bundle};
use airlock_core::Digest;
use airlock_core::decode_exact;
use airlock_core::record::{Record, Signature, SignedEntry};
use airlock_core::transcript::Transcript;
use libfuzzer_sys::fuzz_target;

/// A bundle whose one record has `body`, with a trailer that matches it.
fn one_record_bundle(body: &[u8]) -> Option<Vec<u8>> {
    let mut writer = BundleWriter::new(Vec::new(), &PublicKey([0; 32])).ok()?;
    writer
        .write_entry(&SignedEntry {
            seq: 0,
            body: body.to_vec(),
            chain_hash: Digest::ZERO,
            signature: Signature([0; 64]),
        })
        .ok()?;
    writer.finish().ok().map(|(bytes, _)| bytes)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::from_bytes(data) {
        let again = Record::from_bytes(&record.to_bytes());
        assert_eq!(again.ok().as_ref(), Some(&record));
    }
    if let Ok(entry) = decode_exact::<SignedEntry>(data) {
        let again = decode_exact::<SignedEntry>(&entry.to_bytes());
        assert_eq!(again.ok().as_ref(), Some(&entry));
        // The body of an entry is a record, or the verifier says why not.
        let _ = Record::from_bytes(&entry.body);
    }
    if let Some(bundle) = one_record_bundle(data) {
        let verdict = verify_bundle(&bundle[..], &[], VerifyOptions::default());
        let decode = verdict.level(Level::Decode).map(|l| l.status.clone());
        match Record::from_bytes(data) {
            Ok(record) => {
                assert_eq!(decode, Some(Status::Passed));
                if let Record::RunStart(start) = record {
                    assert_eq!(verdict.summary.run_id, Some(start.run_id));
                    assert_eq!(verdict.summary.planned, Some(start.plan.len() as u64));
                }
            }
            Err(e) => {
                let want = format!("record bytes do not decode: {e}");
                match decode {
                    Some(Status::Failed(reason)) => assert!(reason.ends_with(&want), "{reason}"),
                    other => panic!("decode level {other:?}, whole decode: {e}"),
                }
            }
        }
    }
    if let Ok(transcript) = decode_exact::<Transcript>(data) {
        let bytes = postcard::to_allocvec(&transcript).unwrap_or_default();
        assert_eq!(decode_exact::<Transcript>(&bytes).ok(), Some(transcript));
    }
});
