;; expect: trap (table-out-of-bounds)
;; Calls through an index past the end of the table.
(module
  (memory (export "memory") 1)
  (type $unit (func))
  (table 1 funcref)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (call_indirect (type $unit) (i32.const 1000))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
