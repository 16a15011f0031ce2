//! Token accounting end to end: the `openai:` agent against a real HTTP
//! server on 127.0.0.1 that reports `usage` per call, a signed suite whose
//! tasks are in categories of the authority's own, and the profile's token
//! budgets. The bundle's sums must equal what the server reported, the
//! budgets must end tasks `token-limit`, replay must reproduce the counts,
//! and the reports must show them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_core::record::{Record, TaskResult};
use airlock_tests::crash::progress_events;
use airlock_tests::http::{Answer, TestServer};
use airlock_tests::*;
use serde_json::{Value, json};

/// The say after which the scripted server reports no usage.
const NO_USAGE: &str = "no usage please";

/// An evaluator, a suite authority, and a signed suite of two asking
/// tasks in categories the default suite does not have.
struct Station {
    root: tempfile::TempDir,
    evaluator: Key,
    authority: Key,
    suite: PathBuf,
}

impl Station {
    fn new() -> Station {
        let root = tempfile::tempdir().unwrap();
        let evaluator = keygen(&root.path().join("evaluator"));
        let authority = keygen_named(&root.path().join("authority"), "authority");
        let suite = suite_dir(
            root.path(),
            &[
                (
                    "rev.wasm",
                    asking_module_in(
                        "rev-task",
                        "reverse-engineering",
                        &["rev one", NO_USAGE, "rev three"],
                    ),
                ),
                (
                    "mal.wasm",
                    asking_module_in("mal-task", "malware-analysis", &["mal one", "mal two"]),
                ),
            ],
        );
        finish(
            airlock()
                .args(["suite", "build"])
                .arg(&suite)
                .arg("--key")
                .arg(&authority.private),
        )
        .expect_code(0);
        Station {
            root,
            evaluator,
            authority,
            suite,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn suite_args(&self) -> Vec<String> {
        vec![
            "--suite".into(),
            self.suite.to_str().unwrap().into(),
            "--suite-trust".into(),
            self.authority.public.to_str().unwrap().into(),
        ]
    }

    /// A text-mode `openai:` run of the signed suite against `server`.
    fn run(&self, server: &TestServer, name: &str, profile: &str, epochs: u32) -> Run {
        let mut run = Run::new(
            &format!("openai:{}", server.url()),
            &self.evaluator,
            &self.path(&format!("{name}.bundle")),
        )
        .seed(seed(9))
        .arg("--model")
        .arg("test-model")
        .arg("--tool-mode")
        .arg("text")
        .arg("--epochs")
        .arg(&epochs.to_string())
        .arg("--suite-trust")
        .arg(self.authority.public.to_str().unwrap());
        run.suite = self.suite.to_str().unwrap().to_owned();
        run.profile = profile.to_owned();
        run
    }

    /// `verify` with the suite level and, with `profile`, a replay of every
    /// result from the sealed store; asserts exit 0.
    #[track_caller]
    fn verify_and_replay(&self, bundle: &Path, profile: Option<&Path>) {
        let suite = self.suite_args();
        let mut args: Vec<&str> = suite.iter().map(String::as_str).collect();
        let plain = verify(bundle, &self.evaluator.public, &args);
        plain.expect_code(0);
        let transcript_key = self.evaluator.private.with_extension("transcript-key");
        args.extend([
            "--replay",
            "--transcript-key",
            transcript_key.to_str().unwrap(),
        ]);
        if let Some(profile) = profile {
            args.extend(["--profile", profile.to_str().unwrap()]);
        }
        let replayed = verify(bundle, &self.evaluator.public, &args);
        replayed.expect_code(0);
        assert!(replayed.stdout.contains("replay: passed"), "{replayed}");
    }

    /// `airlock report` of `bundle` in `format`, with the signed suite for
    /// the categories and `extra` arguments; asserts exit 0.
    #[track_caller]
    fn report(&self, bundle: &Path, format: &str, extra: &[&str]) -> Finished {
        let done = finish(
            airlock()
                .arg("report")
                .arg(bundle)
                .arg("--trust")
                .arg(&self.evaluator.public)
                .args(["--format", format, "--color", "never"])
                .args(self.suite_args())
                .args(extra),
        );
        done.expect_code(0);
        done
    }
}

/// The first user message of a chat request: which task is asking.
fn asking_task(request: &Value) -> String {
    let first = request["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    match first.split(' ').next() {
        Some("rev") => "rev-task".into(),
        Some("mal") => "mal-task".into(),
        _ => panic!("a request from no known task: {request}"),
    }
}

/// The usage the scripted server reports for `request`: prompt tokens the
/// characters of its messages, completion tokens two more than their
/// number; none after [`NO_USAGE`].
fn usage_for(request: &Value) -> Option<(u64, u64)> {
    let messages = request["messages"].as_array()?;
    let last = messages.last()?["content"].as_str()?;
    if last == NO_USAGE {
        return None;
    }
    let chars: usize = messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .map(|c| c.chars().count())
        .sum();
    Some((chars as u64, messages.len() as u64 + 2))
}

fn completion(usage: Option<(u64, u64)>) -> Answer {
    let mut body = json!({
        "id": "c",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "an answer"}}],
    });
    if let Some((prompt, completion)) = usage {
        body["usage"] = json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        });
    }
    Answer::Completion(body)
}

