//! The run journal: append-only, durable, resumable (SPEC.md, "Journal").
//!
//! `header (44) ‖ frame*`, no trailer: a journal is always being appended to.
//! A crash during an append leaves a torn tail (a partial length or frame at
//! the end, or zero bytes where the filesystem extended the file but the
//! data never arrived); [`verify_journal`] reports it and [`JournalWriter::resume`]
//! cuts it off. A record that is whole but wrong is corruption, never dropped.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_core::chain::{GENESIS, chain_hash};
use airlock_core::record::{Record, SignedEntry};

use crate::bundle::{BundleTrailer, WriteFailure, write_bundle_from};
pub use crate::error::JournalError;
use crate::error::{AttestError, io_err};
use crate::frame::{self, FileKind, FrameError, FrameItem, FrameReader, HEADER_LEN, HeaderError};
use crate::fsutil::{Overwrite, create_new, parent_dir, sync_dir, try_lock_exclusive};
use crate::keys::{PublicKey, SigningKey};

/// The header of a journal: `JOURNAL_MAGIC ‖ version u16 LE ‖ flags u16 LE ‖ key`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct JournalHeader {
    /// The evaluator key that signs every entry.
    pub public_key: PublicKey,
}

impl JournalHeader {
    /// The 44 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        frame::encode_header(FileKind::Journal, &self.public_key)
    }

    /// Parses header bytes; refuses another magic, version or non-zero flags.
    pub fn decode(bytes: &[u8]) -> Result<JournalHeader, HeaderError> {
        frame::decode_header(FileKind::Journal, bytes)
            .map(|public_key| JournalHeader { public_key })
    }
}

/// A verified journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Offset of its frame.
    pub offset: u64,
    /// The signed entry.
    pub entry: SignedEntry,
    /// Its decoded record.
    pub record: Record,
}

/// A partially written tail after the last whole record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Where it starts: the length to truncate the journal to.
    pub offset: u64,
    /// How many bytes it has.
    pub len: u64,
}

/// Streams and verifies a journal: every entry decodes, has the next
/// sequence number and chain hash, and is signed by the header's key.
#[derive(Debug)]
pub struct JournalScanner<R> {
    frames: FrameReader<R>,
    header: JournalHeader,
    next_seq: u64,
    last_hash: Digest,
    torn: Option<TornTail>,
    done: bool,
    check_signatures: bool,
}

impl<R: Read> JournalScanner<R> {
    /// Reads and checks the header.
    pub fn new(reader: R) -> Result<JournalScanner<R>, JournalError> {
        let mut frames = FrameReader::new(reader, 0);
        let mut bytes = [0u8; HEADER_LEN];
        let have = frames.read_full(&mut bytes).map_err(frame_io)?;
        let header = JournalHeader::decode(&bytes[..have]).map_err(JournalError::Header)?;
        Ok(JournalScanner {
            frames,
            header,
            next_seq: 0,
            last_hash: GENESIS,
            torn: None,
            done: false,
            check_signatures: true,
        })
    }

    /// The header.
    pub fn header(&self) -> &JournalHeader {
        &self.header
    }

    /// Sequence number the next appended entry must have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Chain hash of the last whole entry ([`GENESIS`] if none).
    pub fn last_hash(&self) -> Digest {
        self.last_hash
    }

    /// Length of the journal up to the end of the last whole entry.
    pub fn valid_len(&self) -> u64 {
        self.torn.map_or(self.frames.offset(), |t| t.offset)
    }

