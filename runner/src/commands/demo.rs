//! `airlock demo`.

use airlock::agent::{AgentOptions, AgentSpec};
use airlock::profile;
use airlock::report;
use airlock::run::{self, RunOptions, RunParts, StartMode};
use airlock::suite::LoadedSuite;
use airlock_attest::station_state::Station;
use airlock_attest::transcripts::TranscriptKey;
use airlock_attest::verify::VerifyOptions;
use airlock_attest::{Overwrite, SigningKey};
use airlock_sandbox::Sandbox;

use super::output::{Bar, EXIT_UNVERIFIED, Failure};
use super::parse_seed;

#[derive(clap::Args, Debug)]
pub(crate) struct DemoArgs {
    /// Run seed: a decimal integer or 64 hex digits; random when omitted.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<[u8; 32]>,
    /// Keep compiled task modules in this directory between demos (its
    /// secret is `station.cache-key` inside it); by default the demo, whose
    /// key is thrown away, compiles every module.
    #[arg(long)]
    module_cache: Option<std::path::PathBuf>,
}

pub(crate) fn execute(args: &DemoArgs) -> Result<(), Failure> {
    demo(args.seed, args.module_cache.as_deref())
}

fn demo(seed: Option<[u8; 32]>, module_cache: Option<&std::path::Path>) -> Result<(), Failure> {
    let dir = tempfile::tempdir()
        .map_err(|e| Failure::input(format!("could not make a temporary directory: {e}")))?;
    let key_dir = dir.path().join("keys");
    let generated = airlock_attest::keygen(&key_dir, "demo").map_err(Failure::from)?;
    let loaded = profile::load("default").map_err(Failure::from)?;
    let mut sandbox = Sandbox::new(loaded.profile.sandbox_limits()).map_err(Failure::from)?;
    if let Some(dir) = module_cache {
        // The secret lives inside: the demo's own key is thrown away.
        airlock_sandbox::module_cache::create_private_dir(dir).map_err(Failure::input)?;
        sandbox = super::run::with_module_cache(sandbox, &dir.join("station.key"), Some(dir));
    }
    let suite = LoadedSuite::embedded(&sandbox).map_err(Failure::from)?;
    let key = SigningKey::load(&generated.private_path).map_err(Failure::from)?;
    outln!(
        "Airlock demo: suite \"{}\" ({} tasks, digest {}), profile \"{}\", throwaway key {}",
        suite.name,
        suite.tasks.len(),
        suite.digest,
        loaded.profile.name,
        generated.key_id
    );
    let mut all_verified = true;
    for spec in [
        AgentSpec::Reference {
            delay: core::time::Duration::ZERO,
        },
        AgentSpec::Null,
    ] {
        let agent = spec
            .build(&AgentOptions::for_profile(&loaded.profile))
            .map_err(Failure::from)?;
        let name = agent.descriptor(airlock_core::abi::ToolMode::Native).agent;
        let parts = RunParts {
            sandbox: &sandbox,
            suite: &suite,
            profile: &loaded.profile,
            agent: agent.as_ref(),
            key: &key,
        };
        let options = RunOptions {
            out: dir.path().join(format!("{name}.bundle")),
            seed,
            start: StartMode::Fresh,
            overwrite: Overwrite::Refuse,
            epochs: 1,
            station: Station::path_for_key(&generated.private_path),
            transcript_key: TranscriptKey::path_for_key(&generated.private_path),
            sandboxes: None,
            tool_mode: airlock_core::abi::ToolMode::Native,
            campaign: None,
            // What `airlock run` records for the same run.
            selection: None,
            settings: Some(demo_settings(&spec, seed)?.digest()),
            tpm: None,
            interrupt: run::Interrupt::default(),
        };
        // As for `run`: a run that cannot be made is never a failed check.
        let summary = run::execute(&parts, &options, &mut Bar::new()).map_err(Failure::input)?;
        let size = std::fs::metadata(&summary.bundle).map_or(0, |m| m.len());
        outln!();
        out!(
            "{}",
            report::results_table(
                &format!(
                    "{name} agent — run {}, bundle {size} bytes",
                    report::to_hex(&summary.run_start.run_id)
                ),
                &summary.results,
                &summary.run_end
            )
        );
        let verdict = airlock_attest::verify_bundle_file(
            &summary.bundle,
            &[generated.public_key],
            VerifyOptions::default(),
        )
        .map_err(Failure::from)?;
        let levels: Vec<String> = verdict
            .levels
            .iter()
            .map(|l| format!("{} {}", l.level, l.status.name()))
            .collect();
        outln!("  verify: {}", levels.join(", "));
        all_verified &= verdict.verified();
    }
    if all_verified {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_UNVERIFIED,
            message: "a demo bundle did not verify".into(),
        })
    }
}

/// The settings of `airlock run --agent SPEC [--seed SEED]`, each demo run's.
fn demo_settings(
    spec: &AgentSpec,
    seed: Option<[u8; 32]>,
) -> Result<super::run_config::RunSettings, Failure> {
    let mut words: Vec<String> = ["--agent", &spec.to_string(), "--key", "-", "--out", "-"]
        .map(str::to_owned)
        .to_vec();
    if let Some(seed) = seed {
        words.extend(["--seed".to_owned(), report::to_hex(&seed)]);
    }
    super::run::settings_of_flags(&words)
}
