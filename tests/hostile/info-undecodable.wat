;; expect: refused: airlock_info failed: abi-violation (undecodable-output)
;; `airlock_info` points at four bytes that are no TaskInfo.
(module
  (memory (export "memory") 1)
  (data (i32.const 3000) "\01\ff\ff\ff")
  (func (export "airlock_abi_version") (result i32) (i32.const 1))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 4096))
  (func (export "airlock_info") (result i64) (i64.const 0x00000bb800000004))
  (func (export "airlock_start") (param i32) (result i64) (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
