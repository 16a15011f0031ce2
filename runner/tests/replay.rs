//! Re-execution from transcripts (the replay engine): a task instance run
//! once and replayed from its transcript reproduces the signed outcome,
//! score, fuel and turns on both backends; a changed transcript or record
//! is refused, naming what differs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock::profile;
use airlock::reexecute::{ReplayMismatch, reexecute};
use airlock_core::abi::{Prompt, StartArgs, ToolMode};
use airlock_core::digest::instance_seed;
use airlock_core::outcome::ModelErrorKind;
use airlock_core::record::{
    ModelDescriptor, PlannedTask, ProfileRef, RunStart, RunnerBuild, StationLink, SuiteRef,
    SuiteTrust, TaskResult,
};
use airlock_core::transcript::{Transcript, commitment, opening_key};
use airlock_core::{Digest, Outcome};
use airlock_sandbox::{Backend, Conversation, LoadedTask, Reply, Sandbox, SandboxLimits};

const SECRET: [u8; 32] = [0x33; 32];

/// Gives up after `n` replies, as a model that stops answering.
struct FailsAfter(Box<dyn Conversation + Send>, usize);

impl Conversation for FailsAfter {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        if self.1 == 0 {
            return Err(ModelErrorKind::Timeout);
        }
        self.1 -= 1;
        self.0.reply(prompt)
    }
}

fn limits(max_reply_bytes: u32) -> SandboxLimits {
    let mut limits = profile::load("default").unwrap().profile.sandbox_limits();
    limits.max_reply_bytes = max_reply_bytes;
    limits
}

fn run_start(tasks: &[&LoadedTask]) -> RunStart {
    RunStart {
        run_id: [1; 16],
        started_at_unix_s: 0,
        suite: SuiteRef {
            name: "default".into(),
            digest: Digest::ZERO,
            trust: SuiteTrust::Embedded,
        },
        plan: tasks
            .iter()
            .map(|t| PlannedTask {
                task_id: t.info.id.clone(),
                task_version: t.info.version,
                module_digest: t.digest,
                epoch: 0,
            })
            .collect(),
        profile: ProfileRef {
            name: "default".into(),
            digest: Digest::ZERO,
        },
        runner: RunnerBuild {
            airlock_version: "test".into(),
            wasmtime_version: "48.0.8".into(),
            engine_settings: Digest::ZERO,
            executable: Digest::ZERO,
        },
        model: ModelDescriptor {
            agent: "reference".into(),
            model: "reference-solver".into(),
            reported_model: String::new(),
            tool_mode: ToolMode::Text,
        },
        seed: [0x42; 32],
        evaluator_key_id: Digest::ZERO,
        campaign: None,
        selection: None,
        settings: None,
        hardware: airlock_core::record::StationHardware::NoTpm,
        station: StationLink {
            run_counter: 1,
            previous_run_start_hash: Digest::ZERO,
        },
    }
}

/// Runs plan entry `i` once, as the runner does, and returns the signed
/// record's fields and the transcript.
fn original(
    sandbox: &Sandbox,
    task: &LoadedTask,
    start: &RunStart,
    i: u32,
    conversation: &mut dyn Conversation,
) -> (TaskResult, Transcript) {
    let seed = instance_seed(&start.seed, &task.info.id, 0);
    let run = sandbox.run(
        task,
        &StartArgs {
            seed,
            tool_mode: start.model.tool_mode,
        },
        conversation,
    );
    let transcript = Transcript {
        task_id: task.info.id.clone(),
        plan_index: i,
        epoch: 0,
        seed,
        turns: run.turns.clone(),
    };
    let bytes = postcard::to_allocvec(&transcript).unwrap();
    let result = TaskResult {
        plan_index: i,
        task_id: task.info.id.clone(),
        module_digest: task.digest,
        epoch: 0,
        outcome: run.outcome,
        score: run.score,
        fuel_consumed: run.fuel_consumed,
        peak_memory_bytes: run.peak_memory_bytes,
        turns: run.turns.len() as u32,
        tokens: run.tokens,
        wall_time_us: 1,
        transcript_commitment: commitment(&opening_key(&SECRET, i), &bytes),
    };
    (result, transcript)
}

fn load(sandbox: &Sandbox) -> Vec<LoadedTask> {
    airlock_default_suite::modules()
        .iter()
        .take(3)
        .map(|m| sandbox.load(m.bytes).unwrap())
        .collect()
}

fn solver(task: &LoadedTask) -> Box<dyn Conversation + Send> {
    airlock::agent::reference_session(&task.info.id, ToolMode::Text)
}

