//! The station log end to end (SPEC.md, "Station log", "Witness",
//! "Verifying against a log policy"): receipts beside bundles, a hidden
//! run named by its log index, forks refused by the witness and reported by
//! the verifier, quorums of cosignatures, and one-byte changes to a
//! receipt named by part.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airlock_tests::*;

fn airlock_in(args: &[&std::ffi::OsStr]) -> Finished {
    finish(airlock().args(args))
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

/// `airlock log SUB --key KEY ARGS… --out OUT`; asserts success.
#[track_caller]
fn log_to(sub: &str, key: &Key, args: &[&str], out: &Path) {
    let mut command = airlock();
    command
        .args(["log", sub, "--key"])
        .arg(&key.private)
        .args(args)
        .arg("--out")
        .arg(out);
    finish(&mut command).expect_code(0);
}

fn run(key: &Key, dir: &Path, name: &str, seed_byte: u8) -> PathBuf {
    let bundle = dir.join(format!("{name}.bundle"));
    Run::new("null", key, &bundle)
        .seed(seed(seed_byte))
        .finish()
        .expect_code(0);
    bundle
}

fn log_vkey(key: &Key) -> String {
    let done = airlock_in(&[os("log"), os("vkey"), os("--public"), os(&key.public)]);
    done.expect_code(0);
    done.stdout.trim().to_owned()
}

fn witness_vkey(key: &Key, name: &str) -> String {
    let done = airlock_in(&[
        os("witness"),
        os("vkey"),
        os("--public"),
        os(&key.public),
        os("--name"),
        os(name),
    ]);
    done.expect_code(0);
    done.stdout.trim().to_owned()
}

fn write_policy(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn verify(key: &Key, bundles: &[&Path], policy: &Path, extra: &[(&str, &Path)]) -> Finished {
    let mut command = airlock();
    command
        .arg("verify")
        .args(bundles)
        .arg("--trust")
        .arg(&key.public);
    command.arg("--log-policy").arg(policy).arg("--json");
    for (flag, path) in extra {
        command.arg(flag).arg(path);
    }
    finish(&mut command)
}

fn cosign(witness: &Key, name: &str, log: &Key, state: &Path, request: &Path) -> Finished {
    finish(
        airlock()
            .args(["witness", "cosign"])
            .arg(request)
            .arg("--key")
            .arg(&witness.private)
            .args(["--name", name])
            .arg("--log-key")
            .arg(&log.public)
            .arg("--state")
            .arg(state)
            .args(["--time", "1700000000"]),
    )
}

#[test]
fn every_run_leaves_a_receipt_that_verifies_under_a_policy_without_witnesses() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle = run(&key, dir.path(), "one", 1);
    let receipt = std::fs::read_to_string(format!("{}.tlog-proof", bundle.display())).unwrap();
    assert!(
        receipt.starts_with("c2sp.org/tlog-proof@v1\nindex 0\n"),
        "{receipt}"
    );
    assert!(
        receipt.contains(&format!("\n\nairlock/station/{}\n1\n", key.id)),
        "{receipt}"
    );
    let policy = write_policy(
        dir.path(),
        "policy",
        &format!(
            "# one station, no witnesses\nlog {}\nquorum none\n",
            log_vkey(&key)
        ),
    );
    let done = verify(&key, &[&bundle], &policy, &[]);
    done.expect_code(0);
    let json = done.json();
    let log = json["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == "log")
        .unwrap_or_else(|| panic!("no log level: {json}"));
    assert_eq!(log["status"], "passed", "{json}");
    assert_eq!(json["logs"][0]["size"], 1, "{json}");
    assert_eq!(json["logs"][0]["shown"], serde_json::json!([0]), "{json}");

    // The policy of another station's log does not vouch for this one.
    let other = keygen_named(dir.path(), "other");
    let foreign = write_policy(
        dir.path(),
        "foreign",
        &format!("log {}\nquorum none\n", log_vkey(&other)),
    );
    let done = verify(&key, &[&bundle], &foreign, &[]);
    done.expect_code(1);
    assert!(done.stderr.contains("the policy lists no log"), "{done}");

    // A missing receipt fails the level; a policy that does not parse is
    // bad input naming its line.
    std::fs::remove_file(format!("{}.tlog-proof", bundle.display())).unwrap();
    let done = verify(&key, &[&bundle], &policy, &[]);
    done.expect_code(1);
    assert!(done.stderr.contains("receipt:"), "{done}");
    let broken = write_policy(dir.path(), "broken", "log not-a-vkey\nquorum none\n");
    let done = verify(&key, &[&bundle], &broken, &[]);
    done.expect_code(2);
    assert!(
        done.stderr.contains("broken") && done.stderr.contains("line 1"),
        "{done}"
    );
}

#[test]
fn a_run_held_back_from_the_verifier_is_named_by_its_log_index() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = keygen(d);
    let mut bundles = Vec::new();
    let after_two = d.join("after-2.checkpoint");
    for i in 1..=5u8 {
        bundles.push(run(&key, d, &format!("run{i}"), i));
        if i == 2 {
            // What a verifier was shown earlier and kept.
            log_to("checkpoint", &key, &[], &after_two);
        }
    }
    // The station exports runs 1, 2, 4 and 5 with receipts made now, all
    // against the checkpoint of 5 runs, and the consistency proof from 2.
    for i in [1u64, 2, 4, 5] {
        let out = PathBuf::from(format!("{}.tlog-proof", bundles[i as usize - 1].display()));
        log_to("prove", &key, &["--run", &i.to_string(), "--force"], &out);
    }
    let proof = d.join("2-to-5.consistency");
    log_to("consistency", &key, &["--from", "2"], &proof);
    let policy = write_policy(
        d,
        "policy",
        &format!("log {}\nquorum none\n", log_vkey(&key)),
    );
    let shown: Vec<&Path> = [0, 1, 3, 4].iter().map(|&i| bundles[i].as_path()).collect();
    let evidence = [
        ("--checkpoint", after_two.as_path()),
        ("--consistency", proof.as_path()),
    ];

    let done = verify(&key, &shown, &policy, &evidence);
    done.expect_code(1);
    let json = done.json();
    let log = &json["logs"][0];
    assert_eq!(log["size"], 5, "{json}");
    assert_eq!(log["shown"], serde_json::json!([0, 1, 3, 4]), "{json}");
    assert_eq!(
        log["not_shown"],
        serde_json::json!([{"from": 2, "to": 2}]),
        "{json}"
    );
    // The station chain sees the gap in counters too; the log names the
    // index, and would see it even after the last run shown.
    assert_eq!(
        log["reason"], "log index 2 was not shown: the log holds 5 runs and 4 were shown",
        "{json}"
    );
    // Every receipt itself is fine: it is the set that is not.
    for b in json["bundles"].as_array().unwrap() {
        assert_eq!(b["verified"], true, "{b}");
    }

    // All five, with run 3's receipt made against the same checkpoint (its
    // own, of size 3, is not joined to 5 by any proof given), are one
    // history with nothing held back.
    let out = PathBuf::from(format!("{}.tlog-proof", bundles[2].display()));
    log_to("prove", &key, &["--run", "3", "--force"], &out);
    let all: Vec<&Path> = bundles.iter().map(PathBuf::as_path).collect();
    verify(&key, &all, &policy, &evidence).expect_code(0);
    // Without the consistency proof the kept checkpoint is not joined to
    // the newest: the verifier says what to ask for.
    let done = verify(
        &key,
        &all,
        &policy,
        &[("--checkpoint", after_two.as_path())],
    );
    done.expect_code(1);
    assert!(
        done.stderr.contains("not proven part of the history")
            && done
                .stderr
                .contains("airlock log consistency --from 2 --to 5"),
        "{done}"
    );
    // The last run held back shows too: the checkpoint's size says it exists.
    let first_four: Vec<&Path> = bundles[..4].iter().map(PathBuf::as_path).collect();
    for i in 1..=4u64 {
        let out = PathBuf::from(format!("{}.tlog-proof", bundles[i as usize - 1].display()));
        log_to("prove", &key, &["--run", &i.to_string(), "--force"], &out);
    }
    let done = verify(&key, &first_four, &policy, &evidence);
    done.expect_code(1);
    assert!(done.stderr.contains("log index 4 was not shown"), "{done}");
}

#[test]
fn a_witness_cosigns_only_one_history_and_the_verifier_reports_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = keygen(d);
    let witness = keygen_named(d, "witness");
    let name = "witness.example/w1";
    let state = d.join("w1.state");
    let station = key.private.with_extension("station");

    run(&key, d, "run1", 1);
    run(&key, d, "run2", 2);
    let saved = std::fs::read(&station).unwrap();
    let a3 = run(&key, d, "a3", 3);
    // The witness sees the log for the first time (from size 0), then
    // holds size 3.
    let request = d.join("0-to-3");
    log_to("consistency", &key, &["--from", "0"], &request);
    let done = cosign(&witness, name, &key, &state, &request);
    done.expect_code(0);
    let cosigned_a = d.join("a3.cosigned");
    std::fs::write(&cosigned_a, &done.stdout).unwrap();
    assert!(done.stdout.contains(&format!("\n— {name} ")), "{done}");

    // A quorum of that witness: the receipt alone fails, with the witness's
    // copy it passes.
    let policy = write_policy(
        d,
        "policy",
        &format!(
            "log {}\nwitness w1 {}\nquorum w1\n",
            log_vkey(&key),
            witness_vkey(&witness, name)
        ),
    );
    let done = verify(&key, &[&a3], &policy, &[]);
    done.expect_code(1);
    assert!(done.stderr.contains("quorum"), "{done}");
    verify(
        &key,
        &[&a3],
        &policy,
        &[("--checkpoint", cosigned_a.as_path())],
    )
    .expect_code(0);

    // The station state is restored to before run 3 and run 3 is made
    // again, differently: a second history under the same log.
    std::fs::write(&station, &saved).unwrap();
    let b3 = run(&key, d, "b3", 33);
    let checkpoint_b = d.join("b3.checkpoint");
    log_to("checkpoint", &key, &[], &checkpoint_b);

    // The witness holds size 3 of the first history: the same size with
    // another root is a fork, refused.
    let request = d.join("3-to-3");
    log_to("consistency", &key, &["--from", "3"], &request);
    let done = cosign(&witness, name, &key, &state, &request);
    done.expect_code(1);
    assert!(
        done.stderr.contains("FORK") && done.stderr.contains("refusing"),
        "{done}"
    );
    // A request from a size the witness does not hold is bad input naming both.
    let request0 = d.join("0-to-3-again");
    log_to("consistency", &key, &["--from", "0"], &request0);
    let done = cosign(&witness, name, &key, &state, &request0);
    done.expect_code(2);
    assert!(
        done.stderr.contains("size 3") && done.stderr.contains("size 0"),
        "{done}"
    );

    // The verifier given both checkpoints of size 3 reports the fork with
    // both roots.
    let none = write_policy(d, "none", &format!("log {}\nquorum none\n", log_vkey(&key)));
    let done = verify(
        &key,
        &[&b3],
        &none,
        &[("--checkpoint", cosigned_a.as_path())],
    );
    done.expect_code(1);
    assert!(
        done.stderr
            .contains("FORK: two checkpoints of size 3 with different roots"),
        "{done}"
    );

    // The second history grows to 4; its consistency proof from 3 does not
    // start from the first history's size-3 root.
    let b4 = run(&key, d, "b4", 34);
    let request = d.join("3-to-4");
    log_to("consistency", &key, &["--from", "3"], &request);
    let done = verify(
        &key,
        &[&b4],
        &none,
        &[
            ("--checkpoint", cosigned_a.as_path()),
            ("--consistency", request.as_path()),
        ],
    );
    done.expect_code(1);
    assert!(
        done.stderr.contains("FORK: the checkpoint of size 3")
            && done
                .stderr
                .contains("is not consistent with the checkpoint of size 4"),
        "{done}"
    );
    // And the witness refuses it too.
    let done = cosign(&witness, name, &key, &state, &request);
    done.expect_code(1);
    assert!(done.stderr.contains("FORK"), "{done}");
    let _ = checkpoint_b;
}

