//! Campaigns sharded over a real one-node Slurm cluster
//! ([`airlock_tests::slurm::Cluster`]): `airlock slurm submit` runs the
//! shards as a job array and the finish job verifies them; the results
//! equal a one-machine run's; a cancelled shard is resubmitted by
//! `airlock slurm status --resubmit` and the campaign still completes with
//! every planned entry once. The script generation and the parsing of
//! Slurm's outputs are checked at the unit level at the end.
//!
//! `.ci/run` installs slurm-wlm and munge; under `CI=true` missing Slurm
//! fails these tests, elsewhere the cluster tests are skipped with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use airlock_tests::slurm::Cluster;
use airlock_tests::*;

/// The longest a whole campaign may take on the test cluster.
const CAMPAIGN_TIMEOUT: Duration = Duration::from_secs(300);

/// A profile of one core, so that two shards fit beside each other on a
/// 2-core CI machine (a shard asks Slurm for the profile's cores).
fn one_core_profile(dir: &Path) -> PathBuf {
    profile_with(
        dir,
        "slurm-one-core",
        &[("cores", "1"), ("total_memory_mib", "256")],
    )
}

/// A campaign plan of `shards` shards signed by `coordinator` for `node`,
/// made with the library from the RunStart of a real one-epoch run, so that
/// the tests of `airlock slurm` itself need nothing of `campaign plan`.
fn signed_plan(root: &Path, coordinator: &Key, node: &Key, shards: u32) -> PathBuf {
    let bundle = root.join("template.bundle");
    Run::new("null", node, &bundle).finish().expect_code(0);
    let Some(airlock_core::record::Record::RunStart(start)) =
        bundle_records(&bundle).into_iter().next()
    else {
        panic!("the template bundle does not start with RunStart");
    };
    let node_key = airlock_attest::PublicKey::load(&node.public).unwrap();
    let plan = airlock_core::campaign::CampaignPlan {
        campaign_id: [0x51; 16],
        created_at_unix_s: start.started_at_unix_s,
        suite: start.suite,
        plan: start.plan,
        profile: start.profile,
        runner: start.runner,
        model: start.model,
        seed: start.seed,
        shard_count: shards,
        shard_keys: vec![node_key.key_id()],
    };
    let path = root.join("campaign.plan");
    airlock_attest::campaign::write_plan(
        &path,
        &plan,
        &airlock_attest::SigningKey::load(&coordinator.private).unwrap(),
        airlock_attest::Overwrite::Refuse,
    )
    .unwrap();
    path
}

/// `airlock` with the cluster's environment.
fn airlock_on(cluster: &Cluster) -> Command {
    let mut command = airlock();
    command.envs(cluster.env());
    command
}

/// The coordinator and node keys and a signed plan of `shards` shards.
struct Campaign {
    coordinator: Key,
    node: Key,
    plan: PathBuf,
    profile: PathBuf,
    dir: PathBuf,
}

fn plan(root: &Path, shards: u32, epochs: u32, agent: &str, seed_hex: &str) -> Campaign {
    let coordinator = keygen_named(root, "coordinator");
    let node = keygen_named(root, "node");
    let profile = one_core_profile(root);
    let plan = root.join("campaign.plan");
    finish(
        airlock()
            .args(["campaign", "plan", "--key"])
            .arg(&coordinator.private)
            .args(["--shards", &shards.to_string(), "--authorize"])
            .arg(&node.public)
            .arg("--out")
            .arg(&plan)
            .args(["--agent", agent, "--profile"])
            .arg(&profile)
            .args(["--suite", "default", "--epochs", &epochs.to_string()])
            .args(["--seed", seed_hex]),
    )
    .expect_code(0);
    Campaign {
        coordinator,
        node,
        plan,
        profile,
        dir: root.join("campaign"),
    }
}

