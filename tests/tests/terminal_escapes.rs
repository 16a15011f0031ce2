//! Untrusted text never reaches the terminal raw.
//!
//! Task ids, titles and descriptions come from task modules; bundles, plans
//! and disclosure files carry them back out. Each test here gives one
//! command a task whose id and description hold an escape sequence that
//! clears the screen and a newline that starts a forged "all levels
//! VERIFIED" line, and checks that neither stdout nor stderr holds an ESC,
//! a carriage return or a bidirectional override, that no line begins with
//! the forged text, and that the text was shown (escaped) all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airlock_core::abi::{ABI_VERSION, Difficulty, TaskInfo};
use airlock_tests::*;

/// What the hostile text tries to print as a line of its own.
const FORGED: &str = "all levels passed: VERIFIED";

/// A task id that clears the screen, homes the cursor, starts a forged
/// line and reverses what follows it.
fn hostile_id() -> String {
    format!("evil\x1b[2J\x1b[H\n{FORGED}\r\u{202e}x")
}

/// How the hostile id reads once escaped.
const SHOWN: &str = "evil\\u{1b}[2J\\u{1b}[H\\u{a}";

/// Fails unless `text` (one output stream of `done`) is free of raw control
/// sequences and forged lines.
#[track_caller]
fn assert_clean(stream: &str, text: &str, done: &Finished) {
    for bad in ['\x1b', '\r', '\u{202e}', '\u{9b}'] {
        assert!(
            !text.contains(bad),
            "{stream} holds a raw {:?}:\n{done}",
            bad.escape_unicode().to_string()
        );
    }
    assert!(
        !text
            .lines()
            .any(|line| line.trim_start().starts_with(FORGED)),
        "{stream} holds a forged line:\n{done}"
    );
}

#[track_caller]
fn assert_both_clean(done: &Finished) {
    assert!(!done.stderr.contains("panicked"), "{done}");
    assert_clean("stdout", &done.stdout, done);
    assert_clean("stderr", &done.stderr, done);
}

