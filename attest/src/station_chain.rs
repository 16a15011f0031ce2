//! The station chain across bundles (SPEC.md, "Station chain").
//!
//! Every run of an evaluator station records its run counter and the chain
//! hash of the station's previous RunStart, both allocated under the
//! station's lock when the run starts, so runs that overlap in time still
//! form one chain. Given several verified bundles
//! of one station, a verifier orders them by counter and checks every link,
//! so that a run left out of the set ("run 7 missing between 6 and 8"), two
//! different runs claiming one counter (a fork: the station state was
//! restored to re-run), a run that does not follow its predecessor, or the
//! same run given twice, is named. Runs are grouped by evaluator key id: one
//! key, one station.

use core::fmt;

use airlock_core::Digest;
use airlock_core::hex::encode as hex;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::verify::{Status, Verdict};

/// One verified run, as the station check sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StationRun {
    /// How the caller names the bundle (usually its file name).
    pub label: String,
    /// Key id of the evaluator key that signed it.
    pub key_id: Digest,
    /// RunStart's run id.
    pub run_id: [u8; 16],
    /// RunStart's station run counter.
    pub run_counter: u64,
    /// RunStart's link: the previous run's RunStart chain hash.
    pub previous_run_start_hash: Digest,
    /// The chain hash of this run's RunStart (what the next run links to).
    pub run_start_hash: Digest,
    /// The run's final chain hash.
    pub final_hash: Digest,
}

impl StationRun {
    /// The station facts of a verdict, when it verified and says them all.
    /// A bundle that did not verify cannot vouch for a link.
    pub fn from_verdict(label: &str, verdict: &Verdict) -> Option<StationRun> {
        if !verdict.verified() {
            return None;
        }
        let s = &verdict.summary;
        let station = s.station.as_ref()?;
        Some(StationRun {
            label: label.to_owned(),
            key_id: s.key_id?,
            run_id: s.run_id?,
            run_counter: station.run_counter,
            previous_run_start_hash: station.previous_run_start_hash,
            run_start_hash: s.run_start_hash?,
            final_hash: s.final_hash?,
        })
    }
}

/// One thing wrong with a station's chain.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum StationProblem {
    /// No bundle of runs `from..=to` was given, though runs before and after were.
    Missing {
        /// First missing counter.
        from: u64,
        /// Last missing counter.
        to: u64,
        /// The counter given before the gap.
        before: u64,
        /// The counter given after the gap.
        after: u64,
    },
    /// The same run (same run id and final hash) was given more than once.
    Duplicate {
        /// Its counter.
        run_counter: u64,
        /// The bundles that hold it.
        labels: Vec<String>,
    },
    /// Different runs claim the same counter.
    Fork {
        /// The counter.
        run_counter: u64,
        /// The bundles that claim it.
        labels: Vec<String>,
    },
    /// A run's link is not the RunStart chain hash of any given run with
    /// the previous counter.
    BrokenLink {
        /// The run's counter.
        run_counter: u64,
        /// The run's bundle.
        label: String,
        /// The previous-RunStart hash it records.
        links_to: Digest,
        /// The RunStart chain hash of the given run before it.
        previous_start: Digest,
    },
    /// Run 1 links to a previous run, or a run has counter 0.
    BadStart {
        /// The run's counter.
        run_counter: u64,
        /// The run's bundle.
        label: String,
    },
}

