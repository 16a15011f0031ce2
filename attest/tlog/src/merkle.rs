//! The RFC 6962 / RFC 9162 Merkle tree over SHA-256, its roots, and its
//! inclusion and consistency proofs, made and checked.
//!
//! Hashes follow RFC 9162 section 2.1.1: a leaf is `SHA-256(0x00 || data)`,
//! an interior node `SHA-256(0x01 || left || right)`, and the empty tree's
//! root is the SHA-256 of the empty string. The distinct prefixes keep a
//! leaf from being passed off as a node (second-preimage attacks).
//!
//! Proofs are lists of hashes in RFC 9162 order (2.1.3.1 and 2.1.4.1):
//! the hash nearest the leaf (or the old tree) first. These are the same
//! hashes, in the same order, that Certificate Transparency logs and Go's
//! `golang.org/x/mod/sumdb/tlog` produce and check.

use ring::digest;

use crate::error::TlogError;

/// A SHA-256 hash: a leaf hash, an interior node or a tree root.
pub type Hash = [u8; 32];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The hash of a leaf with these bytes: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[LEAF_PREFIX], data])
}

/// The hash of an interior node over two children:
/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[NODE_PREFIX], left, right])
}

/// The root of the tree with no leaves: the SHA-256 of the empty string.
fn empty_root() -> Hash {
    sha256(&[])
}

/// The largest power of two strictly less than `n` (RFC 9162's `k`);
/// `n` is at least 2.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The subtrees `[lo, hi)` whose hashes make the inclusion proof of leaf
/// `index` in the tree of the first `size` leaves, root side first (the
/// order in which RFC 9162's recursion meets them). Shared by the prover,
/// which hashes them, and the checker, which only counts them, so the two
/// agree on a proof's length by construction.
fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    ranges
}

/// The subtrees whose hashes make the consistency proof from `old_size` to
/// `new_size` (`0 < old_size < new_size`), root side first: RFC 9162
/// 2.1.4.1's SUBPROOF unrolled into a loop.
fn consistency_ranges(old_size: u64, new_size: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let (mut lo, mut hi) = (0, new_size);
    // Whether the old tree's root is the subtree being walked (and so known
    // to the checker already, and left out of the proof).
    let mut old_root_known = true;
    loop {
        let m = old_size - lo;
        let n = hi - lo;
        if m == n {
            if !old_root_known {
                ranges.push((lo, hi));
            }
            return ranges;
        }
        let k = split(n);
        if m <= k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
            old_root_known = false;
        }
    }
}

