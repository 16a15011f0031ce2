//! Campaign helpers: planning, running shards, and the per-entry payloads
//! that a campaign must share with a one-machine run of the same plan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_core::record::Record;

use crate::{Finished, Key, airlock, finish};

/// What a campaign plan was made of.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file.
    pub path: PathBuf,
    /// The seed (64 hex digits).
    pub seed: String,
    /// Epochs of each task.
    pub epochs: u32,
    /// Shards.
    pub shards: u32,
}

/// `airlock campaign plan` of the default suite with `agent`, signed by
/// `coordinator`, authorizing `nodes`; asserts success.
#[track_caller]
pub fn plan(
    dir: &Path,
    coordinator: &Key,
    nodes: &[&Key],
    agent: &str,
    epochs: u32,
    shards: u32,
    seed: &str,
) -> Plan {
    let path = dir.join("campaign.plan");
    let mut command = airlock();
    command
        .args(["campaign", "plan", "--agent", agent])
        .args(["--epochs", &epochs.to_string()])
        .args(["--shards", &shards.to_string()])
        .args(["--seed", seed])
        .arg("--key")
        .arg(&coordinator.private)
        .arg("--out")
        .arg(&path);
    for node in nodes {
        command.arg("--authorize").arg(&node.public);
    }
    finish(&mut command).expect_code(0);
    Plan {
        path,
        seed: seed.to_owned(),
        epochs,
        shards,
    }
}

/// The command of `airlock campaign run` for one shard, not yet started.
pub fn shard_command(
    plan: &Plan,
    shard: u32,
    dir: &Path,
    node: &Key,
    agent: &str,
) -> std::process::Command {
    let mut command = airlock();
    command
        .args(["campaign", "run", "--agent", agent])
        .arg("--plan")
        .arg(&plan.path)
        .args(["--shard", &shard.to_string()])
        .arg("--dir")
        .arg(dir)
        .arg("--key")
        .arg(&node.private);
    command
}

/// Runs one shard to the end.
#[track_caller]
pub fn run_shard(plan: &Plan, shard: u32, dir: &Path, node: &Key, agent: &str) -> Finished {
    finish(&mut shard_command(plan, shard, dir, node, agent))
}

/// The bundle of shard `shard` in `dir`.
pub fn shard_bundle(dir: &Path, shard: u32) -> PathBuf {
    dir.join(format!("shard-{shard}.bundle"))
}

/// `airlock verify --campaign PLAN --trust COORDINATOR.pub --json BUNDLES…`.
#[track_caller]
pub fn verify(plan: &Plan, coordinator: &Key, bundles: &[PathBuf]) -> Finished {
    finish(
        airlock()
            .arg("verify")
            .arg("--campaign")
            .arg(&plan.path)
            .arg("--trust")
            .arg(&coordinator.public)
            .arg("--json")
            .args(bundles),
    )
}

/// What a task instance gave, without the wall time: outcome, score,
/// fuel, peak memory, turns and tokens.
pub type Payload = (String, u32, u64, u64, u32, (u64, u64, u32));

/// The payload of every TaskResult in `bundles`, by (task id, epoch);
/// panics if an instance appears twice.
#[track_caller]
pub fn payloads(bundles: &[PathBuf]) -> BTreeMap<(String, u32), Payload> {
    let mut out = BTreeMap::new();
    for bundle in bundles {
        for record in crate::bundle_records(bundle) {
            if let Record::TaskResult(r) = record {
                let payload = (
                    r.outcome.name().to_owned(),
                    r.score.0,
                    r.fuel_consumed,
                    r.peak_memory_bytes,
                    r.turns,
                    (
                        r.tokens.prompt_tokens,
                        r.tokens.completion_tokens,
                        r.tokens.calls_without_usage,
                    ),
                );
                let key = (r.task_id.clone(), r.epoch);
                assert!(
                    out.insert(key.clone(), payload).is_none(),
                    "{key:?} has two results"
                );
            }
        }
    }
    out
}
