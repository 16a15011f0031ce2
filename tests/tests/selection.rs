//! Task selection (`airlock run --task ID --category NAME`, SPEC.md "Task
//! selection"): the plan and RunStart's selection hold just the selected
//! tasks, every epoch of each, and the bundle verifies complete, the suite
//! level included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use airlock_core::record::Record;
use airlock_tests::*;

/// RunStart's plan as (task id, epoch), and its selection.
fn plan_of(bundle: &Path) -> (Vec<(String, u32)>, Option<Vec<String>>) {
    match bundle_records(bundle).into_iter().next() {
        Some(Record::RunStart(start)) => (
            start
                .plan
                .iter()
                .map(|p| (p.task_id.clone(), p.epoch))
                .collect(),
            start.selection,
        ),
        other => panic!("no RunStart: {other:?}"),
    }
}

fn verify_complete(bundle: &Path, key: &Key) -> serde_json::Value {
    let done = finish(
        airlock()
            .arg("verify")
            .arg(bundle)
            .arg("--trust")
            .arg(&key.public)
            .args(["--suite", "default", "--json"]),
    );
    done.expect_code(0);
    let verdict = done.json();
    assert_eq!(verdict["verified"], true, "{verdict}");
    verdict
}

#[test]
fn two_tasks_for_three_epochs_plan_six_entries_and_verify_complete() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("two.bundle");
    Run::new("reference", &key, &out)
        .seed(seed(9))
        .arg("--task")
        .arg("crypto-xor")
        .arg("--task")
        .arg("agentic-host")
        .arg("--epochs")
        .arg("3")
        .finish()
        .expect_code(0);
    let (plan, selection) = plan_of(&out);
    // Suite order, whatever order the flags came in.
    let selected = DEFAULT_TASKS
        .iter()
        .filter(|t| ["crypto-xor", "agentic-host"].contains(t))
        .map(|t| (*t).to_owned())
        .collect::<Vec<_>>();
    assert_eq!(selection.as_ref(), Some(&selected));
    let expected: Vec<(String, u32)> = selected
        .iter()
        .flat_map(|t| (0..3).map(move |e| (t.clone(), e)))
        .collect();
    assert_eq!(plan, expected);
    assert_eq!(plan.len(), 6);
    let verdict = verify_complete(&out, &key);
    let text = verdict.to_string();
    assert!(
        text.contains("the plan holds 2 of the 2 tasks selected from the suite's 8"),
        "{verdict}"
    );
    // The report has exactly the six results, full credit.
    let report = finish(
        airlock()
            .arg("report")
            .arg(&out)
            .arg("--trust")
            .arg(&key.public)
            .args(["--format", "json"]),
    );
    report.expect_code(0);
    let report = report.json();
    assert_eq!(report["run"]["planned"], 6, "{report}");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 6, "{report}");
}

#[test]
fn a_category_selects_its_tasks_and_ids_add_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("crypto.bundle");
    Run::new("reference", &key, &out)
        .arg("--category")
        .arg("crypto")
        .finish()
        .expect_code(0);
    let (plan, selection) = plan_of(&out);
    let crypto: Vec<String> = DEFAULT_TASKS
        .iter()
        .filter(|t| t.starts_with("crypto-"))
        .map(|t| (*t).to_owned())
        .collect();
    assert!(!crypto.is_empty());
    assert_eq!(selection.as_ref(), Some(&crypto));
    assert_eq!(
        plan,
        crypto.iter().map(|t| (t.clone(), 0)).collect::<Vec<_>>()
    );
    verify_complete(&out, &key);

    // A category and a task id: the union, in suite order.
    let both = dir.path().join("both.bundle");
    Run::new("null", &key, &both)
        .arg("--category")
        .arg("crypto")
        .arg("--task")
        .arg("agentic-host")
        .finish()
        .expect_code(0);
    let (plan, _) = plan_of(&both);
    assert_eq!(plan.len(), crypto.len() + 1, "{plan:?}");
    assert!(plan.iter().any(|(t, _)| t == "agentic-host"));
    verify_complete(&both, &key);
}

#[test]
fn an_unknown_task_is_refused_naming_it_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    let refused = Run::new("null", &key, &out)
        .arg("--task")
        .arg("crypto-xr")
        .finish();
    refused.expect_code(2);
    assert!(
        refused
            .stderr
            .contains("--task crypto-xr: suite \"default\" has no such task"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("crypto-xor"),
        "lists the ids: {}",
        refused.stderr
    );
    assert!(!out.exists());
    assert!(!dir.path().join("run.bundle.journal").exists());
}