    /// The torn tail found at the end, once [`JournalScanner::next_entry`] returned `None`.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn
    }

    /// The next verified entry; `None` at the end of the whole entries.
    pub fn next_entry(&mut self) -> Result<Option<JournalEntry>, JournalError> {
        if self.done {
            return Ok(None);
        }
        let offset = self.frames.offset();
        let index = self.next_seq;
        let corrupt = |problem: String| JournalError::Corrupt {
            offset,
            index,
            problem,
        };
        let item = match self.frames.next_item() {
            Ok(item) => item,
            Err(e @ FrameError::TornFrame { .. }) => {
                // A prefix of a frame never decodes as a whole entry. If the
                // bytes that are there do, the length field is what is wrong,
                // and treating the rest as a torn tail would drop records.
                if postcard::take_from_bytes::<SignedEntry>(self.frames.last_frame_bytes()).is_ok()
                {
                    return Err(corrupt(format!(
                        "{e}, yet a whole entry follows its length field: the length is corrupt"
                    )));
                }
                return self.torn_at(offset);
            }
            Err(e) if e.is_torn() => return self.torn_at(offset),
            Err(FrameError::Io { error, .. }) => return Err(JournalError::Io(error)),
            Err(e @ FrameError::Undecodable { .. }) => {
                if self.zero_tail(true)? {
                    return self.torn_at(offset);
                }
                return Err(corrupt(e.to_string()));
            }
            Err(e) => return Err(corrupt(e.to_string())),
        };
        let frame = match item {
            FrameItem::End { .. } => {
                self.done = true;
                return Ok(None);
            }
            FrameItem::ZeroLength { .. } => {
                if self.zero_tail(false)? {
                    return self.torn_at(offset);
                }
                return Err(corrupt(
                    "a zero frame length followed by data (journals have no trailer)".to_owned(),
                ));
            }
            FrameItem::Frame(frame) => frame,
        };
        let entry = frame.entry;
        let problem = if entry.seq != index {
            Some(format!("sequence number {}, expected {index}", entry.seq))
        } else if chain_hash(&self.last_hash, entry.seq, &entry.body) != entry.chain_hash {
            Some("stored chain hash does not match its bytes".to_owned())
        } else if self.check_signatures && !self.header.public_key.verify_entry(&entry) {
            Some("signature does not verify".to_owned())
        } else {
            None
        };
        let record = match (problem, Record::from_bytes(&entry.body)) {
            (None, Ok(record)) => record,
            (problem, decoded) => {
                if self.zero_tail(true)? {
                    return self.torn_at(offset);
                }
                let problem = match (problem, decoded) {
                    (Some(problem), _) => problem,
                    (None, Err(e)) => format!("record bytes do not decode: {e}"),
                    (None, Ok(_)) => String::new(),
                };
                return Err(corrupt(problem));
            }
        };
        self.next_seq += 1;
        self.last_hash = entry.chain_hash;
        Ok(Some(JournalEntry {
            offset,
            entry,
            record,
        }))
    }

    fn torn_at(&mut self, offset: u64) -> Result<Option<JournalEntry>, JournalError> {
        self.frames.drain().map_err(frame_io)?;
        let end = self.frames.offset().max(offset);
        self.torn = Some(TornTail {
            offset,
            len: end - offset,
        });
        self.done = true;
        Ok(None)
    }

    /// Whether the frame just read (if `check_frame`) and everything after it
    /// are zero bytes: what a crash leaves when the filesystem grew the file
    /// but never wrote the data.
    fn zero_tail(&mut self, check_frame: bool) -> Result<bool, JournalError> {
        if check_frame && !self.frames.last_frame_bytes().iter().all(|&b| b == 0) {
            return Ok(false);
        }
        let (_, all_zero) = self.frames.drain().map_err(frame_io)?;
        Ok(all_zero)
    }
}

fn frame_io(e: FrameError) -> JournalError {
    match e {
        FrameError::Io { error, .. } => JournalError::Io(error),
        other => JournalError::Corrupt {
            offset: other.offset(),
            index: 0,
            problem: other.to_string(),
        },
    }
}

/// What [`verify_journal`] found.
#[derive(Debug, Clone)]
pub struct JournalState {
    /// The key in the journal's header.
    pub public_key: PublicKey,
    /// Every whole, verified entry in order.
    pub entries: Vec<JournalEntry>,
    /// Length up to the end of the last whole entry: truncate to this to resume.
    pub valid_len: u64,
    /// The torn tail after `valid_len`, if any.
    pub torn_tail: Option<TornTail>,
    /// Sequence number of the next entry.
    pub next_seq: u64,
    /// Chain hash of the last entry ([`GENESIS`] if none).
    pub last_hash: Digest,
}

/// Reads and verifies a journal for resuming: returns the whole, verifying
/// entries and the length to truncate to. A torn tail is reported, not an
/// error; a corrupt record anywhere is an error. `expected_key` is the key
/// the caller will sign with; a journal of another key is refused.
pub fn verify_journal(path: &Path, expected_key: &PublicKey) -> Result<JournalState, AttestError> {
    let file = File::open(path).map_err(io_err(path, "open"))?;
    let wrap = |error| AttestError::Journal {
        path: path.to_path_buf(),
        error,
    };
    let mut scanner = JournalScanner::new(BufReader::new(file)).map_err(|e| match e {
        JournalError::Header(problem) => AttestError::BadJournalHeader {
            path: path.to_path_buf(),
            problem,
        },
        other => wrap(other),
    })?;
    let public_key = scanner.header().public_key;
    if public_key != *expected_key {
        return Err(AttestError::WrongJournalKey {
            path: path.to_path_buf(),
            journal_key: public_key.key_id(),
            given_key: expected_key.key_id(),
        });
    }
    let mut entries = Vec::new();
    while let Some(entry) = scanner.next_entry().map_err(wrap)? {
        entries.push(entry);
    }
    Ok(JournalState {
        public_key,
        entries,
        valid_len: scanner.valid_len(),
        torn_tail: scanner.torn_tail(),
        next_seq: scanner.next_seq(),
        last_hash: scanner.last_hash(),
    })
}

