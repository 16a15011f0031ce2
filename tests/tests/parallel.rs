//! Parallel sandboxes: the bundle does not depend on how many task instances
//! run at once, the number is bounded by the profile, and the runner's memory
//! stays within the profile's total plus the documented runner base
//! (hardware-profiles/README.md, "Memory").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use airlock_core::record::{Record, RunEndReason, TaskResult};
use airlock_tests::*;

const FAKE_MODEL: &str = env!("CARGO_BIN_EXE_fake-model");

/// The runner's own memory beside its sandboxes, in MiB, as documented in
/// hardware-profiles/README.md.
const RUNNER_BASE_MIB: u64 = 64;

/// What of a TaskResult must not depend on the scheduling: everything but
/// the wall time, and the transcript commitment, which is keyed by each
/// run's own secret.
#[derive(Debug, PartialEq, Eq)]
struct Payload {
    plan_index: u32,
    task_id: String,
    module_digest: String,
    epoch: u32,
    outcome: String,
    score: u32,
    fuel: u64,
    turns: u32,
}

impl From<&TaskResult> for Payload {
    fn from(r: &TaskResult) -> Payload {
        Payload {
            plan_index: r.plan_index,
            task_id: r.task_id.clone(),
            module_digest: r.module_digest.to_hex().as_str().to_owned(),
            epoch: r.epoch,
            outcome: r.outcome.to_string(),
            score: r.score.0,
            fuel: r.fuel_consumed,
            turns: r.turns,
        }
    }
}

/// The TaskResult payloads of a bundle, in the order its records hold them,
/// and its RunEnd reason.
fn payloads(bundle: &Path) -> (Vec<Payload>, RunEndReason) {
    let mut results = Vec::new();
    let mut reason = None;
    for record in bundle_records(bundle) {
        match record {
            Record::TaskResult(r) => results.push(Payload::from(&r)),
            Record::RunEnd(end) => reason = Some(end.reason),
            Record::RunStart(_) => {}
        }
    }
    (results, reason.expect("the bundle has a RunEnd"))
}

/// Runs `run` with `--sandboxes N --json`, asserts exit 0, that the run
/// used N sandboxes and that the bundle verifies; returns the payloads.
#[track_caller]
fn run_with(run: &Run, sandboxes: u32, key: &Key) -> (Vec<Payload>, RunEndReason) {
    let done = finish(
        run.command()
            .args(["--sandboxes", &sandboxes.to_string(), "--json"]),
    );
    done.expect_code(0);
    assert_eq!(done.json()["sandboxes"], sandboxes, "{done}");
    let (code, report) = verify_json(&run.out, &key.public);
    assert_eq!(code, 0, "the bundle must verify: {report}");
    payloads(&run.out)
}

#[test]
fn one_and_two_sandboxes_give_identical_task_results_in_plan_order() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    for agent in ["reference", "null"] {
        let mut by_sandboxes = Vec::new();
        for sandboxes in [1, 2] {
            let out = dir.path().join(format!("{agent}-{sandboxes}.bundle"));
            let run = Run::new(agent, &key, &out)
                .seed(seed(3))
                .arg("--epochs")
                .arg("3");
            by_sandboxes.push(run_with(&run, sandboxes, &key));
        }
        let (one, one_end) = &by_sandboxes[0];
        let (two, two_end) = &by_sandboxes[1];
        assert_eq!(one.len(), 3 * DEFAULT_TASKS.len(), "{one:?}");
        let order: Vec<u32> = two.iter().map(|p| p.plan_index).collect();
        let plan: Vec<u32> = (0..order.len() as u32).collect();
        assert_eq!(
            order, plan,
            "{agent}: results enter the chain in plan order"
        );
        assert_eq!(
            one, two,
            "{agent}: results differ between 1 and 2 sandboxes"
        );
        assert_eq!(one_end, two_end);
        assert_eq!(*two_end, RunEndReason::Completed);
    }
}

#[test]
fn sandboxes_beyond_the_profile_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    for (profile, asked, allowed) in [("default", "3", 2), ("field-laptop", "2", 1)] {
        let out = dir.path().join(format!("{profile}.bundle"));
        let mut run = Run::new("null", &key, &out);
        run.profile = profile.to_owned();
        let done = finish(run.command().args(["--sandboxes", asked]));
        done.expect_code(2);
        assert!(
            done.stderr.contains(&format!(
                "--sandboxes {asked}: profile \"{profile}\" allows 1 to {allowed} sandboxes at once"
            )),
            "{done}"
        );
        assert!(!out.exists(), "no bundle for a refused run");
        assert!(!journal_of(&out).exists(), "no journal for a refused run");
    }
    let out = dir.path().join("zero.bundle");
    let done = finish(
        Run::new("null", &key, &out)
            .command()
            .args(["--sandboxes", "0"]),
    );
    done.expect_code(2);
    assert!(!journal_of(&out).exists());
}

