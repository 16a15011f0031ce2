//! What a station signed in format version 5 keeps verifying: committed
//! bundles of one station (tests/committed/format-5/README.md), whose
//! agentic tasks were answered with tool calls, pass every offline level,
//! the suite level and the station chain, replay from their sealed store
//! and from a disclosed tool-call transcript, and report their scores. A
//! committed campaign (a signed plan and its two shards) verifies as one. A
//! committed run of a station enrolled with a (software) TPM passes the
//! hardware level against its committed registration, with the verifier's
//! build when `AIRLOCK_VERIFY_BIN` names it; a run without a TPM fails it.
//! A change to any format byte fails here unless the fixture is remade on
//! purpose. Bundles of format versions 1 to 4 are refused by their header.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_tests::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("committed/format-5")
        .join(name)
}

/// A private copy of the fixture: git keeps no file modes, and the runner
/// refuses secrets that others can read.
fn copied_fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("")).unwrap() {
        let entry = entry.unwrap();
        let to = dir.path().join(entry.file_name());
        std::fs::copy(entry.path(), &to).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    let path = dir.path().to_path_buf();
    (dir, path)
}

const RUN1_FINAL_HASH: &str = "a2b8c083853d4297729f1e49e4779111c2f0ed9c0bf6b175c7d563e5d06f12fd";
const RUN2_FINAL_HASH: &str = "63ffb26527c3f5fc8f02bee70847da998439d8f22eaacf43c37cd70d736694e4";
const RUN5_FINAL_HASH: &str = "3106e115c3ce729eb815edda2e9ac345791869f324f4f6c3eab8cafdf34ba51d";

#[test]
fn committed_bundles_verify_and_chain() {
    let (_dir, dir) = copied_fixture();
    let done = finish(
        airlock()
            .arg("verify")
            .arg(dir.join("run1.bundle"))
            .arg(dir.join("run2.bundle"))
            .arg("--trust")
            .arg(dir.join("evaluator.pub"))
            .args(["--suite", "default", "--json"]),
    );
    done.expect_code(0);
    let verdicts = done.json();
    assert_eq!(verdicts["verified"], true, "{verdicts}");
    let bundles = verdicts["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), 2);
    for (bundle, final_hash, counter) in [
        (&bundles[0], RUN1_FINAL_HASH, 1),
        (&bundles[1], RUN2_FINAL_HASH, 2),
    ] {
        assert_eq!(bundle["final_hash"], final_hash, "{bundle}");
        assert_eq!(bundle["station_run_counter"], counter, "{bundle}");
        assert_eq!(
            levels(bundle),
            ["decode", "signatures", "chain", "completeness", "suite"]
                .map(|level| (level.to_owned(), "passed".to_owned()))
                .to_vec(),
            "{bundle}"
        );
    }
    assert_eq!(bundles[0]["full_credit"], 8);
    assert_eq!(bundles[1]["full_credit"], 0);
    let station = &verdicts["stations"][0];
    assert_eq!(station["status"], "passed", "{station}");
    assert_eq!(station["runs"].as_array().unwrap().len(), 2, "{station}");
}

#[test]
fn a_committed_bundle_replays_its_tool_calls_from_its_sealed_store() {
    let (_dir, dir) = copied_fixture();
    let done = verify(
        &dir.join("run1.bundle"),
        &dir.join("evaluator.pub"),
        &[
            "--replay",
            "--transcript-key",
            dir.join("evaluator.transcript-key").to_str().unwrap(),
            "--json",
        ],
    );
    done.expect_code(0);
    let verdict = done.json();
    let replay = levels(&verdict)
        .into_iter()
        .find(|(level, _)| level == "replay");
    assert_eq!(
        replay,
        Some(("replay".to_owned(), "passed".to_owned())),
        "{verdict}"
    );
}

#[test]
fn a_committed_tool_call_disclosure_checks_and_replays() {
    let (_dir, dir) = copied_fixture();
    let disclosed = dir.join("agentic-host.disclosure.json");
    let text = std::fs::read_to_string(&disclosed).unwrap();
    assert!(
        text.contains("\"tool_calls\"") && text.contains("\"ToolResults\""),
        "the disclosed transcript holds tool calls and results"
    );
    let done = verify(
        &dir.join("run1.bundle"),
        &dir.join("evaluator.pub"),
        &[
            "--disclosed",
            disclosed.to_str().unwrap(),
            "--replay",
            "--json",
        ],
    );
    done.expect_code(0);
    let verdict = done.json();
    assert!(
        levels(&verdict)
            .iter()
            .all(|(_, status)| status == "passed"),
        "{verdict}"
    );
    assert!(
        verdict
            .to_string()
            .contains("1 of 8 planned results re-executed"),
        "{verdict}"
    );
}

#[test]
fn a_committed_bundle_reports_its_scores() {
    let (_dir, dir) = copied_fixture();
    let done = finish(
        airlock()
            .arg("report")
            .arg(dir.join("run1.bundle"))
            .arg("--trust")
            .arg(dir.join("evaluator.pub"))
            .args(["--format", "json"]),
    );
    done.expect_code(0);
    let report = done.json();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["verdict"]["final_hash"], RUN1_FINAL_HASH, "{report}");
    assert_eq!(report["outcomes"]["done"], 8, "{report}");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 8, "{report}");
    assert!(
        results.iter().all(|r| r["score_ppm"] == FULL_PPM),
        "{report}"
    );
}

