//! The sealed transcript store inside the enclave (SPEC.md, "Sealed
//! transcript store").
//!
//! Every transcript of a run is encrypted with ChaCha20-Poly1305 under the
//! station's transcript key and appended to `OUT.transcripts`, then fsynced,
//! before the TaskResult that commits to it is appended to the journal: a
//! durable result always has its transcript. The associated data binds the
//! run id and the plan index, so a sealed transcript cannot be moved to
//! another run or slot. Nonces are random (96 bits from the operating
//! system) rather than derived from the slot: a resumed run re-executes the
//! plan entry whose sealed frame it cut, and a derived nonce would then seal
//! a different transcript under the same key and nonce while the old
//! ciphertext may survive on the medium.

use core::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// First 8 bytes of a transcript store: `\x89ALT\r\n\x1a\n`.
pub const STORE_MAGIC: [u8; 8] = *b"\x89ALT\r\n\x1a\n";
/// Format version written in the store header.
pub const STORE_VERSION: u16 = 2;
/// Bytes of the store header: magic, version, flags, run id, key check.
pub const STORE_HEADER_LEN: usize = 8 + 2 + 2 + 16 + 32;
/// Bytes before a record's sealed bytes: plan index, nonce, length.
pub const RECORD_HEAD_LEN: usize = 4 + NONCE_LEN + 4;
/// Poly1305 tag bytes at the end of every sealed transcript.
pub const TAG_LEN: usize = 16;
/// Largest sealed transcript accepted (read or written).
pub const MAX_SEALED_LEN: u32 = 64 * 1024 * 1024;
/// Bytes of a station transcript key file.
pub const TRANSCRIPT_KEY_LEN: usize = 32;
/// Extension of the station transcript key file beside the evaluator key.
pub const TRANSCRIPT_KEY_EXTENSION: &str = "transcript-key";

/// blake3 key-derivation context of the key check in the store header.
const KEY_CHECK_CONTEXT: &str = "airlock v1 transcript key check";
/// Domain of the associated data of every sealed transcript.
const AAD_DOMAIN: &[u8; 29] = b"airlock v1 sealed transcript\0";

/// Why the transcript store or key could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        doing: &'static str,
        /// The error.
        error: std::io::Error,
    },
    /// The transcript key file is unusable.
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The file is not a transcript store of this format version.
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The store belongs to another run or was sealed under another key.
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        problem: String,
    },
    /// A record is damaged: its framing is wrong.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The record's position (0 for the first).
        record: u64,
        /// Its byte offset.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// A record does not decrypt: altered, or sealed under another key or slot.
    Decrypt {
        /// The file.
        path: PathBuf,
        /// The record's position.
        record: u64,
        /// The plan index the record claims.
        plan_index: u32,
        /// Its byte offset.
        offset: u64,
    },
    /// No record for a plan entry.
    Missing {
        /// The file.
        path: PathBuf,
        /// The plan entry.
        plan_index: u32,
    },
    /// A transcript too large to seal.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The plan entry.
        plan_index: u32,
        /// Its size.
        len: usize,
    },
    /// The operating system's random generator failed.
    Random(String),
    /// The transcript key could not be created; the error names the file.
    KeyWrite(crate::error::AttestError),
    /// Another process holds the store's lock: a run of this output is
    /// still writing it.
    Locked {
        /// The store.
        path: PathBuf,
    },
}

