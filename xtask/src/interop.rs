//! `cargo xtask interop`: Airlock's `openai:` agent against a real
//! OpenAI-compatible server that nobody here wrote, Hugging Face
//! `transformers serve`, on this machine with nothing downloaded at run time.
//!
//! Opt-in (not part of `cargo xtask test` or CI): its Python environment is
//! about 5.6 GB, since the PyPI torch wheel brings CUDA libraries even where
//! only the CPU is used. The environment is made once in the target
//! directory from the pinned `tests/interop/requirements.txt` and reused
//! while that file is unchanged; the tiny model is built once by
//! `tests/interop/make_tiny_model.py` and reused while the script, its corpus
//! and the package versions are unchanged.
//!
//! Then `transformers serve` serves the model on 127.0.0.1 (with
//! `HF_HUB_OFFLINE=1` and an empty Hugging Face home), a recording proxy
//! (`tests/interop/recording_proxy.py`) sits between it and Airlock and
//! logs every exchange, and the default suite runs once per tool mode. Each
//! run's bundle must verify, and the log must show what the server was
//! sent and what it answered: every call answered 200; the task's system
//! prompt as the first, `system`, message; in native mode the task's tools
//! as `tools` and, after each tool call the server returned, one `tool`
//! message per call naming the call's id; in text mode no tools and no tool
//! messages; and the token totals of the bundle equal the sums of the
//! `usage` the server reported. The server and the proxy are stopped at the
//! end, also when a step fails.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{capture, cargo, setup, step, target_dir, workspace_root};

/// The model's directory name, and so the id the server lists it under:
/// the server runs in its parent directory and is given this relative path.
const MODEL_NAME: &str = "tiny-llama";

/// The run seed of both runs, so a second interop run sends the same requests.
const RUN_SEED: &str = "0000000000000000000000000000000000000000000000000000000000001616";

/// Most tokens a reply may have: the model's longest taught reply is about
/// 30 tokens, and a reply cut here still shows in the log.
const MAX_TOKENS: &str = "96";

/// How long the server may take to answer `/v1/models` after it starts.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(300);

/// What a tool mode run is called on the command line and in the figures.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub(crate) enum ToolMode {
    /// Tools offered through the server's function-calling API.
    Native,
    /// No tools; the tasks' text protocol.
    Text,
}

impl ToolMode {
    fn name(self) -> &'static str {
        match self {
            ToolMode::Native => "native",
            ToolMode::Text => "text",
        }
    }
}

/// Settings of `cargo xtask interop`.
pub(crate) struct InteropOptions {
    /// The tool modes to run, in order.
    pub modes: Vec<ToolMode>,
}

/// A child process that is ended when this is dropped, so that a failing
/// step never leaves a server behind.
struct Stopped {
    name: &'static str,
    child: Child,
}

impl Stopped {
    fn spawn(name: &'static str, command: &mut Command) -> Result<Stopped> {
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Stopped { name, child })
    }

    /// Fails when the process has already exited.
    fn still_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited early ({status})", self.name);
        }
        Ok(())
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        eprintln!("xtask: stopped {}", self.name);
    }
}

/// One exchange the recording proxy logged.
struct Exchange {
    path: String,
    request: Value,
    status: u64,
    response: Value,
    response_text: String,
    seconds: f64,
}

/// One task of the suite, as `airlock suite list --json` describes it.
struct SuiteTask {
    id: String,
    system_prompt: String,
    /// The tools as the request's `tools` must carry them.
    tools: Vec<Value>,
}

/// What one tool mode's run measured.
struct ModeFigures {
    mode: ToolMode,
    run_seconds: f64,
    calls: usize,
    mean_call_ms: f64,
    max_call_ms: f64,
    tool_calls_returned: usize,
    /// Calls that offered tools, and of them those answered with tool calls.
    calls_with_tools: usize,
    answered_with_calls: usize,
    tool_calls_without_content_key: usize,
    tool_messages_sent: usize,
    prompt_tokens: u64,
    completion_tokens: u64,
    results: usize,
    outcomes: BTreeMap<String, u64>,
}

