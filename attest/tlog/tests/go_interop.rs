//! Airlock's Merkle trees and proofs checked by an implementation we did
//! not write: Go's `golang.org/x/mod/sumdb/tlog` (the Go checksum
//! database's log).
//!
//! The vectors are made here with airlock-tlog and written to a temporary
//! directory; `tests/interop/tlogcheck` (standard library and x/mod only)
//! is built offline in GOPATH mode against Debian's Go sources and checks
//! them: Go's tree hash of the same leaf data equals every root for sizes
//! 1 to 300, and every inclusion and consistency proof passes Go's
//! CheckRecord / CheckTree and equals Go's ProveRecord / ProveTree hash for
//! hash; and Airlock's signed checkpoints open with Go's
//! `golang.org/x/mod/sumdb/note` under the verifier made from Airlock's
//! vkey string, with the size and root Go's tree has, while notes with one
//! byte altered are rejected. Without Go or the x/mod sources this test
//! fails under CI=true (`.ci/run` installs them) and is skipped with a loud
//! warning elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_tlog::checkpoint::Checkpoint;
use airlock_tlog::merkle::{Hash, Tree, leaf_hash};
use airlock_tlog::note::{self, Note, NoteSignature, VerifierKey};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};

/// Where Debian's golang-golang-x-mod-dev puts the x/mod sources: the
/// GOPATH entry the Go program is built against.
const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// The largest tree checked.
const LEAVES: u64 = 300;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| hex(h)).collect()
}

/// Go and x/mod, or why the test cannot run.
fn go() -> Result<(), String> {
    match Command::new("go").arg("version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Err(format!("`go version` exited with {}", out.status)),
        Err(e) => return Err(format!("`go` cannot be run: {e}")),
    }
    let sumdb = Path::new(DEBIAN_GOPATH).join("src/golang.org/x/mod/sumdb");
    for package in ["tlog", "note"] {
        if !sumdb.join(package).is_dir() {
            return Err(format!(
                "Go's golang.org/x/mod/sumdb/{package} sources are not under {DEBIAN_GOPATH} \
                 (Debian package golang-golang-x-mod-dev)"
            ));
        }
    }
    Ok(())
}

/// Whether to go on: panics under CI=true when Go is missing, else warns.
fn go_available() -> bool {
    let Err(why) = go() else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "\n\n*** {why}: the Go sumdb interop check of airlock-tlog cannot run under \
             CI=true. .ci/run installs golang-go and golang-golang-x-mod-dev. ***\n\n"
        );
    }
    eprintln!(
        "\n*** WARNING: {why}: skipping the Go sumdb interop check of airlock-tlog. Install \
         Debian's golang-go and golang-golang-x-mod-dev to run it. ***\n"
    );
    false
}

/// Leaf data: the CT reference tree's eight leaves, then runs of varied
/// length (some empty-ish, some longer than a hash block).
fn leaf_data() -> Vec<Vec<u8>> {
    let mut leaves: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\x00".to_vec(),
        b"\x10".to_vec(),
        b"\x20\x21".to_vec(),
        b"\x30\x31".to_vec(),
        b"\x40\x41\x42\x43".to_vec(),
        b"\x50\x51\x52\x53\x54\x55\x56\x57".to_vec(),
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f".to_vec(),
    ];
    for i in leaves.len()..LEAVES as usize {
        leaves.push(format!("station run {i}\n{}", "x".repeat(i % 97)).into_bytes());
    }
    leaves
}

/// Leaf indices to prove in a tree of `size`: all of them up to 64
/// leaves, beyond that the first, the last and a spread between.
fn indices(size: u64) -> BTreeSet<u64> {
    if size <= 64 {
        return (0..size).collect();
    }
    let mut set: BTreeSet<u64> = [0, 1, size / 2, size - 2, size - 1].into();
    set.extend((1..8).map(|k| size * k / 8));
    set
}

/// Old sizes to prove consistent with `new`: all of them up to 64 leaves,
/// beyond that the edges, the powers of two (complete old trees, whose
/// root the proof leaves out) and a spread between.
fn old_sizes(new: u64) -> BTreeSet<u64> {
    if new <= 64 {
        return (1..=new).collect();
    }
    let mut set: BTreeSet<u64> = [1, 2, 3, new / 2, new / 3, new - 2, new - 1, new].into();
    set.extend((0..9).map(|l| 1u64 << l).filter(|&p| p < new));
    set.extend((1..6).map(|k| new * k / 6 + 1));
    set
}

struct Vectors {
    json: Value,
    roots: usize,
    inclusion: usize,
    inclusion_nonempty: usize,
    consistency: usize,
    consistency_nonempty: usize,
    checkpoints: usize,
    altered: usize,
}

