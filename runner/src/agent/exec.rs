//! `exec:PROGRAM`: the model behind a process that speaks the exec protocol
//! (SPEC.md, "Exec agent protocol") over its stdin and stdout, one JSON
//! object per line.
//!
//! Version 2 (`airlock-exec/2`) carries what version 1 cannot say: the
//! system prompt, the tools offered, tool calls and tool results, in the
//! openai adapter's message shape, and answers with tool calls, usage and
//! reasoning. Each request says its version by what it holds: one with
//! nothing version 1 lacks (text mode or no tools, no system prompt) is
//! sent as version 1, byte for byte as before, so a version 1 program keeps
//! working wherever it can; a version 1 answer is a valid version 2 answer.
//!
//! One process serves the whole run, as lab harnesses expect: it is started
//! when the agent is built (so a program that cannot start stops the run
//! before RunStart), gets one request per model turn and answers each with
//! one line carrying the request's `id`. The process runs in a process group
//! of its own, and whenever it is let go the whole group is ended, so
//! nothing it started outlives it or keeps its stdout open.
//!
//! Every line of its stdout is judged the same way whenever it arrives,
//! before, during or after a call, so outcomes never depend on when the
//! runner happened to read a line: the answer to the earliest request not
//! yet answered is kept (one at a time, in a bounded queue), a well-formed
//! line for any other request is dropped at once, and a line that breaks the
//! protocol fails the call it falls to and ends the process. A process that
//! exits before reading any byte of a request is not charged with it: a
//! fresh one gets the request. A call that outlasts the profile's model-call
//! timeout, or a process that exits after reading the request, ends the call
//! with a model error; the next call starts a fresh process. The child's
//! stderr goes to the log, a line at a time, with control characters
//! escaped. With several sandboxes, their calls are serialized: the process
//! still sees one request at a time.

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use airlock_core::outcome::ModelErrorKind;
use airlock_core::record::ModelDescriptor;
use serde::Serialize;

use super::{
    Agent, AgentError, AgentOptions, History, Message, SessionContext, log_safe, name_calls,
    offered_tools, parse_tool_calls, parse_usage,
};
use airlock_core::abi::{Prompt, ToolMode};
use airlock_sandbox::{Conversation, Reply};

/// The `protocol` value of a request version 1 can carry.
pub const EXEC_PROTOCOL_V1: &str = "airlock-exec/1";
/// The `protocol` value of a request with a system prompt, tools, tool
/// calls or tool results.
pub const EXEC_PROTOCOL_V2: &str = "airlock-exec/2";

/// Longest stderr line logged as one line; the rest of a longer line is dropped.
const STDERR_LINE_LIMIT: usize = 4096;

/// How long a process gets to exit after its stdin is closed at the end of a
/// run before its group is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// How often a waiting call looks whether the process has exited: a process
/// it started may hold stdout open after it, and only ending the group then
/// lets the call end before its timeout.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// The longest a call waits, after the process died, for the writer thread
/// to give up the request it was writing. Only a process outside the group
/// that holds stdin open and does not read it makes the writer wait at all.
const WRITER_WAIT: Duration = Duration::from_secs(1);

/// Answers read ahead of the call that wants them: the reader waits once this
/// many are queued, so a process that answers requests before they are asked
/// never makes the runner hold more than this many lines.
const ANSWER_QUEUE: usize = 1;

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

/// One running process, its process group and the threads that carry its pipes.
#[derive(Debug)]
struct Peer {
    child: Child,
    /// Request lines for the writer thread; dropped to close stdin.
    requests: Option<Sender<Vec<u8>>>,
    /// The stdin pipe, shared with the writer thread, to ask how much of
    /// what was written the process never read.
    stdin: Option<Arc<ChildStdin>>,
    written: Arc<Written>,
    /// Disconnected once the writer thread has ended.
    writer_done: Receiver<()>,
    events: Receiver<Event>,
    /// Whether the group was already ended because its leader exited.
    group_ended: bool,
}

/// What the writer thread has put into the stdin pipe.
#[derive(Debug, Default)]
struct Written {
    /// Bytes the pipe accepted, in all.
    total: AtomicU64,
    /// `total` when the writer began the latest request.
    request_start: AtomicU64,
}

