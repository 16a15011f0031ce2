//! `cargo xtask bench`: Airlock side by side with UK AISI's Inspect.
//!
//! End to end, both run the same work: N single-turn exact-match samples of
//! a 32-hex-digit string, answered by a model that echoes the prompt —
//! Airlock's bench-only `bench-echo` task with `--agent echo` (every result
//! sandboxed, signed, chained and durable), Inspect with its `mockllm/model`
//! given a callable that echoes. Each run is its own process, timed from
//! start to exit with its peak RSS by `bench/measure.py`; the rounds
//! alternate the two so that a noisy machine slows both alike, and the
//! median round of each counts. Then the bundle verifier's rate against
//! ring's raw Ed25519 rate in one process (attest's `verify_rate` example).
//! Prints one table and writes it, with the machine, to `bench/results.json`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{capture, cargo, setup, step, target_dir, workspace_root};

/// Inspect from PyPI, pinned so that rounds on different days compare.
pub(crate) const INSPECT_REQUIREMENT: &str = "inspect-ai==0.3.285";

/// What must import for the Inspect environment to count as ready.
const INSPECT_CHECK: &str = "import inspect_ai; print(inspect_ai.__version__)";

/// The run seed of every Airlock round: the same instances each time.
const RUN_SEED: &str = "0000000000000000000000000000000000000000000000000000000000000b3c";

/// Airlock must reach this many times Inspect's samples per second.
const THROUGHPUT_TARGET: f64 = 100.0;

/// The verifier must reach this fraction of ring's raw verification rate.
const VERIFY_TARGET: f64 = 0.9;

/// Rounds of the verification measurement, each a second or so; the best
/// of each side counts, which keeps other processes' load out of it.
const VERIFY_ROUNDS: u32 = 11;

/// Settings of `cargo xtask bench`.
pub(crate) struct BenchOptions {
    pub samples: u32,
    pub rounds: u32,
    pub verify_records: u32,
    /// The binary of the end-to-end rounds, when not the release build's.
    pub airlock: Option<PathBuf>,
}

/// One measured process, as `bench/measure.py` writes it.
struct Measured {
    wall_s: f64,
    max_rss_kib: u64,
}

/// One end-to-end round of one side.
struct Round {
    measured: Measured,
    /// The bundle's or the log's size.
    bytes: u64,
}

impl Round {
    fn json(&self, samples: u32) -> Value {
        json!({
            "wall_s": self.measured.wall_s,
            "samples_per_s": f64::from(samples) / self.measured.wall_s,
            "peak_rss_kib": self.measured.max_rss_kib,
            "bytes": self.bytes,
        })
    }
}

