//! The host's side of tool calling, with task modules whose steps are
//! fixed in advance: each call of a reply reaches the task with the host's
//! verdict; tool results must answer the last reply's calls one for one;
//! a version 1 module still runs; and the token budgets end a task
//! `token-limit` at the call that passes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;

use airlock_core::abi::{
    self, Difficulty, Prompt, StartArgs, Step, TaskInfo, ToolCall, ToolCallProblem, ToolMode,
    ToolResult, ToolSpec,
};
use airlock_core::outcome::{AbiViolation, ModelErrorKind, Outcome};
use airlock_core::record::TokenUsage;
use airlock_core::{Ppm, abi::pack};
use airlock_sandbox::{Conversation, Reply, Sandbox, TaskRun, TokenBudget};
use airlock_tests::wat_bytes;

mod common;

const BASH: &str = r#"{"type":"object","properties":{"command":{"type":"string"}},"required":["command"],"additionalProperties":false}"#;

fn info(abi_version: u32) -> Vec<u8> {
    let info = TaskInfo {
        abi_version,
        id: "tools".into(),
        version: 1,
        title: "tools".into(),
        category: "reverse-engineering".into(),
        difficulty: Difficulty::Easy,
        max_turns: 8,
        description: "fixed steps".into(),
        system_prompt: "You are testing.".into(),
        tools: vec![ToolSpec {
            name: "bash".into(),
            description: "runs a command".into(),
            parameters: BASH.into(),
        }],
    };
    if abi_version == abi::v1::ABI_VERSION {
        postcard::to_allocvec(&abi::v1::TaskInfo {
            abi_version,
            id: info.id,
            version: info.version,
            title: info.title,
            category: abi::v1::Category::Knowledge,
            difficulty: info.difficulty,
            max_turns: info.max_turns,
            description: info.description,
        })
        .unwrap()
    } else {
        postcard::to_allocvec(&info).unwrap()
    }
}

/// A module whose `start` returns `steps[0]` and whose n-th `step` returns
/// `steps[n]` (the last one again past the end), whatever the replies.
fn module(abi_version: u32, steps: &[Step]) -> Vec<u8> {
    let info = info(abi_version);
    let mut data = format!("(data (i32.const 1024) {})", wat_bytes(&info));
    let mut packed = Vec::new();
    let mut at = 16 * 1024u32;
    for step in steps {
        let bytes = postcard::to_allocvec(step).unwrap();
        data.push_str(&format!("(data (i32.const {at}) {})", wat_bytes(&bytes)));
        packed.push(pack(at, bytes.len() as u32));
        at += bytes.len() as u32 + 16;
    }
    let mut choose = format!("(i64.const {})", packed[packed.len() - 1]);
    for (i, p) in packed.iter().enumerate().skip(1).rev() {
        choose = format!(
            "(if (result i64) (i32.eq (global.get $turn) (i32.const {i})) (then (i64.const {p})) (else {choose}))"
        );
    }
    let text = format!(
        r#"(module
  (memory (export "memory") 1)
  (global $turn (mut i32) (i32.const 0))
  {data}
  (func (export "airlock_abi_version") (result i32) (i32.const {abi_version}))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 4096))
  (func (export "airlock_info") (result i64) (i64.const {info_packed}))
  (func (export "airlock_start") (param i32) (result i64) (i64.const {first}))
  (func (export "airlock_step") (param i32) (result i64)
    (global.set $turn (i32.add (global.get $turn) (i32.const 1)))
    {choose}))"#,
        info_packed = pack(1024, info.len() as u32),
        first = packed[0],
    );
    wat::parse_str(text).unwrap()
}

/// Answers with the given replies in order, then empty text.
struct Replies(VecDeque<Reply>, Vec<Prompt>);

impl Replies {
    fn new(replies: impl IntoIterator<Item = Reply>) -> Replies {
        Replies(replies.into_iter().collect(), Vec::new())
    }
}

impl Conversation for Replies {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        self.1.push(prompt.clone());
        Ok(self.0.pop_front().unwrap_or_default())
    }
}

fn call(id: &str, name: &str, arguments: &str) -> Reply {
    Reply {
        tool_calls: vec![ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
            problem: None,
        }],
        ..Reply::default()
    }
}

