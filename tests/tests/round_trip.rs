//! keygen → run → verify: the path every evaluator and verifier takes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_tests::*;

#[test]
fn keygen_run_verify_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle = dir.path().join("run.bundle");
    Run::new("reference", &key, &bundle)
        .seed(seed(1))
        .finish()
        .expect_code(0);
    assert!(bundle.is_file(), "run wrote no bundle");

    let plain = verify(&bundle, &key.public, &[]);
    plain.expect_code(0);
    for level in LEVELS {
        assert!(plain.stdout.contains(level), "no line for {level}: {plain}");
    }

    let (code, report) = verify_json(&bundle, &key.public);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["verified"],
        serde_json::Value::Bool(true),
        "{report}"
    );
    let levels = levels(&report);
    for level in LEVELS {
        assert!(
            levels.iter().any(|(l, s)| l == level && s == "passed"),
            "{level} not passed: {report}"
        );
    }
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen_named(dir.path(), "station-7");
    assert!(key.private.ends_with("station-7.key"));
    assert!(key.public.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key.private)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "private key mode {mode:o}");
    }
}

#[test]
fn keygen_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let before = std::fs::read(&key.private).unwrap();
    let again = finish(airlock().arg("keygen").arg("--out").arg(dir.path()));
    again.expect_code(2);
    assert_eq!(
        std::fs::read(&key.private).unwrap(),
        before,
        "key was overwritten"
    );
}

#[test]
fn verify_under_another_key_fails_at_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let stranger = keygen_named(dir.path(), "stranger");
    let bundle = dir.path().join("run.bundle");
    Run::new("null", &key, &bundle).finish().expect_code(0);

    let done = verify(&bundle, &stranger.public, &[]);
    done.expect_code(1);
    assert!(done.stdout.contains("signatures"), "{done}");
    let (code, report) = verify_json(&bundle, &stranger.public);
    assert_eq!(code, 1);
    assert_eq!(
        report["verified"],
        serde_json::Value::Bool(false),
        "{report}"
    );
    assert!(
        levels(&report)
            .iter()
            .any(|(l, s)| l == "signatures" && s == "failed"),
        "{report}"
    );
}

#[test]
fn verify_of_a_missing_file_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let done = verify(&dir.path().join("no-such.bundle"), &key.public, &[]);
    done.expect_code(2);
    assert!(done.stderr.contains("no-such.bundle"), "{done}");
}
