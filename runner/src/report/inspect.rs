//! `airlock export --inspect`: a verified run as an Inspect eval log in
//! Inspect's JSON log format (one `.json` file, `EvalLog` version 2), so
//! `inspect_ai.log.read_eval_log` and `inspect view` read it (SPEC.md,
//! "Inspect export").
//!
//! The numbers are the report model's ([`RunReport`]): the same statistics
//! `airlock report` prints, never recomputed here. A sample carries no
//! prompt or reply text unless its transcript was disclosed: the bundle
//! holds only commitments, and the export must not claim more.

use std::collections::BTreeMap;

use airlock_core::Digest;
use airlock_core::abi::Prompt;
use airlock_core::record::{RunEndReason, RunStart};
use airlock_core::transcript::Transcript;
use serde_json::{Map, Value, json};

use super::json::{group_json, run_json, token_use_json};
use super::model::{ResultRow, RunReport};
use super::result_json;
use super::text::utc_iso8601;

/// The `airlock_format` in the log's metadata: which mapping made the log.
pub const INSPECT_EXPORT_FORMAT: &str = "airlock-inspect/1";

/// The one scorer every sample's score is under.
pub const SCORER: &str = "airlock";

/// The `EvalLog.version` of Inspect's current log format.
const EVAL_LOG_VERSION: u32 = 2;

/// The input of a sample whose transcript stays sealed: no prompt text.
pub const SEALED_INPUT: &str = "(transcript sealed: not disclosed)";

/// What the log says about its evidence beside the report: the bundle's
/// digest and the disclosed transcripts, by plan index.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// blake3 of the bundle file's bytes.
    pub bundle_blake3: Digest,
    /// Transcripts of disclosed results (checked against their signed
    /// records by the caller), keyed by plan index.
    pub disclosed: BTreeMap<u32, &'a Transcript>,
}

/// `EvalLog`'s fields in the order Inspect writes them. The order is part
/// of the format: Inspect's streaming header reader takes `version` from
/// before `samples` and stops reading at `samples`.
const FIELD_ORDER: [&str; 14] = [
    "version",
    "status",
    "eval",
    "plan",
    "results",
    "stats",
    "error",
    "invalidated",
    "log_updates",
    "config_updates",
    "tags",
    "metadata",
    "samples",
    "reductions",
];

/// The log's text: [`eval_log`]'s fields in Inspect's order, one line,
/// ending in a newline.
pub fn render(log: &Value) -> String {
    let mut out = String::new();
    let mut o = super::json::ObjectWriter::open(&mut out);
    for key in FIELD_ORDER {
        if let Some(value) = log.get(key) {
            o.value(key, value);
        }
    }
    o.close();
    out.push('\n');
    out
}

