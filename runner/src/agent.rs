//! Agents: what answers a task's `Say` on behalf of the model under test.
//!
//! The model is never called from inside the sandbox; the host carries each
//! `Say` to an agent session and the reply back. Built in: `reference` (the
//! task's own reference solver, optionally slowed down), `null` (always an
//! empty reply), `echo` (the prompt back, word for word), and the adapters for served models: [`exec`] (a process
//! speaking JSON Lines), [`openai`] (an OpenAI-compatible HTTP server) and
//! [`replay`] (replies from stored transcripts).

pub mod exec;
pub mod openai;
pub mod replay;

use core::fmt;
use core::num::NonZeroU32;
use core::str::FromStr;
use core::time::Duration;
use std::path::PathBuf;

use airlock_core::abi::{Prompt, TaskInfo, ToolMode};
use airlock_core::outcome::ModelErrorKind;
use airlock_core::record::ModelDescriptor;
use airlock_core::text::Untrusted;
use serde::Serialize;

use airlock_sandbox::{Conversation, Reply, truncate_utf8};

/// Something that can hold conversations with tasks.
pub trait Agent: Send + Sync {
    /// How the run records this agent and model, driven in `tool_mode`.
    fn descriptor(&self, tool_mode: ToolMode) -> ModelDescriptor;

    /// A fresh conversation for one task instance.
    fn session(&self, context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_>;

    /// Whether sessions of parallel sandboxes are answered side by side.
    /// An agent that answers one call at a time (`exec`: one process) says
    /// no, and a run then uses one sandbox unless asked for more: extra
    /// sandboxes would only queue behind it, and the order its calls arrive
    /// in would follow the scheduling.
    fn serves_concurrently(&self) -> bool {
        true
    }
}

/// Which task instance a session talks to.
#[derive(Clone, Copy, Debug)]
pub struct SessionContext<'a> {
    /// What the module says about itself.
    pub task: &'a TaskInfo,
    /// The instance's position in the run's plan.
    pub plan_index: u32,
    /// The instance's epoch.
    pub epoch: u32,
    /// The instance seed passed to the task's `start`.
    pub seed: [u8; 32],
    /// Whether the task's tools are offered as native tool calls.
    pub tool_mode: ToolMode,
}

/// Which agent to use, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentSpec {
    /// `reference[:delay-ms=N]`: the task's reference solver, sleeping N ms before each reply.
    Reference {
        /// Delay before each reply (lets people and tests interrupt a run mid-way).
        delay: Duration,
    },
    /// `null`: always replies with an empty message.
    Null,
    /// `echo`: replies with the task's message itself.
    Echo,
    /// `exec:PROGRAM`: a process speaking the exec protocol (arguments from `--agent-arg`).
    Exec {
        /// The program, run as given (no shell).
        program: PathBuf,
    },
    /// `openai:URL`: an OpenAI-compatible chat completions server.
    OpenAi {
        /// Base URL, `http://host:port` (a trailing `/v1` is accepted).
        url: String,
    },
    /// `replay:DIR`: replies from the disclosed transcripts in a directory.
    Replay {
        /// The directory of disclosure files.
        dir: PathBuf,
    },
}

/// A malformed `--agent` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSpecError(String);

impl airlock_core::Classify for AgentSpecError {
    fn class(&self) -> airlock_core::ErrorClass {
        airlock_core::ErrorClass::Input
    }
}

impl fmt::Display for AgentSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for AgentSpecError {}

const KNOWN_AGENTS: &str =
    "reference, reference:delay-ms=N, null, echo, exec:PROGRAM, openai:URL, replay:DIR";

impl FromStr for AgentSpec {
    type Err = AgentSpecError;

