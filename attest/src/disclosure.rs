//! Disclosure files (`airlock-disclosure/2`): one transcript with its
//! opening, taken out of the enclave on purpose, and the check of it against
//! the signed TaskResult that commits to it (SPEC.md, "Disclosure file").
//!
//! The commitment is computed over the transcript's postcard bytes, which
//! JSON cannot carry exactly as text: the file holds those bytes in base64
//! (what the check uses) and a readable copy that must decode to the same
//! transcript, so a reader can trust what they read.

use core::fmt;
use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_core::hex::{decode_array as unhex, encode as hex};
use airlock_core::outcome::{ModelErrorKind, Outcome};
use airlock_core::record::TaskResult;
use airlock_core::transcript::{Transcript, Turn, commitment};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::fsutil::SecretError;
use crate::keys::PublicKey;
use crate::verify::{Level, LevelReport, RecordVisitor, Status, VerifyOptions};
use airlock_core::record::RunStart;
use airlock_core::transcript::opening_key;

use crate::transcripts::{StoreError, TranscriptKey, open_transcript};

/// The `format` value of a disclosure file.
pub const DISCLOSURE_FORMAT: &str = "airlock-disclosure/2";

/// Largest disclosure file read (a transcript is bounded by the profile; this
/// only keeps a hostile file from exhausting memory).
pub const MAX_DISCLOSURE_BYTES: u64 = 256 * 1024 * 1024;

/// One disclosed transcript, as read from or written to a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disclosure {
    /// The run's id (RunStart `run_id`).
    pub run_id: [u8; 16],
    /// Key id of the evaluator key that signed the run.
    pub evaluator_key_id: Digest,
    /// The plan entry.
    pub plan_index: u32,
    /// Its task id.
    pub task_id: String,
    /// Its epoch.
    pub epoch: u32,
    /// The signed result's outcome name (`done`, `model-error`, ...).
    pub outcome: String,
    /// The kind of model error the transcript ended with, if it did.
    pub model_error: Option<ModelErrorKind>,
    /// The commitment the signed TaskResult carries.
    pub commitment: Digest,
    /// The plan entry's opening key (never the run secret).
    pub opening_key: [u8; 32],
    /// The transcript's postcard bytes: what the commitment is over.
    pub transcript_bytes: Vec<u8>,
    /// The transcript, decoded from those bytes.
    pub transcript: Transcript,
}

/// Why a disclosure file could not be read or does not match its record.
#[derive(Debug)]
#[non_exhaustive]
pub enum DisclosureError {
    /// The file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        doing: &'static str,
        /// The error.
        error: std::io::Error,
    },
    /// The file is not a well-formed disclosure.
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The disclosure does not match the signed record.
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        problem: String,
    },
    /// The bundle does not verify under the evaluator key.
    Unverified {
        /// The bundle.
        path: PathBuf,
        /// The first level that failed, and why.
        problem: String,
    },
    /// The bundle cannot be opened or read; the error names it.
    Read(crate::error::AttestError),
    /// The bundle has no such plan entry.
    Bundle {
        /// The bundle.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The sealed transcript could not be opened.
    Store(StoreError),
    /// A second file disclosing a plan entry an earlier file disclosed.
    Duplicate {
        /// The later file.
        path: PathBuf,
        /// The file that disclosed the entry first.
        first: PathBuf,
        /// The plan entry.
        plan_index: u32,
    },
}

impl airlock_core::Classify for DisclosureError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            // A file that is not a disclosure, a run secret of the wrong
            // length, or a task the bundle never ran: the wrong input given.
            DisclosureError::Io { .. }
            | DisclosureError::Malformed { .. }
            | DisclosureError::Bundle { .. } => ErrorClass::Input,
            DisclosureError::Mismatch { .. }
            | DisclosureError::Unverified { .. }
            | DisclosureError::Duplicate { .. } => ErrorClass::Integrity,
            DisclosureError::Read(error) => error.class(),
            DisclosureError::Store(error) => error.class(),
        }
    }
}