#[test]
fn replay_reproduces_results_on_both_backends() {
    // A reply limit small enough that the reference replies get cut, so
    // replaying truncated replies is exercised too.
    for max_reply in [4096, 6] {
        let native = Sandbox::with_backend(limits(max_reply), Backend::Cranelift).unwrap();
        let pulley = Sandbox::with_backend(limits(max_reply), Backend::Pulley).unwrap();
        let tasks = load(&native);
        let pulley_tasks = load(&pulley);
        let start = run_start(&tasks.iter().collect::<Vec<_>>());
        for (i, (task, pulley_task)) in tasks.iter().zip(&pulley_tasks).enumerate() {
            let i = i as u32;
            let (result, transcript) = original(&native, task, &start, i, solver(task).as_mut());
            if max_reply == 6 {
                assert!(
                    transcript.turns.iter().any(|t| t.reply.truncated),
                    "{}: no reply was cut",
                    task.info.id
                );
            }
            let opening = opening_key(&SECRET, i);
            for (sandbox, module) in [(&native, task), (&pulley, pulley_task)] {
                let replayed = reexecute(
                    sandbox,
                    module,
                    &start,
                    &result,
                    &transcript,
                    Some(&opening),
                )
                .unwrap_or_else(|e| panic!("{} (reply limit {max_reply}): {e}", task.info.id));
                assert_eq!(replayed.outcome, result.outcome);
                assert_eq!(replayed.fuel_consumed, result.fuel_consumed);
            }
        }
    }
}

#[test]
fn a_run_ended_by_a_model_error_replays_to_the_same_error() {
    let sandbox = Sandbox::new(limits(4096)).unwrap();
    let tasks = load(&sandbox);
    let task = &tasks[0];
    let start = run_start(&[task]);
    let (result, transcript) =
        original(&sandbox, task, &start, 0, &mut FailsAfter(solver(task), 0));
    assert_eq!(result.outcome, Outcome::ModelError(ModelErrorKind::Timeout));
    reexecute(&sandbox, task, &start, &result, &transcript, None).unwrap();
}

#[test]
fn changed_transcripts_and_records_are_refused() {
    let sandbox = Sandbox::new(limits(4096)).unwrap();
    let tasks = load(&sandbox);
    let task = &tasks[0];
    let start = run_start(&[task]);
    let (result, transcript) = original(&sandbox, task, &start, 0, solver(task).as_mut());
    let opening = opening_key(&SECRET, 0);
    assert!(!transcript.turns.is_empty());

    // A reply changed: the commitment no longer opens...
    let mut changed = transcript.clone();
    changed.turns[0].reply.text.push_str(" and more");
    assert_eq!(
        reexecute(&sandbox, task, &start, &result, &changed, Some(&opening)),
        Err(ReplayMismatch::Commitment)
    );
    // ...and without the opening key, re-execution itself disagrees.
    assert!(reexecute(&sandbox, task, &start, &result, &changed, None).is_err());

    // A signed record claiming other fuel or another score.
    let mut claimed = result.clone();
    claimed.fuel_consumed += 1;
    let err = reexecute(
        &sandbox,
        task,
        &start,
        &claimed,
        &transcript,
        Some(&opening),
    )
    .unwrap_err();
    assert!(
        matches!(err, ReplayMismatch::Different { field: "fuel", .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("fuel "), "{err}");

    // Another instance's transcript.
    let mut other = transcript.clone();
    other.epoch = 1;
    assert!(matches!(
        reexecute(&sandbox, task, &start, &result, &other, None),
        Err(ReplayMismatch::WrongInstance(_))
    ));

    // A transcript cut short.
    let mut short = transcript.clone();
    short.turns.pop();
    let err = reexecute(&sandbox, task, &start, &result, &short, None).unwrap_err();
    assert!(
        matches!(&err, ReplayMismatch::Diverged(d) if d.problem.contains("asked for a turn")),
        "{err}"
    );

    // A reply the task did not ask about: it says something else at that turn.
    let mut moved = transcript.clone();
    if let airlock_core::abi::Prompt::Text(say) = &mut moved.turns[0].prompt {
        say.push('!');
    }
    let err = reexecute(&sandbox, task, &start, &result, &moved, None).unwrap_err();
    assert!(
        matches!(&err, ReplayMismatch::Diverged(d) if d.turn == 0),
        "{err}"
    );

    // The wrong module.
    assert_eq!(
        reexecute(&sandbox, &tasks[1], &start, &result, &transcript, None),
        Err(ReplayMismatch::WrongModule)
    );
}