/// Appends signed records to a journal. Appends are buffered by the OS until
/// [`JournalWriter::sync`]; a result counts as durable only after it.
#[derive(Debug)]
pub struct JournalWriter {
    file: File,
    path: PathBuf,
    public_key: PublicKey,
    next_seq: u64,
    last_hash: Digest,
    len: u64,
    poisoned: bool,
    /// blake3 over the chain hash and signature of every entry in the file,
    /// each signed by this writer or verified when it resumed the journal:
    /// what [`JournalWriter::into_bundle`] compares the file with.
    vouched: blake3::Hasher,
}

fn vouch(hasher: &mut blake3::Hasher, entry: &SignedEntry) {
    hasher.update(entry.chain_hash.as_bytes());
    hasher.update(&entry.signature.0);
}

impl JournalWriter {
    /// Creates a new journal (never over an existing file), writes its header
    /// and makes the file and its directory entry durable. The writer holds
    /// the file's exclusive lock from before the journal appears under its
    /// name until the writer is dropped: a second process never sees this
    /// journal unlocked, so it can neither resume nor remove it meanwhile.
    pub fn create(path: &Path, public_key: &PublicKey) -> Result<JournalWriter, AttestError> {
        let dir = parent_dir(path);
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "journal".to_owned());
        let temp = dir.join(format!(".{base}.new-{}", crate::fsutil::unique_suffix()));
        let mut file = create_new(&temp, 0o600).map_err(io_err(path, "create"))?;
        let made = (|| {
            try_lock_exclusive(&file, path)?;
            let header = JournalHeader {
                public_key: *public_key,
            };
            file.write_all(&header.encode())
                .and_then(|()| file.sync_all())
                .map_err(io_err(path, "write"))?;
            // A hard link puts the locked file in place only if nothing is
            // there yet, atomically.
            std::fs::hard_link(&temp, path).map_err(|error| {
                if error.kind() == io::ErrorKind::AlreadyExists {
                    AttestError::AlreadyExists {
                        path: path.to_path_buf(),
                    }
                } else {
                    io_err(path, "create")(error)
                }
            })
        })();
        let _ = std::fs::remove_file(&temp);
        made?;
        sync_dir(dir)?;
        Ok(JournalWriter {
            file,
            path: path.to_path_buf(),
            public_key: *public_key,
            next_seq: 0,
            last_hash: GENESIS,
            len: HEADER_LEN as u64,
            poisoned: false,
            vouched: blake3::Hasher::new(),
        })
    }

    /// Reopens a journal to continue a run: takes its exclusive lock (refused
    /// at once, [`AttestError::Locked`], while another process writes it),
    /// verifies it ([`verify_journal`]), cuts off a torn tail durably, and
    /// positions the writer after the last whole entry.
    pub fn resume(
        path: &Path,
        public_key: &PublicKey,
    ) -> Result<(JournalWriter, JournalState), AttestError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_err(path, "open for appending"))?;
        // Locked before it is read: what another writer appends meanwhile
        // would look like a torn tail and be cut.
        try_lock_exclusive(&file, path)?;
        let state = verify_journal(path, public_key)?;
        if state.torn_tail.is_some() {
            file.set_len(state.valid_len)
                .and_then(|()| file.sync_all())
                .map_err(io_err(path, "truncate the torn tail of"))?;
        }
        let mut vouched = blake3::Hasher::new();
        for entry in &state.entries {
            vouch(&mut vouched, &entry.entry);
        }
        let writer = JournalWriter {
            file,
            path: path.to_path_buf(),
            public_key: *public_key,
            next_seq: state.next_seq,
            last_hash: state.last_hash,
            len: state.valid_len,
            poisoned: false,
            vouched,
        };
        Ok((writer, state))
    }

    /// Signs `record` as the next entry and appends it (not yet durable).
    pub fn append(
        &mut self,
        key: &SigningKey,
        record: &Record,
    ) -> Result<SignedEntry, AttestError> {
        if key.public_key() != self.public_key {
            return Err(AttestError::WrongJournalKey {
                path: self.path.clone(),
                journal_key: self.public_key.key_id(),
                given_key: key.key_id(),
            });
        }
        let entry = key.sign_next(&self.last_hash, self.next_seq, record);
        self.write(&entry)?;
        Ok(entry)
    }

    fn write(&mut self, entry: &SignedEntry) -> Result<(), AttestError> {
        if self.poisoned {
            return Err(AttestError::Io {
                path: self.path.clone(),
                doing: "append to",
                error: io::Error::other("an earlier append failed and could not be undone"),
            });
        }
        match frame::write_frame(&mut self.file, entry) {
            Ok(n) => {
                self.len += n as u64;
                self.next_seq += 1;
                self.last_hash = entry.chain_hash;
                vouch(&mut self.vouched, entry);
                Ok(())
            }
            Err(error) => {
                // A partial frame followed by later appends would be a
                // corrupt middle record; cut it off now, or stop appending.
                if self.file.set_len(self.len).is_err() {
                    self.poisoned = true;
                }
                Err(AttestError::Io {
                    path: self.path.clone(),
                    doing: "append to",
                    error,
                })
            }
        }
    }

    /// fsyncs the journal: every entry appended so far is durable.
    pub fn sync(&mut self) -> Result<(), AttestError> {
        self.file.sync_data().map_err(io_err(&self.path, "fsync"))
    }

    /// Sequence number of the next entry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Chain hash of the last entry.
    pub fn last_hash(&self) -> Digest {
        self.last_hash
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Converts this writer's journal into a bundle as [`journal_to_bundle`]
    /// does, checking signatures by identity rather than by Ed25519: every
    /// entry the journal should hold was signed by this writer or verified
    /// when it resumed the journal, so the file is accepted only if it holds
    /// exactly those entries — the chain recomputed from the bytes read,
    /// each entry's chain hash and signature equal to the ones written,
    /// none missing or extra. Any other difference is corruption. Saves an
    /// Ed25519 verification per record at the end of every run.
    pub fn into_bundle(
        self,
        bundle: &Path,
        overwrite: Overwrite,
    ) -> Result<BundleTrailer, AttestError> {
        self.write_bundle(bundle, overwrite)
    }

    /// [`JournalWriter::into_bundle`] that keeps the writer, and so the
    /// journal's lock, for what the run does after the bundle is written
    /// (recording the station state, removing the journal).
    pub fn write_bundle(
        &self,
        bundle: &Path,
        overwrite: Overwrite,
    ) -> Result<BundleTrailer, AttestError> {
        let expected = Vouched {
            entries: self.next_seq,
            digest: self.vouched.finalize(),
        };
        convert(&self.path, bundle, overwrite, Some(expected))
    }
}

