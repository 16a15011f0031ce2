;; expect: trap (integer-overflow)
;; i32::MIN / (32 - the 33-byte input length, StartArgs: seed and tool mode): -1,
;; and the quotient does not fit an i32.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (drop (i32.div_s (i32.const 0x80000000) (i32.sub (i32.const 32) (local.get 0))))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
