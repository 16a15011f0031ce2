//! The hardware level (`verify --station-registration`): a run's TPM 2.0
//! quotes, read from `BUNDLE.tpm-quotes`, checked against a trusted
//! station registration (SPEC.md, "TPM quotes").
//!
//! The evaluator key alone cannot show where a run was signed: whoever
//! holds it can fabricate a whole run elsewhere. A quote by the station's
//! attestation key (AK), which never leaves its TPM, over qualifying data
//! that commits to the run's RunStart and RunEnd chain hashes shows the run
//! was signed while that TPM was present, in its registered boot state.
//! Everything here is bytes in, verdict out, through `airlock-tpm-quote`
//! (ring only): the verifier's machine needs no TPM and no TPM library.

use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_core::record::StationHardware;
use airlock_tpm_quote::{
    ClockInfo, QuoteError, RunQuotes, StationRegistration, check_counters, qualifying_data,
    verify_quote,
};

use airlock_tpm_quote::quote_file::MAX_QUOTES_FILE_BYTES;

use crate::verify::{Level, LevelReport, Status, Verdict};

/// The suffix of a run's quotes file beside its bundle.
pub const QUOTES_SUFFIX: &str = ".tpm-quotes";

/// `BUNDLE.tpm-quotes`.
pub fn quotes_path(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_owned();
    s.push(QUOTES_SUFFIX);
    PathBuf::from(s)
}

/// The largest registration file read: four banks of 32 PCRs and a SHA-512
/// digest are under 250 bytes.
pub const MAX_REGISTRATION_BYTES: u64 = 4096;

/// A station registration a verifier trusts, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedRegistration {
    /// Its file, for messages.
    pub label: String,
    /// blake3 of the file's bytes: what a bound RunStart names.
    pub digest: Digest,
    /// The registration read from it.
    pub registration: StationRegistration,
}

impl TrustedRegistration {
    /// Reads a registration from its file's bytes; `label` names the file.
    pub fn from_bytes(label: &str, bytes: &[u8]) -> Result<TrustedRegistration, QuoteError> {
        Ok(TrustedRegistration {
            label: label.to_owned(),
            digest: Digest(*blake3::hash(bytes).as_bytes()),
            registration: StationRegistration::from_bytes(bytes)?,
        })
    }
}

/// A run whose quotes passed, kept for the check across a station's runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotedRun {
    /// The bundle, for messages.
    pub label: String,
    /// The registration digest its RunStart names.
    pub registration: Digest,
    /// Its station run counter.
    pub run_counter: u64,
    /// The RunStart quote's clock.
    pub start: ClockInfo,
    /// The RunEnd quote's clock.
    pub end: ClockInfo,
}

fn report(status: Status, note: Option<String>) -> LevelReport {
    LevelReport {
        level: Level::Hardware,
        status,
        note,
    }
}

fn failed(why: String) -> (LevelReport, Option<QuotedRun>) {
    (report(Status::Failed(why), None), None)
}

/// The hardware level of one bundle: `quotes` is its quotes file's bytes,
/// or why they could not be read.
pub fn hardware_level(
    label: &str,
    verdict: &Verdict,
    trusted: &[TrustedRegistration],
    quotes: Result<Vec<u8>, String>,
) -> (LevelReport, Option<QuotedRun>) {
    if !verdict.verified() {
        return (
            report(
                Status::NotChecked(
                    "the bundle did not verify, so its quotes would bind nothing".into(),
                ),
                None,
            ),
            None,
        );
    }
    let s = &verdict.summary;
    let (Some(key_id), Some(start_hash), Some(final_hash), Some(hardware), Some(station)) = (
        s.key_id,
        s.run_start_hash,
        s.final_hash,
        s.hardware,
        s.station.as_ref(),
    ) else {
        return (
            report(
                Status::NotChecked("the bundle holds no whole RunStart and RunEnd".into()),
                None,
            ),
            None,
        );
    };
    let named = match hardware {
        StationHardware::NoTpm => {
            return failed(
                "RunStart records no TPM: the station ran this run without a TPM enrolment, \
                 so nothing binds it to station hardware"
                    .into(),
            );
        }
        StationHardware::Tpm2Quote { registration } => registration,
    };
    let Some(trusted) = trusted.iter().find(|t| t.digest == named) else {
        let given: Vec<String> = trusted
            .iter()
            .map(|t| format!("{} is {}", t.label, t.digest.to_hex()))
            .collect();
        return failed(format!(
            "RunStart names station registration {}, which is none of those given ({})",
            named.to_hex(),
            given.join(", ")
        ));
    };
    let registration = &trusted.registration;
    if registration.evaluator_key_id != key_id.0 {
        return failed(format!(
            "{} binds its attestation key to evaluator key {}, but the bundle is signed by {}",
            trusted.label,
            Digest(registration.evaluator_key_id).to_hex(),
            key_id.to_hex()
        ));
    }
    let quotes_label = format!("{label}{QUOTES_SUFFIX}");
    let bytes = match quotes {
        Ok(bytes) => bytes,
        Err(why) => return failed(format!("{quotes_label}: {why}")),
    };
    let quotes = match RunQuotes::from_bytes(&bytes) {
        Ok(quotes) => quotes,
        Err(e) => return failed(format!("{quotes_label}: {e}")),
    };
    let Some(end_quote) = &quotes.run_end else {
        return failed(format!(
            "{quotes_label} holds only the RunStart quote: the run's RunEnd was never quoted"
        ));
    };
    let start = match verify_quote(
        registration,
        &quotes.run_start.attest,
        &quotes.run_start.signature,
        &qualifying_data(&key_id.0, &start_hash.0),
    ) {
        Ok(info) => info,
        Err(e) => return failed(format!("{quotes_label}: RunStart quote: {e}")),
    };
    let end = match verify_quote(
        registration,
        &end_quote.attest,
        &end_quote.signature,
        &qualifying_data(&key_id.0, &final_hash.0),
    ) {
        Ok(info) => info,
        Err(e) => return failed(format!("{quotes_label}: RunEnd quote: {e}")),
    };
    if let Err(e) = check_counters(&[start.clock_info, end.clock_info]) {
        return failed(format!(
            "{quotes_label}: RunEnd quote is older than the RunStart quote: {e}"
        ));
    }
    let note = format!(
        "quoted at RunStart and RunEnd by the attestation key of {} (PCRs {} in their registered \
         state; TPM resets {}, clock {} ms to {} ms)",
        trusted.label,
        registration.pcr_selection,
        end.clock_info.reset_count,
        start.clock_info.clock,
        end.clock_info.clock,
    );
    (
        report(Status::Passed, Some(note)),
        Some(QuotedRun {
            label: label.to_owned(),
            registration: named,
            run_counter: station.run_counter,
            start: start.clock_info,
            end: end.clock_info,
        }),
    )
}

