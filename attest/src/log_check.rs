//! The verifier's side of the station log (SPEC.md, "Verifying against a
//! log policy"): each bundle's receipt under a C2SP tlog-policy, then,
//! across everything given, whether the checkpoints are one history and
//! which of the log's runs were not shown.
//!
//! A receipt binds the bundle's run (evaluator key id, run counter,
//! RunStart and final chain hashes, all read from the verified bundle) to a
//! signed, witnessed checkpoint. Across receipts, older checkpoints the
//! verifier kept and consistency proofs, two checkpoints of one size with
//! different roots, or a consistency proof that does not join two roots,
//! are a fork; every checkpoint must be proven part of the newest one's
//! history; and every index of the newest checkpoint that no receipt shows
//! is named, so a run held back from the verifier shows even when it is the
//! last one.

use core::fmt;
use std::collections::BTreeMap;

use airlock_tlog::checkpoint::{self, Checkpoint};
use airlock_tlog::merkle;
use airlock_tlog::note::Note;
use airlock_tlog::policy::Policy;
use airlock_tlog::proof::TlogProof;
use airlock_tlog::witness_request::AddCheckpoint;
use airlock_tlog::{Hash, TlogError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::station_chain::StationRun;
use crate::station_log::{LogLeaf, origin};
use crate::verify::{Level, LevelReport, Status};

/// What the verifier holds besides the bundles and their receipts.
#[derive(Debug)]
pub struct LogEvidence {
    /// The policy: trusted logs, witnesses, quorum.
    pub policy: Policy,
    /// Checkpoints given on their own (labelled by file): cosigned copies
    /// of a receipt's checkpoint, or older checkpoints the verifier kept.
    pub checkpoints: Vec<(String, Note)>,
    /// Consistency proofs (tlog-witness `add-checkpoint` bodies), labelled.
    pub consistency: Vec<(String, AddCheckpoint)>,
}

/// A receipt that checked out for a bundle.
#[derive(Clone, Debug)]
pub struct CheckedReceipt {
    /// The bundle's label.
    pub label: String,
    /// The run's log index.
    pub index: u64,
    /// The receipt's checkpoint.
    pub checkpoint: Checkpoint,
}

/// The receipt's checkpoint with the cosignatures of every given
/// checkpoint of the same body added: witnesses cosign after the receipt
/// was made, and their lines travel as separate files.
fn with_cosignatures(note: &Note, evidence: &LogEvidence) -> Note {
    let mut merged = note.clone();
    for (_, other) in &evidence.checkpoints {
        if other.text != note.text {
            continue;
        }
        for signature in &other.signatures {
            if !merged.signatures.contains(signature) {
                merged.signatures.push(signature.clone());
            }
        }
    }
    merged
}

/// The log level of one bundle: its receipt (`receipt`, the file's bytes
/// or why it could not be read) for its run (`None` when the bundle did
/// not verify, so it cannot vouch for a leaf).
pub fn receipt_level(
    label: &str,
    run: Option<&StationRun>,
    receipt: Result<Vec<u8>, String>,
    evidence: &LogEvidence,
) -> (LevelReport, Option<CheckedReceipt>) {
    let report = |status| LevelReport {
        level: Level::Log,
        status,
        note: None,
    };
    let Some(run) = run else {
        return (
            report(Status::NotChecked(
                "the bundle did not verify, so it cannot vouch for a log leaf".into(),
            )),
            None,
        );
    };
    let bytes = match receipt {
        Ok(bytes) => bytes,
        Err(why) => return (report(Status::Failed(why)), None),
    };
    match check_receipt(run, &bytes, evidence) {
        Ok((checked_receipt, note)) => (
            LevelReport {
                level: Level::Log,
                status: Status::Passed,
                note: Some(note),
            },
            Some(CheckedReceipt {
                label: label.to_owned(),
                ..checked_receipt
            }),
        ),
        Err(why) => (report(Status::Failed(why)), None),
    }
}

fn check_receipt(
    run: &StationRun,
    bytes: &[u8],
    evidence: &LogEvidence,
) -> Result<(CheckedReceipt, String), String> {
    let receipt: TlogProof =
        airlock_tlog::proof::parse(bytes).map_err(|e| format!("receipt: {e}"))?;
    let checkpoint = checkpoint::parse(&receipt.checkpoint.text)
        .map_err(|e| format!("receipt checkpoint: {e}"))?;
    let expected = origin(&run.key_id);
    if checkpoint.origin != expected {
        return Err(format!(
            "receipt checkpoint: it is of log {}, but the bundle's station log is {expected}",
            checkpoint.origin
        ));
    }
    let Some(log) = evidence.policy.log_for_origin(&checkpoint.origin) else {
        return Err(format!(
            "receipt checkpoint: the policy lists no log {}",
            checkpoint.origin
        ));
    };
    let leaf = LogLeaf {
        key_id: run.key_id,
        run_counter: run.run_counter,
        run_start_hash: run.run_start_hash,
        final_hash: run.final_hash,
    }
    .hash();
    let included = merkle::verify_inclusion(
        &leaf,
        receipt.index,
        checkpoint.size,
        &receipt.inclusion,
        &checkpoint.root,
    );
    // Which part was altered: the log's signature covers the checkpoint
    // text, and the inclusion proof leads from this bundle's leaf to a
    // root. A checkpoint that matches the proof but not its signature had
    // its signature line changed; one that matches neither, its text.
    if let Err(e) = log.verify(&receipt.checkpoint) {
        return Err(match included {
            Ok(()) => format!(
                "receipt signature line: {e} (the checkpoint matches the inclusion proof, so its \
                 signature line was altered or is not the log's)"
            ),
            Err(_) => format!(
                "receipt checkpoint: {e}, and its root is not the one the inclusion proof leads \
                 to (the checkpoint text was altered)"
            ),
        });
    }
    included.map_err(|e| {
        format!(
            "receipt inclusion proof: {e} (it does not lead from this bundle's run at index {} \
             to the root the log signed)",
            receipt.index
        )
    })?;
    let note = with_cosignatures(&receipt.checkpoint, evidence);
    let verdict = evidence
        .policy
        .check(&note)
        .map_err(|e| format!("receipt checkpoint: {e}"))?;
    let witnesses: Vec<&str> = verdict
        .cosigned_by
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let note = format!(
        "run {} is log index {} of {} in {}{}",
        run.run_counter,
        receipt.index,
        checkpoint.size,
        checkpoint.origin,
        if witnesses.is_empty() {
            String::new()
        } else {
            format!(", cosigned by {}", witnesses.join(", "))
        }
    );
    Ok((
        CheckedReceipt {
            label: String::new(),
            index: receipt.index,
            checkpoint,
        },
        note,
    ))
}

/// Something wrong with one log's history as the verifier was shown it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogProblem {
    /// Two checkpoints of one size with different roots.
    ForkSameSize {
        /// The size.
        size: u64,
        /// One root and where it came from.
        first: (Hash, String),
        /// The other.
        second: (Hash, String),
    },
    /// A consistency proof that does not join two checkpoints' roots.
    ForkInconsistent {
        /// The older checkpoint's size and root.
        old: (u64, Hash),
        /// The newer one's.
        new: (u64, Hash),
        /// Where the proof came from.
        proof: String,
    },
    /// A consistency proof from a size no given checkpoint has.
    NoOldCheckpoint {
        /// The size.
        size: u64,
        /// Where the proof came from.
        proof: String,
    },
    /// A checkpoint not proven to be part of the newest one's history.
    Unlinked {
        /// Its size.
        size: u64,
        /// Where it came from.
        label: String,
        /// The newest checkpoint's size.
        newest: u64,
    },
    /// Log indices that no receipt showed, inside or after the shown ones.
    NotShown {
        /// First index of the range.
        from: u64,
        /// Last index of the range.
        to: u64,
        /// The newest checkpoint's size.
        size: u64,
        /// How many runs were shown.
        shown: u64,
    },
    /// A checkpoint or proof given on its own could not be used.
    Unusable {
        /// The file.
        label: String,
        /// Why.
        why: String,
    },
}

