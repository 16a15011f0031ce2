//! Parsing what Slurm's commands print: `sbatch --parsable`, `squeue` and
//! `sacct` with `|`-separated fields. Nothing is assumed about a line until
//! it has been checked; a line that does not parse is an error naming it.

use super::SlurmError;

/// A job's state as Slurm names it (`squeue %T`, `sacct State`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Waiting to start (PENDING, REQUEUED, held, ...).
    Pending,
    /// Started and not yet ended (RUNNING, COMPLETING, SUSPENDED, ...).
    Running,
    /// Ended with exit code 0.
    Completed,
    /// Ended any other way; the state's name, e.g. `FAILED`, `CANCELLED`.
    Ended(String),
}

impl JobState {
    /// The state's name as Slurm prints it (the class's for pending and running).
    pub fn name(&self) -> &str {
        match self {
            JobState::Pending => "PENDING",
            JobState::Running => "RUNNING",
            JobState::Completed => "COMPLETED",
            JobState::Ended(name) => name,
        }
    }

    /// Reads a state name; sacct may follow it with words (`CANCELLED by 0`).
    pub fn parse(text: &str) -> Option<JobState> {
        let name = text.split_whitespace().next()?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c == '+')
        {
            return None;
        }
        let name = name.trim_end_matches('+');
        Some(match name {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD"
            | "SPECIAL_EXIT" => JobState::Pending,
            "RUNNING" | "COMPLETING" | "CONFIGURING" | "SUSPENDED" | "STOPPED" | "RESIZING"
            | "SIGNALING" | "STAGE_OUT" => JobState::Running,
            "COMPLETED" => JobState::Completed,
            other => JobState::Ended(other.to_owned()),
        })
    }
}

/// One job or array element the scheduler reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerRow {
    /// The (array) job id.
    pub job: u64,
    /// The array index, `None` for a job that is not an array.
    pub index: Option<u32>,
    /// Its state.
    pub state: JobState,
    /// Exit code as Slurm prints it (`0:0`, `3:0`), when reported.
    pub exit_code: Option<String>,
    /// Submission time as printed (`2026-01-02T03:04:05`), when known.
    pub submit: Option<String>,
    /// Start time as printed, when known (not `Unknown`/`N/A`).
    pub start: Option<String>,
    /// End time as printed, when known.
    pub end: Option<String>,
}

/// Parses `sbatch --parsable`'s output: `JOBID` or `JOBID;CLUSTER`.
pub fn parse_job_id(stdout: &str) -> Result<u64, SlurmError> {
    let line = stdout.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let id = line.split(';').next().unwrap_or("").trim();
    parse_number(id).ok_or_else(|| SlurmError::Parse {
        source: "sbatch --parsable".to_owned(),
        line: 1,
        text: line.to_owned(),
        reason: "expected a job id (digits, optionally followed by ;CLUSTER)".to_owned(),
    })
}

fn parse_number<T: core::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A time field, or `None` for the placeholders Slurm prints.
fn time_field(text: &str) -> Option<String> {
    let text = text.trim();
    match text {
        "" | "Unknown" | "N/A" | "None" => None,
        t => Some(t.to_owned()),
    }
}

/// Array indices of an element id's suffix: `7`, or a pending range
/// `[0-3,5%2]` that Slurm prints before the elements exist.
fn parse_indices(text: &str) -> Option<Vec<u32>> {
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return parse_number(text).map(|i| vec![i]);
    };
    let inner = inner.split('%').next()?;
    let mut indices = Vec::new();
    for part in inner.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to): (u32, u32) = (parse_number(from)?, parse_number(to)?);
                // A range far larger than any campaign is a sign of garbage.
                if to < from || to - from > 1_000_000 {
                    return None;
                }
                indices.extend(from..=to);
            }
            None => indices.push(parse_number(part)?),
        }
    }
    Some(indices)
}

/// Splits `JOBID`, `JOBID_INDEX` or `JOBID_[RANGE]`; `None` when it is none of them.
fn parse_element(text: &str) -> Option<(u64, Option<Vec<u32>>)> {
    match text.split_once('_') {
        Some((job, indices)) => Some((parse_number(job)?, Some(parse_indices(indices)?))),
        None => Some((parse_number(text)?, None)),
    }
}

fn rows_for(
    job: u64,
    indices: Option<Vec<u32>>,
    state: &JobState,
    rest: [Option<String>; 4],
) -> Vec<SchedulerRow> {
    let [exit_code, submit, start, end] = rest;
    let make = |index| SchedulerRow {
        job,
        index,
        state: state.clone(),
        exit_code: exit_code.clone(),
        submit: submit.clone(),
        start: start.clone(),
        end: end.clone(),
    };
    match indices {
        Some(indices) => indices.into_iter().map(|i| make(Some(i))).collect(),
        None => vec![make(None)],
    }
}

