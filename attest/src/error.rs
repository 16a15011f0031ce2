//! The library's error types. Every message names the file and the problem.

use core::fmt;
use std::io;
use std::path::PathBuf;

use airlock_core::hex::Hex;
use airlock_core::{Classify, Digest, ErrorClass};

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
        problem: ManifestFormatError,
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
    /// A campaign plan file is malformed.
    BadPlan {
        /// The plan file.
        path: PathBuf,
        /// What is wrong with it.
        problem: crate::campaign::PlanFormatError,
    },
    /// A campaign plan is signed by a key that is not trusted.
    UntrustedPlan {
        /// The plan file.
        path: PathBuf,
        /// Key id of the key that signed it.
        key_id: Digest,
    },
    /// A campaign plan's signature does not verify.
    PlanSignature {
        /// The plan file.
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

impl Classify for AttestError {
    fn class(&self) -> ErrorClass {
        match self {
            AttestError::Io { .. }
            | AttestError::AlreadyExists { .. }
            | AttestError::Locked { .. }
            | AttestError::InsecurePermissions { .. }
            | AttestError::PublicKeyGiven { .. }
            | AttestError::PrivateKeyGiven { .. }
            | AttestError::InvalidKeyName { .. }
            | AttestError::NotRegularFile { .. }
            | AttestError::FileTooLarge { .. }
            // The journal is fine; the key given is the wrong one.
            | AttestError::WrongJournalKey { .. } => ErrorClass::Input,
            AttestError::BadKeyFile { problem, .. } => problem.class(),
            AttestError::BadJournalHeader { problem, .. } => problem.class(),
            AttestError::Journal { error, .. } => error.class(),
            AttestError::BadManifest { problem, .. } => problem.class(),
            AttestError::BadPlan { problem, .. } => problem.class(),
            AttestError::UntrustedPlan { .. } | AttestError::PlanSignature { .. } => {
                ErrorClass::Integrity
            }
            AttestError::TornJournal { .. }
            | AttestError::UntrustedManifest { .. }
            | AttestError::ManifestSignature { .. }
            | AttestError::UnlistedModule { .. }
            | AttestError::ModuleDigest { .. } => ErrorClass::Integrity,
        }
    }
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
            AttestError::BadPlan { path, problem } => {
                write!(f, "{}: bad campaign plan: {problem}", path.display())
            }
            AttestError::UntrustedPlan { path, key_id } => write!(
                f,
                "{}: campaign plan is signed by key {key_id}, which is not a trusted coordinator key",
                path.display()
            ),
            AttestError::PlanSignature { path } => write!(
                f,
                "{}: campaign plan signature does not verify (the plan was altered)",
                path.display()
            ),
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

// The problems the leaf modules find live here, with the constants their
// messages name, so that this module imports nothing of the crate and every
// other module imports it only downward. Each leaf re-exports its own.

/// Length of a journal or bundle header.
pub const HEADER_LEN: usize = 44;

/// Format version written in headers ([`airlock_core::FORMAT_VERSION`]).
pub const FORMAT_VERSION: u16 = airlock_core::FORMAT_VERSION;

/// Which kind of Airlock file a header belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileKind {
    /// An append-only run journal.
    Journal,
    /// An exported bundle.
    Bundle,
}

impl FileKind {
    /// "journal" or "bundle".
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Journal => "journal",
            FileKind::Bundle => "bundle",
        }
    }
}

/// Why a header is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The file is shorter than a header.
    TooShort {
        /// Bytes present.
        have: usize,
    },
    /// The file does not start with an Airlock magic.
    BadMagic {
        /// The first eight bytes.
        found: [u8; 8],
    },
    /// The file is the other kind of Airlock file.
    WrongKind {
        /// The kind expected.
        expected: FileKind,
        /// The kind found.
        found: FileKind,
    },
    /// A format version this build does not read.
    UnsupportedVersion {
        /// The version in the header.
        found: u16,
    },
    /// Reserved flag bits are set (they must be zero in version 1).
    ReservedFlags {
        /// The flags in the header.
        found: u16,
    },
}

