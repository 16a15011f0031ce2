//! Suites: the suite digest, one hash that names an ordered set of task
//! modules, and the manifest a suite authority signs.

#[cfg(feature = "alloc")]
use alloc::{string::String, vec::Vec};

#[cfg(feature = "alloc")]
use serde::{Deserialize, Serialize};

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

/// Prefix of the message a suite authority signs: this domain, then the
/// manifest's postcard bytes (SPEC.md, "Suite manifest").
pub const MANIFEST_SIGNATURE_DOMAIN: &[u8; 26] = b"airlock v1 suite manifest\0";

/// One task module of a signed suite.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg(feature = "alloc")]
pub struct ManifestTask {
    /// Task id, as the module's `TaskInfo` says.
    pub task_id: String,
    /// Task version, as the module's `TaskInfo` says.
    pub version: u32,
    /// The module's file name in the suite directory (no path separators).
    pub file_name: String,
    /// blake3 of the module bytes.
    pub module_digest: Digest,
}

/// The list of a suite's modules, in run order, that a suite authority signs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg(feature = "alloc")]
pub struct SuiteManifest {
    /// Suite name.
    pub name: String,
    /// Tasks in run order.
    pub tasks: Vec<ManifestTask>,
}

#[cfg(feature = "alloc")]
impl SuiteManifest {
    /// The [`suite_digest`] of the manifest's name and tasks.
    pub fn digest(&self) -> Digest {
        let entries: Vec<SuiteEntry<'_>> = self
            .tasks
            .iter()
            .map(|t| SuiteEntry {
                task_id: &t.task_id,
                version: t.version,
                module_digest: t.module_digest,
            })
            .collect();
        suite_digest(&self.name, &entries)
    }

    /// The exact bytes a suite authority signs: [`MANIFEST_SIGNATURE_DOMAIN`] ‖ postcard(manifest).
    pub fn signed_message(&self) -> Vec<u8> {
        let mut out = MANIFEST_SIGNATURE_DOMAIN.to_vec();
        out.extend_from_slice(&postcard::to_allocvec(self).unwrap_or_default());
        out
    }
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

    /// Exact bytes of a manifest and its signed message (SPEC.md, "Suite manifest").
    #[test]
    fn manifest_bytes_are_pinned() {
        use alloc::string::ToString;
        let manifest = SuiteManifest {
            name: "s".to_string(),
            tasks: alloc::vec![ManifestTask {
                task_id: "a".to_string(),
                version: 1,
                file_name: "a.wasm".to_string(),
                module_digest: Digest([1; 32]),
            }],
        };
        let mut expected = alloc::vec![1, b's', 1, 1, b'a', 1, 6];
        expected.extend_from_slice(b"a.wasm");
        expected.extend_from_slice(&[1; 32]);
        assert_eq!(postcard::to_allocvec(&manifest).unwrap(), expected);
        let message = manifest.signed_message();
        assert_eq!(&message[..26], b"airlock v1 suite manifest\0");
        assert_eq!(&message[26..], &expected[..]);
        assert_eq!(
            manifest.digest(),
            suite_digest(
                "s",
                &[SuiteEntry {
                    task_id: "a",
                    version: 1,
                    module_digest: Digest([1; 32])
                }]
            )
        );
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