/// A directory with keys and an unsigned suite `evil/` of one module whose
/// id and description are hostile.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key: Key,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let key = keygen(&root.join("keys"));
        let info = TaskInfo {
            abi_version: ABI_VERSION,
            id: hostile_id(),
            version: 1,
            title: format!("title\x1b]0;owned\x07\n{FORGED}"),
            category: "knowledge".into(),
            difficulty: Difficulty::Easy,
            max_turns: 1,
            description: format!("description\x1b[31m\n{FORGED}\u{9b}2J"),
            system_prompt: String::new(),
            tools: Vec::new(),
        };
        suite_dir(
            &root,
            &[("evil.wasm", instant_done_module_with_info(&info))],
        );
        Setup {
            _dir: dir,
            root,
            key,
        }
    }

    fn suite(&self) -> String {
        self.root.join("suite").display().to_string()
    }

    fn in_root(&self, args: &[&str]) -> Finished {
        finish(airlock().current_dir(&self.root).args(args))
    }

    /// Runs the hostile suite with the null agent into `run.bundle`.
    fn run(&self, extra: &[&str]) -> Finished {
        let key = self.key.private.display().to_string();
        let suite = self.suite();
        let seed = seed(7);
        let mut args: Vec<&str> = vec![
            "run",
            "--suite",
            suite.as_str(),
            "--unsigned-suite",
            "--agent",
            "null",
            "--key",
            key.as_str(),
            "--out",
            "run.bundle",
            "--seed",
            seed.as_str(),
        ];
        args.extend_from_slice(extra);
        self.in_root(&args)
    }

    fn bundle(&self) -> PathBuf {
        self.root.join("run.bundle")
    }

    fn trust(&self) -> String {
        self.key.public.display().to_string()
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `run`'s results table and its logs (`-v`: a line per durable result,
/// naming the task).
#[test]
fn run_table_and_logs_escape_task_ids() {
    let s = Setup::new();
    let done = s.run(&["-v"]);
    done.expect_code(0);
    assert_both_clean(&done);
    assert!(done.stdout.contains(SHOWN), "{done}");
    assert!(done.stderr.contains("result durable"), "{done}");
    assert!(done.stderr.contains(SHOWN), "{done}");
}

/// `run --json`: the same id, decoded, with nothing raw on the terminal.
#[test]
fn run_json_keeps_the_id_and_escapes_it() {
    let s = Setup::new();
    let done = s.run(&["--json"]);
    done.expect_code(0);
    assert_both_clean(&done);
    let json = done.json();
    assert_eq!(json["results"][0]["task_id"], hostile_id(), "{done}");
}

/// `suite list`, `suite build` and `suite verify` print each task's id and
/// description; `suite list --json` its title too.
#[test]
fn suite_commands_escape_module_metadata() {
    let s = Setup::new();
    let suite = s.suite();
    let done = s.in_root(&["suite", "list", "--suite", &suite, "--unsigned-suite"]);
    done.expect_code(0);
    assert_both_clean(&done);
    assert!(done.stdout.contains(SHOWN), "{done}");
    assert!(done.stdout.contains("description\\u{1b}[31m"), "{done}");

    let done = s.in_root(&[
        "suite",
        "list",
        "--suite",
        &suite,
        "--unsigned-suite",
        "--json",
    ]);
    done.expect_code(0);
    assert_both_clean(&done);
    assert_eq!(done.json()[0]["id"], hostile_id());

    let authority = keygen_named(&s.root.join("auth"), "authority");
    let key = path(&authority.private);
    let done = s.in_root(&["suite", "build", &suite, "--key", &key]);
    done.expect_code(0);
    assert_both_clean(&done);
    let trust = path(&authority.public);
    let done = s.in_root(&["suite", "verify", &suite, "--trust", &trust]);
    done.expect_code(0);
    assert_both_clean(&done);
    assert!(done.stdout.contains(SHOWN), "{done}");
}

/// `profile check` names each task it measured.
#[test]
fn profile_check_escapes_task_ids() {
    let s = Setup::new();
    let suite = s.suite();
    let done = s.in_root(&[
        "profile",
        "check",
        "default",
        "--suite",
        &suite,
        "--unsigned-suite",
        "--seeds",
        "1",
    ]);
    assert_both_clean(&done);
    assert!(done.stdout.contains(SHOWN), "{done}");
}

/// `verify` of a bundle whose plan does not match the suite: the suite
/// level's reason and the failure message quote the planned task id.
#[test]
fn verify_escapes_reasons_from_the_bundle() {
    let s = Setup::new();
    s.run(&[]).expect_code(0);
    let bundle = path(&s.bundle());
    let trust = s.trust();
    let done = s.in_root(&["verify", &bundle, "--trust", &trust, "--suite", "default"]);
    done.expect_code(1);
    assert_both_clean(&done);
    assert!(done.stdout.contains("suite: failed"), "{done}");
    assert!(done.stdout.contains(SHOWN), "{done}");

    let done = s.in_root(&[
        "verify", &bundle, "--trust", &trust, "--suite", "default", "--json",
    ]);
    done.expect_code(1);
    assert_both_clean(&done);
    done.json();
}

/// `report`'s table and JSON, and `report A B`.
#[test]
fn report_escapes_task_ids() {
    let s = Setup::new();
    s.run(&[]).expect_code(0);
    let bundle = path(&s.bundle());
    let trust = s.trust();
    for format in ["table", "json"] {
        let done = s.in_root(&["report", &bundle, "--trust", &trust, "--format", format]);
        done.expect_code(0);
        assert_both_clean(&done);
        let done = s.in_root(&[
            "report", &bundle, &bundle, "--trust", &trust, "--format", format,
        ]);
        done.expect_code(0);
        assert_both_clean(&done);
    }
}

/// `disclose` names the task it disclosed.
#[test]
fn disclose_escapes_the_task_id() {
    let s = Setup::new();
    s.run(&[]).expect_code(0);
    let bundle = path(&s.bundle());
    let key = path(&s.key.private);
    let id = hostile_id();
    let done = s.in_root(&[
        "disclose", &bundle, "--task", &id, "--key", &key, "--out", "d.json",
    ]);
    done.expect_code(0);
    assert_both_clean(&done);
    assert!(done.stderr.contains(SHOWN), "{done}");

    // A disclosure file whose task id was changed to other hostile text
    // fails the disclosed level; its reason is escaped too.
    let text = std::fs::read_to_string(s.root.join("d.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["task_id"] = format!("other\x1b[2J\n{FORGED}").into();
    std::fs::write(s.root.join("forged.json"), value.to_string()).unwrap();
    let trust = s.trust();
    let done = s.in_root(&[
        "verify",
        &bundle,
        "--trust",
        &trust,
        "--disclosed",
        "forged.json",
    ]);
    done.expect_code(1);
    assert_both_clean(&done);
}
