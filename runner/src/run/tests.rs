//! The run as a whole: plan order under any scheduling, resumption after
//! a panic, the resume checks, the station's locks and chain, and the
//! refusals that come before any file is made.

use core::panic::AssertUnwindSafe;
use core::time::Duration;
use std::panic::catch_unwind;
use std::path::Path;
use std::sync::{Condvar, Mutex, PoisonError};

use airlock_attest::{Overwrite, SigningKey};
use airlock_core::Ppm;
use airlock_core::abi::{Prompt, ToolMode};
use airlock_core::outcome::{ModelErrorKind, Outcome};
use airlock_core::record::{ModelDescriptor, PlannedTask, Record, TaskResult};

use super::open::{RUN_START_ROOM, check_plan_fits};
use super::*;
use crate::agent::{Agent, AgentOptions, AgentSpec, SessionContext};
use crate::profile::HardwareProfile;
use crate::suite::LoadedSuite;
use airlock_sandbox::{Backend, Conversation, Reply, Sandbox};

/// The reference agent, with one plan entry held back until another has
/// finished, or one whose session panics. Records the order in which
/// sessions end.
struct Staged {
    inner: Box<dyn Agent>,
    hold: Option<(u32, u32)>,
    panic_at: Option<u32>,
    ended: Mutex<Vec<u32>>,
    changed: Condvar,
}

impl Staged {
    fn new(hold: Option<(u32, u32)>, panic_at: Option<u32>) -> Staged {
        let profile = crate::profile::load("default").unwrap().profile;
        Staged {
            inner: AgentSpec::Reference {
                delay: Duration::ZERO,
            }
            .build(&AgentOptions::for_profile(&profile))
            .unwrap(),
            hold,
            panic_at,
            ended: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }
    }

    fn ended(&self) -> Vec<u32> {
        self.ended.lock().unwrap().clone()
    }
}

impl Agent for Staged {
    fn descriptor(&self, tool_mode: ToolMode) -> ModelDescriptor {
        self.inner.descriptor(tool_mode)
    }

    fn session(&self, context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
        Box::new(StagedSession {
            inner: self.inner.session(context),
            plan_index: context.plan_index,
            agent: self,
        })
    }
}

struct StagedSession<'a> {
    inner: Box<dyn Conversation + Send + 'a>,
    plan_index: u32,
    agent: &'a Staged,
}

impl Conversation for StagedSession<'_> {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        assert_ne!(Some(self.plan_index), self.agent.panic_at, "staged panic");
        if let Some((held, until)) = self.agent.hold
            && held == self.plan_index
        {
            let ended = self.agent.ended.lock().unwrap();
            let (_ended, waited) = self
                .agent
                .changed
                .wait_timeout_while(ended, Duration::from_secs(60), |e| !e.contains(&until))
                .unwrap();
            assert!(!waited.timed_out(), "entry {until} never ended");
        }
        self.inner.reply(prompt)
    }
}

impl Drop for StagedSession<'_> {
    fn drop(&mut self) {
        let mut ended = self
            .agent
            .ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ended.push(self.plan_index);
        self.agent.changed.notify_all();
    }
}

struct Station {
    dir: tempfile::TempDir,
    key: SigningKey,
    profile: HardwareProfile,
    sandbox: Sandbox,
    suite: LoadedSuite,
}

impl Station {
    fn new() -> Station {
        let dir = tempfile::tempdir().unwrap();
        let generated = airlock_attest::keygen(dir.path(), "evaluator").unwrap();
        let key = SigningKey::load(&generated.private_path).unwrap();
        let profile = crate::profile::load("default").unwrap().profile;
        let sandbox = Sandbox::new(profile.sandbox_limits()).unwrap();
        let suite = LoadedSuite::embedded(&sandbox).unwrap();
        Station {
            dir,
            key,
            profile,
            sandbox,
            suite,
        }
    }

    fn options(&self, name: &str, sandboxes: u32, start: StartMode) -> RunOptions {
        RunOptions {
            out: self.dir.path().join(name),
            seed: Some([5; 32]),
            start,
            overwrite: Overwrite::Refuse,
            epochs: 1,
            station: self.dir.path().join("evaluator.station"),
            transcript_key: self.dir.path().join("evaluator.transcript-key"),
            sandboxes: Some(sandboxes),
            tool_mode: airlock_core::abi::ToolMode::Native,
            campaign: None,
            selection: None,
            settings: None,
            tpm: None,
            interrupt: Default::default(),
        }
    }

