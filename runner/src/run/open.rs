//! Opening a run. A new run gets its RunStart (plan, seed, build, model,
//! station link) and its files; a resumed one is held to the RunStart that
//! started it, field by field, before anything is appended, since a signed
//! RunStart that another model, engine or build finished would credit the
//! wrong ones.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use airlock_attest::Overwrite;
use airlock_core::Digest;
use airlock_core::record::{
    CampaignLink, ModelDescriptor, PlannedTask, ProfileRef, RunEnd, RunStart, RunnerBuild,
    StationHardware, SuiteRef, TaskResult,
};

use super::error::RunError;
use super::files::{RunFiles, RunPaths};
use super::options::{CampaignShard, RunOptions, RunParts, StartMode};
use crate::suite::LoadedSuite;
use airlock_attest::campaign::verify::shard_plan;
use airlock_sandbox::{LoadedTask, WASMTIME_VERSION};

/// A run ready to go on: its locked files, its RunStart, the results
/// already durable and, when the journal got that far, its RunEnd.
pub(super) struct Opened {
    /// The run's files, locked.
    pub(super) files: RunFiles,
    /// The signed plan.
    pub(super) run_start: RunStart,
    /// The durable results, in plan order.
    pub(super) results: Vec<TaskResult>,
    /// The RunEnd, when the journal holds one.
    pub(super) finished: Option<RunEnd>,
}

/// Opens the run `options` asks for: a new one, or the journal it resumes.
/// What can be refused without touching a file is refused first.
pub(super) fn open(parts: &RunParts<'_>, options: &RunOptions) -> Result<Opened, RunError> {
    match &options.campaign {
        Some(shard) => {
            check_campaign(parts, options, shard).map_err(|problem| RunError::NotOfCampaign {
                plan: shard.plan_path.clone(),
                problem,
            })?
        }
        None if options.start == StartMode::Fresh => {
            check_plan_fits(parts.suite, options.epochs, options.selection.as_deref())?;
        }
        None => {}
    }
    if options.overwrite == Overwrite::Refuse
        && options.start == StartMode::Fresh
        && options.out.exists()
    {
        return Err(RunError::OutputExists(options.out.clone()));
    }
    let paths = RunPaths::new(&options.out, &options.station, &options.transcript_key);
    match options.start {
        StartMode::Fresh => begin(parts, options, paths),
        StartMode::Resume => resume(parts, options, paths),
    }
}

/// Reopens the journal and checks that it is this invocation's run before
/// the rest of its files are opened; a journal killed before its first
/// record was durable starts the run afresh.
fn resume(parts: &RunParts<'_>, options: &RunOptions, paths: RunPaths) -> Result<Opened, RunError> {
    if !paths.journal.exists() {
        return Err(RunError::NothingToResume(paths.journal));
    }
    let Some(opened) = RunFiles::open_journal(&paths, parts.key)? else {
        return begin(parts, options, paths);
    };
    check_binding(parts, options, &opened.run_start)
        .and_then(|()| check_link(options, &opened.run_start))
        .and_then(|()| check_settings(options, &opened.run_start))
        .and_then(|()| check_hardware(options, &opened.run_start))
        .map_err(|problem| RunError::ResumeMismatch {
            path: paths.journal.clone(),
            problem,
        })?;
    let (files, run_start, results, finished) = RunFiles::resume(paths, opened)?;
    Ok(Opened {
        files,
        run_start,
        results,
        finished,
    })
}