/// Whether `inspect view` lists a JSON log of this path: Inspect takes a
/// `.json` file for a log only when its name starts with a timestamp,
/// `YYYY-MM-DDTHH[-:]MM[-:]SS`, as the names it gives its own logs do.
pub fn listed_name(path: &std::path::Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let b = name.as_bytes();
    let digits = |r: core::ops::Range<usize>| {
        r.into_iter()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    name.ends_with(".json")
        && digits(0..4)
        && sep(4, b"-")
        && digits(5..7)
        && sep(7, b"-")
        && digits(8..10)
        && sep(10, b"T")
        && digits(11..13)
        && sep(13, b"-:")
        && digits(14..16)
        && sep(16, b"-:")
        && digits(17..19)
}

/// The file name Inspect would give the log:
/// `STARTED_SUITE_RUNID.json`, the start time with dashes for colons.
pub fn conventional_name(report: &RunReport) -> String {
    let start = report.run.as_ref();
    let created = utc_iso8601(start.map_or(0, |s| s.started_at_unix_s)).replace(['+', ':'], "-");
    // Only name-safe characters of the suite name: it comes from the bundle.
    let suite: String = start
        .map_or("unknown", |s| s.suite.name.as_str())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    format!("{created}_{suite}_{}.json", report.run_id_hex())
}

/// The model string Inspect shows: `agent/model`, or the agent alone when
/// the run named no model (the reference and null agents).
pub fn model_name(start: Option<&RunStart>) -> String {
    match start {
        Some(s) if s.model.model.is_empty() => s.model.agent.clone(),
        Some(s) => format!("{}/{}", s.model.agent, s.model.model),
        None => "unknown".into(),
    }
}

/// Parts per million as the fraction Inspect's scores and metrics are.
fn fraction(ppm: u64) -> f64 {
    ppm as f64 / 1_000_000.0
}

/// The `EvalLog` of a report, as a JSON value.
pub fn eval_log(report: &RunReport, evidence: &Evidence<'_>) -> Value {
    let start = report.run.as_ref();
    let model = model_name(start);
    let created = start.map_or_else(|| utc_iso8601(0), |s| utc_iso8601(s.started_at_unix_s));
    let run_id = report.run_id_hex();
    let suite = start.map_or("unknown", |s| s.suite.name.as_str());
    // A set beside the list: a hostile plan may name a task per entry.
    let mut seen = std::collections::BTreeSet::new();
    let task_ids: Vec<&str> = start
        .map(|s| s.plan.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|p| p.task_id.as_str())
        .filter(|id| seen.insert(*id))
        .collect();
    let metadata = log_metadata(report, evidence);
    let overall = &report.tokens.overall;
    let usage = json!({
        (model.clone()): {
            "input_tokens": overall.prompt_tokens,
            "output_tokens": overall.completion_tokens,
            "total_tokens": overall.total(),
        }
    });
    let (status, error) = match report.end.as_ref().map(|e| &e.reason) {
        Some(RunEndReason::Completed) => ("success", Value::Null),
        Some(RunEndReason::AbortedModelErrors(n)) => (
            "error",
            json!({
                "message": format!("run aborted after {n} consecutive model errors"),
                "traceback": "",
                "traceback_ansi": "",
            }),
        ),
        None => (
            "error",
            json!({"message": "no RunEnd record", "traceback": "", "traceback_ansi": ""}),
        ),
    };
    let samples: Vec<Value> = report
        .results
        .iter()
        .map(|row| sample(row, &model, evidence))
        .collect();
    let mut log = json!({
        "version": EVAL_LOG_VERSION,
        "status": status,
        "eval": {
            "eval_id": run_id,
            "run_id": run_id,
            "created": created,
            "task": suite,
            "task_id": start.map_or_else(String::new, |s| s.suite.digest.to_hex().as_str().to_owned()),
            "task_version": 0,
            "task_display_name": suite,
            "task_attribs": {},
            "task_args": {},
            "task_args_passed": {},
            "solver": start.map(|s| s.model.agent.as_str()),
            "dataset": {
                "name": suite,
                "samples": task_ids.len(),
                "sample_ids": task_ids,
                "shuffled": false,
            },
            "model": model,
            "model_generate_config": {},
            "model_args": start.map_or(Value::Null, |s| json!({
                "agent": s.model.agent,
                "model": s.model.model,
                "reported_model": s.model.reported_model,
                "tool_mode": s.model.tool_mode.name(),
            })),
            "config": {"epochs": report.epochs},
            "packages": start.map_or(json!({}), |s| json!({"airlock": s.runner.airlock_version})),
            "metadata": metadata,
            "scorers": [{
                "name": SCORER,
                "options": {},
                "metrics": [{"name": "mean", "options": {}}, {"name": "stderr", "options": {}}],
                "metadata": {},
            }],
        },
        "plan": {
            "name": "plan",
            "steps": [{
                "solver": start.map_or("unknown", |s| s.model.agent.as_str()),
                "params": {},
                "params_passed": {},
            }],
            "config": {},
        },
        "results": results(report),
        "stats": {
            "started_at": created,
            // The bundle records no end time; Inspect allows the empty string.
            "completed_at": "",
            "model_usage": usage,
            "role_usage": {},
            "connection_limit_history": [],
        },
        "invalidated": false,
        "tags": [],
        "metadata": metadata,
        "samples": samples,
    });
    if let (false, Some(map)) = (error.is_null(), log.as_object_mut()) {
        map.insert("error".into(), error);
    }
    log
}

/// The log's metadata: the verdict, the bundle's identity and the run's.
fn log_metadata(report: &RunReport, evidence: &Evidence<'_>) -> Value {
    let start = report.run.as_ref();
    let hex = |d: &Digest| d.to_hex().as_str().to_owned();
    json!({
        "airlock_format": INSPECT_EXPORT_FORMAT,
        "verified": report.verified(),
        "verdict": serde_json::to_value(&report.verdict).unwrap_or(Value::Null),
        "bundle": report.source,
        "bundle_blake3": hex(&evidence.bundle_blake3),
        "final_hash": report.verdict.summary.final_hash.as_ref().map(hex),
        "run_id": report.run_id_hex(),
        "key_id": start.map(|s| hex(&s.evaluator_key_id)),
        "settings": start.and_then(|s| s.settings.as_ref().map(hex)),
        "run": run_json(report),
        "end": report.end_text(),
        "disclosed_plan_indices": evidence.disclosed.keys().collect::<Vec<_>>(),
    })
}

/// `EvalResults`: one score (the run's overall statistics) with the report
/// model's figures as metrics; every group's statistics in its metadata.
fn results(report: &RunReport) -> Value {
    let samples = report.results.len();
    let mut metrics = Map::new();
    let mut metric = |name: &str, value: f64| {
        metrics.insert(
            name.into(),
            json!({"name": name, "value": value, "params": {}}),
        );
    };
    if let Some(overall) = &report.summary.overall {
        metric("mean", fraction(u64::from(overall.mean.0)));
        if let Some(se) = overall.standard_error {
            metric("stderr", fraction(u64::from(se.0)));
        }
        if let Some(interval) = overall.interval {
            metric("ci95_low", fraction(u64::from(interval.low.0)));
            metric("ci95_high", fraction(u64::from(interval.high.0)));
        }
        metric("passes", overall.passes as f64);
        for p in &overall.pass_k {
            if let Some(r) = p.pass_at_k {
                metric(&format!("pass@{}", p.k), fraction(u64::from(r.to_ppm().0)));
            }
            if let Some(r) = p.pass_hat_k {
                metric(&format!("pass^{}", p.k), fraction(u64::from(r.to_ppm().0)));
            }
        }
    }
    let budgets = report.tokens.budgets.as_ref();
    json!({
        "total_samples": report.planned().unwrap_or(samples),
        "completed_samples": samples,
        "scores": [{
            "name": SCORER,
            "scorer": SCORER,
            "scored_samples": samples,
            "unscored_samples": 0,
            "params": {},
            "metrics": metrics,
        }],
        "metadata": {
            "overall": report.summary.overall.as_ref().map(group_json),
            "categories": report.summary.categories.iter().map(group_json).collect::<Vec<_>>(),
            "tasks": report.summary.tasks.iter().map(group_json).collect::<Vec<_>>(),
            "outcomes": report.outcomes.iter().map(|(n, c)| ((*n).to_owned(), json!(c))).collect::<Map<_, _>>(),
            "tokens": token_use_json(&report.tokens.overall, budgets),
        },
    })
}

/// One `EvalSample`: a result, its score, its record as metadata, and its
/// messages when its transcript was disclosed.
fn sample(row: &ResultRow, model: &str, evidence: &Evidence<'_>) -> Value {
    let r = &row.result;
    let mut metadata = result_json(r);
    let transcript = evidence.disclosed.get(&r.plan_index);
    if let Some(map) = metadata.as_object_mut() {
        map.insert("category".into(), json!(row.category));
        map.insert("disclosed".into(), json!(transcript.is_some()));
    }
    let (input, messages, completion) = match transcript {
        Some(t) => disclosed_messages(t, model),
        None => (SEALED_INPUT.to_owned(), Vec::new(), String::new()),
    };
    let tokens = r
        .tokens
        .prompt_tokens
        .saturating_add(r.tokens.completion_tokens);
    json!({
        "id": r.task_id,
        // Inspect counts epochs from 1.
        "epoch": u64::from(r.epoch) + 1,
        "input": input,
        "target": "",
        "messages": messages,
        "output": {"model": model, "choices": [], "completion": completion},
        "scores": {
            (SCORER): {
                "value": fraction(u64::from(r.score.0)),
                "answer": r.outcome.name(),
                "explanation": format!("{}; score {} ppm", r.outcome, r.score.0),
                "metadata": {"score_ppm": r.score.0, "outcome": r.outcome.name()},
            }
        },
        "metadata": metadata,
        "store": {},
        "events": [],
        "model_usage": {
            (model): {
                "input_tokens": r.tokens.prompt_tokens,
                "output_tokens": r.tokens.completion_tokens,
                "total_tokens": tokens,
            }
        },
        "total_time": r.wall_time_us as f64 / 1_000_000.0,
        "uuid": format!("{}-{}", r.plan_index, r.task_id),
        "attachments": {},
        "turn_count": r.turns,
    })
}

/// A disclosed transcript as Inspect chat messages: each prompt a user
/// message (tool results one tool message each), each reply an assistant
/// message with its tool calls. Returns (input, messages, last reply).
fn disclosed_messages(t: &Transcript, model: &str) -> (String, Vec<Value>, String) {
    let mut messages = Vec::new();
    let input = t
        .turns
        .first()
        .map_or_else(String::new, |turn| turn.prompt.plain_text());
    let mut completion = String::new();
    for (i, turn) in t.turns.iter().enumerate() {
        let source = if i == 0 { "input" } else { "generate" };
        match &turn.prompt {
            Prompt::Text(text) => {
                messages.push(json!({"role": "user", "content": text, "source": source}));
            }
            Prompt::ToolResults(results) => {
                for result in results {
                    messages.push(json!({
                        "role": "tool",
                        "content": result.content,
                        "tool_call_id": result.call_id,
                    }));
                }
            }
        }
        let calls: Vec<Value> = turn
            .reply
            .tool_calls
            .iter()
            .map(|call| {
                // Inspect's arguments are an object; text that is not one is
                // kept whole in the parse error rather than dropped.
                let (arguments, parse_error) =
                    match serde_json::from_str::<Map<String, Value>>(&call.arguments) {
                        Ok(map) => (Value::Object(map), Value::Null),
                        Err(e) => (json!({}), json!(format!("{e}: {}", call.arguments))),
                    };
                json!({
                    "id": call.id,
                    "function": call.name,
                    "arguments": arguments,
                    "parse_error": parse_error,
                    "type": "function",
                })
            })
            .collect();
        let mut reply = json!({
            "role": "assistant",
            "content": turn.reply.text,
            "source": "generate",
            "model": model,
        });
        if let (false, Some(map)) = (calls.is_empty(), reply.as_object_mut()) {
            map.insert("tool_calls".into(), Value::Array(calls));
        }
        messages.push(reply);
        completion.clone_from(&turn.reply.text);
    }
    (input, messages, completion)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::report::model::sample_report;
    use airlock_core::Outcome;
    use airlock_core::abi::{ModelReply, ToolCall, ToolResult};
    use airlock_core::transcript::Turn;

    fn report() -> RunReport {
        sample_report(
            &[
                ("alpha", Outcome::Done, 1_000_000),
                ("beta", Outcome::Done, 250_000),
                ("gamma", Outcome::OutOfFuel, 0),
            ],
            true,
        )
    }

    #[test]
    fn one_sample_per_result_with_its_score_and_record_as_metadata() {
        let report = report();
        let log = eval_log(&report, &Evidence::default());
        let samples = log["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[1]["id"], "beta");
        assert_eq!(samples[1]["epoch"], 1);
        assert_eq!(samples[1]["scores"][SCORER]["value"], 0.25);
        assert_eq!(samples[2]["scores"][SCORER]["answer"], "out-of-fuel");
        let meta = &samples[1]["metadata"];
        assert_eq!(meta["fuel_consumed"], 2000);
        assert_eq!(meta["peak_memory_bytes"], 131_072);
        assert_eq!(meta["turns"], 1);
        assert_eq!(meta["prompt_tokens"], 200);
        assert_eq!(meta["completion_tokens"], 20);
        assert_eq!(meta["outcome"], "done");
        assert_eq!(
            samples[1]["model_usage"]["exec/m\"<script>"]["total_tokens"],
            220
        );
    }

    #[test]
    fn rendered_fields_are_in_inspects_order_with_samples_last() {
        let log = eval_log(&report(), &Evidence::default());
        let text = render(&log);
        assert!(text.starts_with("{\"version\":2,\"status\":"), "{text:.40}");
        // The top-level keys in the order written: strings that end where
        // the depth is 1 and are followed by a colon.
        let mut keys = Vec::new();
        let (mut depth, mut in_string, mut escaped, mut start) = (0usize, false, false, 0);
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => {
                        in_string = false;
                        if depth == 1 && bytes.get(i + 1) == Some(&b':') {
                            keys.push(&text[start..i]);
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => {
                    in_string = true;
                    start = i + 1;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth -= 1,
                _ => {}
            }
        }
        let at = |key: &str| keys.iter().position(|k| *k == key).unwrap();
        assert!(
            at("eval") < at("plan") && at("plan") < at("results"),
            "{keys:?}"
        );
        assert!(
            at("results") < at("stats") && at("metadata") < at("samples"),
            "{keys:?}"
        );
        assert_eq!(keys.last(), Some(&"samples"), "{keys:?}");
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reparsed, log);
    }

    #[test]
    fn the_conventional_name_is_one_inspect_view_lists() {
        let report = report();
        let name = conventional_name(&report);
        assert_eq!(
            name,
            format!("1970-01-01T00-00-00-00-00_bsuiteb_{}.json", "ab".repeat(16))
        );
        assert!(listed_name(std::path::Path::new(&name)));
        assert!(listed_name(std::path::Path::new(
            "d/2026-12-03T12:27:44_x.json"
        )));
        assert!(!listed_name(std::path::Path::new("run.json")));
        assert!(!listed_name(std::path::Path::new(
            "2026-12-03T12-27-44.eval"
        )));
    }

    #[test]
    fn sealed_samples_carry_no_prompt_or_reply_text() {
        let log = eval_log(&report(), &Evidence::default());
        for s in log["samples"].as_array().unwrap() {
            assert_eq!(s["input"], SEALED_INPUT);
            assert_eq!(s["messages"], json!([]));
            assert_eq!(s["output"]["completion"], "");
            assert_eq!(s["metadata"]["disclosed"], false);
        }
    }

    #[test]
    fn results_are_the_report_models_statistics() {
        let report = report();
        let log = eval_log(&report, &Evidence::default());
        let overall = report.summary.overall.as_ref().unwrap();
        let metrics = &log["results"]["scores"][0]["metrics"];
        assert_eq!(
            metrics["mean"]["value"],
            f64::from(overall.mean.0) / 1_000_000.0
        );
        assert_eq!(metrics["passes"]["value"], 1.0);
        assert_eq!(log["results"]["completed_samples"], 3);
        assert_eq!(log["results"]["total_samples"], 3);
        assert_eq!(log["results"]["metadata"]["overall"], group_json(overall));
    }

    #[test]
    fn metadata_names_the_verdict_bundle_run_and_key() {
        let report = report();
        let evidence = Evidence {
            bundle_blake3: Digest([9; 32]),
            disclosed: BTreeMap::new(),
        };
        let log = eval_log(&report, &evidence);
        let meta = &log["eval"]["metadata"];
        assert_eq!(log["metadata"], *meta);
        assert_eq!(meta["verified"], true);
        assert_eq!(meta["verdict"]["verified"], true);
        assert_eq!(meta["bundle_blake3"], "09".repeat(32));
        assert_eq!(meta["run_id"], "ab".repeat(16));
        assert_eq!(meta["key_id"], "05".repeat(32));
        assert_eq!(meta["settings"], Value::Null);
        assert_eq!(log["eval"]["task"], "<b>suite</b>");
        assert_eq!(log["eval"]["model"], "exec/m\"<script>");
        assert_eq!(log["eval"]["created"], "1970-01-01T00:00:00+00:00");
        // No RunEnd in the made-up report: not a success.
        assert_eq!(log["status"], "error");
    }

    #[test]
    fn a_disclosed_sample_carries_its_messages_and_tool_calls() {
        let report = report();
        let transcript = Transcript {
            task_id: "beta".into(),
            plan_index: 1,
            epoch: 0,
            seed: [0; 32],
            turns: vec![
                Turn::text("what is 2+2?", "let me check", false),
                Turn {
                    prompt: Prompt::ToolResults(vec![ToolResult {
                        call_id: "c1".into(),
                        content: "4".into(),
                    }]),
                    reply: ModelReply {
                        text: String::new(),
                        truncated: false,
                        tool_calls: vec![ToolCall {
                            id: "c2".into(),
                            name: "answer".into(),
                            arguments: "not json".into(),
                            problem: None,
                        }],
                    },
                    usage: None,
                    reasoning: String::new(),
                },
            ],
        };
        let evidence = Evidence {
            bundle_blake3: Digest::ZERO,
            disclosed: BTreeMap::from([(1, &transcript)]),
        };
        let log = eval_log(&report, &evidence);
        let samples = log["samples"].as_array().unwrap();
        let beta = &samples[1];
        assert_eq!(beta["input"], "what is 2+2?");
        assert_eq!(beta["metadata"]["disclosed"], true);
        let messages = beta["messages"].as_array().unwrap();
        let roles: Vec<&str> = messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
        assert_eq!(messages[1]["content"], "let me check");
        assert_eq!(messages[2]["tool_call_id"], "c1");
        let call = &messages[3]["tool_calls"][0];
        assert_eq!(call["function"], "answer");
        assert_eq!(call["arguments"], json!({}));
        assert!(call["parse_error"].as_str().unwrap().contains("not json"));
        assert_eq!(samples[0]["messages"], json!([]));
        assert_eq!(log["metadata"]["disclosed_plan_indices"], json!([1]));
    }
}
