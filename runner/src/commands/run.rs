//! `airlock run`.

use airlock_core::abi::ToolMode;
use std::path::{Path, PathBuf};

use airlock::agent::{AgentOptions, AgentSpec};
use airlock::report;
use airlock::run::{self, Progress, RunOptions, RunParts, StartMode};
use airlock::suite::SuiteError;
use airlock_attest::station_state::Station;
use airlock_attest::transcripts::TranscriptKey;
use airlock_attest::{Overwrite, SigningKey};
use airlock_sandbox::Sandbox;
use airlock_sandbox::module_cache::{ModuleCache, StationSecret};

use super::output::{Bar, Failure, JsonProgress, emit_json, run_failure};
use super::run_config::{RunSettings, SettingValue};
use super::{SuiteArgs, interrupt_on_signals, load_suite, parse_seed, task_profile};

/// What every command that runs tasks loads first (`run`, `campaign plan`,
/// `campaign run`): the suite, the backend, the agent and the profile.
#[derive(clap::Args, Debug)]
pub(crate) struct TaskSetupArgs {
    #[command(flatten)]
    pub(crate) source: SuiteArgs,
    /// How the sandbox executes tasks: `cranelift` (native code) or `pulley`
    /// (wasmtime's portable interpreter); recorded in the engine settings.
    #[arg(long, default_value = "cranelift")]
    pub(crate) backend: airlock_sandbox::Backend,
    #[command(flatten)]
    pub(crate) model: AgentArgs,
    /// Hardware profile: an embedded name or a TOML file.
    #[arg(long, default_value = "default")]
    pub(crate) profile: String,
    /// Directory of compiled task modules kept between runs; default:
    /// NAME.module-cache beside the key (its secret is NAME.cache-key).
    #[arg(long)]
    pub(crate) module_cache: Option<PathBuf>,
    /// Compile every module afresh, reading and writing no module cache.
    #[arg(long, conflicts_with = "module_cache")]
    pub(crate) no_module_cache: bool,
}

/// The loaded parts of [`TaskSetupArgs`].
pub(crate) struct TaskSetup {
    pub(crate) profile: airlock::profile::HardwareProfile,
    pub(crate) sandbox: Sandbox,
    pub(crate) suite: airlock::suite::LoadedSuite,
    pub(crate) agent: Box<dyn airlock::agent::Agent>,
}

impl TaskSetupArgs {
    /// Loads the profile, the sandbox under it, the suite and the agent,
    /// refusing a suite signed by the key that is to sign the results.
    /// `key_path` is where `key` was read from: the module cache and its
    /// secret live beside it unless the options say otherwise.
    pub(crate) fn load(&self, key: &SigningKey, key_path: &Path) -> Result<TaskSetup, Failure> {
        run::prefetch_executable_digest();
        let profile = task_profile(&self.profile)?;
        let mut sandbox =
            Sandbox::with_backend(profile.sandbox_limits(), self.backend).map_err(Failure::from)?;
        if !self.no_module_cache {
            sandbox = with_module_cache(sandbox, key_path, self.module_cache.as_deref());
        }
        let suite = load_suite(&sandbox, &self.source)?;
        if suite.trust == airlock_core::record::SuiteTrust::Signed(key.key_id()) {
            return Err(Failure::from(SuiteError::SameKey));
        }
        let agent = self.model.build(&profile)?;
        Ok(TaskSetup {
            profile,
            sandbox,
            suite,
            agent,
        })
    }
}

impl TaskSetupArgs {
    /// The canonical settings of these options (every one but the module
    /// cache's, which changes how fast a run goes, not what it does).
    pub(crate) fn settings(&self) -> RunSettings {
        let mut settings = self.model.settings();
        settings.set("suite", SettingValue::Text(self.source.suite.clone()));
        settings.set(
            "unsigned-suite",
            SettingValue::Switch(self.source.unsigned_suite),
        );
        settings.set(
            "backend",
            SettingValue::Text(self.backend.name().to_owned()),
        );
        settings.set("profile", SettingValue::Text(self.profile.clone()));
        settings
    }
}

impl TaskSetup {
    /// The parts a run of this setup is made of, signed by `key`.
    pub(crate) fn parts<'a>(&'a self, key: &'a SigningKey) -> RunParts<'a> {
        RunParts {
            sandbox: &self.sandbox,
            suite: &self.suite,
            profile: &self.profile,
            agent: self.agent.as_ref(),
            key,
        }
    }
}

