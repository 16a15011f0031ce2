;; expect: abi-violation (output-out-of-bounds)
;; Pointer 0xffffff00 and length 0x200: the end overflows 32 bits.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (i64.const 0xffffff0000000200))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