fn results(bundle: &Path) -> Vec<TaskResult> {
    bundle_records(bundle)
        .into_iter()
        .filter_map(|r| match r {
            Record::TaskResult(result) => Some(result),
            _ => None,
        })
        .collect()
}

/// `(prompt, completion, calls without usage)` summed.
type Sums = (u64, u64, u64);

fn add(sums: &mut Sums, usage: Option<(u64, u64)>) {
    match usage {
        Some((p, c)) => {
            sums.0 += p;
            sums.1 += c;
        }
        None => sums.2 += 1,
    }
}

#[test]
fn usage_totals_in_the_bundle_equal_what_the_server_reported() {
    let station = Station::new();
    let server =
        TestServer::start_with(&["test-model"], |_, request| completion(usage_for(request)));
    let run = station.run(&server, "usage", "default", 2);
    let done = finish(run.command().arg("--json"));
    done.expect_code(0);

    // What the server reported, per task and in all, from the requests it
    // answered (each usage is a function of its request).
    let requests = server.requests();
    assert_eq!(requests.len(), 2 * (3 + 2), "every turn is one call");
    let mut expected: BTreeMap<String, Sums> = BTreeMap::new();
    let mut all: Sums = (0, 0, 0);
    for request in &requests {
        let usage = usage_for(request);
        add(expected.entry(asking_task(request)).or_default(), usage);
        add(&mut all, usage);
    }
    assert_eq!(all.2, 2, "one call per rev-task instance reported no usage");
    assert!(all.0 > 0 && all.1 > 0);

    // The signed results.
    let results = results(&run.out);
    assert_eq!(results.len(), 4);
    let mut recorded: BTreeMap<String, Sums> = BTreeMap::new();
    for r in &results {
        assert_eq!(r.outcome.name(), "done", "{r:?}");
        let sums = recorded.entry(r.task_id.clone()).or_default();
        sums.0 += r.tokens.prompt_tokens;
        sums.1 += r.tokens.completion_tokens;
        sums.2 += u64::from(r.tokens.calls_without_usage);
    }
    assert_eq!(recorded, expected);
    // Each rev-task instance had its one call without usage.
    for r in results.iter().filter(|r| r.task_id == "rev-task") {
        assert_eq!(r.tokens.calls_without_usage, 1, "{r:?}");
    }

    // `run --json` and the progress events carry the same counts.
    let json = done.json();
    assert_eq!(json["tool_mode"], "text");
    let progress: Vec<Value> = progress_events(&done.stderr)
        .into_iter()
        .filter(|e| e["event"] == "result")
        .map(|e| e["result"].clone())
        .collect();
    assert_eq!(progress.len(), results.len());
    for r in &results {
        let want = (
            json!(r.tokens.prompt_tokens),
            json!(r.tokens.completion_tokens),
            json!(r.tokens.calls_without_usage),
        );
        let of = |v: &Value| {
            (
                v["prompt_tokens"].clone(),
                v["completion_tokens"].clone(),
                v["calls_without_usage"].clone(),
            )
        };
        let in_json = json["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["plan_index"] == r.plan_index)
            .unwrap();
        assert_eq!(of(in_json), want);
        let event = progress
            .iter()
            .find(|v| v["plan_index"] == r.plan_index)
            .unwrap();
        assert_eq!(of(event), want);
    }

    station.verify_and_replay(&run.out, None);

    // The JSON report: per task, per category (the authority's own names,
    // in order of first appearance) and overall.
    let report: Value =
        serde_json::from_str(&station.report(&run.out, "json", &[]).stdout).unwrap();
    let tokens = &report["tokens"];
    assert_eq!(tokens["profile_known"], true);
    assert_eq!(tokens["max_tokens_per_task"], 2_000_000);
    assert_eq!(tokens["max_completion_tokens_per_task"], 500_000);
    assert_eq!(report["run"]["model"]["tool_mode"], "text");
    let group = |v: &Value| {
        (
            v["prompt_tokens"].as_u64().unwrap(),
            v["completion_tokens"].as_u64().unwrap(),
            v["calls_without_usage"].as_u64().unwrap(),
        )
    };
    assert_eq!(group(&tokens["overall"]), all);
    assert_eq!(tokens["overall"]["results"], 4);
    assert_eq!(tokens["overall"]["token_limit_results"], 0);
    assert_eq!(
        tokens["overall"]["tokens_per_pass"],
        json!((all.0 + all.1 + 2) / 4)
    );
    let mut first_seen: Vec<&str> = Vec::new();
    for r in &results {
        let category = if r.task_id == "rev-task" {
            "reverse-engineering"
        } else {
            "malware-analysis"
        };
        if !first_seen.contains(&category) {
            first_seen.push(category);
        }
    }
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&tokens["categories"]), first_seen);
    assert_eq!(names(&report["statistics"]["categories"]), first_seen);
    for category in tokens["categories"].as_array().unwrap() {
        let task = if category["name"] == "reverse-engineering" {
            "rev-task"
        } else {
            "mal-task"
        };
        assert_eq!(group(category), expected[task], "{category}");
    }
    for task in tokens["tasks"].as_array().unwrap() {
        let id = task["name"].as_str().unwrap();
        assert_eq!(group(task), expected[id], "{task}");
        let category = if id == "rev-task" {
            "reverse-engineering"
        } else {
            "malware-analysis"
        };
        assert_eq!(task["category"], category);
    }
    assert!(tokens["token_limit_results"].as_array().unwrap().is_empty());
    for result in report["results"].as_array().unwrap() {
        assert!(result["prompt_tokens"].is_u64(), "{result}");
    }

    // The table shows the sums and the budgets.
    let table = station.report(&run.out, "table", &[]).stdout;
    assert!(table.contains("tokens by category"), "{table}");
    let rev = &expected["rev-task"];
    assert!(
        table.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.first() == Some(&"reverse-engineering")
                && cells.contains(&grouped(rev.0).as_str())
                && cells.contains(&grouped(rev.1).as_str())
        }),
        "no reverse-engineering tokens row:\n{table}"
    );
    assert!(
        table.contains("tokens        budget 2,000,000 per task"),
        "{table}"
    );
    assert!(table.contains("tool mode text"), "{table}");
    assert!(!table.contains("token-limit   "), "{table}");

    // And the HTML page, with the categories as table cells.
    let html = station.report(&run.out, "html", &[]).stdout;
    assert!(html.contains("<section id=\"tokens\">"));
    assert!(html.contains("<td>reverse-engineering</td>"));
    assert!(html.contains("<td>malware-analysis</td>"));
    assert!(html.contains(&format!(">{}<", grouped(all.0 + all.1))));
}

