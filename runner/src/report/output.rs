//! Writing a report file: atomically, and never over an existing file
//! unless asked.

use core::fmt;
use std::path::{Path, PathBuf};

/// Why a report file could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum OutputError {
    /// The file exists and `--force` was not given.
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Creating, writing, syncing or renaming failed; the error names the file.
    Write(airlock_attest::AttestError),
}

impl airlock_core::Classify for OutputError {
    fn class(&self) -> airlock_core::ErrorClass {
        match self {
            OutputError::Exists { .. } => airlock_core::ErrorClass::Input,
            OutputError::Write(error) => error.class(),
        }
    }
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::Exists { path } => write!(
                f,
                "{}: already exists; choose another path or pass --force to replace it",
                path.display()
            ),
            OutputError::Write(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for OutputError {}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// synced and then renamed into place, so a reader sees the old file or the
/// whole new one, and a failed write leaves nothing behind. Without
/// `replace` an existing file is refused, checked again at the rename so
/// that a file appearing meanwhile is not replaced.
pub fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> Result<(), OutputError> {
    use airlock_attest::{AttestError, Overwrite};
    let overwrite = if replace {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    // A report is for reading by others; the umask still applies.
    airlock_attest::write_file_atomically(path, bytes, 0o644, overwrite).map_err(|e| match e {
        AttestError::AlreadyExists { path } => OutputError::Exists { path },
        other => OutputError::Write(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_existing_file_unless_replacing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("r.html");
        write_atomically(&path, b"one", false).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            write_atomically(&path, b"two", false),
            Err(OutputError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&b"one"[..]));
        write_atomically(&path, b"two", true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&b"two"[..]));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names.len(), 1);
    }
}

#[cfg(test)]
mod class_tests {
    use super::*;
    use airlock_core::{Classify as _, ErrorClass};

    /// Every variant with its exit-code class. The row function matches
    /// without a wildcard arm, so a new variant does not compile until it
    /// has a row, and the test fails until the row has a case.
    #[test]
    fn every_output_error_variant_has_its_class() {
        let path = || std::path::PathBuf::from("x");
        let io = || std::io::Error::other("x");
        let cases = [
            (OutputError::Exists { path: path() }, ErrorClass::Input),
            (
                OutputError::Write(airlock_attest::AttestError::Io {
                    path: path(),
                    doing: "write",
                    error: io(),
                }),
                ErrorClass::Input,
            ),
        ];
        let row = |e: &OutputError| match e {
            OutputError::Exists { .. } => 0,
            OutputError::Write(_) => 1,
        };
        let mut seen = [false; 2];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
