//! Transparency-log formats for Airlock's station log (SPEC.md, "Station
//! log").
//!
//! - [`merkle`]: the RFC 6962 Merkle tree over SHA-256 (leaf prefix 0x00,
//!   node prefix 0x01), its roots, and inclusion and consistency proofs,
//!   made and checked.
//! - [`note`]: C2SP signed notes (`c2sp.org/signed-note`): note text,
//!   signature lines, key ids and verifier keys (vkeys).
//! - [`checkpoint`]: the C2SP tlog-checkpoint body (origin, size, root).
//! - [`cosignature`]: C2SP tlog-cosignature `cosignature/v1` (Ed25519,
//!   timestamped) signatures by witnesses.
//! - [`proof`]: the `c2sp.org/tlog-proof@v1` offline receipt.
//! - [`policy`]: C2SP tlog-policy files and their quorum rules.
//! - [`witness_request`]: the tlog-witness `add-checkpoint` request body
//!   (old size, consistency proof, checkpoint), which carries a checkpoint
//!   to a witness on removable media as well as over HTTP.
//!
//! Nothing here touches a file or reads a clock; every function is a pure
//! function of its bytes, so the formats are pinned by exact-byte tests
//! against the specifications' own examples.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod checkpoint;
pub mod cosignature;
pub mod error;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod proof;
pub mod witness_request;

pub use error::TlogError;
pub use merkle::Hash;
