//! Changing any single byte of a bundle is detected, with the failing level named.
//!
//! This samples positions across the whole file (every 7th byte and the
//! first and last 64), which covers the header, every record and the
//! trailer; airlock-attest tests every byte exhaustively in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use airlock_tests::*;

fn positions(len: usize) -> BTreeSet<usize> {
    let mut positions: BTreeSet<usize> = (0..len).step_by(7).collect();
    positions.extend(0..len.min(64));
    positions.extend(len.saturating_sub(64)..len);
    positions
}

/// Flips one bit of byte `at` (a different bit for different positions, since
/// a one-bit change is the smallest a corruption can be), verifies, and
/// returns a description of what went wrong, if anything did.
fn check(bundle: &[u8], at: usize, trust: &Path, scratch: &Path) -> Option<String> {
    let mut tampered = bundle.to_vec();
    tampered[at] ^= 1 << (at % 8);
    let file = scratch.join(format!("tampered-{at}.bundle"));
    std::fs::write(&file, &tampered).unwrap();
    let done = verify(&file, trust, &["--json"]);
    let _ = std::fs::remove_file(&file);
    if done.status.code() != Some(1) {
        return Some(format!(
            "byte {at}: exit {:?}, want 1: {done}",
            done.status.code()
        ));
    }
    let Ok(report) = serde_json::from_str::<serde_json::Value>(&done.stdout) else {
        return Some(format!("byte {at}: stdout is not JSON: {done}"));
    };
    if report["verified"] != serde_json::Value::Bool(false) {
        return Some(format!("byte {at}: not reported unverified: {report}"));
    }
    let failed: Vec<_> = levels(&report)
        .into_iter()
        .filter(|(level, status)| status == "failed" && LEVELS.contains(&level.as_str()))
        .collect();
    if failed.is_empty() {
        return Some(format!("byte {at}: no level named as failed: {report}"));
    }
    None
}

#[test]
fn changing_any_sampled_byte_fails_verification_naming_a_level() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle_path = dir.path().join("run.bundle");
    Run::new("reference", &key, &bundle_path)
        .seed(seed(4))
        .finish()
        .expect_code(0);
    verify(&bundle_path, &key.public, &[]).expect_code(0);
    let bundle = std::fs::read(&bundle_path).unwrap();
    assert!(bundle.len() > 128, "bundle is only {} bytes", bundle.len());

    let todo = Mutex::new(positions(bundle.len()).into_iter().collect::<Vec<_>>());
    let failures = Mutex::new(Vec::new());
    // Two workers: verification is a short process each, and CI has two cores.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let Some(at) = todo.lock().unwrap().pop() else {
                        break;
                    };
                    if let Some(problem) = check(&bundle, at, &key.public, dir.path()) {
                        failures.lock().unwrap().push(problem);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} tampered bundles were not refused properly; first ones:\n{}",
        failures.len(),
        positions(bundle.len()).len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_plain_report_names_the_failing_level() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle_path = dir.path().join("run.bundle");
    Run::new("null", &key, &bundle_path)
        .seed(seed(5))
        .finish()
        .expect_code(0);
    let bundle = std::fs::read(&bundle_path).unwrap();
    for at in [0, bundle.len() / 2, bundle.len() - 1] {
        let mut tampered = bundle.clone();
        tampered[at] ^= 0x01;
        let file = dir.path().join("tampered.bundle");
        std::fs::write(&file, &tampered).unwrap();
        let (_, report) = verify_json(&file, &key.public);
        let failed: Vec<_> = levels(&report)
            .into_iter()
            .filter(|(_, status)| status == "failed")
            .map(|(level, _)| level)
            .collect();
        let plain = verify(&file, &key.public, &[]);
        plain.expect_code(1);
        for level in &failed {
            assert!(plain.stdout.contains(level.as_str()), "byte {at}: {plain}");
        }
        assert!(!failed.is_empty(), "byte {at}: {report}");
    }
}

#[test]
fn a_truncated_bundle_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle_path = dir.path().join("run.bundle");
    Run::new("null", &key, &bundle_path)
        .seed(seed(6))
        .finish()
        .expect_code(0);
    let bundle = std::fs::read(&bundle_path).unwrap();
    for keep in [bundle.len() - 1, bundle.len() / 2, 8] {
        let file = dir.path().join(format!("cut-{keep}.bundle"));
        std::fs::write(&file, &bundle[..keep]).unwrap();
        let (code, report) = verify_json(&file, &key.public);
        assert_eq!(code, 1, "cut to {keep}: {report}");
        assert_eq!(
            report["verified"],
            serde_json::Value::Bool(false),
            "{report}"
        );
    }
}
