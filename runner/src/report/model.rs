//! What `airlock report` shows about one bundle, gathered once and rendered
//! as a table, JSON or HTML.
//!
//! Everything here comes from the bundle's records, which are data from
//! outside: a report is built for unverified bundles too (to show what is
//! wrong), and every renderer marks it as unverified.

use std::collections::HashMap;

use airlock_attest::verify::Verdict;
use airlock_core::abi::Category;
use airlock_core::record::{RunEnd, RunEndReason, RunStart, TaskResult};
use airlock_core::stats::{Observation, Summary, summarize};
use airlock_core::{Digest, Outcome, Ppm};

use crate::profile::{self, HardwareProfile, LoadedProfile};
#[cfg(feature = "sandbox")]
use crate::suite::LoadedSuite;

/// The category shown for a task whose module is not in the suite the
/// report was given.
pub const UNKNOWN_CATEGORY: &str = "unknown";

/// Every outcome name, in the order reports list them.
pub const OUTCOME_NAMES: [&str; 10] = [
    "done",
    "out-of-fuel",
    "memory-limit",
    "stack-overflow",
    "trap",
    "abi-violation",
    "wall-clock-timeout",
    "model-error",
    "turn-limit",
    "token-limit",
];

/// Whether a result counts as a pass for pass@k and pass^k: the task ended
/// normally with full credit.
pub fn is_pass(result: &TaskResult) -> bool {
    result.outcome == Outcome::Done && result.score == Ppm::FULL
}

/// Task categories by module digest, read from a suite's modules.
#[derive(Debug, Clone, Default)]
pub struct Categories {
    by_digest: HashMap<Digest, (String, Category)>,
    /// Where the categories came from, for the report, e.g. `suite default (embedded)`.
    pub source: String,
}

impl Categories {
    /// The categories of every module of `suite`.
    #[cfg(feature = "sandbox")]
    pub fn from_suite(suite: &LoadedSuite, source: String) -> Categories {
        Categories {
            by_digest: suite
                .tasks
                .iter()
                .map(|t| (t.digest, (t.info.id.clone(), t.info.category.clone())))
                .collect(),
            source,
        }
    }

    /// The categories of the embedded default suite, from the task crates
    /// compiled into the binary, by the embedded modules' digests: no
    /// module is compiled, so a report starts at once.
    pub fn embedded() -> Categories {
        let infos = airlock_default_suite::task_infos();
        Categories {
            by_digest: airlock_default_suite::modules()
                .iter()
                .filter_map(|module| {
                    let (_, info) = infos.iter().find(|(id, _)| *id == module.task_id)?;
                    Some((
                        Digest(module.digest),
                        (info.id.clone(), info.category.clone()),
                    ))
                })
                .collect(),
            source: format!(
                "the embedded suite \"{}\"",
                airlock_default_suite::SUITE_NAME
            ),
        }
    }

    /// The category of a result: known only when both the module digest
    /// and the task id match a module of the suite, since the bundle's task
    /// id alone is just a name.
    pub fn of(&self, task_id: &str, module_digest: &Digest) -> &str {
        match self.by_digest.get(module_digest) {
            Some((id, category)) if id == task_id => category,
            _ => UNKNOWN_CATEGORY,
        }
    }
}

/// What is known about the profile a run was limited by.
#[derive(Debug, Clone)]
pub enum ProfileStatus {
    /// A profile whose digest equals the run's: its budgets are shown.
    Known {
        /// The profile.
        profile: Box<HardwareProfile>,
        /// Where it came from (`embedded` or a file).
        source: String,
    },
    /// No profile with the run's digest is at hand.
    Unknown {
        /// Why, e.g. that the embedded profile of that name differs.
        why: String,
    },
}

impl ProfileStatus {
    /// The profile, when known.
    pub fn profile(&self) -> Option<&HardwareProfile> {
        match self {
            ProfileStatus::Known { profile, .. } => Some(profile),
            ProfileStatus::Unknown { .. } => None,
        }
    }
}

