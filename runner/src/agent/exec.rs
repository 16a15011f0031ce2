//! `exec:PROGRAM`: the model behind a process that speaks the exec protocol,
//! `airlock-exec/1` (SPEC.md, "Exec agent protocol"), over its stdin and
//! stdout, one JSON object per line.
//!
//! One process serves the whole run, as lab harnesses expect: it is started
//! when the agent is built (so a program that cannot start stops the run
//! before RunStart), gets one request per model turn and answers each with
//! one line. A call that outlasts the profile's model-call timeout, a reply
//! line longer than the line limit, or a process that exits, ends that call
//! with a model error; the process is killed and a fresh one is started for
//! the next call. The child's stderr goes to the log, a line at a time.

use core::time::Duration;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use airlock_core::outcome::ModelErrorKind;
use airlock_core::record::ModelDescriptor;
use serde::Serialize;

use super::{Agent, AgentError, AgentOptions, History, Message, SessionContext};
use crate::sandbox::Conversation;

/// The `protocol` value of every request.
pub const EXEC_PROTOCOL: &str = "airlock-exec/1";

/// Longest stderr line logged as one line; the rest of a longer line is dropped.
const STDERR_LINE_LIMIT: usize = 4096;

/// How long a process gets to exit after its stdin is closed at the end of a
/// run before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The longest reply line read, for replies cut to `max_reply_bytes`: room
/// for the worst JSON escaping (`\u00XX`, six bytes for one) plus the object
/// around it. A longer line is not read into memory: the call fails and the
/// process is restarted.
pub fn line_limit(max_reply_bytes: u32) -> usize {
    (max_reply_bytes as usize)
        .saturating_mul(6)
        .saturating_add(64 * 1024)
}

/// A model served by a local process over the exec protocol.
#[derive(Debug)]
pub struct ExecAgent {
    program: PathBuf,
    args: Vec<String>,
    model: String,
    timeout: Duration,
    max_reply_bytes: u32,
    line_limit: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    peer: Option<Peer>,
    next_id: u64,
    starts: u64,
}

/// One running process and the threads that carry its pipes.
#[derive(Debug)]
struct Peer {
    child: Child,
    requests: Sender<Vec<u8>>,
    lines: Receiver<LineEvent>,
}

/// What the stdout reader saw.
#[derive(Debug)]
enum LineEvent {
    /// One whole line, without its newline.
    Line(Vec<u8>),
    /// A line longer than the limit; nothing more is read.
    TooLong,
    /// End of output: the process closed stdout or exited.
    Closed,
    /// Reading failed.
    Failed(String),
}

#[derive(Serialize)]
struct Request<'a> {
    protocol: &'static str,
    id: u64,
    task_id: &'a str,
    plan_index: u32,
    epoch: u32,
    turn: u32,
    max_reply_bytes: u32,
    messages: &'a [Message],
}