fn vectors() -> Vectors {
    let data = leaf_data();
    let tree = Tree::from_leaf_hashes(data.iter().map(|d| leaf_hash(d)).collect());
    assert_eq!(tree.size(), LEAVES);
    let roots: Vec<String> = (1..=LEAVES)
        .map(|size| hex(&tree.root_at(size).unwrap()))
        .collect();
    let mut inclusion = Vec::new();
    let mut inclusion_nonempty = 0;
    for size in 1..=LEAVES {
        for index in indices(size) {
            let proof = tree.inclusion_proof(index, size).unwrap();
            inclusion_nonempty += usize::from(!proof.is_empty());
            inclusion.push(json!({"index": index, "size": size, "proof": hexes(&proof)}));
        }
    }
    let mut consistency = Vec::new();
    let mut consistency_nonempty = 0;
    for new in 1..=LEAVES {
        for old in old_sizes(new) {
            let proof = tree.consistency_proof(old, new).unwrap();
            consistency_nonempty += usize::from(!proof.is_empty());
            consistency.push(json!({"old": old, "new": new, "proof": hexes(&proof)}));
        }
    }
    let (checkpoints, altered) = signed_checkpoints(&tree);
    Vectors {
        roots: roots.len(),
        inclusion: inclusion.len(),
        inclusion_nonempty,
        consistency: consistency.len(),
        consistency_nonempty,
        checkpoints: checkpoints.len(),
        altered: altered.len(),
        json: json!({
            "leaves": data.iter().map(|d| hex(d)).collect::<Vec<_>>(),
            "roots": roots,
            "inclusion": inclusion,
            "consistency": consistency,
            "checkpoints": checkpoints,
            "altered": altered,
        }),
    }
}

const ORIGIN: &str = "example.org/airlock/station-test";
const WITNESS: &str = "example.org/airlock/witness-test";

/// A signer: an Ed25519 key pair from a fixed seed, under a key name.
struct Signer {
    name: &'static str,
    pair: Ed25519KeyPair,
    public: [u8; 32],
}

impl Signer {
    fn new(name: &'static str, seed: u8) -> Signer {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        let public = pair.public_key().as_ref().try_into().unwrap();
        Signer { name, pair, public }
    }

    fn vkey(&self) -> String {
        VerifierKey::new(self.name, note::ALG_ED25519, &self.public)
            .unwrap()
            .to_string()
    }

    fn sign(&self, text: &str) -> NoteSignature {
        note::sign_ed25519(text, self.name, &self.public, |msg| {
            self.pair.sign(msg).as_ref().try_into().unwrap()
        })
        .unwrap()
    }
}

/// Checkpoints of the tree at several sizes signed by the log's key (one
/// with an extension line, one also signed by a second key Go is not
/// given), and notes with one byte altered: in the size line, the root
/// line, and the signature. Airlock's own verifier is asked first, so that
/// Go's verdict is compared with a note Airlock itself accepts or rejects.
fn signed_checkpoints(tree: &Tree) -> (Vec<Value>, Vec<Value>) {
    let log = Signer::new(ORIGIN, 0x41);
    let witness = Signer::new(WITNESS, 0x57);
    let key = VerifierKey::parse(&log.vkey()).unwrap();
    let mut checkpoints = Vec::new();
    let mut altered = Vec::new();
    for size in [1, 2, 3, 7, 8, 64, 100, 255, 256, 299, LEAVES] {
        let root = tree.root_at(size).unwrap();
        let extensions = if size == 100 {
            vec![String::from("airlock-station run 100")]
        } else {
            Vec::new()
        };
        let text = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root,
            extensions,
        }
        .to_text();
        let mut signatures = vec![log.sign(&text)];
        if size == 256 {
            signatures.push(witness.sign(&text));
        }
        let signed = Note {
            text: text.clone(),
            signatures,
        };
        let bytes = signed.to_bytes();
        key.verify(&note::parse(&bytes).unwrap()).unwrap();
        let note = String::from_utf8(bytes).unwrap();
        checkpoints
            .push(json!({"vkey": log.vkey(), "note": note, "size": size, "root": hex(&root)}));

        if size == 7 || size == LEAVES {
            let size_line = text.find('\n').unwrap() + 1;
            let root_line = size_line + text[size_line..].find('\n').unwrap() + 1;
            let mut cases = Vec::new();
            for (what, at) in [("size line", size_line), ("root line", root_line + 5)] {
                let mut bytes = note.clone().into_bytes();
                // A digit for a digit, a base64 letter for a base64 letter:
                // still a well-formed checkpoint, just not the signed one.
                bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
                cases.push((what, String::from_utf8(bytes).unwrap()));
            }
            let mut sig = signed.clone();
            sig.signatures[0].signature[10] ^= 0x01;
            cases.push(("signature", String::from_utf8(sig.to_bytes()).unwrap()));
            for (what, bad) in cases {
                assert_ne!(bad, note);
                let parsed = note::parse(bad.as_bytes()).unwrap();
                assert!(key.verify(&parsed).is_err(), "{what} of size {size}");
                altered.push(json!({
                    "vkey": log.vkey(),
                    "note": bad,
                    "what": format!("{what} of the size-{size} checkpoint"),
                }));
            }
        }
    }
    (checkpoints, altered)
}