/// Finds the profile a run used: `given` (from `--profile`) if its digest
/// matches, else the embedded profile of the run's name if its digest does.
/// The run's profile name is data from the bundle: it selects among embedded
/// profiles only, never a file.
pub fn resolve_profile(start: &RunStart, given: Option<&LoadedProfile>) -> ProfileStatus {
    let wanted = start.profile.digest;
    if let Some(loaded) = given
        && loaded.profile.digest() == wanted
    {
        return ProfileStatus::Known {
            profile: Box::new(loaded.profile.clone()),
            source: loaded.source.to_string(),
        };
    }
    let embedded = profile::embedded()
        .iter()
        .find(|(name, _)| *name == start.profile.name);
    let why = match embedded {
        Some(&(name, text)) => {
            match profile::from_toml(text, profile::ProfileSource::Embedded(name)) {
                Ok(loaded) if loaded.profile.digest() == wanted => {
                    return ProfileStatus::Known {
                        profile: Box::new(loaded.profile),
                        source: loaded.source.to_string(),
                    };
                }
                Ok(_) => {
                    format!("the embedded profile \"{name}\" has another digest than the run's")
                }
                Err(e) => format!("the embedded profile \"{name}\" does not load: {e}"),
            }
        }
        None => "no embedded profile has the run's name".to_string(),
    };
    let why = match given {
        Some(loaded) => format!("{why}; {} has another digest too", loaded.source),
        None => why,
    };
    ProfileStatus::Unknown { why }
}

/// One result with its category.
#[derive(Debug, Clone)]
pub struct ResultRow {
    /// The record.
    pub result: TaskResult,
    /// Its task's category, or [`UNKNOWN_CATEGORY`].
    pub category: String,
}

/// Fuel and memory use of one task against the profile's budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceUse {
    /// Task id.
    pub task_id: String,
    /// Results of the task.
    pub instances: u64,
    /// Mean fuel, rounded to nearest.
    pub mean: u64,
    /// Most fuel any instance used.
    pub max: u64,
    /// `max` as parts per million of the fuel budget, when the budget is known.
    pub max_of_budget: Option<Ppm>,
    /// Largest linear memory any instance reached, in bytes.
    pub memory_max: u64,
    /// `memory_max` as parts per million of the per-sandbox memory budget,
    /// when the budget is known.
    pub memory_max_of_budget: Option<Ppm>,
}

/// Everything a report on one bundle shows.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The bundle as named on the command line.
    pub source: String,
    /// The verification verdict.
    pub verdict: Verdict,
    /// RunStart, when the bundle got that far.
    pub run: Option<RunStart>,
    /// RunEnd, when present.
    pub end: Option<RunEnd>,
    /// Every result, in file order.
    pub results: Vec<ResultRow>,
    /// Statistics of the results.
    pub summary: Summary,
    /// Results per outcome, in [`OUTCOME_NAMES`] order (zeros included).
    pub outcomes: Vec<(&'static str, u64)>,
    /// Fuel and memory per task, in order of first appearance.
    pub resources: Vec<ResourceUse>,
    /// The run's profile, when known.
    pub profile: ProfileStatus,
    /// Where task categories came from.
    pub categories_source: String,
    /// Instances per task in the plan (its highest epoch + 1).
    pub epochs: u32,
    /// Tokens per task, per category and overall, against the budgets.
    pub tokens: TokenReport,
}

/// Tokens a group of results (a task, a category or the whole run) used,
/// as the model server reported them (`usage`), summed from the results.
/// Sums saturate: a hostile bundle's counts cannot wrap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenUse {
    /// Task id, category name, or `overall`.
    pub name: String,
    /// For a task, its category; `None` for categories and the run.
    pub category: Option<String>,
    /// Results in the group.
    pub results: u64,
    /// Results that passed (outcome done with full credit).
    pub passes: u64,
    /// Sum of the results' scores, parts per million.
    pub score_sum: u64,
    /// Sum of prompt tokens.
    pub prompt_tokens: u64,
    /// Sum of completion tokens.
    pub completion_tokens: u64,
    /// Calls whose reply reported no usage (counted as zero above).
    pub calls_without_usage: u64,
    /// Results that ended `token-limit`.
    pub token_limit: u64,
    /// Most prompt plus completion tokens one result used.
    pub max_total: u64,
    /// Most completion tokens one result used.
    pub max_completion: u64,
}

