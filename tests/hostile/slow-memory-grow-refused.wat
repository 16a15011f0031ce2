;; expect: out-of-fuel
;; memory.grow past the profile's memory, refused each time and ignored: the resource limiter is asked every time; fuel ends it.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $forever
      (drop (memory.grow (i32.const 65535)))
      (br $forever))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
