//! `airlock report A B`: two runs side by side, with per-task deltas.
//!
//! Tasks are matched by id. A delta is only as meaningful as the match:
//! the comparison says when a task's module differs between the runs, when
//! the suites, profiles or engine settings differ (fuel is then not
//! comparable), and when either bundle did not verify.

use core::fmt::Write as _;
use std::collections::{HashMap, HashSet};

use airlock_core::stats::GroupStats;
use serde_json::{Value, json};

use super::model::RunReport;
use super::text::{Style, clean, interval_text, pass_at, pct};

/// The `format` of a comparison's JSON.
pub const COMPARE_JSON_FORMAT: &str = "airlock-report-compare/1";

/// One task, category or the overall score in both runs.
#[derive(Debug, Clone)]
pub struct Delta {
    /// Task id, category name or `overall`.
    pub name: String,
    /// For a task, its category (from whichever run has it).
    pub category: Option<String>,
    /// Statistics in run A, when A has the group.
    pub a: Option<GroupStats>,
    /// Statistics in run B, when B has the group.
    pub b: Option<GroupStats>,
    /// For a task in both runs: whether the module digests are equal.
    pub same_module: Option<bool>,
}

impl Delta {
    /// B's mean minus A's, in parts per million (percentage points × 10⁴).
    pub fn delta_ppm(&self) -> Option<i64> {
        Some(i64::from(self.b.as_ref()?.mean.0) - i64::from(self.a.as_ref()?.mean.0))
    }

    /// What to say beside the numbers.
    pub fn note(&self) -> String {
        match (&self.a, &self.b, self.same_module) {
            (Some(_), None, _) => "only in A".into(),
            (None, Some(_), _) => "only in B".into(),
            (_, _, Some(false)) => "module differs: not the same task".into(),
            _ => String::new(),
        }
    }
}

/// Two reports and their deltas.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The baseline run.
    pub a: RunReport,
    /// The run compared with it.
    pub b: RunReport,
    /// Per category (A's order, then B's new ones).
    pub categories: Vec<Delta>,
    /// Per task (A's order, then B's new ones).
    pub tasks: Vec<Delta>,
    /// The overall scores.
    pub overall: Delta,
    /// What makes the comparison weaker, in words.
    pub warnings: Vec<String>,
}

/// The module digest of each task's first result, by task id: built once
/// per report, so matching tasks is linear in the results, not results
/// times tasks.
fn modules_by_task(report: &RunReport) -> HashMap<&str, airlock_core::Digest> {
    let mut modules = HashMap::new();
    for row in &report.results {
        modules
            .entry(row.result.task_id.as_str())
            .or_insert(row.result.module_digest);
    }
    modules
}

/// Pairs groups by name: A's in order with B's match, then B's groups that
/// A lacks. Names are looked up in an index of B (and of A), never
/// searched, so a bundle of many distinct task ids stays linear.
fn pair(
    a: &[GroupStats],
    b: &[GroupStats],
) -> Vec<(String, Option<GroupStats>, Option<GroupStats>)> {
    let mut in_b: HashMap<&str, &GroupStats> = HashMap::with_capacity(b.len());
    for g in b {
        in_b.entry(g.name.as_str()).or_insert(g);
    }
    let in_a: HashSet<&str> = a.iter().map(|g| g.name.as_str()).collect();
    let mut out: Vec<(String, Option<GroupStats>, Option<GroupStats>)> = a
        .iter()
        .map(|g| {
            let other = in_b.get(g.name.as_str()).map(|&o| o.clone());
            (g.name.clone(), Some(g.clone()), other)
        })
        .collect();
    for g in b {
        if !in_a.contains(g.name.as_str()) {
            out.push((g.name.clone(), None, Some(g.clone())));
        }
    }
    out
}

impl Comparison {
    /// Pairs up two reports.
    pub fn new(a: RunReport, b: RunReport) -> Comparison {
        let tasks = {
            let (modules_a, modules_b) = (modules_by_task(&a), modules_by_task(&b));
            pair(&a.summary.tasks, &b.summary.tasks)
                .into_iter()
                .map(|(name, ga, gb)| {
                    let same_module =
                        match (modules_a.get(name.as_str()), modules_b.get(name.as_str())) {
                            (Some(x), Some(y)) => Some(x == y),
                            _ => None,
                        };
                    let category = ga.as_ref().or(gb.as_ref()).and_then(|g| g.category.clone());
                    Delta {
                        name,
                        category,
                        a: ga,
                        b: gb,
                        same_module,
                    }
                })
                .collect()
        };
        let categories = pair(&a.summary.categories, &b.summary.categories)
            .into_iter()
            .map(|(name, ga, gb)| Delta {
                name,
                category: None,
                a: ga,
                b: gb,
                same_module: None,
            })
            .collect();
        let overall = Delta {
            name: "overall".into(),
            category: None,
            a: a.summary.overall.clone(),
            b: b.summary.overall.clone(),
            same_module: None,
        };
        let warnings = warnings(&a, &b);
        Comparison {
            a,
            b,
            categories,
            tasks,
            overall,
            warnings,
        }
    }

