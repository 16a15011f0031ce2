//! Signed release manifests (SPEC.md, "Release manifest"): what an enclave
//! admits and what a verifier ties a bundle's runner to.
//!
//! A release is the directory `cargo xtask dist` fills: the static runner,
//! the verifier, the vendored source archive, the SBOM and the build recipe
//! (`build-recipe.json`). Its manifest is one DSSE envelope whose payload is
//! an in-toto Statement v1: every artifact is a subject with its sha256 and
//! blake3, and the predicate is SLSA provenance v1 (builder, source commit,
//! the recipe, and the lockfile and source archive as resolved
//! dependencies), extended with what a bundle's RunStart records of the
//! runner (Airlock and wasmtime versions, the engine settings digests), so
//! that one signature answers both "was this binary built from the source we
//! reviewed" and "did this build produce these results".
//!
//! Nothing in the statement depends on the time it was signed or the
//! machine it was signed on, and Ed25519 signatures are deterministic: the
//! same release signed twice with one key gives the same bytes.

use core::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use airlock_core::Digest;
use airlock_core::hex::{decode_array, encode as hex};
use airlock_core::record::RunStart;
use airlock_core::{Classify, ErrorClass};
use serde_json::{Value, json};

use crate::dsse::{EnvelopeError, STATEMENT_TYPE, envelope, verify_envelope};
use crate::error::{AttestError, io_err};
use crate::fsutil::{Overwrite, open_regular, read_regular, write_file_atomically};
use crate::keys::{PublicKey, SigningKey};
use crate::verify::{Level, LevelReport, Status};

/// The recipe `cargo xtask dist` writes beside the artifacts.
pub const RECIPE_FILE: &str = "build-recipe.json";
/// The `schema` of a build recipe this module reads.
pub const RECIPE_SCHEMA: &str = "airlock-build-recipe/1";
/// The release manifest's file name in the release directory.
pub const RELEASE_FILE: &str = "release.intoto.json";
/// SLSA provenance v1.
pub const PROVENANCE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// The build type: `cargo xtask dist` from the vendored source archive
/// (`.invalid`: a stable name nobody else can own, not a location).
pub const BUILD_TYPE: &str = "https://airlock.invalid/dist-build/v1";
/// The builder's id.
pub const BUILDER_ID: &str = "https://airlock.invalid/builder/cargo-xtask-dist/v1";

/// Largest recipe or manifest read: both are a few kB; anything near this
/// is not one.
const MAX_JSON_BYTES: u64 = 4 << 20;

/// One file of a release, as the manifest names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseArtifact {
    /// File name in the release directory.
    pub name: String,
    /// Its sha256 (what most tools check).
    pub sha256: [u8; 32],
    /// Its blake3 (what RunStart records of the runner executable).
    pub blake3: Digest,
}

/// The engine settings digest of one (hardware profile, backend) pair the
/// release's runner produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSetting {
    /// The hardware profile's name.
    pub profile: String,
    /// The sandbox backend (`cranelift`, `pulley`).
    pub backend: String,
    /// blake3 of the engine settings description (SPEC.md, "Engine settings").
    pub digest: Digest,
}

/// What the runner of a release records in RunStart, given to the signer.
#[derive(Clone, Debug)]
pub struct RunnerFacts {
    /// `airlock_version` of RunStart.
    pub airlock_version: String,
    /// `wasmtime_version` of RunStart.
    pub wasmtime_version: String,
    /// Every engine settings digest the runner can record.
    pub engine_settings: Vec<EngineSetting>,
}

/// A release manifest whose signature verified under a trusted release key.
#[derive(Clone, Debug)]
pub struct ReleaseManifest {
    /// The manifest file.
    pub path: PathBuf,
    /// The git commit the release was built from.
    pub source_commit: String,
    /// Every artifact.
    pub artifacts: Vec<ReleaseArtifact>,
    /// What its runner records in RunStart.
    pub runner: RunnerFacts,
    /// Key id of the release key that signed it.
    pub signer: Digest,
}

