//! Checking a suite against a hardware profile, and calibrating a host.
//!
//! `profile check` measures what each task needs — fuel and peak memory of
//! its reference run over several seeds — in a measuring sandbox with far
//! larger budgets than the profile's, so a task that does not fit is reported
//! with its real numbers instead of just "out of fuel". Fuel and memory are
//! deterministic, so the verdict holds on any host.

use core::time::Duration;

use airlock_core::abi::{StartArgs, ToolMode};
use airlock_core::{Outcome, Ppm};

use crate::profile::HardwareProfile;
use airlock_sandbox::{Backend, LoadError, LoadedTask, Sandbox, SandboxLimits};

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

/// The limits of the measuring sandbox: the profile's, with fuel and memory
/// raised so that needs beyond the profile can still be measured.
pub fn measuring_limits(profile: &HardwareProfile) -> SandboxLimits {
    let mut limits = profile.sandbox_limits();
    limits.fuel_per_task = profile.fuel_per_task.saturating_mul(MEASURE_FUEL_FACTOR);
    // The backstop grows with the fuel, so that a task that spins is
    // measured out of the larger fuel, as it would end under the profile.
    limits.wall_clock_backstop = profile
        .wall_clock_backstop()
        .saturating_mul(MEASURE_FUEL_FACTOR as u32);
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
    // A task with tools is measured in both modes: each mode is a run a
    // station may make, and their fuel differs.
    let modes: &[ToolMode] = if task.info.tools.is_empty() {
        &[ToolMode::Text]
    } else {
        &[ToolMode::Text, ToolMode::Native]
    };
    let runs = (0..seeds.max(1)).flat_map(|n| modes.iter().map(move |&mode| (n, mode)));
    for (n, tool_mode) in runs {
        let mut reference = crate::agent::reference_session(&task.info.id, tool_mode);
        let start = StartArgs {
            seed: check_seed(n),
            tool_mode,
        };
        let run = sandbox.run(task, &start, reference.as_mut());
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
            let mut reference = crate::agent::reference_session(&task.info.id, ToolMode::Text);
            let start = StartArgs {
                seed: check_seed(rounds),
                tool_mode: ToolMode::Text,
            };
            let run = sandbox.run(task, &start, reference.as_mut());
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

/// The operator loops `profile calibrate` and `profile check` time: plain
/// code, calls, and every operator that runs as a call into the host. Each
/// is the body of an endless loop; its fuel per turn is what the engine
/// charges for it, and its wall time per unit of fuel the slowest fuel can be
/// spent on this host.
pub const OPERATOR_PROBES: &[(&str, &str)] = &[
    (
        "plain code",
        "(local.set $i (i32.add (local.get $i) (i32.const 1)))",
    ),
    ("call", "(call $f)"),
    (
        "i64.div_u",
        "(local.set $x (i64.div_u (i64.const -1) (i64.or (local.get $x) (i64.const 3))))",
    ),
    ("f64.sqrt", "(local.set $y (f64.sqrt (local.get $y)))"),
    (
        "memory.fill 0 bytes",
        "(memory.fill (i32.const 0) (i32.const 0) (i32.const 0))",
    ),
    (
        "memory.copy 0 bytes",
        "(memory.copy (i32.const 0) (i32.const 0) (i32.const 0))",
    ),
    (
        "memory.init 0 bytes",
        "(memory.init $d (i32.const 0) (i32.const 0) (i32.const 0))",
    ),
    ("data.drop", "(data.drop $d)"),
    ("memory.size", "(drop (memory.size))"),
    ("memory.grow 0", "(drop (memory.grow (i32.const 0)))"),
    (
        "memory.grow refused",
        "(drop (memory.grow (i32.const 65535)))",
    ),
    (
        "table.grow 0",
        "(drop (table.grow (ref.null func) (i32.const 0)))",
    ),
    (
        "table.grow refused",
        "(drop (table.grow (ref.null func) (i32.const 20000)))",
    ),
    (
        "table.fill 0 elements",
        "(table.fill (i32.const 0) (ref.null func) (i32.const 0))",
    ),
    (
        "table.copy 0 elements",
        "(table.copy (i32.const 0) (i32.const 0) (i32.const 0))",
    ),
    (
        "table.init 0 elements",
        "(table.init $e (i32.const 0) (i32.const 0) (i32.const 0))",
    ),
    ("elem.drop", "(elem.drop $e)"),
    ("table.size", "(drop (table.size))"),
    ("ref.func", "(drop (ref.func $f))"),
    ("table.set", "(table.set (i32.const 1) (ref.func $f))"),
    ("table.get", "(drop (table.get (i32.const 0)))"),
    ("call_indirect", "(call_indirect (type $t) (i32.const 0))"),
];

/// The task module that loops on `body` forever (one of [`OPERATOR_PROBES`]).
pub fn operator_probe_module(name: &str, body: &str) -> Vec<u8> {
    let info = airlock_core::abi::TaskInfo {
        abi_version: airlock_core::abi::ABI_VERSION,
        id: format!("probe-{}", name.replace([' ', '.', '_'], "-")),
        version: 1,
        title: format!("operator probe: {name}"),
        category: airlock_core::abi::category::KNOWLEDGE.into(),
        difficulty: airlock_core::abi::Difficulty::Easy,
        max_turns: 1,
        description: "loops on one operator until its fuel runs out".into(),
        system_prompt: String::new(),
        tools: Vec::new(),
    };
    // A TaskInfo of a few dozen bytes always encodes.
    let info = postcard::to_allocvec(&info).unwrap_or_default();
    let data: String = info
        .iter()
        .flat_map(|&b| {
            let [high, low] = airlock_core::hex::byte_digits(b);
            ['\\', char::from(high), char::from(low)]
        })
        .collect();
    let packed = airlock_core::abi::pack(1024, info.len() as u32);
    let text = format!(
        r#"(module
  (type $t (func))
  (memory (export "memory") 1)
  (table 4 funcref)
  (elem (i32.const 0) func $f)
  (elem $e func $f)
  (data $d "x")
  (data (i32.const 1024) "{data}")
  (func $f)
  (func (export "airlock_abi_version") (result i32) (i32.const {abi_version}))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 4096))
  (func (export "airlock_info") (result i64) (i64.const {packed}))
  (func (export "airlock_start") (param i32) (result i64)
    (local $i i32) (local $x i64) (local $y f64)
    (local.set $y (f64.const 2))
    (loop $forever {body} (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))"#,
        abi_version = airlock_core::abi::ABI_VERSION,
    );
    // The probes are this file's own text: a parse failure is a bug here,
    // and an empty module is then refused by the sandbox like any other.
    wat::parse_str(text).unwrap_or_default()
}

/// The wall time one unit of fuel took in one operator probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorTiming {
    /// The probe's name.
    pub operator: &'static str,
    /// How the probe ended: out of fuel, unless this host is so slow that
    /// the backstop came first.
    pub outcome: Outcome,
    /// Fuel the probe consumed.
    pub fuel: u64,
    /// Its wall time.
    pub wall: Duration,
}

