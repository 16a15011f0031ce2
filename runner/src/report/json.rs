//! `airlock report --format json`: the `airlock-report/1` object (SPEC.md,
//! "Report JSON").

use airlock_core::Ppm;
use airlock_core::record::RunEndReason;
use airlock_core::record::StationHardware;
use airlock_core::stats::{GroupStats, Ratio};
use serde_json::{Value, json};

use super::model::{LimitedResult, ProfileStatus, RunReport, TokenBudgets, TokenUse};
use super::text::{method_text, trust_text};
use super::{result_json, to_hex};

/// The `format` of a one-bundle report.
pub const REPORT_JSON_FORMAT: &str = "airlock-report/1";

fn ratio_json(ratio: Option<Ratio>) -> (Value, Value) {
    match ratio {
        Some(r) => (json!(r.to_ppm().0), json!(r.to_string())),
        None => (Value::Null, Value::Null),
    }
}

/// One group's statistics (a task, a category or `overall`).
pub fn group_json(g: &GroupStats) -> Value {
    let pass_k: Vec<Value> = g
        .pass_k
        .iter()
        .map(|p| {
            let (at_ppm, at) = ratio_json(p.pass_at_k);
            let (hat_ppm, hat) = ratio_json(p.pass_hat_k);
            json!({
                "k": p.k,
                "pass_at_k_ppm": at_ppm,
                "pass_at_k": at,
                "pass_hat_k_ppm": hat_ppm,
                "pass_hat_k": hat,
            })
        })
        .collect();
    let mut value = json!({
        "name": g.name,
        "tasks": g.tasks,
        "results": g.instances,
        "passes": g.passes,
        "score_sum_ppm": u64::try_from(g.score_sum).unwrap_or(u64::MAX),
        "mean_ppm": g.mean.0,
        "standard_error_ppm": g.standard_error.map(|p| p.0),
        "ci95_low_ppm": g.interval.map(|i| i.low.0),
        "ci95_high_ppm": g.interval.map(|i| i.high.0),
        "samples_per_task": g.samples_per_task,
        "pass_k": pass_k,
    });
    if let (Some(category), Some(map)) = (&g.category, value.as_object_mut()) {
        map.insert("category".into(), json!(category));
    }
    value
}

/// The run's metadata, or null without a RunStart.
pub fn run_json(report: &RunReport) -> Value {
    let Some(start) = &report.run else {
        return Value::Null;
    };
    json!({
        "run_id": to_hex(&start.run_id),
        "started_at_unix_s": start.started_at_unix_s,
        "seed": to_hex(&start.seed),
        "suite": {
            "name": start.suite.name,
            "digest": start.suite.digest.to_hex().as_str(),
            "trust": trust_text(&start.suite.trust),
        },
        "profile": {
            "name": start.profile.name,
            "digest": start.profile.digest.to_hex().as_str(),
        },
        "model": {
            "agent": start.model.agent,
            "model": start.model.model,
            "reported_model": start.model.reported_model,
            "tool_mode": start.model.tool_mode.name(),
        },
        "runner": {
            "airlock_version": start.runner.airlock_version,
            "wasmtime_version": start.runner.wasmtime_version,
            "engine_settings": start.runner.engine_settings.to_hex().as_str(),
            "executable": start.runner.executable.to_hex().as_str(),
        },
        "key_id": start.evaluator_key_id.to_hex().as_str(),
        "station_run_counter": start.station.run_counter,
        "previous_run_start_hash": start.station.previous_run_start_hash.to_hex().as_str(),
        "planned": start.plan.len(),
        "epochs": report.epochs,
        "settings": start.settings.map(|d| d.to_hex().as_str().to_owned()),
        "station_registration": match start.hardware {
            StationHardware::NoTpm => None,
            StationHardware::Tpm2Quote { registration } => {
                Some(registration.to_hex().as_str().to_owned())
            }
        },
    })
}

/// One task's fuel and memory against the budgets.
fn resource_json(f: &super::model::ResourceUse) -> Value {
    json!({
        "task_id": f.task_id,
        "results": f.instances,
        "fuel_mean": f.mean,
        "fuel_max": f.max,
        "fuel_max_of_budget_ppm": f.max_of_budget.map(|p: Ppm| p.0),
        "memory_max_bytes": f.memory_max,
        "memory_max_of_budget_ppm": f.memory_max_of_budget.map(|p: Ppm| p.0),
    })
}

/// Budgets and fuel use.
pub fn resources_json(report: &RunReport) -> Value {
    let mut value = resources_head(report);
    if let Some(map) = value.as_object_mut() {
        let tasks: Vec<Value> = report.resources.iter().map(resource_json).collect();
        map.insert("tasks".into(), Value::Array(tasks));
    }
    value
}

