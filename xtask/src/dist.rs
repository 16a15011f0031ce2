//! `cargo xtask dist`: the release for the enclave, in `target/dist/`.
//!
//! Everything is built from the source archive the release ships, extracted
//! into a fresh directory and built offline with an empty `CARGO_HOME`, so
//! that the binaries are by construction what the archive produces. `--check`
//! repeats that build in another directory, later, with networking removed
//! (`unshare -n`), and requires bit-identical binaries: one check for both
//! "the vendored archive builds offline" and "two builds from different
//! directories at different times agree".
//!
//! Each reproducibility knob is listed in [`knobs`] with why it is there;
//! the same list goes into `build-recipe.json` and the README's "Release
//! builds" section.

use core::fmt::Write as _;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{capture, step, target_dir, workspace_root};

/// The enclave's target: musl links statically, so the binary needs nothing
/// of the machine it runs on.
pub(crate) const TARGET: &str = "x86_64-unknown-linux-musl";

/// The cargo profile of the release (workspace Cargo.toml, `[profile.dist]`).
const PROFILE: &str = "dist";

/// Where remapped paths point in the binaries: fixed strings, whatever the
/// directories were on the building machine.
const REMAP_SOURCE: &str = "/airlock";
const REMAP_CARGO_HOME: &str = "/cargo";
const REMAP_TARGET: &str = "/target";

/// The Debian package with `musl-gcc`, which compiles ring's C and assembly
/// for the musl target.
const MUSL_PACKAGE: &str = "musl-tools";

/// The binaries of the release: (file name in the dist dir, extra cargo
/// arguments). The verifier's build leaves out the sandbox feature (no
/// WebAssembly engine), as `verifier_build` in main.rs does.
const BINARIES: &[(&str, &[&str])] = &[
    ("airlock", &[]),
    ("airlock-verifier", &["--no-default-features"]),
];

/// The SBOM's file name in the dist dir.
const SBOM: &str = "airlock.cdx.json";

/// The recipe's file name in the dist dir.
const RECIPE: &str = "build-recipe.json";

/// Runs `cargo xtask dist` (or, with `check`, `cargo xtask dist --check`);
/// with `release_key`, the dist runner itself then signs the release
/// (`airlock release sign`, SPEC.md "Release manifest").
pub(crate) fn dist(check: bool, release_key: Option<&Path>) -> Result<()> {
    install_prerequisites()?;
    let toolchain = Toolchain::find()?;
    let target = target_dir()?;
    let dist_dir = target.join("dist");
    let work = target.join("dist-work");
    if check {
        return check_rebuild(&toolchain, &dist_dir, &work);
    }
    let started = Instant::now();
    let source = Source::of_head()?;
    reset_dir(&work)?;
    reset_dir(&dist_dir)?;

    let archive_name = format!("airlock-{}-src.tar.gz", source.version);
    let archive = dist_dir.join(&archive_name);
    let archive_started = Instant::now();
    make_source_archive(&toolchain, &source, &work.join("archive"), &archive)?;
    let archive_time = archive_started.elapsed();

    let build_started = Instant::now();
    let build = build_from_archive(&toolchain, &source, &archive, &work.join("build"), false)?;
    let build_time = build_started.elapsed();
    for (name, _) in BINARIES {
        fs::copy(build.out.join(name), dist_dir.join(name))
            .with_context(|| format!("copying {name} into {}", dist_dir.display()))?;
    }

    let sbom = sbom(&toolchain, &source, &build)?;
    write_json(&dist_dir.join(SBOM), &sbom)?;
    let lock =
        fs::read(build.src.join("Cargo.lock")).context("reading the archive's Cargo.lock")?;
    let recipe = json!({
        "schema": "airlock-build-recipe/1",
        "source_commit": source.commit,
        "source_date_epoch": source.epoch,
        "rustc": toolchain.rustc_version,
        "cargo": toolchain.cargo_version,
        "target": TARGET,
        "profile": PROFILE,
        "cargo_lock_sha256": sha256_hex(&lock),
        "source_archive": archive_name,
        "command": build.command_for_recipe,
        "env": build.env_for_recipe,
        "knobs": knobs().iter().map(|k| json!({"name": k.name, "value": k.value, "why": k.why})).collect::<Vec<_>>(),
        "artifacts": ["airlock", "airlock-verifier", archive_name, SBOM],
    });
    write_json(&dist_dir.join(RECIPE), &recipe)?;

    eprintln!("xtask: dist: {} ({})", dist_dir.display(), source.commit);
    for name in [BINARIES[0].0, BINARIES[1].0, &archive_name, SBOM, RECIPE] {
        let path = dist_dir.join(name);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        eprintln!(
            "xtask:   {name:<28} {:>11} bytes  sha256 {}",
            bytes.len(),
            sha256_hex(&bytes)
        );
    }
    report_hash_times(
        &dist_dir.join("airlock"),
        &target.join("release").join("airlock"),
    )?;
    match release_key {
        // The runner that signs is the one shipped, so the engine settings
        // the manifest lists are the released binary's own.
        Some(key) => step(
            "sign the release (airlock release sign)",
            Command::new(dist_dir.join("airlock"))
                .args(["release", "sign"])
                .arg(&dist_dir)
                .arg("--key")
                .arg(key),
        )?,
        None => eprintln!(
            "xtask: dist: not signed; sign it with `target/dist/airlock release sign target/dist --key RELEASE.key` or pass --release-key"
        ),
    }
    eprintln!(
        "xtask: dist took {:.0} s (source archive {:.0} s, builds {:.0} s)",
        started.elapsed().as_secs_f64(),
        archive_time.as_secs_f64(),
        build_time.as_secs_f64()
    );
    Ok(())
}

