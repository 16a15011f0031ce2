;; expect: abi-violation (bad-input-buffer)
;; Offers an input buffer 6 bytes before the end of memory for the 33-byte StartArgs.
(module
  (memory (export "memory") 1)
  {info}
  (func (export "airlock_abi_version") (result i32) (i32.const 2))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 65530))
  (func (export "airlock_info") (result i64) (i64.const {info-packed}))
  (func (export "airlock_start") (param i32) (result i64) (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
