//! Native tool calling through the model adapters, against real peers: the
//! `openai:` adapter against a real HTTP server on 127.0.0.1
//! (tests/src/http.rs) and `exec:` against a real process speaking protocol
//! 2 (tests/src/bin/fake-model.rs), driving task modules that declare a
//! system prompt and tools. What the requests carry is read off the
//! server's log; what the task saw is read off the sealed transcript
//! (`airlock disclose`); every bundle must verify, and tool-call bundles
//! must replay (`verify --replay`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use airlock_core::abi::{
    Difficulty, Prompt, Step, TaskInfo, ToolCallProblem, ToolMode, ToolResult, ToolSpec,
};
use airlock_core::transcript::Transcript;
use airlock_tests::http::{Answer, TestServer};
use airlock_tests::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

const FAKE_MODEL: &str = env!("CARGO_BIN_EXE_fake-model");

const SYSTEM_PROMPT: &str = "You are on a test host. Use the tools.";
const BASH_SCHEMA: &str = r#"{"type":"object","properties":{"command":{"type":"string"}},"required":["command"],"additionalProperties":false}"#;
const SUBMIT_SCHEMA: &str = r#"{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"],"additionalProperties":false}"#;

/// The TaskInfo of a test task with the fixed `bash` and `submit` tools.
fn tool_task_info(id: &str, max_turns: u32) -> Vec<u8> {
    let info = TaskInfo {
        abi_version: airlock_core::abi::ABI_VERSION,
        id: id.to_owned(),
        version: 1,
        title: format!("tool test {id}"),
        category: "tooling".to_owned(),
        difficulty: Difficulty::Easy,
        max_turns,
        description: "a task that offers bash and submit".to_owned(),
        system_prompt: SYSTEM_PROMPT.to_owned(),
        tools: vec![
            ToolSpec {
                name: "bash".into(),
                description: "Runs one command line.".into(),
                parameters: BASH_SCHEMA.into(),
            },
            ToolSpec {
                name: "submit".into(),
                description: "Submits the answer.".into(),
                parameters: SUBMIT_SCHEMA.into(),
            },
        ],
    };
    postcard::to_allocvec(&info).unwrap()
}

fn step(step: &Step) -> Vec<u8> {
    postcard::to_allocvec(step).unwrap()
}

/// A task that asks once and ends with full credit on any reply.
fn one_turn_module(id: &str) -> Vec<u8> {
    scripted_module(
        &tool_task_info(id, 1),
        &[step(&Step::Say("find the flag".into()))],
    )
}

/// A task that asks, answers the two calls of the reply (ids `first` and
/// `second`) with results, then ends on the next reply.
fn results_module(id: &str, first: &str, second: &str) -> Vec<u8> {
    let results = vec![
        ToolResult {
            call_id: first.into(),
            content: "out-1".into(),
        },
        ToolResult {
            call_id: second.into(),
            content: "out-2".into(),
        },
    ];
    scripted_module(
        &tool_task_info(id, 2),
        &[
            step(&Step::Say("find the flag".into())),
            step(&Step::ToolResults(results)),
        ],
    )
}

struct Station {
    root: tempfile::TempDir,
    key: Key,
    /// The suite authority: replay checks the suite level, which needs a
    /// signed suite directory.
    authority: Key,
    suite: PathBuf,
    profile: PathBuf,
}

impl Station {
    fn new(modules: &[(&str, Vec<u8>)]) -> Station {
        let root = tempfile::tempdir().unwrap();
        let key = keygen(root.path());
        let authority = keygen_named(root.path(), "authority");
        let suite = suite_dir(root.path(), modules);
        finish(
            airlock()
                .args(["suite", "build"])
                .arg(&suite)
                .arg("--key")
                .arg(&authority.private),
        )
        .expect_code(0);
        let profile = profile_with(
            root.path(),
            "tools",
            &[
                ("model_call_timeout_ms", "5_000"),
                ("max_reply_bytes", "1_024"),
            ],
        );
        Station {
            root,
            key,
            authority,
            suite,
            profile,
        }
    }

    fn run(&self, agent: &str, name: &str) -> Run {
        let mut run = Run::new(
            agent,
            &self.key,
            &self.root.path().join(format!("{name}.bundle")),
        )
        .seed(seed(9))
        .arg("--suite-trust")
        .arg(self.authority.public.to_str().unwrap())
        .arg("--sandboxes")
        .arg("1");
        run.suite = self.suite.to_str().unwrap().to_owned();
        run.profile = self.profile.to_str().unwrap().to_owned();
        run
    }

