// The default suite, in suite order: one line per task.
//
//     "task-id" => crate_name { TaskType, SolverType };
//
// `crate_name` is the task's crate (its package name with `_` for `-`),
// which must also be a dependency in this package's Cargo.toml. The build
// script and the library both read this file, each with its own `suite!`.
suite! {
    "crypto-xor" => task_crypto_xor { XorTask, XorSolver };
    "crypto-password" => task_crypto_password { PasswordTask, PasswordSolver };
    "vuln-parser" => task_vuln_parser { ParserTask, ParserSolver };
    "web-sqli" => task_web_sqli { SqliTask, SqliSolver };
    "forensics-logs" => task_forensics_logs { LogsTask, LogsSolver };
    "knowledge-cwe" => task_knowledge_cwe { CweTask, CweSolver };
    "agentic-host" => task_agentic_host { HostTask, HostSolver };
    "agentic-recon" => task_agentic_recon { ReconTask, ReconSolver };
}
