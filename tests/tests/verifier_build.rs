//! The verifier's build (`airlock` built without its `sandbox` feature),
//! named by `AIRLOCK_VERIFY_BIN`: on a bundle the full binary made, and on a
//! tampered copy, `verify --json`, `report` and `export` give what the full
//! binary gives, to the byte and the exit code; `--replay` and the commands
//! that run tasks are refused. `cargo xtask test` builds it and sets the
//! variable; without it the test is skipped with a warning on a developer
//! machine, and fails under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_tests::*;

fn verify_bin() -> Option<PathBuf> {
    match airlock_verify_bin() {
        Some(path) => Some(path),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "\n\n*** AIRLOCK_VERIFY_BIN is not set under CI=true: the verifier's build cannot be \
             checked. `cargo xtask test` (and so .ci/run) builds it and sets it. ***\n\n"
        ),
        _ => {
            eprintln!(
                "\n*** WARNING: AIRLOCK_VERIFY_BIN is not set: skipping the verifier build test. \
                 Build it with `cargo build --release -p airlock --no-default-features \
                 --target-dir target/verifier` and set AIRLOCK_VERIFY_BIN to its airlock, or run \
                 `cargo xtask test`. ***\n"
            );
            None
        }
    }
}

/// The same command under the full binary and the verifier's build.
fn both(verifier: &Path, args: &[&std::ffi::OsStr]) -> (Finished, Finished) {
    let full = finish(airlock().args(args));
    let small = finish(airlock_at(verifier).args(args));
    (full, small)
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

#[test]
fn the_verifier_build_verifies_reports_and_exports_as_the_full_binary_does() {
    let Some(verifier) = verify_bin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle = dir.path().join("run.bundle");
    Run::new("reference", &key, &bundle)
        .seed(seed(7))
        .finish()
        .expect_code(0);
    let tampered = dir.path().join("tampered.bundle");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let last = bytes.len() - 1;
    bytes[last / 2] ^= 0x01;
    std::fs::write(&tampered, &bytes).unwrap();

    for (file, code) in [(&bundle, 0), (&tampered, 1)] {
        let trust = key.public.as_os_str();
        let cases: [Vec<&std::ffi::OsStr>; 3] = [
            vec![
                os("verify"),
                file.as_os_str(),
                os("--trust"),
                trust,
                os("--json"),
            ],
            vec![
                os("verify"),
                file.as_os_str(),
                os("--trust"),
                trust,
                os("--suite"),
                os("default"),
            ],
            vec![
                os("report"),
                file.as_os_str(),
                os("--trust"),
                trust,
                os("--format"),
                os("json"),
            ],
        ];
        for args in cases {
            let (full, small) = both(&verifier, &args);
            full.expect_code(code);
            small.expect_code(code);
            assert_eq!(full.stdout, small.stdout, "{args:?}");
            assert_eq!(full.stderr, small.stderr, "{args:?}");
        }
    }

    let (full_out, small_out) = (dir.path().join("dsse-full"), dir.path().join("dsse-small"));
    let export = |mut command: Command, out: &Path| {
        command
            .arg("export")
            .arg(&bundle)
            .arg("--dsse")
            .arg(out)
            .arg("--key")
            .arg(&key.private);
        finish(&mut command).expect_code(0);
    };
    export(airlock(), &full_out);
    export(Command::new(&verifier), &small_out);
    for name in ["results.intoto.jsonl", "signer.pub"] {
        assert_eq!(
            std::fs::read(full_out.join(name)).unwrap(),
            std::fs::read(small_out.join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn the_verifier_build_refuses_replay_and_has_no_run() {
    let Some(verifier) = verify_bin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle = dir.path().join("run.bundle");
    Run::new("null", &key, &bundle).finish().expect_code(0);

    let replay = finish(
        Command::new(&verifier)
            .arg("verify")
            .arg(&bundle)
            .arg("--trust")
            .arg(&key.public)
            .arg("--replay"),
    );
    replay.expect_code(2);
    assert!(replay.stdout.is_empty(), "{replay}");
    assert_eq!(replay.stderr.lines().count(), 1, "{replay}");
    assert!(replay.stderr.contains("verifier's build"), "{replay}");

    for command in ["run", "demo", "disclose"] {
        let done = finish(Command::new(&verifier).arg(command));
        done.expect_code(2);
    }
    let help = finish(Command::new(&verifier).arg("--help"));
    help.expect_code(0);
    for absent in ["  run ", "  demo ", "  disclose "] {
        assert!(!help.stdout.contains(absent), "{help}");
    }
}

/// `suite verify` checks the signature and every digest without compiling:
/// it passes and fails the suites the full binary passes and fails, with
/// the same exit codes and the same last line on success.
#[test]
fn the_verifier_build_verifies_suites_as_the_full_binary_does() {
    let Some(verifier) = verify_bin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let authority = keygen_named(dir.path(), "authority");
    let suite = dir.path().join("suite");
    export_signed_default_suite(&suite, &authority);
    let good: Vec<&std::ffi::OsStr> = vec![
        os("suite"),
        os("verify"),
        suite.as_os_str(),
        os("--trust"),
        authority.public.as_os_str(),
    ];
    let run_both = |args: &[&std::ffi::OsStr]| both(&verifier, args);
    let (full, small) = run_both(&good);
    full.expect_code(0);
    small.expect_code(0);
    assert_eq!(full.stdout.lines().last(), small.stdout.lines().last());
    assert_eq!(small.stdout.lines().count(), 1 + 8 + 1, "{small}");

    let module = std::fs::read_dir(&suite)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        .unwrap();
    let mut bytes = std::fs::read(&module).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&module, &bytes).unwrap();
    let (full, small) = run_both(&good);
    full.expect_code(1);
    small.expect_code(1);
    assert!(small.stdout.is_empty(), "{small}");
}
