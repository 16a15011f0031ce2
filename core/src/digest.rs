//! 32-byte digests (blake3 and SHA-256 alike) and seed derivation.

use core::fmt;

use serde::{Deserialize, Serialize};

/// A 32-byte digest. On the wire (postcard) it is 32 raw bytes, no length.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The all-zero digest, used where there is no predecessor.
    pub const ZERO: Digest = Digest([0; 32]);

    /// The blake3 hash of `bytes`.
    pub fn blake3(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hexadecimal, written into a fixed buffer (no allocation).
    pub fn to_hex(&self) -> HexDigest {
        let mut out = [0u8; 64];
        // 64 digits for 32 bytes: the lengths always agree.
        let _ = crate::hex::encode_to_slice(&self.0, &mut out);
        HexDigest(out)
    }

    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(text: &str) -> Option<Digest> {
        crate::hex::decode_array(text).map(Digest)
    }
}

/// Hexadecimal text of a [`Digest`], usable as `&str` without allocation.
#[derive(Clone, Copy)]
pub struct HexDigest([u8; 64]);

impl HexDigest {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into the buffer.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_hex().as_str())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

/// blake3 key-derivation context for per-task instance seeds.
pub const INSTANCE_SEED_CONTEXT: &str = "airlock v1 instance seed";

/// The seed a task instance is started with, derived from the run seed, the
/// task id and the epoch, so that every (task, epoch) of a run gets its own
/// instance and a re-run with the same run seed gets the same ones.
///
/// Input: run seed (32 bytes) ‖ task id length (u32 LE) ‖ task id ‖ epoch (u32 LE).
pub fn instance_seed(run_seed: &[u8; 32], task_id: &str, epoch: u32) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(INSTANCE_SEED_CONTEXT);
    h.update(run_seed);
    h.update(&(task_id.len() as u32).to_le_bytes());
    h.update(task_id.as_bytes());
    h.update(&epoch.to_le_bytes());
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let d = Digest::blake3(b"airlock");
        let hex = d.to_hex();
        assert_eq!(Digest::from_hex(hex.as_str()), Some(d));
        assert_eq!(Digest::from_hex("zz"), None);
        assert_eq!(Digest::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn instance_seeds_differ_by_task_and_epoch() {
        let run = [7u8; 32];
        let a = instance_seed(&run, "xor", 0);
        assert_ne!(a, instance_seed(&run, "xor", 1));
        assert_ne!(a, instance_seed(&run, "xo", 0));
        assert_eq!(a, instance_seed(&run, "xor", 0));
    }
}
