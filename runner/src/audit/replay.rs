//! The replay level (SPEC.md "Verification", level 6): every result whose
//! transcript the verifier holds is re-executed with the replay agent,
//! under the run's profile and the backend asked for, and must reproduce
//! the signed outcome, score, fuel, peak memory and turns.
//!
//! Transcripts come from the run's sealed store inside the enclave (every
//! result, opening keys derived from the run secret) or from disclosure
//! files outside it (the disclosed results, each with its opening key).

use std::collections::HashMap;
use std::path::PathBuf;

use airlock_attest::verify::{Level, LevelReport, Status};
use airlock_core::Digest;
use airlock_core::record::{RunStart, TaskResult};
use airlock_core::transcript::{Transcript, commitment, opening_key};

use crate::profile::HardwareProfile;
use crate::reexecute::reexecute;
use airlock_attest::disclosure::{DisclosedRecords, Disclosure, DisclosureError};
use airlock_attest::transcripts::{StoreError, TranscriptKey, open_all};
use airlock_sandbox::{Backend, LoadedTask, Sandbox};

/// Where the replay level takes transcripts from.
#[derive(Debug)]
#[non_exhaustive]
pub enum TranscriptSource {
    /// The run's sealed transcript store, inside the enclave: every result
    /// is replayed.
    Sealed {
        /// The store file (`BUNDLE.transcripts`).
        store: PathBuf,
        /// The station transcript key it is sealed under.
        key: Box<TranscriptKey>,
        /// The run secret (`BUNDLE.secret`) the opening keys derive from.
        secret: [u8; 32],
    },
    /// The disclosure files given with `--disclosed`: the results they
    /// disclose are replayed.
    Disclosed,
}

/// What the replay level needs besides the bundle.
#[derive(Debug)]
pub struct ReplayRequest {
    /// Where the transcripts are.
    pub source: TranscriptSource,
    /// The backend to re-execute under (any: recorded fuel is portable).
    pub backend: Backend,
    /// Module bytes the run may have planned; each planned module is found
    /// by its blake3 digest, so where the bytes come from does not matter.
    pub modules: Vec<Vec<u8>>,
    /// Profiles the run may have used; the run's is found by its digest.
    pub profiles: Vec<HardwareProfile>,
}

impl ReplayRequest {
    /// Whether the level needs every TaskResult of the bundle kept.
    pub(crate) fn wants_all_results(&self) -> bool {
        matches!(self.source, TranscriptSource::Sealed { .. })
    }
}

/// One result to re-execute and what to re-execute it from.
struct Instance<'a> {
    result: &'a TaskResult,
    transcript: Transcript,
    opening: [u8; 32],
}

fn label(result: &TaskResult) -> String {
    format!(
        "plan entry {} (task {} epoch {})",
        result.plan_index, result.task_id, result.epoch
    )
}