    /// Whether both bundles verified: the only case a comparison is clean.
    pub fn verified(&self) -> bool {
        self.a.verified() && self.b.verified()
    }

    /// Why the comparison is unverified, one line per bundle that failed.
    pub fn unverified_reasons(&self) -> Vec<String> {
        [("A", &self.a), ("B", &self.b)]
            .iter()
            .filter_map(|(label, r)| {
                r.unverified_reason()
                    .map(|why| format!("{label} ({}): {why}", r.source))
            })
            .collect()
    }
}

fn warnings(a: &RunReport, b: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    for (label, r) in [("A", a), ("B", b)] {
        if let Some(why) = r.unverified_reason() {
            out.push(format!("{label} is UNVERIFIED: {why}"));
        }
    }
    let (Some(sa), Some(sb)) = (&a.run, &b.run) else {
        out.push("a run without a readable RunStart cannot be matched task by task".into());
        return out;
    };
    if sa.run_id == sb.run_id {
        out.push("A and B are the same run".into());
    }
    if sa.suite.digest != sb.suite.digest {
        out.push(format!(
            "the suites differ ({} {} and {} {}): tasks are matched by id",
            sa.suite.name, sa.suite.digest, sb.suite.name, sb.suite.digest
        ));
    }
    if sa.profile.digest != sb.profile.digest {
        out.push(format!(
            "the profiles differ ({} and {}): limits, and so scores and fuel, may not be comparable",
            sa.profile.name, sb.profile.name
        ));
    }
    if sa.runner.engine_settings != sb.runner.engine_settings
        || sa.runner.wasmtime_version != sb.runner.wasmtime_version
    {
        out.push("the sandbox engines differ: fuel counts are not comparable".into());
    }
    if sa.model.tool_mode != sb.model.tool_mode {
        out.push(format!(
            "the tool modes differ ({} and {}): the model met the tasks' tools in different ways",
            sa.model.tool_mode.name(),
            sb.model.tool_mode.name()
        ));
    }
    if a.epochs != b.epochs {
        out.push(format!(
            "the runs have {} and {} epochs per task: pass@k values are over different n",
            a.epochs, b.epochs
        ));
    }
    out
}

/// A signed difference of scores in percentage points, e.g. `+12.50 pp`.
pub fn delta_text(delta: Option<i64>) -> String {
    match delta {
        None => "—".into(),
        Some(d) => {
            let sign = match d.signum() {
                1 => "+",
                -1 => "−",
                _ => "±",
            };
            let hundredths = d.unsigned_abs() / 100;
            format!("{sign}{}.{:02} pp", hundredths / 100, hundredths % 100)
        }
    }
}

fn mean_ci(g: Option<&GroupStats>) -> String {
    g.map_or_else(
        || "—".into(),
        |g| format!("{} {}", g.mean, interval_text(g.interval)),
    )
}

