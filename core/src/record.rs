//! Records of a run and the signed entries that carry them (SPEC.md, "Records").

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::abi::ToolMode;
use crate::digest::Digest;
use crate::outcome::Outcome;
use crate::score::Ppm;

/// One event of a run. A run is `RunStart`, one `TaskResult` per planned
/// (task, epoch) in plan order, then `RunEnd`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // one RunStart per run; boxing buys nothing
pub enum Record {
    /// The signed plan of the run.
    RunStart(RunStart),
    /// The result of one planned task instance.
    TaskResult(TaskResult),
    /// Totals; the run is over.
    RunEnd(RunEnd),
}

impl Record {
    /// A short stable name of the record kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::RunStart(_) => "RunStart",
            Record::TaskResult(_) => "TaskResult",
            Record::RunEnd(_) => "RunEnd",
        }
    }

    /// The postcard bytes of the record (the `body` of its entry).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing these types to a Vec cannot fail: no maps, no unknown lengths.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a record from its postcard bytes; trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Record, postcard::Error> {
        crate::decode_exact(bytes)
    }
}

/// Where the suite came from and how it was checked.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum SuiteTrust {
    /// The suite embedded in the runner binary, pinned by digests built into it.
    Embedded,
    /// A suite directory whose manifest verified under this authority key id.
    Signed(Digest),
    /// A development suite run without a signature (`--unsigned-suite`).
    Unsigned,
}

/// The suite a run used.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SuiteRef {
    /// Suite name.
    pub name: String,
    /// Suite digest (SPEC.md, "Suite digest").
    pub digest: Digest,
    /// How the suite was trusted.
    pub trust: SuiteTrust,
}

/// One planned task instance.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PlannedTask {
    /// Task id.
    pub task_id: String,
    /// Task version.
    pub task_version: u32,
    /// blake3 of the module bytes.
    pub module_digest: Digest,
    /// Epoch (instance number) of this task in the run.
    pub epoch: u32,
}

/// The hardware profile a run was limited by.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ProfileRef {
    /// Profile name.
    pub name: String,
    /// blake3 of the profile's canonical postcard encoding.
    pub digest: Digest,
}

/// The runner build and sandbox engine, since fuel counts are comparable
/// only under the same engine and settings.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RunnerBuild {
    /// Airlock version.
    pub airlock_version: String,
    /// wasmtime version.
    pub wasmtime_version: String,
    /// blake3 of the engine settings description (SPEC.md, "Engine settings").
    pub engine_settings: Digest,
    /// blake3 of the runner executable.
    pub executable: Digest,
}

/// The model under test, as the agent describes it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ModelDescriptor {
    /// Agent kind, e.g. `reference`, `null`, `openai`, `exec`.
    pub agent: String,
    /// Model name as requested.
    pub model: String,
    /// Model id as reported by the server, empty when none.
    pub reported_model: String,
    /// Whether tasks' tools were offered as native tool calls or the text
    /// protocol was used (`--tool-mode`).
    pub tool_mode: ToolMode,
}

/// Link to the previous run of the same evaluator station (SPEC.md,
/// "Station chain"). Both fields are allocated together under the station's
/// lock when the run starts, so runs that overlap in time still form one
/// chain: a run links to where its predecessor started, which exists at
/// once, not to where it ended, which may not exist yet.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StationLink {
    /// This run's number on the station, counting from 1.
    pub run_counter: u64,
    /// Chain hash of the previous run's RunStart record (its entry 0), or
    /// zero for the station's first run.
    pub previous_run_start_hash: Digest,
}

/// Which shard of a campaign a run is (SPEC.md, "Campaigns"). The run's
/// plan is then exactly the campaign plan entries the shard owns, in
/// campaign order, and its seed, suite, profile, runner and model are the
/// campaign plan's.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CampaignLink {
    /// [`plan_hash`](crate::campaign::plan_hash) of the signed campaign plan.
    pub plan_hash: Digest,
    /// This shard's index, from 0.
    pub shard_index: u32,
    /// The plan's shard count.
    pub shard_count: u32,
}