fn say(text: &str) -> Step {
    Step::Say(text.into())
}

fn results(ids: &[&str]) -> Step {
    Step::ToolResults(
        ids.iter()
            .map(|id| ToolResult {
                call_id: (*id).into(),
                content: "ok".into(),
            })
            .collect(),
    )
}

fn run_with(
    budget: TokenBudget,
    abi_version: u32,
    mode: ToolMode,
    steps: &[Step],
    agent: &mut Replies,
) -> TaskRun {
    let mut limits = common::small_limits(core::time::Duration::from_secs(30));
    limits.max_reply_bytes = 4096;
    limits.max_turns = 8;
    limits.tokens = budget;
    let sandbox = Sandbox::new(limits).unwrap();
    let task = sandbox.load(&module(abi_version, steps)).unwrap();
    let category = if abi_version == 1 {
        "knowledge"
    } else {
        "reverse-engineering"
    };
    assert_eq!(task.info.category, category);
    let start = StartArgs {
        seed: [0; 32],
        tool_mode: mode,
    };
    sandbox.run(&task, &start, agent)
}

fn run(mode: ToolMode, steps: &[Step], agent: &mut Replies) -> TaskRun {
    run_with(TokenBudget::default(), abi::ABI_VERSION, mode, steps, agent)
}

const DONE: Step = Step::Done(Ppm::FULL);

