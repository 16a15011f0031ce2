//! `airlock export --inspect`: the log the pinned inspect_ai reads with
//! `read_eval_log` (tests/python/read_inspect_log.py, every warning an
//! error) says what `airlock report --format json` of the same bundle says:
//! one sample per result with its score, outcome, fuel, memory, turns and
//! tokens; the run's statistics as results; the verdict, bundle digest, run
//! id, key id and settings in its metadata. Sealed samples carry no text, a
//! disclosed one its messages. `inspect view bundle` of the log, served on
//! 127.0.0.1 and opened in headless chromium, shows the task ids and scores.
//!
//! The interpreter is `AIRLOCK_PYTHON` (the venv `cargo xtask setup` makes,
//! with inspect-ai pinned); without it, or without chromium, the Python and
//! browser halves are skipped with a warning, and fail under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use airlock_tests::*;
use serde_json::Value;

/// Held by each test of this file for its whole length. Once, in a full
/// test run on a two-core machine, every virtual-time budget ran out with
/// the viewer still "Loading log…" while a sibling test imported
/// inspect-ai on the other core: the viewer's loading is not all work that
/// chromium's virtual time waits for. One test at a time leaves the
/// browser the machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn python() -> Option<PathBuf> {
    match std::env::var_os("AIRLOCK_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if under_ci() => panic!(
            "\n\n*** AIRLOCK_PYTHON is not set under CI=true: the inspect_ai check cannot run. \
             `cargo xtask test` makes the virtual environment and sets it. ***\n\n"
        ),
        _ => {
            eprintln!(
                "\n*** WARNING: AIRLOCK_PYTHON is not set: skipping the inspect_ai half of the \
                 Inspect export test. Run `cargo xtask setup` and set AIRLOCK_PYTHON. ***\n"
            );
            None
        }
    }
}

/// Keeps Inspect inside `work` and off the network, as `cargo xtask bench` does.
fn inspect_env(command: &mut Command, work: &Path) {
    command
        .env("HOME", work)
        .env("XDG_CACHE_HOME", work.join("cache"))
        .env("XDG_DATA_HOME", work.join("data"))
        .env("XDG_CONFIG_HOME", work.join("config"))
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .env("INSPECT_LOG_LEVEL", "warning")
        .env("INSPECT_TELEMETRY", "")
        .env_remove("INSPECT_LOG_DIR")
        .env_remove("INSPECT_EVAL_MODEL");
}

fn export_inspect(bundle: &Path, out: &Path, pubkey: &Path, extra: &[&Path]) -> Finished {
    let mut command = airlock();
    command
        .arg("export")
        .arg(bundle)
        .arg("--inspect")
        .arg(out)
        .arg("--pubkey")
        .arg(pubkey);
    for file in extra {
        command.arg("--disclosed").arg(file);
    }
    finish(&mut command)
}

fn report_json(bundle: &Path, trust: &Path) -> Value {
    let done = finish(
        airlock()
            .arg("report")
            .arg(bundle)
            .arg("--trust")
            .arg(trust)
            .args(["--format", "json"]),
    );
    done.expect_code(0);
    done.json()
}

/// What read_inspect_log.py printed, and how long the Python check took.
fn read_with_inspect(python: &Path, log: &Path, work: &Path) -> (Value, Duration) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/read_inspect_log.py");
    let mut command = Command::new(python);
    command.arg(&script).arg(log);
    inspect_env(&mut command, work);
    let began = Instant::now();
    let done = finish_within(&mut command, Duration::from_secs(300));
    let took = began.elapsed();
    assert_eq!(done.code(), 0, "read_inspect_log.py failed: {done}");
    assert!(
        done.stderr.trim().is_empty(),
        "read_inspect_log.py wrote to stderr: {done}"
    );
    (serde_json::from_str(&done.stdout).unwrap(), took)
}

