//! Checking a suite against a hardware profile, and calibrating a host.
//!
//! `profile check` measures what each task needs — fuel and peak memory of
//! its reference run over several seeds — in a measuring sandbox with far
//! larger budgets than the profile's, so a task that does not fit is reported
//! with its real numbers instead of just "out of fuel". Fuel and memory are
//! deterministic, so the verdict holds on any host.

use core::time::Duration;

use airlock_core::outcome::ModelErrorKind;
use airlock_core::{Outcome, Ppm};

use crate::profile::HardwareProfile;
use crate::sandbox::{Conversation, LoadError, LoadedTask, Sandbox, SandboxLimits};

/// How many times the profile's fuel the measuring sandbox allows.
const MEASURE_FUEL_FACTOR: u64 = 64;

/// What one task needs, measured over `seeds` reference runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskNeeds {
    /// Task id.
    pub task_id: String,
    /// Most fuel any seed's reference run consumed.
    pub fuel: u64,
    /// Largest linear memory any seed's reference run reached, in bytes.
    pub peak_memory_bytes: u64,
    /// How the worst run ended in the measuring sandbox (not `Done` means the
    /// numbers are lower bounds, e.g. out of the measuring sandbox's fuel).
    pub outcome: Outcome,
    /// Whether every seed's reference run scored full marks.
    pub solved: bool,
}

/// A task's needs against a profile's budgets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFit {
    /// What the task needs.
    pub needs: TaskNeeds,
    /// The profile's fuel budget per task.
    pub fuel_budget: u64,
    /// The profile's memory limit per sandbox, in bytes.
    pub memory_limit: u64,
}

impl TaskFit {
    /// Whether fuel and memory are within the profile's budgets and the
    /// measurement itself finished.
    pub fn fits(&self) -> bool {
        self.needs.outcome == Outcome::Done
            && self.needs.fuel <= self.fuel_budget
            && self.needs.peak_memory_bytes <= self.memory_limit
    }

    /// Fuel budget ÷ fuel needed, in hundredths (250 = 2.50x); `u64::MAX` when no fuel is needed.
    pub fn fuel_headroom_centi(&self) -> u64 {
        headroom_centi(self.fuel_budget, self.needs.fuel)
    }

    /// Memory limit ÷ peak memory, in hundredths.
    pub fn memory_headroom_centi(&self) -> u64 {
        headroom_centi(self.memory_limit, self.needs.peak_memory_bytes)
    }
}

fn headroom_centi(budget: u64, used: u64) -> u64 {
    if used == 0 {
        return u64::MAX;
    }
    ((u128::from(budget) * 100) / u128::from(used)).min(u128::from(u64::MAX)) as u64
}

/// Formats hundredths as `2.50x` (or `∞`).
pub fn format_headroom(centi: u64) -> String {
    if centi == u64::MAX {
        "∞".into()
    } else {
        format!("{}.{:02}x", centi / 100, centi % 100)
    }
}

struct Reference(Option<Box<dyn airlock_task_sdk::Solver>>);

impl Conversation for Reference {
    fn reply(&mut self, say: &str) -> Result<String, ModelErrorKind> {
        match &mut self.0 {
            Some(solver) => Ok(solver.reply(say)),
            None => Err(ModelErrorKind::Unsupported),
        }
    }
}

/// The limits of the measuring sandbox: the profile's, with fuel and memory
/// raised so that needs beyond the profile can still be measured.
pub fn measuring_limits(profile: &HardwareProfile) -> SandboxLimits {
    let mut limits = SandboxLimits::from_profile(profile);
    limits.fuel_per_task = profile.fuel_per_task.saturating_mul(MEASURE_FUEL_FACTOR);
    limits.memory_bytes = 4 * 1024 * 1024 * 1024;
    limits.max_instances = 2;
    limits
}

/// The per-run seed of measurement `n`; fixed, so checks are repeatable.
fn check_seed(n: u32) -> [u8; 32] {
    *blake3::Hasher::new_derive_key("airlock v1 profile check seed")
        .update(&n.to_le_bytes())
        .finalize()
        .as_bytes()
}

/// Measures one task over `seeds` reference runs in `sandbox`.
pub fn measure(sandbox: &Sandbox, task: &LoadedTask, seeds: u32) -> (TaskNeeds, Duration) {
    let mut needs = TaskNeeds {
        task_id: task.info.id.clone(),
        fuel: 0,
        peak_memory_bytes: 0,
        outcome: Outcome::Done,
        solved: true,
    };
    let mut wall = Duration::ZERO;
    for n in 0..seeds.max(1) {
        let mut reference = Reference(airlock_default_suite::reference_solver(&task.info.id));
        let run = sandbox.run(task, check_seed(n), &mut reference);
        wall += run.wall_time;
        if run.fuel_consumed >= needs.fuel {
            needs.fuel = run.fuel_consumed;
            if run.outcome != Outcome::Done {
                needs.outcome = run.outcome;
            }
        }
        needs.peak_memory_bytes = needs.peak_memory_bytes.max(run.peak_memory_bytes);
        needs.solved &= run.outcome == Outcome::Done && run.score == Ppm::FULL;
        if run.outcome != Outcome::Done {
            needs.outcome = run.outcome;
        }
    }
    (needs, wall)
}

