//! A cache of compiled task modules: wasmtime's precompiled artifacts, each
//! bound to what made it and authenticated under a station secret.
//!
//! Compiling the default suite with Cranelift is most of what a short run
//! does before its first task. An entry here keeps one module's artifact
//! ([`Module::serialize`]) so the next run of the same build, under the same
//! engine settings, loads it instead. Loading an artifact runs whatever code
//! it holds, so an entry is used only when
//!
//! - its keyed MAC (blake3, under a key derived from the station secret)
//!   over header and artifact checks out, so it was written by a runner that
//!   holds this station's secret; and
//! - its header names exactly the module digest, engine settings digest,
//!   wasmtime version, wasmtime's own engine compatibility hash and runner
//!   executable digest of the load at hand.
//!
//! Anything else (missing, truncated, altered, bound to something else,
//! made under another secret, refused by wasmtime) is refused with a warning
//! naming the file and why; the module is compiled and the entry rewritten
//! atomically. A cache that cannot be written costs speed, never a run.
//!
//! SPEC.md, "Module cache", gives the file layout.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

use core::fmt;
use core::hash::{Hash as _, Hasher as _};
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module};

/// The first bytes of every entry: the format and its version.
pub const ENTRY_MAGIC: [u8; 16] = *b"airlock-mcache01";

/// Bytes of an entry's header: magic, module digest, engine settings digest,
/// runner digest, wasmtime version, engine compatibility hash, artifact length.
pub const HEADER_LEN: usize = 16 + 32 + 32 + 32 + VERSION_FIELD_LEN + 8 + 8;

/// Bytes of the MAC that ends an entry.
pub const MAC_LEN: usize = 32;

/// The largest entry read; anything longer is refused unread. Compiled
/// artifacts of modules within the compile budget are far smaller.
pub const MAX_ENTRY_BYTES: u64 = 256 << 20;

/// The extension of the station secret file beside an evaluator key.
pub const SECRET_EXTENSION: &str = "cache-key";

/// The extension of cache entry files.
pub const ENTRY_EXTENSION: &str = "cwasm";

/// Length of the station secret.
pub const SECRET_LEN: usize = 32;

/// Bytes the wasmtime version takes in the header, NUL-padded.
const VERSION_FIELD_LEN: usize = 16;

/// blake3 `derive_key` context of the MAC key.
const MAC_CONTEXT: &str = "airlock v1 module cache mac";

/// blake3 `derive_key` context of an entry's file name.
const NAME_CONTEXT: &str = "airlock v1 module cache entry name";

/// Why the cache could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheError {
    /// A file or directory operation failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        doing: &'static str,
        /// The error.
        error: io::Error,
    },
    /// The station secret file is not one the cache can use.
    Secret {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The system's random source failed while making a new secret.
    Random(String),
    /// The runner's executable digest is unknown (all zero), so entries
    /// could not be bound to its build.
    UnknownRunner,
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Io { path, doing, error } => {
                write!(f, "{}: could not {doing}: {error}", path.display())
            }
            CacheError::Secret { path, problem } => {
                write!(f, "{}: module cache key: {problem}", path.display())
            }
            CacheError::Random(why) => write!(f, "no random bytes for the module cache key: {why}"),
            CacheError::UnknownRunner => write!(
                f,
                "the runner's executable digest is unknown; entries could not be bound to its build"
            ),
        }
    }
}

impl core::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            CacheError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

fn io_err<'a>(path: &'a Path, doing: &'static str) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |error| CacheError::Io {
        path: path.to_path_buf(),
        doing,
        error,
    }
}

/// The station's module cache secret: 32 random bytes in a file of mode 0600.
pub struct StationSecret {
    mac_key: [u8; 32],
}

impl fmt::Debug for StationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StationSecret").finish_non_exhaustive()
    }
}

impl StationSecret {
    /// The secret file beside an evaluator key: `NAME.cache-key` for `NAME.key`.
    pub fn path_for_key(evaluator_key: &Path) -> PathBuf {
        evaluator_key.with_extension(SECRET_EXTENSION)
    }

    /// A secret from its bytes.
    pub fn from_bytes(bytes: &[u8; SECRET_LEN]) -> StationSecret {
        StationSecret {
            mac_key: blake3::derive_key(MAC_CONTEXT, bytes),
        }
    }

