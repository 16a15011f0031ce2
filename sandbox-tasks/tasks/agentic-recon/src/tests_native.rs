//! Native tests of the task in its tool modes: tool calls, their problems,
//! parallel calls, text in place of calls, the one submission, and the
//! text mode kept byte for byte.

extern crate std;

use std::vec;

use airlock_task_sdk::testkit::{self, Scripted};
use airlock_task_sdk::tools::ANSWER;
use airlock_task_sdk::{ToolCall, ToolCallProblem, ToolResult, run_native, run_native_in};

use super::*;

const SEEDS: u32 = 40;

fn seed(i: u32) -> [u8; 32] {
    testkit::seed(i, 0x3c)
}

fn native(i: u32) -> (ReconTask, String) {
    match ReconTask::start_in_mode(seed(i), ToolMode::Native) {
        (task, Step::Say(say)) => (task, say),
        (_, step) => panic!("first step {step:?}"),
    }
}

fn raw(n: usize, name: &str, arguments: &str, problem: Option<ToolCallProblem>) -> ToolCall {
    ToolCall {
        id: format!("c{n}"),
        name: name.to_string(),
        arguments: arguments.to_string(),
        problem,
    }
}

fn bash(n: usize, command: &str) -> ToolCall {
    let mut call = tools::call(BASH, COMMAND, command);
    call.id = format!("c{n}");
    call
}

fn submit(n: usize, answer: &str) -> ToolCall {
    let mut call = tools::call(SUBMIT, ANSWER, answer);
    call.id = format!("c{n}");
    call
}

fn results(task: &mut ReconTask, calls: Vec<ToolCall>) -> Vec<ToolResult> {
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

#[test]
fn reference_solver_scores_full_through_tool_calls() {
    for i in 0..SEEDS {
        let run = run_native_in::<ReconTask>(
            seed(i),
            ToolMode::Native,
            &mut ReconSolver::default(),
            MAX_TURNS,
        );
        assert_eq!(
            run.score,
            Some(Ppm::FULL),
            "seed {i}: {:#?}",
            run.transcript
        );
        for (n, turn) in run.transcript.iter().enumerate() {
            assert_eq!(turn.model_reply.tool_calls.len(), 1, "seed {i} turn {n}");
            assert_eq!(matches!(turn.prompt, Prompt::ToolResults(_)), n > 0);
        }
    }
}

#[test]
fn text_mode_is_unchanged_byte_for_byte() {
    // The digest of these runs before the task declared tools (version 1).
    let mut runs = Vec::new();
    for i in 0..20 {
        let s = testkit::seed(i, 0x3c);
        runs.push(run_native::<ReconTask>(
            s,
            &mut ReconSolver::default(),
            MAX_TURNS,
        ));
        let lines = ["help", "ls -la", "", "submit flag{x}"];
        runs.push(run_native::<ReconTask>(
            s,
            &mut Scripted::new(&lines),
            MAX_TURNS,
        ));
    }
    assert_eq!(
        testkit::transcripts_digest(&runs),
        "829c139aff055c95f2d87e489df81d6e3492e918eba2f4008788b1ff05476837"
    );
}

#[test]
fn the_first_say_of_each_mode_names_its_protocol() {
    let Step::Say(text) = ReconTask::start(seed(1)).1 else {
        panic!()
    };
    let (_, tools_say) = native(1);
    assert!(text.contains("exactly one command per turn") && text.contains("submit FLAG"));
    assert!(!tools_say.contains("exactly one command") && !tools_say.contains("submit FLAG"));
    assert!(tools_say.contains("bash tool") && tools_say.contains("submit tool"));
    let info = ReconTask::info();
    assert!(!info.system_prompt.is_empty());
    let names: Vec<&str> = info.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, TOOLS);
    for tool in &info.tools {
        let schema: serde_json::Value = serde_json::from_str(&tool.parameters).unwrap();
        assert_eq!(schema["type"], "object", "{}", tool.name);
    }
}

#[test]
fn bash_calls_say_what_text_turns_say_and_exploits_work_through_them() {
    for i in 0..SEEDS {
        let (mut text_task, _) = ReconTask::start(seed(i));
        let (mut task, _) = native(i);
        let (trigger, read) = super::tests::exploit(&task);
        for line in trigger.iter().chain(&read) {
            let Step::Say(say) = text_task.step(&testkit::reply(line)) else {
                panic!("{line}")
            };
            let got = results(&mut task, vec![bash(0, line)]);
            assert_eq!(got[0].content, say, "seed {i}: {line}");
        }
        assert!(task.triggered, "seed {i}");
        let flag = task.net.flag.clone();
        assert_eq!(
            task.step(&tools::calls(vec![submit(0, &flag)])),
            Step::Done(Ppm::FULL)
        );
    }
}