    fn execute(&self, agent: &dyn Agent, options: &RunOptions) -> Result<RunSummary, RunError> {
        let parts = RunParts {
            sandbox: &self.sandbox,
            suite: &self.suite,
            profile: &self.profile,
            agent,
            key: &self.key,
        };
        execute(&parts, options, &mut NoProgress)
    }
}

/// What of a result must not depend on the scheduling.
fn payload(r: &TaskResult) -> (u32, String, Outcome, Ppm, u64, u32) {
    (
        r.plan_index,
        r.task_id.clone(),
        r.outcome,
        r.score,
        r.fuel_consumed,
        r.turns,
    )
}

fn bundle_results(path: &Path) -> Vec<TaskResult> {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = airlock_attest::BundleReader::new(&bytes[..]).unwrap();
    let mut results = Vec::new();
    while let Some(frame) = reader.next_entry().unwrap() {
        if let Record::TaskResult(r) = airlock_core::decode_exact(&frame.entry.body).unwrap() {
            results.push(r);
        }
    }
    results
}

#[test]
fn results_are_journaled_in_plan_order_when_later_entries_finish_first() {
    let station = Station::new();
    let alone = Staged::new(None, None);
    let one = station
        .execute(&alone, &station.options("one", 1, StartMode::Fresh))
        .unwrap();
    assert_eq!(alone.ended(), (0..8).collect::<Vec<u32>>());

    // Entry 0 waits until entry 2 has ended: two sandboxes must run
    // entries 1 and 2 meanwhile and hold their results back.
    let staged = Staged::new(Some((0, 2)), None);
    let two = station
        .execute(&staged, &station.options("two", 2, StartMode::Fresh))
        .unwrap();
    let ended = staged.ended();
    let at = |i: u32| ended.iter().position(|&e| e == i).unwrap();
    assert!(at(1) < at(0) && at(2) < at(0), "ended in {ended:?}");

    let in_bundle = bundle_results(&two.bundle);
    let order: Vec<u32> = in_bundle.iter().map(|r| r.plan_index).collect();
    assert_eq!(order, (0..8).collect::<Vec<u32>>());
    assert_eq!(
        in_bundle.iter().map(payload).collect::<Vec<_>>(),
        one.results.iter().map(payload).collect::<Vec<_>>()
    );
    assert_eq!(two.run_end, one.run_end);
}

#[test]
fn a_panicking_session_stops_the_run_and_the_journal_resumes() {
    let station = Station::new();
    let panicking = Staged::new(None, Some(3));
    let options = station.options("panicked", 2, StartMode::Fresh);
    let outcome = catch_unwind(AssertUnwindSafe(|| station.execute(&panicking, &options)));
    assert!(outcome.is_err(), "the worker's panic reaches the caller");
    let journal = journal_path(&options.out);
    let state = airlock_attest::verify_journal(&journal, &station.key.public_key()).unwrap();
    let durable: Vec<u32> = state
        .entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::TaskResult(r) => Some(r.plan_index),
            _ => None,
        })
        .collect();
    assert!(
        durable.len() <= 3 && durable.iter().copied().eq(0..durable.len() as u32),
        "only entries before the panic, in plan order: {durable:?}"
    );

    let plain = Staged::new(None, None);
    let resumed = station
        .execute(&plain, &station.options("panicked", 2, StartMode::Resume))
        .unwrap();
    assert_eq!(resumed.results.len(), 8);
    assert_eq!(resumed.executed, 8 - durable.len());
    assert!(resumed.results.iter().all(|r| r.outcome == Outcome::Done));
}

/// A journal of the station's run `name`, interrupted by a panicking
/// session after a few durable results.
fn interrupted(station: &Station, name: &str) -> RunOptions {
    let panicking = Staged::new(None, Some(3));
    let options = station.options(name, 1, StartMode::Fresh);
    let outcome = catch_unwind(AssertUnwindSafe(|| station.execute(&panicking, &options)));
    assert!(outcome.is_err());
    assert!(journal_path(&options.out).exists());
    RunOptions {
        start: StartMode::Resume,
        ..options
    }
}

fn null_agent() -> Box<dyn Agent> {
    let profile = crate::profile::load("default").unwrap().profile;
    AgentSpec::Null
        .build(&AgentOptions::for_profile(&profile))
        .unwrap()
}

