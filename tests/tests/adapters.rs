//! The model adapters against real peers: `exec:` against a real process
//! (tests/src/bin/fake-model.rs) and `openai:` against a real HTTP server on
//! 127.0.0.1 (tests/src/http.rs). For every way a peer can fail, the run
//! completes, the outcome names the failure, and the bundle verifies.
//! Profiles with short timeouts keep every test short; nothing asserts on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use std::path::PathBuf;

use airlock_core::record::{Record, RunEndReason};
use airlock_tests::http::{Answer, TestServer};
use airlock_tests::*;

const FAKE_MODEL: &str = env!("CARGO_BIN_EXE_fake-model");

/// A temporary station: key, a one-turn suite, and a profile with a short
/// model-call timeout, small replies and `max_errors` consecutive errors.
struct Station {
    root: tempfile::TempDir,
    key: Key,
    suite: PathBuf,
    profile: PathBuf,
}

impl Station {
    fn new(says: &[&str], max_errors: u32) -> Station {
        Station::with(
            &[("asker.wasm", asking_module("asker", says))],
            max_errors,
            1_500,
        )
    }

    /// A station whose suite is `modules` and whose model calls time out
    /// after `timeout_ms`.
    fn with(modules: &[(&str, Vec<u8>)], max_errors: u32, timeout_ms: u64) -> Station {
        let root = tempfile::tempdir().unwrap();
        let key = keygen(root.path());
        let suite = suite_dir(root.path(), modules);
        let profile = profile_with(
            root.path(),
            "adapters",
            &[
                ("model_call_timeout_ms", &timeout_ms.to_string()),
                ("max_reply_bytes", "1_024"),
                ("max_consecutive_model_errors", &max_errors.to_string()),
            ],
        );
        Station {
            root,
            key,
            suite,
            profile,
        }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.root.path().join(format!("{name}.bundle"))
    }

    fn run(&self, agent: &str, name: &str, epochs: u32) -> Run {
        let mut run = Run::new(agent, &self.key, &self.out(name))
            .seed(seed(5))
            .arg("--unsigned-suite")
            .arg("--epochs")
            .arg(&epochs.to_string());
        run.suite = self.suite.to_str().unwrap().to_owned();
        run.profile = self.profile.to_str().unwrap().to_owned();
        run
    }

    /// Runs to the end with `--json`, asserts exit 0 and that the bundle
    /// verifies; returns the JSON output.
    #[track_caller]
    fn run_and_verify(&self, run: Run) -> serde_json::Value {
        let done = finish(run.command().arg("--json"));
        done.expect_code(0);
        let json = done.json();
        let (code, report) = verify_json(&run.out, &self.key.public);
        assert_eq!(code, 0, "the bundle must verify: {report}");
        json
    }

    fn file(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
}

fn outcomes(json: &serde_json::Value) -> Vec<String> {
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome_detail"].as_str().unwrap().to_owned())
        .collect()
}

fn exec_run(station: &Station, name: &str, epochs: u32, args: &[&str]) -> Run {
    let mut run = station.run(&format!("exec:{FAKE_MODEL}"), name, epochs);
    for arg in args {
        run = run.arg(&format!("--agent-arg={arg}"));
    }
    run
}

// ---------------------------------------------------------------- exec

#[test]
fn exec_agent_answers_every_turn_with_the_conversation_so_far() {
    let station = Station::new(&["first question", "second question"], 3);
    let log = station.file("requests.jsonl");
    let run = exec_run(&station, "echo", 2, &["echo"])
        .arg("--model")
        .arg("lab-model-7");
    let mut command = run.command();
    command.arg("--json").env("FAKE_MODEL_LOG", &log);
    let done = finish(&mut command);
    done.expect_code(0);
    let json = done.json();
    assert_eq!(outcomes(&json), ["done", "done"]);
    assert_eq!(json["agent"], "exec");
    assert_eq!(json["model"], "lab-model-7");
    let (code, report) = verify_json(&run.out, &station.key.public);
    assert_eq!(code, 0, "{report}");

    let requests: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(requests.len(), 4, "two turns for each of two epochs");
    let second = &requests[1];
    assert_eq!(second["protocol"], "airlock-exec/1");
    assert_eq!(second["task_id"], "asker");
    assert_eq!(second["epoch"], 0);
    assert_eq!(second["plan_index"], 0);
    assert_eq!(second["turn"], 1);
    assert_eq!(second["max_reply_bytes"], 1024);
    assert_eq!(
        second["messages"],
        serde_json::json!([
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "echo(1): first question"},
            {"role": "user", "content": "second question"},
        ])
    );
    assert_eq!(requests[3]["epoch"], 1);
    assert_eq!(requests[3]["plan_index"], 1);
    // One process serves the run: request ids keep counting.
    let ids: Vec<u64> = requests.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
}