/// A task that grows its memory to 60 MiB, writes to every page of it (so
/// all of it is resident), then keeps it while it burns some fuel, so that
/// tasks running side by side hold their memory at the same time.
fn memory_hungry_module(id: &str) -> Vec<u8> {
    const PAGES: u32 = 960;
    let start = format!(
        "(local $at i32) (local $spin i32)
         (drop (memory.grow (i32.const {grow})))
         (local.set $at (i32.const 65536))
         (loop $touch
           (i32.store8 (local.get $at) (i32.const 1))
           (local.set $at (i32.add (local.get $at) (i32.const 4096)))
           (br_if $touch (i32.lt_u (local.get $at) (i32.const {end}))))
         (local.set $spin (i32.const 20000000))
         (loop $hold
           (local.set $spin (i32.sub (local.get $spin) (i32.const 1)))
           (br_if $hold (local.get $spin)))
         (global.get $done)",
        grow = PAGES - 1,
        end = PAGES * 65536,
    );
    wasm(&task_module_wat(id, "", &start, "(global.get $done)"))
}

#[test]
fn peak_memory_stays_within_the_profile_total_plus_the_runner_base() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let suite = suite_dir(
        dir.path(),
        &[
            ("hungry-a.wasm", memory_hungry_module("hungry-a")),
            ("hungry-b.wasm", memory_hungry_module("hungry-b")),
        ],
    );
    // Four cores, but memory for two sandboxes of 64 MiB: the memory bound
    // is the one that must hold.
    let total_mib = 128;
    let profile = profile_with(
        dir.path(),
        "small",
        &[
            ("cores", "4"),
            ("memory_per_sandbox_mib", "64"),
            ("total_memory_mib", &total_mib.to_string()),
        ],
    );
    let out = dir.path().join("hungry.bundle");
    let mut run = Run::new("null", &key, &out)
        .seed(seed(4))
        .arg("--unsigned-suite")
        .arg("--epochs")
        .arg("4");
    run.suite = suite.to_str().unwrap().to_owned();
    run.profile = profile.to_str().unwrap().to_owned();
    let done = finish(run.command().arg("--json"));
    done.expect_code(0);
    let json = done.json();
    assert_eq!(json["sandboxes"], 2, "min(cores 4, 128 MiB / 64 MiB)");
    let rows = task_rows(&json);
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|r| r.outcome == "done"), "{rows:?}");

    let peak = json["peak_rss_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("the runner reports its peak resident memory: {json}"));
    let mib = 1024 * 1024;
    // The accounting sees task memory at all: one sandbox's 60 MiB at least.
    assert!(peak > 60 * mib, "peak {} MiB", peak / mib);
    assert!(
        peak <= (total_mib + RUNNER_BASE_MIB) * mib,
        "peak resident memory {} MiB exceeds the profile's {total_mib} MiB + {RUNNER_BASE_MIB} MiB",
        peak / mib
    );
}

/// A station with a directory suite and a profile that ends the run after
/// two model errors in a row.
fn station_run(dir: &Path, key: &Key, modules: &[(&str, Vec<u8>)], agent: &str, name: &str) -> Run {
    let suite = suite_dir(dir, modules);
    let profile = profile_with(
        dir,
        "two-errors",
        &[
            ("model_call_timeout_ms", "5_000"),
            ("max_consecutive_model_errors", "2"),
        ],
    );
    let mut run = Run::new(agent, key, &dir.join(format!("{name}.bundle")))
        .seed(seed(6))
        .arg("--unsigned-suite");
    run.suite = suite.to_str().unwrap().to_owned();
    run.profile = profile.to_str().unwrap().to_owned();
    run
}

