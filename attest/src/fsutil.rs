//! Durable file creation: create-new with a mode, directory fsync, atomic
//! replace, and directories that are removed again when what was to go in
//! them could not be written.

use core::sync::atomic::{AtomicU64, Ordering};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{AttestError, io_err};

/// Opens `path` for reading if it is a regular file (a symbolic link is
/// followed to one), with its size at opening. A FIFO, device, socket or
/// directory is [`AttestError::NotRegularFile`]: a FIFO would block the
/// read until some writer came, and `/dev/zero` would never end. The open
/// itself does not block (`O_NONBLOCK`), so a FIFO is refused at once; the
/// kind is taken from the opened file, so nothing can be swapped in
/// between the check and the read.
pub fn open_regular(path: &Path) -> Result<(File, u64), AttestError> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io_err(path, "open"))?;
    let meta = file.metadata().map_err(io_err(path, "stat"))?;
    if !meta.is_file() {
        return Err(AttestError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    Ok((file, meta.len()))
}

/// Reads a regular file ([`open_regular`]) of at most `limit` bytes whole. A
/// larger one is [`AttestError::FileTooLarge`] before anything is read,
/// and one that grows past `limit` while it is read is refused as well:
/// never more than `limit + 1` bytes are read.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, AttestError> {
    let mut bytes = Vec::new();
    read_regular_in_pieces(path, limit, |piece| bytes.extend_from_slice(piece))?;
    Ok(bytes)
}

/// [`read_regular`] without holding the file: each piece read (at most
/// 64 KiB) is handed to `each` in order, so a large module is hashed in
/// constant memory. The same size checks apply; on an error `each` may
/// have seen a prefix of the file.
pub(crate) fn read_regular_in_pieces(
    path: &Path,
    limit: u64,
    mut each: impl FnMut(&[u8]),
) -> Result<(), AttestError> {
    use std::io::Read as _;
    let (file, size) = open_regular(path)?;
    let too_large = |size| AttestError::FileTooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut file = file.take(limit.saturating_add(1));
    let mut buf = vec![0u8; 64 * 1024];
    let mut read: u64 = 0;
    loop {
        let n = file.read(&mut buf).map_err(io_err(path, "read"))?;
        if n == 0 {
            return Ok(());
        }
        read += n as u64;
        if read > limit {
            return Err(too_large(read));
        }
        each(&buf[..n]);
    }
}

/// Why [`read_secret`] returned no secret.
#[derive(Debug)]
pub enum SecretError {
    /// The file could not be read.
    Io(io::Error),
    /// The file was read but is not exactly 32 bytes long.
    WrongLength,
}

impl airlock_core::Classify for SecretError {
    fn class(&self) -> airlock_core::ErrorClass {
        match self {
            // The secret is the key to the commitments, not evidence
            // checked with one: a file of the wrong length is the wrong file.
            SecretError::Io(_) | SecretError::WrongLength => airlock_core::ErrorClass::Input,
        }
    }
}

/// Reads a run secret file (`BUNDLE.secret`): exactly 32 bytes. Callers
/// word the two failures themselves, since each reports them in its own
/// error type.
pub fn read_secret(path: &Path) -> Result<[u8; 32], SecretError> {
    fs::read(path)
        .map_err(SecretError::Io)?
        .try_into()
        .map_err(|_| SecretError::WrongLength)
}

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

/// [`create_new`] for a file that must not exist yet: an existing one is
/// [`AttestError::AlreadyExists`], never replaced.
pub(crate) fn create_new_file(path: &Path, mode: u32) -> Result<File, AttestError> {
    create_new(path, mode).map_err(|error| {
        if error.kind() == io::ErrorKind::AlreadyExists {
            AttestError::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            AttestError::Io {
                path: path.to_path_buf(),
                doing: "create",
                error,
            }
        }
    })
}

/// A name part no other temporary file of this or another live process
/// has: process id, time and a per-process count.
pub(crate) fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos:x}-{n}", std::process::id())
}

