;; expect: turn-limit
;; max-turns: 3
;; turns: 3
;; Says something after every reply and never ends: its own max_turns (3) stops it.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $say))
  (func (export "airlock_step") (param i32) (result i64) (global.get $say)))
