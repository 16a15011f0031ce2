//! Native tests of the task in its tool modes: submit and bash calls, their
//! problems, parallel calls, text in place of calls, the tries, and the
//! text mode kept byte for byte.

extern crate std;

use std::vec;

use airlock_task_sdk::testkit::{self, Scripted};
use airlock_task_sdk::{ToolCall, ToolCallProblem, ToolResult, run_native, run_native_in};

use super::*;

const SEEDS: u32 = 40;

fn seed(i: u32) -> [u8; 32] {
    testkit::seed(i, 0x7e)
}

fn native(i: u32) -> ParserTask {
    ParserTask::start_in_mode(seed(i), ToolMode::Native).0
}

fn raw(n: usize, name: &str, arguments: &str, problem: Option<ToolCallProblem>) -> ToolCall {
    ToolCall {
        id: format!("c{n}"),
        name: name.to_string(),
        arguments: arguments.to_string(),
        problem,
    }
}

fn submit(n: usize, answer: &str) -> ToolCall {
    let mut call = tools::call(SUBMIT, ANSWER, answer);
    call.id = format!("c{n}");
    call
}

fn bash(n: usize, command: &str) -> ToolCall {
    let mut call = tools::call(BASH, COMMAND, command);
    call.id = format!("c{n}");
    call
}

fn results(task: &mut ParserTask, calls: Vec<ToolCall>) -> Vec<ToolResult> {
    let ids: Vec<String> = calls.iter().map(|c| c.id.clone()).collect();
    match task.step(&tools::calls(calls)) {
        Step::ToolResults(results) => {
            let got: Vec<String> = results.iter().map(|r| r.call_id.clone()).collect();
            assert_eq!(got, ids, "one result per call, in order, with its id");
            results
        }
        step => panic!("{step:?}"),
    }
}

/// A packet that crashes the instance's parser.
fn crash(task: &ParserTask) -> String {
    let bug = task.spec.bug.unwrap();
    hex_encode(&task.spec.trigger(bug))
}

/// A packet the parser rejects without crashing.
const REJECTED: &str = "00 00";

#[test]
fn reference_solver_scores_full_through_tool_calls() {
    for i in 0..SEEDS {
        let run = run_native_in::<ParserTask>(
            seed(i),
            ToolMode::Native,
            &mut ParserSolver::default(),
            MAX_TURNS,
        );
        assert_eq!(
            run.score,
            Some(Ppm::FULL),
            "seed {i}: {:#?}",
            run.transcript
        );
        assert_eq!(run.turns, 1);
        assert_eq!(run.transcript[0].model_reply.tool_calls[0].name, SUBMIT);
    }
}

#[test]
fn text_mode_is_unchanged_byte_for_byte() {
    // The digest of these runs before the task declared tools (version 1).
    let mut runs = Vec::new();
    for i in 0..20 {
        let s = testkit::seed(i, 0x7e);
        runs.push(run_native::<ParserTask>(
            s,
            &mut ParserSolver::default(),
            MAX_TURNS,
        ));
        let lines = ["help", "ls -la", "", "submit flag{x}"];
        runs.push(run_native::<ParserTask>(
            s,
            &mut Scripted::new(&lines),
            MAX_TURNS,
        ));
    }
    assert_eq!(
        testkit::transcripts_digest(&runs),
        "850e0ff1be6e45219aa4865d400be031588713ae63ac2c1d108b4b9af193d249"
    );
}

#[test]
fn the_first_say_of_each_mode_names_its_protocol() {
    let Step::Say(text) = ParserTask::start(seed(1)).1 else {
        panic!()
    };
    let Step::Say(tools_say) = ParserTask::start_in_mode(seed(1), ToolMode::Native).1 else {
        panic!()
    };
    assert!(text.contains("Reply with the packet as hex on the first line"));
    assert!(!tools_say.contains("first line of your reply"));
    assert!(tools_say.contains("submit tool") && tools_say.contains("bash tool"));
    let spec = &native(1).spec;
    assert!(tools_say.contains(&spec.c_source()));
    let info = ParserTask::info();
    assert!(!info.system_prompt.is_empty());
    let names: Vec<&str> = info.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, TOOLS);
    for tool in &info.tools {
        let schema: serde_json::Value = serde_json::from_str(&tool.parameters).unwrap();
        assert_eq!(schema["type"], "object", "{}", tool.name);
    }
}

#[test]
fn submit_and_harness_are_tries_and_a_crash_scores_full() {
    for i in 0..SEEDS {
        let mut task = native(i);
        let got = results(
            &mut task,
            vec![
                submit(0, REJECTED),
                bash(1, &format!("./harness {REJECTED}")),
                submit(2, "zz"),
            ],
        );
        assert!(
            got[0].content.starts_with("parse_packet returned"),
            "{}",
            got[0].content
        );
        assert_eq!(
            got[0].content.replace("[7 tries", "[6 tries"),
            got[1].content
        );
        assert!(
            got[2]
                .content
                .starts_with("The packet is not a hex-encoded packet.")
        );
        assert!(got[2].content.ends_with("[5 tries left]"));
        let c = crash(&task);
        assert_eq!(
            task.step(&tools::calls(vec![bash(0, &format!("harness {c}"))])),
            Step::Done(Ppm::FULL)
        );
    }
}

