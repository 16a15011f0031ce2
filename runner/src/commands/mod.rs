//! The `airlock` commands, one file each with its arguments and its
//! `execute`, and the loading helpers several of them share.

#[cfg(feature = "sandbox")]
use std::path::Path;
use std::path::PathBuf;

#[cfg(feature = "sandbox")]
use airlock::suite::LoadedSuite;
use airlock_attest::PublicKey;
#[cfg(feature = "sandbox")]
use airlock_sandbox::Sandbox;

#[macro_use]
pub(crate) mod output;

#[cfg(feature = "sandbox")]
pub(crate) mod campaign;
#[cfg(feature = "sandbox")]
pub(crate) mod demo;
#[cfg(feature = "sandbox")]
pub(crate) mod disclose;
pub(crate) mod export;
pub(crate) mod keygen;
pub(crate) mod log;
pub(crate) mod profile;
pub(crate) mod release;
pub(crate) mod report;
#[cfg(feature = "sandbox")]
pub(crate) mod run;
#[cfg(feature = "sandbox")]
pub(crate) mod run_config;
pub(crate) mod slurm;
#[cfg(feature = "sandbox")]
pub(crate) mod station;
#[cfg(feature = "sandbox")]
pub(crate) mod suite;
// Without the sandbox only `suite verify` is left, and it reads no task
// metadata from the modules.
#[cfg(not(feature = "sandbox"))]
#[path = "suite_verify.rs"]
pub(crate) mod suite;
pub(crate) mod verify;
pub(crate) mod version;
pub(crate) mod witness;

use output::Failure;

/// Which suite to use and how to trust it.
#[derive(clap::Args, Debug)]
pub(crate) struct SuiteArgs {
    /// `default` (the embedded suite) or a suite directory.
    #[arg(long, default_value = "default")]
    pub(crate) suite: String,
    /// Trusted suite authority public key for a suite directory; may be given more than once.
    #[arg(long)]
    pub(crate) suite_trust: Vec<PathBuf>,
    /// Allow a suite directory without a signed manifest (development only).
    #[arg(long, conflicts_with = "suite_trust")]
    pub(crate) unsigned_suite: bool,
}

#[cfg(feature = "sandbox")]
/// Loads `default` or a suite directory under `sandbox`'s limits.
///
/// For the commands that load a suite to use it (`run`, `suite list`,
/// `report`, `profile check`) a refused suite is bad input, exit 2, even a
/// digest or signature that does not match (an integrity error): only
/// `suite verify` reports a refused suite as a failed check.
pub(crate) fn load_suite(sandbox: &Sandbox, source: &SuiteArgs) -> Result<LoadedSuite, Failure> {
    if source.suite == airlock_default_suite::SUITE_NAME {
        return LoadedSuite::embedded(sandbox).map_err(Failure::input);
    }
    let dir = Path::new(&source.suite);
    if !dir.is_dir() {
        return Err(Failure::input(format!(
            "{}: no such suite directory (the embedded suite is \"{}\")",
            source.suite,
            airlock_default_suite::SUITE_NAME
        )));
    }
    if source.unsigned_suite {
        return LoadedSuite::unsigned_dir(sandbox, dir).map_err(Failure::input);
    }
    if source.suite_trust.is_empty() {
        return Err(Failure::input(airlock::suite::SuiteError::Unsigned {
            path: dir.to_path_buf(),
        }));
    }
    let trusted = load_trusted(&source.suite_trust)?;
    LoadedSuite::signed_dir(sandbox, dir, &trusted).map_err(Failure::input)
}

#[cfg(feature = "sandbox")]
/// Loads a profile that runs tasks; a verification-only profile is refused.
pub(crate) fn task_profile(name: &str) -> Result<airlock::profile::HardwareProfile, Failure> {
    let loaded = airlock::profile::load(name).map_err(Failure::from)?;
    if !loaded.profile.runs_tasks() {
        return Err(Failure::input(format!(
            "profile \"{}\" has no sandboxes (cores = 0): it is for verification only",
            loaded.profile.name
        )));
    }
    Ok(loaded.profile)
}

#[cfg(feature = "sandbox")]
pub(crate) fn sandbox_for(profile_name: &str) -> Result<Sandbox, Failure> {
    let profile = task_profile(profile_name)?;
    Sandbox::new(profile.sandbox_limits()).map_err(Failure::from)
}

pub(crate) fn load_trusted(paths: &[PathBuf]) -> Result<Vec<PublicKey>, Failure> {
    paths
        .iter()
        .map(|p| PublicKey::load(p).map_err(Failure::from))
        .collect()
}

#[cfg(feature = "sandbox")]
/// A file error as a failure, telling how to replace a file that exists
/// when the command has `--force`.
pub(crate) fn exists_hint(error: airlock_attest::AttestError) -> Failure {
    match error {
        airlock_attest::AttestError::AlreadyExists { path } => Failure::input(format!(
            "{}: already exists; choose another path or pass --force to replace it",
            path.display()
        )),
        other => Failure::from(other),
    }
}

