;; expect: out-of-fuel
;; memory.grow by 0 pages in a loop: a host call that changes nothing, charged what it costs.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (drop (memory.grow (i32.const 0)))
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
