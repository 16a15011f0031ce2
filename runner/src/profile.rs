//! Hardware profiles: the limits of one kind of enclave machine.
//!
//! A profile is a TOML file in `hardware-profiles/`. Every file there is
//! embedded in the binary, so `--profile default` works with no file beside
//! the executable; anything that looks like a path is read from disk instead.
//! Unknown fields and impossible values are refused with the file, the line
//! and the field named, because a lab that ships a suite into an enclave
//! cannot come back to ask what a typo meant.
//!
//! The profile's [`HardwareProfile::digest`] goes into the signed plan of
//! every run, so a verifier sees which limits a result was obtained under.

use core::fmt;
use core::time::Duration;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A hardware profile: the limits of one kind of enclave machine.
///
/// The field order is part of the profile's digest (postcard encodes fields
/// in declaration order): add new fields at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareProfile {
    /// Name that selects the profile; an embedded profile's name equals its file stem.
    pub name: String,
    /// One line for listings.
    pub description: String,
    /// Sandboxes that may run at once; 0 for a machine that only verifies
    /// bundles and never runs tasks.
    pub cores: u32,
    /// Largest linear memory one task instance may grow to, in MiB.
    pub memory_per_sandbox_mib: u32,
    /// Memory all sandboxes together may use, in MiB.
    pub total_memory_mib: u32,
    /// Fuel (deterministic CPU budget) of one task instance, `start` and every `step` together.
    pub fuel_per_task: u64,
    /// Largest WebAssembly stack of one sandbox, in KiB.
    pub max_wasm_stack_kib: u32,
    /// Most model turns one task instance may take.
    pub max_turns: u32,
    /// Largest guest output (`Say`, `TaskInfo`), in bytes.
    pub max_message_bytes: u32,
    /// Model replies are cut to this many bytes before the task sees them.
    pub max_reply_bytes: u32,
    /// Largest task module accepted, in bytes.
    pub max_module_bytes: u32,
    /// How long one model call may take before it is a model error, in milliseconds.
    pub model_call_timeout_ms: u64,
    /// Wall-clock backstop of one task's guest execution, in milliseconds
    /// (epoch interruption; fuel, not this, is the benchmark's CPU limit).
    pub wall_clock_backstop_ms: u64,
    /// The run ends cleanly after this many model errors in a row.
    pub max_consecutive_model_errors: u32,
    /// Most elements a task's function table may grow to.
    pub max_table_elements: u32,
    /// Most prompt plus completion tokens one task instance's model calls
    /// may use, as the server reports them; 0 for no budget.
    pub max_tokens_per_task: u64,
    /// Most completion tokens one task instance's model calls may use; 0 for no budget.
    pub max_completion_tokens_per_task: u64,
}

/// A WebAssembly (wasm32) linear memory cannot exceed 4 GiB.
const WASM32_MAX_MEMORY_MIB: u32 = 4096;

/// Fuel a profile may give one task for each millisecond of its wall-clock
/// backstop. A unit of fuel may take at most [`WORST_PS_PER_FUEL`] on a
/// supported host, whatever the module does and under either backend; with
/// [`BACKSTOP_MARGIN`] on top, a task's fuel runs out well before the
/// backstop even on a loaded host, so how a task ends is decided by fuel, the
/// same everywhere (hardware-profiles/README.md, "Fuel and the backstop").
pub const FUEL_PER_BACKSTOP_MS: u64 = 1_000_000_000 / (WORST_PS_PER_FUEL * BACKSTOP_MARGIN);

/// The most wall time one unit of fuel takes, in picoseconds: the slowest
/// operator loop `profile calibrate` times (a loop of calls, under Pulley:
/// 48 ns per unit on the 2-core reference host at a load average of 10),
/// rounded up.
pub const WORST_PS_PER_FUEL: u64 = 50_000;

/// How many times the worst case a task's fuel may take must fit in its
/// backstop: room for a host that is slower or loaded.
pub const BACKSTOP_MARGIN: u64 = 4;

// The refusal's text spells the number out.
const _: () = assert!(FUEL_PER_BACKSTOP_MS == 5_000);

