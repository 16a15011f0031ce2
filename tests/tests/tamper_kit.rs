//! The tamper kit: every case in `tests/tamper/*.case` is a recipe applied to
//! freshly made bundles, and says on its first line which verification level
//! must fail and with what reason (`expect: <level>: <reason fragment>`).
//! Beside the cases, this test generates two exhaustive families that are
//! not stored: every single-byte change of a 30-record bundle, and its
//! truncation at every byte (every record boundary and every place inside a
//! record), each with the level and reason it must fail with.
//!
//! The bundles come from the real binary (five runs of one station, 30
//! records each, of a signed suite of two tasks); the recipes and the verification run in-process through
//! `airlock-attest`, so thousands of variants stay fast.
//!
//! Recipe language, one operation per line (`#` starts a comment):
//!
//! | operation | effect |
//! | --- | --- |
//! | `base NAME` | start from bundle NAME (`run1` default, `run2`, `run3`, `run4`, `fork3`) |
//! | `swap-records A B` | exchange entries A and B |
//! | `duplicate-record N` | insert a copy of entry N after it |
//! | `drop-record N` | remove entry N |
//! | `splice-from NAME N` | replace entry N with entry N of bundle NAME (same key, another run) |
//! | `edit-run-end FIELD(+|-|=)V` | change RunEnd's `results`, `full_credit` or `score_sum` |
//! | `edit-result N FIELD=V` | change record N's `score`, `fuel`, `epoch` or `outcome` (`done`, `out-of-fuel`, `model-error`) |
//! | `abort-after K N` | keep the first K results and end the run with RunEnd `AbortedModelErrors(N)` and their totals |
//! | `drop-plan-entry I` | remove plan entry I from RunStart |
//! | `keep-plan-tasks TASK...` | keep only these tasks' plan entries and results (renumbered, totals redone) |
//! | `repeat-plan-entry I` | plan entry I and its result twice in a row (renumbered, totals redone) |
//! | `pad-varint N seq\|len` | write entry N's sequence number or body length with one redundant varint byte (a byte-level change, last) |
//! | `forge-with weak-key` | header key and RunStart's key id the identity point's, re-chained, every signature R = identity, s = 0 |
//! | `trust header-key` | the verifier also trusts the header's key |
//! | `replace-module-digest TASK` | give TASK another module digest in the plan and its results |
//! | `resign` | renumber, re-chain and re-sign every entry with the evaluator key |
//! | `resign-with other-key` | the same with another key, named in the header |
//! | `sign-with other-key` | re-sign every entry with another key, header unchanged |
//! | `truncate-at-record N` | keep the header and entries before N; no trailer |
//! | `truncate-in-record N K` | keep entries before N and K bytes of frame N |
//! | `change-suite-module I` | flip a byte of the I-th module (file-name order) of the suite |
//! | `resign-suite-with other-key` | re-sign the suite manifest with another authority |
//! | `station NAME...` | check the station chain across these bundles |
//!
//! Operations that edit records leave the old chain hash and signature in
//! place unless followed by `resign`: without it they model an edit by
//! someone without the key; with it, a dishonest operator who holds the
//! evaluator key (the cases say which). Expectation levels: `decode`,
//! `signatures`, `chain`, `completeness`, `suite`, `station`, or `expect:
//! verified` for what must pass. An optional `pass: LEVEL, LEVEL` line lists
//! levels that must pass. In a reason fragment `*` stands for any text
//! (byte offsets and hashes that differ from run to run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_attest::bundle::BundleWriter;
use airlock_attest::station_chain::{StationRun, check_stations};
use airlock_attest::suite_check::{SuiteSource, check_suite, verify_suite_files};
use airlock_attest::verify::{
    Level, LevelReport, RecordVisitor, Status, Verdict, VerifyOptions, verify_bundle_with,
};
use airlock_attest::{BundleReader, PublicKey, SigningKey};
use airlock_core::chain::GENESIS;
use airlock_core::record::{
    PlannedTask, Record, RunEnd, RunEndReason, RunStart, SignedEntry, TaskResult,
};
use airlock_core::{Digest, Outcome, Ppm};
use airlock_tests::*;

/// Runs per task in each fixture run: 2 tasks × 14 + RunStart + RunEnd = 30 records.
const EPOCHS: &str = "14";
const RECORDS: usize = 30;

/// The fixture bundles, parsed.
struct Fixture {
    _dir: tempfile::TempDir,
    key: SigningKey,
    other: SigningKey,
    bundles: BTreeMap<String, Parsed>,
    suite_dir: PathBuf,
    authority: PublicKey,
    scratch: PathBuf,
}

