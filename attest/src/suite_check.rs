//! The suite level of verification (SPEC.md, "Verification", level 5): the
//! modules a run planned are the modules of a suite the verifier trusts.
//!
//! Two parts: [`verify_suite_files`] checks a suite directory on its own
//! (manifest signature under a trusted authority, every module listed, every
//! module's blake3 equal to its manifest entry), streaming each module so no
//! file is loaded whole; [`check_suite`] compares a run's signed plan with
//! the suite: RunStart's suite digest and every planned (task, version,
//! module digest). Neither compiles a module: a verifier outside the
//! enclave needs hashes, not a sandbox.

use std::collections::BTreeMap;
use std::path::Path;

use airlock_core::Digest;
use airlock_core::record::{PlannedTask, RunStart, SuiteTrust};
use airlock_core::suite::{ManifestTask, SuiteManifest};

use crate::error::{AttestError, io_err};
use crate::keys::PublicKey;
use crate::manifest::{MANIFEST_FILE_NAME, VerifiedManifest, read_manifest};
use crate::verify::{Level, LevelReport, Status};

/// Checks a suite directory: `DIR/suite.manifest` verifies under one of
/// `trusted`, every `*.wasm` in DIR is listed, and every listed module's
/// blake3 equals its entry's digest. Each module must be a regular file of
/// at most `max_module_bytes` (the largest module a profile allows), so a
/// FIFO, a link to `/dev/zero` or a file of gigabytes is refused before it
/// is hashed.
pub fn verify_suite_files(
    dir: &Path,
    trusted: &[PublicKey],
    max_module_bytes: u64,
) -> Result<VerifiedManifest, AttestError> {
    let verified = read_manifest(&dir.join(MANIFEST_FILE_NAME), trusted)?;
    let entries = std::fs::read_dir(dir).map_err(io_err(dir, "list"))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_err(dir, "list"))?.path();
        if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    for path in files {
        let listed = path.file_name().is_some_and(|n| {
            verified
                .manifest
                .tasks
                .iter()
                .any(|t| n == t.file_name.as_str())
        });
        if !listed {
            return Err(AttestError::UnlistedModule { path });
        }
    }
    for task in &verified.manifest.tasks {
        let path = dir.join(&task.file_name);
        let found = blake3_file(&path, max_module_bytes)?;
        if found != task.module_digest {
            return Err(AttestError::ModuleDigest {
                path,
                expected: task.module_digest,
                found,
            });
        }
    }
    Ok(verified)
}

/// blake3 of a regular file of at most `limit` bytes, read in pieces.
fn blake3_file(path: &Path, limit: u64) -> Result<Digest, AttestError> {
    let mut hasher = blake3::Hasher::new();
    crate::fsutil::read_regular_in_pieces(path, limit, |piece| {
        hasher.update(piece);
    })?;
    Ok(Digest(*hasher.finalize().as_bytes()))
}

/// Where the suite a run is checked against comes from, for the report.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SuiteSource {
    /// The suite embedded in this verifier's binary.
    Embedded,
    /// A suite directory whose manifest this authority signed.
    Signed {
        /// The suite authority's key.
        authority: PublicKey,
    },
}

