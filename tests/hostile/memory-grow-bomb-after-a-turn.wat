;; expect: memory-limit
;; turns: 1
;; A well-behaved first turn, then a memory bomb in `step`.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $say))
  (func (export "airlock_step") (param i32) (result i64)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (unreachable)))
