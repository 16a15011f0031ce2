//! The terminal table of `airlock report`.

use core::fmt::Write as _;

use airlock_core::Ppm;
use airlock_core::record::SuiteTrust;
use airlock_core::stats::{GroupStats, Interval};

use super::model::{LimitedResult, ProfileStatus, RunReport, TokenBudgets, TokenUse};
use super::to_hex;

/// ANSI colour, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// Whether to write colour escape sequences.
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    /// Bold red: the unverified warning.
    pub fn alarm(self, text: &str) -> String {
        self.paint("1;31", text)
    }
    /// Bold green: verified.
    pub fn good(self, text: &str) -> String {
        self.paint("1;32", text)
    }
    /// Bold.
    pub fn strong(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// Text from a bundle, made safe for a terminal with
/// [`airlock_core::Untrusted`]: control characters, newlines and
/// bidirectional overrides are shown escaped, so that a task id cannot
/// move the cursor, recolour the screen or fake a "VERIFIED" line.
pub fn clean(text: &str) -> String {
    airlock_core::Untrusted(text).to_string()
}

/// A score as a percent, or a dash.
pub fn pct(value: Option<Ppm>) -> String {
    value.map_or_else(|| "—".into(), |p| p.to_string())
}

/// A small share (of a budget) with enough digits to tell it from zero:
/// below 1%, four decimals (`0.0026%`); otherwise as [`Ppm`] shows it.
pub fn fine_share(share: Ppm) -> String {
    if share.0 < 10_000 {
        format!("0.{:04}%", share.0)
    } else {
        share.to_string()
    }
}

/// An interval as `[low, high]`, or a dash.
pub fn interval_text(interval: Option<Interval>) -> String {
    interval.map_or_else(|| "—".into(), |i| format!("[{}, {}]", i.low, i.high))
}

/// pass@k of a group at `k`, as a percent, or a dash.
pub fn pass_at(group: &GroupStats, k: u32) -> Option<Ppm> {
    group
        .pass_k
        .iter()
        .find(|p| p.k == k)
        .and_then(|p| p.pass_at_k)
        .map(|r| r.to_ppm())
}

/// pass^k of a group at `k`, as a percent, or a dash.
pub fn pass_hat(group: &GroupStats, k: u32) -> Option<Ppm> {
    group
        .pass_k
        .iter()
        .find(|p| p.k == k)
        .and_then(|p| p.pass_hat_k)
        .map(|r| r.to_ppm())
}

/// The `k` a report's tables show: 1, and the epochs per task when more.
pub fn shown_ks(report: &RunReport) -> Vec<u32> {
    let n = report
        .summary
        .overall
        .as_ref()
        .map_or(1, |o| o.samples_per_task.max(1));
    if n > 1 { vec![1, n] } else { vec![1] }
}

/// The suite's trust, in words.
pub fn trust_text(trust: &SuiteTrust) -> String {
    match trust {
        SuiteTrust::Embedded => "embedded".into(),
        SuiteTrust::Signed(authority) => format!("signed by {authority}"),
        SuiteTrust::Unsigned => "unsigned".into(),
    }
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_text(unix_s: u64) -> String {
    let (date, time) = utc_parts(unix_s);
    format!("{date} {time} UTC")
}

/// Seconds since the Unix epoch as ISO 8601 in UTC,
/// `YYYY-MM-DDTHH:MM:SS+00:00` (what Inspect's logs write).
pub fn utc_iso8601(unix_s: u64) -> String {
    let (date, time) = utc_parts(unix_s);
    format!("{date}T{time}+00:00")
}

/// (`YYYY-MM-DD`, `HH:MM:SS`) of seconds since the Unix epoch, in UTC.
fn utc_parts(unix_s: u64) -> (String, String) {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Howard Hinnant's days-to-civil conversion, proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
    )
}

/// An integer with thin groups of three digits: `2_000_000_000` as `2,000,000,000`.
pub fn grouped(value: u64) -> String {
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

/// The one-line banner of an unverified report.
pub fn unverified_banner(report: &RunReport) -> String {
    format!(
        "UNVERIFIED BUNDLE: do not rely on anything below. {}",
        clean(&report.unverified_reason().unwrap_or_default())
    )
}

/// The whole table report.
pub fn render(report: &RunReport, style: Style) -> String {
    let mut out = String::new();
    let banner = (!report.verified()).then(|| unverified_banner(report));
    if let Some(banner) = &banner {
        let _ = writeln!(out, "{}", style.alarm(banner));
    }
    let _ = writeln!(
        out,
        "{}",
        style.strong(&format!("airlock report: {}", clean(&report.source)))
    );
    let levels: Vec<String> = report
        .verdict
        .levels
        .iter()
        .map(|l| format!("{} {}", l.level, l.status.name()))
        .collect();
    let verdict_word = if report.verified() {
        style.good("VERIFIED")
    } else {
        style.alarm("UNVERIFIED")
    };
    let _ = writeln!(out, "verification  {verdict_word} ({})", levels.join(", "));
    for level in &report.verdict.levels {
        if level.status.reason().is_some() || level.note.is_some() {
            let _ = writeln!(out, "              {}", clean(&level.to_string()));
        }
    }
    meta(&mut out, report);

    let ks = shown_ks(report);
    let mut k_heads = String::new();
    for &k in &ks {
        let _ = write!(k_heads, "  {:>8}", format!("pass@{k}"));
    }
    if let Some(&k) = ks.last().filter(|&&k| k > 1) {
        let _ = write!(k_heads, "  {:>8}", format!("pass^{k}"));
    }
    let k_cells = |g: &GroupStats| {
        let mut s = String::new();
        for &k in &ks {
            let _ = write!(s, "  {:>8}", pct(pass_at(g, k)));
        }
        if let Some(&k) = ks.last().filter(|&&k| k > 1) {
            let _ = write!(s, "  {:>8}", pct(pass_hat(g, k)));
        }
        s
    };

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        style.strong("scores by category (mean ± standard error, 95% bootstrap interval)")
    );
    let cat_width = report
        .summary
        .categories
        .iter()
        .map(|c| clean(&c.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let _ = writeln!(
        out,
        "  {:<cat_width$}  {:>5}  {:>7}  {:>6}  {:>8}  {:>8}  {:<20}{k_heads}",
        "category", "tasks", "results", "passes", "mean", "±se", "95% interval"
    );
    let overall = report.summary.overall.iter();
    for g in report.summary.categories.iter().chain(overall) {
        let _ = writeln!(
            out,
            "  {:<cat_width$}  {:>5}  {:>7}  {:>6}  {:>8}  {:>8}  {:<20}{}",
            clean(&g.name),
            g.tasks,
            g.instances,
            g.passes,
            g.mean.to_string(),
            pct(g.standard_error),
            interval_text(g.interval),
            k_cells(g)
        );
    }
    if report.summary.overall.is_none() {
        let _ = writeln!(out, "  (no results)");
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "{}", style.strong("scores by task"));
    let task_width = report
        .summary
        .tasks
        .iter()
        .map(|t| clean(&t.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "  {:<task_width$}  {:<cat_width$}  {:>7}  {:>6}  {:>8}  {:>8}  {:<20}{k_heads}  {:>10}",
        "task",
        "category",
        "results",
        "passes",
        "mean",
        "±se",
        "95% interval",
        "fuel max (of budget)"
    );
    for (g, fuel) in report.summary.tasks.iter().zip(&report.resources) {
        let fuel_text = match fuel.max_of_budget {
            Some(share) => format!("{} ({})", grouped(fuel.max), fine_share(share)),
            None => grouped(fuel.max),
        };
        let _ = writeln!(
            out,
            "  {:<task_width$}  {:<cat_width$}  {:>7}  {:>6}  {:>8}  {:>8}  {:<20}{}  {:>10}",
            clean(&g.name),
            clean(g.category.as_deref().unwrap_or("")),
            g.instances,
            g.passes,
            g.mean.to_string(),
            pct(g.standard_error),
            interval_text(g.interval),
            k_cells(g),
            fuel_text
        );
    }

    tokens_tables(&mut out, report, style);

    let _ = writeln!(out);
    let outcomes: Vec<String> = report
        .outcomes
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "outcomes      {}",
        if outcomes.is_empty() {
            "none".into()
        } else {
            outcomes.join(", ")
        }
    );
    match report.profile.profile() {
        Some(p) => {
            let _ = writeln!(
                out,
                "fuel          budget {} per task; most used by one instance: {}",
                grouped(p.fuel_per_task),
                report.resources.iter().max_by_key(|f| f.max).map_or_else(
                    || "—".into(),
                    |f| format!(
                        "{} ({}, {})",
                        grouped(f.max),
                        f.max_of_budget.map_or_else(|| "—".into(), fine_share),
                        clean(&f.task_id)
                    )
                )
            );
            let limited = report
                .outcomes
                .iter()
                .find(|(name, _)| *name == "memory-limit")
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(
                out,
                "memory        budget {} MiB per sandbox; most reached by one instance: {}; {limited} results hit the limit",
                p.memory_per_sandbox_mib,
                report
                    .resources
                    .iter()
                    .max_by_key(|f| f.memory_max)
                    .map_or_else(
                        || "—".into(),
                        |f| format!(
                            "{} KiB ({}, {})",
                            grouped(f.memory_max.div_ceil(1024)),
                            f.memory_max_of_budget
                                .map_or_else(|| "—".into(), fine_share),
                            clean(&f.task_id)
                        )
                    )
            );
        }
        None => {
            let _ = writeln!(
                out,
                "budgets       unknown (fuel, memory, tokens): {}",
                match &report.profile {
                    ProfileStatus::Unknown { why } => clean(why),
                    ProfileStatus::Known { .. } => String::new(),
                }
            );
        }
    }
    if let Some(budgets) = &report.tokens.budgets {
        let _ = writeln!(out, "tokens        {}", token_budget_text(report, budgets));
    }
    let limited = &report.tokens.limited;
    if !limited.is_empty() {
        let _ = writeln!(
            out,
            "token-limit   {} result(s): {}",
            limited.len(),
            limited_text(limited, LIMITED_SHOWN)
        );
    }
    let _ = writeln!(out, "method        {}", method_text());
    if let Some(banner) = &banner {
        let _ = writeln!(out, "{}", style.alarm(banner));
    }
    out
}

/// The most `token-limit` results a table report names one by one; the
/// JSON report lists them all.
pub const LIMITED_SHOWN: usize = 20;

/// `task epoch E (#PLAN_INDEX, TOKENS tokens)` for the first `shown`
/// results that ended `token-limit`, and how many more there are.
pub fn limited_text(limited: &[LimitedResult], shown: usize) -> String {
    let mut parts: Vec<String> = limited
        .iter()
        .take(shown)
        .map(|l| {
            format!(
                "{} epoch {} (#{}, {} tokens, {} completion)",
                clean(&l.task_id),
                l.epoch,
                l.plan_index,
                grouped(l.total),
                grouped(l.completion)
            )
        })
        .collect();
    if limited.len() > shown {
        parts.push(format!("and {} more", limited.len() - shown));
    }
    parts.join(", ")
}

/// A budget in words: its number of tokens, or `none`.
fn budget_words(budget: Option<u64>) -> String {
    budget.map_or_else(|| "none".into(), grouped)
}

/// The token budgets and the most one instance used against each.
pub fn token_budget_text(report: &RunReport, budgets: &TokenBudgets) -> String {
    let most = |value: fn(&TokenUse) -> u64, budget: Option<u64>| {
        let task = report.tokens.tasks.iter().max_by_key(|t| value(t));
        match task {
            Some(t) => format!(
                "{}{} ({})",
                grouped(value(t)),
                budget.map_or_else(String::new, |b| if value(t) > b {
                    ", over the budget".to_owned()
                } else {
                    format!(", {} of budget", fine_share(Ppm::ratio(value(t), b)))
                }),
                clean(&t.name)
            ),
            None => "—".into(),
        }
    };
    format!(
        "budget {} per task (prompt + completion), {} completion; most used by one instance: {}, completion {}",
        budget_words(budgets.total),
        budget_words(budgets.completion),
        most(|t| t.max_total, budgets.total),
        most(|t| t.max_completion, budgets.completion)
    )
}

/// An optional count as a table cell, or a dash.
fn maybe(value: Option<u64>) -> String {
    value.map_or_else(|| "—".into(), grouped)
}

/// The tokens by category (with the mean score beside what it cost) and
/// by task.
fn tokens_tables(out: &mut String, report: &RunReport, style: Style) {
    let tokens = &report.tokens;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        style.strong("tokens by category (as the model server reported them; per pass: all the group's tokens over its passes)")
    );
    let cat_width = tokens
        .categories
        .iter()
        .map(|c| clean(&c.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let _ = writeln!(
        out,
        "  {:<cat_width$}  {:>7}  {:>8}  {:>14}  {:>14}  {:>12}  {:>12}  {:>8}  {:>11}",
        "category",
        "results",
        "mean",
        "prompt",
        "completion",
        "per result",
        "per pass",
        "no usage",
        "token-limit"
    );
    let overall = (tokens.overall.results > 0).then_some(&tokens.overall);
    for g in tokens.categories.iter().chain(overall) {
        let _ = writeln!(
            out,
            "  {:<cat_width$}  {:>7}  {:>8}  {:>14}  {:>14}  {:>12}  {:>12}  {:>8}  {:>11}",
            clean(&g.name),
            g.results,
            g.mean_score().to_string(),
            grouped(g.prompt_tokens),
            grouped(g.completion_tokens),
            maybe(g.per_result()),
            maybe(g.per_pass()),
            g.calls_without_usage,
            g.token_limit
        );
    }
    if overall.is_none() {
        let _ = writeln!(out, "  (no results)");
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", style.strong("tokens by task"));
    let task_width = tokens
        .tasks
        .iter()
        .map(|t| clean(&t.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "  {:<task_width$}  {:<cat_width$}  {:>7}  {:>14}  {:>14}  {:>12}  {:>8}  {:>11}",
        "task",
        "category",
        "results",
        "prompt",
        "completion",
        "max total",
        "no usage",
        "token-limit"
    );
    for t in &tokens.tasks {
        let _ = writeln!(
            out,
            "  {:<task_width$}  {:<cat_width$}  {:>7}  {:>14}  {:>14}  {:>12}  {:>8}  {:>11}",
            clean(&t.name),
            clean(t.category.as_deref().unwrap_or("")),
            t.results,
            grouped(t.prompt_tokens),
            grouped(t.completion_tokens),
            grouped(t.max_total),
            t.calls_without_usage,
            t.token_limit
        );
    }
}

/// How the statistics are computed, in one paragraph.
pub fn method_text() -> String {
    format!(
        "The unit is one result (task instance); the standard error uses the sample standard \
         deviation (n − 1); the 95% interval is a percentile bootstrap of the mean ({} resamples, \
         seeded from the run's seed and id: the same bundle gives the same interval); a pass is \
         outcome done with full credit; pass@k is the unbiased estimator of Chen et al. (2021) \
         and pass^k = C(c,k)/C(n,k), exact per task and averaged over tasks (SPEC.md, \"Report \
         statistics\")",
        airlock_core::stats::BOOTSTRAP_RESAMPLES
    )
}

fn meta(out: &mut String, report: &RunReport) {
    let Some(start) = &report.run else {
        let _ = writeln!(
            out,
            "run           unknown (the bundle has no readable RunStart)"
        );
        return;
    };
    let _ = writeln!(
        out,
        "run           {} (station run {}, started {})",
        to_hex(&start.run_id),
        start.station.run_counter,
        utc_text(start.started_at_unix_s)
    );
    let _ = writeln!(
        out,
        "suite         {} ({}) {}",
        clean(&start.suite.name),
        trust_text(&start.suite.trust),
        start.suite.digest
    );
    let _ = writeln!(
        out,
        "profile       {} {} ({})",
        clean(&start.profile.name),
        start.profile.digest,
        match &report.profile {
            ProfileStatus::Known { source, .. } => format!("budgets from {source}"),
            ProfileStatus::Unknown { .. } => "budgets unknown".into(),
        }
    );
    let _ = writeln!(
        out,
        "model         agent {}, model \"{}\"{}, tool mode {}",
        clean(&start.model.agent),
        clean(&start.model.model),
        if start.model.reported_model.is_empty() {
            String::new()
        } else {
            format!(", reported \"{}\"", clean(&start.model.reported_model))
        },
        start.model.tool_mode.name()
    );
    let _ = writeln!(out, "key           {}", start.evaluator_key_id);
    if let Some(settings) = start.settings {
        let _ = writeln!(out, "settings      {settings} (run --print-settings)");
    }
    let _ = match start.hardware {
        airlock_core::record::StationHardware::NoTpm => {
            writeln!(out, "hardware      no TPM quotes this run")
        }
        airlock_core::record::StationHardware::Tpm2Quote { registration } => writeln!(
            out,
            "hardware      TPM 2.0 quotes at RunStart and RunEnd, station registration {registration} \
             (verify --station-registration)"
        ),
    };
    let _ = writeln!(
        out,
        "results       {}",
        report.results_text(start.plan.len())
    );
    let _ = writeln!(out, "categories    from {}", report.categories_source);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_text(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn terminal_text_cannot_carry_escapes() {
        assert_eq!(clean("a\x1b[32mb\n"), "a\\u{1b}[32mb\\u{a}");
        assert_eq!(clean("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(clean("crypto-xor ü"), "crypto-xor ü");
    }

    #[test]
    fn small_shares_keep_their_digits() {
        assert_eq!(fine_share(Ppm(26)), "0.0026%");
        assert_eq!(fine_share(Ppm(9_999)), "0.9999%");
        assert_eq!(fine_share(Ppm(10_000)), "1.00%");
    }

    #[test]
    fn groups_digits() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(2_000_000_000), "2,000,000,000");
    }
}
