//! Verifying a campaign: its signed plan and the set of shard bundles that
//! ran it (SPEC.md, "Campaigns", "Verifying a campaign").
//!
//! Each shard is first verified as the bundle it is (decode, signatures,
//! chain, completeness), trusting only the keys the plan authorizes. A shard
//! that verifies must then belong to the plan: link to its hash, record the
//! plan's suite, profile, runner, model and seed, and plan exactly the
//! entries its index owns. Over the set, every shard index must come once:
//! a shard given twice is a duplicate, one not given (or not valid) leaves
//! its entries without results, and both are named.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use airlock_core::campaign::{CampaignPlan, shard_of};
use airlock_core::record::{PlannedTask, RunEnd, RunEndReason, RunStart, StationLink, TaskResult};
use airlock_core::{Classify, Digest, ErrorClass, Ppm};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use super::{VerifiedPlan, read_plan};
use crate::bundle::BundleHeader;
use crate::error::{AttestError, HEADER_LEN, io_err};
use crate::hardware::{HardwareCheck, TrustedRegistration, fail_level};
use crate::keys::PublicKey;
use crate::verify::{
    CollectedRecords, Level, LevelReport, RunSummary, Status, Verdict, VerifyOptions,
    verify_bundle_file,
};

/// The `format` value of the campaign verdict's JSON.
pub const CAMPAIGN_VERDICT_FORMAT: &str = "airlock-campaign-verdict/1";

/// Most problems a level's reason lists before it says how many more.
const MAX_LISTED: usize = 16;

/// What came of one shard bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardReport {
    /// The bundle file.
    pub path: PathBuf,
    /// Key id of the key in its header, when the header reads.
    pub key_id: Option<Digest>,
    /// Whether the plan authorizes that key.
    pub authorized: bool,
    /// The shard index its RunStart claims, when it verified.
    pub shard_index: Option<u32>,
    /// Its own verdict (decode, signatures, chain, completeness, and
    /// hardware when station registrations were given).
    pub levels: Vec<LevelReport>,
    /// Why it does not belong to the plan, when it verified but does not.
    pub not_of_plan: Option<String>,
    /// Whether its results count for the campaign: it verified, belongs to
    /// the plan and is the first bundle given for its index.
    pub counted: bool,
    /// Results it holds.
    pub results: u64,
}

/// The verdict on a campaign.
#[derive(Clone, Debug)]
pub struct CampaignVerdict {
    /// The plan file.
    pub plan_path: PathBuf,
    /// The plan, when it verified.
    pub plan: Option<VerifiedPlan>,
    /// Levels `plan`, `decode`, `signatures`, `chain`, `completeness` (each
    /// over every shard), `campaign`, and with station registrations
    /// `hardware` (over every shard), with the campaign's totals; with
    /// [`VerifyOptions::collect_records`], the campaign's records merged as
    /// one run: a RunStart holding the whole plan, every counted result
    /// with its campaign plan index, in plan order, and their totals.
    pub verdict: Verdict,
    /// One report per bundle given, in the order given.
    pub shards: Vec<ShardReport>,
    /// Shard indices no counted bundle covers.
    pub missing_shards: Vec<u32>,
}

impl CampaignVerdict {
    /// True when every level passed.
    pub fn verified(&self) -> bool {
        self.verdict.verified()
    }
}

/// Verifies the campaign plan at `plan_path` under one of the `trusted`
/// coordinator keys and the shard bundles `shards` against it.
///
/// A file that cannot be read is an input error; everything found wrong
/// with a readable file is in the verdict.
pub fn verify_campaign(
    plan_path: &Path,
    trusted: &[PublicKey],
    shards: &[PathBuf],
    options: VerifyOptions,
) -> Result<CampaignVerdict, AttestError> {
    verify_campaign_on_hardware(plan_path, trusted, shards, options, None)
}

