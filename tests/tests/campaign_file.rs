//! Campaign files (`airlock run --config CAMPAIGN.toml`, SPEC.md "Campaign
//! files"): a file and the flags it stands for make the same run, record
//! one settings digest, and a file with a key `run` does not have is
//! refused at its line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use airlock_core::Digest;
use airlock_core::record::Record;
use airlock_tests::*;

/// The settings both runs are made with, as a campaign file and as flags.
const SETTINGS: &str = r#"# A reviewed evaluation: two tasks of the default suite, three epochs.
agent = "reference"
epochs = 3
seed = 7
task = ["crypto-xor", "agentic-host"]
tool-mode = "native"
"#;

fn flags() -> Vec<&'static str> {
    vec![
        "--agent",
        "reference",
        "--epochs",
        "3",
        "--seed",
        "0000000000000000000000000000000000000000000000000000000000000007",
        "--task",
        "crypto-xor",
        "--task",
        "agentic-host",
    ]
}

/// The records with what each run draws afresh set to zero: its run id,
/// start time and station link, and each result's wall time and transcript
/// commitment (under the run's own secret).
fn fixed_by_settings(bundle: &Path) -> Vec<Vec<u8>> {
    bundle_records(bundle)
        .into_iter()
        .map(|record| {
            let record = match record {
                Record::RunStart(mut start) => {
                    start.run_id = [0; 16];
                    start.started_at_unix_s = 0;
                    start.station.run_counter = 0;
                    start.station.previous_run_start_hash = Digest::ZERO;
                    Record::RunStart(start)
                }
                Record::TaskResult(mut result) => {
                    result.wall_time_us = 0;
                    result.transcript_commitment = Digest::ZERO;
                    Record::TaskResult(result)
                }
                end => end,
            };
            record.to_bytes()
        })
        .collect()
}

fn settings_digest(bundle: &Path) -> Option<Digest> {
    match bundle_records(bundle).into_iter().next() {
        Some(Record::RunStart(start)) => start.settings,
        other => panic!("no RunStart: {other:?}"),
    }
}

#[test]
fn a_campaign_file_and_its_flags_make_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let campaign = dir.path().join("campaign.toml");
    std::fs::write(
        &campaign,
        format!(
            "{SETTINGS}key = \"{}\"\nout = \"{}\"\n",
            key.private.display(),
            dir.path().join("from-file.bundle").display()
        ),
    )
    .unwrap();
    finish(airlock().arg("run").arg("--config").arg(&campaign)).expect_code(0);
    let from_flags = dir.path().join("from-flags.bundle");
    finish(
        airlock()
            .arg("run")
            .args(flags())
            .arg("--key")
            .arg(&key.private)
            .arg("--out")
            .arg(&from_flags),
    )
    .expect_code(0);
    let from_file = dir.path().join("from-file.bundle");
    let file_records = fixed_by_settings(&from_file);
    assert_eq!(file_records.len(), 1 + 6 + 1, "6 planned instances");
    assert_eq!(file_records, fixed_by_settings(&from_flags));

    // Both record one settings digest: the blake3 of what --print-settings
    // prints, for the file and for the flags.
    let digest = settings_digest(&from_file).expect("a run records its settings");
    assert_eq!(settings_digest(&from_flags), Some(digest));
    for printed in [
        finish(
            airlock()
                .arg("run")
                .arg("--config")
                .arg(&campaign)
                .arg("--print-settings"),
        ),
        finish(airlock().arg("run").args(flags()).arg("--print-settings")),
    ] {
        printed.expect_code(0);
        assert_eq!(Digest::blake3(printed.stdout.as_bytes()), digest);
        assert!(
            printed
                .stdout
                .contains("task = [\"crypto-xor\", \"agentic-host\"]\n")
        );
    }
    // The report shows it; both bundles verify, complete.
    let report = finish(
        airlock()
            .arg("report")
            .arg(&from_file)
            .arg("--trust")
            .arg(&key.public)
            .args(["--format", "json"]),
    );
    report.expect_code(0);
    assert_eq!(report.json()["run"]["settings"], digest.to_hex().as_str());
    finish(
        airlock()
            .arg("verify")
            .arg(&from_file)
            .arg(&from_flags)
            .arg("--trust")
            .arg(&key.public),
    )
    .expect_code(0);
}

#[test]
fn a_typed_flag_replaces_the_campaign_file_key() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("campaign.toml");
    std::fs::write(&campaign, SETTINGS).unwrap();
    let printed = finish(airlock().arg("run").arg("--config").arg(&campaign).args([
        "--epochs",
        "1",
        "--task",
        "crypto-xor",
        "--print-settings",
    ]));
    printed.expect_code(0);
    assert!(
        printed.stdout.contains("epochs = 1\n"),
        "{}",
        printed.stdout
    );
    assert!(
        printed.stdout.contains("task = [\"crypto-xor\"]\n"),
        "{}",
        printed.stdout
    );
}

#[test]
fn a_campaign_file_with_an_unknown_key_exits_2_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let campaign = dir.path().join("campaign.toml");
    std::fs::write(&campaign, format!("{SETTINGS}temprature = 0.5\n")).unwrap();
    let out = dir.path().join("run.bundle");
    let refused = finish(
        airlock()
            .arg("run")
            .arg("--config")
            .arg(&campaign)
            .arg("--key")
            .arg(&key.private)
            .arg("--out")
            .arg(&out),
    );
    refused.expect_code(2);
    let line = SETTINGS.lines().count() + 1;
    let expected = format!(
        "airlock: {}:{line}: unknown key \"temprature\"",
        campaign.display()
    );
    assert!(refused.stderr.starts_with(&expected), "{}", refused.stderr);
    assert!(!out.exists(), "nothing is written for a refused file");
}

#[test]
fn a_run_resumes_only_under_the_settings_that_started_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    // A journal left by an interrupted run: kill the run mid-way.
    let mut run = Run::new("reference:delay-ms=400", &key, &out)
        .seed(seed(3))
        .command();
    let mut child = spawn_piped(&mut run);
    let journal = dir.path().join("run.bundle.journal");
    assert!(
        poll_until(core::time::Duration::from_secs(60), || journal.exists()),
        "the run started"
    );
    std::thread::sleep(core::time::Duration::from_millis(600));
    child.kill().unwrap();
    child.wait().unwrap();
    let refused = Run::new("reference:delay-ms=400", &key, &out)
        .seed(seed(3))
        // A setting only the settings digest holds: the model descriptor,
        // suite, plan and build are the same.
        .arg("--retries")
        .arg("5")
        .arg("--resume")
        .finish();
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("RunStart.settings is settings "),
        "{}",
        refused.stderr
    );
}
