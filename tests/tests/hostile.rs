//! The hostile task corpus: every file in `tests/hostile/` is a task module
//! that misbehaves in one way, and says on its first lines what must happen
//! to it. `tests/hostile/README.md` lists the cases and the file format.
//!
//! Two ends are possible, and both leave the runner standing:
//!
//! - `expect: refused: TEXT`: the module is refused while the suite is
//!   loaded, before any task runs; `airlock run` exits 2 naming the file
//!   and the reason (TEXT is a fragment of the message, `*` standing for
//!   any text) and leaves no bundle.
//! - `expect: OUTCOME`: the module loads, and its task ends with this
//!   outcome (as `run --json` prints `outcome_detail`), `score` (default:
//!   full credit for `done`, else 0) and `turns` (default 0). All such cases
//!   run together in one suite, beside a well-behaved module; the run
//!   completes and its bundle verifies.
//!
//! A `.wat` file is a module in WAT with `;; key: value` lines first and
//! these macros: `{abi}` (a TaskInfo for the file's name at 1024, `$done` and
//! `$say` globals with packed `Done(full credit)` and `Say`, and the
//! `airlock_abi_version`, `airlock_input` (buffer at 4096) and `airlock_info`
//! exports), `{info}` (the TaskInfo data alone) and `{info-packed}` (its
//! packed pointer and length). A `.rs` file is a Rust guest with `// key:
//! value` lines first, compiled by the build script (`build.rs`) to
//! WebAssembly; its TaskInfo id must be its file name. A `.case` file builds
//! bytes that are neither:
//! `module:` followed by parts, concatenated: `empty`, `hex DIGITS`,
//! `random LEN SEED`, `truncate CASE.wat LEN`, `pad CASE.wat LEN` (a custom
//! section brings the module to exactly LEN bytes).
//!
//! The runs use the corpus profile ([`PROFILE_CHANGES`]) and an exec model
//! that answers every turn with 100 bytes, more than the profile allows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use airlock_tests::load::Load;
use airlock_tests::*;

/// The corpus profile: the default one with small limits, so that every
/// bomb goes off quickly, and the numbers the cases are written against.
const PROFILE_CHANGES: &[(&str, &str)] = &[
    ("fuel_per_task", "20_000_000"),
    ("memory_per_sandbox_mib", "4"),
    ("max_turns", "8"),
    ("max_message_bytes", "4_096"),
    ("max_reply_bytes", "64"),
    ("max_module_bytes", "1_048_576"),
    ("max_table_elements", "1_000"),
];

/// Length of every model reply, in bytes (over the profile's 64).
const REPLY_BYTES: &str = "100";

const FAKE_MODEL: &str = env!("CARGO_BIN_EXE_fake-model");

/// What must happen to a case's module.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// Refused at load with a message containing this fragment.
    Refused(String),
    /// Runs and ends like this.
    Ends {
        detail: String,
        score: u64,
        turns: u64,
    },
}

#[derive(Debug)]
struct Case {
    name: String,
    expect: Expect,
    module: Vec<u8>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hostile")
}

/// Every case, in file-name order.
fn corpus() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| is_case(p))
        .collect();
    files.sort();
    files.iter().map(|path| read_case(path)).collect()
}

fn is_case(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "wat" || e == "rs" || e == "case")
}