impl fmt::Display for DisclosureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisclosureError::Io { path, doing, error } => {
                write!(f, "{}: could not {doing}: {error}", path.display())
            }
            DisclosureError::Malformed { path, problem } => {
                write!(f, "{}: not a valid disclosure: {problem}", path.display())
            }
            DisclosureError::Mismatch { path, problem }
            | DisclosureError::Bundle { path, problem } => {
                write!(f, "{}: {problem}", path.display())
            }
            DisclosureError::Unverified { path, problem } => {
                write!(f, "{}: does not verify ({problem})", path.display())
            }
            DisclosureError::Store(e) => write!(f, "{e}"),
            DisclosureError::Read(e) => write!(f, "{e}"),
            DisclosureError::Duplicate {
                path,
                first,
                plan_index,
            } => write!(
                f,
                "{}: discloses plan entry {plan_index} again, as {} does: each transcript \
                 is counted once, so give each disclosure once",
                path.display(),
                first.display()
            ),
        }
    }
}

impl core::error::Error for DisclosureError {}

// A field this reader does not know could be a claim it does not check.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnJson {
    prompt: airlock_core::abi::Prompt,
    reply: airlock_core::abi::ModelReply,
    usage: Option<airlock_core::record::TokenUsage>,
    reasoning: String,
}

// A field this reader does not know could be a claim it does not check.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TranscriptJson {
    task_id: String,
    plan_index: u32,
    epoch: u32,
    seed: String,
    turns: Vec<TurnJson>,
}

// A field this reader does not know could be a claim it does not check.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisclosureJson {
    format: String,
    run_id: String,
    evaluator_key_id: String,
    plan_index: u32,
    task_id: String,
    epoch: u32,
    outcome: String,
    model_error: Option<String>,
    commitment: String,
    opening_key: String,
    transcript_postcard: String,
    transcript: TranscriptJson,
}

/// The `model_error` name of a model-error kind.
fn kind_from_name(name: &str) -> Option<ModelErrorKind> {
    [
        ModelErrorKind::Timeout,
        ModelErrorKind::Transport,
        ModelErrorKind::ServerError,
        ModelErrorKind::MalformedReply,
        ModelErrorKind::Unsupported,
    ]
    .into_iter()
    .find(|k| k.name() == name)
}

impl Disclosure {
    /// The disclosure of `transcript_bytes`, the sealed transcript of `result`.
    pub fn new(
        run_id: [u8; 16],
        evaluator_key_id: Digest,
        result: &TaskResult,
        opening_key: [u8; 32],
        transcript_bytes: Vec<u8>,
    ) -> Result<Disclosure, String> {
        let transcript: Transcript = airlock_core::decode_exact(&transcript_bytes)
            .map_err(|e| format!("the transcript bytes do not decode: {e}"))?;
        Ok(Disclosure {
            run_id,
            evaluator_key_id,
            plan_index: result.plan_index,
            task_id: result.task_id.clone(),
            epoch: result.epoch,
            outcome: result.outcome.name().to_owned(),
            model_error: match result.outcome {
                Outcome::ModelError(kind) => Some(kind),
                _ => None,
            },
            commitment: result.transcript_commitment,
            opening_key,
            transcript_bytes,
            transcript,
        })
    }

