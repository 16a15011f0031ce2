//! Interop export (SPEC.md, "DSSE export"): one DSSE envelope per TaskResult,
//! whose payload is an in-toto Statement v1, signed with the evaluator key,
//! so that tools written by others (Python securesystemslib's
//! `Envelope.verify`, for one) can check the results without Airlock.
//!
//! The export runs where the evaluator key is: inside the enclave, on a
//! bundle that verifies under that very key. It reads the bundle twice —
//! once to verify it, once to write — holding one record at a time, and
//! refuses to write anything if the second pass does not end on the same
//! final chain hash the first one verified.

use core::fmt;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_core::chain::{GENESIS, chain_hash};
use airlock_core::hex::encode as hex;
use airlock_core::record::{Record, RunStart, SuiteTrust, TaskResult};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::bundle::{BundleReader, open_bundle};
use crate::error::{AttestError, io_err};
use crate::fsutil::{AtomicFile, Overwrite, create_dirs};
use crate::keys::{PublicKey, SigningKey};
use crate::verify::{RecordVisitor, Verdict, VerifyOptions, verify_bundle_file_with};

/// DSSE payload type of every envelope.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto Statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Predicate type of an Airlock task result. `.invalid` is a top-level
/// domain reserved never to resolve (RFC 2606): the URI is a stable name
/// that no one else can own, not a location.
pub const PREDICATE_TYPE: &str = "https://airlock.invalid/task-result/v1";
/// File of envelopes, one JSON object per line.
pub const ENVELOPES_FILE: &str = "results.intoto.jsonl";
/// File of the signer's public key (SPKI PEM).
pub const SIGNER_FILE: &str = "signer.pub";

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

fn sha256(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// What a statement says about the run as a whole.
#[derive(Clone, Debug)]
pub struct RunContext<'a> {
    /// The run's RunStart.
    pub run_start: &'a RunStart,
    /// The run's final chain hash (the bundle's last record).
    pub final_hash: Digest,
    /// Records in the bundle.
    pub records: u64,
}

/// The in-toto Statement for the TaskResult at `seq` whose record bytes are
/// `body` and whose stored chain hash is `chain`. The subject is the record
/// itself: its postcard bytes, as they stand in the bundle, named
/// `airlock:run/<run id>/record/<seq>` with their sha256 and blake3.
pub fn statement(
    run: &RunContext<'_>,
    seq: u64,
    body: &[u8],
    chain: &Digest,
    result: &TaskResult,
) -> Value {
    let start = run.run_start;
    let run_id = hex(&start.run_id);
    let version = start
        .plan
        .get(result.plan_index as usize)
        .map(|p| p.task_version);
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": format!("airlock:run/{run_id}/record/{seq}"),
            "digest": {
                "sha256": sha256(body),
                "blake3": Digest::blake3(body).to_hex().as_str(),
            },
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "run_id": run_id,
            "record": seq,
            "records": run.records,
            "chain_hash": chain.to_hex().as_str(),
            "final_hash": run.final_hash.to_hex().as_str(),
            "evaluator_key_id": start.evaluator_key_id.to_hex().as_str(),
            "station_run_counter": start.station.run_counter,
            "result": {
                "plan_index": result.plan_index,
                "task_id": result.task_id,
                "task_version": version,
                "module_digest": {"blake3": result.module_digest.to_hex().as_str()},
                "epoch": result.epoch,
                "outcome": result.outcome.name(),
                "outcome_detail": result.outcome.to_string(),
                "score_ppm": result.score.0,
                "fuel_consumed": result.fuel_consumed,
                "peak_memory_bytes": result.peak_memory_bytes,
                "turns": result.turns,
                "wall_time_us": result.wall_time_us,
                "transcript_commitment": result.transcript_commitment.to_hex().as_str(),
            },
            "suite": {
                "name": start.suite.name,
                "digest": start.suite.digest.to_hex().as_str(),
                "trust": match &start.suite.trust {
                    SuiteTrust::Embedded => "embedded".to_owned(),
                    SuiteTrust::Signed(id) => format!("signed:{id}"),
                    SuiteTrust::Unsigned => "unsigned".to_owned(),
                },
            },
            "profile": {"name": start.profile.name, "digest": start.profile.digest.to_hex().as_str()},
            "runner": {
                "airlock_version": start.runner.airlock_version,
                "wasmtime_version": start.runner.wasmtime_version,
                "engine_settings": start.runner.engine_settings.to_hex().as_str(),
                "executable": start.runner.executable.to_hex().as_str(),
            },
            "model": {
                "agent": start.model.agent,
                "model": start.model.model,
                "reported_model": start.model.reported_model,
            },
        },
    })
}

