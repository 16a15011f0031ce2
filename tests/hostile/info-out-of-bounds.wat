;; expect: refused: airlock_info failed: abi-violation (output-out-of-bounds)
;; `airlock_info` points past the end of memory.
(module
  (memory (export "memory") 1)
  (func (export "airlock_abi_version") (result i32) (i32.const 1))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 4096))
  (func (export "airlock_info") (result i64) (i64.const 0xfffffff000000010))
  (func (export "airlock_start") (param i32) (result i64) (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