impl fmt::Display for LogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b64 = |h: &Hash| STANDARD.encode(h);
        match self {
            LogProblem::ForkSameSize {
                size,
                first,
                second,
            } => write!(
                f,
                "FORK: two checkpoints of size {size} with different roots: {} ({}) and {} ({})",
                b64(&first.0),
                first.1,
                b64(&second.0),
                second.1
            ),
            LogProblem::ForkInconsistent { old, new, proof } => write!(
                f,
                "FORK: the checkpoint of size {} (root {}) is not consistent with the checkpoint \
                 of size {} (root {}) ({proof})",
                old.0,
                b64(&old.1),
                new.0,
                b64(&new.1)
            ),
            LogProblem::NoOldCheckpoint { size, proof } => write!(
                f,
                "{proof}: a consistency proof from size {size}, but no checkpoint of size {size} \
                 was given to check it from"
            ),
            LogProblem::Unlinked {
                size,
                label,
                newest,
            } => write!(
                f,
                "the checkpoint of size {size} ({label}) is not proven part of the history of \
                 the checkpoint of size {newest}: give --consistency with \
                 `airlock log consistency --from {size} --to {newest}`"
            ),
            LogProblem::NotShown {
                from,
                to,
                size,
                shown,
            } => {
                if from == to {
                    write!(f, "log index {from} was not shown")?;
                } else {
                    write!(f, "log indices {from} to {to} were not shown")?;
                }
                write!(f, ": the log holds {size} runs and {shown} were shown")
            }
            LogProblem::Unusable { label, why } => write!(f, "{label}: {why}"),
        }
    }
}

