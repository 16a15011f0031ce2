//! Why a run could not be carried out: its own module, below both the run
//! and its files, so that neither has to import the other for it.

use core::fmt;
use std::path::PathBuf;

use airlock_attest::AttestError;

use airlock_attest::station_log::LogError;
use airlock_attest::station_state::StationError;
use airlock_attest::transcripts::StoreError;

/// Why a run could not be carried out. Task and model failures are not
/// errors: they are recorded outcomes.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// Signing, journal or bundle I/O failed.
    Attest(AttestError),
    /// The bundle file exists and `--force` was not given.
    OutputExists(PathBuf),
    /// A journal for this output exists: the run was interrupted.
    JournalExists(PathBuf),
    /// `--resume` found no journal.
    NothingToResume(PathBuf),
    /// The journal was started with something this invocation would record
    /// differently (seed, suite, profile, runner build or engine, model,
    /// key, station state).
    ResumeMismatch {
        /// The journal.
        path: PathBuf,
        /// What differs.
        problem: String,
    },
    /// A file next to the output could not be read or written.
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        doing: &'static str,
        /// The error.
        error: std::io::Error,
    },
    /// The station state file is unusable.
    Station(StationError),
    /// The run's receipt in the station log could not be made or written.
    Log(LogError),
    /// The sealed transcript store or its key is unusable.
    Transcripts(StoreError),
    /// The operating system's random generator failed.
    Random(String),
    /// More sandboxes were asked for than the profile allows, or none.
    Sandboxes {
        /// How many were asked for.
        asked: u32,
        /// The profile's bound (`min(cores, total / per sandbox)`).
        allowed: u32,
        /// The profile's name.
        profile: String,
    },
    /// The plan (tasks × epochs) does not fit in one RunStart record.
    PlanTooLarge {
        /// Tasks in the suite.
        tasks: usize,
        /// Epochs asked for.
        epochs: u32,
        /// The most epochs of this suite whose plan fits.
        epochs_that_fit: u32,
    },
    /// A sandbox worker thread could not be started.
    Worker(std::io::Error),
    /// A signal asked the run to stop; every finished result is durable in
    /// the journal and running the same command again resumes it.
    Interrupted {
        /// The journal holding the durable results.
        journal: PathBuf,
        /// Results durable so far.
        durable: usize,
        /// Results planned.
        planned: usize,
    },
    /// A campaign shard run whose suite, profile, build, model or key
    /// does not match the signed campaign plan, or a shard index the plan
    /// does not have.
    NotOfCampaign {
        /// The plan file.
        plan: PathBuf,
        /// What differs.
        problem: String,
    },
    /// The station's TPM could not quote the run, or its enrolment could not
    /// be read.
    Tpm {
        /// The station's TPM directory.
        dir: PathBuf,
        /// What failed.
        error: airlock_tpm_station::StationError,
    },
    /// The run stopped after its journal became durable (a full disk, say);
    /// the results so far are kept there for `--resume`.
    Resumable {
        /// The journal holding the durable results.
        journal: PathBuf,
        /// What stopped the run.
        error: Box<RunError>,
    },
}

impl airlock_core::Classify for RunError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            RunError::Attest(error) => error.class(),
            RunError::Station(error) => error.class(),
            RunError::Log(error) => error.class(),
            RunError::Transcripts(error) => error.class(),
            RunError::Resumable { error, .. } => error.class(),
            RunError::Tpm { error, .. } => error.class(),
            RunError::OutputExists(_)
            | RunError::JournalExists(_)
            | RunError::NothingToResume(_)
            | RunError::ResumeMismatch { .. }
            | RunError::Io { .. }
            | RunError::Random(_)
            | RunError::Sandboxes { .. }
            | RunError::PlanTooLarge { .. }
            | RunError::Worker(_)
            | RunError::Interrupted { .. }
            | RunError::NotOfCampaign { .. } => ErrorClass::Input,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Attest(e) => write!(f, "{e}"),
            RunError::OutputExists(p) => write!(
                f,
                "{}: already exists; choose another --out or pass --force to replace it",
                p.display()
            ),
            RunError::JournalExists(p) => write!(
                f,
                "{}: an interrupted run's journal is here; continue it with --resume or delete it",
                p.display()
            ),
            RunError::Interrupted {
                journal,
                durable,
                planned,
            } => write!(
                f,
                "{}: interrupted by a signal with {durable} of {planned} results durable; \
                 run the same command again to resume",
                journal.display()
            ),
            RunError::NotOfCampaign { plan, problem } => {
                write!(
                    f,
                    "{}: not a shard of this campaign plan: {problem}",
                    plan.display()
                )
            }
            RunError::NothingToResume(p) => write!(
                f,
                "{}: no journal to resume: the run either finished (its journal is removed once \
                 the bundle is written) or was stopped before its first record was durable \
                 (start it again without --resume)",
                p.display()
            ),
            RunError::ResumeMismatch { path, problem } => {
                write!(f, "{}: cannot resume: {problem}", path.display())
            }
            RunError::Io { path, doing, error } => {
                write!(f, "{}: could not {doing}: {error}", path.display())
            }
            RunError::Station(e) => write!(f, "{e}"),
            RunError::Log(e) => write!(f, "{e}"),
            RunError::Transcripts(e) => write!(f, "{e}"),
            RunError::Random(e) => write!(f, "random generator: {e}"),
            RunError::Sandboxes {
                asked,
                allowed,
                profile,
            } => write!(
                f,
                "--sandboxes {asked}: profile \"{profile}\" allows 1 to {allowed} sandboxes at once \
                 (its cores, bounded by total memory / memory per sandbox)"
            ),
            RunError::PlanTooLarge {
                tasks,
                epochs,
                epochs_that_fit,
            } => write!(
                f,
                "--epochs {epochs}: a plan of {} entries ({tasks} tasks × {epochs} epochs) does not \
                 fit in the run's first record, which may be at most {} bytes (SPEC.md, \"Frames\"); \
                 at most {epochs_that_fit} epochs of this suite fit in one run: split the epochs \
                 over several runs",
                *tasks as u64 * u64::from(*epochs),
                airlock_attest::frame::MAX_FRAME_LEN
            ),
            RunError::Worker(e) => write!(f, "could not start a sandbox worker thread: {e}"),
            RunError::Tpm { dir, error } => write!(f, "{}: TPM station: {error}", dir.display()),
            RunError::Resumable { journal, error } => write!(
                f,
                "{error}; the results so far are kept in {}: continue the run with --resume once that is fixed",
                journal.display()
            ),
        }
    }
}