impl airlock_core::Classify for StoreError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            // A file that is not a store at all is the wrong file given, as
            // is a plan entry it never held: only a store that reads as
            // this run's and then fails to open is damaged.
            StoreError::Io { .. }
            | StoreError::Key { .. }
            | StoreError::Header { .. }
            | StoreError::Missing { .. }
            | StoreError::TooLarge { .. }
            | StoreError::Random(_)
            | StoreError::Locked { .. } => ErrorClass::Input,
            StoreError::Mismatch { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Decrypt { .. } => ErrorClass::Integrity,
            StoreError::KeyWrite(error) => error.class(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, doing, error } => {
                write!(f, "{}: could not {doing}: {error}", path.display())
            }
            StoreError::Key { path, problem } => {
                write!(f, "{}: transcript key: {problem}", path.display())
            }
            StoreError::Header { path, problem } => {
                write!(f, "{}: not a transcript store: {problem}", path.display())
            }
            StoreError::Mismatch { path, problem } => write!(f, "{}: {problem}", path.display()),
            StoreError::Corrupt {
                path,
                record,
                offset,
                problem,
            } => write!(
                f,
                "{}: sealed transcript record {record} at byte {offset} is damaged: {problem}",
                path.display()
            ),
            StoreError::Decrypt {
                path,
                record,
                plan_index,
                offset,
            } => write!(
                f,
                "{}: sealed transcript record {record} (plan entry {plan_index}) at byte {offset} \
                 does not decrypt: it was altered, or sealed under another key, run or slot",
                path.display()
            ),
            StoreError::Missing { path, plan_index } => write!(
                f,
                "{}: holds no sealed transcript for plan entry {plan_index}",
                path.display()
            ),
            StoreError::TooLarge {
                path,
                plan_index,
                len,
            } => write!(
                f,
                "{}: the transcript of plan entry {plan_index} is {len} bytes, over the {MAX_SEALED_LEN}-byte limit",
                path.display()
            ),
            StoreError::Random(e) => write!(f, "random generator: {e}"),
            StoreError::KeyWrite(e) => write!(f, "transcript key: {e}"),
            StoreError::Locked { path } => write!(f, "{}", crate::error::locked_message(path)),
        }
    }
}

impl core::error::Error for StoreError {}

fn io_err<'p>(
    path: &'p Path,
    doing: &'static str,
) -> impl FnOnce(std::io::Error) -> StoreError + 'p {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        doing,
        error: without_temp_path(error),
    }
}

/// The operating-system error inside one that `tempfile` decorated with the
/// temporary file's path: messages name the store, and the random temporary
/// name would only make them differ from run to run.
fn without_temp_path(error: std::io::Error) -> std::io::Error {
    let code = error
        .get_ref()
        .and_then(core::error::Error::source)
        .and_then(|inner| inner.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error);
    match code {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => error,
    }
}

/// The station's transcript key: 32 random bytes in a file of mode 0600.
pub struct TranscriptKey {
    key: LessSafeKey,
    check: [u8; 32],
}

impl fmt::Debug for TranscriptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TranscriptKey").finish_non_exhaustive()
    }
}

impl TranscriptKey {
    /// The key file beside an evaluator key: `NAME.transcript-key` for `NAME.key`.
    pub fn path_for_key(evaluator_key: &Path) -> PathBuf {
        evaluator_key.with_extension(TRANSCRIPT_KEY_EXTENSION)
    }

    /// Reads the key file, or creates it (mode 0600) when it does not exist.
    /// An existing file is never overwritten.
    pub fn load_or_create(path: &Path) -> Result<TranscriptKey, StoreError> {
        match TranscriptKey::load(path) {
            Err(StoreError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {}
            other => return other,
        }
        let mut bytes = [0u8; TRANSCRIPT_KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
        // The key is written whole under a temporary name and linked into
        // place: runs of one station started together may all find it
        // missing, and a run that loses the race must read the winner's
        // whole key, never a file that is still empty.
        match crate::fsutil::write_file_atomically(
            path,
            &bytes,
            0o600,
            crate::fsutil::Overwrite::Refuse,
        ) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created the station transcript key");
                Ok(TranscriptKey::from_bytes(&bytes))
            }
            // Another run created it meanwhile: use that one.
            Err(crate::error::AttestError::AlreadyExists { .. }) => TranscriptKey::load(path),
            Err(error) => Err(StoreError::KeyWrite(error)),
        }
    }