/// A bundle split into its header key and entries.
#[derive(Clone)]
struct Parsed {
    bytes: Vec<u8>,
    header_key: PublicKey,
    entries: Vec<SignedEntry>,
}

fn parse(bytes: Vec<u8>) -> Parsed {
    let mut reader = BundleReader::new(&bytes[..]).unwrap();
    let header_key = reader.header().public_key;
    let mut entries = Vec::new();
    while let Some(frame) = reader.next_entry().unwrap() {
        entries.push(frame.entry);
    }
    Parsed {
        bytes,
        header_key,
        entries,
    }
}

fn write_bundle(header_key: &PublicKey, entries: &[SignedEntry]) -> Vec<u8> {
    let mut w = BundleWriter::new(Vec::new(), header_key).unwrap();
    for e in entries {
        w.write_entry(e).unwrap();
    }
    w.finish().unwrap().0
}

/// Five runs of one station, of a signed two-task suite: run1 … run4, and
/// fork3, a run made after restoring the station state saved after run2.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let evaluator = keygen(&root.join("evaluator"));
    let authority = keygen_named(&root.join("authority"), "authority");
    // A suite of exactly two tasks, whatever the default suite grows to:
    // the two modules exported from it, signed by a suite authority.
    let exported = root.join("exported");
    finish(
        airlock()
            .args(["suite", "export", "default", "--unsigned", "--out"])
            .arg(&exported),
    )
    .expect_code(0);
    let suite_dir = root.join("suite");
    std::fs::create_dir(&suite_dir).unwrap();
    for (from, to) in [
        ("task_crypto_xor.wasm", "1-crypto-xor.wasm"),
        ("task_agentic_recon.wasm", "2-agentic-recon.wasm"),
    ] {
        std::fs::copy(exported.join(from), suite_dir.join(to)).unwrap();
    }
    finish(
        airlock()
            .args(["suite", "build"])
            .arg(&suite_dir)
            .args(["--name", "tamper-kit", "--key"])
            .arg(&authority.private),
    )
    .expect_code(0);
    let station = root.join("evaluator").join("evaluator.station");
    let saved = root.join("after-run2.station");
    let run = |name: &str, seed_byte: u8, station_file: &Path| {
        let out = root.join(format!("{name}.bundle"));
        let mut run = Run::new("reference", &evaluator, &out)
            .seed(seed(seed_byte))
            .arg("--epochs")
            .arg(EPOCHS)
            .arg("--station")
            .arg(station_file.to_str().unwrap());
        run.suite = suite_dir.to_str().unwrap().to_owned();
        run = run
            .arg("--suite-trust")
            .arg(authority.public.to_str().unwrap());
        run.finish().expect_code(0);
        (name.to_owned(), parse(std::fs::read(&out).unwrap()))
    };
    let mut bundles = BTreeMap::new();
    bundles.extend([run("run1", 1, &station)]);
    bundles.extend([run("run2", 2, &station)]);
    std::fs::copy(&station, &saved).unwrap();
    bundles.extend([run("run3", 3, &station)]);
    bundles.extend([run("run4", 4, &station)]);
    bundles.extend([run("fork3", 5, &saved)]);
    for (name, b) in &bundles {
        assert_eq!(b.entries.len(), RECORDS, "{name} has the wrong size");
    }
    let scratch = root.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    Fixture {
        key: airlock_attest::SigningKey::load(&evaluator.private).unwrap(),
        other: SigningKey::from_seed(&[7; 32]),
        authority: PublicKey::load(&authority.public).unwrap(),
        _dir: dir,
        bundles,
        suite_dir,
        scratch,
    }
}

#[derive(Default)]
struct KeepStart(Option<RunStart>);

impl RecordVisitor for KeepStart {
    fn run_start(&mut self, _index: u64, record: &RunStart) {
        if self.0.is_none() {
            self.0 = Some(record.clone());
        }
    }
}

fn verify(bytes: &[u8], trusted: &[PublicKey]) -> (Verdict, Option<RunStart>) {
    let mut start = KeepStart::default();
    let verdict = verify_bundle_with(bytes, trusted, VerifyOptions::default(), &mut start);
    (verdict, start.0)
}

fn parse_level(name: &str) -> Option<Level> {
    [
        Level::Decode,
        Level::Signatures,
        Level::Chain,
        Level::Completeness,
        Level::Suite,
    ]
    .into_iter()
    .find(|l| l.name() == name)
}

// ---------------------------------------------------------------- cases --

