;; expect: refused: airlock_info failed: out-of-fuel
;; `airlock_info` never returns; the probe runs under the task's fuel budget.
(module
  (memory (export "memory") 1)
  (func (export "airlock_abi_version") (result i32) (i32.const 1))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 4096))
  (func (export "airlock_info") (result i64) (loop $forever (br $forever)) (unreachable))
  (func (export "airlock_start") (param i32) (result i64) (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
