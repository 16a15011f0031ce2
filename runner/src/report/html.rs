//! `airlock report --format html`: one self-contained HTML file.
//!
//! Enclave machines fetch nothing, so the page carries everything itself:
//! inline CSS, inline SVG charts, no script, no font, no image, and a
//! Content-Security-Policy that forbids the browser to load anything else.
//! Every text that comes from a bundle is escaped ([`esc`]): task ids,
//! model names and reasons are data, not markup.

use core::fmt::Write as _;
use std::collections::HashMap;

use airlock_core::Ppm;
use airlock_core::stats::GroupStats;

use super::model::{ProfileStatus, RunReport};
use super::text::{
    fine_share, grouped, interval_text, method_text, pass_at, pass_hat, pct, shown_ks, trust_text,
    utc_text,
};
use super::to_hex;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Controls and bidirectional overrides have no business in a
            // report; show them, as every other printer does.
            c if airlock_core::text::is_unsafe_char(c) && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Per task id, the outcomes other than `done` with their counts, in order
/// of first appearance: one pass over the results, so the task table is
/// linear in them however many distinct tasks a bundle names.
fn other_outcomes(report: &RunReport) -> HashMap<&str, Vec<(String, u64)>> {
    let mut by_task: HashMap<&str, Vec<(String, u64)>> = HashMap::new();
    for row in &report.results {
        if row.result.outcome == airlock_core::Outcome::Done {
            continue;
        }
        let name = row.result.outcome.to_string();
        let others = by_task.entry(row.result.task_id.as_str()).or_default();
        // Few kinds of outcome exist, so this list stays short.
        match others.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 += 1,
            None => others.push((name, 1)),
        }
    }
    by_task
}

