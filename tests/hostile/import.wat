;; expect: refused: module imports "env" "exfiltrate"; task modules must have no imports
;; Any import is a way out of the sandbox: refused before compiling, naming it.
(module
  (import "env" "exfiltrate" (func $exfiltrate (param i32 i32)))
  (memory (export "memory") 1)
  {abi}
  (func (export "airlock_start") (param i32) (result i64)
    (call $exfiltrate (i32.const 0) (i32.const 65536))
    (global.get $done))
  (func (export "airlock_step") (param i32) (result i64) (unreachable)))