/// Starts a new run: draws its seed (unless given), secret and id, and
/// makes its RunStart durable with the station link allocated for it.
fn begin(parts: &RunParts<'_>, options: &RunOptions, paths: RunPaths) -> Result<Opened, RunError> {
    let seed = match (&options.campaign, options.seed) {
        (Some(shard), _) => shard.plan.plan.seed,
        (None, Some(seed)) => seed,
        (None, None) => random_bytes()?,
    };
    let secret: [u8; 32] = random_bytes()?;
    let run_id = random_bytes()?;
    let (files, run_start) = RunFiles::create(paths, parts.key, secret, |station| {
        let plan = match &options.campaign {
            Some(shard) => shard_plan(&shard.plan.plan, shard.shard),
            None => new_plan(parts.suite, options.epochs, options.selection.as_deref()),
        };
        Ok(RunStart {
            run_id,
            started_at_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            suite: suite_ref(parts),
            plan,
            profile: ProfileRef {
                name: parts.profile.name.clone(),
                digest: parts.profile.digest(),
            },
            runner: runner_build(parts),
            model: parts.agent.descriptor(options.tool_mode),
            seed,
            evaluator_key_id: parts.key.key_id(),
            station,
            campaign: options.campaign.as_ref().map(link_of),
            selection: match options.campaign {
                Some(_) => None,
                None => options.selection.clone(),
            },
            settings: options.settings,
            hardware: options
                .tpm
                .as_ref()
                .map_or(StationHardware::NoTpm, |tpm| tpm.hardware()),
        })
    })?;
    Ok(Opened {
        files,
        run_start,
        results: Vec::new(),
        finished: None,
    })
}

/// The RunStart link of a campaign shard.
fn link_of(shard: &CampaignShard) -> CampaignLink {
    CampaignLink {
        plan_hash: shard.plan.hash,
        shard_index: shard.shard,
        shard_count: shard.plan.plan.shard_count,
    }
}

/// Refuses a shard whose run would record anything other than the signed
/// plan binds (suite, profile, runner build and engine, model), whose key
/// the plan does not authorize, or whose index it does not have: such a
/// shard would be refused by every verifier of the campaign, so it is
/// refused before it runs.
fn check_campaign(
    parts: &RunParts<'_>,
    options: &RunOptions,
    shard: &CampaignShard,
) -> Result<(), String> {
    let plan = &shard.plan.plan;
    if shard.shard >= plan.shard_count {
        return Err(format!(
            "shard {} asked for, but the plan has shards 0 to {}",
            shard.shard,
            plan.shard_count - 1
        ));
    }
    if let Some(seed) = options.seed
        && seed != plan.seed
    {
        return Err("--seed differs from the plan's seed (leave it out: the plan fixes it)".into());
    }
    if !plan.shard_keys.contains(&parts.key.key_id()) {
        return Err(format!(
            "the plan does not authorize key {} to sign shards",
            parts.key.key_id()
        ));
    }
    if plan.suite.digest != parts.suite.digest {
        return Err(format!(
            "the plan runs suite {} ({}), not {} ({})",
            plan.suite.name, plan.suite.digest, parts.suite.name, parts.suite.digest
        ));
    }
    if plan.profile.digest != parts.profile.digest() {
        return Err(format!(
            "the plan runs profile \"{}\", whose limits differ from \"{}\"",
            plan.profile.name, parts.profile.name
        ));
    }
    let mut planned = airlock_attest::campaign::verify::campaign_run_start(&shard.plan);
    // The shard signs with its own key; the rest must be the plan's.
    planned.evaluator_key_id = parts.key.key_id();
    binding_difference(
        &planned,
        &suite_ref(parts),
        &runner_build(parts),
        &parts.agent.descriptor(options.tool_mode),
        &parts.key.key_id(),
    )
    .map_err(|why| why.replace("in the journal", "in the plan"))
}

/// Refuses to resume a journal that is not the shard asked for (or a
/// shard's journal as a run of its own, or the other way round).
fn check_link(options: &RunOptions, recorded: &RunStart) -> Result<(), String> {
    let expected = options.campaign.as_ref().map(link_of);
    if recorded.campaign == expected {
        return Ok(());
    }
    let describe = |link: &Option<CampaignLink>| match link {
        Some(l) => format!(
            "shard {} of {} of plan {}",
            l.shard_index, l.shard_count, l.plan_hash
        ),
        None => "a run of its own".to_owned(),
    };
    Err(format!(
        "RunStart.campaign is {} in the journal but {} now",
        describe(&recorded.campaign),
        describe(&expected)
    ))
}

