;; expect: memory-limit
;; Grows its function table until refused: host memory, counted like memory.
(module
  (memory (export "memory") 1)
  (table 1 funcref)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $more
      (br_if $more
        (i32.ne (table.grow (ref.null func) (i32.const 100)) (i32.const -1))))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
