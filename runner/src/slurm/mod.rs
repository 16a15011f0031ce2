//! Campaigns sharded over Slurm: the batch scripts `airlock slurm submit`
//! writes, submitting them with `sbatch`, the record of what was submitted
//! (`airlock-slurm.json`), and reading the scheduler's view of the shards
//! back from `sacct` or `squeue`.
//!
//! The shard files are the truth about what finished: a shard is done when
//! its bundle exists, whatever the scheduler says. The scheduler only tells
//! a shard that is still queued or running from one that failed or was
//! cancelled. Everything read from the scheduler's output is parsed without
//! trusting its shape; a line that does not parse is an error naming it.

mod parse;
mod record;
mod script;
mod submit;

pub use parse::{JobState, SchedulerRow, parse_job_id, parse_sacct, parse_squeue};
pub use record::{RECORD_FILE, RECORD_FORMAT, Record, Submission};
pub use script::{
    FINISH_SCRIPT, FinishScript, SHARD_SCRIPT, ShardScript, check_directive_path, shell_quote,
};
pub use submit::{
    Scheduler, ShardState, ShardStatus, StatusSource, array_option, shard_bundle, shard_states,
};

use std::path::PathBuf;

use airlock_core::{Classify, ErrorClass, Untrusted};

/// What can go wrong between airlock and Slurm.
#[derive(Debug)]
pub enum SlurmError {
    /// A Slurm command could not be started at all (not installed, not on PATH).
    Spawn {
        /// The program, e.g. `sbatch`.
        program: String,
        /// Why it did not start.
        error: std::io::Error,
    },
    /// A Slurm command ran and failed; its stderr is quoted.
    Refused {
        /// The program and its arguments, as run.
        command: String,
        /// Its exit status, as the OS reports it.
        status: String,
        /// What it said on stderr.
        stderr: String,
    },
    /// A line of a Slurm command's output is not what that command prints.
    Parse {
        /// Which output, e.g. `sacct` or `sbatch --parsable`.
        source: String,
        /// The 1-based line number.
        line: usize,
        /// The line itself.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read, written or renamed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        error: std::io::Error,
    },
    /// `airlock-slurm.json` is not a record this version wrote.
    Record {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An argument cannot be put into a batch script as it stands.
    Argument {
        /// What the argument is for.
        what: String,
        /// Why it cannot be used.
        reason: String,
    },
}

impl core::fmt::Display for SlurmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SlurmError::Spawn { program, error } => write!(
                f,
                "cannot run {program}: {error} (is Slurm installed and on PATH?)"
            ),
            SlurmError::Refused {
                command,
                status,
                stderr,
            } => write!(
                f,
                "{command} failed ({status}): {}",
                Untrusted(stderr.trim_end())
            ),
            SlurmError::Parse {
                source,
                line,
                text,
                reason,
            } => write!(
                f,
                "{source} output, line {line}: {reason}: \"{}\"",
                Untrusted(text)
            ),
            SlurmError::Io {
                path,
                action,
                error,
            } => write!(f, "{}: cannot {action}: {error}", path.display()),
            SlurmError::Record { path, reason } => write!(f, "{}: {reason}", path.display()),
            SlurmError::Argument { what, reason } => write!(f, "{what}: {reason}"),
        }
    }
}

impl core::error::Error for SlurmError {}

impl Classify for SlurmError {
    fn class(&self) -> ErrorClass {
        match self {
            // Nothing here checks a signature or digest: every failure is
            // of the input, the environment or the scheduler.
            SlurmError::Spawn { .. }
            | SlurmError::Refused { .. }
            | SlurmError::Parse { .. }
            | SlurmError::Io { .. }
            | SlurmError::Record { .. }
            | SlurmError::Argument { .. } => ErrorClass::Input,
        }
    }
}
