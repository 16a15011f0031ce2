//! The crash harness: runs of the default suite with a slowed reference
//! agent are SIGKILLed at random moments and resumed with `--resume` until
//! they finish, and every finished run is checked against what the runner
//! reported durable before each kill and against an uninterrupted run with
//! the same seed.
//!
//! "Reported durable" is what `airlock run --json` printed on stderr as a
//! `result` progress event (SPEC.md, "Run progress events"). The harness
//! reads the child's stderr to its end after the kill, so every complete
//! line the runner wrote before it died counts: the strictest reading.
//!
//! Kill moments are drawn over the whole run, over the results once the plan
//! is read (the runner's `start` event), and just after RunEnd is durable
//! (the `end` event), so each phase is hit, start-up included, though it
//! takes most of a run's wall time.
//!
//! The kill moments come from a seeded generator, printed with the report,
//! so a failing campaign can be run again with the same schedule (timing on
//! a loaded machine still varies, so the same moments may land elsewhere).

use core::fmt;
use core::time::Duration;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Instant;

use airlock_core::record::{Record, TaskResult};
use serde_json::{Value, json};

use airlock_attest::station_chain::StationRun;
use airlock_attest::station_log::StationLog;
use airlock_attest::station_state::Station;

use crate::bundle_records;

/// The format name of the runner's progress events.
pub const PROGRESS_FORMAT: &str = "airlock-progress/1";

/// How a crash campaign runs.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// The airlock binary under test.
    pub airlock: PathBuf,
    /// Stop starting new runs once this many kills were survived.
    pub kills: u32,
    /// Seed of the kill schedule (and of the run seed).
    pub seed: u64,
    /// Per-reply delays of the reference agent; each run picks one.
    pub delays_ms: Vec<u64>,
    /// Kills per run at most; the attempt after the last one runs to the end.
    pub max_kills_per_run: u32,
    /// Print one line per run to stderr.
    pub verbose: bool,
    /// Where in a run the kills land.
    pub phases: KillPhases,
}

/// Where in a run a campaign's kill moments are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillPhases {
    /// Over the whole run, over the results, and just after RunEnd.
    Everywhere,
    /// Only in the moments after RunEnd is durable, while the run records
    /// its ending (the station log's leaf), writes its bundle and receipt
    /// and removes its journal: the station log's crash test.
    Ending,
}

/// What a crash campaign found.
#[derive(Debug, Clone, Default)]
pub struct CrashReport {
    /// The kill schedule's seed.
    pub seed: u64,
    /// Runs started (each resumed until it finished).
    pub runs: u32,
    /// SIGKILLs that hit a running airlock, each followed by a resume.
    pub kills: u32,
    /// Kills that left no journal (before RunStart was durable).
    pub kills_before_journal: u32,
    /// Kills that left a journal without RunEnd: in the middle of the run.
    pub kills_mid_run: u32,
    /// Kills after RunEnd was durable: while the bundle was written, the
    /// station state updated or the journal removed.
    pub kills_after_run_end: u32,
    /// Kill moments that came after the attempt had already exited.
    pub finished_before_kill: u32,
    /// `result` events read from killed or finished attempts.
    pub reported_durable: u32,
    /// Reported-durable results absent from, or different in, the final bundle.
    pub lost: u32,
    /// Results beyond one per plan entry in a final bundle, and plan entries
    /// reported durable by more than one attempt (a durable result run again).
    pub duplicates: u32,
    /// Final results whose payload differs from the uninterrupted run's.
    pub mismatched: u32,
    /// Kills after which the run's bundle was on disk: each was checked to
    /// have its leaf in the station log already.
    pub bundles_checked_in_log: u32,
    /// Anything else that went wrong (a resume refused, a bundle that does not
    /// verify, a journal left behind), one line each.
    pub problems: Vec<String>,
}

