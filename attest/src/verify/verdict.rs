//! What verification finds: a report per level and the verdict over them,
//! with the JSON form that `verify --json` prints (SPEC.md, "Verification").

use core::fmt;

use airlock_core::Digest;
use airlock_core::record::{
    RunEnd, RunEndReason, RunStart, StationHardware, StationLink, TaskResult,
};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

/// The `format` value of the JSON verdict.
pub const VERDICT_FORMAT: &str = "airlock-verdict/1";

/// A verification level (DESIGN.md, "Verification levels").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Level {
    /// The bundle parses under its declared format version.
    Decode,
    /// Every record verifies under a trusted key.
    Signatures,
    /// Hashes link and sequence numbers are contiguous.
    Chain,
    /// Every planned result is present, in order, with RunEnd, and nothing else.
    Completeness,
    /// Module digests match a trusted suite manifest (checked by the runner).
    Suite,
    /// Re-execution from transcripts reproduces the results (checked by the runner).
    Replay,
    /// Disclosed transcripts open the commitments of their signed results
    /// (checked by the runner, `airlock verify --disclosed`).
    Disclosed,
    /// A campaign plan verifies under a trusted coordinator key (`verify --campaign`).
    Plan,
    /// A campaign's shards belong to its plan and cover it, each entry once.
    Campaign,
    /// The runner that made the bundle is an artifact of a signed release
    /// manifest, with its versions and engine settings (`verify --release`).
    Release,
    /// The bundle's run is in its station log: a receipt whose checkpoint
    /// satisfies a C2SP tlog-policy (`verify --log-policy`).
    Log,
    /// The station's TPM quoted the run at RunStart and RunEnd under the
    /// attestation key of a trusted station registration, in its
    /// registered boot state (`verify --station-registration`).
    Hardware,
}

impl Level {
    /// The stable name used in output and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Level::Decode => "decode",
            Level::Signatures => "signatures",
            Level::Chain => "chain",
            Level::Completeness => "completeness",
            Level::Suite => "suite",
            Level::Replay => "replay",
            Level::Disclosed => "disclosed",
            Level::Plan => "plan",
            Level::Campaign => "campaign",
            Level::Release => "release",
            Level::Log => "log",
            Level::Hardware => "hardware",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of one level.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Status {
    /// Checked; nothing wrong.
    Passed,
    /// Checked; this is the first thing wrong.
    Failed(String),
    /// Not checked (or not completely), for this reason.
    NotChecked(String),
}

impl Status {
    /// "passed", "failed" or "not-checked".
    pub fn name(&self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed(_) => "failed",
            Status::NotChecked(_) => "not-checked",
        }
    }

    /// The reason, for a level that did not pass.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Passed => None,
            Status::Failed(r) | Status::NotChecked(r) => Some(r),
        }
    }
}

/// One level's line of a verdict.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LevelReport {
    /// The level.
    pub level: Level,
    /// What came of it.
    pub status: Status,
    /// Information that is not a failure, e.g. that a run was aborted.
    pub note: Option<String>,
}

impl fmt::Display for LevelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.level, self.status.name())?;
        if let Some(reason) = self.status.reason() {
            write!(f, ": {reason}")?;
        }
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

impl Serialize for LevelReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("LevelReport", 4)?;
        s.serialize_field("level", self.level.name())?;
        s.serialize_field("status", self.status.name())?;
        s.serialize_field("reason", &self.status.reason())?;
        s.serialize_field("note", &self.note)?;
        s.end()
    }
}

/// What the bundle says about its run, as far as it could be read.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RunSummary {
    /// Key id of the key in the bundle header.
    pub key_id: Option<Digest>,
    /// Run id from RunStart.
    pub run_id: Option<[u8; 16]>,
    /// Records read.
    pub records: u64,
    /// Plan length from RunStart.
    pub planned: Option<u64>,
    /// TaskResult records read.
    pub results: u64,
    /// Results with full credit.
    pub full_credit: u64,
    /// Sum of result scores, parts per million.
    pub score_sum: u64,
    /// RunEnd's reason, if a RunEnd was read.
    pub end: Option<RunEndReason>,
    /// The stored chain hash of the last record read: the run's final hash
    /// when the bundle verifies.
    pub final_hash: Option<Digest>,
    /// RunStart's station link (run counter and the previous run's RunStart
    /// chain hash).
    pub station: Option<StationLink>,
    /// The stored chain hash of the first RunStart: what the station's next
    /// run links to (SPEC.md, "Station chain").
    pub run_start_hash: Option<Digest>,
    /// RunStart's hardware claim: whether a TPM quotes the run.
    pub hardware: Option<StationHardware>,
}

