;; expect: refused: required export "airlock_step" is missing
;; Everything but `airlock_step`.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $done)))
