//! `airlock`: run cyber-capability benchmark suites in wasmtime sandboxes and
//! verify the signed, hash-chained results offline.
//!
//! Exit codes: 0 — success (all tasks ran / verified); 1 — verification
//! failed; 2 — usage or input error (the message names the file and problem);
//! 3 — a run or shard stopped by a signal, resumable.
//!
//! Each command lives in a file of its own under `commands/`, its clap
//! arguments beside its handler so that the two change together; this file
//! only parses the command line, sets up logging and turns a command's
//! failure into its exit code.

use std::process::ExitCode;

use airlock_core::Untrusted;
use clap::{Parser, Subcommand};

mod commands;

use commands::output::EscapingStderr;
#[cfg(feature = "sandbox")]
use commands::{campaign, demo, disclose, run, station};
use commands::{
    export, keygen, log, profile, release, report, slurm, suite, verify, version, witness,
};

#[derive(Parser, Debug)]
#[command(
    name = "airlock",
    version,
    disable_version_flag = true,
    arg_required_else_help = true,
    about = "Run cyber-capability benchmarks in wasmtime sandboxes; sign, chain and verify the results offline.",
    after_help = "Exit codes: 0 success; 1 verification failed; 2 usage or input error; 3 run interrupted by a signal (run it again to resume)."
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Print the version; with --json, this build's identity: the
    /// executable digest exactly as RunStart records it, the wasmtime
    /// version and the engine settings digests (airlock-version/1).
    #[arg(short = 'V', long)]
    version: bool,
    /// With --version, print it as JSON.
    #[arg(long, requires = "version")]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make an Ed25519 key pair: DIR/NAME.key (private, mode 0600) and DIR/NAME.pub (SPKI PEM).
    Keygen(keygen::KeygenArgs),
    /// Run a suite against an agent and write a signed bundle.
    #[cfg(feature = "sandbox")]
    Run(Box<run::RunArgs>),
    /// Plan a campaign once (signed) and run it as shards, on a Slurm
    /// cluster or anywhere else that shares a directory.
    #[cfg(feature = "sandbox")]
    #[command(subcommand)]
    Campaign(campaign::CampaignCommand),
    /// The station's TPM: `enroll` binds it to the evaluator key, so that
    /// each run is quoted at RunStart and RunEnd.
    #[cfg(feature = "sandbox")]
    #[command(subcommand)]
    Station(station::StationCommand),
    /// Verify bundles: decode, signatures, chain, completeness, and the
    /// suite level with --suite; several bundles of one station are also
    /// checked as a chain (missing runs, duplicates, forks).
    Verify(Box<verify::VerifyArgs>),
    /// Export a verified bundle for tools written by others: with --dsse, one
    /// DSSE envelope (in-toto Statement v1) per result, signed with the
    /// evaluator key, and the public key as SPKI PEM.
    Export(export::ExportArgs),
    /// Inspect and export suites.
    #[command(subcommand)]
    Suite(suite::SuiteCommand),
    /// Decrypt one sealed transcript of a finished run (BUNDLE.transcripts) and
    /// write it with its opening (format airlock-disclosure/2).
    #[cfg(feature = "sandbox")]
    Disclose(disclose::DiscloseArgs),
    /// List, show, check suites against, and calibrate hardware profiles.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// Demonstrate the whole path with a throwaway key: run the embedded
    /// suite with the reference and null agents, verify both bundles, print scores.
    #[cfg(feature = "sandbox")]
    Demo(demo::DemoArgs),
    /// Verify a bundle and report on it: scores per category and task with
    /// intervals, outcomes, resource use, verification and run metadata.
    Report(report::ReportArgs),
    /// Run a campaign's shards as a Slurm job array (`submit`), and follow
    /// and resubmit them (`status`).
    #[command(subcommand)]
    Slurm(slurm::SlurmCommand),
    /// Sign a release directory from `cargo xtask dist` (`sign`) and check
    /// one against its signed manifest (`verify`).
    #[command(subcommand)]
    Release(release::ReleaseCommand),
    /// The station log: signed checkpoints, run receipts and consistency
    /// proofs (C2SP tlog formats), for verifiers and witnesses.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Cosign a station log's checkpoint after checking it extends the last
    /// one this witness cosigned; a fork is refused.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

fn main() -> ExitCode {
    let cli = match command_line() {
        Ok(cli) => cli,
        Err(failure) => return exit_with(failure),
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(|| EscapingStderr)
        .init();
    let result = match cli.command {
        _ if cli.version => version::execute(cli.json),
        None => Err(commands::output::Failure::input(
            "no command given; see airlock --help",
        )),
        Some(command) => dispatch(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => exit_with(failure),
    }
}

/// The parsed command line, a `run --config FILE` read as the flags it
/// stands for (clap exits 2 on a usage error itself).
fn command_line() -> Result<Cli, commands::output::Failure> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    #[cfg(feature = "sandbox")]
    let args = {
        use clap::CommandFactory as _;
        commands::run_config::expand(args, &Cli::command())?
    };
    Ok(Cli::parse_from(args))
}

/// Reports `failure` on stderr and gives its exit code.
fn exit_with(failure: commands::output::Failure) -> ExitCode {
    if !failure.message.is_empty() {
        // Messages name files and quote task ids, suite names and
        // server replies: one escaped line, whatever they hold.
        eprintln!("airlock: {}", Untrusted(&failure.message));
    }
    ExitCode::from(failure.code)
}

fn dispatch(command: Command) -> Result<(), commands::output::Failure> {
    match command {
        Command::Keygen(args) => keygen::execute(&args),
        #[cfg(feature = "sandbox")]
        Command::Run(args) => run::execute(&args),
        #[cfg(feature = "sandbox")]
        Command::Campaign(command) => campaign::execute(command),
        #[cfg(feature = "sandbox")]
        Command::Station(command) => station::execute(command),
        Command::Verify(args) => verify::execute(&args),
        Command::Export(args) => export::execute(&args),
        Command::Suite(command) => suite::execute(command),
        #[cfg(feature = "sandbox")]
        Command::Disclose(args) => disclose::execute(&args),
        Command::Profile(command) => profile::execute(command),
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => demo::execute(&args),
        Command::Report(args) => report::execute(&args),
        Command::Slurm(command) => slurm::execute(command),
        Command::Release(command) => release::execute(command),
        Command::Log(command) => log::execute(command),
        Command::Witness(command) => witness::execute(command),
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
