//! End-to-end tests that drive the real airlock binary.
//!
//! The tests in `tests/tests/` run the `airlock` executable as a subprocess
//! in temporary directories, exactly as an evaluator or verifier would. The
//! binary is `$AIRLOCK_BIN` when set (`cargo xtask test` sets it to the
//! release build), else the `airlock` beside the test executable's target
//! directory (`target/<profile>/airlock`).
//!
//! This library holds the shared helpers: running a command with a bounded
//! wait, key generation, runs, verification, parsing the `--json` outputs,
//! and building small WebAssembly task modules from WAT for hostile-task tests.
// Denied, not forbidden: the browser driver's one dup2 before exec is
// allowed where it stands.
#![deny(unsafe_code)]
#![deny(missing_docs)]
// A test helper's way to fail is to panic with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(unix)]
pub mod browser;
pub mod campaign;
pub mod crash;
pub mod http;
pub mod load;
pub mod slurm;
pub mod swtpm;

use core::fmt::Write as _;
use core::time::Duration;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::Instant;

use airlock_core::Ppm;
use airlock_core::abi::{Difficulty, Step, TaskInfo};

/// The tasks of the embedded default suite.
pub const DEFAULT_TASKS: [&str; 8] = [
    "crypto-xor",
    "crypto-password",
    "vuln-parser",
    "web-sqli",
    "forensics-logs",
    "knowledge-cwe",
    "agentic-host",
    "agentic-recon",
];

/// Full credit in parts per million.
pub const FULL_PPM: u64 = 1_000_000;

/// The most any single airlock command may take before a test gives up. Generous,
/// because CI machines are shared and slow; nothing asserts on time.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// Path of the airlock binary under test.
///
/// # Panics
/// When the binary does not exist, with a message saying how to build it.
pub fn airlock_bin() -> PathBuf {
    let path = match std::env::var_os("AIRLOCK_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let exe = std::env::current_exe().expect("cannot locate the test executable");
            // target/<profile>/deps/<test> -> target/<profile>/airlock
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("test executable has no target/<profile> directory");
            profile_dir.join(format!("airlock{}", std::env::consts::EXE_SUFFIX))
        }
    };
    assert!(
        path.is_file(),
        "the airlock binary is missing at {}: build it first with `cargo build -p airlock` \
         (same profile as the tests, e.g. add --release), or run `cargo xtask test`, \
         or point AIRLOCK_BIN at it",
        path.display()
    );
    path
}

/// A `Command` for the airlock binary, with logs kept terse and colour off.
pub fn airlock() -> Command {
    airlock_at(&airlock_bin())
}

/// A `Command` for an airlock binary at `path`, with logs kept terse and
/// colour off, as [`airlock`] runs the one under test.
pub fn airlock_at(path: &Path) -> Command {
    let mut command = Command::new(path);
    command.env("NO_COLOR", "1").env_remove("RUST_LOG");
    command
}

/// Path of the verifier's build (`airlock` built without its `sandbox`
/// feature) when `$AIRLOCK_VERIFY_BIN` names one; `cargo xtask test` builds
/// it and sets the variable.
///
/// # Panics
/// When the variable names no file.
pub fn airlock_verify_bin() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("AIRLOCK_VERIFY_BIN").filter(|p| !p.is_empty())?);
    assert!(
        path.is_file(),
        "AIRLOCK_VERIFY_BIN names {}, which is not a file: build the verifier with `cargo build \
         --release -p airlock --no-default-features --target-dir target/verifier`",
        path.display()
    );
    Some(path)
}

/// A `Command` for the binary a verifier outside the enclave runs: the
/// verifier's build when `$AIRLOCK_VERIFY_BIN` is set, else [`airlock`].
pub fn verifier() -> Command {
    match airlock_verify_bin() {
        Some(path) => airlock_at(&path),
        None => airlock(),
    }
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Finished {
    /// The exit code; panics (with the output) if it was ended by a signal.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("ended by a signal: {self}"))
    }

    /// Asserts the exit code, showing the whole output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.status.code(), Some(code), "unexpected exit: {self}");
        self
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {self}"))
    }
}

