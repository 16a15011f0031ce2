//! Statistics of a whole run: per task, per category and overall.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{
    BootstrapRng, Interval, Moments, Ratio, StatsError, bootstrap_interval, pass_at_k, pass_hat_k,
};
use crate::score::Ppm;

/// One result, as the statistics see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Observation<'a> {
    /// Task id.
    pub task_id: &'a str,
    /// The task's category (any label; `unknown` when not known).
    pub category: &'a str,
    /// The score.
    pub score: Ppm,
    /// Whether the instance counts as a pass for pass@k and pass^k.
    pub passed: bool,
}

/// pass@k and pass^k at one `k`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PassK {
    /// Samples drawn.
    pub k: u32,
    /// pass@k; `None` when the exact value would not fit (very many epochs).
    pub pass_at_k: Option<Ratio>,
    /// pass^k; `None` when the exact value would not fit.
    pub pass_hat_k: Option<Ratio>,
}

/// Statistics of one group of results: a task, a category, or the run.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GroupStats {
    /// Task id, category name, or `overall`.
    pub name: String,
    /// For a task, its category; `None` for categories and the run.
    pub category: Option<String>,
    /// Distinct tasks in the group.
    pub tasks: u32,
    /// Results (task instances) in the group: the unit of every statistic.
    pub instances: u64,
    /// Results that count as a pass.
    pub passes: u64,
    /// Sum of the scores, in parts per million.
    pub score_sum: u128,
    /// Mean score ([`Moments::mean`]).
    pub mean: Ppm,
    /// Standard error of the mean ([`Moments::standard_error`]).
    pub standard_error: Option<Ppm>,
    /// 95% bootstrap interval of the mean ([`super::bootstrap_interval`]).
    pub interval: Option<Interval>,
    /// The samples per task that pass@k uses: the fewest any task of the
    /// group has (its epochs, in a complete run).
    pub samples_per_task: u32,
    /// pass@k and pass^k at each `k` of [`super::report_ks`]`(samples_per_task)`;
    /// for a category or the run, the mean over its tasks of each task's value.
    pub pass_k: Vec<PassK>,
}

/// Statistics of a run.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Summary {
    /// All results together; `None` when there are none.
    pub overall: Option<GroupStats>,
    /// One per category, in order of first appearance.
    pub categories: Vec<GroupStats>,
    /// One per task, in order of first appearance.
    pub tasks: Vec<GroupStats>,
}

struct TaskAcc<'a> {
    id: &'a str,
    category: &'a str,
    scores: Vec<Ppm>,
    passes: u64,
}