    fn from_str(text: &str) -> Result<AgentSpec, AgentSpecError> {
        let (kind, options) = match text.split_once(':') {
            Some((kind, options)) => (kind, Some(options)),
            None => (text, None),
        };
        let nonempty = |what: &str, value: &str| {
            if value.is_empty() {
                Err(AgentSpecError(format!(
                    "agent \"{text}\": {kind}: needs {what} after the colon"
                )))
            } else {
                Ok(())
            }
        };
        match (kind, options) {
            ("null", None) => Ok(AgentSpec::Null),
            ("echo", None) => Ok(AgentSpec::Echo),
            ("reference", None) => Ok(AgentSpec::Reference {
                delay: Duration::ZERO,
            }),
            ("reference", Some(options)) => {
                let mut delay = Duration::ZERO;
                for option in options.split(',') {
                    match option.split_once('=') {
                        Some(("delay-ms", value)) => {
                            let ms: u64 = value.parse().map_err(|_| {
                                AgentSpecError(format!(
                                    "agent \"{text}\": delay-ms wants a whole number of milliseconds, not \"{value}\""
                                ))
                            })?;
                            delay = Duration::from_millis(ms);
                        }
                        _ => {
                            return Err(AgentSpecError(format!(
                                "agent \"{text}\": unknown option \"{option}\" (known: delay-ms=N)"
                            )));
                        }
                    }
                }
                Ok(AgentSpec::Reference { delay })
            }
            ("exec", Some(program)) => {
                nonempty("a program", program)?;
                Ok(AgentSpec::Exec {
                    program: PathBuf::from(program),
                })
            }
            ("openai", Some(url)) => {
                nonempty("a URL", url)?;
                Ok(AgentSpec::OpenAi {
                    url: url.to_owned(),
                })
            }
            ("replay", Some(dir)) => {
                nonempty("a directory", dir)?;
                Ok(AgentSpec::Replay {
                    dir: PathBuf::from(dir),
                })
            }
            ("exec" | "openai" | "replay", None) => Err(AgentSpecError(format!(
                "agent \"{text}\" needs a value: exec:PROGRAM, openai:URL or replay:DIR"
            ))),
            _ => Err(AgentSpecError(format!(
                "unknown agent \"{text}\" (known: {KNOWN_AGENTS})"
            ))),
        }
    }
}

/// Settings of the adapters, from the command line and the hardware profile.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AgentOptions {
    /// Arguments of an `exec` program (`--agent-arg`, in order).
    pub args: Vec<String>,
    /// The model name (`--model`): required by `openai`, recorded by `exec`.
    pub model: Option<String>,
    /// Sampling temperature sent to `openai` (`--temperature`, default 0).
    pub temperature: f64,
    /// Sampling seed sent to `openai` (`--model-seed`).
    pub model_seed: Option<u64>,
    /// Most tokens per reply sent to `openai` (`--max-tokens`). Never 0:
    /// servers answer a request for no tokens with errors that look
    /// transient (vLLM: HTTP 500), which would be retried for nothing.
    pub max_tokens: Option<NonZeroU32>,
    /// Further attempts after a connection error or a 5xx (`--retries`).
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// How long one model call may take (the profile's `model_call_timeout_ms`).
    pub call_timeout: Duration,
    /// Replies are cut to this many bytes (the profile's `max_reply_bytes`).
    pub max_reply_bytes: u32,
}

impl AgentOptions {
    /// Defaults for a profile's call timeout and reply size.
    pub fn new(call_timeout: Duration, max_reply_bytes: u32) -> AgentOptions {
        AgentOptions {
            args: Vec::new(),
            model: None,
            temperature: 0.0,
            model_seed: None,
            max_tokens: None,
            retries: 2,
            backoff: Duration::from_millis(250),
            call_timeout,
            max_reply_bytes,
        }
    }

    /// Defaults for a hardware profile.
    pub fn for_profile(profile: &crate::profile::HardwareProfile) -> AgentOptions {
        AgentOptions::new(
            Duration::from_millis(profile.model_call_timeout_ms),
            profile.max_reply_bytes,
        )
    }
}

