//! The module cache under a real sandbox: a second load comes from the
//! cache; a changed, copied or foreign entry is refused, the module compiled
//! again and the entry rewritten; a task runs the same whichever way its
//! code was loaded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use std::path::Path;

use airlock_core::abi::{StartArgs, ToolMode};
use airlock_sandbox::module_cache::{ModuleCache, Refusal, Source, StationSecret};
use airlock_sandbox::{Sandbox, SandboxLimits, TaskRun};

mod common;
use common::{DONE_FULL, SAY_Q, Scripted, task_wat};

const RUNNER: [u8; 32] = [0x5a; 32];

fn limits() -> SandboxLimits {
    common::small_limits(Duration::from_secs(30))
}

fn cached(limits: SandboxLimits, dir: &Path, secret: [u8; 32], runner: [u8; 32]) -> Sandbox {
    let cache = ModuleCache::open(dir, StationSecret::from_bytes(&secret), runner).unwrap();
    Sandbox::new(limits).unwrap().with_module_cache(cache)
}

/// A module that does some work, so its fuel and memory say something: it
/// grows its memory by a page and loops 1000 times before its turn.
fn module() -> Vec<u8> {
    task_wat(
        "(drop (memory.grow (i32.const 1))) \
         (local.set 0 (i32.const 1000)) \
         (loop (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if 0 (local.get 0))) \
         i64.const 0x4000000003",
        DONE_FULL,
        "",
    )
}

fn entry_path(sandbox: &Sandbox, bytes: &[u8]) -> std::path::PathBuf {
    let path = sandbox.module_cache_entry(bytes).unwrap();
    assert!(path.is_file(), "{}", path.display());
    path
}

fn run(sandbox: &Sandbox, bytes: &[u8]) -> (Source, TaskRun) {
    let task = sandbox.load(bytes).unwrap();
    let start = StartArgs {
        seed: [3; 32],
        tool_mode: ToolMode::Text,
    };
    let mut run = sandbox.run(&task, &start, &mut Scripted(Ok("ok".into())));
    run.wall_time = Duration::ZERO;
    (task.source, run)
}

fn compiled(refused: Refusal) -> Source {
    Source::Compiled {
        refused,
        stored: true,
    }
}

#[test]
fn second_load_comes_from_the_cache_and_runs_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = module();
    let uncached = Sandbox::new(limits()).unwrap();
    let (source, reference) = run(&uncached, &bytes);
    assert_eq!(source, Source::NoCache);
    assert_eq!(reference.outcome, airlock_core::outcome::Outcome::Done);

    let sandbox = cached(limits(), dir.path(), [1; 32], RUNNER);
    let (first, cold) = run(&sandbox, &bytes);
    assert_eq!(first, compiled(Refusal::Missing));
    let (second, warm) = run(&sandbox, &bytes);
    assert_eq!(second, Source::Cache);
    // A new sandbox (a new run) of the same build and settings hits too.
    let again = cached(limits(), dir.path(), [1; 32], RUNNER);
    let (third, warm_again) = run(&again, &bytes);
    assert_eq!(third, Source::Cache);
    for other in [&cold, &warm, &warm_again] {
        assert_eq!(other, &reference);
    }
}

#[test]
fn a_changed_byte_is_refused_recompiled_rewritten_and_the_task_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = module();
    let sandbox = cached(limits(), dir.path(), [1; 32], RUNNER);
    let (_, reference) = run(&sandbox, &bytes);
    let path = entry_path(&sandbox, &bytes);
    let good = std::fs::read(&path).unwrap();
    // One byte of the header's binding, of the artifact, of the MAC.
    for at in [20, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x04;
        std::fs::write(&path, &bad).unwrap();
        let (source, after) = run(&sandbox, &bytes);
        assert_eq!(source, compiled(Refusal::Mac), "byte {at}");
        assert_eq!(after, reference, "byte {at}");
        assert_eq!(std::fs::read(&path).unwrap(), good, "rewritten whole");
        assert_eq!(run(&sandbox, &bytes).0, Source::Cache);
    }
    // Cut short.
    std::fs::write(&path, &good[..100]).unwrap();
    let (source, after) = run(&sandbox, &bytes);
    assert_eq!(source, compiled(Refusal::Truncated));
    assert_eq!(after, reference);
}

#[test]
fn an_entry_of_other_engine_settings_or_another_runner_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = module();
    let sandbox = cached(limits(), dir.path(), [1; 32], RUNNER);
    let (_, reference) = run(&sandbox, &bytes);
    let entry = std::fs::read(entry_path(&sandbox, &bytes)).unwrap();

    // A profile with another stack limit: other engine settings, so its
    // entry has another name. Planted under that name, ours is refused.
    let mut deeper = limits();
    deeper.max_wasm_stack_bytes *= 2;
    let other_dir = tempfile::tempdir().unwrap();
    let other = cached(deeper.clone(), other_dir.path(), [1; 32], RUNNER);
    assert_ne!(other.settings_digest(), sandbox.settings_digest());
    run(&other, &bytes);
    let theirs = entry_path(&other, &bytes);
    std::fs::write(&theirs, &entry).unwrap();
    let (source, after) = run(&other, &bytes);
    assert_eq!(source, compiled(Refusal::Bound("engine settings")));
    assert_eq!(after.outcome, reference.outcome);
    assert_eq!(run(&other, &bytes).0, Source::Cache);

    // Another runner build sharing the directory and the secret.
    let newer = cached(limits(), dir.path(), [1; 32], [0x5b; 32]);
    assert_eq!(run(&newer, &bytes).0, compiled(Refusal::Missing));
    let newer_path = entry_path(&newer, &bytes);
    std::fs::write(&newer_path, &entry).unwrap();
    let (source, after) = run(&newer, &bytes);
    assert_eq!(source, compiled(Refusal::Bound("runner build")));
    assert_eq!(after, reference);
    // Each build keeps its own entry.
    assert_eq!(run(&sandbox, &bytes).0, Source::Cache);
    assert_eq!(run(&newer, &bytes).0, Source::Cache);
}

#[test]
fn an_entry_made_under_another_station_secret_is_refused() {
    let bytes = module();
    let ours_dir = tempfile::tempdir().unwrap();
    let theirs_dir = tempfile::tempdir().unwrap();
    let ours = cached(limits(), ours_dir.path(), [1; 32], RUNNER);
    let theirs = cached(limits(), theirs_dir.path(), [2; 32], RUNNER);
    let (_, reference) = run(&ours, &bytes);
    run(&theirs, &bytes);
    let planted = std::fs::read(entry_path(&theirs, &bytes)).unwrap();
    let ours_path = entry_path(&ours, &bytes);
    // Same name: everything but the secret is the same.
    assert_eq!(
        ours_path.file_name(),
        entry_path(&theirs, &bytes).file_name()
    );
    std::fs::write(&ours_path, planted).unwrap();
    let (source, after) = run(&ours, &bytes);
    assert_eq!(source, compiled(Refusal::Mac));
    assert_eq!(after, reference);
    assert_eq!(run(&ours, &bytes).0, Source::Cache);
}

#[test]
fn a_module_that_does_not_load_is_refused_whether_or_not_it_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = cached(limits(), dir.path(), [1; 32], RUNNER);
    // Imports are screened before any cache lookup or compile.
    let importing = wat::parse_str(r#"(module (import "env" "f" (func)))"#).unwrap();
    assert!(sandbox.load(&importing).is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let ok = task_wat(SAY_Q, DONE_FULL, "");
    assert_eq!(
        sandbox.load(&ok).unwrap().source,
        compiled(Refusal::Missing)
    );
}