impl TokenUse {
    fn named(name: &str, category: Option<&str>) -> TokenUse {
        TokenUse {
            name: name.to_owned(),
            category: category.map(str::to_owned),
            ..TokenUse::default()
        }
    }

    /// Prompt plus completion tokens.
    pub fn total(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// Mean score of the group's results, rounded to nearest (the score
    /// statistics' mean, beside the tokens it cost).
    pub fn mean_score(&self) -> Ppm {
        Ppm(rounded_quotient(self.score_sum, self.results)
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0))
    }

    /// Mean tokens per result, rounded to nearest; `None` without results.
    pub fn per_result(&self) -> Option<u64> {
        rounded_quotient(self.total(), self.results)
    }

    /// Tokens per passed result (all the group's tokens over its passes,
    /// rounded to nearest): what a solve cost, failures included; `None`
    /// without a pass.
    pub fn per_pass(&self) -> Option<u64> {
        rounded_quotient(self.total(), self.passes)
    }

    fn add(&mut self, result: &TaskResult) {
        let t = &result.tokens;
        let total = t.prompt_tokens.saturating_add(t.completion_tokens);
        self.results += 1;
        self.passes += u64::from(is_pass(result));
        self.score_sum = self.score_sum.saturating_add(u64::from(result.score.0));
        self.prompt_tokens = self.prompt_tokens.saturating_add(t.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(t.completion_tokens);
        self.calls_without_usage = self
            .calls_without_usage
            .saturating_add(u64::from(t.calls_without_usage));
        self.token_limit += u64::from(result.outcome == Outcome::TokenLimit);
        self.max_total = self.max_total.max(total);
        self.max_completion = self.max_completion.max(t.completion_tokens);
    }

    fn merge(&mut self, other: &TokenUse) {
        self.results += other.results;
        self.passes += other.passes;
        self.score_sum = self.score_sum.saturating_add(other.score_sum);
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self
            .completion_tokens
            .saturating_add(other.completion_tokens);
        self.calls_without_usage = self
            .calls_without_usage
            .saturating_add(other.calls_without_usage);
        self.token_limit += other.token_limit;
        self.max_total = self.max_total.max(other.max_total);
        self.max_completion = self.max_completion.max(other.max_completion);
    }
}

/// `round(a / b)` with halves up; `None` when `b` is 0.
fn rounded_quotient(a: u64, b: u64) -> Option<u64> {
    (b > 0).then(|| {
        let (a, b) = (u128::from(a), u128::from(b));
        u64::try_from((2 * a + b) / (2 * b)).unwrap_or(u64::MAX)
    })
}

/// The profile's per-task token budgets; `None` where it sets none (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBudgets {
    /// Prompt plus completion tokens per task instance.
    pub total: Option<u64>,
    /// Completion tokens per task instance.
    pub completion: Option<u64>,
}

impl TokenBudgets {
    /// The budgets `profile` sets.
    pub fn of(profile: &HardwareProfile) -> TokenBudgets {
        let budget = |n: u64| (n > 0).then_some(n);
        TokenBudgets {
            total: budget(profile.max_tokens_per_task),
            completion: budget(profile.max_completion_tokens_per_task),
        }
    }
}

/// A result that ended `token-limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitedResult {
    /// Its plan index.
    pub plan_index: u32,
    /// Its task.
    pub task_id: String,
    /// Its epoch.
    pub epoch: u32,
    /// Prompt plus completion tokens it used.
    pub total: u64,
    /// Completion tokens it used.
    pub completion: u64,
}

