//! Offline verification of a bundle, level by level (SPEC.md, "Verification").
//!
//! One streamed pass: memory is one frame and one plan entry, whatever the
//! number of records. The plan is not held: RunStart is decoded as it is
//! hashed and its plan read again alongside the results
//! ([`plan_stream`]). Each level is reported on its own, with the
//! first failing record named, so a verifier learns what is wrong and where.
//!
//! Here are the entry points and the one pass that drives the levels. Each
//! level's own checks ([`signatures`], [`completeness`]) sit in a file of
//! their own below it, importing only what the pass reports ([`verdict`])
//! and the plan's second read, so one level can be read and changed
//! without the others.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use airlock_core::Ppm;
use airlock_core::chain::GENESIS;
use airlock_core::record::{Record, RunEnd, RunStart, TaskResult};

use crate::bundle::{BundleError, BundleReader, open_bundle};
use crate::error::{AttestError, io_err};
use crate::keys::PublicKey;

mod completeness;
mod plan_stream;
mod signatures;
mod stream;
mod verdict;

use completeness::{Completeness, Label};
use plan_stream::KeepPlan;
use signatures::{InlineSignatures, PooledSignatures, SignatureCheck};
use stream::{Decoded, SecondRead, Stream};
pub use verdict::{
    CollectedRecords, Level, LevelReport, RunSummary, Status, VERDICT_FORMAT, Verdict,
};
use verdict::{Tally, report};

/// Options of [`verify_bundle`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Keep every decoded record in [`Verdict::records`] (memory grows with
    /// the bundle; a [`RecordVisitor`] avoids that).
    pub collect_records: bool,
    /// Threads that check signatures. 0 or 1: on the calling thread. More:
    /// that many workers check signatures in batches while the calling
    /// thread reads, decodes and checks the chain and completeness in
    /// order; the verdict is the same whatever the number.
    pub threads: usize,
}

impl VerifyOptions {
    /// Sets [`VerifyOptions::collect_records`].
    pub fn collect_records(mut self, collect: bool) -> VerifyOptions {
        self.collect_records = collect;
        self
    }

    /// Sets [`VerifyOptions::threads`].
    pub fn threads(mut self, threads: usize) -> VerifyOptions {
        self.threads = threads;
        self
    }
}

/// Receives each record as it is decoded, before the verdict is known: a
/// caller must not trust them unless the verdict is verified.
pub trait RecordVisitor {
    /// Whether [`RecordVisitor::run_start`] is wanted for the first record.
    /// Handing it over means building its whole plan, the one part of a
    /// bundle that grows with it, so a visitor that ignores RunStart says
    /// false and verification memory stays flat.
    fn wants_run_start(&self) -> bool {
        true
    }
    /// A RunStart at position `index`.
    fn run_start(&mut self, index: u64, record: &RunStart) {
        let _ = (index, record);
    }
    /// A TaskResult at position `index`.
    fn task_result(&mut self, index: u64, record: &TaskResult) {
        let _ = (index, record);
    }
    /// A RunEnd at position `index`.
    fn run_end(&mut self, index: u64, record: &RunEnd) {
        let _ = (index, record);
    }
}

struct NoVisitor;
impl RecordVisitor for NoVisitor {
    fn wants_run_start(&self) -> bool {
        false
    }
}

/// Verifies a bundle file. An unopenable file is an error (an input
/// problem, not a verification failure); everything else is in the verdict.
/// Memory stays flat in the bundle's size: the plan is read a second time
/// from the file rather than held (a pipe or device, which cannot be read
/// twice, keeps the plan's bytes instead).
pub fn verify_bundle_file(
    path: &Path,
    trusted: &[PublicKey],
    options: VerifyOptions,
) -> Result<Verdict, AttestError> {
    verify_bundle_file_with(path, trusted, options, &mut NoVisitor)
}

