;; expect: refused: module does not validate: failed to compile: * SIMD support is not enabled
;; SIMD results can differ by host; the deterministic engine does not enable it.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (drop (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 1 2 3 4)))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
