//! Suites: the embedded default suite, or a directory of task modules.

use core::fmt;
use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_core::suite::{ManifestTask, SuiteManifest};
#[cfg(feature = "sandbox")]
use airlock_sandbox::LoadError;

// Loading a suite compiles its modules: the verifier's build has only the
// manifests and digests.
#[cfg(feature = "sandbox")]
mod loaded;
#[cfg(feature = "sandbox")]
pub use loaded::{LoadedSuite, build_manifest, export_embedded};

/// Why a suite could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum SuiteError {
    /// A module of the suite was refused.
    #[cfg(feature = "sandbox")]
    Module {
        /// Where the module came from (file path or embedded name).
        origin: String,
        /// Why.
        error: LoadError,
    },
    /// An embedded module does not match the digest built into the binary.
    EmbeddedDigest {
        /// Module file name.
        file_name: String,
    },
    /// The suite directory could not be read.
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// A module file could not be read: missing, unreadable, or not a
    /// regular file (a FIFO, a device); the error names the file.
    ModuleFile(airlock_attest::AttestError),
    /// The suite directory holds no modules.
    Empty {
        /// The path.
        path: PathBuf,
    },
    /// A suite directory was given without `--unsigned-suite`.
    Unsigned {
        /// The path.
        path: PathBuf,
    },
    /// Two modules declare the same task id.
    DuplicateTask {
        /// The task id.
        task_id: String,
    },
    /// The manifest or its signature is bad, or its authority is not trusted.
    Manifest(airlock_attest::AttestError),
    /// A module's bytes do not match the digest its signed manifest gives.
    DigestMismatch {
        /// The module file.
        path: PathBuf,
        /// Digest in the manifest.
        expected: Digest,
        /// Digest of the file.
        found: Digest,
    },
    /// A module says it is another task or version than its manifest entry.
    InfoMismatch {
        /// The module file.
        path: PathBuf,
        /// What the manifest says.
        expected: String,
        /// What the module says.
        found: String,
    },
    /// A module file in the directory is not listed in the manifest.
    Unlisted {
        /// The module file.
        path: PathBuf,
    },
    /// The suite authority key is also the evaluator key.
    SameKey,
    /// A file of `suite export` could not be written, or exists already.
    Write(airlock_attest::AttestError),
    /// `default` is the only embedded suite.
    UnknownEmbedded {
        /// The name asked for.
        name: String,
    },
}

impl airlock_core::Classify for SuiteError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            #[cfg(feature = "sandbox")]
            SuiteError::Module { error, .. } => error.class(),
            SuiteError::ModuleFile(error)
            | SuiteError::Manifest(error)
            | SuiteError::Write(error) => error.class(),
            // An embedded module off its built-in digest means a broken
            // binary, not input that failed a check.
            SuiteError::EmbeddedDigest { .. }
            | SuiteError::Io { .. }
            | SuiteError::Empty { .. }
            | SuiteError::Unsigned { .. }
            | SuiteError::DuplicateTask { .. }
            | SuiteError::SameKey
            | SuiteError::UnknownEmbedded { .. } => ErrorClass::Input,
            SuiteError::DigestMismatch { .. }
            | SuiteError::InfoMismatch { .. }
            | SuiteError::Unlisted { .. } => ErrorClass::Integrity,
        }
    }
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "sandbox")]
            SuiteError::Module { origin, error } => write!(f, "{origin}: {error}"),
            SuiteError::EmbeddedDigest { file_name } => write!(
                f,
                "embedded module {file_name} does not match the digest built into this binary"
            ),
            SuiteError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            SuiteError::Empty { path } => {
                write!(
                    f,
                    "{}: no *.wasm task modules in this directory",
                    path.display()
                )
            }
            SuiteError::Unsigned { path } => write!(
                f,
                "{}: suite directories must be signed; pass --unsigned-suite to run a development suite",
                path.display()
            ),
            SuiteError::DuplicateTask { task_id } => {
                write!(f, "two modules declare task id \"{task_id}\"")
            }
            SuiteError::Manifest(e) | SuiteError::Write(e) | SuiteError::ModuleFile(e) => {
                write!(f, "{e}")
            }
            SuiteError::DigestMismatch {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: module does not match its signed manifest (blake3 {found}, manifest says {expected}); refusing the suite",
                path.display()
            ),
            SuiteError::InfoMismatch {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: module says it is {found}, its manifest entry says {expected}",
                path.display()
            ),
            SuiteError::Unlisted { path } => write!(
                f,
                "{}: module is not listed in the suite manifest; refusing the suite",
                path.display()
            ),
            SuiteError::SameKey => f.write_str(
                "the suite authority key is the evaluator key; sign suites with a separate authority key",
            ),
            SuiteError::UnknownEmbedded { name } => write!(
                f,
                "no embedded suite \"{name}\" (embedded: {}); a suite directory must be a path",
                airlock_default_suite::SUITE_NAME
            ),
        }
    }
}

