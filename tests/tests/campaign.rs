//! Campaigns without a scheduler: a signed plan, shards run as separate
//! processes sharing a directory, verification of the set and a report of
//! the campaign as one run, and every way a shard set can be wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use airlock_attest::bundle::BundleWriter;
use airlock_attest::{PublicKey, SigningKey};
use airlock_core::chain::GENESIS;
use airlock_core::record::Record;
use airlock_tests::campaign::{self, Plan, payloads, run_shard, shard_bundle};
use airlock_tests::*;

struct Setup {
    dir: tempfile::TempDir,
    coordinator: Key,
    node: Key,
    plan: Plan,
    shards_dir: PathBuf,
}

/// The default suite × 2 epochs in 3 shards, planned and every shard run.
fn ran_campaign() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = keygen_named(dir.path(), "coordinator");
    let node = keygen_named(dir.path(), "node");
    let plan = campaign::plan(
        dir.path(),
        &coordinator,
        &[&node],
        "reference",
        2,
        3,
        &seed(17),
    );
    let shards_dir = dir.path().join("shards");
    std::fs::create_dir(&shards_dir).unwrap();
    for shard in 0..3 {
        run_shard(&plan, shard, &shards_dir, &node, "reference").expect_code(0);
    }
    Setup {
        dir,
        coordinator,
        node,
        plan,
        shards_dir,
    }
}

fn shard_paths(setup: &Setup) -> Vec<PathBuf> {
    (0..setup.plan.shards)
        .map(|i| shard_bundle(&setup.shards_dir, i))
        .collect()
}

