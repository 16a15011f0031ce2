;; expect: trap (bad-conversion-to-integer)
;; A NaN truncated to an integer.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (drop (i32.trunc_f32_s (f32.div (f32.const 0) (f32.convert_i32_s (i32.sub (local.get 0) (local.get 0))))))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
