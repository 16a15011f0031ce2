//! RFC 6962 Merkle trees over SHA-256 (written on another branch).

/// A SHA-256 digest: a Merkle tree node, leaf hash or root.
pub type Hash = [u8; 32];
