//! `airlock verify` over several bundles of one station, and the suite
//! level, through the real binary: human output, JSON and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use airlock_tests::*;

/// Four runs of one station: run1 … run4.
fn four_runs(dir: &std::path::Path) -> (Key, Vec<PathBuf>) {
    let key = keygen(&dir.join("keys"));
    let bundles: Vec<PathBuf> = (1..=4)
        .map(|n| {
            let out = dir.join(format!("run{n}.bundle"));
            Run::new("null", &key, &out)
                .seed(seed(n))
                .finish()
                .expect_code(0);
            out
        })
        .collect();
    (key, bundles)
}

fn verify_many(bundles: &[&PathBuf], key: &Key, extra: &[&str]) -> Finished {
    finish(
        airlock()
            .arg("verify")
            .args(bundles)
            .arg("--trust")
            .arg(&key.public)
            .args(extra),
    )
}

#[test]
fn station_chain_across_bundles_names_the_missing_run() {
    let dir = tempfile::tempdir().unwrap();
    let (key, b) = four_runs(dir.path());

    // The whole chain, given out of order, passes.
    let done = verify_many(&[&b[2], &b[0], &b[3], &b[1]], &key, &[]);
    done.expect_code(0);
    assert!(
        done.stdout
            .contains(&format!("station {}: passed (runs 1, 2, 3, 4)", key.id)),
        "{done}"
    );
    let json = verify_many(&[&b[0], &b[1]], &key, &["--json"]).json();
    assert_eq!(json["format"], "airlock-verdicts/1");
    assert_eq!(json["verified"], true);
    assert_eq!(json["bundles"].as_array().unwrap().len(), 2);
    assert_eq!(json["bundles"][1]["station_run_counter"], 2);
    assert_eq!(
        json["bundles"][1]["previous_run_start_hash"],
        json["bundles"][0]["run_start_hash"]
    );
    assert_eq!(json["stations"][0]["status"], "passed");

    // Run 3 held back: named, exit 1, in both outputs.
    let done = verify_many(&[&b[0], &b[1], &b[3]], &key, &[]);
    done.expect_code(1);
    assert!(
        done.stdout.contains("  run 3 missing between 2 and 4"),
        "{done}"
    );
    assert!(done.stdout.ends_with("NOT VERIFIED\n"), "{done}");
    assert!(
        done.stderr.contains("run 3 missing between 2 and 4"),
        "{done}"
    );
    let done = verify_many(&[&b[0], &b[1], &b[3]], &key, &["--json"]);
    done.expect_code(1);
    let json = done.json();
    assert_eq!(json["verified"], false);
    assert_eq!(json["stations"][0]["status"], "failed");
    assert_eq!(
        json["stations"][0]["missing"],
        serde_json::json!([{"from": 3, "to": 3}])
    );
    assert_eq!(
        json["stations"][0]["reason"],
        "run 3 missing between 2 and 4"
    );

    // The same run given twice is named.
    let done = verify_many(&[&b[0], &b[0]], &key, &[]);
    done.expect_code(1);
    assert!(
        done.stdout.contains("run 1 is given more than once"),
        "{done}"
    );

    // A tampered bundle is left out of the chain, so its run is missing.
    let mut bytes = std::fs::read(&b[2]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    let tampered = dir.path().join("run3-tampered.bundle");
    std::fs::write(&tampered, bytes).unwrap();
    let done = verify_many(&[&b[1], &tampered, &b[3]], &key, &[]);
    done.expect_code(1);
    assert!(
        done.stdout.contains("run 3 missing between 2 and 4"),
        "{done}"
    );
    assert!(
        done.stdout.contains("left out of the station chain"),
        "{done}"
    );
}

#[test]
fn suite_level_against_the_embedded_suite() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    Run::new("null", &key, &out)
        .seed(seed(2))
        .finish()
        .expect_code(0);
    let done = verify(&out, &key.public, &["--suite", "default"]);
    done.expect_code(0);
    assert!(
        done.stdout
            .contains("suite: passed (checked against the embedded suite \"default\""),
        "{done}"
    );
    let (code, json) = {
        let done = verify(&out, &key.public, &["--suite", "default", "--json"]);
        (done.code(), done.json())
    };
    assert_eq!(code, 0);
    assert_eq!(json["levels"][4]["level"], "suite");
    assert_eq!(json["levels"][4]["status"], "passed");

    let done = verify(&out, &key.public, &["--suite", "no-such-dir"]);
    done.expect_code(2);
    assert!(
        done.stderr.contains("no-such-dir: no such suite directory"),
        "{done}"
    );
}

#[test]
fn the_verdict_does_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let out = dir.path().join("run.bundle");
    Run::new("reference", &key, &out)
        .seed(seed(5))
        .arg("--epochs")
        .arg("3")
        .finish()
        .expect_code(0);
    let mut tampered = std::fs::read(&out).unwrap();
    let at = tampered.len() - 200;
    tampered[at] ^= 0x04;
    let bad = dir.path().join("bad.bundle");
    std::fs::write(&bad, tampered).unwrap();
    for bundle in [&out, &bad] {
        let runs: Vec<String> = ["1", "2", "5"]
            .iter()
            .map(|t| verify(bundle, &key.public, &["--json", "--threads", t]).stdout)
            .collect();
        assert_eq!(runs[0], runs[1]);
        assert_eq!(runs[0], runs[2]);
    }
    verify(&out, &key.public, &["--threads", "0"]).expect_code(2);
}
