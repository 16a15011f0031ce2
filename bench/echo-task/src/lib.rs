//! Task `bench-echo`: the smallest single-turn exact-match task, for
//! `cargo xtask bench` only.
//!
//! Each instance says a seeded string of 32 hexadecimal digits and gives
//! full credit when the reply is exactly that string. It measures the
//! runner's cost per sample (sandbox, signing, chaining, durable journal),
//! not a capability, which is why it lives outside `sandbox-tasks/tasks/`
//! and never joins the embedded default suite. The `echo` agent, which
//! answers each prompt with the prompt itself, scores it full.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_task_sdk::rng::Rng;
use airlock_task_sdk::text::hex_encode;
use airlock_task_sdk::{
    ABI_VERSION, Difficulty, ModelReply, Ppm, Solver, Step, Task, TaskInfo, category,
};

/// Stable task id.
pub const TASK_ID: &str = "bench-echo";

/// One instance: the string the reply must repeat.
#[derive(Debug)]
pub struct EchoTask {
    expected: String,
}

impl Task for EchoTask {
    fn info() -> TaskInfo {
        TaskInfo {
            abi_version: ABI_VERSION,
            id: TASK_ID.to_string(),
            version: 1,
            title: "Repeat a seeded string (benchmark only)".to_string(),
            category: category::KNOWLEDGE.into(),
            difficulty: Difficulty::Easy,
            max_turns: 1,
            description: "Reply with exactly the string given.".to_string(),
            system_prompt: String::new(),
            tools: Vec::new(),
        }
    }

    fn start(seed: [u8; 32]) -> (Self, Step) {
        let mut rng = Rng::from_seed(seed);
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let expected = hex_encode(&bytes);
        let say = expected.clone();
        (EchoTask { expected }, Step::Say(say))
    }

    fn step(&mut self, reply: &ModelReply) -> Step {
        let full = !reply.truncated && reply.text == self.expected;
        Step::Done(if full { Ppm::FULL } else { Ppm::ZERO })
    }
}

airlock_task_sdk::export_task!(EchoTask);

/// Reference solver: repeats what it was told.
#[derive(Debug, Default)]
pub struct EchoSolver;

impl Solver for EchoSolver {
    fn reply(&mut self, say: &str) -> String {
        say.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_task_sdk::run_native;
    use alloc::format;

    #[test]
    fn repeating_scores_full_anything_else_zero() {
        for i in 0..20u8 {
            let run = run_native::<EchoTask>([i; 32], &mut EchoSolver, 1);
            assert_eq!(run.score, Some(Ppm::FULL));
            assert_eq!(run.turns, 1);
            let (mut task, Step::Say(say)) = EchoTask::start([i; 32]) else {
                panic!("the task must say something first");
            };
            assert_eq!(say.len(), 32);
            for wrong in [
                "",
                " ",
                "x",
                &say[1..],
                &format!("{say} "),
                &say.to_uppercase(),
            ] {
                if wrong == say {
                    continue;
                }
                let reply = ModelReply {
                    text: wrong.to_string(),
                    truncated: false,
                    tool_calls: Vec::new(),
                };
                assert_eq!(task.step(&reply), Step::Done(Ppm::ZERO), "{wrong:?}");
            }
        }
    }

    #[test]
    fn seeds_give_different_strings() {
        let (_, a) = EchoTask::start([1; 32]);
        let (_, b) = EchoTask::start([2; 32]);
        assert_ne!(a, b);
        assert_eq!(a, EchoTask::start([1; 32]).1);
    }
}
