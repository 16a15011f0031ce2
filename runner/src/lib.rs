//! The Airlock runner library: the wasmtime sandbox host, model agents, run
//! orchestration, the journal and the CLI's commands.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod agent;
pub mod check;
pub mod disclosure;
pub mod profile;
pub mod reexecute;
pub mod report;
pub mod run;
mod run_error;
pub mod runfiles;
pub mod station;
pub mod suite;
pub mod transcripts;
pub mod verifier;