/// What a writer vouches for: how many entries and the blake3 over their
/// chain hashes and signatures.
struct Vouched {
    entries: u64,
    digest: blake3::Hash,
}

/// Converts a journal into a bundle, streamed (one frame in memory at a
/// time), verifying each entry as in [`verify_journal`]. Refuses a journal
/// with a torn tail (resume the run first) and writes the bundle atomically
/// ([`crate::bundle::write_bundle`]).
pub fn journal_to_bundle(
    journal: &Path,
    bundle: &Path,
    overwrite: Overwrite,
) -> Result<BundleTrailer, AttestError> {
    convert(journal, bundle, overwrite, None)
}

/// [`journal_to_bundle`], checking each signature with Ed25519, or with
/// `vouched` against the entries a writer wrote.
fn convert(
    journal: &Path,
    bundle: &Path,
    overwrite: Overwrite,
    vouched: Option<Vouched>,
) -> Result<BundleTrailer, AttestError> {
    let file = File::open(journal).map_err(io_err(journal, "open"))?;
    let wrap = |error| AttestError::Journal {
        path: journal.to_path_buf(),
        error,
    };
    let mut scanner = JournalScanner::new(BufReader::new(file)).map_err(|e| match e {
        JournalError::Header(problem) => AttestError::BadJournalHeader {
            path: journal.to_path_buf(),
            problem,
        },
        other => wrap(other),
    })?;
    scanner.check_signatures = vouched.is_none();
    let public_key = scanner.header().public_key;
    let result = write_bundle_from(bundle, &public_key, overwrite, |writer| {
        let mut read = blake3::Hasher::new();
        while let Some(entry) = scanner.next_entry().map_err(wrap)? {
            vouch(&mut read, &entry.entry);
            writer.write_entry(&entry.entry)?;
        }
        if let Some(torn) = scanner.torn_tail() {
            return Err(WriteFailure::Attest(AttestError::TornJournal {
                path: journal.to_path_buf(),
                offset: torn.offset,
            }));
        }
        if let Some(vouched) = &vouched
            && (scanner.next_seq() != vouched.entries || read.finalize() != vouched.digest)
        {
            return Err(WriteFailure::Attest(wrap(JournalError::Corrupt {
                offset: scanner.valid_len(),
                index: scanner.next_seq(),
                problem: format!(
                    "it holds {} entries that differ from the {} written to it",
                    scanner.next_seq(),
                    vouched.entries
                ),
            })));
        }
        Ok(())
    });
    result.map_err(|e| match e {
        WriteFailure::Attest(e) => e,
        WriteFailure::Io(error) => AttestError::Io {
            path: bundle.to_path_buf(),
            doing: "write",
            error,
        },
    })
}
