//! Offline verification of a bundle, level by level (SPEC.md, "Verification").
//!
//! One streamed pass: memory is one frame and one plan entry, whatever the
//! number of records. The plan is not held: RunStart is decoded as it is
//! hashed and its plan read again alongside the results
//! ([`crate::plan_stream`]). Each level is reported on its own, with the
//! first failing record named, so a verifier learns what is wrong and where.

use core::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use airlock_core::Digest;
use airlock_core::chain::{GENESIS, chain_hash, signed_message};
use airlock_core::record::{
    Record, RunEnd, RunEndReason, RunStart, Signature, StationLink, TaskResult,
};
use airlock_core::{Outcome, Ppm};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::bundle::{BundleError, BundleReader, open_bundle};
use crate::error::{AttestError, io_err};
use crate::keys::PublicKey;
use crate::plan_stream::{
    FirstRecord, KeepPlan, PlanCursor, PlanSource, StreamedStart, decode_first,
};

/// The `format` value of the JSON verdict.
pub const VERDICT_FORMAT: &str = "airlock-verdict/1";

/// A verification level (DESIGN.md, "Verification levels").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Level {
    /// The bundle parses under its declared format version.
    Decode,
    /// Every record verifies under a trusted key.
    Signatures,
    /// Hashes link and sequence numbers are contiguous.
    Chain,
    /// Every planned result is present, in order, with RunEnd, and nothing else.
    Completeness,
    /// Module digests match a trusted suite manifest (checked by the runner).
    Suite,
    /// Re-execution from transcripts reproduces the results (checked by the runner).
    Replay,
    /// Disclosed transcripts open the commitments of their signed results
    /// (checked by the runner, `airlock verify --disclosed`).
    Disclosed,
}

impl Level {
    /// The stable name used in output and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Level::Decode => "decode",
            Level::Signatures => "signatures",
            Level::Chain => "chain",
            Level::Completeness => "completeness",
            Level::Suite => "suite",
            Level::Replay => "replay",
            Level::Disclosed => "disclosed",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of one level.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Status {
    /// Checked; nothing wrong.
    Passed,
    /// Checked; this is the first thing wrong.
    Failed(String),
    /// Not checked (or not completely), for this reason.
    NotChecked(String),
}

impl Status {
    /// "passed", "failed" or "not-checked".
    pub fn name(&self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed(_) => "failed",
            Status::NotChecked(_) => "not-checked",
        }
    }

    /// The reason, for a level that did not pass.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Passed => None,
            Status::Failed(r) | Status::NotChecked(r) => Some(r),
        }
    }
}

/// One level's line of a verdict.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LevelReport {
    /// The level.
    pub level: Level,
    /// What came of it.
    pub status: Status,
    /// Information that is not a failure, e.g. that a run was aborted.
    pub note: Option<String>,
}

impl fmt::Display for LevelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.level, self.status.name())?;
        if let Some(reason) = self.status.reason() {
            write!(f, ": {reason}")?;
        }
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

impl Serialize for LevelReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("LevelReport", 4)?;
        s.serialize_field("level", self.level.name())?;
        s.serialize_field("status", self.status.name())?;
        s.serialize_field("reason", &self.status.reason())?;
        s.serialize_field("note", &self.note)?;
        s.end()
    }
}

/// What the bundle says about its run, as far as it could be read.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RunSummary {
    /// Key id of the key in the bundle header.
    pub key_id: Option<Digest>,
    /// Run id from RunStart.
    pub run_id: Option<[u8; 16]>,
    /// Records read.
    pub records: u64,
    /// Plan length from RunStart.
    pub planned: Option<u64>,
    /// TaskResult records read.
    pub results: u64,
    /// Results with full credit.
    pub full_credit: u64,
    /// Sum of result scores, parts per million.
    pub score_sum: u64,
    /// RunEnd's reason, if a RunEnd was read.
    pub end: Option<RunEndReason>,
    /// The stored chain hash of the last record read: the run's final hash
    /// when the bundle verifies.
    pub final_hash: Option<Digest>,
    /// RunStart's station link (run counter and the previous run's RunStart
    /// chain hash).
    pub station: Option<StationLink>,
    /// The stored chain hash of the first RunStart: what the station's next
    /// run links to (SPEC.md, "Station chain").
    pub run_start_hash: Option<Digest>,
}

