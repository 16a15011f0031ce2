//! Human tables and versioned JSON for runs and verdicts.

use core::fmt::Write as _;

use airlock_attest::verify::Verdict;
use airlock_core::record::{RunEnd, RunEndReason, RunStart, SuiteTrust, TaskResult};
use airlock_core::{Ppm, Untrusted};
use serde_json::{Value, json};

use crate::check::{TaskFit, format_headroom};
use crate::profile::HardwareProfile;
use crate::suite::LoadedSuite;
use airlock_sandbox::LoadedTask;

pub mod compare;
pub mod html;
pub mod json;
pub mod model;
pub mod output;
pub mod text;

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
        "  {:<width$}  {:>5}  {:<22}  {:>8}  {:>14}  {:>10}  {:>5}",
        "task", "epoch", "outcome", "score", "fuel", "memory KiB", "turns"
    );
    for r in results {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>5}  {:<22}  {:>8}  {:>14}  {:>10}  {:>5}",
            Untrusted(&r.task_id),
            r.epoch,
            r.outcome.to_string(),
            r.score.to_string(),
            r.fuel_consumed,
            r.peak_memory_bytes.div_ceil(1024),
            r.turns
        );
    }
    let mean = if end.results == 0 {
        Ppm::ZERO
    } else {
        Ppm((end.score_sum / u64::from(end.results)) as u32)
    };
    let _ = writeln!(
        out,
        "  {:<width$}  {:>5}  {:<22}  {:>8}   ({} of {} with full credit{})",
        "overall",
        "",
        "",
        mean.to_string(),
        end.full_credit,
        end.results,
        match end.reason {
            RunEndReason::Completed => String::new(),
            RunEndReason::AbortedModelErrors(n) =>
                format!("; ended early after {n} consecutive model errors"),
        }
    );
    out
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

/// JSON of one task's metadata (`airlock suite list --json`).
pub fn task_json(task: &LoadedTask) -> Value {
    let info = &task.info;
    json!({
        "id": info.id,
        "version": info.version,
        "title": info.title,
        "category": info.category.name(),
        "difficulty": info.difficulty.name(),
        "max_turns": info.max_turns,
        "description": info.description,
        "module_digest": task.digest.to_hex().as_str(),
    })
}

/// A table of a suite's tasks. Ids, descriptions and the suite's name come
/// from the modules and the manifest: all are printed as [`Untrusted`].
pub fn suite_table(suite: &LoadedSuite) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "suite {} ({} tasks, digest {})",
        Untrusted(&suite.name),
        suite.tasks.len(),
        suite.digest
    );
    for task in &suite.tasks {
        let info = &task.info;
        let _ = writeln!(
            out,
            "  {:<16} v{:<3} {:<24} {:<7} {:>3} turns  {}",
            Untrusted(&info.id),
            info.version,
            info.category.name(),
            info.difficulty.name(),
            info.max_turns,
            Untrusted(&info.description)
        );
    }
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

/// `airlock profile check` as a table; task ids (from the modules) and the
/// profile's name (from its file) are printed as [`Untrusted`].
pub fn check_table(profile: &HardwareProfile, fits: &[TaskFit]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "profile {}: fuel budget {} per task, memory {} MiB per sandbox",
        Untrusted(&profile.name),
        profile.fuel_per_task,
        profile.memory_per_sandbox_mib
    );
    let _ = writeln!(
        out,
        "  {:<18} {:>14} {:>9} {:>12} {:>9}  {:<14}",
        "task", "fuel", "headroom", "peak memory", "headroom", "verdict"
    );
    for fit in fits {
        let n = &fit.needs;
        let verdict = match (fit.fits(), n.solved) {
            (true, true) => "fits",
            (true, false) => "fits (not solved)",
            (false, _) => "DOES NOT FIT",
        };
        let _ = writeln!(
            out,
            "  {:<18} {:>14} {:>9} {:>8} KiB {:>9}  {verdict}{}",
            Untrusted(&n.task_id),
            n.fuel,
            format_headroom(fit.fuel_headroom_centi()),
            n.peak_memory_bytes / 1024,
            format_headroom(fit.memory_headroom_centi()),
            if n.outcome == airlock_core::Outcome::Done {
                String::new()
            } else {
                format!(
                    " (measurement ended {}; numbers are lower bounds)",
                    n.outcome
                )
            }
        );
    }
    out
}

/// `airlock profile check --json` (format `airlock-profile-check/1`).
pub fn check_json(profile: &HardwareProfile, fits: &[TaskFit]) -> Value {
    json!({
        "format": "airlock-profile-check/1",
        "profile": profile.name,
        "profile_digest": profile.digest().to_hex().as_str(),
        "fits": fits.iter().all(TaskFit::fits),
        "tasks": fits.iter().map(|fit| json!({
            "task_id": fit.needs.task_id,
            "fuel": fit.needs.fuel,
            "fuel_budget": fit.fuel_budget,
            "fuel_headroom_centi": fit.fuel_headroom_centi(),
            "peak_memory_bytes": fit.needs.peak_memory_bytes,
            "memory_limit_bytes": fit.memory_limit,
            "memory_headroom_centi": fit.memory_headroom_centi(),
            "measurement_outcome": fit.needs.outcome.name(),
            "solved": fit.needs.solved,
            "fits": fit.fits(),
        })).collect::<Vec<_>>(),
    })
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
