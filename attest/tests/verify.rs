//! Bundle verification: every level, precise reasons, tamper cases.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of tests

mod common;

use airlock_attest::verify::{
    CollectedRecords, Level, RecordVisitor, Status, Verdict, VerifyOptions, verify_bundle,
    verify_bundle_file, verify_bundle_file_with, verify_bundle_with,
};
use airlock_core::record::{Record, RunEndReason, RunStart, TaskResult};
use airlock_core::{Outcome, Ppm, outcome::ModelErrorKind};
use common::*;

fn verify(bytes: &[u8]) -> Verdict {
    verify_bundle(bytes, &[key().public_key()], VerifyOptions::default())
}

fn status(v: &Verdict, level: Level) -> Status {
    v.level(level).unwrap().status.clone()
}

fn failed_reason(v: &Verdict, level: Level) -> String {
    match status(v, level) {
        Status::Failed(r) => r,
        other => panic!("{level} not failed: {other:?}\n{v:#?}"),
    }
}

fn assert_all_passed(v: &Verdict) {
    for l in &v.levels {
        assert_eq!(l.status, Status::Passed, "{l}");
    }
    assert!(v.verified());
}

#[test]
fn valid_bundle_passes_every_level_and_summarises_the_run() {
    let v = verify(&valid_bundle(3));
    assert_all_passed(&v);
    assert_eq!(v.levels.len(), 4);
    assert_eq!(v.summary.records, 5);
    assert_eq!(v.summary.planned, Some(3));
    assert_eq!(v.summary.results, 3);
    assert_eq!(v.summary.full_credit, 2);
    assert_eq!(v.summary.score_sum, 2_500_000);
    assert_eq!(v.summary.run_id, Some([0xab; 16]));
    assert_eq!(v.summary.key_id, Some(key().key_id()));
}

#[test]
fn verdict_json_is_the_documented_format() {
    let v = verify(&valid_bundle(1));
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "format": "airlock-verdict/1",
            "verified": true,
            "levels": [
                {"level": "decode", "status": "passed", "reason": null, "note": null},
                {"level": "signatures", "status": "passed", "reason": null, "note": null},
                {"level": "chain", "status": "passed", "reason": null, "note": null},
                {"level": "completeness", "status": "passed", "reason": null, "note": null},
            ],
            "key_id": "74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916",
            "run_id": "abababababababababababababababab",
            "records": 3,
            "planned": 1,
            "results": 1,
            "full_credit": 1,
            "score_sum_ppm": 1_000_000,
            "end": "completed",
            "final_hash": v.summary.final_hash.unwrap().to_hex().as_str(),
            "station_run_counter": 1,
            "previous_run_start_hash": "0000000000000000000000000000000000000000000000000000000000000000",
            "run_start_hash": v.summary.run_start_hash.unwrap().to_hex().as_str(),
            "station_hardware": "no-tpm",
            "station_registration": null,
        })
    );
    let bad = verify(b"garbage");
    let json = serde_json::to_value(&bad).unwrap();
    assert_eq!(json["verified"], false);
    assert_eq!(json["levels"][0]["status"], "failed");
    assert_eq!(json["levels"][1]["status"], "not-checked");
    assert!(json["key_id"].is_null());
}

/// Any single-byte change anywhere in a valid bundle fails at least one level.
#[test]
fn every_single_byte_change_is_detected() {
    let good = valid_bundle(2);
    assert!(verify(&good).verified());
    for i in 0..good.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            let v = verify(&bad);
            assert!(!v.verified(), "byte {i} ^ {mask:#x} went undetected");
            assert!(v.first_failure().is_some(), "byte {i}: no level failed");
        }
    }
}

#[test]
fn untrusted_key_fails_signatures_naming_the_key() {
    let other = other_key();
    let bytes = valid_bundle(1);
    let v = verify_bundle(&bytes[..], &[other.public_key()], VerifyOptions::default());
    assert_eq!(
        failed_reason(&v, Level::Signatures),
        format!("signed by key {}, not trusted", key().key_id())
    );
    assert_eq!(status(&v, Level::Chain), Status::Passed);
    assert!(!v.verified());
    let none = verify_bundle(&bytes[..], &[], VerifyOptions::default());
    assert!(!none.verified());
}

