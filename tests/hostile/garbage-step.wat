;; expect: abi-violation (undecodable-output)
;; A Step with variant index 7, which does not exist.
(module
  (memory (export "memory") 1)
  {abi}
  (data (i32.const 3000) "\07\00")
  (func (export "airlock_start") (param i32) (result i64)
    (i64.const 0x00000bb800000002))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
