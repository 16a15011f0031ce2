//! The verifier's build has no sandbox, so it has no replay level: neither
//! type below has a value, so no replay can be asked for, and
//! `verify --replay` is refused before a request would be built.

use std::path::PathBuf;

use airlock_attest::verify::LevelReport;

use airlock_attest::disclosure::{DisclosedRecords, Disclosure, DisclosureError};
use airlock_attest::transcripts::StoreError;

/// Where the replay level would take transcripts from: none in this build.
#[derive(Debug)]
pub enum TranscriptSource {}

/// A replay level request, which this build cannot make.
#[derive(Debug)]
pub enum ReplayRequest {}

impl ReplayRequest {
    /// Whether the level needs every TaskResult of the bundle kept.
    pub(crate) fn wants_all_results(&self) -> bool {
        match *self {}
    }
}

/// The replay level of a bundle, which cannot be asked for in this build.
pub(crate) fn replay_level(
    request: &ReplayRequest,
    _bundle_verified: bool,
    _records: &DisclosedRecords,
    _disclosures: &[(PathBuf, Result<Disclosure, DisclosureError>)],
) -> Result<LevelReport, StoreError> {
    match *request {}
}
