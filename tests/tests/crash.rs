//! The reduced crash harness: ten SIGKILLs at random moments across runs of
//! the default suite with a slowed reference agent, each followed by
//! `--resume`; `cargo xtask crash` runs the full campaign (100 kills).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_tests::crash::{CrashConfig, campaign};

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