/// The replay level of a bundle. An unreadable store is an input error;
/// everything else is in the level.
pub(crate) fn replay_level(
    request: &ReplayRequest,
    bundle_verified: bool,
    records: &DisclosedRecords,
    disclosures: &[(PathBuf, Result<Disclosure, DisclosureError>)],
) -> Result<LevelReport, StoreError> {
    let report = |status, note| LevelReport {
        level: Level::Replay,
        status,
        note,
    };
    // A record of a bundle that does not verify proves nothing, so there is
    // nothing to reproduce.
    if !bundle_verified {
        return Ok(report(
            Status::NotChecked("the bundle does not verify".into()),
            None,
        ));
    }
    let Some(run_start) = &records.run_start else {
        return Ok(report(
            Status::NotChecked("no RunStart could be read from the bundle".into()),
            None,
        ));
    };
    let Some(profile) = request
        .profiles
        .iter()
        .find(|p| p.digest() == run_start.profile.digest)
    else {
        return Ok(report(
            Status::NotChecked(format!(
                "the run's profile \"{}\" (digest {}) is neither embedded in this airlock nor the --profile file given",
                run_start.profile.name, run_start.profile.digest
            )),
            None,
        ));
    };
    let sandbox = match Sandbox::with_backend(profile.sandbox_limits(), request.backend) {
        Ok(sandbox) => sandbox,
        Err(e) => {
            return Ok(report(
                Status::NotChecked(format!(
                    "no {} sandbox for the run's profile: {e}",
                    request.backend.name()
                )),
                None,
            ));
        }
    };

    let mut failures = Vec::new();
    let (instances, from) = match &request.source {
        TranscriptSource::Sealed { store, key, secret } => {
            let opened = match open_all(store, key, &run_start.run_id) {
                Ok(opened) => opened,
                Err(e @ (StoreError::Io { .. } | StoreError::Key { .. })) => return Err(e),
                Err(e) => {
                    return Ok(report(Status::Failed(e.to_string()), None));
                }
            };
            let mut sealed: HashMap<u32, Vec<u8>> = opened.into_iter().collect();
            let mut instances = Vec::new();
            for result in &records.results {
                let Some(bytes) = sealed.remove(&result.plan_index) else {
                    failures.push(format!("{}: no sealed transcript", label(result)));
                    continue;
                };
                let opening = opening_key(secret, result.plan_index);
                if commitment(&opening, &bytes) != result.transcript_commitment {
                    failures.push(format!(
                        "{}: the sealed transcript does not open the signed commitment under the run secret",
                        label(result)
                    ));
                    continue;
                }
                match airlock_core::decode_exact::<Transcript>(&bytes) {
                    Ok(transcript) => instances.push(Instance {
                        result,
                        transcript,
                        opening,
                    }),
                    Err(e) => failures.push(format!(
                        "{}: the sealed transcript does not decode: {e}",
                        label(result)
                    )),
                }
            }
            (instances, "the sealed store")
        }
        TranscriptSource::Disclosed => {
            let mut instances = Vec::new();
            for (path, disclosure) in disclosures {
                let disclosure = match disclosure {
                    Ok(d) => d,
                    Err(e) => {
                        failures.push(e.to_string());
                        continue;
                    }
                };
                let Some(result) = records
                    .results
                    .iter()
                    .find(|r| r.plan_index == disclosure.plan_index)
                else {
                    failures.push(format!(
                        "{}: the bundle has no result for plan entry {}",
                        path.display(),
                        disclosure.plan_index
                    ));
                    continue;
                };
                if let Err(e) = disclosure.check_against(path, run_start, result) {
                    failures.push(e.to_string());
                    continue;
                }
                instances.push(Instance {
                    result,
                    transcript: disclosure.transcript.clone(),
                    opening: disclosure.opening_key,
                });
            }
            (instances, "disclosed transcripts")
        }
    };

    let mut tasks = Tasks::new(&sandbox, &request.modules);
    let mut replayed = 0usize;
    for instance in &instances {
        let result = instance.result;
        let task = match tasks.get(&result.module_digest) {
            Ok(task) => task,
            Err(why) => {
                failures.push(format!("{}: {why}", label(result)));
                continue;
            }
        };
        match reexecute(
            &sandbox,
            task,
            run_start,
            result,
            &instance.transcript,
            Some(&instance.opening),
        ) {
            Ok(_) => replayed += 1,
            Err(mismatch) => failures.push(format!("{}: {mismatch}", label(result))),
        }
    }

    match failures.split_first() {
        None => Ok(report(
            Status::Passed,
            Some(note(replayed, from, &sandbox, run_start)),
        )),
        Some((first, rest)) => {
            let mut reason = first.clone();
            if !rest.is_empty() {
                reason.push_str(&format!(" (and {} more failures)", rest.len()));
            }
            Ok(report(Status::Failed(reason), None))
        }
    }
}

fn note(replayed: usize, from: &str, sandbox: &Sandbox, run_start: &RunStart) -> String {
    let settings = if sandbox.settings_digest() == run_start.runner.engine_settings {
        "the run's engine settings"
    } else {
        "engine settings other than the run's"
    };
    format!(
        "{replayed} of {} planned results re-executed from {from} under {} ({settings}): \
         outcome, score, fuel, peak memory and turns as signed",
        run_start.plan.len(),
        sandbox.backend().name()
    )
}

/// The planned modules, compiled once each, found by digest.
struct Tasks<'s> {
    sandbox: &'s Sandbox,
    by_digest: HashMap<Digest, &'s [u8]>,
    loaded: HashMap<Digest, Result<LoadedTask, String>>,
}

impl<'s> Tasks<'s> {
    fn new(sandbox: &'s Sandbox, modules: &'s [Vec<u8>]) -> Tasks<'s> {
        Tasks {
            sandbox,
            by_digest: modules
                .iter()
                .map(|m| (Digest::blake3(m), m.as_slice()))
                .collect(),
            loaded: HashMap::new(),
        }
    }

    fn get(&mut self, digest: &Digest) -> Result<&LoadedTask, String> {
        let sandbox = self.sandbox;
        let by_digest = &self.by_digest;
        self.loaded
            .entry(*digest)
            .or_insert_with(|| match by_digest.get(digest) {
                None => Err(format!(
                    "its module {digest} is not in the suite given (--suite DIR for a suite directory)"
                )),
                Some(bytes) => sandbox
                    .load(bytes)
                    .map_err(|e| format!("its module {digest} does not load: {e}")),
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}
