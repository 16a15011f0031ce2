//! `airlock`: run cyber-capability benchmark suites in wasmtime sandboxes and
//! verify the signed, hash-chained results offline.
//!
//! Exit codes: 0 — success (all tasks ran / verified); 1 — verification
//! failed; 2 — usage or input error (the message names the file and problem).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airlock::agent::{AgentOptions, AgentSpec};
use airlock::disclosure::{self, DiscloseSources, DisclosureError};
use airlock::profile;
use airlock::report;
use airlock::run::{self, Progress, RunOptions, RunParts, StartMode};
use airlock::sandbox::{Sandbox, SandboxLimits};
use airlock::station::Station;
use airlock::suite::{LoadedSuite, SuiteError};
use airlock::transcripts::{StoreError, TranscriptKey};
use airlock_attest::verify::VerifyOptions;
use airlock_attest::{Overwrite, PublicKey, SigningKey};
use airlock_core::record::TaskResult;
use clap::{Parser, Subcommand};

/// Writes a line to stdout; see [`emit`].
macro_rules! outln {
    () => {
        emit(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stdout; see [`emit`].
macro_rules! out {
    ($($arg:tt)*) => {
        emit(format_args!($($arg)*))
    };
}

/// Writes results to stdout. A closed pipe (`airlock ... | head`) ends the
/// process quietly, as other command-line tools do, instead of panicking;
/// everything durable has been written before anything is printed.
fn emit(args: core::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(error) = std::io::stdout().lock().write_fmt(args) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("airlock: cannot write to stdout: {error}");
        std::process::exit(i32::from(EXIT_INPUT));
    }
}

/// Exit code: verification failed.
const EXIT_UNVERIFIED: u8 = 1;
/// Exit code: usage or input error.
const EXIT_INPUT: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "airlock",
    version,
    about = "Run cyber-capability benchmarks in wasmtime sandboxes; sign, chain and verify the results offline.",
    after_help = "Exit codes: 0 success; 1 verification failed; 2 usage or input error."
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make an Ed25519 key pair: DIR/NAME.key (private, mode 0600) and DIR/NAME.pub (SPKI PEM).
    Keygen {
        /// Directory for the key files (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Base name of the key files.
        #[arg(long, default_value = "evaluator")]
        name: String,
    },
    /// Run a suite against an agent and write a signed bundle.
    Run(Box<RunArgs>),
    /// Verify bundles: decode, signatures, chain, completeness, and the
    /// suite level with --suite; several bundles of one station are also
    /// checked as a chain (missing runs, duplicates, forks).
    Verify(VerifyArgs),
    /// Export a verified bundle for tools written by others: with --dsse, one
    /// DSSE envelope (in-toto Statement v1) per result, signed with the
    /// evaluator key, and the public key as SPKI PEM.
    Export(ExportArgs),
    /// Inspect and export suites.
    #[command(subcommand)]
    Suite(SuiteCommand),
    /// Decrypt one sealed transcript of a finished run (BUNDLE.transcripts) and
    /// write it with its opening (format airlock-disclosure/1).
    Disclose {
        /// The run's bundle; BUNDLE.secret and BUNDLE.transcripts must be beside it.
        bundle: PathBuf,
        /// Task id of the transcript to disclose.
        #[arg(long)]
        task: String,
        /// Epoch of the transcript (needed when the task ran more than once).
        #[arg(long)]
        epoch: Option<u32>,
        /// The evaluator private key the run was signed with; the station
        /// transcript key is read from beside it.
        #[arg(long)]
        key: PathBuf,
        /// Station transcript key file; default: NAME.transcript-key beside the key.
        #[arg(long)]
        transcript_key: Option<PathBuf>,
        /// The disclosure file to write (mode 0600; never replaced without --force).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file at --out.
        #[arg(long)]
        force: bool,
    },
    /// List, show, check suites against, and calibrate hardware profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Demonstrate the whole path with a throwaway key: run the embedded
    /// suite with the reference and null agents, verify both bundles, print scores.
    Demo {
        /// Run seed (64 hex digits); random when omitted.
        #[arg(long, value_parser = parse_seed)]
        seed: Option<[u8; 32]>,
    },
    /// Verify a bundle and report on it: scores per category and task with
    /// intervals, outcomes, resource use, verification and run metadata.
    Report(ReportArgs),
}

/// Output format of `airlock report`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ReportFormat {
    /// A terminal table.
    Table,
    /// JSON (format airlock-report/1).
    Json,
    /// One self-contained HTML file with inline CSS and SVG charts.
    Html,
}