/// Per task, per category and overall statistics of `observations` (in plan
/// order). Each group's bootstrap stream is [`BootstrapRng::new`] with the
/// label `overall`, `category:NAME` or `task:ID`.
pub fn summarize(
    observations: &[Observation<'_>],
    run_seed: &[u8; 32],
    run_id: &[u8; 16],
) -> Summary {
    let mut task_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tasks: Vec<TaskAcc<'_>> = Vec::new();
    let mut category_index: BTreeMap<&str, usize> = BTreeMap::new();
    // Per category: its scores in observation order and its task indices.
    let mut categories: Vec<(&str, Vec<Ppm>, Vec<usize>)> = Vec::new();
    for obs in observations {
        let mut first_seen = false;
        let t = *task_index.entry(obs.task_id).or_insert_with(|| {
            first_seen = true;
            tasks.push(TaskAcc {
                id: obs.task_id,
                category: obs.category,
                scores: Vec::new(),
                passes: 0,
            });
            tasks.len() - 1
        });
        let task = &mut tasks[t];
        task.scores.push(obs.score);
        task.passes += u64::from(obs.passed);
        // A task belongs to the category it was first seen with, so it
        // joins that category's members exactly once, when it is first
        // seen: no search of the members, which a bundle of distinct task
        // ids would make quadratic.
        let category = task.category;
        let c = *category_index.entry(category).or_insert_with(|| {
            categories.push((category, Vec::new(), Vec::new()));
            categories.len() - 1
        });
        let entry = &mut categories[c];
        entry.1.push(obs.score);
        if first_seen {
            entry.2.push(t);
        }
    }

    let task_stats: Vec<GroupStats> = tasks
        .iter()
        .map(|task| {
            let mut rng = BootstrapRng::new(run_seed, run_id, &format!("task:{}", task.id));
            let mut stats = group(task.id, &task.scores, task.passes, 1, &mut rng);
            stats.category = Some(task.category.to_string());
            let n = u32::try_from(task.scores.len()).unwrap_or(u32::MAX);
            let c = u32::try_from(task.passes).unwrap_or(u32::MAX);
            stats.samples_per_task = n;
            stats.pass_k = super::report_ks(n)
                .map(|k| PassK {
                    k,
                    pass_at_k: pass_at_k(n, c, k).ok(),
                    pass_hat_k: pass_hat_k(n, c, k).ok(),
                })
                .collect();
            stats
        })
        .collect();

    let category_stats = categories
        .iter()
        .map(|(name, scores, members)| {
            let mut rng = BootstrapRng::new(run_seed, run_id, &format!("category:{name}"));
            let passes = members.iter().map(|&t| tasks[t].passes).sum();
            let mut stats = group(name, scores, passes, members.len(), &mut rng);
            let members: Vec<&GroupStats> = members.iter().map(|&t| &task_stats[t]).collect();
            mean_pass_k(&mut stats, &members);
            stats
        })
        .collect();

    let overall = if observations.is_empty() {
        None
    } else {
        let scores: Vec<Ppm> = observations.iter().map(|o| o.score).collect();
        let passes = tasks.iter().map(|t| t.passes).sum();
        let mut rng = BootstrapRng::new(run_seed, run_id, "overall");
        let mut stats = group("overall", &scores, passes, tasks.len(), &mut rng);
        let members: Vec<&GroupStats> = task_stats.iter().collect();
        mean_pass_k(&mut stats, &members);
        Some(stats)
    };

    Summary {
        overall,
        categories: category_stats,
        tasks: task_stats,
    }
}

fn group(
    name: &str,
    scores: &[Ppm],
    passes: u64,
    tasks: usize,
    rng: &mut BootstrapRng,
) -> GroupStats {
    let mut moments = Moments::new();
    for &score in scores {
        moments.push(score);
    }
    GroupStats {
        name: name.to_string(),
        category: None,
        tasks: u32::try_from(tasks).unwrap_or(u32::MAX),
        instances: moments.count(),
        passes,
        score_sum: moments.sum(),
        mean: moments.mean().unwrap_or(Ppm::ZERO),
        standard_error: moments.standard_error(),
        interval: bootstrap_interval(scores, rng),
        samples_per_task: 0,
        pass_k: Vec::new(),
    }
}

/// pass@k of a group of tasks: at each k every task can give, the exact mean
/// of the tasks' values.
fn mean_pass_k(stats: &mut GroupStats, members: &[&GroupStats]) {
    let samples = members
        .iter()
        .map(|m| m.samples_per_task)
        .min()
        .unwrap_or(0);
    stats.samples_per_task = samples;
    stats.pass_k = super::report_ks(samples)
        .map(|k| {
            let of = |estimate: fn(u32, u32, u32) -> Result<Ratio, StatsError>| {
                let mut total = Ratio::ZERO;
                for member in members {
                    let n = u32::try_from(member.instances).ok()?;
                    let c = u32::try_from(member.passes).ok()?;
                    total = total.checked_add(estimate(n, c, k).ok()?).ok()?;
                }
                total.checked_div_int(members.len() as u128).ok()
            };
            PassK {
                k,
                pass_at_k: of(pass_at_k),
                pass_hat_k: of(pass_hat_k),
            }
        })
        .collect();
}