/// `airlock slurm submit` for the campaign; returns its JSON.
fn submit(cluster: &Cluster, c: &Campaign, concurrent: u32, agent: &str) -> serde_json::Value {
    let done = finish(
        airlock_on(cluster)
            .args(["slurm", "submit", "--plan"])
            .arg(&c.plan)
            .arg("--dir")
            .arg(&c.dir)
            .arg("--key")
            .arg(&c.node.private)
            .arg("--trust")
            .arg(&c.coordinator.public)
            .args(["--concurrent", &concurrent.to_string(), "--json", "--"])
            .args(["--agent", agent, "--profile"])
            .arg(&c.profile),
    );
    done.expect_code(0);
    done.json()
}

/// The job's state as squeue still shows it (`-t all`), `None` once forgotten.
fn job_state(cluster: &Cluster, job: u64) -> Option<String> {
    let done = cluster.run(
        "squeue",
        &["-h", "-t", "all", "-j", &job.to_string(), "-o", "%T"],
    );
    done.status
        .success()
        .then(|| done.stdout.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Waits until `job` has ended; returns its final state.
fn wait_for_job(cluster: &Cluster, job: u64, dir: &Path) -> String {
    let deadline = Instant::now() + CAMPAIGN_TIMEOUT;
    loop {
        let state = job_state(cluster, job);
        match state.as_deref() {
            Some("PENDING" | "RUNNING" | "COMPLETING" | "CONFIGURING") | None => {}
            Some(end) => return end.to_owned(),
        }
        assert!(
            Instant::now() < deadline,
            "job {job} did not end within {CAMPAIGN_TIMEOUT:?} (last state {state:?}); \
             squeue:\n{}\nlogs:\n{}\n{}",
            cluster.run("squeue", &["-r", "-t", "all"]),
            shard_logs(dir),
            cluster.log_tails()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every shard and finish log of the campaign, for failure messages.
fn shard_logs(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let body = std::fs::read_to_string(&path).unwrap_or_default();
            text.push_str(&format!("--- {} ---\n{body}\n", path.display()));
        }
    }
    text
}

/// The result payloads in a run or report JSON, wherever they are nested:
/// (task, epoch, outcome, score, fuel, peak memory, turns), sorted.
fn payloads(json: &serde_json::Value) -> Vec<(String, u64, String, u64, u64, u64, u64)> {
    fn walk(v: &serde_json::Value, out: &mut Vec<(String, u64, String, u64, u64, u64, u64)>) {
        match v {
            serde_json::Value::Object(map) => {
                let text = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                let num = |k: &str| map.get(k).and_then(serde_json::Value::as_u64);
                if let (
                    Some(task),
                    Some(epoch),
                    Some(outcome),
                    Some(score),
                    Some(fuel),
                    Some(mem),
                    Some(turns),
                ) = (
                    text("task_id"),
                    num("epoch"),
                    text("outcome"),
                    num("score_ppm"),
                    num("fuel_consumed"),
                    num("peak_memory_bytes"),
                    num("turns"),
                ) {
                    out.push((task, epoch, outcome, score, fuel, mem, turns));
                    return;
                }
                map.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(json, &mut out);
    out.sort();
    out
}

fn bundles(dir: &Path, shards: u32) -> Vec<PathBuf> {
    (0..shards)
        .map(|i| dir.join(format!("shard-{i}.bundle")))
        .collect()
}

fn campaign_report(c: &Campaign, shards: u32) -> serde_json::Value {
    let done = finish(
        airlock()
            .args(["report", "--campaign"])
            .arg(&c.plan)
            .arg("--trust")
            .arg(&c.coordinator.public)
            .args(["--format", "json"])
            .args(bundles(&c.dir, shards)),
    );
    done.expect_code(0);
    done.json()
}

#[test]
fn campaign_on_slurm_equals_a_one_machine_run() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let seed_hex = seed(17);
    let (shards, epochs) = (8, 20);
    let c = plan(root.path(), shards, epochs, "reference", &seed_hex);
    let submitted = submit(&cluster, &c, 2, "reference");
    let finish_job = submitted["finish_job"].as_u64().expect("a finish job id");
    let state = wait_for_job(&cluster, finish_job, &c.dir);
    assert_eq!(
        state,
        "COMPLETED",
        "the finish job (verify) failed:\n{}",
        shard_logs(&c.dir)
    );

    let verdict: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(c.dir.join("campaign.verdict.json"))
            .expect("campaign.verdict.json"),
    )
    .expect("the verdict is JSON");
    assert_eq!(verdict["verified"], true, "verdict: {verdict}");
    for bundle in bundles(&c.dir, shards) {
        assert!(bundle.is_file(), "{} is missing", bundle.display());
    }
    let sharded = payloads(&campaign_report(&c, shards));

    let alone = finish(
        airlock()
            .args([
                "run",
                "--suite",
                "default",
                "--agent",
                "reference",
                "--profile",
            ])
            .arg(&c.profile)
            .arg("--key")
            .arg(&c.node.private)
            .arg("--out")
            .arg(root.path().join("alone.bundle"))
            .args([
                "--seed",
                &seed_hex,
                "--epochs",
                &epochs.to_string(),
                "--json",
            ]),
    );
    alone.expect_code(0);
    let alone = payloads(&alone.json());
    assert_eq!(alone.len(), DEFAULT_TASKS.len() * epochs as usize);
    assert_eq!(
        sharded, alone,
        "the sharded campaign's results differ from one machine's"
    );

    let status = finish(
        airlock_on(&cluster)
            .args(["slurm", "status", "--json", "--dir"])
            .arg(&c.dir),
    );
    status.expect_code(0);
    assert_eq!(status.json()["done"], shards);
}

#[test]
fn cancelled_shard_is_resubmitted_and_the_campaign_completes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let (shards, epochs) = (4, 2);
    let agent = "reference:delay-ms=200";
    let c = plan(root.path(), shards, epochs, agent, &seed(18));
    let submitted = submit(&cluster, &c, 2, agent);
    let array_job = submitted["array_job"].as_u64().expect("an array job id");

    // Shard 0 starts first; cancel it once a result of it is durable.
    let journal = c.dir.join("shard-0.bundle.journal");
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    assert!(
        poll_until(CAMPAIGN_TIMEOUT, || len(&journal) > 0),
        "the journal of shard 0 never appeared:\n{}",
        shard_logs(&c.dir)
    );
    let first = len(&journal);
    assert!(
        poll_until(CAMPAIGN_TIMEOUT, || len(&journal) > first),
        "the journal of shard 0 never grew:\n{}",
        shard_logs(&c.dir)
    );
    assert!(
        !c.dir.join("shard-0.bundle").exists(),
        "shard 0 finished before it could be cancelled: slow the agent down"
    );
    cluster
        .run("scancel", &[&format!("{array_job}_0")])
        .expect_code(0);
    let element = format!("{array_job}_0");
    assert!(
        poll_until(Duration::from_secs(60), || {
            let done = cluster.run("squeue", &["-h", "-t", "all", "-j", &element, "-o", "%T"]);
            done.stdout.trim() == "CANCELLED"
        }),
        "shard 0 was not cancelled"
    );

    // The rest of the array ends; the first finish job is replaced.
    let resubmitted = finish(
        airlock_on(&cluster)
            .args(["slurm", "status", "--resubmit", "--json", "--dir"])
            .arg(&c.dir),
    );
    resubmitted.expect_code(0);
    let json = resubmitted.json();
    assert_eq!(json["shards"][0]["state"], "failed", "{json}");
    assert_eq!(
        json["resubmitted"]["shards"],
        serde_json::json!([0]),
        "{json}"
    );
    let finish_job = json["resubmitted"]["finish_job"].as_u64().unwrap();
    let state = wait_for_job(&cluster, finish_job, &c.dir);
    assert_eq!(
        state,
        "COMPLETED",
        "the finish job failed:\n{}",
        shard_logs(&c.dir)
    );

    let verified = finish(
        airlock()
            .args(["verify", "--campaign"])
            .arg(&c.plan)
            .arg("--trust")
            .arg(&c.coordinator.public)
            .args(bundles(&c.dir, shards)),
    );
    verified.expect_code(0);
    let entries = payloads(&campaign_report(&c, shards));
    let mut planned: Vec<(String, u64)> = DEFAULT_TASKS
        .iter()
        .flat_map(|t| (0..u64::from(epochs)).map(move |e| ((*t).to_owned(), e)))
        .collect();
    planned.sort();
    let mut got: Vec<(String, u64)> = entries.into_iter().map(|e| (e.0, e.1)).collect();
    got.sort();
    assert_eq!(got, planned, "every planned entry exactly once");

    let status = finish(
        airlock_on(&cluster)
            .args(["slurm", "status", "--json", "--dir"])
            .arg(&c.dir),
    );
    status.expect_code(0);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.dir.join("airlock-slurm.json")).unwrap())
            .unwrap();
    assert_eq!(
        record["submissions"].as_array().map(Vec::len),
        Some(2),
        "{record}"
    );
}

/// Shards whose `campaign run` refuses its input end FAILED: `status` says
/// so (exit 1) from the scheduler's view with no bundle, and `--resubmit`
/// submits exactly those shards again with a new finish job.
#[test]
fn failed_shards_are_reported_and_resubmitted() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let coordinator = keygen_named(root.path(), "coordinator");
    let authorized = keygen_named(root.path(), "authorized");
    // Signed by the coordinator, but for another node: every shard's
    // `campaign run` refuses the node key.
    let node = keygen_named(root.path(), "node");
    let plan = signed_plan(root.path(), &coordinator, &authorized, 3);
    let dir = root.path().join("campaign");
    let submitted = finish(
        airlock_on(&cluster)
            .args(["slurm", "submit", "--plan"])
            .arg(&plan)
            .arg("--dir")
            .arg(&dir)
            .arg("--key")
            .arg(&node.private)
            .arg("--trust")
            .arg(&coordinator.public)
            .args(["--concurrent", "2", "--json", "--"])
            .args(["--agent", "reference", "--profile"])
            .arg(one_core_profile(root.path())),
    );
    submitted.expect_code(0);
    let submitted = submitted.json();
    let finish_job = submitted["finish_job"].as_u64().expect("a finish job id");
    let state = wait_for_job(&cluster, finish_job, &dir);
    // verify finds no shard bundle, and the job's status is verify's.
    assert_eq!(state, "FAILED", "{}", shard_logs(&dir));
    assert!(dir.join("campaign.verdict.json").is_file());
    for i in 0..3 {
        let log = std::fs::read_to_string(dir.join(format!("logs/shard-{i}.out")))
            .unwrap_or_else(|e| panic!("shard {i} left no log: {e}\n{}", shard_logs(&dir)));
        assert!(log.contains("airlock"), "shard {i}'s log: {log}");
    }

    let status = finish(
        airlock_on(&cluster)
            .args(["slurm", "status", "--json", "--dir"])
            .arg(&dir),
    );
    status.expect_code(1);
    let json = status.json();
    assert_eq!(json["source"], "squeue", "{json}");
    assert!(
        json["why_not_sacct"]
            .as_str()
            .unwrap_or("")
            .contains("accounting storage is disabled"),
        "{json}"
    );
    for i in 0..3 {
        assert_eq!(json["shards"][i]["state"], "failed", "{json}");
        assert_eq!(json["shards"][i]["slurm_state"], "FAILED", "{json}");
        assert!(json["shards"][i]["start"].is_string(), "{json}");
    }
    let text = finish(
        airlock_on(&cluster)
            .args(["slurm", "status", "--dir"])
            .arg(&dir),
    );
    text.expect_code(1);
    assert!(text.stdout.contains("shard 2: failed ("), "{text}");
    assert!(text.stderr.contains("--resubmit"), "{text}");

    let again = finish(
        airlock_on(&cluster)
            .args(["slurm", "status", "--resubmit", "--json", "--dir"])
            .arg(&dir),
    );
    again.expect_code(0);
    let again = again.json();
    assert_eq!(
        again["resubmitted"]["shards"],
        serde_json::json!([0, 1, 2]),
        "{again}"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("airlock-slurm.json")).unwrap())
            .unwrap();
    let submissions = record["submissions"].as_array().unwrap();
    assert_eq!(submissions.len(), 2, "{record}");
    assert_eq!(
        submissions[1]["array_job"],
        again["resubmitted"]["array_job"]
    );
    let finish_job = again["resubmitted"]["finish_job"].as_u64().unwrap();
    assert_eq!(wait_for_job(&cluster, finish_job, &dir), "FAILED");

    // A second submit into the same directory is refused.
    let twice = finish(
        airlock_on(&cluster)
            .args(["slurm", "submit", "--plan"])
            .arg(&plan)
            .arg("--dir")
            .arg(&dir)
            .arg("--key")
            .arg(&node.private)
            .arg("--trust")
            .arg(&coordinator.public)
            .args(["--", "--agent", "reference"]),
    );
    twice.expect_code(2);
    assert!(twice.stderr.contains("submitted already"), "{twice}");
}

