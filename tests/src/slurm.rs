//! A one-node Slurm cluster in a temporary directory, for the end-to-end
//! tests of `airlock slurm` and of campaigns sharded over Slurm.
//!
//! Everything the cluster owns lives under its directory: a munge key and a
//! munged with its own socket, a generated `slurm.conf` (free loopback ports
//! and a unique cluster name, so that two clusters, or a system one, never
//! collide), the controller's state, slurmd's spool, pid and log files.
//! Slurm's client commands reach it through `SLURM_CONF`; [`Cluster::env`]
//! and [`Cluster::command`] give that environment. Dropping the cluster
//! cancels its jobs, stops slurmd, slurmctld and munged (by their pid
//! files, waiting for each to exit) and removes the directory.
//!
//! The daemons run as root, like CI. `.ci/run` installs Debian's `slurm-wlm`
//! and `munge`; under `CI=true` missing binaries fail the test, elsewhere
//! it is skipped with a message (as the browser tests treat chromium).

use core::fmt::Write as _;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::ffi::{OsStr, OsString};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Instant;

use crate::{Finished, finish_within};

/// The programs the cluster needs, each looked up on `PATH` (and in the
/// sbin directories, where Debian puts the daemons).
const PROGRAMS: [&str; 9] = [
    "munged",
    "slurmctld",
    "slurmd",
    "sinfo",
    "sbatch",
    "squeue",
    "scancel",
    "sacct",
    "scontrol",
];

/// How long the node may take to show up idle in `sinfo`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a daemon may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A short Slurm command (sinfo, squeue, ...) never takes longer than this.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Clusters started by this process so far, for unique names.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A running one-node Slurm cluster; stops when dropped.
#[derive(Debug)]
pub struct Cluster {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    conf: PathBuf,
    name: String,
    node: String,
    cpus: u32,
}

/// Where `program` is, on `PATH` or in the usual sbin directories.
fn find_program(program: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// A loopback TCP port that nothing listens on right now.
fn free_port() -> u16 {
    // Slurm's daemons listen on every address, so the port is probed there.
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind a free port");
    listener.local_addr().expect("a bound address").port()
}

/// The last lines of a log file, or why there are none.
fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// The short host name, which slurmd takes as its node name.
fn short_hostname() -> String {
    let done = finish_within(Command::new("hostname").arg("-s"), CLIENT_TIMEOUT);
    assert!(done.status.success(), "hostname -s failed: {done}");
    let name = done.stdout.trim().to_owned();
    assert!(!name.is_empty(), "hostname -s printed nothing");
    name
}

/// This machine's memory in MiB, from /proc/meminfo.
fn memory_mib() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    let kib = text
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("a MemTotal line in /proc/meminfo");
    kib / 1024
}

/// Whether the process of `pid` still exists (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: `Z` is a zombie.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Sends `signal` (a name such as TERM) to `pid` with kill(1).
fn signal(pid: u32, signal: &str) {
    let _ = finish_within(
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string()),
        CLIENT_TIMEOUT,
    );
}

