;; expect: refused: required export "airlock_start" has type
;; `airlock_start` returns an i32 instead of a packed i64.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i32) (i32.const 0))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
