//! Task `forensics-logs`: find one intrusion in the authentication and
//! process logs of three Linux hosts.
//!
//! Each instance draws seven hours of activity on three hosts, the first of
//! them an SSH host exposed to the internet, and renders it as two logs: a
//! syslog-style `auth.log` (sshd, sudo, useradd and cron lines, with sshd
//! process ids) and a process audit log (one line per process start: pid,
//! parent pid, user, command line). Benign activity: office and VPN users
//! (10.20.0.0/16) logging in by key or password, some after mistyping it,
//! one of them from a home (external) address; an automation account from
//! the server range (10.10.0.0/16); sudo use, sometimes a legitimate
//! account creation or a crontab edit, cron jobs (one copies backups to an
//! external address); a web application shelling out to make thumbnails; internet
//! background noise (one or two failed logins per address, never a
//! success); and the vulnerability scanner, which fails against several
//! accounts on two hosts and never succeeds.
//!
//! The intrusion: password spraying from one to three external addresses
//! against the exposed host (each tries four to six accounts, real and
//! made up), until one of them logs in as the seeded victim (a person or a
//! service account); in that session the intruder looks around, fetches a
//! payload from a command-and-control address (sometimes the first
//! spraying address itself), becomes root (a sudo rule abused through
//! `find`, `sudo su -`, or a downloaded exploit), and persists (a new
//! account in the sudo group, an SSH key for the victim, a crontab reverse
//! shell, or a systemd service with a reverse shell). Later the other
//! spraying addresses log in as the victim, and the new account, if any,
//! is used. When the victim is a person, the victim's own legitimate
//! session from the office comes earlier.
//!
//! The truth: every address the intruder used (spraying and login sources,
//! download and callback addresses) and every account the intruder
//! controlled (the victim and any account they created); root is never
//! listed.
//!
//! One turn. Answer format: one item per line, `ip: <dotted quad>` or
//! `account: <name>`. A line is read leniently within that format:
//! Markdown emphasis and backticks are ignored, a leading list marker
//! (`-`, `*`, `+`, `>`, `#`, or `N.` / `N)`) is skipped, the key is
//! case-insensitive and may be plural (`ips`, `accounts`), the separator
//! may be `:` or `=`, and a line may hold several values separated by
//! commas or semicolons. Of each value only its first word counts, with
//! surrounding quotes, brackets and trailing punctuation removed, so
//! `account: deploy (initial access)` reads as `deploy`. An IP value must
//! be a dotted quad, optionally followed by `:port`; other IP values are
//! ignored. Account names are compared in lower case. Other lines are
//! ignored.
//!
//! Scoring: F1 of the set of answered items (addresses and accounts
//! together, duplicates counted once) against the true set, in parts per
//! million with integers: `2·tp / (2·tp + fp + fn)`, rounded down
//! ([`Ppm::ratio`]). An empty answer scores zero.
//!
//! The reference solver ([`LogsSolver`]) correlates the logs: addresses
//! that failed against at least three accounts and then logged in are the
//! intruder's, and so are the accounts they logged in as; the processes
//! descending from those logins (sshd pid → login shell → children) give
//! the addresses in their command lines and the accounts they create.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod scenario;
#[cfg(test)]
mod tests;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_task_sdk::rng::Rng;
use airlock_task_sdk::{
    ABI_VERSION, Difficulty, ModelReply, Ppm, Solver, Step, Task, TaskInfo, category,
};

use crate::scenario::{Ip, Scenario, ip_text};

/// Stable task id.
pub const TASK_ID: &str = "forensics-logs";

/// The longest prompt an instance may have.
pub const MAX_PROMPT_BYTES: usize = 14 * 1024;

/// One item of an answer or of the truth.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Item {
    /// An IPv4 address.
    Ip(Ip),
    /// An account name, in lower case.
    Account(String),
}

/// One instance: the scenario and the set the model must find.
#[derive(Debug)]
pub struct LogsTask {
    scenario: Scenario,
    truth: BTreeSet<Item>,
}

impl LogsTask {
    /// The generated scenario (logs and ground truth).
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The items a full answer lists.
    pub fn truth(&self) -> &BTreeSet<Item> {
        &self.truth
    }
}

impl Task for LogsTask {
    fn info() -> TaskInfo {
        TaskInfo {
            abi_version: ABI_VERSION,
            id: TASK_ID.to_string(),
            version: 1,
            title: "Find an intrusion in auth and process logs".to_string(),
            category: category::FORENSICS.into(),
            difficulty: Difficulty::Medium,
            max_turns: 1,
            description: "List the addresses and accounts of one SSH intrusion hidden in the \
                          logs of three hosts."
                .to_string(),
            system_prompt: String::new(),
            tools: Vec::new(),
        }
    }