/// Refuses to resume a journal started under other settings: a reviewed
/// campaign file holds the bundle to every setting, so a run is finished
/// under the settings that started it.
/// A run resumes on the hardware it started on: a run begun without a TPM
/// cannot gain one halfway, nor one quoted by a TPM lose it.
fn check_hardware(options: &RunOptions, recorded: &RunStart) -> Result<(), String> {
    let now = options
        .tpm
        .as_ref()
        .map_or(StationHardware::NoTpm, |tpm| tpm.hardware());
    if recorded.hardware == now {
        return Ok(());
    }
    let describe = |hardware: &StationHardware| match hardware {
        StationHardware::NoTpm => "no TPM".to_owned(),
        StationHardware::Tpm2Quote { registration } => {
            format!("the TPM of station registration {registration}")
        }
    };
    Err(format!(
        "RunStart.hardware is {} in the journal but {} now (resume with the station's TPM \
         enrolment as it was when the run started)",
        describe(&recorded.hardware),
        describe(&now)
    ))
}

fn check_settings(options: &RunOptions, recorded: &RunStart) -> Result<(), String> {
    if recorded.settings == options.settings {
        return Ok(());
    }
    let describe = |settings: &Option<airlock_core::Digest>| match settings {
        Some(digest) => format!("settings {digest}"),
        None => "no settings digest".to_owned(),
    };
    Err(format!(
        "RunStart.settings is {} in the journal but {} now: resume with the campaign file \
         or flags that started the run",
        describe(&recorded.settings),
        describe(&options.settings)
    ))
}

/// The plan a run of `suite` for `epochs` epochs makes (every epoch of
/// each task in turn, in suite order), refused like `run --epochs` when it
/// would not fit in one record: what a campaign plan splits into shards.
pub fn suite_plan(suite: &LoadedSuite, epochs: u32) -> Result<Vec<PlannedTask>, RunError> {
    check_plan_fits(suite, epochs, None)?;
    Ok(new_plan(suite, epochs, None))
}

/// The suite, runner build and model a run of `parts` records in RunStart:
/// what a campaign plan binds every shard to.
pub fn recorded_identity(
    parts: &RunParts<'_>,
    tool_mode: airlock_core::abi::ToolMode,
) -> (SuiteRef, RunnerBuild, ModelDescriptor) {
    (
        suite_ref(parts),
        runner_build(parts),
        parts.agent.descriptor(tool_mode),
    )
}

/// Every epoch of each task in turn, in suite order.
/// Every epoch of each task in turn, in suite order: of every task, or of
/// those whose ids `selection` holds.
fn new_plan(suite: &LoadedSuite, epochs: u32, selection: Option<&[String]>) -> Vec<PlannedTask> {
    let mut plan = Vec::new();
    for task in selected_tasks(suite, selection) {
        for epoch in 0..epochs {
            plan.push(PlannedTask {
                task_id: task.info.id.clone(),
                task_version: task.info.version,
                module_digest: task.digest,
                epoch,
            });
        }
    }
    plan
}

/// The suite's tasks a run plans: all, or those `selection` names.
fn selected_tasks<'s>(
    suite: &'s LoadedSuite,
    selection: Option<&'s [String]>,
) -> impl Iterator<Item = &'s LoadedTask> {
    suite
        .tasks
        .iter()
        .filter(move |task| selection.is_none_or(|ids| ids.contains(&task.info.id)))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], RunError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| RunError::Random(e.to_string()))?;
    Ok(out)
}

fn suite_ref(parts: &RunParts<'_>) -> SuiteRef {
    SuiteRef {
        name: parts.suite.name.clone(),
        digest: parts.suite.digest,
        trust: parts.suite.trust.clone(),
    }
}

fn runner_build(parts: &RunParts<'_>) -> RunnerBuild {
    RunnerBuild {
        airlock_version: env!("CARGO_PKG_VERSION").into(),
        wasmtime_version: WASMTIME_VERSION.into(),
        engine_settings: parts.sandbox.settings_digest(),
        executable: crate::executable::executable_digest(),
    }
}

/// Room left in the RunStart record for its fields other than the plan
/// (names, versions, digests, the model descriptor): far more than they take.
pub(super) const RUN_START_ROOM: u64 = 64 * 1024;

