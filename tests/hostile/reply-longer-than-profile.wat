;; expect: done
;; turns: 1
;; The model replies 100 bytes; the profile allows 64. Full credit only when
;; the ModelReply the task reads holds exactly 64 bytes and says it was cut
;; (postcard: length 64 in one byte, 64 text bytes, truncated = 1, then no
;; tool calls: 67 bytes).
(module
  (memory (export "memory") 1)
  {abi}
  (data (i32.const 3000) "\01\00")
  (func (export "airlock_start") (param i32) (result i64) (global.get $say))
  (func (export "airlock_step") (param i32) (result i64)
    (if (result i64)
      (i32.and
        (i32.and
          (i32.eq (local.get 0) (i32.const 67))
          (i32.eq (i32.load8_u (i32.const 4096)) (i32.const 64)))
        (i32.eq (i32.load8_u (i32.const 4161)) (i32.const 1)))
      (then (global.get $done))
      (else (i64.const 0x00000bb800000002)))))
