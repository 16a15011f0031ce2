//! The station chain: each run on an evaluator station records its run
//! counter and the previous run's final chain hash, so a verifier holding
//! runs k and k+2 knows that run k+1 exists.
//!
//! The state lives in a small file beside the evaluator key
//! (`NAME.station`): magic `AIRLOCKS`, format version (u16 LE), run counter
//! (u64 LE), final chain hash of that run (32 bytes) — 50 bytes in all.

use core::fmt;
use std::path::{Path, PathBuf};

use airlock_core::Digest;

const MAGIC: &[u8; 8] = b"AIRLOCKS";
const VERSION: u16 = 1;
const LEN: usize = 8 + 2 + 8 + 32;

/// The last finished run of a station.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Station {
    /// Counter of the last finished run (0: none yet).
    pub run_counter: u64,
    /// Final chain hash of that run (zero: none yet).
    pub final_hash: Digest,
}

/// A station state file that cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum StationError {
    /// The file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// The file could not be written; the error names it.
    Write(airlock_attest::AttestError),
    /// The file is not a station state file of this version.
    Corrupt {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for StationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StationError::Io { path, error } => {
                write!(f, "{}: station state: {error}", path.display())
            }
            StationError::Write(e) => write!(f, "station state: {e}"),
            StationError::Corrupt { path } => write!(
                f,
                "{}: not an Airlock station state file (version {VERSION})",
                path.display()
            ),
        }
    }
}

impl core::error::Error for StationError {}

impl Station {
    /// The station file that goes with a key file: `DIR/NAME.key` → `DIR/NAME.station`.
    pub fn path_for_key(key: &Path) -> PathBuf {
        key.with_extension("station")
    }

    /// Reads the state; a missing file is a station with no runs yet.
    pub fn load(path: &Path) -> Result<Station, StationError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Station {
                    run_counter: 0,
                    final_hash: Digest::ZERO,
                });
            }
            Err(error) => {
                return Err(StationError::Io {
                    path: path.to_path_buf(),
                    error,
                });
            }
        };
        let corrupt = || StationError::Corrupt {
            path: path.to_path_buf(),
        };
        if bytes.len() != LEN || &bytes[..8] != MAGIC || bytes[8..10] != VERSION.to_le_bytes() {
            return Err(corrupt());
        }
        let counter: [u8; 8] = bytes[10..18].try_into().map_err(|_| corrupt())?;
        let hash: [u8; 32] = bytes[18..50].try_into().map_err(|_| corrupt())?;
        Ok(Station {
            run_counter: u64::from_le_bytes(counter),
            final_hash: Digest(hash),
        })
    }

    /// Records that run `run_counter` finished with `final_hash`, atomically
    /// (temporary file, fsync, rename, directory fsync). A state already past
    /// this counter is left alone, so resuming an old run cannot move the
    /// station backwards.
    pub fn record_finished(
        path: &Path,
        run_counter: u64,
        final_hash: &Digest,
    ) -> Result<(), StationError> {
        if Station::load(path)?.run_counter > run_counter {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(LEN);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&run_counter.to_le_bytes());
        bytes.extend_from_slice(final_hash.as_bytes());
        airlock_attest::write_file_atomically(
            path,
            &bytes,
            0o600,
            airlock_attest::Overwrite::Replace,
        )
        .map_err(StationError::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_a_new_station_and_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evaluator.station");
        assert_eq!(Station::load(&path).unwrap().run_counter, 0);
        Station::record_finished(&path, 3, &Digest([7; 32])).unwrap();
        let s = Station::load(&path).unwrap();
        assert_eq!((s.run_counter, s.final_hash), (3, Digest([7; 32])));
        // An older run finishing late does not move the station back.
        Station::record_finished(&path, 2, &Digest([1; 32])).unwrap();
        assert_eq!(Station::load(&path).unwrap().run_counter, 3);
    }

    /// Exact bytes of the station file (SPEC.md, "Run files beside the bundle").
    #[test]
    fn station_file_bytes_are_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.station");
        Station::record_finished(&path, 0x0102, &Digest([0xee; 32])).unwrap();
        let mut expected = b"AIRLOCKS".to_vec();
        expected.extend_from_slice(&[1, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0xee; 32]);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn corrupt_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.station");
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(
            Station::load(&path),
            Err(StationError::Corrupt { .. })
        ));
    }
}
