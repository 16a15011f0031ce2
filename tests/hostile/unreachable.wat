;; expect: trap (unreachable)
;; What a Rust guest's panic compiles to: the SDK's panic handler is
;; `core::arch::wasm32::unreachable()`, reached here through a call chain as
;; from a failed bounds check.
(module
  (memory (export "memory") 1)
  {abi}
  (func $panic_bounds_check (unreachable))
  (func $index (param i32) (result i32)
    (if (i32.ge_u (local.get 0) (i32.const 8)) (then (call $panic_bounds_check)))
    (i32.load8_u (local.get 0)))
  (func (export "airlock_start") (param i32) (result i64)
    (drop (call $index (i32.const 9)))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