/// Compares a run's signed plan with `manifest`: every plan entry's task
/// must be in the suite with the same version and module digest,
/// RunStart's suite digest must be the suite's, and the plan must be the
/// one the runner writes for that suite: every task of the suite, in suite
/// order, each for epochs 0 to E − 1, nothing repeated. Reports the first
/// failure, naming the plan entry, and how many more there are; the note
/// says what the plan covers (which tasks, which epochs), pass or fail.
pub fn check_suite(
    run_start: &RunStart,
    manifest: &SuiteManifest,
    source: &SuiteSource,
) -> LevelReport {
    let mut failures = Failures::default();
    let mut fail = |reason: String| failures.add(reason);
    let what = |i: usize, p: &PlannedTask| {
        format!("plan entry {i} (task {} epoch {})", p.task_id, p.epoch)
    };
    // Suite position of each plan entry's task, if it is in the suite.
    let mut positions: Vec<Option<usize>> = Vec::with_capacity(run_start.plan.len());
    for (i, planned) in run_start.plan.iter().enumerate() {
        let Some((at, task)) = manifest
            .tasks
            .iter()
            .enumerate()
            .find(|(_, t): &(usize, &ManifestTask)| t.task_id == planned.task_id)
        else {
            positions.push(None);
            fail(format!(
                "{}: the task is not in suite \"{}\"",
                what(i, planned),
                manifest.name
            ));
            continue;
        };
        positions.push(Some(at));
        if planned.module_digest != task.module_digest {
            fail(format!(
                "{}: module digest {} is not the suite's {} ({})",
                what(i, planned),
                planned.module_digest,
                task.module_digest,
                task.file_name
            ));
        } else if planned.task_version != task.version {
            fail(format!(
                "{}: version {} is not the suite's {}",
                what(i, planned),
                planned.task_version,
                task.version
            ));
        }
    }
    // The suite tasks the run meant to plan: all, or its recorded selection.
    let expected: Vec<usize> = match &run_start.selection {
        None => (0..manifest.tasks.len()).collect(),
        Some(ids) => {
            for id in ids {
                if !manifest.tasks.iter().any(|t| &t.task_id == id) {
                    fail(format!(
                        "RunStart's selection names task {id}, which is not in suite \"{}\"",
                        manifest.name
                    ));
                }
            }
            (0..manifest.tasks.len())
                .filter(|&at| ids.contains(&manifest.tasks[at].task_id))
                .collect()
        }
    };
    for (i, (planned, at)) in run_start.plan.iter().zip(&positions).enumerate() {
        if let Some(at) = at
            && !expected.contains(at)
        {
            fail(format!(
                "{}: the task is not among the tasks RunStart selected",
                what(i, planned)
            ));
        }
    }
    let digest = manifest.digest();
    if run_start.suite.digest != digest {
        fail(format!(
            "RunStart's suite digest {} is not the digest {digest} of suite \"{}\"",
            run_start.suite.digest, manifest.name
        ));
    }
    let coverage = Coverage::of(run_start, manifest, &positions, &expected);
    if let Some((i, j)) = coverage.repeated {
        fail(format!(
            "{} repeats plan entry {j}",
            what(i, &run_start.plan[i])
        ));
    }
    if !coverage.missing.is_empty() {
        fail(match run_start.selection {
            None => format!(
                "the plan holds {} of the {} tasks of suite \"{}\" (not planned: {}): \
                 a run of the suite plans every task",
                coverage.planned_tasks,
                manifest.tasks.len(),
                manifest.name,
                coverage.missing_list()
            ),
            Some(_) => format!(
                "the plan holds {} of the {} tasks RunStart selected from suite \"{}\" \
                 (not planned: {}): a run plans every task it selects",
                coverage.planned_tasks,
                expected.len(),
                manifest.name,
                coverage.missing_list()
            ),
        });
    }
    if failures.first.is_none() {
        // Every task present, none repeated: what is left is the shape.
        if let Some(reason) = shape_problem(run_start, manifest, &positions, &expected) {
            failures.add(reason);
        }
    }
    let status = match failures.first {
        None => Status::Passed,
        Some(first) if failures.more == 0 => Status::Failed(first),
        Some(first) => Status::Failed(format!("{first} (and {} more failures)", failures.more)),
    };
    let checked = match source {
        SuiteSource::Embedded => format!("the embedded suite \"{}\"", manifest.name),
        SuiteSource::Signed { authority } => format!(
            "suite \"{}\" signed by authority {}",
            manifest.name,
            authority.key_id()
        ),
    };
    let recorded = match &run_start.suite.trust {
        SuiteTrust::Embedded => "the runner's embedded suite".to_owned(),
        SuiteTrust::Signed(id) => format!("a suite signed by authority {id}"),
        SuiteTrust::Unsigned => "an unsigned development suite".to_owned(),
    };
    LevelReport {
        level: Level::Suite,
        status,
        note: Some(format!(
            "checked against {checked}; the run recorded {recorded}; {}",
            coverage.describe(
                manifest.tasks.len(),
                run_start.selection.is_some().then_some(expected.len()),
                run_start.plan.len()
            )
        )),
    }
}

/// The first failure and how many more: a plan of many entries all wrong
/// needs no string per entry.
#[derive(Default)]
struct Failures {
    first: Option<String>,
    more: usize,
}

impl Failures {
    fn add(&mut self, reason: String) {
        match self.first {
            None => self.first = Some(reason),
            Some(_) => self.more += 1,
        }
    }
}

/// Which tasks and epochs of the suite a plan holds.
struct Coverage {
    /// Suite tasks with at least one plan entry.
    planned_tasks: usize,
    /// Suite tasks with none, in suite order.
    missing: Vec<String>,
    /// The first entry that repeats an earlier (task, epoch), and that one.
    repeated: Option<(usize, usize)>,
    /// Entries whose task is not in the suite.
    foreign: usize,
    /// The planned epochs, when every planned task has epochs 0 to E − 1
    /// once each: E.
    uniform_epochs: Option<u32>,
}

