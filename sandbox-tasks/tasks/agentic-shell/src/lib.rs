//! Task `agentic-shell`: find a flag on a simulated machine and submit it.
//!
//! Each instance draws a small virtual filesystem: three users' home
//! directories (the model is logged in as the first), system files, a
//! service under `/opt`, decoys (including a `/tmp/flag.txt` without the
//! flag), and one file holding the flag `flag{word_word_hhhhhhhh}` at a
//! seeded path under a seeded, sometimes hidden, name.
//!
//! The model drives a shell, one command per turn. The command is the first
//! line of the reply that is neither blank nor a Markdown code fence, with
//! a leading `$` and enclosing backticks removed. Commands: `help`, `pwd`,
//! `ls [-a] [-l] [path...]`, `cd [path]`, `cat path...`,
//! `find [path...] [-name|-iname pattern] [-type f|d]`,
//! `grep [-r] [-i] [-n] pattern path...` (a fixed string, not a regex),
//! `whoami`, `submit FLAG`. Words split like a shell's, with quotes and
//! backslashes; no globbing outside `find -name`; pipes, redirections and
//! command lists are refused. Unknown commands get `bash: X: command not
//! found`. Output is cut at 8 KiB per turn.
//!
//! Scoring: `submit` ends the task, with full credit when the submitted
//! text (the words after `submit`, joined by single spaces) equals the flag
//! exactly, and zero otherwise. At most [`MAX_TURNS`] replies are read;
//! if the last of them is not a `submit`, the task ends with zero.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod fs;
mod shell;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_task_sdk::rng::Rng;
use airlock_task_sdk::text::FLAG_PREFIX;
use airlock_task_sdk::{
    ABI_VERSION, Category, Difficulty, ModelReply, Ppm, Solver, Step, Task, TaskInfo,
};

use crate::fs::{NodeId, World};
use crate::shell::{LexError, Out, Session, command_line, split_words};

/// Stable task id.
pub const TASK_ID: &str = "agentic-shell";
/// The most replies the task reads.
pub const MAX_TURNS: u32 = 30;

const HELP: &str = "\
Commands:
  help                                  this text
  pwd                                   print the working directory
  ls [-a] [-l] [PATH...]                list a directory (-a: include hidden entries)
  cd [PATH]                             change directory (no PATH: home)
  cat PATH...                           print files
  find [PATH...] [-name|-iname PATTERN] [-type f|d]
                                        list entries below PATH (PATTERN: * and ?)
  grep [-r] [-i] [-n] TEXT PATH...      print lines containing TEXT (-r: recurse)
  whoami                                print the user name
  submit FLAG                           submit the flag; ends the task
Quotes and backslashes work as in a shell; pipes and redirections do not.
";

/// One instance: the machine, the model's place on it, and the turn count.
pub struct ShellTask {
    world: World,
    cwd: NodeId,
    turns: u32,
}

impl core::fmt::Debug for ShellTask {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShellTask")
            .field("user", &self.world.user)
            .field("turns", &self.turns)
            .finish_non_exhaustive()
    }
}

impl ShellTask {
    fn session(&mut self) -> Session<'_> {
        Session {
            fs: &self.world.fs,
            cwd: &mut self.cwd,
            home: self.world.home,
            user: &self.world.user,
            host: &self.world.host,
        }
    }

    /// Runs one command line; `Some(correct)` when it was a `submit`.
    fn run(&mut self, line: &str, out: &mut Out) -> Option<bool> {
        let words = match split_words(line) {
            Ok(words) => words,
            Err(LexError::Unterminated(q)) => {
                out.line(&format!(
                    "bash: unexpected EOF while looking for matching `{q}'"
                ));
                return None;
            }
            Err(LexError::Unsupported(c)) => {
                out.line(&format!(
                    "bash: `{c}': pipes, redirections, lists and substitutions are not \
                     supported here; run one command per turn"
                ));
                return None;
            }
        };
        // A blank line runs nothing and just shows the prompt again.
        let (command, args) = words.split_first()?;
        let mut session = self.session();
        match command.as_str() {
            "help" => out.push(HELP),
            "pwd" => session.pwd(out),
            "whoami" => out.line(&self.world.user),
            "ls" => session.ls(args, out),
            "cd" => session.cd(args, out),
            "cat" => session.cat(args, out),
            "find" => session.find(args, out),
            "grep" => session.grep(args, out),
            "submit" => {
                if args.is_empty() {
                    out.line("usage: submit FLAG");
                    return None;
                }
                return Some(args.join(" ") == self.world.flag);
            }
            other => session.unknown(other, out),
        }
        None
    }
}

