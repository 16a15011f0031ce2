;; expect: refused: module does not validate: failed to parse WebAssembly module: threads must be enabled for shared memories
;; A shared memory needs threads, which are not compiled in.
(module
  (memory (export "memory") 1 1 shared)
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
