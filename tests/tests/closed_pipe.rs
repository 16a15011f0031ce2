//! A reader that stops early (`airlock report ... | head`) ends every
//! command quietly: exit 0 and nothing on stderr, as other command-line
//! tools do, whether the pipe closed before the first write or in the
//! middle of a large one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use airlock_tests::*;

/// Linux's default pipe capacity: an output larger than this plus what the
/// reader takes is still being written when the reader goes away.
const PIPE_CAPACITY: usize = 64 * 1024;

/// What the reader takes before it closes the pipe.
const TAKEN: usize = 16;

/// Enough epochs that the JSON and HTML reports outgrow the pipe.
const EPOCHS: &str = "48";

/// Exit code and stderr of `command` writing into a pipe whose reader is
/// gone before it starts, so its very first write fails.
fn into_closed_pipe(command: &mut Command) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("cannot make a pipe");
    drop(reader);
    let child = command
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // The command holds the only copy of the writer now.
    end(command, child)
}

/// Exit code and stderr of `command` writing to a reader that takes a few
/// bytes and then closes the pipe while the command is still writing.
fn into_short_reader(command: &mut Command) -> (i32, String) {
    let mut child = spawn_piped(command);
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut first = [0u8; TAKEN];
    stdout
        .read_exact(&mut first)
        .expect("the command printed nothing");
    drop(stdout);
    end(command, child)
}

fn end(command: &Command, mut child: Child) -> (i32, String) {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("stderr is not text");
    let Some(status) = wait_until(&mut child, Instant::now() + COMMAND_TIMEOUT) else {
        let _ = child.kill();
        panic!("{command:?} did not end after its reader went away");
    };
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{command:?} was ended by a signal: {status}; {stderr}"));
    (code, stderr)
}

#[track_caller]
fn assert_quiet(what: &str, (code, stderr): (i32, String)) {
    assert_eq!(
        (code, stderr.as_str()),
        (0, ""),
        "{what} on a closed pipe: exit {code}, stderr:\n{stderr}"
    );
}

fn report(bundles: &[&Path], trust: &Path, format: &str) -> Command {
    let mut command = airlock();
    command
        .arg("report")
        .args(bundles)
        .arg("--trust")
        .arg(trust)
        .args(["--format", format]);
    command
}

fn verify_json(bundle: &Path, trust: &Path) -> Command {
    let mut command = airlock();
    command.arg("verify").arg(bundle).arg("--trust").arg(trust);
    command.arg("--json");
    command
}

/// One multi-epoch run serves every check: the run is the slow part.
#[test]
fn every_printer_ends_quietly_when_its_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let first = dir.path().join("first.bundle");
    let second = dir.path().join("second.bundle");
    for (bundle, byte) in [(&first, 1), (&second, 2)] {
        Run::new("reference", &key, bundle)
            .seed(seed(byte))
            .arg("--epochs")
            .arg(EPOCHS)
            .finish()
            .expect_code(0);
    }
    let trust = key.public.as_path();

    for format in ["table", "json", "html"] {
        assert_quiet(
            &format!("report --format {format}"),
            into_closed_pipe(&mut report(&[&first], trust, format)),
        );
        assert_quiet(
            &format!("report A B --format {format}"),
            into_closed_pipe(&mut report(&[&first, &second], trust, format)),
        );
    }
    let mut suite_list = airlock();
    suite_list.args(["suite", "list", "--json"]);
    assert_quiet("suite list --json", into_closed_pipe(&mut suite_list));
    assert_quiet(
        "verify --json",
        into_closed_pipe(&mut verify_json(&first, trust)),
    );
    let mut verify_suite = verify_json(&first, trust);
    verify_suite.args(["--suite", "default"]);
    assert_quiet(
        "verify --json --suite default",
        into_closed_pipe(&mut verify_suite),
    );

    for (what, bundles, format) in [
        ("report --format json", &[first.as_path()][..], "json"),
        ("report --format html", &[first.as_path()][..], "html"),
        (
            "report A B --format json",
            &[first.as_path(), second.as_path()][..],
            "json",
        ),
    ] {
        let whole = finish(&mut report(bundles, trust, format));
        whole.expect_code(0);
        assert!(
            whole.stdout.len() > PIPE_CAPACITY + TAKEN,
            "{what} prints {} bytes, too few to still be writing when the reader leaves",
            whole.stdout.len()
        );
        assert_quiet(what, into_short_reader(&mut report(bundles, trust, format)));
    }
}
