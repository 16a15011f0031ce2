//! `openai:URL --model NAME`: a model served over the OpenAI-compatible
//! `POST /v1/chat/completions` API (vLLM, llama.cpp's server, Ollama, TGI),
//! over plain HTTP/1.1 on the enclave's network.
//!
//! Sampling is pinned for reproducibility: temperature 0 unless
//! `--temperature` says otherwise, `seed` and `max_tokens` passed through
//! when given. Each call has the profile's model-call timeout as one budget
//! for every attempt and the waits between them; connection errors, 429 and
//! 5xx are retried a bounded number of times with doubling backoff; a
//! response body longer than the bound is not read, and a refused call's
//! log line carries a bounded, escaped excerpt of the body that says why.
//! RunStart is written before any task runs, so the server-reported model id
//! is asked for when the agent is built, with `GET /v1/models` (see
//! [`OpenAiAgent::connect`]), and every request names that id: the model
//! RunStart records is the one that answers.
//!
//! Tools go as OpenAI's function calling has them (SPEC.md, "OpenAI-compatible
//! agent"): `tools` and `tool_choice: "auto"` when the run is in native tool
//! mode and the task declares tools, the replies' `tool_calls` back to the
//! task, and each result as a `tool` message naming its call. A server that
//! answers a request with tools by a client error does not do function
//! calling: the call ends `ToolsRefused` at once, not retried.
//!
//! A call that runs out of time is abandoned by closing its connection;
//! whether the server then stops generating is up to the server (SPEC.md,
//! "OpenAI-compatible agent", on `max_tokens` and the call timeout).

use core::num::NonZeroU32;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::io::Read;
use std::time::Instant;

use airlock_core::outcome::ModelErrorKind;
use airlock_core::record::ModelDescriptor;
use serde::Serialize;

use super::{
    Agent, AgentError, AgentOptions, History, Message, SessionContext, log_safe, name_calls,
    offered_tools, parse_reasoning, parse_tool_calls, parse_usage,
};
use airlock_core::abi::{Prompt, ToolMode};
use airlock_sandbox::{Conversation, Reply};

/// The path of the chat completions endpoint below the base URL.
pub const CHAT_PATH: &str = "/v1/chat/completions";
/// The path of the model list below the base URL.
pub const MODELS_PATH: &str = "/v1/models";

/// The largest response body read, for replies cut to `max_reply_bytes`:
/// room for the worst JSON escaping of the reply plus the response's other
/// fields. A longer body is a `MalformedReply`, and is never held in memory.
pub fn body_limit(max_reply_bytes: u32) -> u64 {
    u64::from(max_reply_bytes)
        .saturating_mul(6)
        .saturating_add(1024 * 1024)
}

/// The most bytes of a refused response's body that are read, for the log
/// line that says why the server refused.
const EXCERPT_BYTES: u64 = 512;

/// The most served model ids an error message lists.
const LISTED_IDS: usize = 8;

/// A model behind an OpenAI-compatible HTTP server.
#[derive(Debug)]
pub struct OpenAiAgent {
    base: String,
    model: String,
    reported_model: String,
    temperature: f64,
    seed: Option<u64>,
    max_tokens: Option<NonZeroU32>,
    retries: u32,
    backoff: Duration,
    timeout: Duration,
    body_limit: u64,
    max_reply_bytes: u32,
    http: ureq::Agent,
    warned_model: AtomicBool,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    temperature: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<NonZeroU32>,
    /// The same bound under its newer name: vLLM takes either (the newer
    /// first), older llama.cpp servers and Ollama read only `max_tokens`,
    /// OpenAI's newer models only this one; servers ignore the one they do
    /// not know.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<NonZeroU32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [serde_json::Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    stream: bool,
}

/// One attempt's end.
enum Attempt<T> {
    Done(T),
    /// Worth another attempt (connection failed, 429, 5xx).
    Retry(ModelErrorKind, String),
    /// Another attempt would not help.
    Fatal(ModelErrorKind, String),
}

