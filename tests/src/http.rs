//! A small OpenAI-compatible HTTP/1.1 server on 127.0.0.1 for the adapter
//! tests: real sockets, scripted misbehaviour. It answers `GET /v1/models`
//! with its model list and each `POST /v1/chat/completions` as the script
//! says for that call, keeps connections alive like real servers, records
//! every chat request body, and stops when dropped. Like a strict server
//! (vLLM), it refuses a chat request naming a model it does not list (HTTP
//! 400, with a body that says so, before the script is asked). Every wait
//! is bounded.

use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::time::Duration;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

/// What the server does with one chat completion request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 200 with a completion whose content is this text.
    Reply(String),
    /// This status with a small JSON error body.
    Status(u16),
    /// This status with this body.
    StatusBody(u16, String),
    /// Reads the request and never answers (until the client gives up or the server stops).
    Stall,
    /// 200 with a body that is not JSON.
    Malformed,
    /// 200 announcing and streaming this many bytes of a JSON string.
    Oversized(usize),
    /// Closes the connection without answering.
    Drop,
    /// 200 with exactly this JSON body (a whole completion: tool calls,
    /// usage, reasoning fields, or a shape a real server sends).
    Completion(serde_json::Value),
}

/// The longest a stalled answer waits before the server gives up on it.
const STALL_LIMIT: Duration = Duration::from_secs(30);

type Script = dyn Fn(usize, &serde_json::Value) -> Answer + Send + Sync;

struct Shared {
    stop: AtomicBool,
    chat_calls: AtomicUsize,
    models: Vec<String>,
    script: Box<Script>,
    requests: Mutex<Vec<serde_json::Value>>,
}

/// A running server; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
}

impl core::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestServer {
    /// Serves `models` and answers the n-th chat call (from 0) with `script(n)`.
    pub fn start(
        models: &[&str],
        script: impl Fn(usize) -> Answer + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::start_with(models, move |n, _| script(n))
    }

    /// Serves `models` and answers the n-th chat call (from 0) with
    /// `script(n, request)`, `request` being the call's JSON body (`null`
    /// when it is not JSON): a scripted model that reads the conversation.
    pub fn start_with(
        models: &[&str],
        script: impl Fn(usize, &serde_json::Value) -> Answer + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            chat_calls: AtomicUsize::new(0),
            models: models.iter().map(|m| (*m).to_owned()).collect(),
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::spawn(move || {
            while !accept_shared.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let conn_shared = Arc::clone(&accept_shared);
                        thread::spawn(move || serve_connection(stream, &conn_shared));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TestServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Answers every chat call with the same answer.
    pub fn always(models: &[&str], answer: Answer) -> TestServer {
        TestServer::start(models, move |_| answer.clone())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Chat completion requests received so far (including retries).
    pub fn chat_calls(&self) -> usize {
        self.shared.chat_calls.load(Ordering::Relaxed)
    }

    /// The JSON bodies of the chat requests received so far.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One parsed request.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = String::new();
    let mut content_length = 0usize;
    let mut first = true;
    let mut method = String::new();
    let mut path = String::new();
    loop {
        head.clear();
        let n = reader.by_ref().take(8192).read_line(&mut head).ok()?;
        if n == 0 {
            return None;
        }
        let line = head.trim_end();
        if first {
            let mut parts = line.split(' ');
            method = parts.next()?.to_owned();
            path = parts.next()?.to_owned();
            first = false;
            continue;
        }
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; content_length.min(16 * 1024 * 1024)];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, body })
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    // Keep-alive connections end when the client closes them (the airlock
    // process exits); the read timeout bounds a client that never does.
    let _ = stream.set_read_timeout(Some(STALL_LIMIT));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        let result = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/v1/models") => {
                let data: Vec<serde_json::Value> = shared
                    .models
                    .iter()
                    .map(|id| serde_json::json!({"id": id, "object": "model", "owned_by": "test"}))
                    .collect();
                respond(
                    &mut writer,
                    200,
                    &serde_json::json!({"object": "list", "data": data}).to_string(),
                )
            }
            ("POST", "/v1/chat/completions") => {
                let n = shared.chat_calls.fetch_add(1, Ordering::Relaxed);
                let body: Option<serde_json::Value> = serde_json::from_slice(&request.body).ok();
                if let Some(body) = &body
                    && let Ok(mut requests) = shared.requests.lock()
                {
                    requests.push(body.clone());
                }
                let model = shared.models.first().cloned().unwrap_or_default();
                let asked = body
                    .as_ref()
                    .and_then(|b| b["model"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                let answer = if shared.models.contains(&asked) {
                    (shared.script)(n, body.as_ref().unwrap_or(&serde_json::Value::Null))
                } else {
                    Answer::StatusBody(
                        400,
                        serde_json::json!({"object": "error", "type": "NotFoundError",
                            "message": format!("The model `{asked}` does not exist."), "code": 400})
                        .to_string(),
                    )
                };
                match answer {
                    Answer::Reply(text) => respond(
                        &mut writer,
                        200,
                        &serde_json::json!({
                            "id": format!("chatcmpl-{n}"),
                            "object": "chat.completion",
                            "model": model,
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                        })
                        .to_string(),
                    ),
                    Answer::Status(status) => respond(
                        &mut writer,
                        status,
                        r#"{"error":{"message":"scripted failure"}}"#,
                    ),
                    Answer::StatusBody(status, body) => respond(&mut writer, status, &body),
                    Answer::Malformed => respond(&mut writer, 200, "{\"choices\": [ this is not JSON"),
                    Answer::Stall => {
                        let until = Instant::now() + STALL_LIMIT;
                        while Instant::now() < until && !shared.stop.load(Ordering::Relaxed) {
                            thread::sleep(Duration::from_millis(10));
                        }
                        return;
                    }
                    Answer::Oversized(len) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{{\"choices\":[{{\"message\":{{\"content\":\"",
                            len + 40
                        );
                        let chunk = vec![b'z'; 64 * 1024];
                        let mut sent = 0;
                        let mut outcome = writer.write_all(head.as_bytes());
                        while outcome.is_ok() && sent < len {
                            let n = chunk.len().min(len - sent);
                            outcome = writer.write_all(&chunk[..n]);
                            sent += n;
                        }
                        // The client stops reading at its limit and hangs up.
                        return;
                    }
                    Answer::Drop => return,
                    Answer::Completion(value) => respond(&mut writer, 200, &value.to_string()),
                }
            }
            _ => respond(&mut writer, 404, r#"{"error":"no such endpoint"}"#),
        };
        if result.is_err() {
            return;
        }
    }
}