impl ExecAgent {
    /// Starts `program` with `options.args`.
    pub fn start(program: &Path, options: &AgentOptions) -> Result<ExecAgent, AgentError> {
        let model = match &options.model {
            Some(model) => model.clone(),
            None => program.file_name().map_or_else(
                || program.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        };
        let agent = ExecAgent {
            program: program.to_path_buf(),
            args: options.args.clone(),
            model,
            timeout: options.call_timeout,
            max_reply_bytes: options.max_reply_bytes,
            line_limit: line_limit(options.max_reply_bytes),
            state: Mutex::new(State {
                peer: None,
                next_id: 0,
                starts: 0,
            }),
        };
        let peer = agent.spawn().map_err(|error| AgentError::Spawn {
            program: program.to_path_buf(),
            error,
        })?;
        {
            let mut state = agent.lock();
            state.peer = Some(peer);
            state.starts = 1;
        }
        Ok(agent)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn(&self) -> std::io::Result<Peer> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("the process has no pipes"));
        };
        let (request_tx, request_rx) = mpsc::channel();
        let (line_tx, line_rx) = mpsc::channel();
        let limit = self.line_limit;
        let name = self.model.clone();
        std::thread::Builder::new()
            .name(format!("exec-{pid}-stdin"))
            .spawn(move || write_requests(stdin, &request_rx))?;
        std::thread::Builder::new()
            .name(format!("exec-{pid}-stdout"))
            .spawn(move || read_lines(stdout, limit, &line_tx))?;
        std::thread::Builder::new()
            .name(format!("exec-{pid}-stderr"))
            .spawn(move || log_stderr(stderr, &name, pid))?;
        tracing::debug!(pid, program = %self.program.display(), "exec agent started");
        Ok(Peer {
            child,
            requests: request_tx,
            lines: line_rx,
        })
    }

    /// Sends one request and waits for its reply line.
    fn call(&self, context: (&str, u32, u32), history: &History) -> Result<String, ModelErrorKind> {
        let (task_id, plan_index, epoch) = context;
        let started = Instant::now();
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        let request = Request {
            protocol: EXEC_PROTOCOL,
            id,
            task_id,
            plan_index,
            epoch,
            turn: history.turn(),
            max_reply_bytes: self.max_reply_bytes,
            messages: history.messages(),
        };
        let mut line = serde_json::to_vec(&request).map_err(|e| {
            tracing::warn!(error = %e, "exec agent: could not encode a request");
            ModelErrorKind::Transport
        })?;
        line.push(b'\n');

        let peer = self.ready_peer(&mut state)?;
        if peer.requests.send(line).is_err() {
            self.discard(&mut state, "its stdin is closed");
            return Err(ModelErrorKind::Transport);
        }
        loop {
            let remaining = self.timeout.saturating_sub(started.elapsed());
            let Some(peer) = state.peer.as_mut() else {
                return Err(ModelErrorKind::Transport);
            };
            let event = peer.lines.recv_timeout(remaining);
            match event {
                Ok(LineEvent::Line(bytes)) => match parse_reply(&bytes, id) {
                    Parsed::Reply(text) => return Ok(text),
                    Parsed::Error(kind, message) => {
                        tracing::warn!(task = task_id, epoch, %message, kind = kind.name(), "exec agent reported an error");
                        return Err(kind);
                    }
                    Parsed::OtherId(other) => {
                        tracing::warn!(
                            expected = id,
                            got = other,
                            "exec agent: skipped a reply line for another request"
                        );
                    }
                    Parsed::Malformed(why) => {
                        tracing::warn!(
                            task = task_id,
                            epoch,
                            "exec agent: malformed reply line: {why}"
                        );
                        return Err(ModelErrorKind::MalformedReply);
                    }
                },
                Ok(LineEvent::TooLong) => {
                    self.discard(
                        &mut state,
                        &format!("a reply line is longer than {} bytes", self.line_limit),
                    );
                    return Err(ModelErrorKind::MalformedReply);
                }
                Ok(LineEvent::Closed) | Err(RecvTimeoutError::Disconnected) => {
                    self.discard(&mut state, "it closed its stdout (exited?)");
                    return Err(ModelErrorKind::Transport);
                }
                Ok(LineEvent::Failed(why)) => {
                    self.discard(&mut state, &format!("reading its stdout failed: {why}"));
                    return Err(ModelErrorKind::Transport);
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.discard(
                        &mut state,
                        &format!("no reply within {} ms", self.timeout.as_millis()),
                    );
                    return Err(ModelErrorKind::Timeout);
                }
            }
        }
    }

    /// The running process, restarted if it exited or was discarded, with
    /// lines nobody asked for drained.
    fn ready_peer<'s>(&self, state: &'s mut State) -> Result<&'s mut Peer, ModelErrorKind> {
        let mut gone = match state.peer.as_mut() {
            None => true,
            Some(peer) => !matches!(peer.child.try_wait(), Ok(None)),
        };
        if !gone && let Some(peer) = state.peer.as_mut() {
            while let Ok(event) = peer.lines.try_recv() {
                match event {
                    LineEvent::Line(_) => {
                        tracing::warn!("exec agent: ignored a line written between requests");
                    }
                    LineEvent::TooLong | LineEvent::Closed | LineEvent::Failed(_) => {
                        gone = true;
                        break;
                    }
                }
            }
        }
        if gone {
            if state.peer.is_some() {
                self.discard(state, "it is no longer running");
            }
            state.starts += 1;
            tracing::warn!(start = state.starts, program = %self.program.display(), "starting the exec agent again");
            match self.spawn() {
                Ok(peer) => state.peer = Some(peer),
                Err(error) => {
                    tracing::warn!(program = %self.program.display(), %error, "could not start the exec agent");
                    return Err(ModelErrorKind::Transport);
                }
            }
        }
        state.peer.as_mut().ok_or(ModelErrorKind::Transport)
    }

    /// Kills and reaps the process; the next call starts a fresh one.
    fn discard(&self, state: &mut State, why: &str) {
        if let Some(mut peer) = state.peer.take() {
            let _ = peer.child.kill();
            let status = peer.child.wait();
            tracing::warn!(
                program = %self.program.display(),
                status = ?status.ok(),
                "exec agent stopped: {why}"
            );
        }
    }
}

