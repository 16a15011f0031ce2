//! The station state: the evaluator station's append-only log of its runs
//! (SPEC.md, "Run files beside the bundle", "Station chain").
//!
//! Each run takes the next counter and links to the previous run's RunStart
//! chain hash, both under the station's exclusive lock, and the log records
//! that allocation before the run's RunStart exists anywhere else: runs that
//! start at the same moment queue on the lock and get counters 1, 2, 3 with
//! one unforked chain. When a run's bundle is written the log records its
//! final hash, once: the same counter with another final hash (a finished
//! bundle cut back into a journal and resumed) is refused.
//!
//! The file (`NAME.station` beside the evaluator key) is never replaced,
//! only appended to, so the lock taken on it is the lock of the station for
//! every process that opens that name.

use core::fmt;
use core::time::Duration;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use airlock_core::Digest;

const MAGIC: &[u8; 8] = b"AIRLOCKS";
const VERSION: u16 = 1;
/// Magic and version.
pub const HEADER_LEN: usize = 10;
/// kind (1), run counter (8), hash (32).
pub const ENTRY_LEN: usize = 1 + 8 + 32;
const STARTED: u8 = 1;
const FINISHED: u8 = 2;

/// How long a run waits for another run of the station to release the
/// lock. Holders keep it for a few fsyncs (and, when a run finishes, for
/// writing its bundle), so waiting this long means a process is stuck.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// A station state file that cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum StationError {
    /// The file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        doing: &'static str,
        /// The error.
        error: std::io::Error,
    },
    /// The file is not a station state file of this version, or its log
    /// contradicts itself.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the byte offset.
        problem: String,
    },
    /// Another process kept the station's lock for longer than a run waits.
    Busy {
        /// The file.
        path: PathBuf,
    },
    /// The station has used every counter: a counter never wraps.
    Exhausted {
        /// The file.
        path: PathBuf,
    },
    /// The station already recorded this run as finished with another
    /// final hash: the same counter would name two different runs.
    Refork {
        /// The file.
        path: PathBuf,
        /// The run's counter.
        run_counter: u64,
        /// The final hash recorded when the run first finished.
        recorded: Digest,
        /// The final hash of this attempt (none yet when refused on resume).
        now: Option<Digest>,
    },
}

impl airlock_core::Classify for StationError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            // A refork is refused before it happens: nothing read failed a
            // check, this run may not end as asked.
            StationError::Io { .. }
            | StationError::Busy { .. }
            | StationError::Exhausted { .. }
            | StationError::Refork { .. } => ErrorClass::Input,
            StationError::Corrupt { .. } => ErrorClass::Integrity,
        }
    }
}

impl fmt::Display for StationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StationError::Io { path, doing, error } => {
                write!(
                    f,
                    "{}: station state: could not {doing}: {error}",
                    path.display()
                )
            }
            StationError::Corrupt { path, problem } => write!(
                f,
                "{}: not an Airlock station state file (version {VERSION}): {problem}",
                path.display()
            ),
            StationError::Busy { path } => write!(
                f,
                "{}: another process has held the station state for more than {} s; \
                 is an airlock run of this station stuck?",
                path.display(),
                LOCK_WAIT.as_secs()
            ),
            StationError::Exhausted { path } => write!(
                f,
                "{}: the station has used every run counter (2^64 - 1); \
                 a counter never wraps: use a new evaluator key and station",
                path.display()
            ),
            StationError::Refork {
                path,
                run_counter,
                recorded,
                now,
            } => {
                write!(
                    f,
                    "{}: run {run_counter} of this station already finished with final hash \
                     {recorded}",
                    path.display()
                )?;
                match now {
                    Some(now) => write!(f, ", not {now}")?,
                    None => write!(f, ", but this journal does not hold that ending")?,
                }
                write!(
                    f,
                    ": same counter, different hash; finishing it again would fork the station's chain"
                )
            }
        }
    }
}

impl core::error::Error for StationError {}

/// One line of the station log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    kind: u8,
    run_counter: u64,
    hash: Digest,
}

impl Entry {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[0] = self.kind;
        out[1..9].copy_from_slice(&self.run_counter.to_le_bytes());
        out[9..].copy_from_slice(self.hash.as_bytes());
        out
    }
}

/// A run the station recorded as finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinishedRun {
    /// Its station run counter.
    pub run_counter: u64,
    /// The chain hash of its RunStart.
    pub run_start_hash: Digest,
    /// Its final chain hash (the last record of its bundle).
    pub final_hash: Digest,
}

/// The station state, opened and locked: nobody else allocates a counter
/// or records a finished run while this value lives.
#[derive(Debug)]
pub struct Station {
    file: File,
    path: PathBuf,
    entries: Vec<Entry>,
}

