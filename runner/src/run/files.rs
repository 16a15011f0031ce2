//! The files of one run, in one place: the bundle `OUT`, the journal
//! `OUT.journal`, the run secret `OUT.secret`, the sealed transcript store
//! `OUT.transcripts`, the station state and the station transcript key
//! (SPEC.md, "Run files beside the bundle").
//!
//! [`RunFiles`] holds the exclusive lock of the journal, the secret and the
//! store for as long as the run writes them, and takes the station's lock
//! for each change of the station state: a second process writing the same
//! run is refused at once, naming the file, instead of corrupting it, and
//! runs of one station that start together get consecutive counters and
//! one chain. It also takes back what a run that failed before its RunStart
//! was durable made, so nothing half-written stays behind.

use std::fs::File;
use std::path::{Path, PathBuf};

use airlock_attest::{AttestError, JournalWriter, Overwrite, SecretError, SigningKey};
use airlock_core::Digest;
use airlock_core::chain::{GENESIS, chain_hash};
use airlock_core::record::{Record, RunEnd, RunStart, StationLink, TaskResult};

use super::error::RunError;
use airlock_attest::station_log::{self, StationLog};
use airlock_attest::station_state::{Station, StationError};
use airlock_attest::transcripts::{TranscriptKey, TranscriptWriter};

/// The journal path for a bundle path.
pub fn journal_path(out: &Path) -> PathBuf {
    with_suffix(out, ".journal")
}

/// The run-secret path for a bundle path.
pub fn secret_path(out: &Path) -> PathBuf {
    with_suffix(out, ".secret")
}