/// sbatch's refusal is an input error that quotes sbatch's stderr.
#[test]
fn sbatch_refusal_quotes_its_stderr() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let coordinator = keygen_named(root.path(), "coordinator");
    let node = keygen_named(root.path(), "node");
    let plan = signed_plan(root.path(), &coordinator, &node, 2);
    let refused = finish(
        airlock_on(&cluster)
            .args(["slurm", "submit", "--plan"])
            .arg(&plan)
            .arg("--dir")
            .arg(root.path().join("campaign"))
            .arg("--key")
            .arg(&node.private)
            .arg("--trust")
            .arg(&coordinator.public)
            .args(["--partition", "nosuchpartition", "--"])
            .args(["--agent", "reference"]),
    );
    refused.expect_code(2);
    assert!(refused.stderr.contains("sbatch --parsable"), "{refused}");
    assert!(refused.stderr.contains("invalid partition"), "{refused}");
}

/// The shard script's `exec` line, with the airlock executable replaced by
/// printf, run by bash: what bash passes is exactly what was given.
#[test]
fn shard_script_hands_awkward_arguments_to_airlock_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let awkward: Vec<OsString> = [
        "--agent",
        "exec:/opt/my agent/run.sh",
        "--agent-arg",
        "it's \"quoted\"",
        "--agent-arg",
        "$HOME `id` $(id) \\n ; & | *",
        "--agent-arg",
        "",
        "--agent-arg",
        "line\nbreak",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let script = airlock::slurm::ShardScript {
        job_name: "airlock-shards".to_owned(),
        shards: 8,
        concurrent: Some(2),
        partition: Some("batch".to_owned()),
        time_limit: Some("1:00:00".to_owned()),
        cpus: 2,
        memory_mib: 1024,
        airlock: PathBuf::from("/opt/air lock/bin/airlock"),
        plan: dir.path().join("it's a plan"),
        key: dir.path().join("$node.key"),
        dir: dir.path().to_owned(),
        run_args: awkward.clone(),
    }
    .render()
    .unwrap();
    assert!(script.starts_with("#!/bin/bash\n"), "{script}");
    for line in [
        "#SBATCH --array=0-7%2",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=1024M",
        "#SBATCH --partition=batch",
        "#SBATCH --time=1:00:00",
    ] {
        assert!(
            script.lines().any(|l| l == line),
            "no {line:?} in:\n{script}"
        );
    }
    let output = format!(
        "#SBATCH --output={}/logs/shard-%a.out",
        dir.path().display()
    );
    assert!(script.lines().any(|l| l == output), "{script}");

    let exec_at = script.find("\nexec ").expect("an exec line") + 1;
    let body = &script[exec_at..];
    let quoted_airlock = "'/opt/air lock/bin/airlock'";
    assert!(
        body.starts_with(&format!("exec {quoted_airlock} ")),
        "{body}"
    );
    let probe = body.replacen(&format!("exec {quoted_airlock}"), "printf '%s\\0'", 1);
    let out = Command::new("bash")
        .arg("-c")
        .arg(&probe)
        .env("SLURM_ARRAY_TASK_ID", "5")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_owned)
        .collect();
    let mut expected: Vec<String> = vec![
        "campaign".into(),
        "run".into(),
        "--plan".into(),
        dir.path().join("it's a plan").display().to_string(),
        "--shard".into(),
        "5".into(),
        "--key".into(),
        dir.path().join("$node.key").display().to_string(),
        "--dir".into(),
        dir.path().display().to_string(),
    ];
    expected.extend(awkward.iter().map(|a| a.to_string_lossy().into_owned()));
    assert_eq!(args, expected);

    // What an #SBATCH line cannot carry is refused, not mangled.
    let refused = airlock::slurm::ShardScript {
        dir: PathBuf::from("/srv/my campaign"),
        ..airlock::slurm::ShardScript {
            job_name: "airlock-shards".to_owned(),
            shards: 1,
            concurrent: None,
            partition: None,
            time_limit: None,
            cpus: 1,
            memory_mib: 64,
            airlock: PathBuf::from("/bin/airlock"),
            plan: PathBuf::from("/p"),
            key: PathBuf::from("/k"),
            dir: PathBuf::new(),
            run_args: Vec::new(),
        }
    }
    .render();
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("/srv/my campaign"), "{message}");
}