pub(crate) fn bench(options: &BenchOptions) -> Result<()> {
    if options.samples == 0 || options.rounds == 0 || options.verify_records == 0 {
        bail!("--samples, --rounds and --verify-records must be at least 1");
    }
    setup()?;
    let target = target_dir()?;
    let root = workspace_root();
    let scripts = root.join("bench");
    // One invocation, so that cargo unifies features once: built apart,
    // the example's dev-dependencies would flip ring's features and
    // rebuild it twice on every bench.
    step(
        "build release airlock and the verify_rate example",
        cargo().args([
            "build",
            "--release",
            "-p",
            "airlock",
            "-p",
            "airlock-attest",
            "--bin",
            "airlock",
            "--example",
            "verify_rate",
        ]),
    )?;
    step(
        "build the bench-echo task module",
        cargo().args([
            "build",
            "--profile",
            "wasm-task",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "bench-task-echo",
        ]),
    )?;
    let python = inspect_setup(&target)?;
    let airlock = match &options.airlock {
        Some(path) => fs::canonicalize(path)
            .with_context(|| format!("--airlock {}: no such binary", path.display()))?,
        None => target
            .join("release")
            .join(format!("airlock{}", std::env::consts::EXE_SUFFIX)),
    };
    let verify_rate = target
        .join("release")
        .join("examples")
        .join(format!("verify_rate{}", std::env::consts::EXE_SUFFIX));

    // A fresh directory each time: the suite, keys, bundles and logs.
    let work = target.join("bench");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    let suite = work.join("suite");
    fs::create_dir_all(&suite).with_context(|| format!("creating {}", suite.display()))?;
    let module = target
        .join("wasm32-unknown-unknown")
        .join("wasm-task")
        .join("bench_task_echo.wasm");
    fs::copy(&module, suite.join("bench_task_echo.wasm"))
        .with_context(|| format!("copying {}", module.display()))?;
    let keys = work.join("keys");
    capture(Command::new(&airlock).arg("keygen").arg("--out").arg(&keys))
        .context("airlock keygen")?;
    let key = keys.join("evaluator.key");
    let public = keys.join("evaluator.pub");

    let samples = options.samples.to_string();
    let mut airlock_rounds = Vec::new();
    let mut inspect_rounds = Vec::new();
    let mut inspect_version = String::new();
    for round in 0..options.rounds {
        let label = format!("round {} of {}", round + 1, options.rounds);

        let bundle = work.join(format!("airlock-{round}.bundle"));
        let mut run = Command::new(&airlock);
        run.args(["run", "--suite"])
            .arg(&suite)
            .args(["--unsigned-suite", "--agent", "echo", "--epochs", &samples])
            .args(["--seed", RUN_SEED])
            .arg("--key")
            .arg(&key)
            .arg("--out")
            .arg(&bundle);
        eprintln!("xtask: ==> {label}: airlock, {samples} samples");
        let measured = measure(&python, &scripts, &work, &format!("airlock-{round}"), &run)?;
        check_bundle(&airlock, &bundle, &public, options.samples)?;
        let bytes = file_len(&bundle)?;
        airlock_rounds.push(Round { measured, bytes });

        let log_dir = work.join(format!("inspect-{round}"));
        let mut eval = Command::new(&python);
        eval.arg(scripts.join("inspect_echo.py"))
            .arg("run")
            .arg(&log_dir)
            .arg(&samples);
        inspect_env(&mut eval, &work);
        eprintln!("xtask: ==> {label}: inspect, {samples} samples");
        let measured = measure(&python, &scripts, &work, &format!("inspect-{round}"), &eval)?;
        let mut check = Command::new(&python);
        check
            .arg(scripts.join("inspect_echo.py"))
            .arg("check")
            .arg(&log_dir)
            .arg(&samples);
        inspect_env(&mut check, &work);
        let checked: Value = serde_json::from_str(
            &capture(&mut check).context("Inspect's log does not show a successful eval")?,
        )
        .context("parsing inspect_echo.py check output")?;
        inspect_version = checked["inspect_version"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        let Some(bytes) = checked["log_bytes"].as_u64() else {
            bail!("inspect_echo.py check printed no log_bytes: {checked}");
        };
        inspect_rounds.push(Round { measured, bytes });
    }

    eprintln!(
        "xtask: ==> verification rate: airlock, {} records",
        options.verify_records
    );
    let bundle = work.join("verify.bundle");
    capture(
        Command::new(&airlock)
            .args(["run", "--suite"])
            .arg(&suite)
            .args(["--unsigned-suite", "--agent", "echo", "--epochs"])
            .arg(options.verify_records.to_string())
            .args(["--seed", RUN_SEED])
            .arg("--key")
            .arg(&key)
            .arg("--out")
            .arg(&bundle),
    )
    .context("airlock run for the verification bundle")?;
    let verify: Value = serde_json::from_str(
        &capture(
            Command::new(&verify_rate)
                .arg(&bundle)
                .arg(&public)
                .arg(VERIFY_ROUNDS.to_string()),
        )
        .context("the verify_rate example")?,
    )
    .context("parsing verify_rate output")?;

    let mut results = summarize(
        options,
        &airlock_rounds,
        &inspect_rounds,
        &inspect_version,
        &verify,
    )?;
    // Which build ran: the release's static binary and the development
    // build differ in size (and so in the time to hash themselves).
    results["end_to_end"]["airlock"]["binary"] = json!({
        "file": if options.airlock.is_some() { "--airlock" } else { "target/release/airlock" },
        "bytes": file_len(&airlock)?,
    });
    print!("{}", table(&results));
    let out = root.join("bench").join("results.json");
    let mut text = serde_json::to_string_pretty(&results).context("encoding results")?;
    text.push('\n');
    fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("xtask: wrote bench/results.json");
    Ok(())
}

/// Makes (once) a Python virtual environment in the target directory with
/// Inspect from PyPI and returns its python.
fn inspect_setup(target: &Path) -> Result<PathBuf> {
    crate::python_venv(
        &target.join("inspect-python"),
        &crate::PythonPackage {
            name: "inspect_ai",
            requirements: &[INSPECT_REQUIREMENT],
            check: INSPECT_CHECK,
        },
    )
}

/// Keeps Inspect inside the work directory and off the network: no
/// tokenizer or model downloads (the mock model's outputs carry their
/// token usage), no configuration from the user's home.
fn inspect_env(command: &mut Command, work: &Path) {
    command
        .env("HOME", work)
        .env("XDG_CACHE_HOME", work.join("cache"))
        .env("XDG_DATA_HOME", work.join("data"))
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .env("INSPECT_LOG_LEVEL", "warning")
        .env_remove("INSPECT_LOG_DIR")
        .env_remove("INSPECT_EVAL_MODEL");
}

/// Runs `command` under `bench/measure.py`: wall time and peak RSS of that
/// process alone. Its stderr goes to `WORK/NAME.stderr`, shown if it fails.
fn measure(
    python: &Path,
    scripts: &Path,
    work: &Path,
    name: &str,
    command: &Command,
) -> Result<Measured> {
    let report = work.join(format!("{name}.measure.json"));
    let stderr = work.join(format!("{name}.stderr"));
    let mut wrapper = Command::new(python);
    wrapper
        .arg(scripts.join("measure.py"))
        .arg(&report)
        .arg(&stderr)
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapper.env(name, value),
            None => wrapper.env_remove(name),
        };
    }
    capture(&mut wrapper).with_context(|| format!("measuring {name}"))?;
    let text =
        fs::read_to_string(&report).with_context(|| format!("reading {}", report.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", report.display()))?;
    let code = value["exit_code"].as_i64().unwrap_or(-1);
    if code != 0 {
        let output = fs::read_to_string(&stderr).unwrap_or_default();
        bail!("{name} exited with {code}:\n{output}");
    }
    match (value["wall_s"].as_f64(), value["max_rss_kib"].as_u64()) {
        (Some(wall_s), Some(max_rss_kib)) if wall_s > 0.0 => Ok(Measured {
            wall_s,
            max_rss_kib,
        }),
        _ => bail!("{}: unexpected content: {text}", report.display()),
    }
}

/// The round counts only if its bundle verifies with every sample there
/// and scored full.
fn check_bundle(airlock: &Path, bundle: &Path, public: &Path, samples: u32) -> Result<()> {
    let verdict: Value = serde_json::from_str(
        &capture(
            Command::new(airlock)
                .arg("verify")
                .arg(bundle)
                .arg("--trust")
                .arg(public)
                .arg("--json"),
        )
        .with_context(|| format!("{} does not verify", bundle.display()))?,
    )
    .context("parsing airlock verify --json")?;
    let full = verdict["full_credit"].as_u64();
    if verdict["verified"] != json!(true)
        || verdict["results"].as_u64() != Some(u64::from(samples))
        || full != Some(u64::from(samples))
    {
        bail!(
            "{}: expected a verified bundle of {samples} full-credit results: {verdict}",
            bundle.display()
        );
    }
    Ok(())
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len())
}

