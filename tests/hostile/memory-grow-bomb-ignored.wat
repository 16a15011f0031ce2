;; expect: memory-limit
;; Asks for 4 GiB at once, ignores the refusal and writes past its memory:
;; the refusal, not the out-of-bounds store it leads to, is the cause.
(module
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (drop (memory.grow (i32.const 65535)))
    (i32.store (i32.const 0x7fff0000) (i32.const 1))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
