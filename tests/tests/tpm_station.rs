//! A station bound to its TPM (issue 21), against swtpm: `airlock station
//! enroll`, runs quoted at RunStart and RunEnd, and `verify
//! --station-registration` passing the hardware level, also in the
//! verifier's build with no TPM tools on `PATH`. Then each way a run can
//! fail to be the registered station's: a quote by another TPM, PCRs
//! extended after enrolment, another run's quotes, one altered byte, no
//! quotes, a run without a TPM, and quotes that go back in time across the
//! station's runs; each exits 1 naming the reason.
//!
//! Each test starts its own swtpm on loopback ports with its state in a
//! temporary directory; `.ci/run` installs swtpm and tpm2-tools, and under
//! `CI=true` their absence fails the tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_tests::campaign;
use airlock_tests::swtpm::{Swtpm, tools_present};
use airlock_tests::*;
use airlock_tpm_quote::{Quote, RunQuotes, qualifying_data};

/// `airlock station enroll --key KEY --tcti TCTI`, to which a test adds.
fn enroll(key: &Path, tcti: &str) -> Command {
    let mut command = airlock();
    command
        .args(["station", "enroll", "--key"])
        .arg(key)
        .args(["--tcti", tcti]);
    command
}

/// A station with an evaluator key and an enrolled TPM.
struct Station {
    dir: tempfile::TempDir,
    key: Key,
    tpm: Swtpm,
    registration: PathBuf,
    /// blake3 of the registration, as enrol printed it.
    registration_blake3: String,
}

fn enrolled_station(what: &str) -> Option<Station> {
    if !tools_present(what) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let tpm = Swtpm::start();
    let done = finish(enroll(&key.private, &tpm.tcti).arg("--json"));
    done.expect_code(0);
    let enrolled = done.json();
    assert_eq!(enrolled["format"], "airlock-station-registration/1");
    assert_eq!(enrolled["evaluator_key_id"], key.id.as_str());
    assert_eq!(enrolled["pcr_selection"], "sha256:0,1,2,3,4,5,6,7");
    let registration = dir.path().join("evaluator.tpm/registration");
    assert_eq!(enrolled["registration"], registration.display().to_string());
    let registration_blake3 = enrolled["registration_blake3"].as_str().unwrap().to_owned();
    Some(Station {
        dir,
        key,
        tpm,
        registration,
        registration_blake3,
    })
}

impl Station {
    /// A short run of one task, quoted by the station's TPM.
    fn run(&self, name: &str, seed_byte: u8) -> PathBuf {
        let bundle = self.dir.path().join(name);
        Run::new("reference", &self.key, &bundle)
            .seed(seed(seed_byte))
            .arg("--task")
            .arg("crypto-xor")
            .finish()
            .expect_code(0);
        assert!(quotes_of(&bundle).is_file(), "no quotes beside {name}");
        bundle
    }

    /// `verify --station-registration` of `bundles`, as JSON.
    fn verify(&self, bundles: &[&Path]) -> Finished {
        verify_with(airlock(), bundles, &self.key.public, &self.registration)
    }
}

fn verify_with(mut command: Command, bundles: &[&Path], trust: &Path, reg: &Path) -> Finished {
    finish(
        command
            .arg("verify")
            .args(bundles)
            .arg("--trust")
            .arg(trust)
            .arg("--station-registration")
            .arg(reg)
            .arg("--json"),
    )
}

fn quotes_of(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(".tpm-quotes");
    PathBuf::from(s)
}

