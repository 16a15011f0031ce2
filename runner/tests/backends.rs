//! Cross-backend determinism: the same task instance run natively (Cranelift
//! to machine code) and under Pulley (Cranelift to pulley64 bytecode,
//! interpreted) ends with the same outcome, score, fuel and transcript.
//! What is recorded in a TaskResult must not depend on how the sandbox
//! executes the code (SPEC.md, "Engine settings", cross-backend findings).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;

use airlock::profile;
use airlock::sandbox::{Backend, Conversation, LoadedTask, Sandbox, SandboxLimits, TaskRun};
use airlock_core::outcome::ModelErrorKind;

struct Reference(Box<dyn airlock_task_sdk::Solver>);

impl Conversation for Reference {
    fn reply(&mut self, say: &str) -> Result<String, ModelErrorKind> {
        Ok(self.0.reply(say))
    }
}

struct Empty;

impl Conversation for Empty {
    fn reply(&mut self, _say: &str) -> Result<String, ModelErrorKind> {
        Ok(String::new())
    }
}

fn default_limits() -> SandboxLimits {
    SandboxLimits::from_profile(&profile::load("default").unwrap().profile)
}

fn seed(n: u8) -> [u8; 32] {
    let mut seed = [0x5a; 32];
    seed[0] = n;
    seed
}

/// What must agree between backends: everything recorded but the wall time.
fn recorded(run: &TaskRun) -> impl PartialEq + core::fmt::Debug + use<> {
    (
        run.outcome,
        run.score,
        run.fuel_consumed,
        run.peak_memory_bytes,
        run.turns.clone(),
    )
}

fn load_suite(sandbox: &Sandbox) -> Vec<LoadedTask> {
    airlock_default_suite::modules()
        .iter()
        .map(|m| sandbox.load(m.bytes).unwrap())
        .collect()
}

#[test]
fn default_suite_runs_identically_under_cranelift_and_pulley() {
    let native = Sandbox::with_backend(default_limits(), Backend::Cranelift).unwrap();
    let pulley = Sandbox::with_backend(default_limits(), Backend::Pulley).unwrap();
    let native_tasks = load_suite(&native);
    let pulley_tasks = load_suite(&pulley);
    for (a, b) in native_tasks.iter().zip(&pulley_tasks) {
        assert_eq!(a.info, b.info);
        assert_eq!(a.digest, b.digest);
        for n in 0..2 {
            let solver = || airlock_default_suite::reference_solver(&a.info.id).unwrap();
            let x = native.run(a, seed(n), &mut Reference(solver()));
            let y = pulley.run(b, seed(n), &mut Reference(solver()));
            assert_eq!(x.outcome, airlock_core::Outcome::Done, "{}", a.info.id);
            assert_eq!(
                recorded(&x),
                recorded(&y),
                "{} seed {n}: reference agent differs between backends",
                a.info.id
            );
            let x = native.run(a, seed(n), &mut Empty);
            let y = pulley.run(b, seed(n), &mut Empty);
            assert_eq!(
                recorded(&x),
                recorded(&y),
                "{} seed {n}: null agent differs between backends",
                a.info.id
            );
        }
    }
}

fn small_limits() -> SandboxLimits {
    SandboxLimits {
        fuel_per_task: 5_000_000,
        memory_bytes: 4 * 1024 * 1024,
        max_wasm_stack_bytes: 256 * 1024,
        max_message_bytes: 4096,
        max_reply_bytes: 8,
        max_module_bytes: 1 << 20,
        max_turns: 3,
        wall_clock_backstop: Duration::from_secs(60),
        max_instances: 2,
        max_table_elements: 1000,
    }
}

/// A task module (as in `sandbox_limits.rs`) whose `start` body is given.
fn task_wat(start: &str, extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (memory (export "memory") 1)
  (data (i32.const 16) "\01\03wat\01\01W\04\00\04\01d")
  (data (i32.const 80) "\01\c0\84\3d")
  (func (export "airlock_abi_version") (result i32) i32.const 1)
  (func (export "airlock_input") (param i32) (result i32) i32.const 1024)
  (func (export "airlock_info") (result i64) i64.const 0x100000000d)
  (func (export "airlock_start") (param i32) (result i64) {start})
  (func (export "airlock_step") (param i32) (result i64) i64.const 0x5000000004)
  {extra}
)"#
    ))
    .unwrap()
}

fn both(start: &str, extra: &str) -> (TaskRun, TaskRun) {
    let module = task_wat(start, extra);
    let run = |backend| {
        let sandbox = Sandbox::with_backend(small_limits(), backend).unwrap();
        let task = sandbox.load(&module).unwrap();
        sandbox.run(&task, [0; 32], &mut Empty)
    };
    (run(Backend::Cranelift), run(Backend::Pulley))
}

#[test]
fn hostile_endings_agree_between_backends() {
    let cases = [
        ("out of fuel", "(loop (br 0)) i64.const 0", ""),
        (
            "memory limit",
            "(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable",
            "",
        ),
        ("unreachable", "unreachable", ""),
        (
            "division by zero",
            "(drop (i32.div_u (i32.const 1) (i32.const 0))) i64.const 0",
            "",
        ),
        (
            "out of bounds",
            "(drop (i32.load (i32.const 0x7fffffff))) i64.const 0",
            "",
        ),
        (
            "float to int",
            "(drop (i32.trunc_f32_s (f32.const nan))) i64.const 0",
            "",
        ),
        (
            "canonical NaN bits",
            // Stores the bits of 0/0 and finishes with a score derived from them.
            "(i32.store (i32.const 200) (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0)))) \
             (if (i32.eq (i32.load (i32.const 200)) (i32.const 0x7fc00000)) \
                (then (return (i64.const 0x5000000004)))) unreachable",
            "",
        ),
    ];
    for (name, start, extra) in cases {
        let (a, b) = both(start, extra);
        assert_eq!(recorded(&a), recorded(&b), "{name}");
    }
}

/// Stack overflow is where the backends part: the depth at which the stack
/// runs out depends on each backend's frame sizes (measured with this very
/// module: 27,225 fuel burnt natively and 27,290 under Pulley). The runner
/// therefore records such endings with the whole fuel budget, and the
/// recorded result agrees.
#[test]
fn stack_overflow_is_recorded_the_same_on_both_backends() {
    let (a, b) = both(
        "(drop (call $rec (i32.const 0))) i64.const 0",
        "(func $rec (param i32) (result i32) (call $rec (i32.add (local.get 0) (i32.const 1))))",
    );
    assert_eq!(a.outcome, airlock_core::Outcome::StackOverflow);
    assert_eq!(recorded(&a), recorded(&b));
    assert_eq!(a.fuel_consumed, small_limits().fuel_per_task);
    assert_eq!(a.peak_memory_bytes, small_limits().memory_bytes);
}
