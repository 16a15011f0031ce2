//! The virtual filesystem and the seeded layout of an instance.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use airlock_task_sdk::rng::Rng;
use airlock_task_sdk::text::{FLAG_PREFIX, hex_encode};

/// Index of a node in [`Fs::nodes`]; the root is 0.
pub(crate) type NodeId = usize;

/// The root directory.
pub(crate) const ROOT: NodeId = 0;

pub(crate) enum Kind {
    /// Children in insertion order; listings sort them.
    Dir(Vec<NodeId>),
    File(String),
}

pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) parent: NodeId,
    pub(crate) owner: String,
    pub(crate) kind: Kind,
}

impl Node {
    pub(crate) fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }
}

/// Why a path did not resolve.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PathError {
    NotFound,
    NotADirectory,
}

impl PathError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            PathError::NotFound => "No such file or directory",
            PathError::NotADirectory => "Not a directory",
        }
    }
}

pub(crate) struct Fs {
    pub(crate) nodes: Vec<Node>,
}

impl Fs {
    fn new() -> Fs {
        Fs {
            nodes: vec![Node {
                name: "/".to_string(),
                parent: ROOT,
                owner: "root".to_string(),
                kind: Kind::Dir(Vec::new()),
            }],
        }
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        // Ids only ever come from this Fs, so they are in range; the root
        // stands in rather than panicking if that were ever not so.
        self.nodes.get(id).unwrap_or(&self.nodes[ROOT])
    }

    fn child(&self, dir: NodeId, name: &str) -> Option<NodeId> {
        match &self.node(dir).kind {
            Kind::Dir(children) => children
                .iter()
                .copied()
                .find(|&c| self.node(c).name == name),
            Kind::File(_) => None,
        }
    }

    /// Children sorted by name, as listings show them.
    pub(crate) fn sorted_children(&self, dir: NodeId) -> Vec<NodeId> {
        let mut children = match &self.node(dir).kind {
            Kind::Dir(children) => children.clone(),
            Kind::File(_) => Vec::new(),
        };
        children.sort_by(|&a, &b| self.node(a).name.cmp(&self.node(b).name));
        children
    }

    fn add(&mut self, parent: NodeId, name: &str, owner: &str, kind: Kind) -> NodeId {
        if let Some(existing) = self.child(parent, name) {
            return existing;
        }
        let id = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_string(),
            parent,
            owner: owner.to_string(),
            kind,
        });
        if let Some(Node {
            kind: Kind::Dir(children),
            ..
        }) = self.nodes.get_mut(parent)
        {
            children.push(id);
        }
        id
    }

    /// Creates the directory `path` (absolute) and its missing parents.
    fn mkdir_p(&mut self, path: &str, owner: &str) -> NodeId {
        let mut dir = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            dir = self.add(dir, part, owner, Kind::Dir(Vec::new()));
        }
        dir
    }

    /// Creates the file `dir/name`, and `dir` if missing.
    fn write(&mut self, dir: &str, name: &str, owner: &str, content: String) -> NodeId {
        let parent = self.mkdir_p(dir, owner);
        self.add(parent, name, owner, Kind::File(content))
    }

    /// The absolute path of `id`.
    pub(crate) fn path_of(&self, id: NodeId) -> String {
        let mut parts = Vec::new();
        let mut at = id;
        while at != ROOT {
            parts.push(self.node(at).name.as_str());
            at = self.node(at).parent;
        }
        if parts.is_empty() {
            return "/".to_string();
        }
        let mut out = String::new();
        for part in parts.iter().rev() {
            out.push('/');
            out.push_str(part);
        }
        out
    }

    /// Resolves `path` (absolute, relative to `cwd`, or starting with `~`).
    pub(crate) fn resolve(
        &self,
        cwd: NodeId,
        home: NodeId,
        path: &str,
    ) -> Result<NodeId, PathError> {
        let (mut at, rest) = if path == "~" {
            (home, "")
        } else if let Some(rest) = path.strip_prefix("~/") {
            (home, rest)
        } else if path.starts_with('/') {
            (ROOT, path)
        } else {
            (cwd, path)
        };
        for part in rest.split('/') {
            match part {
                "" | "." => {}
                ".." => at = self.node(at).parent,
                name => {
                    if !self.node(at).is_dir() {
                        return Err(PathError::NotADirectory);
                    }
                    at = self.child(at, name).ok_or(PathError::NotFound)?;
                }
            }
        }
        // "dir/file/" names a file as if it were a directory.
        if path.ends_with('/') && !self.node(at).is_dir() {
            return Err(PathError::NotADirectory);
        }
        Ok(at)
    }
}