/// What the stdout reader passes on. Lines for other requests are dropped
/// by the reader itself and never queued.
#[derive(Debug)]
enum Event {
    /// The line answering request `id`: the reply, or the error the
    /// process reports with its message.
    Answer(u64, Result<Reply, (ModelErrorKind, String)>),
    /// A line that breaks the protocol, and why; nothing after it is read.
    Violation(String),
    /// End of output: the process closed stdout or exited.
    Closed,
    /// Reading failed.
    Failed(String),
}

/// How a call's wait for its answer ended.
enum Waited {
    /// With the call's result.
    Done(Result<Reply, ModelErrorKind>),
    /// The process ended before it read any of the request.
    LeftUnread,
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
    /// Version 2 only: the tools offered, in the openai `tools` shape.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tools: &'a [serde_json::Value],
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
        let peer = agent.spawn(0).map_err(|error| AgentError::Spawn {
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

    /// Starts the process, whose stdout reader expects the answer to
    /// request `next_id` first.
    fn spawn(&self, next_id: u64) -> std::io::Result<Peer> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // A group of its own, led by the process: ending the group ends
            // whatever it started too, and frees the pipes they inherited.
            command.process_group(0);
        }
        let mut child = command.spawn()?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("the process has no pipes"));
        };
        let stdin = Arc::new(stdin);
        let written = Arc::new(Written::default());
        let (request_tx, request_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (event_tx, event_rx) = mpsc::sync_channel(ANSWER_QUEUE);
        let peer = Peer {
            child,
            requests: Some(request_tx),
            stdin: Some(Arc::clone(&stdin)),
            written: Arc::clone(&written),
            writer_done: done_rx,
            events: event_rx,
            group_ended: false,
        };
        let limit = self.line_limit;
        let name = self.model.clone();
        let threads = std::thread::Builder::new()
            .name(format!("exec-{pid}-stdin"))
            .spawn(move || write_requests(&stdin, &request_rx, &written, done_tx))
            .and_then(|_| {
                std::thread::Builder::new()
                    .name(format!("exec-{pid}-stdout"))
                    .spawn(move || read_lines(stdout, limit, next_id, &event_tx))
            })
            .and_then(|_| {
                std::thread::Builder::new()
                    .name(format!("exec-{pid}-stderr"))
                    .spawn(move || log_stderr(stderr, &name, pid))
            });
        if let Err(error) = threads {
            let _ = peer.end();
            return Err(error);
        }
        tracing::debug!(pid, program = %self.program.display(), "exec agent started");
        Ok(peer)
    }

    /// Sends one request and waits for its answer.
    fn call(
        &self,
        context: (&str, u32, u32),
        history: &History,
        tools: &[serde_json::Value],
    ) -> Result<Reply, ModelErrorKind> {
        let (task_id, plan_index, epoch) = context;
        // One process answers one request at a time: sessions of parallel
        // sandboxes queue here, and the timeout starts once this call has
        // the process, so time spent waiting for another task's call is
        // never charged to this one (that would make outcomes depend on
        // the scheduling).
        let mut state = self.lock();
        let deadline = Instant::now() + self.timeout;
        let id = state.next_id;
        state.next_id += 1;
        let protocol = if tools.is_empty() && !history.beyond_text() {
            EXEC_PROTOCOL_V1
        } else {
            EXEC_PROTOCOL_V2
        };
        let request = Request {
            protocol,
            id,
            task_id,
            plan_index,
            epoch,
            turn: history.turn(),
            max_reply_bytes: self.max_reply_bytes,
            messages: history.messages(),
            tools,
        };
        let mut line = serde_json::to_vec(&request).map_err(|e| {
            tracing::warn!(error = %e, "exec agent: could not encode a request");
            ModelErrorKind::Transport
        })?;
        line.push(b'\n');

        // A process that ended before reading any of the request (it exited
        // after its last answer, say) is not charged with it: a fresh one
        // gets it, once, within the same time budget. Whether it had read
        // any is a fact of the pipe, not of when the runner looked.
        let mut restarted = false;
        loop {
            let peer = self.ready_peer(&mut state, id)?;
            let sent = peer
                .requests
                .as_ref()
                .is_some_and(|requests| requests.send(line.clone()).is_ok());
            match self.await_answer(&mut state, id, sent, deadline, (task_id, epoch)) {
                Waited::Done(result) => return result,
                Waited::LeftUnread if restarted => {
                    tracing::warn!(
                        task = task_id,
                        epoch,
                        "exec agent: a fresh process also ended before reading the request"
                    );
                    return Err(ModelErrorKind::Transport);
                }
                Waited::LeftUnread => restarted = true,
            }
        }
    }

    /// Waits until `deadline` for the answer to request `id`.
    fn await_answer(
        &self,
        state: &mut State,
        id: u64,
        sent: bool,
        deadline: Instant,
        (task_id, epoch): (&str, u32),
    ) -> Waited {
        loop {
            let Some(peer) = state.peer.as_mut() else {
                return Waited::Done(Err(ModelErrorKind::Transport));
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                self.discard(
                    state,
                    &format!("no reply within {} ms", self.timeout.as_millis()),
                );
                return Waited::Done(Err(ModelErrorKind::Timeout));
            }
            match peer.events.recv_timeout(remaining.min(EXIT_POLL)) {
                Ok(Event::Answer(answered, answer)) if answered == id => {
                    return Waited::Done(answer.map_err(|(kind, message)| {
                        let message = log_safe(&message, STDERR_LINE_LIMIT);
                        tracing::warn!(task = task_id, epoch, %message, kind = kind.name(), "exec agent reported an error");
                        kind
                    }));
                }
                Ok(Event::Answer(answered, _)) => {
                    // The reader passes on answers in request order, and a
                    // call that gave up discarded its process: not reached.
                    tracing::warn!(
                        asked = id,
                        answered,
                        "exec agent: dropped an answer to another request"
                    );
                }
                Ok(Event::Violation(why)) => {
                    tracing::warn!(task = task_id, epoch, "exec agent: {why}");
                    self.discard(state, "it broke the protocol");
                    return Waited::Done(Err(ModelErrorKind::MalformedReply));
                }
                Ok(Event::Failed(why)) => {
                    self.discard(state, &format!("reading its stdout failed: {why}"));
                    return Waited::Done(Err(ModelErrorKind::Transport));
                }
                Ok(Event::Closed) | Err(RecvTimeoutError::Disconnected) => {
                    peer.end_group();
                    if sent && peer.took_request(remaining.min(WRITER_WAIT)) {
                        self.discard(state, "it exited (or closed its stdout) without answering");
                        return Waited::Done(Err(ModelErrorKind::Transport));
                    }
                    self.discard(state, "it exited before reading the request");
                    return Waited::LeftUnread;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if !peer.group_ended && peer.exited() {
                        peer.end_group();
                    }
                }
            }
        }
    }

    /// The running process, or a fresh one whose reader expects the answer
    /// to request `id` first.
    fn ready_peer<'s>(
        &self,
        state: &'s mut State,
        id: u64,
    ) -> Result<&'s mut Peer, ModelErrorKind> {
        if state.peer.is_none() {
            state.starts += 1;
            tracing::warn!(start = state.starts, program = %self.program.display(), "starting the exec agent again");
            match self.spawn(id) {
                Ok(peer) => state.peer = Some(peer),
                Err(error) => {
                    tracing::warn!(program = %self.program.display(), %error, "could not start the exec agent");
                    return Err(ModelErrorKind::Transport);
                }
            }
        }
        state.peer.as_mut().ok_or(ModelErrorKind::Transport)
    }

    /// Ends the process and its group; the next call starts a fresh one.
    fn discard(&self, state: &mut State, why: &str) {
        if let Some(peer) = state.peer.take() {
            let status = peer.end();
            tracing::warn!(
                program = %self.program.display(),
                status = ?status,
                "exec agent stopped: {why}"
            );
        }
    }
}