// A header that reads but is wrong means the file is not the Airlock file
// it was given as, as a bundle that is not one fails the decode level.
impl Classify for HeaderError {
    fn class(&self) -> ErrorClass {
        match self {
            HeaderError::TooShort { .. }
            | HeaderError::BadMagic { .. }
            | HeaderError::WrongKind { .. }
            | HeaderError::UnsupportedVersion { .. }
            | HeaderError::ReservedFlags { .. } => ErrorClass::Integrity,
        }
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::TooShort { have } => {
                write!(
                    f,
                    "file is {have} bytes, shorter than the {HEADER_LEN}-byte header"
                )
            }
            HeaderError::BadMagic { found } => {
                write!(f, "bad magic {}, not an Airlock file", Hex(found))
            }
            HeaderError::WrongKind { expected, found } => write!(
                f,
                "this is an Airlock {}, not a {}",
                found.name(),
                expected.name()
            ),
            HeaderError::UnsupportedVersion { found } => write!(
                f,
                "format version {found} is not supported (this build reads version {FORMAT_VERSION})"
            ),
            HeaderError::ReservedFlags { found } => {
                write!(
                    f,
                    "reserved flags {found:#06x} are set; they must be zero in version 1"
                )
            }
        }
    }
}

impl core::error::Error for HeaderError {}

/// Why a journal cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// The header is missing or wrong.
    Header(HeaderError),
    /// Reading failed.
    Io(io::Error),
    /// A whole record that does not decode or verify, or bytes after it
    /// that are not a torn tail.
    Corrupt {
        /// Offset of the record's frame.
        offset: u64,
        /// Its position (expected sequence number).
        index: u64,
        /// What is wrong.
        problem: String,
    },
}

impl Classify for JournalError {
    fn class(&self) -> ErrorClass {
        match self {
            JournalError::Header(problem) => problem.class(),
            JournalError::Io(_) => ErrorClass::Input,
            JournalError::Corrupt { .. } => ErrorClass::Integrity,
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Header(e) => write!(f, "not an Airlock journal: {e}"),
            JournalError::Io(e) => write!(f, "cannot read journal: {e}"),
            JournalError::Corrupt {
                offset,
                index,
                problem,
            } => write!(
                f,
                "record {index} at byte {offset} is corrupt: {problem}; it is not a torn tail, \
                 so it is not dropped (the journal needs inspection)"
            ),
        }
    }
}

impl core::error::Error for JournalError {}

/// Why some text or bytes are not a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormatError {
    /// No `-----BEGIN ...-----` line.
    NoPemBlock,
    /// A BEGIN line without its matching END line.
    UnterminatedPem,
    /// A PEM block of another kind than expected.
    WrongLabel {
        /// The label found.
        found: String,
        /// The label expected.
        expected: &'static str,
    },
    /// The PEM body is not valid base64.
    BadBase64,
    /// The DER is not an Ed25519 key of the expected form.
    BadDer(&'static str),
    /// The file is larger than any key file.
    TooLarge,
    /// The file is not UTF-8 text.
    NotText,
    /// The public key is a point of small order (or a non-canonical
    /// encoding of one), under which signatures can be forged without any
    /// secret: with the identity, `R` = identity and `s` = 0 verifies every
    /// message.
    WeakKey,
    /// The public key's y coordinate is encoded as a value of at least the
    /// field prime: a second spelling of another key.
    NonCanonicalKey,
}

// A key is what the user hands the command to check with, not what is
// being checked: a bad one, weak ones included, is bad input.
impl Classify for KeyFormatError {
    fn class(&self) -> ErrorClass {
        match self {
            KeyFormatError::NoPemBlock
            | KeyFormatError::UnterminatedPem
            | KeyFormatError::WrongLabel { .. }
            | KeyFormatError::BadBase64
            | KeyFormatError::BadDer(_)
            | KeyFormatError::TooLarge
            | KeyFormatError::NotText
            | KeyFormatError::WeakKey
            | KeyFormatError::NonCanonicalKey => ErrorClass::Input,
        }
    }
}

