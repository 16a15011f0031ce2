//! The station log (SPEC.md, "Station log"): an RFC 6962 Merkle tree with
//! one leaf per finished run, its C2SP checkpoints signed by the station's
//! evaluator key, `c2sp.org/tlog-proof@v1` receipts and consistency proofs.
//!
//! The leaves are not kept in a file of their own: they are the station
//! state's FINISHED entries, in the order the station recorded them, which
//! the station state already appends durably under its lock and cuts back
//! to whole entries after a crash. One file means the log and the counters
//! cannot disagree, and the tree (thousands of runs, not billions) is
//! rebuilt from it in microseconds whenever a checkpoint or proof is made.
//! A run's ending is recorded before its bundle is written, so every bundle
//! on disk has its leaf.
//!
//! Checkpoints carry no timestamp, so the checkpoint of a given size is the
//! same bytes every time it is made (Ed25519 signatures are deterministic):
//! a checkpoint never needs to be stored to be shown again.

use core::fmt;
use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_tlog::checkpoint::Checkpoint;
use airlock_tlog::merkle::{self, Tree};
use airlock_tlog::note::{self, Note, VerifierKey};
use airlock_tlog::proof::TlogProof;
use airlock_tlog::witness_request::AddCheckpoint;
use airlock_tlog::{Hash, TlogError};

use crate::keys::{PublicKey, SigningKey};
use crate::station_state::{FinishedRun, Station, StationError};

/// The version byte that starts every leaf.
pub const LEAF_VERSION: u8 = 1;
/// version (1), evaluator key id (32), run counter (8, big-endian),
/// RunStart chain hash (32), final chain hash (32).
pub const LEAF_LEN: usize = 1 + 32 + 8 + 32 + 32;
/// What precedes the evaluator key id in a station log's origin.
pub const ORIGIN_PREFIX: &str = "airlock/station/";
/// The file name suffix of a run's receipt, beside its bundle.
pub const RECEIPT_SUFFIX: &str = ".tlog-proof";

/// The origin (and checkpoint key name) of the log of the station whose
/// evaluator key has `key_id`: one key, one station, one log.
pub fn origin(key_id: &Digest) -> String {
    format!("{ORIGIN_PREFIX}{}", key_id.to_hex())
}

/// The vkey a verifier or witness trusts for the log of `public`'s station.
pub fn log_vkey(public: &PublicKey) -> Result<VerifierKey, TlogError> {
    VerifierKey::new(&origin(&public.key_id()), note::ALG_ED25519, &public.0)
}

/// `BUNDLE.tlog-proof`: where a run's receipt is written.
pub fn receipt_path(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(RECEIPT_SUFFIX);
    PathBuf::from(s)
}

/// One leaf of the log: a finished run of one station.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLeaf {
    /// The evaluator key id (the station).
    pub key_id: Digest,
    /// The run's station counter.
    pub run_counter: u64,
    /// The chain hash of the run's RunStart.
    pub run_start_hash: Digest,
    /// The run's final chain hash, which commits to every record of its bundle.
    pub final_hash: Digest,
}

impl LogLeaf {
    /// The leaf of a finished run of the station with `key_id`.
    pub fn new(key_id: Digest, run: &FinishedRun) -> LogLeaf {
        LogLeaf {
            key_id,
            run_counter: run.run_counter,
            run_start_hash: run.run_start_hash,
            final_hash: run.final_hash,
        }
    }

    /// The leaf's bytes, whose RFC 6962 leaf hash is the tree's leaf.
    pub fn to_bytes(&self) -> [u8; LEAF_LEN] {
        let mut out = [0u8; LEAF_LEN];
        out[0] = LEAF_VERSION;
        out[1..33].copy_from_slice(self.key_id.as_bytes());
        out[33..41].copy_from_slice(&self.run_counter.to_be_bytes());
        out[41..73].copy_from_slice(self.run_start_hash.as_bytes());
        out[73..].copy_from_slice(self.final_hash.as_bytes());
        out
    }

    /// SHA-256(0x00 ‖ bytes).
    pub fn hash(&self) -> Hash {
        merkle::leaf_hash(&self.to_bytes())
    }
}

/// Why the station log could not be read or a proof made.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogError {
    /// The station state could not be read.
    Station(StationError),
    /// There is no station state file: the station has finished no run.
    NoStation {
        /// The file.
        path: PathBuf,
    },
    /// The run is not in the log: it never finished at this station.
    UnknownRun {
        /// The station state file.
        path: PathBuf,
        /// The run counter asked for.
        run_counter: u64,
    },
    /// A size beyond the log, or a run not inside the requested size.
    Size {
        /// What was asked.
        problem: String,
    },
    /// A proof or checkpoint could not be made or read.
    Tlog {
        /// The file it concerns.
        path: PathBuf,
        /// What is wrong.
        error: TlogError,
    },
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        doing: &'static str,
        /// The error.
        error: std::io::Error,
    },
    /// A file could not be written atomically.
    Write(crate::AttestError),
}

