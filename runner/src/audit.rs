//! The audit behind `airlock verify`: every level of one bundle or several,
//! the suite level against a trusted suite, disclosed transcripts, replay,
//! and the station chain across bundles. One bundle's offline levels are
//! `airlock_attest::verify`; this module puts them together for a set.

#[cfg(feature = "sandbox")]
mod replay;
// Replay re-executes tasks, which the verifier's build cannot.
#[cfg(not(feature = "sandbox"))]
#[path = "audit/no_replay.rs"]
mod replay;

use core::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use airlock_attest::hardware::{HardwareCheck, TrustedRegistration, fail_level};
use airlock_attest::log_check::{LogEvidence, LogReport, check_logs, receipt_level};
use airlock_attest::release::{ReleaseManifest, check_release};
use airlock_attest::station_chain::{StationReport, StationRun, check_stations};
use airlock_attest::station_log::receipt_path;
use airlock_attest::suite_check::{SuiteSource, check_suite};
use airlock_attest::verify::{
    Level, LevelReport, RecordVisitor, Status, Verdict, VerifyOptions, verify_bundle_file_with,
};
use airlock_attest::{AttestError, PublicKey};

use airlock_attest::disclosure::DisclosedRecords;
use airlock_attest::transcripts::StoreError;
use airlock_core::record::RunStart;
use airlock_core::suite::SuiteManifest;
use airlock_core::{Classify as _, ErrorClass, Untrusted};
pub use replay::{ReplayRequest, TranscriptSource};
use serde_json::{Value, json};

/// The largest receipt read: a checkpoint with every witness of a policy
/// and a proof of 64 hashes is a few kilobytes.
const RECEIPT_LIMIT: u64 = 1 << 20;

/// The `format` of `airlock verify --json` over more than one bundle.
pub const VERDICTS_FORMAT: &str = "airlock-verdicts/1";

/// The suite a verifier checks runs against, or why it could not be had.
#[derive(Clone, Debug)]
pub enum TrustedSuite {
    /// A suite whose manifest (and, for a directory, every module) verified.
    Verified {
        /// Its manifest.
        manifest: SuiteManifest,
        /// Where it came from.
        source: SuiteSource,
    },
    /// The suite directory did not verify: every run fails the suite level with this reason.
    Refused(String),
}

/// The release a verifier checks runners against, or why it could not be had.
#[derive(Clone, Debug)]
pub enum TrustedRelease {
    /// A release manifest whose signature verified under a trusted release key.
    Verified(ReleaseManifest),
    /// The manifest did not verify: every bundle fails the release level with this reason.
    Refused(String),
}

/// What `airlock verify` checks.
#[derive(Debug)]
pub struct VerifyRequest {
    /// The bundle files, in the order given.
    pub bundles: Vec<PathBuf>,
    /// Trusted evaluator keys.
    pub trusted: Vec<PublicKey>,
    /// The suite level, when asked for.
    pub suite: Option<TrustedSuite>,
    /// The release level, when asked for.
    pub release: Option<TrustedRelease>,
    /// Options of the streamed verifier.
    pub options: VerifyOptions,
    /// Disclosure files to check against their signed results (one bundle only).
    pub disclosed: Vec<PathBuf>,
    /// The replay level, when asked for (one bundle only).
    pub replay: Option<ReplayRequest>,
    /// The log level, when asked for: the policy, and checkpoints and
    /// consistency proofs given besides each bundle's receipt.
    pub log: Option<LogEvidence>,
    /// The hardware level, when asked for: the station registrations trusted.
    pub registrations: Option<Vec<TrustedRegistration>>,
}

/// Why `airlock verify` could not check at all (an input error, not a verdict).
#[derive(Debug)]
#[non_exhaustive]
pub enum VerifyError {
    /// A bundle could not be opened or read.
    Bundle(AttestError),
    /// The sealed transcript store for replay could not be read.
    Store(StoreError),
}