/// A case file: the expectation, the levels that must pass, the operations.
struct Case {
    name: String,
    expect_level: String,
    expect_reason: String,
    pass: Vec<String>,
    ops: Vec<Vec<String>>,
}

fn read_case(path: &Path) -> Case {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let rest = first
        .strip_prefix("expect: ")
        .unwrap_or_else(|| panic!("{name}: the first line must be `expect: <level>: <reason>`"));
    let (expect_level, expect_reason) = match rest.split_once(": ") {
        Some((level, reason)) => (level.to_owned(), reason.to_owned()),
        None => (rest.trim().to_owned(), String::new()),
    };
    let mut pass = Vec::new();
    let mut ops = Vec::new();
    for line in lines {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(levels) = line.strip_prefix("pass:") {
            pass.extend(levels.split(',').map(|l| l.trim().to_owned()));
            continue;
        }
        ops.push(line.split_whitespace().map(str::to_owned).collect());
    }
    Case {
        name,
        expect_level,
        expect_reason,
        pass,
        ops,
    }
}

/// The state a recipe works on.
struct Work {
    header_key: PublicKey,
    entries: Vec<SignedEntry>,
    /// Set once a byte-level operation ran: the bundle is these bytes.
    raw: Option<Vec<u8>>,
    suite_dir: Option<PathBuf>,
    station: Option<Vec<String>>,
    /// Keys trusted beyond the evaluator's (`trust header-key`).
    trust_header: bool,
}

fn number(case: &str, text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| panic!("{case}: {text:?} is not a number"))
}

fn record_of(entry: &SignedEntry) -> Record {
    Record::from_bytes(&entry.body).unwrap()
}

fn resign_all(key: &SigningKey, entries: &mut [SignedEntry]) {
    let mut prev = GENESIS;
    for (i, e) in entries.iter_mut().enumerate() {
        *e = key.sign_body(&prev, i as u64, core::mem::take(&mut e.body));
        prev = e.chain_hash;
    }
}

/// Decodes an entry's record, edits it and puts the new bytes back (the
/// chain hash and signature stay: `resign` renews them).
fn edit_record(entry: &mut SignedEntry, edit: impl FnOnce(&mut Record)) {
    let mut record = record_of(entry);
    edit(&mut record);
    entry.body = record.to_bytes();
}

/// Applies `+N`, `-N` or `=N` to `value`.
fn apply_number_edit(case: &str, value: &mut u64, op: &str) {
    let (sign, amount) = op.split_at(1);
    let amount = number(case, amount) as u64;
    match sign {
        "+" => *value += amount,
        "-" => *value -= amount,
        "=" => *value = amount,
        other => panic!("{case}: bad edit {other:?}"),
    }
}

fn frames_bytes(entries: &[SignedEntry]) -> Vec<usize> {
    entries.iter().map(|e| 4 + e.to_bytes().len()).collect()
}

