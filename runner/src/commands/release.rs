//! `airlock release`: sign a release directory (`sign`, with the sandbox)
//! and check one against its signed manifest (`verify`).

use std::path::PathBuf;

use airlock_attest::release::{self, RELEASE_FILE, ReleaseManifest};

use super::load_trusted;
use super::output::{EXIT_UNVERIFIED, Failure, emit_json};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum ReleaseCommand {
    /// Sign a release directory (from `cargo xtask dist`): hash every
    /// artifact its build-recipe.json lists and write DIR/release.intoto.json,
    /// a DSSE envelope of an in-toto Statement with SLSA provenance, signed
    /// with the release key. The runner facts (versions, engine settings
    /// of every embedded profile on both backends) are this binary's.
    #[cfg(feature = "sandbox")]
    Sign(SignArgs),
    /// Check that every artifact of a release directory is the one its
    /// signed manifest names (sha256 and blake3); exit 1 on a mismatch.
    Verify(ReleaseVerifyArgs),
}

#[cfg(feature = "sandbox")]
#[derive(clap::Args, Debug)]
pub(crate) struct SignArgs {
    /// The release directory.
    dir: PathBuf,
    /// Release private key (from `airlock keygen`).
    #[arg(long)]
    key: PathBuf,
    /// A profile file whose engine settings the release also lists (the
    /// embedded profiles always are); may be given more than once.
    #[arg(long)]
    profile: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ReleaseVerifyArgs {
    /// The release directory.
    dir: PathBuf,
    /// The manifest, when not DIR/release.intoto.json.
    #[arg(long)]
    release: Option<PathBuf>,
    /// Trusted release public key; may be given more than once.
    #[arg(long, required = true)]
    release_trust: Vec<PathBuf>,
    /// Print the result as JSON (airlock-release-check/1).
    #[arg(long)]
    json: bool,
}

pub(crate) fn execute(command: ReleaseCommand) -> Result<(), Failure> {
    match command {
        #[cfg(feature = "sandbox")]
        ReleaseCommand::Sign(args) => sign(&args),
        ReleaseCommand::Verify(args) => verify(&args),
    }
}

#[cfg(feature = "sandbox")]
fn sign(args: &SignArgs) -> Result<(), Failure> {
    let key = airlock_attest::SigningKey::load(&args.key).map_err(Failure::from)?;
    let facts = runner_facts(&args.profile)?;
    let path = release::sign_release(&args.dir, &key, &facts).map_err(Failure::from)?;
    outln!(
        "{}: signed by release key {} ({} engine settings)",
        path.display(),
        key.key_id(),
        facts.engine_settings.len()
    );
    Ok(())
}

/// What this binary records in RunStart: its versions and the engine
/// settings of every embedded profile that runs tasks (and of each
/// `extra` profile), on both backends.
#[cfg(feature = "sandbox")]
pub(crate) fn runner_facts(extra: &[String]) -> Result<release::RunnerFacts, Failure> {
    use airlock_sandbox::{Backend, Sandbox};
    let mut profiles = Vec::new();
    for (name, _) in airlock::profile::embedded() {
        profiles.push(airlock::profile::load(name).map_err(Failure::from)?);
    }
    for path in extra {
        profiles.push(airlock::profile::load(path).map_err(Failure::from)?);
    }
    let mut engine_settings = Vec::new();
    for loaded in &profiles {
        let profile = &loaded.profile;
        if !profile.runs_tasks() {
            continue;
        }
        for backend in [Backend::Cranelift, Backend::Pulley] {
            let sandbox = Sandbox::with_backend(profile.sandbox_limits(), backend)
                .map_err(|e| Failure::input(format!("profile {}: {e}", profile.name)))?;
            let digest = sandbox.settings_digest();
            if !engine_settings
                .iter()
                .any(|e: &release::EngineSetting| e.digest == digest)
            {
                engine_settings.push(release::EngineSetting {
                    profile: profile.name.clone(),
                    backend: backend.name().to_owned(),
                    digest,
                });
            }
        }
    }
    Ok(release::RunnerFacts {
        airlock_version: env!("CARGO_PKG_VERSION").to_owned(),
        wasmtime_version: airlock_sandbox::WASMTIME_VERSION.to_owned(),
        engine_settings,
    })
}

/// Reads the manifest at `path` under the keys at `trust`. A manifest that
/// is read but does not verify is an integrity failure (exit 1); one that
/// cannot be read is bad input (exit 2).
pub(crate) fn read_manifest(
    path: &std::path::Path,
    trust: &[PathBuf],
) -> Result<Result<ReleaseManifest, release::ReleaseError>, Failure> {
    let trusted = load_trusted(trust)?;
    match release::read_release(path, &trusted) {
        Err(e @ release::ReleaseError::Io(_)) => Err(Failure::from(e)),
        other => Ok(other),
    }
}

fn verify(args: &ReleaseVerifyArgs) -> Result<(), Failure> {
    let path = args
        .release
        .clone()
        .unwrap_or_else(|| args.dir.join(RELEASE_FILE));
    let manifest = read_manifest(&path, &args.release_trust)?.map_err(Failure::from)?;
    let mut rows = Vec::new();
    let mut mismatches = Vec::new();
    for artifact in &manifest.artifacts {
        let file = args.dir.join(&artifact.name);
        let status = match release::hash_file(&file, &artifact.name) {
            Ok(found) if found == *artifact => "ok".to_owned(),
            Ok(found) => format!(
                "differs: sha256 {} is not the manifest's {}",
                release::sha256_hex(&found),
                release::sha256_hex(artifact)
            ),
            Err(e) => format!("unreadable: {e}"),
        };
        if status != "ok" {
            mismatches.push(format!("{}: {status}", file.display()));
        }
        rows.push((artifact, status));
    }
    if args.json {
        emit_json(&serde_json::json!({
            "format": "airlock-release-check/1",
            "manifest": path.display().to_string(),
            "signer": manifest.signer.to_hex().as_str(),
            "source_commit": manifest.source_commit,
            "verified": mismatches.is_empty(),
            "artifacts": rows.iter().map(|(a, status)| serde_json::json!({
                "name": a.name,
                "sha256": release::sha256_hex(a),
                "blake3": a.blake3.to_hex().as_str(),
                "status": status,
            })).collect::<Vec<_>>(),
        }));
    } else {
        outln!(
            "release {} (commit {}), signed by {}",
            path.display(),
            manifest.source_commit,
            manifest.signer
        );
        for (artifact, status) in &rows {
            outln!(
                "  {} sha256 {}: {status}",
                artifact.name,
                release::sha256_hex(artifact)
            );
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_UNVERIFIED,
            message: format!("release NOT verified: {}", mismatches.join("; ")),
        })
    }
}
