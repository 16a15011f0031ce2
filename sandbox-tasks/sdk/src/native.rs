//! Running a task natively, on the host, for tests.

use alloc::string::String;
use alloc::vec::Vec;

use airlock_core::Ppm;
use airlock_core::abi::{ModelReply, Step};
use airlock_core::transcript::Turn;

use crate::{Solver, Task};

/// How a native run ([`run_native`]) ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NativeRun {
    /// The score of [`Step::Done`], or `None` when the task still asked for
    /// a reply after `max_turns` turns.
    pub score: Option<Ppm>,
    /// Replies given to the task.
    pub turns: u32,
    /// Every answered `Say` with its reply, in order.
    pub transcript: Vec<Turn>,
    /// The `Say` left unanswered when the turn budget ran out.
    pub unanswered: Option<String>,
}

/// Runs task `T` from `seed` against `solver` for at most `max_turns` replies,
/// the way the host would, but in-process and without limits other than
/// the turn count.
pub fn run_native<T: Task>(seed: [u8; 32], solver: &mut dyn Solver, max_turns: u32) -> NativeRun {
    let (mut task, mut step) = T::start(seed);
    let mut transcript = Vec::new();
    let mut turns = 0u32;
    loop {
        match step {
            Step::Done(score) => {
                return NativeRun {
                    score: Some(score),
                    turns,
                    transcript,
                    unanswered: None,
                };
            }
            Step::Say(say) => {
                if turns >= max_turns {
                    return NativeRun {
                        score: None,
                        turns,
                        transcript,
                        unanswered: Some(say),
                    };
                }
                let reply = solver.reply(&say);
                step = task.step(&ModelReply {
                    text: reply.clone(),
                    truncated: false,
                });
                turns += 1;
                transcript.push(Turn {
                    say,
                    reply,
                    truncated: false,
                });
            }
        }
    }
}
