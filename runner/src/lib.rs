//! The Airlock runner library: run orchestration (`run`), model agents,
//! hardware profiles, suites, reports, and the audit behind `airlock verify`
//! ([`audit`]) with its replay level. It sits above `airlock-sandbox` (the
//! wasmtime host) and `airlock-attest` (every signed or sealed format); the
//! command line is the `airlock` binary beside it.
//!
//! Without the `sandbox` feature (on by default) only what a verifier
//! outside the enclave needs is built: the audit without replay, reports,
//! profiles and suite manifests, and nothing that links wasmtime.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A `pub` item must be reachable from outside the crate; anything else says
// `pub(crate)`, so the public face of each crate is what it declares.
#![warn(unreachable_pub)]

#[cfg(feature = "sandbox")]
pub mod agent;
pub mod audit;
#[cfg(feature = "sandbox")]
pub mod check;
pub mod executable;
pub mod profile;
#[cfg(feature = "sandbox")]
pub mod reexecute;
pub mod report;
#[cfg(feature = "sandbox")]
pub mod run;
pub mod slurm;
pub mod suite;