/// A DSSE envelope of `payload` signed by `key`, with securesystemslib's keyid.
pub fn envelope(payload: &[u8], key: &SigningKey) -> Value {
    let signature = key.sign(&pae(PAYLOAD_TYPE, payload));
    json!({
        "payload": BASE64.encode(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{
            "keyid": key.key_id().to_hex().as_str(),
            "sig": BASE64.encode(signature.0),
        }],
    })
}

/// Why an envelope does not verify (used by Airlock's own check of an export).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The JSON is not a DSSE envelope.
    Malformed(&'static str),
    /// The payload type is not in-toto's.
    PayloadType(String),
    /// No signature carries the key's id.
    NoSignatureForKey,
    /// The signature does not verify over the PAE.
    BadSignature,
}

impl airlock_core::Classify for EnvelopeError {
    fn class(&self) -> airlock_core::ErrorClass {
        match self {
            EnvelopeError::Malformed(_)
            | EnvelopeError::PayloadType(_)
            | EnvelopeError::NoSignatureForKey
            | EnvelopeError::BadSignature => airlock_core::ErrorClass::Integrity,
        }
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::Malformed(what) => write!(f, "not a DSSE envelope: {what}"),
            EnvelopeError::PayloadType(t) => write!(f, "payload type {t:?} is not {PAYLOAD_TYPE}"),
            EnvelopeError::NoSignatureForKey => {
                f.write_str("no signature with the signer's key id")
            }
            EnvelopeError::BadSignature => f.write_str("the signature does not verify"),
        }
    }
}

impl core::error::Error for EnvelopeError {}

/// Verifies an envelope under `key` and returns its payload bytes.
pub fn verify_envelope(envelope: &Value, key: &PublicKey) -> Result<Vec<u8>, EnvelopeError> {
    let text = |field: &'static str| {
        envelope[field]
            .as_str()
            .ok_or(EnvelopeError::Malformed(field))
    };
    let payload_type = text("payloadType")?;
    if payload_type != PAYLOAD_TYPE {
        return Err(EnvelopeError::PayloadType(payload_type.to_owned()));
    }
    let payload = BASE64
        .decode(text("payload")?)
        .map_err(|_| EnvelopeError::Malformed("payload is not base64"))?;
    let key_id = key.key_id().to_hex().to_string();
    let signatures = envelope["signatures"]
        .as_array()
        .ok_or(EnvelopeError::Malformed("signatures"))?;
    let signature = signatures
        .iter()
        .find(|s| s["keyid"].as_str() == Some(key_id.as_str()))
        .ok_or(EnvelopeError::NoSignatureForKey)?;
    let sig = signature["sig"]
        .as_str()
        .and_then(|s| BASE64.decode(s).ok())
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .ok_or(EnvelopeError::Malformed("sig is not 64 base64 bytes"))?;
    if key.verify(
        &pae(PAYLOAD_TYPE, &payload),
        &airlock_core::record::Signature(sig),
    ) {
        Ok(payload)
    } else {
        Err(EnvelopeError::BadSignature)
    }
}

/// Why an export was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the bundle or writing the output failed.
    Attest(AttestError),
    /// The bundle is signed by another key than the one given.
    WrongKey {
        /// Key id in the bundle header.
        bundle_key: Digest,
        /// Key id of the key given.
        given_key: Digest,
    },
    /// The bundle does not verify; nothing is exported.
    Unverified(Box<Verdict>),
    /// The bundle changed between verifying it and exporting it.
    Changed,
    /// An output file exists already.
    Exists(PathBuf),
}

impl airlock_core::Classify for ExportError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            ExportError::Attest(error) => error.class(),
            // The bundle may be sound; it is the key given that is not its signer's.
            ExportError::WrongKey { .. } | ExportError::Exists(_) => ErrorClass::Input,
            ExportError::Unverified(_) | ExportError::Changed => ErrorClass::Integrity,
        }
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Attest(e) => write!(f, "{e}"),
            ExportError::WrongKey {
                bundle_key,
                given_key,
            } => write!(
                f,
                "the bundle is signed by key {bundle_key}, but the key given is {given_key}; export with the evaluator key that signed it"
            ),
            ExportError::Unverified(verdict) => {
                write!(f, "refusing to export a bundle that does not verify")?;
                if let Some(level) = verdict.first_failure() {
                    write!(
                        f,
                        ": {}: {}",
                        level.level,
                        level.status.reason().unwrap_or_default()
                    )?;
                }
                Ok(())
            }
            ExportError::Changed => {
                f.write_str("the bundle changed while it was being exported; nothing was written")
            }
            ExportError::Exists(path) => {
                write!(
                    f,
                    "{}: already exists; choose another directory or pass --force to replace it",
                    path.display()
                )
            }
        }
    }
}

impl core::error::Error for ExportError {}

impl From<AttestError> for ExportError {
    fn from(e: AttestError) -> Self {
        ExportError::Attest(e)
    }
}