    /// The file's JSON text (pretty-printed, ending with a newline).
    pub fn to_json(&self) -> String {
        let t = &self.transcript;
        let json = DisclosureJson {
            format: DISCLOSURE_FORMAT.into(),
            run_id: hex(&self.run_id),
            evaluator_key_id: self.evaluator_key_id.to_hex().to_string(),
            plan_index: self.plan_index,
            task_id: self.task_id.clone(),
            epoch: self.epoch,
            outcome: self.outcome.clone(),
            model_error: self.model_error.map(|k| k.name().into()),
            commitment: self.commitment.to_hex().to_string(),
            opening_key: hex(&self.opening_key),
            transcript_postcard: BASE64.encode(&self.transcript_bytes),
            transcript: TranscriptJson {
                task_id: t.task_id.clone(),
                plan_index: t.plan_index,
                epoch: t.epoch,
                seed: hex(&t.seed),
                turns: t
                    .turns
                    .iter()
                    .map(|turn| TurnJson {
                        prompt: turn.prompt.clone(),
                        reply: turn.reply.clone(),
                        usage: turn.usage,
                        reasoning: turn.reasoning.clone(),
                    })
                    .collect(),
            },
        };
        // A struct of strings, integers and vectors always serializes.
        let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses a disclosure and checks that it holds together on its own:
    /// the postcard bytes decode exactly, the readable transcript is the
    /// decoded one, the commitment opens to those bytes under the opening
    /// key, and the plan entry fields agree with the transcript's.
    pub fn from_json(path: &Path, text: &str) -> Result<Disclosure, DisclosureError> {
        let bad = |problem: String| DisclosureError::Malformed {
            path: path.to_path_buf(),
            problem,
        };
        let json: DisclosureJson =
            serde_json::from_str(text).map_err(|e| bad(format!("JSON: {e}")))?;
        if json.format != DISCLOSURE_FORMAT {
            return Err(bad(format!(
                "format \"{}\", this airlock reads \"{DISCLOSURE_FORMAT}\"",
                json.format
            )));
        }
        let run_id =
            unhex::<16>(&json.run_id).ok_or_else(|| bad("run_id is not 32 hex digits".into()))?;
        let evaluator_key_id = Digest::from_hex(&json.evaluator_key_id)
            .ok_or_else(|| bad("evaluator_key_id is not 64 hex digits".into()))?;
        let commitment_digest = Digest::from_hex(&json.commitment)
            .ok_or_else(|| bad("commitment is not 64 hex digits".into()))?;
        let opening_key = unhex::<32>(&json.opening_key)
            .ok_or_else(|| bad("opening_key is not 64 hex digits".into()))?;
        let transcript_bytes = BASE64
            .decode(json.transcript_postcard.as_bytes())
            .map_err(|e| bad(format!("transcript_postcard is not base64: {e}")))?;
        let transcript: Transcript =
            airlock_core::decode_exact(&transcript_bytes).map_err(|e| {
                bad(format!(
                    "transcript_postcard does not decode as a transcript: {e}"
                ))
            })?;
        let readable = Transcript {
            task_id: json.transcript.task_id,
            plan_index: json.transcript.plan_index,
            epoch: json.transcript.epoch,
            seed: unhex::<32>(&json.transcript.seed)
                .ok_or_else(|| bad("transcript.seed is not 64 hex digits".into()))?,
            turns: json
                .transcript
                .turns
                .into_iter()
                .map(|t| Turn {
                    prompt: t.prompt,
                    reply: t.reply,
                    usage: t.usage,
                    reasoning: t.reasoning,
                })
                .collect(),
        };
        if readable != transcript {
            return Err(bad(
                "the readable transcript differs from transcript_postcard".into(),
            ));
        }
        if transcript.plan_index != json.plan_index
            || transcript.task_id != json.task_id
            || transcript.epoch != json.epoch
        {
            return Err(bad(format!(
                "the transcript is of plan entry {} ({} epoch {}), the file names {} ({} epoch {})",
                transcript.plan_index,
                transcript.task_id,
                transcript.epoch,
                json.plan_index,
                json.task_id,
                json.epoch
            )));
        }
        if commitment(&opening_key, &transcript_bytes) != commitment_digest {
            return Err(bad(
                "the commitment does not open to transcript_postcard under opening_key".into(),
            ));
        }
        let model_error = match json.model_error.as_deref() {
            None => None,
            Some(name) => Some(
                kind_from_name(name)
                    .ok_or_else(|| bad(format!("unknown model_error \"{name}\"")))?,
            ),
        };
        if model_error.is_some() != (json.outcome == "model-error") {
            return Err(bad(
                "model_error must be given exactly when the outcome is model-error".into(),
            ));
        }
        Ok(Disclosure {
            run_id,
            evaluator_key_id,
            plan_index: json.plan_index,
            task_id: json.task_id,
            epoch: json.epoch,
            outcome: json.outcome,
            model_error,
            commitment: commitment_digest,
            opening_key,
            transcript_bytes,
            transcript,
        })
    }

    /// Reads and parses a disclosure file.
    pub fn read(path: &Path) -> Result<Disclosure, DisclosureError> {
        use std::io::Read;
        let io = |doing| {
            move |error| DisclosureError::Io {
                path: path.to_path_buf(),
                doing,
                error,
            }
        };
        let file = std::fs::File::open(path).map_err(io("open"))?;
        let mut text = String::new();
        file.take(MAX_DISCLOSURE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io("read"))?;
        if text.len() as u64 > MAX_DISCLOSURE_BYTES {
            return Err(DisclosureError::Malformed {
                path: path.to_path_buf(),
                problem: format!("longer than {MAX_DISCLOSURE_BYTES} bytes"),
            });
        }
        Disclosure::from_json(path, &text)
    }

    /// Checks the disclosure against the signed record of its plan entry in
    /// the run `run_start`: same run and evaluator key, plan entry, task
    /// and epoch, and the signed commitment is the one that opens to the
    /// transcript.
    pub fn check_against(
        &self,
        path: &Path,
        run_start: &RunStart,
        result: &TaskResult,
    ) -> Result<(), DisclosureError> {
        let mismatch = |problem: String| DisclosureError::Mismatch {
            path: path.to_path_buf(),
            problem,
        };
        let run_id = &run_start.run_id;
        if &self.run_id != run_id {
            return Err(mismatch(format!(
                "is of run {}, the bundle is run {}",
                hex(&self.run_id),
                hex(run_id)
            )));
        }
        if self.evaluator_key_id != run_start.evaluator_key_id {
            return Err(mismatch(format!(
                "names evaluator key {}, but the bundle's run was signed by key {}",
                self.evaluator_key_id, run_start.evaluator_key_id
            )));
        }
        if result.plan_index != self.plan_index
            || result.task_id != self.task_id
            || result.epoch != self.epoch
        {
            return Err(mismatch(format!(
                "names plan entry {} ({} epoch {}), the signed record there is {} epoch {}",
                self.plan_index, self.task_id, self.epoch, result.task_id, result.epoch
            )));
        }
        if result.transcript_commitment != self.commitment {
            return Err(mismatch(format!(
                "transcript commitment does not match the signed record of {} epoch {} (plan entry {})",
                self.task_id, self.epoch, self.plan_index
            )));
        }
        let signed_error = match result.outcome {
            Outcome::ModelError(kind) => Some(kind),
            _ => None,
        };
        if result.outcome.name() != self.outcome
            || signed_error != self.model_error
            || result.turns as usize != self.transcript.turns.len()
        {
            return Err(mismatch(format!(
                "the signed record of {} epoch {} says {} after {} turns, the file {} after {}",
                self.task_id,
                self.epoch,
                result.outcome,
                result.turns,
                self.outcome,
                self.transcript.turns.len()
            )));
        }
        Ok(())
    }
}

/// Where `airlock disclose` finds what it needs.
#[derive(Clone, Debug)]
pub struct DiscloseSources<'a> {
    /// The bundle.
    pub bundle: &'a Path,
    /// The evaluator public key the bundle must verify under.
    pub evaluator: &'a PublicKey,
    /// The station's transcript key file.
    pub transcript_key: &'a Path,
    /// The run's secret (`OUT.secret`).
    pub secret: &'a Path,
    /// The run's sealed transcript store (`OUT.transcripts`).
    pub store: &'a Path,
}

