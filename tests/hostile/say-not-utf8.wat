;; expect: abi-violation (undecodable-output)
;; Step::Say whose 2 text bytes are \ff\fe: not UTF-8, so not a String.
(module
  (memory (export "memory") 1)
  {abi}
  (data (i32.const 3000) "\00\02\ff\fe")
  (func (export "airlock_start") (param i32) (result i64)
    (i64.const 0x00000bb800000004))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
