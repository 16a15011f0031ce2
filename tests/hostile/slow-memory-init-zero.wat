;; expect: out-of-fuel
;; A zero-byte memory.init from a passive segment in a loop: a host call charged what it costs.
(module
  (memory (export "memory") 1)
  (data $d "x")
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (memory.init $d (i32.const 0) (i32.const 0) (i32.const 0))
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
