;; expect: abi-violation (undecodable-output)
;; A valid Step::Done followed by one more byte: messages must fill their bytes exactly.
(module
  (memory (export "memory") 1)
  {abi}
  (data (i32.const 3000) "\01\c0\84\3d\00")
  (func (export "airlock_start") (param i32) (result i64)
    (i64.const 0x00000bb800000005))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