/// The sealed transcript store path for a bundle path.
pub fn transcripts_path(out: &Path) -> PathBuf {
    with_suffix(out, ".transcripts")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Where every file of a run is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPaths {
    /// The bundle.
    pub bundle: PathBuf,
    /// `BUNDLE.journal`.
    pub journal: PathBuf,
    /// `BUNDLE.secret`.
    pub secret: PathBuf,
    /// `BUNDLE.transcripts`.
    pub transcripts: PathBuf,
    /// `BUNDLE.tlog-proof`, the run's receipt in the station log.
    pub receipt: PathBuf,
    /// The station state.
    pub station: PathBuf,
    /// The station transcript key.
    pub transcript_key: PathBuf,
}

impl RunPaths {
    /// The files of the run whose bundle is `out`.
    pub fn new(out: &Path, station: &Path, transcript_key: &Path) -> RunPaths {
        RunPaths {
            bundle: out.to_path_buf(),
            journal: journal_path(out),
            secret: secret_path(out),
            transcripts: transcripts_path(out),
            receipt: station_log::receipt_path(out),
            station: station.to_path_buf(),
            transcript_key: transcript_key.to_path_buf(),
        }
    }
}

/// A journal reopened for `--resume`, locked, before the rest of the run's
/// files are opened: the caller checks that it belongs to this invocation
/// first.
#[derive(Debug)]
pub struct OpenedJournal {
    journal: JournalWriter,
    /// The journal's RunStart.
    pub run_start: RunStart,
    /// Its chain hash (what the station recorded for the run).
    pub run_start_hash: Digest,
    /// The durable results, in plan order.
    pub results: Vec<TaskResult>,
    /// The RunEnd, when the run got that far.
    pub finished: Option<RunEnd>,
}

/// A resumed run: its files, RunStart, durable results and RunEnd if any.
pub type Resumed = (RunFiles, RunStart, Vec<TaskResult>, Option<RunEnd>);

/// The open, locked files of a run in progress.
#[derive(Debug)]
pub struct RunFiles {
    paths: RunPaths,
    journal: JournalWriter,
    sealed: TranscriptWriter,
    secret: [u8; 32],
    /// Held open for its lock.
    _secret_lock: File,
    resumed: bool,
    /// The RunStart's chain hash, which the RunStart quote binds.
    run_start_hash: Digest,
}

impl RunFiles {
    /// Creates the files of a new run and makes its RunStart durable.
    /// `build` makes the RunStart from the station link allocated for it
    /// under the station's lock. The journal is made (and locked) first, so
    /// a second run of the same output is refused before it touches
    /// anything; until RunStart is durable every file made is removed again
    /// on an error, a replaced bundle's secret and store are put back, and
    /// the counter is given back to the station.
    pub fn create(
        paths: RunPaths,
        key: &SigningKey,
        secret: [u8; 32],
        build: impl FnOnce(StationLink) -> Result<RunStart, RunError>,
    ) -> Result<(RunFiles, RunStart), RunError> {
        let mut made = MadeFiles::default();
        let mut journal = match JournalWriter::create(&paths.journal, &key.public_key()) {
            Ok(journal) => journal,
            Err(AttestError::AlreadyExists { .. }) => return Err(existing_journal(&paths.journal)),
            Err(e) => return Err(e.into()),
        };
        made.made.push(paths.journal.clone());
        let transcript_key = TranscriptKey::load_or_create(&paths.transcript_key)?;
        made.set_aside(&paths.secret)?;
        made.set_aside(&paths.transcripts)?;
        // Replaced, not refused: a secret without its journal is the
        // leftover of a run that never started.
        airlock_attest::write_file_atomically(&paths.secret, &secret, 0o600, Overwrite::Replace)?;
        made.made.push(paths.secret.clone());
        let secret_lock = lock_existing(&paths.secret)?;

        let mut station = Station::lock(&paths.station)?;
        let (run_counter, previous_run_start_hash) = station.next()?;
        let run_start = build(StationLink {
            run_counter,
            previous_run_start_hash,
        })?;
        let body = Record::RunStart(run_start.clone()).to_bytes();
        let start_hash = chain_hash(&GENESIS, 0, &body);
        // Recorded before the RunStart exists anywhere else: a crash in
        // between leaves a counter no bundle has (a gap a verifier sees),
        // never two runs with one counter.
        station.record_started(run_counter, &start_hash)?;
        let started = (|| -> Result<TranscriptWriter, RunError> {
            let sealed =
                TranscriptWriter::create(&paths.transcripts, run_start.run_id, transcript_key)?;
            made.made.push(paths.transcripts.clone());
            let entry = journal.append(key, &Record::RunStart(run_start.clone()))?;
            journal.sync()?;
            debug_assert_eq!(entry.chain_hash, start_hash);
            Ok(sealed)
        })();
        let sealed = match started {
            Ok(sealed) => sealed,
            Err(e) => {
                if let Err(undo) = station.withdraw_started(run_counter) {
                    tracing::warn!(%undo, "could not give the run counter back to the station");
                }
                return Err(e);
            }
        };
        drop(station);
        made.keep();
        Ok((
            RunFiles {
                paths,
                journal,
                sealed,
                secret,
                _secret_lock: secret_lock,
                resumed: false,
                run_start_hash: start_hash,
            },
            run_start,
        ))
    }

    /// Reopens and locks the journal of an interrupted run, cutting a torn
    /// tail. `None` when it held no record (killed before RunStart was
    /// durable): the journal is removed and the run starts afresh.
    pub fn open_journal(
        paths: &RunPaths,
        key: &SigningKey,
    ) -> Result<Option<OpenedJournal>, RunError> {
        let (journal, state) = JournalWriter::resume(&paths.journal, &key.public_key())?;
        if let Some(torn) = state.torn_tail {
            tracing::warn!(
                offset = torn.offset,
                bytes = torn.len,
                "cut a torn record off the journal's tail"
            );
        }
        let mismatch = |problem: String| RunError::ResumeMismatch {
            path: paths.journal.clone(),
            problem,
        };
        let mut entries = state.entries.into_iter();
        let (run_start, run_start_hash) = match entries.next() {
            Some(first) => match first.record {
                Record::RunStart(start) => (start, first.entry.chain_hash),
                other => {
                    return Err(mismatch(format!(
                        "its first record is {}, not RunStart",
                        other.kind()
                    )));
                }
            },
            None => {
                // The lock is still held while the empty journal goes.
                std::fs::remove_file(&paths.journal).map_err(|error| RunError::Io {
                    path: paths.journal.clone(),
                    doing: "remove the empty journal",
                    error,
                })?;
                drop(journal);
                tracing::warn!("the journal held no record; starting the run afresh");
                return Ok(None);
            }
        };
        let mut results = Vec::new();
        let mut finished = None;
        for entry in entries {
            match entry.record {
                Record::TaskResult(result) => results.push(result),
                Record::RunEnd(end) => finished = Some(end),
                Record::RunStart(_) => return Err(mismatch("it holds a second RunStart".into())),
            }
        }
        Ok(Some(OpenedJournal {
            journal,
            run_start,
            run_start_hash,
            results,
            finished,
        }))
    }

    /// Opens the rest of a resumed run's files, locked: the secret, the
    /// sealed store (which must be sealed under this transcript key) and the
    /// station, which must have started this very RunStart and must not
    /// have finished it with another ending.
    pub fn resume(paths: RunPaths, opened: OpenedJournal) -> Result<Resumed, RunError> {
        let OpenedJournal {
            journal,
            run_start,
            run_start_hash,
            results,
            finished,
        } = opened;
        let secret_lock = lock_existing(&paths.secret)?;
        let secret = airlock_attest::read_secret(&paths.secret).map_err(|e| RunError::Io {
            path: paths.secret.clone(),
            doing: "read the run secret from",
            error: match e {
                SecretError::Io(error) => error,
                SecretError::WrongLength => {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "not 32 bytes")
                }
            },
        })?;
        {
            let station = Station::lock_existing(&paths.station)?;
            let counter = run_start.station.run_counter;
            let started = station.as_ref().and_then(|s| s.started(counter));
            if started != Some(run_start_hash) {
                return Err(RunError::ResumeMismatch {
                    path: paths.journal.clone(),
                    problem: format!(
                        "RunStart.station: run {counter} was not started on the station state {} \
                         (pass the --station the run started with)",
                        paths.station.display()
                    ),
                });
            }
            let ending = finished.as_ref().map(|_| journal.last_hash());
            if let Some(station) = &station {
                station.check_not_finished_otherwise(counter, ending.as_ref())?;
            }
        }
        let sealed = TranscriptWriter::resume(
            &paths.transcripts,
            run_start.run_id,
            TranscriptKey::load(&paths.transcript_key)?,
            results.len() as u32,
        )?;
        tracing::info!(
            durable = results.len(),
            planned = run_start.plan.len(),
            "resuming from the journal"
        );
        let files = RunFiles {
            paths,
            journal,
            sealed,
            secret,
            _secret_lock: secret_lock,
            resumed: true,
            run_start_hash,
        };
        Ok((files, run_start, results, finished))
    }

    /// The chain hash of the run's RunStart.
    pub fn run_start_hash(&self) -> Digest {
        self.run_start_hash
    }

    /// The chain hash of the journal's last record: the run's final hash
    /// once its RunEnd is appended.
    pub fn last_hash(&self) -> Digest {
        self.journal.last_hash()
    }

    /// The paths.
    pub fn paths(&self) -> &RunPaths {
        &self.paths
    }

    /// The run secret behind the transcript commitments.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The sealed store and the journal, written together by a group commit.
    pub fn writers(&mut self) -> (&mut TranscriptWriter, &mut JournalWriter) {
        (&mut self.sealed, &mut self.journal)
    }

    /// The journal.
    pub fn journal(&mut self) -> &mut JournalWriter {
        &mut self.journal
    }

    /// Ends a run whose journal holds its RunEnd: under the station's lock,
    /// refuses a counter the station finished with another ending, writes
    /// the bundle (unless a resumed run's bundle was already written),
    /// records the ending, then removes the journal, whose lock is held to
    /// the last.
    pub fn finish(
        self,
        run_start: &RunStart,
        key: &SigningKey,
        overwrite: Overwrite,
    ) -> Result<(), RunError> {
        let RunFiles {
            paths,
            journal,
            sealed,
            secret: _,
            _secret_lock,
            resumed,
            run_start_hash: _,
        } = self;
        drop(sealed);
        let resumable = |error: RunError| match error {
            refused @ RunError::Station(StationError::Refork { .. }) => refused,
            error => RunError::Resumable {
                journal: paths.journal.clone(),
                error: Box::new(error),
            },
        };
        let final_hash = journal.last_hash();
        let counter = run_start.station.run_counter;
        let mut station = Station::lock(&paths.station).map_err(|e| resumable(e.into()))?;
        station
            .check_not_finished_otherwise(counter, Some(&final_hash))
            .map_err(|e| resumable(e.into()))?;
        // The ending (the run's leaf in the station log) is durable before
        // the bundle exists, so no bundle on disk lacks its leaf; recording
        // it again on resume writes nothing.
        station
            .record_finished(counter, &final_hash)
            .map_err(|e| resumable(e.into()))?;
        if resumed && holds_this_run(&paths.bundle, key, &final_hash, journal.next_seq()) {
            // A kill after the bundle was written and before the journal was
            // removed: the bundle already holds this run.
        } else {
            // Every entry of the journal was signed here or verified on
            // resume, so the conversion checks them by identity.
            journal
                .write_bundle(&paths.bundle, overwrite)
                .map_err(|e| resumable(e.into()))?;
        }
        // The receipt proves the run in the log as it stands now, under
        // the lock: normally the checkpoint this run's leaf completed.
        let receipt = StationLog::new(&station, key.key_id())
            .and_then(|log| log.receipt(counter, None, key))
            .map_err(|e| resumable(e.into()))?;
        drop(station);
        // Replaced, not refused: a resumed run writes its receipt again.
        station_log::write_atomically(&paths.receipt, &receipt.to_bytes(), Overwrite::Replace)
            .map_err(|e| resumable(e.into()))?;
        // The bundle now holds every record; the journal has served its purpose.
        std::fs::remove_file(&paths.journal).map_err(|error| RunError::Io {
            path: paths.journal.clone(),
            doing: "remove the finished journal",
            error,
        })?;
        drop(journal);
        Ok(())
    }
}