/// Refuses, before anything is built or written, a plan that would not fit
/// in the RunStart record (a frame is at most [`MAX_FRAME_LEN`] bytes): a
/// mistyped `--epochs` would otherwise allocate the plan until memory ran
/// out. Counts at most about one frame's worth of entries.
///
/// [`MAX_FRAME_LEN`]: airlock_attest::frame::MAX_FRAME_LEN
pub(super) fn check_plan_fits(
    suite: &LoadedSuite,
    epochs: u32,
    selection: Option<&[String]>,
) -> Result<(), RunError> {
    let limit = u64::from(airlock_attest::frame::MAX_FRAME_LEN) - RUN_START_ROOM;
    // Entries are laid out as PlannedTask is: id, version, digest, epoch.
    let entry_len = |task: &LoadedTask, epoch: u32| {
        let entry = (&task.info.id, task.info.version, &task.digest, epoch);
        postcard::experimental::serialized_size(&entry).map_or(u64::MAX, |n| n as u64)
    };
    // The selection is recorded beside the plan, in the same record.
    let mut bytes: u64 =
        postcard::experimental::serialized_size(&selection).map_or(u64::MAX, |n| n as u64);
    for epoch in 0..epochs {
        for task in selected_tasks(suite, selection) {
            bytes = bytes.saturating_add(entry_len(task, epoch));
        }
        if bytes > limit {
            return Err(RunError::PlanTooLarge {
                tasks: selected_tasks(suite, selection).count(),
                epochs,
                epochs_that_fit: epoch,
            });
        }
    }
    Ok(())
}

/// Refuses to resume a journal with anything this invocation would record
/// differently in RunStart: a run is finished by the model, engine, build,
/// suite, profile, key and seed that started it, or its signed RunStart
/// would credit the wrong ones. The first difference is named by its field.
fn check_binding(
    parts: &RunParts<'_>,
    options: &RunOptions,
    recorded: &RunStart,
) -> Result<(), String> {
    if let Some(seed) = options.seed
        && seed != recorded.seed
    {
        return Err("it was started with another --seed".into());
    }
    if recorded.suite.digest != parts.suite.digest {
        return Err(format!(
            "it was started with suite {} ({}), not {} ({})",
            recorded.suite.name, recorded.suite.digest, parts.suite.name, parts.suite.digest
        ));
    }
    if recorded.profile.digest != parts.profile.digest() {
        return Err(format!(
            "it was started with profile \"{}\", whose limits differ from \"{}\"",
            recorded.profile.name, parts.profile.name
        ));
    }
    binding_difference(
        recorded,
        &suite_ref(parts),
        &runner_build(parts),
        &parts.agent.descriptor(options.tool_mode),
        &parts.key.key_id(),
    )
}

/// The first field of what RunStart binds (suite trust, runner build and
/// engine, model descriptor, evaluator key) whose recorded value differs
/// from this invocation's, named, with both values.
fn binding_difference(
    recorded: &RunStart,
    suite: &SuiteRef,
    runner: &RunnerBuild,
    model: &ModelDescriptor,
    key_id: &Digest,
) -> Result<(), String> {
    let fields: [(&str, String, String); 9] = [
        (
            "suite.trust",
            format!("{:?}", recorded.suite.trust),
            format!("{:?}", suite.trust),
        ),
        (
            "runner.airlock_version",
            recorded.runner.airlock_version.clone(),
            runner.airlock_version.clone(),
        ),
        (
            "runner.wasmtime_version",
            recorded.runner.wasmtime_version.clone(),
            runner.wasmtime_version.clone(),
        ),
        (
            "runner.engine_settings",
            recorded.runner.engine_settings.to_string(),
            runner.engine_settings.to_string(),
        ),
        (
            "runner.executable",
            recorded.runner.executable.to_string(),
            runner.executable.to_string(),
        ),
        (
            "model.agent",
            recorded.model.agent.clone(),
            model.agent.clone(),
        ),
        (
            "model.model",
            recorded.model.model.clone(),
            model.model.clone(),
        ),
        (
            "model.reported_model",
            recorded.model.reported_model.clone(),
            model.reported_model.clone(),
        ),
        (
            "evaluator_key_id",
            recorded.evaluator_key_id.to_string(),
            key_id.to_string(),
        ),
    ];
    match fields.into_iter().find(|(_, then, now)| then != now) {
        None => Ok(()),
        Some((field, then, now)) => Err(format!(
            "RunStart.{field} is {then:?} in the journal but {now:?} now: a run is finished by \
             the model, engine and build that started it (start a new run instead)"
        )),
    }
}

