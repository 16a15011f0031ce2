//! Run orchestration: plan, execute every task instance in its sandbox,
//! sign and chain each result into a durable journal, resume after a crash,
//! and write the bundle.
//!
//! Durability rule: a result is reported (progress, logs, output) only after
//! the journal holding it has been fsynced, and a result is appended only
//! after its sealed transcript is durable in `OUT.transcripts`. The journal
//! is `OUT.journal` while the run is in progress; the per-run transcript
//! secret (`OUT.secret`) and the sealed transcripts stay inside the enclave
//! after the run.
//!
//! Parallel runs: up to the profile's [`HardwareProfile::parallel_sandboxes`]
//! task instances run at once, each on its own worker thread, but only the
//! coordinating thread seals transcripts and appends results, strictly in
//! plan order (a reorder buffer holds results that finish early). The bundle
//! is therefore the same whatever the scheduling: the payload of a result
//! (outcome, score, fuel, turns, commitment) depends on the module, the
//! instance seed and the replies only; its `wall_time_us` is information.
//!
//! Quick results are made durable in groups (one fsync per file for a
//! group), which keeps both rules ([`GroupCommit`]).
//!
//! The files themselves — their paths, locks, the station allocation and
//! the rollback of a run that fails before its RunStart is durable — belong
//! to [`RunFiles`]; this module decides what goes into them.

use core::any::Any;
use core::fmt;
use core::panic::AssertUnwindSafe;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use airlock_attest::{JournalWriter, Overwrite, SigningKey};
use airlock_core::digest::instance_seed;
use airlock_core::outcome::Outcome;
use airlock_core::record::{
    ModelDescriptor, PlannedTask, ProfileRef, Record, RunEnd, RunEndReason, RunStart, RunnerBuild,
    SuiteRef, TaskResult,
};
use airlock_core::transcript::{Transcript, commitment, opening_key};
use airlock_core::{Digest, Ppm};

use crate::agent::{Agent, SessionContext};
use crate::profile::HardwareProfile;
pub use crate::run_error::RunError;
use crate::runfiles::{RunFiles, RunPaths};
use crate::suite::LoadedSuite;
use crate::transcripts::TranscriptWriter;
use airlock_sandbox::{LoadedTask, Sandbox, WASMTIME_VERSION};

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
    /// Task instances run at once; `None` for as many as the profile allows
    /// (one for an agent that answers one call at a time).
    pub sandboxes: Option<u32>,
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
    /// Task instances run at once.
    pub sandboxes: u32,
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