/// [`verify_campaign`], and with `registrations` the hardware level of each
/// shard (its node's TPM quotes, `SHARD.tpm-quotes`, against the station
/// registrations trusted; SPEC.md "TPM quotes") and over the campaign. A
/// shard's hardware level decides nothing about which results count: a
/// shard that fails it still covers its entries, and the campaign fails
/// the hardware level instead, naming it.
pub fn verify_campaign_on_hardware(
    plan_path: &Path,
    trusted: &[PublicKey],
    shards: &[PathBuf],
    options: VerifyOptions,
    registrations: Option<&[TrustedRegistration]>,
) -> Result<CampaignVerdict, AttestError> {
    let plan = match read_plan(plan_path, trusted) {
        Ok(plan) => plan,
        Err(error) if error.class() == ErrorClass::Integrity => {
            return Ok(unverified_plan(plan_path, &error.to_string(), shards));
        }
        Err(error) => return Err(error),
    };
    let count = plan.plan.shard_count;
    let mut reports = Vec::with_capacity(shards.len());
    // The counted results of each shard index, and who supplied them.
    let mut counted: BTreeMap<u32, (usize, Vec<TaskResult>, RunEnd)> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut hardware = registrations.map(HardwareCheck::new);
    for (position, path) in shards.iter().enumerate() {
        let key = header_key(path)?;
        let authorized = key.is_some_and(|k| plan.plan.shard_keys.contains(&k.key_id()));
        let trusted_here: Vec<PublicKey> = key.filter(|_| authorized).into_iter().collect();
        let mut verdict = verify_bundle_file(
            path,
            &trusted_here,
            VerifyOptions::default()
                .collect_records(true)
                .threads(options.threads),
        )?;
        if let (Some(k), false) = (key, authorized) {
            // Say why the key is not trusted: the plan does not name it.
            if let Some(level) = verdict
                .levels
                .iter_mut()
                .find(|l| l.level == Level::Signatures)
            {
                level.status = Status::Failed(format!(
                    "signed by key {}, which the campaign plan does not authorize",
                    k.key_id()
                ));
            }
            problems.push(format!(
                "{}: signed by key {}, which the plan does not authorize",
                path.display(),
                k.key_id()
            ));
        }
        let records = verdict.records.take().unwrap_or_default();
        let mut report = ShardReport {
            path: path.clone(),
            key_id: key.map(|k| k.key_id()),
            authorized,
            shard_index: None,
            levels: verdict.levels.clone(),
            not_of_plan: None,
            counted: false,
            results: records.results.len() as u64,
        };
        if let Some(hardware) = hardware.as_mut() {
            report
                .levels
                .push(hardware.bundle(position, path, &verdict));
        }
        if verdict.verified() {
            match records.run_start.as_ref().map(|s| membership(&plan, s)) {
                Some(Ok(index)) => {
                    report.shard_index = Some(index);
                    match counted.get(&index) {
                        Some((first, _, _)) => problems.push(format!(
                            "shard {index} is given twice: {} and {} (a duplicate)",
                            shards[*first].display(),
                            path.display()
                        )),
                        None => {
                            report.counted = true;
                            let end = records.run_end.clone().unwrap_or(RunEnd {
                                results: 0,
                                full_credit: 0,
                                score_sum: 0,
                                reason: RunEndReason::Completed,
                            });
                            counted.insert(index, (position, records.results, end));
                        }
                    }
                }
                Some(Err(why)) => {
                    problems.push(format!("{}: {why}", path.display()));
                    report.not_of_plan = Some(why);
                }
                None => {}
            }
        }
        reports.push(report);
    }
    // Shards of one node's station in counter order never go back in time.
    for (position, why) in hardware.iter().flat_map(HardwareCheck::out_of_order) {
        if let Some(report) = reports.get_mut(position) {
            fail_level(&mut report.levels, why);
        }
    }
    let missing_shards: Vec<u32> = (0..count).filter(|i| !counted.contains_key(i)).collect();
    for &index in &missing_shards {
        let owned: Vec<&PlannedTask> = plan.plan.shard_entries(index).map(|(_, e)| e).collect();
        if owned.is_empty() {
            continue;
        }
        problems.push(format!(
            "shard {index} of {count} is missing (no valid bundle of it was given): \
             its {} planned entries have no result: {}",
            owned.len(),
            entry_list(owned.iter().copied())
        ));
    }
    let mut notes = Vec::new();
    for (index, (position, results, end)) in &counted {
        if let RunEndReason::AbortedModelErrors(n) = end.reason {
            let owned: Vec<&PlannedTask> = plan
                .plan
                .shard_entries(*index)
                .map(|(_, e)| e)
                .skip(results.len())
                .collect();
            notes.push(format!(
                "shard {index} ({}) was aborted after {n} consecutive model errors: \
                 no result for {}",
                shards[*position].display(),
                entry_list(owned.into_iter())
            ));
        }
    }
    let merged = merge(&plan, &counted);
    let mut levels = vec![LevelReport {
        level: Level::Plan,
        status: Status::Passed,
        note: Some(format!(
            "campaign {} signed by coordinator key {}: {} entries in {count} shards",
            airlock_core::hex::Hex(&plan.plan.campaign_id),
            plan.coordinator.key_id(),
            plan.plan.plan.len()
        )),
    }];
    for level in [
        Level::Decode,
        Level::Signatures,
        Level::Chain,
        Level::Completeness,
    ] {
        levels.push(over_shards(level, &reports));
    }
    levels.push(LevelReport {
        level: Level::Campaign,
        status: if problems.is_empty() {
            Status::Passed
        } else {
            Status::Failed(listed(&problems))
        },
        note: Some(if notes.is_empty() {
            format!(
                "{} of {} planned entries have a result, each exactly once, from {} of {count} shards",
                merged.results.len(),
                plan.plan.plan.len(),
                counted.len()
            )
        } else {
            listed(&notes)
        }),
    });
    if registrations.is_some() {
        levels.push(over_shards(Level::Hardware, &reports));
    }
    let summary = RunSummary {
        key_id: Some(plan.coordinator.key_id()),
        run_id: Some(plan.plan.campaign_id),
        records: reports.iter().map(|r| r.results).sum(),
        planned: Some(plan.plan.plan.len() as u64),
        results: merged.results.len() as u64,
        full_credit: merged
            .results
            .iter()
            .filter(|r| r.score == Ppm::FULL)
            .count() as u64,
        score_sum: merged.results.iter().map(|r| u64::from(r.score.0)).sum(),
        end: merged.run_end.as_ref().map(|e| e.reason.clone()),
        final_hash: None,
        station: None,
        run_start_hash: None,
        hardware: None,
    };
    let verdict = Verdict {
        levels,
        summary,
        records: options.collect_records.then_some(merged),
    };
    Ok(CampaignVerdict {
        plan_path: plan_path.to_path_buf(),
        plan: Some(plan),
        verdict,
        shards: reports,
        missing_shards,
    })
}