/// Opens the sealed transcript of `task_id` (epoch `epoch`, or its only
/// epoch) and makes its disclosure. The bundle must verify under the
/// evaluator key, and the opened transcript must match the signed
/// commitment before anything is disclosed.
pub fn disclose(
    sources: &DiscloseSources<'_>,
    task_id: &str,
    epoch: Option<u32>,
) -> Result<Disclosure, DisclosureError> {
    let bundle_problem = |problem: String| DisclosureError::Bundle {
        path: sources.bundle.to_path_buf(),
        problem,
    };
    // Only the results of the task asked for are kept: the bundle is
    // streamed, whatever its size.
    let mut matching = MatchingResults {
        task_id,
        epoch,
        results: Vec::new(),
    };
    let verdict = crate::verify::verify_bundle_file_with(
        sources.bundle,
        core::slice::from_ref(sources.evaluator),
        VerifyOptions::default(),
        &mut matching,
    )
    .map_err(DisclosureError::Read)?;
    if !verdict.verified() {
        let why = verdict
            .first_failure()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(DisclosureError::Unverified {
            path: sources.bundle.to_path_buf(),
            problem: why,
        });
    }
    // A verified bundle's RunStart names the header's key as its evaluator
    // key (the completeness level checks it), so the summary has both ids.
    let (Some(run_id), Some(evaluator_key_id)) = (verdict.summary.run_id, verdict.summary.key_id)
    else {
        return Err(bundle_problem("has no RunStart".into()));
    };
    let candidates: Vec<&TaskResult> = matching.results.iter().collect();
    let result = match candidates.as_slice() {
        [one] => *one,
        [] => {
            return Err(bundle_problem(match epoch {
                Some(e) => format!("has no result for task {task_id} epoch {e}"),
                None => format!("has no result for task {task_id}"),
            }));
        }
        many => {
            let epochs: Vec<String> = many.iter().map(|r| r.epoch.to_string()).collect();
            return Err(bundle_problem(format!(
                "task {task_id} has results for epochs {}; choose one with --epoch",
                epochs.join(", ")
            )));
        }
    };
    let secret = read_secret(sources.secret)?;
    let key = TranscriptKey::load(sources.transcript_key).map_err(DisclosureError::Store)?;
    let bytes = open_transcript(sources.store, &key, &run_id, result.plan_index)
        .map_err(DisclosureError::Store)?;
    let opening = opening_key(&secret, result.plan_index);
    if commitment(&opening, &bytes) != result.transcript_commitment {
        return Err(DisclosureError::Mismatch {
            path: sources.store.to_path_buf(),
            problem: format!(
                "the sealed transcript of {task_id} epoch {} does not open the signed commitment \
                 under the run secret in {} (another run's secret?)",
                result.epoch,
                sources.secret.display()
            ),
        });
    }
    Disclosure::new(run_id, evaluator_key_id, result, opening, bytes).map_err(|problem| {
        DisclosureError::Malformed {
            path: sources.store.to_path_buf(),
            problem,
        }
    })
}