/// [`resources_json`] without its `tasks`.
fn resources_head(report: &RunReport) -> Value {
    let (known, why, fuel_budget, memory_budget) = match &report.profile {
        ProfileStatus::Known { profile, source } => (
            true,
            Value::String(format!("from {source}")),
            json!(profile.fuel_per_task),
            json!(profile.memory_per_sandbox_bytes()),
        ),
        ProfileStatus::Unknown { why } => (false, json!(why), Value::Null, Value::Null),
    };
    json!({
        "profile_known": known,
        "profile_note": why,
        "fuel_budget_per_task": fuel_budget,
        "memory_budget_per_sandbox_bytes": memory_budget,
        "memory_limit_results": report
            .outcomes
            .iter()
            .find(|(name, _)| *name == "memory-limit")
            .map_or(0, |(_, n)| *n),
    })
}

/// One group's tokens (a task, a category or `overall`); shares of the
/// budgets are null when the profile is unknown or sets no budget.
pub fn token_use_json(t: &TokenUse, budgets: Option<&TokenBudgets>) -> Value {
    let share = |value: u64, budget: Option<u64>| budget.map(|b| Ppm::ratio(value, b).0);
    let mut value = json!({
        "name": t.name,
        "results": t.results,
        "passes": t.passes,
        "mean_score_ppm": t.mean_score().0,
        "prompt_tokens": t.prompt_tokens,
        "completion_tokens": t.completion_tokens,
        "total_tokens": t.total(),
        "calls_without_usage": t.calls_without_usage,
        "token_limit_results": t.token_limit,
        "tokens_per_result": t.per_result(),
        "tokens_per_pass": t.per_pass(),
        "max_total_tokens": t.max_total,
        "max_completion_tokens": t.max_completion,
        "max_total_of_budget_ppm": share(t.max_total, budgets.and_then(|b| b.total)),
        "max_completion_of_budget_ppm": share(t.max_completion, budgets.and_then(|b| b.completion)),
    });
    if let (Some(category), Some(map)) = (&t.category, value.as_object_mut()) {
        map.insert("category".into(), json!(category));
    }
    value
}

/// A result that ended `token-limit`.
fn limited_json(l: &LimitedResult) -> Value {
    json!({
        "plan_index": l.plan_index,
        "task_id": l.task_id,
        "epoch": l.epoch,
        "total_tokens": l.total,
        "completion_tokens": l.completion,
    })
}

/// Writes the `tokens` object: its members in sorted order, with the
/// per-task and per-result arrays written an element at a time.
fn write_tokens(report: &RunReport, out: &mut String) {
    let tokens = &report.tokens;
    let budgets = tokens.budgets.as_ref();
    let mut t = ObjectWriter::open(out);
    t.array("categories", &tokens.categories, |c| {
        token_use_json(c, budgets)
    });
    // As the profile says them, 0 for no budget; null when the profile is unknown.
    t.value(
        "max_completion_tokens_per_task",
        &json!(budgets.map(|b| b.completion.unwrap_or(0))),
    );
    t.value(
        "max_tokens_per_task",
        &json!(budgets.map(|b| b.total.unwrap_or(0))),
    );
    t.value(
        "overall",
        &if tokens.overall.results == 0 {
            Value::Null
        } else {
            token_use_json(&tokens.overall, budgets)
        },
    );
    t.value("profile_known", &json!(budgets.is_some()));
    t.array("tasks", &tokens.tasks, |task| token_use_json(task, budgets));
    t.array("token_limit_results", &tokens.limited, limited_json);
    t.close();
}

/// One result with its category.
fn result_row_json(row: &super::model::ResultRow) -> Value {
    let mut value = result_json(&row.result);
    if let Some(map) = value.as_object_mut() {
        map.insert("category".into(), json!(row.category));
    }
    value
}

/// Writes a JSON object member by member, so that an array with an element
/// per result is written an element at a time: the text grows with the
/// results, but never a tree of values beside it.
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object at the end of `out`.
    pub(crate) fn open(out: &'a mut String) -> ObjectWriter<'a> {
        out.push('{');
        ObjectWriter { out, first: true }
    }

    /// Starts the member `key`, for the caller to write its value.
    pub(crate) fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str(&Value::from(key).to_string());
        self.out.push(':');
        self.out
    }

    /// The member `key` with `value`.
    pub(crate) fn value(&mut self, key: &str, value: &Value) {
        let out = self.key(key);
        out.push_str(&value.to_string());
    }

    /// The member `key`: an array of `items`, each made and written in turn.
    pub(crate) fn array<T>(&mut self, key: &str, items: &[T], each: impl Fn(&T) -> Value) {
        let out = self.key(key);
        write_array(out, items, each);
    }

    /// Every member of `object` (an object value), in its order.
    pub(crate) fn members(&mut self, object: &Value) {
        if let Value::Object(map) = object {
            for (key, value) in map {
                self.value(key, value);
            }
        }
    }

    /// Closes the object.
    pub(crate) fn close(self) {
        self.out.push('}');
    }
}

/// `[item, item, ...]`, each item made, written and dropped in turn.
pub(crate) fn write_array<T>(out: &mut String, items: &[T], each: impl Fn(&T) -> Value) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&each(item).to_string());
    }
    out.push(']');
}

