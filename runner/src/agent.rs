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

use airlock_core::abi::{MAX_TOOL_CALLS, Prompt, TaskInfo, ToolCall, ToolMode};
use airlock_core::outcome::ModelErrorKind;
use airlock_core::record::{ModelDescriptor, TokenUsage};
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

/// The spec as `--agent` takes it, in the one spelling each has (a zero
/// delay is left out): what a run's canonical settings record.
impl fmt::Display for AgentSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentSpec::Reference { delay } if delay.is_zero() => f.write_str("reference"),
            AgentSpec::Reference { delay } => {
                write!(f, "reference:delay-ms={}", delay.as_millis())
            }
            AgentSpec::Null => f.write_str("null"),
            AgentSpec::Echo => f.write_str("echo"),
            AgentSpec::Exec { program } => write!(f, "exec:{}", program.display()),
            AgentSpec::OpenAi { url } => write!(f, "openai:{url}"),
            AgentSpec::Replay { dir } => write!(f, "replay:{}", dir.display()),
        }
    }
}

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

/// One message of a conversation as the adapters send it, in the OpenAI
/// chat shape (SPEC.md, "Agents"): the task's system prompt is a `system`
/// message, its `Say`s `user` messages, the model's replies `assistant`
/// messages (with their tool calls), and each tool result a `tool` message
/// naming the call it answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// The text; `None` (sent as `null`) for an assistant reply of tool calls alone.
    pub content: Option<String>,
    /// The assistant's tool calls; left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall>,
    /// The call a `tool` message answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message of text alone.
    pub fn text(role: &'static str, content: impl Into<String>) -> Message {
        Message {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A tool call as OpenAI-style servers write it:
/// `{"id", "type": "function", "function": {"name", "arguments"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireToolCall {
    /// The call id the result names.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The function called.
    pub function: WireFunction,
}

/// The function part of a [`WireToolCall`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireFunction {
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text (a string, as OpenAI's API has it).
    pub arguments: String,
}

/// The task's tools in the OpenAI `tools` shape:
/// `[{"type": "function", "function": {"name", "description", "parameters"}}]`,
/// the parameters being the task's JSON Schema as a JSON value. Fails only
/// for a schema that is not JSON, which the host refuses when it loads the
/// module.
pub fn wire_tools(task: &TaskInfo) -> Result<Vec<serde_json::Value>, String> {
    task.tools
        .iter()
        .map(|tool| {
            let parameters: serde_json::Value = serde_json::from_str(&tool.parameters)
                .map_err(|e| format!("tool \"{}\": the schema is not JSON: {e}", tool.name))?;
            Ok(serde_json::json!({
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": parameters,
                },
            }))
        })
        .collect()
}

/// The tools a request offers: the task's, when the run drives it with
/// native tool calls and it declares any; otherwise none, and the request
/// carries neither `tools` nor `tool_choice`.
pub fn offered_tools(context: &SessionContext<'_>) -> Result<Vec<serde_json::Value>, String> {
    match context.tool_mode {
        ToolMode::Native => wire_tools(context.task),
        ToolMode::Text => Ok(Vec::new()),
    }
}

/// The conversation so far, as the task saw it: replies are stored cut as
/// the host cuts them before the task sees them (text and arguments to the
/// reply limit, ids and names to the host's bound, at most
/// [`MAX_TOOL_CALLS`] calls), so the next request repeats exactly what the
/// transcript records. Reasoning text is never stored: it is sealed in the
/// transcript and not sent back.
#[derive(Clone, Debug, Default)]
pub struct History {
    messages: Vec<Message>,
    max_reply_bytes: usize,
    replies: u32,
}

impl History {
    /// An empty conversation whose replies are cut to `max_reply_bytes`,
    /// opened by `system_prompt` as a `system` message unless it is empty.
    pub fn new(max_reply_bytes: u32, system_prompt: &str) -> History {
        let mut messages = Vec::new();
        if !system_prompt.is_empty() {
            messages.push(Message::text("system", system_prompt));
        }
        History {
            messages,
            max_reply_bytes: max_reply_bytes as usize,
            replies: 0,
        }
    }

