//! What the station log adds to the end of a run: reading the station
//! state, rebuilding the tree, signing a checkpoint and making the run's
//! receipt, for stations of 1,000 and 10,000 finished runs; beside it, one
//! Ed25519 signature (the checkpoint's), measured in the same run, so the
//! figures read as multiples of a signature.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use airlock_attest::SigningKey;
use airlock_attest::station_log::StationLog;
use airlock_attest::station_state::Station;
use airlock_core::Digest;
use criterion::{Criterion, criterion_group, criterion_main};

fn station_with(dir: &std::path::Path, runs: u64) -> std::path::PathBuf {
    let path = dir.join(format!("s{runs}.station"));
    let mut station = Station::lock(&path).unwrap();
    for i in 1..=runs {
        let (counter, _) = station.next().unwrap();
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&i.to_le_bytes());
        station.record_started(counter, &Digest(hash)).unwrap();
        hash[31] = 1;
        station.record_finished(counter, &Digest(hash)).unwrap();
    }
    path
}

fn receipt(c: &mut Criterion) {
    let key = SigningKey::from_seed(&[5; 32]);
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("station log");
    group.bench_function("one Ed25519 signature", |b| {
        b.iter(|| key.sign(b"airlock/station/x\n1\nroot\n"))
    });
    for runs in [1_000u64, 10_000] {
        let path = station_with(dir.path(), runs);
        group.bench_function(
            format!("read + receipt of the last run, {runs} runs"),
            |b| {
                b.iter(|| {
                    let log = StationLog::read(&path, key.key_id()).unwrap();
                    log.receipt(runs, None, &key).unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, receipt);
criterion_main!(benches);
