;; expect: abi-violation (output-out-of-bounds)
;; A Step of 1000 bytes at 65000: it runs past the one 64 KiB page.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (i64.const 0x0000fde8000003e8))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
