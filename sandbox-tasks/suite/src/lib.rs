//! The default suite: the benchmark tasks, compiled to WebAssembly by this
//! crate's build script and embedded with their blake3 digests.
//!
//! The tasks and their order are listed once, in `tasks.rs` beside this
//! crate's `Cargo.toml`. The same task crates, compiled for the host,
//! provide the reference solvers ([`reference_solver`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A `pub` item must be reachable from outside the crate; anything else says
// `pub(crate)`, so the public face of each crate is what it declares.
#![warn(unreachable_pub)]

use core::fmt;

use airlock_task_sdk::Solver;
use airlock_task_sdk::hex::encode as hex;

/// One embedded task module.
pub struct EmbeddedModule {
    /// The task's id, as its `info()` reports it.
    pub task_id: &'static str,
    /// File name of the module as built, e.g. `task_crypto_xor.wasm`.
    pub file_name: &'static str,
    /// The WebAssembly module.
    pub bytes: &'static [u8],
    /// blake3 of `bytes`, computed at build time.
    pub digest: [u8; 32],
}

impl fmt::Debug for EmbeddedModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes themselves would flood any log: show their size.
        f.debug_struct("EmbeddedModule")
            .field("task_id", &self.task_id)
            .field("file_name", &self.file_name)
            .field("len", &self.bytes.len())
            .field("digest", &hex(&self.digest))
            .finish()
    }
}

/// Name of this suite.
pub const SUITE_NAME: &str = "default";

include!(concat!(env!("OUT_DIR"), "/suite.rs"));

/// The suite's modules, in suite order (the order of `tasks.rs`).
pub fn modules() -> &'static [EmbeddedModule] {
    MODULES
}

macro_rules! suite {
    ($($id:literal => $krate:ident { $task:ident, $solver:ident };)*) => {
        /// A new reference solver for the task `task_id`, or `None` when
        /// the suite has no such task.
        pub fn reference_solver(task_id: &str) -> Option<Box<dyn Solver>> {
            match task_id {
                $($id => Some(Box::new(<$krate::$solver>::default())),)*
                _ => None,
            }
        }

        /// `(task id, info)` of each task as its host-compiled crate reports
        /// it, in suite order: the embedded modules' metadata without
        /// compiling them (the runner's report tests check that they agree).
        pub fn task_infos() -> Vec<(&'static str, airlock_task_sdk::TaskInfo)> {
            use airlock_task_sdk::Task as _;
            vec![$(($id, <$krate::$task>::info())),*]
        }

        /// `(task id, the host-compiled task's info)` for each task, in
        /// suite order, so tests can check the list against the tasks.
        #[cfg(test)]
        fn listed_tasks() -> Vec<(&'static str, airlock_task_sdk::TaskInfo)> {
            use airlock_task_sdk::Task as _;
            vec![$(($id, <$krate::$task>::info())),*]
        }

        /// Runs the host-compiled task `task_id` natively with its reference
        /// solver (for comparing the WebAssembly module with the same code
        /// on the host); `None` when the suite has no such task.
        pub fn run_reference(task_id: &str, seed: [u8; 32]) -> Option<airlock_task_sdk::NativeRun> {
            run_reference_in(task_id, seed, airlock_task_sdk::ToolMode::Text)
        }

        /// [`run_reference`] in the given tool mode: in
        /// [`airlock_task_sdk::ToolMode::Native`] the solvers of the tasks
        /// with tools answer with tool calls.
        pub fn run_reference_in(
            task_id: &str,
            seed: [u8; 32],
            tool_mode: airlock_task_sdk::ToolMode,
        ) -> Option<airlock_task_sdk::NativeRun> {
            use airlock_task_sdk::Task as _;
            match task_id {
                $($id => {
                    let mut solver = reference_solver(task_id)?;
                    let max_turns = <$krate::$task>::info().max_turns;
                    Some(airlock_task_sdk::run_native_in::<$krate::$task>(
                        seed,
                        tool_mode,
                        solver.as_mut(),
                        max_turns,
                    ))
                })*
                _ => None,
            }
        }
    };
}
include!("../tasks.rs");

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_task_sdk::{Ppm, ToolMode, tools};

    #[test]
    fn modules_follow_the_list_and_match_their_tasks() {
        let listed = listed_tasks();
        assert_eq!(modules().len(), listed.len());
        for (module, (id, info)) in modules().iter().zip(&listed) {
            assert_eq!(module.task_id, *id);
            assert_eq!(
                info.id, *id,
                "tasks.rs names {id} but the task says {}",
                info.id
            );
        }
    }

    #[test]
    fn every_task_has_a_working_reference_solver() {
        for module in modules() {
            for mode in [ToolMode::Text, ToolMode::Native] {
                let run = run_reference_in(module.task_id, [42; 32], mode).expect("listed task");
                assert_eq!(
                    run.score,
                    Some(Ppm::FULL),
                    "{} {}",
                    module.task_id,
                    mode.name()
                );
            }
        }
        assert!(reference_solver("no-such-task").is_none());
    }

    #[test]
    fn the_tasks_with_tools_declare_submit_and_a_command_tool_and_call_them() {
        let with_tools: Vec<&str> = listed_tasks()
            .into_iter()
            .filter(|(_, info)| !info.tools.is_empty())
            .map(|(id, info)| {
                let names: Vec<&str> = info.tools.iter().map(|t| t.name.as_str()).collect();
                assert!(names.contains(&tools::SUBMIT), "{id}: {names:?}");
                let command = if id == "web-sqli" {
                    "http"
                } else {
                    tools::BASH
                };
                assert!(names.contains(&command), "{id}: {names:?}");
                assert!(!info.system_prompt.is_empty(), "{id}");
                let run = run_reference_in(id, [7; 32], ToolMode::Native).expect("listed task");
                assert!(
                    run.transcript
                        .iter()
                        .all(|t| !t.model_reply.tool_calls.is_empty()),
                    "{id}: the reference solver answers with tool calls"
                );
                id
            })
            .collect();
        assert_eq!(
            with_tools,
            ["vuln-parser", "web-sqli", "agentic-host", "agentic-recon"],
            "in suite order"
        );
    }

    #[test]
    fn debug_shows_size_and_digest_not_bytes() {
        let text = format!("{:?}", modules()[0]);
        assert!(text.contains("len:"));
        assert!(text.contains(&hex(&modules()[0].digest)));
    }
}