#[test]
fn exec_agent_errors_garbage_and_crashes_are_model_errors_and_the_run_goes_on() {
    let station = Station::new(&["q"], 5);
    for (mode, expected) in [
        ("error", "model-error (server-error)"),
        ("garbage", "model-error (malformed-reply)"),
        ("exit", "model-error (transport)"),
    ] {
        let json = station.run_and_verify(exec_run(&station, mode, 2, &[mode]));
        assert_eq!(outcomes(&json), [expected, expected], "mode {mode}");
        assert_eq!(json["end"], "completed", "mode {mode}");
    }
}

#[test]
fn exec_agent_is_restarted_after_a_crash_and_after_a_timeout() {
    let station = Station::new(&["q"], 5);
    let marker = station.file("crashed");
    let json = station.run_and_verify(exec_run(
        &station,
        "exit-once",
        2,
        &["exit-once", marker.to_str().unwrap()],
    ));
    assert_eq!(outcomes(&json), ["model-error (transport)", "done"]);

    let marker = station.file("stalled");
    let json = station.run_and_verify(exec_run(
        &station,
        "stall-once",
        2,
        &["stall-once", marker.to_str().unwrap()],
    ));
    assert_eq!(outcomes(&json), ["model-error (timeout)", "done"]);
}

#[test]
fn exec_agent_reply_over_the_limit_is_cut_and_a_huge_line_is_never_read_whole() {
    let station = Station::new(&["q"], 5);
    // 5000 bytes with a 1024-byte reply limit: cut, and the task goes on.
    let json = station.run_and_verify(exec_run(&station, "long", 1, &["long", "5000"]));
    assert_eq!(outcomes(&json), ["done"]);
    // A 64 MiB line: the reader stops at its bound and the process is killed.
    let json = station.run_and_verify(exec_run(&station, "huge", 1, &["huge", "64"]));
    assert_eq!(outcomes(&json), ["model-error (malformed-reply)"]);
}

#[test]
fn exec_agent_skips_lines_for_other_requests_and_logs_stderr_escaped() {
    let station = Station::new(&["q"], 5);
    let run = exec_run(&station, "chatty", 1, &["chatty"]);
    let done = finish(run.command().arg("--json").arg("-v"));
    done.expect_code(0);
    assert_eq!(outcomes(&done.json()), ["done"]);
    assert!(
        done.stderr
            .contains("fake-model: thinking about request 0\\u{1b}[2J"),
        "the child's stderr goes to the log, escaped: {done}"
    );
    assert!(
        !done.stderr.contains('\u{1b}'),
        "no raw escape reaches the terminal"
    );
}

#[test]
fn exec_agent_output_between_requests_is_dropped_and_memory_stays_bounded() {
    // The agent answers the one question, then writes 128 MiB of
    // well-formed lines for the request it already answered, while the
    // runner is busy with a task that asks nothing (it runs out of fuel):
    // nothing reads those lines on behalf of a call, and none may pile up.
    let station = Station::with(
        &[
            ("a-asker.wasm", asking_module("asker", &["q"])),
            ("b-spinner.wasm", endless_loop_module("spinner")),
        ],
        5,
        1_500,
    );
    let json = station.run_and_verify(exec_run(&station, "flood", 1, &["flood", "128"]));
    assert_eq!(outcomes(&json), ["done", "out-of-fuel"]);
    let peak = json["peak_rss_bytes"]
        .as_u64()
        .expect("run --json reports peak_rss_bytes on this system");
    assert!(
        peak < 64 * 1024 * 1024,
        "the runner peaked at {} MiB while the agent wrote 128 MiB between requests",
        peak / (1024 * 1024)
    );
}

