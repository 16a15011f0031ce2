//! Sandbox helpers shared by the runner's integration tests: the default
//! profile's limits, the embedded suite and its reference solvers, and the
//! sandbox tests' own helpers.
// Each test target uses its own part of these helpers.
#![allow(dead_code)]

use airlock::profile;
use airlock_core::outcome::ModelErrorKind;
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

/// An agent that is a task's reference solver.
pub struct Reference(pub Box<dyn airlock_task_sdk::Solver>);

impl Conversation for Reference {
    fn reply(&mut self, say: &str) -> Result<String, ModelErrorKind> {
        Ok(self.0.reply(say))
    }
}

/// The reference solver of an embedded-suite task, as an agent.
pub fn reference_agent(task: &LoadedTask) -> Reference {
    let solver = airlock_default_suite::reference_solver(&task.info.id)
        .unwrap_or_else(|| panic!("{} has no reference solver", task.info.id));
    Reference(solver)
}

/// Every task of the embedded suite, loaded into `sandbox`.
pub fn load_suite(sandbox: &Sandbox) -> Vec<LoadedTask> {
    airlock_default_suite::modules()
        .iter()
        .map(|m| sandbox.load(m.bytes).unwrap())
        .collect()
}
