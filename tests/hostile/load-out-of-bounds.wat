;; expect: trap (memory-out-of-bounds)
;; Reads past the end of its one page of memory.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (drop (i64.load (i32.const 65535)))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