pub use crate::runfiles::{journal_path, secret_path, transcripts_path};

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
    let allowed = parts.profile.parallel_sandboxes();
    let sandboxes = options
        .sandboxes
        .unwrap_or(if parts.agent.serves_concurrently() {
            allowed
        } else {
            allowed.min(1)
        });
    if sandboxes == 0 || sandboxes > allowed {
        return Err(RunError::Sandboxes {
            asked: sandboxes,
            allowed,
            profile: parts.profile.name.clone(),
        });
    }
    if options.start == StartMode::Fresh {
        check_plan_fits(parts.suite, options.epochs)?;
    }
    if options.overwrite == Overwrite::Refuse
        && options.start == StartMode::Fresh
        && options.out.exists()
    {
        return Err(RunError::OutputExists(options.out.clone()));
    }
    let paths = RunPaths::new(&options.out, &options.station, &options.transcript_key);
    let (mut files, run_start, mut results, finished) = match options.start {
        StartMode::Fresh => {
            let (files, run_start) = begin(parts, options, paths)?;
            (files, run_start, Vec::new(), None)
        }
        StartMode::Resume => {
            if !journal.exists() {
                return Err(RunError::NothingToResume(journal));
            }
            match RunFiles::open_journal(&paths, parts.key)? {
                Some(opened) => {
                    check_binding(parts, options, &opened.run_start).map_err(|problem| {
                        RunError::ResumeMismatch {
                            path: journal.clone(),
                            problem,
                        }
                    })?;
                    RunFiles::resume(paths, opened)?
                }
                None => {
                    let (files, run_start) = begin(parts, options, paths)?;
                    (files, run_start, Vec::new(), None)
                }
            }
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
            let mut group = GroupCommit::default();
            if !aborted {
                tracing::info!(
                    sandboxes,
                    remaining = plan_len - results.len(),
                    "running the plan"
                );
                let secret = *files.secret();
                let pool = Pool {
                    parts,
                    tasks: &tasks,
                    run_start: &run_start,
                    secret: &secret,
                    sandboxes: sandboxes as usize,
                };
                pool.run(results.len(), |mut batch| {
                    // Model errors are counted in plan order, and nothing
                    // after the entry that ends the run is committed.
                    let mut take = 0;
                    for (_, result, _) in &batch {
                        take += 1;
                        if matches!(result.outcome, Outcome::ModelError(_)) {
                            consecutive_model_errors += 1;
                            if consecutive_model_errors >= max_errors {
                                aborted = true;
                                break;
                            }
                        } else {
                            consecutive_model_errors = 0;
                        }
                    }
                    batch.truncate(take);
                    let (sealed, writer) = files.writers();
                    for (plan_index, result, transcript) in batch {
                        sealed.seal(plan_index as u32, &transcript)?;
                        let took = Duration::from_micros(result.wall_time_us);
                        group.push(result, took);
                    }
                    if group.due() {
                        group.commit(sealed, writer, parts.key, progress, &mut results)?;
                    }
                    Ok(if aborted { Flow::Stop } else { Flow::Go })
                })
                .map_err(resumable(&journal))?;
            }
            let (sealed, writer) = files.writers();
            group
                .commit(sealed, writer, parts.key, progress, &mut results)
                .map_err(resumable(&journal))?;
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
            let writer = files.journal();
            writer
                .append(parts.key, &Record::RunEnd(end.clone()))
                .and_then(|_| writer.sync())
                .map_err(resumable(&journal))?;
            end
        }
    };
    progress.finish();

    files.finish(&run_start, parts.key, options.overwrite)?;
    Ok(RunReport {
        bundle: options.out.clone(),
        run_start,
        executed: results.len() - already,
        results,
        run_end,
        sandboxes,
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

/// How long a group may stay open. Groups are checked as results arrive
/// and every window while the run waits for one, so a finished result
/// waits for durability about this long at most; that bounds the work a
/// crash takes back.
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

/// Marks an error after the journal became durable as one `--resume` recovers from.
fn resumable<E: Into<RunError>>(journal: &Path) -> impl FnOnce(E) -> RunError + '_ {
    move |error| RunError::Resumable {
        journal: journal.to_path_buf(),
        error: Box::new(error.into()),
    }
}

/// Room left in the RunStart record for its fields other than the plan
/// (names, versions, digests, the model descriptor): far more than they take.
const RUN_START_ROOM: u64 = 64 * 1024;

/// Refuses, before anything is built or written, a plan that would not fit
/// in the RunStart record (a frame is at most [`MAX_FRAME_LEN`] bytes): a
/// mistyped `--epochs` would otherwise allocate the plan until memory ran
/// out. Counts at most about one frame's worth of entries.
///
/// [`MAX_FRAME_LEN`]: airlock_attest::frame::MAX_FRAME_LEN
fn check_plan_fits(suite: &LoadedSuite, epochs: u32) -> Result<(), RunError> {
    let limit = u64::from(airlock_attest::frame::MAX_FRAME_LEN) - RUN_START_ROOM;
    // Entries are laid out as PlannedTask is: id, version, digest, epoch.
    let entry_len = |task: &LoadedTask, epoch: u32| {
        let entry = (&task.info.id, task.info.version, &task.digest, epoch);
        postcard::experimental::serialized_size(&entry).map_or(u64::MAX, |n| n as u64)
    };
    let mut bytes: u64 = 0;
    for epoch in 0..epochs {
        for task in &suite.tasks {
            bytes = bytes.saturating_add(entry_len(task, epoch));
        }
        if bytes > limit {
            return Err(RunError::PlanTooLarge {
                tasks: suite.tasks.len(),
                epochs,
                epochs_that_fit: epoch,
            });
        }
    }
    Ok(())
}

fn begin(
    parts: &RunParts<'_>,
    options: &RunOptions,
    paths: RunPaths,
) -> Result<(RunFiles, RunStart), RunError> {
    let seed = match options.seed {
        Some(seed) => seed,
        None => random_bytes()?,
    };
    let secret: [u8; 32] = random_bytes()?;
    let run_id = random_bytes()?;
    RunFiles::create(paths, parts.key, secret, |station| {
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
        Ok(RunStart {
            run_id,
            started_at_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            suite: suite_ref(parts),
            plan,
            profile: ProfileRef {
                name: parts.profile.name.clone(),
                digest: parts.profile.digest(),
            },
            runner: runner_build(parts),
            model: parts.agent.descriptor(),
            seed,
            evaluator_key_id: parts.key.key_id(),
            station,
        })
    })
}

fn suite_ref(parts: &RunParts<'_>) -> SuiteRef {
    SuiteRef {
        name: parts.suite.name.clone(),
        digest: parts.suite.digest,
        trust: parts.suite.trust.clone(),
    }
}

fn runner_build(parts: &RunParts<'_>) -> RunnerBuild {
    RunnerBuild {
        airlock_version: env!("CARGO_PKG_VERSION").into(),
        wasmtime_version: WASMTIME_VERSION.into(),
        engine_settings: parts.sandbox.settings_digest(),
        executable: executable_digest(),
    }
}

/// Refuses to resume a journal with anything this invocation would record
/// differently in RunStart: a run is finished by the model, engine, build,
/// suite, profile, key and seed that started it, or its signed RunStart
/// would credit the wrong ones. The first difference is named by its field.
fn check_binding(
    parts: &RunParts<'_>,
    options: &RunOptions,
    recorded: &RunStart,
) -> Result<(), String> {
    if let Some(seed) = options.seed
        && seed != recorded.seed
    {
        return Err("it was started with another --seed".into());
    }
    if recorded.suite.digest != parts.suite.digest {
        return Err(format!(
            "it was started with suite {} ({}), not {} ({})",
            recorded.suite.name, recorded.suite.digest, parts.suite.name, parts.suite.digest
        ));
    }
    if recorded.profile.digest != parts.profile.digest() {
        return Err(format!(
            "it was started with profile \"{}\", whose limits differ from \"{}\"",
            recorded.profile.name, parts.profile.name
        ));
    }
    binding_difference(
        recorded,
        &suite_ref(parts),
        &runner_build(parts),
        &parts.agent.descriptor(),
        &parts.key.key_id(),
    )
}

/// The first field of what RunStart binds (suite trust, runner build and
/// engine, model descriptor, evaluator key) whose recorded value differs
/// from this invocation's, named, with both values.
fn binding_difference(
    recorded: &RunStart,
    suite: &SuiteRef,
    runner: &RunnerBuild,
    model: &ModelDescriptor,
    key_id: &Digest,
) -> Result<(), String> {
    let fields: [(&str, String, String); 9] = [
        (
            "suite.trust",
            format!("{:?}", recorded.suite.trust),
            format!("{:?}", suite.trust),
        ),
        (
            "runner.airlock_version",
            recorded.runner.airlock_version.clone(),
            runner.airlock_version.clone(),
        ),
        (
            "runner.wasmtime_version",
            recorded.runner.wasmtime_version.clone(),
            runner.wasmtime_version.clone(),
        ),
        (
            "runner.engine_settings",
            recorded.runner.engine_settings.to_string(),
            runner.engine_settings.to_string(),
        ),
        (
            "runner.executable",
            recorded.runner.executable.to_string(),
            runner.executable.to_string(),
        ),
        (
            "model.agent",
            recorded.model.agent.clone(),
            model.agent.clone(),
        ),
        (
            "model.model",
            recorded.model.model.clone(),
            model.model.clone(),
        ),
        (
            "model.reported_model",
            recorded.model.reported_model.clone(),
            model.reported_model.clone(),
        ),
        (
            "evaluator_key_id",
            recorded.evaluator_key_id.to_string(),
            key_id.to_string(),
        ),
    ];
    match fields.into_iter().find(|(_, then, now)| then != now) {
        None => Ok(()),
        Some((field, then, now)) => Err(format!(
            "RunStart.{field} is {then:?} in the journal but {now:?} now: a run is finished by \
             the model, engine and build that started it (start a new run instead)"
        )),
    }
}

/// The process's peak resident set size so far (`VmHWM` in
/// `/proc/self/status`), where the operating system reports it.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
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

/// Whether the plan goes on after a committed batch of results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// Commit the next plan entries.
    Go,
    /// Stop: nothing after this batch is committed.
    Stop,
}