#[test]
fn each_call_reaches_the_task_with_the_hosts_verdict() {
    let steps = [say("q"), results(&["a", "b", "c", "d"]), DONE];
    let mut reply = call("a", "bash", r#"{"command":"ls"}"#);
    for (id, name, args) in [
        ("b", "python", r#"{"code":"1"}"#),
        ("c", "bash", "{not json"),
        ("d", "bash", r#"{"command":7}"#),
    ] {
        reply.tool_calls.extend(call(id, name, args).tool_calls);
    }
    reply.text = "and some text".into();
    let mut agent = Replies::new([reply, Reply::text("thanks")]);
    let r = run(ToolMode::Native, &steps, &mut agent);
    assert_eq!((r.outcome, r.score), (Outcome::Done, Ppm::FULL));
    let problems: Vec<Option<&str>> = r.turns[0]
        .reply
        .tool_calls
        .iter()
        .map(|c| c.problem.as_ref().map(ToolCallProblem::name))
        .collect();
    assert_eq!(
        problems,
        [
            None,
            Some("undeclared-tool"),
            Some("arguments-not-json"),
            Some("arguments-against-schema")
        ]
    );
    assert_eq!(r.turns[0].reply.text, "and some text");
    // The second prompt was the task's tool results, in the calls' order.
    assert!(matches!(&agent.1[1], Prompt::ToolResults(rs) if rs.len() == 4));
    assert_eq!(r.turns[1].prompt, agent.1[1]);
}

#[test]
fn in_text_mode_every_call_is_undeclared() {
    let steps = [say("q"), results(&["a"]), DONE];
    let mut agent = Replies::new([call("a", "bash", r#"{"command":"ls"}"#)]);
    let r = run(ToolMode::Text, &steps, &mut agent);
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(
        r.turns[0].reply.tool_calls[0].problem,
        Some(ToolCallProblem::UndeclaredTool)
    );
}

#[test]
fn tool_results_must_answer_the_last_calls_one_for_one() {
    let mismatch = Outcome::AbiViolation(AbiViolation::ToolResultsMismatch);
    let cases: [(&str, Vec<Step>, Reply); 4] = [
        (
            "wrong id",
            vec![say("q"), results(&["x"])],
            call("a", "bash", "{}"),
        ),
        (
            "a Say while calls are open",
            vec![say("q"), say("again")],
            call("a", "bash", "{}"),
        ),
        (
            "results without calls",
            vec![say("q"), results(&["a"])],
            Reply::text("hi"),
        ),
        (
            "results at the start",
            vec![results(&["a"])],
            Reply::text("hi"),
        ),
    ];
    for (what, steps, reply) in cases {
        let r = run(ToolMode::Native, &steps, &mut Replies::new([reply]));
        assert_eq!(r.outcome, mismatch, "{what}");
        assert_eq!(r.score, Ppm::ZERO, "{what}");
    }
    let two = [say("q"), results(&["a"]), DONE];
    let mut reply = call("a", "bash", "{}");
    reply.tool_calls.extend(call("b", "bash", "{}").tool_calls);
    let r = run(ToolMode::Native, &two, &mut Replies::new([reply]));
    assert_eq!(r.outcome, mismatch, "one result for two calls");
}

#[test]
fn a_version_1_module_still_runs_and_gets_text_only() {
    let steps = [say("q"), DONE];
    let mut agent = Replies::new([call("a", "bash", r#"{"command":"ls"}"#)]);
    let r = run_with(
        TokenBudget::default(),
        1,
        ToolMode::Native,
        &steps,
        &mut agent,
    );
    assert_eq!((r.outcome, r.score), (Outcome::Done, Ppm::FULL));
    // Its TaskInfo had no tools, so the call was undeclared.
    assert_eq!(
        r.turns[0].reply.tool_calls[0].problem,
        Some(ToolCallProblem::UndeclaredTool)
    );
}

fn with_usage(prompt_tokens: u64, completion_tokens: u64) -> Reply {
    Reply {
        usage: Some(TokenUsage {
            prompt_tokens,
            completion_tokens,
        }),
        ..Reply::text("x")
    }
}

#[test]
fn token_budgets_end_the_task_at_the_call_that_passes_them() {
    let steps = [say("q")];
    let replies = || (0..8).map(|_| with_usage(60, 10));
    let budget = TokenBudget {
        total: Some(100),
        completion: None,
    };
    let r = run_with(
        budget,
        abi::ABI_VERSION,
        ToolMode::Native,
        &steps,
        &mut Replies::new(replies()),
    );
    assert_eq!(r.outcome, Outcome::TokenLimit);
    assert_eq!(r.turns.len(), 2, "the second call passes 100");
    assert_eq!(
        (r.tokens.prompt_tokens, r.tokens.completion_tokens),
        (120, 20)
    );
    let budget = TokenBudget {
        total: None,
        completion: Some(25),
    };
    let r = run_with(
        budget,
        abi::ABI_VERSION,
        ToolMode::Native,
        &steps,
        &mut Replies::new(replies()),
    );
    assert_eq!((r.outcome, r.turns.len()), (Outcome::TokenLimit, 3));
    // A call without usage counts as none, and is counted.
    let mut agent = Replies::new([with_usage(5, 5), Reply::text("no usage")]);
    let r = run(ToolMode::Native, &[say("q"), say("r"), DONE], &mut agent);
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!((r.tokens.total(), r.tokens.calls_without_usage), (10, 1));
    assert_eq!(
        r.turns[0].usage,
        Some(TokenUsage {
            prompt_tokens: 5,
            completion_tokens: 5
        })
    );
    assert_eq!(r.turns[1].usage, None);
}

#[test]
fn a_module_with_a_bad_category_or_schema_is_refused_at_load() {
    let sandbox = Sandbox::new(common::small_limits(core::time::Duration::from_secs(30))).unwrap();
    let mut bad = TaskInfo {
        abi_version: abi::ABI_VERSION,
        id: "bad".into(),
        version: 1,
        title: "bad".into(),
        category: "Not A Name".into(),
        difficulty: Difficulty::Easy,
        max_turns: 1,
        description: String::new(),
        system_prompt: String::new(),
        tools: Vec::new(),
    };
    let load = |info: &TaskInfo| {
        let bytes = postcard::to_allocvec(info).unwrap();
        let text = airlock_tests::task_module_wat_with_info(
            &bytes,
            "",
            "(global.get $done)",
            "(global.get $done)",
        );
        sandbox
            .load(&wat::parse_str(text).unwrap())
            .unwrap_err()
            .to_string()
    };
    assert!(
        load(&bad).contains("category \"Not A Name\""),
        "{}",
        load(&bad)
    );
    bad.category = "malware-analysis".into();
    bad.tools.push(ToolSpec {
        name: "bash".into(),
        description: String::new(),
        parameters: r#"{"type":"object","patternProperties":{}}"#.into(),
    });
    let err = load(&bad);
    assert!(
        err.contains("tool \"bash\"") && err.contains("patternProperties"),
        "{err}"
    );
}