/// A reproducibility setting of the dist build, recorded in the recipe.
struct Knob {
    name: &'static str,
    value: &'static str,
    why: &'static str,
}

/// Every setting that makes the dist build reproducible, with its reason.
fn knobs() -> &'static [Knob] {
    &[
        Knob {
            name: "build from the source archive",
            value: "extract airlock-VERSION-src.tar.gz into a fresh directory; build there",
            why: "the shipped binaries are by construction what the shipped archive builds; \
                  nothing of the developer's tree (untracked files, old target dirs) can leak in",
        },
        Knob {
            name: "--locked --offline, vendored sources",
            value: "cargo vendor --versioned-dirs --locked; .cargo/config.toml replaces crates-io with vendor/",
            why: "the dependency set is exactly Cargo.lock's, read from the archive; no registry \
                  is consulted, so the build works air-gapped and cannot pick up a newer crate",
        },
        Knob {
            name: "empty CARGO_HOME and HOME",
            value: "{build}/cargo-home, {build}/home (fresh, empty)",
            why: "no user cargo config, registry cache or credential can change the build",
        },
        Knob {
            name: "toolchain called directly",
            value: "cargo and RUSTC from `rustup which`",
            why: "the rustup proxies need a CARGO_HOME/RUSTUP_HOME of their own and could switch \
                  toolchains through rust-toolchain files; the recipe records the exact rustc",
        },
        Knob {
            name: "clean environment",
            value: "env cleared; only the variables in `env` are set",
            why: "RUSTFLAGS, CARGO_*, CC/CFLAGS or wrappers of the calling shell would change the \
                  code generated",
        },
        Knob {
            name: "--remap-path-prefix",
            value: "{build}/airlock-VERSION=/airlock, {build}/cargo-home=/cargo, {build}/target=/target",
            why: "panic locations and any remaining debug paths embed source paths; remapped, \
                  they are the same whichever directory the build ran in (the vendored crates \
                  live under the source dir, so they become /airlock/vendor/...)",
        },
        Knob {
            name: "-ffile-prefix-map for the C compiler",
            value: "CFLAGS_x86_64_unknown_linux_musl: the same three maps",
            why: "ring's C and assembly are compiled by musl-gcc; __FILE__ and debug info would \
                  otherwise carry the build directory",
        },
        Knob {
            name: "CC_x86_64_unknown_linux_musl=musl-gcc",
            value: "musl-gcc (Debian musl-tools)",
            why: "names the C compiler for ring rather than letting cc-rs guess from PATH",
        },
        Knob {
            name: "SOURCE_DATE_EPOCH",
            value: "the commit time (`git log -1 --format=%ct`)",
            why: "any tool that stamps a time (and the archive's mtimes) uses the commit's, not \
                  the clock's",
        },
        Knob {
            name: "GIT_CEILING_DIRECTORIES",
            value: "the build directory",
            why: "cranelift-codegen's build script stamps `git rev-parse HEAD` of whatever repository encloses its source into the binary; the extracted archive has no .git, and the ceiling keeps git from finding the checkout the build directory sits in",
        },
        Knob {
            name: "CARGO_INCREMENTAL=0, profile incremental = false",
            value: "0",
            why: "incremental compilation partitions code by what was built before",
        },
        Knob {
            name: "profile dist: codegen-units = 1, lto = thin",
            value: "[profile.dist] in the workspace Cargo.toml",
            why: "one codegen unit per crate removes partitioning from the question; LTO gives a \
                  smaller, faster binary; both are fixed in the profile, not left to defaults",
        },
        Knob {
            name: "profile dist: debug = false, strip = true",
            value: "no debug info, symbols stripped",
            why: "nothing path-like or address-like is left in the binary, which is a fraction of \
                  the release build's size, so hashing it for RunStart costs a fraction",
        },
        Knob {
            name: "profile dist: panic = unwind",
            value: "unwind",
            why: "the runner's worker pool catches a task's panic and records it; abort would end the run",
        },
        Knob {
            name: "target x86_64-unknown-linux-musl",
            value: "static (crt-static, the target's default)",
            why: "no dynamic loader or libc of the enclave's machine is involved",
        },
        Knob {
            name: "verifier build",
            value: "the same command with --no-default-features, same target dir",
            why: "the verifier's binary links no WebAssembly engine; built the same way, it is as \
                  reproducible",
        },
        Knob {
            name: "task modules",
            value: "sandbox-tasks/suite/build.rs: nested wasm build with its own clean environment and remapping",
            why: "the embedded modules are pinned by digest in signed suite manifests",
        },
        Knob {
            name: "deterministic source archive",
            value: "tar --sort=name --mtime=@SOURCE_DATE_EPOCH --owner=0 --group=0 --numeric-owner; gzip -n",
            why: "the archive's digest depends only on the commit and Cargo.lock",
        },
    ]
}

