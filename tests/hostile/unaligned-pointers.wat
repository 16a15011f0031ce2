;; expect: done
;; Unaligned is not wrong: the input buffer at an odd address and the Done
;; step at an odd address are taken as they are.
(module
  (memory (export "memory") 1)
  {info}
  (data (i32.const 3001) "\01\c0\84\3d")
  (func (export "airlock_abi_version") (result i32) (i32.const 2))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 4097))
  (func (export "airlock_info") (result i64) (i64.const {info-packed}))
  (func (export "airlock_start") (param i32) (result i64)
    (i64.const 0x00000bb900000004))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