fn ppm_fraction(ppm: &Value) -> f64 {
    ppm.as_u64().unwrap() as f64 / 1_000_000.0
}

struct Exported {
    dir: tempfile::TempDir,
    key: Key,
    bundle: PathBuf,
    log: PathBuf,
}

/// A reference run of the default suite over two epochs, exported.
fn exported(extra: impl Fn(&Path, &Key, &Path) -> Vec<PathBuf>) -> Exported {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle = dir.path().join("run.bundle");
    Run::new("reference", &key, &bundle)
        .seed(seed(5))
        .arg("--epochs")
        .arg("2")
        .finish()
        .expect_code(0);
    let files = extra(dir.path(), &key, &bundle);
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    // A name as Inspect gives its logs: `inspect view` lists only those.
    let log = dir
        .path()
        .join("logs")
        .join("2026-01-01T00-00-00-00-00_default_run.json");
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    export_inspect(&bundle, &log, &key.public, &refs).expect_code(0);
    Exported {
        dir,
        key,
        bundle,
        log,
    }
}

#[test]
fn inspect_reads_the_log_and_it_says_what_the_report_says() {
    let _serial = one_at_a_time();
    let run = exported(|_, _, _| Vec::new());
    let report = report_json(&run.bundle, &run.key.public);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), DEFAULT_TASKS.len() * 2);

    // Without Python the log is still checked as JSON against the report.
    let raw: Value = serde_json::from_slice(&std::fs::read(&run.log).unwrap()).unwrap();
    assert_eq!(raw["version"], 2);
    assert_eq!(raw["samples"].as_array().unwrap().len(), results.len());
    assert_eq!(
        raw["metadata"]["bundle_blake3"],
        airlock_core::Digest::blake3(&std::fs::read(&run.bundle).unwrap())
            .to_hex()
            .as_str()
    );

    let Some(python) = python() else {
        return;
    };
    let (log, took) = read_with_inspect(&python, &run.log, run.dir.path());
    eprintln!(
        "read_eval_log of {} samples: {:.2} s (inspect_ai {})",
        results.len(),
        took.as_secs_f64(),
        log["inspect_version"]
    );
    assert_eq!(log["inspect_version"], "0.3.285");
    assert_eq!(log["status"], "success");
    let run_json = &report["run"];
    assert_eq!(log["task"], run_json["suite"]["name"]);
    assert_eq!(
        log["model"].as_str().unwrap(),
        format!(
            "{}/{}",
            run_json["model"]["agent"].as_str().unwrap(),
            run_json["model"]["model"].as_str().unwrap()
        )
    );
    assert_eq!(log["epochs"], 2);
    assert_eq!(log["total_samples"], run_json["planned"]);

    let samples = log["samples"].as_array().unwrap();
    assert_eq!(samples.len(), results.len());
    for result in results {
        let epoch = result["epoch"].as_u64().unwrap() + 1;
        let sample = samples
            .iter()
            .find(|s| s["id"] == result["task_id"] && s["epoch"] == epoch)
            .unwrap_or_else(|| panic!("no sample for {result}"));
        assert_eq!(
            sample["scores"]["airlock"].as_f64().unwrap(),
            ppm_fraction(&result["score_ppm"]),
            "{sample}"
        );
        assert_eq!(sample["answer"]["airlock"], result["outcome"]);
        let meta = &sample["metadata"];
        for field in [
            "outcome",
            "score_ppm",
            "fuel_consumed",
            "peak_memory_bytes",
            "turns",
            "prompt_tokens",
            "completion_tokens",
            "category",
            "plan_index",
        ] {
            assert_eq!(meta[field], result[field], "{field} of {sample}");
        }
        assert_eq!(meta["disclosed"], false);
        assert_eq!(sample["roles"], serde_json::json!([]), "{sample}");
    }

    let overall = &report["statistics"]["overall"];
    assert_eq!(
        log["metrics"]["airlock/mean"].as_f64().unwrap(),
        ppm_fraction(&overall["mean_ppm"])
    );
    assert_eq!(
        log["metrics"]["airlock/stderr"].as_f64().unwrap(),
        ppm_fraction(&overall["standard_error_ppm"])
    );
    assert_eq!(
        log["metrics"]["airlock/passes"].as_f64().unwrap(),
        overall["passes"].as_u64().unwrap() as f64
    );

    let meta = &log["metadata"];
    assert_eq!(meta["verified"], true);
    assert_eq!(meta["verdict"]["verified"], true);
    assert_eq!(meta["run_id"], run_json["run_id"]);
    assert_eq!(meta["key_id"], run_json["key_id"]);
    assert_eq!(meta["settings"], run_json["settings"]);
    assert_eq!(meta["bundle_blake3"], raw["metadata"]["bundle_blake3"]);
    assert_eq!(meta["final_hash"], report["verdict"]["final_hash"]);
}