impl CrashReport {
    /// True when nothing was lost, duplicated, different or otherwise wrong.
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.mismatched == 0 && self.problems.is_empty()
    }
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed:                  {}", self.seed)?;
        writeln!(f, "runs:                  {}", self.runs)?;
        writeln!(
            f,
            "kills survived:        {} ({} before RunStart was durable, {} in the middle, {} after RunEnd was durable)",
            self.kills, self.kills_before_journal, self.kills_mid_run, self.kills_after_run_end
        )?;
        writeln!(f, "finished before kill:  {}", self.finished_before_kill)?;
        writeln!(
            f,
            "bundles on disk after a kill, checked in the station log: {}",
            self.bundles_checked_in_log
        )?;
        writeln!(f, "reported durable:      {}", self.reported_durable)?;
        writeln!(f, "results lost:          {}", self.lost)?;
        writeln!(f, "duplicates:            {}", self.duplicates)?;
        writeln!(f, "differing from uninterrupted run: {}", self.mismatched)?;
        write!(f, "other problems:        {}", self.problems.len())?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// splitmix64: small, seedable, good enough to place kill moments.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); the modulo bias is negligible here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The `airlock-progress/1` events in a child's stderr: complete lines
/// only, since a line cut by the kill was never fully reported.
pub fn progress_events(stderr: &str) -> Vec<Value> {
    let complete = match stderr.rfind('\n') {
        Some(end) => &stderr[..end],
        None => "",
    };
    complete
        .lines()
        .filter(|line| line.starts_with('{'))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["format"] == PROGRESS_FORMAT)
        .collect()
}

/// The results reported durable by `result` events.
pub fn durable_results(stderr: &str) -> Vec<Value> {
    progress_events(stderr)
        .into_iter()
        .filter(|event| event["event"] == "result")
        .map(|event| event["result"].clone())
        .collect()
}

/// A result as `airlock run --json` and the progress events print it.
pub fn result_row(r: &TaskResult) -> Value {
    json!({
        "plan_index": r.plan_index,
        "task_id": r.task_id,
        "epoch": r.epoch,
        "module_digest": r.module_digest.to_hex().as_str(),
        "outcome": r.outcome.name(),
        "outcome_detail": r.outcome.to_string(),
        "score_ppm": r.score.0,
        "fuel_consumed": r.fuel_consumed,
        "peak_memory_bytes": r.peak_memory_bytes,
        "turns": r.turns,
        "prompt_tokens": r.tokens.prompt_tokens,
        "completion_tokens": r.tokens.completion_tokens,
        "calls_without_usage": r.tokens.calls_without_usage,
        "wall_time_us": r.wall_time_us,
        "transcript_commitment": r.transcript_commitment.to_hex().as_str(),
    })
}

/// The payload of a result that two runs with the same seed must share:
/// everything but the wall time (a measurement) and the transcript
/// commitment (keyed by each run's own secret).
pub fn payload(r: &TaskResult) -> Value {
    let mut row = result_row(r);
    if let Value::Object(map) = &mut row {
        map.remove("wall_time_us");
        map.remove("transcript_commitment");
    }
    row
}

/// How one attempt of a run ended.
#[derive(Debug)]
pub struct Attempt {
    /// Whether a SIGKILL hit it while it ran.
    pub killed: bool,
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
    /// From its first `end` progress event to its exit, when it exited on
    /// its own: how long the run's ending (bundle, station state, journal
    /// removal) took.
    pub ending: Option<Duration>,
}

/// When to SIGKILL an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillAt {
    /// This long after it started.
    AfterStart(Duration),
    /// This long after it printed the progress event named (if it ever does).
    AfterEvent(&'static str, Duration),
}

