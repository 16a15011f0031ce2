;; expect: out-of-fuel
;; A zero-byte memory.fill in a loop: a call into the host each time, charged what it costs, so fuel, not the backstop, ends it on every host.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (memory.fill (i32.const 0) (i32.const 0) (i32.const 0))
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
