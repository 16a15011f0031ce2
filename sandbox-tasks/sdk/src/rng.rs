//! A deterministic, portable random generator for building task instances.
//!
//! The stream is the blake3 extended output (XOF) of the seed under the
//! key-derivation context [`CONTEXT`], so it is the same on every platform,
//! in the guest and on the host, and independent of any other use of the
//! seed. It is not meant to be fast, only reproducible: a task draws a few
//! hundred bytes to lay out an instance.

use blake3::OutputReader;

/// blake3 key-derivation context of the stream.
pub const CONTEXT: &str = "airlock v1 task rng";

/// A seeded generator. The same seed always gives the same sequence.
#[derive(Clone)]
pub struct Rng {
    reader: OutputReader,
    block: [u8; 64],
    /// Bytes of `block` already handed out.
    used: usize,
}

impl core::fmt::Debug for Rng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The state would reveal the rest of the stream: keep it out of logs.
        f.write_str("Rng { .. }")
    }
}

impl Rng {
    /// The generator for `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Rng {
        let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
        hasher.update(&seed);
        Rng {
            reader: hasher.finalize_xof(),
            block: [0; 64],
            used: 64,
        }
    }

    /// Fills `out` with the next bytes of the stream.
    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        let mut filled = 0;
        while filled < out.len() {
            if self.used == self.block.len() {
                // Whole blocks: the XOF computes one per 64 bytes anyway.
                self.reader.fill(&mut self.block);
                self.used = 0;
            }
            let take = (out.len() - filled).min(self.block.len() - self.used);
            out[filled..filled + take].copy_from_slice(&self.block[self.used..self.used + take]);
            self.used += take;
            filled += take;
        }
    }

    /// The next 32 bits (little-endian bytes of the stream).
    pub fn next_u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    /// The next 64 bits (little-endian bytes of the stream).
    pub fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// A uniform number in `0..n`, without modulo bias; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // 2^64 mod n: rejecting draws below it leaves a range whose size is
        // a multiple of n.
        let reject_below = n.wrapping_neg() % n;
        loop {
            let x = self.next_u64();
            if x >= reject_below {
                return x % n;
            }
        }
    }

    /// A uniform number in `low..=high`; `low` when `high < low`.
    pub fn range_inclusive(&mut self, low: u64, high: u64) -> u64 {
        if high < low {
            return low;
        }
        match (high - low).checked_add(1) {
            Some(span) => low + self.below(span),
            None => self.next_u64(),
        }
    }

    /// A uniform index in `0..len`; 0 when `len` is 0.
    pub fn index(&mut self, len: usize) -> usize {
        // usize is at most 64 bits on every target we build for.
        self.below(len as u64) as usize
    }

    /// A uniformly chosen element, or `None` for an empty slice.
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        items.get(self.index(items.len()))
    }

    /// Shuffles `items` uniformly (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let mut a = Rng::from_seed([1; 32]);
        let mut b = Rng::from_seed([1; 32]);
        let mut c = Rng::from_seed([2; 32]);
        let xs: [u64; 8] = core::array::from_fn(|_| a.next_u64());
        let ys: [u64; 8] = core::array::from_fn(|_| b.next_u64());
        let zs: [u64; 8] = core::array::from_fn(|_| c.next_u64());
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    /// Pins the stream so that a change of derivation (which would change
    /// every task instance) cannot go unnoticed.
    #[test]
    fn stream_is_the_blake3_xof_of_the_seed() {
        let mut rng = Rng::from_seed([0; 32]);
        let mut ours = [0u8; 100];
        // Odd-sized reads must concatenate to the same stream.
        rng.fill_bytes(&mut ours[..3]);
        rng.fill_bytes(&mut ours[3..70]);
        rng.fill_bytes(&mut ours[70..]);
        let mut expected = [0u8; 100];
        let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
        hasher.update(&[0; 32]);
        hasher.finalize_xof().fill(&mut expected);
        assert_eq!(ours, expected);
        let mut rng = Rng::from_seed([0; 32]);
        assert_eq!(
            rng.next_u32(),
            u32::from_le_bytes([ours[0], ours[1], ours[2], ours[3]])
        );
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::from_seed([3; 32]);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            let x = rng.below(7);
            assert!(x < 7);
            seen[x as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
        assert!(rng.below(u64::MAX) < u64::MAX);
        for _ in 0..100 {
            let x = rng.range_inclusive(3, 5);
            assert!((3..=5).contains(&x));
        }
        assert_eq!(rng.range_inclusive(5, 3), 5);
    }

    #[test]
    fn choose_and_shuffle() {
        let mut rng = Rng::from_seed([4; 32]);
        assert_eq!(rng.choose::<u8>(&[]), None);
        assert_eq!(rng.choose(&[9]), Some(&9));
        let mut items = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        rng.shuffle(&mut items);
        let mut sorted = items;
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_ne!(items, sorted);
    }
}
