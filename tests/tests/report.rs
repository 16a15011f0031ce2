//! `airlock report`: verification first, the table and the `airlock-report/1`
//! JSON, unverified bundles marked as such, and `--out` written atomically.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airlock_tests::*;
use serde_json::Value;

/// A key and a verified bundle of the default suite with `agent` and `epochs`.
fn bundle(dir: &Path, agent: &str, epochs: u32) -> (Key, PathBuf) {
    let key = keygen(dir);
    let out = dir.join(format!("{agent}.bundle"));
    Run::new(agent, &key, &out)
        .seed(seed(3))
        .arg("--epochs")
        .arg(&epochs.to_string())
        .finish()
        .expect_code(0);
    (key, out)
}

fn report(bundle: &Path, trust: &Path, extra: &[&str]) -> Finished {
    finish(
        airlock()
            .arg("report")
            .arg(bundle)
            .arg("--trust")
            .arg(trust)
            .args(extra),
    )
}

fn group<'a>(json: &'a Value, kind: &str, name: &str) -> &'a Value {
    json["statistics"][kind]
        .as_array()
        .unwrap_or_else(|| panic!("no statistics.{kind} in {json}"))
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {json}"))
}

/// One run serves several checks: runs are the slow part of these tests.
#[test]
fn report_of_a_verified_run() {
    let dir = tempfile::tempdir().unwrap();
    let (key, path) = bundle(dir.path(), "reference", 3);
    json_report_has_the_documented_fields(&key, &path);
    the_same_bundle_gives_the_same_report_to_the_digit(&key, &path);
    table_shows_categories_tasks_and_intervals(&key, &path);
    out_is_written_atomically_and_never_replaced_without_force(dir.path(), &key, &path);
}

fn json_report_has_the_documented_fields(key: &Key, path: &Path) {
    let done = report(path, &key.public, &["--format", "json"]);
    done.expect_code(0);
    let json = done.json();
    assert_eq!(json["format"], "airlock-report/1");
    assert_eq!(json["status"], "verified");
    assert_eq!(json["verified"], true);
    assert_eq!(json["unverified_reason"], Value::Null);
    assert_eq!(json["verdict"]["format"], "airlock-verdict/1");
    assert_eq!(json["verdict"]["verified"], true);
    let run = &json["run"];
    assert_eq!(run["run_id"], json["verdict"]["run_id"]);
    assert_eq!(run["key_id"], key.id.as_str());
    assert_eq!(run["suite"]["name"], "default");
    assert_eq!(run["suite"]["trust"], "embedded");
    assert_eq!(run["profile"]["name"], "default");
    assert_eq!(run["model"]["agent"], "reference");
    assert_eq!(run["station_run_counter"], 1);
    assert_eq!(run["epochs"], 3);
    let planned = DEFAULT_TASKS.len() * 3;
    assert_eq!(run["planned"], planned);
    assert_eq!(json["end"], "completed");

    let overall = &json["statistics"]["overall"];
    assert_eq!(overall["results"], planned);
    assert_eq!(overall["passes"], planned);
    assert_eq!(overall["mean_ppm"], FULL_PPM);
    assert_eq!(overall["standard_error_ppm"], 0);
    assert_eq!(overall["ci95_low_ppm"], FULL_PPM);
    assert_eq!(overall["ci95_high_ppm"], FULL_PPM);
    let ks: Vec<u64> = overall["pass_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["k"].as_u64().unwrap())
        .collect();
    assert_eq!(ks, [1, 2, 3]);
    assert_eq!(overall["pass_k"][2]["pass_hat_k"], "1/1");
    assert_eq!(overall["pass_k"][2]["pass_hat_k_ppm"], FULL_PPM);

    assert_eq!(group(&json, "tasks", "crypto-xor")["category"], "crypto");
    assert_eq!(group(&json, "tasks", "agentic-host")["category"], "agentic");
    assert_eq!(group(&json, "categories", "crypto")["tasks"], 2);
    assert_eq!(group(&json, "categories", "crypto")["results"], 6);
    assert!(
        json["statistics"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["category"] != "unknown"),
        "every embedded task has its category"
    );
    let tasks: Vec<&str> = json["statistics"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, DEFAULT_TASKS);

    assert_eq!(json["outcomes"]["done"], planned);
    assert_eq!(json["outcomes"]["out-of-fuel"], 0);
    let resources = &json["resources"];
    assert_eq!(resources["profile_known"], true);
    assert_eq!(resources["fuel_budget_per_task"], 200_000_000u64);
    assert_eq!(resources["memory_budget_per_sandbox_bytes"], 64 << 20);
    assert_eq!(
        resources["tasks"].as_array().unwrap().len(),
        DEFAULT_TASKS.len()
    );
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), planned);
    assert_eq!(results[0]["category"], "crypto");
    // Memory per task is the largest recorded peak of its results, and
    // every instance of a real task has some linear memory.
    for task in resources["tasks"].as_array().unwrap() {
        let id = task["task_id"].as_str().unwrap();
        let peaks: Vec<u64> = results
            .iter()
            .filter(|r| r["task_id"] == id)
            .map(|r| r["peak_memory_bytes"].as_u64().unwrap())
            .collect();
        let max = peaks.iter().copied().max().unwrap();
        assert!(max >= 65536 && max % 65536 == 0, "{id}: {max} bytes");
        assert_eq!(task["memory_max_bytes"], max, "{id}");
        assert_eq!(
            task["memory_max_of_budget_ppm"],
            max * 1_000_000 / (64 << 20),
            "{id}"
        );
    }
}

