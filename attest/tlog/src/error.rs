//! The one error type of the crate.

use core::fmt;

use airlock_core::{Classify, ErrorClass};

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
        }
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
        }
    }
}

impl core::error::Error for TlogError {}