/// The hardware level over a set of bundles (`verify`, `verify --campaign`):
/// each bundle's level from its quotes file beside it, then the order check
/// across the runs that passed.
#[derive(Debug)]
pub struct HardwareCheck<'a> {
    registrations: &'a [TrustedRegistration],
    /// Runs that passed, with the caller's position of their bundle.
    quoted: Vec<(usize, QuotedRun)>,
}

impl<'a> HardwareCheck<'a> {
    /// A check against the station registrations trusted.
    pub fn new(registrations: &'a [TrustedRegistration]) -> HardwareCheck<'a> {
        HardwareCheck {
            registrations,
            quoted: Vec::new(),
        }
    }

    /// The hardware level of the bundle at `path` (the caller's bundle
    /// number `position`), whose other levels are `verdict`'s; its quotes
    /// are read from `BUNDLE.tpm-quotes`, and one that cannot be read fails
    /// the level naming why.
    pub fn bundle(&mut self, position: usize, path: &Path, verdict: &Verdict) -> LevelReport {
        let quotes = crate::read_regular(&quotes_path(path), MAX_QUOTES_FILE_BYTES)
            .map_err(|e| e.to_string());
        let (level, quoted) = hardware_level(
            &path.display().to_string(),
            verdict,
            self.registrations,
            quotes,
        );
        if let Some(quoted) = quoted {
            self.quoted.push((position, quoted));
        }
        level
    }

    /// The bundles (by position) whose runs go back in time after an
    /// earlier run of their station, and why; each one's hardware level is
    /// to fail with it ([`fail_level`]).
    pub fn out_of_order(&self) -> Vec<(usize, String)> {
        let runs: Vec<QuotedRun> = self.quoted.iter().map(|(_, run)| run.clone()).collect();
        check_quote_order(&runs)
            .into_iter()
            .filter_map(|(index, why)| self.quoted.get(index).map(|(position, _)| (*position, why)))
            .collect()
    }
}

/// Fails the hardware level among `levels` with `why`.
pub fn fail_level(levels: &mut [LevelReport], why: String) {
    if let Some(level) = levels.iter_mut().find(|l| l.level == Level::Hardware) {
        level.status = Status::Failed(why);
        level.note = None;
    }
}

/// The check across a station's runs: ordered by run counter, the quotes
/// of one registration never go back in time (clock, then resets and
/// restarts). Returns, for each run that breaks the order, its index in
/// `runs` and why.
pub fn check_quote_order(runs: &[QuotedRun]) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let mut registrations: Vec<Digest> = runs.iter().map(|r| r.registration).collect();
    registrations.sort_unstable_by_key(|d| d.0);
    registrations.dedup();
    for registration in registrations {
        let mut station: Vec<(usize, &QuotedRun)> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.registration == registration)
            .collect();
        station.sort_by_key(|(_, r)| r.run_counter);
        for pair in station.windows(2) {
            let [(_, before), (index, after)] = pair else {
                continue;
            };
            if let Err(e) = check_counters(&[before.end, after.start]) {
                problems.push((
                    *index,
                    format!(
                        "station run {}'s RunStart quote is older than run {}'s RunEnd quote \
                         ({}): TPM time went backwards between the runs",
                        after.run_counter, before.run_counter, e
                    ),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(counter: u64, start: u64, end: u64, resets: u32) -> QuotedRun {
        let clock = |clock| ClockInfo {
            clock,
            reset_count: resets,
            restart_count: 0,
            safe: true,
        };
        QuotedRun {
            label: format!("run{counter}.bundle"),
            registration: Digest([1; 32]),
            run_counter: counter,
            start: clock(start),
            end: clock(end),
        }
    }

    #[test]
    fn quote_order_follows_run_counters_not_argument_order() {
        // Given out of order, but in order by counter: nothing wrong.
        assert!(check_quote_order(&[run(2, 300, 400, 1), run(1, 100, 200, 1)]).is_empty());
        // Run 2 quoted before run 1 ended: named by its index.
        let problems = check_quote_order(&[run(1, 100, 200, 1), run(2, 150, 400, 1)]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, 1);
        assert!(
            problems[0]
                .1
                .contains("run 2's RunStart quote is older than run 1's")
        );
        // Fewer resets later is a TPM going back, even with a later clock.
        let problems = check_quote_order(&[run(1, 100, 200, 3), run(2, 300, 400, 2)]);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn runs_of_other_registrations_are_not_compared() {
        let mut other = run(2, 10, 20, 0);
        other.registration = Digest([2; 32]);
        assert!(check_quote_order(&[run(1, 100, 200, 1), other]).is_empty());
    }
}