    /// Reads the secret file, or creates it (32 random bytes, mode 0600,
    /// written whole, fsynced and linked into place) when it does not exist.
    /// An existing file is never replaced: of two runs that race to create
    /// it, the loser reads the winner's.
    pub fn load_or_create(path: &Path) -> Result<StationSecret, CacheError> {
        match StationSecret::load(path) {
            Err(CacheError::Io { error, .. }) if error.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let mut bytes = [0u8; SECRET_LEN];
        getrandom::fill(&mut bytes).map_err(|e| CacheError::Random(e.to_string()))?;
        let dir = parent_dir(path);
        // tempfile makes its files with mode 0600 on unix.
        let mut temp = tempfile::NamedTempFile::new_in(dir)
            .map_err(io_err(path, "create the module cache key"))?;
        temp.write_all(&bytes)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(io_err(path, "write the module cache key"))?;
        match temp.persist_noclobber(path) {
            Ok(_) => {
                sync_dir(dir)?;
                tracing::info!(path = %path.display(), "created the station module cache key");
                Ok(StationSecret::from_bytes(&bytes))
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => StationSecret::load(path),
            Err(e) => Err(CacheError::Io {
                path: path.to_path_buf(),
                doing: "move the module cache key into place",
                error: e.error,
            }),
        }
    }

    /// Reads an existing secret file, refusing one that others may read or
    /// that is not exactly 32 bytes.
    pub fn load(path: &Path) -> Result<StationSecret, CacheError> {
        let file = File::open(path).map_err(io_err(path, "open the module cache key"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = file
                .metadata()
                .map_err(io_err(path, "read the module cache key"))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(CacheError::Secret {
                    path: path.to_path_buf(),
                    problem: format!(
                        "group or others may access it (mode {:o}); chmod 600 it",
                        mode & 0o777
                    ),
                });
            }
        }
        let mut bytes = Vec::with_capacity(SECRET_LEN + 1);
        file.take(SECRET_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(path, "read the module cache key"))?;
        let bytes: [u8; SECRET_LEN] = bytes.try_into().map_err(|_| CacheError::Secret {
            path: path.to_path_buf(),
            problem: format!("not {SECRET_LEN} bytes"),
        })?;
        Ok(StationSecret::from_bytes(&bytes))
    }
}

/// What an entry is bound to: everything that decides what the compiled
/// code is and may assume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Binding {
    module: [u8; 32],
    settings: [u8; 32],
    runner: [u8; 32],
    wasmtime: [u8; VERSION_FIELD_LEN],
    engine_hash: u64,
}

impl Binding {
    fn header(&self, artifact_len: u64) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        let mut at = 0;
        for part in [
            &ENTRY_MAGIC[..],
            &self.module,
            &self.settings,
            &self.runner,
            &self.wasmtime,
            &self.engine_hash.to_le_bytes(),
            &artifact_len.to_le_bytes(),
        ] {
            header[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        header
    }

    /// The entry's file name: the module digest, then a digest of the whole
    /// binding, so entries of one module under other settings or builds sit
    /// beside each other and a lookup never finds them.
    fn file_name(&self) -> String {
        let bound = self.header(0);
        let name = blake3::Hasher::new_derive_key(NAME_CONTEXT)
            .update(&bound[..HEADER_LEN - 8])
            .finalize();
        format!(
            "{}-{}.{ENTRY_EXTENSION}",
            blake3::Hash::from_bytes(self.module).to_hex(),
            &name.to_hex()[..32]
        )
    }
}

/// Why an entry was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No entry for this module, settings and build.
    Missing,
    /// The entry could not be read.
    Unreadable(String),
    /// The entry is longer than [`MAX_ENTRY_BYTES`].
    TooLarge,
    /// The entry is shorter than its header and MAC, or than its header says.
    Truncated,
    /// The entry does not start with [`ENTRY_MAGIC`].
    Magic,
    /// The MAC does not match: the entry was altered, or made under another
    /// station secret.
    Mac,
    /// The entry is authentic but was made for something else: the field
    /// named differs.
    Bound(&'static str),
    /// The MAC and binding checked out but wasmtime refused the artifact.
    Artifact(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Missing => write!(f, "no entry"),
            Refusal::Unreadable(why) => write!(f, "unreadable: {why}"),
            Refusal::TooLarge => write!(f, "longer than {MAX_ENTRY_BYTES} bytes"),
            Refusal::Truncated => write!(f, "truncated"),
            Refusal::Magic => write!(f, "not a module cache entry (magic)"),
            Refusal::Mac => write!(
                f,
                "MAC does not match: altered, or made under another station secret"
            ),
            Refusal::Bound(field) => write!(f, "made for another {field}"),
            Refusal::Artifact(why) => write!(f, "wasmtime refused the artifact: {why}"),
        }
    }
}

/// Where a loaded module's compiled code came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A cache entry that checked out.
    Cache,
    /// Compiled, because the entry was refused for the reason given; the
    /// entry was then rewritten if `stored`.
    Compiled {
        /// Why the cache could not be used.
        refused: Refusal,
        /// Whether the new entry was written.
        stored: bool,
    },
    /// Compiled; no cache is in use.
    NoCache,
}

