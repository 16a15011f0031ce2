//! `airlock witness`: cosign a station log's checkpoint after checking it
//! is consistent with the last one this witness cosigned (SPEC.md,
//! "Witness").

use std::path::PathBuf;

use airlock_attest::station_log;
use airlock_attest::witness::WitnessState;
use airlock_attest::{PublicKey, SigningKey};
use airlock_tlog::note::{self, VerifierKey};

use super::log::{LOG_FILE_LIMIT, OutArgs, deliver};
use super::output::Failure;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum WitnessCommand {
    /// Check an add-checkpoint request (`airlock log consistency`) against
    /// the log's key and the checkpoint this witness holds, record the new
    /// one, and print (or write) it with this witness's cosignature.
    /// A checkpoint inconsistent with the held one is refused (exit 1).
    Cosign(CosignArgs),
    /// Print a witness's vkey (cosignature/v1), for the `witness` line of a
    /// tlog-policy.
    Vkey(WitnessVkeyArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct CosignArgs {
    /// The add-checkpoint request file.
    request: PathBuf,
    /// The witness's private key (an `airlock keygen` key).
    #[arg(long)]
    key: PathBuf,
    /// The witness's name, its cosignature's key name (a schema-less URL,
    /// e.g. `witness.example/w1`).
    #[arg(long)]
    name: String,
    /// The station's evaluator public key: the log whose checkpoints this
    /// witness cosigns.
    #[arg(long)]
    log_key: PathBuf,
    /// The witness's state file: the last checkpoint cosigned per log
    /// (created when missing).
    #[arg(long)]
    state: PathBuf,
    /// The cosignature's time, in seconds since the epoch (default: now).
    #[arg(long)]
    time: Option<u64>,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct WitnessVkeyArgs {
    /// The witness's public key (SPKI PEM).
    #[arg(long)]
    public: PathBuf,
    /// The witness's name.
    #[arg(long)]
    name: String,
}

pub(crate) fn execute(command: WitnessCommand) -> Result<(), Failure> {
    match command {
        WitnessCommand::Cosign(args) => cosign(&args),
        WitnessCommand::Vkey(args) => {
            let public = PublicKey::load(&args.public).map_err(Failure::from)?;
            let vkey = VerifierKey::new(&args.name, note::ALG_COSIGNATURE_V1, &public.0)
                .map_err(|e| Failure::input(format!("--name {}: {e}", args.name)))?;
            super::output::emit(format_args!("{vkey}\n"));
            Ok(())
        }
    }
}

fn cosign(args: &CosignArgs) -> Result<(), Failure> {
    let key = SigningKey::load(&args.key).map_err(Failure::from)?;
    let log_key = PublicKey::load(&args.log_key).map_err(Failure::from)?;
    let log = station_log::log_vkey(&log_key).map_err(Failure::from)?;
    let bytes =
        airlock_attest::read_regular(&args.request, LOG_FILE_LIMIT).map_err(Failure::from)?;
    let request = airlock_tlog::witness_request::AddCheckpoint::parse(&bytes)
        .map_err(|e| Failure::input(format!("{}: {e}", args.request.display())))?;
    let timestamp = match args.time {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| Failure::input("the system clock is before 1970"))?
            .as_secs(),
    };
    // Refused before the state moves on: a cosignature the witness
    // recorded but could not hand out would make it refuse the retry.
    if let (Some(out), false) = (&args.out.out, args.out.force)
        && std::fs::symlink_metadata(out).is_ok()
    {
        return Err(Failure::input(format!(
            "{}: already exists (give --force to replace it)",
            out.display()
        )));
    }
    let mut state = WitnessState::open(&args.state).map_err(Failure::from)?;
    let cosigned = state
        .cosign(&request, &log, &args.name, &key, timestamp)
        .map_err(|e| {
            let class = airlock_core::Classify::class(&e);
            Failure::of_class(class, format!("{}: {e}", args.request.display()))
        })?;
    deliver(&cosigned.to_bytes(), &args.out)
}
