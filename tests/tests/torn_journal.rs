//! Torn writes and corruption in a real run's journal, end to end.
//!
//! A run is SIGKILLed while its agent sleeps, so its journal holds exactly
//! RunStart and four results. Then, from copies of the run's files:
//!
//! - the journal is cut at every byte offset inside its last record, and
//!   `--resume` must cut the torn tail back to the last whole record, finish
//!   the run, and give a bundle that verifies, keeps every earlier record
//!   byte for byte, and holds the results of an uninterrupted run;
//! - every byte of a record in the middle is changed, and `--resume` must
//!   refuse the journal (exit 2), naming the file and the record, and leave
//!   the journal and the transcript store untouched and write no bundle.
//!
//! Each copy gets a copy of the station state as the kill left it: a copy
//! of a run's files is the same run, and a station refuses to see one run
//! finish twice with different results.
//!
//! The suite is a small directory suite, so each of the few hundred resumes
//! costs milliseconds; the journal's bytes do not depend on the suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use airlock_attest::{PublicKey, VerifyOptions, verify_bundle_file};
use airlock_core::record::{Record, TaskResult};
use airlock_tests::crash::{durable_results, payload, progress_events};
use airlock_tests::*;

/// Results durable when the run is killed: plan entries 0 to 3 finish at
/// once, entry 4 asks the agent, which then sleeps far longer than the test.
const DURABLE: usize = 4;

struct Fixture {
    _root: tempfile::TempDir,
    root: PathBuf,
    key: Key,
    suite: PathBuf,
    /// The killed run's journal, transcript store and secret, and the
    /// station state as the kill left it.
    journal: Vec<u8>,
    transcripts: Vec<u8>,
    secret: Vec<u8>,
    station: Vec<u8>,
    /// Byte offsets of each frame, and the journal's length at the end.
    frames: Vec<usize>,
    /// The results the killed run reported durable.
    reported: Vec<serde_json::Value>,
    /// Payloads of an uninterrupted run with the same seed.
    uninterrupted: Vec<serde_json::Value>,
}

fn run_in(suite: &Path, key: &Key, agent: &str, out: &Path) -> Run {
    let mut run = Run::new(agent, key, out)
        .seed(seed(0x70))
        .arg("--unsigned-suite")
        .arg("--json");
    run.suite = suite.to_str().unwrap().to_owned();
    run
}

fn transcripts_of(out: &Path) -> PathBuf {
    let mut path = out.as_os_str().to_owned();
    path.push(".transcripts");
    PathBuf::from(path)
}

