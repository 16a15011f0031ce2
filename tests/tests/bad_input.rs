//! The bad-input matrix: every command given missing, unreadable,
//! wrong-kind or corrupt input, an unknown or malformed profile, an output
//! that exists already, or a full disk.
//!
//! Each case runs the real binary in a fresh copy of one prepared directory
//! (keys made by `airlock keygen`, a bundle from a short `airlock run`, a
//! signed suite from `airlock suite export`, broken files beside them) with
//! relative paths, and checks:
//!
//! - the exit code given in the table (2 for input errors, 1 where a file
//!   was read and failed verification, as README.md documents);
//! - that stderr names the file or value at fault;
//! - stdout, stderr and the exit code against the snapshot
//!   `tests/bad-input/NAME.txt` (64-digit hex, such as key ids, as `[HASH]`;
//!   the case directory, should it appear, as `[DIR]`);
//! - that the directory is exactly as before, byte for byte and mode for
//!   mode: no output, no partial file, no temporary file, no empty directory
//!   left behind, and no existing file touched.
//!
//! `AIRLOCK_BLESS=1 cargo test -p airlock-tests --test bad_input` rewrites
//! the snapshots from what the binary does; review the diff before
//! committing it.
//!
//! Two kinds of case depend on the machine, and say so on stderr when they
//! are skipped: an unreadable file (mode 000) is only unreadable when the
//! tests do not run as root — a directory where a file is expected is the
//! unreadable-input case that runs everywhere — and a full disk needs a
//! small tmpfs, which only root (or a user namespace) can mount.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::fmt::Write as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use airlock_tests::*;

/// Says on the real stderr (not the test harness's captured output, which a
/// passing test hides) that a case was skipped, and why.
macro_rules! skipped {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), "SKIPPED {}", format_args!($($arg)*));
    }};
}

/// How a case's directory is prepared beyond the shared fixture.
#[derive(Clone, Copy)]
enum Prep {
    /// The fixture as it is.
    Fixture,
    /// The fixture, then this function on the case directory.
    With(fn(&Path)),
    /// The fixture with `PATH` (relative) made unreadable by mode 000;
    /// skipped where that does not stop reads (root).
    Unreadable(&'static str),
    /// A 64 KiB tmpfs mounted at `full/`, this function run on the case
    /// directory, then the tmpfs filled to the last byte; skipped where it
    /// cannot be mounted.
    FullDisk(fn(&Path)),
}

/// One row of the matrix.
struct Case {
    /// Snapshot name: `tests/bad-input/NAME.txt`.
    name: &'static str,
    /// Arguments after `airlock`, relative to the case directory.
    args: &'static [&'static str],
    /// The documented exit code.
    code: i32,
    /// What stderr must name: the file (or value) at fault.
    names: &'static str,
    prep: Prep,
}

const fn case(
    name: &'static str,
    args: &'static [&'static str],
    code: i32,
    names: &'static str,
) -> Case {
    Case {
        name,
        args,
        code,
        names,
        prep: Prep::Fixture,
    }
}

impl Case {
    /// The fixture, then `prep` on the case directory.
    const fn with(mut self, prep: fn(&Path)) -> Case {
        self.prep = Prep::With(prep);
        self
    }

    /// The fixture with `path` made unreadable (see [`Prep::Unreadable`]).
    const fn unreadable(mut self, path: &'static str) -> Case {
        self.prep = Prep::Unreadable(path);
        self
    }

    /// The case on a full small tmpfs (see [`Prep::FullDisk`]).
    const fn full_disk(mut self, prep: fn(&Path)) -> Case {
        self.prep = Prep::FullDisk(prep);
        self
    }
}

/// The fixture every case starts from, made once per test process.
fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<tempfile::TempDir> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            make_fixture(dir.path());
            dir
        })
        .path()
}

fn make_fixture(root: &Path) {
    let in_root = |args: &[&str]| {
        let done = finish(airlock().current_dir(root).args(args));
        done.expect_code(0);
    };
    in_root(&["keygen", "--out", "keys"]);
    in_root(&["keygen", "--out", "auth", "--name", "authority"]);
    in_root(&[
        "run",
        "--agent",
        "null",
        "--key",
        "keys/evaluator.key",
        "--out",
        "run.bundle",
        "--seed",
        &seed(1),
    ]);
    in_root(&[
        "suite",
        "export",
        "default",
        "--out",
        "suite",
        "--key",
        "auth/authority.key",
    ]);
    in_root(&[
        "export",
        "run.bundle",
        "--dsse",
        "dsse",
        "--key",
        "keys/evaluator.key",
    ]);
    in_root(&[
        "disclose",
        "run.bundle",
        "--task",
        "crypto-xor",
        "--key",
        "keys/evaluator.key",
        "--out",
        "disclosed.json",
    ]);
    in_root(&[
        "report",
        "run.bundle",
        "--trust",
        "keys/evaluator.pub",
        "--out",
        "report.txt",
    ]);
    let write = |name: &str, bytes: &[u8]| std::fs::write(root.join(name), bytes).unwrap();
    std::fs::create_dir(root.join("adir")).unwrap();
    write("garbage.bundle", b"this is not a bundle\n");
    write("empty.bundle", b"");
    let bundle = std::fs::read(root.join("run.bundle")).unwrap();
    // Two bytes into the second frame's length: the RunStart before it is
    // whole, and its length does not change from run to run.
    let first = u32::from_le_bytes(bundle[44..48].try_into().unwrap()) as usize;
    write("cut.bundle", &bundle[..44 + 4 + first + 2]);
    // One bit of the RunStart's signature.
    let mut flipped = bundle.clone();
    flipped[44 + 4 + first - 1] ^= 1;
    write("flipped.bundle", &flipped);
    write("bad.toml", b"name = \"bad\"\nfuel_per_task = \n");
    write(
        "campaign-typo.toml",
        b"agent = \"null\"\n# one epoch\nepoch = 1\n",
    );
    write("campaign-bad-value.toml", b"agent = \"null\"\nepochs = 0\n");
    write(
        "campaign-not-toml.toml",
        b"agent = \"null\"\nepochs = = 1\n",
    );
    write("partial.toml", b"name = \"partial\"\n");
    // Fuel that can outlast its backstop (issue 14, finding 9).
    let default_profile = include_str!("../../hardware-profiles/default.toml");
    write(
        "outlasting.toml",
        default_profile
            .replace(
                "wall_clock_backstop_ms = 120_000",
                "wall_clock_backstop_ms = 1_000",
            )
            .as_bytes(),
    );
    write("garbage.json", b"{\"format\": \"something else\"}\n");
    // A tlog-policy trusting the fixture station's log, and a bundle
    // without its receipt.
    let vkey =
        finish(
            airlock()
                .current_dir(root)
                .args(["log", "vkey", "--public", "keys/evaluator.pub"]),
        );
    vkey.expect_code(0);
    write(
        "log.policy",
        format!("log {}\nquorum none\n", vkey.stdout.trim()).as_bytes(),
    );
    write("bad.policy", b"# a policy\nquorum nobody\n");
    std::fs::copy(root.join("run.bundle"), root.join("no-receipt.bundle")).unwrap();
    // The evaluator key readable by everyone.
    std::fs::copy(root.join("keys/evaluator.key"), root.join("open.key")).unwrap();
    set_mode(&root.join("open.key"), 0o644);
    // A suite whose manifest was signed and then a module changed.
    copy_tree(&root.join("suite"), &root.join("changed-suite"));
    let module = root.join("changed-suite/task_crypto_xor.wasm");
    let mut bytes = std::fs::read(&module).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&module, bytes).unwrap();
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode()
}