#[test]
fn the_model_error_abort_falls_at_the_same_plan_entry_with_two_sandboxes() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    // The reference agent has no solver for these modules: every task that
    // asks the model ends in a model error, and one that does not is done.
    // Plan: ask, done, ask, ask (the second error in a row ends the run), then
    // entries a second sandbox may already have started.
    let modules = [
        ("a-ask.wasm", asking_module("a-ask", &["q"])),
        ("b-done.wasm", instant_done_module("b-done")),
        ("c-ask.wasm", asking_module("c-ask", &["q"])),
        ("d-ask.wasm", asking_module("d-ask", &["q"])),
        ("e-done.wasm", instant_done_module("e-done")),
        ("f-done.wasm", instant_done_module("f-done")),
    ];
    let run = station_run(dir.path(), &key, &modules, "reference", "one");
    let (one, one_end) = run_with(&run, 1, &key);
    let mut run = run.clone();
    run.out = dir.path().join("two.bundle");
    let (two, two_end) = run_with(&run, 2, &key);
    let tasks: Vec<&str> = two.iter().map(|p| p.task_id.as_str()).collect();
    assert_eq!(tasks, ["a-ask", "b-done", "c-ask", "d-ask"]);
    assert_eq!(two_end, RunEndReason::AbortedModelErrors(2));
    assert_eq!(one, two);
    assert_eq!(one_end, two_end);
}

#[test]
fn exec_agent_under_two_sandboxes_answers_one_call_at_a_time_with_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let modules = [
        (
            "asker.wasm",
            asking_module("asker", &["one", "two", "three"]),
        ),
        ("other.wasm", asking_module("other", &["alpha", "beta"])),
    ];
    let agent = format!("exec:{FAKE_MODEL}");
    let run = station_run(dir.path(), &key, &modules, &agent, "exec-default")
        .arg("--agent-arg=echo")
        .arg("--epochs")
        .arg("3");
    // One process answers one call at a time: by default, one sandbox.
    let done = finish(run.command().arg("--json"));
    done.expect_code(0);
    assert_eq!(done.json()["sandboxes"], 1, "{done}");

    let mut by_sandboxes = Vec::new();
    for sandboxes in [1, 2] {
        let log = dir.path().join(format!("requests-{sandboxes}.jsonl"));
        let mut run = run.clone();
        run.out = dir.path().join(format!("exec-{sandboxes}.bundle"));
        let mut command = run.command();
        command
            .args(["--sandboxes", &sandboxes.to_string(), "--json"])
            .env("FAKE_MODEL_LOG", &log);
        let done = finish(&mut command);
        done.expect_code(0);
        let (code, report) = verify_json(&run.out, &key.public);
        assert_eq!(code, 0, "{report}");
        let requests: Vec<serde_json::Value> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // 3 epochs of a 3-turn and a 2-turn task, every turn asked once, by
        // one process whose request ids count up without a gap.
        assert_eq!(requests.len(), 15, "{requests:?}");
        let ids: Vec<u64> = requests.iter().map(|r| r["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, (0..15).collect::<Vec<u64>>());
        let mut asked: Vec<(u64, u64)> = requests
            .iter()
            .map(|r| {
                (
                    r["plan_index"].as_u64().unwrap(),
                    r["turn"].as_u64().unwrap(),
                )
            })
            .collect();
        asked.sort_unstable();
        asked.dedup();
        assert_eq!(asked.len(), 15, "a turn was asked twice: {requests:?}");
        by_sandboxes.push(payloads(&run.out));
    }
    let (one, _) = &by_sandboxes[0];
    assert!(one.iter().all(|p| p.outcome == "done"), "{one:?}");
    assert_eq!(by_sandboxes[0], by_sandboxes[1]);
}

#[test]
fn a_runaway_recursion_is_a_stack_overflow_under_a_large_wasm_stack() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    // Frames that use some stack each, so the profile's limit is what stops it.
    let recurse = "(func $recurse (param i64) (result i64)
        (i64.add (call $recurse (i64.add (local.get 0) (i64.const 1))) (local.get 0)))";
    let module = wasm(&task_module_wat(
        "recursion",
        recurse,
        "(drop (call $recurse (i64.const 0))) (global.get $done)",
        "(global.get $done)",
    ));
    let suite = suite_dir(dir.path(), &[("recursion.wasm", module)]);
    // A wasm stack larger than a thread's default native stack.
    let profile = profile_with(dir.path(), "deep", &[("max_wasm_stack_kib", "2_000")]);
    for sandboxes in ["1", "2"] {
        let mut run = Run::new(
            "null",
            &key,
            &dir.path().join(format!("deep-{sandboxes}.bundle")),
        )
        .seed(seed(9))
        .arg("--unsigned-suite")
        .arg("--epochs")
        .arg("2");
        run.suite = suite.to_str().unwrap().to_owned();
        run.profile = profile.to_str().unwrap().to_owned();
        let done = finish(run.command().args(["--sandboxes", sandboxes, "--json"]));
        done.expect_code(0);
        let rows = task_rows(&done.json());
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter().all(|r| r.outcome == "stack-overflow"),
            "{sandboxes} sandboxes: {rows:?}"
        );
    }
}