/// The hardware level's (status, reason, note) in one bundle's verdict.
fn hardware(verdict: &serde_json::Value) -> (String, String, String) {
    let level = verdict["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == "hardware")
        .unwrap_or_else(|| panic!("no hardware level in {verdict}"));
    let field = |key: &str| level[key].as_str().unwrap_or_default().to_owned();
    (field("status"), field("reason"), field("note"))
}

/// Verifies one bundle that must fail the hardware level alone: exit 1,
/// every other level passed, and the reason containing `why`.
#[track_caller]
fn fails_hardware(station: &Station, bundle: &Path, why: &str) {
    let done = station.verify(&[bundle]);
    done.expect_code(1);
    let verdict = done.json();
    for (level, status) in levels(&verdict) {
        if level != "hardware" {
            assert_eq!(status, "passed", "{level}: {verdict}");
        }
    }
    let (status, reason, _) = hardware(&verdict);
    assert_eq!(status, "failed", "{verdict}");
    assert!(reason.contains(why), "reason {reason:?} lacks {why:?}");
}

/// A copy of `bundle` and its quotes under `name`, whose quotes a test
/// then replaces.
fn copy_run(bundle: &Path, name: &str) -> PathBuf {
    let to = bundle.with_file_name(name);
    std::fs::copy(bundle, &to).unwrap();
    std::fs::copy(quotes_of(bundle), quotes_of(&to)).unwrap();
    to
}

fn read_quotes(bundle: &Path) -> RunQuotes {
    RunQuotes::from_bytes(&std::fs::read(quotes_of(bundle)).unwrap()).unwrap()
}

fn write_quotes(bundle: &Path, quotes: &RunQuotes) {
    std::fs::write(quotes_of(bundle), quotes.to_bytes()).unwrap();
}

/// The RunStart and final chain hashes a verifier reads from `bundle`.
fn chain_hashes(station: &Station, bundle: &Path) -> ([u8; 32], [u8; 32]) {
    let (code, verdict) = verify_json(bundle, &station.key.public);
    assert_eq!(code, 0, "{verdict}");
    let hash =
        |key: &str| airlock_core::hex::decode_array::<32>(verdict[key].as_str().unwrap()).unwrap();
    (hash("run_start_hash"), hash("final_hash"))
}

/// Quotes of `bundle`'s run by the TPM enrolled in `tpm_dir` through
/// `tcti`, as the runner makes them: the same qualifying data, another AK
/// if it is another TPM.
fn quotes_by(station: &Station, bundle: &Path, tcti: &str, tpm_dir: &Path) -> RunQuotes {
    let key_id = airlock_core::hex::decode_array::<32>(&station.key.id).unwrap();
    let (start, end) = chain_hashes(station, bundle);
    let quote = |hash: &[u8; 32]| {
        let (attest, signature) =
            airlock_tpm_station::quote(tcti, tpm_dir, &qualifying_data(&key_id, hash)).unwrap();
        Quote { attest, signature }
    };
    RunQuotes {
        run_start: quote(&start),
        run_end: Some(quote(&end)),
    }
}

/// The verifier's build, if `cargo xtask test` named it; under `CI=true`
/// it must have.
fn verifier_bin() -> Option<PathBuf> {
    let found = airlock_verify_bin();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "AIRLOCK_VERIFY_BIN is not set under CI=true: the hardware level in the \
             verifier's build is not checked (`cargo xtask test` sets it)"
        );
        eprintln!(
            "SKIPPED: AIRLOCK_VERIFY_BIN is not set, so the hardware level is not checked \
             in the verifier's build"
        );
    }
    found
}

#[test]
fn an_enrolled_station_s_runs_pass_the_hardware_level_also_in_the_verifier_build() {
    let Some(station) = enrolled_station("the hardware level") else {
        return;
    };
    let first = station.run("first.bundle", 1);
    let second = station.run("second.bundle", 2);

    let done = station.verify(&[&first]);
    done.expect_code(0);
    let verdict = done.json();
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert_eq!(verdict["station_hardware"], "tpm2-quote");
    assert_eq!(
        verdict["station_registration"],
        station.registration_blake3.as_str()
    );
    let (status, _, note) = hardware(&verdict);
    assert_eq!(status, "passed", "{verdict}");
    assert!(
        note.contains("quoted at RunStart and RunEnd") && note.contains("sha256:0,1,2,3,4,5,6,7"),
        "{note}"
    );

    // Both of the station's runs, in either order: their quotes go forward
    // in the order of their run counters.
    let done = station.verify(&[&second, &first]);
    done.expect_code(0);
    for verdict in done.json()["bundles"].as_array().unwrap() {
        assert_eq!(hardware(verdict).0, "passed", "{verdict}");
    }

    // A verifier's machine without TPM tools, and the verifier's build,
    // which holds no code that drives a TPM.
    let Some(verifier) = verifier_bin() else {
        return;
    };
    let image = std::fs::read(&verifier).unwrap();
    assert!(
        !image.windows(10).any(|w| w == b"tpm2_quote"),
        "the verifier's build holds the TPM station's code"
    );
    let mut command = airlock_at(&verifier);
    command.env("PATH", "");
    let done = verify_with(
        command,
        &[&first],
        &station.key.public,
        &station.registration,
    );
    done.expect_code(0);
    assert_eq!(hardware(&done.json()).0, "passed", "{done}");
    // The same verdict, byte for byte, as the full binary's.
    assert_eq!(done.stdout, station.verify(&[&first]).stdout);
}