/// Why an agent could not be set up. Failures of single model calls are not
/// errors: they are recorded outcomes (`ModelError`).
#[derive(Debug)]
#[non_exhaustive]
pub enum AgentError {
    /// An option does not fit the chosen agent.
    Usage(String),
    /// The exec program could not be started.
    Spawn {
        /// The program.
        program: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The model server could not be asked which model it serves.
    Server {
        /// The URL asked.
        url: String,
        /// What went wrong.
        problem: String,
    },
    /// The replay directory or one of its files is unusable.
    Replay {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl airlock_core::Classify for AgentError {
    fn class(&self) -> airlock_core::ErrorClass {
        match self {
            AgentError::Usage(_)
            | AgentError::Spawn { .. }
            | AgentError::Server { .. }
            | AgentError::Replay { .. } => airlock_core::ErrorClass::Input,
        }
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Usage(why) => f.write_str(why),
            AgentError::Spawn { program, error } => {
                write!(
                    f,
                    "{}: could not start the exec agent: {error}",
                    program.display()
                )
            }
            AgentError::Server { url, problem } => write!(f, "{url}: {problem}"),
            AgentError::Replay { path, problem } => write!(f, "{}: {problem}", path.display()),
        }
    }
}

impl core::error::Error for AgentError {}

impl AgentSpec {
    /// Builds the agent. `exec` starts its process and `openai` asks the
    /// server for its model here, so a run never starts against a model
    /// that cannot be reached.
    pub fn build(&self, options: &AgentOptions) -> Result<Box<dyn Agent>, AgentError> {
        let only = |name: &str, allowed: bool| {
            if allowed {
                Ok(())
            } else {
                Err(AgentError::Usage(format!(
                    "{name} applies to another agent than \"{}\"",
                    self.kind()
                )))
            }
        };
        let is_exec = matches!(self, AgentSpec::Exec { .. });
        let is_openai = matches!(self, AgentSpec::OpenAi { .. });
        only("--agent-arg", options.args.is_empty() || is_exec)?;
        only("--model", options.model.is_none() || is_exec || is_openai)?;
        only("--model-seed", options.model_seed.is_none() || is_openai)?;
        only("--max-tokens", options.max_tokens.is_none() || is_openai)?;
        only("--temperature", options.temperature == 0.0 || is_openai)?;
        match self {
            AgentSpec::Reference { delay } => Ok(Box::new(ReferenceAgent { delay: *delay })),
            AgentSpec::Null => Ok(Box::new(NullAgent)),
            AgentSpec::Echo => Ok(Box::new(EchoAgent)),
            AgentSpec::Exec { program } => Ok(Box::new(exec::ExecAgent::start(program, options)?)),
            AgentSpec::OpenAi { url } => Ok(Box::new(openai::OpenAiAgent::connect(url, options)?)),
            AgentSpec::Replay { dir } => Ok(Box::new(replay::ReplayAgent::from_dir(dir)?)),
        }
    }

    /// The agent's kind: `reference`, `null`, `echo`, `exec`, `openai` or `replay`.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentSpec::Reference { .. } => "reference",
            AgentSpec::Null => "null",
            AgentSpec::Echo => "echo",
            AgentSpec::Exec { .. } => "exec",
            AgentSpec::OpenAi { .. } => "openai",
            AgentSpec::Replay { .. } => "replay",
        }
    }
}

/// `text` fit for one log line: cut after `max_bytes` bytes (on a character
/// boundary, marked `…`), with every control character — newline, escape,
/// the C1 controls — and every bidirectional override written as its Rust
/// escape (`\n`, `\u{1b}`), so text from a model server or an agent process
/// can neither forge log lines nor send sequences to the terminal.
pub fn log_safe(text: &str, max_bytes: usize) -> String {
    // One definition of what a terminal must not get raw, and one way of
    // writing it, shared with every printer (SPEC.md, "Printing untrusted
    // text"); only the cut is this function's own.
    match text.char_indices().find(|&(at, _)| at >= max_bytes) {
        Some((at, _)) => format!("{}…", Untrusted(&text[..at])),
        None => Untrusted(text).to_string(),
    }
}

/// One message of a conversation as the adapters send it: the task's `Say`s
/// are `user` messages, the model's replies `assistant` messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// The conversation so far, as the task saw it: replies are stored cut to
/// the reply limit, exactly as the transcript records them.
#[derive(Clone, Debug, Default)]
pub struct History {
    messages: Vec<Message>,
    max_reply_bytes: usize,
}

impl History {
    /// An empty conversation whose replies are cut to `max_reply_bytes`.
    pub fn new(max_reply_bytes: u32) -> History {
        History {
            messages: Vec::new(),
            max_reply_bytes: max_reply_bytes as usize,
        }
    }

