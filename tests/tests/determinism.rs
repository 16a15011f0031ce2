//! The same seed gives the same results: outcome, score and fuel are functions
//! of (module, seed, replies), never of the host or the moment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_tests::*;

#[test]
fn same_seed_gives_identical_task_results() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    for agent in ["reference", "null"] {
        let first = Run::new(agent, &key, &dir.path().join(format!("{agent}-1.bundle")))
            .seed(seed(3))
            .results();
        let second = Run::new(agent, &key, &dir.path().join(format!("{agent}-2.bundle")))
            .seed(seed(3))
            .results();
        assert_eq!(first.len(), DEFAULT_TASKS.len(), "{first:?}");
        // TaskRow leaves out the wall time, which is information only.
        assert_eq!(first, second, "{agent}: results differ under one seed");
    }
}

/// The default suite run natively and under Pulley, wasmtime's portable
/// interpreter, gives the same outcomes, scores, fuel and turns; only the
/// engine settings (which name the backend) differ.
#[test]
fn cranelift_and_pulley_runs_give_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    for agent in ["reference", "null"] {
        let run = |backend: &str| {
            let done = finish(
                Run::new(
                    agent,
                    &key,
                    &dir.path().join(format!("{agent}-{backend}.bundle")),
                )
                .seed(seed(6))
                .arg("--backend")
                .arg(backend)
                .command()
                .arg("--json"),
            );
            done.expect_code(0);
            task_rows(&done.json())
        };
        let native = run("cranelift");
        let pulley = run("pulley");
        assert_eq!(native.len(), DEFAULT_TASKS.len());
        assert_eq!(native, pulley, "{agent}: results differ between backends");
    }
}

/// `--seed 7` is the seed whose 64 hex digits are 24 zero bytes then 7 as a
/// u64 big-endian (SPEC.md, "Run seed"): both forms record the same seed and
/// give the same results.
#[test]
fn decimal_seed_and_its_hex_form_give_identical_task_results() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let hex = format!("{}07", "00".repeat(31));
    let run = |name: &str, seed: &str| {
        let done = finish(
            Run::new("reference", &key, &dir.path().join(name))
                .seed(seed.to_owned())
                .command()
                .arg("--json"),
        );
        done.expect_code(0);
        let json = done.json();
        (json["seed"].as_str().map(str::to_owned), task_rows(&json))
    };
    let (decimal_seed, decimal) = run("decimal.bundle", "7");
    let (hex_seed, hexed) = run("hex.bundle", &hex);
    assert_eq!(decimal.len(), DEFAULT_TASKS.len(), "{decimal:?}");
    assert_eq!(decimal_seed.as_deref(), Some(hex.as_str()));
    assert_eq!(decimal_seed, hex_seed);
    assert_eq!(decimal, hexed, "--seed 7 and {hex} give different results");
}
