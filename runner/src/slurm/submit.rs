//! Running Slurm's commands and putting their answers together with the
//! shard files into one state per shard.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::SlurmError;
use super::parse::{JobState, SchedulerRow, parse_job_id, parse_sacct, parse_squeue};
use super::record::Record;

/// `DIR/shard-I.bundle`: the file whose existence means shard I is done.
pub fn shard_bundle(dir: &Path, shard: u32) -> PathBuf {
    dir.join(format!("shard-{shard}.bundle"))
}

/// Where the scheduler's view of the shards came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSource {
    /// `sacct`: the accounting database, which keeps every job.
    Sacct,
    /// `squeue -t all`: live jobs and those that ended within the
    /// controller's MinJobAge; used when accounting is not available.
    Squeue {
        /// Why sacct was not used (its message).
        why_not_sacct: String,
    },
}

/// One shard's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardState {
    /// Its bundle exists.
    Done,
    /// Its array element is running.
    Running,
    /// Its array element is waiting to start.
    Pending,
    /// Its array element ended without a bundle (failed, cancelled,
    /// timed out, or completed without writing one); the Slurm state.
    Failed(String),
    /// No bundle, and the scheduler knows of no job for it (never
    /// submitted, or ended long enough ago to be forgotten).
    NotRunning,
}

impl ShardState {
    /// The state's name in output: `done`, `running`, `pending`, `failed`, `not-running`.
    pub fn name(&self) -> &'static str {
        match self {
            ShardState::Done => "done",
            ShardState::Running => "running",
            ShardState::Pending => "pending",
            ShardState::Failed(_) => "failed",
            ShardState::NotRunning => "not-running",
        }
    }

    /// Whether the shard needs submitting again: not done, not queued, not running.
    pub fn needs_submission(&self) -> bool {
        matches!(self, ShardState::Failed(_) | ShardState::NotRunning)
    }
}

/// One shard with what the scheduler said about it.
#[derive(Debug, Clone)]
pub struct ShardStatus {
    /// The shard index.
    pub shard: u32,
    /// Its state.
    pub state: ShardState,
    /// The array element that ran it last (`JOBID_INDEX`), when any.
    pub job: Option<String>,
    /// The scheduler's row for that element, when it has one.
    pub row: Option<SchedulerRow>,
}

/// Slurm's commands, run from `PATH` with this process's environment
/// (`SLURM_CONF` and friends reach them unchanged).
#[derive(Debug, Clone, Default)]
pub struct Scheduler;