/// A finished plan entry: its index, result and the postcard bytes of its
/// transcript.
type Ran = (usize, TaskResult, Vec<u8>);

/// What a worker hands back for one plan entry.
enum Finished {
    /// The entry ran: its result and the postcard bytes of its transcript.
    Ran {
        plan_index: usize,
        result: TaskResult,
        transcript: Vec<u8>,
    },
    /// Running it panicked; the coordinator re-raises the panic, as a
    /// one-thread run would have, so the journal stays resumable.
    Panicked(Box<dyn Any + Send>),
}

/// Runs plan entries on `sandboxes` worker threads and hands their results
/// to one committer in plan order.
struct Pool<'r, 'p> {
    parts: &'r RunParts<'p>,
    tasks: &'r [&'r LoadedTask],
    run_start: &'r RunStart,
    secret: &'r [u8; 32],
    sandboxes: usize,
}

impl Pool<'_, '_> {
    /// How far past the oldest uncommitted entry work is handed out: twice
    /// the workers, so the others can run ahead of one slow entry, while
    /// the results (and transcripts) held back for reordering stay bounded.
    fn window(&self) -> usize {
        self.sandboxes.saturating_mul(2)
    }

    /// The native stack of a worker. A guest's WebAssembly stack lives on
    /// it, so it holds the profile's whole `max_wasm_stack` plus the host's
    /// frames beneath the guest (wasmtime, the sandbox loop, the agent's
    /// call): a guest that recurses too deep must end as `stack-overflow`,
    /// never overflow the thread.
    fn stack_bytes(&self) -> usize {
        const HOST_FRAMES: usize = 4 * 1024 * 1024;
        self.parts
            .sandbox
            .limits()
            .max_wasm_stack_bytes
            .saturating_add(HOST_FRAMES)
    }