    /// Reads an existing key file, refusing one that others may read.
    pub fn load(path: &Path) -> Result<TranscriptKey, StoreError> {
        let file = File::open(path).map_err(io_err(path, "open the transcript key"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file
                .metadata()
                .map_err(io_err(path, "read the transcript key"))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(StoreError::Key {
                    path: path.to_path_buf(),
                    problem: format!(
                        "group or others may access it (mode {:o}); chmod 600 it",
                        mode & 0o777
                    ),
                });
            }
        }
        let mut bytes = Vec::with_capacity(TRANSCRIPT_KEY_LEN + 1);
        file.take(TRANSCRIPT_KEY_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(path, "read the transcript key"))?;
        let bytes: [u8; TRANSCRIPT_KEY_LEN] =
            bytes.try_into().map_err(|b: Vec<u8>| StoreError::Key {
                path: path.to_path_buf(),
                problem: format!(
                    "{} bytes, a transcript key is exactly {TRANSCRIPT_KEY_LEN}",
                    if b.len() > TRANSCRIPT_KEY_LEN {
                        format!("more than {TRANSCRIPT_KEY_LEN}")
                    } else {
                        b.len().to_string()
                    }
                ),
            })?;
        Ok(TranscriptKey::from_bytes(&bytes))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; TRANSCRIPT_KEY_LEN]) -> TranscriptKey {
        // ChaCha20-Poly1305 takes any 32-byte key, so this cannot fail.
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes);
        let key = match unbound {
            Ok(k) => LessSafeKey::new(k),
            Err(_) => unreachable!("ChaCha20-Poly1305 keys are 32 bytes"),
        };
        TranscriptKey {
            key,
            check: blake3::derive_key(KEY_CHECK_CONTEXT, bytes),
        }
    }

    /// `blake3_derive_key("airlock v1 transcript key check", key)`: recorded
    /// in the store header so a wrong key is told apart from damage.
    pub fn check(&self) -> [u8; 32] {
        self.check
    }
}

fn sync_parent(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir, "fsync the directory"))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The associated data of the sealed transcript at `plan_index` of `run_id`.
fn aad(run_id: &[u8; 16], plan_index: u32) -> [u8; 49] {
    let mut out = [0u8; 49];
    out[..29].copy_from_slice(AAD_DOMAIN);
    out[29..45].copy_from_slice(run_id);
    out[45..].copy_from_slice(&plan_index.to_le_bytes());
    out
}

/// The 60-byte header of a store for `run_id` under `key`.
pub fn header_bytes(run_id: &[u8; 16], key: &TranscriptKey) -> [u8; STORE_HEADER_LEN] {
    let mut out = [0u8; STORE_HEADER_LEN];
    out[..8].copy_from_slice(&STORE_MAGIC);
    out[8..10].copy_from_slice(&STORE_VERSION.to_le_bytes());
    out[12..28].copy_from_slice(run_id);
    out[28..].copy_from_slice(&key.check());
    out
}

/// Seals `transcript` (its postcard bytes) as one record: plan index,
/// nonce, length, ciphertext ‖ tag. `None` when it is over [`MAX_SEALED_LEN`].
pub fn seal_record(
    key: &TranscriptKey,
    run_id: &[u8; 16],
    plan_index: u32,
    nonce: [u8; NONCE_LEN],
    transcript: &[u8],
) -> Option<Vec<u8>> {
    if transcript.len() + TAG_LEN > MAX_SEALED_LEN as usize {
        return None;
    }
    let mut sealed = transcript.to_vec();
    let tag = key
        .key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(run_id, plan_index)),
            &mut sealed,
        )
        .ok()?;
    let mut record = Vec::with_capacity(RECORD_HEAD_LEN + sealed.len() + TAG_LEN);
    record.extend_from_slice(&plan_index.to_le_bytes());
    record.extend_from_slice(&nonce);
    record.extend_from_slice(&((sealed.len() + TAG_LEN) as u32).to_le_bytes());
    record.extend_from_slice(&sealed);
    record.extend_from_slice(tag.as_ref());
    Some(record)
}

/// One record as framed on disk, not yet opened.
struct RawRecord {
    plan_index: u32,
    nonce: [u8; NONCE_LEN],
    sealed: Vec<u8>,
    offset: u64,
}

/// How a scan of the records ended.
enum ScanEnd {
    /// At the end of the file.
    Clean,
    /// At an incomplete record (a torn tail) starting here.
    Torn(u64),
}

/// Reads records one at a time, bounded by [`MAX_SEALED_LEN`].
struct Records<'f> {
    file: &'f mut File,
    path: PathBuf,
    offset: u64,
    len: u64,
    index: u64,
}

