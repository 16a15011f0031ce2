//! `airlock slurm submit` and `airlock slurm status`: a campaign's shards
//! as a Slurm job array, and a finish job that verifies and reports the
//! campaign once the array has ended.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use airlock::slurm::{
    FINISH_SCRIPT, FinishScript, RECORD_FILE, RECORD_FORMAT, Record, SHARD_SCRIPT, Scheduler,
    ShardScript, ShardState, StatusSource, Submission, array_option, shard_states,
};

use super::output::Failure;

/// Exit code of `status` when no shard failed but some are still queued or running.
const EXIT_IN_PROGRESS: u8 = 3;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum SlurmCommand {
    /// Write the shard array and finish scripts of a campaign into DIR and
    /// submit them with sbatch (the finish job runs after every shard).
    Submit(SubmitArgs),
    /// Say which shards are done, running, pending or failed; with
    /// --resubmit, submit again the shards that are neither done nor queued.
    Status(StatusArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct SubmitArgs {
    /// The signed campaign plan (`airlock campaign plan`).
    #[arg(long)]
    plan: PathBuf,
    /// Campaign directory: shard bundles, logs, scripts and the Slurm record.
    #[arg(long)]
    dir: PathBuf,
    /// The node key that signs the shards (authorized in the plan).
    #[arg(long)]
    key: PathBuf,
    /// The coordinator's public key, for the finish job's verify and report.
    #[arg(long)]
    trust: PathBuf,
    /// Shards that run at once at most (the array's %K); no limit when absent.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    concurrent: Option<u32>,
    /// Slurm partition (the cluster's default when absent).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per shard, in sbatch's syntax (e.g. 2:00:00).
    #[arg(long)]
    time_limit: Option<String>,
    /// Write the scripts and the record, submit nothing.
    #[arg(long)]
    no_submit: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Arguments for `airlock campaign run` (--agent, --model, --profile, ...).
    #[arg(last = true)]
    run_args: Vec<OsString>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct StatusArgs {
    /// Campaign directory given to `airlock slurm submit`.
    #[arg(long)]
    dir: PathBuf,
    /// Submit again every shard that is not done and not pending or
    /// running, with a new finish job.
    #[arg(long)]
    resubmit: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn execute(command: SlurmCommand) -> Result<(), Failure> {
    match command {
        SlurmCommand::Submit(args) => submit(&args),
        SlurmCommand::Status(args) => status(&args),
    }
}

/// `path` made absolute, after checking that it is a file.
fn existing_file(what: &str, path: &Path) -> Result<PathBuf, Failure> {
    if !path.is_file() {
        return Err(Failure::input(format!(
            "{}: no such file ({what})",
            path.display()
        )));
    }
    std::path::absolute(path)
        .map_err(|e| Failure::input(format!("{}: cannot make it absolute: {e}", path.display())))
}

/// The `--profile` among the run arguments, else the default profile.
fn run_profile(run_args: &[OsString]) -> Result<airlock::profile::HardwareProfile, Failure> {
    let mut name = None;
    let mut args = run_args.iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--profile" {
            name = args.next().map(|a| a.to_string_lossy().into_owned());
            if name.is_none() {
                return Err(Failure::input("--profile after -- has no value"));
            }
        } else if let Some(value) = text.strip_prefix("--profile=") {
            name = Some(value.to_owned());
        }
    }
    let name = name.unwrap_or_else(|| "default".to_owned());
    let loaded = airlock::profile::load(&name).map_err(Failure::from)?;
    if !loaded.profile.runs_tasks() {
        return Err(Failure::input(format!(
            "profile \"{}\" has no sandboxes (cores = 0): it cannot run shards",
            loaded.profile.name
        )));
    }
    Ok(loaded.profile)
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn submit(args: &SubmitArgs) -> Result<(), Failure> {
    let plan = existing_file("the campaign plan", &args.plan)?;
    let key = existing_file("the node key", &args.key)?;
    let trust = existing_file("the coordinator's public key", &args.trust)?;
    let profile = run_profile(&args.run_args)?;
    // The plan is checked under the coordinator's key before anything is
    // submitted: a shard count read from a plan nobody signed would be a guess.
    let trusted = super::load_trusted(core::slice::from_ref(&trust))?;
    let shard_count = airlock_attest::campaign::read_plan(&plan, &trusted)
        .map_err(Failure::input)?
        .plan
        .shard_count;
    std::fs::create_dir_all(args.dir.join("logs"))
        .map_err(|e| Failure::input(format!("{}: cannot create it: {e}", args.dir.display())))?;
    let dir = std::fs::canonicalize(&args.dir)
        .map_err(|e| Failure::input(format!("{}: {e}", args.dir.display())))?;
    if dir.join(RECORD_FILE).exists() {
        return Err(Failure::input(format!(
            "{}: the campaign was submitted already; see `airlock slurm status --dir {}` \
             (and --resubmit), or use another directory",
            dir.join(RECORD_FILE).display(),
            dir.display()
        )));
    }
    let airlock = std::env::current_exe()
        .map_err(|e| Failure::input(format!("cannot find the airlock executable: {e}")))?;
    let shards = ShardScript {
        job_name: "airlock-shards".to_owned(),
        shards: shard_count,
        concurrent: args.concurrent,
        partition: args.partition.clone(),
        time_limit: args.time_limit.clone(),
        cpus: profile.cores,
        memory_mib: profile.total_memory_mib,
        airlock: airlock.clone(),
        plan: plan.clone(),
        key,
        dir: dir.clone(),
        run_args: args.run_args.clone(),
    };
    let finish = FinishScript {
        job_name: "airlock-finish".to_owned(),
        partition: args.partition.clone(),
        airlock,
        plan: plan.clone(),
        trust,
        dir: dir.clone(),
    };
    let shard_script = dir.join(SHARD_SCRIPT);
    let finish_script = dir.join(FINISH_SCRIPT);
    write_script(&shard_script, &shards.render().map_err(Failure::from)?)?;
    write_script(&finish_script, &finish.render().map_err(Failure::from)?)?;
    let mut record = Record {
        format: RECORD_FORMAT.to_owned(),
        plan,
        shards: shard_count,
        concurrent: args.concurrent,
        submissions: Vec::new(),
    };
    let submitted = if args.no_submit {
        None
    } else {
        let all: Vec<u32> = (0..shard_count).collect();
        let submission = submit_array(&dir, &all, &[], None)?;
        record.submissions.push(submission.clone());
        Some(submission)
    };
    record.store(&dir).map_err(Failure::from)?;
    if args.json {
        super::output::emit_json(&serde_json::json!({
            "dir": dir.display().to_string(),
            "shards": shard_count,
            "concurrent": args.concurrent,
            "shard_script": shard_script.display().to_string(),
            "finish_script": finish_script.display().to_string(),
            "array_job": submitted.as_ref().map(|s| s.array_job),
            "finish_job": submitted.as_ref().map(|s| s.finish_job),
        }));
    } else {
        match &submitted {
            Some(s) => outln!(
                "submitted {} shards as job {} (finish job {})",
                shard_count,
                s.array_job,
                s.finish_job
            ),
            None => outln!(
                "wrote {} and {} (not submitted)",
                shard_script.display(),
                finish_script.display()
            ),
        }
    }
    Ok(())
}

fn write_script(path: &Path, text: &str) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| Failure::input(format!("{}: cannot write it: {e}", path.display())))
}

/// Submits the array for `shards` (the whole script's array when they are
/// all of them and `concurrent` is `None`) and a finish job that waits for
/// it and for `also_after`.
fn submit_array(
    dir: &Path,
    shards: &[u32],
    also_after: &[u64],
    resubmission: Option<Option<u32>>,
) -> Result<Submission, Failure> {
    let scheduler = Scheduler;
    let array_args: Vec<OsString> = match resubmission {
        Some(concurrent) => vec![array_option(shards, concurrent)],
        None => Vec::new(),
    };
    let array_job = scheduler
        .sbatch(&array_args, &dir.join(SHARD_SCRIPT))
        .map_err(Failure::from)?;
    let mut after = vec![array_job.to_string()];
    after.extend(also_after.iter().map(u64::to_string));
    let dependency = OsString::from(format!("--dependency=afterany:{}", after.join(":")));
    let finish_job = match scheduler.sbatch(&[dependency], &dir.join(FINISH_SCRIPT)) {
        Ok(job) => job,
        Err(error) => {
            // An array with no finish job and no record would run unseen:
            // take it back, so that the submission can simply be repeated.
            cancel(array_job, None);
            return Err(Failure::from(error));
        }
    };
    tracing::info!(array_job, finish_job, ?shards, "submitted");
    Ok(Submission {
        array_job,
        finish_job,
        shards: shards.to_vec(),
        submitted_unix: now_unix(),
    })
}

fn status(args: &StatusArgs) -> Result<(), Failure> {
    let dir = std::fs::canonicalize(&args.dir)
        .map_err(|e| Failure::input(format!("{}: {e}", args.dir.display())))?;
    let mut record = Record::load(&dir).map_err(Failure::from)?;
    let scheduler = Scheduler;
    let (source, states) = shard_states(&scheduler, &dir, &record).map_err(Failure::from)?;
    let again: Vec<u32> = states
        .iter()
        .filter(|s| s.state.needs_submission())
        .map(|s| s.shard)
        .collect();
    let mut resubmitted = None;
    if args.resubmit && !again.is_empty() {
        // The new finish job also waits for shards of earlier arrays that
        // are still queued or running, and replaces earlier finish jobs
        // that have not started: only one verdict is written, at the end.
        let mut live: Vec<u64> = states
            .iter()
            .filter(|s| matches!(s.state, ShardState::Pending | ShardState::Running))
            .filter_map(|s| s.row.as_ref().map(|r| r.job))
            .collect();
        live.sort_unstable();
        live.dedup();
        let submission = submit_array(&dir, &again, &live, Some(record.concurrent))?;
        for old in &record.submissions {
            cancel_if_pending(old.finish_job);
        }
        record.submissions.push(submission.clone());
        record.store(&dir).map_err(Failure::from)?;
        resubmitted = Some(submission);
    }
    let count = |name: &str| states.iter().filter(|s| s.state.name() == name).count();
    let (done, failed) = (count("done"), count("failed") + count("not-running"));
    if args.json {
        let shards: Vec<serde_json::Value> = states
            .iter()
            .map(|s| {
                let row = s.row.as_ref();
                serde_json::json!({
                    "shard": s.shard,
                    "state": s.state.name(),
                    "job": s.job,
                    "slurm_state": match &s.state {
                        ShardState::Failed(state) => Some(state.clone()),
                        _ => row.map(|r| r.state.name().to_owned()),
                    },
                    "exit_code": row.and_then(|r| r.exit_code.clone()),
                    "submit": row.and_then(|r| r.submit.clone()),
                    "start": row.and_then(|r| r.start.clone()),
                    "end": row.and_then(|r| r.end.clone()),
                })
            })
            .collect();
        let (source_name, why) = match &source {
            StatusSource::Sacct => ("sacct", None),
            StatusSource::Squeue { why_not_sacct } => ("squeue", Some(why_not_sacct.clone())),
        };
        super::output::emit_json(&serde_json::json!({
            "dir": dir.display().to_string(),
            "source": source_name,
            "why_not_sacct": why,
            "shards": shards,
            "done": done,
            "pending": count("pending"),
            "running": count("running"),
            "failed": failed,
            "resubmitted": resubmitted.as_ref().map(|s| serde_json::json!({
                "array_job": s.array_job,
                "finish_job": s.finish_job,
                "shards": s.shards,
            })),
        }));
    } else {
        match &source {
            StatusSource::Sacct => outln!("source: sacct"),
            StatusSource::Squeue { why_not_sacct } => {
                outln!("source: squeue and the shard files ({why_not_sacct})");
            }
        }
        for s in &states {
            let job = s.job.as_deref().unwrap_or("no job");
            match &s.state {
                ShardState::Failed(state) => {
                    outln!("shard {}: failed ({job}, {state})", s.shard);
                }
                other => outln!("shard {}: {} ({job})", s.shard, other.name()),
            }
        }
        outln!(
            "{done} of {} done, {} running, {} pending, {failed} failed or not running",
            states.len(),
            count("running"),
            count("pending")
        );
        if let Some(s) = &resubmitted {
            outln!(
                "resubmitted shards {:?} as job {} (finish job {})",
                s.shards,
                s.array_job,
                s.finish_job
            );
        }
    }
    if done == states.len() || resubmitted.is_some() {
        Ok(())
    } else if failed > 0 {
        Err(Failure {
            code: super::output::EXIT_UNVERIFIED,
            message: format!(
                "{failed} shard(s) failed or are not running: `airlock slurm status --dir {} --resubmit` submits them again",
                dir.display()
            ),
        })
    } else {
        Err(Failure {
            code: EXIT_IN_PROGRESS,
            message: String::new(),
        })
    }
}

/// Cancels `job` if it has not started; a finish job that already ran or
/// is running is left alone.
fn cancel_if_pending(job: u64) {
    cancel(job, Some("PENDING"));
}

/// `scancel [--state=STATE] JOB`; a failure is logged, not fatal, since
/// the job may have ended meanwhile.
fn cancel(job: u64, state: Option<&str>) {
    let mut args = Vec::new();
    if let Some(state) = state {
        args.push(format!("--state={state}"));
    }
    args.push(job.to_string());
    let result = std::process::Command::new("scancel")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output();
    match result {
        Ok(output) if output.status.success() => {}
        Ok(output) => tracing::debug!(
            job,
            stderr = %String::from_utf8_lossy(&output.stderr),
            "scancel"
        ),
        Err(e) => tracing::warn!(job, error = %e, "cannot run scancel"),
    }
}
