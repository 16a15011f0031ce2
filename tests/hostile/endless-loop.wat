;; expect: out-of-fuel
;; `start` spins forever; fuel is the deterministic CPU budget that ends it.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