    /// Adds the task's next `Say`.
    pub fn say(&mut self, text: &str) {
        self.messages.push(Message {
            role: "user",
            content: text.to_owned(),
        });
    }

    /// Adds the model's reply, cut as the task will see it.
    pub fn reply(&mut self, text: &str) {
        let (content, _) = truncate_utf8(text.to_owned(), self.max_reply_bytes);
        self.messages.push(Message {
            role: "assistant",
            content,
        });
    }

    /// The messages so far.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Replies so far: the index of the turn being asked.
    pub fn turn(&self) -> u32 {
        self.messages
            .iter()
            .filter(|m| m.role == "assistant")
            .count() as u32
    }
}

/// Answers with each task's reference solver from the embedded suite.
#[derive(Debug)]
pub struct ReferenceAgent {
    delay: Duration,
}

impl Agent for ReferenceAgent {
    fn descriptor(&self, tool_mode: ToolMode) -> ModelDescriptor {
        ModelDescriptor {
            agent: "reference".into(),
            model: "reference-solver".into(),
            reported_model: String::new(),
            tool_mode,
        }
    }

    fn session(&self, context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
        Box::new(ReferenceSession {
            solver: airlock_default_suite::reference_solver(&context.task.id),
            delay: self.delay,
            tool_mode: context.tool_mode,
            calls: 0,
        })
    }
}

/// A conversation with the reference solver of `task_id` in `tool_mode`,
/// answering at once (the solver `profile check` measures tasks with).
pub fn reference_session(task_id: &str, tool_mode: ToolMode) -> Box<dyn Conversation + Send> {
    Box::new(ReferenceSession {
        solver: airlock_default_suite::reference_solver(task_id),
        delay: Duration::ZERO,
        tool_mode,
        calls: 0,
    })
}

struct ReferenceSession {
    solver: Option<Box<dyn airlock_task_sdk::Solver>>,
    delay: Duration,
    tool_mode: ToolMode,
    /// Tool calls made so far, for their ids.
    calls: u32,
}

impl Conversation for ReferenceSession {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let Some(solver) = &mut self.solver else {
            return Err(ModelErrorKind::Unsupported);
        };
        let answer = solver.respond(prompt, self.tool_mode);
        let mut tool_calls = answer.tool_calls;
        // Ids as a server would give them: unique within the conversation.
        for call in &mut tool_calls {
            self.calls += 1;
            call.id = format!("call-{}", self.calls);
        }
        Ok(Reply {
            text: answer.text,
            tool_calls,
            usage: None,
            reasoning: String::new(),
        })
    }
}

/// Always replies with an empty message: the floor every task must score 0 on.
#[derive(Debug)]
pub struct NullAgent;

impl Agent for NullAgent {
    fn descriptor(&self, tool_mode: ToolMode) -> ModelDescriptor {
        ModelDescriptor {
            agent: "null".into(),
            model: "null".into(),
            reported_model: String::new(),
            tool_mode,
        }
    }

    fn session(&self, _context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
        Box::new(NullSession)
    }
}

struct NullSession;

impl Conversation for NullSession {
    fn reply(&mut self, _prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        Ok(Reply::default())
    }
}

/// Replies with the task's message itself: a model whose answer is a fixed
/// function of the prompt, so a task that asks for its own text back (the
/// benchmarks' `bench-echo`) scores it full, and the run measures the
/// runner rather than a model.
#[derive(Debug)]
pub struct EchoAgent;

impl Agent for EchoAgent {
    fn descriptor(&self, tool_mode: ToolMode) -> ModelDescriptor {
        ModelDescriptor {
            agent: "echo".into(),
            model: "echo".into(),
            reported_model: String::new(),
            tool_mode,
        }
    }

    fn session(&self, _context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
        Box::new(EchoSession)
    }
}

struct EchoSession;