/// The `airlock-report/1` object, written to the end of `out`. The text is
/// that of one `serde_json::Value` holding the whole report (members in
/// sorted order, as its map keeps them), but results, per-task statistics
/// and per-task resources are made and written one at a time, so memory
/// stays near the size of the text.
pub fn write(report: &RunReport, out: &mut String) {
    let verdict = serde_json::to_value(&report.verdict).unwrap_or(Value::Null);
    let outcomes: serde_json::Map<String, Value> = report
        .outcomes
        .iter()
        .map(|(name, n)| ((*name).to_string(), json!(n)))
        .collect();
    let mut o = ObjectWriter::open(out);
    o.value("bundle", &json!(report.source));
    o.value("categories_from", &json!(report.categories_source));
    o.value(
        "end",
        &json!(report.end.as_ref().map(|e| match e.reason {
            RunEndReason::Completed => "completed",
            RunEndReason::AbortedModelErrors(_) => "aborted-model-errors",
        })),
    );
    o.value("format", &json!(REPORT_JSON_FORMAT));
    o.value("outcomes", &Value::Object(outcomes));
    {
        let mut r = ObjectWriter::open(o.key("resources"));
        r.members(&resources_head(report));
        r.array("tasks", &report.resources, resource_json);
        r.close();
    }
    o.array("results", &report.results, result_row_json);
    o.value("run", &run_json(report));
    {
        let mut st = ObjectWriter::open(o.key("statistics"));
        st.value(
            "bootstrap_resamples",
            &json!(airlock_core::stats::BOOTSTRAP_RESAMPLES),
        );
        st.array("categories", &report.summary.categories, group_json);
        st.value("method", &json!(method_text()));
        st.value(
            "overall",
            &report
                .summary
                .overall
                .as_ref()
                .map_or(Value::Null, group_json),
        );
        st.array("tasks", &report.summary.tasks, group_json);
        st.close();
    }
    o.value(
        "status",
        &json!(if report.verified() {
            "verified"
        } else {
            "unverified"
        }),
    );
    write_tokens(report, o.key("tokens"));
    o.value("unverified_reason", &json!(report.unverified_reason()));
    o.value("verdict", &verdict);
    o.value("verified", &json!(report.verified()));
    o.close();
}

/// The `airlock-report/1` object as text ([`write`]).
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    write(report, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::sample_report;
    use airlock_core::Outcome;

    /// The report as one `serde_json::Value`, as it was built before it
    /// was written member by member.
    fn as_one_value(report: &RunReport) -> Value {
        let verdict = serde_json::to_value(&report.verdict).unwrap_or(Value::Null);
        let outcomes: serde_json::Map<String, Value> = report
            .outcomes
            .iter()
            .map(|(name, n)| ((*name).to_string(), json!(n)))
            .collect();
        let results: Vec<Value> = report.results.iter().map(result_row_json).collect();
        json!({
            "format": REPORT_JSON_FORMAT,
            "status": if report.verified() { "verified" } else { "unverified" },
            "verified": report.verified(),
            "unverified_reason": report.unverified_reason(),
            "bundle": report.source,
            "verdict": verdict,
            "run": run_json(report),
            "end": report.end.as_ref().map(|e| match e.reason {
                RunEndReason::Completed => "completed",
                RunEndReason::AbortedModelErrors(_) => "aborted-model-errors",
            }),
            "categories_from": report.categories_source,
            "statistics": {
                "method": method_text(),
                "bootstrap_resamples": airlock_core::stats::BOOTSTRAP_RESAMPLES,
                "overall": report.summary.overall.as_ref().map(group_json),
                "categories": report.summary.categories.iter().map(group_json).collect::<Vec<_>>(),
                "tasks": report.summary.tasks.iter().map(group_json).collect::<Vec<_>>(),
            },
            "outcomes": outcomes,
            "resources": resources_json(report),
            "results": results,
            "tokens": tokens_json(report),
        })
    }

    /// The `tokens` object as one value.
    fn tokens_json(report: &RunReport) -> Value {
        let t = &report.tokens;
        let budgets = t.budgets.as_ref();
        json!({
            "profile_known": budgets.is_some(),
            "max_tokens_per_task": budgets.map(|b| b.total.unwrap_or(0)),
            "max_completion_tokens_per_task": budgets.map(|b| b.completion.unwrap_or(0)),
            "overall": (t.overall.results > 0).then(|| token_use_json(&t.overall, budgets)),
            "categories": t.categories.iter().map(|c| token_use_json(c, budgets)).collect::<Vec<_>>(),
            "tasks": t.tasks.iter().map(|c| token_use_json(c, budgets)).collect::<Vec<_>>(),
            "token_limit_results": t.limited.iter().map(limited_json).collect::<Vec<_>>(),
        })
    }

    /// Written member by member, the report is the very text of the one
    /// value it was before.
    #[test]
    fn streamed_json_is_the_whole_value() {
        for verified in [true, false] {
            let report = sample_report(
                &[
                    ("a", Outcome::Done, 1_000_000),
                    ("b\u{1b}[2J", Outcome::OutOfFuel, 0),
                    ("a", Outcome::Done, 500_000),
                    ("c", Outcome::TokenLimit, 0),
                ],
                verified,
            );
            assert_eq!(render(&report), as_one_value(&report).to_string());
        }
    }
}
