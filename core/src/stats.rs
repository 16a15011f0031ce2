//! Statistics over scores, in integers only (SPEC.md, "Report statistics").
//!
//! Every value here is computed with integer or exact rational arithmetic,
//! so the same results give the same numbers, to the last digit, on every
//! platform: a verifier's laptop, the enclave machine and a no_std target.
//! Nothing uses floats.
//!
//! - [`Moments`]: mean and standard error of scores in parts per million.
//! - [`BootstrapRng`] and [`bootstrap_interval`]: a 95% percentile bootstrap
//!   interval of the mean, drawn from a blake3 output stream seeded by the
//!   run, so the same bundle always gives the same interval.
//! - [`pass_at_k`] and [`pass_hat_k`]: the unbiased pass@k estimator of
//!   Chen et al. (2021) and pass^k, as exact fractions ([`Ratio`]).
//! - [`summarize`]: all of the above per task, per category and overall.
//!
//! Rounding, wherever a value becomes whole parts per million, is to the
//! nearest integer with halves rounded up, unless a function says otherwise.

use core::fmt;

use crate::score::Ppm;

/// blake3 key-derivation context of the bootstrap generator.
pub const BOOTSTRAP_CONTEXT: &str = "airlock v1 report bootstrap";

/// Bootstrap resamples per interval.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// Sorted resample means left out below the interval and, as many, above
/// it: 25 of 1000 on each side leave the central 95%.
pub const BOOTSTRAP_TAIL: usize = 25;

/// Largest denominator a [`Ratio`] may have: 2^124, so that converting any
/// ratio to parts per million stays within `u128` (ten times a remainder).
pub const RATIO_MAX_DENOMINATOR: u128 = 1 << 124;

/// Why a statistic could not be computed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum StatsError {
    /// A fraction's denominator was zero.
    ZeroDenominator,
    /// An exact value would not fit in 128 bits (or its denominator would
    /// exceed [`RATIO_MAX_DENOMINATOR`]).
    Overflow,
    /// `k` was zero or larger than the number of samples `n`.
    BadK {
        /// Samples.
        n: u32,
        /// Asked-for k.
        k: u32,
    },
    /// More passes than samples.
    PassesAboveSamples {
        /// Samples.
        n: u32,
        /// Passes.
        c: u32,
    },
}

// Statistics are asked of values the caller chose; nothing read from a
// file failed a check.
impl crate::Classify for StatsError {
    fn class(&self) -> crate::ErrorClass {
        match self {
            StatsError::ZeroDenominator
            | StatsError::Overflow
            | StatsError::BadK { .. }
            | StatsError::PassesAboveSamples { .. } => crate::ErrorClass::Input,
        }
    }
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatsError::ZeroDenominator => f.write_str("a fraction's denominator is zero"),
            StatsError::Overflow => f.write_str("the exact value does not fit in 128 bits"),
            StatsError::BadK { n, k } => write!(f, "k = {k} is not within 1..={n}"),
            StatsError::PassesAboveSamples { n, c } => {
                write!(f, "{c} passes of {n} samples")
            }
        }
    }
}

impl core::error::Error for StatsError {}

/// Greatest common divisor (Euclid); `gcd(0, 0)` is 0.
pub fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// An exact non-negative fraction in lowest terms, with a denominator of at
/// most [`RATIO_MAX_DENOMINATOR`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ratio {
    num: u128,
    den: u128,
}

impl Ratio {
    /// Zero.
    pub const ZERO: Ratio = Ratio { num: 0, den: 1 };
    /// One.
    pub const ONE: Ratio = Ratio { num: 1, den: 1 };

    /// `num / den` in lowest terms.
    pub fn new(num: u128, den: u128) -> Result<Ratio, StatsError> {
        if den == 0 {
            return Err(StatsError::ZeroDenominator);
        }
        // den > 0, so g >= 1.
        let g = gcd(num, den);
        let (num, den) = (num / g, den / g);
        if den > RATIO_MAX_DENOMINATOR {
            return Err(StatsError::Overflow);
        }
        Ok(Ratio { num, den })
    }

    /// The numerator (lowest terms).
    pub fn numerator(self) -> u128 {
        self.num
    }

    /// The denominator (lowest terms, at least 1).
    pub fn denominator(self) -> u128 {
        self.den
    }

    /// `self + other`, exactly.
    pub fn checked_add(self, other: Ratio) -> Result<Ratio, StatsError> {
        let g = gcd(self.den, other.den);
        let (a_scale, b_scale) = (other.den / g, self.den / g);
        let num = self
            .num
            .checked_mul(a_scale)
            .and_then(|a| {
                other
                    .num
                    .checked_mul(b_scale)
                    .and_then(|b| a.checked_add(b))
            })
            .ok_or(StatsError::Overflow)?;
        let den = self.den.checked_mul(a_scale).ok_or(StatsError::Overflow)?;
        Ratio::new(num, den)
    }

