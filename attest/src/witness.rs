//! A witness of station logs (SPEC.md, "Witness"): it keeps, per log
//! origin, the last checkpoint it cosigned, and cosigns a new checkpoint
//! (C2SP tlog-cosignature, `cosignature/v1`) only after checking the log's
//! signature and a consistency proof from the one it holds. It never
//! cosigns a checkpoint that contradicts one it has seen: that is a fork,
//! refused and named.
//!
//! The request is the tlog-witness `add-checkpoint` body, so the same
//! bytes travel over HTTP or on removable media; the witness can run on
//! either side of the air gap. Its state is recorded durably before the
//! cosignature is handed out, so a crash cannot leave a cosignature the
//! state does not remember.

use core::fmt;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use airlock_tlog::checkpoint::{self, Checkpoint};
use airlock_tlog::merkle;
use airlock_tlog::note::{Note, VerifierKey};
use airlock_tlog::witness_request::AddCheckpoint;
use airlock_tlog::{Hash, TlogError, cosignature};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::keys::SigningKey;

/// First line of a witness state file.
pub const STATE_HEADER: &str = "airlock-witness-state/v1";

/// Why a witness refused, or could not work.
#[derive(Debug)]
#[non_exhaustive]
pub enum WitnessError {
    /// The state file could not be read, written or locked.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        doing: &'static str,
        /// The error.
        error: std::io::Error,
    },
    /// The state file is not a witness state.
    BadState {
        /// The file.
        path: PathBuf,
        /// Which line, and what is wrong.
        problem: String,
    },
    /// The request or its checkpoint could not be read, or the log's
    /// signature on it does not verify.
    Request(TlogError),
    /// The checkpoint is of another log than the one this witness was told
    /// to trust.
    WrongLog {
        /// The checkpoint's origin.
        origin: String,
        /// The trusted log's origin.
        trusted: String,
    },
    /// The request proves consistency from a size other than the one the
    /// witness holds (tlog-witness answers 409): ask the log again.
    OldSize {
        /// The log.
        origin: String,
        /// What the witness holds.
        held: u64,
        /// What the request starts from.
        given: u64,
    },
    /// The new checkpoint contradicts the one the witness holds: a fork.
    Fork {
        /// The log.
        origin: String,
        /// The held checkpoint's size.
        held_size: u64,
        /// Its root.
        held_root: Hash,
        /// The new checkpoint's size.
        new_size: u64,
        /// Its root.
        new_root: Hash,
    },
    /// The witness state could not be written.
    Write(crate::AttestError),
}

impl airlock_core::Classify for WitnessError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            WitnessError::Io { .. } => ErrorClass::Input,
            WitnessError::BadState { .. } => ErrorClass::Input,
            WitnessError::Request(e) => e.class(),
            WitnessError::WrongLog { .. } => ErrorClass::Input,
            WitnessError::OldSize { .. } => ErrorClass::Input,
            WitnessError::Fork { .. } => ErrorClass::Integrity,
            WitnessError::Write(e) => e.class(),
        }
    }
}

