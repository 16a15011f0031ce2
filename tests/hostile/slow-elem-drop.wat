;; expect: out-of-fuel
;; elem.drop of the same segment in a loop: a host call charged what it costs.
(module
  (memory (export "memory") 1)
  (elem $e func $f)
  (func $f)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (elem.drop $e)
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
