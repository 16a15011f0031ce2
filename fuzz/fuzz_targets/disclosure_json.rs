//! Disclosure files (`airlock-disclosure/2`) reach a verifier from outside:
//! any text parses to a disclosure that holds together, or gives a reason,
//! never a panic.
#![no_main]

use std::path::Path;

use airlock_attest::disclosure::Disclosure;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(disclosure) = Disclosure::from_json(Path::new("fuzz.json"), text) {
        // What parsed writes back out as JSON that parses to the same.
        let again = Disclosure::from_json(Path::new("fuzz.json"), &disclosure.to_json());
        assert_eq!(again.ok(), Some(disclosure));
    }
});