/// Keeps, while a bundle is verified, the results of one task (of one
/// epoch, if given), and nothing else.
struct MatchingResults<'a> {
    task_id: &'a str,
    epoch: Option<u32>,
    results: Vec<TaskResult>,
}

impl RecordVisitor for MatchingResults<'_> {
    fn wants_run_start(&self) -> bool {
        false
    }

    fn task_result(&mut self, _index: u64, record: &TaskResult) {
        if record.task_id == self.task_id && self.epoch.is_none_or(|e| record.epoch == e) {
            self.results.push(record.clone());
        }
    }
}

/// Reads a run secret file (`BUNDLE.secret`): exactly 32 bytes.
pub fn read_secret(path: &Path) -> Result<[u8; 32], DisclosureError> {
    crate::fsutil::read_secret(path).map_err(|e| match e {
        SecretError::Io(error) => DisclosureError::Io {
            path: path.to_path_buf(),
            doing: "read the run secret from",
            error,
        },
        SecretError::WrongLength => DisclosureError::Malformed {
            path: path.to_path_buf(),
            problem: "a run secret is exactly 32 bytes".into(),
        },
    })
}

/// Keeps the RunStart and the results a set of disclosures need, while the
/// bundle is verified in one streamed pass.
#[derive(Debug, Default)]
pub struct DisclosedRecords {
    wanted: Vec<u32>,
    all: bool,
    /// The run's RunStart.
    pub run_start: Option<RunStart>,
    /// The wanted results, by plan index.
    pub results: Vec<TaskResult>,
}

impl DisclosedRecords {
    /// Collects the results at `plan_indices`.
    pub fn wanting(plan_indices: Vec<u32>) -> DisclosedRecords {
        DisclosedRecords {
            wanted: plan_indices,
            ..DisclosedRecords::default()
        }
    }