/// Why a new run found a journal at its path: another process is writing
/// it, or an interrupted run left it.
fn existing_journal(path: &Path) -> RunError {
    match lock_existing(path) {
        Err(locked @ RunError::Attest(AttestError::Locked { .. })) => locked,
        _ => RunError::JournalExists(path.to_path_buf()),
    }
}

/// Opens an existing file of the run and takes its lock without waiting.
fn lock_existing(path: &Path) -> Result<File, RunError> {
    let file = File::open(path).map_err(|error| RunError::Io {
        path: path.to_path_buf(),
        doing: "open",
        error,
    })?;
    airlock_attest::try_lock_exclusive(&file, path)?;
    Ok(file)
}

/// Whether `bundle` is already this run's bundle: the run was killed after
/// writing it but before removing the journal. Its final chain hash commits
/// to every record, so a verifying bundle with the journal's final hash and
/// record count holds exactly the journal's records.
fn holds_this_run(bundle: &Path, key: &SigningKey, final_hash: &Digest, records: u64) -> bool {
    if !bundle.exists() {
        return false;
    }
    let verdict = match airlock_attest::verify_bundle_file(
        bundle,
        &[key.public_key()],
        airlock_attest::VerifyOptions::default(),
    ) {
        Ok(verdict) => verdict,
        Err(_) => return false,
    };
    let done = verdict.verified()
        && verdict.summary.final_hash.as_ref() == Some(final_hash)
        && verdict.summary.records == records;
    if done {
        tracing::warn!(
            bundle = %bundle.display(),
            "the bundle of this run was already written; finishing the run"
        );
    }
    done
}

