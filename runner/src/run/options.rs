//! What the caller hands a run: where it writes and how it starts, the
//! loaded parts it runs with, and who hears of each durable result. Every
//! step of the run reads these, so they stand below all of them.

use airlock_core::abi::ToolMode;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use std::path::PathBuf;
use std::sync::Arc;

use airlock_attest::campaign::VerifiedPlan;

use airlock_attest::{Overwrite, SigningKey};
use airlock_core::record::TaskResult;

use crate::agent::Agent;
use crate::profile::HardwareProfile;
use crate::suite::LoadedSuite;
use airlock_sandbox::Sandbox;

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
    /// Whether tasks' tools are offered as native tool calls (`--tool-mode`),
    /// recorded in RunStart's model descriptor.
    pub tool_mode: ToolMode,
    /// The campaign shard this run is, when it is one: its plan, seed and
    /// link come from the signed campaign plan instead of the suite.
    pub campaign: Option<CampaignShard>,
    /// The task ids to run, in suite order (`--task`, `--category`);
    /// `None` for the whole suite. Ignored for a campaign shard.
    pub selection: Option<Vec<String>>,
    /// Digest of the run's canonical settings (SPEC.md, "Campaign files"),
    /// recorded in RunStart; `None` for a campaign shard.
    pub settings: Option<airlock_core::Digest>,
    /// The station's enrolled TPM, which quotes the run at RunStart and
    /// RunEnd; `None` for a station without one (RunStart says so).
    pub tpm: Option<super::hardware::TpmStation>,
    /// Set (by a signal handler) to stop the run early and resumably.
    pub interrupt: Interrupt,
}

/// One shard of a signed campaign plan (SPEC.md, "Campaigns").
#[derive(Clone, Debug)]
pub struct CampaignShard {
    /// The plan, as read and checked.
    pub plan: VerifiedPlan,
    /// The plan file, for messages.
    pub plan_path: PathBuf,
    /// The shard's index.
    pub shard: u32,
}

/// A request to stop a run early: no task instance is started once it is
/// set, the results already finished are made durable, and the run ends
/// with [`RunError::Interrupted`](super::RunError::Interrupted), its journal
/// ready to resume. Instances still running are run again on resume (they
/// are deterministic, so they give the same results).
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// The flag a signal handler sets.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }

    /// Asks the run to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
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