/// The module cache directory of a station whose evaluator key is at `key`:
/// `NAME.module-cache` for `NAME.key`.
pub(crate) fn module_cache_dir(key: &Path) -> PathBuf {
    key.with_extension("module-cache")
}

/// `sandbox` loading from and storing to the module cache in `dir` (default:
/// beside the key), under the station's cache secret. A cache that cannot be
/// opened is a warning: the run compiles every module, as without one.
pub(crate) fn with_module_cache(sandbox: Sandbox, key_path: &Path, dir: Option<&Path>) -> Sandbox {
    let dir = dir.map_or_else(|| module_cache_dir(key_path), Path::to_path_buf);
    let secret_path = StationSecret::path_for_key(key_path);
    let opened = StationSecret::load_or_create(&secret_path)
        .and_then(|secret| ModuleCache::open(&dir, secret, run::executable_digest().0));
    match opened {
        Ok(cache) => sandbox.with_module_cache(cache),
        Err(error) => {
            tracing::warn!(%error, "no module cache: compiling every module");
            sandbox
        }
    }
}

/// The station state and transcript key files of a run signed with the key
/// at `key`: those given, or the ones beside the key.
pub(crate) fn station_files(
    key: &std::path::Path,
    station: Option<&PathBuf>,
    transcript_key: Option<&PathBuf>,
) -> (PathBuf, PathBuf) {
    (
        station
            .cloned()
            .unwrap_or_else(|| Station::path_for_key(key)),
        transcript_key
            .cloned()
            .unwrap_or_else(|| TranscriptKey::path_for_key(key)),
    )
}

/// The station's TPM a run is quoted by (SPEC.md, "TPM quotes").
#[derive(clap::Args, Debug, Default)]
pub(crate) struct TpmArgs {
    /// The station's TPM directory from `airlock station enroll`; default:
    /// NAME.tpm beside the key, when it holds an enrolment. Without one the
    /// run is quoted by no TPM, and its RunStart says so.
    #[arg(long, value_name = "DIR")]
    pub(crate) tpm_station: Option<PathBuf>,
    /// How tpm2-tools reach the TPM (`device:/dev/tpmrm0`,
    /// `swtpm:host=127.0.0.1,port=2321`); default: the TCTI the station was
    /// enrolled through.
    #[arg(long)]
    pub(crate) tcti: Option<String>,
}

impl TpmArgs {
    /// The enrolled TPM of the station whose key is at `key_path`, if any:
    /// the directory given (which must hold an enrolment) or `NAME.tpm`
    /// beside the key (used when it does).
    pub(crate) fn load(
        &self,
        key_path: &Path,
    ) -> Result<Option<run::hardware::TpmStation>, Failure> {
        let dir = match &self.tpm_station {
            Some(dir) => dir.clone(),
            None => {
                let dir = super::station::tpm_dir(key_path);
                if !dir.join(run::hardware::REGISTRATION_FILE).exists() {
                    if self.tcti.is_some() {
                        return Err(Failure::input(format!(
                            "--tcti: {}: the station is not enrolled (no {}); run `airlock \
                             station enroll` first, or pass --tpm-station DIR",
                            dir.display(),
                            run::hardware::REGISTRATION_FILE
                        )));
                    }
                    tracing::info!(
                        tpm_station = %dir.display(),
                        "no TPM enrolment: RunStart records that no TPM quotes this run"
                    );
                    return Ok(None);
                }
                dir
            }
        };
        let station =
            run::hardware::TpmStation::load(&dir, self.tcti.as_deref()).map_err(run_failure)?;
        tracing::info!(
            tpm_station = %dir.display(),
            registration = %station.registration.digest,
            "the station's TPM quotes this run at RunStart and RunEnd"
        );
        Ok(Some(station))
    }
}