fn apply(f: &Fixture, case: &Case) -> Work {
    let name = case.name.as_str();
    let base = case
        .ops
        .iter()
        .find(|op| op[0] == "base")
        .map_or("run1".to_owned(), |op| op[1].clone());
    let start = &f.bundles[&base];
    let mut w = Work {
        header_key: start.header_key,
        entries: start.entries.clone(),
        raw: None,
        suite_dir: None,
        station: None,
        trust_header: false,
    };
    for op in &case.ops {
        let arg = |i: usize| -> &str {
            op.get(i)
                .unwrap_or_else(|| panic!("{name}: {op:?} needs argument {i}"))
        };
        match op[0].as_str() {
            "base" => {}
            "swap-records" => w.entries.swap(number(name, arg(1)), number(name, arg(2))),
            "duplicate-record" => {
                let n = number(name, arg(1));
                let copy = w.entries[n].clone();
                w.entries.insert(n + 1, copy);
            }
            "drop-record" => {
                w.entries.remove(number(name, arg(1)));
            }
            "splice-from" => {
                let n = number(name, arg(2));
                w.entries[n] = f.bundles[arg(1)].entries[n].clone();
            }
            "edit-run-end" => {
                let spec = arg(1);
                let last = w.entries.len() - 1;
                edit_record(&mut w.entries[last], |r| {
                    let Record::RunEnd(end) = r else {
                        panic!("{name}: the last record is not RunEnd")
                    };
                    let field = spec.split(['+', '-', '=']).next().unwrap_or_default();
                    let rest = &spec[field.len()..];
                    match field {
                        "score_sum" => apply_number_edit(name, &mut end.score_sum, rest),
                        "results" | "full_credit" => {
                            let slot = if field == "results" {
                                &mut end.results
                            } else {
                                &mut end.full_credit
                            };
                            let mut v = u64::from(*slot);
                            apply_number_edit(name, &mut v, rest);
                            *slot = v as u32;
                        }
                        other => panic!("{name}: unknown RunEnd field {other}"),
                    }
                });
            }
            "edit-result" => {
                let n = number(name, arg(1));
                let (field, value) = arg(2).split_once('=').unwrap();
                edit_record(&mut w.entries[n], |r| {
                    let Record::TaskResult(t) = r else {
                        panic!("{name}: record {n} is not a TaskResult")
                    };
                    match field {
                        "score" => t.score = Ppm(number(name, value) as u32),
                        "fuel" => t.fuel_consumed = number(name, value) as u64,
                        "epoch" => t.epoch = number(name, value) as u32,
                        "outcome" => {
                            t.outcome = match value {
                                "done" => Outcome::Done,
                                "out-of-fuel" => Outcome::OutOfFuel,
                                "model-error" => Outcome::ModelError(
                                    airlock_core::outcome::ModelErrorKind::Timeout,
                                ),
                                other => panic!("{name}: unknown outcome {other}"),
                            }
                        }
                        other => panic!("{name}: unknown TaskResult field {other}"),
                    }
                });
            }
            "abort-after" => {
                let kept = number(name, arg(1));
                let n = number(name, arg(2)) as u32;
                let (start, results, _) = split_run(&w.entries);
                set_run(
                    &mut w.entries,
                    start,
                    results[..kept].to_vec(),
                    RunEndReason::AbortedModelErrors(n),
                );
            }
            "keep-plan-tasks" => {
                let keep: Vec<&str> = op[1..].iter().map(String::as_str).collect();
                let (mut start, results, reason) = split_run(&w.entries);
                start.plan.retain(|p| keep.contains(&p.task_id.as_str()));
                let results = results
                    .into_iter()
                    .filter(|r| keep.contains(&r.task_id.as_str()))
                    .collect();
                set_run(&mut w.entries, start, results, reason);
            }
            "repeat-plan-entry" => {
                let i = number(name, arg(1));
                let (mut start, mut results, reason) = split_run(&w.entries);
                let again: PlannedTask = start.plan[i].clone();
                start.plan.insert(i + 1, again);
                let result = results[i].clone();
                results.insert(i + 1, result);
                set_run(&mut w.entries, start, results, reason);
            }
            "pad-varint" => {
                let n = number(name, arg(1));
                let sizes = frames_bytes(&w.entries);
                let mut bytes = write_bundle(&w.header_key, &w.entries);
                let at = 44 + sizes[..n].iter().sum::<usize>();
                let e = &w.entries[n];
                // The last byte of the varint gets the continuation bit and
                // a zero byte follows: the same number, one byte longer.
                let last = match arg(2) {
                    "seq" => at + 4 + varint_len(e.seq) - 1,
                    "len" => at + 4 + varint_len(e.seq) + varint_len(e.body.len() as u64) - 1,
                    other => panic!("{name}: pad-varint seq or len, not {other}"),
                };
                bytes[last] |= 0x80;
                bytes.insert(last + 1, 0);
                let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) + 1;
                bytes[at..at + 4].copy_from_slice(&len.to_le_bytes());
                w.raw = Some(bytes);
            }
            "forge-with" => {
                assert_eq!(arg(1), "weak-key", "{name}");
                let mut identity = [0u8; 32];
                identity[0] = 1;
                w.header_key = PublicKey(identity);
                let weak_id = w.header_key.key_id();
                edit_record(&mut w.entries[0], |r| {
                    if let Record::RunStart(s) = r {
                        s.evaluator_key_id = weak_id;
                    }
                });
                // Chain hashes need no key; the signature is R = identity, s = 0.
                let mut forged = [0u8; 64];
                forged[..32].copy_from_slice(&identity);
                let mut prev = GENESIS;
                for e in &mut w.entries {
                    e.chain_hash = airlock_core::chain::chain_hash(&prev, e.seq, &e.body);
                    e.signature = airlock_core::record::Signature(forged);
                    prev = e.chain_hash;
                }
            }
            "trust" => {
                assert_eq!(arg(1), "header-key", "{name}");
                w.trust_header = true;
            }
            "drop-plan-entry" => {
                let i = number(name, arg(1));
                edit_record(&mut w.entries[0], |r| {
                    let Record::RunStart(s) = r else {
                        panic!("{name}: record 0 is not RunStart")
                    };
                    s.plan.remove(i);
                });
            }
            "replace-module-digest" => {
                let task = arg(1).to_owned();
                let fake = Digest::blake3(b"a module nobody signed");
                for e in &mut w.entries {
                    edit_record(e, |r| match r {
                        Record::RunStart(s) => {
                            for p in s.plan.iter_mut().filter(|p| p.task_id == task) {
                                p.module_digest = fake;
                            }
                        }
                        Record::TaskResult(t) if t.task_id == task => t.module_digest = fake,
                        _ => {}
                    });
                }
            }
            "resign" => resign_all(&f.key, &mut w.entries),
            "resign-with" => {
                assert_eq!(arg(1), "other-key", "{name}");
                resign_all(&f.other, &mut w.entries);
                w.header_key = f.other.public_key();
            }
            "sign-with" => {
                assert_eq!(arg(1), "other-key", "{name}");
                resign_all(&f.other, &mut w.entries);
            }
            "truncate-at-record" => {
                let n = number(name, arg(1));
                let sizes = frames_bytes(&w.entries);
                let bytes = write_bundle(&w.header_key, &w.entries);
                let cut = 44 + sizes[..n].iter().sum::<usize>();
                w.raw = Some(bytes[..cut].to_vec());
            }
            "truncate-in-record" => {
                let n = number(name, arg(1));
                let k = number(name, arg(2));
                let sizes = frames_bytes(&w.entries);
                assert!(k > 0 && k < sizes[n], "{name}: cut inside the frame");
                let bytes = write_bundle(&w.header_key, &w.entries);
                let cut = 44 + sizes[..n].iter().sum::<usize>() + k;
                w.raw = Some(bytes[..cut].to_vec());
            }
            "change-suite-module" => {
                let dir = suite_copy(f, &mut w, name);
                let modules = airlock_attest_wasm_files(&dir);
                let module = &modules[number(name, arg(1))];
                let mut bytes = std::fs::read(module).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x01;
                std::fs::write(module, bytes).unwrap();
            }
            "resign-suite-with" => {
                assert_eq!(arg(1), "other-key", "{name}");
                let dir = suite_copy(f, &mut w, name);
                let manifest = verify_suite_files(&dir, &[f.authority], u64::MAX)
                    .unwrap()
                    .manifest;
                std::fs::remove_file(dir.join(airlock_attest::MANIFEST_FILE_NAME)).unwrap();
                airlock_attest::write_manifest(
                    &dir.join(airlock_attest::MANIFEST_FILE_NAME),
                    &manifest,
                    &f.other,
                    airlock_attest::Overwrite::Refuse,
                )
                .unwrap();
            }
            "station" => w.station = Some(op[1..].to_vec()),
            other => panic!("{name}: unknown operation {other:?}"),
        }
    }
    w
}

