//! Transcripts stay inside, results leave: the sealed store beside the
//! bundle, `airlock disclose`, `airlock verify --disclosed`, replay from
//! disclosed transcripts, and bundles that carry no transcript or prompt text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airlock_core::transcript::{Transcript, commitment};
use airlock_tests::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

const FAKE_MODEL: &str = env!("CARGO_BIN_EXE_fake-model");

fn sidecar(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn disclose(bundle: &Path, key: &Key, task: &str, out: &Path) -> Finished {
    finish(
        airlock()
            .arg("disclose")
            .arg(bundle)
            .args(["--task", task])
            .arg("--key")
            .arg(&key.private)
            .arg("--out")
            .arg(out),
    )
}

fn verify_disclosed(bundle: &Path, key: &Key, files: &[&Path]) -> (i32, serde_json::Value) {
    let mut command = airlock();
    command
        .arg("verify")
        .arg(bundle)
        .arg("--trust")
        .arg(&key.public)
        .arg("--json");
    for file in files {
        command.arg("--disclosed").arg(file);
    }
    let done = finish(&mut command);
    (done.code(), done.json())
}

fn level<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == name)
        .unwrap_or_else(|| panic!("no level {name} in {report}"))
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn transcript_of(disclosure: &serde_json::Value) -> Transcript {
    let bytes = BASE64
        .decode(disclosure["transcript_postcard"].as_str().unwrap())
        .unwrap();
    postcard::from_bytes(&bytes).unwrap()
}

/// Rewrites a disclosure whose transcript is `transcript`, keeping it
/// consistent (readable form, postcard bytes) and, when `recommit`, with the
/// commitment recomputed under its opening key.
fn rewrite(disclosure: &serde_json::Value, transcript: &Transcript, recommit: bool) -> String {
    let mut value = disclosure.clone();
    let bytes = postcard::to_allocvec(transcript).unwrap();
    value["transcript_postcard"] = BASE64.encode(&bytes).into();
    for (i, turn) in transcript.turns.iter().enumerate() {
        value["transcript"]["turns"][i]["prompt"] = serde_json::to_value(&turn.prompt).unwrap();
        value["transcript"]["turns"][i]["reply"] = serde_json::to_value(&turn.reply).unwrap();
    }
    if recommit {
        let opening =
            airlock_core::Digest::from_hex(value["opening_key"].as_str().unwrap()).unwrap();
        value["commitment"] = commitment(&opening.0, &bytes).to_hex().to_string().into();
    }
    value.to_string()
}

/// Changes one byte of the first reply (a letter to another letter).
fn alter_one_byte(transcript: &Transcript) -> Transcript {
    let mut altered = transcript.clone();
    let reply = &mut altered.turns[0].reply.text;
    let mut bytes = core::mem::take(reply).into_bytes();
    let at = bytes.iter().position(u8::is_ascii_alphanumeric).unwrap();
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    *reply = String::from_utf8(bytes).unwrap();
    altered
}

struct Reference {
    root: tempfile::TempDir,
    key: Key,
    out: PathBuf,
}

/// A reference run of the default suite.
fn reference_run() -> Reference {
    let root = tempfile::tempdir().unwrap();
    let key = keygen(root.path());
    let out = root.path().join("run.bundle");
    Run::new("reference", &key, &out).seed(seed(3)).results();
    Reference { root, key, out }
}

