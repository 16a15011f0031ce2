//! Airlock attestation: Ed25519 keys, signed records, journals, bundles and
//! their offline verification.
//!
//! The record, chain and signed-message definitions live in `airlock-core`;
//! this crate signs them ([`keys`]), frames them into journals ([`journal`])
//! and bundles ([`bundle`]), and verifies bundles level by level
//! ([`verify`]), checking the station chain across bundles
//! ([`station_chain`]). The files a run keeps inside the enclave are here
//! too, so a verifier outside can check what is disclosed without linking
//! the sandbox: the sealed transcript store ([`transcripts`]), disclosure
//! files ([`disclosure`]) and the station state ([`station_state`]). Byte
//! layouts are in `SPEC.md` and pinned by exact-byte tests.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A `pub` item must be reachable from outside the crate; anything else says
// `pub(crate)`, so the public face of each crate is what it declares.
#![warn(unreachable_pub)]

pub mod bundle;
pub mod campaign;
#[cfg(test)]
mod classify_tests;
pub mod disclosure;
pub mod dsse;
pub mod error;
pub mod frame;
mod fsutil;
pub mod hardware;
pub mod journal;
pub mod keys;
pub mod log_check;
pub mod manifest;
pub mod release;
mod signed_file;
pub mod station_chain;
pub mod station_log;
pub mod station_state;
pub mod suite_check;
pub mod transcripts;
pub mod verify;
pub mod witness;

pub use bundle::{BundleReader, BundleTrailer, BundleWriter, Overwrite, write_bundle};
pub use error::{AttestError, locked_message};
pub use fsutil::{
    CreatedDirs, SecretError, create_dirs, open_regular, read_regular, read_secret,
    try_lock_exclusive, write_file_atomically,
};
pub use journal::{JournalWriter, journal_to_bundle, verify_journal};
pub use keys::{GeneratedKey, PublicKey, SigningKey, keygen};
pub use manifest::{MANIFEST_FILE_NAME, VerifiedManifest, read_manifest, write_manifest};
pub use verify::{
    Level, Status, Verdict, VerifyOptions, verify_bundle, verify_bundle_file,
    verify_bundle_file_with,
};
