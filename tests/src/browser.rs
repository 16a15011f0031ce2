//! A headless chromium driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: JSON messages ended by a NUL byte, read by
//! the browser on its fd 3, written on its fd 4), so a test can wait in
//! real time for what a page's scripts show.
//!
//! `--dump-dom` with `--virtual-time-budget` is not enough for a page that
//! fetches its data after it loads: virtual time runs ahead on the page's
//! timers while the fetch and the parsing take real time, so on a busy
//! machine the budget ran out with the Inspect viewer still "Loading log…"
//! even at 180 s of virtual time, in about a second of real time.

use core::time::Duration;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Instant;

use serde_json::{Value, json};

/// How long one DevTools command may take before the browser is taken for
/// hung.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// `chromium` headless, with its profile in `profile` (a fresh directory)
/// and without the first-run, sync and component-update work a test has no
/// use for; callers add the page and their own flags.
pub fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-sync",
            "--disable-component-update",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// A headless chromium with one page open, killed when dropped.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    to_browser: std::io::PipeWriter,
    from_browser: Receiver<Value>,
    session: String,
    next_id: u64,
}

impl Browser {
    /// Starts `chromium` with its profile in `profile` (a fresh directory)
    /// and opens `url` in a page.
    ///
    /// # Panics
    /// When the browser cannot be started or does not answer.
    pub fn open(chromium: &Path, profile: &Path, url: &str) -> Browser {
        let (ours_read, theirs_write) = std::io::pipe().expect("a pipe");
        let (theirs_read, ours_write) = std::io::pipe().expect("a pipe");
        let theirs_read = OwnedFd::from(theirs_read);
        let theirs_write = OwnedFd::from(theirs_write);
        let (read_fd, write_fd) = (theirs_read.as_raw_fd(), theirs_write.as_raw_fd());
        let mut command = headless(chromium, profile);
        command
            .args(["--window-size=1400,2000", "--remote-debugging-pipe"])
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec only dup2, which is
        // async-signal-safe, on descriptors this process keeps open until
        // the spawn returns; dup2 clears close-on-exec on the copies.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || {
                // Both moved clear of 3 and 4 first, so neither copy
                // overwrites the other's source.
                let read = libc::fcntl(read_fd, libc::F_DUPFD_CLOEXEC, 10);
                let write = libc::fcntl(write_fd, libc::F_DUPFD_CLOEXEC, 10);
                if read < 0 || write < 0 || libc::dup2(read, 3) < 0 || libc::dup2(write, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        drop((theirs_read, theirs_write));

        let (sender, from_browser) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = std::io::BufReader::new(ours_read);
            loop {
                let mut message = Vec::new();
                match std::io::BufRead::read_until(&mut reader, 0, &mut message) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                message.pop_if(|b| *b == 0);
                let Ok(value) = serde_json::from_slice::<Value>(&message) else {
                    continue;
                };
                if sender.send(value).is_err() {
                    return;
                }
            }
        });
        let mut browser = Browser {
            child,
            to_browser: ours_write,
            from_browser,
            session: String::new(),
            next_id: 0,
        };
        let target = browser.command("Target.createTarget", json!({ "url": url }), None);
        let target = target["targetId"]
            .as_str()
            .unwrap_or_else(|| panic!("no target id in {target}"))
            .to_owned();
        let attached = browser.command(
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
            None,
        );
        browser.session = attached["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {attached}"))
            .to_owned();
        browser
    }

    /// The page's DOM as HTML, as it is now.
    ///
    /// # Panics
    /// When the browser does not answer.
    pub fn dom(&mut self) -> String {
        let session = self.session.clone();
        let result = self.command(
            "Runtime.evaluate",
            json!({
                "expression": "document.documentElement.outerHTML",
                "returnByValue": true,
            }),
            Some(&session),
        );
        result["result"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Polls the page's DOM every quarter second until `shown` holds for it
    /// or `limit` passes, and returns the last DOM read either way (the
    /// caller's assertions then say what is missing).
    pub fn dom_when(&mut self, limit: Duration, shown: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let dom = self.dom();
            if shown(&dom) || Instant::now() >= deadline {
                return dom;
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    /// Sends one DevTools command and waits for its answer, skipping the
    /// events in between.
    fn command(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("JSON");
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("cannot send {method} to chromium: {e}"));
        let deadline = Instant::now() + COMMAND_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self
                .from_browser
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("chromium did not answer {method}: {e}"));
            if answer["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                panic!("chromium refused {method}: {error}");
            }
            return answer["result"].clone();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A polite close first, so the profile is not left locked, then
        // the kill for a browser that does not go.
        let mut close =
            serde_json::to_vec(&json!({ "id": 0, "method": "Browser.close" })).unwrap_or_default();
        close.push(0);
        let _ = self.to_browser.write_all(&close);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
