;; expect: refused: module does not validate: failed to parse WebAssembly module: multiple memories
;; Multi-memory is off: a second memory is invalid.
(module
  (memory (export "memory") 1)
  (memory $other 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
