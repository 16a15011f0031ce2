//! What the hardware level adds to verifying a run: the two TPM quotes of
//! the committed format-5 run 5 (read, parsed, their ECDSA P-256 signatures
//! checked against the station registration, qualifying data and PCR digest
//! compared) against verifying the same bundle's records and Ed25519
//! signatures, in the same run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use airlock_attest::hardware::{TrustedRegistration, hardware_level, quotes_path};
use airlock_attest::{PublicKey, VerifyOptions, verify_bundle};
use criterion::{Criterion, criterion_group, criterion_main};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/committed/format-5")
        .join(name)
}

fn hardware(c: &mut Criterion) {
    let bundle_path = fixture("run5.bundle");
    let bundle = std::fs::read(&bundle_path).unwrap();
    let quotes = std::fs::read(quotes_path(&bundle_path)).unwrap();
    let registration = std::fs::read(fixture("station.registration")).unwrap();
    let trusted_keys = [PublicKey::load(&fixture("evaluator.pub")).unwrap()];
    let trusted = [TrustedRegistration::from_bytes("station.registration", &registration).unwrap()];

    let verdict = verify_bundle(&bundle[..], &trusted_keys, VerifyOptions::default());
    assert!(verdict.verified(), "the fixture run verifies");
    let (level, _) = hardware_level("run5.bundle", &verdict, &trusted, Ok(quotes.clone()));
    assert!(
        matches!(level.status, airlock_attest::Status::Passed),
        "the fixture run passes the hardware level: {level:?}"
    );

    let mut group = c.benchmark_group("hardware");
    group.bench_function("bundle (records, chain, Ed25519)", |b| {
        b.iter(|| verify_bundle(&bundle[..], &trusted_keys, VerifyOptions::default()))
    });
    group.bench_function("hardware level (2 quotes, ECDSA P-256)", |b| {
        b.iter(|| hardware_level("run5.bundle", &verdict, &trusted, Ok(quotes.clone())))
    });
    group.finish();
}

criterion_group!(benches, hardware);
criterion_main!(benches);
