//! Run orchestration: plan, execute every task instance in its sandbox,
//! sign and chain each result into a durable journal, resume after a crash,
//! and write the bundle.
//!
//! Durability rule: a result is reported (progress, logs, output) only after
//! the journal holding it has been fsynced, and a result is appended only
//! after its sealed transcript is durable in `OUT.transcripts`. The journal
//! is `OUT.journal` while the run is in progress; the per-run transcript
//! secret (`OUT.secret`) and the sealed transcripts stay inside the enclave
//! after the run. Quick results are made durable in groups (one fsync per
//! file for a group), which keeps both rules (`GroupCommit`).

use core::fmt;
use core::time::Duration;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use airlock_attest::{AttestError, JournalWriter, Overwrite, SigningKey};
use airlock_core::digest::instance_seed;
use airlock_core::outcome::Outcome;
use airlock_core::record::{
    PlannedTask, ProfileRef, Record, RunEnd, RunEndReason, RunStart, RunnerBuild, StationLink,
    SuiteRef, TaskResult,
};
use airlock_core::transcript::{Transcript, commitment, opening_key};
use airlock_core::{Digest, Ppm};

use crate::agent::{Agent, SessionContext};
use crate::profile::HardwareProfile;
use crate::sandbox::{LoadedTask, Sandbox, WASMTIME_VERSION};
use crate::station::{Station, StationError};
use crate::suite::LoadedSuite;
use crate::transcripts::{StoreError, TranscriptKey, TranscriptWriter};

/// Whether a run starts anew or continues a journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMode {
    /// Start a new run; refuse if a journal for the output exists.
    Fresh,
    /// Continue the run in `OUT.journal` from its last durable record.
    Resume,
}

/// Everything a run needs besides the loaded parts.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Where the bundle goes.
    pub out: PathBuf,
    /// Run seed; random when `None` (and recorded either way).
    pub seed: Option<[u8; 32]>,
    /// Fresh or resumed.
    pub start: StartMode,
    /// Whether an existing bundle at `out` may be replaced.
    pub overwrite: Overwrite,
    /// Instances of each task.
    pub epochs: u32,
    /// The station state file (run counter and previous run's final hash).
    pub station: PathBuf,
    /// The station's transcript key file (created on first use).
    pub transcript_key: PathBuf,
}

/// The loaded parts of a run.
pub struct RunParts<'a> {
    /// The sandbox engine.
    pub sandbox: &'a Sandbox,
    /// The suite.
    pub suite: &'a LoadedSuite,
    /// The profile.
    pub profile: &'a HardwareProfile,
    /// The agent answering for the model.
    pub agent: &'a dyn Agent,
    /// The evaluator key.
    pub key: &'a SigningKey,
}

impl fmt::Debug for RunParts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunParts")
            .field("suite", &self.suite.name)
            .field("profile", &self.profile.name)
            .finish_non_exhaustive()
    }
}

/// What a finished run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The bundle written.
    pub bundle: PathBuf,
    /// The signed plan.
    pub run_start: RunStart,
    /// Every result, in plan order.
    pub results: Vec<TaskResult>,
    /// Totals.
    pub run_end: RunEnd,
    /// How many results this invocation added (fewer than all when resumed).
    pub executed: usize,
}

/// Why a run could not be carried out. Task and model failures are not
/// errors: they are recorded outcomes.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// Signing, journal or bundle I/O failed.
    Attest(AttestError),
    /// The bundle file exists and `--force` was not given.
    OutputExists(PathBuf),
    /// A journal for this output exists: the run was interrupted.
    JournalExists(PathBuf),
    /// `--resume` found no journal.
    NothingToResume(PathBuf),
    /// The journal does not belong to this suite, profile, key or seed.
    ResumeMismatch {
        /// The journal.
        path: PathBuf,
        /// What differs.
        problem: String,
    },
    /// A file next to the output could not be read or written.
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        doing: &'static str,
        /// The error.
        error: std::io::Error,
    },
    /// The station state file is unusable.
    Station(StationError),
    /// The sealed transcript store or its key is unusable.
    Transcripts(StoreError),
    /// The operating system's random generator failed.
    Random(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Attest(e) => write!(f, "{e}"),
            RunError::OutputExists(p) => write!(
                f,
                "{}: already exists; choose another --out or pass --force to replace it",
                p.display()
            ),
            RunError::JournalExists(p) => write!(
                f,
                "{}: an interrupted run's journal is here; continue it with --resume or delete it",
                p.display()
            ),
            RunError::NothingToResume(p) => {
                write!(f, "{}: no journal to resume", p.display())
            }
            RunError::ResumeMismatch { path, problem } => {
                write!(f, "{}: cannot resume: {problem}", path.display())
            }
            RunError::Io { path, doing, error } => {
                write!(f, "{}: could not {doing}: {error}", path.display())
            }
            RunError::Station(e) => write!(f, "{e}"),
            RunError::Transcripts(e) => write!(f, "{e}"),
            RunError::Random(e) => write!(f, "random generator: {e}"),
        }
    }
}

