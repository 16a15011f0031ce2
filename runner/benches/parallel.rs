//! Wall time of a whole run of the default suite (journal, sealed
//! transcripts, fsyncs and all) with 1 and with 2 sandboxes, measured in the
//! same process so the two can be compared as a ratio. Two agents: the
//! reference solver answering at once (ten epochs, so the per-run fixed cost
//! of files, fsyncs and hashing the executable weighs less; bound by the
//! sandboxes and the disk), and the same answering after 20 ms (three
//! epochs; bound by model latency, as with a served model).
//! The ratio depends on the cores actually free: on a machine shared with
//! other builds it is lower than on an idle one.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use core::time::Duration;

use airlock::agent::{AgentOptions, AgentSpec};
use airlock::profile;
use airlock::run::{self, NoProgress, RunOptions, RunParts, StartMode};
use airlock::suite::LoadedSuite;
use airlock_attest::station_state::Station;
use airlock_attest::transcripts::TranscriptKey;
use airlock_attest::{Overwrite, SigningKey};
use airlock_sandbox::Sandbox;
use criterion::{Criterion, criterion_group, criterion_main};

fn whole_runs(c: &mut Criterion) {
    let profile = profile::load("default").unwrap().profile;
    assert!(profile.parallel_sandboxes() >= 2);
    let sandbox = Sandbox::new(profile.sandbox_limits()).unwrap();
    let suite = LoadedSuite::embedded(&sandbox).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let generated = airlock_attest::keygen(dir.path(), "bench").unwrap();
    let key = SigningKey::load(&generated.private_path).unwrap();
    let mut runs = 0u64;

    for (name, delay, epochs) in [
        ("reference agent", Duration::ZERO, 10),
        (
            "reference agent, 20 ms per reply",
            Duration::from_millis(20),
            3,
        ),
    ] {
        let agent = AgentSpec::Reference { delay }
            .build(&AgentOptions::for_profile(&profile))
            .unwrap();
        let parts = RunParts {
            sandbox: &sandbox,
            suite: &suite,
            profile: &profile,
            agent: agent.as_ref(),
            key: &key,
        };
        let mut group = c.benchmark_group(format!("default suite x{epochs} epochs, {name}"));
        group.sample_size(10);
        for sandboxes in [1, 2] {
            group.bench_function(format!("{sandboxes} sandboxes"), |b| {
                b.iter(|| {
                    runs += 1;
                    let options = RunOptions {
                        out: dir.path().join(format!("run-{runs}.bundle")),
                        seed: Some([7; 32]),
                        start: StartMode::Fresh,
                        overwrite: Overwrite::Refuse,
                        epochs,
                        station: Station::path_for_key(&generated.private_path),
                        transcript_key: TranscriptKey::path_for_key(&generated.private_path),
                        sandboxes: Some(sandboxes),
                        tool_mode: airlock_core::abi::ToolMode::Native,
                        campaign: None,
                        selection: None,
                        settings: None,
                        tpm: None,
                        interrupt: Default::default(),
                    };
                    let summary = run::execute(&parts, &options, &mut NoProgress).unwrap();
                    assert_eq!(summary.results.len(), epochs as usize * suite.tasks.len());
                    assert_eq!(summary.sandboxes, sandboxes);
                    summary
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, whole_runs);
criterion_main!(benches);