impl Records<'_> {
    fn next(&mut self) -> Result<Result<RawRecord, ScanEnd>, StoreError> {
        let start = self.offset;
        if start == self.len {
            return Ok(Err(ScanEnd::Clean));
        }
        if self.len - start < RECORD_HEAD_LEN as u64 {
            return Ok(Err(ScanEnd::Torn(start)));
        }
        let mut head = [0u8; RECORD_HEAD_LEN];
        self.file
            .read_exact(&mut head)
            .map_err(io_err(&self.path, "read a sealed transcript"))?;
        let plan_index = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&head[4..4 + NONCE_LEN]);
        let n = &head[4 + NONCE_LEN..];
        let sealed_len = u32::from_le_bytes([n[0], n[1], n[2], n[3]]);
        if !(TAG_LEN as u32..=MAX_SEALED_LEN).contains(&sealed_len) {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                record: self.index,
                offset: start,
                problem: format!(
                    "sealed length {sealed_len} is outside {TAG_LEN}..={MAX_SEALED_LEN}"
                ),
            });
        }
        let body_start = start + RECORD_HEAD_LEN as u64;
        if self.len - body_start < u64::from(sealed_len) {
            return Ok(Err(ScanEnd::Torn(start)));
        }
        let mut sealed = vec![0u8; sealed_len as usize];
        self.file
            .read_exact(&mut sealed)
            .map_err(io_err(&self.path, "read a sealed transcript"))?;
        self.offset = body_start + u64::from(sealed_len);
        self.index += 1;
        Ok(Ok(RawRecord {
            plan_index,
            nonce,
            sealed,
            offset: start,
        }))
    }
}

fn check_header(path: &Path, file: &mut File, key: &TranscriptKey) -> Result<[u8; 16], StoreError> {
    let header_problem = |problem: &str| StoreError::Header {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
    };
    let mut header = [0u8; STORE_HEADER_LEN];
    file.read_exact(&mut header).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            header_problem("shorter than its 60-byte header")
        } else {
            io_err(path, "read the transcript store header")(e)
        }
    })?;
    if header[..8] != STORE_MAGIC {
        return Err(header_problem("wrong magic"));
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version != STORE_VERSION {
        return Err(header_problem(&format!(
            "format version {version}, this airlock reads {STORE_VERSION}"
        )));
    }
    if header[10..12] != [0, 0] {
        return Err(header_problem("reserved flags are not zero"));
    }
    if header[28..] != key.check() {
        return Err(StoreError::Mismatch {
            path: path.to_path_buf(),
            problem: "sealed under another station transcript key".into(),
        });
    }
    let mut run_id = [0u8; 16];
    run_id.copy_from_slice(&header[12..28]);
    Ok(run_id)
}

fn file_len(path: &Path, file: &File) -> Result<u64, StoreError> {
    Ok(file
        .metadata()
        .map_err(io_err(path, "read the size of"))?
        .len())
}

/// Takes the store's exclusive lock without waiting, for as long as `file`
/// stays open: the one writer of a run's store is the process running it.
fn lock(file: &File, path: &Path) -> Result<(), StoreError> {
    crate::fsutil::try_lock_exclusive(file, path).map_err(|e| match e {
        crate::error::AttestError::Locked { path } => StoreError::Locked { path },
        other => StoreError::Io {
            path: path.to_path_buf(),
            doing: "lock",
            error: std::io::Error::other(other.to_string()),
        },
    })
}

/// Appends sealed transcripts to a run's store.
#[derive(Debug)]
pub struct TranscriptWriter {
    file: File,
    path: PathBuf,
    run_id: [u8; 16],
    key: TranscriptKey,
    next_plan_index: u32,
}