impl fmt::Display for WitnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WitnessError::Io { path, doing, error } => {
                write!(f, "{}: cannot {doing}: {error}", path.display())
            }
            WitnessError::BadState { path, problem } => {
                write!(f, "{}: not a witness state: {problem}", path.display())
            }
            WitnessError::Request(e) => write!(f, "add-checkpoint request: {e}"),
            WitnessError::WrongLog { origin, trusted } => write!(
                f,
                "the checkpoint is of log {origin}, but this witness was given the key of {trusted}"
            ),
            WitnessError::OldSize {
                origin,
                held,
                given,
            } => write!(
                f,
                "log {origin}: the witness holds a checkpoint of size {held}, but the request \
                 proves consistency from size {given}: make the proof from {held} \
                 (`airlock log consistency --from {held}`)"
            ),
            WitnessError::Fork {
                origin,
                held_size,
                held_root,
                new_size,
                new_root,
            } => write!(
                f,
                "FORK in log {origin}: the checkpoint of size {new_size} (root {}) is not \
                 consistent with the checkpoint of size {held_size} (root {}) this witness \
                 cosigned; refusing to cosign",
                STANDARD.encode(new_root),
                STANDARD.encode(held_root)
            ),
            WitnessError::Write(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for WitnessError {}

/// What a witness holds for one log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// Size of the last checkpoint cosigned.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

/// A witness's state, opened and locked.
#[derive(Debug)]
pub struct WitnessState {
    path: PathBuf,
    logs: BTreeMap<String, Held>,
    _lock: std::fs::File,
}

/// `STATE.lock`, the file whose lock is the witness's: the state itself is
/// replaced atomically, and a lock on a replaced file would lock nothing.
fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

impl WitnessState {
    /// Opens the state at `path` (a missing file is a witness that has seen
    /// nothing yet) and takes its lock without waiting.
    pub fn open(path: &Path) -> Result<WitnessState, WitnessError> {
        let lock_file = lock_path(path);
        let io = |doing| {
            let lock_file = lock_file.clone();
            move |error| WitnessError::Io {
                path: lock_file,
                doing,
                error,
            }
        };
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_file)
            .map_err(io("open"))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => WitnessError::Io {
                path: lock_file.clone(),
                doing: "lock (another witness process holds it)",
                error: std::io::Error::from(std::io::ErrorKind::WouldBlock),
            },
            std::fs::TryLockError::Error(error) => WitnessError::Io {
                path: lock_file.clone(),
                doing: "lock",
                error,
            },
        })?;
        let logs = match std::fs::read(path) {
            Ok(bytes) => parse_state(path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => {
                return Err(WitnessError::Io {
                    path: path.to_path_buf(),
                    doing: "read",
                    error,
                });
            }
        };
        Ok(WitnessState {
            path: path.to_path_buf(),
            logs,
            _lock: lock,
        })
    }

    /// What the witness holds for `origin`.
    pub fn held(&self, origin: &str) -> Option<Held> {
        self.logs.get(origin).copied()
    }

    /// Checks `request` against the log key `log` and what the witness
    /// holds, records the new checkpoint durably, and returns the
    /// checkpoint with this witness's cosignature (named `name`, signed
    /// by `key` at `timestamp`) added to its signatures.
    pub fn cosign(
        &mut self,
        request: &AddCheckpoint,
        log: &VerifierKey,
        name: &str,
        key: &SigningKey,
        timestamp: u64,
    ) -> Result<Note, WitnessError> {
        let new: Checkpoint =
            checkpoint::parse(&request.checkpoint.text).map_err(WitnessError::Request)?;
        if new.origin != log.name {
            return Err(WitnessError::WrongLog {
                origin: new.origin,
                trusted: log.name.clone(),
            });
        }
        log.verify(&request.checkpoint)
            .map_err(WitnessError::Request)?;
        let held = self.held(&new.origin);
        let held_size = held.map_or(0, |h| h.size);
        // The checkpoint it already holds is cosigned again whatever the
        // request starts from: no new statement, and a witness whose
        // output was lost can be asked once more.
        let same = held.is_some_and(|h| h.size == new.size && h.root == new.root);
        if request.old_size != held_size && !same {
            return Err(WitnessError::OldSize {
                origin: new.origin,
                held: held_size,
                given: request.old_size,
            });
        }
        if let Some(held) = held {
            let fork = || WitnessError::Fork {
                origin: new.origin.clone(),
                held_size: held.size,
                held_root: held.root,
                new_size: new.size,
                new_root: new.root,
            };
            if new.size < held.size {
                return Err(fork());
            }
            if !same {
                merkle::verify_consistency(
                    held.size,
                    new.size,
                    &request.consistency,
                    &held.root,
                    &new.root,
                )
                .map_err(|_| fork())?;
            }
        } else if !request.consistency.is_empty() {
            return Err(WitnessError::Request(TlogError::ConsistencyProofLength {
                old_size: 0,
                new_size: new.size,
                expected: 0,
                got: request.consistency.len(),
            }));
        }
        let public = key.public_key();
        let signature = cosignature::sign(
            &request.checkpoint.text,
            name,
            &public.0,
            timestamp,
            |message| key.sign(message).0,
        )
        .map_err(WitnessError::Request)?;
        self.logs.insert(
            new.origin.clone(),
            Held {
                size: new.size,
                root: new.root,
            },
        );
        crate::fsutil::write_file_atomically(
            &self.path,
            &encode_state(&self.logs),
            0o644,
            crate::Overwrite::Replace,
        )
        .map_err(WitnessError::Write)?;
        let mut cosigned = request.checkpoint.clone();
        // A witness cosigning again replaces its older line rather than
        // adding a second one with the same key id.
        cosigned
            .signatures
            .retain(|s| !(s.name == signature.name && s.key_id == signature.key_id));
        cosigned.signatures.push(signature);
        Ok(cosigned)
    }
}

fn encode_state(logs: &BTreeMap<String, Held>) -> Vec<u8> {
    let mut out = format!("{STATE_HEADER}\n");
    for (origin, held) in logs {
        out.push_str(&format!(
            "{origin} {} {}\n",
            held.size,
            STANDARD.encode(held.root)
        ));
    }
    out.into_bytes()
}

fn parse_state(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, Held>, WitnessError> {
    let bad = |line: usize, problem: &str| WitnessError::BadState {
        path: path.to_path_buf(),
        problem: format!("line {line}: {problem}"),
    };
    let text = core::str::from_utf8(bytes).map_err(|_| bad(1, "not UTF-8"))?;
    let Some(body) = text
        .strip_prefix(STATE_HEADER)
        .and_then(|t| t.strip_prefix('\n'))
    else {
        return Err(bad(1, &format!("the first line is not {STATE_HEADER}")));
    };
    let mut logs = BTreeMap::new();
    for (n, line) in body.lines().enumerate() {
        let line_no = n + 2;
        let fields: Vec<&str> = line.split(' ').collect();
        let [origin, size, root] = fields.as_slice() else {
            return Err(bad(line_no, "expected `ORIGIN SIZE ROOT`"));
        };
        let size: u64 = size
            .parse()
            .map_err(|_| bad(line_no, "the size is not a decimal number"))?;
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad(line_no, "the root is not base64 of 32 bytes"))?;
        if logs
            .insert((*origin).to_owned(), Held { size, root })
            .is_some()
        {
            return Err(bad(line_no, "the log is listed twice"));
        }
    }
    Ok(logs)
}