/// Finds the loaded module of every plan entry, so a resumed plan that names
/// a module this suite lacks is refused before anything runs.
pub(super) fn plan_tasks<'s>(
    suite: &'s LoadedSuite,
    run_start: &RunStart,
    journal: &Path,
) -> Result<Vec<&'s LoadedTask>, RunError> {
    run_start
        .plan
        .iter()
        .map(|planned| {
            suite
                .tasks
                .iter()
                .find(|t| t.digest == planned.module_digest)
                .ok_or_else(|| RunError::ResumeMismatch {
                    path: journal.to_path_buf(),
                    problem: format!(
                        "the planned module of task {} ({}) is not in this suite",
                        planned.task_id, planned.module_digest
                    ),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field RunStart binds is named when it differs.
    #[test]
    fn every_bound_field_is_named_when_it_differs() {
        let recorded = RunStart {
            run_id: [1; 16],
            started_at_unix_s: 0,
            suite: SuiteRef {
                name: "s".into(),
                digest: Digest([2; 32]),
                trust: airlock_core::record::SuiteTrust::Embedded,
            },
            plan: Vec::new(),
            profile: ProfileRef {
                name: "default".into(),
                digest: Digest([3; 32]),
            },
            runner: RunnerBuild {
                airlock_version: "1".into(),
                wasmtime_version: "48.0.8".into(),
                engine_settings: Digest([4; 32]),
                executable: Digest([5; 32]),
            },
            model: ModelDescriptor {
                agent: "openai".into(),
                model: "strong-model".into(),
                reported_model: "strong-model".into(),
                tool_mode: airlock_core::abi::ToolMode::Native,
            },
            seed: [6; 32],
            evaluator_key_id: Digest([7; 32]),
            campaign: None,
            selection: None,
            settings: None,
            hardware: StationHardware::NoTpm,
            station: airlock_core::record::StationLink {
                run_counter: 1,
                previous_run_start_hash: Digest::ZERO,
            },
        };
        let suite = recorded.suite.clone();
        let runner = recorded.runner.clone();
        let model = recorded.model.clone();
        let key = recorded.evaluator_key_id;
        assert_eq!(
            binding_difference(&recorded, &suite, &runner, &model, &key),
            Ok(())
        );
        let named = |field: &str,
                     suite: &SuiteRef,
                     runner: &RunnerBuild,
                     model: &ModelDescriptor,
                     key: &Digest| {
            let err = binding_difference(&recorded, suite, runner, model, key).unwrap_err();
            assert!(
                err.starts_with(&format!("RunStart.{field} is ")),
                "{field}: {err}"
            );
        };
        let mut other = suite.clone();
        other.trust = airlock_core::record::SuiteTrust::Unsigned;
        named("suite.trust", &other, &runner, &model, &key);
        let mut r = runner.clone();
        r.airlock_version.push('+');
        named("runner.airlock_version", &suite, &r, &model, &key);
        let mut r = runner.clone();
        r.wasmtime_version.push('+');
        named("runner.wasmtime_version", &suite, &r, &model, &key);
        let mut r = runner.clone();
        r.engine_settings = Digest([0xab; 32]);
        named("runner.engine_settings", &suite, &r, &model, &key);
        let mut r = runner.clone();
        r.executable = Digest([0xcd; 32]);
        named("runner.executable", &suite, &r, &model, &key);
        let mut m = model.clone();
        m.agent = "exec".into();
        named("model.agent", &suite, &runner, &m, &key);
        let mut m = model.clone();
        m.model = "weak-model".into();
        named("model.model", &suite, &runner, &m, &key);
        let mut m = model.clone();
        m.reported_model = "served-as".into();
        named("model.reported_model", &suite, &runner, &m, &key);
        named(
            "evaluator_key_id",
            &suite,
            &runner,
            &model,
            &Digest([0xef; 32]),
        );
    }
}