/// Parses `squeue -h -r -o '%i|%T'` output, optionally with the submit,
/// start and end times after (`%i|%T|%V|%S|%e`).
pub fn parse_squeue(text: &str) -> Result<Vec<SchedulerRow>, SlurmError> {
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| SlurmError::Parse {
            source: "squeue".to_owned(),
            line: number + 1,
            text: line.to_owned(),
            reason: reason.to_owned(),
        };
        let fields: Vec<&str> = line.split('|').collect();
        if fields.len() != 2 && fields.len() != 5 {
            return Err(bad("expected JOBID|STATE or JOBID|STATE|SUBMIT|START|END"));
        }
        let (job, indices) = parse_element(fields[0].trim())
            .ok_or_else(|| bad("the job id is not JOBID, JOBID_INDEX or JOBID_[RANGE]"))?;
        let state = JobState::parse(fields[1]).ok_or_else(|| bad("no job state"))?;
        let time = |i: usize| fields.get(i).and_then(|t| time_field(t));
        rows.extend(rows_for(
            job,
            indices,
            &state,
            [None, time(2), time(3), time(4)],
        ));
    }
    Ok(rows)
}

/// Parses `sacct -n -P -o JobID,State,ExitCode,Start,Submit,End` output.
/// Job steps (`JOBID_INDEX.batch`, `.extern`, `.0`) are left out: the
/// allocation's own line carries the shard's state.
pub fn parse_sacct(text: &str) -> Result<Vec<SchedulerRow>, SlurmError> {
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| SlurmError::Parse {
            source: "sacct".to_owned(),
            line: number + 1,
            text: line.to_owned(),
            reason: reason.to_owned(),
        };
        let fields: Vec<&str> = line.split('|').collect();
        if fields.len() != 6 {
            return Err(bad("expected JobID|State|ExitCode|Start|Submit|End"));
        }
        let id = fields[0].trim();
        if id.contains('.') {
            continue;
        }
        let (job, indices) = parse_element(id)
            .ok_or_else(|| bad("the job id is not JOBID, JOBID_INDEX or JOBID_[RANGE]"))?;
        let state = JobState::parse(fields[1]).ok_or_else(|| bad("no job state"))?;
        let exit = fields[2].trim();
        let valid_exit = exit.split_once(':').is_some_and(|(a, b)| {
            parse_number::<u32>(a).is_some() && parse_number::<u32>(b).is_some()
        });
        if !valid_exit {
            return Err(bad("the exit code is not CODE:SIGNAL"));
        }
        rows.extend(rows_for(
            job,
            indices,
            &state,
            [
                Some(exit.to_owned()),
                time_field(fields[4]),
                time_field(fields[3]),
                time_field(fields[5]),
            ],
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn job_ids_of_sbatch_parsable() {
        assert_eq!(parse_job_id("1234\n").unwrap(), 1234);
        assert_eq!(parse_job_id("77;cluster\n").unwrap(), 77);
        assert!(parse_job_id("").is_err());
        assert!(parse_job_id("Submitted batch job 5\n").is_err());
    }

    #[test]
    fn squeue_elements_and_ranges() {
        let rows = parse_squeue("12_0|RUNNING\n12_[1-3%2]|PENDING\n13|PENDING\n").unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.job, r.index, r.state.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (12, Some(0), JobState::Running),
                (12, Some(1), JobState::Pending),
                (12, Some(2), JobState::Pending),
                (12, Some(3), JobState::Pending),
                (13, None, JobState::Pending),
            ]
        );
        assert!(parse_squeue("12_x|RUNNING\n").is_err());
        assert!(parse_squeue("12_1|running\n").is_err());
        assert!(parse_squeue("12_[5-1]|PENDING\n").is_err());
    }

    #[test]
    fn sacct_skips_steps_and_reads_cancelled_by() {
        let text = "20_0|COMPLETED|0:0|2026-01-01T00:00:02|2026-01-01T00:00:01|2026-01-01T00:00:09\n\
                    20_0.batch|COMPLETED|0:0|2026-01-01T00:00:02|2026-01-01T00:00:01|2026-01-01T00:00:09\n\
                    20_1|CANCELLED by 0|0:15|2026-01-01T00:00:02|2026-01-01T00:00:01|2026-01-01T00:00:05\n\
                    20_[2-3]|PENDING|0:0|Unknown|2026-01-01T00:00:01|Unknown\n";
        let rows = parse_sacct(text).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].state, JobState::Ended("CANCELLED".to_owned()));
        assert_eq!(rows[2].start, None);
        assert_eq!(rows[0].start.as_deref(), Some("2026-01-01T00:00:02"));
        assert!(parse_sacct("20_0|COMPLETED|zero|a|b|c\n").is_err());
    }
}