/// The progress a run shows: JSON lines on stderr, or a bar.
pub(crate) fn progress_for(json: bool) -> Box<dyn Progress> {
    if json {
        Box::new(JsonProgress)
    } else {
        Box::new(Bar::new())
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// A campaign file: `run`'s flags written down as TOML keys (SPEC.md,
    /// "Campaign files"); flags typed after it replace its keys.
    #[arg(long, value_name = "CAMPAIGN.toml")]
    config: Option<PathBuf>,
    #[command(flatten)]
    setup: TaskSetupArgs,
    #[command(flatten)]
    selection: TaskSelectionArgs,
    /// Station transcript key file; default: NAME.transcript-key beside the key.
    #[arg(long)]
    transcript_key: Option<PathBuf>,
    /// Evaluator private key (from `airlock keygen`).
    #[arg(long, required_unless_present = "print_settings")]
    key: Option<PathBuf>,
    /// Bundle file to write.
    #[arg(long, required_unless_present = "print_settings")]
    out: Option<PathBuf>,
    /// Print the run's canonical settings (SPEC.md, "Campaign files"),
    /// whose blake3 digest RunStart records, and exit without running.
    #[arg(long)]
    print_settings: bool,
    /// Run seed: a decimal integer N (24 zero bytes then N as u64 big-endian)
    /// or 64 hex digits; random when omitted, recorded either way.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<[u8; 32]>,
    /// Instances of each task.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: u32,
    /// Task instances run at once (default: as many as the profile allows,
    /// its cores bounded by total memory / memory per sandbox; 1 for `exec`,
    /// whose one process answers one call at a time). The bundle is the same
    /// whatever the number.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    sandboxes: Option<u32>,
    /// Continue an interrupted run from its journal (OUT.journal).
    #[arg(long)]
    resume: bool,
    /// Replace an existing bundle at --out.
    #[arg(long)]
    force: bool,
    /// Station state file (run counter, previous run's hash); default: beside the key.
    #[arg(long)]
    station: Option<PathBuf>,
    #[command(flatten)]
    tpm: TpmArgs,
    /// Print the results as JSON (format airlock-run/1), and on stderr one
    /// JSON line per progress event (airlock-progress/1): each result once it is durable.
    #[arg(long)]
    json: bool,
}

/// Which of the suite's tasks a run plans: `--task` and `--category`.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct TaskSelectionArgs {
    /// Run only this task (repeat for more); with `--category`, a task is
    /// run when its id or its category is given. Default: every task.
    #[arg(long = "task", value_name = "ID")]
    pub(crate) task: Vec<String>,
    /// Run only the tasks of this category (repeat for more).
    #[arg(long = "category", value_name = "NAME")]
    pub(crate) category: Vec<String>,
}