impl TranscriptWriter {
    /// Starts the store of a new run, replacing any file at `path` (the
    /// leftover of a run that never made its journal), atomically and durably.
    pub fn create(
        path: &Path,
        run_id: [u8; 16],
        key: TranscriptKey,
    ) -> Result<TranscriptWriter, StoreError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut temp = tempfile::Builder::new()
            .prefix(".airlock-transcripts")
            .tempfile_in(dir)
            .map_err(io_err(path, "create a temporary file for"))?;
        lock(temp.as_file(), path)?;
        // A store another process is writing is never replaced under it.
        if let Ok(existing) = File::open(path) {
            lock(&existing, path)?;
        }
        temp.write_all(&header_bytes(&run_id, &key))
            .and_then(|()| temp.as_file().sync_all())
            .map_err(io_err(path, "write"))?;
        let mut file = temp
            .persist(path)
            .map_err(|e| io_err(path, "write")(e.error))?;
        sync_parent(path)?;
        file.seek(SeekFrom::End(0))
            .map_err(io_err(path, "seek to the end of"))?;
        Ok(TranscriptWriter {
            file,
            path: path.to_path_buf(),
            run_id,
            key,
            next_plan_index: 0,
        })
    }

    /// Reopens the store of a resumed run whose journal holds `durable`
    /// results. Records after them (sealed, but their result never became
    /// durable) and a torn tail are cut off, durably.
    pub fn resume(
        path: &Path,
        run_id: [u8; 16],
        key: TranscriptKey,
        durable: u32,
    ) -> Result<TranscriptWriter, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err(path, "open"))?;
        lock(&file, path)?;
        let stored_run = check_header(path, &mut file, &key)?;
        if stored_run != run_id {
            return Err(StoreError::Mismatch {
                path: path.to_path_buf(),
                problem: format!(
                    "belongs to run {}, the journal to run {}",
                    airlock_core::hex::encode(&stored_run),
                    airlock_core::hex::encode(&run_id)
                ),
            });
        }
        let len = file_len(path, &file)?;
        let mut records = Records {
            file: &mut file,
            path: path.to_path_buf(),
            offset: STORE_HEADER_LEN as u64,
            len,
            index: 0,
        };
        let mut kept: u32 = 0;
        let cut = loop {
            let before = records.offset;
            match records.next()? {
                Err(ScanEnd::Clean) => break None,
                Err(ScanEnd::Torn(at)) => break Some(at),
                Ok(record) => {
                    if record.plan_index != kept {
                        return Err(StoreError::Corrupt {
                            path: path.to_path_buf(),
                            record: u64::from(kept),
                            offset: record.offset,
                            problem: format!(
                                "holds plan entry {}, expected {kept}",
                                record.plan_index
                            ),
                        });
                    }
                    if kept == durable {
                        break Some(before);
                    }
                    kept += 1;
                }
            }
        };
        if kept < durable {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
                plan_index: kept,
            });
        }
        if let Some(at) = cut {
            tracing::warn!(
                path = %path.display(),
                offset = at,
                bytes = len - at,
                "cut sealed transcripts whose results never became durable"
            );
            file.set_len(at).map_err(io_err(path, "truncate"))?;
            file.sync_all().map_err(io_err(path, "fsync"))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(io_err(path, "seek to the end of"))?;
        Ok(TranscriptWriter {
            file,
            path: path.to_path_buf(),
            run_id,
            key,
            next_plan_index: durable,
        })
    }

    /// Seals the transcript of the next plan entry, appends it with one
    /// write and makes it durable (`fdatasync`) before returning.
    pub fn append(&mut self, plan_index: u32, transcript: &[u8]) -> Result<(), StoreError> {
        self.seal(plan_index, transcript)?;
        self.sync()
    }

    /// Makes every record sealed so far durable (`fdatasync`).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.file
            .sync_data()
            .map_err(io_err(&self.path, "fsync the sealed transcripts in"))
    }

    /// Seals the transcript of the next plan entry and appends it with one
    /// write, not yet durable: [`TranscriptWriter::sync`] makes it so, once
    /// for several records (group commit).
    pub fn seal(&mut self, plan_index: u32, transcript: &[u8]) -> Result<(), StoreError> {
        if plan_index != self.next_plan_index {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                record: u64::from(plan_index),
                offset: 0,
                problem: format!(
                    "asked to seal plan entry {plan_index}, the next one is {}",
                    self.next_plan_index
                ),
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Random(e.to_string()))?;
        let record = seal_record(&self.key, &self.run_id, plan_index, nonce, transcript)
            .ok_or_else(|| StoreError::TooLarge {
                path: self.path.clone(),
                plan_index,
                len: transcript.len(),
            })?;
        self.file
            .write_all(&record)
            .map_err(io_err(&self.path, "append a sealed transcript to"))?;
        self.next_plan_index += 1;
        Ok(())
    }
}