/// RunStart, the results and RunEnd's reason of a run's entries.
fn split_run(entries: &[SignedEntry]) -> (RunStart, Vec<TaskResult>, RunEndReason) {
    let mut start = None;
    let mut results = Vec::new();
    let mut reason = RunEndReason::Completed;
    for e in entries {
        match record_of(e) {
            Record::RunStart(s) => start = Some(s),
            Record::TaskResult(r) => results.push(r),
            Record::RunEnd(end) => reason = end.reason,
        }
    }
    (start.unwrap(), results, reason)
}

/// Replaces the run's records: `start`, the `results` numbered in order,
/// and a RunEnd with their totals and `reason` (chain hashes and signatures
/// are stale until `resign`).
fn set_run(
    entries: &mut Vec<SignedEntry>,
    start: RunStart,
    mut results: Vec<TaskResult>,
    reason: RunEndReason,
) {
    for (i, r) in results.iter_mut().enumerate() {
        r.plan_index = i as u32;
    }
    let end = RunEnd {
        results: results.len() as u32,
        full_credit: results.iter().filter(|r| r.score == Ppm::FULL).count() as u32,
        score_sum: results.iter().map(|r| u64::from(r.score.0)).sum(),
        reason,
    };
    let template = entries[0].clone();
    let records = core::iter::once(Record::RunStart(start))
        .chain(results.into_iter().map(Record::TaskResult))
        .chain([Record::RunEnd(end)]);
    *entries = records
        .map(|r| SignedEntry {
            body: r.to_bytes(),
            ..template.clone()
        })
        .collect();
}