/// The decoded records, for callers that asked to collect them.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct CollectedRecords {
    /// The first RunStart.
    pub run_start: Option<RunStart>,
    /// Every TaskResult in order.
    pub results: Vec<TaskResult>,
    /// The first RunEnd.
    pub run_end: Option<RunEnd>,
}

/// The outcome of verifying a bundle.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Verdict {
    /// One report per level checked, in level order. The runner appends
    /// suite and replay reports when it checks them.
    pub levels: Vec<LevelReport>,
    /// What the bundle says about the run.
    pub summary: RunSummary,
    /// The records, if [`VerifyOptions::collect_records`] was set.
    pub records: Option<CollectedRecords>,
}

impl Verdict {
    /// True when every reported level passed.
    pub fn verified(&self) -> bool {
        !self.levels.is_empty() && self.levels.iter().all(|l| l.status == Status::Passed)
    }

    /// The report of `level`, if it is in the verdict.
    pub fn level(&self, level: Level) -> Option<&LevelReport> {
        self.levels.iter().find(|l| l.level == level)
    }

    /// The first level that failed.
    pub fn first_failure(&self) -> Option<&LevelReport> {
        self.levels
            .iter()
            .find(|l| matches!(l.status, Status::Failed(_)))
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = &self.summary;
        let mut out = serializer.serialize_struct("Verdict", 15)?;
        out.serialize_field("format", VERDICT_FORMAT)?;
        out.serialize_field("verified", &self.verified())?;
        out.serialize_field("levels", &self.levels)?;
        out.serialize_field("key_id", &s.key_id.map(|k| k.to_hex().to_string()))?;
        out.serialize_field(
            "run_id",
            &s.run_id.as_ref().map(|id| airlock_core::hex::encode(id)),
        )?;
        out.serialize_field("records", &s.records)?;
        out.serialize_field("planned", &s.planned)?;
        out.serialize_field("results", &s.results)?;
        out.serialize_field("full_credit", &s.full_credit)?;
        out.serialize_field("score_sum_ppm", &s.score_sum)?;
        out.serialize_field(
            "end",
            &s.end.as_ref().map(|r| match r {
                RunEndReason::Completed => "completed",
                RunEndReason::AbortedModelErrors(_) => "aborted-model-errors",
            }),
        )?;
        out.serialize_field("final_hash", &s.final_hash.map(|h| h.to_hex().to_string()))?;
        out.serialize_field(
            "station_run_counter",
            &s.station.as_ref().map(|l| l.run_counter),
        )?;
        out.serialize_field(
            "previous_run_start_hash",
            &s.station
                .as_ref()
                .map(|l| l.previous_run_start_hash.to_hex().to_string()),
        )?;
        out.serialize_field(
            "run_start_hash",
            &s.run_start_hash.map(|h| h.to_hex().to_string()),
        )?;
        out.end()
    }
}

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

/// Where the completeness check reads the plan the second time.
enum SecondRead {
    /// From the bundle file, through a second handle.
    File {
        /// The second handle.
        file: File,
        /// The bundle's path (for looking back).
        path: PathBuf,
    },
    /// From the plan's bytes, kept as the first read passed them.
    Kept,
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

/// The signature level's findings: the first bad record and how many.
#[derive(Clone, Copy, Default)]
struct SignatureFailures {
    first: Option<(u64, &'static str)>,
    count: u64,
}

impl SignatureFailures {
    fn add(&mut self, index: u64, kind: &'static str) {
        self.count += 1;
        if self.first.is_none_or(|(i, _)| index < i) {
            self.first = Some((index, kind));
        }
    }

