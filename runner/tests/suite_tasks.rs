//! Every task of the embedded suite, run as WebAssembly in the sandbox over
//! many seeds: the reference solver scores full marks within half the
//! default profile's fuel, the null agent scores nothing, and a seed
//! determines the whole instance (transcript and fuel), bit for bit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_core::{Outcome, Ppm};
use airlock_sandbox::{LoadedTask, Sandbox, TaskRun};

mod common;
use common::{Empty, default_limits, load_suite, reference_agent, text};

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

fn reference_run(sandbox: &Sandbox, task: &LoadedTask, n: u8) -> TaskRun {
    sandbox.run(task, &text(seed(n)), reference_agent(task).as_mut())
}

#[test]
fn reference_solver_scores_full_marks_with_2x_fuel_headroom() {
    let (sandbox, budget) = sandbox();
    for task in load_suite(&sandbox) {
        for n in 0..SEEDS {
            let run = reference_run(&sandbox, &task, n);
            assert_eq!(
                (run.outcome, run.score),
                (Outcome::Done, Ppm::FULL),
                "{} seed {n}",
                task.info.id
            );
            assert!(
                run.fuel_consumed * 2 <= budget,
                "{} seed {n}: {} fuel leaves less than 2x headroom under {budget}",
                task.info.id,
                run.fuel_consumed
            );
        }
    }
}

#[test]
fn null_agent_scores_nothing() {
    let (sandbox, _) = sandbox();
    for task in load_suite(&sandbox) {
        for n in 0..SEEDS {
            let run = sandbox.run(&task, &text(seed(n)), &mut Empty);
            assert_eq!(
                (run.outcome, run.score),
                (Outcome::Done, Ppm::ZERO),
                "{} seed {n}",
                task.info.id
            );
            assert!(run.turns.len() as u32 <= task.info.max_turns);
        }
    }
}

#[test]
fn a_seed_determines_transcript_and_fuel_and_seeds_differ() {
    let (sandbox, _) = sandbox();
    for task in load_suite(&sandbox) {
        let mut transcripts = Vec::new();
        for n in 0..SEEDS {
            let a = reference_run(&sandbox, &task, n);
            let b = reference_run(&sandbox, &task, n);
            assert_eq!(
                a.turns, b.turns,
                "{} seed {n}: transcripts differ",
                task.info.id
            );
            assert_eq!(
                a.fuel_consumed, b.fuel_consumed,
                "{} seed {n}",
                task.info.id
            );
            transcripts.push(format!("{:?}", a.turns));
        }
        transcripts.sort();
        transcripts.dedup();
        assert_eq!(
            transcripts.len(),
            SEEDS as usize,
            "{}: two seeds gave the same instance",
            task.info.id
        );
    }
}