/// Stops the daemon whose pid file is `pid_file`: SIGTERM, a bounded wait,
/// then SIGKILL. A missing or unreadable pid file means it never started.
fn stop_daemon(pid_file: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
    else {
        return;
    };
    if !alive(pid) {
        return;
    }
    signal(pid, "TERM");
    let deadline = Instant::now() + STOP_TIMEOUT;
    while alive(pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        eprintln!(
            "slurm test cluster: {} (pid {pid}) ignored SIGTERM for {STOP_TIMEOUT:?}; killing it",
            pid_file.display()
        );
        signal(pid, "KILL");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while alive(pid) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Cluster {
    /// Starts a cluster and waits until its node is idle.
    ///
    /// Returns `None`, after saying so on stderr, when Slurm or munge is not
    /// installed and `CI` is not `true`.
    ///
    /// # Panics
    /// When the programs are missing under `CI=true`, or a daemon does not
    /// start, or the node is not idle within a minute: the message carries
    /// the daemons' log tails.
    pub fn start() -> Option<Cluster> {
        let missing: Vec<&str> = PROGRAMS
            .iter()
            .copied()
            .filter(|program| find_program(program).is_none())
            .collect();
        if !missing.is_empty() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the Slurm tests need {} and CI=true: .ci/run must install Debian's slurm-wlm \
                 and munge (apt-get install slurm-wlm munge)",
                missing.join(", ")
            );
            eprintln!(
                "SKIPPED: {} not installed, so campaigns are not run on Slurm (install Debian's \
                 slurm-wlm and munge, as .ci/run does)",
                missing.join(", ")
            );
            return None;
        }
        Some(Cluster::start_installed())
    }

    fn start_installed() -> Cluster {
        // Short prefix: munge's socket path must fit in sockaddr_un.
        let dir = tempfile::Builder::new()
            .prefix("slurm")
            .tempdir()
            .expect("make the cluster directory");
        let root = dir.path().to_owned();
        let number = STARTED.fetch_add(1, Ordering::Relaxed);
        // Slurm wants cluster names lower case and short.
        let name = format!("al{}n{number}", std::process::id());
        let node = short_hostname();
        let cpus = u32::try_from(thread::available_parallelism().map_or(1, usize::from))
            .unwrap_or(u32::MAX);
        let memory = memory_mib();
        let user = {
            let done = finish_within(Command::new("id").arg("-un"), CLIENT_TIMEOUT);
            assert!(done.status.success(), "id -un failed: {done}");
            done.stdout.trim().to_owned()
        };

        let key = root.join("munge.key");
        let mut key_bytes = [0_u8; 1024];
        getrandom_bytes(&mut key_bytes);
        std::fs::write(&key, key_bytes).expect("write the munge key");
        set_mode(&key, 0o400);
        let munge = finish_within(
            Command::new(find_program("munged").expect("munged"))
                .arg(format!("--key-file={}", key.display()))
                .arg(format!("--socket={}", root.join("munge.socket").display()))
                .arg(format!("--pid-file={}", root.join("munged.pid").display()))
                .arg(format!("--log-file={}", root.join("munged.log").display()))
                .arg(format!("--seed-file={}", root.join("munge.seed").display()))
                .arg("--force"),
            CLIENT_TIMEOUT,
        );
        let cluster = Cluster {
            dir: Some(dir),
            conf: root.join("slurm.conf"),
            root,
            name,
            node,
            cpus,
        };
        if !munge.status.success() {
            let logs = cluster.log_tails();
            panic!("munged did not start: {munge}\n{logs}");
        }
        for sub in ["state", "spool"] {
            std::fs::create_dir_all(cluster.root.join(sub)).expect("make a cluster directory");
        }
        std::fs::write(&cluster.conf, cluster.config(&user, memory)).expect("write slurm.conf");
        for daemon in ["slurmctld", "slurmd"] {
            let done = finish_within(
                Command::new(find_program(daemon).expect("a slurm daemon"))
                    .arg("-f")
                    .arg(&cluster.conf)
                    .envs(cluster.env()),
                CLIENT_TIMEOUT,
            );
            if !done.status.success() {
                let logs = cluster.log_tails();
                panic!("{daemon} did not start: {done}\n{logs}");
            }
        }
        cluster.wait_idle();
        cluster
    }

    /// The generated slurm.conf.
    fn config(&self, user: &str, memory_mib: u64) -> String {
        let root = &self.root;
        let path = |name: &str| root.join(name).display().to_string();
        let mut text = String::new();
        let mut line = |l: String| {
            let _ = writeln!(text, "{l}");
        };
        line(format!("ClusterName={}", self.name));
        line(format!("SlurmctldHost={}(127.0.0.1)", self.node));
        line(format!("SlurmctldPort={}", free_port()));
        line(format!("SlurmdPort={}", free_port()));
        line("AuthType=auth/munge".to_owned());
        line(format!("AuthInfo=socket={}", path("munge.socket")));
        line("CredType=cred/munge".to_owned());
        line(format!("StateSaveLocation={}", path("state")));
        line(format!("SlurmdSpoolDir={}", path("spool")));
        line(format!("SlurmctldPidFile={}", path("slurmctld.pid")));
        line(format!("SlurmdPidFile={}", path("slurmd.pid")));
        line(format!("SlurmctldLogFile={}", path("slurmctld.log")));
        line(format!("SlurmdLogFile={}", path("slurmd.log")));
        line("ProctrackType=proctrack/linuxproc".to_owned());
        line("TaskPlugin=task/none".to_owned());
        line("SelectType=select/cons_tres".to_owned());
        line("SelectTypeParameters=CR_Core".to_owned());
        line(format!("SlurmUser={user}"));
        line("ReturnToService=2".to_owned());
        line("MpiDefault=none".to_owned());
        line("JobAcctGatherType=jobacct_gather/none".to_owned());
        line("AccountingStorageType=accounting_storage/none".to_owned());
        // Finished jobs stay visible to squeue (and scontrol) this long: the
        // status of a shard that failed is read there without accounting.
        line("MinJobAge=600".to_owned());
        // Jobs start as soon as they are submitted or a slot frees.
        line("SchedulerParameters=sched_interval=1".to_owned());
        line(format!(
            "NodeName={} NodeAddr=127.0.0.1 CPUs={} RealMemory={memory_mib} State=UNKNOWN",
            self.node, self.cpus
        ));
        line(format!(
            "PartitionName=airlock Nodes={} Default=YES MaxTime=INFINITE State=UP",
            self.node
        ));
        text
    }

    /// Waits until `sinfo` shows the node idle.
    fn wait_idle(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            let done = finish_within(
                self.command("sinfo").args(["-h", "-o", "%T"]),
                CLIENT_TIMEOUT,
            );
            if done.status.success() && done.stdout.lines().any(|l| l.trim() == "idle") {
                return;
            }
            last = done.to_string();
            thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the Slurm node did not become idle within {START_TIMEOUT:?}; last sinfo: {last}\n{}",
            self.log_tails()
        );
    }

    /// The last lines of every daemon's log, for failure messages.
    pub fn log_tails(&self) -> String {
        ["munged.log", "slurmctld.log", "slurmd.log"]
            .iter()
            .map(|name| format!("--- {name} ---\n{}", tail(&self.root.join(name), 30)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The environment Slurm's commands (and `airlock slurm`) need to reach
    /// this cluster.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        vec![("SLURM_CONF".into(), self.conf.clone().into_os_string())]
    }

    /// A command for `program` with [`Cluster::env`] set.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env());
        command
    }

    /// Runs a Slurm client command (squeue, scancel, ...) to the end.
    #[track_caller]
    pub fn run(&self, program: &str, args: &[&str]) -> Finished {
        finish_within(self.command(program).args(args), CLIENT_TIMEOUT)
    }

    /// The cluster's directory (configuration, state, logs).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The generated slurm.conf.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The CPUs the node offers.
    pub fn cpus(&self) -> u32 {
        self.cpus
    }

    /// The jobs this cluster still knows of that are not finished.
    fn active_jobs(&self) -> Vec<String> {
        let done = self.run("squeue", &["-h", "-o", "%A"]);
        if !done.status.success() {
            return Vec::new();
        }
        done.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Job steps are slurmstepd processes of their own, which outlive
        // slurmd: cancel the jobs first and give them a moment to end.
        let jobs = self.active_jobs();
        if !jobs.is_empty() {
            let mut args: Vec<&str> = vec!["--full"];
            args.extend(jobs.iter().map(String::as_str));
            let _ = self.run("scancel", &args);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while !self.active_jobs().is_empty() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
        }
        stop_daemon(&self.root.join("slurmd.pid"));
        stop_daemon(&self.root.join("slurmctld.pid"));
        stop_daemon(&self.root.join("munged.pid"));
        if let Some(dir) = self.dir.take()
            && let Err(e) = dir.close()
        {
            eprintln!(
                "slurm test cluster: cannot remove {}: {e}",
                self.root.display()
            );
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .expect("set a file's mode");
}

/// Fills `bytes` from the kernel's random source.
fn getrandom_bytes(bytes: &mut [u8]) {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(bytes))
        .expect("read /dev/urandom");
}
