;; expect: trap (bad-signature)
;; Calls a function through the table with the wrong type.
(module
  (memory (export "memory") 1)
  (type $unit (func))
  (table 1 funcref)
  (elem (i32.const 0) $takes_one)
  {abi}
  (func $takes_one (param i32))
  (func (export "airlock_start") (param i32) (result i64)
    (call_indirect (type $unit) (i32.const 0))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
