//! Project automation, run as `cargo xtask <command>`.
//!
//! `setup` installs the rust targets and components the build needs, `demo`
//! builds and runs `airlock demo`, `test` runs every check CI runs, `crash`
//! SIGKILLs and resumes runs and counts what was lost, `bench` measures
//! Airlock against Inspect (never part of `test`: it is slow and needs
//! Inspect from PyPI), `fuzz` runs the cargo-fuzz targets in `fuzz/` for a
//! while each, `interop` runs the default suite against Hugging Face
//! `transformers serve` (opt-in: its Python environment is several GB). Each step
//! is one line in a table, printed to stderr as it starts; the first failing
//! step stops the task and its exit code becomes xtask's.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod bench;
mod dist;
mod interop;

/// Rust targets the build needs: task modules and the no_std proof compile
/// for wasm32, the embedded no_std proof for a Cortex-M4F.
const TARGETS: &[&str] = &["wasm32-unknown-unknown", "thumbv7em-none-eabihf"];

/// Toolchain components `test` uses; minimal rustup profiles lack them.
const COMPONENTS: &[&str] = &["rustfmt", "clippy"];

/// What the Python interop tests need, from PyPI: securesystemslib for the
/// DSSE test (pinned: the key id and signature vectors in SPEC.md were
/// cross-checked with this version), cyclonedx-python-lib with its JSON
/// schema validator for the dist SBOM test, and in-toto-attestation (in-toto's
/// own Statement and SLSA provenance protos) for the release manifest test.
const PYTHON_REQUIREMENTS: &[&str] = &[
    "securesystemslib[crypto]==1.6.0",
    "cyclonedx-python-lib[json-validation]==11.12.0",
    "in-toto-attestation==0.9.3",
    // The Inspect export test reads its log with the Inspect that `cargo
    // xtask bench` measures: one pin for both.
    bench::INSPECT_REQUIREMENT,
];

/// What must import for the Python environment to count as ready; prints
/// the installed versions in the order of [`PYTHON_REQUIREMENTS`].
const PYTHON_CHECK: &str = "import securesystemslib.dsse, securesystemslib.signer, cryptography; \
import cyclonedx.validation.json, importlib.metadata as m; \
import in_toto_attestation.v1.statement, in_toto_attestation.predicates.provenance.v1.provenance_pb2; \
import inspect_ai.log; \
print(securesystemslib.__version__, m.version('cyclonedx-python-lib'), m.version('in-toto-attestation'), m.version('inspect-ai'))";

/// One `cargo` invocation of `cargo xtask test`.
struct Step {
    name: &'static str,
    cargo_args: &'static [&'static str],
}