/// The page's style sheet. Only system fonts: nothing is fetched.
pub const STYLE: &str = r#"
:root { --ok: #1a7f37; --bad: #cf222e; --bar: #0969da; --bar2: #8250df; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328; background: #ffffff; }
body.unverified { outline: 10px solid var(--bad); outline-offset: -10px; }
header { padding: 18px 28px; color: #fff; }
header.ok { background: var(--ok); }
header.bad { background: var(--bad); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .status { margin: 0; font-size: 18px; font-weight: 700; letter-spacing: .02em; }
header .reason { margin: 4px 0 0; font-size: 14px; }
main { padding: 8px 28px 28px; max-width: 1240px; }
section { margin-top: 22px; }
h2 { font-size: 17px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin: 0 0 10px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
td { white-space: nowrap; }
th { vertical-align: bottom; }
svg { max-width: 100%; height: auto; }
.meta td, td.wrap { white-space: normal; }
th { color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; }
tr.overall td { font-weight: 700; border-top: 1px solid var(--line); }
.meta { width: 100%; }
.meta th { border: 0; padding-right: 18px; }
.meta td { overflow-wrap: anywhere; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
.passed { color: var(--ok); font-weight: 700; }
.failed { color: var(--bad); font-weight: 700; }
.not-checked { color: #9a6700; font-weight: 700; }
.cards { display: flex; gap: 14px; flex-wrap: wrap; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; min-width: 170px; }
.card .big { font-size: 26px; font-weight: 700; }
.card .small { color: var(--muted); }
.note { color: var(--muted); }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; fill: #1f2328; }
svg .axis { stroke: var(--line); }
svg .bar { fill: var(--bar); }
svg .bar2 { fill: var(--bar2); }
svg .whisker { stroke: #1f2328; stroke-width: 2; }
svg .budget { stroke: var(--bad); stroke-width: 2; stroke-dasharray: 4 3; }
.watermark { position: fixed; top: 38%; left: 0; right: 0; text-align: center; font-size: 110px; font-weight: 800; color: rgba(207, 34, 46, .13); transform: rotate(-24deg); pointer-events: none; z-index: 10; }
.scroll { overflow-x: auto; }
footer { padding: 14px 28px; color: var(--muted); border-top: 1px solid var(--line); }
"#;

/// The head of a page: doctype, CSP, title and style.
pub fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"airlock {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title)
    );
}

/// The verified / unverified banner and, when unverified, the watermark.
pub fn banner(out: &mut String, heading: &str, verified: bool, reasons: &[String]) {
    if verified {
        let _ = write!(
            out,
            "<body class=\"verified\">\n<header class=\"ok\"><h1>{}</h1>\
             <p class=\"status\" id=\"status\">VERIFIED: every record's signature, the chain and completeness check out</p></header>\n",
            esc(heading)
        );
    } else {
        let _ = write!(
            out,
            "<body class=\"unverified\">\n<div class=\"watermark\" aria-hidden=\"true\">UNVERIFIED</div>\n\
             <header class=\"bad\"><h1>{}</h1>\
             <p class=\"status\" id=\"status\">UNVERIFIED BUNDLE: do not rely on anything on this page</p>",
            esc(heading)
        );
        for reason in reasons {
            let _ = write!(out, "<p class=\"reason\">{}</p>", esc(reason));
        }
        out.push_str("</header>\n");
    }
}

/// One horizontal bar chart row: a label, a bar from 0 to `value` and an
/// optional whisker, all in parts per million of the axis.
#[derive(Debug, Clone)]
pub struct BarRow<'a> {
    /// Row label (escaped when drawn).
    pub label: &'a str,
    /// Bars, drawn one under the other within the row: (value, css class).
    pub bars: Vec<(Ppm, &'static str)>,
    /// Whiskers matching `bars`: (low, high).
    pub whiskers: Vec<Option<(Ppm, Ppm)>>,
    /// Text written right of the plot.
    pub value_text: String,
}

const CHART_WIDTH: u32 = 1060;
const LABEL_WIDTH: u32 = 200;
const PLOT_WIDTH: u32 = 520;
const ROW_HEIGHT: u32 = 26;
const TOP: u32 = 22;

fn x_of(value: Ppm) -> u32 {
    LABEL_WIDTH + (u64::from(value.0.min(Ppm::FULL.0)) * u64::from(PLOT_WIDTH) / 1_000_000) as u32
}

/// An SVG bar chart over 0–100%, with grid lines every 25%.
pub fn bar_chart(out: &mut String, title: &str, rows: &[BarRow<'_>], axis_labels: [&str; 5]) {
    let height = TOP + ROW_HEIGHT * rows.len().max(1) as u32 + 8;
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    for (i, label) in axis_labels.iter().enumerate() {
        let x = LABEL_WIDTH + PLOT_WIDTH * i as u32 / 4;
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>\
             <text x=\"{x}\" y=\"12\" text-anchor=\"middle\">{}</text>",
            TOP - 4,
            height - 4,
            esc(label)
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * i as u32;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL_WIDTH - 8,
            y + 17,
            esc(&truncate(row.label, 28))
        );
        let count = row.bars.len().max(1) as u32;
        let bar_height = (ROW_HEIGHT - 8) / count;
        for (j, (value, class)) in row.bars.iter().enumerate() {
            let top = y + 4 + bar_height * j as u32;
            // A sliver for values above zero, so that "small" and "none" differ.
            let width = x_of(*value) - LABEL_WIDTH;
            let width = if value.0 > 0 { width.max(2) } else { 0 };
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{LABEL_WIDTH}\" y=\"{top}\" width=\"{width}\" height=\"{}\"/>",
                bar_height.saturating_sub(1).max(1)
            );
            if let Some(Some((low, high))) = row.whiskers.get(j) {
                let mid = top + bar_height / 2;
                let (x1, x2) = (x_of(*low), x_of(*high));
                let _ = write!(
                    out,
                    "<line class=\"whisker\" x1=\"{x1}\" y1=\"{mid}\" x2=\"{x2}\" y2=\"{mid}\"/>\
                     <line class=\"whisker\" x1=\"{x1}\" y1=\"{}\" x2=\"{x1}\" y2=\"{}\"/>\
                     <line class=\"whisker\" x1=\"{x2}\" y1=\"{}\" x2=\"{x2}\" y2=\"{}\"/>",
                    mid.saturating_sub(5),
                    mid + 5,
                    mid.saturating_sub(5),
                    mid + 5
                );
            }
        }
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\">{}</text>",
            LABEL_WIDTH + PLOT_WIDTH + 12,
            y + 17,
            esc(&row.value_text)
        );
    }
    out.push_str("</svg>\n");
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Rows of the score chart: each category and the overall score, with the
/// 95% interval as a whisker.
fn score_rows(report: &RunReport) -> Vec<BarRow<'_>> {
    report
        .summary
        .categories
        .iter()
        .chain(report.summary.overall.iter())
        .map(|g| BarRow {
            label: &g.name,
            bars: vec![(g.mean, "bar")],
            whiskers: vec![g.interval.map(|i| (i.low, i.high))],
            value_text: format!("{} {}", g.mean, interval_text(g.interval)),
        })
        .collect()
}

fn verification_table(out: &mut String, report: &RunReport) {
    out.push_str("<table><tr><th>level</th><th>status</th><th>reason or note</th></tr>");
    for level in &report.verdict.levels {
        let status = level.status.name();
        let detail = [level.status.reason(), level.note.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{status}\">{status}</td><td class=\"wrap\">{}</td></tr>",
            level.level,
            esc(&detail)
        );
    }
    out.push_str("</table>\n");
}

fn meta_rows(report: &RunReport) -> Vec<(&'static str, String, bool)> {
    let Some(start) = &report.run else {
        return vec![(
            "run",
            "unknown: the bundle has no readable RunStart".into(),
            false,
        )];
    };
    let profile_note = match &report.profile {
        ProfileStatus::Known { source, .. } => format!("budgets from {source}"),
        ProfileStatus::Unknown { why } => format!("budgets unknown: {why}"),
    };
    vec![
        ("run id", to_hex(&start.run_id), true),
        (
            "started",
            format!(
                "{} (the evaluator's clock; information only)",
                utc_text(start.started_at_unix_s)
            ),
            false,
        ),
        (
            "suite",
            format!(
                "{} ({}), digest {}",
                start.suite.name,
                trust_text(&start.suite.trust),
                start.suite.digest
            ),
            false,
        ),
        (
            "profile",
            format!(
                "{}, digest {} ({profile_note})",
                start.profile.name, start.profile.digest
            ),
            false,
        ),
        (
            "model",
            format!(
                "agent {}, model \"{}\"{}, tool mode {}",
                start.model.agent,
                start.model.model,
                if start.model.reported_model.is_empty() {
                    String::new()
                } else {
                    format!(", reported \"{}\"", start.model.reported_model)
                },
                start.model.tool_mode.name()
            ),
            false,
        ),
        ("key id", start.evaluator_key_id.to_string(), true),
        (
            "station run",
            format!(
                "{} (previous run's RunStart hash {})",
                start.station.run_counter, start.station.previous_run_start_hash
            ),
            false,
        ),
        ("results", report.results_text(start.plan.len()), false),
        (
            "runner",
            format!(
                "airlock {}, wasmtime {}, engine settings {}",
                start.runner.airlock_version,
                start.runner.wasmtime_version,
                start.runner.engine_settings
            ),
            false,
        ),
        ("run seed", to_hex(&start.seed), true),
        (
            "categories",
            format!("from {}", report.categories_source),
            false,
        ),
    ]
}

fn meta_table(out: &mut String, rows: &[(&'static str, String, bool)], id_prefix: &str) {
    out.push_str("<table class=\"meta\">");
    for (name, value, mono) in rows {
        let id = name.replace(' ', "-");
        let _ = write!(
            out,
            "<tr><th>{name}</th><td id=\"{id_prefix}{id}\"{}>{}</td></tr>",
            if *mono { " class=\"mono\"" } else { "" },
            esc(value)
        );
    }
    out.push_str("</table>\n");
}

fn group_cells(out: &mut String, g: &GroupStats, ks: &[u32]) {
    let _ = write!(
        out,
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num mean\">{}</td>\
         <td class=\"num\">{}</td><td>{}</td>",
        g.instances,
        g.passes,
        g.mean,
        pct(g.standard_error),
        interval_text(g.interval)
    );
    for &k in ks {
        let _ = write!(out, "<td class=\"num\">{}</td>", pct(pass_at(g, k)));
    }
    if let Some(&k) = ks.last().filter(|&&k| k > 1) {
        let _ = write!(out, "<td class=\"num\">{}</td>", pct(pass_hat(g, k)));
    }
}

fn group_heads(out: &mut String, ks: &[u32]) {
    out.push_str(
        "<th class=\"num\">results</th><th class=\"num\">passes</th><th class=\"num\">mean</th>\
         <th class=\"num\">± s.e.</th><th>95% interval</th>",
    );
    for &k in ks {
        let _ = write!(out, "<th class=\"num\">pass@{k}</th>");
    }
    if let Some(&k) = ks.last().filter(|&&k| k > 1) {
        let _ = write!(out, "<th class=\"num\">pass^{k}</th>");
    }
}

/// Draws the dashed budget line at 100% of the axis of the chart just written.
fn budget_line(out: &mut String, rows: usize) {
    if let Some(pos) = out.rfind("</svg>") {
        let x = LABEL_WIDTH + PLOT_WIDTH;
        let height = TOP + ROW_HEIGHT * rows.max(1) as u32 + 8;
        out.insert_str(
            pos,
            &format!(
                "<line class=\"budget\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{height}\"/>",
                TOP - 4
            ),
        );
    }
}

fn resources(out: &mut String, report: &RunReport) {
    let profile = report.profile.profile();
    match profile {
        Some(p) => {
            let _ = write!(
                out,
                "<p>Fuel budget per task instance: <b>{}</b>. Bars show the most fuel one instance \
                 of each task used, as a share of that budget (the dashed line).</p>",
                grouped(p.fuel_per_task)
            );
        }
        None => {
            let why = match &report.profile {
                ProfileStatus::Unknown { why } => why.as_str(),
                ProfileStatus::Known { .. } => "",
            };
            let _ = write!(
                out,
                "<p class=\"note\">The run's profile is not known here ({}), so its budgets are \
                 unknown; bars show fuel against the most any task used.</p>",
                esc(why)
            );
        }
    }
    let scale = match profile {
        Some(p) => p.fuel_per_task,
        None => report.resources.iter().map(|f| f.max).max().unwrap_or(0),
    };
    let rows: Vec<BarRow<'_>> = report
        .resources
        .iter()
        .map(|f| BarRow {
            label: &f.task_id,
            bars: vec![
                (Ppm::ratio(f.max, scale), "bar"),
                (Ppm::ratio(f.mean, scale), "bar2"),
            ],
            whiskers: vec![None, None],
            value_text: format!(
                "max {}{} · mean {}",
                grouped(f.max),
                f.max_of_budget
                    .map_or_else(String::new, |s| format!(" ({})", fine_share(s))),
                grouped(f.mean)
            ),
        })
        .collect();
    let labels = if profile.is_some() {
        ["0", "25%", "50%", "75%", "budget"]
    } else {
        ["0", "", "", "", "most used"]
    };
    bar_chart(out, "fuel by task", &rows, labels);
    if profile.is_some() {
        budget_line(out, rows.len());
    }
    out.push_str("<p class=\"note\">Blue: most fuel of one instance; purple: mean.</p>");
    let limited = report
        .outcomes
        .iter()
        .find(|(name, _)| *name == "memory-limit")
        .map_or(0, |(_, n)| *n);
    match profile {
        Some(p) => {
            let _ = write!(
                out,
                "<p>Memory budget: <b>{} MiB</b> per sandbox, {} MiB in total. Bars show the \
                 largest linear memory one instance of each task reached, as a share of the \
                 per-sandbox budget (the dashed line). <b>{limited}</b> result(s) ended at the \
                 memory limit.</p>",
                p.memory_per_sandbox_mib, p.total_memory_mib
            );
        }
        None => {
            let _ = write!(
                out,
                "<p>Memory budget: unknown; bars show memory against the most any task reached. \
                 <b>{limited}</b> result(s) ended at the memory limit.</p>"
            );
        }
    }
    let scale = match profile {
        Some(p) => p.memory_per_sandbox_bytes(),
        None => report
            .resources
            .iter()
            .map(|f| f.memory_max)
            .max()
            .unwrap_or(0),
    };
    let rows: Vec<BarRow<'_>> = report
        .resources
        .iter()
        .map(|f| BarRow {
            label: &f.task_id,
            bars: vec![(Ppm::ratio(f.memory_max, scale), "bar")],
            whiskers: vec![None],
            value_text: format!(
                "{}{}",
                kib(f.memory_max),
                f.memory_max_of_budget
                    .map_or_else(String::new, |s| format!(" ({})", fine_share(s)))
            ),
        })
        .collect();
    let labels = if profile.is_some() {
        ["0", "25%", "50%", "75%", "budget"]
    } else {
        ["0", "", "", "", "most used"]
    };
    bar_chart(out, "memory by task", &rows, labels);
    if profile.is_some() {
        budget_line(out, rows.len());
    }
}

/// Tokens against the profile's budgets: the most one instance of each
/// task used, by category and by task, and the results that ended
/// `token-limit`.
fn tokens(out: &mut String, report: &RunReport) {
    let tokens = &report.tokens;
    let budgets = tokens.budgets;
    let total_budget = budgets.and_then(|b| b.total);
    match budgets {
        Some(b) => {
            let words = |n: Option<u64>| n.map_or_else(|| "none".into(), grouped);
            let _ = write!(
                out,
                "<p>Token budget per task instance: <b>{}</b> prompt + completion tokens, \
                 <b>{}</b> completion tokens, as the model server reported them. Bars show the \
                 most tokens one instance of each task used{}.</p>",
                words(b.total),
                words(b.completion),
                if total_budget.is_some() {
                    ", as a share of the prompt + completion budget (the dashed line)"
                } else {
                    ", against the most any task used"
                }
            );
        }
        None => {
            out.push_str(
                "<p class=\"note\">The run's profile is not known here, so its token budgets \
                 are unknown; bars show tokens against the most any task used.</p>",
            );
        }
    }
    let scale =
        total_budget.unwrap_or_else(|| tokens.tasks.iter().map(|t| t.max_total).max().unwrap_or(0));
    let rows: Vec<BarRow<'_>> = tokens
        .tasks
        .iter()
        .map(|t| BarRow {
            label: &t.name,
            bars: vec![
                (Ppm::ratio(t.max_total, scale), "bar"),
                (Ppm::ratio(t.per_result().unwrap_or(0), scale), "bar2"),
            ],
            whiskers: vec![None, None],
            value_text: format!(
                "max {}{} · mean {}",
                grouped(t.max_total),
                total_budget.map_or_else(String::new, |b| format!(
                    " ({})",
                    fine_share(Ppm::ratio(t.max_total, b))
                )),
                t.per_result().map_or_else(|| "—".into(), grouped)
            ),
        })
        .collect();
    let labels = if total_budget.is_some() {
        ["0", "25%", "50%", "75%", "budget"]
    } else {
        ["0", "", "", "", "most used"]
    };
    bar_chart(out, "tokens by task", &rows, labels);
    if total_budget.is_some() {
        budget_line(out, rows.len());
    }
    out.push_str(
        "<p class=\"note\">Blue: most tokens of one instance; purple: mean per result.</p>",
    );
    let cell = |n: Option<u64>| n.map_or_else(|| "—".into(), grouped);
    out.push_str(
        "<table id=\"tokens-by-category\"><tr><th>category</th><th class=\"num\">results</th>\
         <th class=\"num\">mean score</th><th class=\"num\">prompt</th>\
         <th class=\"num\">completion</th><th class=\"num\">per result</th>\
         <th class=\"num\">per pass</th><th class=\"num\">calls without usage</th>\
         <th class=\"num\">token-limit</th></tr>",
    );
    let overall = (tokens.overall.results > 0).then_some(&tokens.overall);
    let rows = tokens
        .categories
        .iter()
        .map(|g| (g, false))
        .chain(overall.map(|g| (g, true)));
    for (g, is_overall) in rows {
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            if is_overall { " class=\"overall\"" } else { "" },
            esc(&g.name),
            g.results,
            g.mean_score(),
            grouped(g.prompt_tokens),
            grouped(g.completion_tokens),
            cell(g.per_result()),
            cell(g.per_pass()),
            g.calls_without_usage,
            g.token_limit
        );
    }
    out.push_str("</table>");
    out.push_str(
        "<p class=\"note\">Per pass: all the group's tokens over its passes (outcome done with \
         full credit), failures included.</p>",
    );
    if !tokens.limited.is_empty() {
        let _ = write!(
            out,
            "<p><b>{}</b> result(s) ended at the token limit:</p><ul id=\"token-limit\">",
            tokens.limited.len()
        );
        for l in &tokens.limited {
            let _ = write!(
                out,
                "<li>#{} {} epoch {}: {} tokens, {} completion</li>",
                l.plan_index,
                esc(&l.task_id),
                l.epoch,
                grouped(l.total),
                grouped(l.completion)
            );
        }
        out.push_str("</ul>");
    }
}

/// Memory in KiB with digit groups, as the tables show it.
fn kib(bytes: u64) -> String {
    format!("{} KiB", grouped(bytes.div_ceil(1024)))
}

/// The whole HTML report of one bundle.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let run_id = report.run_id_hex();
    let verified = report.verified();
    let title = if verified {
        format!("Airlock report: run {run_id}")
    } else {
        format!("UNVERIFIED Airlock report: run {run_id}")
    };
    head(&mut out, &title);
    let reasons: Vec<String> = report.unverified_reason().into_iter().collect();
    banner(
        &mut out,
        &format!("Airlock report: run {run_id}"),
        verified,
        &reasons,
    );
    out.push_str("<main>\n");

    // Headline numbers.
    out.push_str("<section id=\"summary\"><div class=\"cards\">");
    if let Some(o) = &report.summary.overall {
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"small\">overall score{}</div>\
             <div class=\"big\" id=\"overall-mean\">{}</div>\
             <div class=\"small\">95% interval {}</div></div>",
            if verified { "" } else { " (UNVERIFIED)" },
            o.mean,
            interval_text(o.interval)
        );
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"small\">full-credit results</div>\
             <div class=\"big\">{} / {}</div><div class=\"small\">pass@1 {}</div></div>",
            o.passes,
            o.instances,
            pct(pass_at(o, 1))
        );
        let t = &report.tokens.overall;
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"small\">tokens (prompt + completion)</div>\
             <div class=\"big\" id=\"overall-tokens\">{}</div><div class=\"small\">{} per pass · \
             {} ended token-limit</div></div>",
            grouped(t.total()),
            t.per_pass().map_or_else(|| "—".into(), grouped),
            t.token_limit
        );
    } else {
        out.push_str("<div class=\"card\"><div class=\"big\">no results</div></div>");
    }
    let _ = write!(
        out,
        "<div class=\"card\"><div class=\"small\">tasks · epochs</div><div class=\"big\">{} · {}</div>\
         <div class=\"small\">{}</div></div>",
        report.summary.tasks.len(),
        report.epochs,
        esc(&report.end_text())
    );
    out.push_str("</div></section>\n");

    out.push_str("<section id=\"verification\"><h2>Verification</h2>");
    let _ = write!(
        out,
        "<p>Bundle <span class=\"mono\">{}</span>: <b class=\"{}\">{}</b></p>",
        esc(&report.source),
        if verified { "passed" } else { "failed" },
        if verified { "verified" } else { "UNVERIFIED" }
    );
    verification_table(&mut out, report);
    out.push_str("</section>\n");

    out.push_str("<section id=\"run\"><h2>Run</h2>");
    meta_table(&mut out, &meta_rows(report), "");
    out.push_str("</section>\n");

    let ks = shown_ks(report);
    out.push_str("<section id=\"categories\"><h2>Scores by category</h2>");
    out.push_str("<p class=\"note\">Mean score with its 95% bootstrap interval (whiskers).</p>");
    bar_chart(
        &mut out,
        "scores by category",
        &score_rows(report),
        ["0%", "25%", "50%", "75%", "100%"],
    );
    out.push_str("<table><tr><th>category</th><th class=\"num\">tasks</th>");
    group_heads(&mut out, &ks);
    out.push_str("</tr>");
    for g in &report.summary.categories {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td>",
            esc(&g.name),
            g.tasks
        );
        group_cells(&mut out, g, &ks);
        out.push_str("</tr>");
    }
    if let Some(o) = &report.summary.overall {
        let _ = write!(
            out,
            "<tr class=\"overall\"><td>overall</td><td class=\"num\">{}</td>",
            o.tasks
        );
        group_cells(&mut out, o, &ks);
        out.push_str("</tr>");
    }
    out.push_str("</table></section>\n");

    out.push_str("<section id=\"outcomes\"><h2>Outcomes</h2>");
    let most = report.outcomes.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let rows: Vec<BarRow<'_>> = report
        .outcomes
        .iter()
        .map(|(name, n)| BarRow {
            label: name,
            bars: vec![(Ppm::ratio(*n, most), "bar")],
            whiskers: vec![None],
            value_text: n.to_string(),
        })
        .collect();
    bar_chart(&mut out, "outcome counts", &rows, ["0", "", "", "", "most"]);
    out.push_str("</section>\n");

    out.push_str(
        "<section id=\"resources\"><h2>Fuel and memory against the profile's budgets</h2>",
    );
    resources(&mut out, report);
    out.push_str("</section>\n");

    out.push_str("<section id=\"tokens\"><h2>Tokens against the profile's budgets</h2>");
    tokens(&mut out, report);
    out.push_str("</section>\n");

    out.push_str(
        "<section id=\"tasks\"><h2>Tasks</h2><div class=\"scroll\"><table><tr><th>task</th><th>category</th>",
    );
    group_heads(&mut out, &ks);
    out.push_str("<th class=\"num\">fuel mean</th><th class=\"num\">fuel max</th><th class=\"num\">memory max</th>\
        <th class=\"num\">prompt tokens</th><th class=\"num\">completion tokens</th><th>other outcomes</th></tr>");
    let mut others_by_task = other_outcomes(report);
    for ((g, fuel), tokens) in report
        .summary
        .tasks
        .iter()
        .zip(&report.resources)
        .zip(&report.tokens.tasks)
    {
        let _ = write!(
            out,
            "<tr><td class=\"task\">{}</td><td>{}</td>",
            esc(&g.name),
            esc(g.category.as_deref().unwrap_or(""))
        );
        group_cells(&mut out, g, &ks);
        let others = others_by_task
            .remove(g.name.as_str())
            .unwrap_or_default()
            .iter()
            .map(|(name, n)| format!("{name} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            out,
            "<td class=\"num\">{}</td><td class=\"num\">{}{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"wrap\">{}</td></tr>",
            grouped(fuel.mean),
            grouped(fuel.max),
            fuel.max_of_budget
                .map_or_else(String::new, |s| format!(" ({})", fine_share(s))),
            kib(fuel.memory_max),
            grouped(tokens.prompt_tokens),
            grouped(tokens.completion_tokens),
            esc(&others)
        );
    }
    out.push_str("</table></div></section>\n");

    out.push_str(
        "<section id=\"results\"><h2>Results</h2><table><tr><th class=\"num\">#</th><th>task</th>\
         <th class=\"num\">epoch</th><th>outcome</th><th class=\"num\">score</th>\
         <th class=\"num\">fuel</th><th class=\"num\">memory</th><th class=\"num\">turns</th>\
         <th class=\"num\">prompt tokens</th><th class=\"num\">completion tokens</th>\
         <th class=\"num\">calls without usage</th></tr>",
    );
    for row in &report.results {
        let r = &row.result;
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            r.plan_index,
            esc(&r.task_id),
            r.epoch,
            esc(&r.outcome.to_string()),
            r.score,
            grouped(r.fuel_consumed),
            kib(r.peak_memory_bytes),
            r.turns,
            grouped(r.tokens.prompt_tokens),
            grouped(r.tokens.completion_tokens),
            r.tokens.calls_without_usage
        );
    }
    out.push_str("</table></section>\n");

    let _ = write!(
        out,
        "<section id=\"method\"><h2>Method</h2><p>{}.</p></section>\n</main>\n",
        esc(&method_text())
    );
    footer(&mut out, verified);
    out
}

