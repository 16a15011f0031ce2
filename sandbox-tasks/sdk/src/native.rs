//! Running a task natively, on the host, for tests.

use alloc::string::String;
use alloc::vec::Vec;

use airlock_core::Ppm;
use airlock_core::abi::{ModelReply, Prompt, Step, ToolMode};

use crate::{Solver, Task};

/// One answered turn of a native run.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NativeTurn {
    /// The prompt's text ([`Prompt::plain_text`]).
    pub say: String,
    /// The reply's text.
    pub reply: String,
    /// Always false: a native run cuts nothing.
    pub truncated: bool,
    /// The prompt as the task gave it.
    pub prompt: Prompt,
    /// The reply as the task got it (with its tool calls).
    pub model_reply: ModelReply,
}

/// How a native run ([`run_native`]) ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NativeRun {
    /// The score of [`Step::Done`], or `None` when the task still asked for
    /// a reply after `max_turns` turns.
    pub score: Option<Ppm>,
    /// Replies given to the task.
    pub turns: u32,
    /// Every answered prompt with its reply, in order.
    pub transcript: Vec<NativeTurn>,
    /// The prompt's text left unanswered when the turn budget ran out.
    pub unanswered: Option<String>,
}

/// Runs task `T` from `seed` in text mode against `solver` for at most
/// `max_turns` replies, the way the host would, but in-process and without
/// limits other than the turn count.
pub fn run_native<T: Task>(seed: [u8; 32], solver: &mut dyn Solver, max_turns: u32) -> NativeRun {
    run_native_in::<T>(seed, ToolMode::Text, solver, max_turns)
}

/// [`run_native`] in the given tool mode: the solver's replies may carry
/// tool calls, which reach the task unchecked (the host's schema check is
/// not part of a native run).
pub fn run_native_in<T: Task>(
    seed: [u8; 32],
    tool_mode: ToolMode,
    solver: &mut dyn Solver,
    max_turns: u32,
) -> NativeRun {
    let (mut task, mut step) = T::start_in_mode(seed, tool_mode);
    let mut transcript = Vec::new();
    let mut turns = 0u32;
    loop {
        let prompt = match step {
            Step::Done(score) => {
                return NativeRun {
                    score: Some(score),
                    turns,
                    transcript,
                    unanswered: None,
                };
            }
            Step::Say(say) => Prompt::Text(say),
            Step::ToolResults(results) => Prompt::ToolResults(results),
        };
        if turns >= max_turns {
            return NativeRun {
                score: None,
                turns,
                transcript,
                unanswered: Some(prompt.plain_text()),
            };
        }
        let reply = solver.respond(&prompt, tool_mode);
        step = task.step(&reply);
        turns += 1;
        transcript.push(NativeTurn {
            say: prompt.plain_text(),
            reply: reply.text.clone(),
            truncated: false,
            prompt,
            model_reply: reply,
        });
    }
}
