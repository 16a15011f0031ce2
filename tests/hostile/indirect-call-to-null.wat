;; expect: trap (indirect-call-to-null)
;; Calls through an empty table slot.
(module
  (memory (export "memory") 1)
  (type $unit (func))
  (table 4 funcref)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (call_indirect (type $unit) (i32.const 2))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