#[test]
fn bundle_signed_by_another_key_with_our_header_fails_signatures() {
    // Entries signed by another key, header claiming ours.
    let other = other_key();
    let k = key();
    let entries = sign_all(&other, &records(&k.public_key(), 1));
    let bytes = bundle_bytes(&k.public_key(), &entries);
    let v = verify(&bytes);
    assert_eq!(
        failed_reason(&v, Level::Signatures),
        "record 0 (RunStart): signature does not verify (and 2 more failures)"
    );
}

#[test]
fn truncation_at_every_record_boundary_and_inside_records_fails_decode() {
    let k = key();
    let entries = sign_all(&k, &records(&k.public_key(), 2));
    let full = bundle_bytes(&k.public_key(), &entries);
    let mut boundaries = vec![44usize];
    for e in &entries {
        boundaries.push(boundaries.last().unwrap() + 4 + e.to_bytes().len());
    }
    for (n, &cut) in boundaries.iter().enumerate() {
        let v = verify(&full[..cut]);
        assert!(
            failed_reason(&v, Level::Decode).contains("without a trailer"),
            "cut at boundary {n}"
        );
        if n < entries.len() {
            // Records are missing: completeness names the missing tail.
            let reason = failed_reason(&v, Level::Completeness);
            assert!(
                reason.contains("without RunEnd") || reason.contains("no records"),
                "{reason}"
            );
        }
    }
    for cut in 0..full.len() {
        if boundaries.contains(&cut) {
            continue;
        }
        let v = verify(&full[..cut]);
        assert!(!v.verified(), "cut at {cut}");
        assert!(
            matches!(status(&v, Level::Decode), Status::Failed(_)),
            "cut {cut}"
        );
    }
}

#[test]
fn swapped_and_duplicated_records_fail_chain() {
    let k = key();
    let entries = sign_all(&k, &records(&k.public_key(), 3));
    let mut swapped = entries.clone();
    swapped.swap(1, 2);
    let v = verify(&bundle_bytes(&k.public_key(), &swapped));
    assert!(
        failed_reason(&v, Level::Chain)
            .starts_with("record 1 (TaskResult): sequence number 2, expected 1"),
        "{v:#?}"
    );
    assert_eq!(status(&v, Level::Signatures), Status::Passed);

    let mut dup = entries.clone();
    dup.insert(2, entries[1].clone());
    let v = verify(&bundle_bytes(&k.public_key(), &dup));
    assert!(
        failed_reason(&v, Level::Chain).starts_with("record 2 (TaskResult): sequence number 1")
    );
    assert!(failed_reason(&v, Level::Completeness).starts_with(
        "record 2 (TaskResult): duplicate result for plan entry 0 (task task-0 epoch 0)"
    ));
}

#[test]
fn record_spliced_from_another_run_fails_chain() {
    let k = key();
    let ours = sign_all(&k, &records(&k.public_key(), 2));
    let mut theirs_records = records(&k.public_key(), 2);
    if let Record::RunStart(s) = &mut theirs_records[0] {
        s.run_id = [0xcd; 16];
    }
    let theirs = sign_all(&k, &theirs_records);
    let mut spliced = ours.clone();
    spliced[2] = theirs[2].clone();
    let v = verify(&bundle_bytes(&k.public_key(), &spliced));
    assert_eq!(
        failed_reason(&v, Level::Chain),
        "record 2 (TaskResult): stored chain hash does not match its bytes (and 1 more failures)"
    );
}

#[test]
fn body_flip_names_the_record_in_chain() {
    let k = key();
    let entries = sign_all(&k, &records(&k.public_key(), 2));
    let mut bad = entries.clone();
    // Change the fuel of result 1 (keeps the record decodable).
    let mut r = Record::from_bytes(&bad[2].body).unwrap();
    if let Record::TaskResult(t) = &mut r {
        t.fuel_consumed += 1;
    }
    bad[2].body = r.to_bytes();
    let v = verify(&bundle_bytes(&k.public_key(), &bad));
    assert_eq!(
        failed_reason(&v, Level::Chain),
        "record 2 (TaskResult): stored chain hash does not match its bytes"
    );
    assert_eq!(status(&v, Level::Signatures), Status::Passed);
    assert_eq!(status(&v, Level::Decode), Status::Passed);
}

