//! Hostile bundles at scale, for measuring `report` by hand (not run by
//! default: `cargo test --release -p airlock-tests --test report_scale --
//! --ignored` with `AIRLOCK_SCALE_DIR` and `AIRLOCK_SCALE_RESULTS` set).
//!
//! Each bundle is a real run's RunStart (eight planned results) followed by
//! `AIRLOCK_SCALE_RESULTS` results that each name a task of their own, and
//! RunEnd, all chained and signed by the run's own evaluator key: it passes
//! signatures and chain and fails completeness, the shape of bundle that made
//! an unverified report quadratic in its results. `distinct.bundle` and a
//! second one, `distinct-b.bundle`, with other scores, for `report A B`;
//! `keys/evaluator.pub` trusts both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use airlock_attest::bundle::BundleWriter;
use airlock_attest::{BundleReader, SigningKey};
use airlock_core::Ppm;
use airlock_core::chain::GENESIS;
use airlock_core::record::{Record, SignedEntry};
use airlock_tests::*;

fn entries(bundle: &Path) -> (airlock_attest::PublicKey, Vec<SignedEntry>) {
    let bytes = std::fs::read(bundle).unwrap();
    let mut reader = BundleReader::new(&bytes[..]).unwrap();
    let key = reader.header().public_key;
    let mut out = Vec::new();
    while let Some(frame) = reader.next_entry().unwrap() {
        out.push(frame.entry);
    }
    (key, out)
}

/// Writes `name`: the run's RunStart, `results` results of distinct task
/// ids (score `score_of(i)`), its RunEnd, re-chained and re-signed.
fn hostile_bundle(
    dir: &Path,
    name: &str,
    base: &Path,
    key: &SigningKey,
    results: usize,
    score_of: impl Fn(usize) -> u32,
) {
    let (header_key, old) = entries(base);
    let records: Vec<Record> = old
        .iter()
        .map(|e| Record::from_bytes(&e.body).unwrap())
        .collect();
    let Some(Record::TaskResult(template)) = records.get(1).cloned() else {
        panic!("the run's second record is a result");
    };
    let mut bodies = vec![records[0].to_bytes()];
    for i in 0..results {
        let mut result = template.clone();
        result.plan_index = i as u32;
        result.task_id = format!("task-{i:06}");
        result.score = Ppm(score_of(i));
        bodies.push(Record::TaskResult(result).to_bytes());
    }
    bodies.push(records.last().unwrap().to_bytes());
    let file = std::fs::File::create(dir.join(name)).unwrap();
    let mut writer = BundleWriter::new(std::io::BufWriter::new(file), &header_key).unwrap();
    let mut prev = GENESIS;
    for (i, body) in bodies.into_iter().enumerate() {
        let entry = key.sign_body(&prev, i as u64, body);
        prev = entry.chain_hash;
        writer.write_entry(&entry).unwrap();
    }
    let (buffered, _) = writer.finish().unwrap();
    buffered.into_inner().unwrap().sync_all().unwrap();
}

#[test]
#[ignore = "writes large bundles for measuring report by hand"]
fn write_hostile_bundles() {
    let dir = std::env::var_os("AIRLOCK_SCALE_DIR").expect("AIRLOCK_SCALE_DIR");
    let dir = Path::new(&dir);
    let results: usize = std::env::var("AIRLOCK_SCALE_RESULTS")
        .expect("AIRLOCK_SCALE_RESULTS")
        .parse()
        .unwrap();
    let key = keygen(&dir.join("keys"));
    let base = dir.join("base.bundle");
    Run::new("null", &key, &base).finish().expect_code(0);
    let signing = SigningKey::load(&key.private).unwrap();
    hostile_bundle(dir, "distinct.bundle", &base, &signing, results, |i| {
        (i % 2) as u32 * 1_000_000
    });
    hostile_bundle(dir, "distinct-b.bundle", &base, &signing, results, |i| {
        (i % 3) as u32 * 400_000
    });
}
