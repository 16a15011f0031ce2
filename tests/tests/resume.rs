//! A run killed with SIGKILL in the middle and resumed verifies, with every
//! planned task exactly once and the same results as an uninterrupted run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use std::process::Stdio;
use std::time::Instant;

use airlock_tests::*;

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Starts a slowed run and SIGKILLs it once the journal holds more than its
/// first write (RunStart) — so at least one TaskResult is durable — and
/// before the run ends. `false` when the run finished before it could be
/// killed (the machine was faster than the delay assumed).
fn kill_in_the_middle(run: &Run) -> bool {
    let journal = journal_of(&run.out);
    let mut child = run
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let exited = |child: &mut std::process::Child| child.try_wait().unwrap().is_some();

    let started = poll_until(COMMAND_TIMEOUT, || {
        file_len(&journal) > 0 || exited(&mut child)
    });
    assert!(
        started,
        "the journal never appeared at {}",
        journal.display()
    );
    let first_write = file_len(&journal);
    let grew = poll_until(COMMAND_TIMEOUT, || {
        file_len(&journal) > first_write || exited(&mut child)
    });
    assert!(grew, "the journal never grew past {first_write} bytes");
    if exited(&mut child) {
        return false;
    }
    child.kill().unwrap(); // SIGKILL on unix
    let status = wait_until(&mut child, Instant::now() + Duration::from_secs(60))
        .expect("a SIGKILLed run did not die");
    assert!(!status.success());
    // If the run got to write its bundle first, the kill was not in the middle.
    !run.out.exists()
}

#[test]
fn sigkill_then_resume_verifies_with_every_task_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let uninterrupted = Run::new("reference", &key, &dir.path().join("whole.bundle"))
        .seed(seed(8))
        .results();

    // Longer delays only if the machine outran the shorter ones.
    for delay_ms in [300, 1500, 5000] {
        let out = dir.path().join(format!("killed-{delay_ms}.bundle"));
        let run = Run::new(&format!("reference:delay-ms={delay_ms}"), &key, &out).seed(seed(8));
        if !kill_in_the_middle(&run) {
            let _ = std::fs::remove_file(&out);
            continue;
        }

        let resumed = finish(run.command().arg("--resume").arg("--json"));
        resumed.expect_code(0);
        assert!(out.is_file(), "the resumed run wrote no bundle: {resumed}");

        let (code, report) = verify_json(&out, &key.public);
        assert_eq!(code, 0, "{report}");
        assert_eq!(
            report["verified"],
            serde_json::Value::Bool(true),
            "{report}"
        );
        assert!(
            levels(&report)
                .iter()
                .any(|(l, s)| l == "completeness" && s == "passed"),
            "{report}"
        );

        // The resumed run reports the whole run: every planned task once.
        let rows = task_rows(&resumed.json());
        for task in DEFAULT_TASKS {
            let count = rows.iter().filter(|r| r.task_id == task).count();
            assert_eq!(count, 1, "{task} appears {count} times: {rows:?}");
        }
        assert_eq!(rows.len(), DEFAULT_TASKS.len(), "{rows:?}");
        assert_eq!(
            rows, uninterrupted,
            "a resumed run must give the same results"
        );

        // Every durable result has its sealed transcript, and each opens the
        // signed commitment: the one sealed before the kill and the ones
        // sealed after the resume.
        let mut verify = airlock();
        verify
            .arg("verify")
            .arg(&out)
            .arg("--trust")
            .arg(&key.public);
        for task in DEFAULT_TASKS {
            let file = dir.path().join(format!("{delay_ms}-{task}.json"));
            finish(
                airlock()
                    .arg("disclose")
                    .arg(&out)
                    .args(["--task", task])
                    .arg("--key")
                    .arg(&key.private)
                    .arg("--out")
                    .arg(&file),
            )
            .expect_code(0);
            verify.arg("--disclosed").arg(&file);
        }
        let verified = finish(&mut verify);
        verified.expect_code(0);
        assert!(verified.stdout.contains("disclosed: passed"), "{verified}");
        return;
    }
    panic!("every run finished before it could be killed, even with a 5 s delay per reply");
}

/// A journal holding the finished run in `bundle`: what the run leaves when
/// it is killed after writing its bundle and before removing its journal
/// (the journal's frames are the bundle's, behind the journal magic).
fn finished_journal_of(bundle: &[u8]) -> Vec<u8> {
    let mut journal = b"\x89ALJ\r\n\x1a\n".to_vec();
    journal.extend_from_slice(&bundle[8..bundle.len() - 52]);
    journal
}

#[test]
fn killed_after_its_bundle_and_before_removing_its_journal_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    let run = Run::new("reference", &key, &out).seed(seed(3));
    let whole = run.results();
    let bundle = std::fs::read(&out).unwrap();
    let journal = journal_of(&out);
    std::fs::write(&journal, finished_journal_of(&bundle)).unwrap();

    let resumed = finish(run.command().arg("--resume").arg("--json"));
    resumed.expect_code(0);
    assert_eq!(task_rows(&resumed.json()), whole, "{resumed}");
    assert!(!journal.exists(), "the journal must be removed: {resumed}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        bundle,
        "the bundle must be left as it was"
    );
    let (code, report) = verify_json(&out, &key.public);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_finished_journal_beside_another_runs_bundle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    let run = Run::new("reference", &key, &out).seed(seed(4));
    run.results();
    let mine = std::fs::read(&out).unwrap();
    let other_out = dir.path().join("other.bundle");
    Run::new("null", &key, &other_out).seed(seed(4)).results();
    let other = std::fs::read(&other_out).unwrap();
    // The bundle at --out is another run's: it must not count as this one's.
    std::fs::write(&out, &other).unwrap();
    let journal = journal_of(&out);
    let finished = finished_journal_of(&mine);
    std::fs::write(&journal, &finished).unwrap();

    let refused = finish(run.command().arg("--resume"));
    refused.expect_code(2);
    assert!(refused.stderr.contains("exists"), "{refused}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        other,
        "the bundle was replaced"
    );
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        finished,
        "the journal changed"
    );
}
