;; expect: out-of-fuel
;; A zero-element table.fill in a loop: a host call charged what it costs.
(module
  (memory (export "memory") 1)
  (table 1 funcref)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (table.fill (i32.const 0) (ref.null func) (i32.const 0))
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