impl HardwareProfile {
    /// The blake3 hash of the profile's postcard encoding: the digest the
    /// signed plan of a run records (`ProfileRef::digest`).
    pub fn digest(&self) -> airlock_core::Digest {
        airlock_core::Digest::blake3(&self.canonical_bytes())
    }

    /// The postcard encoding the digest is taken over.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Postcard fails only when its output buffer is full or a type's
        // Serialize impl reports an error; a growable Vec and a struct of
        // integers and strings can do neither.
        #[allow(clippy::expect_used)]
        postcard::to_stdvec(self).expect("postcard encoding of a profile cannot fail")
    }

    /// Checks that the limits can all hold at once on a real machine.
    pub fn validate(&self) -> Result<(), InvalidProfile> {
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(InvalidProfile::BadName {
                name: self.name.clone(),
            });
        }
        if self.description.trim().is_empty() {
            return Err(InvalidProfile::Empty {
                field: "description",
            });
        }
        let nonzero: [(&'static str, u64); 12] = [
            ("max_table_elements", self.max_table_elements.into()),
            ("memory_per_sandbox_mib", self.memory_per_sandbox_mib.into()),
            ("total_memory_mib", self.total_memory_mib.into()),
            ("fuel_per_task", self.fuel_per_task),
            ("max_wasm_stack_kib", self.max_wasm_stack_kib.into()),
            ("max_turns", self.max_turns.into()),
            ("max_message_bytes", self.max_message_bytes.into()),
            ("max_reply_bytes", self.max_reply_bytes.into()),
            ("max_module_bytes", self.max_module_bytes.into()),
            ("model_call_timeout_ms", self.model_call_timeout_ms),
            ("wall_clock_backstop_ms", self.wall_clock_backstop_ms),
            (
                "max_consecutive_model_errors",
                self.max_consecutive_model_errors.into(),
            ),
        ];
        if let Some((field, _)) = nonzero.iter().find(|(_, value)| *value == 0) {
            return Err(InvalidProfile::Zero { field });
        }
        let memory_bytes = self.memory_per_sandbox_bytes();
        // Each pair: (field, value, the field it may not exceed, its value).
        let bounded: [(&'static str, u64, &'static str, u64); 5] = [
            (
                "memory_per_sandbox_mib",
                self.memory_per_sandbox_mib.into(),
                "total_memory_mib",
                self.total_memory_mib.into(),
            ),
            (
                "memory_per_sandbox_mib",
                self.memory_per_sandbox_mib.into(),
                "the wasm32 limit (MiB)",
                WASM32_MAX_MEMORY_MIB.into(),
            ),
            // A message and a reply both have to fit in the guest's memory.
            (
                "max_message_bytes",
                self.max_message_bytes.into(),
                "memory_per_sandbox_mib (in bytes)",
                memory_bytes,
            ),
            (
                "max_reply_bytes",
                self.max_reply_bytes.into(),
                "memory_per_sandbox_mib (in bytes)",
                memory_bytes,
            ),
            // The stack is part of what one sandbox may use, and the guest
            // needs memory left beside it.
            (
                "max_wasm_stack_kib",
                self.max_wasm_stack_kib.into(),
                "memory_per_sandbox_mib (in KiB) - 1",
                u64::from(self.memory_per_sandbox_mib) * 1024 - 1,
            ),
        ];
        // Fuel, not the backstop, must end a task that never stops: its
        // whole budget has to be spent well inside the backstop.
        let fuel_limit = self
            .wall_clock_backstop_ms
            .saturating_mul(FUEL_PER_BACKSTOP_MS);
        let bounded = bounded.into_iter().chain([(
            "fuel_per_task",
            self.fuel_per_task,
            "wall_clock_backstop_ms x 5 000 (fuel that surely runs out before the backstop)",
            fuel_limit,
        )]);
        for (field, value, limit_name, limit) in bounded {
            if value > limit {
                return Err(InvalidProfile::Exceeds {
                    field,
                    value,
                    limit_name,
                    limit,
                });
            }
        }
        Ok(())
    }

    /// `memory_per_sandbox_mib` in bytes.
    pub fn memory_per_sandbox_bytes(&self) -> u64 {
        u64::from(self.memory_per_sandbox_mib) * 1024 * 1024
    }

    /// `max_wasm_stack_kib` in bytes.
    pub fn max_wasm_stack_bytes(&self) -> u64 {
        u64::from(self.max_wasm_stack_kib) * 1024
    }

    /// `model_call_timeout_ms` as a duration.
    pub fn model_call_timeout(&self) -> Duration {
        Duration::from_millis(self.model_call_timeout_ms)
    }

    /// `wall_clock_backstop_ms` as a duration.
    pub fn wall_clock_backstop(&self) -> Duration {
        Duration::from_millis(self.wall_clock_backstop_ms)
    }

    /// Whether the profile describes a machine that runs tasks at all
    /// (`cores` > 0); a verifier appliance does not.
    pub fn runs_tasks(&self) -> bool {
        self.cores > 0
    }

    /// Sandboxes that may run at once: `cores`, bounded further by how many
    /// sandboxes of `memory_per_sandbox_mib` fit in `total_memory_mib`.
    /// At least 1 for a valid profile that runs tasks; 0 for one that does not.
    pub fn parallel_sandboxes(&self) -> u32 {
        let by_memory = self
            .total_memory_mib
            .checked_div(self.memory_per_sandbox_mib)
            .unwrap_or(0);
        self.cores.min(by_memory)
    }

    /// The per-task token budgets (`None` where the profile says 0).
    #[cfg(feature = "sandbox")]
    pub fn token_budget(&self) -> airlock_sandbox::TokenBudget {
        let budget = |n: u64| (n > 0).then_some(n);
        airlock_sandbox::TokenBudget {
            total: budget(self.max_tokens_per_task),
            completion: budget(self.max_completion_tokens_per_task),
        }
    }

    /// The limits a sandbox applies under this profile.
    #[cfg(feature = "sandbox")]
    pub fn sandbox_limits(&self) -> airlock_sandbox::SandboxLimits {
        airlock_sandbox::SandboxLimits {
            fuel_per_task: self.fuel_per_task,
            memory_bytes: self.memory_per_sandbox_bytes(),
            max_wasm_stack_bytes: usize::try_from(self.max_wasm_stack_bytes())
                .unwrap_or(usize::MAX),
            max_message_bytes: self.max_message_bytes,
            max_reply_bytes: self.max_reply_bytes,
            max_module_bytes: self.max_module_bytes,
            max_turns: self.max_turns,
            wall_clock_backstop: self.wall_clock_backstop(),
            // One extra slot so a module can be probed while every sandbox runs a task.
            max_instances: self.parallel_sandboxes().saturating_add(1),
            max_table_elements: self.max_table_elements,
            tokens: self.token_budget(),
        }
    }
}