impl core::error::Error for RunError {}

impl From<AttestError> for RunError {
    fn from(e: AttestError) -> RunError {
        RunError::Attest(e)
    }
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> RunError {
        RunError::Transcripts(e)
    }
}

impl From<StationError> for RunError {
    fn from(e: StationError) -> RunError {
        RunError::Station(e)
    }
}

/// Called after each result is durable.
pub trait Progress {
    /// The run has `total` planned results, `done` of them already durable.
    fn start(&mut self, total: u64, done: u64);
    /// One more result is durable.
    fn result(&mut self, result: &TaskResult);
    /// The run is over.
    fn finish(&mut self);
}

/// Progress that shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _total: u64, _done: u64) {}
    fn result(&mut self, _result: &TaskResult) {}
    fn finish(&mut self) {}
}

/// The journal path for a bundle path.
pub fn journal_path(out: &Path) -> PathBuf {
    with_suffix(out, ".journal")
}

/// The run-secret path for a bundle path.
pub fn secret_path(out: &Path) -> PathBuf {
    with_suffix(out, ".secret")
}

/// The sealed transcript store path for a bundle path.
pub fn transcripts_path(out: &Path) -> PathBuf {
    with_suffix(out, ".transcripts")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], RunError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| RunError::Random(e.to_string()))?;
    Ok(out)
}

/// blake3 of the running executable, recorded so a verifier knows which
/// build produced the fuel counts. Computed once per process, streamed: the
/// binary (tens of MB with its line tables) is never held in memory at once.
pub fn executable_digest() -> Digest {
    static DIGEST: OnceLock<Digest> = OnceLock::new();
    *DIGEST.get_or_init(|| {
        let hash = || -> std::io::Result<Digest> {
            let file = std::fs::File::open(std::env::current_exe()?)?;
            let mut hasher = blake3::Hasher::new();
            hasher.update_reader(file)?;
            Ok(Digest(*hasher.finalize().as_bytes()))
        };
        hash().unwrap_or(Digest::ZERO)
    })
}

/// Starts [`executable_digest`] on a thread of its own, so that hashing the
/// binary overlaps what comes before a run (compiling the suite's modules);
/// the run's own call then waits for it if it is not done.
pub fn prefetch_executable_digest() {
    std::thread::spawn(executable_digest);
}