/// What `cargo xtask test` runs first, in order: (name, cargo arguments); then
/// the verifier's build and [`TESTS_STEP`]. Every step sees `AIRLOCK_BIN`, the absolute path of the release binary the end-to-end
/// tests drive, and `AIRLOCK_PYTHON`, the Python of the virtual environment
/// with securesystemslib that the DSSE interop test runs.
#[rustfmt::skip]
const TEST_STEPS: &[Step] = &[
    Step { name: "format", cargo_args: &["fmt", "--all", "--check"] },
    Step { name: "clippy", cargo_args: &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"] },
    Step { name: "no_std core (wasm32)", cargo_args: &["build", "-p", "airlock-core", "--no-default-features", "--target", "wasm32-unknown-unknown"] },
    Step { name: "no_std core (thumbv7em)", cargo_args: &["build", "-p", "airlock-core", "--no-default-features", "--target", "thumbv7em-none-eabihf"] },
    Step { name: "no_std core + alloc (thumbv7em)", cargo_args: &["build", "-p", "airlock-core", "--target", "thumbv7em-none-eabihf"] },
    Step { name: "build release airlock", cargo_args: &["build", "--release", "-p", "airlock"] },
];

/// The last step of `cargo xtask test`, after the verifier's build: it also
/// sees `AIRLOCK_VERIFY_BIN`, the verifier's binary.
const TESTS_STEP: Step = Step {
    name: "tests",
    cargo_args: &["test", "--workspace", "--release"],
};

/// Crates that compile or run WebAssembly, and the station's TPM driver:
/// none may be in the verifier's build, which is what a verifier outside
/// the enclave installs (it checks TPM quotes with ring alone, on a
/// machine that has no TPM).
const SANDBOX_CRATES: &[&str] = &["wasmtime", "cranelift", "pulley", "airlock-tpm-station"];

#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "Airlock project automation"
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install the rust targets and components the build needs, and the
    /// Python virtual environment (securesystemslib) the interop test uses,
    /// if missing; prints the environment's python.
    Setup,
    /// Set up, then build and run `airlock demo` (extra arguments are passed on).
    Demo {
        /// Arguments for `airlock demo`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Set up, then run every check CI runs: format, clippy, no_std builds, tests.
    Test,
    /// Build the release airlock, then SIGKILL runs of the default suite at
    /// random moments, resume each, and report kills survived, results lost
    /// and duplicates; fails on any loss.
    Crash {
        /// Kills to survive.
        #[arg(long, default_value_t = 100)]
        kills: u32,
        /// Seed of the kill schedule (printed; random when omitted).
        #[arg(long)]
        seed: Option<u64>,
        /// Reference agent delays per reply in ms, comma-separated; each run picks one.
        #[arg(long)]
        delays_ms: Option<String>,
        /// Keep the campaign's files in this directory.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Benchmark Airlock against Inspect (from PyPI, in a virtual environment
    /// in the target directory): end-to-end samples/s, bytes per result and
    /// peak RSS of both, and the verifier's rate against ring's; prints a
    /// table and writes bench/results.json.
    Bench {
        /// Samples of each end-to-end run.
        #[arg(long, default_value_t = 1000)]
        samples: u32,
        /// End-to-end rounds of each side, alternating; the median counts.
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// Records in the bundle the verification rate is measured on.
        #[arg(long, default_value_t = 5000)]
        verify_records: u32,
        /// The airlock binary the end-to-end rounds run, e.g. the static
        /// release target/dist/airlock (default: target/release/airlock).
        #[arg(long)]
        airlock: Option<PathBuf>,
    },
    /// Run the default suite against a real OpenAI-compatible server nobody
    /// here wrote: Hugging Face `transformers serve` on 127.0.0.1, serving a
    /// tiny Llama trained here to call tools, with nothing downloaded at run
    /// time. Makes (once) a Python virtual environment in the target
    /// directory from tests/interop/requirements.txt (torch,
    /// transformers[serving], tokenizers: about 5.6 GB, hence opt-in, never
    /// part of `test`), builds the model (once) with
    /// tests/interop/make_tiny_model.py, logs every request and answer
    /// through tests/interop/recording_proxy.py, and checks each run: the
    /// bundle verifies, the server got the system prompt, the tools and the
    /// tool results as it expects them, and the bundle's token totals equal
    /// the usage it reported. Prints the figures.
    Interop {
        /// The tool modes to run, in order.
        #[arg(long = "tool-mode", value_enum, default_values_t = [interop::ToolMode::Native, interop::ToolMode::Text])]
        modes: Vec<interop::ToolMode>,
    },
    /// Make the release for the enclave in target/dist/: static musl
    /// binaries of airlock and its verifier build, built offline from the
    /// vendored source archive (also written there), with the build recipe
    /// and a CycloneDX SBOM. Installs the musl target and musl-tools when
    /// missing. `--check` rebuilds from the archive in another directory with
    /// networking removed and an empty CARGO_HOME, and fails unless both
    /// binaries are bit-identical to the dist ones.
    Dist {
        /// Rebuild from target/dist's source archive and compare, instead of building.
        #[arg(long)]
        check: bool,
        /// Release private key (from `airlock keygen`): the dist runner
        /// signs target/dist/release.intoto.json with it.
        #[arg(long, conflicts_with = "check")]
        release_key: Option<PathBuf>,
    },
    /// Build the cargo-fuzz targets in fuzz/ and run each for a while;
    /// fails on the first crash, leaving the input in fuzz/artifacts/.
    /// Installs cargo-fuzz when missing. Uses the nightly toolchain (with
    /// AddressSanitizer) when rustup has one, else stable with
    /// RUSTC_BOOTSTRAP=1 and no sanitizer.
    Fuzz {
        /// Seconds to run each target.
        #[arg(long, default_value_t = 20)]
        seconds: u32,
        /// Run only these targets (default: every target in fuzz/Cargo.toml).
        #[arg(long = "target", value_name = "NAME")]
        targets: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Setup => setup().and_then(|()| {
            let python = python_setup()?;
            println!("AIRLOCK_PYTHON={}", python.display());
            Ok(())
        }),
        Task::Demo { args } => demo(&args),
        Task::Test => test(),
        Task::Crash {
            kills,
            seed,
            delays_ms,
            keep,
        } => crash(kills, seed, delays_ms.as_deref(), keep.as_deref()),
        Task::Bench {
            samples,
            rounds,
            verify_records,
            airlock,
        } => bench::bench(&bench::BenchOptions {
            samples,
            rounds,
            verify_records,
            airlock,
        }),
        Task::Fuzz { seconds, targets } => fuzz::run(seconds, &targets),
        Task::Dist { check, release_key } => dist::dist(check, release_key.as_deref()),
        Task::Interop { modes } => interop::interop(&interop::InteropOptions { modes }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(failed) = error.downcast_ref::<StepFailed>() {
                eprintln!("xtask: step \"{}\" failed ({})", failed.name, failed.status);
                return ExitCode::from(failed.code);
            }
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A step whose command ran and failed; its exit code becomes xtask's.
#[derive(Debug)]
struct StepFailed {
    name: String,
    status: std::process::ExitStatus,
    code: u8,
}

impl core::fmt::Display for StepFailed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "step \"{}\" failed ({})", self.name, self.status)
    }
}

impl core::error::Error for StepFailed {}

fn setup() -> Result<()> {
    let installed = capture(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("listing installed rust targets (is rustup installed and on PATH?)")?;
    for target in TARGETS {
        if installed.lines().any(|line| line.trim() == *target) {
            continue;
        }
        step(
            &format!("install target {target}"),
            Command::new("rustup").args(["target", "add", target]),
        )?;
    }
    let components = capture(Command::new("rustup").args(["component", "list", "--installed"]))
        .context("listing installed rust components")?;
    for component in COMPONENTS {
        // Installed components are listed with their host triple: "clippy-x86_64-...".
        let present = components.lines().any(|line| {
            let line = line.trim();
            line == *component || line.starts_with(&format!("{component}-"))
        });
        if !present {
            step(
                &format!("install component {component}"),
                Command::new("rustup").args(["component", "add", component]),
            )?;
        }
    }
    Ok(())
}

mod fuzz;

fn demo(args: &[OsString]) -> Result<()> {
    setup()?;
    let mut command = cargo();
    command.args(["run", "--release", "-p", "airlock", "--", "demo"]);
    command.args(args);
    step("airlock demo", &mut command)
}

fn test() -> Result<()> {
    setup()?;
    let python = python_setup()?;
    let airlock_bin = release_binary()?;
    for test_step in TEST_STEPS {
        let mut command = cargo();
        command
            .args(test_step.cargo_args)
            .env("AIRLOCK_BIN", &airlock_bin)
            .env("AIRLOCK_PYTHON", &python);
        step(test_step.name, &mut command)?;
    }
    let verify_bin = verifier_build()?;
    let mut command = cargo();
    command
        .args(TESTS_STEP.cargo_args)
        .env("AIRLOCK_BIN", &airlock_bin)
        .env("AIRLOCK_VERIFY_BIN", &verify_bin)
        .env("AIRLOCK_PYTHON", &python);
    // The dist tests (tests/tests/dist.rs) check the release `cargo xtask
    // dist` made, when there is one.
    let dist_dir = target_dir()?.join("dist");
    if dist_dir.join("build-recipe.json").is_file() {
        command.env("AIRLOCK_DIST_DIR", &dist_dir);
    }
    step(TESTS_STEP.name, &mut command)?;
    // The verifier's two steps: its dependency check and its build.
    eprintln!("xtask: all {} test steps passed", TEST_STEPS.len() + 3);
    Ok(())
}

/// Checks that the verifier's build (`airlock` without its `sandbox`
/// feature) depends on no crate that compiles WebAssembly, then builds it
/// into a target directory of its own, so that the full build's artifacts
/// are not rebuilt with other features; returns its binary.
fn verifier_build() -> Result<PathBuf> {
    eprintln!("xtask: ==> verifier build: no wasmtime, cranelift, pulley or TPM station");
    let tree = capture(cargo().args([
        "tree",
        "-p",
        "airlock",
        "--no-default-features",
        "-e",
        "normal,build",
        "--prefix",
        "none",
    ]))
    .context("listing the verifier build's dependencies")?;
    let mut linked: Vec<&str> = tree
        .lines()
        .filter(|line| {
            SANDBOX_CRATES
                .iter()
                .any(|name| line.trim_start().starts_with(name))
        })
        .collect();
    linked.sort_unstable();
    linked.dedup();
    if !linked.is_empty() {
        bail!(
            "the verifier's build depends on {}; it must not link a WebAssembly engine or \
             drive a TPM",
            linked.join(", ")
        );
    }
    let dir = target_dir()?.join("verifier");
    step(
        "build verifier airlock",
        cargo()
            .args([
                "build",
                "--release",
                "-p",
                "airlock",
                "--no-default-features",
                "--target-dir",
            ])
            .arg(&dir),
    )?;
    Ok(dir
        .join("release")
        .join(format!("airlock{}", std::env::consts::EXE_SUFFIX)))
}

fn crash(
    kills: u32,
    seed: Option<u64>,
    delays_ms: Option<&str>,
    keep: Option<&Path>,
) -> Result<()> {
    setup()?;
    step(
        "build release airlock",
        cargo().args(["build", "--release", "-p", "airlock"]),
    )?;
    let airlock_bin = release_binary()?;
    let mut command = cargo();
    command
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "airlock-tests",
            "--bin",
            "airlock-crash",
            "--",
        ])
        .arg("--airlock")
        .arg(&airlock_bin)
        .arg("--kills")
        .arg(kills.to_string());
    if let Some(seed) = seed {
        command.arg("--seed").arg(seed.to_string());
    }
    if let Some(delays) = delays_ms {
        command.arg("--delays-ms").arg(delays);
    }
    if let Some(keep) = keep {
        command.arg("--keep").arg(keep);
    }
    step("crash campaign", &mut command)
}

/// The cargo that runs us, so the same toolchain builds everything.
fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    command
}