#[test]
fn exec_agent_that_replies_and_exits_is_restarted_for_the_next_call_every_time() {
    // Each process answers one request and exits at once: the next request
    // always finds it gone or going, and must always go to a fresh process,
    // never fail as a transport error depending on which came first.
    let station = Station::new(&["first question", "second question"], 3);
    for round in 0..3 {
        let log = station.file(&format!("requests-{round}.jsonl"));
        let run = exec_run(&station, &format!("reply-exit-{round}"), 3, &["reply-exit"]);
        let mut command = run.command();
        command.arg("--json").env("FAKE_MODEL_LOG", &log);
        let done = finish(&mut command);
        done.expect_code(0);
        assert_eq!(outcomes(&done.json()), ["done"; 3], "round {round}: {done}");
        let (code, report) = verify_json(&run.out, &station.key.public);
        assert_eq!(code, 0, "{report}");
        // Each request reached exactly one process, once.
        let ids: Vec<u64> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5], "round {round}");
    }
}

/// Whether process `pid` is still running (a zombie awaiting its reaper is not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn exec_agent_group_ends_with_it_so_a_grandchild_neither_stalls_a_call_nor_outlives_the_run() {
    // The first process starts a grandchild that holds stdout open for 60 s
    // and exits without replying; the second starts one too and answers.
    // The call to the first must end as soon as it exits (a transport
    // error, not the 20 s timeout), and no grandchild may survive the run.
    let station = Station::with(&[("asker.wasm", asking_module("asker", &["q"]))], 5, 20_000);
    let pids = station.file("grandchildren");
    let json = station.run_and_verify(exec_run(
        &station,
        "orphan",
        2,
        &["orphan", pids.to_str().unwrap()],
    ));
    assert_eq!(outcomes(&json), ["model-error (transport)", "done"]);
    let pids: Vec<u32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "one grandchild per request");
    if !std::path::Path::new("/proc/self/stat").exists() {
        eprintln!("SKIPPED the survivor check: no /proc on this system");
        return;
    }
    assert!(
        poll_until(Duration::from_secs(5), || pids.iter().all(|&p| !alive(p))),
        "a grandchild of the exec agent outlived the run: {:?}",
        pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
    );
}

#[test]
fn exec_agent_unasked_line_without_an_id_fails_the_next_call_every_time() {
    // After each answer the agent writes a line without an id that nobody
    // asked for. Whenever the runner reads it — before the next request or
    // during it — it breaks the protocol and fails the next call; it is
    // never taken as that call's reply.
    let station = Station::new(&["first question", "second question"], 5);
    for round in 0..3 {
        let run = exec_run(&station, &format!("unasked-{round}"), 2, &["unasked"]);
        let json = station.run_and_verify(run);
        assert_eq!(
            outcomes(&json),
            ["model-error (malformed-reply)"; 2],
            "round {round}"
        );
    }
}

#[test]
fn exec_agent_that_cannot_start_stops_the_run_before_it_begins() {
    let station = Station::new(&["q"], 5);
    let missing = station.file("no-such-model");
    let run = station.run(&format!("exec:{}", missing.display()), "missing", 1);
    let done = run.finish();
    done.expect_code(2);
    assert!(done.stderr.contains("no-such-model"), "{done}");
    assert!(!run.out.exists());
    let done = station
        .run("null", "stray", 1)
        .arg("--agent-arg=x")
        .finish();
    done.expect_code(2);
    assert!(done.stderr.contains("--agent-arg"), "{done}");
}

#[test]
fn consecutive_model_errors_end_the_run_cleanly_and_the_bundle_verifies() {
    let station = Station::new(&["q"], 2);
    let run = exec_run(&station, "abort", 5, &["error"]);
    let json = station.run_and_verify(run.clone());
    assert_eq!(outcomes(&json).len(), 2, "two results, then the run ends");
    assert_eq!(json["end"], "aborted-model-errors");
    let report = verify(&run.out, &station.key.public, &[]);
    assert!(
        report
            .stdout
            .contains("aborted after 2 of 5 planned results (2 consecutive model errors)"),
        "{report}"
    );
    let records = bundle_records(&run.out);
    match records.last().unwrap() {
        Record::RunEnd(end) => assert_eq!(end.reason, RunEndReason::AbortedModelErrors(2)),
        other => panic!("last record is {}", other.kind()),
    }
}

