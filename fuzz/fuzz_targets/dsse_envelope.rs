//! DSSE envelope checking (`airlock export --dsse` output read back): the
//! first 32 bytes are the signer's raw Ed25519 key, the rest one JSON
//! envelope. Any input verifies or gives a reason, never a panic.
#![no_main]

use airlock_attest::PublicKey;
use airlock_attest::dsse::verify_envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((key, json)) = data.split_first_chunk::<32>() else {
        return;
    };
    let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    if let Ok(payload) = verify_envelope(&envelope, &PublicKey(*key)) {
        // What verified is the payload the envelope carries.
        assert!(envelope["payload"].is_string());
        let _ = serde_json::from_slice::<serde_json::Value>(&payload);
    }
});
