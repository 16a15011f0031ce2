//! Sandbox helpers shared by the runner's integration tests: the default
//! profile's limits, the embedded suite and its reference solvers, and the
//! sandbox tests' own helpers.
// Each test target uses its own part of these helpers.
#![allow(dead_code)]

use airlock::profile;
use airlock_core::abi::{StartArgs, ToolMode};
use airlock_sandbox::{Conversation, LoadedTask, Sandbox, SandboxLimits};

// One copy of the WAT task and the simple agents, kept beside the sandbox's
// own tests.
#[path = "../../sandbox/tests/common/mod.rs"]
mod sandbox_common;
pub use sandbox_common::*;

/// The limits of the `default` hardware profile.
pub fn default_limits() -> SandboxLimits {
    profile::load("default").unwrap().profile.sandbox_limits()
}

/// The reference solver of an embedded-suite task in text mode, as an agent.
pub fn reference_agent(task: &LoadedTask) -> Box<dyn Conversation + Send> {
    reference_agent_in(task, ToolMode::Text)
}

/// The reference solver of an embedded-suite task in `tool_mode`, as an agent.
pub fn reference_agent_in(task: &LoadedTask, tool_mode: ToolMode) -> Box<dyn Conversation + Send> {
    assert!(
        airlock_default_suite::reference_solver(&task.info.id).is_some(),
        "{} has no reference solver",
        task.info.id
    );
    airlock::agent::reference_session(&task.info.id, tool_mode)
}

/// The start of a text-mode instance of `seed`.
pub fn text(seed: [u8; 32]) -> StartArgs {
    StartArgs {
        seed,
        tool_mode: ToolMode::Text,
    }
}

/// The start of a native-mode instance of `seed`.
pub fn native(seed: [u8; 32]) -> StartArgs {
    StartArgs {
        seed,
        tool_mode: ToolMode::Native,
    }
}

/// Every task of the embedded suite, loaded into `sandbox`.
pub fn load_suite(sandbox: &Sandbox) -> Vec<LoadedTask> {
    airlock_default_suite::modules()
        .iter()
        .map(|m| sandbox.load(m.bytes).unwrap())
        .collect()
}
