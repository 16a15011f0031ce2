//! Sandbox cost per task instance: instantiate + start + one step of the
//! single-turn XOR task, answered by its reference solver, and the cost of
//! loading its module; and a whole multi-turn task (agentic-host, up to 40
//! turns) answered by the reference agent, as a run drives it; and loading
//! the whole default suite (8 modules) compiled by Cranelift against loaded
//! from a warm module cache.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use airlock::profile;
use airlock_core::abi::{StartArgs, ToolMode};
use airlock_sandbox::Sandbox;
use criterion::{Criterion, criterion_group, criterion_main};

fn xor_task(c: &mut Criterion) {
    let loaded = profile::load("default").unwrap();
    let sandbox = Sandbox::new(loaded.profile.sandbox_limits()).unwrap();
    let module = airlock_default_suite::modules()
        .iter()
        .find(|m| m.task_id == "crypto-xor")
        .unwrap();
    let task = sandbox.load(module.bytes).unwrap();
    let mut seed = [0u8; 32];
    let mut group = c.benchmark_group("crypto-xor");
    group.bench_function("sandbox instantiate+start+step", |b| {
        b.iter(|| {
            seed[0] = seed[0].wrapping_add(1);
            let mut solver = airlock::agent::reference_session("crypto-xor", ToolMode::Text);
            let start = StartArgs {
                seed,
                tool_mode: ToolMode::Text,
            };
            let run = sandbox.run(&task, &start, solver.as_mut());
            assert_eq!(run.outcome, airlock_core::Outcome::Done);
            run
        })
    });
    group.bench_function("module load (screen+compile+probe)", |b| {
        b.iter(|| sandbox.load(module.bytes).unwrap())
    });
    group.finish();
}

fn reference_agent_task(c: &mut Criterion) {
    use airlock::agent::{AgentOptions, AgentSpec, SessionContext};
    use core::time::Duration;

    let loaded = profile::load("default").unwrap();
    let sandbox = Sandbox::new(loaded.profile.sandbox_limits()).unwrap();
    let module = airlock_default_suite::modules()
        .iter()
        .find(|m| m.task_id == "agentic-host")
        .unwrap();
    let task = sandbox.load(module.bytes).unwrap();
    let agent = AgentSpec::Reference {
        delay: Duration::ZERO,
    }
    .build(&AgentOptions::for_profile(&loaded.profile))
    .unwrap();
    let mut seed = [0u8; 32];
    let mut group = c.benchmark_group("agentic-host");
    group.bench_function("whole task, reference agent", |b| {
        b.iter(|| {
            seed[0] = seed[0].wrapping_add(1);
            let mut session = agent.session(&SessionContext {
                task: &task.info,
                plan_index: 0,
                epoch: 0,
                seed,
                tool_mode: ToolMode::Native,
            });
            let start = StartArgs {
                seed,
                tool_mode: ToolMode::Native,
            };
            let run = sandbox.run(&task, &start, session.as_mut());
            assert_eq!(run.outcome, airlock_core::Outcome::Done);
            assert_eq!(run.score, airlock_core::Ppm::FULL);
            run
        })
    });
    group.finish();
}

/// What a run does before its first task: load the default suite's eight
/// modules (screen, compile or fetch from the cache, probe).
fn default_suite_load(c: &mut Criterion) {
    use airlock_sandbox::module_cache::{ModuleCache, Source, StationSecret};

    let limits = profile::load("default").unwrap().profile.sandbox_limits();
    let modules = airlock_default_suite::modules();
    let cold = Sandbox::new(limits.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Any non-zero runner digest: the bench binary is not a runner build.
    let cache =
        ModuleCache::open(dir.path(), StationSecret::from_bytes(&[7; 32]), [1; 32]).unwrap();
    let warm = Sandbox::new(limits).unwrap().with_module_cache(cache);
    for module in modules {
        warm.load(module.bytes).unwrap();
    }
    let mut group = c.benchmark_group("default suite, 8 modules");
    group.sample_size(10);
    group.bench_function("load, compiled (no cache)", |b| {
        b.iter(|| {
            for module in modules {
                assert_eq!(cold.load(module.bytes).unwrap().source, Source::NoCache);
            }
        })
    });
    group.bench_function("load, warm module cache", |b| {
        b.iter(|| {
            for module in modules {
                assert_eq!(warm.load(module.bytes).unwrap().source, Source::Cache);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, xor_task, reference_agent_task, default_suite_load);
criterion_main!(benches);