    /// Runs the entries from `first` to the end of the plan, calling
    /// `commit` with every run of consecutive finished entries, in plan
    /// order, until it says stop or fails. Entries started past the
    /// stopping point are run to their end and dropped: nothing of them
    /// reaches the journal or the sealed store.
    fn run(
        &self,
        first: usize,
        mut commit: impl FnMut(Vec<Ran>) -> Result<Flow, RunError>,
    ) -> Result<(), RunError> {
        let end = self.tasks.len();
        if first >= end {
            return Ok(());
        }
        let (job_tx, job_rx) = mpsc::channel::<usize>();
        let job_rx = Mutex::new(job_rx);
        let (done_tx, done_rx) = mpsc::channel::<Finished>();
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let workers = self.sandboxes.min(end - first);
            for n in 0..workers {
                let done_tx = done_tx.clone();
                let (job_rx, stop) = (&job_rx, &stop);
                std::thread::Builder::new()
                    .name(format!("airlock-sandbox-{n}"))
                    .stack_size(self.stack_bytes())
                    .spawn_scoped(scope, move || self.work(job_rx, &done_tx, stop))
                    .map_err(RunError::Worker)?;
            }
            drop(done_tx);
            let committed = self.coordinate(first, &job_tx, &done_rx, &mut commit);
            // Workers finish the entry in hand and take no other.
            stop.store(true, Ordering::Relaxed);
            drop(job_tx);
            match committed {
                Ok(()) => Ok(()),
                Err(Stopped::Failed(e)) => Err(e),
                Err(Stopped::Panicked(payload)) => resume_unwind(payload),
            }
        })
    }

    fn coordinate(
        &self,
        first: usize,
        jobs: &Sender<usize>,
        done: &Receiver<Finished>,
        commit: &mut impl FnMut(Vec<Ran>) -> Result<Flow, RunError>,
    ) -> Result<(), Stopped> {
        let end = self.tasks.len();
        let mut next_job = first;
        let mut next_commit = first;
        let mut early: BTreeMap<usize, (TaskResult, Vec<u8>)> = BTreeMap::new();
        while next_commit < end {
            while next_job < end && next_job < next_commit + self.window() {
                // The receiver lives as long as the scope: this cannot fail
                // while a worker could still take the job.
                if jobs.send(next_job).is_err() {
                    break;
                }
                next_job += 1;
            }
            if !early.contains_key(&next_commit) {
                // While the next result is still running, the callback is
                // offered an empty batch every group-commit window, so a
                // group of finished results never waits on a long task to
                // become durable.
                match done.recv_timeout(GROUP_COMMIT_WINDOW) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Flow::Stop = commit(Vec::new()).map_err(Stopped::Failed)? {
                            return Ok(());
                        }
                    }
                    Ok(Finished::Ran {
                        plan_index,
                        result,
                        transcript,
                    }) => {
                        early.insert(plan_index, (result, transcript));
                    }
                    Ok(Finished::Panicked(payload)) => return Err(Stopped::Panicked(payload)),
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(Stopped::Failed(RunError::Worker(std::io::Error::other(
                            "every sandbox worker stopped before the plan was done",
                        ))));
                    }
                }
                continue;
            }
            let mut batch = Vec::new();
            while let Some((result, transcript)) = early.remove(&(next_commit + batch.len())) {
                batch.push((next_commit + batch.len(), result, transcript));
            }
            let len = batch.len();
            match commit(batch).map_err(Stopped::Failed)? {
                Flow::Go => next_commit += len,
                Flow::Stop => return Ok(()),
            }
        }
        Ok(())
    }

    fn work(&self, jobs: &Mutex<Receiver<usize>>, done: &Sender<Finished>, stop: &AtomicBool) {
        loop {
            let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
            let Ok(plan_index) = job else { return };
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let ran = catch_unwind(AssertUnwindSafe(|| {
                run_one(
                    self.parts,
                    self.tasks[plan_index],
                    self.run_start,
                    plan_index,
                    self.secret,
                )
            }));
            let finished = match ran {
                Ok((result, transcript)) => Finished::Ran {
                    plan_index,
                    result,
                    transcript,
                },
                Err(payload) => Finished::Panicked(payload),
            };
            if done.send(finished).is_err() {
                return;
            }
        }
    }
}

/// Why the coordinator stopped before the end of the plan.
enum Stopped {
    /// Committing failed.
    Failed(RunError),
    /// A worker panicked.
    Panicked(Box<dyn Any + Send>),
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
        peak_memory_bytes: run.peak_memory_bytes,
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

#[cfg(test)]
mod tests {
    use core::time::Duration;
    use std::sync::Condvar;