fn read_case(path: &Path) -> Case {
    let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    // Where the `key: value` lines are: the leading comments of a source file.
    let comment = match extension {
        "wat" => Some(";;"),
        "rs" => Some("//"),
        _ => None,
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = match comment {
            Some(prefix) => match line.strip_prefix(prefix) {
                Some(rest) => rest.trim(),
                None => break,
            },
            None => line.trim(),
        };
        if line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once(':')
            && matches!(key, "expect" | "score" | "turns" | "max-turns" | "module")
        {
            fields.push((key.to_owned(), value.trim().to_owned()));
        }
    }
    let field = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let number = |key: &str, default: u64| {
        field(key).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: {key} is not a number: {v}"))
        })
    };
    let expect = match field("expect") {
        None => panic!("{name}: no `expect:` line"),
        Some(v) => match v.strip_prefix("refused:") {
            Some(fragment) => Expect::Refused(fragment.trim().to_owned()),
            None => Expect::Ends {
                detail: v.to_owned(),
                score: number("score", if v == "done" { FULL_PPM } else { 0 }),
                turns: number("turns", 0),
            },
        },
    };
    let module = match extension {
        "wat" => {
            let max_turns = u32::try_from(number("max-turns", 4)).unwrap();
            wasm(&expand(&text, &name, max_turns))
        }
        // Compiled by the build script.
        "rs" => {
            let built = Path::new(env!("OUT_DIR"))
                .join("hostile")
                .join(format!("{name}.wasm"));
            std::fs::read(&built)
                .unwrap_or_else(|e| panic!("{name}: the build script made no module: {e}"))
        }
        _ => {
            let spec = field("module").unwrap_or_else(|| panic!("{name}: no `module:` line"));
            build_module(&name, spec)
        }
    };
    Case {
        name,
        expect,
        module,
    }
}

const INFO_AT: u32 = 1024;
const DONE_AT: u32 = 2048;
const SAY_AT: u32 = 2064;

/// Replaces the corpus macros in a `.wat` case.
fn expand(text: &str, id: &str, max_turns: u32) -> String {
    let info = task_info_bytes(id, max_turns);
    let info_data = format!("(data (i32.const {INFO_AT}) {})", wat_bytes(&info));
    let info_packed = airlock_core::abi::pack(INFO_AT, info.len() as u32).to_string();
    let done = done_step_bytes(1_000_000);
    let say = say_step_bytes("hostile?");
    let abi = format!(
        r#"{info_data}
  (data (i32.const {DONE_AT}) {done_data})
  (data (i32.const {SAY_AT}) {say_data})
  (global $done i64 (i64.const {done_packed}))
  (global $say i64 (i64.const {say_packed}))
  (func (export "airlock_abi_version") (result i32) (i32.const {abi_version}))
  (func (export "airlock_input") (param i32) (result i32) (i32.const 4096))
  (func (export "airlock_info") (result i64) (i64.const {info_packed}))"#,
        done_data = wat_bytes(&done),
        say_data = wat_bytes(&say),
        done_packed = airlock_core::abi::pack(DONE_AT, done.len() as u32),
        say_packed = airlock_core::abi::pack(SAY_AT, say.len() as u32),
        abi_version = airlock_core::abi::ABI_VERSION,
    );
    text.replace("{abi}", &abi)
        .replace("{info}", &info_data)
        .replace("{info-packed}", &info_packed)
}

/// The bytes a `.case` file's `module:` line describes.
fn build_module(name: &str, spec: &str) -> Vec<u8> {
    let mut words = spec.split_whitespace();
    let mut next = |what: &str| -> String {
        words
            .next()
            .unwrap_or_else(|| panic!("{name}: `module:` is missing {what}"))
            .to_owned()
    };
    let count = |s: String| -> usize {
        s.parse()
            .unwrap_or_else(|_| panic!("{name}: not a number: {s}"))
    };
    let mut bytes = Vec::new();
    let parts = spec.split_whitespace().count();
    let mut used = 0;
    while used < parts {
        let part = next("a part");
        used += 1;
        let mut arg = |what: &str| {
            used += 1;
            next(what)
        };
        match part.as_str() {
            "empty" => {}
            "hex" => {
                let digits = arg("hex digits");
                for pair in digits.as_bytes().chunks(2) {
                    let pair = core::str::from_utf8(pair).unwrap();
                    bytes.push(u8::from_str_radix(pair, 16).unwrap());
                }
            }
            "random" => {
                let len = count(arg("a length"));
                let seed = count(arg("a seed")) as u64;
                bytes.extend(pseudo_random(len, seed));
            }
            "truncate" => {
                let mut module = wat_case(&arg("a .wat case"));
                module.truncate(count(arg("a length")));
                bytes.extend(module);
            }
            "pad" => {
                let module = wat_case(&arg("a .wat case"));
                bytes.extend(padded(module, count(arg("a length"))));
            }
            other => panic!("{name}: unknown module part {other:?}"),
        }
    }
    bytes
}

