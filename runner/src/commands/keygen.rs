//! `airlock keygen`.

use std::path::{Path, PathBuf};

use super::output::Failure;

#[derive(clap::Args, Debug)]
pub(crate) struct KeygenArgs {
    /// Directory for the key files (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Base name of the key files.
    #[arg(long, default_value = "evaluator")]
    name: String,
}

pub(crate) fn execute(args: &KeygenArgs) -> Result<(), Failure> {
    keygen(&args.out, &args.name)
}

fn keygen(dir: &Path, name: &str) -> Result<(), Failure> {
    let key = airlock_attest::keygen(dir, name).map_err(Failure::from)?;
    outln!("{}", key.key_id);
    eprintln!(
        "wrote {} and {}",
        key.private_path.display(),
        key.public_path.display()
    );
    Ok(())
}