/// Why a release could not be signed or its manifest read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A file could not be read or written.
    Io(AttestError),
    /// The build recipe is missing a field or names no artifact (input).
    Recipe {
        /// The recipe file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The manifest is not a DSSE envelope, or its signature does not verify.
    Envelope {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        problem: EnvelopeError,
    },
    /// No trusted release key signed the manifest.
    Untrusted {
        /// The manifest file.
        path: PathBuf,
        /// Key ids of its signatures.
        signed_by: Vec<String>,
    },
    /// The signed statement is not an Airlock release statement.
    Statement {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl Classify for ReleaseError {
    fn class(&self) -> ErrorClass {
        match self {
            ReleaseError::Io(error) => error.class(),
            ReleaseError::Recipe { .. } => ErrorClass::Input,
            ReleaseError::Envelope { .. }
            | ReleaseError::Untrusted { .. }
            | ReleaseError::Statement { .. } => ErrorClass::Integrity,
        }
    }
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::Io(e) => e.fmt(f),
            ReleaseError::Recipe { path, problem } => {
                write!(f, "{}: bad build recipe: {problem}", path.display())
            }
            ReleaseError::Envelope { path, problem } => {
                write!(f, "{}: release manifest: {problem}", path.display())
            }
            ReleaseError::Untrusted { path, signed_by } => write!(
                f,
                "{}: release manifest is not signed by a trusted release key (signed by {})",
                path.display(),
                if signed_by.is_empty() {
                    "no key".to_owned()
                } else {
                    signed_by.join(", ")
                }
            ),
            ReleaseError::Statement { path, problem } => {
                write!(
                    f,
                    "{}: not an Airlock release statement: {problem}",
                    path.display()
                )
            }
        }
    }
}

impl core::error::Error for ReleaseError {}

impl From<AttestError> for ReleaseError {
    fn from(error: AttestError) -> Self {
        ReleaseError::Io(error)
    }
}

/// sha256 and blake3 of a file, read once, streamed.
pub fn hash_file(path: &Path, name: &str) -> Result<ReleaseArtifact, AttestError> {
    let (mut file, _) = open_regular(path)?;
    let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
    let mut b3 = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path, "read"))?;
        if n == 0 {
            break;
        }
        let piece = buf.get(..n).unwrap_or_default();
        sha.update(piece);
        b3.update(piece);
    }
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(sha.finish().as_ref());
    Ok(ReleaseArtifact {
        name: name.to_owned(),
        sha256,
        blake3: Digest(*b3.finalize().as_bytes()),
    })
}

fn digest_set(sha256: &[u8; 32], blake3: &Digest) -> Value {
    json!({"sha256": hex(sha256), "blake3": blake3.to_hex().as_str()})
}

/// The in-toto Statement of a release: `recipe` is the parsed build recipe,
/// `artifacts` every file it lists, hashed; `lockfile_sha256` comes from
/// the recipe.
pub fn release_statement(
    recipe: &Value,
    artifacts: &[ReleaseArtifact],
    runner: &RunnerFacts,
) -> Value {
    let field = |name: &str| recipe.get(name).cloned().unwrap_or(Value::Null);
    let source_archive = field("source_archive");
    let archive = artifacts
        .iter()
        .find(|a| Some(a.name.as_str()) == source_archive.as_str());
    let mut dependencies = vec![json!({
        "name": "Cargo.lock",
        "digest": {"sha256": field("cargo_lock_sha256")},
    })];
    if let Some(archive) = archive {
        dependencies.push(json!({
            "name": archive.name,
            "digest": digest_set(&archive.sha256, &archive.blake3),
            "annotations": {"role": "source archive: the commit and every dependency vendored"},
        }));
    }
    dependencies.push(json!({
        "name": "source",
        "digest": {"gitCommit": field("source_commit")},
    }));
    json!({
        "_type": STATEMENT_TYPE,
        "subject": artifacts
            .iter()
            .map(|a| json!({"name": a.name, "digest": digest_set(&a.sha256, &a.blake3)}))
            .collect::<Vec<_>>(),
        "predicateType": PROVENANCE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "sourceCommit": field("source_commit"),
                    "sourceDateEpoch": field("source_date_epoch"),
                    "target": field("target"),
                    "profile": field("profile"),
                },
                "internalParameters": {
                    "rustc": field("rustc"),
                    "cargo": field("cargo"),
                    "command": field("command"),
                    "env": field("env"),
                    "knobs": field("knobs"),
                    "runner": {
                        "airlockVersion": runner.airlock_version,
                        "wasmtimeVersion": runner.wasmtime_version,
                        "engineSettings": runner
                            .engine_settings
                            .iter()
                            .map(|e| json!({
                                "profile": e.profile,
                                "backend": e.backend,
                                "blake3": e.digest.to_hex().as_str(),
                            }))
                            .collect::<Vec<_>>(),
                    },
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID},
            },
        },
    })
}