/// The median of each side's rounds (the lower middle one for an even
/// count), by wall time.
fn median(rounds: &[Round]) -> Result<&Round> {
    let mut sorted: Vec<&Round> = rounds.iter().collect();
    sorted.sort_by(|a, b| a.measured.wall_s.total_cmp(&b.measured.wall_s));
    sorted
        .get((sorted.len().saturating_sub(1)) / 2)
        .copied()
        .context("no rounds were measured")
}

fn summarize(
    options: &BenchOptions,
    airlock: &[Round],
    inspect: &[Round],
    inspect_version: &str,
    verify: &Value,
) -> Result<Value> {
    let samples = options.samples;
    let a = median(airlock)?;
    let i = median(inspect)?;
    let rate = |r: &Round| f64::from(samples) / r.measured.wall_s;
    let ratio = rate(a) / rate(i);
    let peak = |rounds: &[Round]| rounds.iter().map(|r| r.measured.max_rss_kib).max();
    let (Some(verifier), Some(ring), Some(verify_ratio), Some(records)) = (
        verify["verifier_records_per_s"].as_f64(),
        verify["ring_verifies_per_s"].as_f64(),
        verify["ratio"].as_f64(),
        verify["records"].as_u64(),
    ) else {
        bail!("verify_rate printed an unexpected object: {verify}");
    };
    Ok(json!({
        "format": "airlock-bench/1",
        "command": "cargo xtask bench",
        "machine": machine()?,
        "end_to_end": {
            "samples": samples,
            "rounds": options.rounds,
            "task": "one single-turn exact-match sample: repeat a seeded 32-hex-digit string",
            "airlock": {
                "how": "airlock run --suite DIR --unsigned-suite --agent echo --epochs N (bench-echo task; each result sandboxed, signed, chained, durable; bundle verified after)",
                "samples_per_s": rate(a),
                "wall_s": a.measured.wall_s,
                "bytes_per_result": a.bytes as f64 / f64::from(samples),
                "bundle_bytes": a.bytes,
                "peak_rss_kib": peak(airlock),
                "rounds": airlock.iter().map(|r| r.json(samples)).collect::<Vec<_>>(),
            },
            "inspect": {
                "how": "inspect_ai eval() of N samples, mockllm/model with an echoing custom_outputs callable, exact() scorer; log status checked",
                "version": inspect_version,
                "samples_per_s": rate(i),
                "wall_s": i.measured.wall_s,
                "bytes_per_sample": i.bytes as f64 / f64::from(samples),
                "log_bytes": i.bytes,
                "peak_rss_kib": peak(inspect),
                "rounds": inspect.iter().map(|r| r.json(samples)).collect::<Vec<_>>(),
            },
            "ratio": ratio,
            "target_ratio": THROUGHPUT_TARGET,
            "target_met": ratio >= THROUGHPUT_TARGET,
        },
        "verification": {
            "records": records,
            "verifier_records_per_s": verifier,
            "ring_verifies_per_s": ring,
            "ratio": verify_ratio,
            "target_ratio": VERIFY_TARGET,
            "target_met": verify_ratio >= VERIFY_TARGET,
        },
    }))
}