#[test]
fn each_way_a_run_is_not_the_registered_station_s_exits_1_naming_it() {
    let Some(station) = enrolled_station("the hardware level's refusals") else {
        return;
    };
    let first = station.run("first.bundle", 1);
    let second = station.run("second.bundle", 2);

    // One byte of the RunStart quote's TPMS_ATTEST (its clock), then of
    // the RunEnd quote's signature.
    let altered = copy_run(&first, "altered-attest.bundle");
    let mut quotes = read_quotes(&altered);
    // clockInfo ends 52 bytes before the end (firmwareVersion, then a
    // one-bank selection and a SHA-256 digest follow it).
    let clock_byte = quotes.run_start.attest.len() - 60;
    quotes.run_start.attest[clock_byte] ^= 1;
    write_quotes(&altered, &quotes);
    fails_hardware(
        &station,
        &altered,
        "RunStart quote: TPM quote signature does not verify under the registered attestation key",
    );
    let altered = copy_run(&first, "altered-signature.bundle");
    let mut quotes = read_quotes(&altered);
    let end = quotes.run_end.as_mut().unwrap();
    let last = end.signature.len() - 1;
    end.signature[last] ^= 1;
    write_quotes(&altered, &quotes);
    fails_hardware(
        &station,
        &altered,
        "RunEnd quote: TPM quote signature does not verify",
    );

    // The second run's genuine quotes beside the first run's bundle.
    let replayed = copy_run(&first, "other-run.bundle");
    std::fs::copy(quotes_of(&second), quotes_of(&replayed)).unwrap();
    fails_hardware(&station, &replayed, "RunStart quote: TPMS_ATTEST extraData");
    fails_hardware(&station, &replayed, "is not this run's qualifying data");

    // Quotes of this very run, over the right qualifying data, by another
    // TPM enrolled for the same key.
    let other_tpm = Swtpm::start();
    let other_dir = station.dir.path().join("other.tpm");
    finish(
        enroll(&station.key.private, &other_tpm.tcti)
            .arg("--tpm-station")
            .arg(&other_dir),
    )
    .expect_code(0);
    let foreign = copy_run(&first, "other-tpm.bundle");
    write_quotes(
        &foreign,
        &quotes_by(&station, &first, &other_tpm.tcti, &other_dir),
    );
    fails_hardware(
        &station,
        &foreign,
        "RunStart quote: TPM quote signature does not verify under the registered attestation key",
    );
    // A run bound to the other TPM's registration names it, and it is not
    // the one given.
    let bound_elsewhere = station.dir.path().join("bound-elsewhere.bundle");
    Run::new("reference", &station.key, &bound_elsewhere)
        .seed(seed(3))
        .arg("--task")
        .arg("crypto-xor")
        .arg("--tpm-station")
        .arg(other_dir.to_str().unwrap())
        .finish()
        .expect_code(0);
    fails_hardware(&station, &bound_elsewhere, "which is none of those given");

    // No quotes at all, or only the RunStart quote.
    let unquoted = copy_run(&first, "no-quotes.bundle");
    std::fs::remove_file(quotes_of(&unquoted)).unwrap();
    fails_hardware(&station, &unquoted, "no-quotes.bundle.tpm-quotes");
    let half = copy_run(&first, "half.bundle");
    let mut quotes = read_quotes(&half);
    quotes.run_end = None;
    write_quotes(&half, &quotes);
    fails_hardware(&station, &half, "holds only the RunStart quote");

    // The first run quoted again now, after the second: each verifies
    // alone, but the station's TPM time went backwards between them.
    let requoted = copy_run(&first, "requoted.bundle");
    write_quotes(
        &requoted,
        &quotes_by(
            &station,
            &first,
            &station.tpm.tcti,
            &station.dir.path().join("evaluator.tpm"),
        ),
    );
    station.verify(&[&requoted]).expect_code(0);
    let done = station.verify(&[&requoted, &second]);
    done.expect_code(1);
    let verdicts = done.json();
    assert_eq!(hardware(&verdicts["bundles"][0]).0, "passed", "{verdicts}");
    let (status, reason, _) = hardware(&verdicts["bundles"][1]);
    assert_eq!(status, "failed", "{verdicts}");
    assert!(
        reason.contains("station run 2's RunStart quote is older than run 1's RunEnd quote"),
        "{reason}"
    );

    // A PCR extended after enrolment: the station booted (or was driven)
    // into another state. The run goes on, warns, and is refused.
    station.tpm.pcr_extend(7, 0xee);
    let bundle = station.dir.path().join("extended.bundle");
    let done = Run::new("reference", &station.key, &bundle)
        .seed(seed(4))
        .arg("--task")
        .arg("crypto-xor")
        .finish();
    done.expect_code(0);
    assert!(
        done.stderr
            .contains("does not match the station registration"),
        "{done}"
    );
    fails_hardware(&station, &bundle, "the station's PCRs changed");
}