    /// Collects every result (for replay from the sealed store).
    pub fn all() -> DisclosedRecords {
        DisclosedRecords {
            all: true,
            ..DisclosedRecords::default()
        }
    }
}

impl RecordVisitor for DisclosedRecords {
    fn run_start(&mut self, _index: u64, record: &RunStart) {
        if self.run_start.is_none() {
            self.run_start = Some(record.clone());
        }
    }

    fn task_result(&mut self, _index: u64, record: &TaskResult) {
        // With `all` (replay from the sealed store) no duplicate check: it
        // would be quadratic, and replay needs a bundle that verifies, whose
        // completeness level has already refused a duplicate.
        let keep = self.all
            || (self.wanted.contains(&record.plan_index)
                && !self
                    .results
                    .iter()
                    .any(|r| r.plan_index == record.plan_index));
        if keep {
            self.results.push(record.clone());
        }
    }
}

/// Reads each disclosure file; a file that cannot be read is reported in the
/// level, not as an error. A file that discloses the same plan entry of the
/// same run as an earlier one is refused ([`DisclosureError::Duplicate`]):
/// counted twice, it would make one transcript look like two.
pub fn read_all(paths: &[PathBuf]) -> Vec<(PathBuf, Result<Disclosure, DisclosureError>)> {
    let mut seen: std::collections::HashMap<([u8; 16], u32), &PathBuf> =
        std::collections::HashMap::new();
    paths
        .iter()
        .map(|p| {
            let read =
                Disclosure::read(p).and_then(|d| match seen.get(&(d.run_id, d.plan_index)) {
                    Some(first) => Err(DisclosureError::Duplicate {
                        path: p.clone(),
                        first: (*first).clone(),
                        plan_index: d.plan_index,
                    }),
                    None => {
                        seen.insert((d.run_id, d.plan_index), p);
                        Ok(d)
                    }
                });
            (p.clone(), read)
        })
        .collect()
}

