//! Campaign plan files (SPEC.md, "Campaigns") and the verification of a
//! campaign's shard bundles against their plan ([`verify`]).
//!
//! File layout, as a suite manifest's: `magic (8) ‖ version u16 LE ‖ flags
//! u16 LE ‖ coordinator public key (32) ‖ plan length u32 LE ‖
//! postcard(CampaignPlan) ‖ signature (64)`, nothing after. The signature is
//! Ed25519 over [`plan_signed_message`] of the plan's bytes.

pub mod verify;

use core::fmt;
use std::io::{Read, Write};
use std::path::Path;

use airlock_core::campaign::{CampaignPlan, MAX_SHARDS, plan_hash, plan_signed_message};
use airlock_core::record::Signature;
use airlock_core::{Classify, Digest, ErrorClass};

use crate::error::{AttestError, FORMAT_VERSION, io_err};
use crate::frame::MAX_FRAME_LEN;
use crate::fsutil::{AtomicFile, Overwrite};
use crate::keys::{PublicKey, SigningKey};

pub use verify::{CampaignVerdict, ShardReport, verify_campaign};

/// Magic of a campaign plan file: `\x89ALP\r\n\x1a\n`.
pub const PLAN_MAGIC: [u8; 8] = *b"\x89ALP\r\n\x1a\n";

const FIXED_LEN: usize = 8 + 2 + 2 + 32 + 4;

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

/// What is wrong with a campaign plan file's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanFormatError {
    /// The file is shorter than its fixed parts.
    Truncated,
    /// The magic is not a campaign plan's.
    BadMagic,
    /// Another format version.
    UnsupportedVersion(u16),
    /// Reserved flags are set.
    NonZeroFlags(u16),
    /// The declared plan length is over the frame limit.
    TooLong(u32),
    /// The plan body does not decode, or not in canonical form.
    Undecodable,
    /// Bytes follow the signature.
    TrailingBytes,
    /// The shard count is 0 or over [`MAX_SHARDS`].
    ShardCount(u32),
    /// The plan authorizes no key to sign shards.
    NoShardKeys,
}

// A plan is signed evidence: one that reads but does not parse is as
// altered as one whose signature fails.
impl Classify for PlanFormatError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Integrity
    }
}

impl fmt::Display for PlanFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanFormatError::Truncated => f.write_str("truncated"),
            PlanFormatError::BadMagic => f.write_str("not an Airlock campaign plan"),
            PlanFormatError::UnsupportedVersion(v) => {
                write!(f, "format version {v}; this build reads {FORMAT_VERSION}")
            }
            PlanFormatError::NonZeroFlags(flags) => {
                write!(f, "reserved flags {flags:#06x} are set")
            }
            PlanFormatError::TooLong(len) => {
                write!(f, "a plan of {len} bytes exceeds {MAX_FRAME_LEN}")
            }
            PlanFormatError::Undecodable => f.write_str("the plan body does not decode"),
            PlanFormatError::TrailingBytes => f.write_str("bytes follow the signature"),
            PlanFormatError::ShardCount(n) => {
                write!(f, "a shard count of {n} (1 to {MAX_SHARDS} are allowed)")
            }
            PlanFormatError::NoShardKeys => f.write_str("no key is authorized to sign shards"),
        }
    }
}

impl core::error::Error for PlanFormatError {}

/// The bytes of a signed plan file.
pub fn encode_plan(plan: &CampaignPlan, coordinator: &SigningKey) -> Vec<u8> {
    let body = plan.to_bytes();
    let signature = coordinator.sign(&plan_signed_message(&body));
    let mut out = Vec::with_capacity(FIXED_LEN + body.len() + 64);
    out.extend_from_slice(&PLAN_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&coordinator.public_key().0);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&signature.0);
    out
}

/// Parses a plan file's bytes without checking the signature: the plan,
/// the key in the header, the signature and the plan's hash.
pub fn decode_plan(
    bytes: &[u8],
) -> Result<(CampaignPlan, PublicKey, Signature, Digest), PlanFormatError> {
    if bytes.len() < FIXED_LEN {
        return Err(PlanFormatError::Truncated);
    }
    let (fixed, rest) = bytes.split_at(FIXED_LEN);
    if fixed[..8] != PLAN_MAGIC {
        return Err(PlanFormatError::BadMagic);
    }
    let version = u16::from_le_bytes([fixed[8], fixed[9]]);
    if version != FORMAT_VERSION {
        return Err(PlanFormatError::UnsupportedVersion(version));
    }
    let flags = u16::from_le_bytes([fixed[10], fixed[11]]);
    if flags != 0 {
        return Err(PlanFormatError::NonZeroFlags(flags));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&fixed[12..44]);
    let len = u32::from_le_bytes([fixed[44], fixed[45], fixed[46], fixed[47]]);
    if len > MAX_FRAME_LEN {
        return Err(PlanFormatError::TooLong(len));
    }
    let len = len as usize;
    if rest.len() < len + 64 {
        return Err(PlanFormatError::Truncated);
    }
    if rest.len() > len + 64 {
        return Err(PlanFormatError::TrailingBytes);
    }
    let body = &rest[..len];
    let plan = CampaignPlan::from_bytes(body).map_err(|_| PlanFormatError::Undecodable)?;
    if plan.shard_count == 0 || plan.shard_count > MAX_SHARDS {
        return Err(PlanFormatError::ShardCount(plan.shard_count));
    }
    if plan.shard_keys.is_empty() {
        return Err(PlanFormatError::NoShardKeys);
    }
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&rest[len..]);
    Ok((plan, PublicKey(key), Signature(signature), plan_hash(body)))
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
    file.take(u64::from(MAX_FRAME_LEN) + FIXED_LEN as u64 + 65)
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