impl Peer {
    /// Whether the process has exited. It is not reaped here, so its pid,
    /// which is its group's id, cannot be reused before [`Peer::end`].
    fn exited(&mut self) -> bool {
        #[cfg(unix)]
        {
            use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
            let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
            matches!(
                waitid(WaitId::Pid(Pid::from_child(&self.child)), options),
                Ok(Some(_))
            )
        }
        #[cfg(not(unix))]
        {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }
    }

    /// Kills every process of the group (on unix; elsewhere the process).
    /// Called only before the process is reaped, while the group id is
    /// still its own.
    fn end_group(&mut self) {
        #[cfg(unix)]
        {
            use rustix::process::{Pid, Signal, kill_process_group};
            // Fails only when the group is already empty.
            let _ = kill_process_group(Pid::from_child(&self.child), Signal::KILL);
        }
        let _ = self.child.kill();
        self.group_ended = true;
    }

    /// Whether the process read any byte of the latest request. Called once
    /// its group is ended, when nothing reads the pipe any more and the
    /// counts are final.
    fn took_request(&mut self, wait: Duration) -> bool {
        // With the request channel closed, the writer ends as soon as its
        // write fails on the pipe that lost its reader.
        drop(self.requests.take());
        if !matches!(
            self.writer_done.recv_timeout(wait),
            Err(RecvTimeoutError::Disconnected)
        ) {
            // Something outside the group holds stdin without reading it;
            // the counts cannot be trusted, so the process is charged.
            return true;
        }
        let total = self.written.total.load(Ordering::SeqCst);
        let start = self.written.request_start.load(Ordering::SeqCst);
        match self.unread() {
            Some(unread) => total.saturating_sub(unread) > start,
            None => true,
        }
    }

