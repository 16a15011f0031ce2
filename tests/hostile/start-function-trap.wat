;; expect: refused: instantiating the module failed (start function or segments): trap (unreachable)
;; The module's start function traps while it is being instantiated.
(module
  (memory (export "memory") 1)
  {abi}
  (func $boom (unreachable))
  (start $boom)
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
