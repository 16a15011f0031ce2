//! The suite digest: one hash that names an ordered set of task modules.

use crate::digest::Digest;

/// blake3 key-derivation context of the suite digest.
pub const SUITE_CONTEXT: &str = "airlock v1 suite digest";

/// One task of a suite, as the digest sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteEntry<'a> {
    /// Task id.
    pub task_id: &'a str,
    /// Task version.
    pub version: u32,
    /// blake3 of the module bytes.
    pub module_digest: Digest,
}

/// `blake3_derive_key(SUITE_CONTEXT, len(name) u32 LE ‖ name ‖ count u32 LE ‖
/// for each task in order: len(id) u32 LE ‖ id ‖ version u32 LE ‖ module digest)`.
pub fn suite_digest(name: &str, tasks: &[SuiteEntry<'_>]) -> Digest {
    let mut h = blake3::Hasher::new_derive_key(SUITE_CONTEXT);
    h.update(&(name.len() as u32).to_le_bytes());
    h.update(name.as_bytes());
    h.update(&(tasks.len() as u32).to_le_bytes());
    for task in tasks {
        h.update(&(task.task_id.len() as u32).to_le_bytes());
        h.update(task.task_id.as_bytes());
        h.update(&task.version.to_le_bytes());
        h.update(task.module_digest.as_bytes());
    }
    Digest(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_order_and_every_field() {
        let a = SuiteEntry {
            task_id: "a",
            version: 1,
            module_digest: Digest([1; 32]),
        };
        let b = SuiteEntry {
            task_id: "b",
            version: 1,
            module_digest: Digest([2; 32]),
        };
        let base = suite_digest("s", &[a, b]);
        assert_ne!(base, suite_digest("s", &[b, a]));
        assert_ne!(base, suite_digest("t", &[a, b]));
        assert_ne!(base, suite_digest("s", &[a]));
        let a2 = SuiteEntry { version: 2, ..a };
        assert_ne!(base, suite_digest("s", &[a2, b]));
    }

    /// Pins the digest of a known suite (SPEC.md test vector; cross-checked with
    /// the Python blake3 package).
    #[test]
    fn suite_digest_vector() {
        let a = SuiteEntry {
            task_id: "a",
            version: 1,
            module_digest: Digest([1; 32]),
        };
        assert_eq!(
            suite_digest("s", &[a]).to_hex().as_str(),
            "a819ae500ddbe4bb55a846ba7fbac16bafda3baee6d6a18187a55fa9d59ec4e1"
        );
    }
}
