//! Verification throughput against ring's raw Ed25519 verify rate, measured
//! in the same process, and peak memory against bundle size.
//!
//! `cargo bench -p airlock-attest --bench verify` writes a 100,000-record
//! bundle (RunStart with a 99,998-entry plan, the results, RunEnd) to a
//! temporary directory and prints:
//!
//! - ring's raw rate: `UnparsedPublicKey::verify` of 60-byte signed messages;
//! - the streamed verifier's records/s with 1 thread and with 2 threads,
//!   each as a ratio of the raw rate (the goals: ≥ 0.90 and ≥ 1.7);
//! - ring's raw rate on two threads at once, the ceiling for two threads
//!   under the machine's load at that moment, and the 2-thread verifier as
//!   a ratio of it;
//! - peak resident memory (VmHWM) of a child process verifying the
//!   10,000- and the 100,000-record bundle, and their ratio (the goal: flat,
//!   about 1.0). The plan, one entry per result, is in the one RunStart
//!   record; the verifier streams it rather than holding it.
//!
//! Each rate is the best of three rounds, measured two ways: by the wall
//! clock, and by CPU time (the thread's own for the raw loop and the
//! one-thread verifier; the process's, workers included, for two threads).
//! On a machine shared with other work the wall-clock rates swing with the
//! load (printed); CPU-time rates show the verifier's own cost per record,
//! and the 2-thread wall-clock speedup needs two idle cores to show.
//! `AIRLOCK_BENCH_RECORDS` changes the record count; `AIRLOCK_BENCH_KEEP=DIR`
//! keeps both bundles and the public key in DIR.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use airlock_attest::bundle::BundleWriter;
use airlock_attest::verify::{VerifyOptions, verify_bundle_file};
use airlock_attest::{PublicKey, SigningKey};
use airlock_core::chain::{GENESIS, SIGNED_MESSAGE_LEN, signed_message};
use airlock_core::record::{
    ModelDescriptor, PlannedTask, ProfileRef, Record, RunEnd, RunEndReason, RunStart, RunnerBuild,
    Signature, StationLink, SuiteRef, SuiteTrust, TaskResult,
};
use airlock_core::{Digest, Outcome, Ppm};

fn write_bundle(path: &Path, key: &SigningKey, records: usize) {
    let results = records - 2;
    let plan: Vec<PlannedTask> = (0..results)
        .map(|i| PlannedTask {
            task_id: format!("task-{}", i % 7),
            task_version: 1,
            module_digest: Digest([(i % 7) as u8; 32]),
            epoch: (i / 7) as u32,
        })
        .collect();
    let start = RunStart {
        run_id: [1; 16],
        started_at_unix_s: 1_700_000_000,
        suite: SuiteRef {
            name: "bench".into(),
            digest: Digest([2; 32]),
            trust: SuiteTrust::Embedded,
        },
        plan,
        profile: ProfileRef {
            name: "default".into(),
            digest: Digest([3; 32]),
        },
        runner: RunnerBuild {
            airlock_version: "0.1.0".into(),
            wasmtime_version: "48.0.8".into(),
            engine_settings: Digest([4; 32]),
            executable: Digest([5; 32]),
        },
        model: ModelDescriptor {
            agent: "reference".into(),
            model: "reference-solver".into(),
            reported_model: String::new(),
            tool_mode: airlock_core::abi::ToolMode::Native,
        },
        seed: [6; 32],
        evaluator_key_id: key.key_id(),
        campaign: None,
        selection: None,
        settings: None,
        hardware: airlock_core::record::StationHardware::NoTpm,
        station: StationLink {
            run_counter: 1,
            previous_run_start_hash: Digest::ZERO,
        },
    };
    let file = BufWriter::new(File::create(path).unwrap());
    let mut w = BundleWriter::new(file, &key.public_key()).unwrap();
    let mut prev = GENESIS;
    let mut seq = 0;
    let mut push = |w: &mut BundleWriter<_>, record: &Record| {
        let e = key.sign_next(&prev, seq, record);
        prev = e.chain_hash;
        seq += 1;
        w.write_entry(&e).unwrap();
    };
    let mut score_sum = 0;
    for (i, p) in start.plan.iter().enumerate() {
        let score = if i % 3 == 0 { 1_000_000 } else { 0 };
        score_sum += score as u64;
        let r = TaskResult {
            plan_index: i as u32,
            task_id: p.task_id.clone(),
            module_digest: p.module_digest,
            epoch: p.epoch,
            outcome: Outcome::Done,
            score: Ppm(score),
            fuel_consumed: 123_456,
            peak_memory_bytes: 1_179_648,
            turns: 3,
            tokens: Default::default(),
            wall_time_us: 789,
            transcript_commitment: Digest([8; 32]),
        };
        if i == 0 {
            push(&mut w, &Record::RunStart(start.clone()));
        }
        push(&mut w, &Record::TaskResult(r));
    }
    push(
        &mut w,
        &Record::RunEnd(RunEnd {
            results: results as u32,
            full_credit: results.div_ceil(3) as u32,
            score_sum,
            reason: RunEndReason::Completed,
        }),
    );
    w.finish().unwrap();
}

