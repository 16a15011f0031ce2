//! `airlock campaign plan` and `airlock campaign run`: one signed plan,
//! run as shards (SPEC.md, "Campaigns").

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use airlock::report;
use airlock::run::{self, CampaignShard, RunOptions, StartMode};
use airlock_attest::campaign::{VerifiedPlan, read_plan, verify::membership, write_plan};
use airlock_attest::verify::VerifyOptions;
use airlock_attest::{Overwrite, PublicKey, SigningKey};
use airlock_core::campaign::{CampaignPlan, MAX_SHARDS};
use airlock_core::record::ProfileRef;

use super::output::{Failure, emit_json, run_failure};
use super::run::{TaskSetupArgs, TpmArgs, progress_for, station_files};
use super::{exists_hint, interrupt_on_signals, load_trusted, parse_seed};

/// `airlock campaign …`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum CampaignCommand {
    /// Make and sign a campaign plan: the suite × epochs, split into shards
    /// (entry k belongs to shard k mod N), and the keys allowed to sign them.
    Plan(Box<PlanArgs>),
    /// Run one shard of a signed plan, writing DIR/shard-I.bundle; resumes
    /// from its journal when one is there (a requeued or resubmitted job),
    /// and does nothing when the shard's bundle is already complete.
    Run(Box<ShardArgs>),
}

#[derive(clap::Args, Debug)]
pub(crate) struct PlanArgs {
    /// What every shard runs: suite, backend, agent and profile.
    #[command(flatten)]
    setup: TaskSetupArgs,
    /// The coordinator's private key, which signs the plan (nodes never need it).
    #[arg(long)]
    key: PathBuf,
    /// Public key of an evaluator key allowed to sign shards; repeat for each node key.
    #[arg(long, required = true, value_name = "PUB")]
    authorize: Vec<PathBuf>,
    /// Number of shards (Slurm array tasks).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SHARDS)))]
    shards: u32,
    /// Instances of each task.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: u32,
    /// Campaign seed (a decimal integer or 64 hex digits): every shard's run seed; random when omitted.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<[u8; 32]>,
    /// The plan file to write.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing plan at --out.
    #[arg(long)]
    force: bool,
    /// Print what was planned as JSON (format airlock-campaign-plan/1).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ShardArgs {
    /// The signed campaign plan.
    #[arg(long)]
    plan: PathBuf,
    /// The shard to run (Slurm: `$SLURM_ARRAY_TASK_ID`).
    #[arg(long)]
    shard: u32,
    /// Directory the shard's files go to (shared by every shard; each
    /// writes only its own shard-I.* files).
    #[arg(long)]
    dir: PathBuf,
    /// Coordinator public key the plan must be signed by; without it the
    /// plan's own signature is checked and the verifier checks who made it.
    #[arg(long, value_name = "PUB")]
    coordinator: Option<PathBuf>,
    /// The plan's suite, backend, agent and profile.
    #[command(flatten)]
    setup: TaskSetupArgs,
    /// This node's evaluator private key; the plan must authorize it.
    #[arg(long)]
    key: PathBuf,
    /// Station transcript key file; default: NAME.transcript-key beside the key.
    #[arg(long)]
    transcript_key: Option<PathBuf>,
    /// Station state file; default: beside the key.
    #[arg(long)]
    station: Option<PathBuf>,
    #[command(flatten)]
    tpm: TpmArgs,
    /// Task instances run at once (default: as many as the profile allows).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    sandboxes: Option<u32>,
    /// Print the results as JSON (format airlock-run/1) and progress events on stderr.
    #[arg(long)]
    json: bool,
}

pub(crate) fn execute(command: CampaignCommand) -> Result<(), Failure> {
    match command {
        CampaignCommand::Plan(args) => plan(&args),
        CampaignCommand::Run(args) => run_shard(&args),
    }
}

/// The bundle path of shard `shard` in `dir`.
pub(crate) fn shard_bundle(dir: &Path, shard: u32) -> PathBuf {
    dir.join(format!("shard-{shard}.bundle"))
}

