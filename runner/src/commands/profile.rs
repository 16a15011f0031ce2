//! `airlock profile`: list, show, check suites against, and calibrate
//! hardware profiles.

#[cfg(feature = "sandbox")]
use std::path::Path;

use airlock::profile;
use airlock::report;
use airlock_core::Untrusted;
#[cfg(feature = "sandbox")]
use airlock_sandbox::Sandbox;
use clap::Subcommand;

#[cfg(feature = "sandbox")]
use super::output::EXIT_UNVERIFIED;
use super::output::{Failure, emit_json};
#[cfg(feature = "sandbox")]
use super::{SuiteArgs, load_suite, sandbox_for, task_profile};

#[derive(Subcommand, Debug)]
pub(crate) enum ProfileCommand {
    /// List the embedded profiles.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show every field of a profile.
    Show {
        /// An embedded profile name or a TOML file.
        profile: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    #[cfg(feature = "sandbox")]
    /// Check that every task of a suite fits a profile: fuel and peak memory of
    /// the reference run against the budgets. Exit 1 if any task does not fit.
    Check {
        /// An embedded profile name or a TOML file.
        profile: String,
        #[command(flatten)]
        source: SuiteArgs,
        /// Seeds to measure each task over (the worst is reported).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        seeds: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    #[cfg(feature = "sandbox")]
    /// Measure this host's fuel per second on a suite and predict the wall time of a full run.
    Calibrate {
        /// The profile whose limits and parallelism to predict for.
        #[arg(long, default_value = "default")]
        profile: String,
        #[command(flatten)]
        source: SuiteArgs,
        /// Least number of reference runs of each task to measure (more are
        /// run until at least a second of sandbox time is measured).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        seeds: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn execute(command: ProfileCommand) -> Result<(), Failure> {
    match command {
        ProfileCommand::List { json } => {
            let mut profiles = Vec::new();
            for (name, _) in profile::embedded() {
                profiles.push(profile::load(name).map_err(Failure::from)?.profile);
            }
            if json {
                let list: Vec<serde_json::Value> =
                    profiles.iter().map(report::profile_json).collect();
                emit_json(&serde_json::Value::Array(list));
            } else {
                for p in &profiles {
                    outln!(
                        "{:<20} {:>3} sandboxes  {:>5} MiB each  {:>14} fuel  {}",
                        Untrusted(&p.name),
                        p.parallel_sandboxes(),
                        p.memory_per_sandbox_mib,
                        p.fuel_per_task,
                        Untrusted(&p.description)
                    );
                }
            }
            Ok(())
        }
        ProfileCommand::Show { profile, json } => {
            let loaded = profile::load(&profile).map_err(Failure::from)?;
            let value = report::profile_json(&loaded.profile);
            if json {
                emit_json(&value);
            } else {
                outln!(
                    "{} ({})",
                    Untrusted(&loaded.profile.name),
                    Untrusted(&loaded.source.to_string())
                );
                if let Some(fields) = value.as_object() {
                    for (field, v) in fields {
                        outln!("  {field:<30} {v}");
                    }
                }
            }
            Ok(())
        }
        #[cfg(feature = "sandbox")]
        ProfileCommand::Check {
            profile,
            source,
            seeds,
            json,
        } => {
            let profile = task_profile(&profile)?;
            let modules = suite_modules(&source)?;
            let fits =
                airlock::check::check(&profile, &modules, seeds).map_err(|(origin, e)| {
                    Failure::of_class(airlock_core::Classify::class(&e), format!("{origin}: {e}"))
                })?;
            let worst = airlock::check::worst_case(&profile).map_err(Failure::from)?;
            if json {
                let mut report = report::check_json(&profile, &fits);
                report["worst_case"] = worst.json();
                emit_json(&report);
            } else {
                out!("{}", report::check_table(&profile, &fits));
                outln!("{}", worst.summary());
            }
            if fits.iter().all(|f| f.fits()) {
                Ok(())
            } else {
                Err(Failure {
                    code: EXIT_UNVERIFIED,
                    message: format!(
                        "{} of {} tasks do not fit profile \"{}\"",
                        fits.iter().filter(|f| !f.fits()).count(),
                        fits.len(),
                        profile.name
                    ),
                })
            }
        }
        #[cfg(feature = "sandbox")]
        ProfileCommand::Calibrate {
            profile,
            source,
            seeds,
            json,
        } => {
            let profile = task_profile(&profile)?;
            let sandbox = Sandbox::new(profile.sandbox_limits()).map_err(Failure::from)?;
            let suite = load_suite(&sandbox, &source)?;
            let calibration = airlock::check::calibrate(
                &sandbox,
                &suite.tasks,
                seeds,
                core::time::Duration::from_secs(1),
            );
            let parallel = profile.parallel_sandboxes();
            let worst = airlock::check::worst_case(&profile).map_err(Failure::from)?;
            if json {
                emit_json(&serde_json::json!({
                        "format": "airlock-calibration/1",
                        "profile": profile.name,
                        "suite": suite.name,
                        "tasks": calibration.tasks,
                        "fuel_measured": calibration.fuel,
                        "wall_time_us": calibration.wall.as_micros() as u64,
                        "fuel_per_second": calibration.fuel_per_second(),
                        "parallel_sandboxes": parallel,
                        "predicted_run_us": calibration.predicted_run(parallel).as_micros() as u64,
                        "predicted_worst_case_us": calibration
                            .predicted_worst(profile.fuel_per_task, parallel)
                            .as_micros() as u64,
                        "worst_case": worst.json(),
                }));
            } else {
                outln!(
                    "this host: {} fuel/s ({} fuel in {:.3} s of sandbox time, {} tasks)",
                    calibration.fuel_per_second(),
                    calibration.fuel,
                    calibration.wall.as_secs_f64(),
                    calibration.tasks
                );
                outln!(
                    "predicted full run of suite \"{}\" under profile \"{}\" ({parallel} sandboxes): {:.4} s of sandbox time (reference behaviour), at most {:.1} s if every task used its whole fuel budget; model time not included",
                    Untrusted(&suite.name),
                    Untrusted(&profile.name),
                    calibration.predicted_run(parallel).as_secs_f64(),
                    calibration
                        .predicted_worst(profile.fuel_per_task, parallel)
                        .as_secs_f64()
                );
                outln!("{}", worst.summary());
            }
            Ok(())
        }
    }
}

#[cfg(feature = "sandbox")]
/// The module bytes of `default` or a suite directory, checked as `load_suite` checks them.
fn suite_modules(source: &SuiteArgs) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    if source.suite == airlock_default_suite::SUITE_NAME {
        return Ok(airlock_default_suite::modules()
            .iter()
            .map(|m| (format!("embedded module {}", m.file_name), m.bytes.to_vec()))
            .collect());
    }
    // Loading under the largest embedded limits proves the directory's
    // signature and digests; the check itself then measures each module.
    let sandbox = sandbox_for("enclave-workstation")?;
    let limit = u64::from(sandbox.limits().max_module_bytes);
    load_suite(&sandbox, source)?;
    let dir = Path::new(&source.suite);
    let files = airlock::suite::wasm_files(dir).map_err(Failure::from)?;
    files
        .into_iter()
        .map(|path| {
            airlock_attest::read_regular(&path, limit)
                .map(|bytes| (path.display().to_string(), bytes))
                .map_err(Failure::from)
        })
        .collect()
}
