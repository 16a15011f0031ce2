//! The enclave release made by `cargo xtask dist`, in the directory named by
//! `AIRLOCK_DIST_DIR` (`cargo xtask test` sets it when `target/dist` holds a
//! build): the binaries are static, the runner runs `demo` in an empty root
//! with no network, and the SBOM is valid CycloneDX 1.5 by
//! `cyclonedx-python-lib`'s strict validator (with the interpreter named by
//! `AIRLOCK_PYTHON`). That the vendored archive rebuilds offline to the same
//! bytes is `cargo xtask dist --check`.
//!
//! Without `AIRLOCK_DIST_DIR` the tests are skipped with a message; under
//! `CI=true` they fail, since `.ci/run` builds the release first.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The dist directory, or `None` (after saying so) when it is not given.
fn dist_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("AIRLOCK_DIST_DIR") {
        return Some(PathBuf::from(dir));
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "AIRLOCK_DIST_DIR is not set under CI=true: .ci/run must run `cargo xtask dist` before \
         `cargo xtask test`, which then points AIRLOCK_DIST_DIR at target/dist"
    );
    eprintln!(
        "SKIPPED: AIRLOCK_DIST_DIR is not set; run `cargo xtask dist`, then `cargo xtask test` \
         (or set AIRLOCK_DIST_DIR to target/dist)"
    );
    None
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Program header types of the ELF file, and whether its dynamic section
/// (if any) names a shared library (`DT_NEEDED`). Parses just enough of
/// ELF64 little-endian to tell a static executable from a dynamic one.
fn elf_linking(bytes: &[u8]) -> (Vec<u32>, bool) {
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 2, "not ELF64");
    assert_eq!(bytes[5], 1, "not little-endian");
    let phoff = usize::try_from(u64_at(0x20)).unwrap_or(usize::MAX);
    let phentsize = usize::from(u16_at(0x36));
    let phnum = usize::from(u16_at(0x38));
    let mut types = Vec::new();
    let mut needs_library = false;
    for index in 0..phnum {
        let header = phoff + index * phentsize;
        let kind = u32_at(header);
        types.push(kind);
        // PT_DYNAMIC: a static-pie binary has one (for its own relocation),
        // but it names no library.
        if kind == 2 {
            let offset = usize::try_from(u64_at(header + 8)).unwrap_or(usize::MAX);
            let size = usize::try_from(u64_at(header + 32)).unwrap_or(0);
            for entry in (offset..offset + size).step_by(16) {
                let tag = u64_at(entry);
                if tag == 0 {
                    break;
                }
                needs_library |= tag == 1;
            }
        }
    }
    (types, needs_library)
}

#[test]
fn dist_binaries_are_statically_linked() {
    let Some(dist) = dist_dir() else { return };
    for name in ["airlock", "airlock-verifier"] {
        let path = dist.join(name);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let (types, needs_library) = elf_linking(&bytes);
        // PT_INTERP: the binary asks for a dynamic loader.
        assert!(
            !types.contains(&3),
            "{name} has a PT_INTERP header: it is dynamically linked"
        );
        assert!(!needs_library, "{name} names a shared library (DT_NEEDED)");
        let ldd = Command::new("ldd")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("running ldd: {e}"));
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&ldd.stdout),
            String::from_utf8_lossy(&ldd.stderr)
        );
        assert!(
            said.contains("not a dynamic executable") || said.contains("statically linked"),
            "ldd {name}: {said}"
        );
        assert!(
            !said.contains("=>"),
            "ldd lists libraries for {name}: {said}"
        );
    }
}

