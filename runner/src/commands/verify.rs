//! `airlock verify`.

use std::path::{Path, PathBuf};

use airlock::profile;
#[cfg(feature = "sandbox")]
use airlock::run;
use airlock_attest::disclosure::{self, DisclosureError};
#[cfg(feature = "sandbox")]
use airlock_attest::transcripts::TranscriptKey;
use airlock_attest::verify::VerifyOptions;

use super::load_trusted;
use super::output::{EXIT_UNVERIFIED, Failure, emit_json};

#[derive(clap::Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The bundle files (with --campaign: the campaign's shard bundles).
    #[arg(required = true)]
    bundles: Vec<PathBuf>,
    /// Verify the bundles as the shards of this signed campaign plan: each
    /// shard, then that every planned entry has exactly one result (missing
    /// shards, duplicates, foreign or unauthorized shards are named).
    /// --trust then names the coordinator keys the plan may be signed by.
    #[arg(long, value_name = "PLAN", conflicts_with_all = ["suite", "disclosed", "replay", "release", "log_policy"])]
    campaign: Option<PathBuf>,
    /// Trusted evaluator public key (SPKI PEM); may be given more than once.
    #[arg(long, required = true)]
    trust: Vec<PathBuf>,
    /// Print the verdict as JSON (airlock-verdict/1; airlock-verdicts/1 for several bundles).
    #[arg(long)]
    json: bool,
    /// Check the suite level against `default` (the embedded suite) or a signed suite directory.
    #[arg(long)]
    suite: Option<String>,
    /// Trusted suite authority public key for --suite DIR; may be given more than once.
    #[arg(long, requires = "suite")]
    suite_trust: Vec<PathBuf>,
    /// Check the release level against this signed release manifest
    /// (release.intoto.json of `cargo xtask dist`): the runner executable
    /// that made each bundle is one of its artifacts, with the release's
    /// Airlock and wasmtime versions and one of its engine settings.
    #[arg(long, value_name = "MANIFEST", requires = "release_trust")]
    release: Option<PathBuf>,
    /// Trusted release public key for --release; may be given more than once.
    #[arg(long, requires = "release")]
    release_trust: Vec<PathBuf>,
    /// Threads that check signatures (default and most: the available
    /// cores); the verdict is the same for any number.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// A disclosure file (from `airlock disclose`) to check against its
    /// signed result; may be given more than once (one bundle only).
    #[arg(long)]
    disclosed: Vec<PathBuf>,
    /// Re-execute results from their transcripts and compare outcome, score,
    /// fuel, peak memory and turns with the signed records (one bundle only): every result
    /// from the sealed store inside the enclave (with --transcript-key), or
    /// the results of the --disclosed files.
    #[arg(long)]
    replay: bool,
    /// Backend to re-execute under: `cranelift` (default) or `pulley`.
    #[cfg(feature = "sandbox")]
    #[arg(long, requires = "replay")]
    backend: Option<airlock_sandbox::Backend>,
    /// Station transcript key that opens the run's sealed store: replay
    /// every result from BUNDLE.transcripts with the run secret BUNDLE.secret.
    #[arg(long, requires = "replay")]
    transcript_key: Option<PathBuf>,
    /// The sealed transcript store, when not BUNDLE.transcripts.
    #[arg(long, requires = "transcript_key")]
    transcripts: Option<PathBuf>,
    /// The run secret, when not BUNDLE.secret.
    #[arg(long, requires = "transcript_key")]
    run_secret: Option<PathBuf>,
    /// A profile file for replaying a run whose profile is not embedded
    /// (used only if its digest is the run's).
    #[arg(long, requires = "replay")]
    profile: Option<PathBuf>,
    /// Check the log level under this C2SP tlog-policy (the station logs
    /// trusted, the witnesses, the quorum): each bundle's receipt
    /// (BUNDLE.tlog-proof), and across everything given that the
    /// checkpoints are one history and which of the log's runs were not
    /// shown.
    #[arg(long, value_name = "POLICY")]
    log_policy: Option<PathBuf>,
    /// Check the hardware level against this station registration (from
    /// `airlock station enroll`): each bundle's TPM quotes
    /// (BUNDLE.tpm-quotes) at RunStart and RunEnd verify under the
    /// registered attestation key, bind the run, show the registered PCR
    /// state, and never go back in time across a station's runs. A run
    /// without a TPM fails it. May be given more than once (one per
    /// station); with --campaign, each shard against its node's.
    #[arg(long, value_name = "REG")]
    station_registration: Vec<PathBuf>,
    /// A checkpoint given besides the receipts: a witness's cosigned copy of
    /// a receipt's checkpoint, or an older checkpoint kept from before. May
    /// be given more than once.
    #[arg(long, requires = "log_policy")]
    checkpoint: Vec<PathBuf>,
    /// A consistency proof (`airlock log consistency`) between two
    /// checkpoints' sizes. May be given more than once.
    #[arg(long, requires = "log_policy")]
    consistency: Vec<PathBuf>,
}

