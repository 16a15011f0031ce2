//! Every task of the embedded suite, run as WebAssembly in the sandbox over
//! many seeds in both tool modes: the reference solver scores full marks
//! within half the default profile's fuel, the null agent scores nothing,
//! and a seed determines the whole instance (transcript and fuel), bit for
//! bit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_core::abi::{Prompt, StartArgs, ToolMode};
use airlock_core::{Outcome, Ppm};
use airlock_sandbox::{LoadedTask, Sandbox, TaskRun};

mod common;
use common::{Empty, default_limits, load_suite, native, reference_agent_in, text};

const MODES: [ToolMode; 2] = [ToolMode::Text, ToolMode::Native];

const SEEDS: u8 = 20;

/// A sandbox with the default profile's limits, and its fuel budget.
fn sandbox() -> (Sandbox, u64) {
    let limits = default_limits();
    let fuel = limits.fuel_per_task;
    (Sandbox::new(limits).unwrap(), fuel)
}

fn seed(n: u8) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[0] = n;
    seed[31] = 0xa5;
    seed
}

fn start(n: u8, tool_mode: ToolMode) -> StartArgs {
    match tool_mode {
        ToolMode::Text => text(seed(n)),
        ToolMode::Native => native(seed(n)),
    }
}

fn reference_run(sandbox: &Sandbox, task: &LoadedTask, n: u8, tool_mode: ToolMode) -> TaskRun {
    let mut agent = reference_agent_in(task, tool_mode);
    sandbox.run(task, &start(n, tool_mode), agent.as_mut())
}

#[test]
fn reference_solver_scores_full_marks_with_2x_fuel_headroom() {
    let (sandbox, budget) = sandbox();
    for task in load_suite(&sandbox) {
        for mode in MODES {
            let mut most = 0;
            for n in 0..SEEDS {
                let run = reference_run(&sandbox, &task, n, mode);
                let what = format!("{} {} seed {n}", task.info.id, mode.name());
                assert_eq!(
                    (run.outcome, run.score),
                    (Outcome::Done, Ppm::FULL),
                    "{what}"
                );
                assert!(
                    run.fuel_consumed * 2 <= budget,
                    "{what}: {} fuel leaves less than 2x headroom under {budget}",
                    run.fuel_consumed
                );
                most = most.max(run.fuel_consumed);
            }
            println!("{} {}: at most {most} fuel", task.info.id, mode.name());
        }
    }
}

#[test]
fn native_reference_runs_go_through_tool_calls_in_the_sandbox() {
    let (sandbox, _) = sandbox();
    let mut with_tools = 0;
    for task in load_suite(&sandbox)
        .iter()
        .filter(|t| !t.info.tools.is_empty())
    {
        with_tools += 1;
        for n in 0..4 {
            let run = reference_run(&sandbox, task, n, ToolMode::Native);
            let what = format!("{} seed {n}", task.info.id);
            assert_eq!(run.score, Ppm::FULL, "{what}");
            for (i, turn) in run.turns.iter().enumerate() {
                assert!(!turn.reply.tool_calls.is_empty(), "{what} turn {i}");
                // The host found every call of the reference solver fit.
                assert!(
                    turn.reply.tool_calls.iter().all(|c| c.problem.is_none()),
                    "{what}"
                );
                match &turn.prompt {
                    Prompt::Text(_) => assert_eq!(i, 0, "{what}"),
                    Prompt::ToolResults(results) => {
                        let previous = &run.turns[i - 1].reply.tool_calls;
                        let ids: Vec<&str> = results.iter().map(|r| r.call_id.as_str()).collect();
                        let want: Vec<&str> = previous.iter().map(|c| c.id.as_str()).collect();
                        assert_eq!(ids, want, "{what} turn {i}");
                    }
                }
            }
        }
    }
    assert_eq!(
        with_tools, 4,
        "the agentic, web and vulnerability tasks declare tools"
    );
}

#[test]
fn null_agent_scores_nothing() {
    let (sandbox, _) = sandbox();
    for task in load_suite(&sandbox) {
        for mode in MODES {
            for n in 0..SEEDS {
                let run = sandbox.run(&task, &start(n, mode), &mut Empty);
                assert_eq!(
                    (run.outcome, run.score),
                    (Outcome::Done, Ppm::ZERO),
                    "{} {} seed {n}",
                    task.info.id,
                    mode.name()
                );
                assert!(run.turns.len() as u32 <= task.info.max_turns);
            }
        }
    }
}

#[test]
fn a_seed_determines_transcript_and_fuel_and_seeds_differ() {
    let (sandbox, _) = sandbox();
    for task in load_suite(&sandbox) {
        for mode in MODES {
            let mut transcripts = Vec::new();
            for n in 0..SEEDS {
                let a = reference_run(&sandbox, &task, n, mode);
                let b = reference_run(&sandbox, &task, n, mode);
                let what = format!("{} {} seed {n}", task.info.id, mode.name());
                assert_eq!(a.turns, b.turns, "{what}: transcripts differ");
                assert_eq!(a.fuel_consumed, b.fuel_consumed, "{what}");
                transcripts.push(format!("{:?}", a.turns));
            }
            transcripts.sort();
            transcripts.dedup();
            assert_eq!(
                transcripts.len(),
                SEEDS as usize,
                "{} {}: two seeds gave the same instance",
                task.info.id,
                mode.name()
            );
        }
    }
}