impl Drop for ExecAgent {
    fn drop(&mut self) {
        let peer = self.lock().peer.take();
        if let Some(Peer {
            mut child,
            requests,
            lines,
        }) = peer
        {
            // Closing stdin is the end-of-run signal; a process that ignores
            // it is killed after a grace period.
            drop(requests);
            drop(lines);
            let deadline = Instant::now() + EXIT_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Agent for ExecAgent {
    fn descriptor(&self) -> ModelDescriptor {
        ModelDescriptor {
            agent: "exec".into(),
            model: self.model.clone(),
            reported_model: String::new(),
        }
    }

    fn session(&self, context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
        Box::new(ExecSession {
            agent: self,
            task_id: context.task.id.clone(),
            plan_index: context.plan_index,
            epoch: context.epoch,
            history: History::new(self.max_reply_bytes),
        })
    }
}

struct ExecSession<'a> {
    agent: &'a ExecAgent,
    task_id: String,
    plan_index: u32,
    epoch: u32,
    history: History,
}

impl Conversation for ExecSession<'_> {
    fn reply(&mut self, say: &str) -> Result<String, ModelErrorKind> {
        self.history.say(say);
        let reply = self
            .agent
            .call((&self.task_id, self.plan_index, self.epoch), &self.history)?;
        self.history.reply(&reply);
        Ok(reply)
    }
}

/// What one reply line says.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Reply(String),
    Error(ModelErrorKind, String),
    OtherId(u64),
    Malformed(String),
}

fn parse_reply(line: &[u8], id: u64) -> Parsed {
    let value: serde_json::Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(e) => return Parsed::Malformed(format!("not JSON: {e}")),
    };
    let Some(object) = value.as_object() else {
        return Parsed::Malformed("not a JSON object".into());
    };
    if let Some(echoed) = object.get("id") {
        match echoed.as_u64() {
            Some(echoed) if echoed == id => {}
            Some(other) => return Parsed::OtherId(other),
            None => return Parsed::Malformed("\"id\" is not a whole number".into()),
        }
    }
    match (object.get("reply"), object.get("error")) {
        (Some(reply), None) => match reply.as_str() {
            Some(text) => Parsed::Reply(text.to_owned()),
            None => Parsed::Malformed("\"reply\" is not a string".into()),
        },
        (None, Some(error)) => {
            let message = error.as_str().unwrap_or_default().to_owned();
            let kind = match object.get("kind").and_then(serde_json::Value::as_str) {
                None | Some("server-error") => ModelErrorKind::ServerError,
                Some("timeout") => ModelErrorKind::Timeout,
                Some("transport") => ModelErrorKind::Transport,
                Some("malformed-reply") => ModelErrorKind::MalformedReply,
                Some("unsupported") => ModelErrorKind::Unsupported,
                Some(other) => {
                    return Parsed::Malformed(format!("unknown error kind \"{other}\""));
                }
            };
            Parsed::Error(kind, message)
        }
        (Some(_), Some(_)) => Parsed::Malformed("both \"reply\" and \"error\"".into()),
        (None, None) => Parsed::Malformed("neither \"reply\" nor \"error\"".into()),
    }
}