/// A value in a profile that cannot hold on any machine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidProfile {
    /// `name` is empty or has characters other than `a-z`, `0-9` and `-`.
    BadName {
        /// The name found.
        name: String,
    },
    /// A text field is empty.
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A limit is zero, so nothing could run under it.
    Zero {
        /// The field.
        field: &'static str,
    },
    /// A limit exceeds another limit (or a fixed bound) that contains it.
    Exceeds {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The field (or fixed bound) it may not exceed.
        limit_name: &'static str,
        /// That limit's value.
        limit: u64,
    },
}

impl InvalidProfile {
    /// The field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            InvalidProfile::BadName { .. } => "name",
            InvalidProfile::Empty { field }
            | InvalidProfile::Zero { field }
            | InvalidProfile::Exceeds { field, .. } => field,
        }
    }
}

impl fmt::Display for InvalidProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidProfile::BadName { name } => write!(
                f,
                "field \"name\" ({name:?}) must be non-empty and use only a-z, 0-9 and '-'"
            ),
            InvalidProfile::Empty { field } => write!(f, "field \"{field}\" is empty"),
            InvalidProfile::Zero { field } => write!(f, "field \"{field}\" must not be 0"),
            InvalidProfile::Exceeds {
                field,
                value,
                limit_name,
                limit,
            } => write!(
                f,
                "field \"{field}\" ({value}) exceeds \"{limit_name}\" ({limit})"
            ),
        }
    }
}

impl core::error::Error for InvalidProfile {}

/// Where a profile was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    /// Embedded in the binary, by name.
    Embedded(&'static str),
    /// Read from this file.
    File(PathBuf),
}