    fn merge(&mut self, other: SignatureFailures) {
        if let Some((i, kind)) = other.first {
            self.add(i, kind);
            self.count += other.count - 1;
        }
    }
}

/// Where the streamed verifier hands each entry's signature to be checked.
trait SignatureCheck {
    /// Checks (now or later) the signature of entry `index`, of record kind
    /// `kind`, over its stored chain hash.
    fn submit(&mut self, index: u64, kind: &'static str, hash: Digest, signature: Signature);
    /// Every failure, once every submitted signature is checked.
    fn finish(&mut self) -> SignatureFailures;
}

/// Checks each signature on the calling thread.
struct InlineSignatures {
    key: PublicKey,
    failures: SignatureFailures,
}

impl InlineSignatures {
    fn new(key: PublicKey) -> InlineSignatures {
        InlineSignatures {
            key,
            failures: SignatureFailures::default(),
        }
    }
}

impl SignatureCheck for InlineSignatures {
    fn submit(&mut self, index: u64, kind: &'static str, hash: Digest, signature: Signature) {
        if !self.key.verify(&signed_message(&hash), &signature) {
            self.failures.add(index, kind);
        }
    }

    fn finish(&mut self) -> SignatureFailures {
        self.failures
    }
}

/// Signatures per batch handed to a worker: large enough that channel
/// traffic is noise next to the Ed25519 work, small enough that a batch is
/// a few kilobytes.
const BATCH: usize = 128;

/// One signature to check: record index, kind, chain hash and signature.
type Job = (u64, &'static str, Digest, Signature);

/// Checks one batch of signatures.
fn check_batch(key: &PublicKey, batch: Vec<Job>) -> SignatureFailures {
    let mut failures = SignatureFailures::default();
    for (index, kind, hash, signature) in batch {
        if !key.verify(&signed_message(&hash), &signature) {
            failures.add(index, kind);
        }
    }
    failures
}

/// `threads − 1` worker threads checking signatures in batches, and the
/// calling thread, which reads, decodes and chains the records, checking a
/// batch itself whenever the workers are all busy. So `threads` threads are
/// busy, not `threads + 1` competing for `threads` cores. The job channel
/// is bounded (two batches per worker), so a fast reader does not buffer
/// the bundle: memory stays flat.
struct PooledSignatures {
    key: PublicKey,
    jobs: Option<SyncSender<Vec<Job>>>,
    done: Receiver<SignatureFailures>,
    batch: Vec<Job>,
    sent: u64,
    received: u64,
    failures: SignatureFailures,
}

impl PooledSignatures {
    fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        key: PublicKey,
        threads: usize,
    ) -> PooledSignatures {
        let workers = threads.saturating_sub(1).max(1);
        let (jobs, inbox) = std::sync::mpsc::sync_channel::<Vec<Job>>(workers * 2);
        let (report, done) = std::sync::mpsc::channel();
        let inbox = std::sync::Arc::new(std::sync::Mutex::new(inbox));
        for _ in 0..workers {
            let inbox = std::sync::Arc::clone(&inbox);
            let report = report.clone();
            scope.spawn(move || {
                loop {
                    // The lock is held only to take the next batch.
                    let batch = match inbox.lock() {
                        Ok(inbox) => inbox.recv(),
                        Err(_) => return,
                    };
                    let Ok(batch) = batch else { return };
                    if report.send(check_batch(&key, batch)).is_err() {
                        return;
                    }
                }
            });
        }
        PooledSignatures {
            key,
            jobs: Some(jobs),
            done,
            batch: Vec::with_capacity(BATCH),
            sent: 0,
            received: 0,
            failures: SignatureFailures::default(),
        }
    }

    fn send_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = core::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let unsent = match &self.jobs {
            Some(jobs) => match jobs.try_send(batch) {
                Ok(()) => {
                    self.sent += 1;
                    None
                }
                Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => Some(batch),
            },
            None => Some(batch),
        };
        if let Some(batch) = unsent {
            let failures = check_batch(&self.key, batch);
            self.failures.merge(failures);
        }
        while let Ok(f) = self.done.try_recv() {
            self.received += 1;
            self.failures.merge(f);
        }
    }
}

impl SignatureCheck for PooledSignatures {
    fn submit(&mut self, index: u64, kind: &'static str, hash: Digest, signature: Signature) {
        self.batch.push((index, kind, hash, signature));
        if self.batch.len() == BATCH {
            self.send_batch();
        }
    }

