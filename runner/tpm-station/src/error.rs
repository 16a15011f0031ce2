//! The one error type of the crate.

use core::fmt;
use std::path::PathBuf;

use airlock_core::{Classify, ErrorClass};
use airlock_tpm_quote::QuoteError;

/// Why enrolment or a quote did not complete on the station.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StationError {
    /// A tpm2-tools program could not be started (not installed, not
    /// executable).
    Spawn {
        /// The program.
        program: &'static str,
        /// The operating system's reason.
        reason: String,
    },
    /// A tpm2-tools program exited unsuccessfully.
    Tool {
        /// The program.
        program: &'static str,
        /// Its exit code, if it exited rather than being killed.
        code: Option<i32>,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// A file of the station directory (or a scratch file) could not be
    /// read or written.
    File {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// A PCR selection that tpm2-tools cannot be asked for (unknown hash,
    /// empty bank, no bank).
    PcrSelection {
        /// The selection, as far as it can be printed.
        selection: String,
    },
    /// The station directory's saved PCR selection is not one enrolment
    /// writes.
    SavedSelection {
        /// The file.
        path: PathBuf,
    },
    /// tpm2_readpublic's DER is not a P-256 SubjectPublicKeyInfo with an
    /// uncompressed point.
    AkPublicKey {
        /// The length of the DER read.
        len: usize,
    },
    /// The TPM's own quote did not check against what enrolment read.
    Quote(QuoteError),
}

impl Classify for StationError {
    fn class(&self) -> ErrorClass {
        match self {
            // Host failures that checked nothing.
            StationError::Spawn { .. }
            | StationError::Tool { .. }
            | StationError::File { .. }
            | StationError::PcrSelection { .. }
            | StationError::SavedSelection { .. }
            | StationError::AkPublicKey { .. } => ErrorClass::Input,
            StationError::Quote(e) => e.class(),
        }
    }
}

impl From<QuoteError> for StationError {
    fn from(e: QuoteError) -> Self {
        StationError::Quote(e)
    }
}

impl fmt::Display for StationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StationError::Spawn { program, reason } => {
                write!(f, "cannot start {program} (tpm2-tools): {reason}")
            }
            StationError::Tool {
                program,
                code,
                stderr,
            } => {
                let code = code.map_or_else(|| String::from("a signal"), |c| format!("code {c}"));
                write!(f, "{program} failed with {code}: {}", stderr.trim_end())
            }
            StationError::File { path, reason } => {
                write!(f, "station file {}: {reason}", path.display())
            }
            StationError::PcrSelection { selection } => write!(
                f,
                "PCR selection {selection} cannot be given to tpm2-tools (unknown hash or empty bank)"
            ),
            StationError::SavedSelection { path } => write!(
                f,
                "{}: not a PCR selection written by enrolment; enrol again",
                path.display()
            ),
            StationError::AkPublicKey { len } => write!(
                f,
                "tpm2_readpublic: the AK's {len}-byte DER is not a P-256 public key with an \
                 uncompressed point"
            ),
            StationError::Quote(e) => write!(f, "the TPM's quote does not check: {e}"),
        }
    }
}

impl core::error::Error for StationError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            StationError::Quote(e) => Some(e),
            _ => None,
        }
    }
}