/// A Merkle tree over leaf hashes held in memory.
///
/// Besides the leaves it keeps every complete subtree's hash (level `l`
/// holds the hashes of the aligned runs of `2^l` leaves), about one more
/// hash per leaf; so a push costs amortised O(1) hashes, and a root or
/// proof at any size costs O(log n) of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// `levels[l][i]` is the hash of leaves `i * 2^l .. (i + 1) * 2^l`;
    /// `levels[0]` holds the leaf hashes themselves.
    levels: Vec<Vec<Hash>>,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree {
            levels: vec![Vec::new()],
        }
    }

    /// The tree over these leaf hashes, in order.
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> Tree {
        let mut tree = Tree::new();
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// Appends a leaf hash (see [`leaf_hash`]) as the next leaf.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            let n = row.len();
            // An even count completes a pair, whose parent is one level up.
            if n % 2 == 1 {
                return;
            }
            hash = node_hash(&row[n - 2], &row[n - 1]);
            level += 1;
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The hash of leaf `index` (0-based), if the tree has it.
    pub fn leaf(&self, index: u64) -> Option<&Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels[0].get(i))
    }

    /// The root of the whole tree (RFC 9162's MTH).
    pub fn root(&self) -> Hash {
        self.range_hash(0, self.size())
    }

    /// The root of the tree of the first `size` leaves, as the log had it
    /// when it was that size.
    pub fn root_at(&self, size: u64) -> Result<Hash, TlogError> {
        self.check_size(size)?;
        Ok(self.range_hash(0, size))
    }

    /// The inclusion proof (RFC 9162 2.1.3.1) of leaf `index` in the tree
    /// of the first `size` leaves: the leaf's sibling first, the root's
    /// other child last.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TlogError> {
        self.check_size(size)?;
        if index >= size {
            return Err(TlogError::IndexOutOfRange { index, size });
        }
        Ok(self.hashes_of(inclusion_ranges(index, size)))
    }

    /// The consistency proof (RFC 9162 2.1.4.1) that the tree of the first
    /// `old_size` leaves is a prefix of the tree of the first `new_size`.
    /// It is empty when `old_size` is 0 or equals `new_size`: there is
    /// nothing to prove.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, TlogError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(TlogError::OldSizeLarger { old_size, new_size });
        }
        if old_size == 0 || old_size == new_size {
            return Ok(Vec::new());
        }
        Ok(self.hashes_of(consistency_ranges(old_size, new_size)))
    }

    fn check_size(&self, size: u64) -> Result<(), TlogError> {
        let tree_size = self.size();
        if size > tree_size {
            return Err(TlogError::SizeOutOfRange { size, tree_size });
        }
        Ok(())
    }

    /// The proof's hashes, leaf (or old tree) side first, from ranges
    /// listed root side first.
    fn hashes_of(&self, ranges: Vec<(u64, u64)>) -> Vec<Hash> {
        ranges
            .into_iter()
            .rev()
            .map(|(lo, hi)| self.range_hash(lo, hi))
            .collect()
    }

    /// MTH of leaves `[lo, hi)`, with `hi` at most the tree's size. A
    /// range that is a complete aligned subtree is read from `levels`;
    /// any other splits as RFC 9162 does, at the largest power of two below
    /// its length, so the ranges the proofs ask for cost O(log n) hashes.
    fn range_hash(&self, lo: u64, hi: u64) -> Hash {
        let n = hi - lo;
        if n == 0 {
            return empty_root();
        }
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            // lo / n < size / n, the length of that level: the index is
            // in range, and fits a usize since the level is in memory.
            return self.levels[level][(lo >> level) as usize];
        }
        let k = split(n);
        node_hash(&self.range_hash(lo, lo + k), &self.range_hash(lo + k, hi))
    }
}

/// Checks an inclusion proof (RFC 9162 2.1.3.2): that the leaf with hash
/// `leaf` is leaf `index` of the tree of `size` leaves whose root is
/// `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), TlogError> {
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_ranges(index, size).len();
    if proof.len() != expected {
        return Err(TlogError::InclusionProofLength {
            index,
            size,
            expected,
            got: proof.len(),
        });
    }
    let mismatch = TlogError::InclusionMismatch { index, size };
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(mismatch);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            // Skip the levels where this node is a left child with no right
            // sibling: the right edge of an incomplete tree.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n == 0 && r == *root {
        Ok(())
    } else {
        Err(mismatch)
    }
}