/// Takes the exclusive advisory lock of `file` (opened at `path`) without
/// waiting: [`AttestError::Locked`] when another open file holds it. The
/// lock lasts as long as this open file (and its clones) stays open.
pub fn try_lock_exclusive(file: &File, path: &Path) -> Result<(), AttestError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => Err(AttestError::Locked {
            path: path.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(error)) => Err(AttestError::Io {
            path: path.to_path_buf(),
            doing: "lock",
            error,
        }),
    }
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
        AtomicFile::create_with_mode(target, overwrite, 0o644)
    }

    /// [`AtomicFile::create`] with the temporary file (and so the target) made with `mode`.
    pub(crate) fn create_with_mode(
        target: &Path,
        overwrite: Overwrite,
        mode: u32,
    ) -> Result<AtomicFile, AttestError> {
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
        let temp = dir.join(format!(".{base}.tmp-{}", unique_suffix()));
        // Errors name the target, not the temporary file: that is the file
        // the user asked for, and its name does not change from run to run.
        let file = create_new(&temp, mode).map_err(io_err(target, "create"))?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp,
            file: Some(file),
            overwrite,
        })
    }

    /// The open temporary file.
    pub(crate) fn file(&mut self) -> Result<&mut File, AttestError> {
        let target = self.target.clone();
        self.file.as_mut().ok_or_else(|| AttestError::Io {
            path: target,
            doing: "write",
            error: io::Error::other("temporary file already closed"),
        })
    }

    /// The target's path, for error messages.
    pub(crate) fn target_path(&self) -> &Path {
        &self.target
    }

    /// fsyncs the temporary file, moves it into place and fsyncs the directory.
    pub(crate) fn commit(mut self) -> Result<(), AttestError> {
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(io_err(&self.target, "write"))?;
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

/// Writes `bytes` to `path` atomically: a temporary file beside it, made
/// with `mode`, written, fsynced and moved into place, then the directory
/// fsynced. On any error the temporary file is removed, so `path` holds its
/// old content (or does not exist) or all of `bytes`, never a part; errors
/// name `path`.
pub fn write_file_atomically(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    overwrite: Overwrite,
) -> Result<(), AttestError> {
    use std::io::Write as _;
    let mut file = AtomicFile::create_with_mode(path, overwrite, mode)?;
    file.file()?
        .write_all(bytes)
        .map_err(io_err(path, "write"))?;
    file.commit()
}

/// A directory made by [`create_dirs`] that is removed again, with every
/// parent it made, unless [`CreatedDirs::keep`] is called; removal stops at
/// the first directory that is not empty, so nothing but what was made is
/// ever removed.
#[derive(Debug)]
pub struct CreatedDirs {
    /// The directory asked for.
    dir: PathBuf,
    /// The outermost directory that did not exist before, if any.
    top: Option<PathBuf>,
}

impl CreatedDirs {
    /// Keeps the directories: what was to go in them was written.
    pub fn keep(mut self) {
        self.top = None;
    }
}

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        let Some(top) = self.top.take() else {
            return;
        };
        let mut dir = self.dir.as_path();
        loop {
            if fs::remove_dir(dir).is_err() || dir == top {
                return;
            }
            match dir.parent() {
                Some(parent) => dir = parent,
                None => return,
            }
        }
    }
}

/// `create_dir_all(dir)`, remembering which directories it made so that an
/// output that fails leaves no empty directory behind.
pub fn create_dirs(dir: &Path) -> Result<CreatedDirs, AttestError> {
    let mut top = None;
    let mut probe = Some(dir);
    while let Some(p) = probe {
        if p.as_os_str().is_empty() || fs::symlink_metadata(p).is_ok() {
            break;
        }
        top = Some(p.to_path_buf());
        probe = p.parent();
    }
    fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
    Ok(CreatedDirs {
        dir: dir.to_path_buf(),
        top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn atomic_write_refuses_or_replaces_and_names_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_file_atomically(&path, b"one", 0o600, Overwrite::Refuse).unwrap();
        match write_file_atomically(&path, b"two", 0o600, Overwrite::Refuse) {
            Err(AttestError::AlreadyExists { path: p }) => assert_eq!(p, path),
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_file_atomically(&path, b"two", 0o600, Overwrite::Replace).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(names(dir.path()), ["out.json"]);

        let missing = dir.path().join("no-dir").join("x");
        let err = write_file_atomically(&missing, b"x", 0o600, Overwrite::Refuse).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&missing.display().to_string()), "{msg}");
        assert!(!msg.contains(".tmp-"), "{msg}");
    }

    #[test]
    fn created_dirs_are_removed_unless_kept_and_only_when_empty() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        drop(create_dirs(&deep).unwrap());
        assert!(names(root.path()).is_empty());

        create_dirs(&deep).unwrap().keep();
        assert!(deep.is_dir());

        // Only what it made: a/b/c exists, so a/b/c/d alone is removed.
        drop(create_dirs(&deep.join("d")).unwrap());
        assert!(deep.is_dir() && !deep.join("d").exists());

        // A directory with something in it stays.
        let guard = create_dirs(&root.path().join("e")).unwrap();
        fs::write(root.path().join("e/kept"), b"x").unwrap();
        drop(guard);
        assert!(root.path().join("e/kept").exists());
    }
}