/// A directory of cache entries, with the key and runner digest entries are
/// checked against.
pub struct ModuleCache {
    dir: PathBuf,
    secret: StationSecret,
    runner: [u8; 32],
}

impl fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// An entry whose MAC and binding checked out, holding its artifact: made
/// only by [`verify`], so holding one is the proof the unsafe load needs.
struct Verified<'a> {
    artifact: &'a [u8],
}

impl ModuleCache {
    /// The cache in `dir` (created, mode 0700, when missing), checked under
    /// `secret`, for the runner build whose executable digest is `runner`.
    pub fn open(
        dir: &Path,
        secret: StationSecret,
        runner: [u8; 32],
    ) -> Result<ModuleCache, CacheError> {
        if runner == [0; 32] {
            return Err(CacheError::UnknownRunner);
        }
        create_private_dir(dir)?;
        Ok(ModuleCache {
            dir: dir.to_path_buf(),
            secret,
            runner,
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn binding(
        &self,
        engine: &Engine,
        settings: [u8; 32],
        wasmtime_version: &str,
        module: &[u8],
    ) -> Binding {
        let mut version = [0u8; VERSION_FIELD_LEN];
        let given = wasmtime_version.as_bytes();
        let n = given.len().min(VERSION_FIELD_LEN);
        version[..n].copy_from_slice(&given[..n]);
        // wasmtime's own view of what a compiled artifact depends on (its
        // build, target, tunables, features). SipHash with fixed keys: the
        // same within one build, which the runner digest pins.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Binding {
            module: *blake3::hash(module).as_bytes(),
            settings,
            runner: self.runner,
            wasmtime: version,
            engine_hash: hasher.finish(),
        }
    }

    /// The path of the entry for `module` compiled by `engine`, whose
    /// settings digest is `settings`.
    pub fn entry_path(
        &self,
        engine: &Engine,
        settings: [u8; 32],
        wasmtime_version: &str,
        module: &[u8],
    ) -> PathBuf {
        let binding = self.binding(engine, settings, wasmtime_version, module);
        self.dir.join(binding.file_name())
    }

    /// The compiled `module`: from its entry when that checks out, else
    /// compiled by `engine` and its entry (re)written. `settings` is the
    /// digest of the engine's settings; it must change whenever anything
    /// that changes compiled code does. Fails only when compiling fails.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        settings: [u8; 32],
        wasmtime_version: &str,
        module: &[u8],
    ) -> wasmtime::Result<(Module, Source)> {
        let binding = self.binding(engine, settings, wasmtime_version, module);
        let path = self.dir.join(binding.file_name());
        let refused = match read_entry(&path) {
            Err(refusal) => refusal,
            Ok(entry) => match verify(&entry, &binding, &self.secret) {
                Err(refusal) => refusal,
                Ok(verified) => match deserialize_verified(engine, &verified) {
                    Ok(loaded) => {
                        tracing::debug!(path = %path.display(), "module loaded from the cache");
                        return Ok((loaded, Source::Cache));
                    }
                    Err(e) => Refusal::Artifact(format!("{e:#}")),
                },
            },
        };
        if refused != Refusal::Missing {
            tracing::warn!(
                path = %path.display(),
                reason = %refused,
                "module cache entry refused; compiling the module again"
            );
        }
        let compiled = Module::new(engine, module)?;
        let stored = match self.store(&path, &binding, &compiled) {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!(
                    path = %path.display(),
                    reason = %why,
                    "could not write the module cache entry"
                );
                false
            }
        };
        Ok((compiled, Source::Compiled { refused, stored }))
    }