impl Conversation for EchoSession {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        Ok(Reply::text(prompt.plain_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_agent_specs() {
        assert_eq!("null".parse::<AgentSpec>().unwrap(), AgentSpec::Null);
        assert_eq!("echo".parse::<AgentSpec>().unwrap(), AgentSpec::Echo);
        assert!("echo:x".parse::<AgentSpec>().is_err());
        assert_eq!(
            "reference:delay-ms=25".parse::<AgentSpec>().unwrap(),
            AgentSpec::Reference {
                delay: Duration::from_millis(25)
            }
        );
        let err = "reference:delay-ms=x".parse::<AgentSpec>().unwrap_err();
        assert!(err.to_string().contains("delay-ms"), "{err}");
        let err = "gpt".parse::<AgentSpec>().unwrap_err();
        assert!(err.to_string().contains("unknown agent \"gpt\""), "{err}");
        assert_eq!(
            "exec:./model --x".parse::<AgentSpec>().unwrap(),
            AgentSpec::Exec {
                program: PathBuf::from("./model --x")
            }
        );
        assert_eq!(
            "openai:http://127.0.0.1:8000".parse::<AgentSpec>().unwrap(),
            AgentSpec::OpenAi {
                url: "http://127.0.0.1:8000".into()
            }
        );
        assert_eq!(
            "replay:dir".parse::<AgentSpec>().unwrap(),
            AgentSpec::Replay {
                dir: PathBuf::from("dir")
            }
        );
        for text in ["exec", "exec:", "openai", "replay:"] {
            let err = text.parse::<AgentSpec>().unwrap_err();
            assert!(err.to_string().contains("needs"), "{text}: {err}");
        }
    }

    #[test]
    fn options_that_do_not_fit_the_agent_are_refused() {
        let mut options = AgentOptions::new(Duration::from_secs(1), 16);
        options.args = vec!["x".into()];
        let err = AgentSpec::Null.build(&options).err().unwrap();
        assert!(err.to_string().contains("--agent-arg"), "{err}");
        let mut options = AgentOptions::new(Duration::from_secs(1), 16);
        options.max_tokens = NonZeroU32::new(3);
        let err = AgentSpec::Null.build(&options).err().unwrap();
        assert!(err.to_string().contains("--max-tokens"), "{err}");
    }

    #[test]
    fn log_safe_escapes_controls_and_cuts_long_text() {
        assert_eq!(
            log_safe("a\nb\u{1b}[31mc\u{9b}d\u{202e}e", 100),
            "a\\u{a}b\\u{1b}[31mc\\u{9b}d\\u{202e}e"
        );
        assert_eq!(log_safe("héllo", 2), "hé…");
        assert_eq!(log_safe("plain text", 100), "plain text");
    }

    #[test]
    fn history_stores_replies_cut_as_the_task_sees_them() {
        let mut history = History::new(4);
        history.say("q");
        history.reply("héllo");
        assert_eq!(history.messages()[1].content, "hél");
        assert_eq!(history.turn(), 1);
    }
}

#[cfg(test)]
mod class_tests {
    use super::*;
    use airlock_core::{Classify as _, ErrorClass};

    /// Every variant with its exit-code class. The row function matches
    /// without a wildcard arm, so a new variant does not compile until it
    /// has a row, and the test fails until the row has a case.
    #[test]
    fn every_agent_error_variant_has_its_class() {
        let path = || std::path::PathBuf::from("x");
        let io = || std::io::Error::other("x");
        let cases = [
            (AgentError::Usage("x".into()), ErrorClass::Input),
            (
                AgentError::Spawn {
                    program: path(),
                    error: io(),
                },
                ErrorClass::Input,
            ),
            (
                AgentError::Server {
                    url: "x".into(),
                    problem: "x".into(),
                },
                ErrorClass::Input,
            ),
            (
                AgentError::Replay {
                    path: path(),
                    problem: "x".into(),
                },
                ErrorClass::Input,
            ),
        ];
        let row = |e: &AgentError| match e {
            AgentError::Usage(_) => 0,
            AgentError::Spawn { .. } => 1,
            AgentError::Server { .. } => 2,
            AgentError::Replay { .. } => 3,
        };
        let mut seen = [false; 4];
        for (error, class) in &cases {
            assert_eq!(error.class(), *class, "{error}");
            seen[row(error)] = true;
        }
        assert!(seen.iter().all(|s| *s), "a variant has no case: {seen:?}");
    }

    #[test]
    fn a_malformed_agent_spec_is_input() {
        let error = "no-such-agent".parse::<AgentSpec>().err();
        assert_eq!(error.map(|e| e.class()), Some(ErrorClass::Input));
    }
}
