//! Reading an HTTP request written out as text, and form encoding.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_task_sdk::hex;

/// A request, as far as the simulated application reads it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Request {
    /// The method, upper case.
    pub method: String,
    /// The path, without the query string (and without scheme and host).
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// The body: its non-blank lines joined by `&`.
    pub body: String,
}

const METHODS: [&str; 7] = ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// The request in `text`: from its first line that starts with a method and
/// a target, skipping Markdown code fences. Header lines (up to a blank
/// line, or up to the first line that does not look like `Name: value`) are
/// skipped; the rest is the body.
pub fn parse_request(text: &str) -> Option<Request> {
    let mut lines = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim_start().starts_with("```"));
    let (method, target) = lines.by_ref().find_map(|line| {
        let mut words = line.split_whitespace();
        let method = words.next()?;
        let target = words.next()?;
        let method = METHODS.iter().find(|m| m.eq_ignore_ascii_case(method))?;
        Some((method.to_string(), target.to_string()))
    })?;
    let mut body_lines: Vec<&str> = Vec::new();
    let mut in_headers = true;
    for line in lines {
        if in_headers {
            if line.trim().is_empty() {
                in_headers = false;
                continue;
            }
            if looks_like_header(line) {
                continue;
            }
            in_headers = false;
        }
        if !line.trim().is_empty() {
            body_lines.push(line.trim());
        }
    }
    // An absolute URL: keep the path.
    let target = match target.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(at) => rest[at..].to_string(),
            None => "/".to_string(),
        },
        None => target,
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Some(Request {
        method,
        path,
        query,
        body: body_lines.join("&"),
    })
}

fn looks_like_header(line: &str) -> bool {
    match line.split_once(':') {
        Some((name, _)) => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        None => false,
    }
}

/// The value of `key` in a form-encoded string, URL-decoded: the first one.
pub fn form_value(encoded: &str, key: &str) -> Option<String> {
    encoded.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (url_decode(k) == key).then(|| url_decode(v))
    })
}

/// URL decoding as for forms: `+` is a space, `%XX` a byte; a `%` not
/// followed by two hex digits stays as it is. Invalid UTF-8 becomes U+FFFD.
pub fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                if let Some(&[h, l]) = bytes.get(i + 1..i + 3)
                    && let Some(v) = hex::byte_value(h, l)
                {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Form encoding of `text`: unreserved characters as they are, space as
/// `+`, everything else as `%XX`.
pub fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                let [high, low] = hex::byte_digits_upper(b);
                out.push('%');
                out.push(char::from(high));
                out.push(char::from(low));
            }
        }
    }
    out
}