pub(crate) fn execute(args: &VerifyArgs) -> Result<(), Failure> {
    use airlock::audit::{self, TrustedSuite, VerifyRequest};
    let trusted = load_trusted(&args.trust)?;
    if let Some(plan) = &args.campaign {
        return verify_campaign(args, plan, &trusted);
    }
    let suite = match &args.suite {
        None => None,
        Some(name) if name == airlock_default_suite::SUITE_NAME => Some(TrustedSuite::Verified {
            manifest: airlock::suite::embedded_manifest().map_err(Failure::from)?,
            source: airlock_attest::suite_check::SuiteSource::Embedded,
        }),
        Some(dir) => {
            let dir = Path::new(dir);
            if !dir.is_dir() {
                return Err(Failure::input(format!(
                    "{}: no such suite directory (the embedded suite is \"{}\")",
                    dir.display(),
                    airlock_default_suite::SUITE_NAME
                )));
            }
            if args.suite_trust.is_empty() {
                return Err(Failure::input(format!(
                    "{}: checking the suite level against a directory needs --suite-trust AUTHORITY.pub",
                    dir.display()
                )));
            }
            let authorities = load_trusted(&args.suite_trust)?;
            Some(
                audit::trusted_suite_dir(dir, &authorities, largest_module_bytes()?)
                    .map_err(Failure::from)?,
            )
        }
    };
    // A disclosure file that cannot be read at all is an input error, as a
    // missing bundle is; one that reads but does not check out fails the
    // disclosed level.
    for path in &args.disclosed {
        if let Err(e @ DisclosureError::Io { .. }) = disclosure::Disclosure::read(path) {
            return Err(Failure::from(e));
        }
    }
    let replay = if args.replay {
        Some(replay_request(args)?)
    } else {
        None
    };
    // A manifest that cannot be read is bad input; one that reads but does
    // not verify fails the release level of every bundle.
    let release = match &args.release {
        None => None,
        Some(path) => Some(
            match super::release::read_manifest(path, &args.release_trust)? {
                Ok(manifest) => audit::TrustedRelease::Verified(manifest),
                Err(e) => audit::TrustedRelease::Refused(e.to_string()),
            },
        ),
    };
    let request = VerifyRequest {
        bundles: args.bundles.clone(),
        trusted,
        suite,
        release,
        options: VerifyOptions::default().threads(verify_threads(args.threads)),
        disclosed: args.disclosed.clone(),
        replay,
        log: log_evidence(args)?,
        registrations: station_registrations(&args.station_registration)?,
    };
    let outcome = audit::verify_all(&request).map_err(Failure::from)?;
    if args.json {
        let value = audit::json(&outcome)
            .map_err(|e| Failure::input(format!("could not encode the verdict: {e}")))?;
        emit_json(&value);
    } else {
        out!("{}", audit::human(&outcome));
    }
    if outcome.verified() {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_UNVERIFIED,
            message: audit::failure_message(&outcome),
        })
    }
}

/// The registrations of `--station-registration`: a file that cannot be
/// read as one is bad input (exit 2), named.
fn station_registrations(
    paths: &[PathBuf],
) -> Result<Option<Vec<airlock_attest::hardware::TrustedRegistration>>, Failure> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for path in paths {
        let bytes =
            airlock_attest::read_regular(path, airlock_attest::hardware::MAX_REGISTRATION_BYTES)
                .map_err(Failure::from)?;
        let label = path.display().to_string();
        let trusted = airlock_attest::hardware::TrustedRegistration::from_bytes(&label, &bytes)
            .map_err(|e| Failure::input(format!("{label}: {e}")))?;
        out.push(trusted);
    }
    Ok(Some(out))
}

/// The policy, checkpoints and consistency proofs of `--log-policy`; a
/// file that cannot be read as its format is bad input (exit 2), named.
fn log_evidence(
    args: &VerifyArgs,
) -> Result<Option<airlock_attest::log_check::LogEvidence>, Failure> {
    use super::log::{LOG_FILE_LIMIT, read_note};
    let Some(path) = &args.log_policy else {
        return Ok(None);
    };
    let read = |p: &Path| airlock_attest::read_regular(p, LOG_FILE_LIMIT).map_err(Failure::from);
    let policy = airlock_tlog::policy::parse(&read(path)?)
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    let mut checkpoints = Vec::new();
    for p in &args.checkpoint {
        checkpoints.push((p.display().to_string(), read_note(p)?));
    }
    let mut consistency = Vec::new();
    for p in &args.consistency {
        let request = airlock_tlog::witness_request::AddCheckpoint::parse(&read(p)?)
            .map_err(|e| Failure::input(format!("{}: {e}", p.display())))?;
        consistency.push((p.display().to_string(), request));
    }
    Ok(Some(airlock_attest::log_check::LogEvidence {
        policy,
        checkpoints,
        consistency,
    }))
}

