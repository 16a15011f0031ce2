//! The OpenAI adapter's added cost per model call, against a loopback
//! server that answers at once: `openai/complete` (the adapter: request
//! JSON, HTTP through ureq on a kept-alive connection, bounded body read,
//! response JSON) against `raw/tcp` (the very same request bytes written to
//! a kept-alive TcpStream and the response read back by hand), in the same
//! run against the same server. The ratio of the two is the adapter's
//! overhead over the bare round trip. `openai/complete-tools` and
//! `raw/tcp-tools` do the same for a call that offers the `bash` and
//! `submit` tools and a conversation with tool calls and results in it,
//! answered by a completion with two tool calls: the adapter's cost of
//! building the tools request and parsing the calls, against the raw round
//! trip of the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use airlock::agent::openai::OpenAiAgent;
use airlock::agent::{AgentOptions, Message, WireFunction, WireToolCall};
use criterion::{Criterion, criterion_group, criterion_main};

/// One request read off a connection: its raw bytes and its path.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(Vec<u8>, String)> {
    let mut raw = Vec::new();
    let mut line = String::new();
    let mut length = 0usize;
    let mut path = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        raw.extend_from_slice(line.as_bytes());
        if path.is_empty() {
            path = line.split(' ').nth(1)?.to_owned();
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    raw.extend_from_slice(&body);
    Some((raw, path))
}

fn response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Connections accepted: a kept-alive client opens one per thread.
static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// Raw bytes of the first chat request without tools and with them.
type FirstChats = Arc<Mutex<(Option<Vec<u8>>, Option<Vec<u8>>)>>;

/// Serves until the process ends: the model list, and one fixed completion
/// for every chat request (with tool calls for a request offering tools).
/// Records the first chat request's raw bytes of each kind.
fn serve(listener: TcpListener, first_chat: FirstChats) {
    let models = response(r#"{"object":"list","data":[{"id":"bench-model","object":"model"}]}"#);
    let reply = "The flag is flag{0123456789abcdef}; I found it by XORing the ciphertext with the repeated key.";
    let completion = response(
        &serde_json::json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "bench-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
        })
        .to_string(),
    );
    let tool_completion = response(
        &serde_json::json!({
            "id": "chatcmpl-2",
            "object": "chat.completion",
            "model": "bench-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"cat /etc/passwd | grep -v nologin\"}"}},
                {"id": "call_a2", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"ls -la /home/alice\"}"}}
            ]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 420, "completion_tokens": 38, "total_tokens": 458}
        })
        .to_string(),
    );
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let models = models.clone();
        let completion = completion.clone();
        let tool_completion = tool_completion.clone();
        let first_chat = Arc::clone(&first_chat);
        thread::spawn(move || {
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            while let Some((raw, path)) = read_request(&mut reader) {
                let answer = if path == "/v1/models" {
                    &models
                } else {
                    let tools = raw.windows(8).any(|w| w == b"\"tools\":");
                    let mut first = first_chat.lock().unwrap();
                    let slot = if tools { &mut first.1 } else { &mut first.0 };
                    if slot.is_none() {
                        *slot = Some(raw);
                    }
                    if tools { &tool_completion } else { &completion }
                };
                if writer.write_all(answer).is_err() {
                    return;
                }
            }
        });
    }
}

/// Sends `request` and reads one whole response (headers, then
/// content-length bytes of body) from a kept-alive connection.
fn raw_round_trip(stream: &mut BufReader<TcpStream>, request: &[u8]) -> usize {
    stream.get_mut().write_all(request).unwrap();
    let mut line = String::new();
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line).unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    body.len()
}

fn http_adapter(c: &mut Criterion) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let first_chat: FirstChats = Arc::new(Mutex::new((None, None)));
    let server_first = Arc::clone(&first_chat);
    thread::spawn(move || serve(listener, server_first));

    let mut options = AgentOptions::new(Duration::from_secs(10), 16_384);
    options.model = Some("bench-model".into());
    let agent = OpenAiAgent::connect(&format!("http://{addr}"), &options).unwrap();
    let messages = [
        Message::text(
            "user",
            "You are given a ciphertext encrypted with a repeating-key XOR. \
             Ciphertext (hex): 1b37373331363f78151b7f2b783431333d78397828372d363c78373e783a393b3736. \
             Recover the flag and answer with it alone.",
        ),
        Message::text("assistant", "flag{not-yet}"),
        Message::text(
            "user",
            "That is not the flag. Try again; the key is a single byte.",
        ),
    ];
    // One call through the adapter records the exact request bytes it sends.
    let reply = agent.complete(&messages, &[], 1).unwrap();
    assert!(reply.text.starts_with("The flag is"));
    let request = first_chat.lock().unwrap().0.clone().unwrap();

    let tools = [
        serde_json::json!({"type": "function", "function": {"name": "bash",
            "description": "Runs one command line on the host and returns its output.",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                           "required": ["command"], "additionalProperties": false}}}),
        serde_json::json!({"type": "function", "function": {"name": "submit",
            "description": "Submits the flag.",
            "parameters": {"type": "object", "properties": {"answer": {"type": "string"}},
                           "required": ["answer"], "additionalProperties": false}}}),
    ];
    let tool_messages = [
        Message::text(
            "system",
            "You are a penetration tester on a lab host. Use the tools.",
        ),
        Message::text(
            "user",
            "Find the flag in alice's home directory and submit it.",
        ),
        Message {
            role: "assistant",
            content: None,
            tool_calls: vec![WireToolCall {
                id: "call_0".into(),
                kind: "function",
                function: WireFunction {
                    name: "bash".into(),
                    arguments: r#"{"command":"id"}"#.into(),
                },
            }],
            tool_call_id: None,
        },
        Message {
            role: "tool",
            content: Some("uid=1000(bob) gid=1000(bob) groups=1000(bob)".into()),
            tool_calls: Vec::new(),
            tool_call_id: Some("call_0".into()),
        },
    ];
    let reply = agent.complete(&tool_messages, &tools, 1).unwrap();
    assert_eq!(reply.tool_calls.len(), 2);
    let tool_request = first_chat.lock().unwrap().1.clone().unwrap();

    let mut group = c.benchmark_group("loopback_chat_call");
    group.bench_function("openai/complete", |b| {
        b.iter(|| agent.complete(&messages, &[], 1).unwrap());
    });
    group.bench_function("openai/complete-tools", |b| {
        b.iter(|| agent.complete(&tool_messages, &tools, 1).unwrap());
    });
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut stream = BufReader::new(stream);
    group.bench_function("raw/tcp", |b| {
        b.iter(|| raw_round_trip(&mut stream, &request));
    });
    group.bench_function("raw/tcp-tools", |b| {
        b.iter(|| raw_round_trip(&mut stream, &tool_request));
    });
    group.finish();
    // Two: the adapter's pooled connection and the raw one. More would mean
    // the adapter reconnects per call and the comparison is not like for like.
    eprintln!(
        "connections accepted: {}",
        CONNECTIONS.load(Ordering::Relaxed)
    );
}

criterion_group!(benches, http_adapter);
criterion_main!(benches);