/// What an export wrote.
#[derive(Clone, Debug)]
pub struct Exported {
    /// The envelopes file.
    pub envelopes: PathBuf,
    /// The public key file.
    pub signer: PathBuf,
    /// Envelopes written (one per TaskResult).
    pub count: u64,
}

#[derive(Default)]
struct Start(Option<RunStart>);

impl RecordVisitor for Start {
    fn run_start(&mut self, index: u64, record: &RunStart) {
        if index == 0 {
            self.0 = Some(record.clone());
        }
    }
}

/// Verifies `bundle` under `key`'s public half and writes
/// `OUT/results.intoto.jsonl` and `OUT/signer.pub` (OUT is created; with
/// [`Overwrite::Refuse`] neither file may exist). Refuses a bundle that does
/// not verify. On any error neither file is left half written, and a
/// directory made for them is removed again.
pub fn export_dsse(
    bundle: &Path,
    key: &SigningKey,
    out: &Path,
    overwrite: Overwrite,
) -> Result<Exported, ExportError> {
    let public = key.public_key();
    let mut start = Start::default();
    let verdict = verify_bundle_file_with(bundle, &[public], VerifyOptions::default(), &mut start)?;
    if let Some(bundle_key) = verdict.summary.key_id
        && bundle_key != public.key_id()
    {
        return Err(ExportError::WrongKey {
            bundle_key,
            given_key: public.key_id(),
        });
    }
    let (Some(run_start), Some(final_hash), true) =
        (start.0, verdict.summary.final_hash, verdict.verified())
    else {
        return Err(ExportError::Unverified(Box::new(verdict)));
    };
    let run = RunContext {
        run_start: &run_start,
        final_hash,
        records: verdict.summary.records,
    };

    let envelopes = out.join(ENVELOPES_FILE);
    let signer = out.join(SIGNER_FILE);
    if overwrite == Overwrite::Refuse {
        for path in [&envelopes, &signer] {
            if std::fs::symlink_metadata(path).is_ok() {
                return Err(ExportError::Exists(path.clone()));
            }
        }
    }
    let created = create_dirs(out)?;
    let mut file = AtomicFile::create(&envelopes, overwrite)?;
    let target = file.target_path().to_path_buf();
    let mut count = 0;
    {
        let mut writer = BufWriter::new(file.file()?);
        let mut reader =
            BundleReader::new(open_bundle(bundle)?).map_err(|_| ExportError::Changed)?;
        let mut prev = GENESIS;
        loop {
            let frame = match reader.next_entry() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => return Err(ExportError::Changed),
            };
            let entry = frame.entry;
            // Re-chaining ties every written record to the verified final hash.
            if chain_hash(&prev, entry.seq, &entry.body) != entry.chain_hash {
                return Err(ExportError::Changed);
            }
            prev = entry.chain_hash;
            if let Ok(Record::TaskResult(result)) = Record::from_bytes(&entry.body) {
                let payload = serde_json::to_vec(&statement(
                    &run,
                    entry.seq,
                    &entry.body,
                    &entry.chain_hash,
                    &result,
                ))
                .unwrap_or_default();
                let line = envelope(&payload, key).to_string();
                writeln!(writer, "{line}").map_err(io_err(&target, "write"))?;
                count += 1;
            }
        }
        if prev != final_hash {
            return Err(ExportError::Changed);
        }
        writer.flush().map_err(io_err(&target, "write"))?;
    }
    let mut pem = AtomicFile::create(&signer, overwrite)?;
    let pem_target = pem.target_path().to_path_buf();
    pem.file()?
        .write_all(public.to_spki_pem().as_bytes())
        .map_err(io_err(&pem_target, "write"))?;
    file.commit()?;
    if let Err(e) = pem.commit() {
        // The envelopes alone cannot be checked by anyone: take them back.
        let _ = std::fs::remove_file(&envelopes);
        return Err(e.into());
    }
    created.keep();
    Ok(Exported {
        envelopes,
        signer,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DSSE's own example: PAE("http://example.com/HelloWorld", "hello world").
    #[test]
    fn pae_matches_the_dsse_specification() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn envelope_round_trips_and_refuses_changes() {
        let key = SigningKey::from_seed(&[3; 32]);
        let env = envelope(br#"{"a":1}"#, &key);
        assert_eq!(
            verify_envelope(&env, &key.public_key()).unwrap(),
            br#"{"a":1}"#
        );
        assert_eq!(
            env["signatures"][0]["keyid"],
            key.key_id().to_hex().as_str()
        );
        let mut changed = env.clone();
        changed["payload"] = Value::String(BASE64.encode(br#"{"a":2}"#));
        assert_eq!(
            verify_envelope(&changed, &key.public_key()),
            Err(EnvelopeError::BadSignature)
        );
        let other = SigningKey::from_seed(&[4; 32]);
        assert_eq!(
            verify_envelope(&env, &other.public_key()),
            Err(EnvelopeError::NoSignatureForKey)
        );
    }
}
