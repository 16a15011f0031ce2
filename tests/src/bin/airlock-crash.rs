//! `airlock-crash`: the crash harness as a command (`cargo xtask crash` runs
//! it). SIGKILLs runs of the default suite at random moments, resumes each
//! with `--resume` until it finishes, and checks that every bundle verifies,
//! that no result reported durable was lost or appears twice, and that the
//! results equal those of an uninterrupted run with the same seed.
//!
//! Exit codes: 0 nothing lost, 1 something lost, duplicated or different,
//! 2 usage error.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use airlock_tests::crash::{CrashConfig, campaign};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "airlock-crash",
    about = "SIGKILL and resume airlock runs; count what is lost"
)]
struct Args {
    /// The airlock binary under test.
    #[arg(long)]
    airlock: PathBuf,
    /// Kills to survive before stopping.
    #[arg(long, default_value_t = 100)]
    kills: u32,
    /// Seed of the kill schedule; random (and printed) when omitted.
    #[arg(long)]
    seed: Option<u64>,
    /// Reference agent delays per reply, in ms; each run picks one.
    #[arg(long, value_delimiter = ',', default_value = "10,40,120")]
    delays_ms: Vec<u64>,
    /// Kills per run at most before it is left to finish.
    #[arg(long, default_value_t = 3)]
    max_kills_per_run: u32,
    /// Keep the campaign's files in this directory (created) instead of a temporary one.
    #[arg(long)]
    keep: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!(
        "crash: seed {seed} (repeat with --seed {seed}); {} kills, delays {:?} ms",
        args.kills, args.delays_ms
    );
    let temp;
    let dir = match &args.keep {
        Some(dir) => {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("crash: cannot create {}: {e}", dir.display());
                return ExitCode::from(2);
            }
            dir.clone()
        }
        None => match tempfile::tempdir() {
            Ok(t) => {
                temp = t;
                temp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("crash: cannot make a temporary directory: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let config = CrashConfig {
        airlock: args.airlock,
        kills: args.kills,
        seed,
        delays_ms: args.delays_ms,
        max_kills_per_run: args.max_kills_per_run.max(1),
        verbose: true,
        phases: airlock_tests::crash::KillPhases::Everywhere,
    };
    let started = Instant::now();
    let report = campaign(&config, &dir);
    println!("{report}");
    println!(
        "wall time:             {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Args::command().debug_assert();
    }
}