/// Tokens by task, category and overall, and the budgets they ran under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenReport {
    /// Per task, in order of first appearance (as the score statistics).
    pub tasks: Vec<TokenUse>,
    /// Per category, in order of first appearance; a task counts in the
    /// category it was first seen with, as in the score statistics.
    pub categories: Vec<TokenUse>,
    /// The whole run.
    pub overall: TokenUse,
    /// The run's budgets, when its profile is known.
    pub budgets: Option<TokenBudgets>,
    /// Every result that ended `token-limit`, in bundle order.
    pub limited: Vec<LimitedResult>,
}

impl TokenReport {
    /// Sums the tokens of `results` (one pass, grouped through indexes).
    pub fn build(results: &[ResultRow], budgets: Option<TokenBudgets>) -> TokenReport {
        let mut task_index: HashMap<&str, usize> = HashMap::new();
        let mut tasks: Vec<TokenUse> = Vec::new();
        let mut overall = TokenUse::named("overall", None);
        let mut limited = Vec::new();
        for row in results {
            let r = &row.result;
            let i = *task_index.entry(r.task_id.as_str()).or_insert_with(|| {
                tasks.push(TokenUse::named(&r.task_id, Some(&row.category)));
                tasks.len() - 1
            });
            tasks[i].add(r);
            overall.add(r);
            if r.outcome == Outcome::TokenLimit {
                limited.push(LimitedResult {
                    plan_index: r.plan_index,
                    task_id: r.task_id.clone(),
                    epoch: r.epoch,
                    total: r
                        .tokens
                        .prompt_tokens
                        .saturating_add(r.tokens.completion_tokens),
                    completion: r.tokens.completion_tokens,
                });
            }
        }
        let mut category_index: HashMap<&str, usize> = HashMap::new();
        let mut categories: Vec<TokenUse> = Vec::new();
        for task in &tasks {
            let name = task.category.as_deref().unwrap_or(UNKNOWN_CATEGORY);
            let c = *category_index.entry(name).or_insert_with(|| {
                categories.push(TokenUse::named(name, None));
                categories.len() - 1
            });
            categories[c].merge(task);
        }
        TokenReport {
            tasks,
            categories,
            overall,
            budgets,
            limited,
        }
    }
}