pub(crate) fn interop(options: &InteropOptions) -> Result<()> {
    if options.modes.is_empty() {
        bail!("give at least one --tool-mode");
    }
    setup()?;
    step(
        "build release airlock",
        cargo().args(["build", "--release", "-p", "airlock"]),
    )?;
    let target = target_dir()?;
    let airlock = target
        .join("release")
        .join(format!("airlock{}", std::env::consts::EXE_SUFFIX));
    let scripts = workspace_root().join("tests").join("interop");

    let (python, installed) = venv(&target.join("interop-venv"), &scripts)?;
    let work = target.join("interop");
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let model = build_model(&python, &scripts, &work)?;

    // A fresh directory for this run's keys, bundles and logs; the model
    // and the empty Hugging Face home beside it stay.
    let runs = work.join("runs");
    if runs.exists() {
        fs::remove_dir_all(&runs).with_context(|| format!("removing {}", runs.display()))?;
    }
    fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
    let keys = runs.join("keys");
    capture(Command::new(&airlock).arg("keygen").arg("--out").arg(&keys))
        .context("airlock keygen")?;
    let suite = suite_tasks(&airlock)?;

    let (server, server_port, server_seconds) = start_server(&python, &work, &runs)?;
    let mut figures = Vec::new();
    for mode in &options.modes {
        figures.push(run_mode(
            *mode,
            &airlock,
            &python,
            &scripts,
            &runs,
            &keys,
            server_port,
            &suite,
        )?);
    }
    drop(server);

    print_figures(installed, &model, server_seconds, &figures);
    let written = json!({
        "pip_install_seconds": match installed {
            Installed::Now(s) | Installed::Reused(Some(s)) => Some(s),
            Installed::Reused(None) => None,
        },
        "venv_reused": matches!(installed, Installed::Reused(_)),
        "model": model,
        "server_start_seconds": server_seconds,
        "modes": figures.iter().map(|f| json!({
            "tool_mode": f.mode.name(),
            "run_seconds": f.run_seconds,
            "calls": f.calls,
            "mean_call_ms": f.mean_call_ms,
            "max_call_ms": f.max_call_ms,
            "tool_calls_returned": f.tool_calls_returned,
            "calls_with_tools": f.calls_with_tools,
            "answered_with_tool_calls": f.answered_with_calls,
            "tool_calls_without_content_key": f.tool_calls_without_content_key,
            "tool_messages_sent": f.tool_messages_sent,
            "prompt_tokens": f.prompt_tokens,
            "completion_tokens": f.completion_tokens,
            "results": f.results,
            "outcomes": f.outcomes,
        })).collect::<Vec<_>>(),
    });
    let path = runs.join("figures.json");
    fs::write(&path, format!("{written:#}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: interop passed; figures in {}", path.display());
    Ok(())
}

/// How the interop environment came to be there.
#[derive(Clone, Copy)]
enum Installed {
    /// pip installed it now, in this many seconds.
    Now(f64),
    /// It was there; its first install took this long, when known.
    Reused(Option<f64>),
}

/// The python of the interop environment, made when missing or when
/// `requirements.txt` changed since it was made, and how it came to be there.
fn venv(venv: &Path, scripts: &Path) -> Result<(PathBuf, Installed)> {
    let requirements = scripts.join("requirements.txt");
    let wanted =
        fs::read(&requirements).with_context(|| format!("reading {}", requirements.display()))?;
    let python = venv.join("bin").join("python");
    let stamp = venv.join("airlock-requirements.txt");
    let timing = venv.join("airlock-pip-seconds");
    if python.is_file() && fs::read(&stamp).is_ok_and(|made| made == wanted) {
        let first = fs::read_to_string(&timing)
            .ok()
            .and_then(|text| text.trim().parse::<f64>().ok());
        eprintln!(
            "xtask: interop python environment ready ({})",
            venv.display()
        );
        return Ok((python, Installed::Reused(first)));
    }
    step(
        "make the interop python virtual environment",
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(venv),
    )
    .context(
        "python3 -m venv failed: install python3 and its venv module (Debian: python3-venv)",
    )?;
    let started = Instant::now();
    step(
        "pip install the pinned interop requirements (torch, transformers[serving], tokenizers: several GB)",
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    capture(Command::new(&python).args([
        "-c",
        "import torch, tokenizers, transformers, fastapi, uvicorn; print(transformers.__version__)",
    ]))
    .context("the interop packages do not import after installing them")?;
    eprintln!("xtask: pip install took {seconds:.1} s");
    fs::write(&timing, format!("{seconds:.1}\n"))
        .with_context(|| format!("writing {}", timing.display()))?;
    // Written last: an install that stopped half way is made again.
    fs::write(&stamp, &wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok((python, Installed::Now(seconds)))
}

/// Builds (or reuses) the tiny model in `work/MODEL_NAME`; returns what the
/// script reported.
fn build_model(python: &Path, scripts: &Path, work: &Path) -> Result<Value> {
    eprintln!("xtask: ==> build the tiny model (or reuse it)");
    let out = capture(
        Command::new(python)
            .arg(scripts.join("make_tiny_model.py"))
            .arg("--out")
            .arg(work.join(MODEL_NAME))
            .arg("--corpus")
            .arg(scripts.join("corpus.txt"))
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_HOME", work.join("hf-home")),
    )
    .context("make_tiny_model.py failed")?;
    let figures: Value = out
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .with_context(|| format!("make_tiny_model.py printed no JSON figures: {out}"))?;
    Ok(figures)
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Starts `transformers serve` on the tiny model, as a new user would run
/// it, and waits until it lists the model. Returns the server, its port
/// and the seconds it took to answer.
fn start_server(python: &Path, work: &Path, runs: &Path) -> Result<(Stopped, u16, f64)> {
    let port = free_port()?;
    let transformers = python.with_file_name("transformers");
    let log = runs.join("server.log");
    let log_file = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let hf_home = work.join("hf-home");
    fs::create_dir_all(&hf_home).with_context(|| format!("creating {}", hf_home.display()))?;
    eprintln!(
        "xtask: ==> transformers serve {MODEL_NAME} on 127.0.0.1:{port} (log: {})",
        log.display()
    );
    let started = Instant::now();
    let mut server = Stopped::spawn(
        "transformers serve",
        Command::new(&transformers)
            .args(["serve", MODEL_NAME, "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--device", "cpu", "--log-level", "info"])
            .current_dir(work)
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_HOME", &hf_home)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file),
    )?;
    loop {
        server
            .still_running()
            .with_context(|| format!("see {}", log.display()))?;
        if let Ok((200, body)) = http_get(port, "/v1/models") {
            let listed: Value = serde_json::from_str(&body)
                .with_context(|| format!("/v1/models answered no JSON: {body}"))?;
            let ids: Vec<&str> = listed["data"]
                .as_array()
                .map(|models| models.iter().filter_map(|m| m["id"].as_str()).collect())
                .unwrap_or_default();
            if ids != [MODEL_NAME] {
                bail!("transformers serve lists {ids:?}, not only {MODEL_NAME:?}: {body}");
            }
            break;
        }
        if started.elapsed() > SERVER_START_TIMEOUT {
            bail!(
                "transformers serve did not answer /v1/models within {:?}; see {}",
                SERVER_START_TIMEOUT,
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("xtask: transformers serve answers after {seconds:.1} s");
    Ok((server, port, seconds))
}

/// A plain HTTP/1.1 GET on 127.0.0.1: the status and the body.
fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    use std::io::Write;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no HTTP status line")?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Starts the recording proxy in front of the server; returns it and its port.
fn start_proxy(
    python: &Path,
    scripts: &Path,
    server_port: u16,
    log: &Path,
) -> Result<(Stopped, u16)> {
    let mut proxy = Stopped::spawn(
        "the recording proxy",
        Command::new(python)
            .arg(scripts.join("recording_proxy.py"))
            .arg("--upstream")
            .arg(format!("127.0.0.1:{server_port}"))
            .arg("--log")
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    )?;
    let stdout: ChildStdout = proxy
        .child
        .stdout
        .take()
        .context("the proxy's stdout is not piped")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the proxy's port")?;
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|port| port.parse().ok())
        .with_context(|| format!("the proxy said {line:?}, not \"listening on PORT\""))?;
    Ok((proxy, port))
}

/// The default suite's tasks with their system prompts and tools.
fn suite_tasks(airlock: &Path) -> Result<Vec<SuiteTask>> {
    let listed: Value = serde_json::from_str(
        &capture(Command::new(airlock).args(["suite", "list", "--json"]))
            .context("airlock suite list --json")?,
    )
    .context("parsing airlock suite list --json")?;
    let Some(tasks) = listed.as_array() else {
        bail!("airlock suite list --json printed no array");
    };
    tasks
        .iter()
        .map(|task| {
            let id = task["id"]
                .as_str()
                .context("a task without an id")?
                .to_owned();
            let system_prompt = task["system_prompt"]
                .as_str()
                .with_context(|| format!("task {id}: no system_prompt in suite list --json"))?
                .to_owned();
            let tools = task["tools"]
                .as_array()
                .with_context(|| format!("task {id}: no tools in suite list --json"))?
                .iter()
                .map(|tool| json!({"type": "function", "function": tool}))
                .collect();
            Ok(SuiteTask {
                id,
                system_prompt,
                tools,
            })
        })
        .collect()
}

/// One run of the default suite in `mode` through the proxy, its bundle
/// verified and its requests checked.
#[allow(clippy::too_many_arguments)]
fn run_mode(
    mode: ToolMode,
    airlock: &Path,
    python: &Path,
    scripts: &Path,
    runs: &Path,
    keys: &Path,
    server_port: u16,
    suite: &[SuiteTask],
) -> Result<ModeFigures> {
    let name = mode.name();
    let log = runs.join(format!("{name}.requests.jsonl"));
    let (proxy, proxy_port) = start_proxy(python, scripts, server_port, &log)?;
    let bundle = runs.join(format!("{name}.bundle"));
    let started = Instant::now();
    step(
        &format!("airlock run: the default suite against transformers serve, --tool-mode {name}"),
        Command::new(airlock)
            .args(["run", "--suite", "default", "--profile", "default"])
            .arg("--agent")
            .arg(format!("openai:http://127.0.0.1:{proxy_port}"))
            .args(["--model", MODEL_NAME, "--tool-mode", name])
            .args(["--max-tokens", MAX_TOKENS, "--model-seed", "16"])
            .args(["--seed", RUN_SEED])
            .arg("--key")
            .arg(keys.join("evaluator.key"))
            .arg("--out")
            .arg(&bundle)
            .stdout(Stdio::null()),
    )?;
    let run_seconds = started.elapsed().as_secs_f64();
    drop(proxy);
    let public = keys.join("evaluator.pub");
    step(
        &format!("airlock verify the {name} bundle"),
        Command::new(airlock)
            .arg("verify")
            .arg(&bundle)
            .arg("--trust")
            .arg(&public),
    )?;
    let report: Value = serde_json::from_str(
        &capture(
            Command::new(airlock)
                .arg("report")
                .arg(&bundle)
                .arg("--trust")
                .arg(&public)
                .args(["--format", "json"]),
        )
        .context("airlock report --format json")?,
    )
    .context("parsing the report")?;
    if report["verified"] != true {
        bail!(
            "the {name} bundle's report is not verified: {}",
            report["unverified_reason"]
        );
    }
    let exchanges = read_log(&log)?;
    let mut figures = check_exchanges(mode, &exchanges, suite, &report).with_context(|| {
        format!(
            "checking what transformers serve was sent ({})",
            log.display()
        )
    })?;
    figures.run_seconds = run_seconds;
    Ok(figures)
}

fn read_log(log: &Path) -> Result<Vec<Exchange>> {
    let text = fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let entry: Value = serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not JSON", log.display(), i + 1))?;
            Ok(Exchange {
                path: entry["path"].as_str().unwrap_or_default().to_owned(),
                request: entry["request"].clone(),
                status: entry["status"].as_u64().unwrap_or(0),
                response: entry["response"].clone(),
                response_text: entry["response_text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                seconds: entry["seconds"].as_f64().unwrap_or(0.0),
            })
        })
        .collect()
}

/// The first characters of a text, for error messages.
fn excerpt(text: &str) -> String {
    text.chars().take(400).collect()
}

/// Checks one run's exchanges against the suite and the bundle's report,
/// and measures them.
fn check_exchanges(
    mode: ToolMode,
    exchanges: &[Exchange],
    suite: &[SuiteTask],
    report: &Value,
) -> Result<ModeFigures> {
    let chats: Vec<&Exchange> = exchanges
        .iter()
        .filter(|e| e.path == "/v1/chat/completions")
        .collect();
    if chats.is_empty() {
        bail!("no chat completion reached the server");
    }
    for (i, chat) in chats.iter().enumerate() {
        if chat.status != 200 {
            bail!(
                "call {i} was refused with HTTP {}: {} {}",
                chat.status,
                excerpt(&chat.response.to_string()),
                excerpt(&chat.response_text)
            );
        }
    }

    // Every call id the server issued, with the call it named, in order.
    let mut issued: BTreeMap<String, Value> = BTreeMap::new();
    let mut tool_calls_returned = 0;
    let mut calls_with_tools = 0;
    let mut answered_with_calls = 0;
    let mut tool_calls_without_content_key = 0;
    let mut prompt_tokens = 0u64;
    let mut completion_tokens = 0u64;
    let mut answered: BTreeSet<&str> = BTreeSet::new();
    let mut tasks_seen: BTreeSet<&str> = BTreeSet::new();
    for (i, chat) in chats.iter().enumerate() {
        let request = &chat.request;
        let Some(messages) = request["messages"].as_array() else {
            bail!("call {i}: the request has no messages");
        };
        // Which task asked: one whose system prompt is the first message,
        // or, when there is no system message, one that declares none.
        let Some(first) = messages.first() else {
            bail!("call {i}: the request has no messages");
        };
        let prompt = if first["role"] == "system" {
            first["content"].as_str().unwrap_or_default()
        } else {
            ""
        };
        let candidates: Vec<&SuiteTask> =
            suite.iter().filter(|t| t.system_prompt == prompt).collect();
        if candidates.is_empty() {
            bail!(
                "call {i}: the first message carries no task's system prompt: {}",
                excerpt(&first.to_string())
            );
        }
        let sent = request["tools"].as_array().cloned().unwrap_or_default();
        if request.get("tools").is_some() && sent.is_empty() {
            bail!("call {i}: \"tools\" is there but lists no tool (strict servers refuse that)");
        }
        let Some(task) = candidates.iter().find(|t| match mode {
            ToolMode::Native => t.tools == sent,
            ToolMode::Text => sent.is_empty(),
        }) else {
            bail!(
                "call {i} ({} mode): the tools sent are not those of the task whose system \
                 prompt it carries ({}): {}",
                mode.name(),
                candidates
                    .iter()
                    .map(|t| t.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                excerpt(&request["tools"].to_string())
            );
        };
        tasks_seen.insert(task.id.as_str());
        // After each assistant message with tool calls, one tool message per
        // call, in order, naming a call the server issued.
        for (at, message) in messages.iter().enumerate() {
            if let Some(calls) = message["tool_calls"].as_array() {
                if mode == ToolMode::Text {
                    bail!("call {i}: a text mode request carries tool calls: {message}");
                }
                for (k, call) in calls.iter().enumerate() {
                    let id = call["id"].as_str().unwrap_or_default();
                    let Some(original) = issued.get(id) else {
                        bail!(
                            "call {i}: the request names tool call {id:?}, which the server never issued"
                        );
                    };
                    if call["function"] != original["function"] {
                        bail!(
                            "call {i}: tool call {id} is sent back as {}, the server issued {}",
                            call["function"],
                            original["function"]
                        );
                    }
                    let result = messages.get(at + 1 + k);
                    let Some(result) = result.filter(|r| r["role"] == "tool") else {
                        bail!("call {i}: tool call {id} is not followed by its tool message");
                    };
                    if result["tool_call_id"] != id || !result["content"].is_string() {
                        bail!("call {i}: the tool message after call {id} is {result}");
                    }
                }
            }
            if message["role"] == "tool" {
                if mode == ToolMode::Text {
                    bail!("call {i}: a text mode request carries a tool message: {message}");
                }
                // A conversation sends its history again with every call:
                // each result counts once.
                answered.insert(message["tool_call_id"].as_str().unwrap_or_default());
            }
        }

        let response = &chat.response;
        let message = &response["choices"][0]["message"];
        if !sent.is_empty() {
            calls_with_tools += 1;
            answered_with_calls += usize::from(message["tool_calls"].is_array());
        }
        if let Some(calls) = message["tool_calls"].as_array() {
            if mode == ToolMode::Text {
                bail!("call {i}: the server returned tool calls in text mode: {message}");
            }
            for call in calls {
                let Some(id) = call["id"].as_str() else {
                    bail!("call {i}: a returned tool call has no id: {call}");
                };
                issued.insert(id.to_owned(), call.clone());
                tool_calls_returned += 1;
            }
            if message.get("content").is_none() {
                tool_calls_without_content_key += 1;
            }
        }
        let usage = &response["usage"];
        let (Some(prompt_used), Some(completion_used)) = (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64(),
        ) else {
            bail!(
                "call {i}: the server reported no usage: {}",
                excerpt(&response.to_string())
            );
        };
        prompt_tokens += prompt_used;
        completion_tokens += completion_used;
    }
    // Tasks that share a system prompt and tools cannot be told apart:
    // each such set must have been seen once.
    for task in suite {
        let seen = suite.iter().any(|other| {
            tasks_seen.contains(other.id.as_str())
                && other.system_prompt == task.system_prompt
                && (mode == ToolMode::Text || other.tools == task.tools)
        });
        if !seen {
            if task.system_prompt.is_empty() {
                bail!(
                    "no call came from task {} (its tools, and no system prompt)",
                    task.id
                );
            }
            bail!(
                "no call came from task {}: none carried its system prompt{}",
                task.id,
                if mode == ToolMode::Native {
                    " and tools"
                } else {
                    ""
                }
            );
        }
    }
    if !suite.iter().any(|t| !t.system_prompt.is_empty()) {
        bail!("no task of the suite declares a system prompt, so none could be checked");
    }
    let tool_messages_sent = answered.len();
    if mode == ToolMode::Native {
        if tool_calls_returned == 0 {
            bail!("the server returned no tool call in native mode");
        }
        if tool_messages_sent == 0 {
            bail!("no tool result was sent back in native mode");
        }
    }

    let (bundle_prompt, bundle_completion, calls_without_usage) = bundle_tokens(report)?;
    if calls_without_usage != 0 {
        bail!(
            "the bundle counts {calls_without_usage} calls without usage; the server reported usage on every call"
        );
    }
    if (bundle_prompt, bundle_completion) != (prompt_tokens, completion_tokens) {
        bail!(
            "the bundle's token totals (prompt {bundle_prompt}, completion {bundle_completion}) \
             are not the server's (prompt {prompt_tokens}, completion {completion_tokens})"
        );
    }
    let results = report["results"].as_array().map_or(0, Vec::len);
    let turns: u64 = report["results"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["turns"].as_u64()).sum())
        .unwrap_or(0);
    if turns != chats.len() as u64 {
        bail!(
            "the bundle's results took {turns} turns, but {} calls reached the server",
            chats.len()
        );
    }
    let outcomes = report["outcomes"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default();
    let latencies: Vec<f64> = chats.iter().map(|c| c.seconds * 1000.0).collect();
    Ok(ModeFigures {
        mode,
        run_seconds: 0.0,
        calls: chats.len(),
        mean_call_ms: latencies.iter().sum::<f64>() / latencies.len() as f64,
        max_call_ms: latencies.iter().copied().fold(0.0, f64::max),
        tool_calls_returned,
        calls_with_tools,
        answered_with_calls,
        tool_calls_without_content_key,
        tool_messages_sent,
        prompt_tokens,
        completion_tokens,
        results,
        outcomes,
    })
}

/// The bundle's token totals over its results: prompt, completion, and
/// calls without usage; the report's overall totals must say the same.
fn bundle_tokens(report: &Value) -> Result<(u64, u64, u64)> {
    let Some(results) = report["results"].as_array() else {
        bail!("the report has no results");
    };
    let mut totals = (0, 0, 0);
    for result in results {
        let (Some(prompt), Some(completion), Some(without)) = (
            result["prompt_tokens"].as_u64(),
            result["completion_tokens"].as_u64(),
            result["calls_without_usage"].as_u64(),
        ) else {
            bail!(
                "a result of the report has no token counts: {}",
                excerpt(&result.to_string())
            );
        };
        totals.0 += prompt;
        totals.1 += completion;
        totals.2 += without;
    }
    let overall = &report["tokens"]["overall"];
    let reported = (
        overall["prompt_tokens"].as_u64(),
        overall["completion_tokens"].as_u64(),
        overall["calls_without_usage"].as_u64(),
    );
    if reported != (Some(totals.0), Some(totals.1), Some(totals.2)) {
        bail!(
            "the report's overall tokens ({}) are not the sums of its results' ({totals:?})",
            excerpt(&overall.to_string())
        );
    }
    Ok(totals)
}

fn print_figures(installed: Installed, model: &Value, server_seconds: f64, modes: &[ModeFigures]) {
    println!("interop with transformers serve ({MODEL_NAME})");
    match installed {
        Installed::Now(s) => println!("  pip install (first time)    {s:.1} s"),
        Installed::Reused(Some(s)) => {
            println!("  pip install                 reused environment (first install {s:.1} s)");
        }
        Installed::Reused(None) => println!("  pip install                 reused environment"),
    }
    let reused = if model["reused"] == true {
        ", reused"
    } else {
        ""
    };
    println!(
        "  model build                 {} s ({} training steps, {} parameters, vocabulary {}{reused})",
        model["seconds"], model["steps"], model["parameters"], model["vocab_size"]
    );
    println!("  server start                {server_seconds:.1} s");
    for f in modes {
        println!("  --tool-mode {}:", f.mode.name());
        println!(
            "    run                       {:.1} s, {} results",
            f.run_seconds, f.results
        );
        println!(
            "    calls                     {} (mean {:.1} ms, max {:.1} ms)",
            f.calls, f.mean_call_ms, f.max_call_ms
        );
        println!(
            "    tool calls                {} returned ({} without a content key) to {} of the {} calls that offered tools; {} tool results sent",
            f.tool_calls_returned,
            f.tool_calls_without_content_key,
            f.answered_with_calls,
            f.calls_with_tools,
            f.tool_messages_sent
        );
        println!(
            "    tokens (server = bundle)  prompt {}, completion {}",
            f.prompt_tokens, f.completion_tokens
        );
        let outcomes: Vec<String> = f.outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("    outcomes                  {}", outcomes.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> SuiteTask {
        SuiteTask {
            id: "t".into(),
            system_prompt: "be brief".into(),
            tools: vec![json!({"type": "function", "function": {"name": "bash"}})],
        }
    }

    fn chat(request: Value, response: Value) -> Exchange {
        Exchange {
            path: "/v1/chat/completions".into(),
            request,
            status: 200,
            response,
            response_text: String::new(),
            seconds: 0.5,
        }
    }

    /// A task's two calls in native mode: a tool call, then its result.
    fn native_run() -> Vec<Exchange> {
        let tools = task().tools;
        let system = json!({"role": "system", "content": "be brief"});
        let user = json!({"role": "user", "content": "go"});
        let call = json!({"id": "r1_tool_call_0", "type": "function",
                          "function": {"name": "bash", "arguments": "{}"}});
        vec![
            chat(
                json!({"messages": [system, user], "tools": tools}),
                json!({"choices": [{"message": {"content": "", "tool_calls": [call]}}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 3}}),
            ),
            chat(
                json!({"messages": [system, user,
                                    {"role": "assistant", "tool_calls": [call]},
                                    {"role": "tool", "tool_call_id": "r1_tool_call_0", "content": "ok"}],
                       "tools": tools}),
                json!({"choices": [{"message": {"content": "done"}}],
                       "usage": {"prompt_tokens": 20, "completion_tokens": 2}}),
            ),
        ]
    }

    fn report(prompt: u64, completion: u64) -> Value {
        let tokens = json!({"prompt_tokens": prompt, "completion_tokens": completion,
                            "calls_without_usage": 0});
        let mut result = tokens.clone();
        result["turns"] = json!(2);
        json!({"results": [result], "tokens": {"overall": tokens}, "outcomes": {"done": 1}})
    }

    fn failure(mode: ToolMode, exchanges: &[Exchange], report: &Value) -> String {
        check_exchanges(mode, exchanges, &[task()], report)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_native_run_that_answers_its_calls_passes() {
        let figures =
            check_exchanges(ToolMode::Native, &native_run(), &[task()], &report(30, 5)).unwrap();
        assert_eq!(
            (
                figures.calls,
                figures.tool_calls_returned,
                figures.tool_messages_sent
            ),
            (2, 1, 1)
        );
        assert_eq!((figures.prompt_tokens, figures.completion_tokens), (30, 5));
    }

    #[test]
    fn each_departure_from_what_the_server_expects_fails() {
        let fails = |exchanges: &[Exchange], report: &Value, why: &str| {
            let error = failure(ToolMode::Native, exchanges, report);
            assert!(error.contains(why), "expected {why:?}, got {error:?}");
        };
        fails(&native_run(), &report(31, 5), "token totals");
        let mut summed = report(30, 5);
        summed["tokens"]["overall"]["completion_tokens"] = json!(6);
        fails(&native_run(), &summed, "overall tokens");
        let mut unknown = native_run();
        unknown[1].request["messages"][3]["tool_call_id"] = json!("other");
        fails(&unknown, &report(30, 5), "the tool message after call");
        let mut forged = native_run();
        forged[1].request["messages"][2]["tool_calls"][0]["id"] = json!("never");
        fails(&forged, &report(30, 5), "never issued");
        let mut empty = native_run();
        empty[0].request["tools"] = json!([]);
        fails(&empty, &report(30, 5), "lists no tool");
        let mut other = native_run();
        other[0].request["tools"] = json!([{"type": "function", "function": {"name": "sh"}}]);
        fails(&other, &report(30, 5), "not those of the task");
        let mut no_system = native_run();
        no_system[0].request["messages"][0] = json!({"role": "user", "content": "x"});
        fails(&no_system, &report(30, 5), "no task's system prompt");
        let mut refused = native_run();
        refused[0].status = 400;
        fails(&refused, &report(30, 5), "HTTP 400");
        let mut turns = report(30, 5);
        turns["results"][0]["turns"] = json!(3);
        fails(&native_run(), &turns, "3 turns");
        // The same run in text mode offered tools it must not have.
        let error = failure(ToolMode::Text, &native_run(), &report(30, 5));
        assert!(error.contains("tools sent"), "{error}");
    }
}
