//! Suites: the embedded default suite, or a directory of task modules.

use core::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_core::record::SuiteTrust;
use airlock_core::suite::{SuiteEntry, suite_digest};

use crate::sandbox::{LoadError, LoadedTask, Sandbox};

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

/// Why a suite could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum SuiteError {
    /// A module of the suite was refused.
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
    /// `default` is the only embedded suite.
    UnknownEmbedded {
        /// The name asked for.
        name: String,
    },
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
            SuiteError::UnknownEmbedded { name } => write!(
                f,
                "no embedded suite \"{name}\" (embedded: {}); a suite directory must be a path",
                airlock_default_suite::SUITE_NAME
            ),
        }
    }
}

impl core::error::Error for SuiteError {}

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

    /// Loads a development suite directory: every `*.wasm` in file-name order.
    pub fn unsigned_dir(sandbox: &Sandbox, dir: &Path) -> Result<LoadedSuite, SuiteError> {
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

/// Writes the embedded suite's modules into `dir` (created if missing), one
/// file each; never replaces an existing file. Returns the files written.
pub fn export_embedded(dir: &Path) -> Result<Vec<PathBuf>, SuiteError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| SuiteError::Io { path, error }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Vec::new();
    for module in airlock_default_suite::modules() {
        let path = dir.join(module.file_name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path))?;
        file.write_all(module.bytes)
            .and_then(|()| file.sync_all())
            .map_err(io(&path))?;
        written.push(path);
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(written)
}

/// Reads a module file, refusing one larger than the profile allows before
/// reading it whole.
fn read_bounded(path: &Path, limit: u32) -> Result<Vec<u8>, SuiteError> {
    let io = |error| SuiteError::Io {
        path: path.to_path_buf(),
        error,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > u64::from(limit) {
        return Err(SuiteError::Module {
            origin: path.display().to_string(),
            error: LoadError::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit,
            },
        });
    }
    std::fs::read(path).map_err(io)
}