impl airlock_core::Classify for VerifyError {
    fn class(&self) -> airlock_core::ErrorClass {
        match self {
            VerifyError::Bundle(error) => error.class(),
            VerifyError::Store(error) => error.class(),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Bundle(e) => e.fmt(f),
            VerifyError::Store(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for VerifyError {}

/// One bundle's verdict.
#[derive(Clone, Debug)]
pub struct BundleVerdict {
    /// The file.
    pub path: PathBuf,
    /// Its verdict, suite level included when asked for.
    pub verdict: Verdict,
}

/// Everything `airlock verify` found.
#[derive(Clone, Debug)]
pub struct VerifyOutcome {
    /// One verdict per bundle, in the order given.
    pub bundles: Vec<BundleVerdict>,
    /// The station chain per evaluator key; empty for a single bundle.
    pub stations: Vec<StationReport>,
    /// Bundles left out of the station check because they did not verify.
    pub left_out: Vec<String>,
    /// The history of each station log, with --log-policy.
    pub logs: Vec<LogReport>,
}

impl VerifyOutcome {
    /// Every bundle verified and every station chain is whole.
    pub fn verified(&self) -> bool {
        self.bundles.iter().all(|b| b.verdict.verified())
            && self.stations.iter().all(|s| s.status() == Status::Passed)
            && self.logs.iter().all(|l| l.status() == Status::Passed)
    }
}

/// A visitor that keeps no record.
struct KeepNothing;

impl RecordVisitor for KeepNothing {
    fn wants_run_start(&self) -> bool {
        false
    }
}

/// Verifies every bundle; an unreadable file is an input error.
pub fn verify_all(request: &VerifyRequest) -> Result<VerifyOutcome, VerifyError> {
    let mut bundles = Vec::new();
    let mut receipts = Vec::new();
    let mut hardware = request.registrations.as_deref().map(HardwareCheck::new);
    let files = airlock_attest::disclosure::read_all(&request.disclosed);
    let wanted: Vec<u32> = files
        .iter()
        .filter_map(|(_, d)| d.as_ref().ok().map(|d| d.plan_index))
        .collect();
    for path in &request.bundles {
        let mut records = if request
            .replay
            .as_ref()
            .is_some_and(|r| r.wants_all_results())
        {
            DisclosedRecords::all()
        } else {
            DisclosedRecords::wanting(wanted.clone())
        };
        // The four streamed levels alone need nothing kept: a RunStart
        // holds the whole plan, and building it would make the verifier's
        // memory grow with the bundle.
        let levels_beyond = request.suite.is_some()
            || request.release.is_some()
            || request.replay.is_some()
            || !request.disclosed.is_empty();
        let visitor: &mut dyn RecordVisitor = if levels_beyond {
            &mut records
        } else {
            &mut KeepNothing
        };
        let mut verdict = verify_bundle_file_with(path, &request.trusted, request.options, visitor)
            .map_err(VerifyError::Bundle)?;
        let base_verified = verdict.verified();
        if let Some(suite) = &request.suite {
            verdict
                .levels
                .push(suite_level(suite, records.run_start.as_ref()));
        }
        if let Some(release) = &request.release {
            verdict
                .levels
                .push(release_level(release, records.run_start.as_ref()));
        }
        if let Some(replay) = &request.replay {
            verdict.levels.push(
                replay::replay_level(replay, base_verified, &records, &files)
                    .map_err(VerifyError::Store)?,
            );
        }
        if !request.disclosed.is_empty() {
            verdict
                .levels
                .push(airlock_attest::disclosure::disclosed_level(
                    base_verified,
                    &files,
                    &records,
                ));
        }
        if let Some(evidence) = &request.log {
            let label = path.display().to_string();
            let run = StationRun::from_verdict(&label, &verdict);
            let receipt_file = receipt_path(path);
            let receipt = airlock_attest::read_regular(&receipt_file, RECEIPT_LIMIT)
                .map_err(|e| format!("receipt: {e}"));
            let (level, checked) = receipt_level(&label, run.as_ref(), receipt, evidence);
            verdict.levels.push(level);
            receipts.extend(checked);
        }
        if let Some(hardware) = hardware.as_mut() {
            let level = hardware.bundle(bundles.len(), path, &verdict);
            verdict.levels.push(level);
        }
        bundles.push(BundleVerdict {
            path: path.clone(),
            verdict,
        });
    }
    for (position, why) in hardware.iter().flat_map(HardwareCheck::out_of_order) {
        if let Some(b) = bundles.get_mut(position) {
            fail_level(&mut b.verdict.levels, why);
        }
    }
    let (stations, left_out) = if bundles.len() > 1 {
        let mut runs = Vec::new();
        let mut left_out = Vec::new();
        for b in &bundles {
            let label = b.path.display().to_string();
            match StationRun::from_verdict(&label, &b.verdict) {
                Some(run) => runs.push(run),
                None => left_out.push(label),
            }
        }
        (check_stations(&runs), left_out)
    } else {
        (Vec::new(), Vec::new())
    };
    let logs = match &request.log {
        Some(evidence) => check_logs(&receipts, evidence),
        None => Vec::new(),
    };
    Ok(VerifyOutcome {
        bundles,
        stations,
        left_out,
        logs,
    })
}

fn suite_level(suite: &TrustedSuite, run_start: Option<&RunStart>) -> LevelReport {
    let status = |status| LevelReport {
        level: Level::Suite,
        status,
        note: None,
    };
    match (suite, run_start) {
        (TrustedSuite::Refused(why), _) => status(Status::Failed(why.clone())),
        (_, None) => status(Status::NotChecked(
            "no RunStart could be read from the bundle".into(),
        )),
        (TrustedSuite::Verified { manifest, source }, Some(start)) => {
            check_suite(start, manifest, source)
        }
    }
}

fn release_level(release: &TrustedRelease, run_start: Option<&RunStart>) -> LevelReport {
    let status = |status| LevelReport {
        level: Level::Release,
        status,
        note: None,
    };
    match (release, run_start) {
        (TrustedRelease::Refused(why), _) => status(Status::Failed(why.clone())),
        (_, None) => status(Status::NotChecked(
            "no RunStart could be read from the bundle".into(),
        )),
        (TrustedRelease::Verified(manifest), Some(start)) => check_release(start, manifest),
    }
}

/// Human output: one line per level per bundle, then the station chains.
/// Reasons, notes, problems and file names carry text from the bundles
/// (task ids, suite names), so each is printed as [`Untrusted`]: one line
/// that can neither move the cursor nor start a line of its own.
pub fn human(outcome: &VerifyOutcome) -> String {
    let mut out = String::new();
    let many = outcome.bundles.len() > 1;
    for b in &outcome.bundles {
        let indent = if many {
            let _ = writeln!(out, "{}:", Untrusted(&b.path.display().to_string()));
            "  "
        } else {
            ""
        };
        for level in &b.verdict.levels {
            let _ = writeln!(out, "{indent}{}", Untrusted(&level.to_string()));
        }
        if many {
            let _ = writeln!(
                out,
                "{indent}{}",
                if b.verdict.verified() {
                    "verified"
                } else {
                    "NOT VERIFIED"
                }
            );
        }
    }
    for station in &outcome.stations {
        let counters: Vec<String> = station
            .runs
            .iter()
            .map(|r| r.run_counter.to_string())
            .collect();
        let status = station.status();
        let _ = writeln!(
            out,
            "station {}: {} (runs {})",
            station.key_id,
            status.name(),
            counters.join(", ")
        );
        for problem in &station.problems {
            let _ = writeln!(out, "  {}", Untrusted(&problem.to_string()));
        }
        for note in &station.notes {
            let _ = writeln!(out, "  note: {}", Untrusted(&note.to_string()));
        }
    }
    for log in &outcome.logs {
        let status = log.status();
        let _ = writeln!(
            out,
            "log {}: {} ({} runs; shown {})",
            Untrusted(&log.origin),
            status.name(),
            log.size,
            log.shown.len()
        );
        for problem in &log.problems {
            let _ = writeln!(out, "  {}", Untrusted(&problem.to_string()));
        }
        for note in &log.notes {
            let _ = writeln!(out, "  note: {}", Untrusted(note));
        }
    }
    for label in &outcome.left_out {
        let _ = writeln!(
            out,
            "station: {} left out of the station chain (it did not verify)",
            Untrusted(label)
        );
    }
    let _ = writeln!(
        out,
        "{}",
        if outcome.verified() {
            "verified"
        } else {
            "NOT VERIFIED"
        }
    );
    out
}

/// JSON output: the `airlock-verdict/1` object for one bundle, or an
/// `airlock-verdicts/1` object for several.
pub fn json(outcome: &VerifyOutcome) -> Result<Value, serde_json::Error> {
    if let [only] = outcome.bundles.as_slice() {
        let mut v = serde_json::to_value(&only.verdict)?;
        if let (Value::Object(map), false) = (&mut v, outcome.logs.is_empty()) {
            map.insert("logs".into(), serde_json::to_value(&outcome.logs)?);
        }
        return Ok(v);
    }
    let mut bundles = Vec::new();
    for b in &outcome.bundles {
        let mut v = serde_json::to_value(&b.verdict)?;
        if let Value::Object(map) = &mut v {
            map.insert("bundle".into(), Value::String(b.path.display().to_string()));
        }
        bundles.push(v);
    }
    Ok(json!({
        "format": VERDICTS_FORMAT,
        "verified": outcome.verified(),
        "bundles": bundles,
        "stations": serde_json::to_value(&outcome.stations)?,
        "left_out_of_station_check": outcome.left_out,
        "logs": serde_json::to_value(&outcome.logs)?,
    }))
}

/// The message for stderr when verification failed: the first failure.
pub fn failure_message(outcome: &VerifyOutcome) -> String {
    for b in &outcome.bundles {
        if let Some(level) = b.verdict.first_failure() {
            return format!(
                "{}: verification failed at {}: {}",
                b.path.display(),
                level.level,
                level.status.reason().unwrap_or_default()
            );
        }
    }
    for s in &outcome.stations {
        if let Some(reason) = s.status().reason() {
            return format!("station {}: {reason}", s.key_id);
        }
    }
    for l in &outcome.logs {
        if let Some(reason) = l.status().reason() {
            return format!("log {}: {reason}", l.origin);
        }
    }
    "verification failed".into()
}

/// Reads and checks a suite directory for the suite level: a directory
/// that does not verify is a failed level, an unreadable one an error. A
/// module that is not a regular file, or is larger than
/// `max_module_bytes`, is unreadable: it is refused, never read.
pub fn trusted_suite_dir(
    dir: &Path,
    trusted: &[PublicKey],
    max_module_bytes: u64,
) -> Result<TrustedSuite, AttestError> {
    match airlock_attest::suite_check::verify_suite_files(dir, trusted, max_module_bytes) {
        Ok(verified) => Ok(TrustedSuite::Verified {
            manifest: verified.manifest,
            source: SuiteSource::Signed {
                authority: verified.authority,
            },
        }),
        Err(e) => match e.class() {
            ErrorClass::Input => Err(e),
            ErrorClass::Integrity => Ok(TrustedSuite::Refused(e.to_string())),
        },
    }
}

#[cfg(test)]
mod class_tests {
    use super::*;
    use airlock_core::ErrorClass;

    /// Every variant with its exit-code class. The row function matches
    /// without a wildcard arm, so a new variant does not compile until it
    /// has a row, and the test fails until the row has a case.
    #[test]
    fn every_verify_error_variant_has_its_class() {
        let path = || std::path::PathBuf::from("x");
        let cases = [
            (
                VerifyError::Bundle(airlock_attest::AttestError::NotRegularFile { path: path() }),
                ErrorClass::Input,
            ),
            (
                VerifyError::Store(StoreError::Key {
                    path: path(),
                    problem: "x".into(),
                }),
                ErrorClass::Input,
            ),
        ];
        let row = |e: &VerifyError| match e {
            VerifyError::Bundle(_) => 0,
            VerifyError::Store(_) => 1,
        };
        let mut seen = [false; 2];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
