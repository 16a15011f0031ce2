;; expect: stack-overflow
;; Unbounded recursion; the profile's WebAssembly stack limit ends it.
(module
  (memory (export "memory") 1)
  {abi}
  (func $down (param i32) (result i32)
    (call $down (i32.add (local.get 0) (i32.const 1))))
  (func (export "airlock_start") (param i32) (result i64)
    (drop (call $down (i32.const 0)))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