#[test]
fn the_run_keeps_its_sealed_transcripts_and_key_inside_beside_the_bundle() {
    let run = reference_run();
    let store = sidecar(&run.out, ".transcripts");
    let bytes = std::fs::read(&store).unwrap();
    assert_eq!(&bytes[..12], b"\x89ALT\r\n\x1a\n\x02\x00\x00\x00");
    let key_file = run.key.private.with_extension("transcript-key");
    assert_eq!(std::fs::read(&key_file).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second run on the station uses the same key, never a new one.
    let before = std::fs::read(&key_file).unwrap();
    Run::new("null", &run.key, &run.root.path().join("second.bundle")).results();
    assert_eq!(std::fs::read(&key_file).unwrap(), before);
}

#[test]
fn disclosed_transcripts_verify_and_one_altered_byte_fails_the_commitment() {
    let run = reference_run();
    let mut files = Vec::new();
    for task in DEFAULT_TASKS {
        let file = run.root.path().join(format!("{task}.json"));
        disclose(&run.out, &run.key, task, &file).expect_code(0);
        files.push(file);
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (code, report) = verify_disclosed(&run.out, &run.key, &refs);
    assert_eq!(code, 0, "{report}");
    let disclosed = level(&report, "disclosed");
    assert_eq!(disclosed["status"], "passed", "{report}");
    let note = disclosed["note"].as_str().unwrap();
    assert!(
        note.starts_with(&format!("{} transcripts opened", DEFAULT_TASKS.len())),
        "{note}"
    );

    let original = read_json(&files[0]);
    assert_eq!(original["format"], "airlock-disclosure/2");
    assert_eq!(original["task_id"], DEFAULT_TASKS[0]);
    let transcript = transcript_of(&original);
    let altered = alter_one_byte(&transcript);

    // Altered transcript, file's commitment kept: the commitment does not open.
    let bad = run.root.path().join("altered.json");
    std::fs::write(&bad, rewrite(&original, &altered, false)).unwrap();
    let (code, report) = verify_disclosed(&run.out, &run.key, &[&bad]);
    assert_eq!(code, 1, "{report}");
    let reason = level(&report, "disclosed")["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("altered.json") && reason.contains("commitment"),
        "{reason}"
    );

    // Altered transcript with a commitment recomputed to match: the signed
    // record's commitment still differs.
    std::fs::write(&bad, rewrite(&original, &altered, true)).unwrap();
    let (code, report) = verify_disclosed(&run.out, &run.key, &[&bad]);
    assert_eq!(code, 1, "{report}");
    let reason = level(&report, "disclosed")["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.contains("does not match the signed record"),
        "{reason}"
    );

    // The human output has the level on its own line.
    let done = verify(
        &run.out,
        &run.key.public,
        &["--disclosed", bad.to_str().unwrap()],
    );
    done.expect_code(1);
    assert!(done.stdout.contains("disclosed: failed"), "{done}");
}

#[test]
fn a_disclosure_of_another_run_fails() {
    let first = reference_run();
    let file = first.root.path().join("x.json");
    disclose(&first.out, &first.key, "crypto-xor", &file).expect_code(0);
    // Same key, same seed, same results: only the run (and its secret) differ.
    let other = first.root.path().join("other.bundle");
    Run::new("reference", &first.key, &other)
        .seed(seed(3))
        .results();
    let (code, report) = verify_disclosed(&other, &first.key, &[&file]);
    assert_eq!(code, 1, "{report}");
    let reason = level(&report, "disclosed")["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("is of run"), "{reason}");
}

#[test]
fn a_sealed_transcript_altered_on_disk_fails_to_decrypt_naming_the_file_and_record() {
    let run = reference_run();
    let store = sidecar(&run.out, ".transcripts");
    let mut bytes = std::fs::read(&store).unwrap();
    // The last byte is the tag of the last record (the last plan entry).
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&store, &bytes).unwrap();
    let out = run.root.path().join("x.json");
    // The first record is untouched and still opens.
    disclose(&run.out, &run.key, DEFAULT_TASKS[0], &out).expect_code(0);
    let last_index = DEFAULT_TASKS.len() - 1;
    let done = disclose(
        &run.out,
        &run.key,
        DEFAULT_TASKS[last_index],
        &run.root.path().join("y.json"),
    );
    done.expect_code(1);
    let record = format!("record {last_index} (plan entry {last_index})");
    for needle in [
        "run.bundle.transcripts",
        record.as_str(),
        "does not decrypt",
    ] {
        assert!(done.stderr.contains(needle), "{needle}: {done}");
    }
    assert!(!run.root.path().join("y.json").exists());
}

#[test]
fn disclose_refuses_what_it_cannot_stand_behind() {
    let run = reference_run();
    let out = run.root.path().join("x.json");
    let done = disclose(&run.out, &run.key, "no-such-task", &out);
    done.expect_code(2);
    assert!(
        done.stderr.contains("no result for task no-such-task"),
        "{done}"
    );

    // Another evaluator's key: the bundle does not verify under it.
    let other = keygen_named(run.root.path(), "other");
    let done = disclose(&run.out, &other, "crypto-xor", &out);
    done.expect_code(1);
    assert!(done.stderr.contains("does not verify"), "{done}");

    // Another run's secret: the sealed transcript opens, the commitment does not.
    let secret = sidecar(&run.out, ".secret");
    std::fs::write(&secret, [0u8; 32]).unwrap();
    let done = disclose(&run.out, &run.key, "crypto-xor", &out);
    done.expect_code(1);
    assert!(
        done.stderr.contains("does not open the signed commitment"),
        "{done}"
    );
    assert!(!out.exists());
}

#[test]
fn replay_from_disclosed_transcripts_reproduces_the_run_and_reports_divergence() {
    let run = reference_run();
    let dir = run.root.path().join("disclosed");
    std::fs::create_dir(&dir).unwrap();
    for task in DEFAULT_TASKS {
        disclose(&run.out, &run.key, task, &dir.join(format!("{task}.json"))).expect_code(0);
    }
    let first = Run::new("reference", &run.key, &run.root.path().join("again.bundle"))
        .seed(seed(3))
        .results();
    let replayed = Run::new(
        &format!("replay:{}", dir.display()),
        &run.key,
        &run.root.path().join("replayed.bundle"),
    )
    .seed(seed(3))
    .results();
    assert_eq!(replayed, first, "same outcomes, scores and fuel");

    // Another run seed: the instance seeds differ from the transcripts'.
    let done = Run::new(
        &format!("replay:{}", dir.display()),
        &run.key,
        &run.root.path().join("reseeded.bundle"),
    )
    .seed(seed(4))
    .finish();
    done.expect_code(0);
    assert!(done.stderr.contains("replay diverged"), "{done}");
    assert!(done.stderr.contains("instance seed differs"), "{done}");

    // A transcript whose first reply was changed (and re-committed, so the
    // file holds together): the task then says something the transcript
    // does not have, and the replay says where.
    let shell = dir.join("agentic-host.json");
    let disclosure = read_json(&shell);
    let mut transcript = transcript_of(&disclosure);
    // In native mode (the run's default) the task reads the reply's tool
    // calls, not its text: the first call's command is what changes.
    let reply = &mut transcript.turns[0].reply;
    match reply.tool_calls.first_mut() {
        Some(call) => call.arguments = r#"{"command":"rm -rf /"}"#.to_owned(),
        None => reply.text = "rm -rf /".to_owned(),
    }
    std::fs::write(&shell, rewrite(&disclosure, &transcript, true)).unwrap();
    let done = Run::new(
        &format!("replay:{}", dir.display()),
        &run.key,
        &run.root.path().join("diverged.bundle"),
    )
    .seed(seed(3))
    .arg("--json")
    .finish();
    done.expect_code(0);
    let shell_index = DEFAULT_TASKS
        .iter()
        .position(|t| *t == "agentic-host")
        .unwrap();
    let place = format!("agentic-host epoch 0 (plan entry {shell_index}), turn 1");
    assert!(done.stderr.contains(&place), "{place}: {done}");
    let rows = task_rows(&done.json());
    assert_eq!(rows[shell_index].outcome, "model-error");
}

/// No string of `needles` that is 8 bytes or longer may occur in
/// `haystack` (the first 16 bytes of each long one are searched for).
fn assert_absent(haystack: &[u8], needles: &[String], what: &str) {
    for needle in needles {
        let needle = needle.as_bytes();
        if needle.len() < 8 {
            continue;
        }
        // A 16-byte window is enough to tell text from chance.
        let probe = &needle[..needle.len().min(16)];
        assert!(
            !haystack.windows(probe.len()).any(|w| w == probe),
            "{what}: the bundle contains transcript text {:?}",
            String::from_utf8_lossy(probe)
        );
    }
}

#[test]
fn bundles_carry_no_transcript_or_prompt_text() {
    // The default suite with its reference answers, and a process model
    // whose replies are distinctive.
    let run = reference_run();
    let root = run.root.path();
    let exec_out = root.join("exec.bundle");
    Run::new(&format!("exec:{FAKE_MODEL}"), &run.key, &exec_out)
        .arg("--agent-arg=echo")
        .seed(seed(6))
        .results();

    for bundle in [&run.out, &exec_out] {
        let bytes = std::fs::read(bundle).unwrap();
        let mut strings = Vec::new();
        for task in DEFAULT_TASKS {
            let file = root.join(format!(
                "{}-{task}.json",
                bundle.file_stem().unwrap().to_string_lossy()
            ));
            disclose(bundle, &run.key, task, &file).expect_code(0);
            let transcript = transcript_of(&read_json(&file));
            assert!(!transcript.turns.is_empty());
            for turn in &transcript.turns {
                strings.push(turn.prompt.plain_text());
                strings.push(turn.reply.text.clone());
            }
        }
        assert_absent(&bytes, &strings, &bundle.display().to_string());
    }

    // Nor the tasks' own descriptions.
    let listed = finish(airlock().args(["suite", "list", "--json"]));
    listed.expect_code(0);
    let bytes = std::fs::read(&run.out).unwrap();
    let texts: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            [
                t["title"].as_str().unwrap().to_owned(),
                t["description"].as_str().unwrap().to_owned(),
            ]
        })
        .collect();
    assert_absent(&bytes, &texts, "task metadata");
}

/// With several epochs of a task, disclose asks which one, lists them, and
/// discloses the one named; the disclosure verifies against its result.
#[test]
fn disclose_picks_the_epoch_asked_for() {
    let root = tempfile::tempdir().unwrap();
    let key = keygen(root.path());
    let out = root.path().join("run.bundle");
    Run::new("reference", &key, &out)
        .seed(seed(4))
        .arg("--epochs")
        .arg("3")
        .results();
    let file = root.path().join("epoch.json");
    let done = disclose(&out, &key, "crypto-xor", &file);
    done.expect_code(2);
    assert!(
        done.stderr
            .contains("task crypto-xor has results for epochs 0, 1, 2; choose one with --epoch"),
        "{done}"
    );
    assert!(!file.exists());

    let done = finish(
        airlock()
            .arg("disclose")
            .arg(&out)
            .args(["--task", "crypto-xor", "--epoch", "2", "--key"])
            .arg(&key.private)
            .arg("--out")
            .arg(&file),
    );
    done.expect_code(0);
    assert_eq!(read_json(&file)["epoch"], 2, "{done}");
    let (code, report) = verify_disclosed(&out, &key, &[&file]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(level(&report, "disclosed")["status"], "passed");
}