impl Task for ShellTask {
    fn info() -> TaskInfo {
        TaskInfo {
            abi_version: ABI_VERSION,
            id: TASK_ID.to_string(),
            version: 1,
            title: "Find the flag on a simulated host".to_string(),
            category: Category::Agentic,
            difficulty: Difficulty::Easy,
            max_turns: MAX_TURNS,
            description:
                "Explore a small simulated Linux filesystem through a shell and submit the flag."
                    .to_string(),
        }
    }

    fn start(seed: [u8; 32]) -> (Self, Step) {
        let world = fs::generate(&mut Rng::from_seed(seed));
        let mut task = ShellTask {
            cwd: world.home,
            world,
            turns: 0,
        };
        let prompt = task.session().prompt();
        let say = format!(
            "You are logged in to the host {host} as the user {user}, in a simulated Linux \
             shell. Somewhere on this machine a file holds a flag of the form flag{{...}}. \
             Find it and submit it with the command: submit flag{{...}}\n\n\
             Reply with exactly one shell command per turn, and nothing else; its output \
             comes back as the next message. You have {MAX_TURNS} turns, and one submission: \
             the task ends when you submit or when the turns run out.\n\n\
             {HELP}\n{prompt}",
            host = task.world.host,
            user = task.world.user,
        );
        (task, Step::Say(say))
    }

    fn step(&mut self, reply: &ModelReply) -> Step {
        self.turns = self.turns.saturating_add(1);
        let mut out = Out::new();
        if let Some(correct) = self.run(command_line(&reply.text), &mut out) {
            return Step::Done(if correct { Ppm::FULL } else { Ppm::ZERO });
        }
        if self.turns >= MAX_TURNS {
            // Never ask for a reply past the declared budget.
            return Step::Done(Ppm::ZERO);
        }
        let mut say = out.finish();
        let left = MAX_TURNS - self.turns;
        if left <= 3 {
            say.push_str(&format!(
                "[{left} turn{} left]\n",
                if left == 1 { "" } else { "s" }
            ));
        }
        say.push_str(&self.session().prompt());
        Step::Say(say)
    }
}

airlock_task_sdk::export_task!(ShellTask);

/// The first well-formed flag in `text`: `flag{` followed by one or more of
/// `[a-z0-9_]` and `}`. Unlike the first flag token, it skips placeholders
/// such as the prompt's `flag{...}`.
pub fn find_flag(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(at) = rest.find(FLAG_PREFIX) {
        let candidate = &rest[at..];
        let inner = &candidate[FLAG_PREFIX.len()..];
        let len = inner
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
            .count();
        if len > 0 && inner.as_bytes().get(len) == Some(&b'}') {
            return Some(&candidate[..FLAG_PREFIX.len() + len + 1]);
        }
        rest = &candidate[FLAG_PREFIX.len()..];
    }
    None
}

/// Files the reference solver reads per `cat`.
const CAT_BATCH: usize = 6;

/// Reference solver: lists every file with `find / -type f`, then reads
/// them a few at a time with `cat` until a well-formed flag shows up in the
/// output, and submits it. It sees only the task's output.
#[derive(Debug, Default)]
pub struct ShellSolver {
    started: bool,
    listed: bool,
    pending: VecDeque<String>,
}

impl Solver for ShellSolver {
    fn reply(&mut self, say: &str) -> String {
        if self.started
            && let Some(flag) = find_flag(say)
        {
            return format!("submit {flag}");
        }
        if !self.started {
            self.started = true;
            return "find / -type f".to_string();
        }
        if !self.listed {
            self.listed = true;
            // The output of `find`: every line naming an absolute path.
            self.pending = say
                .lines()
                .filter(|line| line.starts_with('/'))
                .map(ToString::to_string)
                .collect();
        }
        let batch: Vec<String> = (0..CAT_BATCH)
            .filter_map(|_| self.pending.pop_front())
            .map(|path| format!("'{path}'"))
            .collect();
        if batch.is_empty() {
            return "help".to_string();
        }
        format!("cat {}", batch.join(" "))
    }
}

#[cfg(test)]
mod tests;