#[test]
fn dist_airlock_runs_demo_in_an_empty_root_without_network() {
    let Some(dist) = dist_dir() else { return };
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("root");
    // Only the binary, and /tmp for demo's throwaway key and bundles.
    std::fs::create_dir_all(root.join("tmp")).expect("make root/tmp");
    std::fs::copy(dist.join("airlock"), root.join("airlock")).expect("copy the binary");
    let entries: Vec<_> = std::fs::read_dir(&root)
        .expect("list the root")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(
        entries.len(),
        2,
        "the root holds only airlock and tmp: {entries:?}"
    );
    // A user namespace (so no privilege is needed), a network namespace of
    // its own (only a down loopback), and chroot into the root.
    let output = Command::new("unshare")
        .args(["--map-root-user", "--net", "chroot"])
        .arg(&root)
        .args(["/airlock", "demo"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TMPDIR", "/tmp")
        .output()
        .expect("running unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo in an empty root failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("reference agent") && stdout.contains("null agent"),
        "demo printed no score table for both agents:\n{stdout}"
    );
}

#[test]
fn dist_recipe_has_the_agreed_shape() {
    let Some(dist) = dist_dir() else { return };
    let recipe = read_json(&dist.join("build-recipe.json"));
    let Some(object) = recipe.as_object() else {
        panic!("the recipe is not an object");
    };
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = vec![
        "schema",
        "source_commit",
        "source_date_epoch",
        "rustc",
        "cargo",
        "target",
        "profile",
        "cargo_lock_sha256",
        "source_archive",
        "command",
        "env",
        "knobs",
        "artifacts",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(recipe["schema"], "airlock-build-recipe/1");
    let is_hex = |v: &Value, len: usize| {
        v.as_str()
            .is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    assert!(
        is_hex(&recipe["source_commit"], 40),
        "{}",
        recipe["source_commit"]
    );
    assert!(is_hex(&recipe["cargo_lock_sha256"], 64));
    assert!(recipe["source_date_epoch"].is_u64());
    assert!(
        recipe["rustc"]
            .as_str()
            .is_some_and(|s| s.contains("commit-hash: "))
    );
    assert_eq!(recipe["target"], "x86_64-unknown-linux-musl");
    assert_eq!(recipe["profile"], "dist");
    assert_eq!(recipe["command"][0], "cargo");
    assert!(
        recipe["env"]["SOURCE_DATE_EPOCH"].as_str()
            == Some(&recipe["source_date_epoch"].to_string())
    );
    for knob in recipe["knobs"].as_array().expect("knobs is an array") {
        for key in ["name", "value", "why"] {
            assert!(
                knob[key].as_str().is_some_and(|s| !s.is_empty()),
                "knob {knob}"
            );
        }
    }
    let artifacts = recipe["artifacts"]
        .as_array()
        .expect("artifacts is an array");
    assert_eq!(artifacts.len(), 4);
    assert!(artifacts.contains(&recipe["source_archive"]));
    for artifact in artifacts {
        let name = artifact.as_str().expect("artifact names are strings");
        assert!(
            dist.join(name).is_file(),
            "artifact {name} is not in the dist dir"
        );
    }
}

#[test]
fn dist_sbom_is_valid_cyclonedx_of_the_binary() {
    let Some(dist) = dist_dir() else { return };
    let path = dist.join("airlock.cdx.json");
    let sbom = read_json(&path);
    let components = sbom["components"].as_array().expect("components");
    let has = |name: &str, version: Option<&str>| {
        components
            .iter()
            .any(|c| c["name"] == name && version.is_none_or(|v| c["version"] == v))
    };
    assert!(
        has("wasmtime", Some("48.0.8")),
        "the runner links wasmtime 48.0.8"
    );
    assert!(has("ring", None) && has("blake3", None));
    for component in components {
        let (name, version) = (&component["name"], &component["version"]);
        assert_eq!(
            component["purl"].as_str(),
            Some(
                format!(
                    "pkg:cargo/{}@{}",
                    name.as_str().unwrap_or(""),
                    version.as_str().unwrap_or("")
                )
                .as_str()
            )
        );
    }
    // Registry crates carry Cargo.lock's checksum.
    let ring = components
        .iter()
        .find(|c| c["name"] == "ring")
        .expect("ring");
    assert_eq!(ring["hashes"][0]["alg"], "SHA-256");
    assert_eq!(
        ring["hashes"][0]["content"].as_str().map(str::len),
        Some(64)
    );
    // Not for another target: no Windows-only crate is in the binary.
    assert!(
        !has("windows-sys", None),
        "windows-sys is not linked into a Linux binary"
    );

    let Some(python) = std::env::var_os("AIRLOCK_PYTHON") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "AIRLOCK_PYTHON is not set under CI=true: the SBOM is validated by cyclonedx-python-lib"
        );
        eprintln!("SKIPPED: AIRLOCK_PYTHON is not set; the SBOM's schema validation is skipped");
        return;
    };
    let script = "import sys\n\
from cyclonedx.schema import SchemaVersion\n\
from cyclonedx.validation.json import JsonStrictValidator\n\
errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
print(errors if errors is not None else 'valid')\n\
sys.exit(1 if errors is not None else 0)\n";
    let output = Command::new(python)
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("running python");
    assert!(
        output.status.success(),
        "cyclonedx-python-lib rejects the SBOM: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The real release, signed here with a release key made for the test by
/// the dist runner itself: every artifact checks out against the manifest,
/// the manifest verifies with securesystemslib and parses strictly with
/// in-toto-attestation (`tests/python/verify_release.py`), a bundle made by
/// the dist runner passes the release level (under the full build and the
/// dist verifier alike), and a bundle made by the development build — a
/// runner the manifest does not list — fails it with exit 1.
#[test]
#[allow(clippy::unwrap_used)]
fn signed_dist_release_admits_its_own_runner_and_no_other() {
    use airlock_tests::{Key, airlock, airlock_bin, finish, keygen_named, seed};
    let Some(dist) = dist_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("dist");
    std::fs::create_dir(&release).unwrap();
    for entry in std::fs::read_dir(&dist).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() && entry.file_name() != "release.intoto.json" {
            std::fs::copy(entry.path(), release.join(entry.file_name())).unwrap();
        }
    }
    let key = keygen_named(dir.path(), "release");
    let evaluator = keygen_named(dir.path(), "evaluator");
    let runner = release.join("airlock");
    finish(
        Command::new(&runner)
            .args(["release", "sign"])
            .arg(&release)
            .arg("--key")
            .arg(&key.private),
    )
    .expect_code(0);
    finish(
        Command::new(&runner)
            .args(["release", "verify"])
            .arg(&release)
            .arg("--release-trust")
            .arg(&key.public),
    )
    .expect_code(0);
    if let Some(python) = std::env::var_os("AIRLOCK_PYTHON") {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/verify_release.py");
        let done = finish(
            Command::new(python)
                .arg(script)
                .arg(&release)
                .arg(&key.public),
        );
        done.expect_code(0);
        assert!(
            done.stdout.contains("4 subjects match their files"),
            "{done}"
        );
    } else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "AIRLOCK_PYTHON is not set under CI=true"
        );
    }

    let run = |bin: &Path, out: &Path| {
        finish(
            Command::new(bin)
                .args(["run", "--agent", "reference", "--seed", &seed(5)])
                .arg("--key")
                .arg(&evaluator.private)
                .arg("--out")
                .arg(out),
        )
        .expect_code(0);
    };
    let verify = |verifier: &mut Command, bundle: &Path, trust: &Key, release_key: &Key| {
        finish(
            verifier
                .arg("verify")
                .arg(bundle)
                .arg("--trust")
                .arg(&trust.public)
                .arg("--release")
                .arg(release.join("release.intoto.json"))
                .arg("--release-trust")
                .arg(&release_key.public),
        )
    };
    let admitted = dir.path().join("dist-runner.bundle");
    run(&runner, &admitted);
    verify(&mut airlock(), &admitted, &evaluator, &key).expect_code(0);
    let done = verify(
        &mut Command::new(release.join("airlock-verifier")),
        &admitted,
        &evaluator,
        &key,
    );
    done.expect_code(0);
    assert!(done.stdout.contains("release: passed"), "{done}");

    let foreign = dir.path().join("development-build.bundle");
    run(&airlock_bin(), &foreign);
    let done = verify(&mut airlock(), &foreign, &evaluator, &key);
    done.expect_code(1);
    assert!(
        done.stdout.contains("is not an artifact of release"),
        "{done}"
    );
}