/// Copies a directory tree, keeping each file's mode (keys stay 0600).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Everything under `dir`: kind, mode and bytes of each path.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        // A directory made unreadable on purpose is recorded by its mode alone.
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if meta.is_dir() {
                out.insert(rel, (mode_of(&meta), None));
                stack.push(path);
            } else if meta.is_file() && meta.len() <= 1 << 20 {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.insert(rel, (mode_of(&meta), Some(bytes)));
            } else {
                // FIFOs, links and huge files are what some cases are
                // about: recorded by kind and size, never read.
                let kind = format!("{:?} {}", meta.file_type(), meta.len());
                out.insert(rel, (mode_of(&meta), Some(kind.into_bytes())));
            }
        }
    }
    out
}

/// What differs between two [`tree`]s, one line per path.
fn tree_changes(
    before: &BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>,
    after: &BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>,
) -> String {
    let mut out = String::new();
    for (path, was) in before {
        match after.get(path) {
            None => writeln!(out, "  removed: {}", path.display()).unwrap(),
            Some(now) if now != was => writeln!(out, "  changed: {}", path.display()).unwrap(),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        writeln!(out, "  left behind: {}", path.display()).unwrap();
    }
    out
}

/// `text` with the case directory and every run of 64 hex digits (key
/// ids, digests: they differ with each fixture) replaced by placeholders.
fn redact(text: &str, dir: &Path) -> String {
    let text = text.replace(&dir.display().to_string(), "[DIR]");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let hex = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 64 {
            out.push_str("[HASH]");
            rest = &rest[64..];
        } else {
            let skip = rest
                .char_indices()
                .find(|(_, c)| !c.is_ascii_hexdigit())
                .map_or(rest.len(), |(i, c)| i + c.len_utf8());
            out.push_str(&rest[..skip]);
            rest = &rest[skip..];
        }
    }
    out
}