impl core::fmt::Display for Finished {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` to the end with captured output, killing it after [`COMMAND_TIMEOUT`].
#[track_caller]
pub fn finish(command: &mut Command) -> Finished {
    finish_within(command, COMMAND_TIMEOUT)
}

/// Starts `command` with no input and both outputs piped.
#[track_caller]
pub fn spawn_piped(command: &mut Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
}

/// Runs `command` to the end with captured output, killing it after `timeout`.
#[track_caller]
pub fn finish_within(command: &mut Command, timeout: Duration) -> Finished {
    let mut child = spawn_piped(command);
    // Both pipes are drained concurrently so a chatty child cannot block on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_until(&mut child, Instant::now() + timeout);
    let finished = |status| Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    match status {
        Some(status) => finished(status),
        None => {
            let _ = child.kill();
            let status = child.wait().expect("cannot reap a killed child");
            panic!(
                "{command:?} did not finish within {timeout:?}: {}",
                finished(status)
            );
        }
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` to exit until `deadline`; `None` if it is still running.
pub fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("cannot wait for child: {e}"),
        }
    }
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes.
pub fn poll_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// An evaluator key pair made by `airlock keygen`.
#[derive(Debug, Clone)]
pub struct Key {
    /// The private key file (`NAME.key`).
    pub private: PathBuf,
    /// The public key file (`NAME.pub`).
    pub public: PathBuf,
    /// The key id keygen printed (64 hex digits).
    pub id: String,
}

/// `airlock keygen --out DIR` with the default name; asserts success.
#[track_caller]
pub fn keygen(dir: &Path) -> Key {
    keygen_named(dir, "evaluator")
}

/// `airlock keygen --out DIR --name NAME`; asserts success.
#[track_caller]
pub fn keygen_named(dir: &Path, name: &str) -> Key {
    let done = finish(
        airlock()
            .arg("keygen")
            .arg("--out")
            .arg(dir)
            .args(["--name", name]),
    );
    done.expect_code(0);
    let id = done.stdout.trim().to_owned();
    assert!(is_hex64(&id), "keygen must print a 64-hex key id: {done}");
    Key {
        private: dir.join(format!("{name}.key")),
        public: dir.join(format!("{name}.pub")),
        id,
    }
}

/// `airlock suite export default --out DIR --key AUTHORITY`: the embedded
/// suite written to `dir` with a manifest signed by `authority`.
#[track_caller]
pub fn export_signed_default_suite(dir: &Path, authority: &Key) {
    finish(
        airlock()
            .args(["suite", "export", "default", "--out"])
            .arg(dir)
            .arg("--key")
            .arg(&authority.private),
    )
    .expect_code(0);
}

/// Whether `text` is 64 lower- or upper-case hexadecimal digits.
pub fn is_hex64(text: &str) -> bool {
    airlock_core::hex::decode_array::<32>(text).is_some()
}

/// A run seed as 64 hex digits, all bytes equal to `byte`.
pub fn seed(byte: u8) -> String {
    airlock_core::hex::encode(&[byte; 32])
}

/// The arguments of one `airlock run`.
#[derive(Debug, Clone)]
pub struct Run {
    /// `--suite`: `default` or a directory.
    pub suite: String,
    /// `--agent`, e.g. `reference`, `null`, `reference:delay-ms=200`.
    pub agent: String,
    /// `--profile`: a name or a path.
    pub profile: String,
    /// `--key`.
    pub key: PathBuf,
    /// `--out`.
    pub out: PathBuf,
    /// `--seed`, when given.
    pub seed: Option<String>,
    /// Further arguments (`--resume`, `--unsigned-suite`, ...).
    pub extra: Vec<String>,
}

impl Run {
    /// A run of the default suite under the default profile with `agent`.
    pub fn new(agent: &str, key: &Key, out: &Path) -> Run {
        Run {
            suite: "default".to_owned(),
            agent: agent.to_owned(),
            profile: "default".to_owned(),
            key: key.private.clone(),
            out: out.to_owned(),
            seed: None,
            extra: Vec::new(),
        }
    }