/// Runs (or resumes) a suite and writes the bundle.
pub fn execute(
    parts: &RunParts<'_>,
    options: &RunOptions,
    progress: &mut dyn Progress,
) -> Result<RunReport, RunError> {
    let journal = journal_path(&options.out);
    if options.overwrite == Overwrite::Refuse
        && options.start == StartMode::Fresh
        && options.out.exists()
    {
        return Err(RunError::OutputExists(options.out.clone()));
    }
    let (mut writer, run_start, mut results, finished, secret, mut sealed) = match options.start {
        StartMode::Fresh => {
            if journal.exists() {
                return Err(RunError::JournalExists(journal));
            }
            let (writer, run_start, secret, sealed) = begin(parts, options, &journal)?;
            (writer, run_start, Vec::new(), None, secret, sealed)
        }
        StartMode::Resume => {
            if !journal.exists() {
                return Err(RunError::NothingToResume(journal));
            }
            reopen(parts, options, &journal)?
        }
    };

    let tasks = plan_tasks(parts.suite, &run_start, &journal)?;
    let plan_len = run_start.plan.len();
    progress.start(plan_len as u64, results.len() as u64);
    let already = results.len();
    let run_end = match finished {
        Some(end) => end,
        None => {
            let max_errors = parts.profile.max_consecutive_model_errors;
            let mut consecutive_model_errors = trailing_model_errors(&results);
            let mut aborted = consecutive_model_errors >= max_errors;
            let mut batch = GroupCommit::default();
            for (plan_index, task) in tasks.iter().enumerate().skip(results.len()) {
                if aborted {
                    break;
                }
                let started = Instant::now();
                let (result, transcript) = run_one(parts, task, &run_start, plan_index, &secret);
                sealed.write(plan_index as u32, &transcript)?;
                if matches!(result.outcome, Outcome::ModelError(_)) {
                    consecutive_model_errors += 1;
                    aborted = consecutive_model_errors >= max_errors;
                } else {
                    consecutive_model_errors = 0;
                }
                batch.push(result, started.elapsed());
                if batch.due() {
                    batch.commit(&mut sealed, &mut writer, parts.key, progress, &mut results)?;
                }
            }
            batch.commit(&mut sealed, &mut writer, parts.key, progress, &mut results)?;
            let reason = if aborted && results.len() < plan_len {
                tracing::warn!(
                    consecutive_model_errors,
                    "ending the run early after consecutive model errors"
                );
                RunEndReason::AbortedModelErrors(consecutive_model_errors)
            } else {
                RunEndReason::Completed
            };
            let end = totals(&results, reason);
            writer.append(parts.key, &Record::RunEnd(end.clone()))?;
            writer.sync()?;
            end
        }
    };
    progress.finish();

    let final_hash = writer.last_hash();
    drop(sealed);
    // Every entry of the journal was signed here or verified on resume, so
    // the conversion checks them by identity, not by Ed25519 once more.
    writer.into_bundle(&options.out, options.overwrite)?;
    Station::record_finished(&options.station, run_start.station.run_counter, &final_hash)?;
    // The bundle now holds every record; the journal has served its purpose.
    std::fs::remove_file(&journal).map_err(|error| RunError::Io {
        path: journal.clone(),
        doing: "remove the finished journal",
        error,
    })?;
    Ok(RunReport {
        bundle: options.out.clone(),
        run_start,
        executed: results.len() - already,
        results,
        run_end,
    })
}

/// Results that ran but are not durable yet. Fast tasks would spend most
/// of a run waiting for two fsyncs each, so results are committed in groups:
/// one fsync of the sealed transcripts, then the results are appended and
/// the journal fsynced once. The durability rules still hold for each
/// result: it is appended only after its transcript is durable and
/// reported only after the journal holding it is.
#[derive(Default)]
struct GroupCommit {
    pending: Vec<TaskResult>,
    opened: Option<Instant>,
    last_task: Duration,
}

/// How long a group may stay open. Groups are checked as each task ends,
/// so a finished result waits for durability at most this long plus the
/// task running when it ran out; that bounds the work a crash takes back.
/// A task that alone takes this long commits at once, so slow tasks (real
/// model calls) commit one by one as before.
const GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(100);

/// Most results in one group, which bounds the memory they hold.
const GROUP_COMMIT_MAX: usize = 1024;

impl GroupCommit {
    fn push(&mut self, result: TaskResult, took: Duration) {
        self.opened.get_or_insert_with(Instant::now);
        self.pending.push(result);
        self.last_task = took;
    }

    fn due(&self) -> bool {
        self.pending.len() >= GROUP_COMMIT_MAX
            || self.last_task >= GROUP_COMMIT_WINDOW
            || self
                .opened
                .is_some_and(|opened| opened.elapsed() >= GROUP_COMMIT_WINDOW)
    }

    /// Makes the group durable, transcripts first, then reports each result.
    fn commit(
        &mut self,
        sealed: &mut TranscriptWriter,
        writer: &mut JournalWriter,
        key: &SigningKey,
        progress: &mut dyn Progress,
        results: &mut Vec<TaskResult>,
    ) -> Result<(), RunError> {
        self.opened = None;
        if self.pending.is_empty() {
            return Ok(());
        }
        // The transcripts are durable before any result that commits to
        // one exists anywhere.
        sealed.sync()?;
        for result in &self.pending {
            writer.append(key, &Record::TaskResult(result.clone()))?;
        }
        writer.sync()?;
        for result in self.pending.drain(..) {
            tracing::info!(
                task = %result.task_id,
                epoch = result.epoch,
                outcome = %result.outcome,
                score = %result.score,
                fuel = result.fuel_consumed,
                "result durable"
            );
            progress.result(&result);
            results.push(result);
        }
        Ok(())
    }
}