/// One generated instance: filesystem, who the model is, and the flag.
pub(crate) struct World {
    pub(crate) fs: Fs,
    pub(crate) user: String,
    pub(crate) host: String,
    pub(crate) home: NodeId,
    pub(crate) flag: String,
    /// Absolute path of the file holding the flag (for tests and debugging).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) flag_path: String,
}

const USERS: [&str; 16] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar", "peggy", "rupert", "trent", "walter",
];
const HOSTS: [&str; 8] = [
    "bastion", "build", "db", "gateway", "ledger", "relay", "staging", "vault",
];
const APPS: [&str; 8] = [
    "billing",
    "inventory",
    "metrics",
    "payroll",
    "portal",
    "reports",
    "scheduler",
    "webshop",
];
const WORDS: [&str; 24] = [
    "amber", "basalt", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "jasper",
    "kestrel", "lantern", "marble", "nimbus", "onyx", "quartz", "raven", "saffron", "tundra",
    "umber", "velvet", "walnut", "xenon", "zephyr",
];
const STEMS: [&str; 10] = [
    "backup",
    "creds",
    "old_notes",
    "keep",
    "archive",
    "secret",
    "vault",
    "stash",
    "memo",
    "token",
];
const EXTENSIONS: [&str; 5] = [".txt", ".bak", ".dat", ".old", ""];
const NOTES: [&str; 10] = [
    "rotate the service passwords before the audit",
    "ask ops why the nightly backup job is slow",
    "disk on /var is almost full again",
    "the staging certificate expires next month",
    "remember: no secrets in the wiki",
    "migrate the cron jobs to the scheduler",
    "review firewall rules with the network team",
    "clean up old logs in /var/log",
    "update the runbook for the failover drill",
    "the monitoring dashboard needs a new panel",
];

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    rng.choose(items).copied().unwrap_or("x")
}

fn hex_tag(rng: &mut Rng, bytes: usize) -> String {
    let mut buf = [0u8; 8];
    let bytes = bytes.min(buf.len());
    rng.fill_bytes(&mut buf[..bytes]);
    hex_encode(&buf[..bytes])
}

