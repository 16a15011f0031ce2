//! The bundle verifier's rate against ring's raw Ed25519 verification rate,
//! measured in one process on the same bundle, for `cargo xtask bench`:
//!
//! ```text
//! cargo run --release -p airlock-attest --example verify_rate -- BUNDLE PUBLIC_KEY [ROUNDS]
//! ```
//!
//! `verifier`: [`verify_bundle_file`] (decode, signatures, chain,
//! completeness) over the whole file, records per second. `ring`: one
//! `ring::signature::ED25519` verification of each record's signed message
//! and signature, read from the bundle beforehand, per second. The rounds
//! alternate the two so that a noisy machine slows both alike; the best
//! round of each counts. Prints one JSON object.

use core::time::Duration;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use airlock_attest::bundle::open_bundle;
use airlock_attest::{BundleReader, PublicKey, VerifyOptions, verify_bundle_file};
use airlock_core::chain::{SIGNED_MESSAGE_LEN, signed_message};
use ring::signature::{ED25519, UnparsedPublicKey};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("verify_rate: {message}");
            ExitCode::FAILURE
        }
    }
}

/// One whole verification of the bundle file.
fn time_verifier(bundle: &Path, trusted: &[PublicKey]) -> Result<Duration, String> {
    let started = Instant::now();
    let verdict =
        verify_bundle_file(bundle, trusted, VerifyOptions::default()).map_err(|e| e.to_string())?;
    let took = started.elapsed();
    if !verdict.verified() {
        let failure = verdict
            .first_failure()
            .map_or_else(|| "no level".to_owned(), ToString::to_string);
        return Err(format!("{}: does not verify: {failure}", bundle.display()));
    }
    Ok(took)
}

/// One ring verification of each record's signed message.
fn time_ring(
    key: &UnparsedPublicKey<[u8; 32]>,
    signed: &[([u8; SIGNED_MESSAGE_LEN], [u8; 64])],
) -> Result<Duration, String> {
    let started = Instant::now();
    for (message, signature) in signed {
        if key.verify(message, signature).is_err() {
            return Err("a signature does not verify under ring".into());
        }
    }
    Ok(started.elapsed())
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bundle, key, rounds) = match args.as_slice() {
        [bundle, key] => (bundle, key, 5),
        [bundle, key, rounds] => (
            bundle,
            key,
            rounds
                .parse::<u32>()
                .map_err(|_| format!("ROUNDS must be a whole number, not {rounds:?}"))?
                .max(1),
        ),
        _ => return Err("usage: verify_rate BUNDLE PUBLIC_KEY [ROUNDS]".into()),
    };
    let bundle = PathBuf::from(bundle);
    let key = PublicKey::load(&PathBuf::from(key)).map_err(|e| e.to_string())?;

    // What ring alone is asked to check: each record's signed message.
    let mut signed = Vec::new();
    let mut reader = BundleReader::new(open_bundle(&bundle).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{}: {e}", bundle.display()))?;
    while let Some(frame) = reader
        .next_entry()
        .map_err(|e| format!("{}: {e}", bundle.display()))?
    {
        signed.push((
            signed_message(&frame.entry.chain_hash),
            frame.entry.signature.0,
        ));
    }
    let records = signed.len();
    if records == 0 {
        return Err(format!("{}: holds no records", bundle.display()));
    }

    let trusted = [key];
    let ring_key = UnparsedPublicKey::new(&ED25519, key.0);
    let mut best_verifier = Duration::MAX;
    let mut best_ring = Duration::MAX;
    for round in 0..rounds {
        // Alternate which side goes first, so neither always runs on a
        // cache or CPU-frequency state the other left behind.
        if round % 2 == 0 {
            best_verifier = best_verifier.min(time_verifier(&bundle, &trusted)?);
            best_ring = best_ring.min(time_ring(&ring_key, &signed)?);
        } else {
            best_ring = best_ring.min(time_ring(&ring_key, &signed)?);
            best_verifier = best_verifier.min(time_verifier(&bundle, &trusted)?);
        }
    }
    let per_second = |d: Duration| records as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE);
    let verifier = per_second(best_verifier);
    let ring = per_second(best_ring);
    let report = serde_json::json!({
        "records": records,
        "rounds": rounds,
        "verifier_records_per_s": verifier,
        "ring_verifies_per_s": ring,
        "ratio": verifier / ring,
    });
    println!("{report}");
    Ok(())
}