fn plan(args: &PlanArgs) -> Result<(), Failure> {
    let key = SigningKey::load(&args.key).map_err(Failure::from)?;
    let setup = args.setup.load(&key, &args.key)?;
    let authorized: Vec<PublicKey> = load_trusted(&args.authorize)?;
    let mut shard_keys = Vec::new();
    for key in &authorized {
        if !shard_keys.contains(&key.key_id()) {
            shard_keys.push(key.key_id());
        }
    }
    let parts = setup.parts(&key);
    let entries = run::suite_plan(&setup.suite, args.epochs).map_err(Failure::input)?;
    let (suite_ref, runner, model) = run::recorded_identity(&parts, args.setup.model.tool_mode());
    let mut random = [0u8; 48];
    getrandom::fill(&mut random).map_err(|e| Failure::input(format!("no randomness: {e}")))?;
    let mut campaign_id = [0u8; 16];
    campaign_id.copy_from_slice(&random[..16]);
    let seed = args.seed.unwrap_or_else(|| {
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&random[16..]);
        seed
    });
    let plan = CampaignPlan {
        campaign_id,
        created_at_unix_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        suite: suite_ref,
        plan: entries,
        profile: ProfileRef {
            name: setup.profile.name.clone(),
            digest: setup.profile.digest(),
        },
        runner,
        model,
        seed,
        shard_count: args.shards,
        shard_keys,
    };
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    let hash = write_plan(&args.out, &plan, &key, overwrite).map_err(exists_hint)?;
    let shards_with_work = (0..plan.shard_count)
        .filter(|&i| plan.shard_entries(i).next().is_some())
        .count();
    if args.json {
        emit_json(&serde_json::json!({
            "format": "airlock-campaign-plan/1",
            "plan": args.out.display().to_string(),
            "campaign_id": report::to_hex(&plan.campaign_id),
            "plan_hash": hash.to_hex().to_string(),
            "coordinator_key_id": key.key_id().to_hex().to_string(),
            "suite": plan.suite.name,
            "profile": plan.profile.name,
            "agent": plan.model.agent,
            "model": plan.model.model,
            "seed": airlock_core::hex::encode(&plan.seed),
            "entries": plan.plan.len(),
            "shards": plan.shard_count,
            "shard_keys": plan.shard_keys.iter().map(|k| k.to_hex().to_string()).collect::<Vec<_>>(),
        }));
    } else {
        outln!(
            "campaign {} → {}: {} entries of suite {} in {} shards ({} with work), {} agent, \
             profile {}, {} authorized shard key(s)",
            report::to_hex(&plan.campaign_id),
            args.out.display(),
            plan.plan.len(),
            plan.suite.name,
            plan.shard_count,
            shards_with_work,
            plan.model.agent,
            plan.profile.name,
            plan.shard_keys.len()
        );
    }
    Ok(())
}

fn run_shard(args: &ShardArgs) -> Result<(), Failure> {
    let trusted = match &args.coordinator {
        Some(path) => vec![PublicKey::load(path).map_err(Failure::from)?],
        None => Vec::new(),
    };
    // A plan that does not verify is no plan to run: bad input here.
    let plan = read_plan(&args.plan, &trusted).map_err(Failure::input)?;
    let out = shard_bundle(&args.dir, args.shard);
    let journal = run::journal_path(&out);
    let key = SigningKey::load(&args.key).map_err(Failure::from)?;
    if out.exists() && !journal.exists() {
        return already_done(&plan, &out, &key, args.shard);
    }
    let tpm = args.tpm.load(&args.key)?;
    let setup = args.setup.load(&key, &args.key)?;
    let parts = setup.parts(&key);
    let (station, transcript_key) = station_files(
        &args.key,
        args.station.as_ref(),
        args.transcript_key.as_ref(),
    );
    let start = if journal.exists() {
        tracing::info!(journal = %journal.display(), "resuming the shard from its journal");
        StartMode::Resume
    } else {
        StartMode::Fresh
    };
    let options = RunOptions {
        out: out.clone(),
        seed: None,
        start,
        overwrite: Overwrite::Refuse,
        epochs: 1,
        station,
        transcript_key,
        sandboxes: args.sandboxes,
        tool_mode: args.setup.model.tool_mode(),
        campaign: Some(CampaignShard {
            plan,
            plan_path: args.plan.clone(),
            shard: args.shard,
        }),
        // A shard's settings are its signed plan's.
        selection: None,
        settings: None,
        tpm,
        interrupt: interrupt_on_signals()?,
    };
    let mut progress = progress_for(args.json);
    let summary = run::execute(&parts, &options, progress.as_mut()).map_err(run_failure)?;
    if args.json {
        let mut value = report::run_json(
            &summary.bundle.display().to_string(),
            &summary.run_start,
            &summary.results,
            &summary.run_end,
        );
        value["shard"] = args.shard.into();
        value["executed"] = summary.executed.into();
        emit_json(&value);
    } else {
        out!(
            "{}",
            report::results_table(
                &format!(
                    "shard {} of {} (run {}, {} executed now) → {}",
                    args.shard,
                    summary
                        .run_start
                        .campaign
                        .as_ref()
                        .map_or(0, |c| c.shard_count),
                    report::to_hex(&summary.run_start.run_id),
                    summary.executed,
                    summary.bundle.display()
                ),
                &summary.results,
                &summary.run_end
            )
        );
    }
    Ok(())
}

/// A shard whose bundle is already written (a job that ran to the end and
/// was requeued, or resubmitted by hand): nothing to do if the bundle is
/// this shard of this plan and verifies under this node's key.
fn already_done(
    plan: &VerifiedPlan,
    out: &Path,
    key: &SigningKey,
    shard: u32,
) -> Result<(), Failure> {
    let verdict = airlock_attest::verify_bundle_file(
        out,
        &[key.public_key()],
        VerifyOptions::default().collect_records(true),
    )
    .map_err(Failure::from)?;
    let problem = if !verdict.verified() {
        verdict.first_failure().map(|l| l.to_string())
    } else {
        match verdict
            .records
            .as_ref()
            .and_then(|r| r.run_start.as_ref())
            .map(|start| membership(plan, start))
        {
            Some(Ok(index)) if index == shard => None,
            Some(Ok(index)) => Some(format!("it is shard {index}, not shard {shard}")),
            Some(Err(why)) => Some(why),
            None => Some("it has no RunStart".into()),
        }
    };
    match problem {
        None => {
            outln!(
                "shard {shard}: {} is already complete ({} results); nothing to do",
                out.display(),
                verdict.summary.results
            );
            Ok(())
        }
        Some(why) => Err(Failure::input(format!(
            "{}: exists but is not a complete shard {shard} of this plan under this key: {why}",
            out.display()
        ))),
    }
}
