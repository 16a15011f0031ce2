//! Suites loaded into a sandbox: every module screened and compiled, its
//! task metadata read from the module itself.

use std::path::{Path, PathBuf};

use airlock_attest::{MANIFEST_FILE_NAME, Overwrite, PublicKey, SigningKey};
use airlock_core::Digest;
use airlock_core::record::SuiteTrust;
use airlock_core::suite::{ManifestTask, SuiteEntry, SuiteManifest, suite_digest};
use airlock_sandbox::{LoadError, LoadedTask, Sandbox};

use super::{SuiteError, wasm_files};

/// A suite whose modules are screened, compiled and ready to run.
#[derive(Debug)]
pub struct LoadedSuite {
    /// Suite name.
    pub name: String,
    /// How the suite was trusted.
    pub trust: SuiteTrust,
    /// Tasks in suite order.
    pub tasks: Vec<LoadedTask>,
    /// [`suite_digest`] over the tasks.
    pub digest: Digest,
}

impl LoadedSuite {
    /// Loads the suite embedded in the binary, checking every module against
    /// the digest computed when the binary was built.
    pub fn embedded(sandbox: &Sandbox) -> Result<LoadedSuite, SuiteError> {
        let mut tasks = Vec::new();
        for module in airlock_default_suite::modules() {
            if Digest::blake3(module.bytes) != Digest(module.digest) {
                return Err(SuiteError::EmbeddedDigest {
                    file_name: module.file_name.into(),
                });
            }
            let task = sandbox
                .load(module.bytes)
                .map_err(|error| SuiteError::Module {
                    origin: format!("embedded module {}", module.file_name),
                    error,
                })?;
            tasks.push(task);
        }
        LoadedSuite::new(
            airlock_default_suite::SUITE_NAME.into(),
            SuiteTrust::Embedded,
            tasks,
        )
    }

    /// Loads a suite directory whose `suite.manifest` verifies under one of
    /// `trusted`: every module's digest is checked before any is compiled,
    /// and every `*.wasm` in the directory must be listed.
    pub fn signed_dir(
        sandbox: &Sandbox,
        dir: &Path,
        trusted: &[PublicKey],
    ) -> Result<LoadedSuite, SuiteError> {
        let verified = airlock_attest::read_manifest(&dir.join(MANIFEST_FILE_NAME), trusted)
            .map_err(SuiteError::Manifest)?;
        let manifest = &verified.manifest;
        for path in wasm_files(dir)? {
            let listed = path
                .file_name()
                .is_some_and(|n| manifest.tasks.iter().any(|t| n == t.file_name.as_str()));
            if !listed {
                return Err(SuiteError::Unlisted { path });
            }
        }
        // Digests first, all of them: one changed byte refuses the suite
        // before any module is compiled or run.
        let mut modules = Vec::new();
        for entry in &manifest.tasks {
            let path = dir.join(&entry.file_name);
            let bytes = read_bounded(&path, sandbox.limits().max_module_bytes)?;
            let found = Digest::blake3(&bytes);
            if found != entry.module_digest {
                return Err(SuiteError::DigestMismatch {
                    path,
                    expected: entry.module_digest,
                    found,
                });
            }
            modules.push((path, bytes));
        }
        let mut tasks = Vec::new();
        for ((path, bytes), entry) in modules.into_iter().zip(&manifest.tasks) {
            let task = sandbox.load(&bytes).map_err(|error| SuiteError::Module {
                origin: path.display().to_string(),
                error,
            })?;
            if task.info.id != entry.task_id || task.info.version != entry.version {
                return Err(SuiteError::InfoMismatch {
                    path,
                    expected: format!("{} v{}", entry.task_id, entry.version),
                    found: format!("{} v{}", task.info.id, task.info.version),
                });
            }
            tasks.push(task);
        }
        LoadedSuite::new(
            manifest.name.clone(),
            SuiteTrust::Signed(verified.authority.key_id()),
            tasks,
        )
    }

    /// Loads a development suite directory: every `*.wasm` in file-name order.
    pub fn unsigned_dir(sandbox: &Sandbox, dir: &Path) -> Result<LoadedSuite, SuiteError> {
        let files = wasm_files(dir)?;
        if files.is_empty() {
            return Err(SuiteError::Empty {
                path: dir.to_path_buf(),
            });
        }
        let mut tasks = Vec::new();
        for file in files {
            let bytes = read_bounded(&file, sandbox.limits().max_module_bytes)?;
            let task = sandbox.load(&bytes).map_err(|error| SuiteError::Module {
                origin: file.display().to_string(),
                error,
            })?;
            tasks.push(task);
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "suite".into());
        LoadedSuite::new(name, SuiteTrust::Unsigned, tasks)
    }

    /// The manifest that lists this suite's modules under their file names.
    pub fn manifest(&self, file_names: &[String]) -> SuiteManifest {
        SuiteManifest {
            name: self.name.clone(),
            tasks: self
                .tasks
                .iter()
                .zip(file_names)
                .map(|(task, file_name)| ManifestTask {
                    task_id: task.info.id.clone(),
                    version: task.info.version,
                    file_name: file_name.clone(),
                    module_digest: task.digest,
                })
                .collect(),
        }
    }