/// The compiler the dist build uses, called without the rustup proxies.
struct Toolchain {
    cargo: PathBuf,
    rustc: PathBuf,
    rustc_version: String,
    cargo_version: String,
}

impl Toolchain {
    fn find() -> Result<Self> {
        let which = |tool: &str| -> Result<PathBuf> {
            let path = capture(Command::new("rustup").args(["which", tool]))
                .with_context(|| format!("`rustup which {tool}` (is rustup installed?)"))?;
            Ok(PathBuf::from(path.trim()))
        };
        let cargo = which("cargo")?;
        let rustc = which("rustc")?;
        let rustc_version = capture(Command::new(&rustc).arg("-vV"))?;
        let cargo_version = capture(Command::new(&cargo).arg("-V"))?.trim().to_owned();
        Ok(Self {
            cargo,
            rustc,
            rustc_version,
            cargo_version,
        })
    }
}

/// The commit the release is made of.
struct Source {
    commit: String,
    epoch: u64,
    version: String,
}

impl Source {
    fn of_head() -> Result<Self> {
        let git = |args: &[&str]| {
            capture(Command::new("git").current_dir(workspace_root()).args(args))
                .map(|out| out.trim().to_owned())
        };
        let commit = git(&["rev-parse", "--verify", "HEAD^{commit}"]).context("finding HEAD")?;
        let epoch: u64 = git(&["log", "-1", "--format=%ct", &commit])?
            .parse()
            .context("parsing the commit time")?;
        if !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
            eprintln!(
                "xtask: warning: the work tree has uncommitted changes; dist builds commit {commit} without them"
            );
        }
        let manifest = git(&["show", &format!("{commit}:Cargo.toml")])?;
        let manifest: toml::Table = manifest
            .parse()
            .context("parsing the commit's Cargo.toml")?;
        let Some(version) = manifest
            .get("workspace")
            .and_then(|w| w.get("package"))
            .and_then(|p| p.get("version"))
            .and_then(toml::Value::as_str)
        else {
            bail!("the commit's Cargo.toml has no workspace.package.version");
        };
        Ok(Self {
            commit,
            epoch,
            version: version.to_owned(),
        })
    }

    /// The top directory inside the source archive.
    fn top(&self) -> String {
        format!("airlock-{}", self.version)
    }
}

