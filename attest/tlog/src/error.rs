//! The one error type of the crate.

use core::fmt;

use airlock_core::{Classify, ErrorClass};

use crate::proof::ProofPart;

/// Why a log format could not be read, or a proof, signature or quorum did
/// not hold.
///
/// Variants are grouped by module; [`Classify`] says which are integrity
/// failures (the bytes were read and are not what they claim) and which
/// are input errors (the bytes could not be read as the format at all).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlogError {
    // --- merkle ---
    /// A leaf index at or past the end of the tree it was asked of.
    IndexOutOfRange {
        /// The leaf index asked for (0-based).
        index: u64,
        /// The number of leaves in that tree.
        size: u64,
    },
    /// A tree size larger than the tree that holds the leaves.
    SizeOutOfRange {
        /// The tree size asked for.
        size: u64,
        /// The number of leaves the tree holds.
        tree_size: u64,
    },
    /// A consistency proof asked for, or checked, from a larger tree to a
    /// smaller one.
    OldSizeLarger {
        /// The older (first) tree size.
        old_size: u64,
        /// The newer (second) tree size.
        new_size: u64,
    },
    /// An inclusion proof with more or fewer hashes than its index and
    /// tree size call for.
    InclusionProofLength {
        /// The leaf index the proof is for.
        index: u64,
        /// The tree size the proof is for.
        size: u64,
        /// The number of hashes the index and size call for.
        expected: usize,
        /// The number of hashes the proof has.
        got: usize,
    },
    /// An inclusion proof that does not lead from its leaf to the root.
    InclusionMismatch {
        /// The leaf index the proof is for.
        index: u64,
        /// The tree size the proof is for.
        size: u64,
    },
    /// A consistency proof with more or fewer hashes than its two tree
    /// sizes call for.
    ConsistencyProofLength {
        /// The older tree size.
        old_size: u64,
        /// The newer tree size.
        new_size: u64,
        /// The number of hashes the sizes call for.
        expected: usize,
        /// The number of hashes the proof has.
        got: usize,
    },
    /// A consistency proof that does not join the old root to the new one:
    /// what a forked log (two histories under one name) looks like.
    ConsistencyMismatch {
        /// The older tree size.
        old_size: u64,
        /// The newer tree size.
        new_size: u64,
    },
    // --- note ---
    /// A signed note breaks a rule of c2sp.org/signed-note (line 1 is the
    /// note's first line).
    NoteMalformed {
        /// The 1-based line of the note that is wrong.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A text or key name handed in to be signed is not one a signed note
    /// can carry.
    NoteSigningInput {
        /// What is wrong with it.
        reason: String,
    },
    /// A verifier key (vkey) string is not `<name>+<key id>+<key>` with a
    /// matching key id and a supported algorithm.
    VerifierKeyMalformed {
        /// What is wrong with it.
        reason: String,
    },
    /// No signature line carries the name and key id of the expected key.
    SignatureMissing {
        /// The key name whose signature was expected.
        name: String,
    },
    /// A signature line with a known key's name and key id does not verify.
    SignatureInvalid {
        /// The key name of the signature line.
        name: String,
        /// The key id of the signature line.
        key_id: u32,
        /// Why it does not verify.
        reason: &'static str,
    },
    // --- checkpoint ---
    /// A checkpoint body breaks a rule of c2sp.org/tlog-checkpoint (line 1
    /// is the origin line).
    CheckpointMalformed {
        /// The 1-based line of the checkpoint body that is wrong.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    // --- cosignature ---
    /// A cosignature timestamp above 2^63-1, which tlog-cosignature forbids.
    CosignatureTimestamp {
        /// The timestamp that was asked for.
        timestamp: u64,
    },
    // --- proof ---
    /// A `c2sp.org/tlog-proof@v1` receipt is malformed in one named part.
    ProofMalformed {
        /// The part of the proof that is wrong.
        part: ProofPart,
        /// The 1-based line of the proof file that is wrong.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    // --- policy ---
    /// A tlog-policy file breaks a rule of c2sp.org/tlog-policy.
    PolicyMalformed {
        /// The 1-based line of the policy that is wrong.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The checkpoint's origin names no log of the policy.
    PolicyUnknownOrigin {
        /// The checkpoint's origin line.
        origin: String,
    },
    /// A listed witness's cosignature line does not verify.
    WitnessCosignatureInvalid {
        /// The witness's name in the policy.
        witness: String,
        /// The key name on the signature line.
        key_name: String,
        /// Why it does not verify.
        reason: &'static str,
    },
    /// The witnesses that cosigned do not satisfy the policy's quorum.
    QuorumNotMet {
        /// The quorum rule, in words.
        rule: String,
        /// The listed witnesses that cosigned.
        cosigned: Vec<String>,
        /// The listed witnesses that did not.
        missing: Vec<String>,
    },
    // --- witness_request ---
    /// A tlog-witness add-checkpoint request body is malformed.
    AddCheckpointMalformed {
        /// The 1-based line of the request body that is wrong.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl Classify for TlogError {
    fn class(&self) -> ErrorClass {
        match self {
            // --- merkle ---
            TlogError::IndexOutOfRange { .. }
            | TlogError::SizeOutOfRange { .. }
            | TlogError::OldSizeLarger { .. } => ErrorClass::Input,
            TlogError::InclusionProofLength { .. }
            | TlogError::InclusionMismatch { .. }
            | TlogError::ConsistencyProofLength { .. }
            | TlogError::ConsistencyMismatch { .. } => ErrorClass::Integrity,
            // --- note ---
            TlogError::NoteMalformed { .. } => ErrorClass::Input,
            TlogError::NoteSigningInput { .. } => ErrorClass::Input,
            TlogError::VerifierKeyMalformed { .. } => ErrorClass::Input,
            // A well-formed note that lacks the signature it must carry is
            // not what it claims to be: a statement by that key.
            TlogError::SignatureMissing { .. } => ErrorClass::Integrity,
            TlogError::SignatureInvalid { .. } => ErrorClass::Integrity,
            // --- checkpoint ---
            TlogError::CheckpointMalformed { .. } => ErrorClass::Input,
            // --- cosignature ---
            TlogError::CosignatureTimestamp { .. } => ErrorClass::Input,
            // --- proof ---
            TlogError::ProofMalformed { .. } => ErrorClass::Input,
            // --- policy ---
            TlogError::PolicyMalformed { .. } => ErrorClass::Input,
            // The checkpoint claims a log the policy does not trust: read,
            // and not acceptable as evidence.
            TlogError::PolicyUnknownOrigin { .. } => ErrorClass::Integrity,
            TlogError::WitnessCosignatureInvalid { .. } => ErrorClass::Integrity,
            TlogError::QuorumNotMet { .. } => ErrorClass::Integrity,
            // --- witness_request ---
            TlogError::AddCheckpointMalformed { .. } => ErrorClass::Input,
        }
    }
}

fn join(names: &[String]) -> String {
    if names.is_empty() {
        String::from("(none)")
    } else {
        names.join(", ")
    }
}

impl fmt::Display for TlogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // --- merkle ---
            TlogError::IndexOutOfRange { index, size } => write!(
                f,
                "merkle tree: leaf index {index} is outside a tree of {size} leaves"
            ),
            TlogError::SizeOutOfRange { size, tree_size } => write!(
                f,
                "merkle tree: tree size {size} is larger than the {tree_size} leaves the tree holds"
            ),
            TlogError::OldSizeLarger { old_size, new_size } => write!(
                f,
                "merkle consistency proof: old tree size {old_size} is larger than new tree size {new_size}"
            ),
            TlogError::InclusionProofLength {
                index,
                size,
                expected,
                got,
            } => write!(
                f,
                "merkle inclusion proof for leaf {index} in tree size {size}: {got} hashes, \
                 expected {expected}"
            ),
            TlogError::InclusionMismatch { index, size } => write!(
                f,
                "merkle inclusion proof for leaf {index} in tree size {size} does not reach the root"
            ),
            TlogError::ConsistencyProofLength {
                old_size,
                new_size,
                expected,
                got,
            } => write!(
                f,
                "merkle consistency proof from tree size {old_size} to {new_size}: {got} hashes, \
                 expected {expected}"
            ),
            TlogError::ConsistencyMismatch { old_size, new_size } => write!(
                f,
                "merkle consistency proof does not join the root of tree size {old_size} to the \
                 root of tree size {new_size}: the log forked, or the proof or a root is wrong"
            ),
            // --- note ---
            TlogError::NoteMalformed { line, reason } => {
                write!(f, "signed note, line {line}: {reason}")
            }
            TlogError::NoteSigningInput { reason } => {
                write!(f, "cannot sign note: {reason}")
            }
            TlogError::VerifierKeyMalformed { reason } => {
                write!(f, "verifier key: {reason}")
            }
            TlogError::SignatureMissing { name } => write!(f, "no signature by {name}"),
            TlogError::SignatureInvalid {
                name,
                key_id,
                reason,
            } => write!(
                f,
                "signature by {name} (key id {key_id:08x}) does not verify: {reason}"
            ),
            // --- checkpoint ---
            TlogError::CheckpointMalformed { line, reason } => {
                write!(f, "checkpoint body, line {line}: {reason}")
            }
            // --- cosignature ---
            TlogError::CosignatureTimestamp { timestamp } => {
                write!(f, "cosignature timestamp {timestamp} exceeds 2^63-1")
            }
            // --- proof ---
            TlogError::ProofMalformed { part, line, reason } => {
                write!(f, "tlog proof, {part} (line {line}): {reason}")
            }
            // --- policy ---
            TlogError::PolicyMalformed { line, reason } => {
                write!(f, "tlog policy, line {line}: {reason}")
            }
            TlogError::PolicyUnknownOrigin { origin } => {
                write!(f, "checkpoint origin {origin:?} is not a log of the policy")
            }
            TlogError::WitnessCosignatureInvalid {
                witness,
                key_name,
                reason,
            } => write!(
                f,
                "cosignature by witness {witness} (key {key_name}) does not verify: {reason}"
            ),
            TlogError::QuorumNotMet {
                rule,
                cosigned,
                missing,
            } => write!(
                f,
                "quorum not met: {rule}; cosigned by: {}; not cosigned by: {}",
                join(cosigned),
                join(missing)
            ),
            // --- witness_request ---
            TlogError::AddCheckpointMalformed { line, reason } => {
                write!(f, "add-checkpoint request, line {line}: {reason}")
            }
        }
    }
}

impl core::error::Error for TlogError {}
