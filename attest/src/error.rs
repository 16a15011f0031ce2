//! The library's error type. Every message names the file and the problem.

use core::fmt;
use std::io;
use std::path::PathBuf;

use airlock_core::Digest;

use crate::frame::HeaderError;
use crate::journal::JournalError;
use crate::keys::KeyFormatError;

/// An error from a file operation of this crate.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttestError {
    /// An operating-system call on `path` failed while doing `doing`.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, e.g. "read", "create", "fsync".
        doing: &'static str,
        /// The underlying error.
        error: io::Error,
    },
    /// The output file exists and overwriting was not asked for.
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Another process holds the exclusive lock of a file this one must
    /// write: two writers on one run would corrupt it.
    Locked {
        /// The locked file.
        path: PathBuf,
    },
    /// A private key file is readable or writable by group or others.
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A private key was needed but the file holds a public key.
    PublicKeyGiven {
        /// The key file.
        path: PathBuf,
    },
    /// A public key was needed but the file holds a private key.
    PrivateKeyGiven {
        /// The key file.
        path: PathBuf,
    },
    /// The file is not a key file this crate reads.
    BadKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        problem: KeyFormatError,
    },
    /// A key name that is not a plain file name.
    InvalidKeyName {
        /// The name given.
        name: String,
    },
    /// A journal header is missing or malformed.
    BadJournalHeader {
        /// The journal.
        path: PathBuf,
        /// What is wrong with it.
        problem: HeaderError,
    },
    /// A journal failed to read or verify.
    Journal {
        /// The journal.
        path: PathBuf,
        /// What is wrong with it.
        error: JournalError,
    },
    /// A journal ends in a torn (partially written) record where a whole one is required.
    TornJournal {
        /// The journal.
        path: PathBuf,
        /// Byte offset where the torn record starts.
        offset: u64,
    },
    /// A suite manifest file is malformed.
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        problem: crate::manifest::ManifestFormatError,
    },
    /// A suite manifest is signed by a key that is not trusted.
    UntrustedManifest {
        /// The manifest file.
        path: PathBuf,
        /// Key id of the key that signed it.
        key_id: Digest,
    },
    /// A suite manifest's signature does not verify.
    ManifestSignature {
        /// The manifest file.
        path: PathBuf,
    },
    /// A `*.wasm` file in a suite directory is not listed in its manifest.
    UnlistedModule {
        /// The module file.
        path: PathBuf,
    },
    /// A suite module's blake3 is not the digest its signed manifest gives.
    ModuleDigest {
        /// The module file.
        path: PathBuf,
        /// The manifest's digest.
        expected: Digest,
        /// The file's digest.
        found: Digest,
    },
    /// A file that must be a regular file (a module, a manifest) is a
    /// FIFO, a device, a socket or a directory: reading it could block
    /// forever or never end.
    NotRegularFile {
        /// The file.
        path: PathBuf,
    },
    /// A file is larger than any use of it allows; it was not read.
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes (at least; it may still be growing).
        size: u64,
        /// The most bytes allowed.
        limit: u64,
    },
    /// The journal is signed by another key than the one given.
    WrongJournalKey {
        /// The journal.
        path: PathBuf,
        /// Key id in the journal's header.
        journal_key: Digest,
        /// Key id of the key given.
        given_key: Digest,
    },
}

impl fmt::Display for AttestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttestError::Io { path, doing, error } => {
                write!(f, "{}: cannot {doing}: {error}", path.display())
            }
            AttestError::BadManifest { path, problem } => {
                write!(f, "{}: bad suite manifest: {problem}", path.display())
            }
            AttestError::UntrustedManifest { path, key_id } => write!(
                f,
                "{}: suite manifest is signed by key {key_id}, which is not a trusted suite authority",
                path.display()
            ),
            AttestError::ManifestSignature { path } => write!(
                f,
                "{}: suite manifest signature does not verify (the manifest was altered)",
                path.display()
            ),
            AttestError::UnlistedModule { path } => write!(
                f,
                "{}: module is not listed in the suite manifest",
                path.display()
            ),
            AttestError::ModuleDigest {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: module does not match its signed manifest (blake3 {found}, manifest says {expected})",
                path.display()
            ),
            AttestError::NotRegularFile { path } => write!(
                f,
                "{}: not a regular file (a FIFO, device, socket or directory); refusing to read it",
                path.display()
            ),
            AttestError::FileTooLarge { path, size, limit } => write!(
                f,
                "{}: {size} bytes, more than the {limit} allowed; refusing to read it",
                path.display()
            ),
            AttestError::Locked { path } => write!(f, "{}", locked_message(path)),
            AttestError::AlreadyExists { path } => {
                write!(
                    f,
                    "{}: already exists; refusing to overwrite it",
                    path.display()
                )
            }
            AttestError::InsecurePermissions { path, mode } => write!(
                f,
                "{}: permissions {:04o} are too open: a private key must not be \
                 accessible by group or others (chmod 600 it)",
                path.display(),
                mode & 0o7777
            ),
            AttestError::PublicKeyGiven { path } => write!(
                f,
                "{}: is a public key; a private key is needed",
                path.display()
            ),
            AttestError::PrivateKeyGiven { path } => write!(
                f,
                "{}: is a private key; a public key is needed",
                path.display()
            ),
            AttestError::BadKeyFile { path, problem } => {
                write!(f, "{}: not a usable key file: {problem}", path.display())
            }
            AttestError::InvalidKeyName { name } => write!(
                f,
                "key name {name:?} is not a plain file name (no path separators, not empty, not . or ..)"
            ),
            AttestError::BadJournalHeader { path, problem } => {
                write!(f, "{}: not an Airlock journal: {problem}", path.display())
            }
            AttestError::Journal { path, error } => write!(f, "{}: {error}", path.display()),
            AttestError::TornJournal { path, offset } => write!(
                f,
                "{}: ends in a partially written record at byte {offset}; resume the run to repair it",
                path.display()
            ),
            AttestError::WrongJournalKey {
                path,
                journal_key,
                given_key,
            } => write!(
                f,
                "{}: journal is signed by key {journal_key}, but the key given is {given_key}",
                path.display()
            ),
        }
    }
}

impl core::error::Error for AttestError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            AttestError::Io { error, .. } => Some(error),
            AttestError::BadKeyFile { problem, .. } => Some(problem),
            AttestError::BadJournalHeader { problem, .. } => Some(problem),
            AttestError::Journal { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Builds an `AttestError::Io` mapper for `path`.
pub(crate) fn io_err(
    path: &std::path::Path,
    doing: &'static str,
) -> impl FnOnce(io::Error) -> AttestError {
    let path = path.to_path_buf();
    move |error| AttestError::Io { path, doing, error }
}

/// The one wording of "someone else is writing this file", shared by every
/// file of a run so the user sees the same sentence whichever lock was hit.
pub fn locked_message(path: &std::path::Path) -> String {
    format!(
        "{}: another process holds it (an airlock run of this output is still writing it); \
         wait for that process to end before running or resuming again",
        path.display()
    )
}
