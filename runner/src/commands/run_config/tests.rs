use std::ffi::OsString;
use std::io::Write as _;

use clap::{CommandFactory as _, Parser as _};

use super::*;
use crate::{Cli, Command};

fn words(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn expanded(file: &tempfile::NamedTempFile, typed: &[&str]) -> Result<Vec<OsString>, Failure> {
    let path = file.path().to_str().unwrap();
    let mut args = words(&["airlock", "-v", "run", "--config", path]);
    args.extend(words(typed));
    expand(args, &Cli::command())
}

fn run_settings(args: Vec<OsString>) -> RunSettings {
    match Cli::try_parse_from(args).unwrap().command {
        Some(Command::Run(run)) => run.settings(),
        other => panic!("not a run: {other:?}"),
    }
}

const CAMPAIGN: &str = r#"# a reviewed campaign
agent = "reference"
key = "keys/evaluator.key"
out = "run.bundle"
epochs = 3
seed = 7
agent-arg = ["--a", "b"]
unsigned-suite = false
temperature = 0.5
"#;

#[test]
fn a_campaign_file_becomes_the_flags_it_stands_for_before_the_typed_ones() {
    let file = config_file(CAMPAIGN);
    let args = expanded(&file, &["--json"]).unwrap();
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let path = file.path().to_string_lossy().into_owned();
    assert_eq!(&text[..3], ["airlock", "-v", "run"]);
    assert_eq!(
        text[text.len() - 3..],
        ["--config", path.as_str(), "--json"]
    );
    let joined = text.join(" ");
    assert!(joined.contains("--epochs 3"), "{joined}");
    assert!(joined.contains("--seed 7"), "{joined}");
    assert!(joined.contains("--agent-arg --a --agent-arg b"), "{joined}");
    assert!(
        !joined.contains("--unsigned-suite"),
        "false switches add nothing: {joined}"
    );
    // clap reads the result as one run command.
    match Cli::try_parse_from(args).unwrap().command {
        Some(Command::Run(run)) => assert_eq!(run.settings(), {
            run_settings(words(&[
                "airlock",
                "run",
                "--agent",
                "reference",
                "--key",
                "k",
                "--out",
                "o",
                "--epochs",
                "3",
                "--seed",
                "7",
                "--agent-arg",
                "--a",
                "--agent-arg",
                "b",
                "--temperature",
                "0.5",
            ]))
        }),
        other => panic!("not a run: {other:?}"),
    }
}

#[test]
fn a_typed_flag_replaces_the_file_key_of_its_name() {
    let file = config_file(CAMPAIGN);
    let args = expanded(&file, &["--epochs", "2", "--agent-arg=c"]).unwrap();
    let settings = run_settings(args);
    let text = settings.to_toml();
    assert!(text.contains("epochs = 2\n"), "{text}");
    assert!(text.contains("agent-arg = [\"c\"]\n"), "{text}");
}

#[test]
fn an_unknown_key_is_refused_with_its_file_and_line() {
    let file = config_file("agent = \"reference\"\n\nepoch = 3\n");
    let error = expanded(&file, &[]).unwrap_err();
    assert_eq!(error.code, 2);
    let expected = format!("{}:3: unknown key \"epoch\"", file.path().display());
    assert!(error.message.starts_with(&expected), "{}", error.message);
    assert!(
        error.message.contains("epochs"),
        "lists the keys: {}",
        error.message
    );
}

#[test]
fn a_bad_value_is_refused_with_its_line_and_key() {
    for (text, line, says) in [
        (
            "agent = \"reference\"\nepochs = 0\n",
            2,
            "key \"epochs\": invalid value '0'",
        ),
        (
            "epochs = \"many\"\n",
            1,
            "key \"epochs\": invalid value 'many'",
        ),
        (
            "json = \"yes\"\n",
            1,
            "key \"json\" is a switch: true or false, not string",
        ),
        (
            "seed = [1, 2]\n",
            1,
            "key \"seed\" takes a string or a number, not array",
        ),
        (
            "agent = \"nonsense\"\n",
            1,
            "key \"agent\": invalid value 'nonsense'",
        ),
        (
            "[agent]\nkind = 1\n",
            1,
            "key \"agent\" takes a string or a number, not table",
        ),
        ("config = \"other.toml\"\n", 1, "unknown key \"config\""),
    ] {
        let file = config_file(text);
        let error = expanded(&file, &[]).unwrap_err();
        let expected = format!("{}:{line}: {says}", file.path().display());
        assert!(
            error.message.starts_with(&expected),
            "{text:?}: {}",
            error.message
        );
        assert_eq!(error.code, 2);
    }
}

#[test]
fn a_file_that_is_not_toml_names_its_line() {
    let file = config_file("agent = \"reference\"\nepochs = = 3\n");
    let error = expanded(&file, &[]).unwrap_err();
    let expected = format!("{}:2: not a TOML campaign file", file.path().display());
    assert!(error.message.starts_with(&expected), "{}", error.message);
}

#[test]
fn arguments_without_run_config_pass_unchanged() {
    for list in [
        &["airlock", "verify", "b.bundle", "--config", "x"][..],
        &["airlock", "run", "--agent", "null"][..],
        &["airlock", "--version"][..],
        &["airlock", "run", "--", "--config", "x"][..],
    ] {
        assert_eq!(expand(words(list), &Cli::command()).unwrap(), words(list));
    }
}

#[test]
fn a_seed_typed_in_decimal_or_hex_gives_one_settings_digest() {
    let base = [
        "airlock", "run", "--agent", "null", "--key", "k", "--out", "o", "--seed",
    ];
    let mut decimal = words(&base);
    decimal.push("7".into());
    let mut hex = words(&base);
    hex.push(format!("{:064x}", 7).into());
    assert_eq!(run_settings(decimal).digest(), run_settings(hex).digest());
}

#[test]
fn settings_leave_out_the_station_files_and_how_fast_a_run_goes() {
    let plain = run_settings(words(&[
        "airlock", "run", "--agent", "null", "--key", "a.key", "--out", "a.bundle",
    ]));
    let local = run_settings(words(&[
        "airlock",
        "run",
        "--agent",
        "null",
        "--key",
        "b.key",
        "--out",
        "b.bundle",
        "--station",
        "s",
        "--transcript-key",
        "t",
        "--sandboxes",
        "2",
        "--json",
        "--force",
        "--no-module-cache",
    ]));
    assert_eq!(plain, local);
    let other = run_settings(words(&[
        "airlock", "run", "--agent", "null", "--key", "a.key", "--out", "a.bundle", "--epochs", "2",
    ]));
    assert_ne!(plain.digest(), other.digest());
}

/// Every flag of `run` is either a setting or one of the documented
/// exceptions: a new flag has to be put in one or the other.
#[test]
fn every_run_flag_is_a_setting_or_a_documented_exception() {
    const LEFT_OUT: &[&str] = &[
        "config",
        "help",
        "key",
        "out",
        "station",
        "transcript-key",
        "tpm-station",
        "tcti",
        "module-cache",
        "suite-trust",
        "sandboxes",
        "no-module-cache",
        "json",
        "force",
        "resume",
        "print-settings",
    ];
    let settings = run_settings(words(&[
        "airlock",
        "run",
        "--agent",
        "null",
        "--key",
        "k",
        "--out",
        "o",
        "--seed",
        "1",
        "--model",
        "m",
        "--model-seed",
        "2",
        "--max-tokens",
        "3",
    ]));
    let keys: Vec<&str> = settings.entries.iter().map(|(k, _)| *k).collect();
    let cli = Cli::command();
    let run = cli.find_subcommand("run").unwrap();
    for long in run.get_arguments().filter_map(clap::Arg::get_long) {
        assert!(
            keys.contains(&long) != LEFT_OUT.contains(&long),
            "--{long} must be exactly one of: a setting, a documented exception"
        );
    }
    for key in keys {
        assert!(
            run.get_arguments().any(|a| a.get_long() == Some(key)),
            "setting {key} is no flag of run"
        );
    }
}

/// The canonical text and its digest are what RunStart records: pinned.
#[test]
fn canonical_settings_bytes_are_pinned() {
    let settings = run_settings(words(&[
        "airlock",
        "run",
        "--agent",
        "reference",
        "--key",
        "k",
        "--out",
        "o",
        "--seed",
        "7",
        "--epochs",
        "3",
        "--agent-arg",
        "say \"hi\"",
    ]));
    let text = settings.to_toml();
    assert_eq!(
        text,
        "agent = \"reference\"\n\
         agent-arg = [\"say \\\"hi\\\"\"]\n\
         backend = \"cranelift\"\n\
         category = []\n\
         epochs = 3\n\
         profile = \"default\"\n\
         retries = 2\n\
         retry-backoff-ms = 250\n\
         seed = \"0000000000000000000000000000000000000000000000000000000000000007\"\n\
         suite = \"default\"\n\
         task = []\n\
         temperature = 0.0\n\
         tool-mode = \"native\"\n\
         unsigned-suite = false\n"
    );
    assert_eq!(
        settings.digest(),
        airlock_core::Digest(*blake3::hash(text.as_bytes()).as_bytes())
    );
    // The canonical text is itself a campaign file for the same settings.
    let file = config_file(&text);
    let again = run_settings(expanded(&file, &["--key", "k", "--out", "o"]).unwrap());
    assert_eq!(again, settings);
}

#[test]
fn floats_are_written_as_toml_reads_them() {
    assert_eq!(float_text(0.0), "0.0");
    assert_eq!(float_text(0.7), "0.7");
    assert_eq!(float_text(1e-7), "1e-7");
    assert_eq!(float_text(f64::INFINITY), "inf");
    assert_eq!(float_text(f64::NAN), "nan");
    for x in [0.0, 0.7, 1e-7, 2.5e300] {
        let parsed: toml::Table = toml::from_str(&format!("x = {}", float_text(x))).unwrap();
        assert_eq!(parsed["x"].as_float(), Some(x));
    }
}