/// Files a new run made, removed when dropped unless kept, and files it
/// moved aside, put back then.
#[derive(Default)]
struct MadeFiles {
    made: Vec<PathBuf>,
    /// (where it is now, where it was)
    aside: Vec<(PathBuf, PathBuf)>,
}

impl MadeFiles {
    /// Moves the file at `path` (a replaced bundle's secret or store) to
    /// `PATH.replaced` until the run has started. A crash in between leaves
    /// it there, to be moved back by hand.
    fn set_aside(&mut self, path: &Path) -> Result<(), RunError> {
        if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            return Ok(());
        }
        let aside = with_suffix(path, ".replaced");
        std::fs::rename(path, &aside).map_err(|error| RunError::Io {
            path: path.to_path_buf(),
            doing: "move aside",
            error,
        })?;
        self.aside.push((aside, path.to_path_buf()));
        Ok(())
    }

    /// The run has started: its files stay, and what they replace goes.
    fn keep(mut self) {
        self.made.clear();
        for (aside, _) in self.aside.drain(..) {
            let _ = std::fs::remove_file(aside);
        }
    }
}

impl Drop for MadeFiles {
    fn drop(&mut self) {
        for path in &self.made {
            let _ = std::fs::remove_file(path);
        }
        for (aside, original) in &self.aside {
            let _ = std::fs::rename(aside, original);
        }
    }
}