fn wat_case(file: &str) -> Vec<u8> {
    read_case(&corpus_dir().join(file)).module
}

/// `module` with a custom section appended that makes it exactly `total` bytes.
fn padded(module: Vec<u8>, total: usize) -> Vec<u8> {
    let name = b"padding";
    let leb = |mut n: usize| {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    };
    // The section's size field grows with the size it encodes: try each width.
    for width in 1..=5 {
        let fixed = module.len() + 1 + width + 1 + name.len();
        let Some(payload) = total.checked_sub(fixed) else {
            continue;
        };
        let size = 1 + name.len() + payload;
        if leb(size).len() != width {
            continue;
        }
        let mut out = module.clone();
        out.push(0);
        out.extend(leb(size));
        out.push(name.len() as u8);
        out.extend(name);
        out.resize(total, 0);
        return out;
    }
    panic!("cannot pad a {}-byte module to {total} bytes", module.len())
}

/// splitmix64, so "random" modules are the same on every run.
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend(z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Whether `text` contains `fragment`, where `*` in the fragment stands for
/// any text (a function index, an offset).
fn says(text: &str, fragment: &str) -> bool {
    let mut rest = text;
    for piece in fragment.split('*') {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

struct Station {
    root: tempfile::TempDir,
    key: Key,
    profile: PathBuf,
}

impl Station {
    fn new() -> Station {
        let root = tempfile::tempdir().unwrap();
        let key = keygen(root.path());
        let profile = profile_with(root.path(), "hostile", PROFILE_CHANGES);
        Station { root, key, profile }
    }

    /// `airlock run` of the modules in `suite` with the long-replying model.
    fn run(&self, suite: &Path, out: &Path) -> Run {
        let mut run = Run::new(&format!("exec:{FAKE_MODEL}"), &self.key, out)
            .seed(seed(7))
            .arg("--unsigned-suite")
            .arg("--agent-arg=long")
            .arg(&format!("--agent-arg={REPLY_BYTES}"));
        run.suite = suite.to_str().unwrap().to_owned();
        run.profile = self.profile.to_str().unwrap().to_owned();
        run
    }
}

/// Every case's module bytes also go to `$AIRLOCK_HOSTILE_OUT/CASE.wasm`
/// when that is set: the seeds of the `module_load` fuzz target.
#[test]
fn the_corpus_covers_both_ends_and_every_case_is_listed_in_its_readme() {
    let cases = corpus();
    if let Some(out) = std::env::var_os("AIRLOCK_HOSTILE_OUT") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out).unwrap();
        for case in &cases {
            std::fs::write(out.join(format!("{}.wasm", case.name)), &case.module).unwrap();
        }
    }
    let refused = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Refused(_)))
        .count();
    assert!(refused >= 20, "only {refused} refused cases");
    assert!(
        cases.len() - refused >= 20,
        "only {} runtime cases",
        cases.len() - refused
    );
    let readme = std::fs::read_to_string(corpus_dir().join("README.md")).unwrap();
    let listed: BTreeSet<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| is_case(Path::new(n)))
        .collect();
    let files: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    assert_eq!(listed, files, "README.md's table and the case files differ");
}

#[test]
fn refused_modules_stop_the_suite_before_any_task_runs_naming_file_and_reason() {
    let station = Station::new();
    let good = corpus_dir().join("instant-done.wat");
    let good = read_case(&good).module;
    for case in corpus() {
        let Expect::Refused(fragment) = &case.expect else {
            continue;
        };
        let dir = station.root.path().join(&case.name);
        std::fs::create_dir(&dir).unwrap();
        let file = format!("{}.wasm", case.name);
        // The good module comes first: it must not run either.
        std::fs::write(dir.join("00-instant-done.wasm"), &good).unwrap();
        std::fs::write(dir.join(&file), &case.module).unwrap();
        let out = dir.join("run.bundle");
        let done = station.run(&dir, &out).finish();
        assert_eq!(done.status.code(), Some(2), "{}: {done}", case.name);
        assert!(
            says(&done.stderr, fragment),
            "{}: the message does not say {fragment:?}: {done}",
            case.name
        );
        assert!(
            done.stderr.contains(&file),
            "{}: the message does not name the file: {done}",
            case.name
        );
        assert!(
            !out.exists(),
            "{}: a refused suite left a bundle",
            case.name
        );
        assert!(
            !journal_of(&out).exists(),
            "{}: a refused suite left a journal",
            case.name
        );
    }
}