/// A tmpfs mounted for one case, unmounted when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a 64 KiB tmpfs at `at`, or says why not.
fn mount_small_tmpfs(at: &Path) -> Result<Mount, String> {
    std::fs::create_dir(at).map_err(|e| e.to_string())?;
    let output = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if output.status.success() {
        Ok(Mount(at.to_path_buf()))
    } else {
        Err(format!(
            "mount -t tmpfs failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Fills the filesystem holding `dir` to the last byte.
fn fill(dir: &Path) {
    use std::io::Write as _;
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    let block = [0u8; 4096];
    while filler.write_all(&block).is_ok() {}
    // A last partial block: whatever bytes still fit.
    while filler.write_all(&[0]).is_ok() {}
    let _ = filler.sync_all();
}

/// Whether mode 000 keeps this process from reading a file (not as root).
fn chmod_stops_reads(dir: &Path) -> bool {
    let probe = dir.join(".mode-probe");
    std::fs::write(&probe, b"x").unwrap();
    set_mode(&probe, 0o000);
    let stops = std::fs::read(&probe).is_err();
    set_mode(&probe, 0o600);
    std::fs::remove_file(&probe).unwrap();
    stops
}

fn snapshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bad-input")
        .join(format!("{name}.txt"))
}

/// Runs one case; returns what is wrong with it, if anything.
fn run_case(case: &Case) -> Option<String> {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("case");
    copy_tree(fixture(), &dir);
    let mut _mount = None;
    let mut original_mode = 0;
    match case.prep {
        Prep::Fixture => {}
        Prep::With(prep) => prep(&dir),
        Prep::Unreadable(path) => {
            if !chmod_stops_reads(&dir) {
                skipped!(
                    "{}: mode 000 does not stop this process from reading a file \
                     (running as root); the *-is-a-directory cases cover unreadable input here",
                    case.name
                );
                return None;
            }
            original_mode = mode_of(&std::fs::metadata(dir.join(path)).unwrap());
            set_mode(&dir.join(path), 0o000);
        }
        Prep::FullDisk(prep) => match mount_small_tmpfs(&dir.join("full")) {
            Ok(mount) => {
                _mount = Some(mount);
                prep(&dir);
                fill(&dir.join("full"));
            }
            Err(why) => {
                skipped!("{}: cannot mount a small tmpfs: {why}", case.name);
                return None;
            }
        },
    }
    let before = tree(&dir);
    let done = finish(airlock().current_dir(&dir).args(case.args));
    let after = tree(&dir);
    let mut problems = String::new();
    if done.status.code() != Some(case.code) {
        writeln!(
            problems,
            "  exit {:?}, documented {}",
            done.status.code(),
            case.code
        )
        .unwrap();
    }
    if let Prep::Unreadable(path) = case.prep {
        // Mode-000 messages come from the OS; only the shape is checked.
        set_mode(&dir.join(path), original_mode);
        if !done.stderr.contains(case.names) || !done.stderr.contains("Permission denied") {
            writeln!(
                problems,
                "  stderr does not name {} and \"Permission denied\"",
                case.names
            )
            .unwrap();
        }
        problems.push_str(&tree_changes(&before, &after));
        return (!problems.is_empty()).then(|| format!("{}:\n{problems}{done}", case.name));
    }

    if !done.stderr.contains(case.names) {
        writeln!(problems, "  stderr does not name {:?}", case.names).unwrap();
    }
    if done.stderr.contains("panicked") {
        writeln!(problems, "  the binary panicked").unwrap();
    }
    problems.push_str(&tree_changes(&before, &after));

    let actual = format!(
        "$ airlock {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
        case.args.join(" "),
        done.status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        redact(&done.stdout, &dir),
        redact(&done.stderr, &dir),
    );
    let snapshot = snapshot_path(case.name);
    if std::env::var_os("AIRLOCK_BLESS").is_some_and(|v| !v.is_empty()) {
        std::fs::write(&snapshot, &actual).unwrap();
    } else {
        match std::fs::read_to_string(&snapshot) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => writeln!(
                problems,
                "  output differs from {}:\n--- expected\n{expected}--- actual\n{actual}",
                snapshot.display()
            )
            .unwrap(),
            Err(e) => writeln!(
                problems,
                "  no snapshot {} ({e}); AIRLOCK_BLESS=1 writes it:\n{actual}",
                snapshot.display()
            )
            .unwrap(),
        }
    }
    (!problems.is_empty()).then(|| format!("{}:\n{problems}{done}", case.name))
}

#[track_caller]
fn run_matrix(cases: &[Case]) {
    let failures: Vec<String> = cases.iter().filter_map(run_case).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

// Preparations shared by several cases.

fn nothing(_: &Path) {}

/// A task module in `full/s`, on the small tmpfs, for `suite build`.
fn suite_on_full_disk(dir: &Path) {
    let suite = dir.join("full/s");
    std::fs::create_dir(&suite).unwrap();
    std::fs::write(suite.join("instant.wasm"), instant_done_module("instant")).unwrap();
}

/// `unsigned/`: a suite directory with the modules but no manifest.
fn unsigned_suite(dir: &Path) {
    copy_tree(&dir.join("suite"), &dir.join("unsigned"));
    std::fs::remove_file(dir.join("unsigned/suite.manifest")).unwrap();
}

/// `weak.pub`: the identity point of edwards25519 as an SPKI public key,
/// under which the signature R = identity, s = 0 verifies every message.
fn weak_public_key(dir: &Path) {
    let mut key = [0u8; 32];
    key[0] = 1;
    let pem = airlock_attest::PublicKey(key).to_spki_pem();
    std::fs::write(dir.join("weak.pub"), pem).unwrap();
}

/// The run's secret gone from beside the bundle.
fn without_secret(dir: &Path) {
    std::fs::remove_file(dir.join("run.bundle.secret")).unwrap();
}

/// The run's sealed store replaced by a directory: `run --force` over the
/// bundle fails after it wrote a new secret, which must not cost the old
/// bundle its own.
fn store_is_a_directory(dir: &Path) {
    std::fs::remove_file(dir.join("run.bundle.transcripts")).unwrap();
    std::fs::create_dir(dir.join("run.bundle.transcripts")).unwrap();
}

/// A suite directory (for export) holding one module of the embedded suite.
fn half_exported(dir: &Path) {
    std::fs::create_dir(dir.join("half")).unwrap();
    std::fs::write(dir.join("half/task_web_sqli.wasm"), b"someone else's file").unwrap();
}

const EVAL_KEY: &str = "keys/evaluator.key";
const EVAL_PUB: &str = "keys/evaluator.pub";
const AUTH_KEY: &str = "auth/authority.key";
const AUTH_PUB: &str = "auth/authority.pub";

// Argument builders: each case below states only the arguments that differ
// from its command's usual form.

/// `airlock run --agent null --key KEY --out OUT`, plus `extra`.
macro_rules! run_args {
    ($key:expr, $out:expr $(, $extra:expr)*) => {
        &["run", "--agent", "null", "--key", $key, "--out", $out $(, $extra)*]
    };
}

/// `airlock verify BUNDLE --trust TRUST`, plus `extra`.
macro_rules! verify_args {
    ($bundle:expr, $trust:expr $(, $extra:expr)*) => {
        &["verify", $bundle, "--trust", $trust $(, $extra)*]
    };
}

/// `airlock export BUNDLE --dsse OUT --key KEY`, plus `extra`.
macro_rules! export_args {
    ($bundle:expr, $out:expr, $key:expr $(, $extra:expr)*) => {
        &["export", $bundle, "--dsse", $out, "--key", $key $(, $extra)*]
    };
}

/// `airlock disclose BUNDLE --task crypto-xor --key KEY --out OUT`, plus `extra`.
macro_rules! disclose_args {
    ($bundle:expr, $key:expr, $out:expr $(, $extra:expr)*) => {
        &["disclose", $bundle, "--task", "crypto-xor", "--key", $key, "--out", $out $(, $extra)*]
    };
}

/// `airlock report BUNDLE --trust TRUST`, plus `extra`.
macro_rules! report_args {
    ($bundle:expr, $trust:expr $(, $extra:expr)*) => {
        &["report", $bundle, "--trust", $trust $(, $extra)*]
    };
}

/// `airlock suite build DIR --key KEY`, plus `extra`.
macro_rules! suite_build_args {
    ($dir:expr, $key:expr $(, $extra:expr)*) => {
        &["suite", "build", $dir, "--key", $key $(, $extra)*]
    };
}

/// `airlock suite verify DIR --trust TRUST`.
macro_rules! suite_verify_args {
    ($dir:expr, $trust:expr) => {
        &["suite", "verify", $dir, "--trust", $trust]
    };
}

/// `airlock export BUNDLE --inspect OUT --pubkey KEY`, plus `extra`.
macro_rules! inspect_args {
    ($bundle:expr, $out:expr, $key:expr $(, $extra:expr)*) => {
        &["export", $bundle, "--inspect", $out, "--pubkey", $key $(, $extra)*]
    };
}

/// `airlock suite export SUITE --out OUT`, plus `extra`.
macro_rules! suite_export_args {
    ($suite:expr, $out:expr $(, $extra:expr)*) => {
        &["suite", "export", $suite, "--out", $out $(, $extra)*]
    };
}

// The matrices are tables, one case a row: name, arguments, documented exit
// code, what stderr must name, and any preparation. rustfmt would spread
// each row over several lines.

#[test]
#[rustfmt::skip]
fn keygen_bad_input() {
    run_matrix(&[
        case("keygen-exists", &["keygen", "--out", "keys"], 2, EVAL_KEY),
        case("keygen-public-exists", &["keygen", "--out", "auth", "--name", "authority"], 2, AUTH_KEY),
        case("keygen-out-is-a-file", &["keygen", "--out", "run.bundle"], 2, "run.bundle"),
        case("keygen-bad-name", &["keygen", "--out", "k", "--name", "../evil"], 2, "../evil"),
        case("keygen-out-mode-000", &["keygen", "--out", "adir"], 2, "adir/evaluator.key")
            .unreadable("adir"),
        case("keygen-disk-full", &["keygen", "--out", "full/k"], 2, "full/k/evaluator.key")
            .full_disk(nothing),
    ]);
}

#[test]
#[rustfmt::skip]
fn run_bad_input() {
    run_matrix(&[
        case("run-key-missing", run_args!("missing.key", "new.bundle"), 2, "missing.key"),
        case("run-key-is-a-directory", run_args!("adir", "new.bundle"), 2, "adir"),
        case("run-key-mode-000", run_args!(EVAL_KEY, "new.bundle"), 2, EVAL_KEY)
            .unreadable(EVAL_KEY),
        case("run-key-too-open", run_args!("open.key", "new.bundle"), 2, "open.key"),
        case("run-key-is-public", run_args!(EVAL_PUB, "new.bundle"), 2, EVAL_PUB),
        case("run-key-is-garbage", run_args!("garbage.bundle", "new.bundle"), 2, "garbage.bundle"),
        case("run-profile-unknown",
            run_args!(EVAL_KEY, "new.bundle", "--profile", "no-such-profile"), 2, "no-such-profile"),
        case("run-profile-malformed",
            run_args!(EVAL_KEY, "new.bundle", "--profile", "bad.toml"), 2, "bad.toml"),
        case("run-profile-incomplete",
            run_args!(EVAL_KEY, "new.bundle", "--profile", "partial.toml"), 2, "partial.toml"),
        case("run-profile-missing-file",
            run_args!(EVAL_KEY, "new.bundle", "--profile", "missing.toml"), 2, "missing.toml"),
        case("run-profile-verification-only",
            run_args!(EVAL_KEY, "new.bundle", "--profile", "verifier-appliance"), 2, "verifier-appliance"),
        case("run-out-exists", run_args!(EVAL_KEY, "run.bundle"), 2, "run.bundle"),
        case("run-force-store-is-a-directory",
            run_args!(EVAL_KEY, "run.bundle", "--force"), 2, "run.bundle.transcripts")
            .with(store_is_a_directory),
        case("run-out-directory-missing",
            run_args!(EVAL_KEY, "nowhere/new.bundle"), 2, "nowhere/new.bundle"),
        case("run-suite-missing",
            run_args!(EVAL_KEY, "new.bundle", "--suite", "no-such-suite"), 2, "no-such-suite"),
        case("run-suite-untrusted",
            run_args!(EVAL_KEY, "new.bundle", "--suite", "suite", "--suite-trust", EVAL_PUB),
            2, "suite/suite.manifest"),
        case("run-suite-trust-is-private",
            run_args!(EVAL_KEY, "new.bundle", "--suite", "suite", "--suite-trust", AUTH_KEY),
            2, AUTH_KEY),
        case("run-suite-module-changed",
            run_args!(EVAL_KEY, "new.bundle", "--suite", "changed-suite", "--suite-trust", AUTH_PUB),
            2, "changed-suite/task_crypto_xor.wasm"),
        case("run-disk-full", run_args!(EVAL_KEY, "full/new.bundle"), 2, "full/new.bundle")
            .full_disk(nothing),
        case("run-station-corrupt",
            run_args!(EVAL_KEY, "new.bundle", "--station", "garbage.bundle"), 2, "garbage.bundle"),
        case("run-epochs-beyond-one-record",
            run_args!(EVAL_KEY, "new.bundle", "--epochs", "4000000000"), 2, "--epochs 4000000000"),
        case("run-task-unknown",
            run_args!(EVAL_KEY, "new.bundle", "--task", "no-such-task"), 2, "no-such-task"),
        case("run-category-unknown",
            run_args!(EVAL_KEY, "new.bundle", "--category", "no-such-category"), 2, "no-such-category"),
        case("run-config-missing",
            &["run", "--config", "missing.toml", "--key", EVAL_KEY, "--out", "new.bundle"],
            2, "missing.toml"),
        case("run-config-unknown-key",
            &["run", "--config", "campaign-typo.toml", "--key", EVAL_KEY, "--out", "new.bundle"],
            2, "campaign-typo.toml:3: unknown key \"epoch\""),
        case("run-config-bad-value",
            &["run", "--config", "campaign-bad-value.toml", "--key", EVAL_KEY, "--out", "new.bundle"],
            2, "campaign-bad-value.toml:2: key \"epochs\""),
        case("run-config-not-toml",
            &["run", "--config", "campaign-not-toml.toml", "--key", EVAL_KEY, "--out", "new.bundle"],
            2, "campaign-not-toml.toml:2"),
        // Refused before any server is asked: nothing listens on port 9.
        case("run-max-tokens-zero",
            &["run", "--agent", "openai:http://127.0.0.1:9", "--model", "m", "--max-tokens", "0",
              "--key", EVAL_KEY, "--out", "new.bundle"], 2, "--max-tokens"),
    ]);
}

#[test]
#[rustfmt::skip]
fn verify_bad_input() {
    run_matrix(&[
        case("verify-bundle-missing", verify_args!("missing.bundle", EVAL_PUB), 2, "missing.bundle"),
        case("verify-bundle-is-a-directory", verify_args!("adir", EVAL_PUB), 2, "adir"),
        case("verify-trust-mode-000", verify_args!("run.bundle", EVAL_PUB), 2, EVAL_PUB)
            .unreadable(EVAL_PUB),
        case("verify-bundle-mode-000", verify_args!("run.bundle", EVAL_PUB), 2, "run.bundle")
            .unreadable("run.bundle"),
        case("verify-trust-missing", verify_args!("run.bundle", "missing.pub"), 2, "missing.pub"),
        case("verify-trust-is-private", verify_args!("run.bundle", EVAL_KEY), 2, EVAL_KEY),
        case("verify-trust-is-weak", verify_args!("run.bundle", "weak.pub"), 2, "weak.pub")
            .with(weak_public_key),
        case("verify-suite-trust-is-weak",
            verify_args!("run.bundle", EVAL_PUB, "--suite", "suite", "--suite-trust", "weak.pub"),
            2, "weak.pub").with(weak_public_key),
        case("verify-bundle-garbage", verify_args!("garbage.bundle", EVAL_PUB), 1, "garbage.bundle"),
        case("verify-bundle-empty", verify_args!("empty.bundle", EVAL_PUB), 1, "empty.bundle"),
        case("verify-bundle-cut", verify_args!("cut.bundle", EVAL_PUB), 1, "cut.bundle"),
        case("verify-bundle-bit-flipped", verify_args!("flipped.bundle", EVAL_PUB), 1, "flipped.bundle"),
        case("verify-other-key", verify_args!("run.bundle", AUTH_PUB), 1, "run.bundle"),
        case("verify-disclosed-missing",
            verify_args!("run.bundle", EVAL_PUB, "--disclosed", "missing.json"), 2, "missing.json"),
        case("verify-disclosed-is-a-directory",
            verify_args!("run.bundle", EVAL_PUB, "--disclosed", "adir"), 2, "adir"),
        case("verify-disclosed-garbage",
            verify_args!("run.bundle", EVAL_PUB, "--disclosed", "garbage.json"), 1, "garbage.json"),
        case("verify-suite-trust-is-private",
            verify_args!("run.bundle", EVAL_PUB, "--suite", "suite", "--suite-trust", AUTH_KEY),
            2, AUTH_KEY),
    ]);
}

#[test]
#[rustfmt::skip]
fn export_bad_input() {
    run_matrix(&[
        case("export-key-is-public", export_args!("run.bundle", "out", EVAL_PUB), 2, EVAL_PUB),
        case("export-key-too-open", export_args!("run.bundle", "out", "open.key"), 2, "open.key"),
        case("export-key-missing", export_args!("run.bundle", "out", "missing.key"), 2, "missing.key"),
        case("export-bundle-missing",
            export_args!("missing.bundle", "out", EVAL_KEY), 2, "missing.bundle"),
        case("export-bundle-is-a-directory", export_args!("adir", "out", EVAL_KEY), 2, "adir"),
        case("export-key-mode-000", export_args!("run.bundle", "out", EVAL_KEY), 2, EVAL_KEY)
            .unreadable(EVAL_KEY),
        case("export-out-mode-000", export_args!("run.bundle", "adir/out", EVAL_KEY), 2, "adir")
            .unreadable("adir"),
        case("export-bundle-garbage",
            export_args!("garbage.bundle", "out", EVAL_KEY), 1, "garbage.bundle"),
        case("export-bundle-bit-flipped",
            export_args!("flipped.bundle", "out", EVAL_KEY), 1, "flipped.bundle"),
        case("export-other-key", export_args!("run.bundle", "out", AUTH_KEY), 2, "run.bundle"),
        case("export-out-exists",
            export_args!("run.bundle", "dsse", EVAL_KEY), 2, "dsse/results.intoto.jsonl"),
        case("export-out-is-a-file",
            export_args!("run.bundle", "run.bundle", EVAL_KEY), 2, "run.bundle"),
        case("export-disk-full",
            export_args!("run.bundle", "full/dsse", EVAL_KEY), 2, "full/dsse/results.intoto.jsonl")
            .full_disk(nothing),
        case("export-inspect-bit-flipped",
            inspect_args!("flipped.bundle", "out.json", EVAL_PUB), 1, "flipped.bundle"),
        case("export-inspect-other-key",
            inspect_args!("run.bundle", "out.json", AUTH_PUB), 1, "run.bundle"),
        case("export-inspect-out-exists",
            inspect_args!("run.bundle", "report.txt", EVAL_PUB), 2, "report.txt"),
        case("export-inspect-disclosed-missing",
            inspect_args!("run.bundle", "out.json", EVAL_PUB, "--disclosed", "missing.json"),
            2, "missing.json"),
        case("export-inspect-no-key", &["export", "run.bundle", "--inspect", "out.json"],
            2, "--key"),
        case("export-dsse-and-inspect",
            &["export", "run.bundle", "--dsse", "d", "--inspect", "o.json", "--key", EVAL_KEY],
            2, "--inspect"),
    ]);
}

#[test]
#[rustfmt::skip]
fn station_bad_input() {
    run_matrix(&[
        case("verify-registration-missing",
            verify_args!("run.bundle", EVAL_PUB, "--station-registration", "missing.reg"),
            2, "missing.reg"),
        case("verify-registration-not-one",
            verify_args!("run.bundle", EVAL_PUB, "--station-registration", EVAL_PUB),
            2, EVAL_PUB),
        case("verify-registration-is-a-directory",
            verify_args!("run.bundle", EVAL_PUB, "--station-registration", "adir"), 2, "adir"),
        case("station-enroll-key-missing",
            &["station", "enroll", "--key", "missing.key", "--tcti", "swtpm:port=9"],
            2, "missing.key"),
        case("station-enroll-key-is-public",
            &["station", "enroll", "--key", EVAL_PUB, "--tcti", "swtpm:port=9"], 2, EVAL_PUB),
        case("station-enroll-pcrs-other-bank",
            &["station", "enroll", "--key", EVAL_KEY, "--tcti", "swtpm:port=9", "--pcrs", "sha1:0"],
            2, "--pcrs"),
        case("station-enroll-pcr-out-of-range",
            &["station", "enroll", "--key", EVAL_KEY, "--tcti", "swtpm:port=9",
                "--pcrs", "sha256:0,24"],
            2, "--pcrs"),
        case("run-tcti-without-enrolment",
            run_args!(EVAL_KEY, "new.bundle", "--tcti", "swtpm:port=9"), 2, "--tcti"),
        case("run-tpm-station-not-enrolled",
            run_args!(EVAL_KEY, "new.bundle", "--tpm-station", "adir"), 2, "adir/registration"),
    ]);
}

#[test]
#[rustfmt::skip]
fn log_and_witness_bad_input() {
    const COSIGN: &[&str] = &["witness", "cosign", "garbage.json", "--key", AUTH_KEY,
        "--name", "w.example", "--log-key", EVAL_PUB, "--state", "w.state"];
    run_matrix(&[
        case("log-key-missing", &["log", "checkpoint", "--key", "missing.key"], 2, "missing.key"),
        case("log-key-is-public", &["log", "checkpoint", "--key", EVAL_PUB], 2, EVAL_PUB),
        case("log-no-station", &["log", "checkpoint", "--key", AUTH_KEY], 2, "auth/authority.station"),
        case("log-run-unknown", &["log", "prove", "--key", EVAL_KEY, "--run", "9"], 2, "run 9"),
        case("log-size-beyond", &["log", "checkpoint", "--key", EVAL_KEY, "--size", "5"], 2, "not 5"),
        case("log-consistency-backwards",
            &["log", "consistency", "--key", EVAL_KEY, "--from", "1", "--to", "0"], 2, "from 1 to 0"),
        case("log-cosigned-garbage",
            &["log", "prove", "--key", EVAL_KEY, "--run", "1", "--cosigned", "garbage.json"],
            2, "garbage.json"),
        case("log-out-exists",
            &["log", "checkpoint", "--key", EVAL_KEY, "--out", "run.bundle"], 2, "run.bundle"),
        case("log-disk-full",
            &["log", "checkpoint", "--key", EVAL_KEY, "--out", "full/checkpoint"], 2,
            "full/checkpoint").full_disk(nothing),
        case("witness-request-garbage", COSIGN, 2, "garbage.json"),
        case("witness-log-key-is-private",
            &["witness", "cosign", "run.bundle.tlog-proof", "--key", AUTH_KEY, "--name", "w.example",
              "--log-key", EVAL_KEY, "--state", "w.state"], 2, EVAL_KEY),
        case("verify-log-policy-missing",
            verify_args!("run.bundle", EVAL_PUB, "--log-policy", "missing.policy"), 2, "missing.policy"),
        case("verify-log-policy-garbage",
            verify_args!("run.bundle", EVAL_PUB, "--log-policy", "bad.policy"), 2, "bad.policy"),
        case("verify-log-checkpoint-garbage",
            verify_args!("run.bundle", EVAL_PUB, "--log-policy", "log.policy", "--checkpoint",
                "garbage.json"), 2, "garbage.json"),
        case("verify-log-receipt-missing",
            verify_args!("no-receipt.bundle", EVAL_PUB, "--log-policy", "log.policy"), 1,
            "no-receipt.bundle.tlog-proof"),
    ]);
}

#[test]
#[rustfmt::skip]
fn disclose_bad_input() {
    run_matrix(&[
        case("disclose-key-is-public",
            disclose_args!("run.bundle", EVAL_PUB, "d.json"), 2, EVAL_PUB),
        case("disclose-key-too-open",
            disclose_args!("run.bundle", "open.key", "d.json"), 2, "open.key"),
        case("disclose-bundle-missing",
            disclose_args!("missing.bundle", EVAL_KEY, "d.json"), 2, "missing.bundle"),
        case("disclose-bundle-is-a-directory",
            disclose_args!("adir", EVAL_KEY, "d.json"), 2, "adir"),
        case("disclose-bundle-mode-000",
            disclose_args!("run.bundle", EVAL_KEY, "d.json"), 2, "run.bundle")
            .unreadable("run.bundle"),
        case("disclose-store-mode-000",
            disclose_args!("run.bundle", EVAL_KEY, "d.json"), 2, "run.bundle.transcripts")
            .unreadable("run.bundle.transcripts"),
        case("disclose-bundle-garbage",
            disclose_args!("garbage.bundle", EVAL_KEY, "d.json"), 1, "garbage.bundle"),
        case("disclose-secret-missing",
            disclose_args!("run.bundle", EVAL_KEY, "d.json"), 2, "run.bundle.secret")
            .with(without_secret),
        case("disclose-task-unknown",
            &["disclose", "run.bundle", "--task", "no-such-task", "--key", EVAL_KEY, "--out", "d.json"],
            2, "no-such-task"),
        case("disclose-out-exists",
            disclose_args!("run.bundle", EVAL_KEY, "disclosed.json"), 2, "disclosed.json"),
        case("disclose-out-directory-missing",
            disclose_args!("run.bundle", EVAL_KEY, "nowhere/d.json"), 2, "nowhere/d.json"),
        case("disclose-disk-full",
            disclose_args!("run.bundle", EVAL_KEY, "full/d.json"), 2, "full/d.json")
            .full_disk(nothing),
    ]);
}

#[test]
#[rustfmt::skip]
fn report_bad_input() {
    run_matrix(&[
        case("report-bundle-missing", report_args!("missing.bundle", EVAL_PUB), 2, "missing.bundle"),
        case("report-bundle-is-a-directory", report_args!("adir", EVAL_PUB), 2, "adir"),
        case("report-bundle-mode-000", report_args!("run.bundle", EVAL_PUB), 2, "run.bundle")
            .unreadable("run.bundle"),
        case("report-out-mode-000",
            report_args!("run.bundle", EVAL_PUB, "--out", "adir/r.txt"), 2, "adir/r.txt")
            .unreadable("adir"),
        case("report-trust-is-private", report_args!("run.bundle", EVAL_KEY), 2, EVAL_KEY),
        case("report-profile-malformed",
            report_args!("run.bundle", EVAL_PUB, "--profile", "bad.toml"), 2, "bad.toml"),
        case("report-second-bundle-missing",
            &["report", "run.bundle", "missing.bundle", "--trust", EVAL_PUB], 2, "missing.bundle"),
        case("report-out-exists",
            report_args!("run.bundle", EVAL_PUB, "--out", "report.txt"), 2, "report.txt"),
        case("report-out-directory-missing",
            report_args!("run.bundle", EVAL_PUB, "--out", "nowhere/r.txt"), 2, "nowhere/r.txt"),
        case("report-disk-full",
            report_args!("run.bundle", EVAL_PUB, "--format", "html", "--out", "full/r.html"),
            2, "full/r.html")
            .full_disk(nothing),
    ]);
}

#[test]
#[rustfmt::skip]
fn suite_bad_input() {
    run_matrix(&[
        // build
        case("suite-build-key-is-public", suite_build_args!("unsigned", AUTH_PUB), 2, AUTH_PUB)
            .with(unsigned_suite),
        case("suite-build-key-too-open", suite_build_args!("unsigned", "open.key"), 2, "open.key")
            .with(unsigned_suite),
        case("suite-build-manifest-exists",
            suite_build_args!("suite", AUTH_KEY), 2, "suite/suite.manifest"),
        case("suite-build-directory-missing",
            suite_build_args!("no-such-suite", AUTH_KEY), 2, "no-such-suite"),
        case("suite-build-no-modules", suite_build_args!("adir", AUTH_KEY), 2, "adir"),
        case("suite-build-profile-unknown",
            suite_build_args!("unsigned", AUTH_KEY, "--profile", "no-such-profile"),
            2, "no-such-profile")
            .with(unsigned_suite),
        case("suite-build-disk-full",
            suite_build_args!("full/s", AUTH_KEY), 2, "full/s/suite.manifest")
            .full_disk(suite_on_full_disk),
        // verify
        case("suite-verify-directory-missing",
            suite_verify_args!("no-such-suite", AUTH_PUB), 2, "no-such-suite"),
        case("suite-verify-trust-is-private", suite_verify_args!("suite", AUTH_KEY), 2, AUTH_KEY),
        case("suite-verify-unsigned",
            suite_verify_args!("unsigned", AUTH_PUB), 2, "unsigned/suite.manifest")
            .with(unsigned_suite),
        case("suite-verify-manifest-mode-000",
            suite_verify_args!("suite", AUTH_PUB), 2, "suite/suite.manifest")
            .unreadable("suite/suite.manifest"),
        case("suite-verify-untrusted",
            suite_verify_args!("suite", EVAL_PUB), 1, "suite/suite.manifest"),
        case("suite-verify-module-changed",
            suite_verify_args!("changed-suite", AUTH_PUB), 1, "changed-suite/task_crypto_xor.wasm"),
        // export
        case("suite-export-unknown-suite",
            suite_export_args!("no-such-suite", "out", "--unsigned"), 2, "no-such-suite"),
        case("suite-export-key-is-public",
            suite_export_args!("default", "out", "--key", AUTH_PUB), 2, AUTH_PUB),
        case("suite-export-exists",
            suite_export_args!("default", "suite", "--key", AUTH_KEY), 2, "suite/task_crypto_xor.wasm"),
        case("suite-export-one-module-exists",
            suite_export_args!("default", "half", "--unsigned"), 2, "half/task_web_sqli.wasm")
            .with(half_exported),
        case("suite-export-out-is-a-file",
            suite_export_args!("default", "run.bundle", "--unsigned"), 2, "run.bundle"),
        case("suite-export-disk-full",
            suite_export_args!("default", "full/suite", "--key", AUTH_KEY),
            2, "full/suite/task_crypto_xor.wasm")
            .full_disk(nothing),
        // list
        case("suite-list-directory-missing",
            &["suite", "list", "--suite", "no-such-suite"], 2, "no-such-suite"),
        case("suite-list-unsigned", &["suite", "list", "--suite", "unsigned"], 2, "unsigned")
            .with(unsigned_suite),
        case("suite-list-trust-missing",
            &["suite", "list", "--suite", "suite", "--suite-trust", "missing.pub"], 2, "missing.pub"),
        case("suite-list-profile-unknown",
            &["suite", "list", "--profile", "no-such-profile"], 2, "no-such-profile"),
    ]);
}

/// A release directory whose recipe is not JSON.
fn release_recipe_garbage(dir: &Path) {
    std::fs::create_dir(dir.join("rel")).unwrap();
    std::fs::write(dir.join("rel/build-recipe.json"), b"{not json").unwrap();
}

/// A release directory whose recipe names an artifact that is not there.
fn release_artifact_missing(dir: &Path) {
    std::fs::create_dir(dir.join("rel")).unwrap();
    let recipe = serde_json::json!({
        "schema": "airlock-build-recipe/1",
        "source_commit": "0123456789abcdef0123456789abcdef01234567",
        "rustc": "rustc",
        "target": "x86_64-unknown-linux-musl",
        "cargo_lock_sha256": "00",
        "artifacts": ["airlock"],
    });
    std::fs::write(dir.join("rel/build-recipe.json"), recipe.to_string()).unwrap();
}

#[test]
#[rustfmt::skip]
fn release_bad_input() {
    run_matrix(&[
        case("release-sign-recipe-missing",
            &["release", "sign", "adir", "--key", AUTH_KEY], 2, "adir/build-recipe.json"),
        case("release-sign-recipe-garbage",
            &["release", "sign", "rel", "--key", AUTH_KEY], 2, "rel/build-recipe.json")
            .with(release_recipe_garbage),
        case("release-sign-artifact-missing",
            &["release", "sign", "rel", "--key", AUTH_KEY], 2, "rel/airlock")
            .with(release_artifact_missing),
        case("release-sign-key-is-public",
            &["release", "sign", "rel", "--key", AUTH_PUB], 2, AUTH_PUB)
            .with(release_artifact_missing),
        case("release-verify-manifest-missing",
            &["release", "verify", "adir", "--release-trust", AUTH_PUB], 2,
            "adir/release.intoto.json"),
        case("verify-release-manifest-missing",
            &["verify", "run.bundle", "--trust", EVAL_PUB, "--release", "missing.json",
              "--release-trust", AUTH_PUB], 2, "missing.json"),
        case("verify-release-trust-without-release",
            &["verify", "run.bundle", "--trust", EVAL_PUB, "--release-trust", AUTH_PUB], 2,
            "--release"),
    ]);
}

#[test]
#[rustfmt::skip]
fn profile_bad_input() {
    run_matrix(&[
        case("profile-list-bad-option", &["profile", "list", "--jsn"], 2, "--jsn"),
        case("profile-show-unknown", &["profile", "show", "no-such-profile"], 2, "no-such-profile"),
        case("profile-show-malformed", &["profile", "show", "bad.toml"], 2, "bad.toml"),
        case("profile-show-incomplete", &["profile", "show", "partial.toml"], 2, "partial.toml"),
        case("profile-show-mode-000", &["profile", "show", "bad.toml"], 2, "bad.toml")
            .unreadable("bad.toml"),
        case("profile-show-missing-file", &["profile", "show", "missing.toml"], 2, "missing.toml"),
        case("profile-show-is-a-directory", &["profile", "show", "adir/"], 2, "adir"),
        case("profile-show-fuel-outlasts-backstop",
            &["profile", "show", "outlasting.toml"], 2, "outlasting.toml"),
        case("profile-check-unknown", &["profile", "check", "no-such-profile"], 2, "no-such-profile"),
        case("profile-check-malformed", &["profile", "check", "bad.toml"], 2, "bad.toml"),
        case("profile-check-verification-only",
            &["profile", "check", "verifier-appliance"], 2, "verifier-appliance"),
        case("profile-check-suite-missing",
            &["profile", "check", "default", "--suite", "no-such-suite"], 2, "no-such-suite"),
        case("profile-calibrate-unknown",
            &["profile", "calibrate", "--profile", "no-such-profile"], 2, "no-such-profile"),
        case("profile-calibrate-malformed",
            &["profile", "calibrate", "--profile", "bad.toml"], 2, "bad.toml"),
    ]);
}

/// Every refusal of an existing output above gives way to `--force`, and
/// the output is then replaced whole.
#[test]
fn force_replaces_existing_outputs() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("case");
    copy_tree(fixture(), &dir);
    let run_in = |args: &[&str]| {
        let done = finish(airlock().current_dir(&dir).args(args));
        done.expect_code(0);
    };
    let old_report = std::fs::read(dir.join("report.txt")).unwrap();
    run_in(report_args!(
        "run.bundle",
        EVAL_PUB,
        "--format",
        "json",
        "--out",
        "report.txt",
        "--force"
    ));
    let new_report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert_ne!(new_report.as_bytes(), old_report);
    assert!(new_report.starts_with('{'), "{new_report}");

    std::fs::write(dir.join("disclosed.json"), b"old").unwrap();
    run_in(disclose_args!(
        "run.bundle",
        EVAL_KEY,
        "disclosed.json",
        "--force"
    ));
    assert!(
        std::fs::read_to_string(dir.join("disclosed.json"))
            .unwrap()
            .contains("airlock-disclosure/2")
    );

    std::fs::write(dir.join("dsse/signer.pub"), b"old").unwrap();
    run_in(export_args!("run.bundle", "dsse", EVAL_KEY, "--force"));
    assert_eq!(
        std::fs::read(dir.join("dsse/signer.pub")).unwrap(),
        std::fs::read(dir.join(EVAL_PUB)).unwrap()
    );

    std::fs::write(dir.join("suite/task_crypto_xor.wasm"), b"old").unwrap();
    run_in(suite_export_args!(
        "default", "suite", "--key", AUTH_KEY, "--force"
    ));
    run_in(suite_verify_args!("suite", AUTH_PUB));

    run_in(suite_build_args!(
        "suite", AUTH_KEY, "--name", "renamed", "--force"
    ));
    run_in(suite_verify_args!("suite", AUTH_PUB));

    let old_bundle = std::fs::read(dir.join("run.bundle")).unwrap();
    run_in(run_args!(
        EVAL_KEY,
        "run.bundle",
        "--seed",
        seed(2).as_str(),
        "--force"
    ));
    assert_ne!(std::fs::read(dir.join("run.bundle")).unwrap(), old_bundle);
    run_in(verify_args!("run.bundle", EVAL_PUB));

    // No temporary file is left anywhere.
    let leftovers: Vec<PathBuf> = tree(&dir)
        .into_keys()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A disk that fills up part way through a run: the run stops with exit 2,
/// naming the file and saying how to go on; its journal keeps the results
/// that were durable, and once there is room `--resume` finishes a bundle
/// that verifies.
#[test]
fn run_on_a_disk_that_fills_up_part_way_resumes() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("case");
    copy_tree(fixture(), &dir);
    let _mount = match mount_small_tmpfs(&dir.join("full")) {
        Ok(mount) => mount,
        Err(why) => {
            skipped!(
                "run_on_a_disk_that_fills_up_part_way_resumes: cannot mount a small tmpfs: {why}"
            );
            return;
        }
    };
    // 20 KiB free: room for the run's start, not for its eight transcripts.
    std::fs::write(dir.join("full/filler"), vec![0u8; 44 * 1024]).unwrap();
    let seed3 = seed(3);
    let args = run_args!(EVAL_KEY, "full/new.bundle", "--seed", seed3.as_str());
    let done = finish(airlock().current_dir(&dir).args(args));
    done.expect_code(2);
    assert!(done.stderr.contains("No space left on device"), "{done}");
    assert!(
        done.stderr.contains(
            "the results so far are kept in full/new.bundle.journal: continue the run with --resume"
        ),
        "{done}"
    );
    assert!(!dir.join("full/new.bundle").exists());
    assert!(dir.join("full/new.bundle.journal").exists());

    std::fs::remove_file(dir.join("full/filler")).unwrap();
    let done = finish(airlock().current_dir(&dir).args(args).arg("--resume"));
    done.expect_code(0);
    let done = finish(
        airlock()
            .current_dir(&dir)
            .args(verify_args!("full/new.bundle", EVAL_PUB)),
    );
    done.expect_code(0);
    assert!(!dir.join("full/new.bundle.journal").exists());
}

/// The signed suite's crypto-xor module replaced by a FIFO that no one
/// writes: opening it for reading would block forever.
#[cfg(unix)]
fn module_is_a_fifo(dir: &Path) {
    let module = dir.join("suite/task_crypto_xor.wasm");
    std::fs::remove_file(&module).unwrap();
    let made = Command::new("mkfifo").arg(&module).status().unwrap();
    assert!(made.success(), "mkfifo failed");
}

/// The module replaced by a link to `/dev/zero`: a read that never ends.
#[cfg(unix)]
fn module_is_dev_zero(dir: &Path) {
    let module = dir.join("suite/task_crypto_xor.wasm");
    std::fs::remove_file(&module).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &module).unwrap();
}

/// The module replaced by a sparse 8 GiB file: hashing it whole would take
/// a minute, reading it whole 8 GiB of memory.
#[cfg(unix)]
fn module_is_huge(dir: &Path) {
    let module = dir.join("suite/task_crypto_xor.wasm");
    let file = std::fs::File::create(&module).unwrap();
    file.set_len(8 << 30).unwrap();
}

/// Hostile files and arguments: each must be refused (or served) at once,
/// never waited on, read whole or allowed to panic the binary.
#[test]
#[rustfmt::skip]
#[cfg(unix)]
fn hostile_files_and_arguments() {
    const MODULE: &str = "suite/task_crypto_xor.wasm";
    run_matrix(&[
        case("suite-verify-module-fifo", suite_verify_args!("suite", AUTH_PUB), 2, MODULE)
            .with(module_is_a_fifo),
        case("suite-verify-module-dev-zero", suite_verify_args!("suite", AUTH_PUB), 2, MODULE)
            .with(module_is_dev_zero),
        case("suite-verify-module-huge", suite_verify_args!("suite", AUTH_PUB), 2, MODULE)
            .with(module_is_huge),
        case("verify-suite-module-fifo",
            verify_args!("run.bundle", EVAL_PUB, "--suite", "suite", "--suite-trust", AUTH_PUB),
            2, MODULE).with(module_is_a_fifo),
        case("verify-suite-module-dev-zero",
            verify_args!("run.bundle", EVAL_PUB, "--suite", "suite", "--suite-trust", AUTH_PUB),
            2, MODULE).with(module_is_dev_zero),
        case("verify-suite-module-huge",
            verify_args!("run.bundle", EVAL_PUB, "--suite", "suite", "--suite-trust", AUTH_PUB),
            2, MODULE).with(module_is_huge),
        case("verify-threads-200000", verify_args!("run.bundle", EVAL_PUB, "--threads", "200000"),
            0, ""),
    ]);
}
