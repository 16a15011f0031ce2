//! Cost per record of what a run and a verifier do with it: encode, chain
//! hash, sign, append to the journal (buffered, then durable with its own
//! fdatasync), and the verifier's rate per record against ring's raw
//! Ed25519 verification of the same signatures, in the same run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use airlock_attest::{JournalWriter, VerifyOptions, verify_bundle};
use airlock_core::chain::{GENESIS, chain_hash, signed_message};
use airlock_core::record::{Record, SignedEntry};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ring::signature::{ED25519, UnparsedPublicKey};

/// Results in the bundle the verifier benches read.
const BUNDLE_RESULTS: usize = 2000;

fn per_record(c: &mut Criterion) {
    let key = common::key();
    let public = key.public_key();
    let start = common::run_start(&public, 1, 1);
    let record = Record::TaskResult(common::result(&start, 0, 1_000_000));
    let body = record.to_bytes();
    let hash = chain_hash(&GENESIS, 1, &body);

    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| b.iter(|| record.to_bytes()));
    group.bench_function("chain hash", |b| b.iter(|| chain_hash(&GENESIS, 1, &body)));
    group.bench_function("sign", |b| b.iter(|| key.sign(&signed_message(&hash))));

    let dir = tempfile::tempdir().unwrap();
    let mut journal = JournalWriter::create(&dir.path().join("buffered"), &public).unwrap();
    group.bench_function("encode+chain+sign+append (buffered)", |b| {
        b.iter(|| journal.append(&key, &record).unwrap())
    });
    let mut journal = JournalWriter::create(&dir.path().join("durable"), &public).unwrap();
    group.bench_function("encode+chain+sign+append+fdatasync", |b| {
        b.iter(|| {
            let entry = journal.append(&key, &record).unwrap();
            journal.sync().unwrap();
            entry
        })
    });
    group.finish();
}

fn verification(c: &mut Criterion) {
    let key = common::key();
    let public = key.public_key();
    let bundle = common::valid_bundle(BUNDLE_RESULTS);
    let entries: Vec<SignedEntry> =
        common::sign_all(&key, &common::records(&public, BUNDLE_RESULTS));
    let ring_key = UnparsedPublicKey::new(&ED25519, public.0);
    let trusted = [public];

    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(entries.len() as u64));
    group.sample_size(10);
    group.bench_function("bundle, every level", |b| {
        b.iter(|| {
            let verdict = verify_bundle(&bundle[..], &trusted, VerifyOptions::default());
            assert!(verdict.verified());
            verdict
        })
    });
    group.bench_function("ring ed25519 verify of each signature", |b| {
        b.iter(|| {
            for entry in &entries {
                ring_key
                    .verify(&signed_message(&entry.chain_hash), &entry.signature.0)
                    .unwrap();
            }
        })
    });
    group.bench_function("chain hashes only", |b| {
        b.iter(|| {
            let mut prev = GENESIS;
            for entry in &entries {
                prev = chain_hash(&prev, entry.seq, &entry.body);
            }
            prev
        })
    });
    group.finish();
}

criterion_group!(benches, per_record, verification);
criterion_main!(benches);
