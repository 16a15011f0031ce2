;; expect: abi-violation (output-too-large)
;; A 16 MiB Say: longer than the profile's max_message_bytes, refused before
;; its bounds are even looked at.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (i64.const 0x0000000001000000))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
