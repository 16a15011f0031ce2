//! The station log's text formats as a verifier or witness reads them from
//! removable media: the first byte picks the parser (signed note, receipt,
//! add-checkpoint request, tlog-policy, checkpoint body), the rest is the
//! file. Whatever parses must write back out as bytes that parse to the
//! same value; nothing may panic.
#![no_main]

use airlock_tlog::{checkpoint, note, policy, proof, witness_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            if let Ok(n) = note::parse(bytes) {
                assert_eq!(note::parse(&n.to_bytes()).ok(), Some(n));
            }
        }
        1 => {
            if let Ok(p) = proof::parse(bytes) {
                assert_eq!(proof::parse(&p.to_bytes()).ok(), Some(p));
            }
        }
        2 => {
            if let Ok(r) = witness_request::AddCheckpoint::parse(bytes) {
                assert_eq!(
                    witness_request::AddCheckpoint::parse(&r.to_bytes()).ok(),
                    Some(r)
                );
            }
        }
        3 => {
            let _ = policy::parse(bytes);
        }
        _ => {
            if let Ok(text) = core::str::from_utf8(bytes)
                && let Ok(c) = checkpoint::parse(text)
            {
                assert_eq!(checkpoint::parse(&c.to_text()).ok(), Some(c));
            }
        }
    }
});
