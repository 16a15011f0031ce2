;; expect: refused: instantiating the module failed (start function or segments): out-of-fuel
;; The module's start function never returns.
(module
  (memory (export "memory") 1)
  {abi}
  (func $spin (loop $forever (br $forever)))
  (start $spin)
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
