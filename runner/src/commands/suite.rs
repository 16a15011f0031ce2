//! `airlock suite`: list, build, verify and export suites.

use std::path::PathBuf;

use airlock::report;
use airlock::suite::{LoadedSuite, SuiteError};
use airlock_attest::{Overwrite, SigningKey};
use clap::Subcommand;

use super::output::{Failure, emit_json};
use super::{SuiteArgs, exists_hint, load_suite, load_trusted, sandbox_for};

#[derive(Subcommand, Debug)]
pub(crate) enum SuiteCommand {
    /// List the tasks of a suite, with the metadata read from each module.
    List {
        #[command(flatten)]
        source: SuiteArgs,
        /// Hardware profile whose limits screen the modules.
        #[arg(long, default_value = "default")]
        profile: String,
        /// Print a JSON array of task objects.
        #[arg(long)]
        json: bool,
    },
    /// Sign a manifest for a directory of task modules (every *.wasm, in file-name order).
    Build {
        /// The suite directory; the manifest is written to DIR/suite.manifest.
        dir: PathBuf,
        /// Suite authority private key (from `airlock keygen`; not an evaluator key).
        #[arg(long)]
        key: PathBuf,
        /// Suite name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Hardware profile whose limits screen the modules.
        #[arg(long, default_value = "default")]
        profile: String,
        /// Replace an existing manifest.
        #[arg(long)]
        force: bool,
    },
    /// Check a suite directory's manifest signature and every module digest.
    Verify {
        /// The suite directory.
        dir: PathBuf,
        /// Trusted suite authority public key; may be given more than once.
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
        /// Hardware profile whose limits screen the modules.
        #[arg(long, default_value = "default")]
        profile: String,
    },
    /// Write the embedded suite's modules to a directory, as a template for labs.
    Export {
        /// The embedded suite to export.
        suite: String,
        /// Directory to write into (created if missing; existing files are
        /// replaced only with --force).
        #[arg(long)]
        out: PathBuf,
        /// Replace existing module files and manifest in the directory.
        #[arg(long)]
        force: bool,
        /// Sign the exported suite's manifest with this suite authority key.
        #[arg(
            long,
            required_unless_present = "unsigned",
            conflicts_with = "unsigned"
        )]
        key: Option<PathBuf>,
        /// Export the modules without a manifest.
        #[arg(long)]
        unsigned: bool,
    },
}

pub(crate) fn execute(command: SuiteCommand) -> Result<(), Failure> {
    match command {
        SuiteCommand::List {
            source,
            profile,
            json,
        } => {
            let sandbox = sandbox_for(&profile)?;
            let suite = load_suite(&sandbox, &source)?;
            if json {
                let tasks: Vec<serde_json::Value> =
                    suite.tasks.iter().map(report::task_json).collect();
                emit_json(&serde_json::Value::Array(tasks));
            } else {
                out!("{}", report::suite_table(&suite));
            }
            Ok(())
        }
        SuiteCommand::Build {
            dir,
            key,
            name,
            profile,
            force,
        } => {
            let sandbox = sandbox_for(&profile)?;
            let authority = SigningKey::load(&key).map_err(Failure::from)?;
            let overwrite = if force {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            };
            let (suite, _) = airlock::suite::build_manifest(
                &sandbox,
                &dir,
                name.as_deref(),
                &authority,
                overwrite,
            )
            .map_err(|e| match e {
                SuiteError::Manifest(e) => exists_hint(e),
                other => Failure::from(other),
            })?;
            out!("{}", report::suite_table(&suite));
            outln!(
                "signed {} with suite authority key {}",
                dir.join(airlock_attest::MANIFEST_FILE_NAME).display(),
                authority.key_id()
            );
            Ok(())
        }
        SuiteCommand::Verify {
            dir,
            trust,
            profile,
        } => {
            let sandbox = sandbox_for(&profile)?;
            let trusted = load_trusted(&trust)?;
            let suite = LoadedSuite::signed_dir(&sandbox, &dir, &trusted).map_err(Failure::from)?;
            out!("{}", report::suite_table(&suite));
            outln!("suite verified: manifest signature and every module digest match");
            Ok(())
        }
        SuiteCommand::Export {
            suite,
            out,
            key,
            unsigned: _,
            force,
        } => {
            if suite != airlock_default_suite::SUITE_NAME {
                return Err(Failure::input(format!(
                    "no embedded suite \"{suite}\" (embedded: {})",
                    airlock_default_suite::SUITE_NAME
                )));
            }
            let authority = key
                .map(|k| SigningKey::load(&k).map_err(Failure::from))
                .transpose()?;
            let sandbox = sandbox_for("default")?;
            let overwrite = if force {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            };
            let written =
                airlock::suite::export_embedded(&sandbox, &out, authority.as_ref(), overwrite)
                    .map_err(|e| match e {
                        SuiteError::Write(e) => exists_hint(e),
                        other => Failure::from(other),
                    })?;
            for path in &written {
                outln!("{}", path.display());
            }
            Ok(())
        }
    }
}
