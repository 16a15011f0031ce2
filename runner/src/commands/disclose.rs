//! `airlock disclose`.

use std::path::{Path, PathBuf};

use airlock::run;
use airlock_attest::disclosure::{self, DiscloseSources};
use airlock_attest::transcripts::TranscriptKey;
use airlock_attest::{Overwrite, SigningKey};
use airlock_core::Untrusted;

use super::exists_hint;
use super::output::Failure;

#[derive(clap::Args, Debug)]
pub(crate) struct DiscloseArgs {
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
}

pub(crate) fn execute(args: &DiscloseArgs) -> Result<(), Failure> {
    disclose_command(
        &args.bundle,
        &args.task,
        args.epoch,
        &args.key,
        args.transcript_key.as_deref(),
        &args.out,
        args.force,
    )
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
    let signing = SigningKey::load(key).map_err(Failure::from)?;
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
    let disclosed = disclosure::disclose(&sources, task, epoch).map_err(Failure::from)?;
    write_new_file(out, disclosed.to_json().as_bytes(), force)?;
    eprintln!(
        "disclosed {} epoch {} (plan entry {}, {} turns) to {}",
        Untrusted(&disclosed.task_id),
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