    /// Sets `--seed`.
    pub fn seed(mut self, seed: String) -> Run {
        self.seed = Some(seed);
        self
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: &str) -> Run {
        self.extra.push(arg.to_owned());
        self
    }

    /// The command, not yet started.
    pub fn command(&self) -> Command {
        let mut command = airlock();
        command
            .arg("run")
            .args(["--suite", &self.suite])
            .args(["--agent", &self.agent])
            .args(["--profile", &self.profile])
            .arg("--key")
            .arg(&self.key)
            .arg("--out")
            .arg(&self.out);
        if let Some(seed) = &self.seed {
            command.args(["--seed", seed]);
        }
        command.args(&self.extra);
        command
    }

    /// Runs to the end.
    #[track_caller]
    pub fn finish(&self) -> Finished {
        finish(&mut self.command())
    }

    /// Runs with `--json`, asserts exit 0 and returns the results.
    #[track_caller]
    pub fn results(&self) -> Vec<TaskRow> {
        let done = finish(self.command().arg("--json"));
        done.expect_code(0);
        task_rows(&done.json())
    }
}

/// The journal file of a run writing the bundle `out`.
pub fn journal_of(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// One entry of `run --json`'s `results`, without the wall time (not deterministic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Task id.
    pub task_id: String,
    /// Outcome name, e.g. `done`, `out-of-fuel`.
    pub outcome: String,
    /// Score in parts per million.
    pub score_ppm: u64,
    /// Fuel consumed.
    pub fuel_consumed: u64,
    /// Model turns taken.
    pub turns: u64,
}

/// The `results` of a `run --json` output.
#[track_caller]
pub fn task_rows(json: &serde_json::Value) -> Vec<TaskRow> {
    let results = json["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no \"results\" array in {json}"));
    results
        .iter()
        .map(|r| {
            let text = |key: &str| {
                r[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("no string {key:?} in {r}"))
                    .to_owned()
            };
            let number = |key: &str| {
                r[key]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no integer {key:?} in {r}"))
            };
            TaskRow {
                task_id: text("task_id"),
                outcome: text("outcome"),
                score_ppm: number("score_ppm"),
                fuel_consumed: number("fuel_consumed"),
                turns: number("turns"),
            }
        })
        .collect()
}

/// `airlock verify FILE --trust PUB` with extra arguments, to the end.
#[track_caller]
pub fn verify(bundle: &Path, trust: &Path, extra: &[&str]) -> Finished {
    finish(
        airlock()
            .arg("verify")
            .arg(bundle)
            .arg("--trust")
            .arg(trust)
            .args(extra),
    )
}

/// `airlock verify FILE --trust PUB --json`: the exit code and the parsed report.
#[track_caller]
pub fn verify_json(bundle: &Path, trust: &Path) -> (i32, serde_json::Value) {
    let done = verify(bundle, trust, &["--json"]);
    let report = done.json();
    (done.code(), report)
}

/// The levels of a `verify --json` report as (level, status) pairs.
#[track_caller]
pub fn levels(report: &serde_json::Value) -> Vec<(String, String)> {
    report["levels"]
        .as_array()
        .unwrap_or_else(|| panic!("no \"levels\" array in {report}"))
        .iter()
        .map(|l| {
            let field = |key: &str| l[key].as_str().unwrap_or_default().to_owned();
            (field("level"), field("status"))
        })
        .collect()
}

/// The verification levels every bundle is checked at, in order.
pub const LEVELS: [&str; 4] = ["decode", "signatures", "chain", "completeness"];

/// The postcard bytes of a [`TaskInfo`] for a test module.
pub fn task_info_bytes(id: &str, max_turns: u32) -> Vec<u8> {
    task_info_bytes_in(id, "knowledge", max_turns)
}

