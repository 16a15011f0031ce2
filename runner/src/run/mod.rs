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
//! [`execute`] is the sequence of a run's steps, each in a file of its own,
//! each file importing only those below it:
//! - `open`: a new run's RunStart, or the checks that a resumed journal is
//!   this invocation's run;
//! - `pool`: up to the profile's [`HardwareProfile::parallel_sandboxes`]
//!   task instances at once, their results handed back in plan order, so
//!   the bundle is the same whatever the scheduling;
//! - `commit`: quick results made durable in groups (one fsync per file for
//!   a group), which keeps both rules;
//! - [`files`]: the files themselves — their paths, locks, the station
//!   allocation and the rollback of a run that fails before its RunStart is
//!   durable; this module decides what goes into them;
//! - `options` and `error`: what a run is given and why it fails.
//!
//! [`HardwareProfile::parallel_sandboxes`]: crate::profile::HardwareProfile::parallel_sandboxes

mod commit;
mod error;
pub mod files;
pub mod hardware;
mod open;
mod options;
mod pool;
#[cfg(test)]
mod tests;

use core::time::Duration;
use std::path::{Path, PathBuf};

use airlock_core::Ppm;
use airlock_core::outcome::Outcome;
use airlock_core::record::{Record, RunEnd, RunEndReason, RunStart, TaskResult};

pub use crate::executable::{executable_digest, prefetch_executable_digest};
use commit::GroupCommit;
pub use error::RunError;
use files::RunFiles;
pub use files::{journal_path, secret_path, transcripts_path};
use open::Opened;
pub use open::{recorded_identity, suite_plan};
pub use options::{
    CampaignShard, Interrupt, NoProgress, Progress, RunOptions, RunParts, StartMode,
};
use pool::{Flow, Pool, Ran};

