;; expect: out-of-fuel
;; table.set of a fresh ref.func in a loop: the host call of ref.func charged what it costs.
(module
  (memory (export "memory") 1)
  (table 1 funcref)
  (elem declare func $f)
  (func $f)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (table.set (i32.const 0) (ref.func $f))
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
