//! The one error type of the crate.

use core::fmt;

use airlock_core::{Classify, ErrorClass};

/// Why a log format could not be read, or a proof, signature or quorum did
/// not hold.
///
/// Variants are grouped by module; [`Classify`] says which are integrity
/// failures (the bytes were read and are not what they claim) and which
/// are input errors (the bytes could not be read as the format at all).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlogError {
    /// Placeholder until the modules add theirs.
    Unused,
}

impl Classify for TlogError {
    fn class(&self) -> ErrorClass {
        match self {
            TlogError::Unused => ErrorClass::Input,
        }
    }
}

impl fmt::Display for TlogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlogError::Unused => write!(f, "unused"),
        }
    }
}

impl core::error::Error for TlogError {}
