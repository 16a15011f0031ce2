//! Durable file creation: create-new with a mode, directory fsync, atomic replace.

use core::sync::atomic::{AtomicU64, Ordering};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{AttestError, io_err};

/// Opens `path` for writing, failing if it exists; on unix the file gets `mode`
/// from the start, so a private key is never briefly readable by others.
pub(crate) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// The directory a file lives in ("." for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a directory entry change (create, rename) durable. A no-op where
/// directories cannot be opened (non-unix).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AttestError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir, "fsync directory"))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Whether writing a file should replace one that exists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Overwrite {
    /// Refuse if the file exists (the default for every output of Airlock).
    Refuse,
    /// Replace an existing file atomically.
    Replace,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file beside the target, removed on drop unless committed.
pub(crate) struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
    overwrite: Overwrite,
}

impl AtomicFile {
    /// Creates the temporary file. Refuses early when the target exists and
    /// `overwrite` is `Refuse`, so no work is wasted.
    pub(crate) fn create(target: &Path, overwrite: Overwrite) -> Result<AtomicFile, AttestError> {
        if overwrite == Overwrite::Refuse && fs::symlink_metadata(target).is_ok() {
            return Err(AttestError::AlreadyExists {
                path: target.to_path_buf(),
            });
        }
        let dir = parent_dir(target);
        let base = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".to_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{base}.tmp-{}-{nanos:x}-{n}", std::process::id()));
        let file = create_new(&temp, 0o644).map_err(io_err(&temp, "create temporary file"))?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp,
            file: Some(file),
            overwrite,
        })
    }

    /// The open temporary file.
    pub(crate) fn file(&mut self) -> Result<&mut File, AttestError> {
        let temp = self.temp.clone();
        self.file.as_mut().ok_or_else(|| AttestError::Io {
            path: temp,
            doing: "write",
            error: io::Error::other("temporary file already closed"),
        })
    }

    /// The temporary file's path, for error messages.
    pub(crate) fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// fsyncs the temporary file, moves it into place and fsyncs the directory.
    pub(crate) fn commit(mut self) -> Result<(), AttestError> {
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(io_err(&self.temp, "fsync"))?;
        }
        match self.overwrite {
            Overwrite::Replace => {
                fs::rename(&self.temp, &self.target)
                    .map_err(io_err(&self.target, "rename into"))?;
            }
            Overwrite::Refuse => {
                // A hard link fails if the target appeared meanwhile, which a
                // rename would silently replace; filesystems without hard links
                // (FAT on removable media) fall back to check-then-rename.
                match fs::hard_link(&self.temp, &self.target) {
                    Ok(()) => {
                        let _ = fs::remove_file(&self.temp);
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Err(AttestError::AlreadyExists {
                            path: self.target.clone(),
                        });
                    }
                    Err(_) => {
                        if fs::symlink_metadata(&self.target).is_ok() {
                            return Err(AttestError::AlreadyExists {
                                path: self.target.clone(),
                            });
                        }
                        fs::rename(&self.temp, &self.target)
                            .map_err(io_err(&self.target, "rename into"))?;
                    }
                }
            }
        }
        sync_dir(parent_dir(&self.target))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Whatever happened, no temporary file is left behind: after a commit
        // it no longer exists and this fails harmlessly.
        self.file = None;
        let _ = fs::remove_file(&self.temp);
    }
}
