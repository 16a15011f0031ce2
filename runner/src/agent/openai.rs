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

use super::{Agent, AgentError, AgentOptions, History, Message, SessionContext, log_safe};
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
                self.read_body(response)
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

    /// One chat completion for the conversation so far: the assistant's text.
    pub fn complete(&self, messages: &[Message]) -> Result<String, ModelErrorKind> {
        let url = format!("{}{CHAT_PATH}", self.base);
        let request = ChatRequest {
            model: &self.reported_model,
            messages,
            temperature: self.temperature,
            seed: self.seed,
            max_tokens: self.max_tokens,
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
                self.read_body(response)
            })
            .map_err(|(kind, why)| {
                let why = log_safe(&why, 2048);
                tracing::warn!(url = %url, kind = kind.name(), "openai agent: call failed: {why}");
                kind
            })?;
        match parse_completion(&response) {
            Ok((text, model)) => {
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
                Ok(text)
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
    fn read_body(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
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

/// The reply text and the answering model of a chat completion response.
fn parse_completion(body: &[u8]) -> Result<(String, Option<String>), String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let choice = value
        .get("choices")
        .and_then(serde_json::Value::as_array)
        .and_then(|c| c.first())
        .ok_or("no \"choices\"")?;
    let text = choice
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(serde_json::Value::as_str)
        .ok_or("no string \"choices[0].message.content\"")?;
    let model = value
        .get("model")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    Ok((text.to_owned(), model))
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

    fn session(&self, _context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
        Box::new(OpenAiSession {
            agent: self,
            history: History::new(self.max_reply_bytes),
        })
    }
}

struct OpenAiSession<'a> {
    agent: &'a OpenAiAgent,
    history: History,
}

impl Conversation for OpenAiSession<'_> {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        self.history.say(&prompt.plain_text());
        let reply = self.agent.complete(self.history.messages())?;
        self.history.reply(&reply);
        Ok(Reply::text(reply))
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
            parse_completion(ok).unwrap(),
            ("hi".into(), Some("m".into()))
        );
        assert!(parse_completion(b"{").unwrap_err().contains("not JSON"));
        assert!(
            parse_completion(br#"{"choices":[]}"#)
                .unwrap_err()
                .contains("choices")
        );
        let null = br#"{"choices":[{"message":{"content":null}}]}"#;
        assert!(parse_completion(null).unwrap_err().contains("content"));
    }

    #[test]
    fn request_bytes_carry_the_sampling_settings() {
        let messages = [Message {
            role: "user",
            content: "q".into(),
        }];
        let request = ChatRequest {
            model: "m",
            messages: &messages,
            temperature: 0.0,
            seed: Some(7),
            max_tokens: None,
            stream: false,
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"q"}],"temperature":0.0,"seed":7,"stream":false}"#
        );
    }
}
