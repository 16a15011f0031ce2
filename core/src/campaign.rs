//! Campaigns: one signed plan run as shards (SPEC.md, "Campaigns").
//!
//! A campaign plan is made and signed once by a coordinator before any
//! shard runs. Each shard is an ordinary run whose RunStart carries a
//! [`CampaignLink`](crate::record::CampaignLink) to the plan and whose plan
//! is exactly the plan entries its index owns: entry `k` belongs to shard
//! `k mod shard_count`. Which shard runs what is therefore a function of the
//! plan alone, so no two shards can both own an entry and a verifier
//! recomputes every shard's part without being told.

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::record::{ModelDescriptor, PlannedTask, ProfileRef, RunnerBuild, SuiteRef};

/// Prefix of the message a coordinator signs: this domain, then the plan's
/// postcard bytes. The NUL ends the domain, as in the other signed messages.
pub const PLAN_SIGNATURE_DOMAIN: &[u8; 25] = b"airlock v1 campaign plan\0";

/// blake3 derive-key context of [`plan_hash`].
pub const PLAN_HASH_CONTEXT: &str = "airlock v1 campaign plan hash";

/// The most shards a plan may have: far more array tasks than any cluster
/// runs at once, small enough that a verifier's table of shards stays small.
pub const MAX_SHARDS: u32 = 65_536;

/// The whole campaign, signed by the coordinator before any shard runs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CampaignPlan {
    /// Random campaign identifier.
    pub campaign_id: [u8; 16],
    /// When the plan was made, seconds since the Unix epoch (information only).
    pub created_at_unix_s: u64,
    /// The suite every shard runs.
    pub suite: SuiteRef,
    /// Every planned task instance of the campaign, in the order a
    /// one-machine run of the same suite and epochs plans them.
    pub plan: Vec<PlannedTask>,
    /// The hardware profile every shard is limited by.
    pub profile: ProfileRef,
    /// The runner build and engine settings every shard must run under.
    pub runner: RunnerBuild,
    /// The model under test.
    pub model: ModelDescriptor,
    /// The run seed of every shard: instance seeds derive from it, the task
    /// id and the epoch only, so a shard's instances are those of a
    /// one-machine run with this seed.
    pub seed: [u8; 32],
    /// How many shards the plan is split into (1 to [`MAX_SHARDS`]).
    pub shard_count: u32,
    /// Key ids of the evaluator keys allowed to sign shards.
    pub shard_keys: Vec<Digest>,
}

impl CampaignPlan {
    /// The postcard bytes of the plan (the body the coordinator signs).
    pub fn to_bytes(&self) -> Vec<u8> {
        // No maps, no unknown lengths: serializing to a Vec cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a plan from its postcard bytes, in canonical form, with
    /// nothing left over.
    pub fn from_bytes(bytes: &[u8]) -> Result<CampaignPlan, postcard::Error> {
        crate::decode_exact(bytes)
    }

    /// The plan entries shard `shard` owns, with their positions in the
    /// campaign plan, in campaign order.
    pub fn shard_entries(&self, shard: u32) -> impl Iterator<Item = (u64, &PlannedTask)> + '_ {
        let count = u64::from(self.shard_count.max(1));
        self.plan
            .iter()
            .enumerate()
            .skip(shard as usize)
            .step_by(count as usize)
            .map(|(k, entry)| (k as u64, entry))
    }
}

/// Which shard owns campaign plan entry `index` of a plan split into
/// `shard_count` shards (`shard_count` 0 is taken as 1).
pub fn shard_of(index: u64, shard_count: u32) -> u32 {
    (index % u64::from(shard_count.max(1))) as u32
}

/// The exact bytes a coordinator signs for a plan whose postcard bytes are
/// `body`: [`PLAN_SIGNATURE_DOMAIN`] ‖ body.
pub fn plan_signed_message(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PLAN_SIGNATURE_DOMAIN.len() + body.len());
    out.extend_from_slice(PLAN_SIGNATURE_DOMAIN);
    out.extend_from_slice(body);
    out
}

/// The hash that names a plan in each shard's RunStart:
/// `blake3_derive_key(PLAN_HASH_CONTEXT, body)` over the plan's postcard bytes.
pub fn plan_hash(body: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new_derive_key(PLAN_HASH_CONTEXT);
    h.update(body);
    Digest(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::ToolMode;
    use crate::record::SuiteTrust;
    use alloc::string::ToString;
    use alloc::vec;

    fn plan(entries: u32, shards: u32) -> CampaignPlan {
        CampaignPlan {
            campaign_id: [1; 16],
            created_at_unix_s: 2,
            suite: SuiteRef {
                name: "s".to_string(),
                digest: Digest([3; 32]),
                trust: SuiteTrust::Embedded,
            },
            plan: (0..entries)
                .map(|e| PlannedTask {
                    task_id: "t".to_string(),
                    task_version: 1,
                    module_digest: Digest([4; 32]),
                    epoch: e,
                })
                .collect(),
            profile: ProfileRef {
                name: "p".to_string(),
                digest: Digest([5; 32]),
            },
            runner: RunnerBuild {
                airlock_version: "0".to_string(),
                wasmtime_version: "w".to_string(),
                engine_settings: Digest([6; 32]),
                executable: Digest([7; 32]),
            },
            model: ModelDescriptor {
                agent: "a".to_string(),
                model: "m".to_string(),
                reported_model: "".to_string(),
                tool_mode: ToolMode::Native,
            },
            seed: [8; 32],
            shard_count: shards,
            shard_keys: vec![Digest([9; 32])],
        }
    }

    #[test]
    fn every_entry_belongs_to_exactly_one_shard() {
        for shards in 1..=9 {
            let p = plan(20, shards);
            let mut seen = vec![0u32; 20];
            for shard in 0..shards {
                for (k, entry) in p.shard_entries(shard) {
                    assert_eq!(shard_of(k, shards), shard);
                    assert_eq!(entry.epoch as u64, k);
                    seen[k as usize] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{shards} shards: {seen:?}");
        }
    }

    #[test]
    fn shards_beyond_the_plan_own_nothing() {
        let p = plan(3, 5);
        assert_eq!(p.shard_entries(3).count(), 0);
        assert_eq!(p.shard_entries(4).count(), 0);
        assert_eq!(p.shard_entries(2).count(), 1);
    }

    #[test]
    fn plan_bytes_round_trip_and_the_hash_is_pinned() {
        let p = plan(1, 2);
        let bytes = p.to_bytes();
        assert_eq!(CampaignPlan::from_bytes(&bytes), Ok(p));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(CampaignPlan::from_bytes(&longer).is_err());
        assert_eq!(
            plan_hash(&bytes).to_hex().as_str(),
            "75f8ec708d35deffbd75dbb96f2ebd13b360924ab900ad429c7e5d0fdc9801b2"
        );
        assert!(plan_signed_message(&bytes).starts_with(b"airlock v1 campaign plan\0"));
    }
}