/// A private copy of the suite directory for a case to change.
fn suite_copy(f: &Fixture, w: &mut Work, case: &str) -> PathBuf {
    if let Some(dir) = &w.suite_dir {
        return dir.clone();
    }
    let dir = f.scratch.join(case);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&f.suite_dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    w.suite_dir = Some(dir.clone());
    dir
}

fn airlock_attest_wasm_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    files.sort();
    files
}

/// The suite level of a run, against the (possibly changed) suite directory.
fn suite_level(dir: &Path, authority: &PublicKey, start: Option<&RunStart>) -> LevelReport {
    let Some(start) = start else {
        return LevelReport {
            level: Level::Suite,
            status: Status::NotChecked("no RunStart".into()),
            note: None,
        };
    };
    match verify_suite_files(dir, &[*authority], u64::MAX) {
        Ok(v) => check_suite(
            start,
            &v.manifest,
            &SuiteSource::Signed {
                authority: v.authority,
            },
        ),
        Err(e) => LevelReport {
            level: Level::Suite,
            status: Status::Failed(e.to_string()),
            note: None,
        },
    }
}

/// Runs one case; `Err` says what went wrong.
fn run_case(f: &Fixture, case: &Case) -> Result<(), String> {
    let w = apply(f, case);
    let mut trusted = vec![f.key.public_key()];
    if w.trust_header {
        trusted.push(w.header_key);
    }
    if let Some(names) = &w.station {
        let runs: Vec<StationRun> = names
            .iter()
            .map(|n| {
                let (v, _) = verify(&f.bundles[n].bytes, &trusted);
                StationRun::from_verdict(n, &v)
                    .unwrap_or_else(|| panic!("{}: {n} does not verify", case.name))
            })
            .collect();
        let reports = check_stations(&runs);
        let status = reports[0].status();
        return match (case.expect_level.as_str(), status) {
            ("verified", Status::Passed) => Ok(()),
            ("station", Status::Failed(reason)) if matches(&reason, &case.expect_reason) => Ok(()),
            (_, status) => Err(format!(
                "station: {} {:?}; expected {}: {}",
                status.name(),
                status.reason(),
                case.expect_level,
                case.expect_reason
            )),
        };
    }
    let bytes = w
        .raw
        .clone()
        .unwrap_or_else(|| write_bundle(&w.header_key, &w.entries));
    let (mut verdict, start) = verify(&bytes, &trusted);
    {
        let dir = w.suite_dir.clone().unwrap_or_else(|| f.suite_dir.clone());
        verdict
            .levels
            .push(suite_level(&dir, &f.authority, start.as_ref()));
    }
    let show = || {
        verdict
            .levels
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n    ")
    };
    for pass in &case.pass {
        let level = parse_level(pass).ok_or_else(|| format!("unknown level {pass:?}"))?;
        match verdict.level(level) {
            Some(l) if l.status == Status::Passed => {}
            other => {
                return Err(format!("{pass} must pass but is {other:?}\n    {}", show()));
            }
        }
    }
    if case.expect_level == "verified" {
        return if verdict.verified() {
            Ok(())
        } else {
            Err(format!("must verify:\n    {}", show()))
        };
    }
    if verdict.verified() {
        return Err(format!("verified, but must fail:\n    {}", show()));
    }
    let level = parse_level(&case.expect_level)
        .ok_or_else(|| format!("unknown level {:?}", case.expect_level))?;
    match verdict.level(level).map(|l| &l.status) {
        Some(Status::Failed(reason)) if matches(reason, &case.expect_reason) => Ok(()),
        _ => Err(format!(
            "expected {}: {}\n    {}",
            level.name(),
            case.expect_reason,
            show()
        )),
    }
}

