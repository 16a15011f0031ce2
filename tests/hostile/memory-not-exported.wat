;; expect: refused: required export "memory" is missing
;; Keeps its memory to itself: the host has nowhere to read outputs from.
(module
  (memory 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