/// Installs the musl rust target and Debian's musl-tools when missing.
fn install_prerequisites() -> Result<()> {
    let installed = capture(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("listing installed rust targets (is rustup installed and on PATH?)")?;
    if !installed.lines().any(|line| line.trim() == TARGET) {
        step(
            &format!("install target {TARGET}"),
            Command::new("rustup").args(["target", "add", TARGET]),
        )?;
    }
    if on_path("musl-gcc") {
        return Ok(());
    }
    let root = capture(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0");
    if !root || !on_path("apt-get") {
        bail!(
            "musl-gcc is missing: ring's C code is compiled with it for {TARGET}. Install it \
             (Debian/Ubuntu: `apt-get install musl-tools`, as root) and run again"
        );
    }
    step(
        "apt-get update",
        Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    step(
        &format!("install {MUSL_PACKAGE}"),
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                MUSL_PACKAGE,
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if !on_path("musl-gcc") {
        bail!("{MUSL_PACKAGE} is installed but musl-gcc is not on PATH");
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Writes `archive`: `git archive` of the commit, every dependency vendored,
/// and the cargo config that builds from them offline.
fn make_source_archive(
    toolchain: &Toolchain,
    source: &Source,
    stage: &Path,
    archive: &Path,
) -> Result<()> {
    reset_dir(stage)?;
    let top = source.top();
    let git_tar = stage.join("git.tar");
    step(
        "git archive",
        Command::new("git")
            .current_dir(workspace_root())
            .args(["archive", "--format=tar"])
            .arg(format!("--prefix={top}/"))
            .arg("-o")
            .arg(&git_tar)
            .arg(&source.commit),
    )?;
    let tree = stage.join("tree");
    fs::create_dir_all(&tree)?;
    step(
        "extract the commit",
        Command::new("tar")
            .arg("-xf")
            .arg(&git_tar)
            .arg("-C")
            .arg(&tree),
    )?;
    let src = tree.join(&top);
    // The only step that may use the network: the user's CARGO_HOME is the
    // crate cache.
    step(
        "cargo vendor",
        Command::new(&toolchain.cargo)
            .current_dir(&src)
            .args(["vendor", "--versioned-dirs", "--locked", "--quiet"])
            .arg("--manifest-path")
            .arg(src.join("Cargo.toml"))
            .arg("vendor")
            .stdout(Stdio::null()),
    )?;
    let config = src.join(".cargo").join("config.toml");
    let mut text = fs::read_to_string(&config).unwrap_or_default();
    // Relative to the directory holding .cargo/, wherever it is extracted.
    text.push_str(
        "\n# Added by `cargo xtask dist`: build from the vendored sources, offline.\n\
         [source.crates-io]\nreplace-with = \"vendored-sources\"\n\n\
         [source.vendored-sources]\ndirectory = \"vendor\"\n\n\
         [net]\noffline = true\n",
    );
    fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;

    eprintln!("xtask: ==> tar the source archive");
    let mut tar = Command::new("tar")
        .current_dir(&tree)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .args([
            "--sort=name",
            "--format=gnu",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mode=go-w,a+rX,u+w",
        ])
        .arg(format!("--mtime=@{}", source.epoch))
        .args(["-cf", "-", &top])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting tar")?;
    let Some(tar_out) = tar.stdout.take() else {
        bail!("tar has no stdout");
    };
    let file =
        fs::File::create(archive).with_context(|| format!("creating {}", archive.display()))?;
    let gzip = Command::new("gzip")
        .arg("-n")
        .stdin(tar_out)
        .stdout(file)
        .status()
        .context("starting gzip")?;
    let tar_status = tar.wait()?;
    if !tar_status.success() || !gzip.success() {
        bail!("writing the source archive failed (tar {tar_status}, gzip {gzip})");
    }
    Ok(())
}

/// One build of both binaries from the source archive.
struct Build {
    /// The extracted source directory.
    src: PathBuf,
    /// Where the binaries were copied, by their dist names.
    out: PathBuf,
    command_for_recipe: Vec<String>,
    env_for_recipe: serde_json::Map<String, Value>,
    env: Vec<(String, String)>,
}

/// Extracts `archive` into `root` (made anew) and builds both binaries
/// there, offline with an empty CARGO_HOME; with `no_network`, inside a
/// network namespace of their own.
fn build_from_archive(
    toolchain: &Toolchain,
    source: &Source,
    archive: &Path,
    root: &Path,
    no_network: bool,
) -> Result<Build> {
    reset_dir(root)?;
    step(
        "extract the source archive",
        Command::new("tar")
            .arg("-xzf")
            .arg(archive)
            .arg("-C")
            .arg(root),
    )?;
    let src = root.join(source.top());
    let cargo_home = root.join("cargo-home");
    let home = root.join("home");
    let target = root.join("target");
    let out = root.join("out");
    for dir in [&cargo_home, &home, &out] {
        fs::create_dir_all(dir)?;
    }
    let path_of = |p: &Path| p.display().to_string();
    let maps = [
        (path_of(&src), REMAP_SOURCE),
        (path_of(&cargo_home), REMAP_CARGO_HOME),
        (path_of(&target), REMAP_TARGET),
    ];
    let rustflags: Vec<String> = maps
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={from}={to}"))
        .collect();
    let cflags: Vec<String> = maps
        .iter()
        .map(|(from, to)| format!("-ffile-prefix-map={from}={to}"))
        .collect();
    let env: Vec<(String, String)> = vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), path_of(&home)),
        ("CARGO_HOME".into(), path_of(&cargo_home)),
        ("RUSTC".into(), path_of(&toolchain.rustc)),
        ("CARGO_ENCODED_RUSTFLAGS".into(), rustflags.join("\x1f")),
        ("CFLAGS_x86_64_unknown_linux_musl".into(), cflags.join(" ")),
        ("CC_x86_64_unknown_linux_musl".into(), "musl-gcc".into()),
        ("SOURCE_DATE_EPOCH".into(), source.epoch.to_string()),
        ("CARGO_INCREMENTAL".into(), "0".into()),
        ("CARGO_NET_OFFLINE".into(), "true".into()),
        ("GIT_CEILING_DIRECTORIES".into(), path_of(root)),
        ("LC_ALL".into(), "C".into()),
        ("TZ".into(), "UTC".into()),
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "build",
            "--offline",
            "--locked",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "-p",
            "airlock",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.push("--target-dir".into());
        args.push(path_of(&target));
        args
    };
    let root_text = path_of(root);
    let placeholder = |value: &str| value.replace(&root_text, "{build}");
    for (name, extra) in BINARIES {
        let mut command = if no_network {
            let mut unshare = Command::new("unshare");
            let root_user = capture(Command::new("id").arg("-u")).is_ok_and(|u| u.trim() == "0");
            if !root_user {
                unshare.arg("--map-root-user");
            }
            unshare.arg("--net").arg("--").arg(&toolchain.cargo);
            unshare
        } else {
            Command::new(&toolchain.cargo)
        };
        command
            .current_dir(&src)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(args(extra));
        let label = if no_network {
            format!("build {name} (offline, no network namespace access)")
        } else {
            format!("build {name} (offline)")
        };
        step(&label, &mut command)?;
        let built = target.join(TARGET).join(PROFILE).join("airlock");
        fs::copy(&built, out.join(name)).with_context(|| format!("copying {}", built.display()))?;
    }
    let mut command_for_recipe = vec!["cargo".to_owned()];
    command_for_recipe.extend(args(&[]).iter().map(|a| placeholder(a)));
    let env_for_recipe = env
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(placeholder(v))))
        .collect();
    Ok(Build {
        src,
        out,
        command_for_recipe,
        env_for_recipe,
        env,
    })
}

/// `cargo xtask dist --check`: rebuilds from the dist dir's source archive in
/// another directory, with networking removed, and compares the binaries.
fn check_rebuild(toolchain: &Toolchain, dist_dir: &Path, work: &Path) -> Result<()> {
    let started = Instant::now();
    let recipe_path = dist_dir.join(RECIPE);
    let recipe: Value = serde_json::from_slice(&fs::read(&recipe_path).with_context(|| {
        format!(
            "reading {} (run `cargo xtask dist` first)",
            recipe_path.display()
        )
    })?)
    .with_context(|| format!("parsing {}", recipe_path.display()))?;
    let field = |name: &str| -> Result<&Value> {
        recipe
            .get(name)
            .with_context(|| format!("{} has no {name}", recipe_path.display()))
    };
    let Some(archive_name) = field("source_archive")?.as_str() else {
        bail!("source_archive is not a string");
    };
    let Some(epoch) = field("source_date_epoch")?.as_u64() else {
        bail!("source_date_epoch is not an integer");
    };
    let Some(commit) = field("source_commit")?.as_str() else {
        bail!("source_commit is not a string");
    };
    if field("rustc")?.as_str() != Some(toolchain.rustc_version.as_str()) {
        bail!(
            "the dist build used another rustc than this one:\n{}",
            field("rustc")?
        );
    }
    let Some(version) = archive_name
        .strip_prefix("airlock-")
        .and_then(|n| n.strip_suffix("-src.tar.gz"))
    else {
        bail!("unexpected source archive name {archive_name}");
    };
    let source = Source {
        commit: commit.to_owned(),
        epoch,
        version: version.to_owned(),
    };
    // A directory of another name and length than the dist build's.
    let root = work.join(format!("check-rebuild-{}", std::process::id()));
    let build = build_from_archive(
        toolchain,
        &source,
        &dist_dir.join(archive_name),
        &root,
        true,
    )?;
    let mut mismatches = Vec::new();
    for (name, _) in BINARIES {
        let shipped =
            fs::read(dist_dir.join(name)).with_context(|| format!("reading dist {name}"))?;
        let rebuilt = fs::read(build.out.join(name))?;
        let (a, b) = (sha256_hex(&shipped), sha256_hex(&rebuilt));
        eprintln!(
            "xtask:   {name:<18} dist {a}\nxtask:   {:<18} rebuilt {b}",
            ""
        );
        if a != b {
            mismatches.push(format!("{name} (kept in {})", build.out.display()));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if !mismatches.is_empty() {
        bail!(
            "the offline rebuild in another directory differs from dist: {}",
            mismatches.join(", ")
        );
    }
    fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    eprintln!(
        "xtask: dist --check: both binaries rebuilt bit-identical, offline, with no network namespace access and an empty CARGO_HOME ({elapsed:.0} s)"
    );
    Ok(())
}

/// What `cargo tree` lists for the SBOM: the edges linked into the binary, one
/// crate per line with its depth, id and license.
const TREE_FORMAT: &[&str] = &[
    "-e",
    "normal,build",
    "--prefix",
    "depth",
    "--format",
    "{p}\t{l}",
];

/// CycloneDX 1.5 SBOM of the `airlock` binary: the normal and build
/// dependencies cargo resolves for the musl target with the binary's
/// features, with Cargo.lock's checksums and the crates' licenses.
fn sbom(toolchain: &Toolchain, source: &Source, build: &Build) -> Result<Value> {
    let tree = capture(
        Command::new(&toolchain.cargo)
            .current_dir(&build.src)
            .env_clear()
            .envs(build.env.iter().map(|(k, v)| (k, v)))
            .args([
                "tree",
                "--offline",
                "--locked",
                "-p",
                "airlock",
                "--target",
                TARGET,
            ])
            .args(TREE_FORMAT),
    )
    .context("listing the binary's dependencies")?;
    let lock = fs::read_to_string(build.src.join("Cargo.lock"))?;
    sbom_of(&tree, &lock, source)
}

/// The SBOM of `cargo tree --prefix depth --format "{p}\t{l}"` output, with
/// the checksums of `lock` (Cargo.lock's text).
fn sbom_of(tree: &str, lock: &str, source: &Source) -> Result<Value> {
    let lock: toml::Table = lock.parse().context("parsing Cargo.lock")?;
    let mut checksums = BTreeMap::new();
    for package in lock
        .get("package")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |key: &str| package.get(key).and_then(toml::Value::as_str);
        if let (Some(name), Some(version)) = (text("name"), text("version")) {
            checksums.insert(
                (name.to_owned(), version.to_owned()),
                (
                    text("checksum").map(str::to_owned),
                    text("source").map(str::to_owned),
                ),
            );
        }
    }
    // purl → (name, version, license); purl → the purls it depends on.
    let mut components: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    let mut root = None;
    for line in tree.lines() {
        let depth_len = line.chars().take_while(char::is_ascii_digit).count();
        let Ok(depth) = line[..depth_len].parse::<usize>() else {
            continue;
        };
        // " (*)": a package whose dependencies were listed further up.
        let rest = line[depth_len..].trim_end().trim_end_matches(" (*)");
        let (package, license) = rest.split_once('\t').unwrap_or((rest, ""));
        let mut words = package.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            bail!("unexpected `cargo tree` line: {line}");
        };
        let version = version.trim_start_matches('v').to_owned();
        let purl = format!("pkg:cargo/{name}@{version}");
        stack.truncate(depth);
        if let Some(parent) = stack.last() {
            edges
                .entry(parent.clone())
                .or_default()
                .insert(purl.clone());
        }
        edges.entry(purl.clone()).or_default();
        if depth == 0 {
            root = Some((name.to_owned(), version.clone(), purl.clone()));
        } else {
            components
                .entry(purl.clone())
                .or_insert_with(|| (name.to_owned(), version.clone(), license.trim().to_owned()));
        }
        stack.push(purl);
    }
    let Some((root_name, root_version, root_purl)) = root else {
        bail!("`cargo tree` listed no root package");
    };
    let component_json = |purl: &str, name: &str, version: &str, license: &str, kind: &str| {
        let mut component = json!({
            "type": kind,
            "bom-ref": purl,
            "name": name,
            "version": version,
            "purl": purl,
        });
        if let Some((Some(checksum), _)) = checksums.get(&(name.to_owned(), version.to_owned())) {
            component["hashes"] = json!([{"alg": "SHA-256", "content": checksum}]);
        }
        if !license.is_empty() {
            // Old crates write "MIT/Apache-2.0"; SPDX spells it with OR.
            let expression = license.replace('/', " OR ");
            component["licenses"] = json!([{"expression": expression}]);
        }
        component
    };
    let root_license = components
        .values()
        .find(|(name, _, _)| name == "airlock-core")
        .map(|(_, _, l)| l.clone())
        .unwrap_or_default();
    let timestamp = iso8601_utc(source.epoch);
    let serial = {
        let digest = sha256_hex(format!("{}\n{}", source.commit, tree).as_bytes());
        // A name-based UUID (version 5 layout) of the commit and the
        // dependency tree, so that the SBOM is as reproducible as the build.
        format!(
            "urn:uuid:{}-{}-5{}-{}{}-{}",
            &digest[0..8],
            &digest[8..12],
            &digest[13..16],
            ["8", "9", "a", "b"][usize::from(digest.as_bytes()[16] % 4)],
            &digest[17..20],
            &digest[20..32]
        )
    };
    Ok(json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "cargo xtask dist", "version": root_version}]},
            "component": component_json(&root_purl, &root_name, &root_version, &root_license, "application"),
            "properties": [
                {"name": "airlock:source_commit", "value": source.commit},
                {"name": "airlock:target", "value": TARGET},
                {"name": "airlock:profile", "value": PROFILE},
            ],
        },
        "components": components
            .iter()
            .map(|(purl, (name, version, license))| component_json(purl, name, version, license, "library"))
            .collect::<Vec<_>>(),
        "dependencies": edges
            .iter()
            .map(|(purl, deps)| json!({"ref": purl, "dependsOn": deps.iter().collect::<Vec<_>>()}))
            .collect::<Vec<_>>(),
    }))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (civil-from-days, proleptic Gregorian).