    /// Adds what the task asks next: its `Say` as a `user` message, or one
    /// `tool` message per result.
    pub fn ask(&mut self, prompt: &Prompt) {
        match prompt {
            Prompt::Text(text) => self.messages.push(Message::text("user", text.clone())),
            Prompt::ToolResults(results) => {
                for result in results {
                    self.messages.push(Message {
                        role: "tool",
                        content: Some(result.content.clone()),
                        tool_calls: Vec::new(),
                        tool_call_id: Some(result.call_id.clone()),
                    });
                }
            }
        }
    }

    /// Adds the model's reply, cut as the task will see it.
    pub fn reply(&mut self, reply: &Reply) {
        self.replies += 1;
        let (text, _) = truncate_utf8(reply.text.clone(), self.max_reply_bytes);
        let bound = airlock_sandbox::tools::MAX_TOOL_NAME * 4;
        let tool_calls: Vec<WireToolCall> = reply
            .tool_calls
            .iter()
            .take(MAX_TOOL_CALLS)
            .map(|call| WireToolCall {
                id: truncate_utf8(call.id.clone(), bound).0,
                kind: "function",
                function: WireFunction {
                    name: truncate_utf8(call.name.clone(), bound).0,
                    arguments: truncate_utf8(call.arguments.clone(), self.max_reply_bytes).0,
                },
            })
            .collect();
        let content = if text.is_empty() && !tool_calls.is_empty() {
            None
        } else {
            Some(text)
        };
        self.messages.push(Message {
            role: "assistant",
            content,
            tool_calls,
            tool_call_id: None,
        });
    }

    /// The messages so far.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Replies so far: the index of the turn being asked.
    pub fn turn(&self) -> u32 {
        self.replies
    }

    /// Whether the conversation holds anything beyond plain user and
    /// assistant text (a system prompt, tool calls, tool results).
    pub fn beyond_text(&self) -> bool {
        self.messages
            .iter()
            .any(|m| m.role == "system" || m.role == "tool" || !m.tool_calls.is_empty())
    }
}

/// A reply's tool calls read from the OpenAI shape (`[{"id", "type",
/// "function": {"name", "arguments"}}]`), as both the openai adapter and
/// exec protocol 2 carry them. `arguments` is JSON text in a string, as
/// OpenAI's API sends it; a server that sends the arguments as a JSON
/// object (some do) has it written back as compact JSON text, and a call
/// without arguments (or `null`) gets `{}`. A call without an id keeps an
/// empty one for [`name_calls`].
pub fn parse_tool_calls(value: &serde_json::Value) -> Result<Vec<ToolCall>, String> {
    let Some(calls) = value.as_array() else {
        return Err("\"tool_calls\" is not an array".into());
    };
    calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            let function = call
                .get("function")
                .ok_or_else(|| format!("tool call {i} has no \"function\""))?;
            let name = function
                .get("name")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| format!("tool call {i} has no string \"function.name\""))?;
            let arguments = match function.get("arguments") {
                None | Some(serde_json::Value::Null) => "{}".to_owned(),
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            };
            let id = match call.get("id") {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(id)) => id.clone(),
                Some(_) => return Err(format!("tool call {i} has an \"id\" that is not a string")),
            };
            Ok(ToolCall {
                id,
                name: name.to_owned(),
                arguments,
                problem: None,
            })
        })
        .collect()
}

/// Gives each call of turn `turn` that came without an id (or an empty
/// one) the id `call-<turn>-<i>`, `i` its index in the reply: servers may
/// leave ids out, and the task's results must name each call; the same
/// reply gets the same ids in a replay.
pub fn name_calls(calls: &mut [ToolCall], turn: u32) {
    for (i, call) in calls.iter_mut().enumerate() {
        if call.id.is_empty() {
            call.id = format!("call-{turn}-{i}");
        }
    }
}

