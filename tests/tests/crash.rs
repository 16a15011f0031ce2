//! The reduced crash harness: ten SIGKILLs at random moments across runs of
//! the default suite with a slowed reference agent, each followed by
//! `--resume`; `cargo xtask crash` runs the full campaign (100 kills).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_tests::crash::{CrashConfig, KillPhases, campaign};

#[test]
fn ten_sigkills_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed seed keeps the schedule the same from run to run; the xtask
    // campaign draws a new one each time.
    let config = CrashConfig {
        airlock: airlock_tests::airlock_bin(),
        kills: 10,
        seed: 0x5eed_0007,
        delays_ms: vec![10, 40, 120],
        max_kills_per_run: 3,
        verbose: true,
        phases: KillPhases::Everywhere,
    };
    let report = campaign(&config, dir.path());
    eprintln!("{report}");
    assert!(report.kills >= 10, "{report}");
    assert!(report.passed(), "{report}");
    assert!(
        report.reported_durable > 0,
        "no result was reported durable: {report}"
    );
}

/// The station log's crash test: kills only in the moments after RunEnd,
/// while the run appends its leaf (its ending) to the station state and
/// writes its bundle and receipt. After every kill that left a bundle on
/// disk its leaf must already be in the log; every finished run's receipt
/// verifies; the log ends with exactly one leaf per run.
#[test]
fn sigkills_while_a_run_ends_never_lose_its_station_log_leaf() {
    let dir = tempfile::tempdir().unwrap();
    let config = CrashConfig {
        airlock: airlock_tests::airlock_bin(),
        kills: 12,
        seed: 0x5eed_0019,
        delays_ms: vec![0],
        max_kills_per_run: 2,
        verbose: true,
        phases: KillPhases::Ending,
    };
    let report = campaign(&config, dir.path());
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
    assert!(
        report.kills_after_run_end >= 6,
        "too few kills landed after RunEnd to test the log's append: {report}"
    );
}