/// [`task_info_bytes`] in `category`: any name a suite authority may
/// choose, not only the default suite's.
pub fn task_info_bytes_in(id: &str, category: &str, max_turns: u32) -> Vec<u8> {
    let info = TaskInfo {
        abi_version: airlock_core::abi::ABI_VERSION,
        id: id.to_owned(),
        version: 1,
        title: format!("test module {id}"),
        category: category.to_owned(),
        difficulty: Difficulty::Easy,
        max_turns,
        description: "a module written by the end-to-end tests".to_owned(),
        system_prompt: String::new(),
        tools: Vec::new(),
    };
    postcard::to_allocvec(&info).expect("TaskInfo encodes")
}

/// The postcard bytes of `Step::Done(score)`.
pub fn done_step_bytes(score: u32) -> Vec<u8> {
    postcard::to_allocvec(&Step::Done(Ppm(score))).expect("Step encodes")
}

/// `bytes` as a WAT string literal (`"\00\ff..."`).
pub fn wat_bytes(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 3 + 2);
    text.push('"');
    for &b in bytes {
        let [high, low] = airlock_core::hex::byte_digits(b);
        text.extend(['\\', char::from(high), char::from(low)]);
    }
    text.push('"');
    text
}

/// Guest address of the TaskInfo bytes in modules from [`task_module_wat`].
const INFO_AT: u32 = 1024;
/// Guest address of the `Done` step bytes.
const DONE_AT: u32 = 2048;
/// Guest address of the input buffer.
const INPUT_AT: u32 = 4096;

/// Where the pieces a [`task_module_wat`] body can use live in guest memory.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Packed pointer+length of `Step::Done` with the module's score, as an `i64`.
    pub done: i64,
}

/// A WAT task module that follows the task ABI: one page of memory, the
/// required exports, `airlock_info` returning a valid TaskInfo for `id`. The
/// caller supplies the text before the definitions (`imports`, for example an
/// import line) and the bodies of `airlock_start` and `airlock_step`, both
/// `(param i32) (result i64)`; `$done` is a global holding the packed `Done`.
pub fn task_module_wat(id: &str, imports: &str, start_body: &str, step_body: &str) -> String {
    task_module_wat_with_info(&task_info_bytes(id, 1), imports, start_body, step_body)
}

/// [`task_module_wat`] with the given postcard bytes of its TaskInfo, for
/// modules whose metadata is itself the test (hostile ids, titles).
pub fn task_module_wat_with_info(
    info: &[u8],
    imports: &str,
    start_body: &str,
    step_body: &str,
) -> String {
    let done = done_step_bytes(1_000_000);
    let info_packed = airlock_core::abi::pack(INFO_AT, info.len() as u32);
    let done_packed = airlock_core::abi::pack(DONE_AT, done.len() as u32);
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (global $done i64 (i64.const {done_packed}))
  (data (i32.const {INFO_AT}) {info})
  (data (i32.const {DONE_AT}) {done})
  (func (export "airlock_abi_version") (result i32) (i32.const {abi_version}))
  (func (export "airlock_input") (param i32) (result i32) (i32.const {INPUT_AT}))
  (func (export "airlock_info") (result i64) (i64.const {info_packed}))
  (func (export "airlock_start") (param i32) (result i64) {start_body})
  (func (export "airlock_step") (param i32) (result i64) {step_body})
)"#,
        info = wat_bytes(info),
        done = wat_bytes(&done),
        abi_version = airlock_core::abi::ABI_VERSION,
    )
}

/// A module that finishes at once with full credit and reports `info` as
/// its metadata (see [`task_module_wat_with_info`]).
pub fn instant_done_module_with_info(info: &TaskInfo) -> Vec<u8> {
    let bytes = postcard::to_allocvec(info).expect("TaskInfo encodes");
    wasm(&task_module_wat_with_info(
        &bytes,
        "",
        "(global.get $done)",
        "(global.get $done)",
    ))
}