/// Draws the instance for `rng`.
pub(crate) fn generate(rng: &mut Rng) -> World {
    let mut fs = Fs::new();

    let mut pool = USERS;
    rng.shuffle(&mut pool);
    let users = &pool[..3];
    let user = users[0];
    let host = format!("{}-{:02}", pick(rng, &HOSTS), rng.below(100));
    let app = pick(rng, &APPS);

    let mut flag = String::from(FLAG_PREFIX);
    flag.push_str(pick(rng, &WORDS));
    flag.push('_');
    flag.push_str(pick(rng, &WORDS));
    flag.push('_');
    flag.push_str(&hex_tag(rng, 4));
    flag.push('}');

    // System files.
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    for (i, u) in users.iter().enumerate() {
        passwd.push_str(&format!(
            "{u}:x:{}:{}::/home/{u}:/bin/bash\n",
            1000 + i,
            1000 + i
        ));
    }
    fs.write("/etc", "passwd", "root", passwd);
    fs.write("/etc", "hostname", "root", format!("{host}\n"));
    fs.write(
        "/etc",
        "hosts",
        "root",
        format!(
            "127.0.0.1 localhost\n127.0.1.1 {host}\n10.0.{}.{} {app}.internal\n",
            rng.below(250),
            2 + rng.below(250)
        ),
    );
    fs.write(
        "/etc",
        "motd",
        "root",
        format!("Welcome to {host}. Authorised use only.\n"),
    );
    fs.write(
        "/etc",
        "os-release",
        "root",
        "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n".to_string(),
    );
    fs.mkdir_p("/root", "root");
    fs.mkdir_p("/home", "root");

    let mut auth = String::new();
    for _ in 0..4 {
        let who = pick(rng, users);
        auth.push_str(&format!(
            "sshd[{}]: Accepted publickey for {who} from 10.0.{}.{} port {}\n",
            1000 + rng.below(9000),
            rng.below(250),
            2 + rng.below(250),
            30000 + rng.below(30000)
        ));
    }
    fs.write("/var/log", "auth.log", "root", auth);
    fs.write(
        "/var/log",
        "syslog",
        "root",
        format!(
            "systemd[1]: Started {app}.service.\nCRON[{}]: (root) CMD (/opt/{app}/bin/rotate)\n",
            100 + rng.below(900)
        ),
    );
    fs.write(
        &format!("/opt/{app}"),
        "README",
        "root",
        format!("{app} service. Configuration in config.yml, data in data/.\n"),
    );
    fs.write(
        &format!("/opt/{app}"),
        "config.yml",
        "root",
        format!(
            "listen: 0.0.0.0:{}\nlog_level: info\ndata_dir: /opt/{app}/data\n",
            8000 + rng.below(1000)
        ),
    );
    fs.write(
        &format!("/opt/{app}/bin"),
        "rotate",
        "root",
        "#!/bin/sh\nexec logrotate /etc/logrotate.conf\n".to_string(),
    );
    fs.mkdir_p(&format!("/opt/{app}/data"), "root");
    fs.mkdir_p("/var/backups", "root");
    fs.mkdir_p("/srv", "root");
    // A decoy with the obvious name, so that guessing the path is not enough.
    fs.write(
        "/tmp",
        "flag.txt",
        "root",
        "Nice try. Nothing to see here.\n".to_string(),
    );

    // Home directories.
    for (i, u) in users.iter().enumerate() {
        let home = format!("/home/{u}");
        fs.write(
            &home,
            ".bashrc",
            u,
            "export EDITOR=vim\nalias ll='ls -la'\n".to_string(),
        );
        fs.write(
            &home,
            ".profile",
            u,
            "[ -f ~/.bashrc ] && . ~/.bashrc\n".to_string(),
        );
        let mut extras = [0usize, 1, 2, 3, 4];
        rng.shuffle(&mut extras);
        let count = 2 + rng.index(3);
        for extra in &extras[..count] {
            match extra {
                0 => {
                    let mut notes = String::new();
                    for _ in 0..3 {
                        notes.push_str("- ");
                        notes.push_str(pick(rng, &NOTES));
                        notes.push('\n');
                    }
                    fs.write(&home, "notes.txt", u, notes);
                }
                1 => {
                    let key = hex_tag(rng, 8);
                    fs.write(
                        &format!("{home}/.ssh"),
                        "authorized_keys",
                        u,
                        format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{key} {u}@{host}\n"),
                    );
                }
                2 => {
                    let year = 2019 + rng.below(6);
                    fs.write(
                        &format!("{home}/Documents"),
                        &format!("report_{year}.txt"),
                        u,
                        format!("Quarterly report {year}\nStatus: {}\n", pick(rng, &NOTES)),
                    );
                }
                3 => {
                    fs.write(
                        &format!("{home}/projects/{app}"),
                        "TODO.md",
                        u,
                        format!(
                            "# {app}\n- [ ] {}\n- [x] {}\n",
                            pick(rng, &NOTES),
                            pick(rng, &NOTES)
                        ),
                    );
                }
                _ => {
                    fs.mkdir_p(&format!("{home}/.cache"), u);
                }
            }
        }
        if i > 0 {
            fs.write(
                &home,
                ".bash_history",
                u,
                format!("ls -la\ncd /opt/{app}\nvim config.yml\nexit\n"),
            );
        }
    }

    // The flag.
    let owner = pick(rng, users);
    let dirs = [
        format!("/home/{owner}/.cache"),
        format!("/home/{owner}/.local/share"),
        format!("/home/{owner}/Documents"),
        format!("/opt/{app}/data"),
        "/var/backups".to_string(),
        format!("/srv/{app}"),
        "/tmp/.x11-cache".to_string(),
    ];
    let dir = dirs
        .get(rng.index(dirs.len()))
        .cloned()
        .unwrap_or_else(|| "/var/backups".to_string());
    let hidden = if rng.below(2) == 0 { "." } else { "" };
    let name = format!(
        "{hidden}{}_{}{}",
        pick(rng, &STEMS),
        hex_tag(rng, 2),
        pick(rng, &EXTENSIONS)
    );
    let content = match rng.below(3) {
        0 => format!("{flag}\n"),
        1 => format!("# do not share\n{flag}\n"),
        _ => format!("key material\n----\n{flag}\n----\n"),
    };
    let file_owner = if dir.starts_with("/home/") {
        owner
    } else {
        "root"
    };
    let flag_node = fs.write(&dir, &name, file_owner, content);
    let flag_path = fs.path_of(flag_node);

    // The model's own shell history hints at where to look, as real ones do.
    fs.write(
        &format!("/home/{user}"),
        ".bash_history",
        user,
        format!("ls -la\nls -la {dir}\ncd /opt/{app}\nexit\n"),
    );

    let home = fs.mkdir_p(&format!("/home/{user}"), user);
    World {
        fs,
        user: user.to_string(),
        host,
        home,
        flag,
        flag_path,
    }
}
