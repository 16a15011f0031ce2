;; expect: out-of-fuel
;; A zero-byte memory.copy in a loop: a host call charged what it costs.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (memory.copy (i32.const 0) (i32.const 0) (i32.const 0))
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
