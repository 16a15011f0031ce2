//! The one question every library error answers for the command line: did
//! a check fail on input that could be read, or could the input not be
//! used at all? The CLI takes its exit code from the answer, so the
//! mapping lives beside each variant instead of in a match over other
//! crates' variants, where a new variant would silently fall into a
//! wildcard arm.

/// Which kind of failure an error is; the command line's exit code follows
/// from it (README.md, "Exit codes").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ErrorClass {
    /// The input was read but is not what it claims: a signature that does
    /// not verify, a broken chain, a digest that differs, a seal that does
    /// not open. Exit code 1.
    Integrity,
    /// The input is missing, unreadable or malformed, or the command was
    /// used wrongly; also a host failure that checked nothing (a random
    /// generator, a thread that could not start). Exit code 2.
    Input,
}

/// An error that knows its [`ErrorClass`].
///
/// Implementations match every variant by name, with no wildcard arm, so
/// that a new variant does not compile until someone decides its class;
/// a variant that wraps another error takes that error's class.
pub trait Classify {
    /// This error's class.
    fn class(&self) -> ErrorClass;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::StatsError;

    #[test]
    fn every_stats_error_is_input() {
        let cases = [
            (StatsError::ZeroDenominator, ErrorClass::Input),
            (StatsError::Overflow, ErrorClass::Input),
            (StatsError::BadK { n: 1, k: 2 }, ErrorClass::Input),
            (
                StatsError::PassesAboveSamples { n: 1, c: 2 },
                ErrorClass::Input,
            ),
        ];
        // No wildcard arm: a new variant does not compile here until it has
        // a row number, and the test fails until it has a case above.
        let row = |e: &StatsError| match e {
            StatsError::ZeroDenominator => 0,
            StatsError::Overflow => 1,
            StatsError::BadK { .. } => 2,
            StatsError::PassesAboveSamples { .. } => 3,
        };
        let mut seen = [false; 4];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error:?}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