    /// Runs with `--json`, asserts exit 0 and that the bundle verifies and
    /// replays from the sealed store; returns the results.
    #[track_caller]
    fn run_verify_replay(&self, run: &Run) -> Vec<TaskRow> {
        let done = finish(run.command().arg("--json"));
        done.expect_code(0);
        let rows = task_rows(&done.json());
        let (code, report) = verify_json(&run.out, &self.key.public);
        assert_eq!(code, 0, "the bundle must verify: {report}");
        let transcript_key = self.root.path().join("evaluator.transcript-key");
        let replayed = verify(
            &run.out,
            &self.key.public,
            &[
                "--replay",
                "--transcript-key",
                transcript_key.to_str().unwrap(),
                "--profile",
                self.profile.to_str().unwrap(),
                "--suite",
                self.suite.to_str().unwrap(),
                "--suite-trust",
                self.authority.public.to_str().unwrap(),
                "--json",
            ],
        );
        replayed.expect_code(0);
        let verdict = replayed.json();
        assert!(
            levels(&verdict)
                .iter()
                .any(|(level, status)| level == "replay" && status == "passed"),
            "the bundle must replay: {verdict}"
        );
        rows
    }

    /// The sealed transcript of `task`, disclosed.
    fn transcript(&self, bundle: &Path, task: &str) -> Transcript {
        let file = self.root.path().join(format!("{task}.disclosure.json"));
        finish(
            airlock()
                .arg("disclose")
                .arg(bundle)
                .args(["--task", task])
                .arg("--key")
                .arg(&self.key.private)
                .arg("--out")
                .arg(&file),
        )
        .expect_code(0);
        let disclosure: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let bytes = BASE64
            .decode(disclosure["transcript_postcard"].as_str().unwrap())
            .unwrap();
        postcard::from_bytes(&bytes).unwrap()
    }
}

fn completion(message: serde_json::Value) -> Answer {
    Answer::Completion(serde_json::json!({
        "id": "chatcmpl-t",
        "object": "chat.completion",
        "model": "tool-model",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    }))
}

fn call(id: &str, name: &str, arguments: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
}

fn openai_agent(server: &TestServer) -> String {
    format!("openai:{}", server.url())
}

// ------------------------------------------------------------ error matrix

