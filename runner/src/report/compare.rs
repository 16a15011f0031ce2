//! `airlock report A B`: two runs side by side, with per-task deltas.
//!
//! Tasks are matched by id. A delta is only as meaningful as the match:
//! the comparison says when a task's module differs between the runs, when
//! the suites, profiles or engine settings differ (fuel is then not
//! comparable), and when either bundle did not verify.

use core::fmt::Write as _;

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

fn module_of(report: &RunReport, task_id: &str) -> Option<airlock_core::Digest> {
    report
        .results
        .iter()
        .find(|r| r.result.task_id == task_id)
        .map(|r| r.result.module_digest)
}

fn pair(
    a: &[GroupStats],
    b: &[GroupStats],
) -> Vec<(String, Option<GroupStats>, Option<GroupStats>)> {
    let mut out: Vec<(String, Option<GroupStats>, Option<GroupStats>)> = a
        .iter()
        .map(|g| {
            let other = b.iter().find(|o| o.name == g.name).cloned();
            (g.name.clone(), Some(g.clone()), other)
        })
        .collect();
    for g in b {
        if !a.iter().any(|o| o.name == g.name) {
            out.push((g.name.clone(), None, Some(g.clone())));
        }
    }
    out
}

impl Comparison {
    /// Pairs up two reports.
    pub fn new(a: RunReport, b: RunReport) -> Comparison {
        let tasks = pair(&a.summary.tasks, &b.summary.tasks)
            .into_iter()
            .map(|(name, ga, gb)| {
                let same_module = match (module_of(&a, &name), module_of(&b, &name)) {
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
            .collect();
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
                    "run {}, agent {}, model \"{}\", suite {}, profile {}, {} epochs",
                    super::to_hex(&s.run_id),
                    clean(&s.model.agent),
                    clean(&s.model.model),
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

/// The `airlock-report-compare/1` object.
pub fn render_json(cmp: &Comparison) -> Value {
    json!({
        "format": COMPARE_JSON_FORMAT,
        "status": if cmp.verified() { "verified" } else { "unverified" },
        "verified": cmp.verified(),
        "unverified_reasons": cmp.unverified_reasons(),
        "warnings": cmp.warnings,
        "overall": delta_json(&cmp.overall),
        "categories": cmp.categories.iter().map(delta_json).collect::<Vec<_>>(),
        "tasks": cmp.tasks.iter().map(delta_json).collect::<Vec<_>>(),
        "a": super::json::render(&cmp.a),
        "b": super::json::render(&cmp.b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_signed_percentage_points() {
        assert_eq!(delta_text(Some(125_000)), "+12.50 pp");
        assert_eq!(delta_text(Some(-1_000_000)), "−100.00 pp");
        assert_eq!(delta_text(Some(0)), "±0.00 pp");
        assert_eq!(delta_text(Some(-99)), "−0.00 pp");
        assert_eq!(delta_text(None), "—");
    }
}