/// `2000000` as `2,000,000`, as the reports print counts.
fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Every call reports 40 prompt and 5 completion tokens.
fn fixed_usage_server() -> TestServer {
    TestServer::start_with(&["test-model"], |_, _| completion(Some((40, 5))))
}

/// Runs under a profile with `changes` and checks what a budget does:
/// rev-task (three calls) passes it at its third call and ends
/// `token-limit` with that call counted; mal-task (two calls) stays within
/// it and ends `done`. Returns the bundle and the profile file.
fn budget_run(station: &Station, name: &str, changes: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let server = fixed_usage_server();
    let profile = profile_with(station.root.path(), name, changes);
    let run = station.run(&server, name, profile.to_str().unwrap(), 1);
    let done = run.finish();
    done.expect_code(0);
    assert_eq!(
        server.chat_calls(),
        3 + 2,
        "no call after the one that passed the budget"
    );
    // The run's own table shows each result's tokens.
    let row = |task: &str, outcome: &str, tokens: &str| {
        done.stdout.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.first() == Some(&task)
                && cells.contains(&outcome)
                && cells.last() == Some(&tokens)
        })
    };
    assert!(row("rev-task", "token-limit", "135"), "{done}");
    assert!(row("mal-task", "done", "90"), "{done}");
    assert!(
        done.stdout.contains("200 prompt + 25 completion tokens"),
        "{done}"
    );
    let results = results(&run.out);
    let of = |id: &str| results.iter().find(|r| r.task_id == id).unwrap();
    let rev = of("rev-task");
    assert_eq!(rev.outcome.name(), "token-limit", "{rev:?}");
    assert_eq!(rev.score.0, 0);
    assert_eq!(
        (
            rev.tokens.prompt_tokens,
            rev.tokens.completion_tokens,
            rev.turns
        ),
        (120, 15, 3)
    );
    let mal = of("mal-task");
    assert_eq!(mal.outcome.name(), "done", "{mal:?}");
    assert_eq!(
        (mal.tokens.prompt_tokens, mal.tokens.completion_tokens),
        (80, 10)
    );
    station.verify_and_replay(&run.out, Some(&profile));
    (run.out, profile)
}

