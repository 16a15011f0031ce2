//! Campaign files: `airlock run --config CAMPAIGN.toml`, and the canonical
//! settings whose digest RunStart records (SPEC.md, "Campaign files").
//!
//! A campaign file is the `run` command line written down: each key is the
//! long name of one of `run`'s flags and its value what that flag takes. So
//! the file is read by turning it back into those flags, in front of the
//! ones typed after it, and clap parses the two as one command line: every
//! flag has its key, without a second list of settings to keep in step.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use clap::ArgAction;
use toml::de::{DeTable, DeValue};
use toml::{Spanned, de::DeInteger};

use super::output::Failure;

/// Largest campaign file read: a few dozen keys are a few kilobytes.
const CONFIG_FILE_LIMIT: u64 = 1 << 20;

/// The command-line arguments with a `run --config FILE` replaced by the
/// flags the file stands for, followed by the flags typed after `run`; a
/// flag typed on the command line replaces the file's key of that name.
/// `cli` is the whole command, for the names and kinds of `run`'s flags.
/// Arguments without `run --config` come back as they are.
pub(crate) fn expand(args: Vec<OsString>, cli: &clap::Command) -> Result<Vec<OsString>, Failure> {
    // The global flags take no values, so the first word that is not a
    // flag is the command.
    let Some(at) = args
        .iter()
        .skip(1)
        .position(|a| !a.to_string_lossy().starts_with('-'))
        .map(|i| i + 1)
    else {
        return Ok(args);
    };
    if args[at] != "run" {
        return Ok(args);
    }
    let Some(run) = cli.find_subcommand("run") else {
        return Ok(args);
    };
    let typed = &args[at + 1..];
    let Some(path) = config_path(typed) else {
        return Ok(args);
    };
    let from_file = file_args(Path::new(&path), run, typed)?;
    let mut expanded = args[..=at].to_vec();
    expanded.extend(from_file);
    expanded.extend_from_slice(typed);
    Ok(expanded)
}

/// The value of `--config` among `run`'s typed arguments.
fn config_path(typed: &[OsString]) -> Option<OsString> {
    let mut words = typed.iter();
    while let Some(word) = words.next() {
        if word == "--" {
            return None;
        }
        if word == "--config" {
            return words.next().cloned();
        }
        if let Some(value) = word.to_str().and_then(|w| w.strip_prefix("--config=")) {
            return Some(value.into());
        }
    }
    None
}

/// Whether the flag `--long` is among the typed arguments.
fn typed_flag(typed: &[OsString], long: &str) -> bool {
    let flag = format!("--{long}");
    let with_value = format!("--{long}=");
    typed.iter().any(|word| {
        word == OsStr::new(&flag) || word.to_str().is_some_and(|w| w.starts_with(&with_value))
    })
}

/// The flags a campaign file stands for, each checked against `run` alone
/// so that a bad value is reported at its line, not as a flag the user
/// never typed.
fn file_args(
    path: &Path,
    run: &clap::Command,
    typed: &[OsString],
) -> Result<Vec<OsString>, Failure> {
    let text = read_text(path)?;
    let table = DeTable::parse(&text).map_err(|error| {
        let line = error.span().map_or(1, |span| line_of(&text, span.start));
        Failure::input(format!(
            "{}:{line}: not a TOML campaign file: {}",
            path.display(),
            error.message().trim_end()
        ))
    })?;
    let mut args = Vec::new();
    for (key, value) in table.get_ref() {
        let at = |what: String| {
            Failure::input(format!(
                "{}:{}: {what}",
                path.display(),
                line_of(&text, key.span().start)
            ))
        };
        let name: &str = key.get_ref();
        let flag = run
            .get_arguments()
            .find(|arg| arg.get_long() == Some(name) && name != "config" && name != "help")
            .ok_or_else(|| {
                at(format!(
                    "unknown key \"{name}\" (the keys are `airlock run`'s flags: {})",
                    known_keys(run)
                ))
            })?;
        if typed_flag(typed, name) {
            tracing::info!(
                key = name,
                "the command line's flag replaces the campaign file's key"
            );
            continue;
        }
        let words = flag_words(name, flag.get_action(), value.get_ref()).map_err(at)?;
        check_alone(run, name, &words).map_err(at)?;
        args.extend(words);
    }
    Ok(args)
}