/// `verify --campaign PLAN SHARD...`: exit 0 when the plan and every shard
/// verify and the shards cover the plan, each entry once; 1 otherwise.
fn verify_campaign(
    args: &VerifyArgs,
    plan: &Path,
    trusted: &[airlock_attest::PublicKey],
) -> Result<(), Failure> {
    let registrations = station_registrations(&args.station_registration)?;
    let verdict = airlock_attest::campaign::verify::verify_campaign_on_hardware(
        plan,
        trusted,
        &args.bundles,
        VerifyOptions::default().threads(verify_threads(args.threads)),
        registrations.as_deref(),
    )
    .map_err(Failure::from)?;
    if args.json {
        let value = serde_json::to_value(&verdict)
            .map_err(|e| Failure::input(format!("could not encode the verdict: {e}")))?;
        emit_json(&value);
    } else {
        out!("{}", airlock::report::campaign_verdict_text(&verdict));
    }
    if verdict.verified() {
        Ok(())
    } else {
        let why = verdict
            .verdict
            .first_failure()
            .map_or_else(|| "a level was not checked".to_owned(), |l| l.to_string());
        Err(Failure {
            code: EXIT_UNVERIFIED,
            message: format!("{}: campaign NOT verified: {why}", plan.display()),
        })
    }
}

/// What `verify --replay` re-executes from, with which modules and profiles.
#[cfg(feature = "sandbox")]
fn replay_request(args: &VerifyArgs) -> Result<airlock::audit::ReplayRequest, Failure> {
    use airlock::audit::{ReplayRequest, TranscriptSource};
    let [bundle] = args.bundles.as_slice() else {
        return Err(Failure::input("--replay checks one bundle at a time"));
    };
    let source = match &args.transcript_key {
        Some(key) => TranscriptSource::Sealed {
            store: args
                .transcripts
                .clone()
                .unwrap_or_else(|| run::transcripts_path(bundle)),
            key: Box::new(TranscriptKey::load(key).map_err(Failure::from)?),
            secret: disclosure::read_secret(
                &args
                    .run_secret
                    .clone()
                    .unwrap_or_else(|| run::secret_path(bundle)),
            )
            .map_err(Failure::from)?,
        },
        None if !args.disclosed.is_empty() => TranscriptSource::Disclosed,
        None => {
            return Err(Failure::input(
                "--replay needs transcripts: --transcript-key KEY for the run's sealed store \
                 (inside the enclave), or --disclosed FILE",
            ));
        }
    };
    // Planned modules are found by digest, which the signed record fixes,
    // so the embedded suite and a suite directory's files can simply be
    // offered side by side.
    let mut modules: Vec<Vec<u8>> = airlock_default_suite::modules()
        .iter()
        .map(|m| m.bytes.to_vec())
        .collect();
    if let Some(dir) = args
        .suite
        .as_deref()
        .filter(|s| *s != airlock_default_suite::SUITE_NAME)
    {
        modules.extend(wasm_files(Path::new(dir))?);
    }
    let mut profiles = Vec::new();
    for (name, _) in profile::embedded() {
        profiles.push(profile::load(name).map_err(Failure::from)?.profile);
    }
    if let Some(path) = &args.profile {
        profiles.push(profile::load_file(path).map_err(Failure::from)?.profile);
    }
    Ok(ReplayRequest {
        source,
        backend: args.backend.unwrap_or_default(),
        modules,
        profiles,
    })
}

/// Replay re-executes tasks in the sandbox, which the verifier's build
/// leaves out: refused in one line, as a usage error.
#[cfg(not(feature = "sandbox"))]
fn replay_request(_args: &VerifyArgs) -> Result<airlock::audit::ReplayRequest, Failure> {
    Err(Failure::input(
        "--replay re-executes tasks: this is the verifier's build of airlock, without \
         the sandbox; replay with the full build",
    ))
}

/// The bytes of every `*.wasm` file in `dir`: regular files no larger
/// than any profile admits, so no FIFO or endless device is read.
#[cfg(feature = "sandbox")]
fn wasm_files(dir: &Path) -> Result<Vec<Vec<u8>>, Failure> {
    let unreadable = |e: std::io::Error| Failure::input(format!("{}: {e}", dir.display()));
    let limit = largest_module_bytes()?;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            out.push(airlock_attest::read_regular(&path, limit).map_err(Failure::from)?);
        }
    }
    Ok(out)
}

/// The largest module any embedded profile admits: a verifier has no
/// profile of its own, and no run could have planned a larger module.
fn largest_module_bytes() -> Result<u64, Failure> {
    let mut largest = 0;
    for (name, _) in profile::embedded() {
        let loaded = profile::load(name).map_err(Failure::from)?;
        largest = largest.max(u64::from(loaded.profile.max_module_bytes));
    }
    Ok(largest)
}

/// Signature threads for `verify`: the number asked for, but never more
/// than the available cores. More threads cannot check faster, and each
/// one is a real thread with its own stack: `--threads 200000` must not
/// ask the system for two hundred thousand of them.
fn verify_threads(asked: Option<u32>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    asked.map_or(cores, |n| {
        usize::try_from(n).unwrap_or(usize::MAX).min(cores)
    })
}
