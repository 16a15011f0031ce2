//! Re-execution of one task instance from its transcript (the replay level,
//! SPEC.md "Verification", level 6): run the planned module again with the
//! recorded replies, on either backend, and compare outcome, score, fuel
//! and turns with the signed TaskResult.
//!
//! This is the engine; where transcripts come from (the sealed store inside
//! the enclave, or disclosed files outside) is the caller's business.

use airlock_core::abi::StartArgs;
use airlock_core::record::TokenTotals;
use core::fmt;

use airlock_core::Ppm;
use airlock_core::digest::instance_seed;
use airlock_core::outcome::Outcome;
use airlock_core::record::{RunStart, TaskResult};
use airlock_core::transcript::{Transcript, commitment};

use crate::agent::replay::{Divergence, ReplayAgent, ReplayEntry};
use crate::agent::{Agent as _, SessionContext};
use airlock_sandbox::{LoadedTask, Sandbox};

/// Why a re-execution does not reproduce the signed result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayMismatch {
    /// The transcript is not of this plan entry (task, index, epoch or seed differ).
    WrongInstance(String),
    /// The transcript does not open the result's commitment under the opening key given.
    Commitment,
    /// The planned module is not the one given.
    WrongModule,
    /// The task left the transcript: it said something else than recorded,
    /// asked for a turn the transcript does not have, or stopped early.
    Diverged(Divergence),
    /// Re-execution ended differently from the record.
    Different {
        /// Which field: `outcome`, `score`, `fuel`, `memory` or `turns`.
        field: &'static str,
        /// What the signed record says.
        recorded: String,
        /// What re-execution gave.
        replayed: String,
    },
}

impl fmt::Display for ReplayMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayMismatch::WrongInstance(what) => {
                write!(f, "the transcript is not this result's: {what}")
            }
            ReplayMismatch::Commitment => f.write_str(
                "the transcript does not match the result's commitment under its opening key",
            ),
            ReplayMismatch::WrongModule => {
                f.write_str("the module given is not the planned module")
            }
            ReplayMismatch::Diverged(d) => write!(
                f,
                "re-execution left the transcript at turn {}: {}",
                d.turn, d.problem
            ),
            ReplayMismatch::Different {
                field,
                recorded,
                replayed,
            } => write!(
                f,
                "{field} {replayed} on re-execution, {recorded} in the signed record"
            ),
        }
    }
}

impl core::error::Error for ReplayMismatch {}

/// What re-execution gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reexecution {
    /// How it ended.
    pub outcome: Outcome,
    /// The score.
    pub score: Ppm,
    /// Fuel consumed (as recorded: see SPEC.md "Cross-backend determinism").
    pub fuel_consumed: u64,
    /// Peak linear memory in bytes (as recorded, like the fuel).
    pub peak_memory_bytes: u64,
    /// Model turns.
    pub turns: u32,
    /// Tokens, summed from the transcript's recorded usage.
    pub tokens: TokenTotals,
}

/// Re-executes `result`'s task instance from `transcript` in `sandbox` and
/// compares it with the signed record. `task` must be the planned module;
/// `opening`, when given, is the transcript's opening key, and the
/// transcript must then open the result's commitment.
pub fn reexecute(
    sandbox: &Sandbox,
    task: &LoadedTask,
    run_start: &RunStart,
    result: &TaskResult,
    transcript: &Transcript,
    opening: Option<&[u8; 32]>,
) -> Result<Reexecution, ReplayMismatch> {
    if task.digest != result.module_digest {
        return Err(ReplayMismatch::WrongModule);
    }
    let seed = instance_seed(&run_start.seed, &result.task_id, result.epoch);
    let tool_mode = run_start.model.tool_mode;
    for (what, same) in [
        ("task id", transcript.task_id == result.task_id),
        ("plan index", transcript.plan_index == result.plan_index),
        ("epoch", transcript.epoch == result.epoch),
        ("instance seed", transcript.seed == seed),
    ] {
        if !same {
            return Err(ReplayMismatch::WrongInstance(format!("its {what} differs")));
        }
    }
    if let Some(opening) = opening {
        let bytes = postcard::to_allocvec(transcript).unwrap_or_default();
        if commitment(opening, &bytes) != result.transcript_commitment {
            return Err(ReplayMismatch::Commitment);
        }
    }
    let model_error = match result.outcome {
        Outcome::ModelError(kind) => Some(kind),
        _ => None,
    };
    // The replay agent is the one `--agent replay:DIR` runs with: one
    // implementation of "answer from the record" for both uses.
    let agent = ReplayAgent::new([ReplayEntry {
        transcript: transcript.clone(),
        model_error,
    }])
    .map_err(ReplayMismatch::WrongInstance)?;
    let run = {
        let mut session = agent.session(&SessionContext {
            task: &task.info,
            plan_index: result.plan_index,
            epoch: result.epoch,
            seed,
            tool_mode,
        });
        sandbox.run(task, &StartArgs { seed, tool_mode }, session.as_mut())
    };
    if let Some(divergence) = agent.divergences().into_iter().next() {
        return Err(ReplayMismatch::Diverged(divergence));
    }
    let replayed = Reexecution {
        outcome: run.outcome,
        score: run.score,
        fuel_consumed: run.fuel_consumed,
        peak_memory_bytes: run.peak_memory_bytes,
        turns: run.turns.len() as u32,
        tokens: run.tokens,
    };
    let tokens = |t: &TokenTotals| {
        format!(
            "{} prompt + {} completion ({} calls without usage)",
            t.prompt_tokens, t.completion_tokens, t.calls_without_usage
        )
    };
    let checks: [(&'static str, String, String); 6] = [
        (
            "outcome",
            result.outcome.to_string(),
            replayed.outcome.to_string(),
        ),
        (
            "score",
            result.score.to_string(),
            replayed.score.to_string(),
        ),
        (
            "fuel",
            result.fuel_consumed.to_string(),
            replayed.fuel_consumed.to_string(),
        ),
        (
            "memory",
            result.peak_memory_bytes.to_string(),
            replayed.peak_memory_bytes.to_string(),
        ),
        (
            "turns",
            result.turns.to_string(),
            replayed.turns.to_string(),
        ),
        ("tokens", tokens(&result.tokens), tokens(&replayed.tokens)),
    ];
    for (field, recorded, replayed) in checks {
        if recorded != replayed {
            return Err(ReplayMismatch::Different {
                field,
                recorded,
                replayed,
            });
        }
    }
    Ok(replayed)
}