#[cfg(feature = "sandbox")]
/// A run's [`Interrupt`](airlock::run::Interrupt), set by the first SIGTERM
/// (what `scancel`, preemption and a requeue send) or SIGINT; a second one
/// ends the process at once with [`output::EXIT_INTERRUPTED`]. Either way
/// the journal keeps every result made durable, and the run resumes.
pub(crate) fn interrupt_on_signals() -> Result<airlock::run::Interrupt, Failure> {
    let interrupt = airlock::run::Interrupt::default();
    #[cfg(unix)]
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let flag = interrupt.flag();
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(output::EXIT_INTERRUPTED),
            std::sync::Arc::clone(&flag),
        )
        .and_then(|_| signal_hook::flag::register(signal, flag))
        .map_err(|e| Failure::input(format!("cannot handle signal {signal}: {e}")))?;
    }
    Ok(interrupt)
}

/// Parses `--seed`: 64 hexadecimal digits are the 32 seed bytes as written;
/// a decimal integer N from 0 to 2^64 − 1 is 24 zero bytes then N as a u64
/// big-endian, so `7` and `000…0007` (64 digits) are the same seed
/// (SPEC.md, "Run seed"). A 64-digit string is always hex: no decimal u64
/// has that many digits, so the two forms never overlap.
#[cfg(feature = "sandbox")]
pub(crate) fn parse_seed(text: &str) -> Result<[u8; 32], String> {
    if text.len() == 64 {
        return airlock_core::Digest::from_hex(text)
            .map(|d| d.0)
            .ok_or_else(|| {
                format!(
                    "\"{text}\" is 64 characters but not all hexadecimal digits: a seed is a \
                     decimal integer (0 to {}) or 64 hexadecimal digits",
                    u64::MAX
                )
            });
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "a seed is a decimal integer (0 to {}) or 64 hexadecimal digits, not \"{text}\"",
            u64::MAX
        ));
    }
    let n: u64 = text.parse().map_err(|_| {
        format!(
            "decimal seed \"{text}\" is larger than {}: give a larger seed as 64 hexadecimal digits",
            u64::MAX
        )
    })?;
    let mut seed = [0u8; 32];
    seed[24..].copy_from_slice(&n.to_be_bytes());
    Ok(seed)
}

#[cfg(all(test, feature = "sandbox"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::parse_seed;

    #[test]
    fn a_decimal_seed_is_24_zero_bytes_then_the_u64_big_endian() {
        let mut expected = [0u8; 32];
        expected[31] = 7;
        assert_eq!(parse_seed("7").unwrap(), expected);
        assert_eq!(parse_seed("0").unwrap(), [0u8; 32]);
        assert_eq!(parse_seed("007").unwrap(), expected);
        let max = parse_seed("18446744073709551615").unwrap();
        assert_eq!(max[..24], [0u8; 24]);
        assert_eq!(max[24..], [0xff; 8]);
        let n = parse_seed("258").unwrap();
        assert_eq!(n[30..], [1, 2]);
    }

    #[test]
    fn a_decimal_seed_equals_its_64_hex_digit_form() {
        let hex = format!("{:064x}", 7u64);
        assert_eq!(parse_seed("7").unwrap(), parse_seed(&hex).unwrap());
        let hex = format!("{:064x}", u64::MAX);
        assert_eq!(
            parse_seed(&u64::MAX.to_string()).unwrap(),
            parse_seed(&hex).unwrap()
        );
    }

    #[test]
    fn sixty_four_hex_digits_keep_their_meaning() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let seed = parse_seed(hex).unwrap();
        assert_eq!(seed[0], 0x00);
        assert_eq!(seed[1], 0x11);
        assert_eq!(seed[15], 0xff);
        assert_eq!(seed[31], 0xff);
        // 64 decimal digits are read as hex, not as an (impossible) u64.
        let digits = "1".repeat(64);
        assert_eq!(parse_seed(&digits).unwrap(), [0x11; 32]);
    }

    #[test]
    fn bad_seeds_are_refused_naming_the_value() {
        for bad in ["", "-7", "+7", " 7", "7 ", "0x07", "seven", "1.5", "1e3"] {
            let error = parse_seed(bad).unwrap_err();
            assert!(error.contains(&format!("\"{bad}\"")), "{bad:?}: {error}");
            assert!(error.contains("64 hexadecimal digits"), "{bad:?}: {error}");
        }
        let not_hex = "g".repeat(64);
        let error = parse_seed(&not_hex).unwrap_err();
        assert!(error.contains(&not_hex), "{error}");
        assert!(error.contains("not all hexadecimal digits"), "{error}");
        // 63 and 65 hex digits are neither form.
        for len in [63, 65] {
            let text = "a".repeat(len);
            let error = parse_seed(&text).unwrap_err();
            assert!(error.contains(&text), "{error}");
        }
    }

    #[test]
    fn a_decimal_seed_past_u64_is_refused_as_too_large() {
        let error = parse_seed("18446744073709551616").unwrap_err();
        assert!(error.contains("\"18446744073709551616\""), "{error}");
        assert!(
            error.contains("larger than 18446744073709551615"),
            "{error}"
        );
        assert!(
            parse_seed(&"9".repeat(63))
                .unwrap_err()
                .contains("larger than")
        );
    }
}
