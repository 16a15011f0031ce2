//! A model behind the exec protocol (`airlock-exec/1`) for the end-to-end
//! tests: a real process that reads requests on stdin and misbehaves in the
//! ways a lab harness can. `fake-model MODE [ARG]`:
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
//! - `chatty`: writes to stderr and a line for another request id before each reply.
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
            serde_json::json!({ "reply": format!("echo({}): {last}", messages.len()) }).to_string()
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
            "error" => r#"{"error":"overloaded"}"#.to_owned(),
            "garbage" => "this is not JSON".to_owned(),
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
            "chatty" => {
                eprintln!("fake-model: thinking about request {id}");
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
