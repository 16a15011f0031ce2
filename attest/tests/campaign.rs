//! Campaign plans and the verification of shard sets (SPEC.md, "Campaigns").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use airlock_attest::campaign::{encode_plan, read_plan, verify_campaign, write_plan};
use airlock_attest::verify::{Level, Status, VerifyOptions};
use airlock_attest::{AttestError, Overwrite, SigningKey};
use airlock_core::campaign::{CampaignPlan, plan_hash};
use airlock_core::record::{CampaignLink, Record, RunEndReason, RunStart, TaskResult};
use common::{bundle_bytes, result, run_end, run_start, sign_all};

fn coordinator() -> SigningKey {
    SigningKey::from_seed(&[21; 32])
}

fn node() -> SigningKey {
    SigningKey::from_seed(&[22; 32])
}

/// A plan of `entries` entries (tasks task-0 …) in `shards` shards that
/// authorizes the node key.
fn plan(entries: usize, shards: u32) -> CampaignPlan {
    let start = run_start(&node().public_key(), entries, 1);
    CampaignPlan {
        campaign_id: [0xca; 16],
        created_at_unix_s: 1_700_000_000,
        suite: start.suite,
        plan: start.plan,
        profile: start.profile,
        runner: start.runner,
        model: start.model,
        seed: start.seed,
        shard_count: shards,
        shard_keys: vec![node().key_id()],
    }
}

/// The RunStart and results a runner writes for shard `index` of `plan`,
/// signed by `key`.
fn shard_records(plan: &CampaignPlan, index: u32, key: &SigningKey) -> Vec<Record> {
    let mut start: RunStart = run_start(&key.public_key(), 0, index as u8);
    start.plan = plan.shard_entries(index).map(|(_, e)| e.clone()).collect();
    start.campaign = Some(CampaignLink {
        plan_hash: plan_hash(&plan.to_bytes()),
        shard_index: index,
        shard_count: plan.shard_count,
    });
    let results: Vec<TaskResult> = (0..start.plan.len())
        .map(|i| result(&start, i, 1_000_000))
        .collect();
    let end = run_end(&results, RunEndReason::Completed);
    let mut out = vec![Record::RunStart(start)];
    out.extend(results.into_iter().map(Record::TaskResult));
    out.push(Record::RunEnd(end));
    out
}

fn write_shard(dir: &Path, name: &str, key: &SigningKey, records: &[Record]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        bundle_bytes(&key.public_key(), &sign_all(key, records)),
    )
    .unwrap();
    path
}

struct Campaign {
    dir: tempfile::TempDir,
    plan: CampaignPlan,
    plan_path: PathBuf,
    shards: Vec<PathBuf>,
}

fn campaign(entries: usize, shards: u32) -> Campaign {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(entries, shards);
    let plan_path = dir.path().join("campaign.plan");
    write_plan(&plan_path, &plan, &coordinator(), Overwrite::Refuse).unwrap();
    let paths = (0..shards)
        .map(|i| {
            write_shard(
                dir.path(),
                &format!("shard-{i}.bundle"),
                &node(),
                &shard_records(&plan, i, &node()),
            )
        })
        .collect();
    Campaign {
        dir,
        plan,
        plan_path,
        shards: paths,
    }
}

fn campaign_reason(verdict: &airlock_attest::campaign::CampaignVerdict) -> String {
    match &verdict.verdict.level(Level::Campaign).unwrap().status {
        Status::Failed(why) => why.clone(),
        other => panic!("campaign level is {other:?}"),
    }
}

#[test]
fn plan_file_bytes_are_pinned_and_round_trip() {
    let plan = plan(3, 2);
    let bytes = encode_plan(&plan, &coordinator());
    assert_eq!(&bytes[..12], b"\x89ALP\r\n\x1a\n\x05\x00\x00\x00");
    assert_eq!(&bytes[12..44], &coordinator().public_key().0);
    let body = plan.to_bytes();
    assert_eq!(&bytes[44..48], &(body.len() as u32).to_le_bytes());
    assert_eq!(&bytes[48..48 + body.len()], &body[..]);
    assert_eq!(bytes.len(), 48 + body.len() + 64);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.plan");
    std::fs::write(&path, &bytes).unwrap();
    let read = read_plan(&path, &[coordinator().public_key()]).unwrap();
    assert_eq!(read.plan, plan);
    assert_eq!(read.hash, plan_hash(&body));
}

#[test]
fn every_single_byte_change_of_a_plan_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.plan");
    let good = encode_plan(&plan(2, 2), &coordinator());
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        assert!(
            read_plan(&path, &[coordinator().public_key()]).is_err(),
            "byte {i} changed and the plan was still accepted"
        );
    }
}

#[test]
fn a_plan_signed_by_an_untrusted_coordinator_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.plan");
    write_plan(&path, &plan(2, 2), &coordinator(), Overwrite::Refuse).unwrap();
    let err = read_plan(&path, &[node().public_key()]).unwrap_err();
    assert!(matches!(err, AttestError::UntrustedPlan { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&coordinator().key_id().to_string())
    );
}