    /// Bytes written to stdin that nobody has read.
    fn unread(&self) -> Option<u64> {
        #[cfg(unix)]
        {
            let stdin = self.stdin.as_ref()?;
            rustix::io::ioctl_fionread(&**stdin).ok()
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// Ends the group, closes the pipes and reaps the process.
    fn end(mut self) -> Option<ExitStatus> {
        self.end_group();
        drop(self.requests.take());
        drop(self.stdin.take());
        self.child.wait().ok()
    }
}

impl Drop for ExecAgent {
    fn drop(&mut self) {
        let peer = self.lock().peer.take();
        if let Some(mut peer) = peer {
            // Closing stdin is the end-of-run signal; a process that ignores
            // it is killed after a grace period, and whatever it started
            // goes with its group either way.
            drop(peer.requests.take());
            drop(peer.stdin.take());
            let deadline = Instant::now() + EXIT_GRACE;
            while !peer.exited() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = peer.end();
        }
    }
}

impl Agent for ExecAgent {
    fn descriptor(&self, tool_mode: ToolMode) -> ModelDescriptor {
        ModelDescriptor {
            agent: "exec".into(),
            model: self.model.clone(),
            reported_model: String::new(),
            tool_mode,
        }
    }

    fn serves_concurrently(&self) -> bool {
        false
    }

    fn session(&self, context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
        Box::new(ExecSession {
            agent: self,
            task_id: context.task.id.clone(),
            plan_index: context.plan_index,
            epoch: context.epoch,
            history: History::new(self.max_reply_bytes, &context.task.system_prompt),
            tools: offered_tools(context),
        })
    }
}

struct ExecSession<'a> {
    agent: &'a ExecAgent,
    task_id: String,
    plan_index: u32,
    epoch: u32,
    history: History,
    /// The `tools` of every request, or why the task's tools cannot be sent.
    tools: Result<Vec<serde_json::Value>, String>,
}

impl Conversation for ExecSession<'_> {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        let tools = self.tools.as_deref().map_err(|why| {
            tracing::warn!("exec agent: {}", log_safe(why, 1024));
            ModelErrorKind::Unsupported
        })?;
        self.history.ask(prompt);
        let mut reply = self.agent.call(
            (&self.task_id, self.plan_index, self.epoch),
            &self.history,
            tools,
        )?;
        // The reader thread does not know the turn; calls the program sent
        // without ids are named here, as the openai adapter names them.
        name_calls(&mut reply.tool_calls, self.history.turn());
        self.history.reply(&reply);
        Ok(reply)
    }
}

/// What one line of stdout is, for a reader expecting the answer to `next`.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// The answer to `next`: its reply, or its error kind and message.
    Answer(Result<Reply, (ModelErrorKind, String)>),
    /// A well-formed line for another request.
    Other(u64),
    /// Not a line of the protocol, and why.
    Malformed(String),
}