/// The key in a bundle's header, or `None` when the header does not read
/// (the bundle's decode level says why).
fn header_key(path: &Path) -> Result<Option<PublicKey>, AttestError> {
    let file = std::fs::File::open(path).map_err(io_err(path, "open"))?;
    let mut bytes = Vec::with_capacity(HEADER_LEN);
    file.take(HEADER_LEN as u64)
        .read_to_end(&mut bytes)
        .map_err(io_err(path, "read"))?;
    Ok(BundleHeader::decode(&bytes).ok().map(|h| h.public_key))
}

/// The shard index a verified RunStart claims, if it is a shard of `plan`
/// in every field it binds; otherwise what is wrong, in words.
pub fn membership(plan: &VerifiedPlan, start: &RunStart) -> Result<u32, String> {
    let p = &plan.plan;
    let Some(link) = &start.campaign else {
        return Err("is a run of its own, not a shard of a campaign".into());
    };
    if link.plan_hash != plan.hash {
        return Err(format!(
            "is a shard of another campaign plan (plan hash {}; this plan's is {})",
            link.plan_hash, plan.hash
        ));
    }
    if link.shard_count != p.shard_count || link.shard_index >= p.shard_count {
        return Err(format!(
            "claims to be shard {} of {}; the plan has {} shards",
            link.shard_index, link.shard_count, p.shard_count
        ));
    }
    let differs = |field: &str| Err(format!("RunStart.{field} differs from the campaign plan's"));
    if start.suite != p.suite {
        return differs("suite");
    }
    if start.profile != p.profile {
        return differs("profile");
    }
    if start.runner != p.runner {
        return differs("runner");
    }
    if start.model != p.model {
        return differs("model");
    }
    if start.seed != p.seed {
        return differs("seed");
    }
    let owned = p.shard_entries(link.shard_index).map(|(_, e)| e);
    if !start.plan.iter().eq(owned) {
        return Err(format!(
            "its plan of {} entries is not the {} entries shard {} owns",
            start.plan.len(),
            p.shard_entries(link.shard_index).count(),
            link.shard_index
        ));
    }
    Ok(link.shard_index)
}