#[test]
fn a_complete_shard_set_verifies_and_merges_in_plan_order() {
    let c = campaign(7, 3);
    let verdict = verify_campaign(
        &c.plan_path,
        &[coordinator().public_key()],
        &c.shards,
        VerifyOptions::default().collect_records(true),
    )
    .unwrap();
    assert!(verdict.verified(), "{:?}", verdict.verdict.levels);
    let records = verdict.verdict.records.unwrap();
    let merged: Vec<(u32, &str)> = records
        .results
        .iter()
        .map(|r| (r.plan_index, r.task_id.as_str()))
        .collect();
    let expected: Vec<(u32, &str)> = c
        .plan
        .plan
        .iter()
        .enumerate()
        .map(|(k, e)| (k as u32, e.task_id.as_str()))
        .collect();
    assert_eq!(merged, expected);
    assert_eq!(records.run_start.unwrap().plan, c.plan.plan);
    assert_eq!(records.run_end.unwrap().results, 7);
    assert_eq!(verdict.missing_shards, Vec::<u32>::new());
}

#[test]
fn a_missing_shard_is_named_with_its_entries() {
    let c = campaign(7, 3);
    let given = vec![c.shards[0].clone(), c.shards[2].clone()];
    let verdict = verify_campaign(
        &c.plan_path,
        &[coordinator().public_key()],
        &given,
        VerifyOptions::default(),
    )
    .unwrap();
    assert!(!verdict.verified());
    assert_eq!(verdict.missing_shards, vec![1]);
    let why = campaign_reason(&verdict);
    assert!(
        why.contains("shard 1 of 3 is missing")
            && why.contains("its 2 planned entries have no result")
            && why.contains("task task-1 epoch 0; task task-4 epoch 0"),
        "{why}"
    );
}

#[test]
fn a_shard_signed_by_a_key_the_plan_does_not_authorize_is_named() {
    let c = campaign(4, 2);
    let stranger = SigningKey::from_seed(&[99; 32]);
    let bad = write_shard(
        c.dir.path(),
        "stranger.bundle",
        &stranger,
        &shard_records(&c.plan, 1, &stranger),
    );
    let verdict = verify_campaign(
        &c.plan_path,
        &[coordinator().public_key()],
        &[c.shards[0].clone(), bad.clone()],
        VerifyOptions::default(),
    )
    .unwrap();
    assert!(!verdict.verified());
    let signatures = verdict.verdict.level(Level::Signatures).unwrap();
    let text = signatures.status.reason().unwrap();
    assert!(
        text.contains("stranger.bundle")
            && text.contains(&stranger.key_id().to_string())
            && text.contains("does not authorize"),
        "{text}"
    );
    let why = campaign_reason(&verdict);
    assert!(why.contains("shard 1 of 2 is missing"), "{why}");
}

#[test]
fn the_same_shard_twice_is_named_as_a_duplicate() {
    let c = campaign(4, 2);
    let copy = c.dir.path().join("copy.bundle");
    std::fs::copy(&c.shards[1], &copy).unwrap();
    let given = vec![c.shards[0].clone(), c.shards[1].clone(), copy];
    let verdict = verify_campaign(
        &c.plan_path,
        &[coordinator().public_key()],
        &given,
        VerifyOptions::default(),
    )
    .unwrap();
    assert!(!verdict.verified());
    let why = campaign_reason(&verdict);
    assert!(
        why.contains("shard 1 is given twice") && why.contains("copy.bundle"),
        "{why}"
    );
}

#[test]
fn a_shard_of_another_plan_or_with_other_fields_is_refused() {
    let c = campaign(4, 2);
    let mut other = c.plan.clone();
    other.campaign_id = [0xee; 16];
    let foreign = write_shard(
        c.dir.path(),
        "foreign.bundle",
        &node(),
        &shard_records(&other, 1, &node()),
    );
    let mut records = shard_records(&c.plan, 1, &node());
    if let Record::RunStart(start) = &mut records[0] {
        start.seed = [0x55; 32];
    }
    let reseeded = write_shard(c.dir.path(), "reseeded.bundle", &node(), &records);
    for (path, expected) in [
        (foreign, "is a shard of another campaign plan"),
        (reseeded, "RunStart.seed differs from the campaign plan's"),
    ] {
        let verdict = verify_campaign(
            &c.plan_path,
            &[coordinator().public_key()],
            &[c.shards[0].clone(), path],
            VerifyOptions::default(),
        )
        .unwrap();
        let why = campaign_reason(&verdict);
        assert!(
            why.contains(expected) && why.contains("shard 1 of 2 is missing"),
            "{why}"
        );
    }
}

#[test]
fn an_altered_plan_fails_the_plan_level_and_nothing_else_is_checked() {
    let c = campaign(4, 2);
    let mut bytes = std::fs::read(&c.plan_path).unwrap();
    let n = bytes.len();
    bytes[n - 70] ^= 1;
    std::fs::write(&c.plan_path, &bytes).unwrap();
    let verdict = verify_campaign(
        &c.plan_path,
        &[coordinator().public_key()],
        &c.shards,
        VerifyOptions::default(),
    )
    .unwrap();
    assert!(!verdict.verified());
    assert!(matches!(
        verdict.verdict.level(Level::Plan).unwrap().status,
        Status::Failed(_)
    ));
    assert!(matches!(
        verdict.verdict.level(Level::Campaign).unwrap().status,
        Status::NotChecked(_)
    ));
}

#[test]
fn a_plan_is_bounded_as_a_frame_is() {
    assert_eq!(
        airlock_attest::campaign::MAX_PLAN_LEN,
        airlock_attest::frame::MAX_FRAME_LEN
    );
}
