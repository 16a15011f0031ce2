;; expect: out-of-fuel
;; A zero-element table.init from a passive segment in a loop: a host call charged what it costs.
(module
  (memory (export "memory") 1)
  (table 1 funcref)
  (elem $e func $f)
  (func $f)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (table.init $e (i32.const 0) (i32.const 0) (i32.const 0))
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