// ---------------------------------------------------------------- openai

fn openai_run(station: &Station, server: &TestServer, name: &str, epochs: u32) -> Run {
    station
        .run(&format!("openai:{}", server.url()), name, epochs)
        .arg("--model")
        .arg("test-model")
        .arg("--retry-backoff-ms")
        .arg("20")
}

#[test]
fn openai_agent_sends_pinned_sampling_and_records_the_served_model() {
    let station = Station::new(&["first question", "second question"], 3);
    let server = TestServer::always(&["test-model", "other"], Answer::Reply("an answer".into()));
    let run = openai_run(&station, &server, "ok", 1)
        .arg("--model-seed")
        .arg("7")
        .arg("--max-tokens")
        .arg("64");
    let json = station.run_and_verify(run.clone());
    assert_eq!(outcomes(&json), ["done"]);
    assert_eq!(json["model"], "test-model");
    assert_eq!(json["reported_model"], "test-model");
    assert_eq!(json["agent"], "openai temperature=0 seed=7 max_tokens=64");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let second = &requests[1];
    assert_eq!(second["model"], "test-model");
    assert_eq!(second["temperature"], 0.0);
    assert_eq!(second["seed"], 7);
    assert_eq!(second["max_tokens"], 64);
    assert_eq!(second["stream"], false);
    assert_eq!(
        second["messages"],
        serde_json::json!([
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "second question"},
        ])
    );
    // RunStart, signed, records what the server reported.
    match &bundle_records(&run.out)[0] {
        Record::RunStart(start) => {
            assert_eq!(start.model.reported_model, "test-model");
            assert_eq!(start.model.model, "test-model");
        }
        other => panic!("first record is {}", other.kind()),
    }
}

#[test]
fn openai_agent_retries_5xx_and_then_names_the_failure() {
    let station = Station::new(&["q"], 5);
    // Every call fails: each is tried 1 + 2 times, then is a server error.
    let server = TestServer::always(&["test-model"], Answer::Status(500));
    let json = station.run_and_verify(openai_run(&station, &server, "500", 2));
    assert_eq!(
        outcomes(&json),
        ["model-error (server-error)", "model-error (server-error)"]
    );
    assert_eq!(server.chat_calls(), 6, "three attempts per call");

    // Two failures then success: the retries carry the call through.
    let server = TestServer::start(&["test-model"], |n| {
        if n < 2 {
            Answer::Status(503)
        } else {
            Answer::Reply("ok".into())
        }
    });
    let json = station.run_and_verify(openai_run(&station, &server, "flaky", 1));
    assert_eq!(outcomes(&json), ["done"]);

    // A 4xx is not retried.
    let server = TestServer::always(&["test-model"], Answer::Status(404));
    let json = station.run_and_verify(openai_run(&station, &server, "404", 1));
    assert_eq!(outcomes(&json), ["model-error (server-error)"]);
    assert_eq!(server.chat_calls(), 1);
}

#[test]
fn openai_agent_error_matrix_stall_malformed_oversized_dropped() {
    let station = Station::new(&["q"], 5);
    for (name, answer, expected) in [
        ("stall", Answer::Stall, "model-error (timeout)"),
        (
            "malformed",
            Answer::Malformed,
            "model-error (malformed-reply)",
        ),
        // 64 MiB announced and streamed; the body bound for 1 KiB replies is ~1 MiB.
        (
            "oversized",
            Answer::Oversized(64 * 1024 * 1024),
            "model-error (malformed-reply)",
        ),
        ("dropped", Answer::Drop, "model-error (transport)"),
    ] {
        let server = TestServer::always(&["test-model"], answer);
        let json = station.run_and_verify(openai_run(&station, &server, name, 1));
        assert_eq!(outcomes(&json), [expected], "{name}");
        assert_eq!(json["end"], "completed", "{name}");
    }
}

