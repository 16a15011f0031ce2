//! A small, fixed run used by the integration tests.
#![allow(dead_code)]

use airlock_attest::bundle::BundleWriter;
use airlock_attest::{PublicKey, SigningKey};
use airlock_core::chain::GENESIS;
use airlock_core::record::{
    ModelDescriptor, PlannedTask, ProfileRef, Record, RunEnd, RunEndReason, RunStart, RunnerBuild,
    SignedEntry, StationLink, SuiteRef, SuiteTrust, TaskResult,
};
use airlock_core::{Digest, Outcome, Ppm};

/// RFC 8032 TEST 1 seed: the key of SPEC.md's vectors.
pub const SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];

pub fn key() -> SigningKey {
    SigningKey::from_seed(&SEED)
}

pub fn other_key() -> SigningKey {
    SigningKey::from_seed(&[7; 32])
}

pub fn run_start(key: &PublicKey, tasks: usize, run_id: u8) -> RunStart {
    RunStart {
        run_id: [run_id; 16],
        started_at_unix_s: 1_700_000_000,
        suite: SuiteRef {
            name: "default".into(),
            digest: Digest([1; 32]),
            trust: SuiteTrust::Embedded,
        },
        plan: (0..tasks)
            .map(|i| PlannedTask {
                task_id: format!("task-{i}"),
                task_version: 1,
                module_digest: Digest([(i as u8).wrapping_add(10); 32]),
                epoch: 0,
            })
            .collect(),
        profile: ProfileRef {
            name: "default".into(),
            digest: Digest([2; 32]),
        },
        runner: RunnerBuild {
            airlock_version: "0.1.0".into(),
            wasmtime_version: "48.0.8".into(),
            engine_settings: Digest([3; 32]),
            executable: Digest([4; 32]),
        },
        model: ModelDescriptor {
            agent: "reference".into(),
            model: "reference".into(),
            reported_model: String::new(),
            tool_mode: airlock_core::abi::ToolMode::Native,
        },
        seed: [5; 32],
        evaluator_key_id: key.key_id(),
        campaign: None,
        selection: None,
        settings: None,
        hardware: airlock_core::record::StationHardware::NoTpm,
        station: StationLink {
            run_counter: 1,
            previous_run_start_hash: Digest::ZERO,
        },
    }
}

pub fn result(start: &RunStart, i: usize, score: u32) -> TaskResult {
    let p = &start.plan[i];
    TaskResult {
        plan_index: i as u32,
        task_id: p.task_id.clone(),
        module_digest: p.module_digest,
        epoch: p.epoch,
        outcome: Outcome::Done,
        score: Ppm(score),
        fuel_consumed: 1000 + i as u64,
        peak_memory_bytes: 65536,
        turns: 1,
        tokens: Default::default(),
        wall_time_us: 42,
        transcript_commitment: Digest([9; 32]),
    }
}

pub fn run_end(results: &[TaskResult], reason: RunEndReason) -> RunEnd {
    RunEnd {
        results: results.len() as u32,
        full_credit: results.iter().filter(|r| r.score == Ppm::FULL).count() as u32,
        score_sum: results.iter().map(|r| u64::from(r.score.0)).sum(),
        reason,
    }
}

/// RunStart, `tasks` results (alternating full and half credit), RunEnd.
pub fn records(key: &PublicKey, tasks: usize) -> Vec<Record> {
    let start = run_start(key, tasks, 0xab);
    let results: Vec<TaskResult> = (0..tasks)
        .map(|i| result(&start, i, if i % 2 == 0 { 1_000_000 } else { 500_000 }))
        .collect();
    let end = run_end(&results, RunEndReason::Completed);
    let mut out = vec![Record::RunStart(start)];
    out.extend(results.into_iter().map(Record::TaskResult));
    out.push(Record::RunEnd(end));
    out
}

pub fn sign_all(key: &SigningKey, records: &[Record]) -> Vec<SignedEntry> {
    let mut prev = GENESIS;
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let e = key.sign_next(&prev, i as u64, r);
            prev = e.chain_hash;
            e
        })
        .collect()
}

pub fn bundle_bytes(public: &PublicKey, entries: &[SignedEntry]) -> Vec<u8> {
    let mut w = BundleWriter::new(Vec::new(), public).unwrap();
    for e in entries {
        w.write_entry(e).unwrap();
    }
    w.finish().unwrap().0
}

/// A valid signed bundle of `tasks` tasks.
pub fn valid_bundle(tasks: usize) -> Vec<u8> {
    let k = key();
    bundle_bytes(
        &k.public_key(),
        &sign_all(&k, &records(&k.public_key(), tasks)),
    )
}

/// Signs `records` with the test key and writes a bundle.
pub fn resigned(records: &[Record]) -> Vec<u8> {
    let k = key();
    bundle_bytes(&k.public_key(), &sign_all(&k, records))
}