/// CPU time of the calling thread, in seconds (Linux: schedstat, nanoseconds).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map_or(0.0, |ns| ns / 1e9)
}

/// CPU time of the whole process, finished threads included (Linux: user +
/// system clock ticks of /proc/self/stat, at the usual 100 per second).
fn process_cpu() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A rate by the wall clock and by CPU time.
#[derive(Clone, Copy, Default)]
struct Rate {
    wall: f64,
    cpu: f64,
}

impl Rate {
    fn best(self, other: Rate) -> Rate {
        Rate {
            wall: self.wall.max(other.wall),
            cpu: self.cpu.max(other.cpu),
        }
    }
}

/// `n` distinct 60-byte signed messages and their signatures.
fn signed_messages(key: &SigningKey, n: usize) -> Vec<([u8; SIGNED_MESSAGE_LEN], Signature)> {
    (0..n)
        .map(|i| {
            let msg = signed_message(&Digest::blake3(&i.to_le_bytes()));
            let sig = key.sign(&msg);
            (msg, sig)
        })
        .collect()
}

/// ring's own rate: signatures of 60-byte signed messages, verified one by one.
fn raw_rate(key: &SigningKey, n: usize) -> Rate {
    let public = key.public_key();
    let jobs = signed_messages(key, n);
    let t = Instant::now();
    let c = thread_cpu();
    for (msg, sig) in &jobs {
        assert!(public.verify(msg, sig));
    }
    Rate {
        cpu: n as f64 / (thread_cpu() - c),
        wall: n as f64 / t.elapsed().as_secs_f64(),
    }
}

/// ring's rate on two threads at once, each verifying half the signatures:
/// the most two threads can do on this machine at this moment, so the
/// verifier's 2-thread rate can be read against what the load allows.
fn raw_rate_two_threads(key: &SigningKey, n: usize) -> Rate {
    let public = key.public_key();
    let jobs = signed_messages(key, n);
    let t = Instant::now();
    let p = process_cpu();
    std::thread::scope(|scope| {
        for half in jobs.chunks(n.div_ceil(2)) {
            scope.spawn(move || {
                for (msg, sig) in half {
                    assert!(public.verify(msg, sig));
                }
            });
        }
    });
    Rate {
        cpu: n as f64 / (process_cpu() - p),
        wall: n as f64 / t.elapsed().as_secs_f64(),
    }
}