#[test]
fn a_run_with_no_credit_and_a_comparison_of_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let reference = dir.path().join("reference.bundle");
    Run::new("reference", &key, &reference)
        .seed(seed(1))
        .finish()
        .expect_code(0);
    let null = dir.path().join("null.bundle");
    Run::new("null", &key, &null)
        .seed(seed(2))
        .arg("--epochs")
        .arg("2")
        .finish()
        .expect_code(0);

    let json = report(&null, &key.public, &["--format", "json"])
        .expect_code(0)
        .json();
    let overall = &json["statistics"]["overall"];
    assert_eq!(overall["mean_ppm"], 0);
    assert_eq!(overall["passes"], 0);
    assert_eq!(overall["pass_k"][0]["pass_at_k"], "0/1");
    assert_eq!(overall["pass_k"][1]["k"], 2);
    assert_eq!(overall["pass_k"][1]["pass_at_k_ppm"], 0);

    let compare = |b: &Path, extra: &[&str]| {
        finish(
            airlock()
                .arg("report")
                .arg(&reference)
                .arg(b)
                .arg("--trust")
                .arg(&key.public)
                .args(extra),
        )
    };
    let table = compare(&null, &[]);
    table.expect_code(0);
    assert!(table.stdout.contains("B − A"), "{table}");
    assert!(table.stdout.contains("−100.00 pp"), "{table}");
    assert!(table.stdout.contains("1 and 2 epochs"), "{table}");
    assert!(!table.stdout.contains("UNVERIFIED"), "{table}");
    for task in DEFAULT_TASKS {
        assert!(table.stdout.contains(task), "{task}: {table}");
    }

    let json = compare(&null, &["--format", "json"]).expect_code(0).json();
    assert_eq!(json["format"], "airlock-report-compare/1");
    assert_eq!(json["status"], "verified");
    assert_eq!(json["overall"]["delta_ppm"], -1_000_000);
    assert_eq!(json["overall"]["a_mean_ppm"], FULL_PPM);
    assert_eq!(json["a"]["format"], "airlock-report/1");
    assert_eq!(json["b"]["run"]["model"]["agent"], "null");
    let tasks = json["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), DEFAULT_TASKS.len());
    assert!(
        tasks
            .iter()
            .all(|t| t["same_module"] == true && t["delta_ppm"] == -1_000_000)
    );

    let html = dir.path().join("compare.html");
    compare(
        &null,
        &["--format", "html", "--out", html.to_str().unwrap()],
    )
    .expect_code(0);
    let page = std::fs::read_to_string(&html).unwrap();
    for side in [&json["a"], &json["b"]] {
        let run_id = side["run"]["run_id"].as_str().unwrap();
        assert!(page.contains(run_id), "run id {run_id} missing");
    }
    assert!(!page.to_ascii_lowercase().contains("<script"));

    // One unverified side makes the whole comparison unverified.
    let mut bytes = std::fs::read(&null).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 2;
    let tampered = dir.path().join("tampered.bundle");
    std::fs::write(&tampered, &bytes).unwrap();
    let done = compare(&tampered, &["--format", "json"]);
    done.expect_code(1);
    let json = done.json();
    assert_eq!(json["status"], "unverified");
    assert_eq!(json["a"]["status"], "verified");
    assert_eq!(json["b"]["status"], "unverified");
    let table = compare(&tampered, &[]);
    table.expect_code(1);
    assert!(table.stdout.starts_with("UNVERIFIED COMPARISON"), "{table}");
}