/// What a finished run produced: its bundle, signed plan, results and
/// totals, and how this invocation ran it.
#[derive(Clone, Debug)]
pub struct RunSummary {
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

/// Runs (or resumes) a suite and writes the bundle.
pub fn execute(
    parts: &RunParts<'_>,
    options: &RunOptions,
    progress: &mut dyn Progress,
) -> Result<RunSummary, RunError> {
    let journal = journal_path(&options.out);
    let sandboxes = pool::sandboxes(parts, options.sandboxes)?;
    let Opened {
        mut files,
        run_start,
        mut results,
        finished,
    } = open::open(parts, options)?;
    let tasks = open::plan_tasks(parts.suite, &run_start, &journal)?;
    let key_id = parts.key.key_id();
    if let Some(tpm) = &options.tpm {
        hardware::quote_run_start(tpm, &options.out, &key_id, &files.run_start_hash())
            .map_err(resumable(&journal))?;
    }
    progress.start(run_start.plan.len() as u64, results.len() as u64);
    let already = results.len();
    let run_end = match finished {
        Some(end) => end,
        None => {
            let secret = *files.secret();
            let pool = Pool {
                parts,
                tasks: &tasks,
                run_start: &run_start,
                secret: &secret,
                sandboxes: sandboxes as usize,
            };
            run_rest(
                &pool,
                &mut files,
                &mut results,
                progress,
                &options.interrupt,
            )
            .map_err(resumable(&journal))?
            .ok_or_else(|| RunError::Interrupted {
                journal: journal.clone(),
                durable: results.len(),
                planned: run_start.plan.len(),
            })?
        }
    };
    progress.finish();
    match &options.tpm {
        Some(tpm) => hardware::quote_run_end(
            tpm,
            &options.out,
            &key_id,
            &files.run_start_hash(),
            &files.last_hash(),
        )
        .map_err(resumable(&journal))?,
        None => hardware::remove_stale_quotes(&options.out).map_err(resumable(&journal))?,
    }
    files.finish(&run_start, parts.key, options.overwrite)?;
    Ok(RunSummary {
        bundle: options.out.clone(),
        run_start,
        executed: results.len() - already,
        results,
        run_end,
        sandboxes,
    })
}

/// Runs the plan entries that are not durable yet on the pool, commits
/// their results in plan order and in groups, and appends the RunEnd; or,
/// when `interrupt` is set on the way, commits the results finished so far
/// and returns `None`, leaving the journal without a RunEnd to resume.
fn run_rest(
    pool: &Pool<'_, '_>,
    files: &mut RunFiles,
    results: &mut Vec<TaskResult>,
    progress: &mut dyn Progress,
    interrupt: &Interrupt,
) -> Result<Option<RunEnd>, RunError> {
    let key = pool.parts.key;
    let plan_len = pool.run_start.plan.len();
    let max_errors = pool.parts.profile.max_consecutive_model_errors;
    let mut model_errors = ModelErrors::after(results, max_errors);
    let mut group = GroupCommit::default();
    if !model_errors.end_the_run() {
        tracing::info!(
            sandboxes = pool.sandboxes,
            remaining = plan_len - results.len(),
            "running the plan"
        );
        pool.run(results.len(), |mut batch| {
            batch.truncate(model_errors.admit(&batch));
            let (sealed, writer) = files.writers();
            for (plan_index, result, transcript) in batch {
                sealed.seal(plan_index as u32, &transcript)?;
                let took = Duration::from_micros(result.wall_time_us);
                group.push(result, took);
            }
            if group.due() || interrupt.requested() {
                group.commit(sealed, writer, key, progress, results)?;
            }
            Ok(if model_errors.end_the_run() || interrupt.requested() {
                Flow::Stop
            } else {
                Flow::Go
            })
        })?;
    }
    let (sealed, writer) = files.writers();
    group.commit(sealed, writer, key, progress, results)?;
    if interrupt.requested() && results.len() < plan_len && !model_errors.end_the_run() {
        tracing::warn!(
            durable = results.len(),
            planned = plan_len,
            "interrupted: every finished result is durable; stopping before the plan is done"
        );
        return Ok(None);
    }
    let end = totals(results, model_errors.reason(results.len() < plan_len));
    let writer = files.journal();
    writer
        .append(key, &Record::RunEnd(end.clone()))
        .and_then(|_| writer.sync())?;
    Ok(Some(end))
}

/// Model errors in a row, counted in plan order: after the profile's
/// `max_consecutive_model_errors` the run ends early, cleanly, and nothing
/// after the entry that ends it is committed.
struct ModelErrors {
    consecutive: u32,
    max: u32,
}

impl ModelErrors {
    /// Counting on from the durable results: a resumed run's trailing model
    /// errors still count.
    fn after(results: &[TaskResult], max: u32) -> ModelErrors {
        let consecutive = results
            .iter()
            .rev()
            .take_while(|r| matches!(r.outcome, Outcome::ModelError(_)))
            .count() as u32;
        ModelErrors { consecutive, max }
    }

    fn end_the_run(&self) -> bool {
        self.consecutive >= self.max
    }

    /// How many entries of `batch` are committed: all of them, or those up
    /// to the one that ends the run.
    fn admit(&mut self, batch: &[Ran]) -> usize {
        let mut take = 0;
        for (_, result, _) in batch {
            take += 1;
            if matches!(result.outcome, Outcome::ModelError(_)) {
                self.consecutive += 1;
                if self.end_the_run() {
                    break;
                }
            } else {
                self.consecutive = 0;
            }
        }
        take
    }

    /// Why the run ends: early only when model errors cut the plan short.
    fn reason(&self, cut_short: bool) -> RunEndReason {
        if self.end_the_run() && cut_short {
            tracing::warn!(
                consecutive_model_errors = self.consecutive,
                "ending the run early after consecutive model errors"
            );
            RunEndReason::AbortedModelErrors(self.consecutive)
        } else {
            RunEndReason::Completed
        }
    }
}

/// Marks an error after the journal became durable as one `--resume` recovers from.
fn resumable<E: Into<RunError>>(journal: &Path) -> impl FnOnce(E) -> RunError + '_ {
    move |error| RunError::Resumable {
        journal: journal.to_path_buf(),
        error: Box::new(error.into()),
    }
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

/// The process's peak resident set size so far (`VmHWM` in
/// `/proc/self/status`), where the operating system reports it.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}