/// A killed run is finished only by the agent and engine that started
/// it: another agent, or the same agent under other engine settings,
/// is refused naming the RunStart field, and nothing is appended.
#[test]
fn resume_refuses_another_agent_or_engine_naming_the_field() {
    let station = Station::new();
    let resume = interrupted(&station, "bound");
    let journal = journal_path(&resume.out);
    let before = std::fs::read(&journal).unwrap();

    let err = station.execute(null_agent().as_ref(), &resume).unwrap_err();
    assert!(matches!(err, RunError::ResumeMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("RunStart.model.agent is \"reference\" in the journal but \"null\" now"),
        "{message}"
    );
    assert!(
        message.contains(&journal.display().to_string()),
        "{message}"
    );

    let pulley = Sandbox::with_backend(station.profile.sandbox_limits(), Backend::Pulley).unwrap();
    let suite = LoadedSuite::embedded(&pulley).unwrap();
    let parts = RunParts {
        sandbox: &pulley,
        suite: &suite,
        profile: &station.profile,
        agent: &Staged::new(None, None),
        key: &station.key,
    };
    let err = execute(&parts, &resume, &mut NoProgress).unwrap_err();
    assert!(
        err.to_string().contains("RunStart.runner.engine_settings"),
        "{err}"
    );
    assert_eq!(std::fs::read(&journal).unwrap(), before, "nothing appended");

    // The agent that started it finishes it.
    let done = station.execute(&Staged::new(None, None), &resume).unwrap();
    assert_eq!(done.results.len(), 8);
}

/// A second writer of a run in progress is refused at once, naming the
/// file and that another process holds it; the first finishes.
#[test]
fn a_second_writer_of_a_journal_is_refused_while_the_first_holds_it() {
    let station = Station::new();
    let resume = interrupted(&station, "held");
    let journal = journal_path(&resume.out);
    let (_held, _) =
        airlock_attest::JournalWriter::resume(&journal, &station.key.public_key()).unwrap();
    for start in [StartMode::Resume, StartMode::Fresh] {
        let options = RunOptions {
            start,
            ..resume.clone()
        };
        let err = station
            .execute(&Staged::new(None, None), &options)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            airlock_attest::locked_message(&journal),
            "{start:?}"
        );
    }
    drop(_held);
    let done = station.execute(&Staged::new(None, None), &resume).unwrap();
    assert_eq!(done.results.len(), 8);
}

