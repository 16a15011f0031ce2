//! Writing a report file: atomically, and never over an existing file
//! unless asked.

use core::fmt;
use std::io::Write as _;
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
    /// Creating, writing, syncing or renaming failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::Exists { path } => write!(
                f,
                "{}: already exists (add --force to replace it)",
                path.display()
            ),
            OutputError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl core::error::Error for OutputError {}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// synced and then renamed into place, so a reader sees the old file or the
/// whole new one. Without `replace` an existing file is refused, checked
/// again at the rename so that a file appearing meanwhile is not replaced.
pub fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> Result<(), OutputError> {
    let io = |error| OutputError::Io {
        path: path.to_path_buf(),
        error,
    };
    if !replace && path.symlink_metadata().is_ok() {
        return Err(OutputError::Exists {
            path: path.to_path_buf(),
        });
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".airlock-report-");
    // A report is for reading by others, unlike tempfile's 0600 default;
    // the umask still applies.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut temp = builder.tempfile_in(dir).map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    if replace {
        temp.persist(path).map_err(|e| io(e.error))?;
    } else {
        temp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                OutputError::Exists {
                    path: path.to_path_buf(),
                }
            } else {
                io(e.error)
            }
        })?;
    }
    // Make the rename itself durable; a directory that cannot be opened
    // (some platforms) leaves the file written all the same.
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
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