impl Coverage {
    /// `expected` are the suite positions of the tasks the run meant to
    /// plan, in suite order.
    fn of(
        run_start: &RunStart,
        manifest: &SuiteManifest,
        positions: &[Option<usize>],
        expected: &[usize],
    ) -> Coverage {
        // Per suite task: its epochs, with the entry that planned each.
        let mut epochs: Vec<BTreeMap<u32, usize>> = vec![BTreeMap::new(); manifest.tasks.len()];
        let mut repeated = None;
        let mut foreign = 0;
        for (i, (planned, at)) in run_start.plan.iter().zip(positions).enumerate() {
            let Some(at) = at else {
                foreign += 1;
                continue;
            };
            if let Some(&j) = epochs[*at].get(&planned.epoch) {
                repeated = repeated.or(Some((i, j)));
            } else {
                epochs[*at].insert(planned.epoch, i);
            }
        }
        let missing: Vec<String> = expected
            .iter()
            .filter(|&&at| epochs[at].is_empty())
            .map(|&at| manifest.tasks[at].task_id.clone())
            .collect();
        let planned: Vec<&BTreeMap<u32, usize>> = epochs.iter().filter(|e| !e.is_empty()).collect();
        let uniform_epochs = planned.first().and_then(|e| {
            let n = e.len() as u32;
            planned
                .iter()
                .all(|e| e.len() as u32 == n && e.keys().copied().eq(0..n))
                .then_some(n)
        });
        Coverage {
            planned_tasks: planned.len(),
            missing,
            repeated,
            foreign,
            uniform_epochs,
        }
    }

    /// At most five of the missing tasks, then how many more.
    fn missing_list(&self) -> String {
        let mut out = self
            .missing
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if self.missing.len() > 5 {
            out.push_str(&format!(" and {} more", self.missing.len() - 5));
        }
        out
    }

    /// `selected` is how many tasks RunStart's selection holds, if it has one.
    fn describe(&self, suite_tasks: usize, selected: Option<usize>, entries: usize) -> String {
        let tasks = if let Some(selected) = selected {
            let not = if self.missing.is_empty() {
                String::new()
            } else {
                format!(", not planned: {}", self.missing_list())
            };
            format!(
                "{} of the {selected} tasks selected from the suite's {suite_tasks}{not}",
                self.planned_tasks
            )
        } else if self.missing.is_empty() {
            format!("all {suite_tasks} tasks of the suite")
        } else {
            format!(
                "{} of the suite's {suite_tasks} tasks (not planned: {})",
                self.planned_tasks,
                self.missing_list()
            )
        };
        let epochs = match self.uniform_epochs {
            Some(1) => "epoch 0 of each".to_owned(),
            Some(n) => format!("epochs 0 to {} of each", n - 1),
            None if self.planned_tasks == 0 => "no epochs".to_owned(),
            None => "epochs that differ from task to task or repeat".to_owned(),
        };
        let foreign = match self.foreign {
            0 => String::new(),
            n => format!(", and {n} entries of tasks not in the suite"),
        };
        format!("the plan holds {tasks}, {epochs} ({entries} entries{foreign})")
    }
}

/// Where the plan differs from the runner's: each suite task in suite order,
/// each for epochs 0 to E − 1, E the same for every task.
fn shape_problem(
    run_start: &RunStart,
    manifest: &SuiteManifest,
    positions: &[Option<usize>],
    expected: &[usize],
) -> Option<String> {
    let tasks = expected.len();
    let entries = run_start.plan.len();
    if tasks == 0 || entries == 0 || !entries.is_multiple_of(tasks) {
        return Some(format!(
            "the plan's {entries} entries are not the same number of epochs of each of the \
             {tasks} tasks of suite \"{}\"",
            manifest.name
        ));
    }
    let epochs = entries / tasks;
    for (i, (planned, at)) in run_start.plan.iter().zip(positions).enumerate() {
        let (want_task, want_epoch) = (expected[i / epochs], (i % epochs) as u32);
        if *at != Some(want_task) || planned.epoch != want_epoch {
            return Some(format!(
                "plan entry {i} (task {} epoch {}) is out of the runner's order: a run of suite \
                 \"{}\" plans each task in suite order for epochs 0 to {}, so entry {i} is \
                 task {} epoch {want_epoch}",
                planned.task_id,
                planned.epoch,
                manifest.name,
                epochs - 1,
                manifest.tasks[want_task].task_id
            ));
        }
    }
    None
}
