//! The virtual filesystem: nodes with an owner, a group and a mode, and
//! path resolution that honours search permission and symbolic links.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

/// Index of a node in [`Fs::nodes`]; the root is 0.
pub(crate) type NodeId = usize;

/// The root directory.
pub(crate) const ROOT: NodeId = 0;

/// Set-user-id bit.
pub(crate) const SUID: u16 = 0o4000;
/// Sticky bit (only `/tmp` has it; shown by `ls -l`).
pub(crate) const STICKY: u16 = 0o1000;

/// The programs the simulated host knows how to run. A binary file is a
/// node holding one of these, so that `cp /bin/bash /tmp/x` copies a
/// working bash.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Prog {
    Sh,
    Bash,
    Cat,
    Ls,
    Cp,
    Chmod,
    Find,
    Grep,
    Id,
    Whoami,
    Echo,
    Env,
    Awk,
    Python,
    Vim,
    Less,
    Tar,
    Sudo,
    Su,
    Crontab,
    Hostname,
    Uname,
    Service,
    /// A set-uid helper with nothing to exploit (passwd, mount, ...).
    Inert,
}

pub(crate) enum Kind {
    /// Children in insertion order; listings sort them.
    Dir(Vec<NodeId>),
    File(String),
    Bin(Prog),
    /// A tar archive: member paths (relative, as tar stores them) and contents.
    Tar(Vec<(String, String)>),
    /// A symbolic link to an absolute path.
    Link(String),
}

pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) parent: NodeId,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Permission bits, including set-uid and sticky.
    pub(crate) mode: u16,
    pub(crate) kind: Kind,
}

impl Node {
    pub(crate) fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }

    /// Size as `ls -l` shows it.
    pub(crate) fn size(&self) -> usize {
        match &self.kind {
            Kind::Dir(_) => 4096,
            Kind::File(text) => text.len(),
            Kind::Bin(_) => 142_312,
            Kind::Tar(members) => {
                // 512-byte header per member, contents padded to blocks, two end blocks.
                members
                    .iter()
                    .map(|(_, c)| 512 + c.len().div_ceil(512) * 512)
                    .sum::<usize>()
                    + 10_240
            }
            Kind::Link(target) => target.len(),
        }
    }
}

/// Why a path did not resolve.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PathError {
    NotFound,
    NotADirectory,
    PermissionDenied,
    TooManyLinks,
}

impl PathError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            PathError::NotFound => "No such file or directory",
            PathError::NotADirectory => "Not a directory",
            PathError::PermissionDenied => "Permission denied",
            PathError::TooManyLinks => "Too many levels of symbolic links",
        }
    }
}

/// Who is asking: effective user and the groups it holds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Access {
    pub(crate) euid: u32,
    pub(crate) groups: Vec<u32>,
}

/// Read, write and execute (search) permission bits.
pub(crate) const R: u16 = 4;
pub(crate) const W: u16 = 2;
pub(crate) const X: u16 = 1;

/// Most nodes an instance may hold: model writes (extracting archives,
/// appending lines) cannot grow memory without bound.
const MAX_NODES: usize = 4096;
/// Most bytes one file may hold.
pub(crate) const MAX_FILE: usize = 64 * 1024;

pub(crate) struct Fs {
    pub(crate) nodes: Vec<Node>,
}

impl Fs {
    pub(crate) fn new() -> Fs {
        Fs {
            nodes: vec![Node {
                name: "/".to_string(),
                parent: ROOT,
                uid: 0,
                gid: 0,
                mode: 0o755,
                kind: Kind::Dir(Vec::new()),
            }],
        }
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        // Ids only ever come from this Fs; the root stands in rather than
        // panicking if that were ever not so.
        self.nodes.get(id).unwrap_or(&self.nodes[ROOT])
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(id)
    }

    pub(crate) fn child(&self, dir: NodeId, name: &str) -> Option<NodeId> {
        match &self.node(dir).kind {
            Kind::Dir(children) => children
                .iter()
                .copied()
                .find(|&c| self.node(c).name == name),
            _ => None,
        }
    }

    /// Children sorted by name, as listings show them.
    pub(crate) fn sorted_children(&self, dir: NodeId) -> Vec<NodeId> {
        let mut children = match &self.node(dir).kind {
            Kind::Dir(children) => children.clone(),
            _ => Vec::new(),
        };
        children.sort_by(|&a, &b| self.node(a).name.cmp(&self.node(b).name));
        children
    }