/// The base URL without a trailing `/` or `/v1`, refusing what is not plain HTTP.
pub fn base_url(url: &str) -> Result<String, AgentError> {
    let trimmed = url.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    if trimmed.starts_with("https://") {
        return Err(AgentError::Usage(format!(
            "openai agent: {url}: https is not built in (no TLS in the enclave runner); \
             serve the model over http on the enclave's network"
        )));
    }
    match trimmed.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(trimmed.to_owned()),
        _ => Err(AgentError::Usage(format!(
            "openai agent: \"{url}\" is not an http://HOST[:PORT] URL"
        ))),
    }
}

impl OpenAiAgent {
    /// Sets up the agent and asks the server which model it serves.
    ///
    /// `GET /v1/models` (with the same timeout and retries as a model call)
    /// must list models as `{"data": [{"id": ...}, ...]}`. The reported model
    /// is `--model NAME` when the list holds that id, or the only listed id
    /// when the server serves exactly one model under another name
    /// (llama.cpp's server lists its model file); otherwise the run is
    /// refused. Every request names the reported model, never a name the
    /// server did not list (strict servers refuse those, HTTP 400 or 404),
    /// so the model RunStart records is the model that answers. The `model` field of
    /// every completion is checked against it, with a warning in the log
    /// when they differ.
    pub fn connect(url: &str, options: &AgentOptions) -> Result<OpenAiAgent, AgentError> {
        let base = base_url(url)?;
        let Some(model) = options.model.clone() else {
            return Err(AgentError::Usage(
                "the openai agent needs --model NAME (the model the server should use)".into(),
            ));
        };
        if !options.temperature.is_finite() || options.temperature < 0.0 {
            return Err(AgentError::Usage(format!(
                "--temperature must be a number ≥ 0, not {}",
                options.temperature
            )));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION")))
            .build();
        let mut agent = OpenAiAgent {
            base,
            model,
            reported_model: String::new(),
            temperature: options.temperature,
            seed: options.model_seed,
            max_tokens: options.max_tokens,
            retries: options.retries,
            backoff: options.backoff,
            timeout: options.call_timeout,
            body_limit: body_limit(options.max_reply_bytes),
            max_reply_bytes: options.max_reply_bytes,
            http: config.into(),
            warned_model: AtomicBool::new(false),
        };
        agent.reported_model = agent.probe_model()?;
        Ok(agent)
    }

    /// The model id the server reported.
    pub fn reported_model(&self) -> &str {
        &self.reported_model
    }

    fn probe_model(&self) -> Result<String, AgentError> {
        let url = format!("{}{MODELS_PATH}", self.base);
        let server = |problem: String| AgentError::Server {
            url: url.clone(),
            problem,
        };
        let body = self
            .with_retries(&url, |remaining| {
                let response = self
                    .http
                    .get(&url)
                    .config()
                    .timeout_global(Some(remaining))
                    .build()
                    .call();
                self.read_body(response, false)
            })
            .map_err(|(kind, why)| {
                server(format!(
                    "could not list the served models ({}): {}",
                    kind.name(),
                    log_safe(&why, 2048)
                ))
            })?;
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| server(format!("the model list is not JSON: {e}")))?;
        let ids: Vec<&str> = value
            .get("data")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| server("the model list has no \"data\" array".into()))?
            .iter()
            .filter_map(|m| m.get("id").and_then(serde_json::Value::as_str))
            .collect();
        if ids.contains(&self.model.as_str()) {
            return Ok(self.model.clone());
        }
        match ids.as_slice() {
            [only] => {
                tracing::warn!(
                    requested = %self.model,
                    served = %log_safe(only, 256),
                    "the server lists one model under another name; recording it and asking for it by that id"
                );
                Ok((*only).to_owned())
            }
            [] => Err(server("the server lists no model".into())),
            many => {
                let mut listed: Vec<String> = many
                    .iter()
                    .take(LISTED_IDS)
                    .map(|id| log_safe(id, 256))
                    .collect();
                if many.len() > LISTED_IDS {
                    listed.push(format!("and {} more", many.len() - LISTED_IDS));
                }
                Err(server(format!(
                    "the server does not serve \"{}\" (it lists: {})",
                    self.model,
                    listed.join(", ")
                )))
            }
        }
    }

    /// One chat completion for the conversation so far, offering `tools`
    /// (OpenAI `tools` entries, [`super::wire_tools`]) when there are any:
    /// the assistant's text, tool calls, usage and reasoning. `turn` names
    /// the calls a server sent without ids (`call-<turn>-<i>`).
    pub fn complete(
        &self,
        messages: &[Message],
        tools: &[serde_json::Value],
        turn: u32,
    ) -> Result<Reply, ModelErrorKind> {
        let url = format!("{}{CHAT_PATH}", self.base);
        let request = ChatRequest {
            model: &self.reported_model,
            messages,
            temperature: self.temperature,
            seed: self.seed,
            max_tokens: self.max_tokens,
            max_completion_tokens: self.max_tokens,
            tools,
            tool_choice: (!tools.is_empty()).then_some("auto"),
            stream: false,
        };
        let body = serde_json::to_vec(&request).map_err(|e| {
            tracing::warn!(error = %e, "openai agent: could not encode a request");
            ModelErrorKind::Transport
        })?;
        let response = self
            .with_retries(&url, |remaining| {
                let response = self
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .config()
                    .timeout_global(Some(remaining))
                    .build()
                    .send(&body[..]);
                self.read_body(response, !tools.is_empty())
            })
            .map_err(|(kind, why)| {
                let why = log_safe(&why, 2048);
                if kind == ModelErrorKind::ToolsRefused {
                    tracing::warn!(
                        url = %url,
                        kind = kind.name(),
                        "openai agent: the server refused a request that offers tools ({why}); \
                         it may not do function calling: run with --tool-mode text"
                    );
                } else {
                    tracing::warn!(url = %url, kind = kind.name(), "openai agent: call failed: {why}");
                }
                kind
            })?;
        match parse_completion(&response, turn) {
            Ok((reply, model)) => {
                if let Some(model) = model
                    && model != self.reported_model
                    && !self.warned_model.swap(true, Ordering::Relaxed)
                {
                    tracing::warn!(
                        recorded = %log_safe(&self.reported_model, 256),
                        answered = %log_safe(&model, 256),
                        "the server answered as another model than RunStart records"
                    );
                }
                Ok(reply)
            }
            Err(why) => {
                let why = log_safe(&why, 1024);
                tracing::warn!(url = %url, "openai agent: malformed completion: {why}");
                Err(ModelErrorKind::MalformedReply)
            }
        }
    }

    /// Runs `attempt` until it is done, fails for good, runs out of retries
    /// or the call's time budget is spent.
    fn with_retries<T>(
        &self,
        url: &str,
        mut attempt: impl FnMut(Duration) -> Attempt<T>,
    ) -> Result<T, (ModelErrorKind, String)> {
        let deadline = Instant::now() + self.timeout;
        let mut delay = self.backoff;
        let mut tries = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err((ModelErrorKind::Timeout, "the call's time ran out".into()));
            }
            tries += 1;
            match attempt(remaining) {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fatal(kind, why) => return Err((kind, why)),
                Attempt::Retry(kind, why) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if tries > self.retries || delay >= left {
                        return Err((kind, format!("{why} (after {tries} attempts)")));
                    }
                    tracing::info!(
                        url,
                        attempt = tries,
                        "retrying after {}: {}",
                        kind.name(),
                        log_safe(&why, 2048)
                    );
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2);
                }
            }
        }
    }

    /// Classifies a response (or its failure) and reads its body, bounded.
    /// A client error (4xx but 429) to a request that offered tools is
    /// `ToolsRefused`: the other requests of the run work without tools, so
    /// the status says the server will not take them.
    fn read_body(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        offered_tools: bool,
    ) -> Attempt<Vec<u8>> {
        let mut response = match response {
            Ok(response) => response,
            Err(error) => return classify(&error),
        };
        let status = response.status().as_u16();
        if !(200..=299).contains(&status) {
            let why = format!("HTTP status {status}{}", refusal_excerpt(&mut response));
            return if status == 429 || (500..=599).contains(&status) {
                Attempt::Retry(ModelErrorKind::ServerError, why)
            } else if offered_tools && (400..=499).contains(&status) {
                Attempt::Fatal(ModelErrorKind::ToolsRefused, why)
            } else {
                Attempt::Fatal(ModelErrorKind::ServerError, why)
            };
        }
        // Read one byte past the limit, so an oversized body is told apart
        // from one of exactly the limit without reading the rest of it.
        let mut body = Vec::new();
        let read = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .take(self.body_limit.saturating_add(1))
            .read_to_end(&mut body);
        match read {
            Ok(_) if body.len() as u64 > self.body_limit => Attempt::Fatal(
                ModelErrorKind::MalformedReply,
                format!("response body over {} bytes", self.body_limit),
            ),
            Ok(_) => Attempt::Done(body),
            Err(error) => match ureq::Error::from(error) {
                ureq::Error::Timeout(_) => {
                    Attempt::Fatal(ModelErrorKind::Timeout, "timed out reading the body".into())
                }
                other => Attempt::Retry(
                    ModelErrorKind::Transport,
                    format!("reading the body failed: {other}"),
                ),
            },
        }
    }
}