/// Whether the station's hardware vouches for the run (SPEC.md, "TPM
/// quotes"). The evaluator key alone cannot show where a run was signed;
/// a TPM quote over the run's chain hashes can, and a verifier that asks
/// for the hardware level refuses a run that recorded none.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum StationHardware {
    /// The station quoted no TPM for this run: it ran without a TPM
    /// station enrolment (`airlock station enroll`).
    NoTpm,
    /// The station's TPM 2.0 quotes the run at RunStart and RunEnd with the
    /// attestation key of the station registration whose blake3 this is
    /// (the quotes travel beside the bundle, in `BUNDLE.tpm-quotes`).
    Tpm2Quote {
        /// blake3 of the station registration file's bytes.
        registration: Digest,
    },
}

/// The first record: the signed plan.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RunStart {
    /// Random run identifier.
    pub run_id: [u8; 16],
    /// Start time, seconds since the Unix epoch (information only).
    pub started_at_unix_s: u64,
    /// The suite.
    pub suite: SuiteRef,
    /// Ordered plan; results appear in this order.
    pub plan: Vec<PlannedTask>,
    /// The profile.
    pub profile: ProfileRef,
    /// The runner.
    pub runner: RunnerBuild,
    /// The model.
    pub model: ModelDescriptor,
    /// Run seed; instance seeds derive from it.
    pub seed: [u8; 32],
    /// Key id of the evaluator key that signs every record.
    pub evaluator_key_id: Digest,
    /// Station chain link.
    pub station: StationLink,
    /// The campaign this run is a shard of; `None` for a run of its own.
    pub campaign: Option<CampaignLink>,
    /// The task ids a run of part of the suite selected (`run --task`,
    /// `--category`), in suite order; `None` for a run of the whole suite.
    /// The plan holds exactly these tasks, so completeness still holds.
    pub selection: Option<Vec<String>>,
    /// Digest of the run's settings in their canonical campaign-file form
    /// (SPEC.md, "Campaign files"), so that a reviewed file can be held to
    /// the bundle; `None` for a campaign shard, whose settings are its
    /// signed plan.
    pub settings: Option<Digest>,
    /// Whether a TPM quotes this run, and under which registration.
    pub hardware: StationHardware,
}

/// The result of one planned task instance.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TaskResult {
    /// Index in `RunStart::plan`.
    pub plan_index: u32,
    /// Task id (equal to the plan's).
    pub task_id: String,
    /// Module digest (equal to the plan's).
    pub module_digest: Digest,
    /// Epoch (equal to the plan's).
    pub epoch: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// Score; zero unless the outcome is `Done`.
    pub score: Ppm,
    /// Fuel consumed by `start` and every `step`.
    pub fuel_consumed: u64,
    /// Largest size the instance's linear memory reached, in bytes. Linear
    /// memory only grows, by whole 64 KiB pages, through the module's own
    /// `memory.grow`, so this is as deterministic as the fuel.
    pub peak_memory_bytes: u64,
    /// Model turns taken.
    pub turns: u32,
    /// Tokens of the instance's model calls, as the server reported them.
    pub tokens: TokenTotals,
    /// Wall time in microseconds (information only; not deterministic).
    pub wall_time_us: u64,
    /// Commitment to the transcript ([`crate::transcript::commitment`]).
    pub transcript_commitment: Digest,
}

/// The tokens one model call used, as the server's `usage` reported them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
// JSON readers (disclosure files) must refuse a field they do not check.
#[serde(deny_unknown_fields)]
pub struct TokenUsage {
    /// Tokens of the prompt (the whole conversation sent).
    pub prompt_tokens: u64,
    /// Tokens the model generated.
    pub completion_tokens: u64,
}