/// Reads `dir/build-recipe.json`, hashes every artifact it lists and writes
/// the signed manifest to `dir/release.intoto.json` (replacing one there:
/// the same key gives the same bytes). Returns the manifest's path.
pub fn sign_release(
    dir: &Path,
    key: &SigningKey,
    runner: &RunnerFacts,
) -> Result<PathBuf, ReleaseError> {
    let recipe_path = dir.join(RECIPE_FILE);
    let bad = |problem: String| ReleaseError::Recipe {
        path: recipe_path.clone(),
        problem,
    };
    let text = read_regular(&recipe_path, MAX_JSON_BYTES)?;
    let recipe: Value = serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if recipe["schema"].as_str() != Some(RECIPE_SCHEMA) {
        return Err(bad(format!("schema is not {RECIPE_SCHEMA:?}")));
    }
    for required in ["source_commit", "cargo_lock_sha256", "rustc", "target"] {
        if !recipe[required].is_string() {
            return Err(bad(format!("{required} is missing or not a string")));
        }
    }
    let names = recipe["artifacts"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("artifacts is missing or empty".into()))?;
    let mut artifacts = Vec::with_capacity(names.len());
    for name in names {
        let name = name
            .as_str()
            .filter(|n| is_plain_name(n))
            .ok_or_else(|| bad(format!("artifact {name} is not a plain file name")))?;
        artifacts.push(hash_file(&dir.join(name), name)?);
    }
    let statement = release_statement(&recipe, &artifacts, runner);
    let payload = serde_json::to_vec(&statement).map_err(|e| bad(e.to_string()))?;
    let mut bytes =
        serde_json::to_vec_pretty(&envelope(&payload, key)).map_err(|e| bad(e.to_string()))?;
    bytes.push(b'\n');
    let out = dir.join(RELEASE_FILE);
    write_file_atomically(&out, &bytes, 0o644, Overwrite::Replace)?;
    Ok(out)
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name().is_some()
}

