//! The suite level of verification (SPEC.md, "Verification", level 5): the
//! modules a run planned are the modules of a suite the verifier trusts.
//!
//! Two parts: [`verify_suite_files`] checks a suite directory on its own
//! (manifest signature under a trusted authority, every module listed, every
//! module's blake3 equal to its manifest entry), streaming each module so no
//! file is loaded whole; [`check_suite`] compares a run's signed plan with
//! the suite: RunStart's suite digest and every planned (task, version,
//! module digest). Neither compiles a module: a verifier outside the
//! enclave needs hashes, not a sandbox.

use std::io::Read;
use std::path::Path;

use airlock_core::Digest;
use airlock_core::record::{RunStart, SuiteTrust};
use airlock_core::suite::{ManifestTask, SuiteManifest};

use crate::error::{AttestError, io_err};
use crate::keys::PublicKey;
use crate::manifest::{MANIFEST_FILE_NAME, VerifiedManifest, read_manifest};
use crate::verify::{Level, LevelReport, Status};

/// Checks a suite directory: `DIR/suite.manifest` verifies under one of
/// `trusted`, every `*.wasm` in DIR is listed, and every listed module's
/// blake3 equals its entry's digest. Each module must be a regular file of
/// at most `max_module_bytes` (the largest module a profile allows), so a
/// FIFO, a link to `/dev/zero` or a file of gigabytes is refused before it
/// is hashed.
pub fn verify_suite_files(
    dir: &Path,
    trusted: &[PublicKey],
    max_module_bytes: u64,
) -> Result<VerifiedManifest, AttestError> {
    let verified = read_manifest(&dir.join(MANIFEST_FILE_NAME), trusted)?;
    let entries = std::fs::read_dir(dir).map_err(io_err(dir, "list"))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_err(dir, "list"))?.path();
        if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    for path in files {
        let listed = path.file_name().is_some_and(|n| {
            verified
                .manifest
                .tasks
                .iter()
                .any(|t| n == t.file_name.as_str())
        });
        if !listed {
            return Err(AttestError::UnlistedModule { path });
        }
    }
    for task in &verified.manifest.tasks {
        let path = dir.join(&task.file_name);
        let found = blake3_file(&path, max_module_bytes)?;
        if found != task.module_digest {
            return Err(AttestError::ModuleDigest {
                path,
                expected: task.module_digest,
                found,
            });
        }
    }
    Ok(verified)
}

/// blake3 of a regular file of at most `limit` bytes, read in fixed-size
/// pieces; never more than `limit + 1` bytes are read.
fn blake3_file(path: &Path, limit: u64) -> Result<Digest, AttestError> {
    let (file, size) = crate::fsutil::open_regular(path)?;
    let too_large = |size| AttestError::FileTooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut file = file.take(limit.saturating_add(1));
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut read: u64 = 0;
    loop {
        let n = file.read(&mut buf).map_err(io_err(path, "read"))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > limit {
            return Err(too_large(read));
        }
        hasher.update(&buf[..n]);
    }
    Ok(Digest(*hasher.finalize().as_bytes()))
}

/// Where the suite a run is checked against comes from, for the report.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SuiteSource {
    /// The suite embedded in this verifier's binary.
    Embedded,
    /// A suite directory whose manifest this authority signed.
    Signed {
        /// The suite authority's key.
        authority: PublicKey,
    },
}

/// Compares a run's signed plan with `manifest`: every plan entry's task
/// must be in the suite with the same version and module digest, and
/// RunStart's suite digest must be the suite's. Reports the first failure,
/// naming the plan entry, and how many more there are.
pub fn check_suite(
    run_start: &RunStart,
    manifest: &SuiteManifest,
    source: &SuiteSource,
) -> LevelReport {
    // The first failure and how many more: a plan of many entries all
    // wrong needs no string per entry.
    let mut first: Option<String> = None;
    let mut more: usize = 0;
    let mut fail = |reason: String| match first {
        None => first = Some(reason),
        Some(_) => more += 1,
    };
    for (i, planned) in run_start.plan.iter().enumerate() {
        let what = format!(
            "plan entry {i} (task {} epoch {})",
            planned.task_id, planned.epoch
        );
        let Some(task) = manifest
            .tasks
            .iter()
            .find(|t: &&ManifestTask| t.task_id == planned.task_id)
        else {
            fail(format!(
                "{what}: the task is not in suite \"{}\"",
                manifest.name
            ));
            continue;
        };
        if planned.module_digest != task.module_digest {
            fail(format!(
                "{what}: module digest {} is not the suite's {} ({})",
                planned.module_digest, task.module_digest, task.file_name
            ));
        } else if planned.task_version != task.version {
            fail(format!(
                "{what}: version {} is not the suite's {}",
                planned.task_version, task.version
            ));
        }
    }
    let digest = manifest.digest();
    if run_start.suite.digest != digest {
        fail(format!(
            "RunStart's suite digest {} is not the digest {digest} of suite \"{}\"",
            run_start.suite.digest, manifest.name
        ));
    }
    let status = match first {
        None => Status::Passed,
        Some(first) if more == 0 => Status::Failed(first),
        Some(first) => Status::Failed(format!("{first} (and {more} more failures)")),
    };
    let checked = match source {
        SuiteSource::Embedded => format!("the embedded suite \"{}\"", manifest.name),
        SuiteSource::Signed { authority } => format!(
            "suite \"{}\" signed by authority {}",
            manifest.name,
            authority.key_id()
        ),
    };
    let recorded = match &run_start.suite.trust {
        SuiteTrust::Embedded => "the runner's embedded suite".to_owned(),
        SuiteTrust::Signed(id) => format!("a suite signed by authority {id}"),
        SuiteTrust::Unsigned => "an unsigned development suite".to_owned(),
    };
    LevelReport {
        level: Level::Suite,
        status,
        note: Some(format!(
            "checked against {checked}; the run recorded {recorded}"
        )),
    }
}
