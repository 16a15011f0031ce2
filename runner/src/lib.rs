//! The Airlock runner library: model agents, run orchestration, the journal,
//! reports, the verifier and the CLI's commands; the wasmtime sandbox itself
//! is the `airlock-sandbox` crate.
//!
//! Without the `sandbox` feature (on by default) only what a verifier
//! outside the enclave needs is built: verification, reports, disclosures,
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
pub mod profile;
#[cfg(feature = "sandbox")]
pub mod reexecute;
pub mod report;
#[cfg(feature = "sandbox")]
pub mod run;
pub mod suite;
