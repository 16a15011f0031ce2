//! Helpers for a task crate's native tests: seeds, scripted solvers and the
//! determinism check every task must pass. Native only; never in a module.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_core::abi::{ModelReply, ToolMode};

use crate::{NativeRun, Solver, Task, run_native_in};

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

/// A digest of a run's prompts, replies, turns and score (hex blake3), so
/// that a test can pin a whole transcript in one line: a text-mode
/// transcript that must not change when a task learns tool calls.
pub fn transcript_digest(run: &NativeRun) -> String {
    let mut hasher = blake3::Hasher::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    for turn in &run.transcript {
        field(turn.say.as_bytes());
        field(turn.reply.as_bytes());
    }
    field(run.unanswered.as_deref().unwrap_or("").as_bytes());
    field(&run.turns.to_le_bytes());
    field(&run.score.map_or(u64::MAX, |s| u64::from(s.0)).to_le_bytes());
    airlock_core::hex::encode(hasher.finalize().as_bytes())
}

/// One digest of several runs ([`transcript_digest`] of each, in order).
pub fn transcripts_digest(runs: &[NativeRun]) -> String {
    let mut hasher = blake3::Hasher::new();
    for run in runs {
        hasher.update(transcript_digest(run).as_bytes());
    }
    airlock_core::hex::encode(hasher.finalize().as_bytes())
}

/// Asserts that task `T` gives the same transcript, turns and score twice
/// for each seed, with a fresh solver from `solver` each time: the property
/// that makes a run re-executable from its transcript.
pub fn assert_same_seed_same_run<T: Task, S: Solver>(
    seeds: impl IntoIterator<Item = [u8; 32]>,
    solver: impl Fn() -> S,
    max_turns: u32,
) {
    assert_same_seed_same_run_in::<T, S>(seeds, solver, max_turns, ToolMode::Text);
}

/// [`assert_same_seed_same_run`] in the given tool mode.
pub fn assert_same_seed_same_run_in<T: Task, S: Solver>(
    seeds: impl IntoIterator<Item = [u8; 32]>,
    solver: impl Fn() -> S,
    max_turns: u32,
    tool_mode: ToolMode,
) {
    for seed in seeds {
        let a = run_native_in::<T>(seed, tool_mode, &mut solver(), max_turns);
        let b = run_native_in::<T>(seed, tool_mode, &mut solver(), max_turns);
        assert_eq!(
            a,
            b,
            "two {} runs of seed {seed:02x?} differ",
            tool_mode.name()
        );
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