/// Checks every task of a suite (given as module bytes) against `profile`.
pub fn check(
    profile: &HardwareProfile,
    modules: &[(String, Vec<u8>)],
    seeds: u32,
) -> Result<Vec<TaskFit>, (String, LoadError)> {
    let sandbox = Sandbox::new(measuring_limits(profile)).map_err(|e| (String::new(), e))?;
    let mut fits = Vec::new();
    for (origin, bytes) in modules {
        let task = sandbox.load(bytes).map_err(|e| (origin.clone(), e))?;
        let (needs, _) = measure(&sandbox, &task, seeds);
        fits.push(TaskFit {
            needs,
            fuel_budget: profile.fuel_per_task,
            memory_limit: profile.memory_per_sandbox_bytes(),
        });
    }
    Ok(fits)
}

/// What `profile calibrate` measured on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// Fuel consumed by all measured runs.
    pub fuel: u64,
    /// Wall time of all measured runs (sandbox and reference solver).
    pub wall: Duration,
    /// Mean reference fuel of one instance of each task, summed over the suite.
    pub suite_fuel: u64,
    /// Tasks in the suite.
    pub tasks: usize,
}

impl Calibration {
    /// Fuel per second on this host (0 when nothing was measured).
    pub fn fuel_per_second(&self) -> u64 {
        let micros = self.wall.as_micros().max(1);
        (u128::from(self.fuel) * 1_000_000 / micros) as u64
    }

    /// Predicted wall time of one full run (one epoch of each task, reference
    /// behaviour) with `parallel` sandboxes; the model's own time is not included.
    pub fn predicted_run(&self, parallel: u32) -> Duration {
        self.predict(self.suite_fuel, parallel)
    }

    /// Predicted wall time if every task used its whole fuel budget.
    pub fn predicted_worst(&self, fuel_per_task: u64, parallel: u32) -> Duration {
        self.predict(fuel_per_task.saturating_mul(self.tasks as u64), parallel)
    }

    fn predict(&self, fuel: u64, parallel: u32) -> Duration {
        let rate = self.fuel_per_second().max(1);
        let micros = u128::from(fuel) * 1_000_000 / u128::from(rate) / u128::from(parallel.max(1));
        Duration::from_micros(micros.min(u128::from(u64::MAX)) as u64)
    }
}

/// Runs every task's reference solver over rounds of seeds — at least
/// `min_rounds`, and until `min_wall` of sandbox time is measured, so a fast
/// suite still gives a stable rate — and measures fuel per second.
pub fn calibrate(
    sandbox: &Sandbox,
    tasks: &[LoadedTask],
    min_rounds: u32,
    min_wall: Duration,
) -> Calibration {
    let mut calibration = Calibration {
        fuel: 0,
        wall: Duration::ZERO,
        suite_fuel: 0,
        tasks: tasks.len(),
    };
    let mut rounds = 0u32;
    // A bound on rounds, so a suite of empty tasks cannot loop forever.
    while rounds < min_rounds.max(1) || (calibration.wall < min_wall && rounds < 100_000) {
        for task in tasks {
            let mut reference = Reference(airlock_default_suite::reference_solver(&task.info.id));
            let run = sandbox.run(task, check_seed(rounds), &mut reference);
            calibration.fuel += run.fuel_consumed;
            calibration.wall += run.wall_time;
        }
        rounds += 1;
        if tasks.is_empty() {
            break;
        }
    }
    calibration.suite_fuel = calibration.fuel / u64::from(rounds.max(1));
    calibration
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_budget_over_use() {
        assert_eq!(headroom_centi(200, 100), 200);
        assert_eq!(headroom_centi(100, 300), 33);
        assert_eq!(headroom_centi(1, 0), u64::MAX);
        assert_eq!(format_headroom(250), "2.50x");
        assert_eq!(format_headroom(u64::MAX), "∞");
    }

    #[test]
    fn predictions_scale_with_fuel_and_parallelism() {
        let c = Calibration {
            fuel: 1_000_000,
            wall: Duration::from_secs(1),
            suite_fuel: 2_000_000,
            tasks: 2,
        };
        assert_eq!(c.fuel_per_second(), 1_000_000);
        assert_eq!(c.predicted_run(1), Duration::from_secs(2));
        assert_eq!(c.predicted_run(2), Duration::from_secs(1));
        assert_eq!(c.predicted_worst(3_000_000, 1), Duration::from_secs(6));
    }
}