impl core::error::Error for RunError {}

impl From<AttestError> for RunError {
    fn from(e: AttestError) -> RunError {
        RunError::Attest(e)
    }
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> RunError {
        RunError::Transcripts(e)
    }
}

impl From<LogError> for RunError {
    fn from(e: LogError) -> RunError {
        RunError::Log(e)
    }
}

impl From<StationError> for RunError {
    fn from(e: StationError) -> RunError {
        RunError::Station(e)
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
    fn every_run_error_variant_has_its_class() {
        let path = || std::path::PathBuf::from("x");
        let io = || std::io::Error::other("x");
        let cases = [
            (
                RunError::Attest(airlock_attest::AttestError::AlreadyExists { path: path() }),
                ErrorClass::Input,
            ),
            (RunError::OutputExists(path()), ErrorClass::Input),
            (RunError::JournalExists(path()), ErrorClass::Input),
            (RunError::NothingToResume(path()), ErrorClass::Input),
            (
                RunError::ResumeMismatch {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                RunError::Io {
                    path: path(),
                    doing: "read",
                    error: io(),
                },
                ErrorClass::Input,
            ),
            (
                RunError::Station(StationError::Corrupt {
                    path: path(),
                    problem: "x".into(),
                }),
                ErrorClass::Integrity,
            ),
            (
                RunError::Transcripts(StoreError::Decrypt {
                    path: path(),
                    record: 0,
                    plan_index: 0,
                    offset: 0,
                }),
                ErrorClass::Integrity,
            ),
            (RunError::Random("x".into()), ErrorClass::Input),
            (
                RunError::Sandboxes {
                    asked: 9,
                    allowed: 1,
                    profile: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                RunError::PlanTooLarge {
                    tasks: 1,
                    epochs: 9,
                    epochs_that_fit: 1,
                },
                ErrorClass::Input,
            ),
            (RunError::Worker(io()), ErrorClass::Input),
            (
                RunError::Resumable {
                    journal: path(),
                    error: Box::new(RunError::Station(StationError::Corrupt {
                        path: path(),
                        problem: "x".into(),
                    })),
                },
                ErrorClass::Integrity,
            ),
            (
                RunError::Interrupted {
                    journal: path(),
                    durable: 1,
                    planned: 2,
                },
                ErrorClass::Input,
            ),
            (
                RunError::NotOfCampaign {
                    plan: path(),
                    problem: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                RunError::Log(LogError::UnknownRun {
                    path: path(),
                    run_counter: 1,
                }),
                ErrorClass::Input,
            ),
            (
                RunError::Tpm {
                    dir: path(),
                    error: airlock_tpm_station::StationError::Spawn {
                        program: "tpm2_quote",
                        reason: "x".into(),
                    },
                },
                ErrorClass::Input,
            ),
        ];
        let row = |e: &RunError| match e {
            RunError::Attest(_) => 0,
            RunError::OutputExists(_) => 1,
            RunError::JournalExists(_) => 2,
            RunError::NothingToResume(_) => 3,
            RunError::ResumeMismatch { .. } => 4,
            RunError::Io { .. } => 5,
            RunError::Station(_) => 6,
            RunError::Transcripts(_) => 7,
            RunError::Random(_) => 8,
            RunError::Sandboxes { .. } => 9,
            RunError::PlanTooLarge { .. } => 10,
            RunError::Worker(_) => 11,
            RunError::Resumable { .. } => 12,
            RunError::Interrupted { .. } => 13,
            RunError::NotOfCampaign { .. } => 14,
            RunError::Log(_) => 15,
            RunError::Tpm { .. } => 16,
        };
        let mut seen = [false; 17];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
