//! `cargo xtask fuzz`: builds the cargo-fuzz targets in `fuzz/` and runs
//! each for a fixed time, starting from its committed seeds in
//! `fuzz/corpus/TARGET/`. New inputs libFuzzer finds go to a scratch corpus
//! under `fuzz/target/`, so the committed seeds only change on purpose; a
//! crashing input is kept in `fuzz/artifacts/TARGET/` and fails the task.

use core::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{StepFailed, capture, step, workspace_root};

/// Longest a single input may take before libFuzzer reports it as a hang:
/// every target parses small inputs, so seconds mean a bug.
const INPUT_TIMEOUT_SECONDS: u32 = 10;

/// The task modules' target (see [`ensure_wasm_target`]).
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// How the fuzz targets are compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Toolchain {
    /// rustup's nightly toolchain, with AddressSanitizer (cargo-fuzz's default).
    Nightly,
    /// The stable toolchain told to accept nightly flags (`RUSTC_BOOTSTRAP=1`),
    /// without a sanitizer: coverage-guided fuzzing still works, and the
    /// targets' code is safe Rust, so a crash is still a panic or an abort.
    StableBootstrap,
}

impl Toolchain {
    /// Nightly when rustup has it; `AIRLOCK_FUZZ_TOOLCHAIN=stable` (or
    /// `nightly`) chooses, so the fallback can be tried where nightly exists.
    fn detect() -> Result<Toolchain> {
        match std::env::var("AIRLOCK_FUZZ_TOOLCHAIN").as_deref() {
            Ok("nightly") => return Ok(Toolchain::Nightly),
            Ok("stable") => return Ok(Toolchain::StableBootstrap),
            Ok(other) => bail!("AIRLOCK_FUZZ_TOOLCHAIN is {other:?}; use nightly or stable"),
            Err(_) => {}
        }
        let listed =
            capture(Command::new("rustup").args(["toolchain", "list"])).unwrap_or_default();
        Ok(if listed.lines().any(|line| line.starts_with("nightly")) {
            Toolchain::Nightly
        } else {
            Toolchain::StableBootstrap
        })
    }

    /// Where this toolchain's builds go: apart, so that switching does not
    /// rebuild everything.
    fn target_dir(self) -> PathBuf {
        let target = fuzz_dir().join("target");
        match self {
            Toolchain::Nightly => target,
            Toolchain::StableBootstrap => target.join("stable-bootstrap"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Toolchain::Nightly => "nightly toolchain, AddressSanitizer",
            Toolchain::StableBootstrap => {
                "no nightly toolchain: stable with RUSTC_BOOTSTRAP=1, no sanitizer"
            }
        }
    }

    /// `cargo fuzz SUBCOMMAND` in `fuzz/` with this toolchain and the fuzz
    /// target directory.
    fn cargo_fuzz(self, subcommand: &str) -> Command {
        let mut command = match self {
            Toolchain::Nightly => {
                let mut command = Command::new("rustup");
                command.args(["run", "nightly", "cargo", "fuzz", subcommand]);
                command
            }
            Toolchain::StableBootstrap => {
                let mut command = Command::new("cargo");
                command
                    .args(["fuzz", subcommand])
                    .env("RUSTC_BOOTSTRAP", "1");
                command
            }
        };
        // `cargo xtask` runs us under cargo, which points these at the stable
        // toolchain; cargo-fuzz would follow them instead of our choice.
        for variable in ["CARGO", "RUSTC", "RUSTDOC", "RUSTC_WRAPPER"] {
            command.env_remove(variable);
        }
        if self == Toolchain::Nightly {
            command.env_remove("RUSTUP_TOOLCHAIN");
        }
        command.current_dir(fuzz_dir());
        if subcommand != "list" {
            command.arg("--target-dir").arg(self.target_dir());
            if self == Toolchain::StableBootstrap {
                command.args(["--sanitizer", "none"]);
            }
        }
        command
    }
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("fuzz")
}

/// The runner, which three targets fuzz, embeds the default suite, whose
/// build script compiles the task modules for wasm32 with the toolchain of
/// the build: that toolchain needs the target.
fn ensure_wasm_target(toolchain: Toolchain) -> Result<()> {
    match toolchain {
        Toolchain::StableBootstrap => crate::setup(),
        Toolchain::Nightly => {
            let installed = capture(Command::new("rustup").args([
                "target",
                "list",
                "--installed",
                "--toolchain",
                "nightly",
            ]))
            .context("listing the nightly toolchain's targets")?;
            if installed.lines().any(|line| line.trim() == WASM_TARGET) {
                return Ok(());
            }
            step(
                &format!("install target {WASM_TARGET} for nightly"),
                Command::new("rustup").args([
                    "target",
                    "add",
                    WASM_TARGET,
                    "--toolchain",
                    "nightly",
                ]),
            )
        }
    }
}

/// Installs cargo-fuzz when `cargo fuzz` does not answer.
fn ensure_cargo_fuzz() -> Result<()> {
    let answers = Command::new("cargo")
        .args(["fuzz", "--version"])
        .env_remove("CARGO")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if answers {
        return Ok(());
    }
    step(
        "install cargo-fuzz",
        Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]),
    )
}