impl fmt::Display for KeyFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFormatError::NoPemBlock => f.write_str("no PEM block (-----BEGIN ...-----) found"),
            KeyFormatError::UnterminatedPem => f.write_str("PEM block has no END line"),
            KeyFormatError::WrongLabel { found, expected } => {
                write!(f, "holds a {found:?} PEM block; expected {expected:?}")
            }
            KeyFormatError::BadBase64 => f.write_str("PEM body is not valid base64"),
            KeyFormatError::BadDer(what) => write!(f, "{what}"),
            KeyFormatError::TooLarge => f.write_str("file is too large to be a key file"),
            KeyFormatError::NotText => f.write_str("file is not PEM text"),
            KeyFormatError::WeakKey => f.write_str(
                "the public key is a small-order (weak) Ed25519 point, under which anyone can \
                 forge signatures; it is never trusted",
            ),
            KeyFormatError::NonCanonicalKey => f.write_str(
                "the public key is not canonically encoded (its y coordinate is not below the \
                 field prime)",
            ),
        }
    }
}

impl core::error::Error for KeyFormatError {}

/// Manifest file format version.
pub const MANIFEST_VERSION: u16 = 1;
/// Largest manifest body accepted (a suite of thousands of tasks fits).
pub const MAX_MANIFEST_LEN: u32 = 4 * 1024 * 1024;

/// What is wrong with a manifest file's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestFormatError {
    /// The file is shorter than its fixed parts.
    Truncated,
    /// The magic is not a suite manifest's.
    BadMagic,
    /// Another format version.
    UnsupportedVersion(u16),
    /// Reserved flags are set.
    NonZeroFlags(u16),
    /// The declared manifest length is over [`MAX_MANIFEST_LEN`].
    TooLong(u32),
    /// The manifest body does not decode.
    Undecodable,
    /// Bytes follow the signature.
    TrailingBytes,
    /// A file name is empty or has a path separator.
    BadFileName(String),
}

// A manifest is signed evidence about a suite: one that reads but does not
// parse fails `suite verify` as an altered one does.
impl Classify for ManifestFormatError {
    fn class(&self) -> ErrorClass {
        match self {
            ManifestFormatError::Truncated
            | ManifestFormatError::BadMagic
            | ManifestFormatError::UnsupportedVersion(_)
            | ManifestFormatError::NonZeroFlags(_)
            | ManifestFormatError::TooLong(_)
            | ManifestFormatError::Undecodable
            | ManifestFormatError::TrailingBytes
            | ManifestFormatError::BadFileName(_) => ErrorClass::Integrity,
        }
    }
}

impl fmt::Display for ManifestFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestFormatError::Truncated => f.write_str("truncated"),
            ManifestFormatError::BadMagic => f.write_str("not an Airlock suite manifest"),
            ManifestFormatError::UnsupportedVersion(v) => {
                write!(f, "format version {v}; this build reads {MANIFEST_VERSION}")
            }
            ManifestFormatError::NonZeroFlags(flags) => {
                write!(f, "reserved flags {flags:#06x} are set")
            }
            ManifestFormatError::TooLong(len) => {
                write!(f, "manifest of {len} bytes exceeds {MAX_MANIFEST_LEN}")
            }
            ManifestFormatError::Undecodable => f.write_str("the manifest body does not decode"),
            ManifestFormatError::TrailingBytes => f.write_str("bytes follow the signature"),
            ManifestFormatError::BadFileName(name) => {
                write!(f, "module file name {name:?} is not a plain file name")
            }
        }
    }
}

impl core::error::Error for ManifestFormatError {}