#[test]
fn a_token_budget_ends_the_task_token_limit_and_the_reports_say_so() {
    let station = Station::new();
    // 45 tokens a call: 90 after two calls, 135 after three.
    let (bundle, profile) = budget_run(&station, "tight", &[("max_tokens_per_task", "100")]);
    let profile_arg = ["--profile", profile.to_str().unwrap()];

    let report: Value =
        serde_json::from_str(&station.report(&bundle, "json", &profile_arg).stdout).unwrap();
    assert_eq!(report["outcomes"]["token-limit"], 1);
    let tokens = &report["tokens"];
    assert_eq!(tokens["max_tokens_per_task"], 100);
    assert_eq!(tokens["max_completion_tokens_per_task"], 500_000);
    let limited = tokens["token_limit_results"].as_array().unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0]["task_id"], "rev-task");
    assert_eq!(limited[0]["total_tokens"], 135);
    let overall = &tokens["overall"];
    assert_eq!(overall["total_tokens"], 135 + 90);
    assert_eq!(overall["passes"], 1);
    assert_eq!(overall["tokens_per_pass"], 225);
    assert_eq!(overall["mean_score_ppm"], 500_000);
    let rev = tokens["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "rev-task")
        .unwrap();
    assert_eq!(rev["token_limit_results"], 1);
    // Past the budget, the share is capped at all of it.
    assert_eq!(rev["max_total_of_budget_ppm"], 1_000_000);

    let table = station.report(&bundle, "table", &profile_arg).stdout;
    assert!(table.contains("token-limit 1"), "{table}");
    assert!(
        table.contains("token-limit   1 result(s): rev-task epoch 0"),
        "{table}"
    );
    assert!(
        table.contains("tokens        budget 100 per task (prompt + completion), 500,000 completion; most used by one instance: 135, over the budget (rev-task)"),
        "{table}"
    );

    // Without the profile file the budgets are unknown, but the outcome is
    // still listed.
    let unknown: Value =
        serde_json::from_str(&station.report(&bundle, "json", &[]).stdout).unwrap();
    assert_eq!(unknown["tokens"]["profile_known"], false);
    assert_eq!(unknown["tokens"]["max_tokens_per_task"], Value::Null);
    assert_eq!(
        unknown["tokens"]["token_limit_results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let html = station.report(&bundle, "html", &profile_arg).stdout;
    assert!(
        html.contains("<ul id=\"token-limit\"><li>#"),
        "token-limit list"
    );
    assert!(html.contains("rev-task epoch 0: 135 tokens, 15 completion"));
}

#[test]
fn a_completion_token_budget_ends_the_task_token_limit() {
    let station = Station::new();
    // 5 completion tokens a call: 10 after two calls, 15 after three; no
    // total budget at all.
    budget_run(
        &station,
        "tight-completion",
        &[
            ("max_tokens_per_task", "0"),
            ("max_completion_tokens_per_task", "12"),
        ],
    );
}