/// [`verify_bundle_file`], handing each decoded record to `visitor`.
pub fn verify_bundle_file_with(
    path: &Path,
    trusted: &[PublicKey],
    options: VerifyOptions,
    visitor: &mut dyn RecordVisitor,
) -> Result<Verdict, AttestError> {
    let reader = open_bundle(path)?;
    // A pipe or device (`/dev/stdin`, say) cannot be read twice: a second
    // handle would take bytes from the first. Its plan's bytes are kept.
    let regular = reader.get_ref().metadata().is_ok_and(|m| m.is_file());
    let second = if regular {
        // Opened now, so that a file that can be read once but not twice is
        // an input error before verification, not a level left unchecked.
        let file = File::open(path).map_err(io_err(path, "open"))?;
        SecondRead::File {
            file,
            path: path.to_path_buf(),
        }
    } else {
        SecondRead::Kept
    };
    Ok(verify_input(reader, second, trusted, options, visitor))
}

/// Verifies a bundle read from `reader` against the `trusted` keys. The
/// input is read once, so the plan's bytes are kept for the completeness
/// check (about 42 bytes a plan entry); [`verify_bundle_file`] avoids that.
pub fn verify_bundle(reader: impl Read, trusted: &[PublicKey], options: VerifyOptions) -> Verdict {
    verify_bundle_with(reader, trusted, options, &mut NoVisitor)
}

/// [`verify_bundle`], handing each decoded record to `visitor`.
pub fn verify_bundle_with(
    reader: impl Read,
    trusted: &[PublicKey],
    options: VerifyOptions,
    visitor: &mut dyn RecordVisitor,
) -> Verdict {
    verify_input(reader, SecondRead::Kept, trusted, options, visitor)
}

fn verify_input(
    reader: impl Read,
    second: SecondRead,
    trusted: &[PublicKey],
    options: VerifyOptions,
    visitor: &mut dyn RecordVisitor,
) -> Verdict {
    let summary = RunSummary::default();
    let collected = options.collect_records.then(CollectedRecords::default);
    let reader = match BundleReader::new(reader) {
        Ok(r) => r,
        Err(e) => {
            let why = "the bundle header did not decode".to_owned();
            return Verdict {
                levels: vec![
                    report(Level::Decode, Status::Failed(e.to_string())),
                    report(Level::Signatures, Status::NotChecked(why.clone())),
                    report(Level::Chain, Status::NotChecked(why.clone())),
                    report(Level::Completeness, Status::NotChecked(why)),
                ],
                summary,
                records: collected,
            };
        }
    };
    let key = reader.header().public_key;
    let stream = Stream {
        reader,
        second: Some(second),
    };
    if options.threads <= 1 {
        let mut sigs = InlineSignatures::new(key);
        return verify_frames(stream, trusted, visitor, summary, collected, &mut sigs);
    }
    std::thread::scope(|scope| {
        let mut sigs = PooledSignatures::start(scope, key, options.threads);
        verify_frames(stream, trusted, visitor, summary, collected, &mut sigs)
    })
}