impl core::error::Error for SuiteError {}

/// The embedded suite's manifest, under the modules' file names, from the
/// digests and task crates built into the binary: checking a bundle's suite
/// needs only the digests, and compiling eight modules to learn them cost
/// more than the rest of a verification. Each module is still hashed and
/// compared with its built-in digest, as [`LoadedSuite::embedded`] does.
pub fn embedded_manifest() -> Result<SuiteManifest, SuiteError> {
    let infos = airlock_default_suite::task_infos();
    let mut tasks = Vec::new();
    for module in airlock_default_suite::modules() {
        let mismatch = || SuiteError::EmbeddedDigest {
            file_name: module.file_name.into(),
        };
        if Digest::blake3(module.bytes) != Digest(module.digest) {
            return Err(mismatch());
        }
        // A module without its task crate is not the module this binary was built with.
        let (_, info) = infos
            .iter()
            .find(|(id, _)| *id == module.task_id)
            .ok_or_else(mismatch)?;
        tasks.push(ManifestTask {
            task_id: info.id.clone(),
            version: info.version,
            file_name: module.file_name.into(),
            module_digest: Digest(module.digest),
        });
    }
    Ok(SuiteManifest {
        name: airlock_default_suite::SUITE_NAME.into(),
        tasks,
    })
}

/// The `*.wasm` files of a directory, in file-name order.
pub fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>, SuiteError> {
    let io = |error| SuiteError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    files.retain(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file());
    files.sort();
    Ok(files)
}
#[cfg(test)]
mod class_tests {
    use super::*;
    use airlock_core::{Classify as _, ErrorClass};

    /// Every variant with its exit-code class. The row function matches
    /// without a wildcard arm, so a new variant does not compile until it
    /// has a row, and the test fails until the row has a case.
    #[test]
    fn every_suite_error_variant_has_its_class() {
        let path = || std::path::PathBuf::from("x");
        let io = || std::io::Error::other("x");
        #[cfg_attr(not(feature = "sandbox"), allow(unused_mut))]
        let mut cases = vec![
            (
                SuiteError::EmbeddedDigest {
                    file_name: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                SuiteError::Io {
                    path: path(),
                    error: io(),
                },
                ErrorClass::Input,
            ),
            (
                SuiteError::ModuleFile(airlock_attest::AttestError::NotRegularFile {
                    path: path(),
                }),
                ErrorClass::Input,
            ),
            (SuiteError::Empty { path: path() }, ErrorClass::Input),
            (SuiteError::Unsigned { path: path() }, ErrorClass::Input),
            (
                SuiteError::DuplicateTask {
                    task_id: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                SuiteError::Manifest(airlock_attest::AttestError::ManifestSignature {
                    path: path(),
                }),
                ErrorClass::Integrity,
            ),
            (
                SuiteError::DigestMismatch {
                    path: path(),
                    expected: airlock_core::Digest::ZERO,
                    found: airlock_core::Digest::ZERO,
                },
                ErrorClass::Integrity,
            ),
            (
                SuiteError::InfoMismatch {
                    path: path(),
                    expected: "x".into(),
                    found: "y".into(),
                },
                ErrorClass::Integrity,
            ),
            (SuiteError::Unlisted { path: path() }, ErrorClass::Integrity),
            (SuiteError::SameKey, ErrorClass::Input),
            (
                SuiteError::Write(airlock_attest::AttestError::AlreadyExists { path: path() }),
                ErrorClass::Input,
            ),
            (
                SuiteError::UnknownEmbedded { name: "x".into() },
                ErrorClass::Input,
            ),
        ];
        // Only the full build compiles modules.
        #[cfg(feature = "sandbox")]
        cases.push((
            SuiteError::Module {
                origin: "x".into(),
                error: airlock_sandbox::LoadError::NotWasm("x".into()),
            },
            ErrorClass::Input,
        ));
        // The variant only the full build has takes the last row.
        let row = |e: &SuiteError| match e {
            SuiteError::EmbeddedDigest { .. } => 0,
            SuiteError::Io { .. } => 1,
            SuiteError::ModuleFile(_) => 2,
            SuiteError::Empty { .. } => 3,
            SuiteError::Unsigned { .. } => 4,
            SuiteError::DuplicateTask { .. } => 5,
            SuiteError::Manifest(_) => 6,
            SuiteError::DigestMismatch { .. } => 7,
            SuiteError::InfoMismatch { .. } => 8,
            SuiteError::Unlisted { .. } => 9,
            SuiteError::SameKey => 10,
            SuiteError::Write(_) => 11,
            SuiteError::UnknownEmbedded { .. } => 12,
            #[cfg(feature = "sandbox")]
            SuiteError::Module { .. } => 13,
        };
        const VARIANTS: usize = 13 + if cfg!(feature = "sandbox") { 1 } else { 0 };
        let mut seen = [false; VARIANTS];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
