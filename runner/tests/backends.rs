//! Cross-backend determinism: the same task instance run natively (Cranelift
//! to machine code) and under Pulley (Cranelift to pulley64 bytecode,
//! interpreted) ends with the same outcome, score, fuel and transcript.
//! What is recorded in a TaskResult must not depend on how the sandbox
//! executes the code (SPEC.md, "Engine settings", cross-backend findings).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;

use airlock_sandbox::{Backend, Sandbox, SandboxLimits, TaskRun};

mod common;
use airlock_core::abi::ToolMode;
use common::{
    DONE_FULL, Empty, default_limits, load_suite, native as tool_mode_start, reference_agent,
    reference_agent_in, run_module, text,
};

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
            let x = native.run(a, &text(seed(n)), reference_agent(a).as_mut());
            let y = pulley.run(b, &text(seed(n)), reference_agent(a).as_mut());
            assert_eq!(x.outcome, airlock_core::Outcome::Done, "{}", a.info.id);
            assert_eq!(
                recorded(&x),
                recorded(&y),
                "{} seed {n}: reference agent differs between backends",
                a.info.id
            );
            let tools = tool_mode_start(seed(n));
            let x = native.run(a, &tools, reference_agent_in(a, ToolMode::Native).as_mut());
            let y = pulley.run(b, &tools, reference_agent_in(a, ToolMode::Native).as_mut());
            assert_eq!(x.outcome, airlock_core::Outcome::Done, "{}", a.info.id);
            assert_eq!(
                recorded(&x),
                recorded(&y),
                "{} seed {n}: native-mode reference agent differs between backends",
                a.info.id
            );
            let x = native.run(a, &text(seed(n)), &mut Empty);
            let y = pulley.run(b, &text(seed(n)), &mut Empty);
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
    common::small_limits(Duration::from_secs(60))
}

/// The task module of `sandbox_limits.rs` with this `start` body, run to its
/// end by the null agent under each backend.
fn both(start: &str, extra: &str) -> (TaskRun, TaskRun) {
    let module = common::task_wat(start, DONE_FULL, extra);
    let run = |backend| {
        let sandbox = Sandbox::with_backend(small_limits(), backend).unwrap();
        run_module(&sandbox, &module, &mut Empty)
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
