;; expect: memory-limit
;; Grows memory a page at a time until refused, then aborts the way a Rust
;; guest's allocator does when it gets no memory.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (unreachable))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