/// `usage` as servers report it (`{"prompt_tokens", "completion_tokens"}`);
/// `None` when absent or not in that shape, which the record counts as a
/// call without usage.
pub fn parse_usage(value: Option<&serde_json::Value>) -> Option<TokenUsage> {
    let usage = value?;
    Some(TokenUsage {
        prompt_tokens: usage.get("prompt_tokens")?.as_u64()?,
        completion_tokens: usage.get("completion_tokens")?.as_u64()?,
    })
}

/// The reasoning text a reply message carries beside its content:
/// `reasoning_content` (vLLM's reasoning parsers, llama.cpp's server,
/// DeepSeek) or `reasoning` (newer vLLM, other gateways); empty for none.
pub fn parse_reasoning(message: &serde_json::Value) -> String {
    ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|field| message.get(*field).and_then(serde_json::Value::as_str))
        .unwrap_or_default()
        .to_owned()
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

    /// An agent spec prints as `--agent` takes it, and reads back the same.
    #[test]
    fn agent_specs_print_as_they_are_given() {
        for text in [
            "reference",
            "reference:delay-ms=25",
            "null",
            "echo",
            "exec:/opt/agent",
            "openai:http://127.0.0.1:8000",
            "replay:disclosed",
        ] {
            let spec: AgentSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
            assert_eq!(spec.to_string().parse::<AgentSpec>().unwrap(), spec);
        }
        assert_eq!(
            "reference:delay-ms=0"
                .parse::<AgentSpec>()
                .unwrap()
                .to_string(),
            "reference"
        );
    }

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
        let mut history = History::new(4, "");
        history.ask(&Prompt::Text("q".into()));
        history.reply(&Reply::text("héllo"));
        assert_eq!(history.messages()[1].content.as_deref(), Some("hél"));
        assert_eq!(history.turn(), 1);
        assert!(!history.beyond_text());
    }

    #[test]
    fn history_is_the_openai_message_list_with_tool_calls_and_results() {
        let mut history = History::new(1024, "be brief");
        history.ask(&Prompt::Text("q".into()));
        let call = ToolCall {
            id: "c1".into(),
            name: "bash".into(),
            arguments: r#"{"command":"ls"}"#.into(),
            problem: None,
        };
        history.reply(&Reply {
            tool_calls: vec![call],
            reasoning: "never sent".into(),
            ..Reply::default()
        });
        history.ask(&Prompt::ToolResults(vec![airlock_core::abi::ToolResult {
            call_id: "c1".into(),
            content: "a b".into(),
        }]));
        assert!(history.beyond_text());
        assert_eq!(history.turn(), 1);
        assert_eq!(
            serde_json::to_string(history.messages()).unwrap(),
            r#"[{"role":"system","content":"be brief"},{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}}]},{"role":"tool","content":"a b","tool_call_id":"c1"}]"#
        );
    }

    #[test]
    fn tool_calls_without_ids_are_named_by_turn_and_index() {
        let value = serde_json::json!([
            {"function": {"name": "a"}},
            {"id": "given", "function": {"name": "b", "arguments": {"x": 1}}},
            {"id": "", "function": {"name": "c", "arguments": null}}
        ]);
        let mut calls = parse_tool_calls(&value).unwrap();
        name_calls(&mut calls, 3);
        let got: Vec<(&str, &str)> = calls
            .iter()
            .map(|c| (c.id.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("call-3-0", "{}"),
                ("given", r#"{"x":1}"#),
                ("call-3-2", "{}")
            ]
        );
        assert!(parse_tool_calls(&serde_json::json!({})).is_err());
        assert!(
            parse_tool_calls(&serde_json::json!([{"id": 1, "function": {"name": "a"}}])).is_err()
        );
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