#[test]
fn signed_but_undecodable_record_fails_decode_and_skips_completeness() {
    let k = key();
    let mut entries = sign_all(&k, &records(&k.public_key(), 1));
    let prev = entries[0].chain_hash;
    entries[1] = k.sign_body(&prev, 1, vec![9, 9, 9]);
    // Re-chain the rest so only decoding is wrong.
    let rest = Record::from_bytes(&entries[2].body).unwrap();
    entries[2] = k.sign_next(&entries[1].chain_hash, 2, &rest);
    let v = verify(&bundle_bytes(&k.public_key(), &entries));
    assert!(
        failed_reason(&v, Level::Decode).starts_with("record 1 (undecodable) at byte "),
        "{v:#?}"
    );
    assert_eq!(status(&v, Level::Signatures), Status::Passed);
    assert_eq!(status(&v, Level::Chain), Status::Passed);
    assert_eq!(
        status(&v, Level::Completeness),
        Status::NotChecked("record 1 (undecodable) does not decode".into())
    );
}

fn with_records(edit: impl FnOnce(&mut Vec<Record>)) -> Verdict {
    let mut recs = records(&key().public_key(), 3);
    edit(&mut recs);
    verify(&resigned(&recs))
}

fn completeness_reason(edit: impl FnOnce(&mut Vec<Record>)) -> String {
    let v = with_records(edit);
    assert_eq!(status(&v, Level::Signatures), Status::Passed);
    assert_eq!(status(&v, Level::Chain), Status::Passed);
    failed_reason(&v, Level::Completeness)
}

fn result_mut(recs: &mut [Record], i: usize) -> &mut TaskResult {
    match &mut recs[i] {
        Record::TaskResult(t) => t,
        other => panic!("{other:?}"),
    }
}