#[test]
fn hostile_modules_end_with_their_outcomes_and_the_run_completes_and_verifies() {
    let station = Station::new();
    let mut expected = Vec::new();
    let mut modules = Vec::new();
    for case in corpus() {
        let Expect::Ends {
            detail,
            score,
            turns,
        } = case.expect
        else {
            continue;
        };
        expected.push((case.name.clone(), detail, score, turns));
        modules.push((format!("{}.wasm", case.name), case.module));
    }
    let modules: Vec<(&str, Vec<u8>)> = modules
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.clone()))
        .collect();
    let suite = suite_dir(station.root.path(), &modules);
    let out = station.root.path().join("run.bundle");
    let done = finish(station.run(&suite, &out).command().arg("--json"));
    done.expect_code(0);
    let json = done.json();
    assert_eq!(json["end"], "completed", "{json}");
    let results = json["results"].as_array().unwrap();
    let got: Vec<(String, String, u64, u64)> = results
        .iter()
        .map(|r| {
            (
                r["task_id"].as_str().unwrap().to_owned(),
                r["outcome_detail"].as_str().unwrap().to_owned(),
                r["score_ppm"].as_u64().unwrap(),
                r["turns"].as_u64().unwrap(),
            )
        })
        .collect();
    for (want, got) in expected.iter().zip(&got) {
        assert_eq!(want, got, "(task, outcome, score, turns)");
    }
    assert_eq!(expected.len(), got.len(), "{json}");
    let (code, report) = verify_json(&out, &station.key.public);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        levels(&report),
        LEVELS.map(|l| (l.to_owned(), "passed".to_owned())),
        "{report}"
    );
}

/// Needs `airlock suite export default --out DIR --unsigned`.
#[test]
fn an_endless_loop_between_real_tasks_leaves_them_unharmed() {
    let root = tempfile::tempdir().unwrap();
    let key = keygen(root.path());
    let exported = root.path().join("exported");
    finish(
        airlock()
            .args(["suite", "export", "default", "--out"])
            .arg(&exported)
            .arg("--unsigned"),
    )
    .expect_code(0);
    let mut real: Vec<PathBuf> = std::fs::read_dir(&exported)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    real.sort();
    assert_eq!(real.len(), DEFAULT_TASKS.len(), "exported: {real:?}");

    // real task, endless loop, real task
    let suite = suite_dir(
        root.path(),
        &[
            ("00-real.wasm", std::fs::read(&real[0]).unwrap()),
            ("01-endless.wasm", endless_loop_module("endless-loop")),
            ("02-real.wasm", std::fs::read(&real[1]).unwrap()),
        ],
    );
    let out = root.path().join("run.bundle");
    let mut run = Run::new("null", &key, &out)
        .seed(seed(9))
        .arg("--unsigned-suite");
    run.suite = suite.to_str().unwrap().to_owned();
    let rows = run.results();
    let outcomes: Vec<_> = rows.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["done", "out-of-fuel", "done"], "{rows:?}");
    verify(&out, &key.public, &[]).expect_code(0);
}

/// The slow-operator cases (`slow-*.wat`): each loops on one operator that
/// runs as a call into the host, and its fuel must be what ends it.
/// With them, first, `endless-loop.wat`: plain code, to time them against.
fn slow_operator_cases() -> Vec<Case> {
    let cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|c| c.name.starts_with("slow-") || c.name == "endless-loop")
        .collect();
    assert!(cases.len() >= 13, "only {} cases", cases.len());
    assert_eq!(cases[0].name, "endless-loop");
    cases
}

