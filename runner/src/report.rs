//! Human tables and versioned JSON for runs and verdicts.

use core::fmt::Write as _;

use airlock_attest::verify::Verdict;
use airlock_core::record::{RunEnd, RunEndReason, RunStart, SuiteTrust, TaskResult};
use airlock_core::{Ppm, Untrusted};
use serde_json::{Value, json};

use crate::profile::HardwareProfile;

pub mod compare;
pub mod html;
pub mod inspect;
pub mod json;
pub mod model;
pub mod output;
pub mod text;

// Tables of what a sandbox measured or read from the modules.
#[cfg(feature = "sandbox")]
mod tasks;
#[cfg(feature = "sandbox")]
pub use tasks::{check_json, check_table, suite_table, task_json};

/// The `format` of `airlock run --json` output.
pub const RUN_JSON_FORMAT: &str = "airlock-run/1";

/// Format of the progress events `airlock run --json` prints to stderr.
pub const PROGRESS_JSON_FORMAT: &str = "airlock-progress/1";

pub use airlock_core::hex::encode as to_hex;

/// Characters `text` takes when printed as [`Untrusted`].
fn shown_width(text: &str) -> usize {
    Untrusted(text).to_string().chars().count()
}

/// A per-task score table of one run. Task ids come from the modules and
/// the title names the suite and profile: all are printed as [`Untrusted`].
pub fn results_table(title: &str, results: &[TaskResult], end: &RunEnd) -> String {
    let width = results
        .iter()
        .map(|r| shown_width(&r.task_id))
        .max()
        .unwrap_or(4)
        .max(7);
    let mut out = String::new();
    let _ = writeln!(out, "{}", Untrusted(title));
    let _ = writeln!(
        out,
        "  {:<width$}  {:>5}  {:<22}  {:>8}  {:>14}  {:>10}  {:>5}  {:>10}",
        "task", "epoch", "outcome", "score", "fuel", "memory KiB", "turns", "tokens"
    );
    for r in results {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>5}  {:<22}  {:>8}  {:>14}  {:>10}  {:>5}  {:>10}",
            Untrusted(&r.task_id),
            r.epoch,
            r.outcome.to_string(),
            r.score.to_string(),
            r.fuel_consumed,
            r.peak_memory_bytes.div_ceil(1024),
            r.turns,
            tokens_cell(&r.tokens)
        );
    }
    let mut totals = airlock_core::record::TokenTotals::default();
    for r in results {
        totals.prompt_tokens = totals.prompt_tokens.saturating_add(r.tokens.prompt_tokens);
        totals.completion_tokens = totals
            .completion_tokens
            .saturating_add(r.tokens.completion_tokens);
        totals.calls_without_usage = totals
            .calls_without_usage
            .saturating_add(r.tokens.calls_without_usage);
    }
    let mean = if end.results == 0 {
        Ppm::ZERO
    } else {
        Ppm((end.score_sum / u64::from(end.results)) as u32)
    };
    let _ = writeln!(
        out,
        "  {:<width$}  {:>5}  {:<22}  {:>8}   ({} of {} with full credit; {} prompt + {} completion tokens{}{})",
        "overall",
        "",
        "",
        mean.to_string(),
        end.full_credit,
        end.results,
        totals.prompt_tokens,
        totals.completion_tokens,
        match totals.calls_without_usage {
            0 => String::new(),
            n => format!(", {n} calls without usage"),
        },
        match end.reason {
            RunEndReason::Completed => String::new(),
            RunEndReason::AbortedModelErrors(n) =>
                format!("; ended early after {n} consecutive model errors"),
        }
    );
    out
}

/// A result's tokens in a table cell: prompt plus completion, with `+?`
/// when some call reported no usage (so the sum is a lower bound).
fn tokens_cell(tokens: &airlock_core::record::TokenTotals) -> String {
    let total = tokens
        .prompt_tokens
        .saturating_add(tokens.completion_tokens);
    if tokens.calls_without_usage > 0 {
        format!("{total}+?")
    } else {
        total.to_string()
    }
}

/// One line per verification level; reasons quote the bundle, so each
/// line is printed as [`Untrusted`].
pub fn verdict_lines(verdict: &Verdict) -> String {
    let mut out = String::new();
    for level in &verdict.levels {
        let _ = writeln!(out, "{}", Untrusted(&level.to_string()));
    }
    let _ = writeln!(
        out,
        "{}",
        if verdict.verified() {
            "verified"
        } else {
            "NOT VERIFIED"
        }
    );
    out
}

