//! Helpers of the sandbox's tests, shared with the runner's (which include
//! this file): small limits, a task module written in WAT and the agents a
//! task talks to.
// Each test target uses its own part of these helpers.
#![allow(dead_code)]

use core::time::Duration;

use airlock_core::abi::{Prompt, StartArgs, ToolMode};
use airlock_core::outcome::ModelErrorKind;
use airlock_sandbox::{Conversation, Reply, Sandbox, SandboxLimits, TaskRun, TokenBudget};

/// A `start` or `step` body returning `Step::Say("q")` (the data at 64).
pub const SAY_Q: &str = "i64.const 0x4000000003";
/// A `start` or `step` body returning `Step::Done(FULL)` (the data at 80).
pub const DONE_FULL: &str = "i64.const 0x5000000004";

/// Small limits for hostile modules: 5M fuel, 4 MiB of memory, 8-byte
/// replies, three turns; `wall_clock_backstop` as given.
pub fn small_limits(wall_clock_backstop: Duration) -> SandboxLimits {
    SandboxLimits {
        fuel_per_task: 5_000_000,
        memory_bytes: 4 * 1024 * 1024,
        max_wasm_stack_bytes: 256 * 1024,
        max_message_bytes: 4096,
        max_reply_bytes: 8,
        max_module_bytes: 1 << 20,
        max_turns: 3,
        wall_clock_backstop,
        max_instances: 2,
        max_table_elements: 1000,
        tokens: TokenBudget::default(),
    }
}

/// A task module whose `start` and `step` bodies are given. Data at 16 is a
/// valid TaskInfo (13 bytes), at 64 `Step::Say("q")` (3 bytes), at 80
/// `Step::Done(FULL)` (4 bytes).
pub fn task_wat(start: &str, step: &str, extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (memory (export "memory") 1)
  (data (i32.const 16) "\01\03wat\01\01W\04\00\04\01d")
  (data (i32.const 64) "\00\01q")
  (data (i32.const 80) "\01\c0\84\3d")
  (func (export "airlock_abi_version") (result i32) i32.const 1)
  (func (export "airlock_input") (param i32) (result i32) i32.const 1024)
  (func (export "airlock_info") (result i64) i64.const 0x100000000d)
  (func (export "airlock_start") (param i32) (result i64) {start})
  (func (export "airlock_step") (param i32) (result i64) {step})
  {extra}
)"#
    ))
    .unwrap()
}

/// The null agent: every reply empty.
pub struct Empty;

impl Conversation for Empty {
    fn reply(&mut self, _prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        Ok(Reply::default())
    }
}

/// An agent that gives the same answer (or model error) every turn.
pub struct Scripted(pub Result<String, ModelErrorKind>);

impl Conversation for Scripted {
    fn reply(&mut self, _prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        self.0.clone().map(Reply::text)
    }
}

/// Loads `module` into `sandbox` and runs it once with seed zero.
pub fn run_module(sandbox: &Sandbox, module: &[u8], agent: &mut dyn Conversation) -> TaskRun {
    let task = sandbox.load(module).unwrap();
    let start = StartArgs {
        seed: [0; 32],
        tool_mode: ToolMode::Text,
    };
    sandbox.run(&task, &start, agent)
}
