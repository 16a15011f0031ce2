// The default suite, in suite order: one line per task.
//
//     "task-id" => crate_name { TaskType, SolverType };
//
// `crate_name` is the task's crate (its package name with `_` for `-`),
// which must also be a dependency in this package's Cargo.toml. The build
// script and the library both read this file, each with its own `suite!`.
suite! {
    "crypto-xor" => task_crypto_xor { XorTask, XorSolver };
    "agentic-shell" => task_agentic_shell { ShellTask, ShellSolver };
}