    /// Writes the entry atomically: a temporary file in the cache
    /// directory, written whole, fsynced, renamed over `path`, then the
    /// directory fsynced. A reader sees the old entry or the new one.
    fn store(&self, path: &Path, binding: &Binding, module: &Module) -> Result<(), String> {
        let artifact = module.serialize().map_err(|e| format!("{e:#}"))?;
        let header = binding.header(artifact.len() as u64);
        let mac = mac(&self.secret, &header, &artifact);
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir).map_err(|e| e.to_string())?;
        temp.write_all(&header)
            .and_then(|()| temp.write_all(&artifact))
            .and_then(|()| temp.write_all(&mac))
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| e.to_string())?;
        temp.persist(path).map_err(|e| e.error.to_string())?;
        sync_dir(&self.dir).map_err(|e| e.to_string())
    }
}

fn mac(secret: &StationSecret, header: &[u8], artifact: &[u8]) -> [u8; MAC_LEN] {
    *blake3::Hasher::new_keyed(&secret.mac_key)
        .update(header)
        .update(artifact)
        .finalize()
        .as_bytes()
}

/// The whole entry, read into memory: what is checked is what is loaded,
/// whatever happens to the file meanwhile.
fn read_entry(path: &Path) -> Result<Vec<u8>, Refusal> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Refusal::Missing),
        Err(e) => return Err(Refusal::Unreadable(e.to_string())),
    };
    let meta = file
        .metadata()
        .map_err(|e| Refusal::Unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(Refusal::Unreadable("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Refusal::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > MAX_ENTRY_BYTES {
        return Err(Refusal::TooLarge);
    }
    Ok(bytes)
}

/// Checks the entry's shape, its MAC, then that its header is exactly the
/// one this load would write. Only what passes all three reaches
/// [`deserialize_verified`].
fn verify<'a>(
    entry: &'a [u8],
    expected: &Binding,
    secret: &StationSecret,
) -> Result<Verified<'a>, Refusal> {
    if entry.len() < HEADER_LEN + MAC_LEN {
        return Err(Refusal::Truncated);
    }
    let (header, rest) = entry.split_at(HEADER_LEN);
    let (artifact, found_mac) = rest.split_at(rest.len() - MAC_LEN);
    if header[..16] != ENTRY_MAGIC {
        return Err(Refusal::Magic);
    }
    // blake3::Hash compares in constant time.
    let want = blake3::Hash::from_bytes(mac(secret, header, artifact));
    let found: [u8; MAC_LEN] = found_mac.try_into().map_err(|_| Refusal::Truncated)?;
    if want != blake3::Hash::from_bytes(found) {
        return Err(Refusal::Mac);
    }
    let wanted = expected.header(artifact.len() as u64);
    for (name, range) in [
        ("module", 16..48),
        ("engine settings", 48..80),
        ("runner build", 80..112),
        ("wasmtime version", 112..128),
        ("wasmtime engine configuration", 128..136),
        ("artifact length", 136..144),
    ] {
        if header.get(range.clone()) != wanted.get(range) {
            return Err(Refusal::Bound(name));
        }
    }
    Ok(Verified { artifact })
}

/// Turns a verified artifact back into a module.
///
/// # Safety argument
///
/// `Module::deserialize` is unsafe because it trusts its input to be the
/// unmodified output of `Module::serialize` for a compatible engine: the
/// artifact is machine code that will run. That holds for `verified`:
///
/// - A [`Verified`] is made only by [`verify`], after the blake3 keyed MAC
///   over the entry's header and artifact matched under a key derived from
///   the station secret. That secret is 32 random bytes in a mode-0600 file
///   that only this station's runner reads; whoever can forge a MAC can
///   already read the evaluator's keys and run code as the runner. So the
///   artifact is byte for byte what [`ModuleCache::store`] wrote from
///   `Module::serialize`.
/// - The header matched this load's binding exactly: the same module
///   digest, engine settings digest, wasmtime version, wasmtime engine
///   compatibility hash and runner executable digest. So the artifact was
///   made by this very build, with an engine configured as `engine` is,
///   from this very module. wasmtime checks its own version and
///   configuration in the artifact again on top.
/// - The artifact is a slice of bytes read whole into memory before the
///   check (no mmap of a file that could change after it); wasmtime copies
///   it into its own memory.
#[allow(unsafe_code)]
fn deserialize_verified(engine: &Engine, verified: &Verified<'_>) -> wasmtime::Result<Module> {
    // SAFETY: see the safety argument above.
    unsafe { Module::deserialize(engine, verified.artifact) }
}

/// Creates `dir` and its missing parents, mode 0700 on unix; an existing
/// directory is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), CacheError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(io_err(dir, "create the module cache directory"))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a directory so that a rename into it is durable.
fn sync_dir(dir: &Path) -> Result<(), CacheError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir, "sync the directory"))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests;