impl TaskSelectionArgs {
    /// The selected task ids in suite order, `None` when nothing is
    /// selected (the whole suite). An id or category the suite lacks, or a
    /// selection of nothing, is refused naming it and what the suite has.
    pub(crate) fn resolve(
        &self,
        suite: &airlock::suite::LoadedSuite,
    ) -> Result<Option<Vec<String>>, Failure> {
        if self.task.is_empty() && self.category.is_empty() {
            return Ok(None);
        }
        let ids = || {
            suite
                .tasks
                .iter()
                .map(|t| t.info.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for id in &self.task {
            if !suite.tasks.iter().any(|t| &t.info.id == id) {
                return Err(Failure::input(format!(
                    "--task {id}: suite \"{}\" has no such task (its tasks: {})",
                    suite.name,
                    ids()
                )));
            }
        }
        for category in &self.category {
            if !suite.tasks.iter().any(|t| &t.info.category == category) {
                let mut categories: Vec<&str> = suite
                    .tasks
                    .iter()
                    .map(|t| t.info.category.as_str())
                    .collect();
                categories.sort_unstable();
                categories.dedup();
                return Err(Failure::input(format!(
                    "--category {category}: suite \"{}\" has no task of that category \
                     (its categories: {})",
                    suite.name,
                    categories.join(", ")
                )));
            }
        }
        let selected: Vec<String> = suite
            .tasks
            .iter()
            .filter(|t| self.task.contains(&t.info.id) || self.category.contains(&t.info.category))
            .map(|t| t.info.id.clone())
            .collect();
        Ok(Some(selected))
    }

    /// The canonical settings of the selection, as given.
    fn settings(&self, settings: &mut RunSettings) {
        settings.set("task", SettingValue::List(self.task.clone()));
        settings.set("category", SettingValue::List(self.category.clone()));
    }
}

impl RunArgs {
    /// The canonical settings of this run (SPEC.md, "Campaign files"),
    /// whose digest RunStart records: the same for a campaign file and the
    /// flags it stands for.
    pub(crate) fn settings(&self) -> RunSettings {
        let mut settings = self.setup.settings();
        self.selection.settings(&mut settings);
        settings.set("epochs", SettingValue::Integer(self.epochs.into()));
        if let Some(seed) = self.seed {
            settings.set("seed", SettingValue::Text(report::to_hex(&seed)));
        }
        settings
    }
}

/// The canonical settings `airlock run WORDS...` would record, for the
/// commands (`demo`) that run as `run` would with flags of their own.
pub(crate) fn settings_of_flags(words: &[String]) -> Result<RunSettings, Failure> {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    #[command(no_binary_name = true)]
    struct Flags {
        #[command(flatten)]
        run: RunArgs,
    }
    Flags::try_parse_from(words)
        .map(|flags| flags.run.settings())
        .map_err(|e| Failure::input(format!("run flags {words:?}: {e}")))
}

/// The agent answering for the model, and how it is driven: shared by
/// every command that runs tasks (`run`, `campaign plan`, `campaign run`).
#[derive(clap::Args, Debug)]
pub(crate) struct AgentArgs {
    /// `reference`, `reference:delay-ms=N`, `null`, `echo`, `exec:PROGRAM`, `openai:URL` or `replay:DIR`.
    #[arg(long, value_parser = parse_agent)]
    pub(crate) agent: AgentSpec,
    /// One argument of an `exec:PROGRAM` agent; repeat for each, in order (no shell splitting).
    #[arg(long = "agent-arg", value_name = "ARG", allow_hyphen_values = true)]
    agent_args: Vec<String>,
    /// Model name: sent by `openai` (required there), recorded by `exec`.
    #[arg(long)]
    model: Option<String>,
    /// Sampling temperature sent by `openai`.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Sampling seed sent by `openai` with every request.
    #[arg(long)]
    model_seed: Option<u64>,
    /// How tasks' tools reach the model: `native` offers them through the
    /// model's function-calling API (`tools`), `text` uses each task's text
    /// protocol, for models without function calling. Recorded in RunStart.
    #[arg(long, value_enum, default_value = "native")]
    tool_mode: ToolModeArg,
    /// Most tokens per reply, sent by `openai` (at least 1).
    #[arg(long, value_parser = parse_max_tokens)]
    max_tokens: Option<core::num::NonZeroU32>,
    /// Further attempts of an `openai` call after a connection error, 429 or 5xx.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Wait before the first retry, in ms; doubled for each further one.
    #[arg(long, default_value_t = 250)]
    retry_backoff_ms: u64,
}

impl AgentArgs {
    /// Builds the agent under `profile`'s limits (an `openai` agent asks its
    /// server which model it serves).
    pub(crate) fn build(
        &self,
        profile: &airlock::profile::HardwareProfile,
    ) -> Result<Box<dyn airlock::agent::Agent>, Failure> {
        let mut agent_options = AgentOptions::for_profile(profile);
        agent_options.args = self.agent_args.clone();
        agent_options.model = self.model.clone();
        agent_options.temperature = self.temperature;
        agent_options.model_seed = self.model_seed;
        agent_options.max_tokens = self.max_tokens;
        agent_options.retries = self.retries;
        agent_options.backoff = core::time::Duration::from_millis(self.retry_backoff_ms);
        self.agent.build(&agent_options).map_err(Failure::from)
    }

    /// The canonical settings of the agent and how it is driven.
    pub(crate) fn settings(&self) -> RunSettings {
        let mut settings = RunSettings::default();
        // A reference agent's delay only paces it (tests interrupt runs
        // with it), so it is no setting: a run may resume without it.
        let agent = match &self.agent {
            AgentSpec::Reference { .. } => "reference".to_owned(),
            other => other.to_string(),
        };
        settings.set("agent", SettingValue::Text(agent));
        settings.set("agent-arg", SettingValue::List(self.agent_args.clone()));
        if let Some(model) = &self.model {
            settings.set("model", SettingValue::Text(model.clone()));
        }
        settings.set("temperature", SettingValue::Float(self.temperature));
        if let Some(seed) = self.model_seed {
            settings.set("model-seed", SettingValue::Integer(seed));
        }
        settings.set(
            "tool-mode",
            SettingValue::Text(
                match self.tool_mode {
                    ToolModeArg::Native => "native",
                    ToolModeArg::Text => "text",
                }
                .to_owned(),
            ),
        );
        if let Some(max_tokens) = self.max_tokens {
            settings.set("max-tokens", SettingValue::Integer(max_tokens.get().into()));
        }
        settings.set("retries", SettingValue::Integer(self.retries.into()));
        settings.set(
            "retry-backoff-ms",
            SettingValue::Integer(self.retry_backoff_ms),
        );
        settings
    }

    /// The `--tool-mode` asked for.
    pub(crate) fn tool_mode(&self) -> ToolMode {
        self.tool_mode.mode()
    }
}

fn parse_max_tokens(text: &str) -> Result<core::num::NonZeroU32, String> {
    match text.parse::<u32>() {
        Ok(0) => Err(
            "0 asks the server for no reply at all (servers answer it with errors); \
                      give at least 1"
                .to_owned(),
        ),
        Ok(n) => core::num::NonZeroU32::new(n).ok_or_else(|| "give at least 1".to_owned()),
        Err(_) => Err(format!(
            "a number of tokens from 1 to {} is expected, not \"{text}\"",
            u32::MAX
        )),
    }
}

fn parse_agent(text: &str) -> Result<AgentSpec, String> {
    text.parse()
        .map_err(|e: airlock::agent::AgentSpecError| e.to_string())
}

pub(crate) fn execute(args: &RunArgs) -> Result<(), Failure> {
    let settings = args.settings();
    let (Some(key_path), Some(out), false) = (&args.key, &args.out, args.print_settings) else {
        out!("{}", settings.to_toml());
        return Ok(());
    };
    let key = SigningKey::load(key_path).map_err(Failure::from)?;
    let tpm = args.tpm.load(key_path)?;
    let setup = args.setup.load(&key, key_path)?;
    let selection = args.selection.resolve(&setup.suite)?;
    let parts = setup.parts(&key);
    let (station, transcript_key) = station_files(
        key_path,
        args.station.as_ref(),
        args.transcript_key.as_ref(),
    );
    let options = RunOptions {
        out: out.clone(),
        seed: args.seed,
        start: if args.resume {
            StartMode::Resume
        } else {
            StartMode::Fresh
        },
        overwrite: if args.force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        },
        epochs: args.epochs,
        station,
        transcript_key,
        sandboxes: args.sandboxes,
        tool_mode: args.setup.model.tool_mode(),
        campaign: None,
        selection,
        settings: Some(settings.digest()),
        tpm,
        interrupt: interrupt_on_signals()?,
    };
    let mut progress = progress_for(args.json);
    let summary = run::execute(&parts, &options, progress.as_mut()).map_err(run_failure)?;
    let peak_rss = run::peak_resident_bytes();
    tracing::info!(
        sandboxes = summary.sandboxes,
        peak_rss_mib = peak_rss.map(|b| b / (1024 * 1024)),
        total_memory_mib = setup.profile.total_memory_mib,
        "run finished"
    );
    if args.json {
        let mut value = report::run_json(
            &summary.bundle.display().to_string(),
            &summary.run_start,
            &summary.results,
            &summary.run_end,
        );
        // How this invocation ran, not what the bundle says: neither is signed.
        value["sandboxes"] = summary.sandboxes.into();
        value["peak_rss_bytes"] = peak_rss.into();
        emit_json(&value);
    } else {
        out!(
            "{}",
            report::results_table(
                &format!(
                    "run {} ({} agent, suite {}, profile {}) → {}",
                    report::to_hex(&summary.run_start.run_id),
                    summary.run_start.model.agent,
                    summary.run_start.suite.name,
                    summary.run_start.profile.name,
                    summary.bundle.display()
                ),
                &summary.results,
                &summary.run_end
            )
        );
    }
    Ok(())
}

/// `--tool-mode` (clap's value enum for [`ToolMode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ToolModeArg {
    /// Tools offered as native tool calls.
    Native,
    /// The text protocol; no tools offered.
    Text,
}

impl ToolModeArg {
    pub(crate) fn mode(self) -> ToolMode {
        match self {
            ToolModeArg::Native => ToolMode::Native,
            ToolModeArg::Text => ToolMode::Text,
        }
    }
}