type Opened = (
    JournalWriter,
    RunStart,
    Vec<TaskResult>,
    Option<RunEnd>,
    [u8; 32],
    TranscriptWriter,
);

fn begin(
    parts: &RunParts<'_>,
    options: &RunOptions,
    journal: &Path,
) -> Result<(JournalWriter, RunStart, [u8; 32], TranscriptWriter), RunError> {
    let seed = match options.seed {
        Some(seed) => seed,
        None => random_bytes()?,
    };
    let transcript_key = TranscriptKey::load_or_create(&options.transcript_key)?;
    let secret: [u8; 32] = random_bytes()?;
    write_secret(&secret_path(&options.out), &secret)?;
    let station = Station::load(&options.station)?;
    let mut plan = Vec::new();
    for task in &parts.suite.tasks {
        for epoch in 0..options.epochs {
            plan.push(PlannedTask {
                task_id: task.info.id.clone(),
                task_version: task.info.version,
                module_digest: task.digest,
                epoch,
            });
        }
    }
    let run_start = RunStart {
        run_id: random_bytes()?,
        started_at_unix_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        suite: SuiteRef {
            name: parts.suite.name.clone(),
            digest: parts.suite.digest,
            trust: parts.suite.trust.clone(),
        },
        plan,
        profile: ProfileRef {
            name: parts.profile.name.clone(),
            digest: parts.profile.digest(),
        },
        runner: RunnerBuild {
            airlock_version: env!("CARGO_PKG_VERSION").into(),
            wasmtime_version: WASMTIME_VERSION.into(),
            engine_settings: parts.sandbox.settings_digest(),
            executable: executable_digest(),
        },
        model: parts.agent.descriptor(),
        seed,
        evaluator_key_id: parts.key.key_id(),
        station: StationLink {
            run_counter: station.run_counter + 1,
            previous_run_final_hash: station.final_hash,
        },
    };
    let sealed = TranscriptWriter::create(
        &transcripts_path(&options.out),
        run_start.run_id,
        transcript_key,
    )?;
    let mut writer = JournalWriter::create(journal, &parts.key.public_key())?;
    writer.append(parts.key, &Record::RunStart(run_start.clone()))?;
    writer.sync()?;
    Ok((writer, run_start, secret, sealed))
}

fn reopen(parts: &RunParts<'_>, options: &RunOptions, journal: &Path) -> Result<Opened, RunError> {
    let (writer, state) = JournalWriter::resume(journal, &parts.key.public_key())?;
    if let Some(torn) = state.torn_tail {
        tracing::warn!(
            offset = torn.offset,
            bytes = torn.len,
            "cut a torn record off the journal's tail"
        );
    }
    let mismatch = |problem: String| RunError::ResumeMismatch {
        path: journal.to_path_buf(),
        problem,
    };
    let mut records = state.entries.into_iter().map(|e| e.record);
    let run_start = match records.next() {
        Some(Record::RunStart(start)) => start,
        Some(other) => {
            return Err(mismatch(format!(
                "its first record is {}, not RunStart",
                other.kind()
            )));
        }
        None => {
            // Killed between creating the journal and making RunStart
            // durable: nothing was promised yet, so start afresh.
            drop(writer);
            std::fs::remove_file(journal).map_err(|error| RunError::Io {
                path: journal.to_path_buf(),
                doing: "remove the empty journal",
                error,
            })?;
            tracing::warn!("the journal held no record; starting the run afresh");
            let (writer, run_start, secret, sealed) = begin(parts, options, journal)?;
            return Ok((writer, run_start, Vec::new(), None, secret, sealed));
        }
    };
    if let Some(seed) = options.seed
        && seed != run_start.seed
    {
        return Err(mismatch("it was started with another --seed".into()));
    }
    if run_start.suite.digest != parts.suite.digest {
        return Err(mismatch(format!(
            "it was started with suite {} ({}), not {} ({})",
            run_start.suite.name, run_start.suite.digest, parts.suite.name, parts.suite.digest
        )));
    }
    if run_start.profile.digest != parts.profile.digest() {
        return Err(mismatch(format!(
            "it was started with profile \"{}\", whose limits differ from \"{}\"",
            run_start.profile.name, parts.profile.name
        )));
    }
    let mut results = Vec::new();
    let mut finished = None;
    for record in records {
        match record {
            Record::TaskResult(result) => results.push(result),
            Record::RunEnd(end) => finished = Some(end),
            Record::RunStart(_) => return Err(mismatch("it holds a second RunStart".into())),
        }
    }
    let secret = read_secret(&secret_path(&options.out))?;
    let sealed = TranscriptWriter::resume(
        &transcripts_path(&options.out),
        run_start.run_id,
        TranscriptKey::load(&options.transcript_key)?,
        results.len() as u32,
    )?;
    tracing::info!(
        durable = results.len(),
        planned = run_start.plan.len(),
        "resuming from the journal"
    );
    Ok((writer, run_start, results, finished, secret, sealed))
}