#[test]
fn a_run_without_a_tpm_says_so_and_the_hardware_level_refuses_it() {
    let Some(station) = enrolled_station("the refusal of runs without a TPM") else {
        return;
    };
    // Another station of the same operator, never enrolled.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = keygen(plain_dir.path());
    let bundle = plain_dir.path().join("plain.bundle");
    Run::new("reference", &plain, &bundle)
        .seed(seed(5))
        .arg("--task")
        .arg("crypto-xor")
        .finish()
        .expect_code(0);
    assert!(!quotes_of(&bundle).exists());
    let (code, verdict) = verify_json(&bundle, &plain.public);
    assert_eq!(code, 0, "{verdict}");
    assert_eq!(verdict["station_hardware"], "no-tpm");
    assert_eq!(verdict["station_registration"], serde_json::Value::Null);
    let done = verify_with(airlock(), &[&bundle], &plain.public, &station.registration);
    done.expect_code(1);
    let (status, reason, _) = hardware(&done.json());
    assert_eq!(status, "failed");
    assert!(reason.contains("RunStart records no TPM"), "{reason}");

    // The enrolled station's key under another station's registration:
    // the registration binds the AK to a key id.
    let foreign = station.run("bound.bundle", 6);
    let other_key = keygen_named(station.dir.path(), "other");
    let other_tpm = Swtpm::start();
    let other_dir = station.dir.path().join("other.tpm");
    finish(
        enroll(&other_key.private, &other_tpm.tcti)
            .arg("--tpm-station")
            .arg(&other_dir),
    )
    .expect_code(0);
    let done = verify_with(
        airlock(),
        &[&foreign],
        &station.key.public,
        &other_dir.join("registration"),
    );
    done.expect_code(1);
    assert!(
        hardware(&done.json())
            .1
            .contains("which is none of those given"),
        "{done}"
    );

    // A station enrolled once is not enrolled over by accident.
    let again = finish(&mut enroll(&station.key.private, &station.tpm.tcti));
    again.expect_code(2);
    assert!(again.stderr.contains("already enrolled"), "{again}");
    // A TPM that is not there: exit 2, naming the station's directory.
    let gone = finish(&mut enroll(&plain.private, "swtpm:host=127.0.0.1,port=9"));
    gone.expect_code(2);
    assert!(gone.stderr.contains("evaluator.tpm: TPM station"), "{gone}");
    assert!(!plain_dir.path().join("evaluator.tpm/registration").exists());
}