    fn finish(&mut self) -> SignatureFailures {
        self.send_batch();
        // Closing the channel ends the workers once it is drained.
        self.jobs = None;
        while self.received < self.sent {
            match self.done.recv() {
                Ok(f) => {
                    self.received += 1;
                    self.failures.merge(f);
                }
                Err(_) => break,
            }
        }
        self.failures
    }
}

/// The input after its header, and where to read the plan again.
struct Stream<R> {
    reader: BundleReader<R>,
    second: Option<SecondRead>,
}

/// One frame as the levels see it.
struct Seen {
    offset: u64,
    seq: u64,
    stored_hash: Digest,
    signature: Signature,
    computed_hash: Digest,
    record: Result<Decoded, postcard::Error>,
}

/// A decoded record: the first RunStart streamed, anything else whole.
enum Decoded {
    Start(StreamedStart),
    Record(Record),
}

impl<R: Read> Stream<R> {
    /// The next frame. The first is streamed: it is the RunStart, whose
    /// plan grows with the bundle.
    fn next(
        &mut self,
        index: u64,
        prev: &Digest,
        keep: KeepPlan,
    ) -> Result<Option<Seen>, BundleError> {
        if index == 0 {
            let Some((parts, (computed_hash, record))) = self
                .reader
                .next_streamed(|seq, body| decode_first(prev, seq, body, keep))?
            else {
                return Ok(None);
            };
            return Ok(Some(Seen {
                offset: parts.offset,
                seq: parts.seq,
                stored_hash: parts.chain_hash,
                signature: parts.signature,
                computed_hash,
                record: record.map(|r| match r {
                    FirstRecord::Start(start) => {
                        Decoded::Start(start.in_file_at(parts.body_offset))
                    }
                    FirstRecord::Other(record) => Decoded::Record(record),
                }),
            }));
        }
        let Some(frame) = self.reader.next_entry()? else {
            return Ok(None);
        };
        let entry = frame.entry;
        Ok(Some(Seen {
            offset: frame.offset,
            seq: entry.seq,
            stored_hash: entry.chain_hash,
            signature: entry.signature,
            computed_hash: chain_hash(prev, entry.seq, &entry.body),
            record: Record::from_bytes(&entry.body).map(Decoded::Record),
        }))
    }

