//! A software TPM 2.0 (swtpm) for the station tests: started on free
//! loopback ports with its state in a temporary directory, driven with
//! tpm2-tools, and killed (its state removed) when dropped.

use core::time::Duration;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// The programs the TPM station and these tests use.
const TOOLS: [&str; 8] = [
    "swtpm",
    "tpm2_createek",
    "tpm2_createak",
    "tpm2_evictcontrol",
    "tpm2_readpublic",
    "tpm2_quote",
    "tpm2_flushcontext",
    "tpm2_pcrextend",
];

/// Whether swtpm and tpm2-tools are installed. Under `CI=true` their
/// absence fails the test (`.ci/run` installs them); elsewhere the test is
/// skipped with a message naming `what` goes unchecked.
pub fn tools_present(what: &str) -> bool {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|name| {
            !std::env::var_os("PATH").is_some_and(|paths| {
                std::env::split_paths(&paths).any(|dir| dir.join(name).is_file())
            })
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{missing:?} not installed, and CI=true: .ci/run must install Debian's swtpm, \
         swtpm-tools and tpm2-tools, or {what} is not checked"
    );
    eprintln!(
        "SKIPPED: {missing:?} not installed, so {what} is not checked (install Debian's swtpm, \
         swtpm-tools and tpm2-tools, as .ci/run does)"
    );
    false
}

/// A running swtpm.
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
    /// The TCTI that reaches it (`swtpm:host=127.0.0.1,port=P`).
    pub tcti: String,
    _state: tempfile::TempDir,
}

/// A port P such that P and P+1 are both free on loopback now.
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two adjacent free loopback ports");
}

impl Swtpm {
    /// Starts a fresh TPM (manufactured anew, started up) and waits until
    /// it listens. Ports are picked free and then given to swtpm, so a test
    /// running beside this one can take them in between: a swtpm that
    /// cannot bind exits, and is started again on other ports.
    pub fn start() -> Swtpm {
        for _ in 0..5 {
            if let Some(swtpm) = Swtpm::try_start() {
                return swtpm;
            }
        }
        panic!("swtpm exited at start five times (its ports were taken each time?)");
    }

    fn try_start() -> Option<Swtpm> {
        let state = tempfile::tempdir().unwrap();
        let port = free_port_pair();
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--tpmstate"])
            .arg(format!("dir={}", state.path().display()))
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
            .args(["--flags", "startup-clear"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut swtpm = Swtpm {
            child,
            tcti: format!("swtpm:host=127.0.0.1,port={port}"),
            _state: state,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if swtpm.child.try_wait().unwrap().is_some() {
                return None;
            }
            if TcpStream::connect(("127.0.0.1", port + 1)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "swtpm did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Listening, and still ours: a swtpm that lost its ports to another
        // process exits at once.
        std::thread::sleep(Duration::from_millis(50));
        swtpm.child.try_wait().unwrap().is_none().then_some(swtpm)
    }

    /// Extends SHA-256 PCR `pcr` with a digest of `byte`s, as a measured
    /// boot step would.
    pub fn pcr_extend(&self, pcr: u32, byte: u8) {
        let digest = airlock_core::hex::encode(&[byte; 32]);
        let out = Command::new("tpm2_pcrextend")
            .args(["-T", &self.tcti, &format!("{pcr}:sha256={digest}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "tpm2_pcrextend: {out:?}");
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
