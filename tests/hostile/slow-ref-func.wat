;; expect: out-of-fuel
;; ref.func in a loop: a host call (the function reference is made by the host) charged what it costs.
(module
  (memory (export "memory") 1)
  (elem declare func $f)
  (func $f)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (drop (ref.func $f))
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
