;; expect: refused: module imports "host" "memory"
;; An imported memory would be shared with the host: refused like any import.
(module
  (import "host" "memory" (memory 1))
  (export "memory" (memory 0))
  {abi}
  (func (export "airlock_start") (param i32) (result i64) (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