/// One log's history, as the verifier was shown it.
#[derive(Clone, Debug)]
pub struct LogReport {
    /// The log's origin.
    pub origin: String,
    /// The newest checkpoint's size (0 when none was usable).
    pub size: u64,
    /// Its root.
    pub root: Option<Hash>,
    /// The log indices shown by receipts, ascending.
    pub shown: Vec<u64>,
    /// Everything wrong.
    pub problems: Vec<LogProblem>,
    /// What is not a failure.
    pub notes: Vec<String>,
}

impl LogReport {
    /// Passed when there is no problem; failed with the first one otherwise.
    pub fn status(&self) -> Status {
        match self.problems.split_first() {
            None => Status::Passed,
            Some((first, [])) => Status::Failed(first.to_string()),
            Some((first, rest)) => {
                Status::Failed(format!("{first} (and {} more problems)", rest.len()))
            }
        }
    }

    /// The ranges of indices not shown, as (first, last).
    pub fn not_shown(&self) -> Vec<(u64, u64)> {
        self.problems
            .iter()
            .filter_map(|p| match p {
                LogProblem::NotShown { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }
}

impl Serialize for LogReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let status = self.status();
        let problems: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        let not_shown: Vec<serde_json::Value> = self
            .not_shown()
            .into_iter()
            .map(|(from, to)| serde_json::json!({"from": from, "to": to}))
            .collect();
        let mut s = serializer.serialize_struct("LogReport", 8)?;
        s.serialize_field("origin", &self.origin)?;
        s.serialize_field("status", status.name())?;
        s.serialize_field("reason", &status.reason())?;
        s.serialize_field("size", &self.size)?;
        s.serialize_field("root", &self.root.map(|r| STANDARD.encode(r)))?;
        s.serialize_field("shown", &self.shown)?;
        s.serialize_field("not_shown", &not_shown)?;
        s.serialize_field("problems", &problems)?;
        s.serialize_field("notes", &self.notes)?;
        s.end()
    }
}

/// A checkpoint the verifier knows of, with where it came from.
struct Known {
    checkpoint: Checkpoint,
    label: String,
}

/// A tiny union-find over checkpoint sizes: which checkpoints are proven
/// to be one history.
struct Links(BTreeMap<u64, u64>);

impl Links {
    fn find(&mut self, size: u64) -> u64 {
        let mut at = size;
        while let Some(&parent) = self.0.get(&at) {
            if parent == at {
                break;
            }
            at = parent;
        }
        self.0.insert(size, at);
        at
    }

