//! Guest SDK for Airlock benchmark tasks: implement one trait, call one macro.
//!
//! A task is a deterministic state machine ([`Task`]): it starts from a seed,
//! says something to the model, reads the model's reply, and either says
//! something again or ends with a score. [`export_task!`] turns a [`Task`]
//! into the WebAssembly exports of the task ABI (`airlock_core::abi`), so a
//! task crate needs no `unsafe` code and no knowledge of guest memory.
//!
//! ```
//! # extern crate alloc;
//! use airlock_task_sdk::{Difficulty, ModelReply, Ppm, Step, Task, TaskInfo, ABI_VERSION};
//! use alloc::string::{String, ToString};
//! use alloc::vec::Vec;
//!
//! /// Replies `pong` to get full credit.
//! pub struct Ping;
//!
//! impl Task for Ping {
//!     fn info() -> TaskInfo {
//!         TaskInfo {
//!             abi_version: ABI_VERSION,
//!             id: "ping".to_string(),
//!             version: 1,
//!             title: "Ping".to_string(),
//!             category: "knowledge".to_string(),
//!             difficulty: Difficulty::Easy,
//!             max_turns: 1,
//!             description: "Say pong.".to_string(),
//!             system_prompt: String::new(),
//!             tools: Vec::new(),
//!         }
//!     }
//!     fn start(_seed: [u8; 32]) -> (Self, Step) {
//!         (Ping, Step::Say("Reply with the word pong.".to_string()))
//!     }
//!     fn step(&mut self, reply: &ModelReply) -> Step {
//!         let full = reply.text.trim() == "pong";
//!         Step::Done(if full { Ppm::FULL } else { Ppm::ZERO })
//!     }
//! }
//!
//! airlock_task_sdk::export_task!(Ping);
//! ```
//!
//! On `wasm32` this crate also provides the guest's global allocator
//! (dlmalloc) and a panic handler that traps, so a panicking task ends as a
//! trap the host records. Neither is compiled for any other target: there
//! the task crates are ordinary libraries used by tests and by the runner's
//! reference agent.
#![no_std]
#![deny(missing_docs)]
// A `pub` item must be reachable from outside the crate; anything else says
// `pub(crate)`, so the public face of each crate is what it declares.
#![warn(unreachable_pub)]

extern crate alloc;
// Task crates are also cdylibs: built for the host (by `cargo test`), they
// need std's allocator and panic handler, which linking std here provides.
#[cfg(not(target_arch = "wasm32"))]
extern crate std as _;

use alloc::string::String;

pub use airlock_core::Ppm;
pub use airlock_core::abi::{
    ABI_VERSION, Category, Difficulty, ModelReply, Prompt, Step, TaskInfo, ToolCall,
    ToolCallProblem, ToolMode, ToolResult, ToolSpec, category,
};
pub use airlock_core::hex;

#[cfg(target_arch = "wasm32")]
mod guest;
#[cfg(not(target_arch = "wasm32"))]
mod native;
pub mod rng;
#[cfg(not(target_arch = "wasm32"))]
pub mod testkit;
pub mod text;
pub mod tools;

#[cfg(not(target_arch = "wasm32"))]
pub use native::{NativeRun, NativeTurn, run_native, run_native_in};

/// A benchmark task: a deterministic state machine driven by model replies.
///
/// Everything a task does must follow from its seed and the replies it is
/// given (no clocks, no randomness other than [`rng::Rng`] seeded from the
/// seed), so that a run can be re-executed bit for bit from its transcript.
/// Replies come from a possibly hostile model: a task must accept any text
/// of any length without panicking, since a panic ends the task as a trap.
pub trait Task: Sized {
    /// What the task says about itself. Must be the same on every call.
    fn info() -> TaskInfo;

    /// Builds the instance for `seed` and returns its first step.
    fn start(seed: [u8; 32]) -> (Self, Step);

    /// Builds the instance for `seed` in a run whose model is offered the
    /// task's tools ([`ToolMode::Native`]) or not ([`ToolMode::Text`]). A
    /// task that declares tools overrides this to phrase its prompts for the
    /// mode; the default ignores the mode.
    fn start_in_mode(seed: [u8; 32], tool_mode: ToolMode) -> (Self, Step) {
        let _ = tool_mode;
        Self::start(seed)
    }

    /// Reads the model's reply to the last [`Step::Say`] or
    /// [`Step::ToolResults`] and returns the next step. After a reply with
    /// tool calls the next step must be [`Step::ToolResults`] answering each
    /// call in order (the host checked each against the declared tools and
    /// says why a call does not fit in its `problem`), or [`Step::Done`].
    /// After `info().max_turns` replies the task must return [`Step::Done`];
    /// it is never called again after that.
    fn step(&mut self, reply: &ModelReply) -> Step;
}

/// A reference solver: solves a task from what the task says, and nothing
/// else. It never sees the seed, so a full score from it shows that the
/// task's text is enough to solve it.
pub trait Solver: Send {
    /// The reply to one `Say` of the task.
    fn reply(&mut self, say: &str) -> String;

    /// The reply to one prompt in a run of `tool_mode`, as a model would
    /// give it. The default answers the prompt's text with [`Solver::reply`]
    /// and makes no tool calls; a solver of a task with tools overrides this
    /// to call them in [`ToolMode::Native`].
    fn respond(&mut self, prompt: &Prompt, tool_mode: ToolMode) -> ModelReply {
        let _ = tool_mode;
        ModelReply {
            text: self.reply(&prompt.plain_text()),
            truncated: false,
            tool_calls: alloc::vec::Vec::new(),
        }
    }
}

/// Exports a [`Task`] type as the WebAssembly task ABI.
///
/// Call it once, at the root of a task crate whose `crate-type` includes
/// `cdylib`. On `wasm32` it defines the functions named in
/// `airlock_core::abi::REQUIRED_EXPORTS` (rustc exports the memory by
/// itself); on other targets it only checks that the type is a [`Task`].
/// The expansion contains no `unsafe` block, so task crates can
/// `#![forbid(unsafe_code)]`.
#[macro_export]
macro_rules! export_task {
    ($task:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[unsafe(no_mangle)]
            extern "C" fn airlock_abi_version() -> i32 {
                $crate::__private::abi_version()
            }
            #[unsafe(no_mangle)]
            extern "C" fn airlock_input(len: i32) -> i32 {
                $crate::__private::input(len)
            }
            #[unsafe(no_mangle)]
            extern "C" fn airlock_info() -> i64 {
                $crate::__private::info::<$task>()
            }
            #[unsafe(no_mangle)]
            extern "C" fn airlock_start(len: i32) -> i64 {
                $crate::__private::start::<$task>(len)
            }
            #[unsafe(no_mangle)]
            extern "C" fn airlock_step(len: i32) -> i64 {
                $crate::__private::step::<$task>(len)
            }
        };
        const _: () = $crate::__private::assert_task::<$task>();
    };
}

/// Support for [`export_task!`]; not a public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::guest::{abi_version, info, input, start, step};

    /// Fails to compile unless `T` is a [`crate::Task`].
    pub const fn assert_task<T: crate::Task>() {}
}