impl airlock_core::Classify for LogError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            LogError::Station(e) => e.class(),
            LogError::NoStation { .. } => ErrorClass::Input,
            LogError::UnknownRun { .. } => ErrorClass::Input,
            LogError::Size { .. } => ErrorClass::Input,
            LogError::Tlog { error, .. } => error.class(),
            LogError::Io { .. } => ErrorClass::Input,
            LogError::Write(e) => e.class(),
        }
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Station(e) => e.fmt(f),
            LogError::NoStation { path } => write!(
                f,
                "{}: no station state: this key's station has finished no run",
                path.display()
            ),
            LogError::UnknownRun { path, run_counter } => write!(
                f,
                "{}: run {run_counter} is not in the station log (it never finished here)",
                path.display()
            ),
            LogError::Size { problem } => f.write_str(problem),
            LogError::Tlog { path, error } => write!(f, "{}: {error}", path.display()),
            LogError::Io { path, doing, error } => {
                write!(f, "{}: cannot {doing}: {error}", path.display())
            }
            LogError::Write(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for LogError {}

impl From<StationError> for LogError {
    fn from(e: StationError) -> LogError {
        LogError::Station(e)
    }
}

/// The log of one station, read from its state file.
#[derive(Debug)]
pub struct StationLog {
    path: PathBuf,
    key_id: Digest,
    origin: String,
    leaves: Vec<LogLeaf>,
    tree: Tree,
}

impl StationLog {
    /// The log of `station`, whose evaluator key has `key_id`.
    pub fn new(station: &Station, key_id: Digest) -> Result<StationLog, LogError> {
        let leaves: Vec<LogLeaf> = station
            .finished_runs()?
            .iter()
            .map(|run| LogLeaf::new(key_id, run))
            .collect();
        let tree = Tree::from_leaf_hashes(leaves.iter().map(LogLeaf::hash).collect());
        Ok(StationLog {
            path: station.path().to_path_buf(),
            key_id,
            origin: origin(&key_id),
            leaves,
            tree,
        })
    }

    /// Opens the station state at `path` (which must exist), reads its log
    /// and lets the lock go: a log command holds the station for
    /// microseconds, not while it prints.
    pub fn read(path: &Path, key_id: Digest) -> Result<StationLog, LogError> {
        let station = Station::lock_existing(path)?.ok_or_else(|| LogError::NoStation {
            path: path.to_path_buf(),
        })?;
        StationLog::new(&station, key_id)
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Leaves in the log.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The leaves, in log order.
    pub fn leaves(&self) -> &[LogLeaf] {
        &self.leaves
    }

    /// The log index of run `run_counter`.
    pub fn index_of(&self, run_counter: u64) -> Result<u64, LogError> {
        self.leaves
            .iter()
            .position(|l| l.run_counter == run_counter)
            .map(|i| i as u64)
            .ok_or_else(|| LogError::UnknownRun {
                path: self.path.clone(),
                run_counter,
            })
    }

    fn tlog(&self, error: TlogError) -> LogError {
        LogError::Tlog {
            path: self.path.clone(),
            error,
        }
    }

    fn check_size(&self, size: u64) -> Result<(), LogError> {
        if size > self.size() {
            return Err(LogError::Size {
                problem: format!(
                    "{}: the log holds {} runs, not {size}",
                    self.path.display(),
                    self.size()
                ),
            });
        }
        Ok(())
    }

    /// The checkpoint of the first `size` leaves, signed by `key` (which
    /// must be the station's).
    pub fn checkpoint(&self, size: u64, key: &SigningKey) -> Result<Note, LogError> {
        self.check_size(size)?;
        if key.key_id() != self.key_id {
            return Err(LogError::Size {
                problem: format!(
                    "{}: the key given is not this station's evaluator key",
                    self.path.display()
                ),
            });
        }
        let root = self.tree.root_at(size).map_err(|e| self.tlog(e))?;
        let text = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            extensions: Vec::new(),
        }
        .to_text();
        let public = key.public_key();
        let signature = note::sign_ed25519(&text, &self.origin, &public.0, |message| {
            key.sign(message).0
        })
        .map_err(|e| self.tlog(e))?;
        Ok(Note {
            text,
            signatures: vec![signature],
        })
    }

    /// The receipt of run `run_counter` in the checkpoint of `size`
    /// leaves (the whole log when `None`).
    pub fn receipt(
        &self,
        run_counter: u64,
        size: Option<u64>,
        key: &SigningKey,
    ) -> Result<TlogProof, LogError> {
        let size = size.unwrap_or(self.size());
        let index = self.index_of(run_counter)?;
        if index >= size {
            return Err(LogError::Size {
                problem: format!(
                    "{}: run {run_counter} is at log index {index}, outside a checkpoint of {size} runs",
                    self.path.display()
                ),
            });
        }
        let checkpoint = self.checkpoint(size, key)?;
        let inclusion = self
            .tree
            .inclusion_proof(index, size)
            .map_err(|e| self.tlog(e))?;
        Ok(TlogProof {
            extra: None,
            index,
            inclusion,
            checkpoint,
        })
    }

    /// The tlog-witness `add-checkpoint` body from `old_size` to the
    /// checkpoint of `new_size`: what a witness that last saw `old_size`
    /// needs to cosign the new one.
    pub fn consistency(
        &self,
        old_size: u64,
        new_size: u64,
        key: &SigningKey,
    ) -> Result<AddCheckpoint, LogError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(LogError::Size {
                problem: format!(
                    "{}: a consistency proof goes from a smaller size to a larger one, not from {old_size} to {new_size}",
                    self.path.display()
                ),
            });
        }
        let consistency = self
            .tree
            .consistency_proof(old_size, new_size)
            .map_err(|e| self.tlog(e))?;
        Ok(AddCheckpoint {
            old_size,
            consistency,
            checkpoint: self.checkpoint(new_size, key)?,
        })
    }
}