    fn join(&mut self, a: u64, b: u64) {
        let (ra, rb) = (self.find(a), self.find(b));
        self.0.insert(ra, rb);
    }
}

/// Checks the history of every log the receipts are of.
pub fn check_logs(receipts: &[CheckedReceipt], evidence: &LogEvidence) -> Vec<LogReport> {
    let mut known: BTreeMap<String, Vec<Known>> = BTreeMap::new();
    let mut unusable: Vec<LogProblem> = Vec::new();
    for r in receipts {
        known
            .entry(r.checkpoint.origin.clone())
            .or_default()
            .push(Known {
                checkpoint: r.checkpoint.clone(),
                label: r.label.clone(),
            });
    }
    let mut add_signed =
        |label: &str, note: &Note, known: &mut BTreeMap<String, Vec<Known>>| match log_signed(
            note, evidence,
        ) {
            Ok(checkpoint) => known
                .entry(checkpoint.origin.clone())
                .or_default()
                .push(Known {
                    checkpoint,
                    label: label.to_owned(),
                }),
            Err(why) => unusable.push(LogProblem::Unusable {
                label: label.to_owned(),
                why,
            }),
        };
    for (label, note) in &evidence.checkpoints {
        add_signed(label, note, &mut known);
    }
    for (label, request) in &evidence.consistency {
        add_signed(label, &request.checkpoint, &mut known);
    }
    let mut reports = Vec::new();
    for (origin, checkpoints) in &known {
        reports.push(check_one_log(origin, checkpoints, receipts, evidence));
    }
    if let Some(first) = reports.first_mut() {
        first.problems.extend(unusable);
    } else if !unusable.is_empty() {
        reports.push(LogReport {
            origin: String::new(),
            size: 0,
            root: None,
            shown: Vec::new(),
            problems: unusable,
            notes: Vec::new(),
        });
    }
    reports
}

/// A checkpoint given on its own counts when its log's signature verifies
/// under the policy (witness quorum is the receipts' business: an old
/// checkpoint kept by the verifier only has to be the log's word).
fn log_signed(note: &Note, evidence: &LogEvidence) -> Result<Checkpoint, String> {
    let checkpoint = checkpoint::parse(&note.text).map_err(|e: TlogError| e.to_string())?;
    let Some(log) = evidence.policy.log_for_origin(&checkpoint.origin) else {
        return Err(format!(
            "checkpoint of log {}, which the policy does not list",
            checkpoint.origin
        ));
    };
    log.verify(note).map_err(|e| e.to_string())?;
    Ok(checkpoint)
}

fn check_one_log(
    origin: &str,
    checkpoints: &[Known],
    receipts: &[CheckedReceipt],
    evidence: &LogEvidence,
) -> LogReport {
    let mut problems = Vec::new();
    let mut by_size: BTreeMap<u64, &Known> = BTreeMap::new();
    for k in checkpoints {
        match by_size.get(&k.checkpoint.size) {
            Some(first) if first.checkpoint.root != k.checkpoint.root => {
                let fork = LogProblem::ForkSameSize {
                    size: k.checkpoint.size,
                    first: (first.checkpoint.root, first.label.clone()),
                    second: (k.checkpoint.root, k.label.clone()),
                };
                if !problems.contains(&fork) {
                    problems.push(fork);
                }
            }
            Some(_) => {}
            None => {
                by_size.insert(k.checkpoint.size, k);
            }
        }
    }
    let mut links = Links(BTreeMap::new());
    for (label, request) in &evidence.consistency {
        let Ok(new) = checkpoint::parse(&request.checkpoint.text) else {
            continue;
        };
        if new.origin != origin {
            continue;
        }
        // An empty old tree is a prefix of every tree.
        if request.old_size == 0 {
            continue;
        }
        let Some(old) = by_size.get(&request.old_size) else {
            problems.push(LogProblem::NoOldCheckpoint {
                size: request.old_size,
                proof: label.clone(),
            });
            continue;
        };
        match merkle::verify_consistency(
            old.checkpoint.size,
            new.size,
            &request.consistency,
            &old.checkpoint.root,
            &new.root,
        ) {
            Ok(()) => links.join(old.checkpoint.size, new.size),
            Err(_) => problems.push(LogProblem::ForkInconsistent {
                old: (old.checkpoint.size, old.checkpoint.root),
                new: (new.size, new.root),
                proof: label.clone(),
            }),
        }
    }
    let newest = by_size.last_key_value().map(|(_, k)| *k);
    let (size, root) = newest.map_or((0, None), |k| (k.checkpoint.size, Some(k.checkpoint.root)));
    let forked = !problems.is_empty();
    for (&s, k) in &by_size {
        if s != size && links.find(s) != links.find(size) && !forked {
            problems.push(LogProblem::Unlinked {
                size: s,
                label: k.label.clone(),
                newest: size,
            });
        }
    }
    let mut shown: Vec<u64> = receipts
        .iter()
        .filter(|r| r.checkpoint.origin == origin)
        .map(|r| r.index)
        .collect();
    shown.sort_unstable();
    shown.dedup();
    let mut notes = Vec::new();
    if let (Some(&first), false) = (shown.first(), forked) {
        if first > 0 {
            notes.push(if first == 1 {
                "log index 0 was not given".to_owned()
            } else {
                format!("log indices 0 to {} were not given", first - 1)
            });
        }
        let count = shown.len() as u64;
        let mut expect = first;
        for &i in &shown {
            if i > expect {
                problems.push(LogProblem::NotShown {
                    from: expect,
                    to: i - 1,
                    size,
                    shown: count,
                });
            }
            expect = i + 1;
        }
        if expect < size {
            problems.push(LogProblem::NotShown {
                from: expect,
                to: size - 1,
                size,
                shown: count,
            });
        }
    }
    LogReport {
        origin: origin.to_owned(),
        size,
        root,
        shown,
        problems,
        notes,
    }
}