/// Finds the loaded module of every plan entry, so a resumed plan that names
/// a module this suite lacks is refused before anything runs.
fn plan_tasks<'s>(
    suite: &'s LoadedSuite,
    run_start: &RunStart,
    journal: &Path,
) -> Result<Vec<&'s LoadedTask>, RunError> {
    run_start
        .plan
        .iter()
        .map(|planned| {
            suite
                .tasks
                .iter()
                .find(|t| t.digest == planned.module_digest)
                .ok_or_else(|| RunError::ResumeMismatch {
                    path: journal.to_path_buf(),
                    problem: format!(
                        "the planned module of task {} ({}) is not in this suite",
                        planned.task_id, planned.module_digest
                    ),
                })
        })
        .collect()
}

/// Runs the task instance at `plan_index`: its result and the postcard
/// bytes of its transcript, which the result commits to.
fn run_one(
    parts: &RunParts<'_>,
    task: &LoadedTask,
    run_start: &RunStart,
    plan_index: usize,
    secret: &[u8; 32],
) -> (TaskResult, Vec<u8>) {
    let planned = &run_start.plan[plan_index];
    let seed = instance_seed(&run_start.seed, &planned.task_id, planned.epoch);
    let mut session = parts.agent.session(&SessionContext {
        task: &task.info,
        plan_index: plan_index as u32,
        epoch: planned.epoch,
        seed,
    });
    let run = parts.sandbox.run(task, seed, session.as_mut());
    drop(session);
    let turns = run.turns.len() as u32;
    let transcript = Transcript {
        task_id: planned.task_id.clone(),
        plan_index: plan_index as u32,
        epoch: planned.epoch,
        seed,
        turns: run.turns,
    };
    let transcript_bytes = postcard::to_allocvec(&transcript).unwrap_or_default();
    let opening = opening_key(secret, plan_index as u32);
    let result = TaskResult {
        plan_index: plan_index as u32,
        task_id: planned.task_id.clone(),
        module_digest: planned.module_digest,
        epoch: planned.epoch,
        outcome: run.outcome,
        score: run.score,
        fuel_consumed: run.fuel_consumed,
        turns,
        wall_time_us: u64::try_from(run.wall_time.as_micros()).unwrap_or(u64::MAX),
        transcript_commitment: commitment(&opening, &transcript_bytes),
    };
    (result, transcript_bytes)
}

fn trailing_model_errors(results: &[TaskResult]) -> u32 {
    results
        .iter()
        .rev()
        .take_while(|r| matches!(r.outcome, Outcome::ModelError(_)))
        .count() as u32
}

/// The RunEnd totals of `results`.
pub fn totals(results: &[TaskResult], reason: RunEndReason) -> RunEnd {
    RunEnd {
        results: results.len() as u32,
        full_credit: results.iter().filter(|r| r.score == Ppm::FULL).count() as u32,
        score_sum: results.iter().map(|r| u64::from(r.score.0)).sum(),
        reason,
    }
}

fn write_secret(path: &Path, secret: &[u8; 32]) -> Result<(), RunError> {
    let io = |doing| {
        move |error| RunError::Io {
            path: path.to_path_buf(),
            doing,
            error,
        }
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".airlock-secret")
        .tempfile_in(dir)
        .map_err(io("create a temporary file for"))?;
    file.write_all(secret)
        .and_then(|()| file.as_file().sync_all())
        .map_err(io("write"))?;
    file.persist(path)
        .map_err(|e| e.error)
        .map_err(io("write"))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync the directory of"))?;
    Ok(())
}

