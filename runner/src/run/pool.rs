//! The worker pool. Up to `--sandboxes` task instances run at once, each
//! on its own worker thread with its own sandbox, but only the coordinating
//! thread commits results, strictly in plan order (a reorder buffer holds
//! results that finish early). The bundle is therefore the same whatever
//! the scheduling: the payload of a result (outcome, score, fuel, turns,
//! commitment) depends on the module, the instance seed and the replies
//! only; its `wall_time_us` is information.

use core::any::Any;
use core::panic::AssertUnwindSafe;
use core::sync::atomic::{AtomicBool, Ordering};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, resume_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, PoisonError};

use airlock_core::abi::StartArgs;
use airlock_core::digest::instance_seed;
use airlock_core::record::{RunStart, TaskResult};
use airlock_core::transcript::{Transcript, commitment, opening_key};

use super::commit::GROUP_COMMIT_WINDOW;
use super::error::RunError;
use super::options::RunParts;
use crate::agent::SessionContext;
use airlock_sandbox::LoadedTask;

/// How many task instances run at once: as asked, or as many as the
/// profile allows (one for an agent that answers one call at a time).
/// Zero, or more than the profile allows, is refused before any file is
/// made.
pub(super) fn sandboxes(parts: &RunParts<'_>, asked: Option<u32>) -> Result<u32, RunError> {
    let allowed = parts.profile.parallel_sandboxes();
    let sandboxes = asked.unwrap_or(if parts.agent.serves_concurrently() {
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
    Ok(sandboxes)
}

/// Whether the plan goes on after a committed batch of results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// Commit the next plan entries.
    Go,
    /// Stop: nothing after this batch is committed.
    Stop,
}

/// A finished plan entry: its index, result and the postcard bytes of its
/// transcript.
pub(super) type Ran = (usize, TaskResult, Vec<u8>);

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
pub(super) struct Pool<'r, 'p> {
    /// The loaded parts of the run.
    pub(super) parts: &'r RunParts<'p>,
    /// The loaded module of every plan entry.
    pub(super) tasks: &'r [&'r LoadedTask],
    /// The signed plan.
    pub(super) run_start: &'r RunStart,
    /// The run secret behind the transcript commitments.
    pub(super) secret: &'r [u8; 32],
    /// Worker threads at most.
    pub(super) sandboxes: usize,
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
    pub(super) fn run(
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
    let tool_mode = run_start.model.tool_mode;
    let mut session = parts.agent.session(&SessionContext {
        task: &task.info,
        plan_index: plan_index as u32,
        epoch: planned.epoch,
        seed,
        tool_mode,
    });
    let start = StartArgs { seed, tool_mode };
    let run = parts.sandbox.run(task, &start, session.as_mut());
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
        tokens: run.tokens,
        wall_time_us: u64::try_from(run.wall_time.as_micros()).unwrap_or(u64::MAX),
        transcript_commitment: commitment(&opening, &transcript_bytes),
    };
    (result, transcript_bytes)
}