impl Station {
    /// The station file that goes with a key file: `DIR/NAME.key` → `DIR/NAME.station`.
    pub fn path_for_key(key: &Path) -> PathBuf {
        key.with_extension("station")
    }

    /// Opens (creating it when missing: a station with no runs yet) and
    /// locks the station state, waiting up to a minute for another run of
    /// the station to release it. A torn last entry (a crash while it was
    /// appended) is cut off.
    pub fn lock(path: &Path) -> Result<Station, StationError> {
        Station::open(path, true)?.ok_or_else(|| unreachable_missing(path))
    }

    /// [`Station::lock`] for a station that must exist already (a resumed
    /// run's): `None` when there is no file, which is left uncreated.
    pub fn lock_existing(path: &Path) -> Result<Option<Station>, StationError> {
        Station::open(path, false)
    }

    fn open(path: &Path, create: bool) -> Result<Option<Station>, StationError> {
        let io = |doing: &'static str| {
            move |error| StationError::Io {
                path: path.to_path_buf(),
                doing,
                error,
            }
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(create);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = match options.open(path) {
            Ok(file) => file,
            Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("open")(e)),
        };
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StationError::Busy {
                        path: path.to_path_buf(),
                    });
                }
                Err(std::fs::TryLockError::Error(error)) => return Err(io("lock")(error)),
            }
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("read"))?;
        let entries = parse(path, &bytes)?;
        let whole = if bytes.is_empty() {
            0
        } else {
            HEADER_LEN + entries.len() * ENTRY_LEN
        };
        if bytes.is_empty() || whole < bytes.len() {
            // A new station gets its header; a torn entry is cut. Both are
            // made durable before anything is appended after them.
            if bytes.is_empty() {
                let mut header = MAGIC.to_vec();
                header.extend_from_slice(&VERSION.to_le_bytes());
                file.write_all(&header).map_err(io("write"))?;
            } else {
                file.set_len(whole as u64).map_err(io("truncate"))?;
            }
            file.sync_all().map_err(io("fsync"))?;
            if bytes.is_empty() {
                sync_parent(path).map_err(io("fsync the directory of"))?;
            }
        }
        Ok(Some(Station {
            file,
            path: path.to_path_buf(),
            entries,
        }))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The counter and link of the next run: one past the last allocated
    /// counter, linking to that run's RunStart hash (zero for the first).
    pub fn next(&self) -> Result<(u64, Digest), StationError> {
        match self.entries.iter().rev().find(|e| e.kind == STARTED) {
            None => Ok((1, Digest::ZERO)),
            Some(last) => match last.run_counter.checked_add(1) {
                Some(next) => Ok((next, last.hash)),
                None => Err(StationError::Exhausted {
                    path: self.path.clone(),
                }),
            },
        }
    }

    /// The RunStart hash recorded for run `run_counter`, if it was started here.
    pub fn started(&self, run_counter: u64) -> Option<Digest> {
        self.find(STARTED, run_counter)
    }

    /// The final hash recorded for run `run_counter`, if it finished.
    pub fn finished(&self, run_counter: u64) -> Option<Digest> {
        self.find(FINISHED, run_counter)
    }

    /// The finished runs in the order the station recorded their endings:
    /// the leaves of the station log (SPEC.md, "Station log"), so a run's
    /// log index is its position here.
    pub fn finished_runs(&self) -> Result<Vec<FinishedRun>, StationError> {
        let mut started = std::collections::HashMap::new();
        let mut runs = Vec::new();
        for entry in &self.entries {
            match entry.kind {
                STARTED => {
                    started.insert(entry.run_counter, entry.hash);
                }
                _ => {
                    let Some(run_start_hash) = started.get(&entry.run_counter) else {
                        return Err(StationError::Corrupt {
                            path: self.path.clone(),
                            problem: format!(
                                "run {} is recorded as finished but never started",
                                entry.run_counter
                            ),
                        });
                    };
                    runs.push(FinishedRun {
                        run_counter: entry.run_counter,
                        run_start_hash: *run_start_hash,
                        final_hash: entry.hash,
                    });
                }
            }
        }
        Ok(runs)
    }

    fn find(&self, kind: u8, run_counter: u64) -> Option<Digest> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.kind == kind && e.run_counter == run_counter)
            .map(|e| e.hash)
    }

    /// Records that run `run_counter` (which must be [`Station::next`]'s)
    /// starts with RunStart hash `start_hash`, durably.
    pub fn record_started(
        &mut self,
        run_counter: u64,
        start_hash: &Digest,
    ) -> Result<(), StationError> {
        self.append(Entry {
            kind: STARTED,
            run_counter,
            hash: *start_hash,
        })
    }

    /// Takes back the last allocation, when the run failed before its
    /// RunStart was durable anywhere else. Only the allocation this lock
    /// holder made can be last, since nobody else appends meanwhile.
    pub fn withdraw_started(&mut self, run_counter: u64) -> Result<(), StationError> {
        if self
            .entries
            .last()
            .is_some_and(|e| e.kind == STARTED && e.run_counter == run_counter)
        {
            self.entries.pop();
            let len = (HEADER_LEN + self.entries.len() * ENTRY_LEN) as u64;
            self.file
                .set_len(len)
                .and_then(|()| self.file.sync_all())
                .map_err(|error| StationError::Io {
                    path: self.path.clone(),
                    doing: "truncate",
                    error,
                })?;
        }
        Ok(())
    }

    /// Refuses a run that the station already recorded as finished with a
    /// final hash other than `final_hash` (`None`: this attempt has no
    /// ending yet, so any recorded one differs).
    pub fn check_not_finished_otherwise(
        &self,
        run_counter: u64,
        final_hash: Option<&Digest>,
    ) -> Result<(), StationError> {
        match self.finished(run_counter) {
            Some(recorded) if Some(&recorded) != final_hash => Err(StationError::Refork {
                path: self.path.clone(),
                run_counter,
                recorded,
                now: final_hash.copied(),
            }),
            _ => Ok(()),
        }
    }

    /// Records that run `run_counter` finished with `final_hash`, durably;
    /// recording the same ending again writes nothing, another ending is
    /// refused ([`StationError::Refork`]).
    pub fn record_finished(
        &mut self,
        run_counter: u64,
        final_hash: &Digest,
    ) -> Result<(), StationError> {
        self.check_not_finished_otherwise(run_counter, Some(final_hash))?;
        if self.finished(run_counter).is_some() {
            return Ok(());
        }
        self.append(Entry {
            kind: FINISHED,
            run_counter,
            hash: *final_hash,
        })
    }

    fn append(&mut self, entry: Entry) -> Result<(), StationError> {
        let at = (HEADER_LEN + self.entries.len() * ENTRY_LEN) as u64;
        let written = self
            .file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.write_all(&entry.encode()))
            .and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // A partial entry is cut at the next lock either way; try now.
            let _ = self.file.set_len(at);
            return Err(StationError::Io {
                path: self.path.clone(),
                doing: "append to",
                error,
            });
        }
        self.entries.push(entry);
        Ok(())
    }
}