#[test]
fn a_changed_byte_of_a_committed_bundle_is_caught() {
    let (_dir, dir) = copied_fixture();
    let bundle = dir.join("run1.bundle");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&bundle, bytes).unwrap();
    let (code, verdict) = verify_json(&bundle, &dir.join("evaluator.pub"));
    assert_eq!(code, 1, "{verdict}");
    assert_eq!(verdict["verified"], false, "{verdict}");
}

#[test]
fn bundles_of_format_versions_1_to_4_are_refused_by_their_header() {
    for version in [1, 2, 3, 4] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("committed/format-{version}"));
        let done = verify(
            &dir.join("run1.bundle"),
            &dir.join("evaluator.pub"),
            &["--json"],
        );
        done.expect_code(1);
        let verdict = done.json();
        assert_eq!(verdict["verified"], false, "{verdict}");
        assert!(
            verdict.to_string().contains(&format!(
                "format version {version} is not supported (this build reads version 5)"
            )),
            "{verdict}"
        );
    }
}

#[test]
fn the_committed_campaign_verifies_as_one_and_is_reported_as_one_run() {
    let (_dir, dir) = copied_fixture();
    let shards = [dir.join("shard-0.bundle"), dir.join("shard-1.bundle")];
    let done = finish(
        airlock()
            .args(["verify", "--json", "--campaign"])
            .arg(dir.join("campaign.plan"))
            .arg("--trust")
            .arg(dir.join("coordinator.pub"))
            .args(&shards),
    );
    done.expect_code(0);
    let verdict = done.json();
    assert_eq!(verdict["campaign_id"], CAMPAIGN_ID, "{verdict}");
    assert_eq!(verdict["results"], 8, "{verdict}");
    assert_eq!(verdict["full_credit"], 8, "{verdict}");
    let report = finish(
        airlock()
            .args(["report", "--format", "json", "--campaign"])
            .arg(dir.join("campaign.plan"))
            .arg("--trust")
            .arg(dir.join("coordinator.pub"))
            .args(&shards),
    );
    report.expect_code(0);
    let results = report.json()["results"].as_array().unwrap().clone();
    let tasks: Vec<&str> = results
        .iter()
        .map(|r| r["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, DEFAULT_TASKS);
}

const CAMPAIGN_ID: &str = "452a23b4d589605cd2b25e21d689be17";

/// `verify --station-registration station.registration --json` of one
/// committed bundle, with the verifier's build when `AIRLOCK_VERIFY_BIN`
/// names it (it links no TPM code: the level is ring and the quotes file).
fn verify_hardware(dir: &Path, bundle: &str) -> Finished {
    finish(
        verifier()
            .arg("verify")
            .arg(dir.join(bundle))
            .arg("--trust")
            .arg(dir.join("evaluator.pub"))
            .arg("--station-registration")
            .arg(dir.join("station.registration"))
            .arg("--json"),
    )
}

#[test]
fn a_committed_tpm_bound_run_passes_the_hardware_level() {
    let (_dir, dir) = copied_fixture();
    let registration = std::fs::read(dir.join("station.registration")).unwrap();
    let registration_hex = Digest::blake3(&registration).to_hex().to_string();

    let done = verify_hardware(&dir, "run5.bundle");
    done.expect_code(0);
    let verdict = done.json();
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert_eq!(
        levels(&verdict),
        ["decode", "signatures", "chain", "completeness", "hardware"]
            .map(|level| (level.to_owned(), "passed".to_owned()))
            .to_vec(),
        "{verdict}"
    );
    assert_eq!(verdict["final_hash"], RUN5_FINAL_HASH, "{verdict}");
    assert_eq!(verdict["station_run_counter"], 5, "{verdict}");
    assert_eq!(verdict["full_credit"], 8, "{verdict}");
    assert_eq!(verdict["station_hardware"], "tpm2-quote", "{verdict}");
    assert_eq!(
        verdict["station_registration"], registration_hex,
        "{verdict}"
    );

    let done = verify_hardware(&dir, "run1.bundle");
    done.expect_code(1);
    let verdict = done.json();
    assert_eq!(verdict["verified"], false, "{verdict}");
    assert_eq!(verdict["station_hardware"], "no-tpm", "{verdict}");
    assert_eq!(
        verdict["station_registration"],
        serde_json::Value::Null,
        "{verdict}"
    );
    let all = verdict["levels"].as_array().unwrap();
    let hardware = all.iter().find(|l| l["level"] == "hardware").unwrap();
    assert_eq!(hardware["status"], "failed", "{verdict}");
    assert!(
        hardware["reason"]
            .as_str()
            .unwrap()
            .contains("RunStart records no TPM"),
        "{verdict}"
    );
    assert!(
        all.iter()
            .filter(|l| l["level"] != "hardware")
            .all(|l| l["status"] == "passed"),
        "{verdict}"
    );
}