/// Runs of one station started at the same moment get consecutive
/// counters and one chain that the station check passes.
#[test]
fn concurrent_runs_of_one_station_keep_one_chain() {
    let station = Station::new();
    let agent = Staged::new(None, None);
    let reports: Vec<RunSummary> = std::thread::scope(|scope| {
        let handles: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let (station, agent) = (&station, &agent);
                scope.spawn(move || {
                    station
                        .execute(agent, &station.options(name, 1, StartMode::Fresh))
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut counters: Vec<u64> = reports
        .iter()
        .map(|r| r.run_start.station.run_counter)
        .collect();
    counters.sort_unstable();
    assert_eq!(counters, [1, 2, 3]);
    let runs: Vec<airlock_attest::station_chain::StationRun> = reports
        .iter()
        .map(|r| {
            let verdict = airlock_attest::verify_bundle_file(
                &r.bundle,
                &[station.key.public_key()],
                airlock_attest::VerifyOptions::default(),
            )
            .unwrap();
            airlock_attest::station_chain::StationRun::from_verdict(
                &r.bundle.display().to_string(),
                &verdict,
            )
            .unwrap()
        })
        .collect();
    let checked = airlock_attest::station_chain::check_stations(&runs);
    assert_eq!(
        checked[0].status(),
        airlock_attest::Status::Passed,
        "{:?}",
        checked[0].problems
    );
}

/// A finished bundle cut back into a journal and resumed would give its
/// counter a second ending: refused through the station state, before
/// anything runs.
#[test]
fn resuming_a_finished_run_cut_back_into_a_journal_is_refused() {
    let station = Station::new();
    let options = station.options("done", 1, StartMode::Fresh);
    let agent = Staged::new(None, None);
    station.execute(&agent, &options).unwrap();
    let bundle = std::fs::read(&options.out).unwrap();
    // Header with the journal magic, then the RunStart frame alone.
    let mut journal = bundle[..44].to_vec();
    journal[..8].copy_from_slice(b"\x89ALJ\r\n\x1a\n");
    let len = u32::from_le_bytes(bundle[44..48].try_into().unwrap()) as usize;
    journal.extend_from_slice(&bundle[44..48 + len]);
    std::fs::write(journal_path(&options.out), &journal).unwrap();
    let resume = RunOptions {
        start: StartMode::Resume,
        overwrite: Overwrite::Replace,
        ..options.clone()
    };
    let err = station.execute(&agent, &resume).unwrap_err();
    assert!(
        err.to_string().contains("same counter, different hash"),
        "{err}"
    );
    assert_eq!(
        agent.ended(),
        (0..8).collect::<Vec<u32>>(),
        "nothing ran again"
    );
    assert_eq!(
        std::fs::read(&options.out).unwrap(),
        bundle,
        "the bundle is untouched"
    );
}

#[test]
fn more_sandboxes_than_the_profile_allows_are_refused_before_any_file() {
    let station = Station::new();
    let agent = Staged::new(None, None);
    for asked in [0, 3] {
        let options = station.options("refused", asked, StartMode::Fresh);
        let err = station.execute(&agent, &options).unwrap_err();
        assert!(
            matches!(err, RunError::Sandboxes { asked: a, allowed: 2, .. } if a == asked),
            "{err}"
        );
        assert!(!journal_path(&options.out).exists());
        assert!(!secret_path(&options.out).exists());
    }
}

/// A plan too large for the RunStart record (a mistyped `--epochs`) is
/// refused before the plan is built or a file written, naming how many
/// epochs fit; that many fit, one more does not, and the count agrees
/// with the encoded plan.
#[test]
fn a_plan_too_large_for_the_run_start_record_is_refused_up_front() {
    let station = Station::new();
    let Err(RunError::PlanTooLarge {
        tasks,
        epochs_that_fit: fit,
        ..
    }) = check_plan_fits(&station.suite, u32::MAX, None)
    else {
        panic!("u32::MAX epochs accepted");
    };
    assert_eq!(tasks, station.suite.tasks.len());
    assert!(check_plan_fits(&station.suite, fit, None).is_ok());
    assert!(check_plan_fits(&station.suite, fit + 1, None).is_err());

    let plan = |epochs: u32| -> Vec<PlannedTask> {
        let suite = &station.suite.tasks;
        (0..epochs)
            .flat_map(|epoch| {
                suite.iter().map(move |t| PlannedTask {
                    task_id: t.info.id.clone(),
                    task_version: t.info.version,
                    module_digest: t.digest,
                    epoch,
                })
            })
            .collect()
    };
    let limit = (airlock_attest::frame::MAX_FRAME_LEN as usize) - RUN_START_ROOM as usize;
    // The encoded Vec has its length varint (3 bytes here) before the entries.
    let encoded = |epochs| postcard::to_allocvec(&plan(epochs)).unwrap().len() - 3;
    assert!(encoded(fit) <= limit);
    assert!(encoded(fit + 1) > limit);

    let agent = Staged::new(None, None);
    let mut options = station.options("huge", 1, StartMode::Fresh);
    options.epochs = fit + 1;
    let err = station.execute(&agent, &options).unwrap_err();
    assert!(matches!(err, RunError::PlanTooLarge { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("at most {fit} epochs of this suite fit")),
        "{message}"
    );
    assert!(!journal_path(&options.out).exists());
    assert!(!secret_path(&options.out).exists());
}

/// A stop asked for while a run goes on ends it with every finished
/// result durable and no RunEnd; running it again resumes it, and the
/// results are those of a run never stopped.
#[test]
fn an_interrupted_run_keeps_its_durable_results_and_resumes_to_the_same_bundle_results() {
    let station = Station::new();
    let whole = station
        .execute(
            &Staged::new(None, None),
            &station.options("whole", 1, StartMode::Fresh),
        )
        .unwrap();
    let options = station.options("stopped", 1, StartMode::Fresh);
    // Asked before the run starts: its RunStart is made durable, then no
    // instance is started after the first results are in (one sandbox
    // holds at most two in flight).
    options.interrupt.request();
    match station.execute(&Staged::new(None, None), &options) {
        Err(RunError::Interrupted {
            durable, planned, ..
        }) => {
            assert_eq!(planned, 8);
            assert!(durable < 8, "{durable}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("an interrupted run finished"),
    }
    assert!(journal_path(&options.out).exists());
    assert!(!options.out.exists(), "no bundle for an interrupted run");
    let resume = RunOptions {
        start: StartMode::Resume,
        tpm: None,
        interrupt: Interrupt::default(),
        ..options
    };
    let done = station.execute(&Staged::new(None, None), &resume).unwrap();
    let payload = |r: &TaskResult| {
        (
            r.plan_index,
            r.outcome,
            r.score,
            r.fuel_consumed,
            r.peak_memory_bytes,
            r.turns,
        )
    };
    assert_eq!(
        done.results.iter().map(payload).collect::<Vec<_>>(),
        whole.results.iter().map(payload).collect::<Vec<_>>()
    );
}
