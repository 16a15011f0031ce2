;; expect: refused: module speaks task ABI version 3; this runner speaks versions 1 to 2
;; `airlock_abi_version` returns 3.
(module
  (memory (export "memory") 1)
  {info}
  (func (export "airlock_abi_version") (result i32) (i32.const 3))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 4096))
  (func (export "airlock_info") (result i64) (i64.const {info-packed}))
  (func (export "airlock_start") (param i32) (result i64) (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
