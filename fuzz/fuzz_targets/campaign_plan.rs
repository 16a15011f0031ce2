//! Campaign plans (`campaign.plan`) reach every node and every verifier on
//! a shared file system: any bytes decode to a plan whose shards split its
//! entries, each entry to exactly one shard, and whose signature is checked,
//! or give a reason, never a panic.
#![no_main]

use airlock_attest::campaign::decode_plan;
use airlock_core::campaign::{plan_signed_message, shard_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((plan, coordinator, signature, _hash)) = decode_plan(data) {
        assert!(plan.shard_count >= 1 && !plan.shard_keys.is_empty());
        let mut owned = 0usize;
        // Bounded: a hostile plan may declare many shards with few entries.
        for shard in 0..plan.shard_count.min(64) {
            for (k, _) in plan.shard_entries(shard) {
                assert_eq!(shard_of(k, plan.shard_count), shard);
                owned += 1;
            }
        }
        if plan.shard_count <= 64 {
            assert_eq!(owned, plan.plan.len());
        }
        let _ = coordinator.verify(&plan_signed_message(&plan.to_bytes()), &signature);
    }
});