    /// Adds `name` under `parent`, or returns the existing node of that name.
    /// `None` when the filesystem is full.
    pub(crate) fn add(
        &mut self,
        parent: NodeId,
        name: &str,
        (uid, gid, mode): (u32, u32, u16),
        kind: Kind,
    ) -> Option<NodeId> {
        if let Some(existing) = self.child(parent, name) {
            return Some(existing);
        }
        if self.nodes.len() >= MAX_NODES {
            return None;
        }
        let id = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_string(),
            parent,
            uid,
            gid,
            mode,
            kind,
        });
        if let Some(Node {
            kind: Kind::Dir(children),
            ..
        }) = self.nodes.get_mut(parent)
        {
            children.push(id);
        }
        Some(id)
    }

    /// Creates the directory `path` (absolute) and its missing parents,
    /// with the given owner and mode (only for directories it creates).
    pub(crate) fn mkdir_p(&mut self, path: &str, meta: (u32, u32, u16)) -> NodeId {
        let mut dir = ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            dir = self
                .add(dir, part, meta, Kind::Dir(Vec::new()))
                .unwrap_or(dir);
        }
        dir
    }

    /// The absolute path of `id`.
    pub(crate) fn path_of(&self, id: NodeId) -> String {
        let mut parts = Vec::new();
        let mut at = id;
        let mut guard = 0;
        while at != ROOT && guard < 256 {
            parts.push(self.node(at).name.as_str());
            at = self.node(at).parent;
            guard += 1;
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

    /// Whether `who` holds all the permission bits `want` on `id`.
    pub(crate) fn allowed(&self, who: &Access, id: NodeId, want: u16) -> bool {
        let node = self.node(id);
        if who.euid == 0 {
            // Root reads and writes anything, but executes only what has an x bit.
            return want & X == 0 || node.is_dir() || node.mode & 0o111 != 0;
        }
        let bits = if node.uid == who.euid {
            node.mode >> 6
        } else if who.groups.contains(&node.gid) {
            node.mode >> 3
        } else {
            node.mode
        } & 7;
        bits & want == want
    }

    /// Resolves `path` (absolute, relative to `cwd`, or starting with `~`)
    /// as `who`, following symbolic links, checking search permission on
    /// every directory passed through. With `follow_last` false a link
    /// named last is returned itself (as `ls -l` wants).
    pub(crate) fn resolve_as(
        &self,
        who: &Access,
        cwd: NodeId,
        home: NodeId,
        path: &str,
        follow_last: bool,
    ) -> Result<NodeId, PathError> {
        if path.is_empty() {
            return Err(PathError::NotFound);
        }
        let (start, rest) = if path == "~" {
            (home, "")
        } else if let Some(rest) = path.strip_prefix("~/") {
            (home, rest)
        } else if path.starts_with('/') {
            (ROOT, path)
        } else {
            (cwd, path)
        };
        let mut links = 0;
        let at = self.walk(who, start, rest, follow_last, &mut links)?;
        // "dir/file/" names a file as if it were a directory.
        if path.ends_with('/') && !self.node(at).is_dir() {
            return Err(PathError::NotADirectory);
        }
        Ok(at)
    }

    fn walk(
        &self,
        who: &Access,
        start: NodeId,
        rest: &str,
        follow_last: bool,
        links: &mut u32,
    ) -> Result<NodeId, PathError> {
        let mut at = start;
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            match *part {
                "." => {}
                ".." => at = self.node(at).parent,
                name => {
                    if !self.node(at).is_dir() {
                        return Err(PathError::NotADirectory);
                    }
                    if !self.allowed(who, at, X) {
                        return Err(PathError::PermissionDenied);
                    }
                    let next = self.child(at, name).ok_or(PathError::NotFound)?;
                    if let Kind::Link(target) = &self.node(next).kind
                        && (!last || follow_last)
                    {
                        *links += 1;
                        if *links > 8 {
                            return Err(PathError::TooManyLinks);
                        }
                        let base = if target.starts_with('/') { ROOT } else { at };
                        at = self.walk(who, base, target, true, links)?;
                    } else {
                        at = next;
                    }
                }
            }
        }
        Ok(at)
    }
}

/// `ls -l` mode string of a node, e.g. `-rwsr-xr-x`.
pub(crate) fn mode_string(node: &Node) -> String {
    let kind = match node.kind {
        Kind::Dir(_) => 'd',
        Kind::Link(_) => 'l',
        _ => '-',
    };
    let m = node.mode;
    let mut s = String::with_capacity(10);
    s.push(kind);
    for (shift, special, on, off) in [
        (6, SUID, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, STICKY, 't', 'T'),
    ] {
        let bits = (m >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (m & special != 0, x) {
            (true, true) => on,
            (true, false) => off,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_render_like_ls() {
        let mut fs = Fs::new();
        let f = fs
            .add(ROOT, "f", (0, 0, 0o4755), Kind::Bin(Prog::Find))
            .unwrap();
        assert_eq!(mode_string(fs.node(f)), "-rwsr-xr-x");
        let t = fs
            .add(ROOT, "tmp", (0, 0, 0o1777), Kind::Dir(Vec::new()))
            .unwrap();
        assert_eq!(mode_string(fs.node(t)), "drwxrwxrwt");
        let g = fs
            .add(ROOT, "g", (0, 0, 0o640), Kind::File(String::new()))
            .unwrap();
        assert_eq!(mode_string(fs.node(g)), "-rw-r-----");
    }

    #[test]
    fn search_permission_and_links() {
        let mut fs = Fs::new();
        let meta = (0, 0, 0o755);
        fs.mkdir_p("/usr/bin", meta);
        fs.add(
            ROOT,
            "bin",
            (0, 0, 0o777),
            Kind::Link("/usr/bin".to_string()),
        );
        let root = fs.mkdir_p("/root", (0, 0, 0o700));
        fs.add(root, "flag", (0, 0, 0o600), Kind::File("x".to_string()));
        let user = Access {
            euid: 1000,
            groups: vec![1000],
        };
        let su = Access {
            euid: 0,
            groups: vec![0],
        };
        assert_eq!(
            fs.resolve_as(&user, ROOT, ROOT, "/root/flag", true),
            Err(PathError::PermissionDenied)
        );
        assert!(fs.resolve_as(&su, ROOT, ROOT, "/root/flag", true).is_ok());
        let bin = fs.resolve_as(&user, ROOT, ROOT, "/bin", true).unwrap();
        assert_eq!(fs.path_of(bin), "/usr/bin");
        let link = fs.resolve_as(&user, ROOT, ROOT, "/bin", false).unwrap();
        assert_eq!(fs.path_of(link), "/bin");
        fs.add(ROOT, "loop", (0, 0, 0o777), Kind::Link("/loop".to_string()));
        assert_eq!(
            fs.resolve_as(&user, ROOT, ROOT, "/loop/x", true),
            Err(PathError::TooManyLinks)
        );
    }
}