#[test]
fn openai_agent_aborts_after_consecutive_failures_and_the_bundle_verifies() {
    let station = Station::new(&["q"], 2);
    let server = TestServer::always(&["test-model"], Answer::Drop);
    let run = openai_run(&station, &server, "abort", 4);
    let json = station.run_and_verify(run.clone());
    assert_eq!(json["end"], "aborted-model-errors");
    assert_eq!(outcomes(&json), ["model-error (transport)"; 2]);
}

#[test]
fn openai_agent_refuses_to_start_without_a_server_or_the_model() {
    let station = Station::new(&["q"], 2);
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let done = station
        .run(&format!("openai:{url}"), "down", 1)
        .arg("--model")
        .arg("m")
        .arg("--retries")
        .arg("0")
        .finish();
    done.expect_code(2);
    assert!(done.stderr.contains(&url), "{done}");
    assert!(!station.out("down").exists());

    let server = TestServer::always(&["a", "b"], Answer::Reply("x".into()));
    let done = openai_run(&station, &server, "unserved", 1).finish();
    done.expect_code(2);
    assert!(
        done.stderr
            .contains("does not serve \"test-model\" (it lists: a, b)"),
        "{done}"
    );

    let done = station
        .run(&format!("openai:{}", server.url()), "nomodel", 1)
        .finish();
    done.expect_code(2);
    assert!(done.stderr.contains("--model"), "{done}");

    let done = station
        .run("openai:https://127.0.0.1:1", "tls", 1)
        .arg("--model")
        .arg("m")
        .finish();
    done.expect_code(2);
    assert!(done.stderr.contains("https"), "{done}");
}

#[test]
fn openai_agent_asks_for_the_only_served_model_by_the_id_it_records() {
    // The server serves one model under another name and, like vLLM,
    // refuses requests naming anything else: every request must name the
    // id RunStart records, so that model is the one that answers.
    let station = Station::new(&["first question", "second question"], 2);
    let server = TestServer::always(&["/models/llama-3.gguf"], Answer::Reply("x".into()));
    let run = openai_run(&station, &server, "alias", 1);
    let json = station.run_and_verify(run.clone());
    assert_eq!(json["model"], "test-model");
    assert_eq!(json["reported_model"], "/models/llama-3.gguf");
    assert_eq!(outcomes(&json), ["done"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request["model"], "/models/llama-3.gguf");
    }
    match &bundle_records(&run.out)[0] {
        Record::RunStart(start) => assert_eq!(start.model.reported_model, "/models/llama-3.gguf"),
        other => panic!("first record is {}", other.kind()),
    }
}

#[test]
fn openai_agent_logs_why_a_call_was_refused_bounded_and_escaped() {
    // A hostile server's refusal: the reason, then a terminal sequence, a
    // forged log line and 100 KiB more.
    let station = Station::new(&["q"], 2);
    let body = format!(
        "model is loading, try later\u{1b}[2J\nERROR forged log line\n{}",
        "x".repeat(100 * 1024)
    );
    let server = TestServer::always(&["test-model"], Answer::StatusBody(400, body));
    let run = openai_run(&station, &server, "refused", 1);
    let done = finish(run.command().arg("--json"));
    done.expect_code(0);
    assert_eq!(outcomes(&done.json()), ["model-error (server-error)"]);
    let refusal = done
        .stderr
        .lines()
        .find(|l| l.contains("HTTP status 400"))
        .unwrap_or_else(|| panic!("no log line names the refusal: {done}"));
    assert!(
        refusal.contains(
            "HTTP status 400: model is loading, try later\\u{1b}[2J\\u{a}ERROR forged log line"
        ),
        "the log line carries the server's reason, escaped: {refusal}"
    );
    assert!(
        refusal.len() < 4096,
        "the excerpt is bounded: {} bytes",
        refusal.len()
    );
    assert!(
        !done.stderr.contains('\u{1b}'),
        "no raw escape reaches the terminal"
    );
    assert!(
        !done.stderr.lines().any(|l| l.starts_with("ERROR forged")),
        "no forged log line: {done}"
    );
}
