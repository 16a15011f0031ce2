;; expect: turn-limit
;; max-turns: 4000000000
;; turns: 8
;; Claims four billion turns; the profile's max_turns (8) stops it.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $say))
  (func (export "airlock_step") (param i32) (result i64) (global.get $say)))