/// The decoded records, for callers that asked to collect them.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct CollectedRecords {
    /// The first RunStart.
    pub run_start: Option<RunStart>,
    /// Every TaskResult in order.
    pub results: Vec<TaskResult>,
    /// The first RunEnd.
    pub run_end: Option<RunEnd>,
}

/// The outcome of verifying a bundle.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Verdict {
    /// One report per level checked, in level order. The runner appends
    /// suite and replay reports when it checks them.
    pub levels: Vec<LevelReport>,
    /// What the bundle says about the run.
    pub summary: RunSummary,
    /// The records, if [`VerifyOptions::collect_records`] was set.
    pub records: Option<CollectedRecords>,
}

impl Verdict {
    /// True when every reported level passed.
    pub fn verified(&self) -> bool {
        !self.levels.is_empty() && self.levels.iter().all(|l| l.status == Status::Passed)
    }

    /// The report of `level`, if it is in the verdict.
    pub fn level(&self, level: Level) -> Option<&LevelReport> {
        self.levels.iter().find(|l| l.level == level)
    }

    /// The first level that failed.
    pub fn first_failure(&self) -> Option<&LevelReport> {
        self.levels
            .iter()
            .find(|l| matches!(l.status, Status::Failed(_)))
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = &self.summary;
        let mut out = serializer.serialize_struct("Verdict", 17)?;
        out.serialize_field("format", VERDICT_FORMAT)?;
        out.serialize_field("verified", &self.verified())?;
        out.serialize_field("levels", &self.levels)?;
        out.serialize_field("key_id", &s.key_id.map(|k| k.to_hex().to_string()))?;
        out.serialize_field(
            "run_id",
            &s.run_id.as_ref().map(|id| airlock_core::hex::encode(id)),
        )?;
        out.serialize_field("records", &s.records)?;
        out.serialize_field("planned", &s.planned)?;
        out.serialize_field("results", &s.results)?;
        out.serialize_field("full_credit", &s.full_credit)?;
        out.serialize_field("score_sum_ppm", &s.score_sum)?;
        out.serialize_field(
            "end",
            &s.end.as_ref().map(|r| match r {
                RunEndReason::Completed => "completed",
                RunEndReason::AbortedModelErrors(_) => "aborted-model-errors",
            }),
        )?;
        out.serialize_field("final_hash", &s.final_hash.map(|h| h.to_hex().to_string()))?;
        out.serialize_field(
            "station_run_counter",
            &s.station.as_ref().map(|l| l.run_counter),
        )?;
        out.serialize_field(
            "previous_run_start_hash",
            &s.station
                .as_ref()
                .map(|l| l.previous_run_start_hash.to_hex().to_string()),
        )?;
        out.serialize_field(
            "run_start_hash",
            &s.run_start_hash.map(|h| h.to_hex().to_string()),
        )?;
        out.serialize_field(
            "station_hardware",
            &s.hardware.map(|h| match h {
                StationHardware::NoTpm => "no-tpm",
                StationHardware::Tpm2Quote { .. } => "tpm2-quote",
            }),
        )?;
        out.serialize_field(
            "station_registration",
            &s.hardware.and_then(|h| match h {
                StationHardware::NoTpm => None,
                StationHardware::Tpm2Quote { registration } => {
                    Some(registration.to_hex().to_string())
                }
            }),
        )?;
        out.end()
    }
}

pub(super) fn report(level: Level, status: Status) -> LevelReport {
    LevelReport {
        level,
        status,
        note: None,
    }
}

/// The first failure of a level and how many more records failed it.
#[derive(Default)]
pub(super) struct Tally {
    first: Option<String>,
    pub(super) more: u64,
}

impl Tally {
    pub(super) fn fail(&mut self, reason: String) {
        if self.first.is_none() {
            self.first = Some(reason);
        } else {
            self.more += 1;
        }
    }

    pub(super) fn status(self) -> Status {
        match self.first {
            None => Status::Passed,
            Some(r) if self.more == 0 => Status::Failed(r),
            Some(r) => Status::Failed(format!("{r} (and {} more failures)", self.more)),
        }
    }
}