impl fmt::Display for ProfileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileSource::Embedded(name) => write!(f, "hardware-profiles/{name}.toml (embedded)"),
            ProfileSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A validated profile and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedProfile {
    /// The profile.
    pub profile: HardwareProfile,
    /// Where it came from.
    pub source: ProfileSource,
}

/// Why a profile could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProfileError {
    /// No embedded profile has this name.
    UnknownName {
        /// The name asked for.
        name: String,
        /// The embedded profiles' names.
        known: Vec<&'static str>,
    },
    /// The profile file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        error: std::io::Error,
    },
    /// The text is not valid TOML, or does not describe a profile (an unknown,
    /// missing or mistyped field).
    Parse {
        /// Where the text came from.
        origin: ProfileSource,
        /// 1-based line of the problem, when the parser pointed at one.
        line: Option<usize>,
        /// The field concerned, when known.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The profile parsed but a value is impossible.
    Invalid {
        /// Where the text came from.
        origin: ProfileSource,
        /// 1-based line where the field is set, when found.
        line: Option<usize>,
        /// What is wrong.
        problem: InvalidProfile,
    },
}

impl airlock_core::Classify for ProfileError {
    fn class(&self) -> airlock_core::ErrorClass {
        match self {
            ProfileError::UnknownName { .. }
            | ProfileError::Read { .. }
            | ProfileError::Parse { .. }
            | ProfileError::Invalid { .. } => airlock_core::ErrorClass::Input,
        }
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileError::UnknownName { name, known } => {
                write!(f, "unknown profile {name:?} (known: {})", known.join(", "))
            }
            ProfileError::Read { path, error } => {
                write!(f, "{}: cannot read profile: {error}", path.display())
            }
            ProfileError::Parse {
                origin,
                line,
                field,
                message,
            } => {
                write!(f, "{origin}: ")?;
                if let Some(line) = line {
                    write!(f, "line {line}: ")?;
                }
                match field {
                    // The message names the field already ("unknown field "x"").
                    Some(field) if !message.contains(&format!("\"{field}\"")) => {
                        write!(f, "field \"{field}\": {message}")
                    }
                    _ => f.write_str(message),
                }
            }
            ProfileError::Invalid {
                origin,
                line,
                problem,
            } => {
                write!(f, "{origin}: ")?;
                if let Some(line) = line {
                    write!(f, "line {line}: ")?;
                }
                write!(f, "{problem}")
            }
        }
    }
}

impl core::error::Error for ProfileError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ProfileError::Read { error, .. } => Some(error),
            ProfileError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

/// Every file in `hardware-profiles/`, embedded so the binary needs none
/// beside it. A unit test fails when a file there is missing from this list.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "default",
        include_str!("../../hardware-profiles/default.toml"),
    ),
    (
        "enclave-workstation",
        include_str!("../../hardware-profiles/enclave-workstation.toml"),
    ),
    (
        "enclave-small",
        include_str!("../../hardware-profiles/enclave-small.toml"),
    ),
    (
        "field-laptop",
        include_str!("../../hardware-profiles/field-laptop.toml"),
    ),
    (
        "verifier-appliance",
        include_str!("../../hardware-profiles/verifier-appliance.toml"),
    ),
];

/// The embedded profiles as (name, TOML text), in a stable order.
pub fn embedded() -> &'static [(&'static str, &'static str)] {
    EMBEDDED
}

/// Loads and validates a profile.
///
/// A bare name (no path separator and no `.toml` ending) selects an embedded
/// profile; anything else is read as a file path.
pub fn load(name_or_path: &str) -> Result<LoadedProfile, ProfileError> {
    if is_name(name_or_path) {
        let Some(&(name, text)) = EMBEDDED.iter().find(|(name, _)| *name == name_or_path) else {
            return Err(ProfileError::UnknownName {
                name: name_or_path.to_owned(),
                known: EMBEDDED.iter().map(|(name, _)| *name).collect(),
            });
        };
        from_toml(text, ProfileSource::Embedded(name))
    } else {
        load_file(Path::new(name_or_path))
    }
}

/// Loads and validates a profile file.
pub fn load_file(path: &Path) -> Result<LoadedProfile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|error| ProfileError::Read {
        path: path.to_owned(),
        error,
    })?;
    from_toml(&text, ProfileSource::File(path.to_owned()))
}

