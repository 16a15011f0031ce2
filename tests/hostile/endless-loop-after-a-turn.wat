;; expect: out-of-fuel
;; turns: 1
;; Asks the model once, then spins in `step`: fuel spans start and every step.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $say))
  (func (export "airlock_step") (param i32) (result i64)
    (loop $forever (br $forever))
    (unreachable)))