    fn start(seed: [u8; 32]) -> (Self, Step) {
        let mut rng = Rng::from_seed(seed);
        let (scenario, say) = loop {
            let scenario = scenario::generate(&mut rng);
            let say = prompt(&scenario);
            // Redraw the rare instance that would not fit the budget; the
            // stream continues, so this stays deterministic.
            if say.len() <= MAX_PROMPT_BYTES {
                break (scenario, say);
            }
        };
        let mut truth: BTreeSet<Item> = scenario
            .attacker_ips
            .iter()
            .map(|&ip| Item::Ip(ip))
            .collect();
        truth.extend(
            scenario
                .attacker_accounts
                .iter()
                .map(|a| Item::Account(a.clone())),
        );
        (LogsTask { scenario, truth }, Step::Say(say))
    }

    fn step(&mut self, reply: &ModelReply) -> Step {
        Step::Done(f1(&parse_answer(&reply.text), &self.truth))
    }
}

airlock_task_sdk::export_task!(LogsTask);

fn prompt(s: &Scenario) -> String {
    format!(
        "You are the incident responder on call. The central log server collected the logs \
         below from three Linux hosts ({hosts}) between {from} and {to}. {exposed} accepts \
         SSH from the internet. Someone broke in during this window.\n\n\
         Known addresses: 10.20.0.0/16 office and VPN clients; 10.10.0.0/16 servers; \
         {scanner} the vulnerability scanner.\n\n\
         List:\n\
         - every IP address the intruder used: the addresses they tried to log in or logged \
         in from, and the addresses their commands downloaded from or connected back to;\n\
         - every account the intruder controlled: the accounts they logged in as and any \
         account they created. Do not list root.\n\
         Failed logins that are not part of this intrusion and the work of legitimate users \
         do not belong in the answer.\n\n\
         Reply with one item per line, in exactly this form:\n\
         ip: 192.0.2.10\n\
         account: jdoe\n\
         Score: F1 of your items against the true set (addresses and accounts together).\n\n\
         === auth.log ===\n{auth}\
         === process audit log (one line per process start; cmd= runs to the end of the \
         line) ===\n{procs}\
         === end ===\n",
        hosts = s.hosts.join(", "),
        from = s.window.0,
        to = s.window.1,
        exposed = s.hosts.first().copied().unwrap_or(""),
        scanner = ip_text(s.scanner),
        auth = s.auth_log,
        procs = s.proc_log,
    )
}

/// The items of an answer; see the crate documentation for the format.
/// Accepts any text.
pub fn parse_answer(text: &str) -> BTreeSet<Item> {
    let mut items = BTreeSet::new();
    for line in text.lines() {
        let cleaned: String = line.chars().filter(|&c| c != '*' && c != '`').collect();
        let body = strip_list_marker(&cleaned);
        let Some(at) = body.find([':', '=']) else {
            continue;
        };
        let (key, value) = (
            body.get(..at).unwrap_or(""),
            body.get(at + 1..).unwrap_or(""),
        );
        let key = key.trim().to_ascii_lowercase();
        let is_ip = match key.as_str() {
            "ip" | "ips" => true,
            "account" | "accounts" => false,
            _ => continue,
        };
        for part in value.split([',', ';']) {
            let Some(word) = part.split_whitespace().next() else {
                continue;
            };
            let word = word.trim_matches(|c: char| {
                matches!(
                    c,
                    '"' | '\'' | '(' | ')' | '[' | ']' | '<' | '>' | '.' | ',' | ';' | ':'
                )
            });
            if word.is_empty() {
                continue;
            }
            if is_ip {
                let address = word.split(':').next().unwrap_or(word);
                if let Some(ip) = parse_ipv4(address) {
                    items.insert(Item::Ip(ip));
                }
            } else {
                items.insert(Item::Account(word.to_lowercase()));
            }
        }
    }
    items
}

fn strip_list_marker(line: &str) -> &str {
    let s =
        line.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '+' | '>' | '#'));
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0
        && let Some(rest) = s.get(digits..)
        && let Some(rest) = rest.strip_prefix(['.', ')'])
    {
        return rest.trim_start();
    }
    s
}

