//! Compiles the task crates of `tasks.rs` to `wasm32-unknown-unknown` with a
//! nested cargo build and generates `suite.rs`, which embeds each module
//! with its blake3 digest.
//!
//! The module bytes are pinned by their digests in signed suite manifests,
//! so they must not depend on the machine that built them: the nested build
//! gets a clean environment (nothing of the outer build's flags, profile,
//! features or wrappers leaks in) and path remapping for every
//! machine-specific directory that could end up in panic locations.

use core::fmt::Write as _;
use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-task";

/// `(task id, crate name)` of each task, in suite order.
macro_rules! suite {
    ($($id:literal => $krate:ident { $task:ident, $solver:ident };)*) => {
        const TASKS: &[(&str, &str)] = &[$(($id, stringify!($krate))),*];
    };
}
include!("tasks.rs");

fn main() {
    let manifest_dir = path_var("CARGO_MANIFEST_DIR");
    let out_dir = path_var("OUT_DIR");
    let workspace = manifest_dir
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| fail(&format!("cannot find the workspace root: {e}")));

    for watched in [
        "sandbox-tasks/sdk",
        "sandbox-tasks/tasks",
        "sandbox-tasks/suite/tasks.rs",
        "core/src",
        "core/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-changed=build.rs");

    check_target_installed();

    let target_dir = out_dir.join("wasm-target");
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // From the workspace root, so that its .cargo/config.toml (e.g. vendored
    // sources on an air-gapped machine) applies as it does to the outer build.
    cargo.current_dir(&workspace).args([
        "build",
        "--locked",
        "--profile",
        PROFILE,
        "--target",
        WASM_TARGET,
    ]);
    cargo
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for (_, krate) in TASKS {
        cargo.arg("-p").arg(krate.replace('_', "-"));
    }
    clean_environment(&mut cargo);
    cargo.env(
        "CARGO_ENCODED_RUSTFLAGS",
        remap_flags(&workspace, &target_dir).join("\x1f"),
    );
    cargo.env("CARGO_INCREMENTAL", "0");
    // Our stdout is read by cargo for `cargo:` lines: the nested build's
    // output belongs on stderr.
    cargo.stdout(Stdio::from(std::io::stderr()));

    let status = cargo
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo for the task modules: {e}")));
    if !status.success() {
        fail(&format!(
            "building the task modules failed ({status}); see the errors above"
        ));
    }

    let built = target_dir.join(WASM_TARGET).join(PROFILE);
    let modules_dir = out_dir.join("modules");
    fs::create_dir_all(&modules_dir)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", modules_dir.display())));
    let mut source = String::from(
        "/// The embedded modules, in suite order.\nstatic MODULES: &[EmbeddedModule] = &[\n",
    );
    for (id, krate) in TASKS {
        let file_name = format!("{krate}.wasm");
        let bytes = fs::read(built.join(&file_name)).unwrap_or_else(|e| {
            fail(&format!(
                "the nested build did not produce {file_name}: {e}"
            ))
        });
        // A copy of our own, so the nested target dir can be cleaned freely.
        let copy = modules_dir.join(&file_name);
        fs::write(&copy, &bytes)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", copy.display())));
        let digest = blake3::hash(&bytes);
        let _ = write!(
            source,
            "    EmbeddedModule {{\n        task_id: {id:?},\n        file_name: {file_name:?},\n        \
             bytes: include_bytes!({copy:?}),\n        digest: {digest:?},\n    }},\n",
            copy = copy.display().to_string(),
            digest = digest.as_bytes(),
        );
    }
    source.push_str("];\n");
    let generated = out_dir.join("suite.rs");
    fs::write(&generated, source)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", generated.display())));
}

fn fail(message: &str) -> ! {
    panic!("airlock-default-suite: {message}")
}

fn path_var(name: &str) -> PathBuf {
    env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| fail(&format!("cargo did not set {name}")))
}

/// Fails with instructions when the standard library for wasm32 is missing,
/// instead of letting the nested build fail with "can't find crate for `core`".
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(output) = Command::new(&rustc).args(["--print", "sysroot"]).output() else {
        // Let the nested build report whatever is wrong with rustc.
        return;
    };
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let target_lib = Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET);
    if output.status.success() && !target_lib.exists() {
        fail(&format!(
            "the Rust target {WASM_TARGET} is not installed, and the task modules are built \
             for it. Install it with `rustup target add {WASM_TARGET}` (or run \
             `cargo xtask setup`), then build again."
        ));
    }
}

/// Removes every variable through which the outer build could change the
/// nested one: flags, wrappers, profile and target settings, and the
/// build-script variables that describe the outer package.
///
/// Kept on purpose: the jobserver (`CARGO_MAKEFLAGS`, `MAKEFLAGS`), so
/// the nested build shares the outer build's job slots; `CARGO_HOME` and
/// the network, registry and source settings, so that it finds the same
/// dependencies; `RUSTC` and `RUSTUP_TOOLCHAIN`, so that it uses the same
/// compiler.
fn clean_environment(cargo: &mut Command) {
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_SOURCE_",
        "CARGO_TERM_",
    ];
    const REMOVE: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
    ];
    for (key, _) in env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        let cargo_setting = name.starts_with("CARGO_") && !KEEP.iter().any(|k| name.starts_with(k));
        if cargo_setting || REMOVE.contains(&name) {
            cargo.env_remove(&key);
        }
    }
}

/// `--remap-path-prefix` flags for each machine-specific directory, from
/// the most general to the most specific (rustc applies the last match).
fn remap_flags(workspace: &Path, target_dir: &Path) -> Vec<String> {
    let home = env::var_os("HOME").map(PathBuf::from);
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".cargo")));
    let rustup_home = env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".rustup")));
    let mut pairs: Vec<(Option<PathBuf>, &str)> = vec![
        (home, "/home"),
        (rustup_home, "/rustup"),
        (cargo_home, "/cargo"),
        (Some(workspace.to_path_buf()), "/airlock"),
        (Some(target_dir.to_path_buf()), "/target"),
    ];
    // Canonical and as-given spellings can differ (symlinked homes).
    let mut flags = Vec::new();
    for (from, to) in pairs.drain(..) {
        let Some(from) = from else { continue };
        let mut spellings: Vec<OsString> = vec![from.clone().into_os_string()];
        if let Ok(canonical) = from.canonicalize()
            && canonical != from
        {
            spellings.push(canonical.into_os_string());
        }
        for spelling in spellings {
            if let Some(from) = spelling.to_str() {
                flags.push(format!("--remap-path-prefix={from}={to}"));
            }
        }
    }
    flags
}