/// Reads a release manifest and verifies it under one of `trusted`.
pub fn read_release(path: &Path, trusted: &[PublicKey]) -> Result<ReleaseManifest, ReleaseError> {
    let text = read_regular(path, MAX_JSON_BYTES)?;
    let envelope_error = |problem| ReleaseError::Envelope {
        path: path.to_path_buf(),
        problem,
    };
    let envelope: Value = serde_json::from_slice(&text)
        .map_err(|_| envelope_error(EnvelopeError::Malformed("the file is not JSON")))?;
    let mut payload = None;
    for key in trusted {
        match verify_envelope(&envelope, key) {
            Ok(bytes) => {
                payload = Some((bytes, key.key_id()));
                break;
            }
            Err(EnvelopeError::NoSignatureForKey) => {}
            Err(e) => return Err(envelope_error(e)),
        }
    }
    let Some((payload, signer)) = payload else {
        let signed_by = envelope["signatures"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|s| s["keyid"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        return Err(ReleaseError::Untrusted {
            path: path.to_path_buf(),
            signed_by,
        });
    };
    let bad = |problem: String| ReleaseError::Statement {
        path: path.to_path_buf(),
        problem,
    };
    let statement: Value =
        serde_json::from_slice(&payload).map_err(|e| bad(format!("payload is not JSON: {e}")))?;
    if statement["_type"].as_str() != Some(STATEMENT_TYPE) {
        return Err(bad(format!("_type is not {STATEMENT_TYPE}")));
    }
    if statement["predicateType"].as_str() != Some(PROVENANCE_TYPE) {
        return Err(bad(format!("predicateType is not {PROVENANCE_TYPE}")));
    }
    let definition = &statement["predicate"]["buildDefinition"];
    if definition["buildType"].as_str() != Some(BUILD_TYPE) {
        return Err(bad(format!("buildType is not {BUILD_TYPE}")));
    }
    let mut artifacts = Vec::new();
    for (i, subject) in statement["subject"]
        .as_array()
        .ok_or_else(|| bad("no subject list".into()))?
        .iter()
        .enumerate()
    {
        let name = subject["name"]
            .as_str()
            .ok_or_else(|| bad(format!("subject {i} has no name")))?;
        let digest = |algorithm: &str| {
            subject["digest"][algorithm]
                .as_str()
                .and_then(decode_array::<32>)
                .ok_or_else(|| bad(format!("subject {name:?} has no {algorithm} digest")))
        };
        artifacts.push(ReleaseArtifact {
            name: name.to_owned(),
            sha256: digest("sha256")?,
            blake3: Digest(digest("blake3")?),
        });
    }
    let runner = &definition["internalParameters"]["runner"];
    let text_of = |value: &Value, what: &str| {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{what} is missing")))
    };
    let mut engine_settings = Vec::new();
    for setting in runner["engineSettings"]
        .as_array()
        .ok_or_else(|| bad("runner.engineSettings is missing".into()))?
    {
        engine_settings.push(EngineSetting {
            profile: text_of(&setting["profile"], "an engine setting's profile")?,
            backend: text_of(&setting["backend"], "an engine setting's backend")?,
            digest: Digest(
                setting["blake3"]
                    .as_str()
                    .and_then(decode_array::<32>)
                    .ok_or_else(|| bad("an engine setting has no blake3".into()))?,
            ),
        });
    }
    Ok(ReleaseManifest {
        path: path.to_path_buf(),
        source_commit: text_of(
            &definition["externalParameters"]["sourceCommit"],
            "externalParameters.sourceCommit",
        )?,
        artifacts,
        runner: RunnerFacts {
            airlock_version: text_of(&runner["airlockVersion"], "runner.airlockVersion")?,
            wasmtime_version: text_of(&runner["wasmtimeVersion"], "runner.wasmtimeVersion")?,
            engine_settings,
        },
        signer,
    })
}

/// The release level of one bundle: its runner executable is an artifact
/// of the release, and the versions and engine settings RunStart records
/// are the release runner's. Every mismatch is named.
pub fn check_release(run_start: &RunStart, release: &ReleaseManifest) -> LevelReport {
    let report = |status, note| LevelReport {
        level: Level::Release,
        status,
        note,
    };
    let runner = &run_start.runner;
    let built = format!(
        "release {} (commit {})",
        release.path.display(),
        release.source_commit
    );
    let mut problems = Vec::new();
    let artifact = release
        .artifacts
        .iter()
        .find(|a| a.blake3 == runner.executable);
    if artifact.is_none() {
        problems.push(format!(
            "runner executable {} is not an artifact of {built}",
            runner.executable
        ));
    }
    if runner.airlock_version != release.runner.airlock_version {
        problems.push(format!(
            "airlock version {:?} is not the release's {:?}",
            runner.airlock_version, release.runner.airlock_version
        ));
    }
    if runner.wasmtime_version != release.runner.wasmtime_version {
        problems.push(format!(
            "wasmtime version {:?} is not the release's {:?}",
            runner.wasmtime_version, release.runner.wasmtime_version
        ));
    }
    let setting = release
        .runner
        .engine_settings
        .iter()
        .find(|e| e.digest == runner.engine_settings);
    if setting.is_none() {
        problems.push(format!(
            "engine settings {} are none of the release runner's {}",
            runner.engine_settings,
            release.runner.engine_settings.len()
        ));
    }
    match (artifact, setting, problems.is_empty()) {
        (Some(artifact), Some(setting), true) => report(
            Status::Passed,
            Some(format!(
                "runner is {} of {built}, engine settings of profile {} on {}",
                artifact.name, setting.profile, setting.backend
            )),
        ),
        _ => report(Status::Failed(problems.join("; ")), None),
    }
}

/// sha256 in hex, for output.
pub fn sha256_hex(artifact: &ReleaseArtifact) -> String {
    hex(&artifact.sha256)
}