/// Starts `command` with piped output and SIGKILLs it at `kill` if it is
/// still running then (never, when `None`); `limit` bounds the wait.
pub fn attempt(command: &mut Command, kill: Option<KillAt>, limit: Duration) -> Attempt {
    let started = Instant::now();
    let mut child = crate::spawn_piped(command);
    let stdout = drain(child.stdout.take());
    let seen: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stderr = drain_events(child.stderr.take(), Arc::clone(&seen));
    let mut sent = false;
    let moment = match kill {
        None => None,
        Some(KillAt::AfterStart(after)) => Some(started + after),
        Some(KillAt::AfterEvent(event, after)) => {
            let seen_at = || {
                let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.iter().find(|(e, _)| e == event).map(|(_, at)| *at)
            };
            loop {
                if let Some(at) = seen_at() {
                    break Some(at + after);
                }
                if !running(&mut child) {
                    break None;
                }
                thread::sleep(Duration::from_micros(200));
            }
        }
    };
    if let Some(moment) = moment {
        while Instant::now() < moment && running(&mut child) {
            thread::sleep((moment - Instant::now()).min(Duration::from_millis(1)));
        }
        if running(&mut child) {
            child.kill().expect("cannot SIGKILL the run"); // SIGKILL on unix
            sent = true;
        }
    }
    let status = wait_for(&mut child, started + limit);
    let exited = Instant::now();
    let status = match status {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {limit:?}");
        }
    };
    // The child may have exited on its own between the check and the
    // signal; only a death by the signal is a kill.
    let killed = sent && killed_by_sigkill(&status);
    let ending = if killed {
        None
    } else {
        let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.iter()
            .find(|(e, _)| e == "end")
            .map(|(_, at)| exited.saturating_duration_since(*at))
    };
    Attempt {
        killed,
        ending,
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Reads stderr to its end, noting when each progress event first arrives.
fn drain_events<R: Read + Send + 'static>(
    pipe: Option<R>,
    seen: Arc<Mutex<Vec<(String, Instant)>>>,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let Some(pipe) = pipe else {
            return String::new();
        };
        let mut reader = BufReader::new(pipe);
        loop {
            let start = bytes.len();
            match reader.read_until(b'\n', &mut bytes) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&bytes[start..]);
            if let Some(event) = progress_events(&line).first()
                && let Some(name) = event["event"].as_str()
            {
                let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                if !seen.iter().any(|(e, _)| e == name) {
                    seen.push((name.to_owned(), Instant::now()));
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(unix)]
fn killed_by_sigkill(status: &ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(9)
}

#[cfg(not(unix))]
fn killed_by_sigkill(status: &ExitStatus) -> bool {
    status.code().is_none()
}

fn running(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

fn wait_for(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            // Fine-grained: the ending it measures lasts a few milliseconds.
            Ok(None) => thread::sleep(Duration::from_micros(250)),
            Err(e) => panic!("cannot wait for the run: {e}"),
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

/// Longest any one airlock command may take in a campaign.
const LIMIT: Duration = Duration::from_secs(600);

struct Campaign<'a> {
    config: &'a CrashConfig,
    dir: &'a Path,
    key: PathBuf,
    public: PathBuf,
    /// A tlog-policy trusting the station's log, no witnesses: every
    /// finished run's receipt is checked under it.
    policy: PathBuf,
    run_seed: String,
    baseline: Vec<TaskResult>,
    /// Wall time of the uninterrupted run (start-up, tasks, bundle).
    baseline_time: Duration,
    /// Model turns of the uninterrupted run: replies the agent delays.
    turns: u64,
    /// How long each attempt that exited on its own took from its `end`
    /// event to its exit: the window the kills after RunEnd are drawn
    /// over, measured on this machine rather than guessed.
    endings: Vec<Duration>,
    /// Runs that failed instead of finishing (each also a problem).
    failed_runs: u32,
    report: CrashReport,
}

impl Campaign<'_> {
    fn airlock(&self) -> Command {
        let mut command = Command::new(&self.config.airlock);
        command.env("NO_COLOR", "1").env_remove("RUST_LOG");
        command
    }

    fn run_command(&self, agent: &str, out: &Path, resume: bool) -> Command {
        let mut command = self.airlock();
        command
            .args([
                "run",
                "--suite",
                "default",
                "--agent",
                agent,
                "--profile",
                "default",
            ])
            .arg("--key")
            .arg(&self.key)
            .arg("--out")
            .arg(out)
            .args(["--seed", &self.run_seed, "--json"]);
        if resume {
            command.arg("--resume");
        }
        command
    }

    /// Runs one run to its end through kills and resumes, then checks it.
    fn run(&mut self, number: u32, rng: &mut Rng) {
        let config = self.config;
        let delay = config.delays_ms[rng.below(config.delays_ms.len() as u64) as usize];
        let agent = format!("reference:delay-ms={delay}");
        let out = self.dir.join(format!("run-{number}.bundle"));
        let journal = crate::journal_of(&out);
        // (attempt, result row) for every result reported durable.
        let mut reported: Vec<(u32, Value)> = Vec::new();
        let mut kills = 0;
        let mut resume = false;
        self.report.runs += 1;
        for attempt_no in 0.. {
            let kill = (kills < config.max_kills_per_run).then(|| self.kill_moment(rng, delay));
            let mut command = self.run_command(&agent, &out, resume);
            let done = attempt(&mut command, kill, LIMIT);
            self.endings.extend(done.ending);
            for row in durable_results(&done.stderr) {
                reported.push((attempt_no, row));
            }
            if done.killed {
                kills += 1;
                self.report.kills += 1;
                if out.exists() {
                    self.check_leaf(number, &out);
                }
                if journal.exists() {
                    if journal_has_run_end(&journal) {
                        self.report.kills_after_run_end += 1;
                    } else {
                        self.report.kills_mid_run += 1;
                    }
                    resume = true;
                    continue;
                }
                if out.exists() {
                    // Killed after the journal was removed: the run is done.
                    self.report.kills_after_run_end += 1;
                    break;
                }
                self.report.kills_before_journal += 1;
                // Killed before the journal existed: nothing was durable, so
                // the run starts again (a resume would find no journal).
                resume = false;
                continue;
            }
            if kill.is_some() {
                self.report.finished_before_kill += 1;
            }
            if done.status.success() {
                break;
            }
            self.report.problems.push(format!(
                "run {number} ({agent}), attempt {attempt_no}{}: exit {}: {}",
                if resume { " (--resume)" } else { "" },
                done.status,
                done.stderr.trim()
            ));
            self.count_lost_run(&reported);
            self.failed_runs += 1;
            return;
        }
        self.report.reported_durable += reported.len() as u32;
        let lost_before = self.report.lost;
        let dup_before = self.report.duplicates;
        let mismatched_before = self.report.mismatched;
        let problems_before = self.report.problems.len();
        self.check(number, &out, &reported);
        if config.verbose {
            let clean = self.report.lost == lost_before
                && self.report.duplicates == dup_before
                && self.report.mismatched == mismatched_before
                && self.report.problems.len() == problems_before;
            eprintln!(
                "crash: run {number:3} delay {delay:4} ms: {kills} kill(s), {} result(s) reported durable: {}",
                reported.len(),
                if clean { "ok" } else { "FAILED" }
            );
        }
    }

    /// A random kill moment. Start-up (compiling the suite) takes most of
    /// a run's wall time, so moments drawn over the whole run alone would
    /// rarely land among the results or in the short window after RunEnd
    /// (bundle, station state, journal removal): one draw in five is over
    /// the whole run, three over the results once the plan is read, one
    /// just after RunEnd is durable.
    fn kill_moment(&self, rng: &mut Rng, delay: u64) -> KillAt {
        let uniform = |rng: &mut Rng, window: Duration| {
            let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
            Duration::from_micros(rng.below(window_us))
        };
        let agent_time = Duration::from_millis(self.turns * delay);
        if self.config.phases == KillPhases::Ending {
            // Over the ending as long as it takes here: a fixed window
            // longer than a fast machine's ending lets most runs finish
            // before their kill.
            return KillAt::AfterEvent("end", uniform(rng, self.ending_window()));
        }
        match rng.below(5) {
            0 => KillAt::AfterStart(uniform(rng, self.baseline_time + agent_time)),
            4 => KillAt::AfterEvent("end", uniform(rng, Duration::from_millis(40))),
            _ => KillAt::AfterEvent(
                "start",
                uniform(rng, agent_time + Duration::from_millis(100)),
            ),
        }
    }

    /// The median of the endings measured so far (at least a millisecond,
    /// 15 ms before any was).
    fn ending_window(&self) -> Duration {
        let mut endings = self.endings.clone();
        endings.sort();
        endings
            .get(endings.len() / 2)
            .copied()
            .unwrap_or(Duration::from_millis(15))
            .max(Duration::from_millis(1))
    }

    /// A bundle on disk must have its leaf in the station log, whatever
    /// moment the kill came at: the ending is recorded before the bundle
    /// is written.
    fn check_leaf(&mut self, number: u32, out: &Path) {
        self.report.bundles_checked_in_log += 1;
        let found = (|| {
            let public = airlock_attest::PublicKey::load(&self.public).ok()?;
            let verdict = airlock_attest::verify_bundle_file(
                out,
                &[public],
                airlock_attest::VerifyOptions::default(),
            )
            .ok()?;
            let run = StationRun::from_verdict("", &verdict)?;
            let station = Station::path_for_key(&self.key);
            let log = StationLog::read(&station, run.key_id).ok()?;
            Some(log.leaves().iter().any(|leaf| {
                leaf.run_counter == run.run_counter
                    && leaf.run_start_hash == run.run_start_hash
                    && leaf.final_hash == run.final_hash
            }))
        })();
        match found {
            Some(true) => {}
            Some(false) => self.report.problems.push(format!(
                "run {number}: its bundle was written but the station log has no leaf for it"
            )),
            None => self.report.problems.push(format!(
                "run {number}: its bundle (on disk after a kill) does not verify, or the \
                 station log cannot be read"
            )),
        }
    }

    fn count_lost_run(&mut self, reported: &[(u32, Value)]) {
        self.report.reported_durable += reported.len() as u32;
        self.report.lost += reported.len() as u32;
    }

    /// The checks on a finished run.
    fn check(&mut self, number: u32, out: &Path, reported: &[(u32, Value)]) {
        let problem = |report: &mut CrashReport, text: String| {
            report.problems.push(format!("run {number}: {text}"));
        };
        if crate::journal_of(out).exists() {
            problem(&mut self.report, "the journal was left behind".into());
        }
        let verify = crate::finish_within(
            self.airlock()
                .arg("verify")
                .arg(out)
                .arg("--trust")
                .arg(&self.public)
                .arg("--log-policy")
                .arg(&self.policy)
                .arg("--json"),
            LIMIT,
        );
        let verified = verify.status.success()
            && serde_json::from_str::<Value>(&verify.stdout)
                .is_ok_and(|v| v["verified"] == Value::Bool(true));
        if !verified {
            problem(
                &mut self.report,
                format!("the bundle does not verify: {verify}"),
            );
            self.report.lost += reported.len() as u32;
            return;
        }
        // Verified, so every frame decodes as a signed record.
        let results: Vec<TaskResult> = bundle_records(out)
            .into_iter()
            .filter_map(|record| match record {
                Record::TaskResult(result) => Some(result),
                _ => None,
            })
            .collect();

        let mut by_index: BTreeMap<u32, Vec<&TaskResult>> = BTreeMap::new();
        for result in &results {
            by_index.entry(result.plan_index).or_default().push(result);
        }
        for same in by_index.values() {
            self.report.duplicates += same.len() as u32 - 1;
        }
        let mut reported_by: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for (attempt, row) in reported {
            let index = row["plan_index"].as_u64().unwrap_or(u64::MAX);
            reported_by.entry(index).or_default().push(*attempt);
            let kept = u32::try_from(index)
                .ok()
                .and_then(|i| by_index.get(&i))
                .is_some_and(|same| same.iter().any(|r| result_row(r) == *row));
            if !kept {
                self.report.lost += 1;
                problem(
                    &mut self.report,
                    format!(
                        "result reported durable by attempt {attempt} is not in the bundle: {row}"
                    ),
                );
            }
        }
        for (index, attempts) in &reported_by {
            if attempts.len() > 1 {
                self.report.duplicates += attempts.len() as u32 - 1;
                problem(
                    &mut self.report,
                    format!("plan entry {index} was reported durable by attempts {attempts:?}"),
                );
            }
        }
        if results.len() != self.baseline.len() {
            problem(
                &mut self.report,
                format!(
                    "{} results, the uninterrupted run has {}",
                    results.len(),
                    self.baseline.len()
                ),
            );
        }
        for (result, expected) in results.iter().zip(&self.baseline) {
            if payload(result) != payload(expected) {
                self.report.mismatched += 1;
                problem(
                    &mut self.report,
                    format!(
                        "result {} differs from the uninterrupted run: {} vs {}",
                        result.plan_index,
                        payload(result),
                        payload(expected)
                    ),
                );
            }
        }
    }
}

/// Whether the journal holds a RunEnd (the run's records are complete).
fn journal_has_run_end(journal: &Path) -> bool {
    let Ok(bytes) = std::fs::read(journal) else {
        return false;
    };
    let mut at = 44;
    let mut last = None;
    while let Some(len) = bytes.get(at..at + 4) {
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let Some(frame) = bytes.get(at + 4..at + 4 + len) else {
            break;
        };
        let Ok(entry) = postcard::from_bytes::<airlock_core::record::SignedEntry>(frame) else {
            break;
        };
        last = postcard::from_bytes::<Record>(&entry.body).ok();
        at += 4 + len;
    }
    matches!(last, Some(Record::RunEnd(_)))
}

/// Runs a crash campaign in `dir` (which should be empty): a key, one
/// uninterrupted run as the reference, then runs killed and resumed until
/// `config.kills` kills were survived.
pub fn campaign(config: &CrashConfig, dir: &Path) -> CrashReport {
    assert!(
        !config.delays_ms.is_empty(),
        "no agent delays to choose from"
    );
    let mut rng = Rng::new(config.seed);
    let mut run_seed = String::new();
    for _ in 0..4 {
        run_seed.push_str(&format!("{:016x}", rng.next_u64()));
    }
    let mut campaign = Campaign {
        config,
        dir,
        key: dir.join("evaluator.key"),
        public: dir.join("evaluator.pub"),
        policy: dir.join("station.policy"),
        run_seed,
        baseline: Vec::new(),
        baseline_time: Duration::ZERO,
        turns: 0,
        endings: Vec::new(),
        failed_runs: 0,
        report: CrashReport {
            seed: config.seed,
            ..CrashReport::default()
        },
    };
    let keygen = crate::finish_within(
        campaign.airlock().arg("keygen").arg("--out").arg(dir),
        LIMIT,
    );
    keygen.expect_code(0);
    let vkey = crate::finish_within(
        campaign
            .airlock()
            .args(["log", "vkey", "--public"])
            .arg(&campaign.public),
        LIMIT,
    );
    vkey.expect_code(0);
    if let Err(e) = std::fs::write(
        &campaign.policy,
        format!("log {}\nquorum none\n", vkey.stdout.trim()),
    ) {
        panic!("cannot write {}: {e}", campaign.policy.display());
    }

    let baseline_out = dir.join("uninterrupted.bundle");
    let started = Instant::now();
    let baseline = attempt(
        &mut campaign.run_command("reference", &baseline_out, false),
        None,
        LIMIT,
    );
    campaign.baseline_time = started.elapsed();
    campaign.endings.extend(baseline.ending);
    assert!(
        baseline.status.success(),
        "the uninterrupted run failed: {}",
        baseline.stderr
    );
    campaign.baseline = bundle_records(&baseline_out)
        .into_iter()
        .filter_map(|record| match record {
            Record::TaskResult(result) => Some(result),
            _ => None,
        })
        .collect();
    campaign.turns = campaign.baseline.iter().map(|r| u64::from(r.turns)).sum();

    let mut number = 0;
    while campaign.report.kills < config.kills {
        number += 1;
        campaign.run(number, &mut rng);
        if number > config.kills.saturating_mul(4).max(10) {
            campaign.report.problems.push(format!(
                "only {} kills landed in {number} runs",
                campaign.report.kills
            ));
            break;
        }
    }
    campaign.check_log(number);
    campaign.report
}

impl Campaign<'_> {
    /// The station log holds one leaf per run that finished (the
    /// uninterrupted one and each numbered run), none twice.
    fn check_log(&mut self, runs: u32) {
        let Ok(public) = airlock_attest::PublicKey::load(&self.public) else {
            self.report
                .problems
                .push("the evaluator public key cannot be read".into());
            return;
        };
        let station = Station::path_for_key(&self.key);
        match StationLog::read(&station, public.key_id()) {
            Ok(log) => {
                let mut counters: Vec<u64> = log.leaves().iter().map(|l| l.run_counter).collect();
                let leaves = counters.len();
                counters.sort_unstable();
                counters.dedup();
                let finished = runs as usize + 1 - self.failed_runs as usize;
                if counters.len() != leaves || leaves != finished {
                    self.report.problems.push(format!(
                        "the station log has {leaves} leaves ({} distinct runs) for {finished} \
                         finished runs",
                        counters.len()
                    ));
                }
            }
            Err(e) => self
                .report
                .problems
                .push(format!("the station log cannot be read: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn only_complete_progress_lines_count() {
        let stderr = concat!(
            "2026-01-01T00:00:00Z WARN something\n",
            "{\"format\":\"airlock-progress/1\",\"event\":\"result\",\"result\":{\"plan_index\":0}}\n",
            "{\"format\":\"other/1\",\"event\":\"result\",\"result\":{\"plan_index\":9}}\n",
            "{\"format\":\"airlock-progress/1\",\"event\":\"result\",\"result\":{\"plan_index\":1}}",
        );
        let results = durable_results(stderr);
        assert_eq!(results, vec![json!({"plan_index": 0})]);
        assert_eq!(progress_events(&format!("{stderr}\n")).len(), 2);
    }

    #[test]
    fn the_kill_schedule_repeats_with_its_seed() {
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..8).map(|_| rng.below(1000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(draw(7).iter().all(|&n| n < 1000));
    }
}