impl fmt::Display for StationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StationProblem::Missing {
                from,
                to,
                before,
                after,
            } if from == to => write!(f, "run {from} missing between {before} and {after}"),
            StationProblem::Missing {
                from,
                to,
                before,
                after,
            } => write!(
                f,
                "runs {from} to {to} missing between {before} and {after}"
            ),
            StationProblem::Duplicate {
                run_counter,
                labels,
            } => write!(
                f,
                "run {run_counter} is given more than once ({})",
                labels.join(", ")
            ),
            StationProblem::Fork {
                run_counter,
                labels,
            } => write!(
                f,
                "fork at run {run_counter}: different runs claim the same counter ({})",
                labels.join(", ")
            ),
            StationProblem::BrokenLink {
                run_counter,
                label,
                links_to,
                previous_start,
            } => {
                let previous = run_counter.saturating_sub(1);
                write!(
                    f,
                    "run {run_counter} ({label}) does not follow run {previous}: it links to RunStart hash {links_to}, but run {previous} started with {previous_start}"
                )
            }
            StationProblem::BadStart { run_counter, label } if *run_counter == 0 => {
                write!(f, "{label}: run counter 0 (station runs count from 1)")
            }
            StationProblem::BadStart { run_counter, label } => write!(
                f,
                "run {run_counter} ({label}) is the station's first run but links to a previous run"
            ),
        }
    }
}

/// The chain of one station (one evaluator key) across the given bundles.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StationReport {
    /// The station's evaluator key id.
    pub key_id: Digest,
    /// The runs, ordered by counter (then label).
    pub runs: Vec<StationRun>,
    /// Everything wrong, in counter order.
    pub problems: Vec<StationProblem>,
    /// Information that is not a failure (e.g. runs before the first given one).
    pub notes: Vec<String>,
}

impl StationReport {
    /// Passed when there is no problem; failed with the first one otherwise.
    pub fn status(&self) -> Status {
        match self.problems.split_first() {
            None => Status::Passed,
            Some((first, [])) => Status::Failed(first.to_string()),
            Some((first, rest)) => {
                Status::Failed(format!("{first} (and {} more problems)", rest.len()))
            }
        }
    }

    /// Every gap of missing runs, as (first, last) counters. Ranges, not
    /// counters: a hostile pair of bundles numbered 1 and 2^64 - 1 makes
    /// one gap, not a list of every number between.
    pub fn missing(&self) -> Vec<(u64, u64)> {
        self.problems
            .iter()
            .filter_map(|p| match p {
                StationProblem::Missing { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }
}

impl Serialize for StationReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let status = self.status();
        let runs: Vec<serde_json::Value> = self
            .runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "run_counter": r.run_counter,
                    "bundle": r.label,
                    "run_id": hex(&r.run_id),
                    "previous_run_start_hash": r.previous_run_start_hash.to_hex().as_str(),
                    "run_start_hash": r.run_start_hash.to_hex().as_str(),
                    "final_hash": r.final_hash.to_hex().as_str(),
                })
            })
            .collect();
        let problems: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        let mut s = serializer.serialize_struct("StationReport", 7)?;
        s.serialize_field("key_id", self.key_id.to_hex().as_str())?;
        s.serialize_field("status", status.name())?;
        s.serialize_field("reason", &status.reason())?;
        s.serialize_field("problems", &problems)?;
        let missing: Vec<serde_json::Value> = self
            .missing()
            .into_iter()
            .map(|(from, to)| serde_json::json!({"from": from, "to": to}))
            .collect();
        s.serialize_field("missing", &missing)?;
        s.serialize_field("notes", &self.notes)?;
        s.serialize_field("runs", &runs)?;
        s.end()
    }
}

/// Checks the station chain of `runs`, one report per evaluator key, in
/// order of first appearance.
pub fn check_stations(runs: &[StationRun]) -> Vec<StationReport> {
    let mut keys: Vec<Digest> = Vec::new();
    for run in runs {
        if !keys.contains(&run.key_id) {
            keys.push(run.key_id);
        }
    }
    keys.into_iter()
        .map(|key_id| {
            let mine: Vec<StationRun> = runs
                .iter()
                .filter(|r| r.key_id == key_id)
                .cloned()
                .collect();
            check_one(key_id, mine)
        })
        .collect()
}