#[test]
fn each_call_problem_gets_an_error_and_runs_nothing() {
    let (mut task, _) = native(2);
    let schema = ToolCallProblem::ArgumentsAgainstSchema("/command: expected string".into());
    let calls = vec![
        raw(0, "python", "{}", Some(ToolCallProblem::UndeclaredTool)),
        raw(1, BASH, "scan", Some(ToolCallProblem::ArgumentsNotJson)),
        raw(2, BASH, r#"{"command": ["scan"]}"#, Some(schema)),
        raw(3, "nmap", "{}", None),
        raw(4, BASH, "{", None),
        raw(5, SUBMIT, r#"{"answer": 1}"#, None),
    ];
    let got = results(&mut task, calls);
    let want = [
        "no tool named \"python\"",
        "not one JSON object",
        "/command: expected string",
        "no tool named \"nmap\"",
        "not one JSON object",
        "/answer: expected string",
    ];
    for (result, want) in got.iter().zip(want) {
        assert!(result.content.starts_with("error: "), "{}", result.content);
        assert!(result.content.contains(want), "{}", result.content);
    }
    let flag = task.net.flag.clone();
    assert_eq!(
        task.step(&tools::calls(vec![submit(0, &flag)])),
        Step::Done(Ppm::FULL)
    );
}

#[test]
fn parallel_calls_run_in_order_up_to_the_per_turn_cap() {
    let (mut task, _) = native(3);
    let calls: Vec<ToolCall> = (0..6).map(|n| bash(n, "advisories")).collect();
    let got = results(&mut task, calls);
    for (n, result) in got.iter().enumerate() {
        let ran = result.content.contains("ADV-1");
        assert_eq!(ran, n < MAX_COMMANDS_PER_TURN, "{n}: {}", result.content);
    }
    let total: usize = got.iter().map(|r| r.content.len()).sum();
    assert!(total < 60 * 1024, "{total} bytes in one message");
    assert_eq!(task.turns, 1);
}

#[test]
fn text_instead_of_a_call_is_nudged_and_counts_as_a_turn() {
    let (mut task, _) = native(5);
    let Step::Say(say) = task.step(&testkit::reply("scan 10.0.0.0/24")) else {
        panic!()
    };
    assert!(say.starts_with("No tool was called"), "{say}");
    assert!(say.ends_with("recon> "));
    let run = run_native_in::<ReconTask>(
        seed(5),
        ToolMode::Native,
        &mut Scripted::new(&["help"]),
        MAX_TURNS + 5,
    );
    assert_eq!((run.score, run.turns), (Some(Ppm::ZERO), MAX_TURNS));
}

#[test]
fn one_submission_ends_the_task_and_the_shell_does_not_submit() {
    for i in 0..SEEDS {
        let (mut task, _) = native(i);
        let flag = task.net.flag.clone();
        let got = results(
            &mut task,
            vec![bash(0, &format!("submit {flag}")), submit(1, " ")],
        );
        assert!(got[0].content.contains("use the submit tool"));
        assert!(got[1].content.starts_with("error: the answer is empty"));
        let wrong = submit(0, "flag{wrong_guess_00000000}");
        assert_eq!(
            task.step(&tools::calls(vec![wrong, bash(1, "help")])),
            Step::Done(Ppm::ZERO)
        );
        let (mut task, _) = native(i);
        let quoted = format!("'{flag}'");
        assert_eq!(
            task.step(&tools::calls(vec![submit(0, &quoted)])),
            Step::Done(Ppm::FULL)
        );
    }
}

#[test]
fn hostile_calls_do_not_panic_and_results_stay_bounded() {
    let long = "a".repeat(1 << 20);
    let (mut task, _) = native(7);
    let calls: Vec<ToolCall> = (0..16)
        .map(|n| match n % 3 {
            0 => bash(n, &format!("scan {long}")),
            1 => raw(n, BASH, &long, None),
            _ => raw(n, &long, "{}", Some(ToolCallProblem::UndeclaredTool)),
        })
        .collect();
    let got = results(&mut task, calls);
    let total: usize = got.iter().map(|r| r.content.len() + r.call_id.len()).sum();
    assert!(total < 60 * 1024, "{total} bytes");
}

#[test]
fn same_seed_same_run_in_both_modes() {
    for mode in [ToolMode::Text, ToolMode::Native] {
        testkit::assert_same_seed_same_run_in::<ReconTask, _>(
            (0..SEEDS).map(seed),
            ReconSolver::default,
            MAX_TURNS,
            mode,
        );
    }
}