/// What one target's run did, from libFuzzer's final statistics.
struct Ran {
    target: String,
    executions: Option<u64>,
    corpus: usize,
}

/// Builds every target, then runs each (or each of `only`) for `seconds`.
pub fn run(seconds: u32, only: &[String]) -> Result<()> {
    ensure_cargo_fuzz()?;
    let toolchain = Toolchain::detect()?;
    eprintln!("xtask: fuzzing with the {}", toolchain.describe());
    ensure_wasm_target(toolchain)?;
    let listed = capture(&mut toolchain.cargo_fuzz("list")).context("listing the fuzz targets")?;
    let all: Vec<String> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if all.is_empty() {
        bail!(
            "`cargo fuzz list` found no targets in {}",
            fuzz_dir().display()
        );
    }
    for name in only {
        if !all.contains(name) {
            bail!("no fuzz target {name:?} (targets: {})", all.join(", "));
        }
    }
    let targets: Vec<&String> = all
        .iter()
        .filter(|t| only.is_empty() || only.contains(t))
        .collect();
    step(
        &format!("build {} fuzz targets", all.len()),
        &mut toolchain.cargo_fuzz("build"),
    )?;
    let mut ran = Vec::new();
    for target in targets {
        ran.push(run_target(toolchain, target, seconds)?);
    }
    let mut summary = String::new();
    for r in &ran {
        let executions = r.executions.map_or("?".to_owned(), |n| n.to_string());
        let _ = writeln!(
            summary,
            "xtask: fuzz {:<18} {executions:>12} executions in {seconds} s, {} inputs in the corpus, no crash",
            r.target, r.corpus
        );
    }
    eprint!("{summary}");
    Ok(())
}

fn run_target(toolchain: Toolchain, target: &str, seconds: u32) -> Result<Ran> {
    let scratch = fuzz_dir().join("target").join("corpus").join(target);
    let seeds = fuzz_dir().join("corpus").join(target);
    let logs = fuzz_dir().join("target").join("logs");
    for dir in [&scratch, &seeds, &logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let log = logs.join(format!("{target}.log"));
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut command = toolchain.cargo_fuzz("run");
    command
        .arg(target)
        .arg(&scratch)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg("-print_final_stats=1")
        .stdout(log_file.try_clone().context("duplicating the log file")?)
        .stderr(log_file);
    let name = format!("fuzz {target} for {seconds} s");
    eprintln!("xtask: ==> {name} (log: {})", log.display());
    let status = command
        .status()
        .with_context(|| format!("step \"{name}\": cannot start cargo fuzz"))?;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        for line in tail.iter().rev() {
            eprintln!("    {line}");
        }
        eprintln!(
            "xtask: {target} crashed or failed; the input is in {}",
            fuzz_dir().join("artifacts").join(target).display()
        );
        return Err(StepFailed {
            name,
            status,
            code: 1,
        }
        .into());
    }
    Ok(Ran {
        target: target.to_owned(),
        executions: final_stat(&text, "stat::number_of_executed_units:"),
        corpus: count_files(&scratch) + count_files(&seeds),
    })
}

/// The value of one of libFuzzer's `-print_final_stats` lines.
fn final_stat(log: &str, name: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix(name))
        .and_then(|value| value.trim().parse().ok())
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.filter(|e| e.is_ok()).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_are_read_from_the_last_matching_line() {
        let log = "INFO: seed\nstat::number_of_executed_units: 12\n#99 DONE\nstat::number_of_executed_units: 345\nstat::peak_rss_mb: 40\n";
        assert_eq!(
            final_stat(log, "stat::number_of_executed_units:"),
            Some(345)
        );
        assert_eq!(final_stat(log, "stat::average_exec_per_sec:"), None);
    }
}