    use airlock_core::outcome::ModelErrorKind;
    use airlock_core::record::ModelDescriptor;

    use super::*;
    use crate::agent::{AgentOptions, AgentSpec};
    use airlock_sandbox::{Backend, Conversation};

    /// The reference agent, with one plan entry held back until another has
    /// finished, or one whose session panics. Records the order in which
    /// sessions end.
    struct Staged {
        inner: Box<dyn Agent>,
        hold: Option<(u32, u32)>,
        panic_at: Option<u32>,
        ended: Mutex<Vec<u32>>,
        changed: Condvar,
    }

    impl Staged {
        fn new(hold: Option<(u32, u32)>, panic_at: Option<u32>) -> Staged {
            let profile = crate::profile::load("default").unwrap().profile;
            Staged {
                inner: AgentSpec::Reference {
                    delay: Duration::ZERO,
                }
                .build(&AgentOptions::for_profile(&profile))
                .unwrap(),
                hold,
                panic_at,
                ended: Mutex::new(Vec::new()),
                changed: Condvar::new(),
            }
        }

        fn ended(&self) -> Vec<u32> {
            self.ended.lock().unwrap().clone()
        }
    }

    impl Agent for Staged {
        fn descriptor(&self) -> ModelDescriptor {
            self.inner.descriptor()
        }

        fn session(&self, context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
            Box::new(StagedSession {
                inner: self.inner.session(context),
                plan_index: context.plan_index,
                agent: self,
            })
        }
    }

    struct StagedSession<'a> {
        inner: Box<dyn Conversation + Send + 'a>,
        plan_index: u32,
        agent: &'a Staged,
    }