/// The streamed pass over the frames after the header.
fn verify_frames<R: Read>(
    mut stream: Stream<R>,
    trusted: &[PublicKey],
    visitor: &mut dyn RecordVisitor,
    mut summary: RunSummary,
    mut collected: Option<CollectedRecords>,
    sigs: &mut dyn SignatureCheck,
) -> Verdict {
    let key = stream.reader.header().public_key;
    let key_id = key.key_id();
    summary.key_id = Some(key_id);

    let mut decode = Tally::default();
    let mut signatures = Tally::default();
    let mut chain = Tally::default();
    let mut completeness = Completeness::new(key_id);
    if let Some(weakness) = key.weakness() {
        // Trusted or not: a weak key vouches for nothing.
        signatures.fail(format!("signed by key {key_id}: {weakness}"));
    } else if !trusted.contains(&key) {
        signatures.fail(format!("signed by key {key_id}, not trusted"));
    }
    let keep = KeepPlan {
        entries: visitor.wants_run_start() || collected.is_some(),
        bytes: matches!(stream.second, Some(SecondRead::Kept)),
    };

    let mut index: u64 = 0;
    let mut prev = GENESIS;
    let mut last_kind = "";
    // Set when frames could not be read to the end: later records were never seen.
    let mut framing_lost: Option<String> = None;
    loop {
        let seen = match stream.next(index, &prev, keep) {
            Ok(Some(seen)) => seen,
            Ok(None) => break,
            Err(e) => {
                let lost = matches!(e, BundleError::Frame(_));
                let reason = match &e {
                    BundleError::Frame(f) => format!("record {index}: {f}"),
                    other => other.to_string(),
                };
                decode.fail(reason);
                if lost {
                    framing_lost = Some(format!(
                        "records from {index} on could not be read (decode failed)"
                    ));
                }
                break;
            }
        };
        let kind = match &seen.record {
            Ok(Decoded::Start(_)) => "RunStart",
            Ok(Decoded::Record(r)) => r.kind(),
            Err(_) => "undecodable",
        };
        let label = Label(index, kind);
        last_kind = kind;

        if let Err(e) = &seen.record {
            decode.fail(format!(
                "{label} at byte {}: record bytes do not decode: {e}",
                seen.offset
            ));
            completeness.not_checked(format!("{label} does not decode"));
        }
        sigs.submit(index, kind, seen.stored_hash, seen.signature);
        if seen.seq != index {
            chain.fail(format!(
                "{label}: sequence number {}, expected {index}",
                seen.seq
            ));
        }
        if seen.computed_hash != seen.stored_hash {
            chain.fail(format!(
                "{label}: stored chain hash does not match its bytes"
            ));
        }
        prev = seen.stored_hash;
        summary.final_hash = Some(seen.stored_hash);

        match seen.record {
            Ok(Decoded::Start(mut start)) => {
                if summary.run_id.is_none() {
                    summary.run_id = Some(start.run_id());
                    summary.planned = Some(start.plan_len);
                    summary.station = Some(start.station().clone());
                    summary.hardware = Some(start.hardware());
                    summary.run_start_hash = Some(seen.stored_hash);
                }
                let whole = start.to_run_start();
                if let Some(record) = &whole {
                    visitor.run_start(index, record);
                }
                if let Some(c) = collected.as_mut() {
                    c.run_start = whole;
                }
                let source = stream.plan_source(&mut start);
                completeness.start(&label, &start, source);
            }
            Ok(Decoded::Record(record)) => {
                completeness.feed(index, &label, &record);
                if matches!(record, Record::RunStart(_)) && summary.run_id.is_none() {
                    summary.run_start_hash = Some(seen.stored_hash);
                }
                summarize(&mut summary, &record);
                match &record {
                    Record::RunStart(r) => visitor.run_start(index, r),
                    Record::TaskResult(r) => visitor.task_result(index, r),
                    Record::RunEnd(r) => visitor.run_end(index, r),
                }
                if let Some(c) = collected.as_mut() {
                    match record {
                        Record::RunStart(r) if c.run_start.is_none() => c.run_start = Some(r),
                        Record::TaskResult(r) => c.results.push(r),
                        Record::RunEnd(r) if c.run_end.is_none() => c.run_end = Some(r),
                        _ => {}
                    }
                }
            }
            Err(_) => {}
        }
        index += 1;
    }
    summary.records = index;
    let failures = sigs.finish();
    if let Some((first, kind)) = failures.first {
        signatures.fail(format!(
            "record {first} ({kind}): signature does not verify"
        ));
        signatures.more += failures.count - 1;
    }

    let finish = |tally: Tally| match (tally.status(), &framing_lost) {
        (Status::Passed, Some(why)) => Status::NotChecked(why.clone()),
        (status, _) => status,
    };
    let (completeness_status, note) = match &framing_lost {
        Some(why) if completeness.failure.is_none() => (Status::NotChecked(why.clone()), None),
        _ => completeness.finish(index, last_kind),
    };
    Verdict {
        levels: vec![
            report(Level::Decode, decode.status()),
            report(Level::Signatures, finish(signatures)),
            report(Level::Chain, finish(chain)),
            LevelReport {
                level: Level::Completeness,
                status: completeness_status,
                note,
            },
        ],
        summary,
        records: collected,
    }
}

fn summarize(summary: &mut RunSummary, record: &Record) {
    match record {
        Record::RunStart(r) => {
            if summary.run_id.is_none() {
                summary.run_id = Some(r.run_id);
                summary.planned = Some(r.plan.len() as u64);
                summary.station = Some(r.station.clone());
            }
        }
        Record::TaskResult(r) => {
            summary.results += 1;
            summary.full_credit += u64::from(r.score == Ppm::FULL);
            summary.score_sum = summary.score_sum.saturating_add(u64::from(r.score.0));
        }
        Record::RunEnd(r) => {
            if summary.end.is_none() {
                summary.end = Some(r.reason.clone());
            }
        }
    }
}