/// The campaign as one run: the whole plan, and every counted result
/// renumbered to its campaign plan index, in plan order.
fn merge(
    plan: &VerifiedPlan,
    counted: &BTreeMap<u32, (usize, Vec<TaskResult>, RunEnd)>,
) -> CollectedRecords {
    let p = &plan.plan;
    let mut results = Vec::new();
    for k in 0..p.plan.len() as u64 {
        let shard = shard_of(k, p.shard_count);
        let position = (k / u64::from(p.shard_count)) as usize;
        if let Some(result) = counted
            .get(&shard)
            .and_then(|(_, results, _)| results.get(position))
        {
            let mut result = result.clone();
            result.plan_index = k as u32;
            results.push(result);
        }
    }
    let aborted = counted
        .values()
        .filter_map(|(_, _, end)| match end.reason {
            RunEndReason::AbortedModelErrors(n) => Some(n),
            RunEndReason::Completed => None,
        })
        .max();
    let run_end = RunEnd {
        results: results.len() as u32,
        full_credit: results.iter().filter(|r| r.score == Ppm::FULL).count() as u32,
        score_sum: results.iter().map(|r| u64::from(r.score.0)).sum(),
        reason: match aborted {
            Some(n) => RunEndReason::AbortedModelErrors(n),
            None => RunEndReason::Completed,
        },
    };
    CollectedRecords {
        run_start: Some(campaign_run_start(plan)),
        results,
        run_end: Some(run_end),
    }
}

/// A RunStart that stands for the whole campaign in reports: the plan's
/// fields, its id as the run id and the coordinator as the key. It is not
/// a record anyone signed; the plan and the shards are.
pub fn campaign_run_start(plan: &VerifiedPlan) -> RunStart {
    let p = &plan.plan;
    RunStart {
        run_id: p.campaign_id,
        started_at_unix_s: p.created_at_unix_s,
        suite: p.suite.clone(),
        plan: p.plan.clone(),
        profile: p.profile.clone(),
        runner: p.runner.clone(),
        model: p.model.clone(),
        seed: p.seed,
        evaluator_key_id: plan.coordinator.key_id(),
        station: StationLink {
            run_counter: 0,
            previous_run_start_hash: Digest::ZERO,
        },
        campaign: None,
        selection: None,
        settings: None,
        hardware: airlock_core::record::StationHardware::NoTpm,
    }
}

/// One level over every shard: failed if any shard failed it (naming the
/// first and counting the rest), not checked if any shard left it so.
fn over_shards(level: Level, reports: &[ShardReport]) -> LevelReport {
    let of = |r: &ShardReport| r.levels.iter().find(|l| l.level == level).cloned();
    let mut failed = Vec::new();
    let mut unchecked = Vec::new();
    for report in reports {
        match of(report).map(|l| l.status) {
            Some(Status::Failed(why)) => failed.push(format!("{}: {why}", report.path.display())),
            Some(Status::NotChecked(why)) => {
                unchecked.push(format!("{}: {why}", report.path.display()))
            }
            Some(Status::Passed) => {}
            None => unchecked.push(format!("{}: not reported", report.path.display())),
        }
    }
    let status = if !failed.is_empty() {
        Status::Failed(listed(&failed))
    } else if !unchecked.is_empty() {
        Status::NotChecked(listed(&unchecked))
    } else if reports.is_empty() {
        Status::NotChecked("no shard bundle was given".into())
    } else {
        Status::Passed
    };
    LevelReport {
        level,
        status,
        note: None,
    }
}

/// The first [`MAX_LISTED`] problems joined, and how many more.
fn listed(problems: &[String]) -> String {
    let mut text = problems
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > MAX_LISTED {
        text.push_str(&format!(" (and {} more)", problems.len() - MAX_LISTED));
    }
    text
}