/// `open(path, true)` creates a missing file, so it never says "none".
fn unreachable_missing(path: &Path) -> StationError {
    StationError::Io {
        path: path.to_path_buf(),
        doing: "open",
        error: std::io::Error::from(std::io::ErrorKind::NotFound),
    }
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The whole entries of a station file. A short last entry is a torn
/// append and left for the caller to cut; anything else out of place is
/// corruption, since a station log that contradicts itself cannot be
/// trusted to hand out the next counter.
fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Entry>, StationError> {
    let corrupt = |problem: String| StationError::Corrupt {
        path: path.to_path_buf(),
        problem,
    };
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC || bytes[8..10] != VERSION.to_le_bytes() {
        return Err(corrupt("bad header".into()));
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut last_started: Option<u64> = None;
    for (n, chunk) in bytes[HEADER_LEN..].chunks_exact(ENTRY_LEN).enumerate() {
        let offset = HEADER_LEN + n * ENTRY_LEN;
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&chunk[1..9]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&chunk[9..]);
        let entry = Entry {
            kind: chunk[0],
            run_counter: u64::from_le_bytes(counter),
            hash: Digest(hash),
        };
        match entry.kind {
            STARTED => {
                let expected = match last_started {
                    None => None,
                    Some(last) => Some(last.checked_add(1).ok_or_else(|| {
                        corrupt(format!("entry at byte {offset} starts a run past 2^64 - 1"))
                    })?),
                };
                if entry.run_counter == 0 || expected.is_some_and(|e| e != entry.run_counter) {
                    return Err(corrupt(format!(
                        "entry at byte {offset} starts run {}, out of order",
                        entry.run_counter
                    )));
                }
                last_started = Some(entry.run_counter);
            }
            FINISHED => {
                let started = entries
                    .iter()
                    .any(|e| e.kind == STARTED && e.run_counter == entry.run_counter);
                let again = entries
                    .iter()
                    .any(|e| e.kind == FINISHED && e.run_counter == entry.run_counter);
                if !started || again {
                    return Err(corrupt(format!(
                        "entry at byte {offset} finishes run {}, which {}",
                        entry.run_counter,
                        if started {
                            "already finished"
                        } else {
                            "never started"
                        }
                    )));
                }
            }
            other => {
                return Err(corrupt(format!(
                    "entry at byte {offset} has unknown kind {other}"
                )));
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_a_new_station_and_counters_follow_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evaluator.station");
        let mut s = Station::lock(&path).unwrap();
        assert_eq!(s.next().unwrap(), (1, Digest::ZERO));
        s.record_started(1, &Digest([7; 32])).unwrap();
        assert_eq!(s.next().unwrap(), (2, Digest([7; 32])));
        drop(s);
        let mut s = Station::lock(&path).unwrap();
        assert_eq!(s.started(1), Some(Digest([7; 32])));
        s.record_started(2, &Digest([8; 32])).unwrap();
        // Runs may finish in any order; the link is where a run started.
        s.record_finished(2, &Digest([9; 32])).unwrap();
        s.record_finished(1, &Digest([10; 32])).unwrap();
        assert_eq!(s.next().unwrap(), (3, Digest([8; 32])));
    }

    /// Exact bytes of the station file (SPEC.md, "Run files beside the bundle").
    #[test]
    fn station_file_bytes_are_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.station");
        let mut s = Station::lock(&path).unwrap();
        s.record_started(1, &Digest([0xee; 32])).unwrap();
        s.record_finished(1, &Digest([0xdd; 32])).unwrap();
        drop(s);
        let mut expected = b"AIRLOCKS".to_vec();
        expected.extend_from_slice(&[1, 0]);
        expected.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0xee; 32]);
        expected.extend_from_slice(&[2, 1, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0xdd; 32]);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[test]
    fn same_counter_different_hash_is_refused_and_the_same_ending_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.station");
        let mut s = Station::lock(&path).unwrap();
        s.record_started(1, &Digest([1; 32])).unwrap();
        s.record_finished(1, &Digest([2; 32])).unwrap();
        s.record_finished(1, &Digest([2; 32])).unwrap();
        let err = s.record_finished(1, &Digest([3; 32])).unwrap_err();
        assert!(
            err.to_string().contains("same counter, different hash"),
            "{err}"
        );
        assert!(s.check_not_finished_otherwise(1, None).is_err());
        drop(s);
        assert_eq!(
            std::fs::read(&path).unwrap().len(),
            HEADER_LEN + 2 * ENTRY_LEN
        );
    }

    #[test]
    fn the_counter_never_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.station");
        let mut s = Station::lock(&path).unwrap();
        s.record_started(u64::MAX, &Digest([1; 32])).unwrap();
        assert!(matches!(s.next(), Err(StationError::Exhausted { .. })));
    }

    #[test]
    fn a_torn_entry_is_cut_and_a_contradiction_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.station");
        let mut s = Station::lock(&path).unwrap();
        s.record_started(1, &Digest([1; 32])).unwrap();
        drop(s);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[1, 2, 0, 0]);
        std::fs::write(&path, &bytes).unwrap();
        let s = Station::lock(&path).unwrap();
        assert_eq!(s.next().unwrap(), (2, Digest([1; 32])));
        drop(s);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 51);

        let mut skipped = bytes[..HEADER_LEN + ENTRY_LEN].to_vec();
        skipped.extend_from_slice(
            &Entry {
                kind: STARTED,
                run_counter: 3,
                hash: Digest([3; 32]),
            }
            .encode(),
        );
        std::fs::write(&path, &skipped).unwrap();
        let err = Station::lock(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains("byte 51 starts run 3, out of order"),
            "{err}"
        );
        std::fs::write(&path, b"garbage!!!!").unwrap();
        assert!(matches!(
            Station::lock(&path),
            Err(StationError::Corrupt { .. })
        ));
    }

    /// While one holder has the station, another waits; it then sees what
    /// the first appended, so two runs never take one counter.
    #[test]
    fn a_second_holder_waits_and_sees_the_first_allocation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.station");
        let mut first = Station::lock(&path).unwrap();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || Station::lock(&path).unwrap().next().unwrap())
        };
        std::thread::sleep(Duration::from_millis(100));
        first.record_started(1, &Digest([4; 32])).unwrap();
        drop(first);
        assert_eq!(waiter.join().unwrap(), (2, Digest([4; 32])));
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
    fn every_station_error_variant_has_its_class() {
        let path = || std::path::PathBuf::from("x");
        let io = || std::io::Error::other("x");
        let cases = [
            (
                StationError::Io {
                    path: path(),
                    doing: "read",
                    error: io(),
                },
                ErrorClass::Input,
            ),
            (
                StationError::Corrupt {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Integrity,
            ),
            (StationError::Busy { path: path() }, ErrorClass::Input),
            (StationError::Exhausted { path: path() }, ErrorClass::Input),
            (
                StationError::Refork {
                    path: path(),
                    run_counter: 1,
                    recorded: airlock_core::Digest::ZERO,
                    now: None,
                },
                ErrorClass::Input,
            ),
        ];
        let row = |e: &StationError| match e {
            StationError::Io { .. } => 0,
            StationError::Corrupt { .. } => 1,
            StationError::Busy { .. } => 2,
            StationError::Exhausted { .. } => 3,
            StationError::Refork { .. } => 4,
        };
        let mut seen = [false; 5];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