fn workspace_root() -> &'static Path {
    // xtask/ sits in the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// The target directory, asked of cargo itself so that CARGO_TARGET_DIR
/// and config files are honoured.
fn target_dir() -> Result<PathBuf> {
    let metadata = capture(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))
        .context("asking cargo for the target directory")?;
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).context("parsing `cargo metadata` output")?;
    let Some(target_dir) = metadata["target_directory"].as_str() else {
        bail!("`cargo metadata` output has no target_directory");
    };
    // Relative CARGO_TARGET_DIRs are relative to the workspace root.
    Ok(workspace_root().join(target_dir))
}

/// Where `cargo build --release -p airlock` puts the binary.
fn release_binary() -> Result<PathBuf> {
    Ok(target_dir()?
        .join("release")
        .join(format!("airlock{}", std::env::consts::EXE_SUFFIX)))
}

/// Makes (once) a Python virtual environment in the target directory with
/// securesystemslib from PyPI, and returns its python. Fast when it is
/// already there: one import check.
fn python_setup() -> Result<PathBuf> {
    python_venv(
        &target_dir()?.join("airlock-python"),
        &PythonPackage {
            name: "securesystemslib, cyclonedx-python-lib, in-toto-attestation",
            requirements: PYTHON_REQUIREMENTS,
            check: PYTHON_CHECK,
        },
    )
}