#[test]
fn a_run_killed_after_its_runstart_quote_resumes_keeping_it_and_only_on_its_own_tpm() {
    let Some(station) = enrolled_station("the quotes of a resumed run") else {
        return;
    };
    let bundle = station.dir.path().join("killed.bundle");
    let run = Run::new("reference:delay-ms=400", &station.key, &bundle)
        .seed(seed(7))
        .arg("--sandboxes")
        .arg("1");
    let mut child = run
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let quoted = poll_until(COMMAND_TIMEOUT, || {
        quotes_of(&bundle).is_file() || child.try_wait().unwrap().is_some()
    });
    assert!(quoted, "no RunStart quote was written");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!bundle.exists(), "the run finished before it was killed");
    let start_quote = read_quotes(&bundle);
    assert_eq!(start_quote.run_end, None, "a RunEnd quote before RunEnd");

    // Not on other TPM hardware than the run started on.
    let other_dir = station.dir.path().join("other.tpm");
    finish(
        enroll(&station.key.private, &station.tpm.tcti)
            .arg("--tpm-station")
            .arg(&other_dir),
    )
    .expect_code(0);
    let refused = finish(
        run.command()
            .arg("--resume")
            .arg("--tpm-station")
            .arg(&other_dir),
    );
    refused.expect_code(2);
    assert!(
        refused
            .stderr
            .contains("RunStart.hardware is the TPM of station registration"),
        "{refused}"
    );

    let resumed = finish(run.command().arg("--resume"));
    resumed.expect_code(0);
    let quotes = read_quotes(&bundle);
    assert_eq!(
        quotes.run_start, start_quote.run_start,
        "the RunStart quote was not kept"
    );
    assert!(quotes.run_end.is_some());
    let done = station.verify(&[&bundle]);
    done.expect_code(0);
    assert_eq!(hardware(&done.json()).0, "passed", "{done}");
}

#[test]
fn a_campaign_over_two_tpm_nodes_passes_the_hardware_level_with_both_registrations() {
    if !tools_present("the hardware level of a campaign") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let coordinator = keygen_named(dir.path(), "coordinator");
    let mut nodes = Vec::new();
    for name in ["node0", "node1"] {
        let node_dir = dir.path().join(name);
        std::fs::create_dir(&node_dir).unwrap();
        let key = keygen(&node_dir);
        let tpm = Swtpm::start();
        finish(&mut enroll(&key.private, &tpm.tcti)).expect_code(0);
        let registration = node_dir.join("evaluator.tpm/registration");
        nodes.push((key, tpm, registration));
    }
    let keys: Vec<&Key> = nodes.iter().map(|(key, _, _)| key).collect();
    let plan = campaign::plan(dir.path(), &coordinator, &keys, "reference", 1, 2, &seed(9));
    let shards_dir = dir.path().join("shards");
    std::fs::create_dir(&shards_dir).unwrap();
    for (shard, (key, _, _)) in (0u32..).zip(&nodes) {
        campaign::run_shard(&plan, shard, &shards_dir, key, "reference").expect_code(0);
    }
    let bundles: Vec<PathBuf> = (0..2)
        .map(|shard| campaign::shard_bundle(&shards_dir, shard))
        .collect();
    let verify = |registrations: &[&PathBuf]| {
        let mut command = airlock();
        command
            .args(["verify", "--campaign"])
            .arg(&plan.path)
            .arg("--trust")
            .arg(&coordinator.public)
            .arg("--json")
            .args(&bundles);
        for registration in registrations {
            command.arg("--station-registration").arg(registration);
        }
        finish(&mut command)
    };
    let campaign_hardware =
        |verdict: &serde_json::Value| hardware(&serde_json::json!({ "levels": verdict["levels"] }));

    let done = verify(&[&nodes[0].2, &nodes[1].2]);
    done.expect_code(0);
    let verdict = done.json();
    assert_eq!(campaign_hardware(&verdict).0, "passed", "{verdict}");
    for shard in verdict["shards"].as_array().unwrap() {
        assert_eq!(shard["verified"], true, "{shard}");
    }

    // Node 1's registration left out: its shard's quotes bind it to a
    // station the verifier was not given. Its results still count.
    let done = verify(&[&nodes[0].2]);
    done.expect_code(1);
    let verdict = done.json();
    let (status, reason, _) = campaign_hardware(&verdict);
    assert_eq!(status, "failed", "{verdict}");
    assert!(
        reason.contains("shard-1.bundle") && reason.contains("which is none of those given"),
        "{reason}"
    );
    assert!(!reason.contains("shard-0.bundle"), "{reason}");
    assert_eq!(verdict["shards"][0]["verified"], true, "{verdict}");
    assert_eq!(verdict["shards"][1]["verified"], false, "{verdict}");
    assert_eq!(verdict["shards"][1]["counted"], true, "{verdict}");
}