fn parse_line(line: &[u8], next: u64) -> Line {
    let value: serde_json::Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(e) => return Line::Malformed(format!("not JSON: {e}")),
    };
    let Some(object) = value.as_object() else {
        return Line::Malformed("not a JSON object".into());
    };
    match object.get("id").map(serde_json::Value::as_u64) {
        None => {
            return Line::Malformed(
                "a line without \"id\" (every line must carry the id of the request it answers)"
                    .into(),
            );
        }
        Some(None) => return Line::Malformed("\"id\" is not a whole number".into()),
        Some(Some(id)) if id != next => return Line::Other(id),
        Some(Some(_)) => {}
    }
    let calls = object.get("tool_calls");
    match (object.get("reply"), object.get("error")) {
        (None, None) if calls.is_some() => answer(object, String::new()),
        (Some(serde_json::Value::Null), None) if calls.is_some() => answer(object, String::new()),
        (Some(reply), None) => match reply.as_str() {
            Some(text) => answer(object, text.to_owned()),
            None => Line::Malformed("\"reply\" is not a string".into()),
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
                    return Line::Malformed(format!(
                        "unknown error kind \"{}\"",
                        log_safe(other, 64)
                    ));
                }
            };
            Line::Answer(Err((kind, message)))
        }
        (Some(_), Some(_)) => Line::Malformed("both \"reply\" and \"error\"".into()),
        (None, None) => Line::Malformed("neither \"reply\" nor \"error\"".into()),
    }
}

/// A reply line's answer: `text` with the version 2 fields beside it. Tool
/// calls in a shape other than openai's break the protocol; `usage` in
/// another shape counts as none, as from an HTTP server; ids left out are
/// given by the session, which knows the turn.
fn answer(object: &serde_json::Map<String, serde_json::Value>, text: String) -> Line {
    let tool_calls = match object.get("tool_calls") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(calls) => match parse_tool_calls(calls) {
            Ok(calls) => calls,
            Err(why) => return Line::Malformed(why),
        },
    };
    let reasoning = match object.get("reasoning") {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(_) => return Line::Malformed("\"reasoning\" is not a string".into()),
    };
    Line::Answer(Ok(Reply {
        text,
        tool_calls,
        usage: parse_usage(object.get("usage")),
        reasoning,
    }))
}

fn write_requests(
    stdin: &ChildStdin,
    requests: &Receiver<Vec<u8>>,
    written: &Written,
    _done: Sender<()>,
) {
    let mut pipe = stdin;
    while let Ok(line) = requests.recv() {
        written
            .request_start
            .store(written.total.load(Ordering::SeqCst), Ordering::SeqCst);
        let mut rest = &line[..];
        while !rest.is_empty() {
            match pipe.write(rest) {
                Ok(0) => return,
                Ok(n) => {
                    written.total.fetch_add(n as u64, Ordering::SeqCst);
                    rest = &rest[n..];
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // The process is gone; the reader reports it.
                Err(_) => return,
            }
        }
    }
}

/// Reads stdout a line at a time, never holding more than `limit` bytes of
/// a line, and passes on the answer to each request in turn from `next`.
fn read_lines(stdout: ChildStdout, limit: usize, mut next: u64, events: &SyncSender<Event>) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::new();
    let mut skipped = 0u64;
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = events.send(Event::Failed(e.to_string()));
                return;
            }
        };
        if buffer.is_empty() {
            // A last line without its newline counts as a line.
            if line.is_empty() || pass_on(&line, &mut next, &mut skipped, events) {
                let _ = events.send(Event::Closed);
            }
            return;
        }
        let (take, complete) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (at, true),
            None => (buffer.len(), false),
        };
        if line.len().saturating_add(take) > limit {
            let _ = events.send(Event::Violation(format!(
                "a line longer than {limit} bytes (the rest is not read)"
            )));
            return;
        }
        line.extend_from_slice(&buffer[..take]);
        reader.consume(if complete { take + 1 } else { take });
        if complete {
            if !pass_on(&line, &mut next, &mut skipped, events) {
                return;
            }
            line.clear();
        }
    }
}