    /// Where to read the plan of `start` again.
    fn plan_source(&mut self, start: &mut StreamedStart) -> PlanSource {
        match self.second.take() {
            Some(SecondRead::File { file, path }) => PlanSource::File {
                file,
                path,
                offset: start.plan_bytes.start,
            },
            Some(SecondRead::Kept) | None => {
                PlanSource::Memory(start.spilled.take().unwrap_or_default().into())
            }
        }
    }
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

fn report(level: Level, status: Status) -> LevelReport {
    LevelReport {
        level,
        status,
        note: None,
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

/// How a reason names a record: `record 5 (TaskResult)`. Formatted only
/// when a reason is written, not for every record read.
struct Label(u64, &'static str);

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {} ({})", self.0, self.1)
    }
}

/// The first failure of a level and how many more records failed it.
#[derive(Default)]
struct Tally {
    first: Option<String>,
    more: u64,
}

impl Tally {
    fn fail(&mut self, reason: String) {
        if self.first.is_none() {
            self.first = Some(reason);
        } else {
            self.more += 1;
        }
    }

    fn status(self) -> Status {
        match self.first {
            None => Status::Passed,
            Some(r) if self.more == 0 => Status::Failed(r),
            Some(r) => Status::Failed(format!("{r} (and {} more failures)", self.more)),
        }
    }
}

/// The completeness level as a state machine over the records in order.
struct Completeness {
    key_id: Digest,
    failure: Option<String>,
    not_checked: Option<String>,
    plan: Option<PlanCursor>,
    next: u64,
    results: u64,
    full_credit: u64,
    score_sum: u64,
    /// Model errors in a row at the end of the results so far: what an
    /// abort's count must be.
    trailing_model_errors: u64,
    ended: bool,
    note: Option<String>,
}

/// How a reason names plan entry `i`: `plan entry 3 (task x epoch 1)`.
fn describe(plan: &mut PlanCursor, i: u64) -> String {
    match plan.get(i) {
        Ok(Some(p)) => format!("plan entry {i} (task {} epoch {})", p.task_id, p.epoch),
        _ => format!("plan entry {i}"),
    }
}

impl Completeness {
    fn new(key_id: Digest) -> Completeness {
        Completeness {
            key_id,
            failure: None,
            not_checked: None,
            plan: None,
            next: 0,
            results: 0,
            full_credit: 0,
            score_sum: 0,
            trailing_model_errors: 0,
            ended: false,
            note: None,
        }
    }

    fn not_checked(&mut self, why: String) {
        if self.failure.is_none() && self.not_checked.is_none() {
            self.not_checked = Some(why);
        }
    }

    fn fail(&mut self, reason: String) {
        if self.failure.is_none() && self.not_checked.is_none() {
            self.failure = Some(reason);
        }
    }

    /// The first record, a RunStart: the plan the results must follow.
    fn start(&mut self, label: &Label, start: &StreamedStart, source: PlanSource) {
        if self.failure.is_some() || self.not_checked.is_some() {
            return;
        }
        if label.0 != 0 {
            return self.fail(format!("{label}: a second RunStart"));
        }
        if start.evaluator_key_id() != self.key_id {
            return self.fail(format!(
                "{label}: evaluator key id {} is not the signing key's id {}",
                start.evaluator_key_id(),
                self.key_id
            ));
        }
        self.plan = Some(PlanCursor::new(start, source));
    }

    fn feed(&mut self, index: u64, label: &Label, record: &Record) {
        if self.failure.is_some() || self.not_checked.is_some() {
            return;
        }
        if let Err(reason) = self.check(index, label, record) {
            self.failure = Some(reason);
        }
    }

    fn check(&mut self, index: u64, label: &Label, record: &Record) -> Result<(), String> {
        if self.ended {
            return Err(format!("{label}: record after RunEnd"));
        }
        if index == 0 {
            // A first record that is a RunStart is streamed (`start`); a
            // whole one here is any other kind.
            return Err(format!("{label}: the first record must be RunStart"));
        }
        let Some(plan) = self.plan.as_mut() else {
            return Err(format!("{label}: there is no plan to check it against"));
        };
        let n = plan.len();
        match record {
            Record::RunStart(_) => Err(format!("{label}: a second RunStart")),
            Record::TaskResult(r) => {
                let pi = u64::from(r.plan_index);
                if pi < self.next {
                    return Err(format!(
                        "{label}: duplicate result for {}",
                        describe(plan, pi)
                    ));
                }
                if self.next >= n {
                    return Err(format!(
                        "{label}: extra result for plan entry {pi}; all {n} planned results are present"
                    ));
                }
                if pi >= n {
                    return Err(format!(
                        "{label}: result for plan entry {pi}, beyond the plan of {n} entries"
                    ));
                }
                if pi > self.next {
                    return Err(format!(
                        "{label}: result for plan entry {pi}, but {} has no result before it",
                        describe(plan, self.next)
                    ));
                }
                let (same_task, planned_digest, same_epoch) = match plan.get(pi) {
                    Ok(Some(p)) => (r.task_id == p.task_id, p.module_digest, r.epoch == p.epoch),
                    Ok(None) => return Err(format!("{label}: plan entry {pi} cannot be read")),
                    Err(e) => return Err(format!("{label}: {e}")),
                };
                if !same_task {
                    return Err(format!(
                        "{label}: task id {:?} differs from {}",
                        r.task_id,
                        describe(plan, pi)
                    ));
                }
                if r.module_digest != planned_digest {
                    return Err(format!(
                        "{label}: module digest {} differs from {}'s {}",
                        r.module_digest,
                        describe(plan, pi),
                        planned_digest
                    ));
                }
                if !same_epoch {
                    return Err(format!(
                        "{label}: epoch {} differs from {}",
                        r.epoch,
                        describe(plan, pi)
                    ));
                }
                if !r.score.is_valid() {
                    return Err(format!(
                        "{label}: score {} ppm is above full credit ({})",
                        r.score.0,
                        Ppm::FULL.0
                    ));
                }
                if r.outcome != Outcome::Done && r.score != Ppm::ZERO {
                    return Err(format!(
                        "{label}: score {} ppm with outcome {}; only done may score",
                        r.score.0, r.outcome
                    ));
                }
                self.next += 1;
                self.results += 1;
                self.full_credit += u64::from(r.score == Ppm::FULL);
                self.score_sum += u64::from(r.score.0);
                if matches!(r.outcome, Outcome::ModelError(_)) {
                    self.trailing_model_errors += 1;
                } else {
                    self.trailing_model_errors = 0;
                }
                Ok(())
            }
            Record::RunEnd(end) => {
                for (what, claimed, seen) in [
                    ("results", u64::from(end.results), self.results),
                    ("full_credit", u64::from(end.full_credit), self.full_credit),
                    ("score_sum", end.score_sum, self.score_sum),
                ] {
                    if claimed != seen {
                        return Err(format!(
                            "{label}: {what} total {claimed}, but the results before it give {seen}"
                        ));
                    }
                }
                match end.reason {
                    RunEndReason::Completed if self.next < n => {
                        return Err(format!(
                            "{label}: run ended as completed after {} of {n} planned results; {} has no result",
                            self.next,
                            describe(plan, self.next)
                        ));
                    }
                    RunEndReason::Completed => {}
                    // What the runner writes when it ends a run early
                    // (SPEC.md, "Verification", level 4): after n ≥ 1 model
                    // errors in a row, the last n results, and before the
                    // plan is done. The profile's limit is not known here.
                    RunEndReason::AbortedModelErrors(0) => {
                        return Err(format!(
                            "{label}: run ended as aborted after 0 consecutive model errors; \
                             a run ends early only after at least one"
                        ));
                    }
                    RunEndReason::AbortedModelErrors(errors) if self.next >= n => {
                        return Err(format!(
                            "{label}: run ended as aborted after {errors} consecutive model errors, \
                             but all {n} planned results are present (such a run is completed)"
                        ));
                    }
                    RunEndReason::AbortedModelErrors(errors)
                        if u64::from(errors) != self.trailing_model_errors =>
                    {
                        return Err(format!(
                            "{label}: run ended as aborted after {errors} consecutive model errors, \
                             but the {} results before it end with {} model errors in a row",
                            self.next, self.trailing_model_errors
                        ));
                    }
                    RunEndReason::AbortedModelErrors(errors) => {
                        self.note = Some(format!(
                            "aborted after {} of {n} planned results ({errors} consecutive model errors)",
                            self.next
                        ));
                    }
                }
                self.ended = true;
                Ok(())
            }
        }
    }

    fn finish(self, records: u64, last_kind: &str) -> (Status, Option<String>) {
        if let Some(reason) = self.failure {
            return (Status::Failed(reason), None);
        }
        if let Some(why) = self.not_checked {
            return (Status::NotChecked(why), None);
        }
        if records == 0 {
            return (
                Status::Failed("the bundle holds no records".to_owned()),
                None,
            );
        }
        let Some(mut plan) = self.plan else {
            return (
                Status::Failed("the bundle holds no RunStart".to_owned()),
                None,
            );
        };
        if !self.ended {
            let missing = if self.next < plan.len() {
                format!(
                    "; {} and after have no result",
                    describe(&mut plan, self.next)
                )
            } else {
                String::new()
            };
            return (
                Status::Failed(format!(
                    "the bundle ends after record {} ({last_kind}) without RunEnd: {} of {} planned results present{missing}",
                    records - 1,
                    self.next,
                    plan.len()
                )),
                None,
            );
        }
        if let Err(reason) = plan.finish() {
            return (Status::Failed(reason), None);
        }
        (Status::Passed, self.note)
    }
}
