//! Bundle decode and verification: any bytes, verified under the key their
//! own header names (so that valid seeds reach the signature, chain and
//! completeness levels), must give a verdict, never a panic.
#![no_main]

use airlock_attest::bundle::BundleHeader;
use airlock_attest::{PublicKey, VerifyOptions, verify_bundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = data
        .get(..44)
        .and_then(|header| BundleHeader::decode(header).ok())
        .map_or(PublicKey([0; 32]), |header| header.public_key);
    let verdict = verify_bundle(data, &[key], VerifyOptions::default().collect_records(true));
    // A verified verdict must have passed every level it reports.
    if verdict.verified() {
        assert!(verdict.first_failure().is_none());
    }
});