impl OperatorTiming {
    /// Picoseconds per unit of fuel.
    pub fn ps_per_fuel(&self) -> u64 {
        (self.wall.as_nanos() * 1000 / u128::from(self.fuel.max(1))).min(u128::from(u64::MAX))
            as u64
    }
}

/// Runs every operator probe until `fuel` runs out under `backend`, with the
/// profile's other limits, and times each one.
pub fn time_operators(
    profile: &HardwareProfile,
    backend: Backend,
    fuel: u64,
) -> Result<Vec<OperatorTiming>, LoadError> {
    let mut limits = profile.sandbox_limits();
    limits.fuel_per_task = fuel;
    // A probe must end out of fuel, never at the backstop, for its time to
    // mean anything; the backstop of the profile stays as a guard.
    limits.max_instances = 1;
    let sandbox = Sandbox::with_backend(limits, backend)?;
    let mut timings = Vec::new();
    for &(operator, body) in OPERATOR_PROBES {
        let task = sandbox.load(&operator_probe_module(operator, body))?;
        let start = StartArgs {
            seed: [0; 32],
            tool_mode: ToolMode::Text,
        };
        let mut no_model = crate::agent::reference_session("", ToolMode::Text);
        let run = sandbox.run(&task, &start, no_model.as_mut());
        timings.push(OperatorTiming {
            operator,
            outcome: run.outcome,
            fuel: run.fuel_consumed,
            wall: run.wall_time,
        });
    }
    Ok(timings)
}

/// Fuel each operator probe runs for under Cranelift: enough for a stable
/// time (a few milliseconds of the slowest), little enough to be quick.
const PROBE_FUEL_NATIVE: u64 = 20_000_000;

/// The same under Pulley, whose every unit of fuel is slower.
const PROBE_FUEL_PULLEY: u64 = 2_000_000;

/// How long one task's whole fuel budget can take on this host, at the
/// slowest operator, under each backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorstCase {
    /// The profile's fuel per task.
    pub fuel_per_task: u64,
    /// The profile's wall-clock backstop.
    pub backstop: Duration,
    /// The slowest operator probe under Cranelift.
    pub native: OperatorTiming,
    /// The slowest operator probe under Pulley.
    pub pulley: OperatorTiming,
}

