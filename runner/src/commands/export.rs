//! `airlock export`.

use std::path::PathBuf;

use airlock_attest::{Overwrite, SigningKey};

use super::output::{EXIT_UNVERIFIED, Failure};

#[derive(clap::Args, Debug)]
pub(crate) struct ExportArgs {
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

pub(crate) fn execute(args: &ExportArgs) -> Result<(), Failure> {
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