fn verify_rate(path: &Path, public: PublicKey, threads: usize) -> (Rate, u64) {
    let t = Instant::now();
    let (c, p) = (thread_cpu(), process_cpu());
    let v = verify_bundle_file(path, &[public], VerifyOptions::default().threads(threads)).unwrap();
    let wall = t.elapsed().as_secs_f64();
    let cpu = if threads <= 1 {
        thread_cpu() - c
    } else {
        process_cpu() - p
    };
    assert!(v.verified(), "{v:#?}");
    let n = v.summary.records as f64;
    (
        Rate {
            wall: n / wall,
            cpu: n / cpu,
        },
        v.summary.records,
    )
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Child mode: verify one file and print the peak resident memory.
    if let Some(i) = args.iter().position(|a| a == "--child-rss") {
        let path = Path::new(&args[i + 1]);
        let key = SigningKey::from_seed(&[42; 32]);
        let v = verify_bundle_file(
            path,
            &[key.public_key()],
            VerifyOptions::default().threads(2),
        )
        .unwrap();
        println!("{} {}", v.summary.records, peak_rss_kib());
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let records: usize = std::env::var("AIRLOCK_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let key = SigningKey::from_seed(&[42; 32]);
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bundle");
    let small = dir.path().join("small.bundle");
    write_bundle(&big, &key, records);
    write_bundle(&small, &key, records / 10);
    // Kept for measuring the airlock binary's own peak memory on the same
    // bundles (`/usr/bin/time -f %M airlock verify DIR/big.bundle --trust DIR/bench.pub`).
    if let Some(keep) = std::env::var_os("AIRLOCK_BENCH_KEEP") {
        let keep = Path::new(&keep);
        std::fs::create_dir_all(keep).unwrap();
        std::fs::copy(&big, keep.join("big.bundle")).unwrap();
        std::fs::copy(&small, keep.join("small.bundle")).unwrap();
        std::fs::write(keep.join("bench.pub"), key.public_key().to_spki_pem()).unwrap();
    }
    let size = std::fs::metadata(&big).unwrap().len();
    println!("bundle: {records} records, {size} bytes");

    println!(
        "load average before: {} ({} cores)",
        load_average(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut raw = Rate::default();
    let mut one = Rate::default();
    let mut two = Rate::default();
    let mut raw_two = Rate::default();
    for _ in 0..3 {
        raw = raw.best(raw_rate(&key, 20_000));
        raw_two = raw_two.best(raw_rate_two_threads(&key, 40_000));
        one = one.best(verify_rate(&big, key.public_key(), 1).0);
        two = two.best(verify_rate(&big, key.public_key(), 2).0);
    }
    println!("                           wall clock                 CPU time");
    println!(
        "ring raw Ed25519 verify:   {:>9.0}/s                 {:>9.0}/s",
        raw.wall, raw.cpu
    );
    println!(
        "verify, 1 thread:          {:>9.0}/s = {:.3} x raw   {:>9.0}/s = {:.3} x raw",
        one.wall,
        one.wall / raw.wall,
        one.cpu,
        one.cpu / raw.cpu
    );
    println!(
        "verify, 2 threads:         {:>9.0}/s = {:.3} x raw   {:>9.0}/s = {:.3} x raw (per CPU-second)",
        two.wall,
        two.wall / raw.wall,
        two.cpu,
        two.cpu / raw.cpu
    );
    println!(
        "ring raw, 2 threads:       {:>9.0}/s = {:.3} x raw   (what two threads can do under this load)",
        raw_two.wall,
        raw_two.wall / raw.wall
    );
    println!(
        "verify 2 threads / ring raw 2 threads (wall clock): {:.3}",
        two.wall / raw_two.wall
    );
    println!("load average after: {}", load_average());

    let first_frame = |path: &Path| {
        let bytes = std::fs::read(path).unwrap();
        u32::from_le_bytes(bytes[44..48].try_into().unwrap())
    };
    println!(
        "RunStart frame: {} bytes (plan of {} entries), {} bytes (plan of {} entries)",
        first_frame(&small),
        records / 10 - 2,
        first_frame(&big),
        records - 2
    );

    let exe = std::env::current_exe().unwrap();
    let peak = |path: &Path| -> u64 {
        let out = std::process::Command::new(&exe)
            .arg("--child-rss")
            .arg(path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let small_size = std::fs::metadata(&small).unwrap().len();
    let (small_peak, big_peak) = (peak(&small), peak(&big));
    println!(
        "peak RSS verifying {:>7} records ({small_size} bytes): {small_peak} KiB",
        records / 10
    );
    println!("peak RSS verifying {records:>7} records ({size} bytes): {big_peak} KiB");
    println!(
        "peak RSS ratio, {}x the bundle: {:.3}",
        size / small_size.max(1),
        big_peak as f64 / small_peak.max(1) as f64
    );
}