/// Plan entries as `task a epochs 0, 8; task b epoch 3`, tasks in order of
/// first appearance.
fn entry_list<'a>(entries: impl Iterator<Item = &'a PlannedTask>) -> String {
    let mut tasks: Vec<(&str, Vec<u32>)> = Vec::new();
    for entry in entries {
        match tasks.iter_mut().find(|(t, _)| *t == entry.task_id) {
            Some((_, epochs)) => epochs.push(entry.epoch),
            None => tasks.push((&entry.task_id, vec![entry.epoch])),
        }
    }
    let groups: Vec<String> = tasks
        .iter()
        .map(|(task, epochs)| {
            let list: Vec<String> = epochs.iter().map(u32::to_string).collect();
            format!(
                "task {task} epoch{} {}",
                if epochs.len() == 1 { "" } else { "s" },
                list.join(", ")
            )
        })
        .collect();
    groups.join("; ")
}

/// The verdict when the plan itself does not verify: nothing else can be
/// checked against it.
fn unverified_plan(plan_path: &Path, why: &str, shards: &[PathBuf]) -> CampaignVerdict {
    let mut levels = vec![LevelReport {
        level: Level::Plan,
        status: Status::Failed(why.to_owned()),
        note: None,
    }];
    for level in [
        Level::Decode,
        Level::Signatures,
        Level::Chain,
        Level::Completeness,
        Level::Campaign,
    ] {
        levels.push(LevelReport {
            level,
            status: Status::NotChecked("the campaign plan did not verify".into()),
            note: None,
        });
    }
    CampaignVerdict {
        plan_path: plan_path.to_path_buf(),
        plan: None,
        verdict: Verdict {
            levels,
            summary: RunSummary::default(),
            records: None,
        },
        shards: shards
            .iter()
            .map(|path| ShardReport {
                path: path.clone(),
                key_id: None,
                authorized: false,
                shard_index: None,
                levels: Vec::new(),
                not_of_plan: None,
                counted: false,
                results: 0,
            })
            .collect(),
        missing_shards: Vec::new(),
    }
}

impl Serialize for ShardReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let verified =
            !self.levels.is_empty() && self.levels.iter().all(|l| l.status == Status::Passed);
        let mut s = serializer.serialize_struct("ShardReport", 8)?;
        s.serialize_field("path", &self.path.display().to_string())?;
        s.serialize_field("shard", &self.shard_index)?;
        s.serialize_field("key_id", &self.key_id.map(|k| k.to_hex().to_string()))?;
        s.serialize_field("authorized", &self.authorized)?;
        s.serialize_field("verified", &verified)?;
        s.serialize_field("not_of_plan", &self.not_of_plan)?;
        s.serialize_field("counted", &self.counted)?;
        s.serialize_field("results", &self.results)?;
        s.end()
    }
}

impl Serialize for CampaignVerdict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let plan = self.plan.as_ref();
        let summary = &self.verdict.summary;
        let mut s = serializer.serialize_struct("CampaignVerdict", 13)?;
        s.serialize_field("format", CAMPAIGN_VERDICT_FORMAT)?;
        s.serialize_field("verified", &self.verified())?;
        s.serialize_field("levels", &self.verdict.levels)?;
        s.serialize_field("plan", &self.plan_path.display().to_string())?;
        s.serialize_field(
            "campaign_id",
            &plan.map(|p| airlock_core::hex::Hex(&p.plan.campaign_id).to_string()),
        )?;
        s.serialize_field("plan_hash", &plan.map(|p| p.hash.to_hex().to_string()))?;
        s.serialize_field(
            "coordinator_key_id",
            &plan.map(|p| p.coordinator.key_id().to_hex().to_string()),
        )?;
        s.serialize_field("shard_count", &plan.map(|p| p.plan.shard_count))?;
        s.serialize_field("planned", &summary.planned)?;
        s.serialize_field("results", &summary.results)?;
        s.serialize_field("full_credit", &summary.full_credit)?;
        s.serialize_field("score_sum_ppm", &summary.score_sum)?;
        s.serialize_field("missing_shards", &self.missing_shards)?;
        s.serialize_field("shards", &self.shards)?;
        s.end()
    }
}

/// Plan entries `shard` owns, as records a runner would plan (for callers
/// that build a shard's RunStart).
pub fn shard_plan(plan: &CampaignPlan, shard: u32) -> Vec<PlannedTask> {
    plan.shard_entries(shard).map(|(_, e)| e.clone()).collect()
}
