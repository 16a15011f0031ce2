//! Chain hashing and the signed message (SPEC.md, "Chain" and "Signatures").
//!
//! Each record's chain hash covers the previous record's chain hash, the
//! record's sequence number and its postcard bytes, so each hash commits to
//! every record before it. The evaluator signs a domain-separated message
//! containing that hash, which makes every record a signed checkpoint.

use crate::digest::Digest;

/// blake3 key-derivation context of the record chain.
pub const CHAIN_CONTEXT: &str = "airlock v1 record chain";

/// Prefix of every signed message; the NUL ends the domain so that no other
/// Airlock message can be a prefix of it.
pub const SIGNATURE_DOMAIN: &[u8; 28] = b"airlock v1 record signature\0";

/// Length of [`signed_message`].
pub const SIGNED_MESSAGE_LEN: usize = SIGNATURE_DOMAIN.len() + 32;

/// The chain hash before the first record of a run.
pub const GENESIS: Digest = Digest::ZERO;

/// `blake3_derive_key(CHAIN_CONTEXT, prev ‖ seq as u64 LE ‖ body)`.
pub fn chain_hash(prev: &Digest, seq: u64, body: &[u8]) -> Digest {
    let mut h = ChainHasher::new(prev, seq);
    h.update(body);
    h.finalize()
}

/// [`chain_hash`] of a body that arrives in pieces, so that a record too
/// large to hold (a RunStart with a long plan) can be hashed as it is read.
#[derive(Clone, Debug)]
pub struct ChainHasher(blake3::Hasher);

impl ChainHasher {
    /// The hash state after `prev ‖ seq`, before any body byte.
    pub fn new(prev: &Digest, seq: u64) -> ChainHasher {
        let mut h = blake3::Hasher::new_derive_key(CHAIN_CONTEXT);
        h.update(prev.as_bytes());
        h.update(&seq.to_le_bytes());
        ChainHasher(h)
    }

    /// Adds the next bytes of the body.
    pub fn update(&mut self, body_part: &[u8]) {
        self.0.update(body_part);
    }

    /// The chain hash of everything added.
    pub fn finalize(&self) -> Digest {
        Digest(*self.0.finalize().as_bytes())
    }
}

/// The exact bytes an evaluator signs for a record: `SIGNATURE_DOMAIN ‖ chain hash`.
pub fn signed_message(chain_hash: &Digest) -> [u8; SIGNED_MESSAGE_LEN] {
    let mut out = [0u8; SIGNED_MESSAGE_LEN];
    out[..SIGNATURE_DOMAIN.len()].copy_from_slice(SIGNATURE_DOMAIN);
    out[SIGNATURE_DOMAIN.len()..].copy_from_slice(chain_hash.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the chain hash of a known input (SPEC.md test vector; cross-checked
    /// with the Python blake3 package).
    #[test]
    fn chain_hash_vector() {
        let h = chain_hash(&GENESIS, 0, b"airlock");
        assert_eq!(
            h.to_hex().as_str(),
            "f93530906140fb08b9081147244ac1a186cb5ede945514a7316ab6c3d08cd308"
        );
    }

    #[test]
    fn chain_hash_depends_on_every_input() {
        let base = chain_hash(&GENESIS, 0, b"x");
        assert_ne!(base, chain_hash(&Digest([1; 32]), 0, b"x"));
        assert_ne!(base, chain_hash(&GENESIS, 1, b"x"));
        assert_ne!(base, chain_hash(&GENESIS, 0, b"y"));
    }

    #[test]
    fn chain_hasher_in_pieces_equals_chain_hash() {
        let body = b"a body hashed in three pieces";
        let mut h = ChainHasher::new(&Digest([3; 32]), 7);
        h.update(&body[..4]);
        h.update(&[]);
        h.update(&body[4..]);
        assert_eq!(h.finalize(), chain_hash(&Digest([3; 32]), 7, body));
    }

    #[test]
    fn signed_message_layout() {
        let m = signed_message(&Digest([0xab; 32]));
        assert_eq!(&m[..28], b"airlock v1 record signature\0");
        assert_eq!(&m[28..], &[0xab; 32]);
    }
}