    /// `self / divisor`, exactly.
    pub fn checked_div_int(self, divisor: u128) -> Result<Ratio, StatsError> {
        if divisor == 0 {
            return Err(StatsError::ZeroDenominator);
        }
        // Cancel first so that the product stays as small as it can.
        // divisor > 0, so g >= 1.
        let g = gcd(self.num, divisor);
        let (num, divisor) = (self.num / g, divisor / g);
        let den = self.den.checked_mul(divisor).ok_or(StatsError::Overflow)?;
        Ratio::new(num, den)
    }

    /// `1 - self`, for a ratio of at most one.
    pub fn complement(self) -> Result<Ratio, StatsError> {
        match self.den.checked_sub(self.num) {
            Some(num) => Ratio::new(num, self.den),
            None => Err(StatsError::Overflow),
        }
    }

    /// The value in parts per million, rounded to nearest with halves up.
    pub fn to_ppm_rounded(self) -> u128 {
        let whole = self.num / self.den;
        let mut rest = self.num % self.den;
        // Seven decimal digits of the fraction by long division: each step
        // multiplies a remainder below den <= 2^124 by ten, within u128.
        let mut digits: u128 = 0;
        for _ in 0..7 {
            rest *= 10;
            digits = digits * 10 + rest / self.den;
            rest %= self.den;
        }
        // floor(x * 10^7) + 5, divided by ten, is x * 10^6 rounded half up:
        // the discarded remainder cannot carry past a multiple of ten.
        whole
            .saturating_mul(1_000_000)
            .saturating_add((digits + 5) / 10)
    }

    /// The value as a score, for a ratio of at most one (larger ratios cap
    /// at full credit).
    pub fn to_ppm(self) -> Ppm {
        Ppm(self.to_ppm_rounded().min(u128::from(Ppm::FULL.0)) as u32)
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

impl fmt::Debug for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ratio({}/{})", self.num, self.den)
    }
}

/// The binomial coefficient `C(n, k)`, exactly; zero when `k > n`.
pub fn binomial(n: u32, k: u32) -> Result<u128, StatsError> {
    if k > n {
        return Ok(0);
    }
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for j in 1..=u128::from(k) {
        // C(n, j) = C(n, j-1) * (n-j+1) / j. With g = gcd(C, j), j/g divides
        // (n-j+1), so dividing first keeps every intermediate no larger
        // than the result.
        let factor = u128::from(n) - j + 1;
        let g = gcd(c, j);
        c = (c / g)
            .checked_mul(factor / (j / g))
            .ok_or(StatsError::Overflow)?;
    }
    Ok(c)
}

fn check_counts(n: u32, c: u32, k: u32) -> Result<(), StatsError> {
    if k == 0 || k > n {
        return Err(StatsError::BadK { n, k });
    }
    if c > n {
        return Err(StatsError::PassesAboveSamples { n, c });
    }
    Ok(())
}

/// pass@k: the chance that at least one of `k` samples, drawn without
/// replacement from `n` of which `c` passed, passes. Chen et al. (2021),
/// "Evaluating Large Language Models Trained on Code", eq. 1:
/// `1 - C(n-c, k) / C(n, k)`, the unbiased estimator, as an exact fraction.
pub fn pass_at_k(n: u32, c: u32, k: u32) -> Result<Ratio, StatsError> {
    check_counts(n, c, k)?;
    Ratio::new(binomial(n - c, k)?, binomial(n, k)?)?.complement()
}

/// pass^k: the chance that all of `k` samples, drawn without replacement
/// from `n` of which `c` passed, pass: `C(c, k) / C(n, k)`, exactly.
pub fn pass_hat_k(n: u32, c: u32, k: u32) -> Result<Ratio, StatsError> {
    check_counts(n, c, k)?;
    Ratio::new(binomial(c, k)?, binomial(n, k)?)
}

/// The `k` at which pass@k and pass^k are reported for `n` samples: the
/// powers of two below `n`, then `n` itself (1, 2, 4, …, n).
pub fn report_ks(n: u32) -> impl Iterator<Item = u32> {
    let mut next = if n == 0 { None } else { Some(1u32) };
    core::iter::from_fn(move || {
        let k = next?;
        next = match k.checked_mul(2) {
            Some(doubled) if doubled < n => Some(doubled),
            _ if k < n => Some(n),
            _ => None,
        };
        Some(k)
    })
}

/// Running count, sum and sum of squares of scores: the mean and the
/// standard error without keeping the scores.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Moments {
    count: u64,
    sum: u128,
    sum_squares: u128,
}

impl Moments {
    /// No scores yet.
    pub fn new() -> Moments {
        Moments::default()
    }

    /// Adds one score.
    pub fn push(&mut self, score: Ppm) {
        let x = u128::from(score.0);
        self.count += 1;
        self.sum += x;
        self.sum_squares += x * x;
    }

    /// Scores added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the scores, in parts per million.
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// The mean, rounded to nearest (halves up); `None` without scores.
    pub fn mean(&self) -> Option<Ppm> {
        if self.count == 0 {
            return None;
        }
        let n = u128::from(self.count);
        Some(Ppm(((2 * self.sum + n) / (2 * n)) as u32))
    }