/// The `disclosed` level: every file opens the commitment of the signed
/// result it names. Checked only when the bundle verified, since a record
/// of a bundle that does not verify proves nothing.
pub fn disclosed_level(
    bundle_verified: bool,
    files: &[(PathBuf, Result<Disclosure, DisclosureError>)],
    records: &DisclosedRecords,
) -> LevelReport {
    let report = |status, note| LevelReport {
        level: Level::Disclosed,
        status,
        note,
    };
    if !bundle_verified {
        return report(
            Status::NotChecked("the bundle does not verify".into()),
            None,
        );
    }
    let mut failures = Vec::new();
    let mut opened = Vec::new();
    for (path, disclosure) in files {
        let checked = disclosure
            .as_ref()
            .map_err(ToString::to_string)
            .and_then(|d| {
                let run_start = records
                    .run_start
                    .as_ref()
                    .ok_or_else(|| "the bundle has no RunStart".to_owned())?;
                let result = records
                    .results
                    .iter()
                    .find(|r| r.plan_index == d.plan_index)
                    .ok_or_else(|| {
                        format!(
                            "{}: the bundle has no result for plan entry {}",
                            path.display(),
                            d.plan_index
                        )
                    })?;
                d.check_against(path, run_start, result)
                    .map_err(|e| e.to_string())?;
                Ok(format!(
                    "{} epoch {} (plan entry {})",
                    d.task_id, d.epoch, d.plan_index
                ))
            });
        match checked {
            Ok(name) => opened.push(name),
            Err(why) => failures.push(why),
        }
    }
    match failures.split_first() {
        None => report(
            Status::Passed,
            Some(format!(
                "{} transcript{} opened: {}",
                opened.len(),
                if opened.len() == 1 { "" } else { "s" },
                opened.join(", ")
            )),
        ),
        Some((first, rest)) => {
            let mut reason = first.clone();
            if !rest.is_empty() {
                reason.push_str(&format!(" (and {} more failures)", rest.len()));
            }
            report(Status::Failed(reason), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::outcome::Outcome;

    fn sample() -> (Disclosure, TaskResult) {
        let transcript = Transcript {
            task_id: "t".into(),
            plan_index: 1,
            epoch: 0,
            seed: [5; 32],
            turns: vec![Turn::text("what is the flag?", "flag{x}", false)],
        };
        let bytes = postcard::to_allocvec(&transcript).unwrap();
        let opening = [9; 32];
        let result = TaskResult {
            plan_index: 1,
            task_id: "t".into(),
            module_digest: Digest([2; 32]),
            epoch: 0,
            outcome: Outcome::Done,
            score: airlock_core::Ppm::FULL,
            fuel_consumed: 10,
            peak_memory_bytes: 65536,
            turns: 1,
            tokens: Default::default(),
            wall_time_us: 1,
            transcript_commitment: commitment(&opening, &bytes),
        };
        let disclosure =
            Disclosure::new([1; 16], Digest([3; 32]), &result, opening, bytes).unwrap();
        (disclosure, result)
    }

    /// The RunStart of run `run_id`, signed by the key the sample names.
    fn run_start(run_id: [u8; 16]) -> RunStart {
        use airlock_core::record::{
            ModelDescriptor, ProfileRef, RunnerBuild, StationLink, SuiteRef, SuiteTrust,
        };
        RunStart {
            run_id,
            started_at_unix_s: 0,
            suite: SuiteRef {
                name: "s".into(),
                digest: Digest([0; 32]),
                trust: SuiteTrust::Embedded,
            },
            plan: Vec::new(),
            profile: ProfileRef {
                name: "p".into(),
                digest: Digest([0; 32]),
            },
            runner: RunnerBuild {
                airlock_version: "0".into(),
                wasmtime_version: "0".into(),
                engine_settings: Digest([0; 32]),
                executable: Digest([0; 32]),
            },
            model: ModelDescriptor {
                agent: "a".into(),
                model: "m".into(),
                reported_model: String::new(),
                tool_mode: airlock_core::abi::ToolMode::Native,
            },
            seed: [0; 32],
            evaluator_key_id: Digest([3; 32]),
            campaign: None,
            selection: None,
            settings: None,
            hardware: airlock_core::record::StationHardware::NoTpm,
            station: StationLink {
                run_counter: 1,
                previous_run_start_hash: Digest([0; 32]),
            },
        }
    }

    /// A disclosure naming another evaluator key than the one that signed
    /// the run is refused, naming the file.
    #[test]
    fn a_disclosure_of_another_evaluator_key_is_refused() {
        let (disclosure, result) = sample();
        let path = Path::new("other-key.json");
        let mut start = run_start([1; 16]);
        start.evaluator_key_id = Digest([4; 32]);
        let err = disclosure
            .check_against(path, &start, &result)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("other-key.json: names evaluator key 0303")
                && err.contains("signed by key 0404"),
            "{err}"
        );
    }

    /// A field the format does not define, at the top or inside the
    /// readable transcript, is refused naming the file and the field.
    #[test]
    fn unknown_fields_are_refused() {
        let (disclosure, _) = sample();
        let text = disclosure.to_json();
        for (from, to) in [
            ("\"format\"", "\"verified_by\": \"me\",\n  \"format\""),
            ("\"prompt\"", "\"score\": 1,\n \"prompt\""),
            ("\"truncated\"", "\"verdict\": 1,\n \"truncated\""),
            ("\"turns\"", "\"extra\": [],\n \"turns\""),
        ] {
            let altered = text.replacen(from, to, 1);
            assert_ne!(altered, text);
            let err = Disclosure::from_json(Path::new("extra.json"), &altered)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("extra.json: not a valid disclosure: JSON: unknown field"),
                "{err}"
            );
        }
    }

    /// The same plan entry disclosed by two files (the same file twice, or
    /// a copy) is refused the second time, naming both: one transcript is
    /// never counted as two.
    #[test]
    fn a_disclosure_given_twice_is_refused_the_second_time() {
        let (disclosure, _) = sample();
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.json");
        std::fs::write(&a, disclosure.to_json()).unwrap();
        std::fs::write(&b, disclosure.to_json()).unwrap();
        let read = read_all(&[a.clone(), b.clone(), a.clone()]);
        assert!(read[0].1.is_ok());
        for (path, got) in &read[1..] {
            let err = got.as_ref().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "{}: discloses plan entry 1 again, as {} does",
                    path.display(),
                    a.display()
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn a_disclosure_round_trips_through_its_json_and_checks() {
        let (disclosure, result) = sample();
        let path = Path::new("d.json");
        let read = Disclosure::from_json(path, &disclosure.to_json()).unwrap();
        assert_eq!(read, disclosure);
        read.check_against(path, &run_start([1; 16]), &result)
            .unwrap();
        let err = read
            .check_against(path, &run_start([2; 16]), &result)
            .unwrap_err();
        assert!(err.to_string().contains("is of run"), "{err}");
    }

    #[test]
    fn every_single_byte_change_of_the_transcript_fails_the_check() {
        let (disclosure, result) = sample();
        let path = Path::new("d.json");
        for at in 0..disclosure.transcript_bytes.len() {
            for flip in [0x01u8, 0x80] {
                let mut bytes = disclosure.transcript_bytes.clone();
                bytes[at] ^= flip;
                // Whoever altered it recomputes the file's own commitment;
                // the signed one still differs.
                let Ok(altered) = Disclosure::new(
                    disclosure.run_id,
                    disclosure.evaluator_key_id,
                    &TaskResult {
                        transcript_commitment: commitment(&disclosure.opening_key, &bytes),
                        ..result.clone()
                    },
                    disclosure.opening_key,
                    bytes,
                ) else {
                    continue; // no longer a transcript at all
                };
                let err = altered
                    .check_against(path, &run_start([1; 16]), &result)
                    .unwrap_err();
                assert!(
                    err.to_string().contains("commitment does not match"),
                    "byte {at}: {err}"
                );
            }
        }
    }

    #[test]
    fn a_readable_form_that_differs_from_the_committed_bytes_is_refused() {
        let (disclosure, _) = sample();
        let text = disclosure.to_json().replace("flag{x}", "flag{y}");
        let err = Disclosure::from_json(Path::new("d.json"), &text).unwrap_err();
        assert!(
            err.to_string().contains("readable transcript differs"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod class_tests {
    use super::*;
    use airlock_core::{Classify as _, ErrorClass};

    /// Every variant with its exit-code class. The row function matches
    /// without a wildcard arm, so a new variant does not compile until it
    /// has a row, and the test fails until the row has a case.
    #[test]
    fn every_disclosure_error_variant_has_its_class() {
        let path = || std::path::PathBuf::from("x");
        let io = || std::io::Error::other("x");
        let cases = [
            (
                DisclosureError::Io {
                    path: path(),
                    doing: "read",
                    error: io(),
                },
                ErrorClass::Input,
            ),
            (
                DisclosureError::Malformed {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                DisclosureError::Mismatch {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Integrity,
            ),
            (
                DisclosureError::Unverified {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Integrity,
            ),
            (
                DisclosureError::Read(crate::AttestError::AlreadyExists { path: path() }),
                ErrorClass::Input,
            ),
            (
                DisclosureError::Bundle {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                DisclosureError::Store(StoreError::Decrypt {
                    path: path(),
                    record: 0,
                    plan_index: 0,
                    offset: 0,
                }),
                ErrorClass::Integrity,
            ),
            (
                DisclosureError::Duplicate {
                    path: path(),
                    first: path(),
                    plan_index: 0,
                },
                ErrorClass::Integrity,
            ),
        ];
        let row = |e: &DisclosureError| match e {
            DisclosureError::Io { .. } => 0,
            DisclosureError::Malformed { .. } => 1,
            DisclosureError::Mismatch { .. } => 2,
            DisclosureError::Unverified { .. } => 3,
            DisclosureError::Read(_) => 4,
            DisclosureError::Bundle { .. } => 5,
            DisclosureError::Store(_) => 6,
            DisclosureError::Duplicate { .. } => 7,
        };
        let mut seen = [false; 8];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