/// When to colour the table.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// The bundle to report on; with a second bundle B, compare B against A.
    #[arg(required = true, num_args = 1..=2, value_name = "BUNDLE")]
    bundles: Vec<PathBuf>,
    /// Trusted evaluator public key (SPKI PEM); may be given more than once.
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Write the report to this file (atomically) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing file at --out.
    #[arg(long, requires = "out")]
    force: bool,
    /// Colour of the table on stdout.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Where task categories come from: the suite whose modules the run used.
    #[command(flatten)]
    source: SuiteSource,
    /// A profile file to take budgets from when the run's profile is not
    /// embedded; used only if its digest equals the run's.
    #[arg(long)]
    profile: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum SuiteCommand {
    /// List the tasks of a suite, with the metadata read from each module.
    List {
        #[command(flatten)]
        source: SuiteSource,
        /// Hardware profile whose limits screen the modules.
        #[arg(long, default_value = "default")]
        profile: String,
        /// Print a JSON array of task objects.
        #[arg(long)]
        json: bool,
    },
    /// Sign a manifest for a directory of task modules (every *.wasm, in file-name order).
    Build {
        /// The suite directory; the manifest is written to DIR/suite.manifest.
        dir: PathBuf,
        /// Suite authority private key (from `airlock keygen`; not an evaluator key).
        #[arg(long)]
        key: PathBuf,
        /// Suite name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Hardware profile whose limits screen the modules.
        #[arg(long, default_value = "default")]
        profile: String,
        /// Replace an existing manifest.
        #[arg(long)]
        force: bool,
    },
    /// Check a suite directory's manifest signature and every module digest.
    Verify {
        /// The suite directory.
        dir: PathBuf,
        /// Trusted suite authority public key; may be given more than once.
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
        /// Hardware profile whose limits screen the modules.
        #[arg(long, default_value = "default")]
        profile: String,
    },
    /// Write the embedded suite's modules to a directory, as a template for labs.
    Export {
        /// The embedded suite to export.
        suite: String,
        /// Directory to write into (created if missing; existing files are
        /// replaced only with --force).
        #[arg(long)]
        out: PathBuf,
        /// Replace existing module files and manifest in the directory.
        #[arg(long)]
        force: bool,
        /// Sign the exported suite's manifest with this suite authority key.
        #[arg(
            long,
            required_unless_present = "unsigned",
            conflicts_with = "unsigned"
        )]
        key: Option<PathBuf>,
        /// Export the modules without a manifest.
        #[arg(long)]
        unsigned: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ProfileCommand {
    /// List the embedded profiles.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show every field of a profile.
    Show {
        /// An embedded profile name or a TOML file.
        profile: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check that every task of a suite fits a profile: fuel and peak memory of
    /// the reference run against the budgets. Exit 1 if any task does not fit.
    Check {
        /// An embedded profile name or a TOML file.
        profile: String,
        #[command(flatten)]
        source: SuiteSource,
        /// Seeds to measure each task over (the worst is reported).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        seeds: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure this host's fuel per second on a suite and predict the wall time of a full run.
    Calibrate {
        /// The profile whose limits and parallelism to predict for.
        #[arg(long, default_value = "default")]
        profile: String,
        #[command(flatten)]
        source: SuiteSource,
        /// Least number of reference runs of each task to measure (more are
        /// run until at least a second of sandbox time is measured).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        seeds: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which suite to use and how to trust it.
#[derive(clap::Args, Debug)]
struct SuiteSource {
    /// `default` (the embedded suite) or a suite directory.
    #[arg(long, default_value = "default")]
    suite: String,
    /// Trusted suite authority public key for a suite directory; may be given more than once.
    #[arg(long)]
    suite_trust: Vec<PathBuf>,
    /// Allow a suite directory without a signed manifest (development only).
    #[arg(long, conflicts_with = "suite_trust")]
    unsigned_suite: bool,
}

#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// The bundle file.
    bundle: PathBuf,
    /// Directory for results.intoto.jsonl and signer.pub (created if missing).
    #[arg(long, value_name = "OUT_DIR")]
    dsse: PathBuf,
    /// The evaluator private key that signed the bundle: the export runs
    /// inside the enclave, verifies the bundle under this key first, and
    /// signs each envelope with it.
    #[arg(long)]
    key: PathBuf,
    /// Replace existing results.intoto.jsonl and signer.pub in OUT_DIR.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
struct VerifyArgs {
    /// The bundle files.
    #[arg(required = true)]
    bundles: Vec<PathBuf>,
    /// Trusted evaluator public key (SPKI PEM); may be given more than once.
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// Print the verdict as JSON (airlock-verdict/1; airlock-verdicts/1 for several bundles).
    #[arg(long)]
    json: bool,
    /// Check the suite level against `default` (the embedded suite) or a signed suite directory.
    #[arg(long)]
    suite: Option<String>,
    /// Trusted suite authority public key for --suite DIR; may be given more than once.
    #[arg(long, requires = "suite")]
    suite_trust: Vec<PathBuf>,
    /// Threads that check signatures (default: the available cores); the
    /// verdict is the same for any number.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// A disclosure file (from `airlock disclose`) to check against its
    /// signed result; may be given more than once (one bundle only).
    #[arg(long)]
    disclosed: Vec<PathBuf>,
    /// Re-execute results from their transcripts and compare outcome, score,
    /// fuel, peak memory and turns with the signed records (one bundle only): every result
    /// from the sealed store inside the enclave (with --transcript-key), or
    /// the results of the --disclosed files.
    #[arg(long)]
    replay: bool,
    /// Backend to re-execute under: `cranelift` (default) or `pulley`.
    #[arg(long, requires = "replay")]
    backend: Option<airlock::sandbox::Backend>,
    /// Station transcript key that opens the run's sealed store: replay
    /// every result from BUNDLE.transcripts with the run secret BUNDLE.secret.
    #[arg(long, requires = "replay")]
    transcript_key: Option<PathBuf>,
    /// The sealed transcript store, when not BUNDLE.transcripts.
    #[arg(long, requires = "transcript_key")]
    transcripts: Option<PathBuf>,
    /// The run secret, when not BUNDLE.secret.
    #[arg(long, requires = "transcript_key")]
    run_secret: Option<PathBuf>,
    /// A profile file for replaying a run whose profile is not embedded
    /// (used only if its digest is the run's).
    #[arg(long, requires = "replay")]
    profile: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    source: SuiteSource,
    /// How the sandbox executes tasks: `cranelift` (native code) or `pulley`
    /// (wasmtime's portable interpreter); recorded in the engine settings.
    #[arg(long, default_value = "cranelift")]
    backend: airlock::sandbox::Backend,
    /// `reference`, `reference:delay-ms=N`, `null`, `echo`, `exec:PROGRAM`, `openai:URL` or `replay:DIR`.
    #[arg(long, value_parser = parse_agent)]
    agent: AgentSpec,
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
    /// Most tokens per reply, sent by `openai` (at least 1).
    #[arg(long, value_parser = parse_max_tokens)]
    max_tokens: Option<core::num::NonZeroU32>,
    /// Further attempts of an `openai` call after a connection error, 429 or 5xx.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Wait before the first retry, in ms; doubled for each further one.
    #[arg(long, default_value_t = 250)]
    retry_backoff_ms: u64,
    /// Station transcript key file; default: NAME.transcript-key beside the key.
    #[arg(long)]
    transcript_key: Option<PathBuf>,
    /// Hardware profile: an embedded name or a TOML file.
    #[arg(long, default_value = "default")]
    profile: String,
    /// Evaluator private key (from `airlock keygen`).
    #[arg(long)]
    key: PathBuf,
    /// Bundle file to write.
    #[arg(long)]
    out: PathBuf,
    /// Run seed (64 hex digits); random when omitted, recorded either way.
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
    /// Print the results as JSON (format airlock-run/1), and on stderr one
    /// JSON line per progress event (airlock-progress/1): each result once it is durable.
    #[arg(long)]
    json: bool,
}

fn parse_seed(text: &str) -> Result<[u8; 32], String> {
    airlock_core::Digest::from_hex(text)
        .map(|d| d.0)
        .ok_or_else(|| format!("a seed is 64 hexadecimal digits, not \"{text}\""))
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

/// An error with the exit code it should end the process with.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn input(message: impl ToString) -> Failure {
        Failure {
            code: EXIT_INPUT,
            message: message.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Keygen { out, name } => keygen(&out, &name),
        Command::Run(args) => run_command(&args),
        Command::Verify(args) => verify_command(&args),
        Command::Export(args) => export_command(&args),
        Command::Suite(command) => suite_command(command),
        Command::Disclose {
            bundle,
            task,
            epoch,
            key,
            transcript_key,
            out,
            force,
        } => disclose_command(
            &bundle,
            &task,
            epoch,
            &key,
            transcript_key.as_deref(),
            &out,
            force,
        ),
        Command::Profile(command) => profile_command(command),
        Command::Demo { seed } => demo(seed),
        Command::Report(args) => report_command(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("airlock: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

fn keygen(dir: &Path, name: &str) -> Result<(), Failure> {
    let key = airlock_attest::keygen(dir, name).map_err(Failure::input)?;
    outln!("{}", key.key_id);
    eprintln!(
        "wrote {} and {}",
        key.private_path.display(),
        key.public_path.display()
    );
    Ok(())
}

/// A progress bar on stderr when it is a terminal; quiet otherwise.
struct Bar(indicatif::ProgressBar, Vec<TaskResult>);

impl Bar {
    fn new() -> Bar {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} tasks  {msg}  eta {eta}")
        {
            bar.set_style(style);
        }
        Bar(bar, Vec::new())
    }
}

impl Progress for Bar {
    fn start(&mut self, total: u64, done: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }

    fn result(&mut self, result: &TaskResult) {
        self.1.push(result.clone());
        let done = self
            .1
            .iter()
            .filter(|r| r.outcome == airlock_core::Outcome::Done)
            .count();
        self.0
            .set_message(format!("{done} done, {} other", self.1.len() - done));
        self.0.inc(1);
    }

    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

/// `--json` progress: one JSON line on stderr per event (SPEC.md, "Run
/// progress events"), so a supervisor knows which results are durable
/// without waiting for the run to end, even when the run is killed.
struct JsonProgress;

impl JsonProgress {
    fn emit(value: &serde_json::Value) {
        use std::io::Write;
        // One write per line: a reader that sees the newline saw the whole
        // event. A failed write cannot undo durability, so it is not an error.
        let line = format!("{value}\n");
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

impl Progress for JsonProgress {
    fn start(&mut self, total: u64, done: u64) {
        JsonProgress::emit(&report::progress_json(
            "start",
            serde_json::json!({ "planned": total, "durable": done }),
        ));
    }

    fn result(&mut self, result: &TaskResult) {
        JsonProgress::emit(&report::progress_json(
            "result",
            serde_json::json!({ "result": report::result_json(result) }),
        ));
    }

    fn finish(&mut self) {
        JsonProgress::emit(&report::progress_json("end", serde_json::json!({})));
    }
}

/// Loads `default` or a suite directory under `sandbox`'s limits.
fn load_suite(sandbox: &Sandbox, source: &SuiteSource) -> Result<LoadedSuite, Failure> {
    if source.suite == airlock_default_suite::SUITE_NAME {
        return LoadedSuite::embedded(sandbox).map_err(Failure::input);
    }
    let dir = Path::new(&source.suite);
    if !dir.is_dir() {
        return Err(Failure::input(format!(
            "{}: no such suite directory (the embedded suite is \"{}\")",
            source.suite,
            airlock_default_suite::SUITE_NAME
        )));
    }
    if source.unsigned_suite {
        return LoadedSuite::unsigned_dir(sandbox, dir).map_err(Failure::input);
    }
    if source.suite_trust.is_empty() {
        return Err(Failure::input(airlock::suite::SuiteError::Unsigned {
            path: dir.to_path_buf(),
        }));
    }
    let trusted = load_trusted(&source.suite_trust)?;
    // For `run` and `list` a refused suite is bad input (exit 2); only
    // `suite verify` reports it as a failed verification.
    LoadedSuite::signed_dir(sandbox, dir, &trusted).map_err(Failure::input)
}

/// Exit 1 for a suite that fails verification (signature, digests), 2 for
/// unreadable input.
fn suite_failure(error: SuiteError) -> Failure {
    use airlock_attest::AttestError;
    let code = match &error {
        SuiteError::Manifest(
            AttestError::BadManifest { .. }
            | AttestError::UntrustedManifest { .. }
            | AttestError::ManifestSignature { .. },
        )
        | SuiteError::DigestMismatch { .. }
        | SuiteError::InfoMismatch { .. }
        | SuiteError::Unlisted { .. } => EXIT_UNVERIFIED,
        _ => EXIT_INPUT,
    };
    Failure {
        code,
        message: error.to_string(),
    }
}

/// Loads a profile that runs tasks; a verification-only profile is refused.
fn task_profile(name: &str) -> Result<profile::HardwareProfile, Failure> {
    let loaded = profile::load(name).map_err(Failure::input)?;
    if !loaded.profile.runs_tasks() {
        return Err(Failure::input(format!(
            "profile \"{}\" has no sandboxes (cores = 0): it is for verification only",
            loaded.profile.name
        )));
    }
    Ok(loaded.profile)
}

fn sandbox_for(profile_name: &str) -> Result<Sandbox, Failure> {
    let profile = task_profile(profile_name)?;
    Sandbox::new(SandboxLimits::from_profile(&profile)).map_err(Failure::input)
}

/// The module bytes of `default` or a suite directory, checked as `load_suite` checks them.
fn suite_modules(source: &SuiteSource) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    if source.suite == airlock_default_suite::SUITE_NAME {
        return Ok(airlock_default_suite::modules()
            .iter()
            .map(|m| (format!("embedded module {}", m.file_name), m.bytes.to_vec()))
            .collect());
    }
    // Loading under the largest embedded limits proves the directory's
    // signature and digests; the check itself then measures each module.
    let sandbox = sandbox_for("enclave-workstation")?;
    load_suite(&sandbox, source)?;
    let dir = Path::new(&source.suite);
    let files = airlock::suite::wasm_files(dir).map_err(Failure::input)?;
    files
        .into_iter()
        .map(|path| {
            std::fs::read(&path)
                .map(|bytes| (path.display().to_string(), bytes))
                .map_err(|e| Failure::input(format!("{}: {e}", path.display())))
        })
        .collect()
}

fn profile_command(command: ProfileCommand) -> Result<(), Failure> {
    match command {
        ProfileCommand::List { json } => {
            let mut profiles = Vec::new();
            for (name, _) in profile::embedded() {
                profiles.push(profile::load(name).map_err(Failure::input)?.profile);
            }
            if json {
                let list: Vec<serde_json::Value> =
                    profiles.iter().map(report::profile_json).collect();
                outln!("{}", serde_json::Value::Array(list));
            } else {
                for p in &profiles {
                    outln!(
                        "{:<20} {:>3} sandboxes  {:>5} MiB each  {:>14} fuel  {}",
                        p.name,
                        p.parallel_sandboxes(),
                        p.memory_per_sandbox_mib,
                        p.fuel_per_task,
                        p.description
                    );
                }
            }
            Ok(())
        }
        ProfileCommand::Show { profile, json } => {
            let loaded = profile::load(&profile).map_err(Failure::input)?;
            let value = report::profile_json(&loaded.profile);
            if json {
                outln!("{value}");
            } else {
                outln!("{} ({})", loaded.profile.name, loaded.source);
                if let Some(fields) = value.as_object() {
                    for (field, v) in fields {
                        outln!("  {field:<30} {v}");
                    }
                }
            }
            Ok(())
        }
        ProfileCommand::Check {
            profile,
            source,
            seeds,
            json,
        } => {
            let profile = task_profile(&profile)?;
            let modules = suite_modules(&source)?;
            let fits = airlock::check::check(&profile, &modules, seeds)
                .map_err(|(origin, e)| Failure::input(format!("{origin}: {e}")))?;
            if json {
                outln!("{}", report::check_json(&profile, &fits));
            } else {
                out!("{}", report::check_table(&profile, &fits));
            }
            if fits.iter().all(|f| f.fits()) {
                Ok(())
            } else {
                Err(Failure {
                    code: EXIT_UNVERIFIED,
                    message: format!(
                        "{} of {} tasks do not fit profile \"{}\"",
                        fits.iter().filter(|f| !f.fits()).count(),
                        fits.len(),
                        profile.name
                    ),
                })
            }
        }
        ProfileCommand::Calibrate {
            profile,
            source,
            seeds,
            json,
        } => {
            let profile = task_profile(&profile)?;
            let sandbox =
                Sandbox::new(SandboxLimits::from_profile(&profile)).map_err(Failure::input)?;
            let suite = load_suite(&sandbox, &source)?;
            let calibration = airlock::check::calibrate(
                &sandbox,
                &suite.tasks,
                seeds,
                core::time::Duration::from_secs(1),
            );
            let parallel = profile.parallel_sandboxes();
            if json {
                outln!(
                    "{}",
                    serde_json::json!({
                        "format": "airlock-calibration/1",
                        "profile": profile.name,
                        "suite": suite.name,
                        "tasks": calibration.tasks,
                        "fuel_measured": calibration.fuel,
                        "wall_time_us": calibration.wall.as_micros() as u64,
                        "fuel_per_second": calibration.fuel_per_second(),
                        "parallel_sandboxes": parallel,
                        "predicted_run_us": calibration.predicted_run(parallel).as_micros() as u64,
                        "predicted_worst_case_us": calibration
                            .predicted_worst(profile.fuel_per_task, parallel)
                            .as_micros() as u64,
                    })
                );
            } else {
                outln!(
                    "this host: {} fuel/s ({} fuel in {:.3} s of sandbox time, {} tasks)",
                    calibration.fuel_per_second(),
                    calibration.fuel,
                    calibration.wall.as_secs_f64(),
                    calibration.tasks
                );
                outln!(
                    "predicted full run of suite \"{}\" under profile \"{}\" ({parallel} sandboxes): {:.4} s of sandbox time (reference behaviour), at most {:.1} s if every task used its whole fuel budget; model time not included",
                    suite.name,
                    profile.name,
                    calibration.predicted_run(parallel).as_secs_f64(),
                    calibration
                        .predicted_worst(profile.fuel_per_task, parallel)
                        .as_secs_f64()
                );
            }
            Ok(())
        }
    }
}

fn suite_command(command: SuiteCommand) -> Result<(), Failure> {
    match command {
        SuiteCommand::List {
            source,
            profile,
            json,
        } => {
            let sandbox = sandbox_for(&profile)?;
            let suite = load_suite(&sandbox, &source)?;
            if json {
                let tasks: Vec<serde_json::Value> =
                    suite.tasks.iter().map(report::task_json).collect();
                outln!("{}", serde_json::Value::Array(tasks));
            } else {
                out!("{}", report::suite_table(&suite));
            }
            Ok(())
        }
        SuiteCommand::Build {
            dir,
            key,
            name,
            profile,
            force,
        } => {
            let sandbox = sandbox_for(&profile)?;
            let authority = SigningKey::load(&key).map_err(Failure::input)?;
            let overwrite = if force {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            };
            let (suite, _) = airlock::suite::build_manifest(
                &sandbox,
                &dir,
                name.as_deref(),
                &authority,
                overwrite,
            )
            .map_err(|e| match e {
                SuiteError::Manifest(e) => exists_hint(e),
                other => Failure::input(other),
            })?;
            out!("{}", report::suite_table(&suite));
            outln!(
                "signed {} with suite authority key {}",
                dir.join(airlock_attest::MANIFEST_FILE_NAME).display(),
                authority.key_id()
            );
            Ok(())
        }
        SuiteCommand::Verify {
            dir,
            trust,
            profile,
        } => {
            let sandbox = sandbox_for(&profile)?;
            let trusted = load_trusted(&trust)?;
            let suite = LoadedSuite::signed_dir(&sandbox, &dir, &trusted).map_err(suite_failure)?;
            out!("{}", report::suite_table(&suite));
            outln!("suite verified: manifest signature and every module digest match");
            Ok(())
        }
        SuiteCommand::Export {
            suite,
            out,
            key,
            unsigned: _,
            force,
        } => {
            if suite != airlock_default_suite::SUITE_NAME {
                return Err(Failure::input(format!(
                    "no embedded suite \"{suite}\" (embedded: {})",
                    airlock_default_suite::SUITE_NAME
                )));
            }
            let authority = key
                .map(|k| SigningKey::load(&k).map_err(Failure::input))
                .transpose()?;
            let sandbox = sandbox_for("default")?;
            let overwrite = if force {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            };
            let written =
                airlock::suite::export_embedded(&sandbox, &out, authority.as_ref(), overwrite)
                    .map_err(|e| match e {
                        SuiteError::Write(e) => exists_hint(e),
                        other => Failure::input(other),
                    })?;
            for path in &written {
                outln!("{}", path.display());
            }
            Ok(())
        }
    }
}

fn run_command(args: &RunArgs) -> Result<(), Failure> {
    run::prefetch_executable_digest();
    let profile = task_profile(&args.profile)?;
    let sandbox = Sandbox::with_backend(SandboxLimits::from_profile(&profile), args.backend)
        .map_err(Failure::input)?;
    let suite = load_suite(&sandbox, &args.source)?;
    let key = SigningKey::load(&args.key).map_err(Failure::input)?;
    if suite.trust == airlock_core::record::SuiteTrust::Signed(key.key_id()) {
        return Err(Failure::input(SuiteError::SameKey));
    }
    let mut agent_options = AgentOptions::for_profile(&profile);
    agent_options.args = args.agent_args.clone();
    agent_options.model = args.model.clone();
    agent_options.temperature = args.temperature;
    agent_options.model_seed = args.model_seed;
    agent_options.max_tokens = args.max_tokens;
    agent_options.retries = args.retries;
    agent_options.backoff = core::time::Duration::from_millis(args.retry_backoff_ms);
    let agent = args.agent.build(&agent_options).map_err(Failure::input)?;
    let parts = RunParts {
        sandbox: &sandbox,
        suite: &suite,
        profile: &profile,
        agent: agent.as_ref(),
        key: &key,
    };
    let options = RunOptions {
        out: args.out.clone(),
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
        station: args
            .station
            .clone()
            .unwrap_or_else(|| Station::path_for_key(&args.key)),
        transcript_key: args
            .transcript_key
            .clone()
            .unwrap_or_else(|| TranscriptKey::path_for_key(&args.key)),
        sandboxes: args.sandboxes,
    };
    let mut progress: Box<dyn Progress> = if args.json {
        Box::new(JsonProgress)
    } else {
        Box::new(Bar::new())
    };
    let report = run::execute(&parts, &options, progress.as_mut()).map_err(Failure::input)?;
    let peak_rss = run::peak_resident_bytes();
    tracing::info!(
        sandboxes = report.sandboxes,
        peak_rss_mib = peak_rss.map(|b| b / (1024 * 1024)),
        total_memory_mib = profile.total_memory_mib,
        "run finished"
    );
    if args.json {
        let mut value = report::run_json(
            &report.bundle.display().to_string(),
            &report.run_start,
            &report.results,
            &report.run_end,
        );
        // How this invocation ran, not what the bundle says: neither is signed.
        value["sandboxes"] = report.sandboxes.into();
        value["peak_rss_bytes"] = peak_rss.into();
        outln!("{value}");
    } else {
        out!(
            "{}",
            report::results_table(
                &format!(
                    "run {} ({} agent, suite {}, profile {}) → {}",
                    report::to_hex(&report.run_start.run_id),
                    report.run_start.model.agent,
                    report.run_start.suite.name,
                    report.run_start.profile.name,
                    report.bundle.display()
                ),
                &report.results,
                &report.run_end
            )
        );
    }
    Ok(())
}

fn load_trusted(paths: &[PathBuf]) -> Result<Vec<PublicKey>, Failure> {
    paths
        .iter()
        .map(|p| PublicKey::load(p).map_err(Failure::input))
        .collect()
}

/// What `verify --replay` re-executes from, with which modules and profiles.
fn replay_request(args: &VerifyArgs) -> Result<airlock::verifier::ReplayRequest, Failure> {
    use airlock::verifier::{ReplayRequest, TranscriptSource};
    let [bundle] = args.bundles.as_slice() else {
        return Err(Failure::input("--replay checks one bundle at a time"));
    };
    let source = match &args.transcript_key {
        Some(key) => TranscriptSource::Sealed {
            store: args
                .transcripts
                .clone()
                .unwrap_or_else(|| run::transcripts_path(bundle)),
            key: Box::new(TranscriptKey::load(key).map_err(Failure::input)?),
            secret: disclosure::read_secret(
                &args
                    .run_secret
                    .clone()
                    .unwrap_or_else(|| run::secret_path(bundle)),
            )
            .map_err(Failure::input)?,
        },
        None if !args.disclosed.is_empty() => TranscriptSource::Disclosed,
        None => {
            return Err(Failure::input(
                "--replay needs transcripts: --transcript-key KEY for the run's sealed store \
                 (inside the enclave), or --disclosed FILE",
            ));
        }
    };
    // Planned modules are found by digest, which the signed record fixes,
    // so the embedded suite and a suite directory's files can simply be
    // offered side by side.
    let mut modules: Vec<Vec<u8>> = airlock_default_suite::modules()
        .iter()
        .map(|m| m.bytes.to_vec())
        .collect();
    if let Some(dir) = args
        .suite
        .as_deref()
        .filter(|s| *s != airlock_default_suite::SUITE_NAME)
    {
        modules.extend(wasm_files(Path::new(dir))?);
    }
    let mut profiles = Vec::new();
    for (name, _) in profile::embedded() {
        profiles.push(profile::load(name).map_err(Failure::input)?.profile);
    }
    if let Some(path) = &args.profile {
        profiles.push(profile::load_file(path).map_err(Failure::input)?.profile);
    }
    Ok(ReplayRequest {
        source,
        backend: args.backend.unwrap_or_default(),
        modules,
        profiles,
    })
}

/// The bytes of every `*.wasm` file in `dir`.
fn wasm_files(dir: &Path) -> Result<Vec<Vec<u8>>, Failure> {
    let unreadable = |e: std::io::Error| Failure::input(format!("{}: {e}", dir.display()));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            out.push(
                std::fs::read(&path)
                    .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?,
            );
        }
    }
    Ok(out)
}

fn verify_command(args: &VerifyArgs) -> Result<(), Failure> {
    use airlock::verifier::{self, TrustedSuite, VerifyRequest};
    let trusted = load_trusted(&args.trust)?;
    let suite = match &args.suite {
        None => None,
        Some(name) if name == airlock_default_suite::SUITE_NAME => {
            let sandbox = sandbox_for("default")?;
            let suite = LoadedSuite::embedded(&sandbox).map_err(Failure::input)?;
            let file_names: Vec<String> = airlock_default_suite::modules()
                .iter()
                .map(|m| m.file_name.to_owned())
                .collect();
            Some(TrustedSuite::Verified {
                manifest: suite.manifest(&file_names),
                source: airlock_attest::suite_check::SuiteSource::Embedded,
            })
        }
        Some(dir) => {
            let dir = Path::new(dir);
            if !dir.is_dir() {
                return Err(Failure::input(format!(
                    "{}: no such suite directory (the embedded suite is \"{}\")",
                    dir.display(),
                    airlock_default_suite::SUITE_NAME
                )));
            }
            if args.suite_trust.is_empty() {
                return Err(Failure::input(format!(
                    "{}: checking the suite level against a directory needs --suite-trust AUTHORITY.pub",
                    dir.display()
                )));
            }
            let authorities = load_trusted(&args.suite_trust)?;
            Some(verifier::trusted_suite_dir(dir, &authorities).map_err(Failure::input)?)
        }
    };
    // A disclosure file that cannot be read at all is an input error, as a
    // missing bundle is; one that reads but does not check out fails the
    // disclosed level.
    for path in &args.disclosed {
        if let Err(e @ DisclosureError::Io { .. }) = disclosure::Disclosure::read(path) {
            return Err(Failure::input(e));
        }
    }
    let replay = if args.replay {
        Some(replay_request(args)?)
    } else {
        None
    };
    let request = VerifyRequest {
        bundles: args.bundles.clone(),
        trusted,
        suite,
        options: VerifyOptions::default().threads(args.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |n| n as usize,
        )),
        disclosed: args.disclosed.clone(),
        replay,
    };
    let outcome = verifier::verify_all(&request).map_err(Failure::input)?;
    if args.json {
        let text = verifier::json(&outcome)
            .map(|v| v.to_string())
            .map_err(|e| Failure::input(format!("could not encode the verdict: {e}")))?;
        outln!("{text}");
    } else {
        out!("{}", verifier::human(&outcome));
    }
    if outcome.verified() {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_UNVERIFIED,
            message: verifier::failure_message(&outcome),
        })
    }
}

fn disclose_command(
    bundle: &Path,
    task: &str,
    epoch: Option<u32>,
    key: &Path,
    transcript_key: Option<&Path>,
    out: &Path,
    force: bool,
) -> Result<(), Failure> {
    let signing = SigningKey::load(key).map_err(Failure::input)?;
    let evaluator = signing.public_key();
    let transcript_key =
        transcript_key.map_or_else(|| TranscriptKey::path_for_key(key), Path::to_path_buf);
    let sources = DiscloseSources {
        bundle,
        evaluator: &evaluator,
        transcript_key: &transcript_key,
        secret: &run::secret_path(bundle),
        store: &run::transcripts_path(bundle),
    };
    let disclosed = disclosure::disclose(&sources, task, epoch).map_err(|error| {
        // Damage and mismatches are integrity failures (exit 1); missing or
        // unreadable inputs are input errors (exit 2).
        let code = match &error {
            DisclosureError::Mismatch { .. }
            | DisclosureError::Store(
                StoreError::Decrypt { .. }
                | StoreError::Corrupt { .. }
                | StoreError::Mismatch { .. },
            ) => EXIT_UNVERIFIED,
            DisclosureError::Unverified { .. } => EXIT_UNVERIFIED,
            _ => EXIT_INPUT,
        };
        Failure {
            code,
            message: error.to_string(),
        }
    })?;
    write_new_file(out, disclosed.to_json().as_bytes(), force)?;
    eprintln!(
        "disclosed {} epoch {} (plan entry {}, {} turns) to {}",
        disclosed.task_id,
        disclosed.epoch,
        disclosed.plan_index,
        disclosed.transcript.turns.len(),
        out.display()
    );
    Ok(())
}

/// Writes `bytes` to `path` atomically (mode 0600), refusing to replace a
/// file unless `force`.
fn write_new_file(path: &Path, bytes: &[u8], force: bool) -> Result<(), Failure> {
    let overwrite = if force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    airlock_attest::write_file_atomically(path, bytes, 0o600, overwrite).map_err(exists_hint)
}

/// An error as a usage failure, telling how to replace a file that exists
/// when the command has `--force`.
fn exists_hint(error: airlock_attest::AttestError) -> Failure {
    match error {
        airlock_attest::AttestError::AlreadyExists { path } => Failure::input(format!(
            "{}: already exists; choose another path or pass --force to replace it",
            path.display()
        )),
        other => Failure::input(other),
    }
}

fn export_command(args: &ExportArgs) -> Result<(), Failure> {
    use airlock_attest::dsse::{ExportError, export_dsse};
    let key = SigningKey::load(&args.key).map_err(Failure::input)?;
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    match export_dsse(&args.bundle, &key, &args.dsse, overwrite) {
        Ok(exported) => {
            outln!("{}", exported.envelopes.display());
            outln!("{}", exported.signer.display());
            eprintln!(
                "exported {} results as DSSE envelopes signed by key {}",
                exported.count,
                key.key_id()
            );
            Ok(())
        }
        Err(e @ (ExportError::Unverified(_) | ExportError::Changed)) => Err(Failure {
            code: EXIT_UNVERIFIED,
            message: format!("{}: {e}", args.bundle.display()),
        }),
        Err(e @ ExportError::WrongKey { .. }) => {
            Err(Failure::input(format!("{}: {e}", args.bundle.display())))
        }
        // These name their own file.
        Err(e) => Err(Failure::input(e)),
    }
}

fn demo(seed: Option<[u8; 32]>) -> Result<(), Failure> {
    let dir = tempfile::tempdir()
        .map_err(|e| Failure::input(format!("could not make a temporary directory: {e}")))?;
    let key_dir = dir.path().join("keys");
    let generated = airlock_attest::keygen(&key_dir, "demo").map_err(Failure::input)?;
    let loaded = profile::load("default").map_err(Failure::input)?;
    let sandbox =
        Sandbox::new(SandboxLimits::from_profile(&loaded.profile)).map_err(Failure::input)?;
    let suite = LoadedSuite::embedded(&sandbox).map_err(Failure::input)?;
    let key = SigningKey::load(&generated.private_path).map_err(Failure::input)?;
    outln!(
        "Airlock demo: suite \"{}\" ({} tasks, digest {}), profile \"{}\", throwaway key {}",
        suite.name,
        suite.tasks.len(),
        suite.digest,
        loaded.profile.name,
        generated.key_id
    );
    let mut all_verified = true;
    for spec in [
        AgentSpec::Reference {
            delay: core::time::Duration::ZERO,
        },
        AgentSpec::Null,
    ] {
        let agent = spec
            .build(&AgentOptions::for_profile(&loaded.profile))
            .map_err(Failure::input)?;
        let name = agent.descriptor().agent;
        let parts = RunParts {
            sandbox: &sandbox,
            suite: &suite,
            profile: &loaded.profile,
            agent: agent.as_ref(),
            key: &key,
        };
        let options = RunOptions {
            out: dir.path().join(format!("{name}.bundle")),
            seed,
            start: StartMode::Fresh,
            overwrite: Overwrite::Refuse,
            epochs: 1,
            station: Station::path_for_key(&generated.private_path),
            transcript_key: TranscriptKey::path_for_key(&generated.private_path),
            sandboxes: None,
        };
        let report = run::execute(&parts, &options, &mut Bar::new()).map_err(Failure::input)?;
        let size = std::fs::metadata(&report.bundle).map_or(0, |m| m.len());
        outln!();
        out!(
            "{}",
            report::results_table(
                &format!(
                    "{name} agent — run {}, bundle {size} bytes",
                    report::to_hex(&report.run_start.run_id)
                ),
                &report.results,
                &report.run_end
            )
        );
        let verdict = airlock_attest::verify_bundle_file(
            &report.bundle,
            &[generated.public_key],
            VerifyOptions::default(),
        )
        .map_err(Failure::input)?;
        let levels: Vec<String> = verdict
            .levels
            .iter()
            .map(|l| format!("{} {}", l.level, l.status.name()))
            .collect();
        outln!("  verify: {}", levels.join(", "));
        all_verified &= verdict.verified();
    }
    if all_verified {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_UNVERIFIED,
            message: "a demo bundle did not verify".into(),
        })
    }
}

/// Where a report's task categories come from, read from the suite's modules.
fn report_categories(
    source: &SuiteSource,
    profile: Option<&profile::LoadedProfile>,
) -> Result<report::model::Categories, Failure> {
    if source.suite == airlock_default_suite::SUITE_NAME {
        return Ok(report::model::Categories::embedded());
    }
    let limits = match profile {
        Some(loaded) => SandboxLimits::from_profile(&loaded.profile),
        None => {
            let loaded = profile::load("default").map_err(Failure::input)?;
            SandboxLimits::from_profile(&loaded.profile)
        }
    };
    let sandbox = Sandbox::new(limits).map_err(Failure::input)?;
    let suite = load_suite(&sandbox, source)?;
    let from = format!(
        "suite directory {} ({})",
        source.suite,
        report::text::trust_text(&suite.trust)
    );
    Ok(report::model::Categories::from_suite(&suite, from))
}

fn report_command(args: &ReportArgs) -> Result<(), Failure> {
    let trusted = load_trusted(&args.trust)?;
    let given_profile = args
        .profile
        .as_deref()
        .map(profile::load_file)
        .transpose()
        .map_err(Failure::input)?;
    let categories = report_categories(&args.source, given_profile.as_ref())?;
    let mut reports = Vec::new();
    for bundle in &args.bundles {
        let verdict = airlock_attest::verify_bundle_file(
            bundle,
            &trusted,
            VerifyOptions::default().collect_records(true),
        )
        .map_err(Failure::input)?;
        reports.push(report::model::RunReport::build(
            bundle.display().to_string(),
            verdict,
            &categories,
            given_profile.as_ref(),
        ));
    }
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            use std::io::IsTerminal as _;
            args.out.is_none()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
    let style = report::text::Style { color };
    let (rendered, verified, reasons) = match (reports.pop(), reports.pop()) {
        (Some(b), Some(a)) => {
            let cmp = report::compare::Comparison::new(a, b);
            let rendered = match args.format {
                ReportFormat::Table => report::compare::render_text(&cmp, style),
                ReportFormat::Json => format!("{}\n", report::compare::render_json(&cmp)),
                ReportFormat::Html => report::html::render_comparison(&cmp),
            };
            (rendered, cmp.verified(), cmp.unverified_reasons())
        }
        (Some(one), None) => {
            let rendered = match args.format {
                ReportFormat::Table => report::text::render(&one, style),
                ReportFormat::Json => format!("{}\n", report::json::render(&one)),
                ReportFormat::Html => report::html::render(&one),
            };
            let reasons = one
                .unverified_reason()
                .map(|why| format!("{}: {why}", one.source))
                .into_iter()
                .collect();
            (rendered, one.verified(), reasons)
        }
        _ => return Err(Failure::input("no bundle to report on")),
    };
    match &args.out {
        Some(path) => {
            report::output::write_atomically(path, rendered.as_bytes(), args.force)
                .map_err(Failure::input)?;
            eprintln!(
                "wrote {} ({})",
                path.display(),
                if verified {
                    "verified"
                } else {
                    "marked UNVERIFIED"
                }
            );
        }
        None => print!("{rendered}"),
    }
    if verified {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_UNVERIFIED,
            message: format!(
                "UNVERIFIED: {}; the report is marked as unverified",
                report::text::clean(&reasons.join("; "))
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
