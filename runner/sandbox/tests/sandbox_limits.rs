//! Resource-limit and ABI tests of the sandbox host, one hostile module each
//! (written in WAT), in the manner of wasmtime's own limit tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;

use airlock_core::Ppm;
use airlock_core::outcome::{AbiViolation, ModelErrorKind, Outcome, TrapKind};
use airlock_sandbox::{Conversation, LoadError, Sandbox, SandboxLimits, TaskRun};
use airlock_tests::load::Load;

mod common;
use common::{DONE_FULL, SAY_Q, Scripted, run_module, task_wat};

fn limits() -> SandboxLimits {
    common::small_limits(Duration::from_secs(30))
}

/// The task module with these bodies, run once by `agent` under [`limits`].
fn run_with(agent: &mut dyn Conversation, start: &str, step: &str, extra: &str) -> TaskRun {
    let sandbox = Sandbox::new(limits()).unwrap();
    run_module(&sandbox, &task_wat(start, step, extra), agent)
}

/// The task module with these bodies, run once by an agent that answers "ok".
fn run(start: &str, step: &str, extra: &str) -> TaskRun {
    run_with(&mut Scripted(Ok("ok".into())), start, step, extra)
}

#[test]
fn well_behaved_task_is_done_with_its_score() {
    let r = run(SAY_Q, DONE_FULL, "");
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.score, Ppm::FULL);
    assert_eq!(r.turns.len(), 1);
    assert_eq!(
        r.turns[0].prompt,
        airlock_core::abi::Prompt::Text("q".into())
    );
    assert!(r.fuel_consumed > 0);
}

#[test]
fn info_is_read_from_the_module() {
    let sandbox = Sandbox::new(limits()).unwrap();
    let task = sandbox.load(&task_wat(SAY_Q, DONE_FULL, "")).unwrap();
    assert_eq!(task.info.id, "wat");
    assert_eq!(task.info.max_turns, 4);
}

#[test]
fn endless_loop_runs_out_of_fuel() {
    let r = run("(loop (br 0)) i64.const 0", DONE_FULL, "");
    assert_eq!(r.outcome, Outcome::OutOfFuel);
    assert_eq!(r.fuel_consumed, limits().fuel_per_task);
    assert_eq!(r.score, Ppm::ZERO);
}

#[test]
fn memory_grow_bomb_hits_the_memory_limit() {
    let body = "(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable";
    let r = run(body, DONE_FULL, "");
    assert_eq!(r.outcome, Outcome::MemoryLimit);
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let extra =
        "(func $rec (param i32) (result i32) (call $rec (i32.add (local.get 0) (i32.const 1))))";
    let r = run(
        "(drop (call $rec (i32.const 0))) i64.const 0",
        DONE_FULL,
        extra,
    );
    assert_eq!(r.outcome, Outcome::StackOverflow);
    // Charged the whole budget: the depth reached is the backend's, not the task's.
    assert_eq!(r.fuel_consumed, limits().fuel_per_task);
    // And the whole memory: a grow may or may not have run before the cut.
    assert_eq!(r.peak_memory_bytes, limits().memory_bytes);
}

#[test]
fn unreachable_is_a_trap_with_its_kind() {
    let r = run("unreachable", DONE_FULL, "");
    assert_eq!(r.outcome, Outcome::Trap(TrapKind::Unreachable));
}

#[test]
fn division_by_zero_is_a_trap_with_its_kind() {
    let r = run(
        "(drop (i32.div_u (i32.const 1) (i32.const 0))) i64.const 0",
        DONE_FULL,
        "",
    );
    assert_eq!(r.outcome, Outcome::Trap(TrapKind::IntegerDivisionByZero));
}

#[test]
fn output_beyond_memory_is_an_abi_violation() {
    // Pointer 65535, length 100: past the one 64 KiB page.
    let r = run("i64.const 0xffff00000064", DONE_FULL, "");
    assert_eq!(
        r.outcome,
        Outcome::AbiViolation(AbiViolation::OutputOutOfBounds)
    );
    // Pointer near u32::MAX with a length that would overflow 32-bit arithmetic.
    let r = run("i64.const 0xfffffff000000100", DONE_FULL, "");
    assert_eq!(
        r.outcome,
        Outcome::AbiViolation(AbiViolation::OutputOutOfBounds)
    );
}

#[test]
fn output_longer_than_the_profile_allows_is_refused() {
    let r = run("i64.const 0x0000000000ffffff", DONE_FULL, "");
    assert_eq!(
        r.outcome,
        Outcome::AbiViolation(AbiViolation::OutputTooLarge)
    );
}