/// Opens the sealed transcript of `plan_index` in the store at `path`,
/// checking that the store belongs to `run_id`. Reads records one at a time
/// and decrypts only the one asked for.
pub fn open_transcript(
    path: &Path,
    key: &TranscriptKey,
    run_id: &[u8; 16],
    plan_index: u32,
) -> Result<Vec<u8>, StoreError> {
    let mut file = File::open(path).map_err(io_err(path, "open"))?;
    let mut records = records_of_run(path, &mut file, key, run_id)?;
    loop {
        let Some((index, record)) = next_whole(&mut records)? else {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
                plan_index,
            });
        };
        if record.plan_index == plan_index {
            return unseal(path, key, run_id, index, record).map(|(_, plain)| plain);
        }
    }
}

/// Opens every sealed transcript in the store at `path`, in file order:
/// `(plan index, postcard bytes)`. Stops at the first record that is damaged
/// or does not open (and says which); a torn tail is damage here, since a
/// finished run's store has none.
pub fn open_all(
    path: &Path,
    key: &TranscriptKey,
    run_id: &[u8; 16],
) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
    let mut file = File::open(path).map_err(io_err(path, "open"))?;
    let mut records = records_of_run(path, &mut file, key, run_id)?;
    let mut out = Vec::new();
    while let Some((index, record)) = next_whole(&mut records)? {
        out.push(unseal(path, key, run_id, index, record)?);
    }
    Ok(out)
}

/// The records of the store in `file`, after checking its header against
/// `key` and that it belongs to `run_id`.
fn records_of_run<'f>(
    path: &Path,
    file: &'f mut File,
    key: &TranscriptKey,
    run_id: &[u8; 16],
) -> Result<Records<'f>, StoreError> {
    let stored_run = check_header(path, file, key)?;
    if &stored_run != run_id {
        return Err(StoreError::Mismatch {
            path: path.to_path_buf(),
            problem: format!(
                "belongs to run {}, the bundle is run {}",
                airlock_core::hex::encode(&stored_run),
                airlock_core::hex::encode(run_id)
            ),
        });
    }
    let len = file_len(path, file)?;
    Ok(Records {
        file,
        path: path.to_path_buf(),
        offset: STORE_HEADER_LEN as u64,
        len,
        index: 0,
    })
}

/// The next whole record with its index, `None` at a clean end; a torn
/// tail is an error, since only a finished run's store is read.
fn next_whole(records: &mut Records<'_>) -> Result<Option<(u64, RawRecord)>, StoreError> {
    let index = records.index;
    match records.next()? {
        Ok(record) => Ok(Some((index, record))),
        Err(ScanEnd::Clean) => Ok(None),
        Err(ScanEnd::Torn(offset)) => Err(StoreError::Corrupt {
            path: records.path.clone(),
            record: index,
            offset,
            problem: "the file ends inside it".into(),
        }),
    }
}

