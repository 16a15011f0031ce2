//! `airlock suite verify` in the verifier's build: the manifest's signature
//! and every module digest, checked without compiling a module, so the
//! task metadata printed is the manifest's, not read from the modules.

use std::path::PathBuf;

use airlock::profile;
use airlock_core::Untrusted;
use clap::Subcommand;

use super::load_trusted;
use super::output::Failure;

#[derive(Subcommand, Debug)]
pub(crate) enum SuiteCommand {
    /// Check a suite directory's manifest signature and every module digest.
    Verify {
        /// The suite directory.
        dir: PathBuf,
        /// Trusted suite authority public key; may be given more than once.
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
        /// Hardware profile whose largest module size bounds what is read.
        #[arg(long, default_value = "default")]
        profile: String,
    },
}

pub(crate) fn execute(command: SuiteCommand) -> Result<(), Failure> {
    let SuiteCommand::Verify {
        dir,
        trust,
        profile,
    } = command;
    let limit = profile::load(&profile)
        .map_err(Failure::from)?
        .profile
        .max_module_bytes;
    let trusted = load_trusted(&trust)?;
    let verified =
        airlock_attest::suite_check::verify_suite_files(&dir, &trusted, u64::from(limit))
            .map_err(Failure::from)?;
    let manifest = &verified.manifest;
    outln!(
        "suite {} ({} tasks, signed by suite authority key {})",
        Untrusted(&manifest.name),
        manifest.tasks.len(),
        verified.authority.key_id()
    );
    for task in &manifest.tasks {
        outln!(
            "  {:<16} v{:<3} {:<24} blake3 {}",
            Untrusted(&task.task_id),
            task.version,
            Untrusted(&task.file_name),
            task.module_digest
        );
    }
    outln!("suite verified: manifest signature and every module digest match");
    Ok(())
}