#[test]
fn a_disclosed_sample_carries_its_messages_and_the_others_none() {
    let _serial = one_at_a_time();
    let run = exported(|dir, key, bundle| {
        let file = dir.join("xor.json");
        finish(
            airlock()
                .arg("disclose")
                .arg(bundle)
                .args(["--task", "crypto-xor", "--epoch", "1", "--key"])
                .arg(&key.private)
                .arg("--out")
                .arg(&file),
        )
        .expect_code(0);
        vec![file]
    });
    let disclosure: Value =
        serde_json::from_slice(&std::fs::read(run.dir.path().join("xor.json")).unwrap()).unwrap();
    let disclosed_index = disclosure["plan_index"].clone();
    let Some(python) = python() else {
        return;
    };
    let (log, _) = read_with_inspect(&python, &run.log, run.dir.path());
    let samples = log["samples"].as_array().unwrap();
    assert_eq!(samples.len(), DEFAULT_TASKS.len() * 2);
    let mut with_messages = 0;
    for sample in samples {
        let roles = sample["roles"].as_array().unwrap();
        if sample["metadata"]["plan_index"] == disclosed_index {
            with_messages += 1;
            assert_eq!(sample["metadata"]["disclosed"], true);
            assert_eq!(roles.first().unwrap(), "user", "{sample}");
            assert!(roles.iter().any(|r| r == "assistant"), "{sample}");
            let first_prompt = disclosure["transcript"]["turns"][0]["prompt"]["Text"]
                .as_str()
                .unwrap_or_else(|| panic!("a text first prompt: {disclosure}"));
            assert_eq!(sample["texts"][0], first_prompt);
            assert_eq!(sample["input"], first_prompt);
        } else {
            assert_eq!(sample["metadata"]["disclosed"], false);
            assert!(roles.is_empty(), "{sample}");
            assert_eq!(sample["input"], "(transcript sealed: not disclosed)");
        }
    }
    assert_eq!(with_messages, 1);
    assert_eq!(
        log["metadata"]["disclosed_plan_indices"],
        serde_json::json!([disclosed_index])
    );
}

#[test]
fn an_unverified_bundle_is_refused_and_an_existing_log_kept_without_force() {
    let _serial = one_at_a_time();
    let run = exported(|_, _, _| Vec::new());
    let before = std::fs::read(&run.log).unwrap();
    // The log exists: refused, untouched; --force replaces it (same bytes:
    // the export is a function of the bundle).
    let done = export_inspect(&run.bundle, &run.log, &run.key.public, &[]);
    done.expect_code(2);
    assert!(done.stderr.contains("already exists"), "{done}");
    let mut forced = airlock();
    forced
        .arg("export")
        .arg(&run.bundle)
        .arg("--inspect")
        .arg(&run.log)
        .arg("--key")
        .arg(&run.key.private)
        .arg("--force");
    finish(&mut forced).expect_code(0);
    assert_eq!(std::fs::read(&run.log).unwrap(), before);

    // One flipped byte near the end: a result's signature no longer holds.
    let mut bytes = std::fs::read(&run.bundle).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    let bad = run.dir.path().join("bad.bundle");
    std::fs::write(&bad, &bytes).unwrap();
    let out = run.dir.path().join("bad.json");
    let done = export_inspect(&bad, &out, &run.key.public, &[]);
    done.expect_code(1);
    assert!(done.stderr.contains("no Inspect log written"), "{done}");
    assert!(!out.exists());
    // Another key: not verified either.
    let other = keygen_named(run.dir.path(), "other");
    let done = export_inspect(&run.bundle, &out, &other.public, &[]);
    done.expect_code(1);
    assert!(!out.exists());
}