    /// The standard error of the mean, `s / sqrt(n)` with the sample
    /// standard deviation `s` (divisor `n - 1`), rounded to nearest (halves
    /// up). `None` with fewer than two scores (or more than 2^32, beyond
    /// exact 128-bit arithmetic).
    ///
    /// With `N = n·Σx² − (Σx)²` and `D = n²·(n − 1)` the variance of the
    /// mean is exactly `N / D`; its square root is rounded by comparing
    /// squares, never by approximating.
    pub fn standard_error(&self) -> Option<Ppm> {
        if self.count < 2 || self.count > u64::from(u32::MAX) {
            return None;
        }
        let n = u128::from(self.count);
        let numerator = n
            .checked_mul(self.sum_squares)?
            .checked_sub(self.sum * self.sum)?;
        let denominator = n * n * (n - 1);
        let (q, r) = (numerator / denominator, numerator % denominator);
        let k = q.isqrt();
        // sqrt(q + r/D) >= k + 1/2  <=>  4·D·(q − k² − k) + 4·r >= D,
        // where q − k² − k lies in [−k, k]: signed, and small.
        let excess = q as i128 - (k * k + k) as i128;
        let lhs = 4 * (denominator as i128) * excess + 4 * r as i128;
        let rounded = if lhs >= denominator as i128 { k + 1 } else { k };
        Some(Ppm(rounded.min(u128::from(Ppm::FULL.0)) as u32))
    }
}

/// A closed interval of scores.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Interval {
    /// Lower bound.
    pub low: Ppm,
    /// Upper bound.
    pub high: Ppm,
}

/// The bootstrap's deterministic generator: the output stream of blake3 in
/// key-derivation mode, context [`BOOTSTRAP_CONTEXT`], key material
/// `run_seed (32) ‖ run_id (16) ‖ len(label) u32 LE ‖ label`, read as
/// consecutive little-endian `u64` words. Its first 32 bytes are
/// `blake3_derive_key(BOOTSTRAP_CONTEXT, material)`.
///
/// Each group of results (`overall`, `category:NAME`, `task:ID`) has its own
/// stream, so one group's interval does not depend on which other groups a
/// report shows.
pub struct BootstrapRng {
    reader: blake3::OutputReader,
    block: [u8; 64],
    used: usize,
}

impl fmt::Debug for BootstrapRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapRng")
            .field("position", &self.reader.position())
            .finish_non_exhaustive()
    }
}

impl BootstrapRng {
    /// The stream of one group of one run.
    pub fn new(run_seed: &[u8; 32], run_id: &[u8; 16], label: &str) -> BootstrapRng {
        let mut hasher = blake3::Hasher::new_derive_key(BOOTSTRAP_CONTEXT);
        hasher.update(run_seed);
        hasher.update(run_id);
        hasher.update(&(label.len() as u32).to_le_bytes());
        hasher.update(label.as_bytes());
        BootstrapRng {
            reader: hasher.finalize_xof(),
            block: [0; 64],
            used: 64,
        }
    }

    /// The next word of the stream.
    pub fn next_u64(&mut self) -> u64 {
        if self.used == self.block.len() {
            self.reader.fill(&mut self.block);
            self.used = 0;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.block[self.used..self.used + 8]);
        self.used += 8;
        u64::from_le_bytes(word)
    }

    /// A uniform integer in `0..n` (`n` > 0), without modulo bias: words
    /// below `2^64 mod n` are skipped, then the word is taken modulo `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        let n = n.max(1);
        let skip = n.wrapping_neg() % n;
        loop {
            let word = self.next_u64();
            if word >= skip {
                return word % n;
            }
        }
    }
}

/// A 95% percentile bootstrap interval of the mean of `scores`; `None` with
/// fewer than two scores.
///
/// [`BOOTSTRAP_RESAMPLES`] times, draw `n` indices with [`BootstrapRng::below`]
/// (resample by resample, index by index, from `scores` in the order given)
/// and sum the scores drawn. Sort the sums; the interval runs from the sum
/// at index [`BOOTSTRAP_TAIL`], divided by `n` and rounded down, to the sum
/// at index `BOOTSTRAP_RESAMPLES - 1 - BOOTSTRAP_TAIL`, divided by `n` and
/// rounded up.
#[cfg(feature = "alloc")]
pub fn bootstrap_interval(scores: &[Ppm], rng: &mut BootstrapRng) -> Option<Interval> {
    let n = scores.len();
    if n < 2 {
        return None;
    }
    let mut sums = alloc::vec::Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        let mut sum: u128 = 0;
        for _ in 0..n {
            let index = rng.below(n as u64) as usize;
            sum += u128::from(scores.get(index).map_or(0, |s| s.0));
        }
        sums.push(sum);
    }
    sums.sort_unstable();
    let n = n as u128;
    let low = sums[BOOTSTRAP_TAIL] / n;
    let high = sums[BOOTSTRAP_RESAMPLES - 1 - BOOTSTRAP_TAIL].div_ceil(n);
    Some(Interval {
        low: Ppm(low as u32),
        high: Ppm(high as u32),
    })
}

#[cfg(feature = "alloc")]
mod summary;
#[cfg(feature = "alloc")]
pub use summary::{GroupStats, Observation, PassK, Summary, summarize};

#[cfg(test)]
mod tests;
