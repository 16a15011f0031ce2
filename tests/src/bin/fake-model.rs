//! A model behind the exec protocol (`airlock-exec/1` and `/2`) for the end-to-end
//! tests: a real process that reads requests on stdin and misbehaves in the
//! ways a lab harness can. Every reply carries the request's `id`, as
//! `airlock-exec/1` requires, except where a mode says otherwise.
//! `fake-model MODE [ARG]`:
//!
//! - `echo`: replies `echo(N): LAST` — N messages received, LAST the last one.
//! - `error`: replies `{"error": "overloaded"}`.
//! - `garbage`: replies a line that is not JSON.
//! - `exit`: exits with status 3 on the first request, without replying.
//! - `exit-once FILE`: like `exit` when FILE does not exist (and creates it), else `echo`.
//! - `stall`: reads the request and never replies.
//! - `stall-once FILE`: like `stall` when FILE does not exist (and creates it), else `echo`.
//! - `huge MIB`: replies a line of MIB mebibytes, written in chunks, never ending it.
//! - `long N`: replies N bytes of `x`.
//! - `chatty`: writes to stderr (with an escape sequence) and a line for another
//!   request id before each reply.
//! - `reply-exit`: echoes, then exits at once (status 0) without reading again.
//! - `flood MIB`: echoes, then writes MIB mebibytes of well-formed lines for
//!   the request it just answered (16 KiB each), then goes on reading.
//! - `unasked`: echoes, then writes a line without an `id`, asked by nobody.
//! - `orphan FILE`: for each request, starts a grandchild that holds stdout
//!   open for 60 s and appends its pid to FILE; a process started while
//!   FILE did not exist then exits (status 3) without replying, later ones echo.
//! - `tools`: (protocol 2) answers a request ending with a user message by
//!   calling the first offered tool twice, once with the id `x1` and once
//!   with none, with `usage` and `reasoning`; any other request by `done`.
//! - `hold`: (the grandchild) sleeps 60 s, then exits.
//!
//! Every mode appends each request line to `$FAKE_MODEL_LOG` when set.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Write};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("echo", String::as_str);
    let arg = args.get(1).cloned().unwrap_or_default();
    if mode == "hold" {
        std::thread::sleep(core::time::Duration::from_secs(60));
        return;
    }
    // Decided once per process: the first process of an `orphan` run exits.
    let orphan_exits = mode == "orphan" && !Path::new(&arg).exists();
    let log = std::env::var_os("FAKE_MODEL_LOG");
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { return };
        if let Some(log) = &log {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap();
            writeln!(file, "{line}").unwrap();
        }
        let request: serde_json::Value = serde_json::from_str(&line).unwrap();
        let id = request["id"].as_u64().unwrap();
        let messages = request["messages"].as_array().unwrap();
        let last = messages
            .last()
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        let echo = || {
            serde_json::json!({ "id": id, "reply": format!("echo({}): {last}", messages.len()) })
                .to_string()
        };
        let first_time = |file: &str| {
            let path = Path::new(file);
            let first = !path.exists();
            if first {
                std::fs::write(path, b"").unwrap();
            }
            first
        };
        let reply = match mode {
            "echo" => echo(),
            "error" => serde_json::json!({ "id": id, "error": "overloaded" }).to_string(),
            "garbage" => "this is not JSON".to_owned(),
            "tools" if messages.last().is_some_and(|m| m["role"] == "user") => {
                let tool = request["tools"][0]["function"]["name"].clone();
                serde_json::json!({
                    "id": id,
                    "tool_calls": [
                        {"id": "x1", "type": "function", "function": {"name": tool, "arguments": "{\"command\":\"ls\"}"}},
                        {"type": "function", "function": {"name": tool, "arguments": {"command": "id"}}}
                    ],
                    "usage": {"prompt_tokens": 40, "completion_tokens": 9},
                    "reasoning": "exec-reasoning"
                })
                .to_string()
            }
            "tools" => serde_json::json!({ "id": id, "reply": "done" }).to_string(),
            "exit" => std::process::exit(3),
            "exit-once" if first_time(&arg) => std::process::exit(3),
            "stall" => stall(),
            "stall-once" if first_time(&arg) => stall(),
            "exit-once" | "stall-once" => echo(),
            "huge" => {
                let mib: usize = arg.parse().unwrap();
                let chunk = "y".repeat(1024 * 1024);
                let _ = stdout.write_all(br#"{"reply":""#);
                for _ in 0..mib {
                    if stdout.write_all(chunk.as_bytes()).is_err() {
                        // The runner stopped reading and killed us.
                        return;
                    }
                }
                let _ = stdout.flush();
                stall()
            }
            "long" => {
                let n: usize = arg.parse().unwrap();
                serde_json::json!({ "id": id, "reply": "x".repeat(n) }).to_string()
            }
            "reply-exit" => {
                let _ = writeln!(stdout, "{}", echo());
                let _ = stdout.flush();
                std::process::exit(0)
            }
            "flood" => {
                let mib: usize = arg.parse().unwrap();
                let _ = writeln!(stdout, "{}", echo());
                let line = serde_json::json!({ "id": id, "reply": "f".repeat(16 * 1024 - 32) })
                    .to_string();
                for _ in 0..mib * 64 {
                    if writeln!(stdout, "{line}").is_err() {
                        return;
                    }
                }
                if stdout.flush().is_err() {
                    return;
                }
                continue;
            }
            "unasked" => {
                let _ = writeln!(stdout, "{}", echo());
                r#"{"reply":"unasked"}"#.to_owned()
            }
            "orphan" => {
                // Left running on purpose: the runner must end it with the group.
                #[expect(
                    clippy::zombie_processes,
                    reason = "the grandchild is meant to outlive us"
                )]
                let grandchild = std::process::Command::new(std::env::current_exe().unwrap())
                    .arg("hold")
                    .stdin(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                let mut pids = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&arg)
                    .unwrap();
                writeln!(pids, "{}", grandchild.id()).unwrap();
                if orphan_exits {
                    std::process::exit(3);
                }
                echo()
            }
            "chatty" => {
                // With a terminal sequence the runner must not pass on.
                eprintln!("fake-model: thinking about request {id}\u{1b}[2J");
                writeln!(stdout, r#"{{"id":{},"reply":"stale"}}"#, id + 1000).unwrap();
                serde_json::json!({ "id": id, "reply": "fresh" }).to_string()
            }
            other => panic!("unknown mode {other}"),
        };
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return;
        }
    }
}

/// Never replies; the runner's timeout kills the process. Bounded anyway,
/// so a test that goes wrong cannot leave it running for long.
fn stall() -> ! {
    std::thread::sleep(core::time::Duration::from_secs(120));
    std::process::exit(4)
}