/// Changes one base64 character of line `line` (0-based) of `text`.
fn alter_line(text: &str, line: usize, column: usize) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let target = &mut lines[line];
    let mut bytes = target.clone().into_bytes();
    bytes[column] = if bytes[column] == b'A' { b'B' } else { b'A' };
    *target = String::from_utf8(bytes).unwrap();
    lines.join("\n")
}

#[test]
fn a_receipt_altered_by_one_byte_fails_naming_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = keygen(d);
    run(&key, d, "run1", 1);
    let bundle = run(&key, d, "run2", 2);
    let receipt_path = PathBuf::from(format!("{}.tlog-proof", bundle.display()));
    let receipt = std::fs::read_to_string(&receipt_path).unwrap();
    let policy = write_policy(
        d,
        "policy",
        &format!("log {}\nquorum none\n", log_vkey(&key)),
    );
    verify(&key, &[&bundle], &policy, &[]).expect_code(0);
    // c2sp.org/tlog-proof@v1 / index 1 / one proof hash / blank /
    // origin / size / root / blank / signature line.
    let lines: Vec<&str> = receipt.split('\n').collect();
    assert_eq!(lines[1], "index 1", "{receipt}");
    let signature_line = lines.iter().position(|l| l.starts_with("— ")).unwrap();
    let cases = [
        (2, 5, "receipt inclusion proof"),
        (6, 5, "receipt checkpoint"),
        (
            signature_line,
            signature_line_column(lines[signature_line]),
            "receipt signature line",
        ),
        (1, 6, "index"),
        (0, 3, "header"),
    ];
    for (line, column, expected) in cases {
        let altered = alter_line(&receipt, line, column);
        std::fs::write(&receipt_path, &altered).unwrap();
        let done = verify(&key, &[&bundle], &policy, &[]);
        assert_eq!(done.code(), 1, "line {line}: {done}");
        assert!(
            done.stderr.contains(expected),
            "line {line}, expected {expected:?}: {done}"
        );
    }
}

