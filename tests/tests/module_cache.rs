//! The module cache end to end, through the airlock binary: a run's results
//! are the same with the cache cold, warm and disabled; a warm run loads
//! every module from the cache; an entry changed on disk is refused,
//! named in a warning, recompiled and rewritten, and the run's results stay
//! the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_core::record::{Record, TaskResult};
use airlock_tests::*;

/// The TaskResults of a bundle with what is not a function of (module,
/// seed, replies) cleared: the wall time, and the transcript commitment,
/// keyed by each run's own secret.
fn payloads(bundle: &Path) -> Vec<TaskResult> {
    bundle_records(bundle)
        .into_iter()
        .filter_map(|record| match record {
            Record::TaskResult(mut r) => {
                r.wall_time_us = 0;
                r.transcript_commitment = Digest::ZERO;
                Some(r)
            }
            _ => None,
        })
        .collect()
}

/// Runs the reference agent with seed 4 and `extra` options; asserts exit 0
/// and that the bundle verifies. Returns the payloads and stderr.
fn run(dir: &Path, key: &Key, name: &str, extra: &[&str]) -> (Vec<TaskResult>, String) {
    let out = dir.join(format!("{name}.bundle"));
    let mut command = Run::new("reference", key, &out).seed(seed(4)).command();
    command
        .args(extra)
        .env("AIRLOCK_LOG", "warn,airlock_module_cache=debug");
    let done = finish(&mut command);
    done.expect_code(0);
    let (code, report) = verify_json(&out, &key.public);
    assert_eq!(code, 0, "{report}");
    let results = payloads(&out);
    assert_eq!(results.len(), DEFAULT_TASKS.len(), "{done}");
    (results, done.stderr)
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    found.sort();
    found
}

const HIT: &str = "module loaded from the cache";

#[test]
fn results_are_the_same_cold_warm_and_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let cache = dir.path().join("evaluator.module-cache");

    let (disabled, log) = run(dir.path(), &key, "disabled", &["--no-module-cache"]);
    assert!(!cache.exists(), "--no-module-cache writes no cache: {log}");
    assert!(!log.contains(HIT), "{log}");

    let (cold, log) = run(dir.path(), &key, "cold", &[]);
    assert_eq!(log.matches(HIT).count(), 0, "{log}");
    assert_eq!(entries(&cache).len(), DEFAULT_TASKS.len(), "{log}");
    let secret = dir.path().join("evaluator.cache-key");
    assert_eq!(std::fs::read(&secret).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let (warm, log) = run(dir.path(), &key, "warm", &[]);
    assert_eq!(log.matches(HIT).count(), DEFAULT_TASKS.len(), "{log}");
    assert!(!log.contains("refused"), "{log}");

    assert_eq!(cold, disabled, "cold cache against no cache");
    assert_eq!(warm, disabled, "warm cache against no cache");
}

#[test]
fn a_changed_entry_is_refused_by_name_and_the_run_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let cache = dir.path().join("cache");
    let flag = ["--module-cache", cache.to_str().unwrap()];
    let (cold, _) = run(dir.path(), &key, "cold", &flag);
    let all = entries(&cache);
    assert_eq!(all.len(), DEFAULT_TASKS.len());
    let victim = &all[3];
    let good = std::fs::read(victim).unwrap();
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x10;
    std::fs::write(victim, &bad).unwrap();

    let (after, log) = run(dir.path(), &key, "after", &flag);
    assert_eq!(after, cold);
    let name = victim.file_name().unwrap().to_str().unwrap();
    let warning = log
        .lines()
        .find(|l| l.contains("refused"))
        .unwrap_or_else(|| panic!("no refusal logged: {log}"));
    assert!(warning.contains(name), "{warning}");
    assert!(warning.contains("MAC does not match"), "{warning}");
    assert_eq!(log.matches(HIT).count(), DEFAULT_TASKS.len() - 1, "{log}");
    assert_eq!(std::fs::read(victim).unwrap(), good, "rewritten");

    let (again, log) = run(dir.path(), &key, "again", &flag);
    assert_eq!(again, cold);
    assert_eq!(log.matches(HIT).count(), DEFAULT_TASKS.len(), "{log}");
}
