;; expect: refused: required export "memory" is a Global, not a Memory
;; Exports a global under the name `memory` (and its memory under another).
(module
  (memory (export "mem") 1)
  (global (export "memory") i32 (i32.const 0))
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