#[test]
fn garbage_output_is_undecodable() {
    // Bytes at 16 are a TaskInfo, not a Step.
    let r = run("i64.const 0x100000000d", DONE_FULL, "");
    assert_eq!(
        r.outcome,
        Outcome::AbiViolation(AbiViolation::UndecodableOutput)
    );
}

#[test]
fn task_that_never_finishes_hits_the_turn_limit() {
    let r = run(SAY_Q, SAY_Q, "");
    assert_eq!(r.outcome, Outcome::TurnLimit);
    assert_eq!(r.turns.len(), 3);
}

#[test]
fn model_error_is_recorded_as_such() {
    let r = run_with(
        &mut Scripted(Err(ModelErrorKind::Timeout)),
        SAY_Q,
        DONE_FULL,
        "",
    );
    assert_eq!(r.outcome, Outcome::ModelError(ModelErrorKind::Timeout));
}

#[test]
fn replies_are_cut_to_the_profile_size_on_a_char_boundary() {
    let r = run_with(&mut Scripted(Ok("abcdefgé…".into())), SAY_Q, DONE_FULL, "");
    assert_eq!(r.turns[0].reply.text, "abcdefg");
    assert!(r.turns[0].reply.truncated);
}

#[test]
fn bad_input_buffer_is_an_abi_violation() {
    let wasm = wat::parse_str(
        r#"(module
  (memory (export "memory") 1)
  (data (i32.const 16) "\01\03wat\01\01W\04\00\04\01d")
  (func (export "airlock_abi_version") (result i32) i32.const 1)
  (func (export "airlock_input") (param i32) (result i32) i32.const 65530)
  (func (export "airlock_info") (result i64) i64.const 0x100000000d)
  (func (export "airlock_start") (param i32) (result i64) i64.const 0)
  (func (export "airlock_step") (param i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    let sandbox = Sandbox::new(limits()).unwrap();
    let r = run_module(&sandbox, &wasm, &mut Scripted(Ok(String::new())));
    assert_eq!(
        r.outcome,
        Outcome::AbiViolation(AbiViolation::BadInputBuffer)
    );
}

#[test]
fn trap_in_the_start_function_is_refused_at_load() {
    let wasm = task_wat(SAY_Q, DONE_FULL, "(func $boom unreachable) (start $boom)");
    let sandbox = Sandbox::new(limits()).unwrap();
    match sandbox.load(&wasm) {
        Err(LoadError::Instantiate(Outcome::Trap(TrapKind::Unreachable))) => {}
        other => panic!("expected a start-function trap, got {other:?}"),
    }
}

#[test]
fn imports_are_refused_before_compiling_naming_the_import() {
    let wasm = wat::parse_str(
        r#"(module (import "env" "exfiltrate" (func)) (memory (export "memory") 1))"#,
    )
    .unwrap();
    let sandbox = Sandbox::new(limits()).unwrap();
    let err = sandbox.load(&wasm).unwrap_err();
    assert!(matches!(err, LoadError::Import { .. }));
    let text = err.to_string();
    assert!(
        text.contains("\"env\"") && text.contains("\"exfiltrate\""),
        "{text}"
    );
}

#[test]
fn missing_export_is_named() {
    let wasm = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    let sandbox = Sandbox::new(limits()).unwrap();
    let err = sandbox.load(&wasm).unwrap_err();
    assert!(err.to_string().contains("airlock_abi_version"), "{err}");
}

#[test]
fn wrong_abi_version_is_refused() {
    let text = r#"(module
  (memory (export "memory") 1)
  (func (export "airlock_abi_version") (result i32) i32.const 3)
  (func (export "airlock_input") (param i32) (result i32) i32.const 0)
  (func (export "airlock_info") (result i64) i64.const 0)
  (func (export "airlock_start") (param i32) (result i64) i64.const 0)
  (func (export "airlock_step") (param i32) (result i64) i64.const 0))"#;
    let sandbox = Sandbox::new(limits()).unwrap();
    let err = sandbox.load(&wat::parse_str(text).unwrap()).unwrap_err();
    assert!(matches!(err, LoadError::AbiVersion { found: 3 }), "{err}");
    assert!(err.to_string().contains("versions 1 to 2"), "{err}");
}

#[test]
fn oversized_empty_and_random_modules_are_refused() {
    let sandbox = Sandbox::new(limits()).unwrap();
    let big = vec![0u8; (1 << 20) + 1];
    assert!(matches!(
        sandbox.load(&big),
        Err(LoadError::TooLarge { .. })
    ));
    assert!(matches!(sandbox.load(&[]), Err(LoadError::NotWasm(_))));
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert!(sandbox.load(&random).is_err());
    let mut truncated = task_wat(SAY_Q, DONE_FULL, "");
    truncated.truncate(truncated.len() / 2);
    assert!(sandbox.load(&truncated).is_err());
}

#[test]
fn declared_memory_above_the_limit_is_refused() {
    let wasm = wat::parse_str(r#"(module (memory (export "memory") 1000))"#).unwrap();
    let sandbox = Sandbox::new(limits()).unwrap();
    assert!(matches!(
        sandbox.load(&wasm),
        Err(LoadError::MemoryTooLarge { .. })
    ));
}

#[test]
fn same_seed_same_fuel() {
    let a = run(SAY_Q, DONE_FULL, "");
    let b = run(SAY_Q, DONE_FULL, "");
    assert_eq!(
        (a.outcome, a.score, a.fuel_consumed),
        (b.outcome, b.score, b.fuel_consumed)
    );
}

/// The engine settings text is part of the format (its blake3 is in RunStart;
/// SPEC.md, "Engine settings").
#[test]
fn engine_settings_description_is_pinned() {
    let sandbox = Sandbox::new(limits()).unwrap();
    assert_eq!(
        sandbox.settings_description(),
        "wasmtime 48.0.8; backend cranelift (cranelift to native code for the host); \
         consume_fuel with wasmtime's default costs except memory.grow 255, memory.fill 255, \
         memory.copy 255, memory.init 255, table.grow 255, table.fill 255, table.copy 255, \
         table.init 255, elem.drop 255, ref.func 255; epoch_interruption; \
         nan_canonicalization; simd off; relaxed_simd off; multi_memory off; memory64 off; \
         tail_call off; custom_page_sizes off; wide_arithmetic off; bulk_memory on; \
         multi_value on; reference_types on; gc, threads, component-model and async not \
         compiled in; max_wasm_stack 262144; pooling allocator; memory_init_cow"
    );
    assert_eq!(
        sandbox.settings_digest(),
        airlock_core::Digest::blake3(sandbox.settings_description().as_bytes())
    );
    let pulley =
        airlock_sandbox::Sandbox::with_backend(limits(), airlock_sandbox::Backend::Pulley).unwrap();
    assert_eq!(
        pulley.settings_description(),
        "wasmtime 48.0.8; backend pulley (cranelift to pulley64 bytecode, interpreted); \
         consume_fuel with wasmtime's default costs except memory.grow 255, memory.fill 255, \
         memory.copy 255, memory.init 255, table.grow 255, table.fill 255, table.copy 255, \
         table.init 255, elem.drop 255, ref.func 255; epoch_interruption; \
         nan_canonicalization; simd off; relaxed_simd off; multi_memory off; memory64 off; \
         tail_call off; custom_page_sizes off; wide_arithmetic off; bulk_memory on; \
         multi_value on; reference_types on; gc, threads, component-model and async not \
         compiled in; max_wasm_stack 262144; pooling allocator; memory_init_cow"
    );
}

#[test]
fn table_grow_bomb_hits_the_memory_limit() {
    let extra = "(table 1 funcref)";
    let body = "(loop (br_if 0 (i32.ne (table.grow (ref.null func) (i32.const 100)) (i32.const -1)))) unreachable";
    let r = run(body, DONE_FULL, extra);
    assert_eq!(r.outcome, Outcome::MemoryLimit);
}

#[test]
fn peak_memory_is_recorded() {
    let grow = "(drop (memory.grow (i32.const 3))) i64.const 0x4000000003";
    let r = run(grow, DONE_FULL, "");
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.peak_memory_bytes, 4 * 65536);
}

/// Finding 9 of issue 14: the backstop was a count of the epoch ticker's
/// sleeps, so on a loaded host, where each sleep runs long, it fired late
/// (3.45 s for a 3 s setting). It is a deadline on the monotonic clock: with
/// every core busy twice over, a loop with fuel to spare ends at the backstop
/// within a few ticks of it.
#[test]
fn the_backstop_is_a_deadline_on_the_clock_even_on_a_loaded_host() {
    let backstop = Duration::from_millis(1_500);
    let mut limits = common::small_limits(backstop);
    limits.fuel_per_task = 1 << 50;
    let sandbox = Sandbox::new(limits).unwrap();
    let module = task_wat("(loop (br 0)) i64.const 0", DONE_FULL, "");
    let r = {
        let _load = Load::start(2);
        run_module(&sandbox, &module, &mut Scripted(Ok("ok".into())))
    };
    assert_eq!(r.outcome, Outcome::WallClockTimeout);
    assert!(r.wall_time >= backstop, "{:?}", r.wall_time);
    assert!(
        r.wall_time < backstop + backstop / 10,
        "the backstop of {backstop:?} fired after {:?}",
        r.wall_time
    );
}