/// Tokens summed over a task instance's model calls.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct TokenTotals {
    /// Sum of the calls' prompt tokens.
    pub prompt_tokens: u64,
    /// Sum of the calls' completion tokens.
    pub completion_tokens: u64,
    /// Calls whose reply reported no usage (counted as zero in the sums).
    pub calls_without_usage: u32,
}

impl TokenTotals {
    /// Adds one call's usage, or counts it as a call without usage.
    pub fn add(&mut self, usage: Option<TokenUsage>) {
        match usage {
            Some(u) => {
                self.prompt_tokens = self.prompt_tokens.saturating_add(u.prompt_tokens);
                self.completion_tokens = self.completion_tokens.saturating_add(u.completion_tokens);
            }
            None => self.calls_without_usage = self.calls_without_usage.saturating_add(1),
        }
    }

    /// Prompt and completion tokens together.
    pub fn total(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// Why a run ended.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum RunEndReason {
    /// Every planned task has a result.
    Completed,
    /// The run stopped early after this many consecutive model errors.
    AbortedModelErrors(u32),
}

/// The last record: totals.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RunEnd {
    /// Number of TaskResult records.
    pub results: u32,
    /// Number of results with full credit.
    pub full_credit: u32,
    /// Sum of all scores in parts per million.
    pub score_sum: u64,
    /// Why the run ended.
    pub reason: RunEndReason,
}

/// An Ed25519 signature. On the wire: 64 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", crate::hex::Hex(&self.0[..8]))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut t = serializer.serialize_tuple(64)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SigVisitor;
        impl<'de> Visitor<'de> for SigVisitor {
            type Value = Signature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Signature, A::Error> {
                let mut out = [0u8; 64];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(Signature(out))
            }
        }
        deserializer.deserialize_tuple(64, SigVisitor)
    }
}

/// A record as stored in a journal or bundle: its bytes, its place in the
/// chain and the evaluator's signature over its chain hash.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SignedEntry {
    /// Sequence number, from 0.
    pub seq: u64,
    /// postcard bytes of the [`Record`].
    pub body: Vec<u8>,
    /// [`crate::chain::chain_hash`] of the previous entry's hash, `seq` and `body`.
    pub chain_hash: Digest,
    /// Ed25519 signature over [`crate::chain::signed_message`] of `chain_hash`.
    pub signature: Signature,
}