fn read_secret(path: &Path) -> Result<[u8; 32], RunError> {
    let bytes = std::fs::read(path).map_err(|error| RunError::Io {
        path: path.to_path_buf(),
        doing: "read the run secret from",
        error,
    })?;
    bytes.try_into().map_err(|_| RunError::Io {
        path: path.to_path_buf(),
        doing: "read the run secret from",
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, "not 32 bytes"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcripts::open_all;

    struct Count(usize);

    impl Progress for Count {
        fn start(&mut self, _total: u64, _done: u64) {}
        fn result(&mut self, _result: &TaskResult) {
            self.0 += 1;
        }
        fn finish(&mut self) {}
    }

    fn result(plan_index: u32) -> TaskResult {
        TaskResult {
            plan_index,
            task_id: "bench-echo".into(),
            module_digest: Digest([1; 32]),
            epoch: plan_index,
            outcome: Outcome::Done,
            score: Ppm::FULL,
            fuel_consumed: 10,
            turns: 1,
            wall_time_us: 5,
            transcript_commitment: Digest([2; 32]),
        }
    }

    #[test]
    fn a_group_is_due_when_full_old_or_after_a_slow_task() {
        let quick = Duration::from_micros(50);
        let mut batch = GroupCommit::default();
        assert!(!batch.due());
        batch.push(result(0), quick);
        assert!(!batch.due(), "one quick result waits for more");
        batch.push(result(1), GROUP_COMMIT_WINDOW);
        assert!(batch.due(), "a slow task commits at once");

        let mut batch = GroupCommit::default();
        for i in 0..GROUP_COMMIT_MAX as u32 - 1 {
            batch.push(result(i), quick);
        }
        assert!(!batch.due());
        batch.push(result(GROUP_COMMIT_MAX as u32), quick);
        assert!(batch.due(), "a full group commits");

        let mut batch = GroupCommit::default();
        batch.push(result(0), quick);
        std::thread::sleep(GROUP_COMMIT_WINDOW);
        assert!(batch.due(), "an old group commits");
    }

    /// Nothing is reported or in the journal before the commit; after it,
    /// every result is, in order, and each has its sealed transcript.
    #[test]
    fn a_commit_makes_the_group_durable_then_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_seed(&[3; 32]);
        let run_id = [4; 16];
        let transcript_key = TranscriptKey::from_bytes(&[5; 32]);
        let store = dir.path().join("run.transcripts");
        let mut sealed = TranscriptWriter::create(&store, run_id, transcript_key).unwrap();
        let journal = dir.path().join("run.journal");
        let mut writer = JournalWriter::create(&journal, &key.public_key()).unwrap();
        let mut progress = Count(0);
        let mut results = Vec::new();

        let mut batch = GroupCommit::default();
        for i in 0..3 {
            sealed
                .write(i, format!("transcript {i}").as_bytes())
                .unwrap();
            batch.push(result(i), Duration::ZERO);
        }
        assert_eq!(progress.0, 0);
        assert_eq!(
            writer.next_seq(),
            0,
            "no result before its transcript is durable"
        );
        batch
            .commit(&mut sealed, &mut writer, &key, &mut progress, &mut results)
            .unwrap();
        assert_eq!(progress.0, 3);
        assert_eq!(results, vec![result(0), result(1), result(2)]);
        let state = airlock_attest::verify_journal(&journal, &key.public_key()).unwrap();
        let recorded: Vec<Record> = state.entries.into_iter().map(|e| e.record).collect();
        assert_eq!(
            recorded,
            results
                .iter()
                .cloned()
                .map(Record::TaskResult)
                .collect::<Vec<_>>()
        );
        let transcript_key = TranscriptKey::from_bytes(&[5; 32]);
        let opened = open_all(&store, &transcript_key, &run_id).unwrap();
        assert_eq!(opened.len(), 3);

        // An empty group commits nothing and reports nothing.
        batch
            .commit(&mut sealed, &mut writer, &key, &mut progress, &mut results)
            .unwrap();
        assert_eq!(progress.0, 3);
        assert_eq!(writer.next_seq(), 3);
    }
}