/// Whether `reason` contains `fragment`, where `*` in the fragment stands
/// for any text (offsets and hashes that differ from run to run).
fn matches(reason: &str, fragment: &str) -> bool {
    let mut rest = reason;
    for piece in fragment.split('*') {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tamper");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    paths.sort();
    paths.iter().map(|p| read_case(p)).collect()
}

// ------------------------------------------------- generated families --

/// Where each byte of a bundle belongs, for the exhaustive families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    Magic,
    Version,
    Flags,
    HeaderKey,
    /// Frame length of record `i`, frame starting at byte `at`.
    Length(usize, usize),
    Seq(usize, usize),
    BodyLength(usize, usize),
    Body(usize),
    ChainHash(usize),
    Signature(usize),
    TrailerZero(usize),
    TrailerCount,
    TrailerHash,
    EndMagic,
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// The region of every byte, and the offset where each frame starts (plus
/// the trailer's start at the end).
fn regions(p: &Parsed) -> (Vec<Region>, Vec<usize>) {
    let mut out = vec![Region::Magic; 8];
    out.extend([Region::Version; 2]);
    out.extend([Region::Flags; 2]);
    out.extend([Region::HeaderKey; 32]);
    let mut starts = Vec::new();
    for (i, e) in p.entries.iter().enumerate() {
        let at = out.len();
        starts.push(at);
        out.extend([Region::Length(i, at); 4]);
        out.extend(core::iter::repeat_n(Region::Seq(i, at), varint_len(e.seq)));
        out.extend(core::iter::repeat_n(
            Region::BodyLength(i, at),
            varint_len(e.body.len() as u64),
        ));
        out.extend(core::iter::repeat_n(Region::Body(i), e.body.len()));
        out.extend([Region::ChainHash(i); 32]);
        out.extend([Region::Signature(i); 64]);
    }
    let t = out.len();
    starts.push(t);
    out.extend([Region::TrailerZero(t); 4]);
    out.extend([Region::TrailerCount; 8]);
    out.extend([Region::TrailerHash; 32]);
    out.extend([Region::EndMagic; 8]);
    assert_eq!(
        out.len(),
        p.bytes.len(),
        "region map does not cover the bundle"
    );
    (out, starts)
}

fn kind(entry: &SignedEntry) -> &'static str {
    record_of(entry).kind()
}

fn failed(v: &Verdict, level: Level) -> Option<&str> {
    match &v.level(level)?.status {
        Status::Failed(r) => Some(r),
        _ => None,
    }
}

/// Checks the verdict of `byte ^ mask` at position `at` against its region.
fn check_flip(p: &Parsed, region: Region, at: usize, mask: u8, v: &Verdict) -> Result<(), String> {
    if v.verified() {
        return Err("verified".into());
    }
    let new = p.bytes[at] ^ mask;
    let expect = |level: Level, ok: &dyn Fn(&str) -> bool, what: &str| match failed(v, level) {
        Some(r) if ok(r) => Ok(()),
        _ => Err(format!("expected {level}: {what}")),
    };
    match region {
        Region::Magic => expect(Level::Decode, &|r| r.starts_with("header: "), "header: …"),
        Region::Version => expect(
            Level::Decode,
            &|r| r.starts_with("header: format version"),
            "header: format version …",
        ),
        Region::Flags => expect(
            Level::Decode,
            &|r| r.starts_with("header: reserved flags"),
            "header: reserved flags …",
        ),
        Region::HeaderKey => expect(
            Level::Signatures,
            &|r| r.starts_with("signed by key ") && r.contains(", not trusted"),
            "signed by key …, not trusted",
        ),
        Region::Length(i, start) | Region::BodyLength(i, start) => {
            let prefix = format!("record {i}: frame at byte {start} ");
            let len_bytes = &p.bytes[start..start + 4];
            let mut new_len = [0u8; 4];
            new_len.copy_from_slice(len_bytes);
            if at < start + 4 {
                new_len[at - start] = new;
            }
            if u32::from_le_bytes(new_len) == 0 {
                // A zero length is where a trailer starts: what follows is not one.
                expect(Level::Decode, &|_| true, "a failure")
            } else {
                expect(Level::Decode, &|r| r.starts_with(&prefix), &prefix)
            }
        }
        Region::Seq(i, start) => {
            if new & 0x80 == 0 {
                let want = format!(
                    "record {i} ({}): sequence number {new}, expected {i}",
                    kind(&p.entries[i])
                );
                expect(Level::Chain, &|r| r.starts_with(&want), &want)
            } else {
                let prefix = format!("record {i}: frame at byte {start} ");
                expect(Level::Decode, &|r| r.starts_with(&prefix), &prefix)
            }
        }
        Region::Body(i) => {
            let prefix = format!("record {i} (");
            expect(
                Level::Chain,
                &|r| {
                    r.starts_with(&prefix)
                        && r.contains("): stored chain hash does not match its bytes")
                },
                "record i (…): stored chain hash does not match its bytes",
            )
        }
        Region::ChainHash(i) | Region::Signature(i) => {
            let want = format!(
                "record {i} ({}): signature does not verify",
                kind(&p.entries[i])
            );
            expect(Level::Signatures, &|r| r == want, &want)
        }
        Region::TrailerZero(t) => {
            let prefix = format!("record {}: frame at byte {t} ", p.entries.len());
            expect(Level::Decode, &|r| r.starts_with(&prefix), &prefix)
        }
        Region::TrailerCount => expect(
            Level::Decode,
            &|r| r.starts_with("trailer says "),
            "trailer says …",
        ),
        Region::TrailerHash => expect(
            Level::Decode,
            &|r| r.starts_with("trailer's final chain hash "),
            "trailer's final chain hash …",
        ),
        Region::EndMagic => expect(
            Level::Decode,
            &|r| r.starts_with("bad end magic"),
            "bad end magic",
        ),
    }
}

