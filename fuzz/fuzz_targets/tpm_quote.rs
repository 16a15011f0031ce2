//! A station's TPM quotes and registration as a verifier reads them from a
//! bundle: the first byte picks the parser (TPMS_ATTEST, TPMT_SIGNATURE,
//! station registration, a whole `verify_quote` with the attest and
//! signature split at a second byte, or a `BUNDLE.tpm-quotes` file).
//! Nothing may panic; a registration or a quotes file that parses encodes
//! back to the bytes it was read from.
#![no_main]

use airlock_tpm_quote::{
    PcrSelection, RunQuotes, StationRegistration, parse_attest, parse_signature, verify_quote,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => {
            let _ = parse_attest(bytes);
        }
        1 => {
            let _ = parse_signature(bytes);
        }
        2 => {
            if let Ok(r) = StationRegistration::from_bytes(bytes) {
                assert_eq!(r.to_bytes(), bytes);
            }
        }
        3 => {
            let Some((&split, rest)) = bytes.split_first() else {
                return;
            };
            let (attest, signature) = rest.split_at(usize::from(split).min(rest.len()));
            let mut ak_public = [0x11; 65];
            ak_public[0] = 0x04;
            let registration = StationRegistration {
                ak_public,
                evaluator_key_id: [0; 32],
                pcr_selection: PcrSelection::sha256(&[0, 1, 2, 7])
                    .unwrap_or(PcrSelection { banks: Vec::new() }),
                pcr_digest: vec![0; 32],
            };
            let _ = verify_quote(&registration, attest, signature, &[0; 32]);
        }
        _ => {
            if let Ok(q) = RunQuotes::from_bytes(bytes) {
                assert_eq!(q.to_bytes(), bytes);
            }
        }
    }
});
