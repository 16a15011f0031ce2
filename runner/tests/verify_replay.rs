//! `airlock verify --replay`, end to end through the binary: a good run of
//! the default suite replays clean from its sealed store under Cranelift and
//! under Pulley, and a record or transcript doctored by someone holding
//! every key is caught at the replay level, naming the plan entry and what
//! differs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use airlock_attest::transcripts::{TranscriptKey, TranscriptWriter, open_all};
use airlock_attest::{BundleReader, BundleWriter, PublicKey, SigningKey};
use airlock_core::chain::GENESIS;
use airlock_core::record::{Record, SignedEntry, TaskResult};
use airlock_core::transcript::{Transcript, commitment, opening_key};

const TASKS: usize = 8;

fn airlock() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

struct Station {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Station {
    fn new() -> Station {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let out = airlock()
            .arg("keygen")
            .arg("--out")
            .arg(root.join("k"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        Station { _dir: dir, root }
    }

    fn key(&self) -> PathBuf {
        self.root.join("k/evaluator.key")
    }

    fn public(&self) -> PathBuf {
        self.root.join("k/evaluator.pub")
    }

    fn transcript_key(&self) -> PathBuf {
        self.root.join("k/evaluator.transcript-key")
    }

    fn run(&self, name: &str, agent: &str, backend: &str) -> PathBuf {
        self.run_under(name, agent, backend, "default")
    }

    fn run_under(&self, name: &str, agent: &str, backend: &str, profile: &str) -> PathBuf {
        let bundle = self.root.join(name);
        let out = airlock()
            .args(["run", "--suite", "default", "--profile", profile])
            .args(["--agent", agent, "--backend", backend])
            .args(["--seed", &"5a".repeat(32)])
            .arg("--key")
            .arg(self.key())
            .arg("--out")
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        bundle
    }

    /// `verify --json --replay` from the sealed store beside `bundle`.
    fn replay(&self, bundle: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
        let out = airlock()
            .arg("verify")
            .arg(bundle)
            .arg("--trust")
            .arg(self.public())
            .args(["--json", "--replay", "--transcript-key"])
            .arg(self.transcript_key())
            .args(extra)
            .output()
            .unwrap();
        let json =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        (out.status.code().unwrap(), json)
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn level<'a>(verdict: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    verdict["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == name)
        .unwrap_or_else(|| panic!("no level {name} in {verdict}"))
}

fn entries(bundle: &Path) -> (PublicKey, Vec<SignedEntry>) {
    let bytes = std::fs::read(bundle).unwrap();
    let mut reader = BundleReader::new(&bytes[..]).unwrap();
    let key = reader.header().public_key;
    let mut out = Vec::new();
    while let Some(frame) = reader.next_entry().unwrap() {
        out.push(frame.entry);
    }
    (key, out)
}

fn results(bundle: &Path) -> Vec<TaskResult> {
    entries(bundle)
        .1
        .iter()
        .filter_map(|e| match Record::from_bytes(&e.body).unwrap() {
            Record::TaskResult(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn run_id(bundle: &Path) -> [u8; 16] {
    match Record::from_bytes(&entries(bundle).1[0].body).unwrap() {
        Record::RunStart(start) => start.run_id,
        other => panic!("record 0 is {other:?}"),
    }
}

/// Rewrites `bundle` with `edit` applied to the TaskResult of plan entry
/// `index`, re-chained and re-signed with the evaluator key: what a
/// dishonest operator holding the key can do, which every level before
/// replay accepts.
fn resign_with(station: &Station, bundle: &Path, index: u32, edit: impl FnOnce(&mut TaskResult)) {
    let key = SigningKey::load(&station.key()).unwrap();
    let (header_key, mut all) = entries(bundle);
    let mut edit = Some(edit);
    for entry in &mut all {
        if let Record::TaskResult(mut result) = Record::from_bytes(&entry.body).unwrap()
            && result.plan_index == index
            && let Some(edit) = edit.take()
        {
            edit(&mut result);
            entry.body = Record::TaskResult(result).to_bytes();
        }
    }
    let mut prev = GENESIS;
    for (seq, entry) in all.iter_mut().enumerate() {
        *entry = key.sign_body(&prev, seq as u64, core::mem::take(&mut entry.body));
        prev = entry.chain_hash;
    }
    let mut writer = BundleWriter::new(Vec::new(), &header_key).unwrap();
    for entry in &all {
        writer.write_entry(entry).unwrap();
    }
    std::fs::write(bundle, writer.finish().unwrap().0).unwrap();
}

#[test]
fn the_default_suite_replays_clean_under_cranelift_and_pulley() {
    let station = Station::new();
    for agent in ["reference", "null"] {
        let native = station.run(&format!("{agent}-cranelift.bundle"), agent, "cranelift");
        let pulley = station.run(&format!("{agent}-pulley.bundle"), agent, "pulley");
        // Run under either backend, the signed outcomes, scores and fuel
        // are the same...
        let same = |r: &TaskResult| (r.task_id.clone(), r.outcome, r.score, r.fuel_consumed);
        let native_results: Vec<_> = results(&native).iter().map(same).collect();
        assert_eq!(native_results.len(), TASKS);
        assert_eq!(
            native_results,
            results(&pulley).iter().map(same).collect::<Vec<_>>(),
            "{agent}"
        );
        // ...and each run re-executes to its signed results under both.
        for bundle in [&native, &pulley] {
            for backend in ["cranelift", "pulley"] {
                let (code, verdict) = station.replay(bundle, &["--backend", backend]);
                let replay = level(&verdict, "replay");
                assert_eq!(code, 0, "{agent} {backend}: {verdict}");
                assert_eq!(replay["status"], "passed", "{verdict}");
                let note = replay["note"].as_str().unwrap();
                assert!(
                    note.starts_with(&format!(
                        "{TASKS} of {TASKS} planned results re-executed from the sealed store under {backend}"
                    )),
                    "{note}"
                );
                let recorded_here = bundle
                    .to_string_lossy()
                    .ends_with(&format!("-{backend}.bundle"));
                assert_eq!(
                    note.contains("(the run's engine settings)"),
                    recorded_here,
                    "{note}"
                );
            }
        }
    }
}

#[test]
fn a_doctored_record_fails_replay_naming_the_task_and_what_differs() {
    let station = Station::new();
    let bundle = station.run("r.bundle", "reference", "cranelift");
    let target = results(&bundle)[2].clone();
    resign_with(&station, &bundle, 2, |r| r.fuel_consumed -= 1);

    // Re-signed by the key holder: every level up to completeness passes.
    let out = airlock()
        .arg("verify")
        .arg(&bundle)
        .arg("--trust")
        .arg(station.public())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    for backend in ["cranelift", "pulley"] {
        let (code, verdict) = station.replay(&bundle, &["--backend", backend]);
        assert_eq!(code, 1, "{verdict}");
        assert_eq!(verdict["verified"], false);
        let replay = level(&verdict, "replay");
        assert_eq!(replay["status"], "failed");
        assert_eq!(
            replay["reason"],
            format!(
                "plan entry 2 (task {} epoch 0): fuel {} on re-execution, {} in the signed record",
                target.task_id,
                target.fuel_consumed,
                target.fuel_consumed - 1
            )
        );
        assert_eq!(level(&verdict, "completeness")["status"], "passed");
    }
}

#[test]
fn a_doctored_transcript_fails_replay() {
    let station = Station::new();
    let bundle = station.run("r.bundle", "reference", "cranelift");
    let store = with_suffix(&bundle, ".transcripts");
    let secret: [u8; 32] = std::fs::read(with_suffix(&bundle, ".secret"))
        .unwrap()
        .try_into()
        .unwrap();
    let run = run_id(&bundle);
    let key = || TranscriptKey::load(&station.transcript_key()).unwrap();
    let sealed = open_all(&store, &key(), &run).unwrap();
    assert_eq!(sealed.len(), TASKS);
    let target = results(&bundle)[3].clone();

    // The first reply of plan entry 3 replaced, resealed under the station key.
    let mut doctored: Transcript = airlock_core::decode_exact(&sealed[3].1).unwrap();
    doctored.turns[0].reply.text = "I do not know.".into();
    let doctored_bytes = postcard::to_allocvec(&doctored).unwrap();
    std::fs::remove_file(&store).unwrap();
    let mut writer = TranscriptWriter::create(&store, run, key()).unwrap();
    for (index, bytes) in &sealed {
        let bytes = if *index == 3 { &doctored_bytes } else { bytes };
        writer.append(*index, bytes).unwrap();
    }
    drop(writer);

    // The signed commitment no longer opens.
    let (code, verdict) = station.replay(&bundle, &[]);
    assert_eq!(code, 1, "{verdict}");
    assert_eq!(
        level(&verdict, "replay")["reason"],
        format!(
            "plan entry 3 (task {} epoch 0): the sealed transcript does not open the signed commitment under the run secret",
            target.task_id
        )
    );

    // The key holder also re-signs the record to commit to the doctored
    // transcript: the commitment opens, but the task does not earn the
    // signed score from those replies.
    let new_commitment = commitment(&opening_key(&secret, 3), &doctored_bytes);
    resign_with(&station, &bundle, 3, |r| {
        r.transcript_commitment = new_commitment;
    });
    let (code, verdict) = station.replay(&bundle, &["--backend", "pulley"]);
    assert_eq!(code, 1, "{verdict}");
    let reason = level(&verdict, "replay")["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.starts_with(&format!("plan entry 3 (task {} epoch 0): ", target.task_id)),
        "{reason}"
    );
    assert!(
        reason.contains("left the transcript") || reason.contains("in the signed record"),
        "{reason}"
    );
}

#[test]
fn a_disclosed_transcript_replays_and_replay_needs_transcripts() {
    let station = Station::new();
    let bundle = station.run("r.bundle", "reference", "cranelift");
    let target = results(&bundle)[1].clone();
    let file = station.root.join("d.json");
    let out = airlock()
        .arg("disclose")
        .arg(&bundle)
        .args(["--task", &target.task_id])
        .arg("--key")
        .arg(station.key())
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let verify = |extra: &[&str]| {
        airlock()
            .arg("verify")
            .arg(&bundle)
            .arg("--trust")
            .arg(station.public())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = verify(&[
        "--replay",
        "--backend",
        "pulley",
        "--disclosed",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "replay: passed (1 of {TASKS} planned results re-executed from disclosed transcripts under pulley"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("disclosed: passed"), "{stdout}");

    // The disclosed result's fuel doctored and re-signed: the disclosure
    // still opens its commitment, and replay names the difference.
    resign_with(&station, &bundle, 1, |r| r.fuel_consumed += 7);
    let out = verify(&["--replay", "--disclosed", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "replay: failed: plan entry 1 (task {} epoch 0): fuel {} on re-execution, {} in the signed record",
            target.task_id,
            target.fuel_consumed,
            target.fuel_consumed + 7
        )),
        "{stdout}"
    );

    // No transcripts: a usage error, not a verdict.
    let out = verify(&["--replay"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--replay needs transcripts"),
        "{}",
        text(&out)
    );
    let out = verify(&["--backend", "pulley"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn a_run_under_a_profile_file_replays_with_that_file_and_its_cut_replies() {
    let station = Station::new();
    // Replies cut to 8 bytes: the reference answers are longer, so the
    // transcripts hold cut replies that replay must give back cut.
    let text = include_str!("../../hardware-profiles/default.toml")
        .replace("name = \"default\"", "name = \"short-replies\"")
        .replace("max_reply_bytes = 16_384", "max_reply_bytes = 8");
    assert!(text.contains("max_reply_bytes = 8\n"));
    let profile = station.root.join("short-replies.toml");
    std::fs::write(&profile, text).unwrap();
    let profile = profile.to_str().unwrap();
    let bundle = station.run_under("r.bundle", "reference", "cranelift", profile);

    let key = TranscriptKey::load(&station.transcript_key()).unwrap();
    let sealed = open_all(
        &with_suffix(&bundle, ".transcripts"),
        &key,
        &run_id(&bundle),
    )
    .unwrap();
    let cut = sealed
        .iter()
        .map(|(_, bytes)| airlock_core::decode_exact::<Transcript>(bytes).unwrap())
        .filter(|t| t.turns.iter().any(|turn| turn.reply.truncated))
        .count();
    assert!(cut > 0, "no reply was cut");

    // The run's profile is not embedded: replay cannot build its sandbox.
    let (code, verdict) = station.replay(&bundle, &[]);
    assert_eq!(code, 1, "{verdict}");
    let replay = level(&verdict, "replay");
    assert_eq!(replay["status"], "not-checked", "{verdict}");
    let reason = replay["reason"].as_str().unwrap();
    assert!(
        reason.contains("\"short-replies\"") && reason.contains("--profile"),
        "{reason}"
    );

    for backend in ["cranelift", "pulley"] {
        let (code, verdict) =
            station.replay(&bundle, &["--profile", profile, "--backend", backend]);
        assert_eq!(code, 0, "{backend}: {verdict}");
        assert_eq!(level(&verdict, "replay")["status"], "passed");
    }
}
