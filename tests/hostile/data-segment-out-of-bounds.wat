;; expect: refused: instantiating the module failed (start function or segments): trap (memory-out-of-bounds)
;; A data segment that ends past its memory fails instantiation.
(module
  (memory (export "memory") 1)
  {abi}
  (data (i32.const 65534) "\01\02\03\04")
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