fn check_one(key_id: Digest, mut runs: Vec<StationRun>) -> StationReport {
    runs.sort_by(|a, b| {
        (a.run_counter, &a.label, a.final_hash.0).cmp(&(b.run_counter, &b.label, b.final_hash.0))
    });
    let mut problems = Vec::new();
    let mut notes = Vec::new();

    // Group by counter; within a group, distinct runs (by final hash and run id).
    let mut groups: Vec<(u64, Vec<&StationRun>)> = Vec::new();
    for run in &runs {
        match groups.last_mut() {
            Some((counter, members)) if *counter == run.run_counter => members.push(run),
            _ => groups.push((run.run_counter, vec![run])),
        }
    }
    if let Some((first, _)) = groups.first()
        && *first > 1
    {
        notes.push(if *first == 2 {
            "run 1 was not given".to_owned()
        } else {
            format!("runs 1 to {} were not given", first - 1)
        });
    }
    // The counter before, and the RunStart hashes of its distinct runs.
    let mut previous: Option<(u64, Vec<Digest>)> = None;
    for (counter, members) in &groups {
        let counter = *counter;
        // Distinct runs of this counter: the same bytes given twice are one run.
        let mut distinct: Vec<&StationRun> = Vec::new();
        for run in members {
            if !distinct
                .iter()
                .any(|d| d.final_hash == run.final_hash && d.run_id == run.run_id)
            {
                distinct.push(run);
            }
        }
        for d in &distinct {
            let same: Vec<String> = members
                .iter()
                .filter(|r| r.final_hash == d.final_hash && r.run_id == d.run_id)
                .map(|r| r.label.clone())
                .collect();
            if same.len() > 1 {
                problems.push(StationProblem::Duplicate {
                    run_counter: counter,
                    labels: same,
                });
            }
        }
        if distinct.len() > 1 {
            problems.push(StationProblem::Fork {
                run_counter: counter,
                labels: distinct.iter().map(|r| r.label.clone()).collect(),
            });
        }
        if counter == 0 {
            for run in &distinct {
                problems.push(StationProblem::BadStart {
                    run_counter: 0,
                    label: run.label.clone(),
                });
            }
        } else if counter == 1 {
            for run in &distinct {
                if run.previous_run_start_hash != Digest::ZERO {
                    problems.push(StationProblem::BadStart {
                        run_counter: 1,
                        label: run.label.clone(),
                    });
                }
            }
        }
        if let Some((before, starts)) = &previous {
            // Groups are in strictly increasing counter order, so `before`
            // is below u64::MAX here and `before + 1` cannot overflow.
            let next = before.saturating_add(1);
            if counter > next {
                problems.push(StationProblem::Missing {
                    from: next,
                    to: counter - 1,
                    before: *before,
                    after: counter,
                });
            } else if counter == next {
                for run in &distinct {
                    if !starts.contains(&run.previous_run_start_hash) {
                        problems.push(StationProblem::BrokenLink {
                            run_counter: counter,
                            label: run.label.clone(),
                            links_to: run.previous_run_start_hash,
                            previous_start: starts.first().copied().unwrap_or(Digest::ZERO),
                        });
                    }
                }
            }
        }
        previous = Some((counter, distinct.iter().map(|r| r.run_start_hash).collect()));
    }
    StationReport {
        key_id,
        runs,
        problems,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose RunStart hash is `start` (its final hash and run id are
    /// derived from it) and which links to RunStart hash `prev`.
    fn run(label: &str, counter: u64, prev: u8, start: u8) -> StationRun {
        StationRun {
            label: label.into(),
            key_id: Digest([1; 32]),
            run_id: [start; 16],
            run_counter: counter,
            previous_run_start_hash: Digest([prev; 32]),
            run_start_hash: Digest([start; 32]),
            final_hash: Digest([start ^ 0x80; 32]),
        }
    }

    fn reasons(runs: &[StationRun]) -> Vec<String> {
        let reports = check_stations(runs);
        assert_eq!(reports.len(), 1);
        reports[0]
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn an_unbroken_chain_passes_in_any_order() {
        let runs = [run("c", 3, 12, 13), run("a", 1, 0, 11), run("b", 2, 11, 12)];
        let reports = check_stations(&runs);
        assert_eq!(reports[0].status(), Status::Passed);
        let order: Vec<u64> = reports[0].runs.iter().map(|r| r.run_counter).collect();
        assert_eq!(order, [1, 2, 3]);
        assert!(reports[0].notes.is_empty());
    }

    #[test]
    fn names_missing_runs_duplicates_forks_and_broken_links() {
        assert_eq!(
            reasons(&[run("a", 6, 5, 16), run("b", 8, 17, 18)]),
            ["run 7 missing between 6 and 8"]
        );
        assert_eq!(
            reasons(&[run("a", 2, 1, 12), run("b", 6, 15, 16)]),
            ["runs 3 to 5 missing between 2 and 6"]
        );
        assert_eq!(
            reasons(&[run("a", 1, 0, 11), run("b", 1, 0, 11)]),
            ["run 1 is given more than once (a, b)"]
        );
        assert_eq!(
            reasons(&[run("a", 1, 0, 11), run("b", 2, 11, 12), run("c", 2, 11, 22)]),
            ["fork at run 2: different runs claim the same counter (b, c)"]
        );
        let broken = reasons(&[run("a", 1, 0, 11), run("b", 2, 99, 12)]);
        assert_eq!(broken.len(), 1);
        assert!(
            broken[0]
                .starts_with("run 2 (b) does not follow run 1: it links to RunStart hash 6363"),
            "{broken:?}"
        );
        assert_eq!(
            reasons(&[run("a", 1, 7, 11)]),
            ["run 1 (a) is the station's first run but links to a previous run"]
        );
    }

    #[test]
    fn a_window_of_runs_notes_what_came_before() {
        let reports = check_stations(&[run("a", 4, 3, 14)]);
        assert_eq!(reports[0].status(), Status::Passed);
        assert_eq!(reports[0].notes, ["runs 1 to 3 were not given"]);
    }

    #[test]
    fn stations_are_grouped_by_key() {
        let mut other = run("x", 5, 4, 15);
        other.key_id = Digest([2; 32]);
        let reports = check_stations(&[run("a", 1, 0, 11), other]);
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(|r| r.status() == Status::Passed));
    }

    /// A resumed finished run: same RunStart (run id, counter, link), other
    /// results. It is a fork, not a duplicate.
    #[test]
    fn the_same_run_start_with_other_results_is_a_fork() {
        let mut again = run("b", 1, 0, 11);
        again.final_hash = Digest([0x55; 32]);
        assert_eq!(
            reasons(&[run("a", 1, 0, 11), again]),
            ["fork at run 1: different runs claim the same counter (a, b)"]
        );
    }

    /// Hostile counters far apart make one range, at once: no list of the
    /// counters between, no overflow at the top of the range.
    #[test]
    fn far_apart_counters_make_one_missing_range() {
        let runs = [run("a", 1, 0, 11), run("b", u64::MAX, 3, 12)];
        let reports = check_stations(&runs);
        assert_eq!(reports[0].missing(), [(2, u64::MAX - 1)]);
        let json = serde_json::to_value(&reports[0]).unwrap();
        assert_eq!(
            json["missing"],
            serde_json::json!([{"from": 2, "to": u64::MAX - 1}])
        );
        assert_eq!(
            reasons(&runs),
            [format!(
                "runs 2 to {} missing between 1 and {}",
                u64::MAX - 1,
                u64::MAX
            )]
        );
        let top = [run("a", u64::MAX - 1, 3, 11), run("b", u64::MAX, 11, 12)];
        assert_eq!(check_stations(&top)[0].status(), Status::Passed);
    }
}