fn write_requests(mut stdin: ChildStdin, requests: &Receiver<Vec<u8>>) {
    while let Ok(line) = requests.recv() {
        if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
            // The process is gone; the reader reports it.
            return;
        }
    }
}

/// Reads stdout a line at a time, never holding more than `limit` bytes.
fn read_lines(stdout: ChildStdout, limit: usize, lines: &Sender<LineEvent>) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::new();
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = lines.send(LineEvent::Failed(e.to_string()));
                return;
            }
        };
        if buffer.is_empty() {
            if !line.is_empty() {
                let _ = lines.send(LineEvent::Line(core::mem::take(&mut line)));
            }
            let _ = lines.send(LineEvent::Closed);
            return;
        }
        let (take, complete) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (at, true),
            None => (buffer.len(), false),
        };
        if line.len().saturating_add(take) > limit {
            let _ = lines.send(LineEvent::TooLong);
            return;
        }
        line.extend_from_slice(&buffer[..take]);
        reader.consume(if complete { take + 1 } else { take });
        if complete
            && lines
                .send(LineEvent::Line(core::mem::take(&mut line)))
                .is_err()
        {
            return;
        }
    }
}

/// Logs the child's stderr, a line at a time, each cut to a bounded length.
fn log_stderr(stderr: impl Read, name: &str, pid: u32) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut chunk = reader.by_ref().take(STDERR_LINE_LIMIT as u64);
        match chunk.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        let complete = line.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&line);
        tracing::info!(target: "airlock::exec", model = name, pid, "{}", text.trim_end());
        if !complete && line.len() >= STDERR_LINE_LIMIT {
            // Drop the rest of an overlong line.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                match reader.by_ref().take(64 * 1024).read_until(b'\n', &mut rest) {
                    Ok(0) => return,
                    Ok(_) if rest.last() == Some(&b'\n') => break,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_parse_into_replies_errors_and_failures() {
        assert_eq!(
            parse_reply(br#"{"reply":"hi"}"#, 3),
            Parsed::Reply("hi".into())
        );
        assert_eq!(
            parse_reply(br#"{"id":3,"reply":"hi"}"#, 3),
            Parsed::Reply("hi".into())
        );
        assert_eq!(
            parse_reply(br#"{"id":2,"reply":"x"}"#, 3),
            Parsed::OtherId(2)
        );
        assert_eq!(
            parse_reply(br#"{"error":"overloaded"}"#, 0),
            Parsed::Error(ModelErrorKind::ServerError, "overloaded".into())
        );
        assert_eq!(
            parse_reply(br#"{"error":"no","kind":"unsupported"}"#, 0),
            Parsed::Error(ModelErrorKind::Unsupported, "no".into())
        );
        for bad in [
            &b"not json"[..],
            br#"[1]"#,
            br#"{"reply":3}"#,
            br#"{"reply":"a","error":"b"}"#,
            br#"{}"#,
            br#"{"error":"x","kind":"weird"}"#,
            br#"{"id":"3","reply":"x"}"#,
            b"{\"reply\":\"\xff\"}",
        ] {
            assert!(
                matches!(parse_reply(bad, 3), Parsed::Malformed(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn line_limit_leaves_room_for_escaping() {
        assert_eq!(line_limit(1), 6 + 65_536);
        assert_eq!(line_limit(u32::MAX), (u32::MAX as usize) * 6 + 65_536);
    }
}