/// The footer and the end of the document.
pub fn footer(out: &mut String, verified: bool) {
    let _ = write!(
        out,
        "<footer>{}Written by airlock {}. This page is self-contained: it loads no script, \
         font, style sheet or image from anywhere.</footer>\n</body>\n</html>\n",
        if verified {
            ""
        } else {
            "UNVERIFIED: the bundle behind this page did not verify. "
        },
        env!("CARGO_PKG_VERSION")
    );
}

/// The HTML page comparing two runs.
pub fn render_comparison(cmp: &super::compare::Comparison) -> String {
    use super::compare::{Delta, delta_text};
    let mut out = String::new();
    let verified = cmp.verified();
    let heading = format!(
        "Airlock comparison: A run {} · B run {}",
        cmp.a.run_id_hex(),
        cmp.b.run_id_hex()
    );
    head(
        &mut out,
        &if verified {
            heading.clone()
        } else {
            format!("UNVERIFIED {heading}")
        },
    );
    banner(&mut out, &heading, verified, &cmp.unverified_reasons());
    out.push_str("<main>\n<section id=\"runs\"><h2>Runs</h2><table class=\"meta\"><tr><th></th><th>A</th><th>B</th></tr>");
    let a_rows = meta_rows(&cmp.a);
    let b_rows = meta_rows(&cmp.b);
    let status = |r: &RunReport| {
        if r.verified() {
            "<b class=\"passed\">verified</b>".to_string()
        } else {
            format!(
                "<b class=\"failed\">UNVERIFIED</b>: {}",
                esc(&r.unverified_reason().unwrap_or_default())
            )
        }
    };
    let _ = write!(
        out,
        "<tr><th>bundle</th><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>\
         <tr><th>verification</th><td id=\"a-status\">{}</td><td id=\"b-status\">{}</td></tr>",
        esc(&cmp.a.source),
        esc(&cmp.b.source),
        status(&cmp.a),
        status(&cmp.b)
    );
    for (name, value, mono) in &a_rows {
        let other = b_rows
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or("", |(_, v, _)| v.as_str());
        let class = if *mono { " class=\"mono\"" } else { "" };
        let id = name.replace(' ', "-");
        let _ = write!(
            out,
            "<tr><th>{name}</th><td id=\"a-{id}\"{class}>{}</td><td id=\"b-{id}\"{class}>{}</td></tr>",
            esc(value),
            esc(other)
        );
    }
    out.push_str("</table>");
    if !cmp.warnings.is_empty() {
        out.push_str("<ul id=\"warnings\">");
        for warning in &cmp.warnings {
            let _ = write!(out, "<li>{}</li>", esc(warning));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>\n");

    out.push_str("<section id=\"verification\"><h2>Verification</h2><h3>A</h3>");
    verification_table(&mut out, &cmp.a);
    out.push_str("<h3>B</h3>");
    verification_table(&mut out, &cmp.b);
    out.push_str("</section>\n");

    out.push_str(
        "<section id=\"categories\"><h2>Scores by category</h2>\
         <p class=\"note\">Blue: A; purple: B; whiskers: 95% bootstrap intervals.</p>",
    );
    let rows: Vec<BarRow<'_>> = cmp
        .categories
        .iter()
        .chain(core::iter::once(&cmp.overall))
        .map(|d| BarRow {
            label: &d.name,
            bars: vec![
                (d.a.as_ref().map_or(Ppm::ZERO, |g| g.mean), "bar"),
                (d.b.as_ref().map_or(Ppm::ZERO, |g| g.mean), "bar2"),
            ],
            whiskers: vec![
                d.a.as_ref()
                    .and_then(|g| g.interval)
                    .map(|i| (i.low, i.high)),
                d.b.as_ref()
                    .and_then(|g| g.interval)
                    .map(|i| (i.low, i.high)),
            ],
            value_text: delta_text(d.delta_ppm()),
        })
        .collect();
    bar_chart(
        &mut out,
        "scores by category, A and B",
        &rows,
        ["0%", "25%", "50%", "75%", "100%"],
    );
    let table = |out: &mut String, first: &str, deltas: &mut dyn Iterator<Item = &Delta>| {
        let _ = write!(
            out,
            "<table><tr><th>{first}</th><th class=\"num\">A mean</th><th>A 95% interval</th>\
             <th class=\"num\">B mean</th><th>B 95% interval</th><th class=\"num\">B − A</th>\
             <th class=\"num\">A pass@1</th><th class=\"num\">B pass@1</th><th>note</th></tr>"
        );
        for d in deltas {
            let delta = d.delta_ppm();
            let class = match delta.map(i64::signum) {
                Some(1) => "passed",
                Some(-1) => "failed",
                _ => "",
            };
            // By identity, not name: a suite authority may call a category `overall`.
            let row_class = if core::ptr::eq(d, &cmp.overall) {
                " class=\"overall\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<tr{row_class}><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td>{}</td><td class=\"num {class}\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"wrap\">{}</td></tr>",
                esc(&d.name),
                pct(d.a.as_ref().map(|g| g.mean)),
                interval_text(d.a.as_ref().and_then(|g| g.interval)),
                pct(d.b.as_ref().map(|g| g.mean)),
                interval_text(d.b.as_ref().and_then(|g| g.interval)),
                delta_text(delta),
                pct(d.a.as_ref().and_then(|g| pass_at(g, 1))),
                pct(d.b.as_ref().and_then(|g| pass_at(g, 1))),
                esc(&d.note())
            );
        }
        out.push_str("</table>");
    };
    table(
        &mut out,
        "category",
        &mut cmp.categories.iter().chain(core::iter::once(&cmp.overall)),
    );
    out.push_str("</section>\n<section id=\"tasks\"><h2>Tasks</h2>");
    table(&mut out, "task", &mut cmp.tasks.iter());
    out.push_str("</section>\n");
    let _ = write!(
        out,
        "<section id=\"method\"><h2>Method</h2><p>B − A is the difference of the mean scores in \
         percentage points; tasks are matched by id, and a task whose module differs between the \
         runs is marked. {}.</p></section>\n</main>\n",
        esc(&method_text())
    );
    footer(&mut out, verified);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc("<script>alert(\"x\")</script> & 'y'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("a\u{1b}b"), "a\\u{1b}b");
    }

    /// The task table is linear in the results however many distinct
    /// tasks they name: eight times the results take about eight times as
    /// long (a little more once they outgrow the caches), not sixty-four (finding: 200,000 results took 398 s).
    #[test]
    fn task_table_is_linear_in_distinct_tasks() {
        use crate::report::model::{distinct_tasks_report, growth};
        let small = distinct_tasks_report(8_000, false);
        let large = distinct_tasks_report(64_000, false);
        let page = render(&large);
        assert!(page.contains("task-63999"));
        assert!(page.contains("out-of-fuel ×1"));
        let ratio = growth(&small, &large, |r| {
            render(r);
        });
        assert!(ratio < 24.0, "8x the results took {ratio:.1}x as long");
    }

    /// Task ids, model names, suite names and reasons are data: none of
    /// them can add markup to the page.
    #[test]
    fn bundle_text_cannot_inject_markup() {
        use crate::report::model::sample_report;
        use airlock_core::Outcome;
        let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        for verified in [true, false] {
            let report = sample_report(
                &[
                    (hostile, Outcome::Done, 500_000),
                    ("plain", Outcome::OutOfFuel, 0),
                ],
                verified,
            );
            let page = render(&report);
            assert!(!page.contains("<script"), "{page}");
            assert!(!page.contains("<img"), "{page}");
            assert!(!page.contains("<b>suite"), "{page}");
            assert!(!page.contains("<forged>"), "{page}");
            assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
            assert_eq!(page.contains("UNVERIFIED BUNDLE"), !verified);
            let cmp = crate::report::compare::Comparison::new(report.clone(), report);
            let page = render_comparison(&cmp);
            assert!(
                !page.contains("<script") && !page.contains("<img"),
                "{page}"
            );
            assert!(page.contains("A and B are the same run"));
        }
    }

    /// Categories are the suite authority's names, and `overall` is one it
    /// may choose: only the run's own row is styled as the overall row.
    #[test]
    fn a_category_named_overall_is_not_the_overall_row() {
        use crate::report::model::sample_report;
        use airlock_core::Outcome;
        let mut report = sample_report(&[("t", Outcome::Done, 1_000_000)], true);
        report.summary.categories[0].name = "overall".into();
        report.tokens.categories[0].name = "overall".into();
        let page = render(&report);
        // The scores table and the tokens table each have one overall row.
        assert_eq!(page.matches("<tr class=\"overall\">").count(), 2, "{page}");
        let cmp = crate::report::compare::Comparison::new(report.clone(), report);
        let page = render_comparison(&cmp);
        assert_eq!(page.matches("<tr class=\"overall\">").count(), 1, "{page}");
    }

    #[test]
    fn long_labels_are_cut() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdefgh", 5), "abcd…");
    }
}