/// A column inside the signature's base64, past the 4-byte key id.
fn signature_line_column(line: &str) -> usize {
    line.rfind(' ').unwrap() + 20
}

#[test]
fn log_commands_refuse_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = keygen(d);
    // No station yet: nothing to prove.
    let done = finish(
        airlock()
            .args(["log", "checkpoint", "--key"])
            .arg(&key.private),
    );
    done.expect_code(2);
    assert!(done.stderr.contains("no station state"), "{done}");
    run(&key, d, "run1", 1);
    let done = finish(
        airlock()
            .args(["log", "prove", "--run", "7", "--key"])
            .arg(&key.private),
    );
    done.expect_code(2);
    assert!(
        done.stderr.contains("run 7 is not in the station log"),
        "{done}"
    );
    let done = finish(
        airlock()
            .args(["log", "consistency", "--from", "3", "--key"])
            .arg(&key.private),
    );
    done.expect_code(2);
    let done = finish(
        airlock()
            .args(["log", "checkpoint", "--size", "2", "--key"])
            .arg(&key.private),
    );
    done.expect_code(2);
    assert!(done.stderr.contains("holds 1 runs, not 2"), "{done}");
    // A request file that is not one is named.
    let junk = d.join("junk.request");
    std::fs::write(&junk, "old x\n").unwrap();
    let witness = keygen_named(d, "w");
    let done = cosign(&witness, "w.example", &key, &d.join("w.state"), &junk);
    done.expect_code(2);
    assert!(done.stderr.contains("junk.request"), "{done}");
    assert!(
        !d.join("w.state").exists(),
        "a refused request must not write the state"
    );
}