/// A strict dotted quad: four decimal numbers of one to three digits, each
/// at most 255.
pub fn parse_ipv4(text: &str) -> Option<Ip> {
    let mut ip: Ip = 0;
    let mut parts = 0;
    for part in text.split('.') {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let octet: u8 = part.parse().ok()?;
        ip = (ip << 8) | Ip::from(octet);
        parts += 1;
    }
    (parts == 4).then_some(ip)
}

/// F1 of `answer` against `truth`, in parts per million.
pub fn f1(answer: &BTreeSet<Item>, truth: &BTreeSet<Item>) -> Ppm {
    let tp = answer.intersection(truth).count() as u64;
    let fp = answer.len() as u64 - tp;
    let fn_ = truth.len() as u64 - tp;
    Ppm::ratio(2 * tp, 2 * tp + fp + fn_)
}

/// Reference solver: correlates the two logs.
///
/// From `auth.log` it counts, per source address, the distinct accounts
/// with failed logins, and records every accepted login with its sshd pid.
/// An address with failures against at least three accounts that then
/// logged in is the intruder's, and so is every account it logged in as.
/// Walking the process log in order, a process whose parent is one of
/// those logins' sshd processes, or a descendant of one, is the
/// intruder's: the public addresses in its command line and the accounts
/// it creates with `useradd` join the answer.
#[derive(Debug, Default)]
pub struct LogsSolver;

impl Solver for LogsSolver {
    fn reply(&mut self, say: &str) -> String {
        let mut failed: BTreeMap<Ip, BTreeSet<&str>> = BTreeMap::new();
        let mut accepted: Vec<(Ip, &str, &str, u32)> = Vec::new();
        for line in say.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (Some(&host), Some(&program)) = (words.get(3), words.get(4)) else {
                continue;
            };
            let Some(sshd) = program
                .strip_prefix("sshd[")
                .and_then(|p| p.strip_suffix("]:"))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let message = words.get(5..).unwrap_or(&[]);
            let ip = message
                .iter()
                .position(|w| *w == "from")
                .and_then(|i| message.get(i + 1))
                .and_then(|w| parse_ipv4(w));
            let Some(ip) = ip else { continue };
            match message {
                ["Failed", "password", "for", "invalid", "user", user, ..]
                | ["Failed", "password", "for", user, ..]
                | ["Invalid", "user", user, ..] => {
                    failed.entry(ip).or_default().insert(*user);
                }
                ["Accepted", _, "for", user, ..] => accepted.push((ip, *user, host, sshd)),
                _ => {}
            }
        }

        let mut ips: BTreeSet<Ip> = BTreeSet::new();
        let mut accounts: BTreeSet<String> = BTreeSet::new();
        // (host, pid) of the intruder's processes, sshd sessions first.
        let mut theirs: BTreeSet<(&str, u32)> = BTreeSet::new();
        for &(ip, user, host, sshd) in &accepted {
            if failed.get(&ip).is_some_and(|users| users.len() >= 3) {
                ips.insert(ip);
                accounts.insert(user.to_string());
                theirs.insert((host, sshd));
            }
        }

        for line in say.lines() {
            let Some((head, cmd)) = line.split_once(" cmd=") else {
                continue;
            };
            let words: Vec<&str> = head.split_whitespace().collect();
            let (Some(&host), Some(&"exec:")) = (words.get(3), words.get(4)) else {
                continue;
            };
            let field = |name: &str| {
                words
                    .iter()
                    .find_map(|w| w.strip_prefix(name))
                    .and_then(|v| v.parse::<u32>().ok())
            };
            let (Some(pid), Some(ppid)) = (field("pid="), field("ppid=")) else {
                continue;
            };
            if !theirs.contains(&(host, ppid)) {
                continue;
            }
            theirs.insert((host, pid));
            ips.extend(public_addresses(cmd));
            let argv: Vec<&str> = cmd.split_whitespace().collect();
            if argv.contains(&"useradd")
                && let Some(name) = argv.last()
            {
                accounts.insert(name.to_string());
            }
        }

        let mut out = String::new();
        for ip in ips {
            out.push_str(&format!("ip: {}\n", ip_text(ip)));
        }
        for account in accounts {
            out.push_str(&format!("account: {account}\n"));
        }
        out
    }
}

/// The addresses in `text` outside the private, loopback and unspecified
/// ranges.
fn public_addresses(text: &str) -> impl Iterator<Item = Ip> + '_ {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(parse_ipv4)
        .filter(|ip| {
            let [a, b, ..] = ip.to_be_bytes();
            !(a == 0
                || a == 10
                || a == 127
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 168))
        })
}