impl RunReport {
    /// Gathers a report from a verdict made with `collect_records(true)`.
    pub fn build(
        source: String,
        mut verdict: Verdict,
        categories: &Categories,
        given_profile: Option<&LoadedProfile>,
    ) -> RunReport {
        // Taken, not copied: the results are kept once, in `results`.
        let records = verdict.records.take().unwrap_or_default();
        let results: Vec<ResultRow> = records
            .results
            .into_iter()
            .map(|result| ResultRow {
                category: categories
                    .of(&result.task_id, &result.module_digest)
                    .to_owned(),
                result,
            })
            .collect();
        let (seed, run_id) = records
            .run_start
            .as_ref()
            .map_or(([0; 32], [0; 16]), |s| (s.seed, s.run_id));
        let observations: Vec<Observation<'_>> = results
            .iter()
            .map(|row| Observation {
                task_id: &row.result.task_id,
                category: &row.category,
                score: row.result.score,
                passed: is_pass(&row.result),
            })
            .collect();
        let summary = summarize(&observations, &seed, &run_id);
        let mut outcomes: Vec<(&'static str, u64)> =
            OUTCOME_NAMES.iter().map(|&name| (name, 0)).collect();
        for row in &results {
            let name = row.result.outcome.name();
            if let Some(entry) = outcomes.iter_mut().find(|(n, _)| *n == name) {
                entry.1 += 1;
            }
        }
        let profile = match &records.run_start {
            Some(start) => resolve_profile(start, given_profile),
            None => ProfileStatus::Unknown {
                why: "the bundle has no readable RunStart".into(),
            },
        };
        let budgets = profile
            .profile()
            .map(|p| (p.fuel_per_task, p.memory_per_sandbox_bytes()));
        let resources = resource_use(&results, budgets);
        let tokens = TokenReport::build(&results, profile.profile().map(TokenBudgets::of));
        let epochs = records
            .run_start
            .as_ref()
            .and_then(|s| s.plan.iter().map(|p| p.epoch).max())
            .map_or(0, |e| e.saturating_add(1));
        RunReport {
            source,
            verdict,
            run: records.run_start,
            end: records.run_end,
            results,
            summary,
            outcomes,
            resources,
            profile,
            categories_source: categories.source.clone(),
            epochs,
            tokens,
        }
    }

    /// Whether the bundle verified: the only case a report is clean.
    pub fn verified(&self) -> bool {
        self.verdict.verified()
    }

    /// The run id in hex, or `unknown`.
    pub fn run_id_hex(&self) -> String {
        self.run
            .as_ref()
            .map_or_else(|| "unknown".into(), |s| super::to_hex(&s.run_id))
    }

    /// One line on why the bundle did not verify, or `None` when it did.
    pub fn unverified_reason(&self) -> Option<String> {
        if self.verified() {
            return None;
        }
        Some(match self.verdict.first_failure() {
            Some(level) => format!(
                "{} failed: {}",
                level.level,
                level.status.reason().unwrap_or("no reason given")
            ),
            None => match self
                .verdict
                .levels
                .iter()
                .find(|l| l.status.reason().is_some())
            {
                Some(level) => format!(
                    "{} not checked: {}",
                    level.level,
                    level.status.reason().unwrap_or("")
                ),
                None => "no level was checked".into(),
            },
        })
    }

    /// Planned results, when the plan is known.
    pub fn planned(&self) -> Option<usize> {
        self.run.as_ref().map(|s| s.plan.len())
    }

    /// Why the run ended, in words.
    pub fn end_text(&self) -> String {
        match &self.end {
            Some(RunEnd {
                reason: RunEndReason::Completed,
                ..
            }) => "completed".into(),
            Some(RunEnd {
                reason: RunEndReason::AbortedModelErrors(n),
                ..
            }) => format!("aborted after {n} consecutive model errors"),
            None => "no RunEnd record".into(),
        }
    }

    /// `R of P planned, E epochs per task, how it ended`, for a plan of
    /// `planned` entries.
    pub fn results_text(&self, planned: usize) -> String {
        format!(
            "{} of {planned} planned, {} per task, {}",
            self.results.len(),
            if self.epochs == 1 {
                "1 epoch".to_string()
            } else {
                format!("{} epochs", self.epochs)
            },
            self.end_text()
        )
    }
}

/// Per task: fuel mean and max, and memory max, against `budgets`
/// (fuel per task, memory per sandbox in bytes) when they are known.
fn resource_use(results: &[ResultRow], budgets: Option<(u64, u64)>) -> Vec<ResourceUse> {
    #[derive(Default)]
    struct Acc {
        instances: u64,
        fuel_sum: u128,
        fuel_max: u64,
        memory_max: u64,
    }
    let mut order: Vec<&str> = Vec::new();
    let mut acc: HashMap<&str, Acc> = HashMap::new();
    for row in results {
        let id = row.result.task_id.as_str();
        let entry = acc.entry(id).or_insert_with(|| {
            order.push(id);
            Acc::default()
        });
        entry.instances += 1;
        entry.fuel_sum += u128::from(row.result.fuel_consumed);
        entry.fuel_max = entry.fuel_max.max(row.result.fuel_consumed);
        entry.memory_max = entry.memory_max.max(row.result.peak_memory_bytes);
    }
    order
        .into_iter()
        .filter_map(|id| {
            let a = acc.get(id)?;
            let n128 = u128::from(a.instances.max(1));
            Some(ResourceUse {
                task_id: id.to_string(),
                instances: a.instances,
                mean: u64::try_from((2 * a.fuel_sum + n128) / (2 * n128)).unwrap_or(u64::MAX),
                max: a.fuel_max,
                // Ppm::ratio caps at the budget, so a bar never leaves its chart.
                max_of_budget: budgets.map(|(fuel, _)| Ppm::ratio(a.fuel_max, fuel)),
                memory_max: a.memory_max,
                memory_max_of_budget: budgets.map(|(_, memory)| Ppm::ratio(a.memory_max, memory)),
            })
        })
        .collect()
}

/// A report over made-up records, for renderer tests: one result per
/// `(task id, outcome, score)`, under a verdict that passed every level or
/// failed the chain.
#[cfg(test)]
pub(crate) fn sample_report(rows: &[(&str, Outcome, u32)], verified: bool) -> RunReport {
    use airlock_attest::verify::{Level, LevelReport, RunSummary, Status};
    use airlock_core::record::{
        ModelDescriptor, PlannedTask, ProfileRef, RunnerBuild, StationLink, SuiteRef, SuiteTrust,
    };
    let plan: Vec<PlannedTask> = rows
        .iter()
        .map(|(id, _, _)| PlannedTask {
            task_id: (*id).to_string(),
            task_version: 1,
            module_digest: Digest([1; 32]),
            epoch: 0,
        })
        .collect();
    let results: Vec<TaskResult> = rows
        .iter()
        .enumerate()
        .map(|(i, (id, outcome, score))| TaskResult {
            plan_index: i as u32,
            task_id: (*id).to_string(),
            module_digest: Digest([1; 32]),
            epoch: 0,
            outcome: *outcome,
            score: Ppm(*score),
            fuel_consumed: 1000 * (i as u64 + 1),
            peak_memory_bytes: 65536 * (i as u64 + 1),
            turns: 1,
            tokens: airlock_core::record::TokenTotals {
                prompt_tokens: 100 * (i as u64 + 1),
                completion_tokens: 10 * (i as u64 + 1),
                calls_without_usage: 0,
            },
            wall_time_us: 0,
            transcript_commitment: Digest::ZERO,
        })
        .collect();
    let start = RunStart {
        run_id: [0xab; 16],
        started_at_unix_s: 0,
        suite: SuiteRef {
            name: "<b>suite</b>".into(),
            digest: Digest([2; 32]),
            trust: SuiteTrust::Unsigned,
        },
        plan,
        profile: ProfileRef {
            name: "../../etc/passwd".into(),
            digest: Digest([3; 32]),
        },
        runner: RunnerBuild {
            airlock_version: "0".into(),
            wasmtime_version: "0".into(),
            engine_settings: Digest::ZERO,
            executable: Digest::ZERO,
        },
        model: ModelDescriptor {
            agent: "exec".into(),
            model: "m\"<script>".into(),
            reported_model: String::new(),
            tool_mode: airlock_core::abi::ToolMode::Native,
        },
        seed: [4; 32],
        evaluator_key_id: Digest([5; 32]),
        campaign: None,
        selection: None,
        settings: None,
        hardware: airlock_core::record::StationHardware::NoTpm,
        station: StationLink {
            run_counter: 7,
            previous_run_start_hash: Digest::ZERO,
        },
    };
    let status = |level| {
        if verified || level != Level::Chain {
            Status::Passed
        } else {
            Status::Failed("record 1 (TaskResult): <forged>".into())
        }
    };
    let verdict = Verdict {
        levels: [
            Level::Decode,
            Level::Signatures,
            Level::Chain,
            Level::Completeness,
        ]
        .into_iter()
        .map(|level| LevelReport {
            level,
            status: status(level),
            note: None,
        })
        .collect(),
        summary: RunSummary::default(),
        records: Some(airlock_attest::verify::CollectedRecords {
            run_start: Some(start),
            results,
            run_end: None,
        }),
    };
    RunReport::build("b.bundle".into(), verdict, &Categories::default(), None)
}

/// A report whose `n` results each name a task of their own, as a hostile
/// bundle's can: what makes a per-task rescan of the results quadratic.
#[cfg(test)]
pub(crate) fn distinct_tasks_report(n: usize, verified: bool) -> RunReport {
    let ids: Vec<String> = (0..n).map(|i| format!("task-{i}")).collect();
    let rows: Vec<(&str, Outcome, u32)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let outcome = if i % 2 == 0 {
                Outcome::Done
            } else {
                Outcome::OutOfFuel
            };
            (id.as_str(), outcome, 500_000)
        })
        .collect();
    sample_report(&rows, verified)
}