/// A package a Python virtual environment of ours is made for.
pub(crate) struct PythonPackage {
    /// Its name, for messages.
    pub(crate) name: &'static str,
    /// The pip requirements, each pinned as `NAME==VERSION`.
    pub(crate) requirements: &'static [&'static str],
    /// A script that imports what is used and prints the installed
    /// versions, space-separated, in the order of `requirements`.
    pub(crate) check: &'static str,
}

/// The python of the virtual environment at `venv` with `package` installed:
/// reused when its check passes and prints the pinned version, made anew
/// otherwise. Returns the venv's python.
pub(crate) fn python_venv(venv: &Path, package: &PythonPackage) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    if python.is_file()
        && let Ok(version) = capture(Command::new(&python).args(["-c", package.check]))
        && version.split_whitespace().eq(package
            .requirements
            .iter()
            .map(|r| r.rsplit_once("==").map_or("", |(_, pinned)| pinned)))
    {
        eprintln!(
            "xtask: python environment ready ({} {})",
            package.name,
            version.trim()
        );
        return Ok(python);
    }
    step(
        &format!("make the python virtual environment for {}", package.name),
        Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg("--clear")
            .arg(venv),
    )
    .context(
        "python3 -m venv failed: install python3 and its venv module (Debian: python3-venv)",
    )?;
    step(
        &format!("pip install {}", package.requirements.join(" ")),
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(package.requirements),
    )?;
    capture(Command::new(&python).args(["-c", package.check]))
        .with_context(|| format!("{} does not import after installing it", package.name))?;
    Ok(python)
}

/// Runs a command with inherited stdio; a non-zero exit is a [`StepFailed`].
fn step(name: &str, command: &mut Command) -> Result<()> {
    eprintln!("xtask: ==> {name}");
    let status = command
        .status()
        .with_context(|| format!("step \"{name}\": cannot start {:?}", command.get_program()))?;
    if status.success() {
        return Ok(());
    }
    // A command killed by a signal has no code; report a generic failure.
    let code = status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .filter(|code| *code != 0)
        .unwrap_or(1);
    Err(StepFailed {
        name: name.to_owned(),
        status,
        code,
    }
    .into())
}

/// Runs a command and returns its stdout; stderr passes through.
fn capture(command: &mut Command) -> Result<String> {
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    if !output.status.success() {
        bail!("{:?} failed ({})", command.get_program(), output.status);
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("{:?} printed non-UTF-8 output", command.get_program()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn step_names_are_unique() {
        let mut names: Vec<_> = TEST_STEPS.iter().map(|s| s.name).collect();
        names.push(TESTS_STEP.name);
        names.push("build verifier airlock");
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
    }
}