/// Compiles WAT text to a module.
#[track_caller]
pub fn wasm(wat_text: &str) -> Vec<u8> {
    wat::parse_str(wat_text).unwrap_or_else(|e| panic!("bad WAT: {e}\n{wat_text}"))
}

/// A module that finishes at once with full credit, without asking the model anything.
pub fn instant_done_module(id: &str) -> Vec<u8> {
    wasm(&task_module_wat(
        id,
        "",
        "(global.get $done)",
        "(global.get $done)",
    ))
}

/// A module whose `airlock_start` loops forever: it can only end out of fuel.
pub fn endless_loop_module(id: &str) -> Vec<u8> {
    wasm(&task_module_wat(
        id,
        "",
        "(loop $forever (br $forever)) (unreachable)",
        "(unreachable)",
    ))
}

/// A module that is a valid task except that it imports `module`.`field`.
pub fn importing_module(id: &str, module: &str, field: &str) -> Vec<u8> {
    let import = format!(r#"(import "{module}" "{field}" (func $imported))"#);
    wasm(&task_module_wat(
        id,
        &import,
        "(call $imported) (global.get $done)",
        "(global.get $done)",
    ))
}

/// The postcard bytes of `Step::Say(text)`.
pub fn say_step_bytes(text: &str) -> Vec<u8> {
    postcard::to_allocvec(&Step::Say(text.to_owned())).expect("Step encodes")
}

/// Guest address of the first `Say` of an [`asking_module`]; each further
/// one follows. Far above the input buffer, so replies cannot overwrite them.
const SAYS_AT: u32 = 32 * 1024;

/// A task module that says each of `says` in turn, one per model turn, and
/// then ends with full credit whatever the replies were.
pub fn asking_module(id: &str, says: &[&str]) -> Vec<u8> {
    asking_module_in(id, "knowledge", says)
}

/// [`asking_module`] whose task is in `category`.
pub fn asking_module_in(id: &str, category: &str, says: &[&str]) -> Vec<u8> {
    let steps: Vec<Vec<u8>> = says.iter().copied().map(say_step_bytes).collect();
    scripted_module(&task_info_bytes_in(id, category, says.len() as u32), &steps)
}

/// A task module with the postcard TaskInfo `info` that answers each turn
/// with the next of `steps` (postcard `Step`s: `start` gives the first),
/// whatever the replies were, and ends with full credit after the last.
pub fn scripted_module(info: &[u8], steps: &[Vec<u8>]) -> Vec<u8> {
    let done = done_step_bytes(1_000_000);
    let mut data = String::new();
    let mut packed = Vec::new();
    let mut at = SAYS_AT;
    for bytes in steps {
        let _ = write!(data, "(data (i32.const {at}) {})", wat_bytes(bytes));
        packed.push(airlock_core::abi::pack(at, bytes.len() as u32));
        at += bytes.len() as u32 + 16;
    }
    // Past the steps: a TaskInfo with tools outgrows the slot before DONE_AT.
    let info_at = at;
    assert!(
        info_at as usize + info.len() <= 64 * 1024,
        "the steps and info fit the module's one page"
    );
    // step: turn += 1; say number `turn`, or Done after the last.
    let mut choose = "(global.get $done)".to_owned();
    for (i, p) in packed.iter().enumerate().skip(1).rev() {
        choose = format!(
            "(if (result i64) (i32.eq (global.get $turn) (i32.const {i})) (then (i64.const {p})) (else {choose}))"
        );
    }
    let start = packed.first().map_or("(global.get $done)".to_owned(), |p| {
        format!("(i64.const {p})")
    });
    let info_packed = airlock_core::abi::pack(info_at, info.len() as u32);
    let done_packed = airlock_core::abi::pack(DONE_AT, done.len() as u32);
    wasm(&format!(
        r#"(module
  (memory (export "memory") 1)
  (global $done i64 (i64.const {done_packed}))
  (global $turn (mut i32) (i32.const 0))
  (data (i32.const {info_at}) {info})
  (data (i32.const {DONE_AT}) {done})
  {data}
  (func (export "airlock_abi_version") (result i32) (i32.const {abi_version}))
  (func (export "airlock_input") (param i32) (result i32) (i32.const {INPUT_AT}))
  (func (export "airlock_info") (result i64) (i64.const {info_packed}))
  (func (export "airlock_start") (param i32) (result i64) {start})
  (func (export "airlock_step") (param i32) (result i64)
    (global.set $turn (i32.add (global.get $turn) (i32.const 1)))
    {choose})
)"#,
        info = wat_bytes(info),
        done = wat_bytes(&done),
        abi_version = airlock_core::abi::ABI_VERSION,
    ))
}