/// Parses and validates profile text; `origin` names it in errors.
pub fn from_toml(text: &str, origin: ProfileSource) -> Result<LoadedProfile, ProfileError> {
    let profile: HardwareProfile = match toml::from_str(text) {
        Ok(profile) => profile,
        Err(error) => return Err(parse_error(text, origin, &error)),
    };
    if let Err(problem) = profile.validate() {
        return Err(ProfileError::Invalid {
            line: line_of_key(text, problem.field()),
            origin,
            problem,
        });
    }
    Ok(LoadedProfile {
        profile,
        source: origin,
    })
}

fn is_name(name_or_path: &str) -> bool {
    !name_or_path.contains(std::path::is_separator) && !name_or_path.ends_with(".toml")
}

fn parse_error(text: &str, origin: ProfileSource, error: &toml::de::Error) -> ProfileError {
    // serde's messages quote names with backticks; the rest of Airlock's
    // messages use double quotes.
    let message = error.message().trim().replace('`', "\"");
    let line = error.span().map(|span| line_at(text, span.start));
    // serde names the field itself in unknown/missing-field messages; for a
    // mistyped value the span points at the value, so take the key on its line.
    let field = quoted_after(&message, "unknown field ")
        .or_else(|| quoted_after(&message, "missing field "))
        .or_else(|| {
            error
                .span()
                .and_then(|span| key_on_line(text, line_at(text, span.start)))
        });
    // A missing field has no place in the text; pointing at line 1 would mislead.
    let line = if message.starts_with("missing field ") {
        None
    } else {
        line
    };
    ProfileError::Parse {
        origin,
        line,
        field,
        message,
    }
}

/// 1-based line number of byte offset `at`.
fn line_at(text: &str, at: usize) -> usize {
    let end = at.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The text between the double quotes right after `prefix` at the start of `message`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_owned())
}

/// The bare key set on 1-based line `line`, if that line is `key = ...`.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let content = text.lines().nth(line.checked_sub(1)?)?;
    let (key, _) = content.split_once('=')?;
    let key = key.trim();
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    bare.then(|| key.to_owned())
}