impl WorstCase {
    /// The wall time of the whole budget at the slower backend's worst operator.
    pub fn worst_wall(&self) -> Duration {
        let ps = self.native.ps_per_fuel().max(self.pulley.ps_per_fuel());
        fuel_wall_time(self.fuel_per_task, ps)
    }

    /// Whether the whole budget, at the worst operator, ends inside the
    /// backstop on this host: a task then ends out of fuel, never at the
    /// backstop.
    pub fn fuel_ends_first(&self) -> bool {
        self.worst_wall() < self.backstop
    }

    /// One line for `profile check` and `profile calibrate`.
    pub fn summary(&self) -> String {
        format!(
            "worst case on this host: one task's {} fuel takes at most {:.2} s              (slowest operator: {} at {} ps/fuel natively, {} at {} ps/fuel under Pulley);              the wall-clock backstop is {:.1} s{}",
            self.fuel_per_task,
            self.worst_wall().as_secs_f64(),
            self.native.operator,
            self.native.ps_per_fuel(),
            self.pulley.operator,
            self.pulley.ps_per_fuel(),
            self.backstop.as_secs_f64(),
            if self.fuel_ends_first() {
                ""
            } else {
                " -- WARNING: fuel may outlast the backstop on this host, so how a task ends may depend on the host"
            }
        )
    }

    /// The same as JSON fields.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "fuel_per_task": self.fuel_per_task,
            "worst_case_fuel_wall_us": self.worst_wall().as_micros() as u64,
            "wall_clock_backstop_ms": self.backstop.as_millis() as u64,
            "fuel_ends_before_backstop": self.fuel_ends_first(),
            "slowest_operator_native": self.native.operator,
            "slowest_ps_per_fuel_native": self.native.ps_per_fuel(),
            "slowest_operator_pulley": self.pulley.operator,
            "slowest_ps_per_fuel_pulley": self.pulley.ps_per_fuel(),
        })
    }
}

/// Times every operator probe under both backends and gives the worst case
/// of `profile`'s fuel budget on this host.
pub fn worst_case(profile: &HardwareProfile) -> Result<WorstCase, LoadError> {
    let slowest = |backend, fuel| -> Result<OperatorTiming, LoadError> {
        let timings = time_operators(profile, backend, fuel)?;
        worst_operator(&timings)
            .cloned()
            .ok_or_else(|| LoadError::Engine("no operator probes".into()))
    };
    Ok(WorstCase {
        fuel_per_task: profile.fuel_per_task,
        backstop: profile.wall_clock_backstop(),
        native: slowest(Backend::Cranelift, PROBE_FUEL_NATIVE)?,
        pulley: slowest(Backend::Pulley, PROBE_FUEL_PULLEY)?,
    })
}

/// The slowest of `timings`, per unit of fuel.
pub fn worst_operator(timings: &[OperatorTiming]) -> Option<&OperatorTiming> {
    timings.iter().max_by_key(|t| t.ps_per_fuel())
}

/// The wall time `fuel` takes at `ps_per_fuel`.
pub fn fuel_wall_time(fuel: u64, ps_per_fuel: u64) -> Duration {
    let nanos = u128::from(fuel) * u128::from(ps_per_fuel) / 1000;
    Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn headroom_is_budget_over_use() {
        assert_eq!(headroom_centi(200, 100), 200);
        assert_eq!(headroom_centi(100, 300), 33);
        assert_eq!(headroom_centi(1, 0), u64::MAX);
        assert_eq!(format_headroom(250), "2.50x");
        assert_eq!(format_headroom(u64::MAX), "∞");
    }

    /// Every operator probe runs until its fuel is gone, and none spends a
    /// unit of fuel slower than the documented worst case allows, with the
    /// load margin for a busy test host: the premise of the profile check
    /// that fuel runs out before the backstop.
    #[test]
    fn every_operator_probe_spends_its_fuel_within_the_documented_worst_case() {
        use crate::profile::{BACKSTOP_MARGIN, WORST_PS_PER_FUEL};
        let profile = crate::profile::load("default").unwrap().profile;
        for (backend, fuel) in [
            (Backend::Cranelift, PROBE_FUEL_NATIVE),
            (Backend::Pulley, PROBE_FUEL_PULLEY),
        ] {
            let timings = time_operators(&profile, backend, fuel).unwrap();
            assert_eq!(timings.len(), OPERATOR_PROBES.len());
            for t in &timings {
                assert_eq!(t.outcome, Outcome::OutOfFuel, "{backend:?} {t:?}");
                assert_eq!(t.fuel, fuel, "{backend:?} {t:?}");
                assert!(
                    t.ps_per_fuel() <= WORST_PS_PER_FUEL * BACKSTOP_MARGIN,
                    "{backend:?}: {} takes {} ps per fuel",
                    t.operator,
                    t.ps_per_fuel()
                );
            }
        }
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