/// A child killed when dropped, so a failed assertion leaves no server.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `python -m http.server` on an ephemeral port of 127.0.0.1 serving
/// `dir`; returns the server and its port, read from its first line.
fn serve(python: &Path, dir: &Path, work: &Path) -> (Server, u16) {
    // Port 0: the system picks a free port; the server prints it.
    let mut command = Command::new(python);
    command
        .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    inspect_env(&mut command, work);
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let port = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (server, port)
}

/// A page's text: tags dropped and white space collapsed.
fn page_text(dom: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn inspect_view_of_the_log_shows_task_ids_and_scores_in_a_browser() {
    let _serial = one_at_a_time();
    let (Some(python), Some(chromium)) = (python(), chromium("`inspect view`")) else {
        return;
    };
    let run = exported(|_, _, _| Vec::new());
    let work = run.dir.path();
    let site = work.join("site");
    let inspect = python.with_file_name("inspect");
    let mut bundle = Command::new(&inspect);
    bundle
        .args(["view", "bundle", "--log-dir"])
        .arg(work.join("logs"))
        .arg("--output-dir")
        .arg(&site);
    inspect_env(&mut bundle, work);
    let done = finish_within(&mut bundle, Duration::from_secs(300));
    assert_eq!(done.code(), 0, "inspect view bundle failed: {done}");
    assert!(site.join("index.html").is_file(), "{done}");

    let report = report_json(&run.bundle, &run.key.public);
    let (_server, port) = serve(&python, &site, work);
    // The viewer fetches the log after the page loads: the browser is
    // asked for the DOM in real time until the log is shown (virtual time
    // ran out on the viewer's timers with the log still loading).
    let mean = ppm_fraction(&report["statistics"]["overall"]["mean_ppm"]);
    let shown = if mean.fract() == 0.0 {
        format!("{mean:.1}")
    } else {
        format!("{mean}")
    };
    let mut browser = airlock_tests::browser::Browser::open(
        &chromium,
        &work.join("profile"),
        // The viewer's route of the one log.
        &format!(
            "http://127.0.0.1:{port}/#/logs/{}",
            run.log.file_name().unwrap().to_str().unwrap()
        ),
    );
    let dom = browser.dom_when(Duration::from_secs(120), |dom| {
        let text = page_text(dom);
        !text.contains("Loading log")
            && DEFAULT_TASKS.iter().all(|task| text.contains(task))
            && text.contains(&format!("mean {shown}"))
    });
    drop(browser);
    let text = page_text(&dom);
    eprintln!("inspect view page: {} bytes of DOM", dom.len());
    let suite = report["run"]["suite"]["name"].as_str().unwrap();
    assert!(text.contains(suite), "the suite {suite} is not in the page");
    for task in DEFAULT_TASKS {
        assert!(
            text.contains(task),
            "task {task} is not in the page: {text}"
        );
    }
    // The run's mean score as Inspect shows a metric (Python's repr of the
    // float: 1.0, 0.875), next to its name.
    assert!(
        text.contains(&format!("mean {shown}")),
        "the mean score {shown} is not in the page: {text}"
    );
}
