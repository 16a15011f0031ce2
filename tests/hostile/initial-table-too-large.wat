;; expect: refused: module declares a table of 1000000 elements; the profile allows 1000
;; Declares a table of a million elements; the profile allows 1000.
(module
  (memory (export "memory") 1)
  (table 1000000 funcref)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
