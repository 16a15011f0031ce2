//! Campaign plan files (SPEC.md, "Campaigns") and the verification of a
//! campaign's shard bundles against their plan ([`verify`]).
//!
//! File layout, a suite manifest's (`signed_file`): `magic (8) ‖ version
//! u16 LE ‖ flags u16 LE ‖ coordinator public key (32) ‖ plan length u32 LE
//! ‖ postcard(CampaignPlan) ‖ signature (64)`, nothing after. The signature
//! is Ed25519 over [`plan_signed_message`] of the plan's bytes.

pub mod verify;

use std::io::{Read, Write};
use std::path::Path;

use airlock_core::Digest;
use airlock_core::campaign::{CampaignPlan, MAX_SHARDS, plan_hash, plan_signed_message};
use airlock_core::record::Signature;

use crate::error::{AttestError, FORMAT_VERSION, io_err};
pub use crate::error::{MAX_PLAN_LEN, PlanFormatError};
use crate::fsutil::{AtomicFile, Overwrite};
use crate::keys::{PublicKey, SigningKey};
use crate::signed_file::Kind;

pub use verify::{CampaignVerdict, ShardReport, verify_campaign};

/// Magic of a campaign plan file: `\x89ALP\r\n\x1a\n`.
pub const PLAN_MAGIC: [u8; 8] = *b"\x89ALP\r\n\x1a\n";

/// A plan whose signature verified under a trusted coordinator key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPlan {
    /// The plan.
    pub plan: CampaignPlan,
    /// The coordinator key that signed it.
    pub coordinator: PublicKey,
    /// The hash each shard's RunStart names the plan by.
    pub hash: Digest,
}

/// The layout of a plan file.
const KIND: Kind = Kind {
    magic: PLAN_MAGIC,
    version: FORMAT_VERSION,
    max_body: MAX_PLAN_LEN,
    name: "campaign plan",
};

/// The bytes of a signed plan file.
pub fn encode_plan(plan: &CampaignPlan, coordinator: &SigningKey) -> Vec<u8> {
    let body = plan.to_bytes();
    let signature = coordinator.sign(&plan_signed_message(&body));
    KIND.encode(&coordinator.public_key(), &body, &signature)
}

/// Parses a plan file's bytes without checking the signature: the plan,
/// the key in the header, the signature and the plan's hash.
pub fn decode_plan(
    bytes: &[u8],
) -> Result<(CampaignPlan, PublicKey, Signature, Digest), PlanFormatError> {
    let file = KIND.decode(bytes).map_err(PlanFormatError::Layout)?;
    let plan = CampaignPlan::from_bytes(file.body).map_err(|_| PlanFormatError::Undecodable)?;
    if plan.shard_count == 0 || plan.shard_count > MAX_SHARDS {
        return Err(PlanFormatError::ShardCount(plan.shard_count));
    }
    if plan.shard_keys.is_empty() {
        return Err(PlanFormatError::NoShardKeys);
    }
    Ok((plan, file.signer, file.signature, plan_hash(file.body)))
}

/// Signs `plan` with `coordinator` and writes it to `path` atomically.
pub fn write_plan(
    path: &Path,
    plan: &CampaignPlan,
    coordinator: &SigningKey,
    overwrite: Overwrite,
) -> Result<Digest, AttestError> {
    let bytes = encode_plan(plan, coordinator);
    let mut file = AtomicFile::create(path, overwrite)?;
    let target = file.target_path().to_path_buf();
    file.file()?
        .write_all(&bytes)
        .map_err(io_err(&target, "write"))?;
    file.commit()?;
    Ok(plan_hash(&plan.to_bytes()))
}

/// Reads the plan at `path` and verifies its signature under one of
/// `trusted`, or, with `trusted` empty, under the key its header names
/// (for a shard, which checks the plan's content, not who made it).
pub fn read_plan(path: &Path, trusted: &[PublicKey]) -> Result<VerifiedPlan, AttestError> {
    let (file, _) = crate::fsutil::open_regular(path)?;
    let mut bytes = Vec::new();
    // Bounded read: a hostile "plan" of gigabytes is refused, not loaded.
    file.take(KIND.max_file_len() + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path, "read"))?;
    let (plan, coordinator, signature, hash) =
        decode_plan(&bytes).map_err(|problem| AttestError::BadPlan {
            path: path.to_path_buf(),
            problem,
        })?;
    // A weak (small-order) key verifies no signature, trusted or not
    // (`PublicKey::verify`), so such a plan fails below.
    if !trusted.is_empty() && !trusted.contains(&coordinator) {
        return Err(AttestError::UntrustedPlan {
            path: path.to_path_buf(),
            key_id: coordinator.key_id(),
        });
    }
    let body = plan.to_bytes();
    if !coordinator.verify(&plan_signed_message(&body), &signature) {
        return Err(AttestError::PlanSignature {
            path: path.to_path_buf(),
        });
    }
    Ok(VerifiedPlan {
        plan,
        coordinator,
        hash,
    })
}