/// The campaign verdict as text: one line per level, then one per shard
/// bundle given; reasons quote the bundles, so each line is printed as
/// [`Untrusted`].
pub fn campaign_verdict_text(verdict: &airlock_attest::campaign::CampaignVerdict) -> String {
    let mut out = String::new();
    let campaign = verdict
        .plan
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |p| to_hex(&p.plan.campaign_id));
    let _ = writeln!(
        out,
        "{}",
        Untrusted(&format!(
            "campaign {campaign} (plan {}):",
            verdict.plan_path.display()
        ))
    );
    for level in &verdict.verdict.levels {
        let _ = writeln!(out, "  {}", Untrusted(&level.to_string()));
    }
    for shard in &verdict.shards {
        let state = if shard.counted {
            "counted"
        } else if shard.shard_index.is_some() {
            "not counted (a duplicate)"
        } else {
            "not counted"
        };
        let _ = writeln!(
            out,
            "  {}",
            Untrusted(&format!(
                "{}: shard {}, key {}, {} results, {state}",
                shard.path.display(),
                shard
                    .shard_index
                    .map_or_else(|| "?".to_owned(), |i| i.to_string()),
                shard
                    .key_id
                    .map_or_else(|| "unreadable".to_owned(), |k| k.to_string()),
                shard.results
            ))
        );
    }
    let _ = writeln!(
        out,
        "{}",
        if verdict.verified() {
            "verified"
        } else {
            "NOT VERIFIED"
        }
    );
    out
}

/// JSON of a profile's fields (and its digest and parallelism).
pub fn profile_json(profile: &HardwareProfile) -> Value {
    let mut value = serde_json::to_value(profile).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("digest".into(), profile.digest().to_hex().as_str().into());
        map.insert(
            "parallel_sandboxes".into(),
            profile.parallel_sandboxes().into(),
        );
    }
    value
}

/// JSON of one result.
pub fn result_json(r: &TaskResult) -> Value {
    json!({
        "plan_index": r.plan_index,
        "task_id": r.task_id,
        "epoch": r.epoch,
        "module_digest": r.module_digest.to_hex().as_str(),
        "outcome": r.outcome.name(),
        "outcome_detail": r.outcome.to_string(),
        "score_ppm": r.score.0,
        "fuel_consumed": r.fuel_consumed,
        "peak_memory_bytes": r.peak_memory_bytes,
        "turns": r.turns,
        "prompt_tokens": r.tokens.prompt_tokens,
        "completion_tokens": r.tokens.completion_tokens,
        "calls_without_usage": r.tokens.calls_without_usage,
        "wall_time_us": r.wall_time_us,
        "transcript_commitment": r.transcript_commitment.to_hex().as_str(),
    })
}

/// One progress event of `airlock run --json` (format [`PROGRESS_JSON_FORMAT`]):
/// `start` with the planned and already durable counts, `result` for each
/// result once it is durable, `end` once RunEnd is durable.
pub fn progress_json(event: &str, fields: Value) -> Value {
    let mut value = json!({ "format": PROGRESS_JSON_FORMAT, "event": event });
    if let (Value::Object(map), Value::Object(extra)) = (&mut value, fields) {
        map.extend(extra);
    }
    value
}

/// The `airlock run --json` object (format [`RUN_JSON_FORMAT`]).
pub fn run_json(bundle: &str, start: &RunStart, results: &[TaskResult], end: &RunEnd) -> Value {
    json!({
        "format": RUN_JSON_FORMAT,
        "bundle": bundle,
        "run_id": to_hex(&start.run_id),
        "seed": to_hex(&start.seed),
        "suite": start.suite.name,
        "suite_digest": start.suite.digest.to_hex().as_str(),
        "suite_trust": match &start.suite.trust {
            SuiteTrust::Embedded => "embedded".to_string(),
            SuiteTrust::Signed(authority) => format!("signed:{authority}"),
            SuiteTrust::Unsigned => "unsigned".to_string(),
        },
        "profile": start.profile.name,
        "agent": start.model.agent,
        "model": start.model.model,
        "reported_model": start.model.reported_model,
        "tool_mode": start.model.tool_mode.name(),
        "key_id": start.evaluator_key_id.to_hex().as_str(),
        "station_run_counter": start.station.run_counter,
        "results": results.iter().map(result_json).collect::<Vec<_>>(),
        "full_credit": end.full_credit,
        "score_sum_ppm": end.score_sum,
        "end": match end.reason {
            RunEndReason::Completed => "completed",
            RunEndReason::AbortedModelErrors(_) => "aborted-model-errors",
        },
    })
}