    impl Conversation for StagedSession<'_> {
        fn reply(&mut self, say: &str) -> Result<String, ModelErrorKind> {
            assert_ne!(Some(self.plan_index), self.agent.panic_at, "staged panic");
            if let Some((held, until)) = self.agent.hold
                && held == self.plan_index
            {
                let ended = self.agent.ended.lock().unwrap();
                let (_ended, waited) = self
                    .agent
                    .changed
                    .wait_timeout_while(ended, Duration::from_secs(60), |e| !e.contains(&until))
                    .unwrap();
                assert!(!waited.timed_out(), "entry {until} never ended");
            }
            self.inner.reply(say)
        }
    }

    impl Drop for StagedSession<'_> {
        fn drop(&mut self) {
            let mut ended = self
                .agent
                .ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            ended.push(self.plan_index);
            self.agent.changed.notify_all();
        }
    }

    struct Station {
        dir: tempfile::TempDir,
        key: SigningKey,
        profile: HardwareProfile,
        sandbox: Sandbox,
        suite: LoadedSuite,
    }

    impl Station {
        fn new() -> Station {
            let dir = tempfile::tempdir().unwrap();
            let generated = airlock_attest::keygen(dir.path(), "evaluator").unwrap();
            let key = SigningKey::load(&generated.private_path).unwrap();
            let profile = crate::profile::load("default").unwrap().profile;
            let sandbox = Sandbox::new(profile.sandbox_limits()).unwrap();
            let suite = LoadedSuite::embedded(&sandbox).unwrap();
            Station {
                dir,
                key,
                profile,
                sandbox,
                suite,
            }
        }

        fn options(&self, name: &str, sandboxes: u32, start: StartMode) -> RunOptions {
            RunOptions {
                out: self.dir.path().join(name),
                seed: Some([5; 32]),
                start,
                overwrite: Overwrite::Refuse,
                epochs: 1,
                station: self.dir.path().join("evaluator.station"),
                transcript_key: self.dir.path().join("evaluator.transcript-key"),
                sandboxes: Some(sandboxes),
            }
        }

        fn execute(&self, agent: &dyn Agent, options: &RunOptions) -> Result<RunReport, RunError> {
            let parts = RunParts {
                sandbox: &self.sandbox,
                suite: &self.suite,
                profile: &self.profile,
                agent,
                key: &self.key,
            };
            execute(&parts, options, &mut NoProgress)
        }
    }

    /// What of a result must not depend on the scheduling.
    fn payload(r: &TaskResult) -> (u32, String, Outcome, Ppm, u64, u32) {
        (
            r.plan_index,
            r.task_id.clone(),
            r.outcome,
            r.score,
            r.fuel_consumed,
            r.turns,
        )
    }

    fn bundle_results(path: &Path) -> Vec<TaskResult> {
        let bytes = std::fs::read(path).unwrap();
        let mut reader = airlock_attest::BundleReader::new(&bytes[..]).unwrap();
        let mut results = Vec::new();
        while let Some(frame) = reader.next_entry().unwrap() {
            if let Record::TaskResult(r) = airlock_core::decode_exact(&frame.entry.body).unwrap() {
                results.push(r);
            }
        }
        results
    }

    #[test]
    fn results_are_journaled_in_plan_order_when_later_entries_finish_first() {
        let station = Station::new();
        let alone = Staged::new(None, None);
        let one = station
            .execute(&alone, &station.options("one", 1, StartMode::Fresh))
            .unwrap();
        assert_eq!(alone.ended(), (0..8).collect::<Vec<u32>>());

        // Entry 0 waits until entry 2 has ended: two sandboxes must run
        // entries 1 and 2 meanwhile and hold their results back.
        let staged = Staged::new(Some((0, 2)), None);
        let two = station
            .execute(&staged, &station.options("two", 2, StartMode::Fresh))
            .unwrap();
        let ended = staged.ended();
        let at = |i: u32| ended.iter().position(|&e| e == i).unwrap();
        assert!(at(1) < at(0) && at(2) < at(0), "ended in {ended:?}");

        let in_bundle = bundle_results(&two.bundle);
        let order: Vec<u32> = in_bundle.iter().map(|r| r.plan_index).collect();
        assert_eq!(order, (0..8).collect::<Vec<u32>>());
        assert_eq!(
            in_bundle.iter().map(payload).collect::<Vec<_>>(),
            one.results.iter().map(payload).collect::<Vec<_>>()
        );
        assert_eq!(two.run_end, one.run_end);
    }

    #[test]
    fn a_panicking_session_stops_the_run_and_the_journal_resumes() {
        let station = Station::new();
        let panicking = Staged::new(None, Some(3));
        let options = station.options("panicked", 2, StartMode::Fresh);
        let outcome = catch_unwind(AssertUnwindSafe(|| station.execute(&panicking, &options)));
        assert!(outcome.is_err(), "the worker's panic reaches the caller");
        let journal = journal_path(&options.out);
        let state = airlock_attest::verify_journal(&journal, &station.key.public_key()).unwrap();
        let durable: Vec<u32> = state
            .entries
            .iter()
            .filter_map(|e| match &e.record {
                Record::TaskResult(r) => Some(r.plan_index),
                _ => None,
            })
            .collect();
        assert!(
            durable.len() <= 3 && durable.iter().copied().eq(0..durable.len() as u32),
            "only entries before the panic, in plan order: {durable:?}"
        );

        let plain = Staged::new(None, None);
        let resumed = station
            .execute(&plain, &station.options("panicked", 2, StartMode::Resume))
            .unwrap();
        assert_eq!(resumed.results.len(), 8);
        assert_eq!(resumed.executed, 8 - durable.len());
        assert!(resumed.results.iter().all(|r| r.outcome == Outcome::Done));
    }

    /// A journal of the station's run `name`, interrupted by a panicking
    /// session after a few durable results.
    fn interrupted(station: &Station, name: &str) -> RunOptions {
        let panicking = Staged::new(None, Some(3));
        let options = station.options(name, 1, StartMode::Fresh);
        let outcome = catch_unwind(AssertUnwindSafe(|| station.execute(&panicking, &options)));
        assert!(outcome.is_err());
        assert!(journal_path(&options.out).exists());
        RunOptions {
            start: StartMode::Resume,
            ..options
        }
    }

    fn null_agent() -> Box<dyn Agent> {
        let profile = crate::profile::load("default").unwrap().profile;
        AgentSpec::Null
            .build(&AgentOptions::for_profile(&profile))
            .unwrap()
    }

    /// A killed run is finished only by the agent and engine that started
    /// it: another agent, or the same agent under other engine settings,
    /// is refused naming the RunStart field, and nothing is appended.
    #[test]
    fn resume_refuses_another_agent_or_engine_naming_the_field() {
        let station = Station::new();
        let resume = interrupted(&station, "bound");
        let journal = journal_path(&resume.out);
        let before = std::fs::read(&journal).unwrap();

        let err = station.execute(null_agent().as_ref(), &resume).unwrap_err();
        assert!(matches!(err, RunError::ResumeMismatch { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message
                .contains("RunStart.model.agent is \"reference\" in the journal but \"null\" now"),
            "{message}"
        );
        assert!(
            message.contains(&journal.display().to_string()),
            "{message}"
        );

        let pulley =
            Sandbox::with_backend(station.profile.sandbox_limits(), Backend::Pulley).unwrap();
        let suite = LoadedSuite::embedded(&pulley).unwrap();
        let parts = RunParts {
            sandbox: &pulley,
            suite: &suite,
            profile: &station.profile,
            agent: &Staged::new(None, None),
            key: &station.key,
        };
        let err = execute(&parts, &resume, &mut NoProgress).unwrap_err();
        assert!(
            err.to_string().contains("RunStart.runner.engine_settings"),
            "{err}"
        );
        assert_eq!(std::fs::read(&journal).unwrap(), before, "nothing appended");

        // The agent that started it finishes it.
        let done = station.execute(&Staged::new(None, None), &resume).unwrap();
        assert_eq!(done.results.len(), 8);
    }

    /// Every field RunStart binds is named when it differs.
    #[test]
    fn every_bound_field_is_named_when_it_differs() {
        let recorded = RunStart {
            run_id: [1; 16],
            started_at_unix_s: 0,
            suite: SuiteRef {
                name: "s".into(),
                digest: Digest([2; 32]),
                trust: airlock_core::record::SuiteTrust::Embedded,
            },
            plan: Vec::new(),
            profile: ProfileRef {
                name: "default".into(),
                digest: Digest([3; 32]),
            },
            runner: RunnerBuild {
                airlock_version: "1".into(),
                wasmtime_version: "48.0.8".into(),
                engine_settings: Digest([4; 32]),
                executable: Digest([5; 32]),
            },
            model: ModelDescriptor {
                agent: "openai".into(),
                model: "strong-model".into(),
                reported_model: "strong-model".into(),
            },
            seed: [6; 32],
            evaluator_key_id: Digest([7; 32]),
            station: airlock_core::record::StationLink {
                run_counter: 1,
                previous_run_start_hash: Digest::ZERO,
            },
        };
        let suite = recorded.suite.clone();
        let runner = recorded.runner.clone();
        let model = recorded.model.clone();
        let key = recorded.evaluator_key_id;
        assert_eq!(
            binding_difference(&recorded, &suite, &runner, &model, &key),
            Ok(())
        );
        let named = |field: &str,
                     suite: &SuiteRef,
                     runner: &RunnerBuild,
                     model: &ModelDescriptor,
                     key: &Digest| {
            let err = binding_difference(&recorded, suite, runner, model, key).unwrap_err();
            assert!(
                err.starts_with(&format!("RunStart.{field} is ")),
                "{field}: {err}"
            );
        };
        let mut other = suite.clone();
        other.trust = airlock_core::record::SuiteTrust::Unsigned;
        named("suite.trust", &other, &runner, &model, &key);
        let mut r = runner.clone();
        r.airlock_version.push('+');
        named("runner.airlock_version", &suite, &r, &model, &key);
        let mut r = runner.clone();
        r.wasmtime_version.push('+');
        named("runner.wasmtime_version", &suite, &r, &model, &key);
        let mut r = runner.clone();
        r.engine_settings = Digest([0xab; 32]);
        named("runner.engine_settings", &suite, &r, &model, &key);
        let mut r = runner.clone();
        r.executable = Digest([0xcd; 32]);
        named("runner.executable", &suite, &r, &model, &key);
        let mut m = model.clone();
        m.agent = "exec".into();
        named("model.agent", &suite, &runner, &m, &key);
        let mut m = model.clone();
        m.model = "weak-model".into();
        named("model.model", &suite, &runner, &m, &key);
        let mut m = model.clone();
        m.reported_model = "served-as".into();
        named("model.reported_model", &suite, &runner, &m, &key);
        named(
            "evaluator_key_id",
            &suite,
            &runner,
            &model,
            &Digest([0xef; 32]),
        );
    }

    /// A second writer of a run in progress is refused at once, naming the
    /// file and that another process holds it; the first finishes.
    #[test]
    fn a_second_writer_of_a_journal_is_refused_while_the_first_holds_it() {
        let station = Station::new();
        let resume = interrupted(&station, "held");
        let journal = journal_path(&resume.out);
        let (_held, _) =
            airlock_attest::JournalWriter::resume(&journal, &station.key.public_key()).unwrap();
        for start in [StartMode::Resume, StartMode::Fresh] {
            let options = RunOptions {
                start,
                ..resume.clone()
            };
            let err = station
                .execute(&Staged::new(None, None), &options)
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                airlock_attest::locked_message(&journal),
                "{start:?}"
            );
        }
        drop(_held);
        let done = station.execute(&Staged::new(None, None), &resume).unwrap();
        assert_eq!(done.results.len(), 8);
    }

    /// Runs of one station started at the same moment get consecutive
    /// counters and one chain that the station check passes.
    #[test]
    fn concurrent_runs_of_one_station_keep_one_chain() {
        let station = Station::new();
        let agent = Staged::new(None, None);
        let reports: Vec<RunReport> = std::thread::scope(|scope| {
            let handles: Vec<_> = ["a", "b", "c"]
                .into_iter()
                .map(|name| {
                    let (station, agent) = (&station, &agent);
                    scope.spawn(move || {
                        station
                            .execute(agent, &station.options(name, 1, StartMode::Fresh))
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut counters: Vec<u64> = reports
            .iter()
            .map(|r| r.run_start.station.run_counter)
            .collect();
        counters.sort_unstable();
        assert_eq!(counters, [1, 2, 3]);
        let runs: Vec<airlock_attest::station::StationRun> = reports
            .iter()
            .map(|r| {
                let verdict = airlock_attest::verify_bundle_file(
                    &r.bundle,
                    &[station.key.public_key()],
                    airlock_attest::VerifyOptions::default(),
                )
                .unwrap();
                airlock_attest::station::StationRun::from_verdict(
                    &r.bundle.display().to_string(),
                    &verdict,
                )
                .unwrap()
            })
            .collect();
        let checked = airlock_attest::station::check_stations(&runs);
        assert_eq!(
            checked[0].status(),
            airlock_attest::Status::Passed,
            "{:?}",
            checked[0].problems
        );
    }

    /// A finished bundle cut back into a journal and resumed would give its
    /// counter a second ending: refused through the station state, before
    /// anything runs.
    #[test]
    fn resuming_a_finished_run_cut_back_into_a_journal_is_refused() {
        let station = Station::new();
        let options = station.options("done", 1, StartMode::Fresh);
        let agent = Staged::new(None, None);
        station.execute(&agent, &options).unwrap();
        let bundle = std::fs::read(&options.out).unwrap();
        // Header with the journal magic, then the RunStart frame alone.
        let mut journal = bundle[..44].to_vec();
        journal[..8].copy_from_slice(b"\x89ALJ\r\n\x1a\n");
        let len = u32::from_le_bytes(bundle[44..48].try_into().unwrap()) as usize;
        journal.extend_from_slice(&bundle[44..48 + len]);
        std::fs::write(journal_path(&options.out), &journal).unwrap();
        let resume = RunOptions {
            start: StartMode::Resume,
            overwrite: Overwrite::Replace,
            ..options.clone()
        };
        let err = station.execute(&agent, &resume).unwrap_err();
        assert!(
            err.to_string().contains("same counter, different hash"),
            "{err}"
        );
        assert_eq!(
            agent.ended(),
            (0..8).collect::<Vec<u32>>(),
            "nothing ran again"
        );
        assert_eq!(
            std::fs::read(&options.out).unwrap(),
            bundle,
            "the bundle is untouched"
        );
    }

    #[test]
    fn more_sandboxes_than_the_profile_allows_are_refused_before_any_file() {
        let station = Station::new();
        let agent = Staged::new(None, None);
        for asked in [0, 3] {
            let options = station.options("refused", asked, StartMode::Fresh);
            let err = station.execute(&agent, &options).unwrap_err();
            assert!(
                matches!(err, RunError::Sandboxes { asked: a, allowed: 2, .. } if a == asked),
                "{err}"
            );
            assert!(!journal_path(&options.out).exists());
            assert!(!secret_path(&options.out).exists());
        }
    }

    /// A plan too large for the RunStart record (a mistyped `--epochs`) is
    /// refused before the plan is built or a file written, naming how many
    /// epochs fit; that many fit, one more does not, and the count agrees
    /// with the encoded plan.
    #[test]
    fn a_plan_too_large_for_the_run_start_record_is_refused_up_front() {
        let station = Station::new();
        let Err(RunError::PlanTooLarge {
            tasks,
            epochs_that_fit: fit,
            ..
        }) = check_plan_fits(&station.suite, u32::MAX)
        else {
            panic!("u32::MAX epochs accepted");
        };
        assert_eq!(tasks, station.suite.tasks.len());
        assert!(check_plan_fits(&station.suite, fit).is_ok());
        assert!(check_plan_fits(&station.suite, fit + 1).is_err());

        let plan = |epochs: u32| -> Vec<PlannedTask> {
            let suite = &station.suite.tasks;
            (0..epochs)
                .flat_map(|epoch| {
                    suite.iter().map(move |t| PlannedTask {
                        task_id: t.info.id.clone(),
                        task_version: t.info.version,
                        module_digest: t.digest,
                        epoch,
                    })
                })
                .collect()
        };
        let limit = (airlock_attest::frame::MAX_FRAME_LEN as usize) - RUN_START_ROOM as usize;
        // The encoded Vec has its length varint (3 bytes here) before the entries.
        let encoded = |epochs| postcard::to_allocvec(&plan(epochs)).unwrap().len() - 3;
        assert!(encoded(fit) <= limit);
        assert!(encoded(fit + 1) > limit);

        let agent = Staged::new(None, None);
        let mut options = station.options("huge", 1, StartMode::Fresh);
        options.epochs = fit + 1;
        let err = station.execute(&agent, &options).unwrap_err();
        assert!(matches!(err, RunError::PlanTooLarge { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("at most {fit} epochs of this suite fit")),
            "{message}"
        );
        assert!(!journal_path(&options.out).exists());
        assert!(!secret_path(&options.out).exists());
    }
}

/// Group commit on its own, away from the pool.
#[cfg(test)]
mod group_commit_tests {
    use super::*;
    use crate::transcripts::TranscriptKey;
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
            peak_memory_bytes: 65536,
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
                .seal(i, format!("transcript {i}").as_bytes())
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
