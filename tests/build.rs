//! Compiles the Rust guests of the hostile task corpus (`hostile/*.rs`) to
//! WebAssembly with rustc alone: each is one `no_std` file with no
//! dependencies, so no nested cargo build is needed. The modules land in
//! `OUT_DIR/hostile/NAME.wasm`, where `tests/hostile.rs` reads them.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let corpus = manifest_dir.join("hostile");
    println!("cargo:rerun-if-changed={}", corpus.display());
    let built = out_dir.join("hostile");
    fs::create_dir_all(&built)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", built.display())));
    let mut guests: Vec<PathBuf> = fs::read_dir(&corpus)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", corpus.display())))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    guests.sort();
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    for guest in guests {
        println!("cargo:rerun-if-changed={}", guest.display());
        compile(&rustc, &guest, &built);
    }
}

fn compile(rustc: &std::ffi::OsStr, source: &Path, out: &Path) {
    let Some(name) = source.file_stem() else {
        return;
    };
    let mut wasm = out.join(name);
    wasm.set_extension("wasm");
    let output = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "cdylib",
            "--target",
            WASM_TARGET,
        ])
        .args([
            "-C",
            "panic=abort",
            "-C",
            "opt-level=s",
            "-C",
            "strip=symbols",
        ])
        // Panic locations name the source file: keep this machine's paths out.
        .arg(remap(source))
        .arg("-o")
        .arg(&wasm)
        .arg(source)
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run rustc: {e}")));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("can't find crate for `core`") {
            format!(
                "\nthe Rust target {WASM_TARGET} is not installed: `rustup target add {WASM_TARGET}` \
                 (or `cargo xtask setup`)"
            )
        } else {
            String::new()
        };
        fail(&format!(
            "compiling {} failed ({}):\n{stderr}{hint}",
            source.display(),
            output.status
        ));
    }
}

/// `--remap-path-prefix` that turns the source's directory into `hostile`.
fn remap(source: &Path) -> std::ffi::OsString {
    let mut flag = std::ffi::OsString::from("--remap-path-prefix=");
    if let Some(dir) = source.parent() {
        flag.push(dir);
    }
    flag.push("=hostile");
    flag
}

fn fail(message: &str) -> ! {
    panic!("airlock-tests: {message}")
}