#[test]
fn the_shell_shows_the_source_and_nothing_else() {
    let mut task = native(2);
    let source = task.spec.c_source();
    let got = results(
        &mut task,
        vec![
            bash(0, "ls"),
            bash(1, "cat parse_packet.c"),
            bash(2, "cat /etc/passwd"),
            bash(3, "gdb"),
        ],
    );
    assert_eq!(got[0].content, "harness  parse_packet.c\n");
    assert_eq!(got[1].content, source);
    assert!(got[2].content.contains("No such file"));
    assert_eq!(got[3].content, "sh: gdb: command not found\n");
    assert_eq!(task.tries, 0);
}

#[test]
fn each_call_problem_gets_an_error_and_uses_no_try() {
    let mut task = native(3);
    let schema = ToolCallProblem::ArgumentsAgainstSchema("/answer: expected string".into());
    let calls = vec![
        raw(0, "python", "{}", Some(ToolCallProblem::UndeclaredTool)),
        raw(1, SUBMIT, "41 42", Some(ToolCallProblem::ArgumentsNotJson)),
        raw(2, SUBMIT, r#"{"answer": 4142}"#, Some(schema)),
        raw(3, "gdb", "{}", None),
        raw(4, SUBMIT, "41 42", None),
        raw(5, SUBMIT, r#"{"packet": "41"}"#, None),
    ];
    let got = results(&mut task, calls);
    let want = [
        "no tool named \"python\"; the tools are submit, bash",
        "not one JSON object",
        "/answer: expected string",
        "no tool named \"gdb\"",
        "not one JSON object",
        "missing the required property \"answer\"",
    ];
    for (result, want) in got.iter().zip(want) {
        assert!(result.content.starts_with("error: "), "{}", result.content);
        assert!(result.content.contains(want), "{}", result.content);
    }
    assert_eq!(task.tries, 0);
    let c = crash(&task);
    assert_eq!(
        task.step(&tools::calls(vec![submit(0, &c)])),
        Step::Done(Ppm::FULL)
    );
}

#[test]
fn parallel_tries_run_in_order_and_the_last_try_ends_the_task() {
    let mut task = native(4);
    let c = crash(&task);
    // A crash ends the reply: the calls after it are not run.
    let calls = vec![submit(0, REJECTED), submit(1, &c), submit(2, REJECTED)];
    assert_eq!(task.step(&tools::calls(calls)), Step::Done(Ppm::FULL));
    let mut task = native(4);
    let calls: Vec<ToolCall> = (0..MAX_TURNS as usize)
        .map(|n| submit(n, REJECTED))
        .collect();
    assert_eq!(task.step(&tools::calls(calls)), Step::Done(Ppm::ZERO));
    let mut task = native(4);
    let calls: Vec<ToolCall> = (0..6).map(|n| bash(n, "cat parse_packet.c")).collect();
    let got = results(&mut task, calls);
    for (n, result) in got.iter().enumerate() {
        let ran = !result.content.starts_with("error: not run");
        assert_eq!(ran, n < MAX_COMMANDS_PER_TURN, "{n}");
    }
}

#[test]
fn text_instead_of_a_call_is_nudged_and_counts_as_a_turn() {
    let mut task = native(5);
    let c = crash(&task);
    let Step::Say(say) = task.step(&testkit::reply(&c)) else {
        panic!("a packet written as text must not count in native mode")
    };
    assert!(say.starts_with("No tool was called"), "{say}");
    assert_eq!(task.tries, 0);
    let run = run_native_in::<ParserTask>(
        seed(5),
        ToolMode::Native,
        &mut Scripted::new(&[c.as_str()]),
        MAX_TURNS + 5,
    );
    assert_eq!((run.score, run.turns), (Some(Ppm::ZERO), MAX_TURNS));
}

#[test]
fn hostile_calls_do_not_panic_and_results_stay_bounded() {
    let long = "4".repeat(1 << 20);
    let mut task = native(7);
    let calls: Vec<ToolCall> = (0..16)
        .map(|n| match n % 4 {
            0 => bash(n, &format!("cat {long}")),
            1 => raw(n, BASH, &long, None),
            2 => raw(n, &long, "{}", Some(ToolCallProblem::UndeclaredTool)),
            _ if n < 8 => submit(n, &long),
            _ => bash(n, &long),
        })
        .collect();
    let got = results(&mut task, calls);
    let total: usize = got.iter().map(|r| r.content.len() + r.call_id.len()).sum();
    assert!(total < 60 * 1024, "{total} bytes");
}

#[test]
fn same_seed_same_run_in_both_modes() {
    for mode in [ToolMode::Text, ToolMode::Native] {
        testkit::assert_same_seed_same_run_in::<ParserTask, _>(
            (0..SEEDS).map(seed),
            ParserSolver::default,
            MAX_TURNS,
            mode,
        );
    }
}
