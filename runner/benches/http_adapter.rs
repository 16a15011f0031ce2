//! The OpenAI adapter's added cost per model call, against a loopback
//! server that answers at once: `openai/complete` (the adapter: request
//! JSON, HTTP through ureq on a kept-alive connection, bounded body read,
//! response JSON) against `raw/tcp` (the very same request bytes written to
//! a kept-alive TcpStream and the response read back by hand), in the same
//! run against the same server. The ratio of the two is the adapter's
//! overhead over the bare round trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use airlock::agent::openai::OpenAiAgent;
use airlock::agent::{AgentOptions, Message};
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

/// Serves until the process ends: the model list, and one fixed completion
/// for every chat request. Records the first chat request's raw bytes.
fn serve(listener: TcpListener, first_chat: Arc<Mutex<Option<Vec<u8>>>>) {
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
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let models = models.clone();
        let completion = completion.clone();
        let first_chat = Arc::clone(&first_chat);
        thread::spawn(move || {
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            while let Some((raw, path)) = read_request(&mut reader) {
                let answer = if path == "/v1/models" {
                    &models
                } else {
                    let mut first = first_chat.lock().unwrap();
                    if first.is_none() {
                        *first = Some(raw);
                    }
                    &completion
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
    let first_chat = Arc::new(Mutex::new(None));
    let server_first = Arc::clone(&first_chat);
    thread::spawn(move || serve(listener, server_first));

    let mut options = AgentOptions::new(Duration::from_secs(10), 16_384);
    options.model = Some("bench-model".into());
    let agent = OpenAiAgent::connect(&format!("http://{addr}"), &options).unwrap();
    let messages = [
        Message {
            role: "user",
            content: "You are given a ciphertext encrypted with a repeating-key XOR. \
                      Ciphertext (hex): 1b37373331363f78151b7f2b783431333d78397828372d363c78373e783a393b3736. \
                      Recover the flag and answer with it alone."
                .into(),
        },
        Message {
            role: "assistant",
            content: "flag{not-yet}".into(),
        },
        Message {
            role: "user",
            content: "That is not the flag. Try again; the key is a single byte.".into(),
        },
    ];
    // One call through the adapter records the exact request bytes it sends.
    let reply = agent.complete(&messages).unwrap();
    assert!(reply.starts_with("The flag is"));
    let request = first_chat.lock().unwrap().clone().unwrap();

    let mut group = c.benchmark_group("loopback_chat_call");
    group.bench_function("openai/complete", |b| {
        b.iter(|| agent.complete(&messages).unwrap());
    });
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut stream = BufReader::new(stream);
    group.bench_function("raw/tcp", |b| {
        b.iter(|| raw_round_trip(&mut stream, &request));
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
