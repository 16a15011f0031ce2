//! Integer scores in parts per million.

use core::fmt;

use serde::{Deserialize, Serialize};

/// A score in parts per million: 0 is no credit, 1 000 000 full credit.
/// Scores are never floats, so every platform computes the same ones.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Ppm(pub u32);

impl Ppm {
    /// No credit.
    pub const ZERO: Ppm = Ppm(0);
    /// Full credit.
    pub const FULL: Ppm = Ppm(1_000_000);

    /// Whether the value is within 0..=1 000 000.
    pub fn is_valid(self) -> bool {
        self.0 <= Self::FULL.0
    }

    /// `numerator / denominator` of full credit, rounded down; zero when the
    /// denominator is zero; capped at full credit.
    pub fn ratio(numerator: u64, denominator: u64) -> Ppm {
        if denominator == 0 {
            return Ppm::ZERO;
        }
        let scaled = (numerator.min(denominator) as u128 * 1_000_000) / denominator as u128;
        Ppm(scaled as u32)
    }
}

impl fmt::Display for Ppm {
    /// Percent with two decimals, e.g. `87.50%`, computed with integers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hundredths = self.0 / 100;
        write!(f, "{}.{:02}%", hundredths / 100, hundredths % 100)
    }
}

impl fmt::Debug for Ppm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ppm({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::format;

    #[test]
    fn ratio_rounds_down_and_caps() {
        assert_eq!(Ppm::ratio(1, 3), Ppm(333_333));
        assert_eq!(Ppm::ratio(5, 3), Ppm::FULL);
        assert_eq!(Ppm::ratio(1, 0), Ppm::ZERO);
    }

    #[test]
    fn displays_percent() {
        assert_eq!(format!("{}", Ppm::FULL), "100.00%");
        assert_eq!(format!("{}", Ppm(875_000)), "87.50%");
        assert_eq!(format!("{}", Ppm(1)), "0.00%");
    }
}
