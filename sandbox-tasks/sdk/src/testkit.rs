//! Helpers for a task crate's native tests: seeds, scripted solvers and the
//! determinism check every task must pass. Native only; never in a module.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_core::abi::ModelReply;

use crate::{Solver, Task, run_native};

/// Test seed number `i` of a task: `i` little-endian in the first four
/// bytes and the task's own `tag` in the last, so that two crates' test
/// seeds never coincide.
pub fn seed(i: u32, tag: u8) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = tag;
    seed
}

/// A reply as the host would deliver it: `text`, not truncated.
pub fn reply(text: &str) -> ModelReply {
    ModelReply {
        text: text.to_string(),
        truncated: false,
        tool_calls: Vec::new(),
    }
}

/// A solver that gives fixed replies in order, then the last one forever
/// (an empty reply when it has none).
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    lines: Vec<String>,
    next: usize,
}

impl Scripted {
    /// A solver replying `lines` in order.
    pub fn new<S: AsRef<str>>(lines: &[S]) -> Scripted {
        Scripted {
            lines: lines.iter().map(|l| l.as_ref().to_string()).collect(),
            next: 0,
        }
    }
}

impl Solver for Scripted {
    fn reply(&mut self, _say: &str) -> String {
        let i = self.next.min(self.lines.len().saturating_sub(1));
        self.next += 1;
        self.lines.get(i).cloned().unwrap_or_default()
    }
}

/// Asserts that task `T` gives the same transcript, turns and score twice
/// for each seed, with a fresh solver from `solver` each time: the property
/// that makes a run re-executable from its transcript.
pub fn assert_same_seed_same_run<T: Task, S: Solver>(
    seeds: impl IntoIterator<Item = [u8; 32]>,
    solver: impl Fn() -> S,
    max_turns: u32,
) {
    for seed in seeds {
        let a = run_native::<T>(seed, &mut solver(), max_turns);
        let b = run_native::<T>(seed, &mut solver(), max_turns);
        assert_eq!(a, b, "two runs of seed {seed:02x?} differ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_replies_in_order_then_repeats_the_last() {
        let mut s = Scripted::new(&["a", "b"]);
        let got: Vec<String> = (0..4).map(|_| s.reply("say")).collect();
        assert_eq!(got, ["a", "b", "b", "b"]);
        assert_eq!(Scripted::new::<&str>(&[]).reply("say"), "");
    }

    #[test]
    fn seeds_differ_by_number_and_by_tag() {
        assert_ne!(seed(1, 7), seed(2, 7));
        assert_ne!(seed(1, 7), seed(1, 8));
        assert_eq!(seed(0x0403_0201, 9)[..4], [1, 2, 3, 4]);
        assert_eq!(seed(0, 9)[31], 9);
    }
}