fn command_line(program: &str, args: &[OsString]) -> String {
    let mut line = program.to_owned();
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

impl Scheduler {
    fn run(&self, program: &str, args: &[OsString]) -> Result<(bool, String, String), SlurmError> {
        let output = Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|error| SlurmError::Spawn {
                program: program.to_owned(),
                error,
            })?;
        tracing::debug!(command = %command_line(program, args), status = %output.status, "ran");
        Ok((
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }

    /// `sbatch --parsable ARGS... SCRIPT`; returns the job id.
    pub fn sbatch(&self, args: &[OsString], script: &Path) -> Result<u64, SlurmError> {
        let mut all: Vec<OsString> = vec!["--parsable".into()];
        all.extend(args.iter().cloned());
        all.push(script.as_os_str().to_owned());
        let output = Command::new("sbatch")
            .args(&all)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|error| SlurmError::Spawn {
                program: "sbatch".to_owned(),
                error,
            })?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            return Err(SlurmError::Refused {
                command: command_line("sbatch", &all),
                status: output.status.to_string(),
                stderr,
            });
        }
        parse_job_id(&String::from_utf8_lossy(&output.stdout))
    }

    /// The accounting rows of `jobs`, or why accounting cannot answer.
    pub fn sacct(&self, jobs: &[u64]) -> Result<Result<Vec<SchedulerRow>, String>, SlurmError> {
        let list = jobs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let args: Vec<OsString> = [
            "-j",
            &list,
            "-n",
            "-P",
            "-o",
            "JobID,State,ExitCode,Start,Submit,End",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let (ok, stdout, stderr) = self.run("sacct", &args)?;
        if !ok {
            // Without slurmdbd sacct says "Slurm accounting storage is
            // disabled": not an error of the campaign, squeue answers instead.
            let said = stderr.trim();
            let said = if said.is_empty() { stdout.trim() } else { said };
            return Ok(Err(format!("sacct failed: {said}")));
        }
        if stdout.contains("accounting storage is disabled") {
            return Ok(Err(format!("sacct: {}", stdout.trim())));
        }
        parse_sacct(&stdout).map(Ok)
    }

    /// What `squeue -t all` still knows of `job`'s elements; none once the
    /// controller has forgotten the job.
    pub fn squeue(&self, job: u64) -> Result<Vec<SchedulerRow>, SlurmError> {
        let args: Vec<OsString> = [
            "-h",
            "-r",
            "-t",
            "all",
            "-j",
            &job.to_string(),
            "-o",
            "%i|%T|%V|%S|%e",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let (ok, stdout, stderr) = self.run("squeue", &args)?;
        if !ok {
            if stderr.contains("Invalid job id") {
                return Ok(Vec::new());
            }
            return Err(SlurmError::Refused {
                command: command_line("squeue", &args),
                status: "failed".to_owned(),
                stderr,
            });
        }
        parse_squeue(&stdout)
    }
}

/// Every shard's state: its bundle if it exists, else what the scheduler
/// says of the latest array element that ran it.
pub fn shard_states(
    scheduler: &Scheduler,
    dir: &Path,
    record: &Record,
) -> Result<(StatusSource, Vec<ShardStatus>), SlurmError> {
    let jobs: Vec<u64> = record.submissions.iter().map(|s| s.array_job).collect();
    let (source, rows) = if jobs.is_empty() {
        (
            StatusSource::Squeue {
                why_not_sacct: "nothing was submitted".to_owned(),
            },
            Vec::new(),
        )
    } else {
        match scheduler.sacct(&jobs)? {
            Ok(rows) => (StatusSource::Sacct, rows),
            Err(why_not_sacct) => {
                tracing::info!(reason = %why_not_sacct, "shard states from squeue");
                let mut rows = Vec::new();
                for &job in &jobs {
                    rows.extend(scheduler.squeue(job)?);
                }
                (StatusSource::Squeue { why_not_sacct }, rows)
            }
        }
    };
    let mut states = Vec::new();
    for shard in 0..record.shards {
        let last = record
            .submissions
            .iter()
            .rev()
            .find(|s| s.shards.contains(&shard));
        let job = last.map(|s| format!("{}_{shard}", s.array_job));
        let row = last.and_then(|s| {
            rows.iter()
                .find(|r| r.job == s.array_job && r.index == Some(shard))
                .cloned()
        });
        let state = if shard_bundle(dir, shard).is_file() {
            ShardState::Done
        } else {
            match row.as_ref().map(|r| &r.state) {
                Some(JobState::Pending) => ShardState::Pending,
                Some(JobState::Running) => ShardState::Running,
                Some(JobState::Completed) => {
                    ShardState::Failed("COMPLETED without a bundle".to_owned())
                }
                Some(JobState::Ended(name)) => ShardState::Failed(name.clone()),
                None => ShardState::NotRunning,
            }
        };
        states.push(ShardStatus {
            shard,
            state,
            job,
            row,
        });
    }
    Ok((source, states))
}

/// `--array=I,J,...%K` for a resubmission of `shards`.
pub fn array_option(shards: &[u32], concurrent: Option<u32>) -> OsString {
    let list = shards
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let limit = concurrent.map(|k| format!("%{k}")).unwrap_or_default();
    OsStr::new(&format!("--array={list}{limit}")).to_owned()
}