fn the_same_bundle_gives_the_same_report_to_the_digit(key: &Key, path: &Path) {
    let first = report(path, &key.public, &["--format", "json"])
        .expect_code(0)
        .stdout
        .clone();
    let second = report(path, &key.public, &["--format", "json"])
        .expect_code(0)
        .stdout
        .clone();
    assert_eq!(first, second);
    let table = report(path, &key.public, &[]).expect_code(0).stdout.clone();
    assert_eq!(table, report(path, &key.public, &[]).stdout);
}

fn table_shows_categories_tasks_and_intervals(key: &Key, path: &Path) {
    let done = report(path, &key.public, &[]);
    done.expect_code(0);
    let out = &done.stdout;
    assert!(out.contains("VERIFIED"), "{done}");
    assert!(!out.contains("UNVERIFIED"), "{done}");
    assert!(!out.contains('\x1b'), "no colour with NO_COLOR: {done}");
    assert!(out.contains("scores by category"), "{done}");
    assert!(out.contains("scores by task"), "{done}");
    assert!(out.contains("[100.00%, 100.00%]"), "{done}");
    assert!(out.contains("pass@3") && out.contains("pass^3"), "{done}");
    for task in DEFAULT_TASKS {
        assert!(out.contains(task), "{task} missing: {done}");
    }
    assert!(out.contains("crypto") && out.contains("agentic"), "{done}");
    let forced = report(path, &key.public, &["--color", "always"]);
    assert!(forced.stdout.contains("\x1b[1;32mVERIFIED"), "{forced}");
}

#[test]
fn an_unverified_bundle_is_reported_as_unverified_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (key, path) = bundle(dir.path(), "reference", 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    let tampered = dir.path().join("tampered.bundle");
    std::fs::write(&tampered, &bytes).unwrap();

    let table = report(&tampered, &key.public, &["--color", "always"]);
    table.expect_code(1);
    let first_line = table.stdout.lines().next().unwrap_or_default();
    assert!(
        first_line.starts_with("\x1b[1;31mUNVERIFIED BUNDLE"),
        "{table}"
    );
    assert!(table.stdout.trim_end().ends_with("\x1b[0m"), "{table}");
    assert!(table.stderr.contains("UNVERIFIED"), "{table}");

    let json = report(&tampered, &key.public, &["--format", "json"]);
    json.expect_code(1);
    let value = json.json();
    assert_eq!(value["status"], "unverified");
    assert_eq!(value["verified"], false);
    assert!(
        value["unverified_reason"]
            .as_str()
            .unwrap()
            .contains("failed")
    );

    // A key that is not trusted: unverified too, never a clean report.
    let other = keygen_named(dir.path(), "other");
    let untrusted = report(&path, &other.public, &[]);
    untrusted.expect_code(1);
    assert!(
        untrusted.stdout.starts_with("UNVERIFIED BUNDLE"),
        "{untrusted}"
    );
    assert!(untrusted.stdout.contains("not trusted"), "{untrusted}");
}

fn out_is_written_atomically_and_never_replaced_without_force(dir: &Path, key: &Key, path: &Path) {
    let out = dir.join("report.json");
    let done = report(
        path,
        &key.public,
        &["--format", "json", "--out", out.to_str().unwrap()],
    );
    done.expect_code(0);
    assert!(done.stdout.is_empty(), "{done}");
    let written: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(written["format"], "airlock-report/1");

    std::fs::write(&out, "keep me").unwrap();
    let refused = report(path, &key.public, &["--out", out.to_str().unwrap()]);
    refused.expect_code(2);
    assert!(refused.stderr.contains("already exists"), "{refused}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");

    report(
        path,
        &key.public,
        &["--out", out.to_str().unwrap(), "--force"],
    )
    .expect_code(0);
    assert!(std::fs::read_to_string(&out).unwrap().contains("VERIFIED"));
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".airlock-report-"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");

    // An unverified bundle is still written, marked, and exits 1.
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 1;
    let tampered = dir.join("tampered.bundle");
    std::fs::write(&tampered, &bytes).unwrap();
    let marked = dir.join("marked.json");
    let done = report(
        &tampered,
        &key.public,
        &["--format", "json", "--out", marked.to_str().unwrap()],
    );
    done.expect_code(1);
    let written: Value = serde_json::from_slice(&std::fs::read(&marked).unwrap()).unwrap();
    assert_eq!(written["status"], "unverified");
}

#[test]
fn input_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let missing = report(&dir.path().join("none.bundle"), &key.public, &[]);
    missing.expect_code(2);
    let no_trust = finish(airlock().arg("report").arg(dir.path().join("x")));
    no_trust.expect_code(2);
}