/// 1-based line where top-level `key` is set.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|content| {
            content
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == key)
        })
        .map(|index| index + 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn default_text() -> &'static str {
        embedded()
            .iter()
            .find(|(name, _)| *name == "default")
            .map(|(_, text)| *text)
            .unwrap()
    }

    fn default_profile() -> HardwareProfile {
        load("default").unwrap().profile
    }

    #[test]
    fn every_embedded_profile_loads_and_validates() {
        assert!(!embedded().is_empty());
        for (name, _) in embedded() {
            let loaded = load(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(loaded.profile.name, *name, "name must equal the file stem");
            assert_eq!(loaded.source, ProfileSource::Embedded(name));
            assert_eq!(
                loaded.profile.parallel_sandboxes() >= 1,
                loaded.profile.runs_tasks(),
                "{name}: a profile that runs tasks has at least one sandbox"
            );
        }
        assert!(!load("verifier-appliance").unwrap().profile.runs_tasks());
    }

    #[test]
    fn every_file_in_the_folder_is_embedded_and_equal() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hardware-profiles");
        let mut on_disk = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
                let text = std::fs::read_to_string(&path).unwrap();
                let embedded_text = embedded()
                    .iter()
                    .find(|(name, _)| *name == stem)
                    .map(|(_, text)| *text)
                    .unwrap_or_else(|| panic!("{} is not in EMBEDDED", path.display()));
                assert_eq!(text, embedded_text);
                let from_file = load(path.to_str().unwrap()).unwrap();
                assert_eq!(from_file.profile, load(&stem).unwrap().profile);
                on_disk.push(stem);
            }
        }
        on_disk.sort();
        let mut names: Vec<_> = embedded().iter().map(|(name, _)| *name).collect();
        names.sort();
        assert_eq!(on_disk, names);
    }

    #[test]
    fn default_has_the_skeleton_values() {
        let p = default_profile();
        assert_eq!(p.cores, 2);
        assert_eq!(p.memory_per_sandbox_mib, 64);
        assert_eq!(p.total_memory_mib, 1024);
        assert_eq!(p.fuel_per_task, 200_000_000);
        assert_eq!(p.max_wasm_stack_kib, 512);
        assert_eq!(p.max_turns, 64);
        assert_eq!(p.max_message_bytes, 65_536);
        assert_eq!(p.max_reply_bytes, 16_384);
        assert_eq!(p.max_module_bytes, 8_388_608);
        assert_eq!(p.model_call_timeout(), Duration::from_secs(120));
        assert_eq!(p.wall_clock_backstop(), Duration::from_secs(120));
        assert_eq!(p.max_consecutive_model_errors, 5);
        assert_eq!(p.parallel_sandboxes(), 2);
    }

    #[test]
    fn unknown_field_is_rejected_with_file_and_line() {
        let text = default_text().replacen("cores = 2", "cores = 2\ncpus = 4", 1);
        let line = text.lines().position(|l| l.starts_with("cpus")).unwrap() + 1;
        let origin = ProfileSource::File(PathBuf::from("hardware-profiles/x.toml"));
        let err = from_toml(&text, origin).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!(
                "hardware-profiles/x.toml: line {line}: unknown field \"cpus\""
            )),
            "{shown}"
        );
        match err {
            ProfileError::Parse { field, .. } => assert_eq!(field.as_deref(), Some("cpus")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mistyped_value_names_line_and_field() {
        let text = default_text().replacen("max_turns = 64", "max_turns = \"many\"", 1);
        let line = text
            .lines()
            .position(|l| l.starts_with("max_turns"))
            .unwrap()
            + 1;
        let shown = from_toml(&text, ProfileSource::Embedded("default"))
            .unwrap_err()
            .to_string();
        assert!(
            shown.starts_with(&format!(
                "hardware-profiles/default.toml (embedded): line {line}: field \"max_turns\": "
            )),
            "{shown}"
        );
    }

    #[test]
    fn missing_field_is_named() {
        let text: String = default_text()
            .lines()
            .filter(|l| !l.starts_with("fuel_per_task"))
            .map(|l| format!("{l}\n"))
            .collect();
        let shown = from_toml(&text, ProfileSource::File("p.toml".into()))
            .unwrap_err()
            .to_string();
        assert!(
            shown.starts_with("p.toml: missing field \"fuel_per_task\""),
            "{shown}"
        );
    }

    #[test]
    fn broken_toml_gives_a_line() {
        let text = default_text().replacen("cores = 2", "cores = = 2", 1);
        let line = text.lines().position(|l| l.starts_with("cores")).unwrap() + 1;
        let shown = from_toml(&text, ProfileSource::File("p.toml".into()))
            .unwrap_err()
            .to_string();
        assert!(
            shown.starts_with(&format!("p.toml: line {line}: ")),
            "{shown}"
        );
    }

    #[test]
    fn impossible_values_are_rejected_naming_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "max_table_elements = 10_000",
                "max_table_elements = 0",
                "field \"max_table_elements\" must not be 0",
            ),
            (
                "fuel_per_task = 200_000_000",
                "fuel_per_task = 0",
                "\"fuel_per_task\"",
            ),
            ("max_turns = 64", "max_turns = 0", "\"max_turns\""),
            (
                "max_reply_bytes = 16_384",
                "max_reply_bytes = 0",
                "\"max_reply_bytes\"",
            ),
            (
                "total_memory_mib = 1024",
                "total_memory_mib = 32",
                "field \"memory_per_sandbox_mib\" (64) exceeds \"total_memory_mib\" (32)",
            ),
            (
                "max_wasm_stack_kib = 512",
                "max_wasm_stack_kib = 65536",
                "field \"max_wasm_stack_kib\" (65536) exceeds",
            ),
            (
                "max_message_bytes = 65_536",
                "max_message_bytes = 4_000_000_000",
                "field \"max_message_bytes\"",
            ),
            (
                "name = \"default\"",
                "name = \"Default Box\"",
                "field \"name\"",
            ),
            (
                "wall_clock_backstop_ms = 120_000",
                "wall_clock_backstop_ms = 30_000",
                "field \"fuel_per_task\" (200000000) exceeds \"wall_clock_backstop_ms x 5 000",
            ),
            (
                "description = \"A",
                "description = \" \" #",
                "field \"description\" is empty",
            ),
        ];
        for (from, to, expected) in cases {
            let text = default_text().replacen(from, to, 1);
            assert_ne!(text, default_text(), "{from} not found");
            // The line named is the one setting the field at fault.
            let key = expected
                .split('"')
                .nth(1)
                .unwrap_or_else(|| to.split(' ').next().unwrap());
            let line = text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
            let origin = ProfileSource::File(PathBuf::from("hardware-profiles/x.toml"));
            let err = from_toml(&text, origin).unwrap_err();
            let shown = err.to_string();
            let prefix = format!("hardware-profiles/x.toml: line {line}: ");
            assert!(shown.starts_with(&prefix), "{to}: {shown}");
            assert!(shown.contains(expected), "{to}: {shown}");
            assert!(matches!(err, ProfileError::Invalid { .. }), "{to}: {err:?}");
        }
    }

    #[test]
    fn wasm32_memory_bound_is_enforced() {
        let mut p = default_profile();
        p.memory_per_sandbox_mib = 8192;
        p.total_memory_mib = 16384;
        assert_eq!(p.validate().unwrap_err().field(), "memory_per_sandbox_mib");
    }

    #[test]
    fn names_and_paths_are_told_apart() {
        let err = load("nonexistent-profile").unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with("unknown profile \"nonexistent-profile\" (known: default"),
            "{shown}"
        );
        let err = load("no/such/dir/default.toml").unwrap_err();
        assert!(matches!(err, ProfileError::Read { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("no/such/dir/default.toml: cannot read profile")
        );
        let err = load("default.toml").unwrap_err();
        assert!(matches!(err, ProfileError::Read { .. }), "{err:?}");
    }

    #[test]
    fn digest_is_stable_and_changes_with_any_field() {
        let p = default_profile();
        assert_eq!(p.digest(), default_profile().digest());
        assert_eq!(
            p.digest(),
            airlock_core::Digest::blake3(&p.canonical_bytes())
        );
        // Formatting and comments are not part of the digest; values are.
        let reformatted: String = default_text()
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| format!("{}\n", l.replace(" = ", "=")))
            .collect();
        let same = from_toml(&reformatted, ProfileSource::File("p.toml".into())).unwrap();
        assert_eq!(same.profile.digest(), p.digest());

        let mut changed = Vec::new();
        let mut q = p.clone();
        q.cores += 1;
        changed.push(q);
        let mut q = p.clone();
        q.fuel_per_task += 1;
        changed.push(q);
        let mut q = p.clone();
        q.name.push('x');
        changed.push(q);
        let mut q = p.clone();
        q.description.push('.');
        changed.push(q);
        let mut q = p.clone();
        q.max_consecutive_model_errors += 1;
        changed.push(q);
        let mut q = p.clone();
        q.wall_clock_backstop_ms += 1;
        changed.push(q);
        let mut q = p.clone();
        q.max_table_elements += 1;
        changed.push(q);
        let mut q = p.clone();
        q.max_tokens_per_task += 1;
        changed.push(q);
        let mut q = p.clone();
        q.max_completion_tokens_per_task += 1;
        changed.push(q);
        for q in &changed {
            assert_ne!(q.digest(), p.digest(), "{q:?}");
        }
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
    fn every_profile_error_variant_has_its_class() {
        let path = || std::path::PathBuf::from("x");
        let io = || std::io::Error::other("x");
        let cases = [
            (
                ProfileError::UnknownName {
                    name: "x".into(),
                    known: Vec::new(),
                },
                ErrorClass::Input,
            ),
            (
                ProfileError::Read {
                    path: path(),
                    error: io(),
                },
                ErrorClass::Input,
            ),
            (
                ProfileError::Parse {
                    origin: ProfileSource::File(path()),
                    line: None,
                    field: None,
                    message: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                ProfileError::Invalid {
                    origin: ProfileSource::File(path()),
                    line: None,
                    problem: InvalidProfile::Empty { field: "name" },
                },
                ErrorClass::Input,
            ),
        ];
        let row = |e: &ProfileError| match e {
            ProfileError::UnknownName { .. } => 0,
            ProfileError::Read { .. } => 1,
            ProfileError::Parse { .. } => 2,
            ProfileError::Invalid { .. } => 3,
        };
        let mut seen = [false; 4];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }
}
