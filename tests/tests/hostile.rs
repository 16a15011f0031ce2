//! Hostile task modules: refused before running, or ended with their own
//! outcome while the run goes on. Uses development suites from a directory
//! (`--suite DIR --unsigned-suite`, modules run in file-name order).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airlock_tests::*;

fn suite_dir(root: &Path, modules: &[(&str, Vec<u8>)]) -> PathBuf {
    let dir = root.join("suite");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in modules {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

fn dir_run(agent: &str, key: &Key, suite: &Path, out: &Path) -> Run {
    let mut run = Run::new(agent, key, out)
        .seed(seed(9))
        .arg("--unsigned-suite");
    run.suite = suite.to_str().unwrap().to_owned();
    run
}

#[test]
fn a_module_with_an_import_is_refused_before_it_runs_naming_the_import() {
    let root = tempfile::tempdir().unwrap();
    let key = keygen(root.path());
    let suite = suite_dir(
        root.path(),
        &[
            ("00-done.wasm", instant_done_module("instant-done")),
            (
                "01-importer.wasm",
                importing_module("importer", "env", "airlock_escape_hatch"),
            ),
        ],
    );
    let out = root.path().join("run.bundle");
    let done = dir_run("null", &key, &suite, &out).finish();
    done.expect_code(2);
    assert!(
        done.stderr.contains("env"),
        "import module not named: {done}"
    );
    assert!(
        done.stderr.contains("airlock_escape_hatch"),
        "import field not named: {done}"
    );
    assert!(!out.exists(), "a refused suite must leave no bundle");
}

#[test]
fn an_endless_loop_ends_out_of_fuel_and_the_run_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let key = keygen(root.path());
    let suite = suite_dir(
        root.path(),
        &[
            ("00-endless.wasm", endless_loop_module("endless-loop")),
            ("01-done.wasm", instant_done_module("instant-done")),
        ],
    );
    let out = root.path().join("run.bundle");
    let rows = dir_run("null", &key, &suite, &out).results();
    let outcomes: Vec<_> = rows
        .iter()
        .map(|r| (r.task_id.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [("endless-loop", "out-of-fuel"), ("instant-done", "done")],
        "{rows:?}"
    );
    assert_eq!(rows[0].score_ppm, 0);
    assert_eq!(rows[1].score_ppm, FULL_PPM);
    verify(&out, &key.public, &[]).expect_code(0);
}

/// Needs `airlock suite export default --out DIR --unsigned`.
#[test]
fn an_endless_loop_between_real_tasks_leaves_them_unharmed() {
    let root = tempfile::tempdir().unwrap();
    let key = keygen(root.path());
    let exported = root.path().join("exported");
    finish(
        airlock()
            .args(["suite", "export", "default", "--out"])
            .arg(&exported)
            .arg("--unsigned"),
    )
    .expect_code(0);
    let mut real: Vec<PathBuf> = std::fs::read_dir(&exported)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    real.sort();
    assert_eq!(real.len(), DEFAULT_TASKS.len(), "exported: {real:?}");

    // real task, endless loop, real task
    let suite = suite_dir(
        root.path(),
        &[
            ("00-real.wasm", std::fs::read(&real[0]).unwrap()),
            ("01-endless.wasm", endless_loop_module("endless-loop")),
            ("02-real.wasm", std::fs::read(&real[1]).unwrap()),
        ],
    );
    let out = root.path().join("run.bundle");
    let rows = dir_run("null", &key, &suite, &out).results();
    let outcomes: Vec<_> = rows.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["done", "out-of-fuel", "done"], "{rows:?}");
    verify(&out, &key.public, &[]).expect_code(0);
}