/// The comparison as a terminal table.
pub fn render_text(cmp: &Comparison, style: Style) -> String {
    let mut out = String::new();
    let reasons = cmp.unverified_reasons();
    let banner = (!reasons.is_empty()).then(|| {
        format!(
            "UNVERIFIED COMPARISON: do not rely on anything below. {}",
            clean(&reasons.join(" | "))
        )
    });
    if let Some(banner) = &banner {
        let _ = writeln!(out, "{}", style.alarm(banner));
    }
    let _ = writeln!(
        out,
        "{}",
        style.strong(&format!(
            "airlock comparison: A = {}, B = {}",
            clean(&cmp.a.source),
            clean(&cmp.b.source)
        ))
    );
    for (label, r) in [("A", &cmp.a), ("B", &cmp.b)] {
        let status = if r.verified() {
            style.good("VERIFIED")
        } else {
            style.alarm("UNVERIFIED")
        };
        let run = r.run.as_ref().map_or_else(
            || "no readable RunStart".to_string(),
            |s| {
                format!(
                    "run {}, agent {}, model \"{}\", tool mode {}, suite {}, profile {}, {} epochs",
                    super::to_hex(&s.run_id),
                    clean(&s.model.agent),
                    clean(&s.model.model),
                    s.model.tool_mode.name(),
                    clean(&s.suite.name),
                    clean(&s.profile.name),
                    r.epochs
                )
            },
        );
        let _ = writeln!(out, "{label}  {status}  {run}");
    }
    for warning in &cmp.warnings {
        let _ = writeln!(out, "note: {}", clean(warning));
    }
    let width = cmp
        .tasks
        .iter()
        .chain(&cmp.categories)
        .map(|d| clean(&d.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let row = |out: &mut String, d: &Delta| {
        let mut line = String::new();
        let _ = write!(
            line,
            "  {:<width$}  {:>28}  {:>28}  {:>11}  {:>8}  {:>8}  {}",
            clean(&d.name),
            mean_ci(d.a.as_ref()),
            mean_ci(d.b.as_ref()),
            delta_text(d.delta_ppm()),
            pct(d.a.as_ref().and_then(|g| pass_at(g, 1))),
            pct(d.b.as_ref().and_then(|g| pass_at(g, 1))),
            d.note()
        );
        let _ = writeln!(out, "{}", line.trim_end());
    };
    let head = |out: &mut String, first: &str| {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>28}  {:>28}  {:>11}  {:>8}  {:>8}",
            first,
            "A mean [95% interval]",
            "B mean [95% interval]",
            "B − A",
            "A pass@1",
            "B pass@1"
        );
    };
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", style.strong("by category"));
    head(&mut out, "category");
    for d in cmp.categories.iter().chain(core::iter::once(&cmp.overall)) {
        row(&mut out, d);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", style.strong("by task"));
    head(&mut out, "task");
    for d in &cmp.tasks {
        row(&mut out, d);
    }
    if let Some(banner) = &banner {
        let _ = writeln!(out, "{}", style.alarm(banner));
    }
    out
}

fn delta_json(d: &Delta) -> Value {
    let ci = |g: Option<&GroupStats>| {
        g.and_then(|g| g.interval)
            .map(|i| json!([i.low.0, i.high.0]))
            .unwrap_or(Value::Null)
    };
    let mut value = json!({
        "name": d.name,
        "a_mean_ppm": d.a.as_ref().map(|g| g.mean.0),
        "b_mean_ppm": d.b.as_ref().map(|g| g.mean.0),
        "delta_ppm": d.delta_ppm(),
        "a_ci95_ppm": ci(d.a.as_ref()),
        "b_ci95_ppm": ci(d.b.as_ref()),
        "a_results": d.a.as_ref().map(|g| g.instances),
        "b_results": d.b.as_ref().map(|g| g.instances),
        "a_pass_at_1_ppm": d.a.as_ref().and_then(|g| pass_at(g, 1)).map(|p| p.0),
        "b_pass_at_1_ppm": d.b.as_ref().and_then(|g| pass_at(g, 1)).map(|p| p.0),
    });
    if let Some(map) = value.as_object_mut() {
        if let Some(category) = &d.category {
            map.insert("category".into(), json!(category));
        }
        if d.category.is_some() || d.same_module.is_some() {
            map.insert("same_module".into(), json!(d.same_module));
        }
    }
    value
}

/// The `airlock-report-compare/1` object, written to the end of `out`
/// member by member (in sorted order, as a `serde_json::Value` would
/// hold them): the two reports and the per-task deltas are written one
/// element at a time.
pub fn write_json(cmp: &Comparison, out: &mut String) {
    use super::json::ObjectWriter;
    let mut o = ObjectWriter::open(out);
    super::json::write(&cmp.a, o.key("a"));
    super::json::write(&cmp.b, o.key("b"));
    o.array("categories", &cmp.categories, delta_json);
    o.value("format", &json!(COMPARE_JSON_FORMAT));
    o.value("overall", &delta_json(&cmp.overall));
    o.value(
        "status",
        &json!(if cmp.verified() {
            "verified"
        } else {
            "unverified"
        }),
    );
    o.array("tasks", &cmp.tasks, delta_json);
    o.value("unverified_reasons", &json!(cmp.unverified_reasons()));
    o.value("verified", &json!(cmp.verified()));
    o.value("warnings", &json!(cmp.warnings));
    o.close();
}

/// The `airlock-report-compare/1` object as text ([`write_json`]).
pub fn render_json(cmp: &Comparison) -> String {
    let mut out = String::new();
    write_json(cmp, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairing two runs' tasks is linear in their results however many
    /// distinct tasks they name: eight times the results take about eight
    /// times as long (a little more once they outgrow the caches), not
    /// sixty-four (finding: `report A B` with 100,000
    /// results took 153 s).
    #[test]
    fn pairing_is_linear_in_distinct_tasks() {
        use crate::report::model::{distinct_tasks_report, growth};
        let small = (
            distinct_tasks_report(8_000, false),
            distinct_tasks_report(8_000, true),
        );
        let large = (
            distinct_tasks_report(64_000, false),
            distinct_tasks_report(64_000, true),
        );
        let cmp = Comparison::new(large.0.clone(), large.1.clone());
        assert_eq!(cmp.tasks.len(), 64_000);
        assert!(cmp.tasks.iter().all(|d| d.same_module == Some(true)));
        let ratio = growth(&small, &large, |(a, b)| {
            Comparison::new(a.clone(), b.clone());
        });
        render_json(&cmp);
        assert!(ratio < 24.0, "8x the results took {ratio:.1}x as long");
    }

    #[test]
    fn deltas_are_signed_percentage_points() {
        assert_eq!(delta_text(Some(125_000)), "+12.50 pp");
        assert_eq!(delta_text(Some(-1_000_000)), "−100.00 pp");
        assert_eq!(delta_text(Some(0)), "±0.00 pp");
        assert_eq!(delta_text(Some(-99)), "−0.00 pp");
        assert_eq!(delta_text(None), "—");
    }
}