/// Judges one whole line; false when the reader must stop.
fn pass_on(line: &[u8], next: &mut u64, skipped: &mut u64, events: &SyncSender<Event>) -> bool {
    match parse_line(line, *next) {
        Line::Answer(answer) => {
            if *skipped > 0 {
                tracing::warn!(
                    skipped = *skipped,
                    "exec agent: dropped lines for other requests before the answer to request {next}"
                );
                *skipped = 0;
            }
            let id = *next;
            *next += 1;
            events.send(Event::Answer(id, answer)).is_ok()
        }
        Line::Other(other) => {
            if *skipped == 0 {
                tracing::warn!(
                    expected = *next,
                    got = other,
                    "exec agent: dropped a line for another request"
                );
            }
            *skipped += 1;
            true
        }
        Line::Malformed(why) => {
            let _ = events.send(Event::Violation(format!("malformed line: {why}")));
            false
        }
    }
}

/// Logs the child's stderr, a line at a time, each cut to a bounded length
/// and with control characters escaped.
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
        let text = log_safe(text.trim_end_matches(['\n', '\r']), STDERR_LINE_LIMIT);
        tracing::info!(target: "airlock::exec", model = name, pid, "{text}");
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
    fn lines_answer_the_expected_request_by_id_or_break_the_protocol() {
        assert_eq!(
            parse_line(br#"{"id":3,"reply":"hi"}"#, 3),
            Line::Answer(Ok(Reply::text("hi")))
        );
        assert_eq!(parse_line(br#"{"id":2,"reply":"x"}"#, 3), Line::Other(2));
        assert_eq!(parse_line(br#"{"id":9,"reply":3}"#, 3), Line::Other(9));
        assert_eq!(
            parse_line(br#"{"id":0,"error":"overloaded"}"#, 0),
            Line::Answer(Err((ModelErrorKind::ServerError, "overloaded".into())))
        );
        assert_eq!(
            parse_line(br#"{"id":0,"error":"no","kind":"unsupported"}"#, 0),
            Line::Answer(Err((ModelErrorKind::Unsupported, "no".into())))
        );
        for bad in [
            &b"not json"[..],
            br#"[1]"#,
            br#"{"reply":"no id"}"#,
            br#"{"error":"no id"}"#,
            br#"{"id":3,"reply":3}"#,
            br#"{"id":3,"reply":"a","error":"b"}"#,
            br#"{"id":3}"#,
            br#"{"id":3,"error":"x","kind":"weird"}"#,
            br#"{"id":"3","reply":"x"}"#,
            br#"{"id":-1,"reply":"x"}"#,
            b"{\"id\":3,\"reply\":\"\xff\"}",
        ] {
            assert!(
                matches!(parse_line(bad, 3), Line::Malformed(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn version_2_answers_carry_tool_calls_usage_and_reasoning() {
        let line = br#"{"id":1,"tool_calls":[{"id":"k","type":"function","function":{"name":"bash","arguments":"{}"}},{"function":{"name":"submit","arguments":{"answer":"x"}}}],"usage":{"prompt_tokens":5,"completion_tokens":2},"reasoning":"r"}"#;
        let Line::Answer(Ok(reply)) = parse_line(line, 1) else {
            panic!("a version 2 answer")
        };
        assert_eq!(reply.text, "");
        assert_eq!(reply.reasoning, "r");
        assert_eq!(reply.tool_calls.len(), 2);
        // The session names id-less calls; the reader leaves them empty.
        assert_eq!(reply.tool_calls[1].id, "");
        assert_eq!(reply.tool_calls[1].arguments, r#"{"answer":"x"}"#);
        assert_eq!(
            reply.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((5, 2))
        );
        let with_null = br#"{"id":1,"reply":null,"tool_calls":[]}"#;
        assert!(matches!(parse_line(with_null, 1), Line::Answer(Ok(_))));
        for bad in [
            &br#"{"id":1,"tool_calls":{}}"#[..],
            br#"{"id":1,"tool_calls":[{"function":{}}]}"#,
            br#"{"id":1,"reply":"a","reasoning":3}"#,
            br#"{"id":1,"reply":null}"#,
        ] {
            assert!(
                matches!(parse_line(bad, 1), Line::Malformed(_)),
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