/// The byte changes tried at position `at`: one bit (which bit depends on
/// the position, so every bit is exercised across a region), the top bit
/// and the inversion of the whole byte.
fn masks(at: usize) -> [u8; 3] {
    [1 << (at % 8), 0x80, 0xff]
}

fn every_single_byte_change(f: &Fixture, p: &Parsed) -> Vec<String> {
    let (map, _) = regions(p);
    let trusted = [f.key.public_key()];
    let positions: Vec<usize> = (0..p.bytes.len()).collect();
    let chunks: Vec<&[usize]> = positions.chunks(positions.len().div_ceil(2)).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let map = &map;
                scope.spawn(move || {
                    let mut problems = Vec::new();
                    let mut bad = p.bytes.clone();
                    for &at in chunk {
                        let mut seen = Vec::new();
                        for mask in masks(at) {
                            if seen.contains(&mask) {
                                continue;
                            }
                            seen.push(mask);
                            bad[at] ^= mask;
                            let (v, _) = verify(&bad, &trusted);
                            bad[at] ^= mask;
                            if let Err(e) = check_flip(p, map[at], at, mask, &v) {
                                problems.push(format!(
                                    "byte {at} ({:?}) ^ {mask:#04x}: {e}; got\n    {}",
                                    map[at],
                                    v.levels
                                        .iter()
                                        .map(ToString::to_string)
                                        .collect::<Vec<_>>()
                                        .join("\n    ")
                                ));
                            }
                        }
                    }
                    problems
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

fn every_truncation(f: &Fixture, p: &Parsed) -> Vec<String> {
    let (_, starts) = regions(p);
    let trusted = [f.key.public_key()];
    let mut problems = Vec::new();
    for cut in 0..p.bytes.len() {
        let (v, _) = verify(&p.bytes[..cut], &trusted);
        let decode = failed(&v, Level::Decode).unwrap_or_default().to_owned();
        let boundary = starts.iter().position(|&s| s == cut);
        let ok = if cut < 44 {
            decode.starts_with("header: file is ")
        } else if let Some(n) = boundary {
            if n == p.entries.len() {
                // Cut right before the trailer.
                decode.contains("without a trailer")
            } else {
                let missing = failed(&v, Level::Completeness).unwrap_or_default();
                decode.contains("without a trailer")
                    && v.level(Level::Signatures).unwrap().status == Status::Passed
                    && v.level(Level::Chain).unwrap().status == Status::Passed
                    && (missing.contains("without RunEnd")
                        || missing == "the bundle holds no records")
            }
        } else if cut >= *starts.last().unwrap() {
            decode.starts_with("bundle ends inside its trailer")
                || decode.starts_with(&format!("record {}: input ends at byte", p.entries.len()))
        } else {
            let n = starts.iter().rposition(|&s| s < cut).unwrap();
            decode.starts_with(&format!("record {n}: "))
                && (decode.contains("inside a frame length")
                    || decode.contains("but the input ends after"))
        };
        if !ok || v.verified() {
            problems.push(format!(
                "cut at {cut}: {}",
                v.levels
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
    }
    problems
}

#[test]
fn tamper_kit() {
    let f = fixture();
    let run1 = &f.bundles["run1"];
    // Every fixture run verifies untouched, before anything is changed.
    for (name, b) in &f.bundles {
        let (v, _) = verify(&b.bytes, &[f.key.public_key()]);
        assert!(v.verified(), "{name}: {v:#?}");
    }
    let cases = cases();
    assert!(cases.len() >= 15, "only {} tamper cases", cases.len());
    let mut problems: Vec<String> = Vec::new();
    std::thread::scope(|scope| {
        let flips = scope.spawn(|| every_single_byte_change(&f, run1));
        let cuts = scope.spawn(|| every_truncation(&f, run1));
        for case in &cases {
            if let Err(e) = run_case(&f, case) {
                problems.push(format!("{}: {e}", case.name));
            }
        }
        problems.extend(flips.join().unwrap());
        problems.extend(cuts.join().unwrap());
    });
    assert!(
        problems.is_empty(),
        "{} tamper checks failed; the first ones:\n{}",
        problems.len(),
        problems
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