/// Builds tests/interop/tlogcheck in GOPATH mode with no module download:
/// the only packages besides the standard library are Debian's x/mod.
fn build_tlogcheck(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/tlogcheck");
    let package = dir.join("go/src/tlogcheck");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::copy(source.join("main.go"), package.join("main.go")).unwrap();
    let binary = dir.join("tlogcheck");
    let gopath = std::env::join_paths([dir.join("go"), PathBuf::from(DEBIAN_GOPATH)]).unwrap();
    let out = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(&package)
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOCACHE", dir.join("cache"))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOENV", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go build of tlogcheck failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    binary
}

#[test]
fn go_sumdb_tlog_agrees_with_every_root_and_proof() {
    if !go_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let v = vectors();
    assert_eq!(v.roots, LEAVES as usize);
    // Every pair up to 64 leaves, and more than eight a size beyond.
    assert!(v.inclusion >= 64 * 65 / 2 + (LEAVES as usize - 64) * 8);
    assert!(v.consistency >= 64 * 65 / 2 + (LEAVES as usize - 64) * 8);
    assert_eq!((v.checkpoints, v.altered), (11, 6));
    let file = dir.path().join("vectors.json");
    std::fs::write(&file, serde_json::to_vec(&v.json).unwrap()).unwrap();

    let binary = build_tlogcheck(dir.path());
    let out = Command::new(&binary).arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tlogcheck disagrees ({}):\n{stdout}{stderr}",
        out.status
    );
    let summary = format!(
        "tlogcheck: ok: {} roots, {} inclusion proofs ({} altered rejected), {} consistency \
         proofs ({} altered rejected), {} checkpoints, {} altered notes rejected",
        v.roots,
        v.inclusion,
        v.inclusion_nonempty,
        v.consistency,
        v.consistency_nonempty,
        v.checkpoints,
        v.altered
    );
    assert!(
        stdout.lines().any(|l| l == summary),
        "expected {summary:?} in:\n{stdout}{stderr}"
    );
    eprintln!("{summary}");
}

/// The check must be able to fail: a wrong root, a proof with a hash from
/// elsewhere, a proof for the wrong pair of sizes, an altered note among
/// the checkpoints and a genuine one among the altered are each named, and
/// the run exits non-zero.
#[test]
fn go_sumdb_tlog_names_a_disagreement() {
    if !go_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut v = vectors().json;
    v["roots"][99] = json!(hex(&[7u8; 32]));
    let wrong = v["inclusion"][10]["proof"][0].clone();
    let inclusion = v["inclusion"].as_array_mut().unwrap();
    let target = inclusion
        .iter_mut()
        .find(|c| c["index"] == 17 && c["size"] == 40)
        .unwrap();
    target["proof"][1] = wrong;
    let consistency = v["consistency"].as_array_mut().unwrap();
    let target = consistency
        .iter_mut()
        .find(|c| c["old"] == 5 && c["new"] == 60)
        .unwrap();
    target["old"] = json!(6);
    let altered = v["altered"][0]["note"].clone();
    let genuine = v["checkpoints"][3]["note"].clone();
    v["checkpoints"][0]["note"] = altered;
    v["altered"][1]["note"] = genuine;
    let file = dir.path().join("vectors.json");
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();

    let binary = build_tlogcheck(dir.path());
    let out = Command::new(&binary).arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for named in [
        "DISAGREE: root of size 100:",
        "DISAGREE: inclusion 17 in 40: Go CheckRecord rejects",
        "DISAGREE: inclusion 17 in 40: Airlock's proof differs from Go's ProveRecord",
        "DISAGREE: consistency 6 -> 60: Go CheckTree rejects",
        "DISAGREE: consistency 6 -> 60: Airlock's proof differs from Go's ProveTree",
        "DISAGREE: checkpoint 0: note.Open:",
        "DISAGREE: altered note 1 (root line of the size-7 checkpoint): note.Open accepts it",
        "tlogcheck: FAILED: 7 disagreements",
    ] {
        assert!(stdout.contains(named), "{named:?} not in:\n{stdout}");
    }
}