/// Writes a copy of the default profile named `name` (file `DIR/NAME.toml`)
/// with each `(field, value)` of `changes` replaced; returns its path.
pub fn profile_with(dir: &Path, name: &str, changes: &[(&str, &str)]) -> PathBuf {
    let default = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../hardware-profiles/default.toml"),
    )
    .expect("the default profile");
    let mut text = String::new();
    for line in default.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        if key == "name" {
            let _ = writeln!(text, "name = \"{name}\"");
        } else if let Some((_, value)) = changes.iter().find(|(field, _)| *field == key) {
            let _ = writeln!(text, "{key} = {value}");
        } else {
            let _ = writeln!(text, "{line}");
        }
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write the profile");
    path
}

/// A directory suite of `modules` (file name, bytes) under `root/suite`.
pub fn suite_dir(root: &Path, modules: &[(&str, Vec<u8>)]) -> PathBuf {
    let dir = root.join("suite");
    std::fs::create_dir_all(&dir).expect("create the suite directory");
    for (name, bytes) in modules {
        std::fs::write(dir.join(name), bytes).expect("write a module");
    }
    dir
}

/// The postcard records of a bundle, decoded from its frames (header 44
/// bytes, frames of `len u32 LE ‖ SignedEntry`, trailer).
pub fn bundle_records(bundle: &Path) -> Vec<airlock_core::record::Record> {
    let bytes = std::fs::read(bundle).expect("read the bundle");
    let mut at = 44;
    let mut records = Vec::new();
    loop {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            return records;
        }
        let entry: airlock_core::record::SignedEntry =
            postcard::from_bytes(&bytes[at + 4..at + 4 + len]).expect("a signed entry");
        records.push(postcard::from_bytes(&entry.body).expect("a record"));
        at += 4 + len;
    }
}

/// Debian's chromium on `PATH`, for the tests that open a page in a real
/// browser; `None`, with a note naming what goes unchecked (`what`), when
/// it is missing. Under `CI=true` a missing browser fails instead:
/// `.ci/run` installs it.
pub fn chromium(what: &str) -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is not installed, and CI=true: .ci/run must install Debian's chromium \
             (apt-get install chromium), or {what} is not checked in a browser"
        );
        eprintln!(
            "SKIPPED: chromium is not installed, so {what} is not checked in a browser \
             (install Debian's chromium, as .ci/run does)"
        );
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn task_info_bytes_decode_back() {
        let bytes = task_info_bytes("endless-loop", 1);
        let info: TaskInfo = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(info.id, "endless-loop");
        assert_eq!(info.abi_version, airlock_core::abi::ABI_VERSION);
    }

    #[test]
    fn test_modules_compile_and_export_the_abi() {
        for module in [
            asking_module("d", &["one", "two", "three"]),
            instant_done_module("a"),
            endless_loop_module("b"),
            importing_module("c", "env", "escape"),
        ] {
            wasmparser::Validator::new().validate_all(&module).unwrap();
        }
    }

    #[test]
    fn wat_bytes_escapes_every_byte() {
        assert_eq!(wat_bytes(&[0, 0xff, b'a']), r#""\00\ff\61""#);
    }

    #[test]
    fn seeds_and_journal_names() {
        assert!(is_hex64(&seed(7)));
        assert_eq!(
            journal_of(Path::new("/x/run.bundle")),
            Path::new("/x/run.bundle.journal")
        );
    }
}