fn start_mut(recs: &mut [Record]) -> &mut RunStart {
    match &mut recs[0] {
        Record::RunStart(s) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn completeness_reports_each_defect_precisely() {
    // A task missing from the middle (re-signed, so only completeness sees it).
    assert_eq!(
        completeness_reason(|r| {
            r.remove(2);
            if let Record::RunEnd(e) = r.last_mut().unwrap() {
                e.results = 2;
                e.full_credit = 2;
                e.score_sum = 2_000_000;
            }
        }),
        "record 2 (TaskResult): result for plan entry 2, but plan entry 1 (task task-1 epoch 0) has no result before it"
    );
    // An extra task.
    assert_eq!(
        completeness_reason(|r| {
            let extra = r[3].clone();
            r.insert(4, extra);
        }),
        "record 4 (TaskResult): duplicate result for plan entry 2 (task task-2 epoch 0)"
    );
    assert_eq!(
        completeness_reason(|r| {
            let mut extra = result_mut(r, 3).clone();
            extra.plan_index = 3;
            r.insert(4, Record::TaskResult(extra));
        }),
        "record 4 (TaskResult): extra result for plan entry 3; all 3 planned results are present"
    );
    // A plan with a task removed: its result becomes an extra.
    assert_eq!(
        completeness_reason(|r| {
            start_mut(r).plan.pop();
        }),
        "record 3 (TaskResult): extra result for plan entry 2; all 2 planned results are present"
    );
    // Altered RunEnd totals.
    assert_eq!(
        completeness_reason(|r| {
            if let Record::RunEnd(e) = r.last_mut().unwrap() {
                e.score_sum += 1;
            }
        }),
        "record 4 (RunEnd): score_sum total 2500001, but the results before it give 2500000"
    );
    // Missing RunEnd (a signed prefix).
    assert_eq!(
        completeness_reason(|r| {
            r.truncate(3);
        }),
        "the bundle ends after record 2 (TaskResult) without RunEnd: 2 of 3 planned results present; plan entry 2 (task task-2 epoch 0) and after have no result"
    );
    // Completed with a missing tail.
    assert_eq!(
        completeness_reason(|r| {
            r.remove(3);
            if let Record::RunEnd(e) = r.last_mut().unwrap() {
                e.results = 2;
                e.full_credit = 1;
                e.score_sum = 1_500_000;
            }
        }),
        "record 3 (RunEnd): run ended as completed after 2 of 3 planned results; plan entry 2 (task task-2 epoch 0) has no result"
    );
    // Record after RunEnd.
    assert_eq!(
        completeness_reason(|r| {
            let again = r[1].clone();
            r.push(again);
        }),
        "record 5 (TaskResult): record after RunEnd"
    );
    // Field mismatches against the plan.
    assert!(
        completeness_reason(|r| result_mut(r, 1).task_id = "evil".into())
            .starts_with("record 1 (TaskResult): task id \"evil\" differs from plan entry 0")
    );
    assert!(
        completeness_reason(|r| result_mut(r, 1).module_digest.0[0] ^= 1)
            .starts_with("record 1 (TaskResult): module digest ")
    );
    assert!(
        completeness_reason(|r| result_mut(r, 1).epoch = 9)
            .starts_with("record 1 (TaskResult): epoch 9 differs from plan entry 0")
    );
    // Scores.
    assert_eq!(
        completeness_reason(|r| {
            result_mut(r, 2).score = Ppm(1_000_001);
        }),
        "record 2 (TaskResult): score 1000001 ppm is above full credit (1000000)"
    );
    assert_eq!(
        completeness_reason(|r| {
            result_mut(r, 2).outcome = Outcome::OutOfFuel;
        }),
        "record 2 (TaskResult): score 500000 ppm with outcome out-of-fuel; only done may score"
    );
    // First record and key binding.
    assert_eq!(
        completeness_reason(|r| {
            r.remove(0);
        }),
        "record 0 (TaskResult): the first record must be RunStart"
    );
    assert!(
        completeness_reason(|r| start_mut(r).evaluator_key_id.0[0] ^= 1)
            .starts_with("record 0 (RunStart): evaluator key id ")
    );
    assert_eq!(
        completeness_reason(|r| {
            let again = r[0].clone();
            r.insert(2, again);
        }),
        "record 2 (RunStart): a second RunStart"
    );
}

/// The results and RunEnd of an abort claimed after the first `kept`
/// results, the last `errors` of them model errors, with `claimed` in
/// RunEnd.
fn aborted(kept: usize, errors: usize, claimed: u32) -> Verdict {
    with_records(|r| {
        r.truncate(1 + kept);
        for i in kept + 1 - errors..=kept {
            result_mut(r, i).outcome = Outcome::ModelError(ModelErrorKind::Timeout);
            result_mut(r, i).score = Ppm::ZERO;
        }
        let results: Vec<TaskResult> = (1..=kept).map(|i| result_mut(r, i).clone()).collect();
        r.push(Record::RunEnd(run_end(
            &results,
            RunEndReason::AbortedModelErrors(claimed),
        )));
    })
}

#[test]
fn aborted_run_with_a_prefix_verifies_with_a_note() {
    let v = aborted(2, 1, 1);
    assert_all_passed(&v);
    let note = v.level(Level::Completeness).unwrap().note.clone();
    assert_eq!(
        note.as_deref(),
        Some("aborted after 2 of 3 planned results (1 consecutive model errors)")
    );
    assert_eq!(v.summary.end, Some(RunEndReason::AbortedModelErrors(1)));
    assert_all_passed(&aborted(2, 2, 2));
}

/// An abort is what the runner writes after n ≥ 1 model errors in a row,
/// the last n results, with results missing; any other claim fails.
#[test]
fn an_abort_claim_without_its_model_errors_fails_completeness() {
    let reason = |v: Verdict| failed_reason(&v, Level::Completeness);
    // Good results, no model error at all.
    assert_eq!(
        reason(aborted(2, 0, 3)),
        "record 3 (RunEnd): run ended as aborted after 3 consecutive model errors, \
         but the 2 results before it end with 0 model errors in a row"
    );
    // Fewer errors in a row than claimed, and more.
    assert!(reason(aborted(2, 1, 2)).ends_with("end with 1 model errors in a row"));
    assert!(reason(aborted(2, 2, 1)).ends_with("end with 2 model errors in a row"));
    // n = 0.
    assert_eq!(
        reason(aborted(2, 0, 0)),
        "record 3 (RunEnd): run ended as aborted after 0 consecutive model errors; \
         a run ends early only after at least one"
    );
    // Every result present.
    assert_eq!(
        reason(aborted(3, 1, 1)),
        "record 4 (RunEnd): run ended as aborted after 1 consecutive model errors, \
         but all 3 planned results are present (such a run is completed)"
    );
}

#[test]
fn empty_bundle_fails_completeness() {
    let k = key();
    let v = verify(&bundle_bytes(&k.public_key(), &[]));
    assert_eq!(status(&v, Level::Decode), Status::Passed);
    assert_eq!(
        failed_reason(&v, Level::Completeness),
        "the bundle holds no records"
    );
}

#[derive(Default)]
struct Counter {
    starts: usize,
    results: Vec<u32>,
    ends: usize,
}

impl RecordVisitor for Counter {
    fn run_start(&mut self, index: u64, _: &RunStart) {
        assert_eq!(index, 0);
        self.starts += 1;
    }
    fn task_result(&mut self, _: u64, r: &TaskResult) {
        self.results.push(r.plan_index);
    }
    fn run_end(&mut self, _: u64, _: &airlock_core::record::RunEnd) {
        self.ends += 1;
    }
}

#[test]
fn visitor_and_collection_expose_the_records() {
    let bytes = valid_bundle(3);
    let mut c = Counter::default();
    let v = verify_bundle_with(
        &bytes[..],
        &[key().public_key()],
        VerifyOptions::default(),
        &mut c,
    );
    assert!(v.verified());
    assert!(v.records.is_none());
    assert_eq!((c.starts, c.results.clone(), c.ends), (1, vec![0, 1, 2], 1));

    let v = verify_bundle(
        &bytes[..],
        &[key().public_key()],
        VerifyOptions::default().collect_records(true),
    );
    let CollectedRecords {
        run_start,
        results,
        run_end,
    } = v.records.unwrap();
    assert_eq!(run_start.unwrap().plan.len(), 3);
    assert_eq!(results.len(), 3);
    assert_eq!(run_end.unwrap().results, 3);
}

#[test]
fn garbage_after_a_valid_header_never_panics() {
    let header = &valid_bundle(1)[..44];
    // A small deterministic generator: xorshift.
    let mut x: u64 = 0x1234_5678_9abc_def0;
    for len in 0..400 {
        let mut bytes = header.to_vec();
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        let v = verify(&bytes);
        assert!(!v.verified());
    }
    // A hostile length at the maximum with nothing behind it.
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    let v = verify(&bytes);
    assert!(failed_reason(&v, Level::Decode).contains("more than the maximum"));
    assert!(matches!(status(&v, Level::Chain), Status::NotChecked(_)));
}

#[test]
fn display_names_level_and_reason() {
    let mut bytes = valid_bundle(1);
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    let v = verify(&bytes);
    let line = v.first_failure().unwrap().to_string();
    assert!(
        line.starts_with("decode: failed: bad end magic at byte"),
        "{line}"
    );
}

/// Parallel signature checking gives the very same verdict as checking on
/// the calling thread, for valid and damaged bundles alike, including ones
/// with many bad signatures spread over several batches.
#[test]
fn verdict_is_the_same_for_any_thread_count() {
    let k = key();
    let good = valid_bundle(300);
    let mut variants: Vec<Vec<u8>> = vec![good.clone()];
    // One change in each region of a few records, and in the trailer.
    for at in (0..good.len()).step_by(997) {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        variants.push(bad);
    }
    // Many bad signatures: every entry signed by another key, our header.
    let entries = sign_all(&other_key(), &records(&k.public_key(), 300));
    variants.push(bundle_bytes(&k.public_key(), &entries));
    // Every 7th signature broken, so failures land in many batches.
    let mut entries = sign_all(&k, &records(&k.public_key(), 300));
    for e in entries.iter_mut().skip(5).step_by(7) {
        e.signature.0[3] ^= 1;
    }
    variants.push(bundle_bytes(&k.public_key(), &entries));
    // Truncated in the middle of a frame.
    variants.push(good[..good.len() / 2].to_vec());
    for (i, bytes) in variants.iter().enumerate() {
        let one = verify_bundle(
            &bytes[..],
            &[k.public_key()],
            VerifyOptions::default().threads(1),
        );
        for threads in [2, 3, 8] {
            let many = verify_bundle(
                &bytes[..],
                &[k.public_key()],
                VerifyOptions::default().threads(threads),
            );
            assert_eq!(one, many, "variant {i}, {threads} threads");
        }
    }
    let v = verify_bundle(
        &variants[variants.len() - 2][..],
        &[k.public_key()],
        VerifyOptions::default().threads(2),
    );
    assert_eq!(
        failed_reason(&v, Level::Signatures),
        "record 5 (TaskResult): signature does not verify (and 42 more failures)"
    );
}

/// Damaged and doctored bundles, for comparing ways of verifying them.
fn variants_of(good: &[u8]) -> Vec<Vec<u8>> {
    let k = key();
    let mut variants = vec![good.to_vec()];
    for at in (44..good.len()).step_by(3) {
        let mut bad = good.to_vec();
        bad[at] ^= 0x21;
        variants.push(bad);
    }
    variants.extend((44..good.len()).step_by(11).map(|n| good[..n].to_vec()));
    let mut recs = records(&k.public_key(), 6);
    // A duplicated result (its message looks back in the plan), a result
    // for the wrong task, and a run that stops early.
    let dup = recs[2].clone();
    recs.insert(3, dup);
    variants.push(resigned(&recs));
    let mut recs = records(&k.public_key(), 6);
    if let Record::TaskResult(r) = &mut recs[4] {
        r.task_id = "task-9".into();
    }
    variants.push(resigned(&recs));
    let mut recs = records(&k.public_key(), 6);
    recs.truncate(4);
    variants.push(resigned(&recs));
    variants
}

/// Verifying a file (the plan read again from the file) and verifying a
/// stream (the plan's bytes kept) give the same verdict, case by case.
#[test]
fn file_and_stream_verification_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.bundle");
    let trusted = [key().public_key()];
    for (i, bytes) in variants_of(&valid_bundle(6)).iter().enumerate() {
        std::fs::write(&path, bytes).unwrap();
        let from_file = verify_bundle_file(&path, &trusted, VerifyOptions::default()).unwrap();
        let from_stream = verify_bundle(&bytes[..], &trusted, VerifyOptions::default());
        assert_eq!(from_file, from_stream, "variant {i}");
    }
}

/// Rewrites one byte of the bundle file when the first result is seen,
/// while the verifier is between its two reads of the plan.
struct Saboteur {
    path: std::path::PathBuf,
    at: usize,
    done: bool,
}

impl RecordVisitor for Saboteur {
    fn wants_run_start(&self) -> bool {
        false
    }
    fn task_result(&mut self, _: u64, _: &TaskResult) {
        if !self.done {
            let mut bytes = std::fs::read(&self.path).unwrap();
            bytes[self.at] ^= 0x02;
            std::fs::write(&self.path, bytes).unwrap();
            self.done = true;
        }
    }
}

/// The plan is read twice; a file changed in between fails completeness
/// (the results were checked against bytes the signature does not cover),
/// even when the changed field is one no result repeats.
#[test]
fn a_bundle_changed_during_verification_fails_completeness() {
    let k = key();
    let recs = records(&k.public_key(), 3000);
    let Record::RunStart(start) = &recs[0] else {
        unreachable!()
    };
    let last = postcard::to_allocvec(start.plan.last().unwrap()).unwrap();
    let bytes = resigned(&recs);
    let entry_at = bytes
        .windows(last.len())
        .position(|w| w == &last[..])
        .unwrap();
    // The task_version varint, after the task id and its length byte.
    let version_at = entry_at + 1 + start.plan.last().unwrap().task_id.len();
    assert_eq!(bytes[version_at], 1);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("changing.bundle");
    std::fs::write(&path, &bytes).unwrap();
    let trusted = [k.public_key()];
    let untouched = verify_bundle_file(&path, &trusted, VerifyOptions::default()).unwrap();
    assert!(untouched.verified(), "{untouched:?}");

    let mut saboteur = Saboteur {
        path: path.clone(),
        at: version_at,
        done: false,
    };
    let v =
        verify_bundle_file_with(&path, &trusted, VerifyOptions::default(), &mut saboteur).unwrap();
    assert!(saboteur.done);
    assert_eq!(status(&v, Level::Signatures), Status::Passed);
    assert_eq!(status(&v, Level::Chain), Status::Passed);
    let reason = failed_reason(&v, Level::Completeness);
    assert!(
        reason.contains("differs from the plan the chain hash covers"),
        "{reason}"
    );
}

/// A visitor that does not want RunStart is not handed one (building it
/// means holding the plan), and the verdict is the same.
#[test]
fn run_start_is_built_only_for_a_visitor_that_wants_it() {
    struct Declines(usize);
    impl RecordVisitor for Declines {
        fn wants_run_start(&self) -> bool {
            false
        }
        fn run_start(&mut self, _: u64, _: &RunStart) {
            self.0 += 1;
        }
    }
    let bytes = valid_bundle(4);
    let trusted = [key().public_key()];
    let mut declines = Declines(0);
    let v = verify_bundle_with(
        &bytes[..],
        &trusted,
        VerifyOptions::default(),
        &mut declines,
    );
    assert_eq!(declines.0, 0);
    let mut counter = Counter::default();
    let w = verify_bundle_with(&bytes[..], &trusted, VerifyOptions::default(), &mut counter);
    assert_eq!(counter.starts, 1);
    assert!(v.verified());
    assert_eq!(v, w);
}

/// A pipe cannot be read twice: a bundle read from one (a FIFO here, like
/// `/dev/stdin` fed by a pipe) keeps its plan's bytes and verifies.
#[cfg(unix)]
#[test]
fn a_bundle_read_from_a_pipe_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("bundle.pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // A plan of several windows, so that a second reader would take bytes.
    let bytes = valid_bundle(3000);
    let writer = {
        let fifo = fifo.clone();
        let bytes = bytes.clone();
        std::thread::spawn(move || std::fs::write(fifo, bytes))
    };
    let v = verify_bundle_file(&fifo, &[key().public_key()], VerifyOptions::default()).unwrap();
    writer.join().unwrap().unwrap();
    assert!(v.verified(), "{v:?}");
    assert_eq!(v.summary.planned, Some(3000));
}

/// The suite level names the first plan entry that is not the suite's and
/// counts the rest, and passes a plan that is the suite's.
#[test]
fn suite_level_names_the_first_mismatch_and_counts_the_rest() {
    use airlock_attest::suite_check::{SuiteSource, check_suite};
    use airlock_core::suite::{ManifestTask, SuiteManifest};

    let start = run_start(&key().public_key(), 4, 1);
    let manifest = |tasks: &[usize]| SuiteManifest {
        name: "default".into(),
        tasks: tasks
            .iter()
            .map(|&i| ManifestTask {
                task_id: start.plan[i].task_id.clone(),
                version: start.plan[i].task_version,
                file_name: format!("task_{i}.wasm"),
                module_digest: start.plan[i].module_digest,
            })
            .collect(),
    };
    let mut whole = start.clone();
    whole.suite.digest = manifest(&[0, 1, 2, 3]).digest();
    let report = check_suite(&whole, &manifest(&[0, 1, 2, 3]), &SuiteSource::Embedded);
    assert_eq!(report.status, Status::Passed, "{report}");

    // Tasks 1 and 3 are not in the suite, and so its digest differs too.
    let report = check_suite(&whole, &manifest(&[0, 2]), &SuiteSource::Embedded);
    assert_eq!(
        report.status,
        Status::Failed(
            "plan entry 1 (task task-1 epoch 0): the task is not in suite \"default\" \
             (and 2 more failures)"
                .into()
        ),
        "{report}"
    );
}

/// The suite level checks the plan is the runner's plan of the whole suite
/// (every task, in suite order, epochs 0 to E − 1 each, none repeated),
/// and its note says what the plan covers.
#[test]
fn suite_level_requires_the_whole_suite_and_reports_coverage() {
    use airlock_attest::suite_check::{SuiteSource, check_suite};
    use airlock_core::record::PlannedTask;
    use airlock_core::suite::{ManifestTask, SuiteManifest};

    // A suite of 8 tasks.
    let suite = run_start(&key().public_key(), 8, 1);
    let manifest = SuiteManifest {
        name: "default".into(),
        tasks: suite
            .plan
            .iter()
            .enumerate()
            .map(|(i, p)| ManifestTask {
                task_id: p.task_id.clone(),
                version: p.task_version,
                file_name: format!("task_{i}.wasm"),
                module_digest: p.module_digest,
            })
            .collect(),
    };
    let with_plan = |plan: Vec<PlannedTask>| {
        let mut start = suite.clone();
        start.suite.digest = manifest.digest();
        start.plan = plan;
        check_suite(&start, &manifest, &SuiteSource::Embedded)
    };
    let tasks = &suite.plan;
    let epochs = |chosen: &[usize], n: u32| -> Vec<PlannedTask> {
        chosen
            .iter()
            .flat_map(|&t| {
                (0..n).map(move |epoch| PlannedTask {
                    epoch,
                    ..tasks[t].clone()
                })
            })
            .collect()
    };
    let all: Vec<usize> = (0..8).collect();

    let whole = with_plan(epochs(&all, 3));
    assert_eq!(whole.status, Status::Passed, "{whole}");
    assert!(
        whole.note.as_deref().unwrap().ends_with(
            "the plan holds all 8 tasks of the suite, epochs 0 to 2 of each (24 entries)"
        ),
        "{whole}"
    );

    // 2 of the suite's 8 tasks, under the whole suite's digest.
    let two = with_plan(epochs(&[0, 1], 1));
    assert_eq!(
        two.status,
        Status::Failed(
            "the plan holds 2 of the 8 tasks of suite \"default\" (not planned: task-2, task-3, \
             task-4, task-5, task-6 and 1 more): a run of the suite plans every task"
                .into()
        ),
        "{two}"
    );
    assert!(
        two.note.as_deref().unwrap().ends_with(
            "the plan holds 2 of the suite's 8 tasks (not planned: task-2, task-3, task-4, \
             task-5, task-6 and 1 more), epoch 0 of each (2 entries)"
        ),
        "{two}"
    );

    // The same two tasks, as a recorded selection: passes, and says so.
    let selected = |ids: &[&str], plan: Vec<PlannedTask>| {
        let mut start = suite.clone();
        start.suite.digest = manifest.digest();
        start.plan = plan;
        start.selection = Some(ids.iter().map(|id| (*id).to_owned()).collect());
        check_suite(&start, &manifest, &SuiteSource::Embedded)
    };
    let two = selected(&["task-2", "task-5"], epochs(&[2, 5], 3));
    assert_eq!(two.status, Status::Passed, "{two}");
    assert!(
        two.note.as_deref().unwrap().ends_with(
            "the plan holds 2 of the 2 tasks selected from the suite's 8, epochs 0 to 2 of \
             each (6 entries)"
        ),
        "{two}"
    );
    // A selected task left out, one not selected planned, one not in the suite.
    let report = selected(&["task-2", "task-5"], epochs(&[2], 1));
    assert_eq!(
        report.status,
        Status::Failed(
            "the plan holds 1 of the 2 tasks RunStart selected from suite \"default\" \
             (not planned: task-5): a run plans every task it selects"
                .into()
        ),
        "{report}"
    );
    let report = selected(&["task-2"], epochs(&[2, 5], 1));
    assert_eq!(
        report.status,
        Status::Failed(
            "plan entry 1 (task task-5 epoch 0): the task is not among the tasks RunStart \
             selected"
                .into()
        ),
        "{report}"
    );
    let report = selected(&["task-2", "nope"], epochs(&[2], 1));
    assert_eq!(
        report.status,
        Status::Failed(
            "RunStart's selection names task nope, which is not in suite \"default\"".into()
        ),
        "{report}"
    );
    // Selected tasks out of suite order.
    let report = selected(&["task-2", "task-5"], epochs(&[5, 2], 1));
    assert!(
        report
            .status
            .reason()
            .unwrap()
            .starts_with("plan entry 0 (task task-5 epoch 0) is out of the runner's order"),
        "{report}"
    );

    // One entry repeated.
    let mut repeated = epochs(&all, 1);
    repeated.insert(4, repeated[3].clone());
    let report = with_plan(repeated);
    assert_eq!(
        report.status,
        Status::Failed("plan entry 4 (task task-3 epoch 0) repeats plan entry 3".into()),
        "{report}"
    );

    // Every task, but in another order.
    let mut swapped = epochs(&all, 2);
    swapped.swap(1, 2);
    let report = with_plan(swapped);
    assert!(
        report
            .status
            .reason()
            .unwrap()
            .starts_with("plan entry 1 (task task-1 epoch 0) is out of the runner's order"),
        "{report}"
    );

    // Epochs that differ between tasks.
    let mut uneven = epochs(&all, 1);
    uneven.push(PlannedTask {
        epoch: 1,
        ..suite.plan[7].clone()
    });
    let report = with_plan(uneven);
    assert!(
        report
            .status
            .reason()
            .unwrap()
            .starts_with("the plan's 9 entries are not"),
        "{report}"
    );
    assert!(
        report
            .note
            .as_deref()
            .unwrap()
            .contains("epochs that differ from task to task"),
        "{report}"
    );
}