/// Checks a consistency proof (RFC 9162 2.1.4.2): that the tree of
/// `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`.
///
/// The empty tree is a prefix of every tree (with an empty proof), and two
/// trees of one size are consistent when their roots are equal (with an
/// empty proof). A proof that does not join the roots is
/// [`TlogError::ConsistencyMismatch`]: with roots both signed by the log,
/// the log has forked.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), TlogError> {
    if old_size > new_size {
        return Err(TlogError::OldSizeLarger { old_size, new_size });
    }
    let expected = if old_size == 0 || old_size == new_size {
        0
    } else {
        consistency_ranges(old_size, new_size).len()
    };
    if proof.len() != expected {
        return Err(TlogError::ConsistencyProofLength {
            old_size,
            new_size,
            expected,
            got: proof.len(),
        });
    }
    let mismatch = TlogError::ConsistencyMismatch { old_size, new_size };
    if old_size == 0 {
        return Ok(());
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(mismatch)
        };
    }
    // When the old tree is a complete subtree its root is the first node of
    // the path, and the proof leaves it out.
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(mismatch);
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = **first;
    let mut s_r = **first;
    for c in rest {
        if s_n == 0 {
            return Err(mismatch);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n == 0 && f_r == *old_root && s_r == *new_root {
        Ok(())
    } else {
        Err(mismatch)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use airlock_core::{Classify, ErrorClass};

    use super::*;

    fn hex(s: &str) -> Hash {
        assert_eq!(s.len(), 64, "{s}");
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    fn hexes(list: &[&str]) -> Vec<Hash> {
        list.iter().map(|s| hex(s)).collect()
    }

    /// The leaves of the CT / Trillian reference tree (trillian
    /// `merkle/testonly/constants.go`, from CT's C++ `merkle_tree_test.cc`).
    const CT_LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];

    /// Their roots for sizes 0 to 8.
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn ct_tree() -> Tree {
        Tree::from_leaf_hashes(CT_LEAVES.iter().map(|d| leaf_hash(d)).collect())
    }

    /// The naive RFC 9162 MTH, straight from its recursive definition, as
    /// the reference for the stored-level tree.
    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn leaf_and_node_hashes_use_the_rfc_6962_prefixes() {
        // RFC 9162's empty-tree root, and CT's size-1 root: the leaf hash
        // of the empty string, SHA-256(0x00).
        assert_eq!(Tree::new().root(), hex(CT_ROOTS[0]));
        assert_eq!(leaf_hash(b""), hex(CT_ROOTS[1]));
        let (a, b) = (leaf_hash(b""), leaf_hash(b"\x00"));
        assert_eq!(node_hash(&a, &b), hex(CT_ROOTS[2]));
        assert_ne!(node_hash(&b, &a), hex(CT_ROOTS[2]));
    }

    #[test]
    fn ct_reference_roots_for_every_size() {
        let tree = ct_tree();
        for (size, root) in CT_ROOTS.iter().enumerate() {
            assert_eq!(tree.root_at(size as u64).unwrap(), hex(root), "size {size}");
        }
        assert_eq!(tree.root(), hex(CT_ROOTS[8]));
        // Built a leaf at a time, each intermediate root is the reference.
        let mut grown = Tree::new();
        for (i, data) in CT_LEAVES.iter().enumerate() {
            grown.push(leaf_hash(data));
            assert_eq!(grown.size(), i as u64 + 1);
            assert_eq!(grown.root(), hex(CT_ROOTS[i + 1]), "size {}", i + 1);
        }
        assert_eq!(grown, tree);
    }

    #[test]
    fn ct_reference_inclusion_proofs() {
        // Trillian merkle/compact and CT's ReferenceMerklePath vectors
        // (0-based leaf index, tree size, proof).
        let vectors: [(u64, u64, &[&str]); 6] = [
            (0, 1, &[]),
            (
                1,
                2,
                &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
            ),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        let tree = ct_tree();
        for (index, size, want) in vectors {
            let want = hexes(want);
            let proof = tree.inclusion_proof(index, size).unwrap();
            assert_eq!(proof, want, "leaf {index} in size {size}");
            let leaf = leaf_hash(CT_LEAVES[index as usize]);
            let root = hex(CT_ROOTS[size as usize]);
            verify_inclusion(&leaf, index, size, &want, &root).unwrap();
        }
    }

    #[test]
    fn ct_reference_consistency_proofs() {
        // CT's ReferenceSnapshotConsistency vectors, as Trillian has them.
        let vectors: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        let tree = ct_tree();
        for (old, new, want) in vectors {
            let want = hexes(want);
            assert_eq!(
                tree.consistency_proof(old, new).unwrap(),
                want,
                "{old} -> {new}"
            );
            let (old_root, new_root) = (hex(CT_ROOTS[old as usize]), hex(CT_ROOTS[new as usize]));
            verify_consistency(old, new, &want, &old_root, &new_root).unwrap();
        }
    }

    #[test]
    fn roots_match_the_naive_definition_up_to_300_leaves() {
        let all = leaves(300);
        let tree = Tree::from_leaf_hashes(all.clone());
        for size in 0..=300u64 {
            assert_eq!(
                tree.root_at(size).unwrap(),
                naive_root(&all[..size as usize]),
                "size {size}"
            );
        }
        for (i, leaf) in all.iter().enumerate() {
            assert_eq!(tree.leaf(i as u64), Some(leaf));
        }
        assert_eq!(tree.leaf(300), None);
        assert_eq!(tree.leaf(u64::MAX), None);
    }

    /// The sides on which an inclusion proof's hashes join the running
    /// hash, as RFC 9162's checker walks them: the whole of what the
    /// checker learns from the index and size.
    fn inclusion_shape(index: u64, size: u64) -> Vec<bool> {
        let mut shape = Vec::new();
        let (mut f_n, mut s_n) = (index, size - 1);
        while s_n != 0 {
            let left = f_n & 1 == 1 || f_n == s_n;
            shape.push(left);
            if left {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
            f_n >>= 1;
            s_n >>= 1;
        }
        shape
    }

    #[test]
    fn every_inclusion_proof_up_to_64_leaves_verifies_and_every_change_fails() {
        let all = leaves(64);
        let tree = Tree::from_leaf_hashes(all.clone());
        for size in 1..=64u64 {
            let root = tree.root_at(size).unwrap();
            for index in 0..size {
                let leaf = all[index as usize];
                let proof = tree.inclusion_proof(index, size).unwrap();
                assert_eq!(proof.len(), inclusion_shape(index, size).len());
                verify_inclusion(&leaf, index, size, &proof, &root).unwrap();

                // One byte of one hash changed.
                for h in 0..proof.len() {
                    for byte in 0..32 {
                        let mut bad = proof.clone();
                        bad[h][byte] ^= 0x01;
                        assert_eq!(
                            verify_inclusion(&leaf, index, size, &bad, &root),
                            Err(TlogError::InclusionMismatch { index, size }),
                            "leaf {index} size {size} hash {h} byte {byte}"
                        );
                    }
                }
                // One hash replaced, dropped or added, or two swapped.
                for h in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[h] = leaf;
                    assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
                    let mut short = proof.clone();
                    short.remove(h);
                    assert!(matches!(
                        verify_inclusion(&leaf, index, size, &short, &root),
                        Err(TlogError::InclusionProofLength { .. })
                    ));
                    if h + 1 < proof.len() && proof[h] != proof[h + 1] {
                        let mut swapped = proof.clone();
                        swapped.swap(h, h + 1);
                        assert!(verify_inclusion(&leaf, index, size, &swapped, &root).is_err());
                    }
                }
                let mut long = proof.clone();
                long.push(root);
                assert!(matches!(
                    verify_inclusion(&leaf, index, size, &long, &root),
                    Err(TlogError::InclusionProofLength { .. })
                ));
                // Another leaf, another root.
                let mut other = leaf;
                other[0] ^= 0x80;
                assert!(verify_inclusion(&other, index, size, &proof, &root).is_err());
                let mut bad_root = root;
                bad_root[31] ^= 0x01;
                assert!(verify_inclusion(&leaf, index, size, &proof, &bad_root).is_err());
                // Any other index fails.
                for wrong in 0..size {
                    if wrong != index {
                        assert!(
                            verify_inclusion(&leaf, wrong, size, &proof, &root).is_err(),
                            "leaf {index} size {size} passed as leaf {wrong}"
                        );
                    }
                }
                // Another size passes only where the checker walks exactly
                // the same path: then the computation is the same one, and
                // it is the signed checkpoint that binds a root to its size.
                for wrong in index + 1..=64 {
                    if wrong == size {
                        continue;
                    }
                    let same_walk = inclusion_shape(index, wrong) == inclusion_shape(index, size);
                    assert_eq!(
                        verify_inclusion(&leaf, index, wrong, &proof, &root).is_ok(),
                        same_walk,
                        "leaf {index} size {size} checked as size {wrong}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_up_to_64_leaves_verifies_and_every_change_fails() {
        let tree = Tree::from_leaf_hashes(leaves(64));
        let roots: Vec<Hash> = (0..=64).map(|s| tree.root_at(s).unwrap()).collect();
        for new in 1..=64u64 {
            let new_root = roots[new as usize];
            for old in 1..new {
                let old_root = roots[old as usize];
                let proof = tree.consistency_proof(old, new).unwrap();
                verify_consistency(old, new, &proof, &old_root, &new_root).unwrap();
                let fork = Err(TlogError::ConsistencyMismatch {
                    old_size: old,
                    new_size: new,
                });

                for h in 0..proof.len() {
                    for byte in 0..32 {
                        let mut bad = proof.clone();
                        bad[h][byte] ^= 0x01;
                        assert_eq!(
                            verify_consistency(old, new, &bad, &old_root, &new_root),
                            fork,
                            "{old} -> {new} hash {h} byte {byte}"
                        );
                    }
                    let mut short = proof.clone();
                    short.remove(h);
                    assert!(matches!(
                        verify_consistency(old, new, &short, &old_root, &new_root),
                        Err(TlogError::ConsistencyProofLength { .. })
                    ));
                }
                let mut long = proof.clone();
                long.push(new_root);
                assert!(matches!(
                    verify_consistency(old, new, &long, &old_root, &new_root),
                    Err(TlogError::ConsistencyProofLength { .. })
                ));
                // Either root changed in one byte: a fork.
                for byte in 0..32 {
                    let mut bad = old_root;
                    bad[byte] ^= 0x01;
                    assert_eq!(verify_consistency(old, new, &proof, &bad, &new_root), fork);
                    let mut bad = new_root;
                    bad[byte] ^= 0x01;
                    assert_eq!(verify_consistency(old, new, &proof, &old_root, &bad), fork);
                }
                // The proof, with the right roots, for any other pair of
                // sizes fails (over the pairs up to 32 leaves, to keep the
                // test quick: the pairs are squared).
                if new > 32 {
                    continue;
                }
                for other_old in 1..=32u64 {
                    for other_new in other_old..=32u64 {
                        if (other_old, other_new) == (old, new) {
                            continue;
                        }
                        assert!(
                            verify_consistency(
                                other_old,
                                other_new,
                                &proof,
                                &roots[other_old as usize],
                                &roots[other_new as usize]
                            )
                            .is_err()
                                || (other_old == other_new && proof.is_empty()),
                            "{old} -> {new} passed as {other_old} -> {other_new}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_fork_is_a_consistency_mismatch_naming_both_sizes() {
        // A log shows its root at size 4, then rewrites leaf 3 and grows to
        // 9: its own proof from 4 to 9 cannot join the root it showed.
        let honest = Tree::from_leaf_hashes(leaves(9));
        let mut forked_leaves = leaves(9);
        forked_leaves[3] = leaf_hash(b"rewritten");
        let forked = Tree::from_leaf_hashes(forked_leaves);
        let proof = forked.consistency_proof(4, 9).unwrap();
        let err = verify_consistency(4, 9, &proof, &honest.root_at(4).unwrap(), &forked.root())
            .unwrap_err();
        assert_eq!(
            err,
            TlogError::ConsistencyMismatch {
                old_size: 4,
                new_size: 9
            }
        );
        assert_eq!(err.class(), ErrorClass::Integrity);
        let text = err.to_string();
        assert!(text.contains("size 4") && text.contains("size 9"), "{text}");
    }

    #[test]
    fn edge_sizes_and_misuse() {
        let tree = Tree::from_leaf_hashes(leaves(5));
        let root = tree.root();
        let empty = Tree::new().root();
        // Old size 0: consistent with anything, with an empty proof only.
        assert_eq!(tree.consistency_proof(0, 5).unwrap(), Vec::<Hash>::new());
        verify_consistency(0, 5, &[], &empty, &root).unwrap();
        verify_consistency(0, 0, &[], &empty, &empty).unwrap();
        assert_eq!(
            verify_consistency(0, 5, &[root], &empty, &root),
            Err(TlogError::ConsistencyProofLength {
                old_size: 0,
                new_size: 5,
                expected: 0,
                got: 1
            })
        );
        // Equal sizes: equal roots and an empty proof.
        assert_eq!(tree.consistency_proof(5, 5).unwrap(), Vec::<Hash>::new());
        verify_consistency(5, 5, &[], &root, &root).unwrap();
        let other = tree.root_at(4).unwrap();
        assert_eq!(
            verify_consistency(5, 5, &[], &root, &other),
            Err(TlogError::ConsistencyMismatch {
                old_size: 5,
                new_size: 5
            })
        );
        assert!(matches!(
            verify_consistency(5, 5, &[root], &root, &root),
            Err(TlogError::ConsistencyProofLength { .. })
        ));
        // Old larger than new.
        let larger = TlogError::OldSizeLarger {
            old_size: 5,
            new_size: 4,
        };
        assert_eq!(tree.consistency_proof(5, 4), Err(larger.clone()));
        assert_eq!(
            verify_consistency(5, 4, &[], &root, &other),
            Err(larger.clone())
        );
        assert_eq!(larger.class(), ErrorClass::Input);
        // Sizes past the tree, indices past the size.
        let past = TlogError::SizeOutOfRange {
            size: 6,
            tree_size: 5,
        };
        assert_eq!(tree.root_at(6), Err(past.clone()));
        assert_eq!(tree.inclusion_proof(0, 6), Err(past.clone()));
        assert_eq!(tree.consistency_proof(1, 6), Err(past.clone()));
        assert_eq!(past.class(), ErrorClass::Input);
        let outside = TlogError::IndexOutOfRange { index: 5, size: 5 };
        assert_eq!(tree.inclusion_proof(5, 5), Err(outside.clone()));
        assert_eq!(outside.class(), ErrorClass::Input);
        assert_eq!(
            tree.inclusion_proof(0, 0),
            Err(TlogError::IndexOutOfRange { index: 0, size: 0 })
        );
        let leaf = *tree.leaf(0).unwrap();
        assert_eq!(
            verify_inclusion(&leaf, 5, 5, &[], &root),
            Err(TlogError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            verify_inclusion(&leaf, 0, 0, &[], &empty),
            Err(TlogError::IndexOutOfRange { index: 0, size: 0 })
        );
        // A one-leaf tree: the leaf is the root, with an empty proof.
        let one = Tree::from_leaf_hashes(vec![leaf]);
        assert_eq!(one.inclusion_proof(0, 1).unwrap(), Vec::<Hash>::new());
        verify_inclusion(&leaf, 0, 1, &[], &leaf).unwrap();
        assert!(verify_inclusion(&leaf, 0, 1, &[], &root).is_err());
        // Huge sizes are checked, not overflowed.
        let proof = vec![leaf; 64];
        assert!(verify_inclusion(&leaf, u64::MAX - 1, u64::MAX, &proof, &root).is_err());
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &proof, &root, &root).is_err());
    }

    #[test]
    fn messages_name_the_proof_and_sizes() {
        let cases = [
            (
                TlogError::InclusionMismatch { index: 3, size: 7 },
                ["inclusion", "leaf 3", "size 7"],
                ErrorClass::Integrity,
            ),
            (
                TlogError::InclusionProofLength {
                    index: 3,
                    size: 7,
                    expected: 3,
                    got: 2,
                },
                ["inclusion", "leaf 3", "expected 3"],
                ErrorClass::Integrity,
            ),
            (
                TlogError::ConsistencyProofLength {
                    old_size: 2,
                    new_size: 9,
                    expected: 4,
                    got: 1,
                },
                ["consistency", "size 2 to 9", "expected 4"],
                ErrorClass::Integrity,
            ),
            (
                TlogError::ConsistencyMismatch {
                    old_size: 2,
                    new_size: 9,
                },
                ["consistency", "size 2", "size 9"],
                ErrorClass::Integrity,
            ),
            (
                TlogError::OldSizeLarger {
                    old_size: 9,
                    new_size: 2,
                },
                ["consistency", "old tree size 9", "new tree size 2"],
                ErrorClass::Input,
            ),
            (
                TlogError::IndexOutOfRange { index: 4, size: 4 },
                ["merkle", "leaf index 4", "4 leaves"],
                ErrorClass::Input,
            ),
            (
                TlogError::SizeOutOfRange {
                    size: 5,
                    tree_size: 4,
                },
                ["merkle", "tree size 5", "4 leaves"],
                ErrorClass::Input,
            ),
        ];
        for (error, words, class) in cases {
            let text = error.to_string();
            for word in words {
                assert!(text.contains(word), "{text:?} lacks {word:?}");
            }
            assert_eq!(error.class(), class, "{error:?}");
        }
    }
}