/// Reads the campaign file whole, as UTF-8, within [`CONFIG_FILE_LIMIT`].
fn read_text(path: &Path) -> Result<String, Failure> {
    use std::io::Read as _;
    let named = |what: String| Failure::input(format!("{}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| named(format!("cannot read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(CONFIG_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| named(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > CONFIG_FILE_LIMIT {
        return Err(named(format!(
            "larger than {CONFIG_FILE_LIMIT} bytes: not a campaign file"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        named(format!(
            "not UTF-8 text (byte {}): TOML files are UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `run`'s flags, as a campaign file's keys.
fn known_keys(run: &clap::Command) -> String {
    let mut keys: Vec<&str> = run
        .get_arguments()
        .filter_map(clap::Arg::get_long)
        .filter(|long| *long != "config" && *long != "help")
        .collect();
    keys.sort_unstable();
    keys.join(", ")
}

/// The command-line words of one key: `--name VALUE` (once per item of an
/// array, for a flag that may be repeated), or `--name` for `true`.
fn flag_words(
    name: &str,
    action: &ArgAction,
    value: &DeValue<'_>,
) -> Result<Vec<OsString>, String> {
    let flag = OsString::from(format!("--{name}"));
    match action {
        ArgAction::SetTrue => match value {
            DeValue::Boolean(true) => Ok(vec![flag]),
            DeValue::Boolean(false) => Ok(Vec::new()),
            other => Err(format!(
                "key \"{name}\" is a switch: true or false, not {}",
                other.type_str()
            )),
        },
        ArgAction::Append => {
            let items: Vec<&Spanned<DeValue<'_>>> = match value {
                DeValue::Array(array) => array.iter().collect(),
                _ => {
                    return scalar(name, value).map(|v| vec![flag, v.into()]);
                }
            };
            let mut words = Vec::new();
            for item in items {
                words.push(flag.clone());
                words.push(scalar(name, item.get_ref())?.into());
            }
            Ok(words)
        }
        _ => scalar(name, value).map(|v| vec![flag, v.into()]),
    }
}

/// A string, integer or float value as the flag's text.
fn scalar(name: &str, value: &DeValue<'_>) -> Result<String, String> {
    match value {
        DeValue::String(text) => Ok(text.to_string()),
        DeValue::Integer(integer) => integer_text(integer).ok_or_else(|| {
            format!(
                "key \"{name}\": {} is not a 64-bit integer",
                integer.as_str()
            )
        }),
        DeValue::Float(float) => Ok(float.as_str().to_owned()),
        other => Err(format!(
            "key \"{name}\" takes a string or a number, not {}",
            other.type_str()
        )),
    }
}

/// An integer in decimal, whatever radix the file wrote it in.
fn integer_text(integer: &DeInteger<'_>) -> Option<String> {
    let digits = integer.as_str().replace('_', "");
    match i64::from_str_radix(&digits, integer.radix()) {
        Ok(n) => Some(n.to_string()),
        // Decimal integers beyond i64 (a u64 seed, say) are passed as written.
        Err(_) if integer.radix() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits)
        }
        Err(_) => None,
    }
}

/// Parses `words` as `run`'s only arguments (nothing required), so that a
/// value the flag refuses is named with its key.
fn check_alone(run: &clap::Command, name: &str, words: &[OsString]) -> Result<(), String> {
    let alone = run
        .clone()
        .mut_args(|arg| arg.required(false))
        .no_binary_name(true);
    let mut words = words.to_vec();
    // `--key` and `--out` are required unless settings are only printed.
    if name != "print-settings" {
        words.push("--print-settings".into());
    }
    match alone.try_get_matches_from(words) {
        Ok(_) => Ok(()),
        Err(error) => {
            let rendered = error.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            Err(format!("key \"{name}\": {first}"))
        }
    }
}

/// One value of the canonical settings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SettingValue {
    /// A string.
    Text(String),
    /// A whole number.
    Integer(u64),
    /// A float, as `--temperature` takes it.
    Float(f64),
    /// A switch.
    Switch(bool),
    /// The values of a repeated flag, in order.
    List(Vec<String>),
}

/// A run's settings in their canonical campaign-file form: every key that
/// decides what is run and what the model is asked, with its default when it
/// was not given, sorted by key. Keys naming the station's own files (`key`,
/// `out`, `station`, `transcript-key`, `tpm-station`, `tcti` (RunStart's
/// hardware records the TPM's registration), `module-cache`, `suite-trust`, whose
/// keys RunStart's suite trust records) and keys that change only how fast
/// or how visibly a run goes (`sandboxes`, `no-module-cache`, `json`,
/// `force`, `resume`) are left out, so that one campaign run on two stations
/// records one digest.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RunSettings {
    entries: Vec<(&'static str, SettingValue)>,
}

impl RunSettings {
    /// Adds `key`; keys may come in any order.
    pub(crate) fn set(&mut self, key: &'static str, value: SettingValue) {
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push((key, value));
        self.entries.sort_by(|a, b| a.0.cmp(b.0));
    }

    /// The canonical text: one `key = value` line per setting, sorted by
    /// key, strings in TOML basic strings; itself a campaign file.
    pub(crate) fn to_toml(&self) -> String {
        let mut text = String::new();
        for (key, value) in &self.entries {
            text.push_str(key);
            text.push_str(" = ");
            match value {
                SettingValue::Text(s) => text.push_str(&basic_string(s)),
                SettingValue::Integer(n) => text.push_str(&n.to_string()),
                SettingValue::Float(x) => text.push_str(&float_text(*x)),
                SettingValue::Switch(b) => text.push_str(if *b { "true" } else { "false" }),
                SettingValue::List(items) => {
                    text.push('[');
                    let quoted: Vec<String> = items.iter().map(|s| basic_string(s)).collect();
                    text.push_str(&quoted.join(", "));
                    text.push(']');
                }
            }
            text.push('\n');
        }
        text
    }

    /// What RunStart records: the BLAKE3 digest of [`to_toml`](Self::to_toml)'s
    /// bytes, so `b3sum` of the printed text gives it too.
    pub(crate) fn digest(&self) -> airlock_core::Digest {
        airlock_core::Digest(*blake3::hash(self.to_toml().as_bytes()).as_bytes())
    }
}

/// `text` as a TOML basic string. JSON's string escapes are TOML's (TOML
/// has `\uXXXX` too, and serde_json writes no `\/`).
fn basic_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// A float as TOML writes it: always with a point or exponent, and TOML's
/// spellings of the infinities and NaN.
fn float_text(x: f64) -> String {
    if x.is_nan() {
        "nan".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        // Debug prints the shortest text that reads back to the same f64,
        // with ".0" on whole numbers.
        format!("{x:?}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