/// Finding 9 of issue 14: operators that cost one unit of fuel but run as
/// slow host calls made a budget last 100 to 500 times longer than plain
/// code, so the same module ended `out-of-fuel` on one host and
/// `wall-clock-timeout` on a slower or busier one. Under a profile whose
/// backstop is the shortest the profile check allows for its fuel, every
/// slow-operator loop must end out of fuel with its whole budget, the same
/// on an idle host, on a host with every core busy and under Pulley; and,
/// natively, none may take more than a few times as long for its budget as
/// a loop of plain code (before the fix a zero-byte `memory.fill` loop took
/// 30 to 100 times as long).
#[test]
fn slow_operator_loops_end_out_of_fuel_alike_idle_loaded_and_under_pulley() {
    const FUEL: u64 = 10_000_000;
    let root = tempfile::tempdir().unwrap();
    let key = keygen(root.path());
    let mut changes: Vec<(&str, &str)> = PROFILE_CHANGES
        .iter()
        .copied()
        .filter(|(field, _)| *field != "fuel_per_task")
        .collect();
    // 5 000 fuel per millisecond of backstop: the most a profile may give.
    changes.push(("fuel_per_task", "10_000_000"));
    changes.push(("wall_clock_backstop_ms", "2_000"));
    let profile = profile_with(root.path(), "slow-operators", &changes);
    let cases = slow_operator_cases();
    let modules: Vec<(String, Vec<u8>)> = cases
        .iter()
        .map(|c| (format!("{}.wasm", c.name), c.module.clone()))
        .collect();
    let modules: Vec<(&str, Vec<u8>)> = modules
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.clone()))
        .collect();
    let suite = suite_dir(root.path(), &modules);
    let run = |label: &str, backend: &str| -> Vec<(String, String, u64, u64)> {
        let out = root.path().join(format!("{label}.bundle"));
        let mut run = Run::new("null", &key, &out)
            .seed(seed(11))
            .arg("--unsigned-suite")
            .arg("--backend")
            .arg(backend);
        run.suite = suite.to_str().unwrap().to_owned();
        run.profile = profile.to_str().unwrap().to_owned();
        let done = finish(run.command().arg("--json"));
        done.expect_code(0);
        let json = done.json();
        json["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["task_id"].as_str().unwrap().to_owned(),
                    r["outcome_detail"].as_str().unwrap().to_owned(),
                    r["fuel_consumed"].as_u64().unwrap(),
                    r["wall_time_us"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // Outcome and fuel are the signed, deterministic part; wall time is not.
    let signed = |rows: &[(String, String, u64, u64)]| -> Vec<(String, String, u64)> {
        rows.iter()
            .map(|(task, outcome, fuel, _)| (task.clone(), outcome.clone(), *fuel))
            .collect()
    };
    let idle = run("idle", "cranelift");
    let loaded = {
        let _load = Load::start(1);
        run("loaded", "cranelift")
    };
    let pulley = run("pulley", "pulley");
    let want: Vec<(String, String, u64)> = cases
        .iter()
        .map(|c| (c.name.clone(), "out-of-fuel".to_owned(), FUEL))
        .collect();
    assert_eq!(signed(&idle), want, "idle host");
    assert_eq!(signed(&loaded), want, "every core busy");
    assert_eq!(signed(&pulley), want, "under Pulley");
    let plain_us = idle[0].3;
    for (task, _, _, wall_us) in &idle[1..] {
        assert!(
            *wall_us <= 10 * plain_us + 20_000,
            "{task} took {wall_us} us for its fuel, plain code {plain_us} us"
        );
    }
}

/// Unsigned LEB128.
fn uleb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Signed LEB128.
fn sleb(mut n: i64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        let done = (n == 0 && byte & 0x40 == 0) || (n == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, count: usize, items: &[u8], out: &mut Vec<u8>) {
    let mut body = Vec::new();
    uleb(count as u64, &mut body);
    body.extend_from_slice(items);
    out.push(id);
    uleb(body.len() as u64, out);
    out.extend(body);
}

/// What a compile bomb adds to a well-behaved module (one whose `start`
/// says Done at once): functions of type `() -> ()` with these bodies
/// (locals and code, without the size), and extra entries of other sections.
#[derive(Default)]
struct Bomb {
    bodies: Vec<Vec<u8>>,
    extra_types: usize,
    extra_globals: usize,
}

/// The bytes of `bomb`, written directly so that multi-megabyte modules are
/// made in milliseconds (the WAT text of some would be tens of megabytes).
fn bomb_module(id: &str, bomb: &Bomb) -> Vec<u8> {
    let info = task_info_bytes(id, 1);
    let done = done_step_bytes(1_000_000);
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    // Types: 0 () -> i32, 1 (i32) -> i32, 2 () -> i64, 3 (i32) -> i64, 4 () -> ().
    let mut types: Vec<u8> = [
        &[0x60, 0, 1, 0x7f][..],
        &[0x60, 1, 0x7f, 1, 0x7f],
        &[0x60, 0, 1, 0x7e],
        &[0x60, 1, 0x7f, 1, 0x7e],
        &[0x60, 0, 0],
    ]
    .concat();
    for _ in 0..bomb.extra_types {
        types.extend([0x60, 0, 0]);
    }
    section(1, 5 + bomb.extra_types, &types, &mut m);
    let mut funcs = vec![0, 1, 2, 3, 3];
    funcs.extend(core::iter::repeat_n(4, bomb.bodies.len()));
    let mut func_section = Vec::new();
    for f in &funcs {
        uleb(*f, &mut func_section);
    }
    section(3, funcs.len(), &func_section, &mut m);
    section(5, 1, &[0, 1], &mut m);
    if bomb.extra_globals > 0 {
        let globals: Vec<u8> = core::iter::repeat_n([0x7f, 0, 0x41, 0, 0x0b], bomb.extra_globals)
            .flatten()
            .collect();
        section(6, bomb.extra_globals, &globals, &mut m);
    }
    let mut exports = Vec::new();
    for (name, kind, index) in [
        ("airlock_abi_version", 0u8, 0u64),
        ("airlock_input", 0, 1),
        ("airlock_info", 0, 2),
        ("airlock_start", 0, 3),
        ("airlock_step", 0, 4),
        ("memory", 2, 0),
    ] {
        uleb(name.len() as u64, &mut exports);
        exports.extend(name.as_bytes());
        exports.push(kind);
        uleb(index, &mut exports);
    }
    section(7, 6, &exports, &mut m);
    let i64_body = |value: i64| {
        let mut body = vec![0, 0x42];
        sleb(value, &mut body);
        body.push(0x0b);
        body
    };
    // `i32.const ABI_VERSION` (one signed LEB byte while it is below 64).
    let mut bodies: Vec<Vec<u8>> = vec![
        vec![0, 0x41, airlock_core::abi::ABI_VERSION as u8, 0x0b],
        vec![0, 0x41, 0x80, 0x20, 0x0b],
        i64_body(airlock_core::abi::pack(1024, info.len() as u32)),
        i64_body(airlock_core::abi::pack(2048, done.len() as u32)),
        vec![0, 0x00, 0x0b],
    ];
    bodies.extend(bomb.bodies.iter().cloned());
    let mut code = Vec::new();
    for body in &bodies {
        uleb(body.len() as u64, &mut code);
        code.extend(body);
    }
    section(10, bodies.len(), &code, &mut m);
    let mut data = Vec::new();
    for (at, bytes) in [(1024u32, &info), (2048, &done)] {
        data.extend([0, 0x41]);
        sleb(i64::from(at), &mut data);
        data.push(0x0b);
        uleb(bytes.len() as u64, &mut data);
        data.extend(bytes.iter());
    }
    section(11, 2, &data, &mut m);
    m
}

/// A function body (no locals) of `n` times `i32.const 0; drop`.
fn long_body(n: usize) -> Vec<u8> {
    let mut body = vec![0];
    body.extend(core::iter::repeat_n([0x41, 0, 0x1a], n).flatten());
    body.push(0x0b);
    body
}

/// A function body (no locals) of exactly `bytes` bytes: `nop`s.
fn sized_body(bytes: usize) -> Vec<u8> {
    let mut body = vec![0];
    body.resize(bytes - 1, 0x01);
    body.push(0x0b);
    body
}

/// A function body of `n` nested empty blocks.
fn nested_body(n: usize) -> Vec<u8> {
    let mut body = vec![0];
    body.extend(core::iter::repeat_n([0x02, 0x40], n).flatten());
    body.extend(core::iter::repeat_n(0x0b, n + 1));
    body
}

/// A function body of `n` times `block; br 0; end`: two blocks and branches each.
fn blocks_body(n: usize) -> Vec<u8> {
    let mut body = vec![0];
    body.extend(core::iter::repeat_n([0x02, 0x40, 0x0c, 0x00, 0x0b], n).flatten());
    body.push(0x0b);
    body
}

/// A function body (no locals) of `n` times `call 0; drop`.
fn calls_body(n: usize) -> Vec<u8> {
    let mut body = vec![0];
    body.extend(core::iter::repeat_n([0x10, 0x00, 0x1a], n).flatten());
    body.push(0x0b);
    body
}

/// A function body declaring `n` i32 locals.
fn locals_body(n: u32) -> Vec<u8> {
    let mut body = vec![1];
    uleb(n.into(), &mut body);
    body.extend([0x7f, 0x0b]);
    body
}

/// Finding 10 of issue 14: compiling was bounded only by the module's size,
/// and within it a module took the runner past 2 GiB and 30 s. The bombs of
/// the report, and modules one step over each bound of the compile budget,
/// are refused while the suite is screened, before Cranelift sees them: exit
/// 2, naming the file and the bound. A module at every bound at once loads.
#[test]
fn compile_bombs_are_refused_before_compiling_naming_the_file_and_the_bound() {
    let root = tempfile::tempdir().unwrap();
    let key = keygen(root.path());
    // The default profile's module size (8 MiB), so the bombs fit it.
    let profile = profile_with(root.path(), "bombs", &[]);
    let empty = || vec![0u8, 0x0b];
    let bombs: Vec<(&str, Bomb, &str)> = vec![
        (
            "one-huge-function",
            Bomb {
                bodies: vec![long_body(2_500_000)],
                ..Bomb::default()
            },
            "it has * bytes of code; the runner allows 1048576",
        ),
        (
            "deep-nesting",
            Bomb {
                bodies: vec![nested_body(2_500_000)],
                ..Bomb::default()
            },
            "it has * bytes of code; the runner allows 1048576",
        ),
        (
            "many-functions",
            Bomb {
                bodies: (0..400_000).map(|_| empty()).collect(),
                ..Bomb::default()
            },
            "it has 400005 functions; the runner allows 2000",
        ),
        (
            "one-function-too-many",
            Bomb {
                bodies: (0..1_996).map(|_| empty()).collect(),
                ..Bomb::default()
            },
            "it has 2001 functions; the runner allows 2000",
        ),
        (
            "body-one-byte-too-long",
            Bomb {
                bodies: vec![sized_body(131_073)],
                ..Bomb::default()
            },
            "function 5 has 131073 body bytes; the runner allows 131072",
        ),
        (
            "nesting-one-too-deep",
            Bomb {
                bodies: vec![nested_body(1_025)],
                ..Bomb::default()
            },
            "function 5 has 1025 nested blocks; the runner allows 1024",
        ),
        (
            "branches-one-too-many",
            Bomb {
                bodies: vec![blocks_body(2_001)],
                ..Bomb::default()
            },
            "function 5 has 4001 blocks and branches; the runner allows 4000",
        ),
        (
            "module-branches-over-budget",
            Bomb {
                bodies: (0..6).map(|_| blocks_body(1_750)).collect(),
                ..Bomb::default()
            },
            "it has 21000 blocks and branches; the runner allows 20000",
        ),
        (
            "calls-over-budget",
            Bomb {
                bodies: (0..2).map(|_| calls_body(10_001)).collect(),
                ..Bomb::default()
            },
            "it has 20002 calls; the runner allows 20000",
        ),
        (
            "locals-one-too-many",
            Bomb {
                bodies: vec![locals_body(4_097)],
                ..Bomb::default()
            },
            "function 5 has 4097 locals; the runner allows 4096",
        ),
        (
            "code-over-budget",
            Bomb {
                bodies: (0..9).map(|_| sized_body(120_000)).collect(),
                ..Bomb::default()
            },
            "bytes of code; the runner allows 1048576",
        ),
        (
            "types-over-budget",
            Bomb {
                extra_types: 9_996,
                ..Bomb::default()
            },
            "it has 10001 types; the runner allows 10000",
        ),
        (
            "globals-over-budget",
            Bomb {
                extra_globals: 10_001,
                ..Bomb::default()
            },
            "it has 10001 globals; the runner allows 10000",
        ),
    ];
    for (name, bomb, fragment) in &bombs {
        let dir = root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let file = format!("{name}.wasm");
        let module = bomb_module(name, bomb);
        wasmparser::Validator::new()
            .validate_all(&module)
            .unwrap_or_else(|e| panic!("{name}: the bomb is not a valid module: {e}"));
        std::fs::write(dir.join(&file), &module).unwrap();
        let out = dir.join("run.bundle");
        let mut run = Run::new("null", &key, &out).arg("--unsigned-suite");
        run.suite = dir.to_str().unwrap().to_owned();
        run.profile = profile.to_str().unwrap().to_owned();
        let started = std::time::Instant::now();
        let done = run.finish();
        let took = started.elapsed();
        assert_eq!(done.status.code(), Some(2), "{name}: {done}");
        assert!(done.stderr.contains(&file), "{name}: no file named: {done}");
        assert!(
            done.stderr.contains("over the compile budget") && says(&done.stderr, fragment),
            "{name}: the message does not say {fragment:?}: {done}"
        );
        assert!(!out.exists(), "{name}: left a bundle");
        // Screening reads the module once; it never reaches the compiler.
        assert!(took.as_secs() < 10, "{name}: took {took:?}");
    }
}

/// The other half of finding 10: a module at the compile budget's bounds
/// where compiling costs most (20 000 call sites and 1 MiB of code in
/// functions of 128 KiB) loads, and the whole run stays within the profile's
/// memory promise, `total_memory_mib` + the 64 MiB runner base
/// (hardware-profiles/README.md): compiling it measured 46 MiB.
#[test]
fn a_module_at_the_compile_budget_runs_within_the_profile_memory_bound() {
    let root = tempfile::tempdir().unwrap();
    let key = keygen(root.path());
    let profile = profile_with(
        root.path(),
        "at-budget",
        &[
            ("cores", "1"),
            ("memory_per_sandbox_mib", "4"),
            ("total_memory_mib", "4"),
        ],
    );
    let calls = |n: usize| {
        let mut body = vec![0];
        body.extend(core::iter::repeat_n([0x10, 0x00, 0x1a], n).flatten());
        body.push(0x0b);
        body
    };
    // One i32 local; `local.get 0; i32.const 1; i32.add; local.set 0` to 128 KiB.
    let mut arithmetic = vec![1, 1, 0x7f];
    arithmetic.extend(core::iter::repeat_n([0x20, 0, 0x41, 1, 0x6a, 0x21, 0], 18_720).flatten());
    arithmetic.push(0x0b);
    let mut bodies: Vec<Vec<u8>> = (0..3).map(|_| calls(6_666)).collect();
    bodies.extend((0..7).map(|_| arithmetic.clone()));
    let module = bomb_module(
        "at-budget",
        &Bomb {
            bodies,
            ..Bomb::default()
        },
    );
    let code: usize = 1_048_576;
    assert!(
        module.len() > code * 9 / 10 && module.len() < code,
        "{}",
        module.len()
    );
    let suite = suite_dir(root.path(), &[("at-budget.wasm", module)]);
    let out = root.path().join("run.bundle");
    let mut run = Run::new("null", &key, &out).arg("--unsigned-suite");
    run.suite = suite.to_str().unwrap().to_owned();
    run.profile = profile.to_str().unwrap().to_owned();
    let done = finish(run.command().arg("--json"));
    done.expect_code(0);
    let json = done.json();
    assert_eq!(json["results"][0]["outcome"], "done", "{json}");
    if let Some(peak) = json["peak_rss_bytes"].as_u64() {
        assert!(
            peak <= (4 + 64) * 1024 * 1024,
            "peak RSS {} MiB over the profile's 4 MiB + 64 MiB",
            peak / (1024 * 1024)
        );
    }
}