impl SignedEntry {
    /// The postcard bytes of the entry (one frame of a journal or bundle).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes an entry; trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedEntry, postcard::Error> {
        crate::decode_exact(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::TrapKind;
    use alloc::string::ToString;
    use alloc::vec;

    fn sample_result() -> TaskResult {
        TaskResult {
            plan_index: 1,
            task_id: "x".to_string(),
            module_digest: Digest([2; 32]),
            epoch: 0,
            outcome: Outcome::Trap(TrapKind::Unreachable),
            score: Ppm::ZERO,
            fuel_consumed: 300,
            peak_memory_bytes: 65536,
            turns: 2,
            tokens: TokenTotals {
                prompt_tokens: 300,
                completion_tokens: 7,
                calls_without_usage: 1,
            },
            wall_time_us: 5,
            transcript_commitment: Digest([4; 32]),
        }
    }

    /// Exact bytes of a TaskResult record (SPEC.md, "TaskResult").
    #[test]
    fn task_result_bytes_are_pinned() {
        let bytes = Record::TaskResult(sample_result()).to_bytes();
        let mut expected = vec![1u8, 1, 1, b'x'];
        expected.extend_from_slice(&[2; 32]);
        expected.extend_from_slice(&[0, 4, 0, 0, 0xac, 0x02, 0x80, 0x80, 0x04, 2]);
        expected.extend_from_slice(&[0xac, 0x02, 7, 1, 5]);
        expected.extend_from_slice(&[4; 32]);
        assert_eq!(bytes, expected);
        assert_eq!(
            Record::from_bytes(&bytes).unwrap(),
            Record::TaskResult(sample_result())
        );
    }

    /// Exact bytes of a RunStart's last fields (SPEC.md, "RunStart"): the
    /// campaign link, the selection (`00`, or `01`, a count and the ids),
    /// then the settings digest (`00`, or `01` and its 32 bytes).
    #[test]
    fn run_start_tail_bytes_are_pinned() {
        let mut start = RunStart {
            run_id: [1; 16],
            started_at_unix_s: 2,
            suite: SuiteRef {
                name: "s".to_string(),
                digest: Digest([3; 32]),
                trust: SuiteTrust::Embedded,
            },
            plan: vec![],
            profile: ProfileRef {
                name: "p".to_string(),
                digest: Digest([4; 32]),
            },
            runner: RunnerBuild {
                airlock_version: "a".to_string(),
                wasmtime_version: "w".to_string(),
                engine_settings: Digest([5; 32]),
                executable: Digest([6; 32]),
            },
            model: ModelDescriptor {
                agent: "null".to_string(),
                model: String::new(),
                reported_model: String::new(),
                tool_mode: crate::abi::ToolMode::Native,
            },
            seed: [7; 32],
            evaluator_key_id: Digest([8; 32]),
            station: StationLink {
                run_counter: 9,
                previous_run_start_hash: Digest([10; 32]),
            },
            campaign: None,
            selection: None,
            settings: None,
            hardware: StationHardware::NoTpm,
        };
        let without = Record::RunStart(start.clone()).to_bytes();
        // ... key id, run counter 9, previous hash, no campaign, no
        // selection, no settings, hardware NoTpm (variant 0).
        let mut tail = vec![8u8; 32];
        tail.push(9);
        tail.extend_from_slice(&[10; 32]);
        tail.extend_from_slice(&[0, 0, 0, 0]);
        assert!(without.ends_with(&tail), "{without:?}");
        start.selection = Some(vec!["ab".to_string()]);
        start.settings = Some(Digest([11; 32]));
        start.hardware = StationHardware::Tpm2Quote {
            registration: Digest([12; 32]),
        };
        let with = Record::RunStart(start.clone()).to_bytes();
        assert_eq!(with.len(), without.len() + 4 + 32 + 32);
        tail.truncate(tail.len() - 3);
        tail.extend_from_slice(&[1, 1, 2, b'a', b'b', 1]);
        tail.extend_from_slice(&[11; 32]);
        tail.push(1);
        tail.extend_from_slice(&[12; 32]);
        assert!(with.ends_with(&tail), "{with:?}");
        assert_eq!(Record::from_bytes(&with).unwrap(), Record::RunStart(start));
    }

    /// Exact bytes of a RunEnd record.
    #[test]
    fn run_end_bytes_are_pinned() {
        let end = Record::RunEnd(RunEnd {
            results: 2,
            full_credit: 1,
            score_sum: 1_000_000,
            reason: RunEndReason::AbortedModelErrors(3),
        });
        assert_eq!(end.to_bytes(), [2, 2, 1, 0xc0, 0x84, 0x3d, 1, 3]);
    }

    /// Exact bytes of a signed entry frame body.
    #[test]
    fn signed_entry_bytes_are_pinned() {
        let entry = SignedEntry {
            seq: 130,
            body: vec![7, 8],
            chain_hash: Digest([5; 32]),
            signature: Signature([6; 64]),
        };
        let bytes = entry.to_bytes();
        let mut expected = vec![0x82, 0x01, 2, 7, 8];
        expected.extend_from_slice(&[5; 32]);
        expected.extend_from_slice(&[6; 64]);
        assert_eq!(bytes, expected);
        assert_eq!(SignedEntry::from_bytes(&bytes).unwrap(), entry);
        assert!(SignedEntry::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SignedEntry::from_bytes(&longer).is_err());
    }
}
