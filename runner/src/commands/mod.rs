//! The `airlock` commands, one file each with its arguments and its
//! `execute`, and the loading helpers several of them share.

#[cfg(feature = "sandbox")]
use std::path::Path;
use std::path::PathBuf;

#[cfg(feature = "sandbox")]
use airlock::suite::LoadedSuite;
use airlock_attest::PublicKey;
#[cfg(feature = "sandbox")]
use airlock_sandbox::Sandbox;

#[macro_use]
pub(crate) mod output;

#[cfg(feature = "sandbox")]
pub(crate) mod campaign;
#[cfg(feature = "sandbox")]
pub(crate) mod demo;
#[cfg(feature = "sandbox")]
pub(crate) mod disclose;
pub(crate) mod export;
pub(crate) mod keygen;
pub(crate) mod log;
pub(crate) mod profile;
pub(crate) mod release;
pub(crate) mod report;
#[cfg(feature = "sandbox")]
pub(crate) mod run;
pub(crate) mod slurm;
#[cfg(feature = "sandbox")]
pub(crate) mod suite;
// Without the sandbox only `suite verify` is left, and it reads no task
// metadata from the modules.
#[cfg(not(feature = "sandbox"))]
#[path = "suite_verify.rs"]
pub(crate) mod suite;
pub(crate) mod verify;
pub(crate) mod version;
pub(crate) mod witness;

use output::Failure;

/// Which suite to use and how to trust it.
#[derive(clap::Args, Debug)]
pub(crate) struct SuiteArgs {
    /// `default` (the embedded suite) or a suite directory.
    #[arg(long, default_value = "default")]
    pub(crate) suite: String,
    /// Trusted suite authority public key for a suite directory; may be given more than once.
    #[arg(long)]
    pub(crate) suite_trust: Vec<PathBuf>,
    /// Allow a suite directory without a signed manifest (development only).
    #[arg(long, conflicts_with = "suite_trust")]
    pub(crate) unsigned_suite: bool,
}

#[cfg(feature = "sandbox")]
/// Loads `default` or a suite directory under `sandbox`'s limits.
///
/// For the commands that load a suite to use it (`run`, `suite list`,
/// `report`, `profile check`) a refused suite is bad input, exit 2, even a
/// digest or signature that does not match (an integrity error): only
/// `suite verify` reports a refused suite as a failed check.
pub(crate) fn load_suite(sandbox: &Sandbox, source: &SuiteArgs) -> Result<LoadedSuite, Failure> {
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
    LoadedSuite::signed_dir(sandbox, dir, &trusted).map_err(Failure::input)
}

#[cfg(feature = "sandbox")]
/// Loads a profile that runs tasks; a verification-only profile is refused.
pub(crate) fn task_profile(name: &str) -> Result<airlock::profile::HardwareProfile, Failure> {
    let loaded = airlock::profile::load(name).map_err(Failure::from)?;
    if !loaded.profile.runs_tasks() {
        return Err(Failure::input(format!(
            "profile \"{}\" has no sandboxes (cores = 0): it is for verification only",
            loaded.profile.name
        )));
    }
    Ok(loaded.profile)
}

#[cfg(feature = "sandbox")]
pub(crate) fn sandbox_for(profile_name: &str) -> Result<Sandbox, Failure> {
    let profile = task_profile(profile_name)?;
    Sandbox::new(profile.sandbox_limits()).map_err(Failure::from)
}

pub(crate) fn load_trusted(paths: &[PathBuf]) -> Result<Vec<PublicKey>, Failure> {
    paths
        .iter()
        .map(|p| PublicKey::load(p).map_err(Failure::from))
        .collect()
}

#[cfg(feature = "sandbox")]
/// A file error as a failure, telling how to replace a file that exists
/// when the command has `--force`.
pub(crate) fn exists_hint(error: airlock_attest::AttestError) -> Failure {
    match error {
        airlock_attest::AttestError::AlreadyExists { path } => Failure::input(format!(
            "{}: already exists; choose another path or pass --force to replace it",
            path.display()
        )),
        other => Failure::from(other),
    }
}

#[cfg(feature = "sandbox")]
/// A run's [`Interrupt`](airlock::run::Interrupt), set by the first SIGTERM
/// (what `scancel`, preemption and a requeue send) or SIGINT; a second one
/// ends the process at once with [`output::EXIT_INTERRUPTED`]. Either way
/// the journal keeps every result made durable, and the run resumes.
pub(crate) fn interrupt_on_signals() -> Result<airlock::run::Interrupt, Failure> {
    let interrupt = airlock::run::Interrupt::default();
    #[cfg(unix)]
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let flag = interrupt.flag();
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(output::EXIT_INTERRUPTED),
            std::sync::Arc::clone(&flag),
        )
        .and_then(|_| signal_hook::flag::register(signal, flag))
        .map_err(|e| Failure::input(format!("cannot handle signal {signal}: {e}")))?;
    }
    Ok(interrupt)
}

#[cfg(feature = "sandbox")]
pub(crate) fn parse_seed(text: &str) -> Result<[u8; 32], String> {
    airlock_core::Digest::from_hex(text)
        .map(|d| d.0)
        .ok_or_else(|| format!("a seed is 64 hexadecimal digits, not \"{text}\""))
}
