//! Every task of the embedded suite, run as WebAssembly in the sandbox over
//! many seeds: the reference solver scores full marks within half the
//! default profile's fuel, the null agent scores nothing, and a seed
//! determines the whole instance (transcript and fuel), bit for bit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock::profile;
use airlock::sandbox::{Conversation, LoadedTask, Sandbox, SandboxLimits, TaskRun};
use airlock_core::outcome::ModelErrorKind;
use airlock_core::{Outcome, Ppm};

const SEEDS: u8 = 20;

struct Reference(Box<dyn airlock_task_sdk::Solver>);

impl Conversation for Reference {
    fn reply(&mut self, say: &str) -> Result<String, ModelErrorKind> {
        Ok(self.0.reply(say))
    }
}

struct Empty;

impl Conversation for Empty {
    fn reply(&mut self, _say: &str) -> Result<String, ModelErrorKind> {
        Ok(String::new())
    }
}

fn sandbox() -> (Sandbox, u64) {
    let loaded = profile::load("default").unwrap();
    let fuel = loaded.profile.fuel_per_task;
    (
        Sandbox::new(SandboxLimits::from_profile(&loaded.profile)).unwrap(),
        fuel,
    )
}

fn tasks(sandbox: &Sandbox) -> Vec<LoadedTask> {
    airlock_default_suite::modules()
        .iter()
        .map(|m| sandbox.load(m.bytes).unwrap())
        .collect()
}

fn seed(n: u8) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[0] = n;
    seed[31] = 0xa5;
    seed
}

fn reference_run(sandbox: &Sandbox, task: &LoadedTask, n: u8) -> TaskRun {
    let solver = airlock_default_suite::reference_solver(&task.info.id)
        .unwrap_or_else(|| panic!("{} has no reference solver", task.info.id));
    sandbox.run(task, seed(n), &mut Reference(solver))
}

#[test]
fn reference_solver_scores_full_marks_with_2x_fuel_headroom() {
    let (sandbox, budget) = sandbox();
    for task in tasks(&sandbox) {
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
    for task in tasks(&sandbox) {
        for n in 0..SEEDS {
            let run = sandbox.run(&task, seed(n), &mut Empty);
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
    for task in tasks(&sandbox) {
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
