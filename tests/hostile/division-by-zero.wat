;; expect: trap (integer-division-by-zero)
;; Divides by the input length minus itself, so the compiler cannot fold it.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (drop (i32.div_u (i32.const 1) (i32.sub (local.get 0) (local.get 0))))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
