;; expect: abi-violation (score-out-of-range)
;; Step::Done(2 000 000 ppm): more than full credit.
(module
  (memory (export "memory") 1)
  {abi}
  (data (i32.const 3000) "\01\80\89\7a")
  (func (export "airlock_start") (param i32) (result i64)
    (i64.const 0x00000bb800000004))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
