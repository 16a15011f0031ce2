//! `airlock log`: the station log's checkpoints, receipts and consistency
//! proofs (SPEC.md, "Station log").

use std::path::{Path, PathBuf};

use airlock_attest::station_log::{self, StationLog};
use airlock_attest::station_state::Station;
use airlock_attest::{Overwrite, PublicKey, SigningKey};
use airlock_tlog::note::{self, Note};

use super::output::{Failure, emit_rendered};

/// The largest checkpoint, receipt or request file read: a checkpoint with
/// every witness of a policy is a few kilobytes.
pub(crate) const LOG_FILE_LIMIT: u64 = 1 << 20;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum LogCommand {
    /// Print (or write) the station log's signed checkpoint (C2SP
    /// tlog-checkpoint, signed note): of the whole log, or of its first
    /// --size runs.
    Checkpoint(CheckpointArgs),
    /// Print (or write) a run's receipt (c2sp.org/tlog-proof@v1): its
    /// inclusion proof in a signed checkpoint, with the cosignatures of
    /// --cosigned copies of that checkpoint.
    Prove(ProveArgs),
    /// Print (or write) the consistency proof from --from runs to the
    /// checkpoint of --to runs, as the tlog-witness add-checkpoint request
    /// a witness that holds --from cosigns.
    Consistency(ConsistencyArgs),
    /// Print the vkey (C2SP signed-note verifier key) of a station's log,
    /// for the `log` line of a tlog-policy.
    Vkey(VkeyArgs),
}

/// The station whose log is read.
#[derive(clap::Args, Debug)]
pub(crate) struct StationArgs {
    /// The station's evaluator private key (checkpoints are signed with it).
    #[arg(long)]
    key: PathBuf,
    /// The station state file, when not KEY's `NAME.station`.
    #[arg(long)]
    station: Option<PathBuf>,
}

/// Where a command's file goes.
#[derive(clap::Args, Debug)]
pub(crate) struct OutArgs {
    /// Write to this file (atomically) instead of stdout.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Replace --out if it exists (a receipt made again with more
    /// cosignatures, say).
    #[arg(long, requires = "out")]
    pub(crate) force: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CheckpointArgs {
    #[command(flatten)]
    station: StationArgs,
    /// The checkpoint of the first SIZE runs (default: all).
    #[arg(long)]
    size: Option<u64>,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ProveArgs {
    #[command(flatten)]
    station: StationArgs,
    /// The run's station counter (RunStart's `run_counter`).
    #[arg(long)]
    run: u64,
    /// Prove the run in the checkpoint of the first SIZE runs (default: all).
    #[arg(long)]
    size: Option<u64>,
    /// A copy of the checkpoint cosigned by a witness (`airlock witness
    /// cosign`); its signature lines are added to the receipt's. May be
    /// given more than once.
    #[arg(long)]
    cosigned: Vec<PathBuf>,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ConsistencyArgs {
    #[command(flatten)]
    station: StationArgs,
    /// The older size (what the witness or verifier holds).
    #[arg(long)]
    from: u64,
    /// The newer size (default: all runs).
    #[arg(long)]
    to: Option<u64>,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct VkeyArgs {
    /// The station's evaluator public key (SPKI PEM).
    #[arg(long)]
    public: PathBuf,
}

pub(crate) fn execute(command: LogCommand) -> Result<(), Failure> {
    match command {
        LogCommand::Checkpoint(args) => {
            let (log, key) = open(&args.station)?;
            let note = log
                .checkpoint(args.size.unwrap_or(log.size()), &key)
                .map_err(Failure::from)?;
            deliver(&note.to_bytes(), &args.out)
        }
        LogCommand::Prove(args) => {
            let (log, key) = open(&args.station)?;
            let mut receipt = log
                .receipt(args.run, args.size, &key)
                .map_err(Failure::from)?;
            for path in &args.cosigned {
                let copy = read_note(path)?;
                add_cosignatures(&mut receipt.checkpoint, &copy, path)?;
            }
            deliver(&receipt.to_bytes(), &args.out)
        }
        LogCommand::Consistency(args) => {
            let (log, key) = open(&args.station)?;
            let request = log
                .consistency(args.from, args.to.unwrap_or(log.size()), &key)
                .map_err(Failure::from)?;
            deliver(&request.to_bytes(), &args.out)
        }
        LogCommand::Vkey(args) => {
            let public = PublicKey::load(&args.public).map_err(Failure::from)?;
            let vkey = station_log::log_vkey(&public).map_err(Failure::from)?;
            super::output::emit(format_args!("{vkey}\n"));
            Ok(())
        }
    }
}

fn open(args: &StationArgs) -> Result<(StationLog, SigningKey), Failure> {
    let key = SigningKey::load(&args.key).map_err(Failure::from)?;
    let path = args
        .station
        .clone()
        .unwrap_or_else(|| Station::path_for_key(&args.key));
    let log = StationLog::read(&path, key.key_id()).map_err(Failure::from)?;
    Ok((log, key))
}

/// Writes `bytes` to `--out` atomically, or to stdout as they are.
pub(crate) fn deliver(bytes: &[u8], out: &OutArgs) -> Result<(), Failure> {
    match &out.out {
        Some(path) => {
            let overwrite = if out.force {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            };
            station_log::write_atomically(path, bytes, overwrite).map_err(Failure::from)?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
        None => {
            // Notes are UTF-8 text by their format; made here, so valid.
            emit_rendered(&String::from_utf8_lossy(bytes));
            Ok(())
        }
    }
}

/// Reads a signed note file; a file that is not one is bad input, named.
pub(crate) fn read_note(path: &Path) -> Result<Note, Failure> {
    let bytes = airlock_attest::read_regular(path, LOG_FILE_LIMIT).map_err(Failure::from)?;
    note::parse(&bytes).map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

/// Adds `copy`'s signature lines that `note` lacks; `copy` must be the
/// same checkpoint.
fn add_cosignatures(note: &mut Note, copy: &Note, path: &Path) -> Result<(), Failure> {
    if copy.text != note.text {
        return Err(Failure::input(format!(
            "{}: not a copy of the receipt's checkpoint (its body differs)",
            path.display()
        )));
    }
    for signature in &copy.signatures {
        if !note.signatures.contains(signature) {
            note.signatures.push(signature.clone());
        }
    }
    Ok(())
}