/// `: BODY`, the start of a refused response's body (the server's reason),
/// read no further than [`EXCERPT_BYTES`] and escaped for the log; empty
/// when there is no body or it cannot be read.
fn refusal_excerpt(response: &mut ureq::http::Response<ureq::Body>) -> String {
    let mut body = Vec::new();
    let _ = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .reader()
        .take(EXCERPT_BYTES + 1)
        .read_to_end(&mut body);
    let cut = body.len() as u64 > EXCERPT_BYTES;
    body.truncate(EXCERPT_BYTES as usize);
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut excerpt = log_safe(text, EXCERPT_BYTES as usize);
    if cut && !excerpt.ends_with('…') {
        excerpt.push('…');
    }
    format!(": {excerpt}")
}

fn classify<T>(error: &ureq::Error) -> Attempt<T> {
    match error {
        ureq::Error::Timeout(_) => Attempt::Fatal(ModelErrorKind::Timeout, error.to_string()),
        ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_) => Attempt::Retry(ModelErrorKind::Transport, error.to_string()),
        _ => Attempt::Fatal(ModelErrorKind::Transport, error.to_string()),
    }
}

/// The reply and the answering model of a chat completion response.
///
/// `choices[0].message` must hold a string `content`, or `tool_calls` (with
/// `content` `null`, empty or missing altogether, as transformers serve
/// sends it). Reasoning fields are kept for the sealed transcript; `usage`
/// is `None` when the server reported none or not in the usual shape.
fn parse_completion(body: &[u8], turn: u32) -> Result<(Reply, Option<String>), String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let choice = value
        .get("choices")
        .and_then(serde_json::Value::as_array)
        .and_then(|c| c.first())
        .ok_or("no \"choices\"")?;
    let message = choice.get("message").ok_or("no \"choices[0].message\"")?;
    let tool_calls = match message.get("tool_calls") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(calls) => {
            let mut calls = parse_tool_calls(calls)?;
            name_calls(&mut calls, turn);
            calls
        }
    };
    let text = match message.get("content") {
        Some(serde_json::Value::String(text)) => text.clone(),
        None | Some(serde_json::Value::Null) if !tool_calls.is_empty() => String::new(),
        _ => return Err("no string \"choices[0].message.content\" and no tool calls".into()),
    };
    let model = value
        .get("model")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let reply = Reply {
        text,
        tool_calls,
        usage: parse_usage(value.get("usage")),
        reasoning: parse_reasoning(message),
    };
    Ok((reply, model))
}

