//! Suites from directories: signed manifests, digests checked before any
//! task runs, and the embedded suite exported as a template.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airlock_tests::*;

struct Fixture {
    _root: tempfile::TempDir,
    root: PathBuf,
    authority: Key,
    evaluator: Key,
    suite: PathBuf,
}

/// An authority key, an evaluator key and the embedded suite exported and signed.
fn exported() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().to_path_buf();
    let authority = keygen_named(&path.join("authority"), "authority");
    let evaluator = keygen(&path.join("evaluator"));
    let suite = path.join("suite");
    export_signed_default_suite(&suite, &authority);
    Fixture {
        _root: root,
        root: path,
        authority,
        evaluator,
        suite,
    }
}

fn signed_run(f: &Fixture, out: &Path) -> Run {
    let mut run = Run::new("reference", &f.evaluator, out).seed(seed(3));
    run.suite = f.suite.to_str().unwrap().to_owned();
    run.arg("--suite-trust")
        .arg(f.authority.public.to_str().unwrap())
}

fn suite_verify(f: &Fixture, trust: &Path) -> Finished {
    finish(
        airlock()
            .args(["suite", "verify"])
            .arg(&f.suite)
            .arg("--trust")
            .arg(trust),
    )
}

fn first_module(dir: &Path) -> PathBuf {
    let mut modules: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    modules.sort();
    modules.remove(0)
}

#[test]
fn exported_suite_verifies_and_runs_with_the_embedded_suite_digest() {
    let f = exported();
    suite_verify(&f, &f.authority.public).expect_code(0);
    let out = f.root.join("signed.bundle");
    let done = finish(signed_run(&f, &out).command().arg("--json"));
    done.expect_code(0);
    let signed = done.json();
    assert_eq!(
        signed["suite_trust"],
        format!("signed:{}", f.authority.id).as_str()
    );
    let embedded = finish(
        Run::new("reference", &f.evaluator, &f.root.join("embedded.bundle"))
            .seed(seed(3))
            .command()
            .arg("--json"),
    );
    embedded.expect_code(0);
    let embedded = embedded.json();
    assert_eq!(embedded["suite_trust"], "embedded");
    assert_eq!(signed["suite_digest"], embedded["suite_digest"]);
    assert_eq!(task_rows(&signed), task_rows(&embedded));
    verify(&out, &f.evaluator.public, &[]).expect_code(0);
}

#[test]
fn one_changed_module_byte_refuses_the_suite_before_any_task_runs() {
    let f = exported();
    let module = first_module(&f.suite);
    let mut bytes = std::fs::read(&module).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&module, &bytes).unwrap();

    let out = f.root.join("tampered.bundle");
    let done = signed_run(&f, &out).finish();
    done.expect_code(2);
    let name = module.file_name().unwrap().to_str().unwrap();
    assert!(
        done.stderr.contains(name) && done.stderr.contains("manifest"),
        "the error must name the module and the manifest: {done}"
    );
    assert!(!out.exists(), "no bundle may be written");
    assert!(!journal_of(&out).exists(), "no run may start");

    let verified = suite_verify(&f, &f.authority.public);
    verified.expect_code(1);
    assert!(verified.stderr.contains(name), "{verified}");
}

#[test]
fn a_manifest_signed_by_an_untrusted_key_is_refused() {
    let f = exported();
    let stranger = keygen_named(&f.root.join("stranger"), "stranger");
    let done = suite_verify(&f, &stranger.public);
    done.expect_code(1);
    assert!(
        done.stderr.contains(&f.authority.id),
        "names the signer: {done}"
    );
    let out = f.root.join("untrusted.bundle");
    let mut run = signed_run(&f, &out);
    run.extra = vec![
        "--suite-trust".into(),
        stranger.public.to_str().unwrap().into(),
    ];
    run.finish().expect_code(2);
    assert!(!out.exists());
}

#[test]
fn an_edited_manifest_is_refused() {
    let f = exported();
    let manifest = f.suite.join("suite.manifest");
    let mut bytes = std::fs::read(&manifest).unwrap();
    // A byte inside the signed body (after the 48-byte fixed part).
    bytes[50] ^= 0x20;
    std::fs::write(&manifest, &bytes).unwrap();
    suite_verify(&f, &f.authority.public).expect_code(1);
}

#[test]
fn a_module_not_in_the_manifest_is_refused() {
    let f = exported();
    std::fs::write(
        f.suite.join("zz-extra.wasm"),
        instant_done_module("smuggled"),
    )
    .unwrap();
    let done = suite_verify(&f, &f.authority.public);
    done.expect_code(1);
    assert!(done.stderr.contains("zz-extra.wasm"), "{done}");
}