fn iso8601_utc(seconds: u64) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let rem = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Times blake3 over both binaries, the figure RunStart's executable digest
/// costs: the dist binary against today's release build, when it exists.
fn report_hash_times(dist_binary: &Path, release_binary: &Path) -> Result<()> {
    for (label, path) in [("dist", dist_binary), ("release", release_binary)] {
        let Ok(bytes) = fs::read(path) else {
            eprintln!(
                "xtask:   blake3 of the {label} binary: {} not built",
                path.display()
            );
            continue;
        };
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            let digest = blake3::hash(&bytes);
            best = best.min(started.elapsed());
            core::hint::black_box(digest);
        }
        eprintln!(
            "xtask:   blake3 of the {label} binary ({} bytes): {:.1} ms (best of 5, one thread)",
            bytes.len(),
            best.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn reset_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SBOM of this workspace's own dependency tree for the musl
    /// target, from real `cargo tree` output and the real Cargo.lock;
    /// written to the target dir for the schema check by hand.
    #[test]
    fn sbom_of_the_workspace_lists_the_linked_crates() {
        let tree = capture(
            crate::cargo()
                .args(["tree", "--locked", "-p", "airlock", "--target", TARGET])
                .args(super::TREE_FORMAT),
        );
        let Ok(tree) = tree else {
            panic!("cargo tree failed");
        };
        let lock = fs::read_to_string(workspace_root().join("Cargo.lock"));
        let Ok(lock) = lock else {
            panic!("reading Cargo.lock");
        };
        let source = Source {
            commit: "0".repeat(40),
            epoch: 1_796_227_924,
            version: "0.1.0".into(),
        };
        let sbom = sbom_of(&tree, &lock, &source);
        let Ok(sbom) = sbom else {
            panic!("sbom_of failed");
        };
        assert_eq!(sbom["metadata"]["timestamp"], "2026-12-02T16:12:04Z");
        assert_eq!(sbom["metadata"]["component"]["name"], "airlock");
        let Some(components) = sbom["components"].as_array() else {
            panic!("no components");
        };
        let find = |name: &str| components.iter().find(|c| c["name"] == name);
        assert_eq!(
            find("wasmtime").map(|c| c["version"].clone()),
            Some("48.0.8".into())
        );
        assert!(
            find("windows-sys").is_none(),
            "a Windows-only crate in a Linux SBOM"
        );
        let ring = find("ring").map(|c| c["hashes"][0]["content"].clone());
        assert_eq!(
            ring.as_ref().and_then(Value::as_str).map(str::len),
            Some(64)
        );
        assert!(
            components.iter().all(|c| c["licenses"].is_null()
                || !c["licenses"][0]["expression"]
                    .as_str()
                    .unwrap_or("")
                    .contains('*')),
            "a cargo tree marker leaked into a license"
        );
        // Every dependency edge names a component (or the binary itself).
        let refs: BTreeSet<&str> = components
            .iter()
            .filter_map(|c| c["bom-ref"].as_str())
            .chain(sbom["metadata"]["component"]["bom-ref"].as_str())
            .collect();
        for dependency in sbom["dependencies"].as_array().into_iter().flatten() {
            for target in dependency["dependsOn"].as_array().into_iter().flatten() {
                assert!(
                    target.as_str().is_some_and(|t| refs.contains(t)),
                    "{target}"
                );
            }
        }
        if let Ok(dir) = target_dir() {
            let _ = write_json(&dir.join("sbom-of-workspace.cdx.json"), &sbom);
        }
    }
}