fn task_results(bundle: &Path) -> Vec<TaskResult> {
    bundle_records(bundle)
        .into_iter()
        .filter_map(|r| match r {
            Record::TaskResult(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn frame_offsets(journal: &[u8]) -> Vec<usize> {
    let mut at = 44;
    let mut offsets = Vec::new();
    while at < journal.len() {
        offsets.push(at);
        at += 4 + u32::from_le_bytes(journal[at..at + 4].try_into().unwrap()) as usize;
    }
    assert_eq!(at, journal.len(), "the killed run's journal is not whole");
    offsets.push(at);
    offsets
}

fn fixture() -> Fixture {
    let root_dir = tempfile::tempdir().unwrap();
    let root = root_dir.path().to_path_buf();
    let key = keygen(&root);
    let suite = suite_dir(
        &root,
        &[
            ("a.wasm", instant_done_module("a")),
            ("b.wasm", instant_done_module("b")),
            ("c.wasm", instant_done_module("c")),
            ("d.wasm", instant_done_module("d")),
            ("e.wasm", asking_module("e", &["anyone there?"])),
            ("f.wasm", instant_done_module("f")),
        ],
    );

    let whole = root.join("whole.bundle");
    let done = run_in(&suite, &key, "reference", &whole).finish();
    done.expect_code(0);
    let uninterrupted: Vec<_> = task_results(&whole).iter().map(payload).collect();
    assert_eq!(uninterrupted.len(), 6);

    let out = root.join("killed.bundle");
    let mut child = run_in(&suite, &key, "reference:delay-ms=600000", &out)
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while durable_results(&stderr).len() < DURABLE {
        match lines.next() {
            Some(line) => {
                stderr.push_str(&line.unwrap());
                stderr.push('\n');
            }
            None => panic!("the run ended before {DURABLE} results were durable: {stderr}"),
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run must still be waiting for its agent"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let reported = durable_results(&stderr);
    assert!(
        progress_events(&stderr)
            .iter()
            .any(|e| e["event"] == "start" && e["planned"] == 6),
        "{stderr}"
    );

    let journal = std::fs::read(journal_of(&out)).unwrap();
    let frames = frame_offsets(&journal);
    assert_eq!(
        frames.len(),
        1 + DURABLE + 1,
        "RunStart and {DURABLE} results"
    );
    Fixture {
        journal,
        transcripts: std::fs::read(root.join("killed.bundle.transcripts")).unwrap(),
        secret: std::fs::read(root.join("killed.bundle.secret")).unwrap(),
        station: std::fs::read(root.join("evaluator.station")).unwrap(),
        frames,
        reported,
        uninterrupted,
        _root: root_dir,
        root,
        key,
        suite,
    }
}

impl Fixture {
    /// A fresh copy of the killed run's files with `journal` as its journal;
    /// returns the bundle path.
    fn lay_out(&self, name: &str, journal: &[u8]) -> PathBuf {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("run.bundle");
        std::fs::write(journal_of(&out), journal).unwrap();
        std::fs::write(dir.join("run.bundle.transcripts"), &self.transcripts).unwrap();
        std::fs::write(dir.join("run.bundle.secret"), &self.secret).unwrap();
        std::fs::write(dir.join("evaluator.station"), &self.station).unwrap();
        out
    }

    fn resume(&self, out: &Path) -> Finished {
        let station = out.with_file_name("evaluator.station");
        run_in(&self.suite, &self.key, "reference", out)
            .arg("--resume")
            .arg("--station")
            .arg(station.to_str().unwrap())
            .finish()
    }
}

#[test]
fn a_journal_cut_anywhere_in_its_last_record_is_repaired_and_the_run_finishes() {
    let f = fixture();
    let public = PublicKey::load(&f.key.public).unwrap();
    let last = f.frames[DURABLE];
    let end = f.frames[DURABLE + 1];
    let mut tried = 0;
    for cut in last..end {
        let out = f.lay_out(&format!("cut-{cut}"), &f.journal[..cut]);
        let resumed = f.resume(&out);
        resumed.expect_code(0);
        if cut > last {
            assert!(
                resumed.stderr.contains("cut a torn record"),
                "cut at {cut}: the repair is not logged: {resumed}"
            );
        }

        let verdict = verify_bundle_file(&out, &[public], VerifyOptions::default()).unwrap();
        assert!(verdict.verified(), "cut at {cut}: {verdict:?}");
        assert!(!journal_of(&out).exists(), "cut at {cut}: journal left");

        // Every whole record before the cut is in the bundle byte for byte.
        let bundle = std::fs::read(&out).unwrap();
        assert_eq!(
            bundle[44..last],
            f.journal[44..last],
            "cut at {cut}: the records before the torn one changed"
        );
        let results = task_results(&out);
        let payloads: Vec<_> = results.iter().map(payload).collect();
        assert_eq!(payloads, f.uninterrupted, "cut at {cut}");
        // The results reported durable before the kill survive as reported,
        // but for the last, whose record was cut: it ran again.
        for reported in &f.reported[..DURABLE - 1] {
            assert!(
                results
                    .iter()
                    .any(|r| airlock_tests::crash::result_row(r) == *reported),
                "cut at {cut}: lost {reported}"
            );
        }
        tried += 1;
    }
    eprintln!("torn-write offsets tried: {tried} (record {DURABLE}, bytes {last}..{end})");
    assert!(tried > 100, "a TaskResult frame is longer than 100 bytes");
}

#[test]
fn a_corrupt_record_in_the_middle_is_refused_naming_file_and_record() {
    let f = fixture();
    // Record 2 (the second result): whole records on both sides.
    let record = 2;
    let (start, end) = (f.frames[record], f.frames[record + 1]);
    let mut tried = 0;
    for at in start..end {
        for mask in [0x01u8, 0xff] {
            let mut journal = f.journal.clone();
            journal[at] ^= mask;
            let out = f.lay_out("corrupt", &journal);
            let refused = f.resume(&out);
            refused.expect_code(2);
            let journal_path = journal_of(&out);
            assert!(
                refused.stderr.contains(&journal_path.display().to_string())
                    && refused.stderr.contains(&format!("record {record} ")),
                "byte {at} ^ {mask:#04x}: the error must name the journal and record {record}: {refused}"
            );
            assert_eq!(
                std::fs::read(&journal_path).unwrap(),
                journal,
                "byte {at} ^ {mask:#04x}: the journal was changed"
            );
            assert_eq!(
                std::fs::read(transcripts_of(&out)).unwrap(),
                f.transcripts,
                "byte {at} ^ {mask:#04x}: the transcript store was changed"
            );
            assert!(
                !out.exists(),
                "byte {at} ^ {mask:#04x}: a bundle was written"
            );
            tried += 1;
        }
    }
    eprintln!("corrupt middle-record bytes tried: {tried} (record {record}, bytes {start}..{end})");
}
