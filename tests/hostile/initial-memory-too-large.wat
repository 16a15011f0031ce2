;; expect: refused: module declares 65536000 bytes of initial memory; the profile allows 4194304
;; Declares 1000 pages (62.5 MiB) of initial memory; the profile allows 4 MiB.
(module
  (memory (export "memory") 1000)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
