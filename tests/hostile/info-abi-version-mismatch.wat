;; expect: refused: module speaks task ABI version 7; this runner speaks versions 1 to 2
;; The function says 1, the TaskInfo says 7.
(module
  (memory (export "memory") 1)
  (data (i32.const 3000) "\07\01x\01\01X\04\00\01\01d")
  (func (export "airlock_abi_version") (result i32) (i32.const 1))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 4096))
  (func (export "airlock_info") (result i64) (i64.const 0x00000bb80000000b))
  (func (export "airlock_start") (param i32) (result i64) (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
