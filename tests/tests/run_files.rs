//! The files of a run against more than one process: a second writer of
//! one run is refused at once, runs of one station started together keep
//! one chain, a resumed run is bound to what started it, and a finished
//! run cut back into a journal cannot be finished again with other results
//! (SPEC.md, "Run files beside the bundle", "Station chain").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use airlock_tests::*;

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `airlock verify A B ... --trust PUB` with extra arguments.
fn verify_all(bundles: &[&Path], trust: &Path, extra: &[&str]) -> Finished {
    finish(
        airlock()
            .arg("verify")
            .args(bundles)
            .arg("--trust")
            .arg(trust)
            .args(extra),
    )
}

/// Starts a slowed run and waits until its RunStart is durable (the journal
/// grew past its 44-byte header), while the run is still going.
fn started_slow_run(run: &Run) -> std::process::Child {
    let journal = journal_of(&run.out);
    let mut child = run
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = poll_until(COMMAND_TIMEOUT, || {
        file_len(&journal) > 44 || child.try_wait().unwrap().is_some()
    });
    assert!(started, "the journal never got its RunStart");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the slowed run ended before a second writer could start"
    );
    child
}

/// A run and a second process on the same output while the first is still
/// running (a requeued job whose first attempt is alive): the second,
/// `--resume` or not, is refused at once with exit 2, naming the journal
/// and that another process holds it; the first finishes and verifies.
#[test]
fn a_second_writer_of_one_run_is_refused_and_the_first_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    // Slow enough (8 replies of 2 s, one at a time) to outlast both
    // second writers' start-up.
    let first = Run::new("reference:delay-ms=2000", &key, &out)
        .seed(seed(3))
        .arg("--sandboxes")
        .arg("1");
    let mut child = started_slow_run(&first);
    let journal = journal_of(&out);

    for extra in [&["--resume"][..], &[][..]] {
        let mut command = first.command();
        command.args(extra);
        let begun = Instant::now();
        let second = finish(&mut command);
        second.expect_code(2);
        assert!(
            second
                .stderr
                .contains(&format!("{}: another process holds it", journal.display())),
            "{second}"
        );
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "refused at once, not after waiting"
        );
    }

    assert!(
        child.try_wait().unwrap().is_none(),
        "the first run ended before the second writers were refused"
    );
    let status = wait_until(&mut child, Instant::now() + COMMAND_TIMEOUT).expect("run hung");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "the first run failed: {stderr}");
    assert!(!journal.exists());
    let (code, report) = verify_json(&out, &key.public);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["results"], 8);
}

/// Three runs of one station started at the same moment all finish, and
/// verify together as one unforked station chain.
#[test]
fn three_runs_of_one_station_started_at_once_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let outs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| dir.path().join(format!("{n}.bundle")))
        .collect();
    let mut children: Vec<_> = outs
        .iter()
        .map(|out| {
            // Slowed so the three overlap for seconds: each reads the
            // station long before any of them ends.
            Run::new("reference:delay-ms=200", &key, out)
                .command()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        let status = wait_until(child, Instant::now() + COMMAND_TIMEOUT).expect("run hung");
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "{stderr}");
    }
    let bundles: Vec<&Path> = outs.iter().map(|p| p.as_path()).collect();
    let done = verify_all(&bundles, &key.public, &["--json"]);
    done.expect_code(0);
    let json = done.json();
    assert_eq!(json["verified"], true, "{json}");
    assert_eq!(json["stations"][0]["status"], "passed", "{json}");
    let mut counters: Vec<u64> = json["stations"][0]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_counter"].as_u64().unwrap())
        .collect();
    counters.sort_unstable();
    assert_eq!(counters, [1, 2, 3]);
}

/// A finished bundle cut back into a journal (its RunStart alone) and
/// resumed would give the run's counter a second, different final hash:
/// refused with exit 2, same counter, different hash, the bundle untouched.
#[test]
fn resuming_a_finished_run_cut_back_into_a_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    let run = Run::new("reference", &key, &out).seed(seed(4));
    run.finish().expect_code(0);
    let bundle = std::fs::read(&out).unwrap();
    let mut journal = bundle[..44].to_vec();
    journal[..8].copy_from_slice(b"\x89ALJ\r\n\x1a\n");
    let len = u32::from_le_bytes(bundle[44..48].try_into().unwrap()) as usize;
    journal.extend_from_slice(&bundle[44..48 + len]);
    std::fs::write(journal_of(&out), &journal).unwrap();

    let resumed = finish(run.command().arg("--resume").arg("--force"));
    resumed.expect_code(2);
    assert!(
        resumed
            .stderr
            .contains("run 1 of this station already finished")
            && resumed.stderr.contains("same counter, different hash"),
        "{resumed}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), bundle);
}