/// Cores, CPU model, OS and rustc: nothing that names this machine or a
/// path on it.
fn machine() -> Result<Value> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let os_release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let distribution = os_release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map_or_else(
            || std::env::consts::OS.to_owned(),
            |v| v.trim_matches('"').to_owned(),
        );
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let rustc = capture(
        Command::new(rustc)
            .arg("--version")
            .current_dir(workspace_root()),
    )
    .context("asking rustc for its version")?;
    Ok(json!({
        "cores": cores,
        "cpu": cpu,
        "os": format!("{distribution}, Linux {}", kernel.trim()),
        "rustc": rustc.trim(),
    }))
}

/// The table `bench` prints, in Markdown so the README can carry it as is.
pub(crate) fn table(results: &Value) -> String {
    let e = &results["end_to_end"];
    let (a, i) = (&e["airlock"], &e["inspect"]);
    let v = &results["verification"];
    let m = &results["machine"];
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mib = |v: &Value| v.as_f64().unwrap_or(f64::NAN) / 1024.0;
    let met = |v: &Value| if v == &json!(true) { "met" } else { "MISSED" };
    let mut out = String::new();
    out.push_str(&format!(
        "{} single-turn exact-match samples, median of {} rounds; Inspect {}\n\n",
        e["samples"],
        e["rounds"],
        i["version"].as_str().unwrap_or("?")
    ));
    out.push_str("| measure | Airlock | Inspect | Airlock / Inspect | target |\n");
    out.push_str("| --- | ---: | ---: | ---: | --- |\n");
    out.push_str(&format!(
        "| samples/s, end to end | {:.0} | {:.1} | {:.1}x | ≥ {}x, {} |\n",
        f(&a["samples_per_s"]),
        f(&i["samples_per_s"]),
        f(&e["ratio"]),
        e["target_ratio"],
        met(&e["target_met"])
    ));
    out.push_str(&format!(
        "| bytes per result (bundle / log) | {:.0} | {:.0} | {:.2}x | |\n",
        f(&a["bytes_per_result"]),
        f(&i["bytes_per_sample"]),
        f(&a["bytes_per_result"]) / f(&i["bytes_per_sample"])
    ));
    out.push_str(&format!(
        "| peak RSS, MiB | {:.1} | {:.1} | {:.2}x | |\n",
        mib(&a["peak_rss_kib"]),
        mib(&i["peak_rss_kib"]),
        f(&a["peak_rss_kib"]) / f(&i["peak_rss_kib"])
    ));
    out.push_str(&format!(
        "\n| verification, {} records | records/s | ring Ed25519 verifies/s | ratio | target |\n",
        v["records"]
    ));
    out.push_str("| --- | ---: | ---: | ---: | --- |\n");
    out.push_str(&format!(
        "| `airlock verify` level checks | {:.0} | {:.0} | {:.2} | ≥ {}, {} |\n",
        f(&v["verifier_records_per_s"]),
        f(&v["ring_verifies_per_s"]),
        f(&v["ratio"]),
        v["target_ratio"],
        met(&v["target_met"])
    ));
    out.push_str(&format!(
        "\nMachine: {} cores, {}; {}; {}.\n",
        m["cores"],
        m["cpu"].as_str().unwrap_or("?"),
        m["os"].as_str().unwrap_or("?"),
        m["rustc"].as_str().unwrap_or("?")
    ));
    out
}