#[test]
fn a_suite_directory_needs_a_trusted_manifest_or_unsigned_suite() {
    let f = exported();
    let out = f.root.join("plain.bundle");
    let mut run = Run::new("reference", &f.evaluator, &out).seed(seed(3));
    run.suite = f.suite.to_str().unwrap().to_owned();
    let done = run.finish();
    done.expect_code(2);
    assert!(done.stderr.contains("--unsigned-suite"), "{done}");
    let done = finish(run.command().arg("--unsigned-suite").arg("--json"));
    done.expect_code(0);
    assert_eq!(done.json()["suite_trust"], "unsigned");
}

#[test]
fn the_evaluator_key_cannot_be_the_suite_authority() {
    let f = exported();
    let out = f.root.join("same.bundle");
    let mut run = signed_run(&f, &out);
    run.key = f.authority.private.clone();
    let done = run.finish();
    done.expect_code(2);
    assert!(done.stderr.contains("separate authority key"), "{done}");
}

#[test]
fn suite_build_signs_a_directory_in_file_name_order() {
    let f = exported();
    let dev = f.root.join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    std::fs::write(dev.join("b.wasm"), instant_done_module("task-b")).unwrap();
    std::fs::write(dev.join("a.wasm"), instant_done_module("task-a")).unwrap();
    finish(
        airlock()
            .args(["suite", "build"])
            .arg(&dev)
            .arg("--key")
            .arg(&f.authority.private),
    )
    .expect_code(0);
    // A second build refuses to replace the manifest.
    finish(
        airlock()
            .args(["suite", "build"])
            .arg(&dev)
            .arg("--key")
            .arg(&f.authority.private),
    )
    .expect_code(2);
    let listed = finish(
        airlock()
            .args(["suite", "list", "--json", "--suite"])
            .arg(&dev)
            .arg("--suite-trust")
            .arg(&f.authority.public),
    );
    listed.expect_code(0);
    let ids: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["task-a", "task-b"]);
}

#[test]
fn suite_list_json_describes_every_embedded_task() {
    let listed = finish(airlock().args(["suite", "list", "--json"]));
    listed.expect_code(0);
    let tasks = listed.json();
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), DEFAULT_TASKS.len());
    for task in tasks {
        for field in ["id", "version", "category", "max_turns"] {
            assert!(!task[field].is_null(), "{field} missing in {task}");
        }
        assert!(task["system_prompt"].is_string(), "{task}");
        // Each tool as the openai agent offers it: the schema as a JSON value.
        for tool in task["tools"].as_array().unwrap() {
            assert!(tool["name"].is_string() && tool["description"].is_string());
            assert_eq!(tool["parameters"]["type"], "object", "{tool}");
        }
    }
}

#[test]
fn verify_checks_the_suite_level_against_a_signed_directory() {
    let f = exported();
    let out = f.root.join("signed.bundle");
    signed_run(&f, &out).finish().expect_code(0);
    let suite_args = |authority: &Path| {
        vec![
            "--suite".to_owned(),
            f.suite.to_str().unwrap().to_owned(),
            "--suite-trust".to_owned(),
            authority.to_str().unwrap().to_owned(),
        ]
    };
    let args = suite_args(&f.authority.public);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = verify(&out, &f.evaluator.public, &args);
    done.expect_code(0);
    assert!(done.stdout.contains("suite: passed"), "{done}");

    // A run of the embedded suite checks against the exported directory too:
    // the same modules, the same suite digest.
    let embedded = f.root.join("embedded.bundle");
    Run::new("null", &f.evaluator, &embedded)
        .seed(seed(4))
        .finish()
        .expect_code(0);
    verify(&embedded, &f.evaluator.public, &args).expect_code(0);

    // An untrusted authority fails the suite level (exit 1), naming the signer.
    let stranger = keygen_named(&f.root.join("stranger"), "stranger");
    let other = suite_args(&stranger.public);
    let other: Vec<&str> = other.iter().map(String::as_str).collect();
    let done = verify(&out, &f.evaluator.public, &other);
    done.expect_code(1);
    assert!(
        done.stdout.contains("suite: failed") && done.stdout.contains(&f.authority.id),
        "{done}"
    );

    // A changed module fails the suite level, naming the file.
    let module = first_module(&f.suite);
    let mut bytes = std::fs::read(&module).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&module, &bytes).unwrap();
    let done = verify(&out, &f.evaluator.public, &args);
    done.expect_code(1);
    let name = module.file_name().unwrap().to_str().unwrap();
    assert!(
        done.stdout.contains("suite: failed") && done.stdout.contains(name),
        "{done}"
    );
    // The other levels are unaffected.
    assert!(done.stdout.contains("completeness: passed"), "{done}");
}