fn campaign_reason(done: &Finished) -> String {
    let json = done.json();
    json["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == "campaign")
        .map(|l| l["reason"].as_str().unwrap_or("").to_owned())
        .unwrap()
}

#[test]
fn shards_verify_as_one_campaign_with_the_results_of_a_one_machine_run() {
    let setup = ran_campaign();
    let shards = shard_paths(&setup);
    let done = campaign::verify(&setup.plan, &setup.coordinator, &shards);
    done.expect_code(0);
    let json = done.json();
    assert_eq!(json["format"], "airlock-campaign-verdict/1");
    assert_eq!(json["verified"], true);
    assert_eq!(json["planned"], 16);
    assert_eq!(json["results"], 16);

    // The same plan on one machine: same seed, same epochs.
    let whole = setup.dir.path().join("whole.bundle");
    Run::new("reference", &setup.node, &whole)
        .seed(setup.plan.seed.clone())
        .arg("--epochs")
        .arg("2")
        .finish()
        .expect_code(0);
    assert_eq!(payloads(&shards), payloads(&[whole]));

    // The campaign reported as one run, in plan order.
    let report = finish(
        airlock()
            .args(["report", "--format", "json", "--campaign"])
            .arg(&setup.plan.path)
            .arg("--trust")
            .arg(&setup.coordinator.public)
            .args(&shards),
    );
    report.expect_code(0);
    let report = report.json();
    let results = report["results"].as_array().expect("results in the report");
    assert_eq!(results.len(), 16);
    let order: Vec<(String, u64)> = results
        .iter()
        .map(|r| {
            (
                r["task_id"].as_str().unwrap().to_owned(),
                r["epoch"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = DEFAULT_TASKS
        .iter()
        .flat_map(|t| (0..2).map(move |e| (t.to_string(), e)))
        .collect();
    assert_eq!(order, expected);

    // A shard run again once complete does nothing.
    let before = std::fs::read(&shards[1]).unwrap();
    let again = run_shard(&setup.plan, 1, &setup.shards_dir, &setup.node, "reference");
    again.expect_code(0);
    assert!(again.stdout.contains("already complete"), "{again}");
    assert_eq!(std::fs::read(&shards[1]).unwrap(), before);
}

#[test]
fn missing_duplicate_and_unauthorized_shards_are_named() {
    let setup = ran_campaign();
    let shards = shard_paths(&setup);

    // One shard left out: exit 1, the shard and its entries named.
    let done = campaign::verify(
        &setup.plan,
        &setup.coordinator,
        &[shards[0].clone(), shards[2].clone()],
    );
    done.expect_code(1);
    let why = campaign_reason(&done);
    assert!(
        why.contains("shard 1 of 3 is missing")
            && why.contains("its 5 planned entries have no result")
            && why.contains("task crypto-xor epoch 1"),
        "{why}"
    );
    assert_eq!(done.json()["missing_shards"], serde_json::json!([1]));

    // The same shard twice: a duplicate, naming both files.
    let copy = setup.dir.path().join("copy-of-shard-2.bundle");
    std::fs::copy(&shards[2], &copy).unwrap();
    let mut with_copy = shards.clone();
    with_copy.push(copy);
    let done = campaign::verify(&setup.plan, &setup.coordinator, &with_copy);
    done.expect_code(1);
    let why = campaign_reason(&done);
    assert!(
        why.contains("shard 2 is given twice") && why.contains("copy-of-shard-2.bundle"),
        "{why}"
    );

    // Shard 0 re-signed by a key the plan does not authorize (a node that
    // was not asked): exit 1, the key named.
    let stranger = keygen_named(setup.dir.path(), "stranger");
    let forged = setup.dir.path().join("forged.bundle");
    resign(&shards[0], &stranger, &forged);
    let done = campaign::verify(
        &setup.plan,
        &setup.coordinator,
        &[forged, shards[1].clone(), shards[2].clone()],
    );
    done.expect_code(1);
    let text = done.stdout.clone();
    assert!(
        text.contains(&stranger.id) && text.contains("does not authorize"),
        "{done}"
    );
    assert!(campaign_reason(&done).contains("shard 0 of 3 is missing"));

    // A plan signed by a coordinator the verifier does not trust.
    let done = finish(
        airlock()
            .args(["verify", "--json", "--campaign"])
            .arg(&setup.plan.path)
            .arg("--trust")
            .arg(&setup.node.public)
            .args(&shards),
    );
    done.expect_code(1);
    assert!(
        done.stdout.contains("not a trusted coordinator key"),
        "{done}"
    );
}

/// The records of `bundle` with RunStart's key id replaced, signed anew by
/// `key` and written to `out`.
fn resign(bundle: &std::path::Path, key: &Key, out: &std::path::Path) {
    let signing = SigningKey::load(&key.private).unwrap();
    let public: PublicKey = signing.public_key();
    let mut writer = BundleWriter::new(Vec::new(), &public).unwrap();
    let mut prev = GENESIS;
    for (seq, mut record) in bundle_records(bundle).into_iter().enumerate() {
        if let Record::RunStart(start) = &mut record {
            start.evaluator_key_id = signing.key_id();
        }
        let entry = signing.sign_next(&prev, seq as u64, &record);
        prev = entry.chain_hash;
        writer.write_entry(&entry).unwrap();
    }
    std::fs::write(out, writer.finish().unwrap().0).unwrap();
}

#[test]
fn a_shard_is_refused_before_it_runs_when_it_does_not_match_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = keygen_named(dir.path(), "coordinator");
    let node = keygen_named(dir.path(), "node");
    let stranger = keygen_named(dir.path(), "stranger");
    let plan = campaign::plan(
        dir.path(),
        &coordinator,
        &[&node],
        "reference",
        1,
        2,
        &seed(3),
    );
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for (shard, key, agent, expected) in [
        (0, &stranger, "reference", "the plan does not authorize key"),
        (
            0,
            &node,
            "null",
            "RunStart.model.agent is \"reference\" in the plan but \"null\" now",
        ),
        (
            2,
            &node,
            "reference",
            "shard 2 asked for, but the plan has shards 0 to 1",
        ),
    ] {
        let done = run_shard(&plan, shard, &out, key, agent);
        done.expect_code(2);
        assert!(done.stderr.contains(expected), "{done}");
        assert!(
            std::fs::read_dir(&out).unwrap().next().is_none(),
            "a refused shard wrote files"
        );
    }
}

/// SIGTERM (what `scancel` and preemption send) stops a shard with exit 3
/// and its finished results durable; running it again resumes, and the
/// campaign verifies with every entry once.
#[test]
fn a_shard_stopped_by_sigterm_resumes_and_the_campaign_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = keygen_named(dir.path(), "coordinator");
    let node = keygen_named(dir.path(), "node");
    let agent = "reference:delay-ms=150";
    let plan = campaign::plan(dir.path(), &coordinator, &[&node], agent, 3, 2, &seed(5));
    let out = dir.path().join("shards");
    std::fs::create_dir(&out).unwrap();
    let bundle = shard_bundle(&out, 0);
    let journal = journal_of(&bundle);
    let mut child = campaign::shard_command(&plan, 0, &out, &node, agent)
        .args(["--sandboxes", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    assert!(poll_until(COMMAND_TIMEOUT, || len(&journal) > 0));
    let first = len(&journal);
    assert!(poll_until(COMMAND_TIMEOUT, || len(&journal) > first));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_until(&mut child, Instant::now() + Duration::from_secs(120))
        .expect("a shard did not stop after SIGTERM");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    assert!(journal.exists() && !bundle.exists());

    run_shard(&plan, 0, &out, &node, agent).expect_code(0);
    run_shard(&plan, 1, &out, &node, agent).expect_code(0);
    let shards = vec![bundle, shard_bundle(&out, 1)];
    campaign::verify(&plan, &coordinator, &shards).expect_code(0);
    assert_eq!(payloads(&shards).len(), 24);
}