impl Agent for OpenAiAgent {
    fn descriptor(&self, tool_mode: ToolMode) -> ModelDescriptor {
        let mut agent = format!("openai temperature={}", self.temperature);
        if let Some(seed) = self.seed {
            agent.push_str(&format!(" seed={seed}"));
        }
        if let Some(max_tokens) = self.max_tokens {
            agent.push_str(&format!(" max_tokens={max_tokens}"));
        }
        ModelDescriptor {
            agent,
            model: self.model.clone(),
            reported_model: self.reported_model.clone(),
            tool_mode,
        }
    }

    fn session(&self, context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
        Box::new(OpenAiSession {
            agent: self,
            history: History::new(self.max_reply_bytes, &context.task.system_prompt),
            tools: offered_tools(context),
        })
    }
}

struct OpenAiSession<'a> {
    agent: &'a OpenAiAgent,
    history: History,
    /// The `tools` of every request, or why the task's tools cannot be sent.
    tools: Result<Vec<serde_json::Value>, String>,
}

impl Conversation for OpenAiSession<'_> {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        let tools = self.tools.as_deref().map_err(|why| {
            tracing::warn!("openai agent: {}", log_safe(why, 1024));
            ModelErrorKind::Unsupported
        })?;
        self.history.ask(prompt);
        let reply = self
            .agent
            .complete(self.history.messages(), tools, self.history.turn())?;
        self.history.reply(&reply);
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalized_and_tls_is_refused() {
        assert_eq!(
            base_url("http://127.0.0.1:8000").unwrap(),
            "http://127.0.0.1:8000"
        );
        assert_eq!(base_url("http://h:1/v1/").unwrap(), "http://h:1");
        assert_eq!(base_url("http://h/serve/v1").unwrap(), "http://h/serve");
        assert!(
            base_url("https://h")
                .unwrap_err()
                .to_string()
                .contains("https")
        );
        assert!(base_url("ftp://h").is_err());
        assert!(base_url("http://").is_err());
    }

    #[test]
    fn completions_parse_or_say_what_is_missing() {
        let ok = br#"{"model":"m","choices":[{"message":{"role":"assistant","content":"hi"}}]}"#;
        assert_eq!(
            parse_completion(ok, 0).unwrap(),
            (Reply::text("hi"), Some("m".into()))
        );
        assert!(parse_completion(b"{", 0).unwrap_err().contains("not JSON"));
        assert!(
            parse_completion(br#"{"choices":[]}"#, 0)
                .unwrap_err()
                .contains("choices")
        );
        let null = br#"{"choices":[{"message":{"content":null}}]}"#;
        assert!(parse_completion(null, 0).unwrap_err().contains("content"));
        let bad_call = br#"{"choices":[{"message":{"tool_calls":[{"function":{}}]}}]}"#;
        assert!(parse_completion(bad_call, 0).unwrap_err().contains("name"));
    }

    #[test]
    fn tool_calls_usage_and_reasoning_are_read_in_every_shape_servers_send() {
        // No content key, one call with an id and string arguments, one
        // with no id and arguments as an object.
        let body = br#"{"choices":[{"message":{"role":"assistant","reasoning_content":"think",
            "tool_calls":[{"id":"c9","type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}},
                          {"type":"function","function":{"name":"submit","arguments":{"answer":"x"}}}]}}],
            "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        let (reply, model) = parse_completion(body, 4).unwrap();
        assert_eq!(model, None);
        assert_eq!(reply.text, "");
        assert_eq!(reply.reasoning, "think");
        let calls: Vec<_> = reply
            .tool_calls
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(
            calls,
            [
                ("c9", "bash", r#"{"command":"ls"}"#),
                ("call-4-1", "submit", r#"{"answer":"x"}"#)
            ]
        );
        let usage = reply.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (12, 3));
        let odd_usage = br#"{"choices":[{"message":{"content":"a","reasoning":"r"}}],"usage":{"prompt_tokens":"12"}}"#;
        let (reply, _) = parse_completion(odd_usage, 0).unwrap();
        assert_eq!(reply.usage, None);
        assert_eq!(reply.reasoning, "r");
    }

    #[test]
    fn request_bytes_carry_the_sampling_settings() {
        let messages = [Message::text("user", "q")];
        let request = ChatRequest {
            model: "m",
            messages: &messages,
            temperature: 0.0,
            seed: Some(7),
            max_tokens: None,
            max_completion_tokens: None,
            tools: &[],
            tool_choice: None,
            stream: false,
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"q"}],"temperature":0.0,"seed":7,"stream":false}"#
        );
        let tools = [serde_json::json!({"type":"function","function":{"name":"t"}})];
        let request = ChatRequest {
            max_tokens: NonZeroU32::new(9),
            max_completion_tokens: NonZeroU32::new(9),
            tools: &tools,
            tool_choice: Some("auto"),
            ..request
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"q"}],"temperature":0.0,"seed":7,"max_tokens":9,"max_completion_tokens":9,"tools":[{"function":{"name":"t"},"type":"function"}],"tool_choice":"auto","stream":false}"#
        );
    }
}
