//! `airlock export`.

use std::path::PathBuf;

use airlock_attest::{Overwrite, SigningKey};

use super::output::Failure;

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
    use airlock_core::Classify as _;
    let key = SigningKey::load(&args.key).map_err(Failure::from)?;
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
        // These name their own file.
        Err(e @ (ExportError::Attest(_) | ExportError::Exists(_))) => Err(Failure::from(e)),
        Err(e) => Err(Failure::of_class(
            e.class(),
            format!("{}: {e}", args.bundle.display()),
        )),
    }
}