/// The finish script runs verify over the shard bundles into the verdict
/// file and exits with verify's status.
#[test]
fn finish_script_verifies_into_the_verdict_file() {
    let script = airlock::slurm::FinishScript {
        job_name: "airlock-finish".to_owned(),
        partition: None,
        airlock: PathBuf::from("/usr/local/bin/airlock"),
        plan: PathBuf::from("/srv/c/campaign.plan"),
        trust: PathBuf::from("/srv/c/coordinator.pub"),
        dir: PathBuf::from("/srv/c"),
    }
    .render()
    .unwrap();
    assert!(
        script.contains(
            "/usr/local/bin/airlock verify --campaign /srv/c/campaign.plan --trust \
             /srv/c/coordinator.pub --json \"${bundles[@]}\" > /srv/c/campaign.verdict.json.tmp"
        ),
        "{script}"
    );
    assert!(
        script.contains("bundles=(/srv/c/shard-*.bundle)"),
        "{script}"
    );
    assert!(script.contains("mv -f /srv/c/campaign.verdict.json.tmp /srv/c/campaign.verdict.json"));
    assert!(script.trim_end().ends_with("exit $status"), "{script}");
    let out = Command::new("bash")
        .arg("-n")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Outputs shaped like Slurm 22.05's, and garbage: parsed or refused with a
/// message naming the line, never a panic.
#[test]
fn scheduler_outputs_parse_and_garbage_is_refused() {
    use airlock::slurm::{JobState, parse_job_id, parse_sacct, parse_squeue};

    assert_eq!(parse_job_id("4242\n").unwrap(), 4242);
    assert_eq!(parse_job_id("4243;cluster7\n").unwrap(), 4243);
    for garbage in [
        "",
        "\n",
        "sbatch: error: Batch job submission failed",
        "12a",
        "-1",
    ] {
        let e = parse_job_id(garbage).unwrap_err().to_string();
        assert!(e.contains("sbatch --parsable"), "{e}");
    }

    // squeue -h -r -t all -o '%i|%T|%V|%S|%e', as the test cluster prints it.
    let squeue = "\
7_3|PENDING|2026-12-02T07:54:20|N/A|N/A
7_2|RUNNING|2026-12-02T07:54:20|2026-12-02T07:54:26|Unknown
7_1|COMPLETED|2026-12-02T07:54:20|2026-12-02T07:54:23|2026-12-02T07:54:24
7_0|CANCELLED|2026-12-02T07:54:20|2026-12-02T07:54:23|2026-12-02T07:54:25
8|PENDING|2026-12-02T07:54:20|N/A|N/A
";
    let rows = parse_squeue(squeue).unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].index, Some(3));
    assert_eq!(rows[0].state, JobState::Pending);
    assert_eq!(rows[0].start, None);
    assert_eq!(rows[1].state, JobState::Running);
    assert_eq!(rows[1].start.as_deref(), Some("2026-12-02T07:54:26"));
    assert_eq!(rows[3].state, JobState::Ended("CANCELLED".to_owned()));
    assert_eq!((rows[4].job, rows[4].index), (8, None));
    // Two-field output (the brief form) and a pending range not yet split.
    let rows = parse_squeue("9_[4-6%2]|PENDING\n9_0|RUNNING\n").unwrap();
    let indices: Vec<_> = rows.iter().map(|r| r.index).collect();
    assert_eq!(indices, [Some(4), Some(5), Some(6), Some(0)]);

    // sacct -n -P -o JobID,State,ExitCode,Start,Submit,End with slurmdbd.
    let sacct = "\
30_0|COMPLETED|0:0|2026-12-02T08:00:02|2026-12-02T08:00:01|2026-12-02T08:00:09
30_0.batch|COMPLETED|0:0|2026-12-02T08:00:02|2026-12-02T08:00:02|2026-12-02T08:00:09
30_0.extern|COMPLETED|0:0|2026-12-02T08:00:02|2026-12-02T08:00:02|2026-12-02T08:00:09
30_1|CANCELLED by 0|0:15|2026-12-02T08:00:02|2026-12-02T08:00:01|2026-12-02T08:00:05
30_1.batch|CANCELLED|0:15|2026-12-02T08:00:02|2026-12-02T08:00:02|2026-12-02T08:00:05
30_2|FAILED|3:0|2026-12-02T08:00:05|2026-12-02T08:00:01|2026-12-02T08:00:07
30_3|TIMEOUT|0:0|2026-12-02T08:00:05|2026-12-02T08:00:01|2026-12-02T08:10:05
30_4|RUNNING|0:0|2026-12-02T08:00:09|2026-12-02T08:00:01|Unknown
30_[5-7%2]|PENDING|0:0|Unknown|2026-12-02T08:00:01|Unknown
";
    let rows = parse_sacct(sacct).unwrap();
    let summary: Vec<(Option<u32>, &str)> =
        rows.iter().map(|r| (r.index, r.state.name())).collect();
    assert_eq!(
        summary,
        [
            (Some(0), "COMPLETED"),
            (Some(1), "CANCELLED"),
            (Some(2), "FAILED"),
            (Some(3), "TIMEOUT"),
            (Some(4), "RUNNING"),
            (Some(5), "PENDING"),
            (Some(6), "PENDING"),
            (Some(7), "PENDING"),
        ]
    );
    assert_eq!(rows[2].exit_code.as_deref(), Some("3:0"));
    assert_eq!(rows[0].submit.as_deref(), Some("2026-12-02T08:00:01"));
    assert_eq!(rows[4].end, None);

    let garbage_sacct = [
        "Slurm accounting storage is disabled",
        "30_0|COMPLETED|0:0|a|b",
        "30_x|COMPLETED|0:0|a|b|c",
        "30_0|completed|0:0|a|b|c",
        "30_0|COMPLETED|zero|a|b|c",
        "30_[9-2]|PENDING|0:0|a|b|c",
        "30_[0-99999999]|PENDING|0:0|a|b|c",
        "\u{1b}[31m30_0|COMPLETED|0:0|a|b|c",
    ];
    for (i, line) in garbage_sacct.iter().enumerate() {
        let text = format!("30_0|COMPLETED|0:0|a|b|c\n{line}\n");
        let e = parse_sacct(&text).unwrap_err().to_string();
        assert!(e.starts_with("sacct output, line 2:"), "{i}: {e}");
        assert!(!e.contains('\u{1b}'), "the message escapes the line: {e:?}");
    }
    for line in [
        "7_0",
        "7_0|",
        "|RUNNING",
        "7_0|RUNNING|x",
        "seven|RUNNING",
        "7_0|Running",
    ] {
        let e = parse_squeue(line).unwrap_err().to_string();
        assert!(e.starts_with("squeue output, line 1:"), "{line}: {e}");
    }
}