/// A killed run resumed with another agent is refused, naming the RunStart
/// field, and the agent that started it then finishes it.
#[test]
fn a_killed_run_is_finished_only_by_the_agent_that_started_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    let run = Run::new("reference:delay-ms=400", &key, &out).seed(seed(5));
    let mut child = started_slow_run(&run);
    child.kill().unwrap();
    wait_until(&mut child, Instant::now() + Duration::from_secs(60)).expect("kill");
    assert!(journal_of(&out).exists());

    let mut other = run.clone();
    other.agent = "null".to_owned();
    let refused = finish(other.command().arg("--resume"));
    refused.expect_code(2);
    assert!(
        refused.stderr.contains(
            "cannot resume: RunStart.model.agent is \"reference\" in the journal but \"null\" now"
        ),
        "{refused}"
    );

    let mut same = run.clone();
    same.agent = "reference".to_owned();
    finish(same.command().arg("--resume")).expect_code(0);
    let (code, report) = verify_json(&out, &key.public);
    assert_eq!(code, 0, "{report}");
}

/// A run resumed against another station state than the one that started
/// it is refused (its counter was not allocated there), and so is one with
/// another station transcript key; with its own it finishes.
#[test]
fn a_killed_run_resumed_on_another_station_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    let run = Run::new("reference:delay-ms=400", &key, &out).seed(seed(6));
    let mut child = started_slow_run(&run);
    child.kill().unwrap();
    wait_until(&mut child, Instant::now() + Duration::from_secs(60)).expect("kill");

    let other_station = dir.path().join("other.station");
    let refused = finish(
        run.command()
            .arg("--resume")
            .arg("--station")
            .arg(&other_station),
    );
    refused.expect_code(2);
    assert!(
        refused
            .stderr
            .contains("RunStart.station: run 1 was not started on the station state"),
        "{refused}"
    );
    assert!(
        !other_station.exists(),
        "a refused resume makes no station file"
    );

    // Another station transcript key: the store was sealed under the first.
    let other_key = dir.path().join("other.transcript-key");
    std::fs::write(&other_key, [0x42; 32]).unwrap();
    std::fs::set_permissions(
        &other_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let refused = finish(
        run.command()
            .arg("--resume")
            .arg("--transcript-key")
            .arg(&other_key),
    );
    refused.expect_code(2);
    assert!(
        refused
            .stderr
            .contains("sealed under another station transcript key"),
        "{refused}"
    );

    // What started it finishes it.
    finish(run.command().arg("--resume")).expect_code(0);
    let (code, report) = verify_json(&out, &key.public);
    assert_eq!(code, 0, "{report}");
}

/// The station's counter stops at 2^64 - 1 instead of wrapping, and a
/// verifier given runs 1 and 2^64 - 1 of one station names one missing
/// range at once, without listing the counters between.
#[test]
fn the_station_counter_never_wraps_and_a_huge_gap_is_one_range() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let first = dir.path().join("first.bundle");
    Run::new("null", &key, &first).finish().expect_code(0);

    // A station whose last run took counter 2^64 - 2.
    let station = dir.path().join("top.station");
    let mut bytes = b"AIRLOCKS\x01\x00".to_vec();
    bytes.push(1);
    bytes.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
    bytes.extend_from_slice(&[9; 32]);
    std::fs::write(&station, &bytes).unwrap();
    let last = dir.path().join("last.bundle");
    let on_top = |out: &Path| {
        finish(
            Run::new("null", &key, out)
                .command()
                .arg("--station")
                .arg(&station),
        )
    };
    on_top(&last).expect_code(0);
    let beyond = on_top(&dir.path().join("beyond.bundle"));
    beyond.expect_code(2);
    assert!(beyond.stderr.contains("a counter never wraps"), "{beyond}");

    let begun = Instant::now();
    let done = verify_all(&[&first, &last], &key.public, &["--json"]);
    assert!(begun.elapsed() < Duration::from_secs(30));
    done.expect_code(1);
    let json = done.json();
    assert_eq!(
        json["stations"][0]["missing"],
        serde_json::json!([{"from": 2_u64, "to": u64::MAX - 1}]),
        "{json}"
    );
    assert_eq!(
        json["stations"][0]["reason"],
        format!(
            "runs 2 to {} missing between 1 and {}",
            u64::MAX - 1,
            u64::MAX
        )
    );
}