/// Each way a tool-calling reply can go wrong ends the task in a named
/// outcome or reaches it as a defined problem on the call, the run
/// completes, and the bundle verifies and replays.
#[test]
fn the_error_matrix_of_tool_calls_ends_in_named_outcomes_and_verifies() {
    struct Case {
        name: &'static str,
        message: serde_json::Value,
        /// (name, problem) of each call the task saw.
        calls: Vec<(&'static str, Option<&'static str>)>,
        text: &'static str,
    }
    let cases = vec![
        Case {
            name: "undeclared-tool",
            message: serde_json::json!({"role": "assistant", "content": null,
                "tool_calls": [call("c1", "python", r#"{"code":"1"}"#)]}),
            calls: vec![("python", Some("undeclared-tool"))],
            text: "",
        },
        Case {
            name: "arguments-not-json",
            message: serde_json::json!({"role": "assistant", "content": null,
                "tool_calls": [call("c1", "bash", "ls -la")]}),
            calls: vec![("bash", Some("arguments-not-json"))],
            text: "",
        },
        Case {
            name: "arguments-against-schema",
            message: serde_json::json!({"role": "assistant", "content": null,
                "tool_calls": [call("c1", "bash", r#"{"cmd":"ls"}"#)]}),
            calls: vec![("bash", Some("arguments-against-schema"))],
            text: "",
        },
        Case {
            name: "text-and-call",
            message: serde_json::json!({"role": "assistant", "content": "Let me look.",
                "tool_calls": [call("c1", "bash", r#"{"command":"ls"}"#)]}),
            calls: vec![("bash", None)],
            text: "Let me look.",
        },
        Case {
            name: "parallel-calls",
            message: serde_json::json!({"role": "assistant",
                "tool_calls": [call("c1", "bash", r#"{"command":"ls"}"#),
                               call("c2", "bash", r#"{"command":"id"}"#),
                               call("c3", "submit", r#"{"answer":"flag{x}"}"#)]}),
            calls: vec![("bash", None), ("bash", None), ("submit", None)],
            text: "",
        },
    ];
    for case in cases {
        let station = Station::new(&[("t.wasm", one_turn_module(case.name))]);
        let message = case.message.clone();
        let server =
            TestServer::start_with(&["tool-model"], move |_, _| completion(message.clone()));
        let run = station
            .run(&openai_agent(&server), case.name)
            .arg("--model")
            .arg("tool-model");
        let rows = station.run_verify_replay(&run);
        assert_eq!(rows.len(), 1, "{}", case.name);
        assert_eq!(rows[0].outcome, "done", "{}: {rows:?}", case.name);
        let transcript = station.transcript(&run.out, case.name);
        assert_eq!(transcript.turns.len(), 1, "{}", case.name);
        let reply = &transcript.turns[0].reply;
        assert_eq!(reply.text, case.text, "{}", case.name);
        let seen: Vec<(&str, Option<&str>)> = reply
            .tool_calls
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.problem.as_ref().map(ToolCallProblem::name),
                )
            })
            .collect();
        assert_eq!(seen, case.calls, "{}", case.name);
        let ids: Vec<&str> = reply.tool_calls.iter().map(|c| c.id.as_str()).collect();
        let expected: Vec<String> = (1..=case.calls.len()).map(|i| format!("c{i}")).collect();
        assert_eq!(ids, expected, "{}: the server's ids are kept", case.name);
        let usage = transcript.turns[0].usage.as_ref().unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (100, 10));
    }
}

/// A server that answers a request offering tools with 400 does not do
/// function calling: the task ends `model-error` of kind `tools-refused`
/// after one call (not retried), and the run completes and verifies.
#[test]
fn a_server_that_refuses_tools_ends_the_task_tools_refused_without_retrying() {
    let station = Station::new(&[("t.wasm", one_turn_module("refused"))]);
    let server = TestServer::start_with(&["tool-model"], |_, request| {
        if request.get("tools").is_some() {
            Answer::StatusBody(
                400,
                r#"{"error":{"message":"\"auto\" tool choice requires --enable-auto-tool-choice"}}"#
                    .into(),
            )
        } else {
            Answer::Reply("no tools".into())
        }
    });
    let run = station
        .run(&openai_agent(&server), "refused")
        .arg("--model")
        .arg("tool-model");
    let done = finish(run.command().arg("--json"));
    done.expect_code(0);
    let json = done.json();
    let result = &json["results"][0];
    assert_eq!(result["outcome"], "model-error", "{json}");
    assert!(
        result["outcome_detail"]
            .as_str()
            .unwrap()
            .contains("tools-refused"),
        "{json}"
    );
    assert_eq!(server.chat_calls(), 1, "a refusal of tools is not retried");
    assert!(
        done.stderr.contains("--tool-mode text"),
        "the log says what to do: {}",
        done.stderr
    );
    let (code, report) = verify_json(&run.out, &station.key.public);
    assert_eq!(code, 0, "{report}");

    // The same server in text mode answers: no tools are sent.
    let text = station
        .run(&openai_agent(&server), "refused-text")
        .arg("--model")
        .arg("tool-model")
        .arg("--tool-mode")
        .arg("text");
    let rows = station.run_verify_replay(&text);
    assert_eq!(rows[0].outcome, "done");
}

// ------------------------------------------------------ what requests carry

/// Requests carry the system prompt as a `system` message, the tools as
/// OpenAI function specs with their schemas as JSON, `tool_choice: auto`,
/// and after tool calls the assistant's `tool_calls` and one `role: tool`
/// message per result naming its call; a call the server sent without an
/// id gets `call-<turn>-<i>`, which the task's result names. The reply's
/// reasoning is sealed in the transcript and never sent back, and a reply
/// with tool calls and no `content` key at all is taken.
#[test]
fn requests_carry_system_tools_and_tool_messages_and_reasoning_stays_sealed() {
    let station = Station::new(&[("t.wasm", results_module("shape", "c1", "call-0-1"))]);
    let server = TestServer::start_with(&["tool-model"], |n, _| match n {
        0 => completion(serde_json::json!({
            "role": "assistant",
            "reasoning_content": "secret-thoughts-0",
            "tool_calls": [
                call("c1", "bash", r#"{"command":"ls"}"#),
                {"type": "function", "function": {"name": "bash", "arguments": {"command": "id"}}}
            ]
        })),
        _ => completion(serde_json::json!({
            "role": "assistant", "content": "all done", "reasoning": "secret-thoughts-1"
        })),
    });
    let run = station
        .run(&openai_agent(&server), "shape")
        .arg("--model")
        .arg("tool-model")
        .arg("--max-tokens")
        .arg("64");
    let rows = station.run_verify_replay(&run);
    assert_eq!(rows[0].outcome, "done", "{rows:?}");
    assert_eq!(rows[0].turns, 2);

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(
        first["messages"],
        serde_json::json!([
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "find the flag"}
        ])
    );
    assert_eq!(first["tool_choice"], "auto");
    assert_eq!(first["max_tokens"], 64);
    assert_eq!(first["max_completion_tokens"], 64);
    let tools = first["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "bash");
    assert_eq!(
        tools[0]["function"]["description"],
        "Runs one command line."
    );
    assert_eq!(
        tools[0]["function"]["parameters"],
        serde_json::from_str::<serde_json::Value>(BASH_SCHEMA).unwrap(),
        "the schema goes as JSON, not as a string"
    );
    assert_eq!(tools[1]["function"]["name"], "submit");

    let second = &requests[1];
    assert_eq!(second["tools"], first["tools"]);
    assert_eq!(
        second["messages"],
        serde_json::json!([
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "find the flag"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"ls\"}"}},
                {"id": "call-0-1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"id\"}"}}
            ]},
            {"role": "tool", "content": "out-1", "tool_call_id": "c1"},
            {"role": "tool", "content": "out-2", "tool_call_id": "call-0-1"}
        ])
    );
    for request in &requests {
        assert!(
            !request.to_string().contains("secret-thoughts"),
            "reasoning is never sent back: {request}"
        );
    }

    let transcript = station.transcript(&run.out, "shape");
    assert_eq!(transcript.turns.len(), 2);
    assert_eq!(transcript.turns[0].reasoning, "secret-thoughts-0");
    assert_eq!(transcript.turns[1].reasoning, "secret-thoughts-1");
    let ids: Vec<&str> = transcript.turns[0]
        .reply
        .tool_calls
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, ["c1", "call-0-1"]);
    assert!(matches!(&transcript.turns[1].prompt, Prompt::ToolResults(r) if r.len() == 2));
    assert_eq!(transcript.turns[1].reply.text, "all done");
}

/// In text mode the same task gets neither `tools` nor `tool_choice`, and
/// still its system prompt.
#[test]
fn text_mode_sends_no_tools() {
    let station = Station::new(&[("t.wasm", one_turn_module("plain"))]);
    let server = TestServer::start_with(&["tool-model"], |_, _| Answer::Reply("ls".into()));
    let run = station
        .run(&openai_agent(&server), "plain")
        .arg("--model")
        .arg("tool-model")
        .arg("--tool-mode")
        .arg("text");
    let rows = station.run_verify_replay(&run);
    assert_eq!(rows[0].outcome, "done");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].get("tools").is_none(), "{}", requests[0]);
    assert!(requests[0].get("tool_choice").is_none(), "{}", requests[0]);
    assert_eq!(requests[0]["messages"][0]["role"], "system");
}

// ------------------------------------------------------------ exec, v2

/// The exec agent speaks protocol 2 to a task with a system prompt and
/// tools: requests carry them and the tool messages in the openai shape,
/// answers carry tool calls (with and without ids), usage and reasoning.
#[test]
fn exec_protocol_2_carries_tools_and_tool_calls_both_ways() {
    let station = Station::new(&[("t.wasm", results_module("exec2", "x1", "call-0-1"))]);
    let log = station.root.path().join("requests.jsonl");
    let run = station
        .run(&format!("exec:{FAKE_MODEL}"), "exec2")
        .arg("--agent-arg=tools");
    let mut command = run.command();
    command.arg("--json").env("FAKE_MODEL_LOG", &log);
    let done = finish(&mut command);
    done.expect_code(0);
    let rows = task_rows(&done.json());
    assert_eq!(rows[0].outcome, "done", "{rows:?}");
    assert_eq!(rows[0].turns, 2);
    let requests: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["protocol"], "airlock-exec/2");
    assert_eq!(requests[0]["messages"][0]["content"], SYSTEM_PROMPT);
    assert_eq!(requests[0]["tools"][0]["function"]["name"], "bash");
    let messages = requests[1]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5);
    assert_eq!(messages[2]["tool_calls"][0]["id"], "x1");
    assert_eq!(messages[2]["tool_calls"][1]["id"], "call-0-1");
    assert_eq!(
        messages[2]["tool_calls"][1]["function"]["arguments"],
        "{\"command\":\"id\"}"
    );
    assert_eq!(messages[3]["tool_call_id"], "x1");
    assert_eq!(messages[4]["tool_call_id"], "call-0-1");
    assert!(!requests[1].to_string().contains("exec-reasoning"));

    let (code, report) = verify_json(&run.out, &station.key.public);
    assert_eq!(code, 0, "{report}");
    let transcript = station.transcript(&run.out, "exec2");
    assert_eq!(transcript.turns[0].reasoning, "exec-reasoning");
    let usage = transcript.turns[0].usage.as_ref().unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (40, 9));
    assert_eq!(transcript.turns[1].usage, None);
}

// ------------------------------------------- the agentic tasks, both modes

/// The reference solver of one task behind the chat-completions API: each
/// request's last user message or trailing tool results become the
/// solver's prompt, and its reply goes back as a completion, tool calls
/// and all. A request with no assistant message starts a new conversation.
fn solver_server(task: &'static str, mode: ToolMode) -> TestServer {
    let solver: Mutex<Option<Box<dyn airlock_task_sdk::Solver>>> = Mutex::new(None);
    let calls = Mutex::new(0u32);
    TestServer::start_with(&["solver-model"], move |_, request| {
        let messages = request["messages"].as_array().unwrap();
        let mut solver = solver.lock().unwrap();
        if !messages.iter().any(|m| m["role"] == "assistant") {
            *solver = airlock_default_suite::reference_solver(task);
        }
        let results: Vec<ToolResult> = messages
            .iter()
            .rev()
            .take_while(|m| m["role"] == "tool")
            .map(|m| ToolResult {
                call_id: m["tool_call_id"].as_str().unwrap().to_owned(),
                content: m["content"].as_str().unwrap().to_owned(),
            })
            .collect();
        let prompt = if results.is_empty() {
            let last = messages.last().unwrap();
            Prompt::Text(last["content"].as_str().unwrap().to_owned())
        } else {
            Prompt::ToolResults(results.into_iter().rev().collect())
        };
        let reply = solver.as_mut().unwrap().respond(&prompt, mode);
        let mut counter = calls.lock().unwrap();
        let tool_calls: Vec<serde_json::Value> = reply
            .tool_calls
            .iter()
            .map(|c| {
                *counter += 1;
                call(&format!("srv-{counter}"), &c.name, &c.arguments)
            })
            .collect();
        let mut message = serde_json::json!({"role": "assistant", "content": reply.text});
        if !tool_calls.is_empty() {
            message["tool_calls"] = tool_calls.into();
        }
        completion(message)
    })
}

/// A scripted model that solves agentic-host and agentic-recon through
/// `bash`/`submit` tool calls scores full credit; the same run in
/// `--tool-mode text` with the text-scripted model scores the same; both
/// bundles verify and replay.
#[test]
fn the_agentic_tasks_score_full_credit_through_tool_calls_and_through_text() {
    let root = tempfile::tempdir().unwrap();
    let authority = keygen_named(root.path(), "authority");
    let exported = root.path().join("exported");
    export_signed_default_suite(&exported, &authority);
    for task in ["agentic-host", "agentic-recon"] {
        let file = format!("task_{}.wasm", task.replace('-', "_"));
        let module = std::fs::read(exported.join(&file)).unwrap();
        let station = Station::new(&[(&file, module)]);
        let mut scores = Vec::new();
        for mode in [ToolMode::Native, ToolMode::Text] {
            let server = solver_server(task, mode);
            let run = station
                .run(&openai_agent(&server), &format!("{task}-{}", mode.name()))
                .arg("--model")
                .arg("solver-model")
                .arg("--tool-mode")
                .arg(mode.name());
            let rows = station.run_verify_replay(&run);
            assert_eq!(rows[0].outcome, "done", "{task} {}: {rows:?}", mode.name());
            scores.push(rows[0].score_ppm);
            let requests = server.requests();
            let offered = requests.iter().any(|r| r.get("tools").is_some());
            assert_eq!(offered, mode == ToolMode::Native, "{task} {}", mode.name());
            if mode == ToolMode::Native {
                assert!(
                    requests.iter().any(|r| r["messages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|m| m["role"] == "tool")),
                    "{task}: the model worked through tool calls"
                );
            }
        }
        assert_eq!(scores, [1_000_000, 1_000_000], "{task}");
    }
}