/// How much longer `work(large)` takes than `work(small)`, in CPU time of
/// this thread where Linux tells it (`/proc/thread-self/schedstat`), so
/// that other tests on the same cores do not count; the best of five runs
/// of each. With `large` eight times `small`, linear work gives 8 to 13
/// (the larger one no longer fits the caches) and quadratic work 64 or
/// more; tests assert well between the two, never on a duration.
#[cfg(test)]
pub(crate) fn growth<T>(small: &T, large: &T, work: impl Fn(&T)) -> f64 {
    fn on_cpu() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        text.split_whitespace().next()?.parse().ok()
    }
    let best = |input: &T| {
        (0..5)
            .map(|_| {
                let (cpu, wall) = (on_cpu(), std::time::Instant::now());
                work(input);
                match (cpu, on_cpu()) {
                    (Some(before), Some(after)) => after.saturating_sub(before) as f64,
                    _ => wall.elapsed().as_nanos() as f64,
                }
            })
            .fold(f64::INFINITY, f64::min)
    };
    let (a, b) = (best(small), best(large));
    b / a.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_profile_name_never_selects_a_file() {
        let report = sample_report(&[("t", Outcome::Done, 1)], true);
        match &report.profile {
            ProfileStatus::Unknown { why } => assert!(why.contains("no embedded profile")),
            ProfileStatus::Known { .. } => panic!("a made-up profile is known"),
        }
        assert_eq!(report.results[0].category, UNKNOWN_CATEGORY);
        assert!(report.resources[0].max_of_budget.is_none());
    }

    /// A result with the given tokens, for the token tests.
    fn row(
        task: &str,
        category: &str,
        outcome: Outcome,
        score: u32,
        t: (u64, u64, u32),
    ) -> ResultRow {
        ResultRow {
            result: TaskResult {
                plan_index: 0,
                task_id: task.into(),
                module_digest: Digest::ZERO,
                epoch: 0,
                outcome,
                score: Ppm(score),
                fuel_consumed: 0,
                peak_memory_bytes: 0,
                turns: 1,
                tokens: airlock_core::record::TokenTotals {
                    prompt_tokens: t.0,
                    completion_tokens: t.1,
                    calls_without_usage: t.2,
                },
                wall_time_us: 0,
                transcript_commitment: Digest::ZERO,
            },
            category: category.into(),
        }
    }

    /// Tokens are summed per task, per category (a task in the category it
    /// was first seen with, as the score statistics do) and overall; per
    /// pass divides a group's tokens by its passes; token-limit results are
    /// counted and listed.
    #[test]
    fn tokens_are_summed_per_task_category_and_run() {
        let rows = [
            row(
                "a",
                "reverse-engineering",
                Outcome::Done,
                1_000_000,
                (100, 10, 0),
            ),
            row("b", "crypto", Outcome::TokenLimit, 0, (900, 300, 0)),
            row("a", "reverse-engineering", Outcome::Done, 0, (50, 5, 2)),
            // Seen first in reverse-engineering, so it stays there.
            row("a", "crypto", Outcome::Done, 1_000_000, (1, 1, 0)),
            row(
                "c",
                "reverse-engineering",
                Outcome::Done,
                500_000,
                (7, 0, 1),
            ),
        ];
        let budgets = TokenBudgets {
            total: Some(1000),
            completion: None,
        };
        let report = TokenReport::build(&rows, Some(budgets));
        let names: Vec<&str> = report.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let a = &report.tasks[0];
        assert_eq!(
            (a.results, a.passes, a.prompt_tokens, a.completion_tokens),
            (3, 2, 151, 16)
        );
        assert_eq!(
            (a.calls_without_usage, a.max_total, a.max_completion),
            (2, 110, 10)
        );
        assert_eq!(a.per_pass(), Some(84), "167 tokens over 2 passes, rounded");
        assert_eq!(a.per_result(), Some(56), "167 over 3, rounded");
        assert_eq!(a.mean_score(), Ppm(666_667));
        let cats: Vec<(&str, u64, u64)> = report
            .categories
            .iter()
            .map(|c| (c.name.as_str(), c.results, c.total()))
            .collect();
        assert_eq!(cats, [("reverse-engineering", 4, 174), ("crypto", 1, 1200)]);
        assert_eq!(report.categories[1].per_pass(), None);
        assert_eq!(report.categories[1].token_limit, 1);
        let o = &report.overall;
        assert_eq!((o.results, o.total(), o.calls_without_usage), (5, 1374, 3));
        assert_eq!(
            (o.token_limit, o.max_total, o.max_completion),
            (1, 1200, 300)
        );
        assert_eq!(report.limited.len(), 1);
        assert_eq!(
            (report.limited[0].task_id.as_str(), report.limited[0].total),
            ("b", 1200)
        );
        assert_eq!(report.budgets, Some(budgets));
    }

    /// Token sums from a hostile bundle saturate instead of wrapping.
    #[test]
    fn token_sums_saturate() {
        let rows = [
            row("a", "x", Outcome::Done, 0, (u64::MAX, u64::MAX, u32::MAX)),
            row("a", "x", Outcome::Done, 0, (u64::MAX, 1, u32::MAX)),
        ];
        let report = TokenReport::build(&rows, None);
        let o = &report.overall;
        assert_eq!(
            (o.prompt_tokens, o.total(), o.max_total),
            (u64::MAX, u64::MAX, u64::MAX)
        );
        assert_eq!(o.calls_without_usage, 2 * u64::from(u32::MAX));
        assert_eq!(o.per_result(), Some(u64::MAX / 2 + 1));
    }

    /// Per task, the memory shown is the largest `peak_memory_bytes` of its
    /// results, and its share of the per-sandbox budget when one is known.
    #[test]
    fn resource_use_takes_the_largest_memory_per_task() {
        let report = sample_report(
            &[
                ("a", Outcome::Done, 1),
                ("b", Outcome::Done, 1),
                ("a", Outcome::Done, 1),
            ],
            true,
        );
        // sample_report gives result i a peak of 64 KiB * (i + 1).
        let a = &report.resources[0];
        assert_eq!((a.task_id.as_str(), a.instances), ("a", 2));
        assert_eq!(a.memory_max, 3 * 65536);
        assert_eq!(a.max, 3000);
        assert_eq!(a.mean, 2000);
        assert_eq!(report.resources[1].memory_max, 2 * 65536);
        assert!(a.memory_max_of_budget.is_none());

        let rows: Vec<ResultRow> = report.results.clone();
        let budgets = Some((6000, 4 * 65536));
        let with_budget = resource_use(&rows, budgets);
        assert_eq!(with_budget[0].memory_max_of_budget, Some(Ppm(750_000)));
        assert_eq!(with_budget[0].max_of_budget, Some(Ppm(500_000)));
    }

    /// The categories taken from the host-compiled tasks are the ones the
    /// embedded modules themselves report.
    #[cfg(feature = "sandbox")]
    #[test]
    fn embedded_categories_match_the_modules() {
        use airlock_sandbox::Sandbox;
        let Ok(loaded) = profile::load("default") else {
            panic!("the default profile loads");
        };
        let sandbox =
            Sandbox::new(loaded.profile.sandbox_limits()).unwrap_or_else(|e| panic!("{e}"));
        let suite = LoadedSuite::embedded(&sandbox).unwrap_or_else(|e| panic!("{e}"));
        let from_modules = Categories::from_suite(&suite, String::new());
        let native = Categories::embedded();
        assert_eq!(native.by_digest, from_modules.by_digest);
        assert_eq!(native.by_digest.len(), suite.tasks.len());
        let task = &suite.tasks[0];
        assert_eq!(native.of(&task.info.id, &task.digest), task.info.category);
        assert_eq!(native.of("other-id", &task.digest), UNKNOWN_CATEGORY);
        assert_eq!(native.of(&task.info.id, &Digest::ZERO), UNKNOWN_CATEGORY);
    }
}