    fn new(
        name: String,
        trust: SuiteTrust,
        tasks: Vec<LoadedTask>,
    ) -> Result<LoadedSuite, SuiteError> {
        for (i, task) in tasks.iter().enumerate() {
            if tasks[..i].iter().any(|t| t.info.id == task.info.id) {
                return Err(SuiteError::DuplicateTask {
                    task_id: task.info.id.clone(),
                });
            }
        }
        let entries: Vec<SuiteEntry<'_>> = tasks
            .iter()
            .map(|t| SuiteEntry {
                task_id: &t.info.id,
                version: t.info.version,
                module_digest: t.digest,
            })
            .collect();
        let digest = suite_digest(&name, &entries);
        Ok(LoadedSuite {
            name,
            trust,
            tasks,
            digest,
        })
    }
}

/// Signs a manifest for the modules of `dir` (every `*.wasm`, in file-name
/// order, screened under `sandbox`) and writes `dir/suite.manifest`.
pub fn build_manifest(
    sandbox: &Sandbox,
    dir: &Path,
    name: Option<&str>,
    authority: &SigningKey,
    overwrite: Overwrite,
) -> Result<(LoadedSuite, SuiteManifest), SuiteError> {
    let mut suite = LoadedSuite::unsigned_dir(sandbox, dir)?;
    if let Some(name) = name {
        suite = LoadedSuite::new(name.into(), SuiteTrust::Unsigned, suite.tasks)?;
    }
    let file_names: Vec<String> = wasm_files(dir)?
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let manifest = suite.manifest(&file_names);
    airlock_attest::write_manifest(
        &dir.join(MANIFEST_FILE_NAME),
        &manifest,
        authority,
        overwrite,
    )
    .map_err(SuiteError::Manifest)?;
    suite.trust = SuiteTrust::Signed(authority.key_id());
    Ok((suite, manifest))
}

/// Writes the embedded suite's modules into `dir` (created if missing), one
/// file each; with an authority key, also a signed `suite.manifest` in suite
/// order, whose suite digest equals the embedded suite's. Existing files are
/// replaced only with [`Overwrite::Replace`]. Each file is written
/// atomically, and if any cannot be written, those already written (and a
/// directory made for them) are removed again: an export is whole or absent.
/// Returns the files written.
pub fn export_embedded(
    sandbox: &Sandbox,
    dir: &Path,
    authority: Option<&SigningKey>,
    overwrite: Overwrite,
) -> Result<Vec<PathBuf>, SuiteError> {
    let suite = LoadedSuite::embedded(sandbox)?;
    let manifest_path = dir.join(MANIFEST_FILE_NAME);
    let modules = airlock_default_suite::modules();
    if overwrite == Overwrite::Refuse {
        let targets = modules
            .iter()
            .map(|m| dir.join(m.file_name))
            .chain(authority.map(|_| manifest_path.clone()));
        for path in targets {
            if std::fs::symlink_metadata(&path).is_ok() {
                return Err(SuiteError::Write(
                    airlock_attest::AttestError::AlreadyExists { path },
                ));
            }
        }
    }
    let created = airlock_attest::create_dirs(dir).map_err(SuiteError::Write)?;
    let mut written = Vec::new();
    let result = (|| {
        let mut file_names = Vec::new();
        for module in modules {
            let path = dir.join(module.file_name);
            airlock_attest::write_file_atomically(&path, module.bytes, 0o644, overwrite)
                .map_err(SuiteError::Write)?;
            written.push(path);
            file_names.push(module.file_name.to_string());
        }
        if let Some(authority) = authority {
            let manifest = suite.manifest(&file_names);
            airlock_attest::write_manifest(&manifest_path, &manifest, authority, overwrite)
                .map_err(SuiteError::Write)?;
            written.push(manifest_path.clone());
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            created.keep();
            Ok(written)
        }
        Err(e) => {
            for path in &written {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}

/// Reads a module file: a regular file (a FIFO or a link to a device is
/// refused, not read), no larger than the profile allows, refused before
/// it is read whole.
fn read_bounded(path: &Path, limit: u32) -> Result<Vec<u8>, SuiteError> {
    airlock_attest::read_regular(path, u64::from(limit)).map_err(|error| match error {
        airlock_attest::AttestError::FileTooLarge { size, .. } => SuiteError::Module {
            origin: path.display().to_string(),
            error: LoadError::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit,
            },
        },
        airlock_attest::AttestError::Io { path, error, .. } => SuiteError::Io { path, error },
        other => SuiteError::ModuleFile(other),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::suite::embedded_manifest;

    /// `verify --suite default` trusts this manifest without compiling the
    /// modules, so it must be the one the compiled modules describe.
    #[test]
    fn embedded_manifest_is_the_compiled_suites() {
        let profile = crate::profile::load("default").unwrap().profile;
        let sandbox = Sandbox::new(profile.sandbox_limits()).unwrap();
        let file_names: Vec<String> = airlock_default_suite::modules()
            .iter()
            .map(|m| m.file_name.to_owned())
            .collect();
        let compiled = LoadedSuite::embedded(&sandbox)
            .unwrap()
            .manifest(&file_names);
        assert_eq!(embedded_manifest().unwrap(), compiled);
    }
}