/// Decrypts record number `index`: `(plan index, postcard bytes)`.
fn unseal(
    path: &Path,
    key: &TranscriptKey,
    run_id: &[u8; 16],
    index: u64,
    record: RawRecord,
) -> Result<(u32, Vec<u8>), StoreError> {
    let mut sealed = record.sealed;
    let opened = key.key.open_in_place(
        Nonce::assume_unique_for_key(record.nonce),
        Aad::from(aad(run_id, record.plan_index)),
        &mut sealed,
    );
    match opened {
        Ok(plain) => Ok((record.plan_index, plain.to_vec())),
        Err(_) => Err(StoreError::Decrypt {
            path: path.to_path_buf(),
            record: index,
            plan_index: record.plan_index,
            offset: record.offset,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TranscriptKey {
        TranscriptKey::from_bytes(&[7; 32])
    }

    /// Runs of one station started together all find the key missing; each
    /// must end with the one key that was made, never read a key file that
    /// another run has created but not yet written.
    #[test]
    fn runs_creating_the_key_at_once_all_get_the_same_whole_key() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("evaluator-{round}.transcript-key"));
            let barrier = std::sync::Barrier::new(8);
            let checks: Vec<[u8; 32]> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            TranscriptKey::load_or_create(&path).map(|key| key.check)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap().unwrap())
                    .collect()
            });
            assert!(checks.iter().all(|c| *c == checks[0]), "round {round}");
            let on_disk = TranscriptKey::load(&path).unwrap();
            assert_eq!(on_disk.check, checks[0], "round {round}");
        }
    }

    #[test]
    fn header_bytes_are_pinned() {
        let header = header_bytes(&[1; 16], &key());
        assert_eq!(&header[..12], b"\x89ALT\r\n\x1a\n\x02\x00\x00\x00");
        assert_eq!(&header[12..28], &[1; 16]);
        // Cross-checked with Python blake3 (derive_key_context).
        let check = airlock_core::hex::encode(&header[28..]);
        assert_eq!(
            check,
            "e579479b4cdf9f873aa2d13efff323047e66deb94aab3680bb28de5456addd1d"
        );
    }

    #[test]
    fn record_bytes_are_pinned() {
        // Key [07; 32], run [01; 16], plan entry 2, nonce [09; 12], plaintext
        // "hi". Cross-checked with Python `cryptography`'s ChaCha20Poly1305
        // over the associated data of SPEC.md.
        let record = seal_record(&key(), &[1; 16], 2, [9; 12], b"hi").unwrap();
        let hex = airlock_core::hex::encode(&record);
        assert_eq!(
            &record[..20],
            b"\x02\x00\x00\x00\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x12\x00\x00\x00"
        );
        assert_eq!(record.len(), 20 + 2 + 16);
        assert_eq!(
            hex,
            concat!(
                "02000000",
                "090909090909090909090909",
                "12000000",
                "9410",
                "3396bcccfc6e267d4eeae08f0b58ecfe"
            ),
            "record bytes changed"
        );
    }

    #[test]
    fn a_sealed_record_opens_only_in_its_slot_and_unaltered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut writer = TranscriptWriter::create(&path, [1; 16], key()).unwrap();
        writer.append(0, b"first").unwrap();
        writer.append(1, b"second").unwrap();
        assert_eq!(
            open_transcript(&path, &key(), &[1; 16], 1).unwrap(),
            b"second"
        );
        let err = open_transcript(&path, &key(), &[2; 16], 1).unwrap_err();
        assert!(err.to_string().contains("belongs to run"), "{err}");
        let other = TranscriptKey::from_bytes(&[8; 32]);
        let err = open_transcript(&path, &other, &[1; 16], 1).unwrap_err();
        assert!(
            err.to_string().contains("another station transcript key"),
            "{err}"
        );

        // Swap the two records' plan indices: each is now in a slot its
        // associated data does not name.
        let mut bytes = std::fs::read(&path).unwrap();
        let second = STORE_HEADER_LEN + RECORD_HEAD_LEN + 5 + TAG_LEN;
        bytes[STORE_HEADER_LEN] = 1;
        bytes[second] = 0;
        std::fs::write(&path, &bytes).unwrap();
        let err = open_transcript(&path, &key(), &[1; 16], 1).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Decrypt {
                    record: 0,
                    plan_index: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn group_commit_seals_in_plan_order_and_one_sync_makes_all_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut writer = TranscriptWriter::create(&path, [1; 16], key()).unwrap();
        writer.seal(0, b"zero").unwrap();
        writer.seal(1, b"one").unwrap();
        let err = writer.seal(3, b"three").unwrap_err();
        assert!(
            err.to_string()
                .contains("asked to seal plan entry 3, the next one is 2"),
            "{err}"
        );
        writer.sync().unwrap();
        drop(writer);
        assert_eq!(
            open_transcript(&path, &key(), &[1; 16], 0).unwrap(),
            b"zero"
        );
        assert_eq!(open_transcript(&path, &key(), &[1; 16], 1).unwrap(), b"one");
        // What a resume after the results of both became durable finds.
        TranscriptWriter::resume(&path, [1; 16], key(), 2).unwrap();
    }

    #[test]
    fn every_altered_byte_of_a_record_fails_to_open_naming_the_file_and_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.transcripts");
        let mut writer = TranscriptWriter::create(&path, [1; 16], key()).unwrap();
        writer.append(0, b"a transcript").unwrap();
        drop(writer);
        let clean = std::fs::read(&path).unwrap();
        for at in STORE_HEADER_LEN..clean.len() {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            let err = open_transcript(&path, &key(), &[1; 16], 0).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("run.transcripts"), "{at}: {text}");
            assert!(
                text.contains("record 0") || text.contains("no sealed transcript for plan entry 0"),
                "{at}: {text}"
            );
        }
    }

    #[test]
    fn resume_cuts_records_after_the_durable_results_and_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut writer = TranscriptWriter::create(&path, [1; 16], key()).unwrap();
        for i in 0..3 {
            writer.append(i, format!("t{i}").as_bytes()).unwrap();
        }
        drop(writer);
        let full = std::fs::read(&path).unwrap();
        // A torn fourth record.
        let mut torn = full.clone();
        torn.extend_from_slice(&[3, 0, 0, 0, 1, 2]);
        std::fs::write(&path, &torn).unwrap();
        let mut writer = TranscriptWriter::resume(&path, [1; 16], key(), 2).unwrap();
        let record_len = RECORD_HEAD_LEN + 2 + TAG_LEN;
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            STORE_HEADER_LEN + 2 * record_len
        );
        writer.append(2, b"T2").unwrap();
        assert_eq!(open_transcript(&path, &key(), &[1; 16], 2).unwrap(), b"T2");
        // While a writer holds the store, a second is refused, naming it.
        let err = TranscriptWriter::resume(&path, [1; 16], key(), 3).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: another process holds it", path.display())),
            "{err}"
        );
        drop(writer);
        let err = TranscriptWriter::resume(&path, [1; 16], key(), 4).unwrap_err();
        assert!(
            matches!(err, StoreError::Missing { plan_index: 3, .. }),
            "{err}"
        );
        let err = TranscriptWriter::resume(&path, [2; 16], key(), 1).unwrap_err();
        assert!(err.to_string().contains("belongs to run"), "{err}");
    }

    #[test]
    fn the_key_file_is_created_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evaluator.transcript-key");
        let first = TranscriptKey::load_or_create(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 32);
        let again = TranscriptKey::load_or_create(&path).unwrap();
        assert_eq!(first.check(), again.check());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = TranscriptKey::load(&path).unwrap_err();
            assert!(err.to_string().contains("chmod 600"), "{err}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, [1; 31]).unwrap();
        let err = TranscriptKey::load(&path).unwrap_err();
        assert!(err.to_string().contains("31 bytes"), "{err}");
        assert_eq!(
            TranscriptKey::path_for_key(Path::new("k/evaluator.key")),
            Path::new("k/evaluator.transcript-key")
        );
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
    fn every_store_error_variant_has_its_class() {
        let path = || std::path::PathBuf::from("x");
        let io = || std::io::Error::other("x");
        let cases = [
            (
                StoreError::Io {
                    path: path(),
                    doing: "read",
                    error: io(),
                },
                ErrorClass::Input,
            ),
            (
                StoreError::Key {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                StoreError::Header {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                StoreError::Mismatch {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Integrity,
            ),
            (
                StoreError::Corrupt {
                    path: path(),
                    record: 0,
                    offset: 0,
                    problem: "x".into(),
                },
                ErrorClass::Integrity,
            ),
            (
                StoreError::Decrypt {
                    path: path(),
                    record: 0,
                    plan_index: 0,
                    offset: 0,
                },
                ErrorClass::Integrity,
            ),
            (
                StoreError::Missing {
                    path: path(),
                    plan_index: 0,
                },
                ErrorClass::Input,
            ),
            (
                StoreError::TooLarge {
                    path: path(),
                    plan_index: 0,
                    len: 1,
                },
                ErrorClass::Input,
            ),
            (StoreError::Random("x".into()), ErrorClass::Input),
            (
                StoreError::KeyWrite(crate::AttestError::AlreadyExists { path: path() }),
                ErrorClass::Input,
            ),
            (StoreError::Locked { path: path() }, ErrorClass::Input),
        ];
        let row = |e: &StoreError| match e {
            StoreError::Io { .. } => 0,
            StoreError::Key { .. } => 1,
            StoreError::Header { .. } => 2,
            StoreError::Mismatch { .. } => 3,
            StoreError::Corrupt { .. } => 4,
            StoreError::Decrypt { .. } => 5,
            StoreError::Missing { .. } => 6,
            StoreError::TooLarge { .. } => 7,
            StoreError::Random(_) => 8,
            StoreError::KeyWrite(_) => 9,
            StoreError::Locked { .. } => 10,
        };
        let mut seen = [false; 11];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