/// Writes `bytes` to `path` atomically: nothing half-written is ever seen
/// at `path`, and an existing file is kept unless `overwrite` says replace.
pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    overwrite: crate::Overwrite,
) -> Result<(), LogError> {
    crate::fsutil::write_file_atomically(path, bytes, 0o644, overwrite).map_err(LogError::Write)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn leaf_bytes_are_pinned() {
        let leaf = LogLeaf {
            key_id: Digest([0x11; 32]),
            run_counter: 0x0102_0304_0506_0708,
            run_start_hash: Digest([0x22; 32]),
            final_hash: Digest([0x33; 32]),
        };
        let bytes = leaf.to_bytes();
        let mut expected = vec![1u8];
        expected.extend([0x11; 32]);
        expected.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        expected.extend([0x22; 32]);
        expected.extend([0x33; 32]);
        assert_eq!(bytes.to_vec(), expected);
        // SHA-256(0x00 || bytes), pinned so that a change to the leaf or
        // its hashing shows here.
        let mut prefixed = vec![0u8];
        prefixed.extend(expected);
        assert_eq!(
            leaf.hash(),
            ring::digest::digest(&ring::digest::SHA256, &prefixed).as_ref()
        );
    }

    #[test]
    fn origin_names_the_key() {
        let id = Digest([0xab; 32]);
        assert_eq!(origin(&id), format!("airlock/station/{}", "ab".repeat(32)));
    }

    fn station_with_runs(dir: &Path, n: u64) -> PathBuf {
        let path = dir.join("e.station");
        let mut station = Station::lock(&path).unwrap();
        for i in 1..=n {
            let (counter, _) = station.next().unwrap();
            station
                .record_started(counter, &Digest([i as u8; 32]))
                .unwrap();
        }
        // Finish out of order: the log follows the order of the endings.
        for i in (1..=n).rev() {
            station
                .record_finished(i, &Digest([0x80 | i as u8; 32]))
                .unwrap();
        }
        path
    }

    #[test]
    fn receipts_and_consistency_proofs_verify_and_follow_the_order_of_endings() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_seed(&[7; 32]);
        let path = station_with_runs(dir.path(), 5);
        let log = StationLog::read(&path, key.key_id()).unwrap();
        assert_eq!(log.size(), 5);
        assert_eq!(log.index_of(5).unwrap(), 0);
        assert_eq!(log.index_of(1).unwrap(), 4);
        let vkey = log_vkey(&key.public_key()).unwrap();
        for counter in 1..=5 {
            let receipt = log.receipt(counter, None, &key).unwrap();
            vkey.verify(&receipt.checkpoint).unwrap();
            let checkpoint = airlock_tlog::checkpoint::parse(&receipt.checkpoint.text).unwrap();
            assert_eq!(checkpoint.origin, log.origin());
            let leaf = log.leaves()[receipt.index as usize].hash();
            merkle::verify_inclusion(
                &leaf,
                receipt.index,
                checkpoint.size,
                &receipt.inclusion,
                &checkpoint.root,
            )
            .unwrap();
        }
        // The same checkpoint is the same bytes every time it is made.
        assert_eq!(
            log.checkpoint(3, &key).unwrap().to_bytes(),
            log.checkpoint(3, &key).unwrap().to_bytes()
        );
        let request = log.consistency(2, 5, &key).unwrap();
        let old = airlock_tlog::checkpoint::parse(&log.checkpoint(2, &key).unwrap().text).unwrap();
        let new = airlock_tlog::checkpoint::parse(&request.checkpoint.text).unwrap();
        merkle::verify_consistency(2, 5, &request.consistency, &old.root, &new.root).unwrap();
        assert!(matches!(
            log.receipt(9, None, &key),
            Err(LogError::UnknownRun { run_counter: 9, .. })
        ));
        assert!(matches!(
            log.checkpoint(6, &key),
            Err(LogError::Size { .. })
        ));
        // Run 1 ended last: it is not in the checkpoint of the first four.
        assert!(matches!(
            log.receipt(1, Some(4), &key),
            Err(LogError::Size { .. })
        ));
        let other = SigningKey::from_seed(&[8; 32]);
        assert!(log.checkpoint(5, &other).is_err());
    }
}
