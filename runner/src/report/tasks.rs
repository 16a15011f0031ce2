//! Tables and JSON of a suite's tasks as read from their modules, and of
//! `profile check`'s measurements: both need the sandbox.

use core::fmt::Write as _;

use airlock_core::Untrusted;
use serde_json::{Value, json};

use crate::check::{TaskFit, format_headroom};
use crate::profile::HardwareProfile;
use crate::suite::LoadedSuite;
use airlock_sandbox::LoadedTask;

/// JSON of one task's metadata (`airlock suite list --json`), with its
/// system prompt and tools as the `openai` agent offers them, so that what a
/// model server was sent can be checked against what the task declares.
pub fn task_json(task: &LoadedTask) -> Value {
    let info = &task.info;
    let tools: Vec<Value> = info
        .tools
        .iter()
        .map(|tool| {
            // The schema was checked when the module was loaded; should it
            // not parse, it is listed as the text the module gave.
            let parameters = serde_json::from_str::<Value>(&tool.parameters)
                .unwrap_or_else(|_| Value::String(tool.parameters.clone()));
            json!({
                "name": tool.name,
                "description": tool.description,
                "parameters": parameters,
            })
        })
        .collect();
    json!({
        "id": info.id,
        "version": info.version,
        "title": info.title,
        "category": info.category.as_str(),
        "difficulty": info.difficulty.name(),
        "max_turns": info.max_turns,
        "description": info.description,
        "module_digest": task.digest.to_hex().as_str(),
        "system_prompt": info.system_prompt,
        "tools": tools,
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
            info.category.as_str(),
            info.difficulty.name(),
            info.max_turns,
            Untrusted(&info.description)
        );
    }
    out
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
