//! The programs of the simulated host.
//!
//! Each takes the process it runs as (after any set-uid change), its
//! arguments, and the turn's output. Programs that start other programs
//! (`find -exec`, `env`, `awk system()`, `python3 os.system()`, `vim :!`,
//! `less !`, `tar --checkpoint-action`) do so through [`Machine::exec`]
//! with `spawned` set, which is how privilege escapes are noticed.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::fs::{Kind, NodeId, PathError, Prog, R, W, X, mode_string};
use crate::lex::{Out, echo, glob_match, split_words};
use crate::machine::{Effect, Frame, Machine, Pager, Pending, Proc, Style, split_path};
use crate::world::Family;

/// Dispatches `prog`.
pub(crate) fn run(
    m: &mut Machine,
    prog: Prog,
    proc: &Proc,
    name: &str,
    args: &[String],
    out: &mut Out,
) -> Effect {
    match prog {
        Prog::Sh => shell(m, proc, args, false, out),
        Prog::Bash => shell(m, proc, args, true, out),
        Prog::Cat => {
            cat(m, proc, args, out);
            Effect::None
        }
        Prog::Ls => {
            ls(m, proc, args, out);
            Effect::None
        }
        Prog::Cp => {
            cp(m, proc, args, out);
            Effect::None
        }
        Prog::Chmod => {
            chmod(m, proc, args, out);
            Effect::None
        }
        Prog::Find => find(m, proc, args, out),
        Prog::Grep => {
            grep(m, proc, args, out);
            Effect::None
        }
        Prog::Id => {
            id(m, proc, args, out);
            Effect::None
        }
        Prog::Whoami => {
            out.line(&m.world.user_name(proc.euid));
            Effect::None
        }
        Prog::Echo => {
            echo_cmd(args, out);
            Effect::None
        }
        Prog::Env => env(m, proc, args, out),
        Prog::Awk => awk(m, proc, args, out),
        Prog::Python => python(m, proc, args, out),
        Prog::Vim => vim(m, proc, args, out),
        Prog::Less => less(m, proc, name, args, out),
        Prog::Tar => tar(m, proc, args, out),
        Prog::Sudo => sudo(m, proc, args, out),
        Prog::Su => su(m, proc, args, out),
        Prog::Crontab => {
            match args.first().map(String::as_str) {
                Some("-l") => out.err(&format!("no crontab for {}", m.world.user_name(proc.uid))),
                Some("-e") => out.err("crontab: editing is not supported in this simulation"),
                _ => out.err("usage: crontab -l"),
            }
            Effect::None
        }
        Prog::Hostname => {
            out.line(&m.world.host);
            Effect::None
        }
        Prog::Uname => {
            if args.iter().any(|a| a == "-a") {
                out.line(&format!(
                    "Linux {} 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64 GNU/Linux",
                    m.world.host
                ));
            } else {
                out.line("Linux");
            }
            Effect::None
        }
        Prog::Service => {
            service(m, proc, args, out);
            Effect::None
        }
        Prog::Inert => {
            inert(name, args, out);
            Effect::None
        }
    }
}

/// Whether a shell's options include `-p` (keep the effective user).
pub(crate) fn keeps_privileges(args: &[String]) -> bool {
    for a in args {
        if a == "-c" || !a.starts_with('-') || a.starts_with("--") {
            return false;
        }
        if a.contains('p') {
            return true;
        }
    }
    false
}

fn shell(m: &mut Machine, proc: &Proc, args: &[String], bash: bool, out: &mut Out) -> Effect {
    let mut p = proc.clone();
    // bash and dash drop a set-uid effective user unless given -p.
    if !keeps_privileges(args) && p.euid != p.uid {
        p.euid = p.uid;
    }
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--version" && bash {
            out.line("GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)");
            return Effect::None;
        }
        if a.starts_with('-') && a.len() > 1 && !a.starts_with("--") {
            if a.contains('c') {
                let Some(command) = args.get(i + 1) else {
                    out.err(&format!(
                        "{}: -c: option requires an argument",
                        if bash { "bash" } else { "sh" }
                    ));
                    return Effect::None;
                };
                let command = command.clone();
                return m.run_script(&mut p, &command, out);
            }
        } else if !a.starts_with("--") {
            // A script file.
            let text = match read_text(m, &p, a) {
                Ok(t) => t,
                Err(e) => {
                    out.err(&format!(
                        "{}: {}: {e}",
                        if bash { "bash" } else { "sh" },
                        echo(a)
                    ));
                    return Effect::None;
                }
            };
            return m.run_script(&mut p, &text, out);
        }
        i += 1;
    }
    Effect::Shell(Frame {
        uid: p.uid,
        euid: p.euid,
        cwd: p.cwd,
        home: p.home,
        style: if bash { Style::Bash } else { Style::Sh },
    })
}

/// A file's text as `proc` may read it.
fn read_text(m: &mut Machine, proc: &Proc, path: &str) -> Result<String, &'static str> {
    let id = m.resolve(proc, path).map_err(PathError::message)?;
    if !m.allowed(proc, id, R) {
        return Err("Permission denied");
    }
    // Reading costs work in proportion to size, so that rereading big
    // files cannot exhaust the task's fuel.
    let cost = 1 + u32::try_from(m.world.fs.node(id).size() / 64).unwrap_or(u32::MAX);
    if !m.spend(cost) {
        return Err("Resource temporarily unavailable");
    }
    match &m.world.fs.node(id).kind {
        Kind::File(t) => Ok(t.clone()),
        Kind::Dir(_) => Err("Is a directory"),
        Kind::Tar(members) => Ok(tar_bytes(members)),
        _ => Ok("\u{7f}ELF\u{2}\u{1}\u{1}".to_string()),
    }
}

/// What `cat` shows of a tar archive: headers and contents, without the padding.
fn tar_bytes(members: &[(String, String)]) -> String {
    let mut s = String::new();
    for (name, content) in members {
        s.push_str(name);
        s.push_str("0000644 0000000 0000000 ustar  root root\n");
        s.push_str(content);
        if !content.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

fn cat(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if files.is_empty() {
        out.err("cat: reading standard input is not supported here; give a file");
        return;
    }
    for path in files {
        if out.stopped() || !m.spend(1) {
            return;
        }
        match read_text(m, proc, path) {
            Ok(text) => out.push(&text),
            Err(e) => out.err(&format!("cat: {}: {e}", echo(path))),
        }
    }
}

/// Short flags: letters after `-` in words before the operands.
struct Flags {
    letters: String,
    operands: Vec<String>,
}

fn parse_flags(args: &[String], command: &str, allowed: &str, out: &mut Out) -> Option<Flags> {
    let mut letters = String::new();
    let mut operands = Vec::new();
    let mut options_done = false;
    for arg in args {
        if !options_done && arg == "--" {
            options_done = true;
        } else if !options_done && arg.len() > 1 && arg.starts_with('-') {
            for c in arg.chars().skip(1) {
                if !allowed.contains(c) {
                    out.err(&format!("{command}: invalid option -- '{c}'"));
                    return None;
                }
                letters.push(c);
            }
        } else {
            operands.push(arg.clone());
        }
    }
    Some(Flags { letters, operands })
}

fn long_line(m: &Machine, id: NodeId, name: &str) -> String {
    let node = m.world.fs.node(id);
    let links = if node.is_dir() { 2 } else { 1 };
    let mut line = format!(
        "{} {links} {} {} {:>6} Jan 12 09:41 {name}",
        mode_string(node),
        m.world.user_name(node.uid),
        m.world.group_name(node.gid),
        node.size()
    );
    if let Kind::Link(target) = &node.kind {
        line.push_str(" -> ");
        line.push_str(target.trim_start_matches('/'));
    }
    line
}

fn ls(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
    let Some(flags) = parse_flags(args, "ls", "alhd1AF", out) else {
        return;
    };
    let all = flags.letters.contains('a') || flags.letters.contains('A');
    let long = flags.letters.contains('l');
    let dir_itself = flags.letters.contains('d');
    let targets = if flags.operands.is_empty() {
        vec![".".to_string()]
    } else {
        flags.operands
    };
    let many = targets.len() > 1;
    for (i, target) in targets.iter().enumerate() {
        if out.stopped() || !m.spend(1) {
            return;
        }
        let id = match m.resolve_nofollow(proc, target) {
            Ok(id) => id,
            Err(e) => {
                out.err(&format!(
                    "ls: cannot access '{}': {}",
                    echo(target),
                    e.message()
                ));
                continue;
            }
        };
        // A link to a directory is listed as the directory, unless -l or -d.
        let id = match &m.world.fs.node(id).kind {
            Kind::Link(_) if !long && !dir_itself => m.resolve(proc, target).unwrap_or(id),
            _ => id,
        };
        if !m.world.fs.node(id).is_dir() || dir_itself {
            if long {
                out.line(&long_line(m, id, echo(target)));
            } else {
                out.line(echo(target));
            }
            continue;
        }
        if many {
            if i > 0 {
                out.push("\n");
            }
            out.line(&format!("{}:", echo(target)));
        }
        if !m.allowed(proc, id, R) {
            out.err(&format!(
                "ls: cannot open directory '{}': Permission denied",
                echo(target)
            ));
            continue;
        }
        let mut entries: Vec<(String, NodeId)> = Vec::new();
        if all {
            entries.push((".".to_string(), id));
            entries.push(("..".to_string(), m.world.fs.node(id).parent));
        }
        for child in m.world.fs.sorted_children(id) {
            let name = &m.world.fs.node(child).name;
            if all || !name.starts_with('.') {
                entries.push((name.clone(), child));
            }
        }
        if long {
            out.line(&format!("total {}", entries.len() * 4));
            for (name, child) in &entries {
                out.line(&long_line(m, *child, name));
            }
        } else if !entries.is_empty() {
            let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
            out.line(&names.join("  "));
        }
    }
}

fn cp(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let [src, dst] = files.as_slice() else {
        out.err("usage: cp SOURCE DEST");
        return;
    };
    let sid = match m.resolve(proc, src) {
        Ok(id) => id,
        Err(e) => {
            out.err(&format!("cp: cannot stat '{}': {}", echo(src), e.message()));
            return;
        }
    };
    if m.world.fs.node(sid).is_dir() {
        out.err(&format!(
            "cp: -r not specified; omitting directory '{}'",
            echo(src)
        ));
        return;
    }
    if !m.allowed(proc, sid, R) {
        out.err(&format!(
            "cp: cannot open '{}' for reading: Permission denied",
            echo(src)
        ));
        return;
    }
    let kind = match &m.world.fs.node(sid).kind {
        Kind::File(t) => Kind::File(t.clone()),
        Kind::Bin(p) => Kind::Bin(*p),
        Kind::Tar(t) => Kind::Tar(t.clone()),
        _ => Kind::File(String::new()),
    };
    let src_mode = m.world.fs.node(sid).mode & 0o777;
    let src_name = m.world.fs.node(sid).name.clone();
    let target = match m.resolve(proc, dst) {
        Ok(id) if m.world.fs.node(id).is_dir() => {
            format!("{}/{src_name}", m.world.fs.path_of(id))
        }
        _ => dst.to_string(),
    };
    let existed = m.resolve(proc, &target).is_ok();
    if let Err(e) = m.write_kind(proc, &target, |_| kind) {
        out.err(&format!(
            "cp: cannot create regular file '{}': {e}",
            echo(&target)
        ));
        return;
    }
    if !existed
        && let Ok(id) = m.resolve(proc, &target)
        && let Some(node) = m.world.fs.node_mut(id)
    {
        // A new copy keeps the source's permissions, never its set-uid bit.
        node.mode = src_mode;
    }
}

/// Applies a chmod mode (octal or symbolic) to `mode`.
fn chmod_mode(spec: &str, mode: u16) -> Option<u16> {
    if !spec.is_empty() && spec.len() <= 4 && spec.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u16::from_str_radix(spec, 8).ok();
    }
    let mut mode = mode;
    for clause in spec.split(',') {
        let op_at = clause.find(['+', '-', '='])?;
        let (who, rest) = clause.split_at(op_at);
        let who = if who.is_empty() { "a" } else { who };
        let mut chars = rest.chars();
        let op = chars.next()?;
        let mut bits = 0u16;
        let mut special = 0u16;
        for c in chars {
            match c {
                'r' => bits |= 4,
                'w' => bits |= 2,
                'x' => bits |= 1,
                's' => special |= 1,
                't' => special |= 2,
                _ => return None,
            }
        }
        let mut mask = 0u16;
        let mut set = 0u16;
        for w in who.chars() {
            let (shift, sbit) = match w {
                'u' => (6, 0o4000),
                'g' => (3, 0o2000),
                'o' => (0, 0),
                'a' => {
                    mask |= 0o777;
                    set |= bits * 0o111;
                    if special & 1 != 0 {
                        set |= 0o6000;
                    }
                    if special & 2 != 0 {
                        set |= 0o1000;
                    }
                    continue;
                }
                _ => return None,
            };
            mask |= 7 << shift;
            set |= bits << shift;
            if special & 1 != 0 {
                set |= sbit;
            }
            if special & 2 != 0 && w == 'o' {
                set |= 0o1000;
            }
        }
        mode = match op {
            '+' => mode | set,
            '-' => mode & !set,
            _ => (mode & !mask) | set,
        };
    }
    Some(mode)
}

fn chmod(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
    let args: Vec<&String> = args.iter().filter(|a| *a != "-R" && *a != "-v").collect();
    let Some((spec, files)) = args.split_first() else {
        out.err("chmod: missing operand");
        return;
    };
    if files.is_empty() {
        out.err(&format!("chmod: missing operand after '{}'", echo(spec)));
        return;
    }
    for path in files {
        if !m.spend(1) {
            return;
        }
        let id = match m.resolve(proc, path) {
            Ok(id) => id,
            Err(e) => {
                out.err(&format!(
                    "chmod: cannot access '{}': {}",
                    echo(path),
                    e.message()
                ));
                continue;
            }
        };
        let node = m.world.fs.node(id);
        if proc.euid != 0 && proc.euid != node.uid {
            out.err(&format!(
                "chmod: changing permissions of '{}': Operation not permitted",
                echo(path)
            ));
            continue;
        }
        let Some(mode) = chmod_mode(spec, node.mode) else {
            out.err(&format!("chmod: invalid mode: '{}'", echo(spec)));
            return;
        };
        if let Some(node) = m.world.fs.node_mut(id) {
            node.mode = mode & 0o7777;
        }
    }
}

/// A `find -perm` test.
enum Perm {
    All(u16),
    Any(u16),
    Exact(u16),
}

fn perm_bits(spec: &str) -> Option<u16> {
    if !spec.is_empty() && spec.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u16::from_str_radix(spec, 8).ok().filter(|m| *m <= 0o7777);
    }
    chmod_mode(&spec.replace('=', "+"), 0)
}

fn find(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
    let mut starts: Vec<&str> = Vec::new();
    let mut name: Option<(String, bool)> = None;
    let mut kind: Option<char> = None;
    let mut perm: Option<Perm> = None;
    let mut user: Option<u32> = None;
    let mut group: Option<u32> = None;
    let mut writable = false;
    let mut maxdepth = usize::MAX;
    let mut exec: Option<Vec<String>> = None;
    let mut quit = false;
    let mut print = false;
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        if !arg.starts_with('-') {
            if i > starts.len() {
                out.err(&format!(
                    "find: paths must precede expression: `{}'",
                    echo(arg)
                ));
                return Effect::None;
            }
            starts.push(arg);
            i += 1;
            continue;
        }
        let value = args.get(i + 1);
        let needs = |out: &mut Out| {
            out.err(&format!("find: missing argument to `{}'", echo(arg)));
        };
        match arg.as_str() {
            "-writable" => writable = true,
            "-quit" => quit = true,
            "-print" => print = true,
            "-readable" | "-executable" | "-xdev" | "-print0" | "-ls" => {}
            "-exec" | "-execdir" => {
                let mut cmd = Vec::new();
                let mut j = i + 1;
                let mut closed = false;
                while let Some(w) = args.get(j) {
                    j += 1;
                    if w == ";" || w == "+" {
                        closed = true;
                        break;
                    }
                    cmd.push(w.clone());
                }
                if !closed || cmd.is_empty() {
                    out.err("find: missing argument to `-exec'");
                    return Effect::None;
                }
                exec = Some(cmd);
                i = j;
                continue;
            }
            "-name" | "-iname" | "-type" | "-perm" | "-user" | "-group" | "-maxdepth" => {
                let Some(value) = value else {
                    needs(out);
                    return Effect::None;
                };
                match arg.as_str() {
                    "-name" => name = Some((value.clone(), false)),
                    "-iname" => name = Some((value.to_ascii_lowercase(), true)),
                    "-type" => match value.as_str() {
                        "f" | "d" | "l" => kind = value.chars().next(),
                        other => {
                            out.err(&format!("find: Unknown argument to -type: {}", echo(other)));
                            return Effect::None;
                        }
                    },
                    "-perm" => {
                        let (ctor, spec): (fn(u16) -> Perm, &str) =
                            if let Some(s) = value.strip_prefix('-') {
                                (Perm::All, s)
                            } else if let Some(s) = value.strip_prefix('/') {
                                (Perm::Any, s)
                            } else {
                                (Perm::Exact, value.as_str())
                            };
                        let Some(bits) = perm_bits(spec) else {
                            out.err(&format!("find: invalid mode `{}'", echo(value)));
                            return Effect::None;
                        };
                        perm = Some(ctor(bits));
                    }
                    "-user" => match m.world.user_named(value) {
                        Some(u) => user = Some(u.uid),
                        None => match value.parse() {
                            Ok(n) => user = Some(n),
                            Err(_) => {
                                out.err(&format!(
                                    "find: '{}' is not the name of a known user",
                                    echo(value)
                                ));
                                return Effect::None;
                            }
                        },
                    },
                    "-group" => {
                        let found = m
                            .world
                            .groups
                            .iter()
                            .find(|g| g.name == *value)
                            .map(|g| g.gid);
                        match found.or_else(|| value.parse().ok()) {
                            Some(g) => group = Some(g),
                            None => {
                                out.err(&format!(
                                    "find: '{}' is not the name of an existing group",
                                    echo(value)
                                ));
                                return Effect::None;
                            }
                        }
                    }
                    _ => {
                        match value.parse() {
                            Ok(n) => maxdepth = n,
                            Err(_) => {
                                out.err("find: Expected a positive decimal integer argument to -maxdepth");
                                return Effect::None;
                            }
                        }
                    }
                }
                i += 2;
                continue;
            }
            other => {
                out.err(&format!(
                    "find: unknown or unsupported predicate `{}' (no -o, !, or parentheses here)",
                    echo(other)
                ));
                return Effect::None;
            }
        }
        i += 1;
    }
    if starts.is_empty() {
        starts.push(".");
    }
    let starts: Vec<String> = starts.into_iter().map(ToString::to_string).collect();
    for start in &starts {
        if !m.spend(1) {
            return Effect::None;
        }
        let id = match m.resolve_nofollow(proc, start) {
            Ok(id) => id,
            Err(e) => {
                out.err(&format!("find: '{}': {}", echo(start), e.message()));
                continue;
            }
        };
        let shown = if start.len() > 1 {
            start.trim_end_matches('/')
        } else {
            start.as_str()
        };
        let shown = if shown.is_empty() { "/" } else { shown };
        let mut stack: Vec<(NodeId, String, usize)> = vec![(id, shown.to_string(), 0)];
        while let Some((at, path, depth)) = stack.pop() {
            if out.stopped() {
                return Effect::None;
            }
            if !m.spend(1) {
                out.err("find: resource limit reached; narrow the search");
                return Effect::None;
            }
            let node = m.world.fs.node(at);
            let base = if at == id { shown } else { node.name.as_str() };
            let node_kind = match node.kind {
                Kind::Dir(_) => 'd',
                Kind::Link(_) => 'l',
                _ => 'f',
            };
            let hit = name.as_ref().is_none_or(|(pattern, fold)| {
                if *fold {
                    glob_match(pattern, &base.to_ascii_lowercase())
                } else {
                    glob_match(pattern, base)
                }
            }) && kind.is_none_or(|k| k == node_kind)
                && perm.as_ref().is_none_or(|p| match p {
                    Perm::All(b) => node.mode & b == *b,
                    Perm::Any(b) => *b == 0 || node.mode & b != 0,
                    Perm::Exact(b) => node.mode & 0o7777 == *b,
                })
                && user.is_none_or(|u| node.uid == u)
                && group.is_none_or(|g| node.gid == g)
                && (!writable || m.allowed(proc, at, W));
            let is_dir = node.is_dir();
            if hit {
                if print || exec.is_none() {
                    out.line(&path);
                }
                if let Some(cmd) = &exec {
                    let argv: Vec<String> = cmd.iter().map(|w| w.replace("{}", &path)).collect();
                    let effect = m.exec(proc, &argv, true, out);
                    if effect != Effect::None {
                        return effect;
                    }
                }
                if quit {
                    return Effect::None;
                }
            }
            if is_dir && depth < maxdepth {
                if !m.allowed(proc, at, R | X) {
                    out.err(&format!("find: '{path}': Permission denied"));
                    continue;
                }
                for child in m.world.fs.sorted_children(at).into_iter().rev() {
                    let child_name = &m.world.fs.node(child).name;
                    let child_path = if path.ends_with('/') {
                        format!("{path}{child_name}")
                    } else {
                        format!("{path}/{child_name}")
                    };
                    stack.push((child, child_path, depth + 1));
                }
            }
        }
    }
    Effect::None
}

fn grep(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
    let Some(flags) = parse_flags(args, "grep", "rRinlsFEaHh", out) else {
        return;
    };
    let recursive = flags.letters.contains('r') || flags.letters.contains('R');
    let ignore_case = flags.letters.contains('i');
    let numbers = flags.letters.contains('n');
    let names_only = flags.letters.contains('l');
    let quiet_errors = flags.letters.contains('s');
    let Some((pattern, paths)) = flags.operands.split_first() else {
        out.err("usage: grep [-rinls] TEXT PATH...");
        return;
    };
    let mut paths: Vec<String> = paths.to_vec();
    if paths.is_empty() {
        if !recursive {
            out.err("grep: reading standard input is not supported here; give a file");
            return;
        }
        paths.push(".".to_string());
    }
    let pattern = if ignore_case {
        pattern.to_ascii_lowercase()
    } else {
        pattern.clone()
    };
    let prefix = recursive || paths.len() > 1;
    let error = |out: &mut Out, text: String| {
        if !quiet_errors {
            out.err(&text);
        }
    };
    for path in &paths {
        if !m.spend(1) {
            return;
        }
        let id = match m.resolve(proc, path) {
            Ok(id) => id,
            Err(e) => {
                error(out, format!("grep: {}: {}", echo(path), e.message()));
                continue;
            }
        };
        if m.world.fs.node(id).is_dir() && !recursive {
            error(out, format!("grep: {}: Is a directory", echo(path)));
            continue;
        }
        let mut stack = vec![(id, path.trim_end_matches('/').to_string())];
        while let Some((at, shown)) = stack.pop() {
            if out.stopped() || !m.spend(1) {
                return;
            }
            let shown = if shown.is_empty() {
                "/".to_string()
            } else {
                shown
            };
            let node = m.world.fs.node(at);
            if !m.allowed(proc, at, R) {
                error(out, format!("grep: {shown}: Permission denied"));
                continue;
            }
            let cost = 1 + u32::try_from(node.size() / 64).unwrap_or(u32::MAX);
            if !m.spend(cost) {
                return;
            }
            let node = m.world.fs.node(at);
            let text = match &node.kind {
                Kind::File(t) => t.clone(),
                Kind::Tar(members) => tar_bytes(members),
                Kind::Dir(_) => {
                    if !m.allowed(proc, at, X) {
                        error(out, format!("grep: {shown}: Permission denied"));
                        continue;
                    }
                    for child in m.world.fs.sorted_children(at).into_iter().rev() {
                        if matches!(m.world.fs.node(child).kind, Kind::Link(_)) {
                            continue;
                        }
                        let name = &m.world.fs.node(child).name;
                        let child_shown = if shown.ends_with('/') {
                            format!("{shown}{name}")
                        } else {
                            format!("{shown}/{name}")
                        };
                        stack.push((child, child_shown));
                    }
                    continue;
                }
                _ => continue,
            };
            for (n, line) in text.lines().enumerate() {
                let hit = if ignore_case {
                    line.to_ascii_lowercase().contains(&pattern)
                } else {
                    line.contains(&pattern)
                };
                if !hit {
                    continue;
                }
                if names_only {
                    out.line(&shown);
                    break;
                }
                let mut t = String::new();
                if prefix {
                    t.push_str(&shown);
                    t.push(':');
                }
                if numbers {
                    t.push_str(&format!("{}:", n + 1));
                }
                t.push_str(line);
                out.line(&t);
            }
        }
    }
}

fn id(m: &Machine, proc: &Proc, args: &[String], out: &mut Out) {
    let mut flags = String::new();
    let mut who = None;
    for a in args {
        if let Some(f) = a.strip_prefix('-') {
            flags.push_str(f);
        } else {
            who = Some(a);
        }
    }
    let (uid, euid) = match who {
        Some(name) => match m.world.user_named(name) {
            Some(u) => (u.uid, u.uid),
            None => {
                out.err(&format!("id: '{}': no such user", echo(name)));
                return;
            }
        },
        None => (proc.uid, proc.euid),
    };
    if flags.contains('u') {
        if flags.contains('n') {
            out.line(&m.world.user_name(euid));
        } else {
            out.line(&euid.to_string());
        }
        return;
    }
    let groups = m.world.groups_of(uid);
    let gid = groups.first().copied().unwrap_or(uid);
    let mut line = format!(
        "uid={uid}({}) gid={gid}({})",
        m.world.user_name(uid),
        m.world.group_name(gid)
    );
    if euid != uid {
        line.push_str(&format!(" euid={euid}({})", m.world.user_name(euid)));
    }
    let list: Vec<String> = groups
        .iter()
        .map(|g| format!("{g}({})", m.world.group_name(*g)))
        .collect();
    line.push_str(&format!(" groups={}", list.join(",")));
    out.line(&line);
}

pub(crate) fn echo_cmd(args: &[String], out: &mut Out) {
    let mut newline = true;
    let mut words = args;
    while let Some((first, rest)) = words.split_first() {
        match first.as_str() {
            "-n" => newline = false,
            "-e" | "-E" => {}
            _ => break,
        }
        words = rest;
    }
    out.push(&words.join(" "));
    if newline {
        out.push("\n");
    }
}

fn env(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
    let rest: Vec<String> = args
        .iter()
        .skip_while(|a| a.starts_with('-') || a.contains('='))
        .cloned()
        .collect();
    if rest.is_empty() {
        let user = m.world.user_name(proc.uid);
        out.line(&format!(
            "SHELL=/bin/bash\nUSER={user}\nHOME={}\nLOGNAME={user}\nPATH=/usr/local/bin:/usr/bin:/bin\nLANG=C.UTF-8",
            m.world.fs.path_of(proc.home)
        ));
        return Effect::None;
    }
    m.exec(proc, &rest, true, out)
}

/// Runs `command` through `/bin/sh -c`, as `system()` does.
fn system(m: &mut Machine, proc: &Proc, command: &str, out: &mut Out) -> Effect {
    let argv = vec!["/bin/sh".to_string(), "-c".to_string(), command.to_string()];
    m.exec(proc, &argv, true, out)
}

/// The string literals inside the first `name(...)` call of `code`.
fn call_args(code: &str, name: &str) -> Option<Vec<String>> {
    let at = code.find(name)?;
    let rest = code
        .get(at + name.len()..)?
        .trim_start()
        .strip_prefix('(')?;
    let mut args = Vec::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            ')' => return Some(args),
            '"' | '\'' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') => {
                            if let Some(e) = chars.next() {
                                s.push(e);
                            }
                        }
                        Some(q) => s.push(q),
                        None => return None,
                    }
                }
                args.push(s);
            }
            _ => {}
        }
    }
    None
}

fn awk(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
    let mut sep: Option<String> = None;
    let mut rest = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "-F" {
            sep = args.get(i + 1).cloned();
            i += 2;
            continue;
        }
        if let Some(s) = a.strip_prefix("-F") {
            sep = Some(s.to_string());
        } else {
            rest.push(a.clone());
        }
        i += 1;
    }
    let Some((program, files)) = rest.split_first() else {
        out.err("usage: awk [-F sep] 'program' [file ...]");
        return Effect::None;
    };
    if let Some(cmd) = call_args(program, "system").and_then(|a| a.into_iter().next()) {
        return system(m, proc, &cmd, out);
    }
    let body = program.trim();
    let (filter, action) = match body.strip_prefix('/') {
        Some(r) => match r.split_once('/') {
            Some((pat, action)) => (Some(pat.to_string()), action.trim()),
            None => (None, body),
        },
        None => (None, body),
    };
    let action = if action.is_empty() { "{print}" } else { action };
    let Some(inner) = action
        .strip_prefix('{')
        .and_then(|a| a.strip_suffix('}'))
        .map(str::trim)
    else {
        out.err(
            "awk: syntax error: this awk knows BEGIN {system(\"cmd\")}, [/text/] {print [$N, ...]}",
        );
        return Effect::None;
    };
    let fields: Vec<usize> = if inner == "print" || inner == "print $0" {
        vec![0]
    } else if let Some(list) = inner.strip_prefix("print ") {
        let mut fields = Vec::new();
        for f in list.split(',') {
            match f.trim().strip_prefix('$').and_then(|n| n.parse().ok()) {
                Some(n) => fields.push(n),
                None => {
                    out.err("awk: syntax error: this awk prints only fields ($N)");
                    return Effect::None;
                }
            }
        }
        fields
    } else {
        out.err(
            "awk: syntax error: this awk knows BEGIN {system(\"cmd\")}, [/text/] {print [$N, ...]}",
        );
        return Effect::None;
    };
    if files.is_empty() {
        out.err("awk: reading standard input is not supported here; give a file");
        return Effect::None;
    }
    for path in files {
        if m.exhausted() {
            break;
        }
        let text = match read_text(m, proc, path) {
            Ok(t) => t,
            Err(e) => {
                out.err(&format!("awk: cannot open \"{}\" ({e})", echo(path)));
                continue;
            }
        };
        for line in text.lines() {
            if out.stopped() {
                return Effect::None;
            }
            if filter.as_ref().is_some_and(|f| !line.contains(f.as_str())) {
                continue;
            }
            let split: Vec<&str> = match &sep {
                Some(s) if !s.is_empty() => line.split(s.as_str()).collect(),
                _ => line.split_whitespace().collect(),
            };
            let shown: Vec<&str> = fields
                .iter()
                .map(|&n| {
                    if n == 0 {
                        line
                    } else {
                        split.get(n - 1).copied().unwrap_or("")
                    }
                })
                .collect();
            out.line(&shown.join(" "));
        }
    }
    Effect::None
}

/// Splits Python source into statements at `;` and newlines outside strings.
fn statements(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in code.chars() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => {
                    quote = Some(c);
                    cur.push(c);
                }
                ';' | '\n' => out.push(core::mem::take(&mut cur)),
                c => cur.push(c),
            },
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .take(32)
        .collect()
}

fn python(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
    let code = match args {
        [flag, code, ..] if flag == "-c" => code.clone(),
        [v] if v == "--version" || v == "-V" => {
            out.line("Python 3.11.2");
            return Effect::None;
        }
        _ => {
            out.err("Python 3.11.2: the interactive interpreter is not available here; use python3 -c 'CODE'");
            return Effect::None;
        }
    };
    let mut p = proc.clone();
    for stmt in statements(&code) {
        let fail = |out: &mut Out, what: &str| {
            out.err(&format!(
                "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n{what}"
            ));
        };
        if stmt.starts_with("import ") || stmt.starts_with("from ") {
            continue;
        }
        if let Some(rest) = stmt
            .strip_prefix("os.setuid(")
            .or_else(|| stmt.strip_prefix("os.setreuid("))
        {
            let n: Option<u32> = rest
                .split([',', ')'])
                .next()
                .and_then(|n| n.trim().parse().ok());
            match n {
                Some(n) if p.euid == 0 || n == p.uid => {
                    p.uid = n;
                    p.euid = n;
                }
                Some(_) => {
                    fail(out, "PermissionError: [Errno 1] Operation not permitted");
                    return Effect::None;
                }
                None => {
                    fail(
                        out,
                        "TypeError: 'str' object cannot be interpreted as an integer",
                    );
                    return Effect::None;
                }
            }
            continue;
        }
        if stmt.starts_with("os.setgid(") || stmt.starts_with("os.setregid(") {
            continue;
        }
        for call in [
            "os.system",
            "subprocess.call",
            "subprocess.run",
            "subprocess.check_output",
        ] {
            if stmt.starts_with(call) {
                let Some(cmd) = call_args(&stmt, call).and_then(|a| a.into_iter().next()) else {
                    fail(out, "TypeError: expected a command string");
                    return Effect::None;
                };
                let effect = system(m, &p, &cmd, out);
                if effect != Effect::None {
                    return effect;
                }
            }
        }
        if stmt.starts_with("os.system") || stmt.starts_with("subprocess.") {
            continue;
        }
        if stmt.starts_with("os.exec") || stmt.starts_with("pty.spawn") {
            let name = stmt.split('(').next().unwrap_or("");
            let Some(mut argv) = call_args(&stmt, name) else {
                fail(out, "TypeError: expected string arguments");
                return Effect::None;
            };
            if name == "pty.spawn" {
                if argv.len() == 1
                    && let Ok(words) = split_words(&argv[0])
                    && words.len() > 1
                {
                    argv = words;
                }
            } else if argv.len() >= 2 {
                // os.execl(path, arg0, args...): arg0 is the program's own name.
                argv.remove(1);
            }
            return m.exec(&p, &argv, true, out);
        }
        if let Some(path) = call_args(&stmt, "open")
            .filter(|_| stmt.starts_with("print("))
            .and_then(|a| a.into_iter().next())
        {
            match read_text(m, &p, &path) {
                Ok(text) => out.push(&text),
                Err("Permission denied") => {
                    fail(
                        out,
                        &format!(
                            "PermissionError: [Errno 13] Permission denied: '{}'",
                            echo(&path)
                        ),
                    );
                    return Effect::None;
                }
                Err(_) => {
                    fail(
                        out,
                        &format!(
                            "FileNotFoundError: [Errno 2] No such file or directory: '{}'",
                            echo(&path)
                        ),
                    );
                    return Effect::None;
                }
            }
            continue;
        }
        if let Some(s) = call_args(&stmt, "print").filter(|_| stmt.starts_with("print(")) {
            out.line(&s.join(" "));
            continue;
        }
        fail(
            out,
            "NameError: this python supports import, os.system, os.execl, os.setuid, pty.spawn, subprocess.call, print(open(F).read())",
        );
        return Effect::None;
    }
    Effect::None
}

/// The first `lines` lines of a file, as a pager shows them.
fn screen(m: &mut Machine, proc: &Proc, path: &str, lines: usize) -> Result<String, &'static str> {
    let text = read_text(m, proc, path)?;
    let mut shown = String::new();
    for line in text.lines().take(lines) {
        shown.push_str(line);
        shown.push('\n');
    }
    Ok(shown)
}

fn vim(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
    let mut commands = Vec::new();
    let mut file = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "-c" {
            if let Some(c) = args.get(i + 1) {
                commands.push(c.clone());
            }
            i += 2;
            continue;
        }
        if let Some(c) = a.strip_prefix('+') {
            commands.push(c.to_string());
        } else if !a.starts_with('-') {
            file = Some(a.clone());
        }
        i += 1;
    }
    if let Some(path) = &file {
        match screen(m, proc, path, 30) {
            Ok(text) => {
                out.push(&text);
                out.line(&format!("\"{}\"", echo(path)));
            }
            Err("No such file or directory") => out.line(&format!("\"{}\" [New]", echo(path))),
            Err(e) => out.line(&format!("\"{}\" [{e}]", echo(path))),
        }
    } else {
        out.line("~\n~              VIM - Vi IMproved\n~\n~      type  :q<Enter>               to exit\n~");
    }
    let pager = Pager {
        proc: proc.clone(),
        editor: true,
    };
    for c in commands {
        match editor_command(m, &pager, &c, out) {
            Some(effect) => return effect,
            None => continue,
        }
    }
    Effect::Pager(pager)
}

/// Runs one vim `:` command; `Some` when it leaves the editor.
fn editor_command(m: &mut Machine, pager: &Pager, input: &str, out: &mut Out) -> Option<Effect> {
    let c = input.trim();
    let c = c.strip_prefix(':').unwrap_or(c).trim();
    match c {
        "q" | "q!" | "qa" | "qa!" | "wq" | "x" | "wq!" => Some(Effect::None),
        "sh" | "shell" => Some(m.exec(&pager.proc, &["/bin/sh".to_string()], true, out)),
        _ if c.starts_with("set ") => None,
        _ if c.starts_with('!') => {
            let cmd = c[1..].trim();
            let cmd = if cmd.is_empty() { "/bin/sh" } else { cmd };
            let effect = system(m, &pager.proc, cmd, out);
            if effect != Effect::None {
                return Some(effect);
            }
            out.line("\nPress ENTER or type command to continue");
            None
        }
        _ if c.starts_with("e ") || c.starts_with("r ") => {
            let path = c[2..].trim();
            match screen(m, &pager.proc, path, 30) {
                Ok(text) => out.push(&text),
                Err(e) => out.line(&format!("E484: Can't open file {} ({e})", echo(path))),
            }
            None
        }
        _ => {
            out.line(&format!("E492: Not an editor command: {}", echo(c)));
            None
        }
    }
}

fn less(m: &mut Machine, proc: &Proc, name: &str, args: &[String], out: &mut Out) -> Effect {
    let Some(path) = args.iter().find(|a| !a.starts_with('-')) else {
        out.err(&format!(
            "Missing filename (\"{} --help\" for help)",
            echo(name)
        ));
        return Effect::None;
    };
    match screen(m, proc, path, 40) {
        Ok(text) => {
            out.push(&text);
            out.line("(END)");
        }
        Err(e) => {
            out.err(&format!("{}: {e}", echo(path)));
            return Effect::None;
        }
    }
    Effect::Pager(Pager {
        proc: proc.clone(),
        editor: false,
    })
}

/// A line typed into less or vim. Returns the effect and whether the
/// program is still running.
pub(crate) fn pager_input(
    m: &mut Machine,
    pager: &Pager,
    input: &str,
    out: &mut Out,
) -> (Effect, bool) {
    let input = input.trim();
    if pager.editor {
        if !input.starts_with(':') && input != "ZZ" {
            out.line("-- this vim takes : commands only (:q, :!cmd, :sh, :e FILE) --");
            return (Effect::None, true);
        }
        if input == "ZZ" {
            return (Effect::None, false);
        }
        return match editor_command(m, pager, input, out) {
            Some(effect) => (effect, false),
            None => (Effect::None, true),
        };
    }
    match input {
        "q" | "Q" | ":q" | "ZZ" => (Effect::None, false),
        _ if input.starts_with('!') => {
            let cmd = input[1..].trim();
            let cmd = if cmd.is_empty() { "/bin/sh" } else { cmd };
            let effect = system(m, &pager.proc, cmd, out);
            if effect != Effect::None {
                return (effect, false);
            }
            out.line("!done  (press RETURN)");
            (Effect::None, true)
        }
        _ => {
            out.line("(END)  [this less takes: q to quit, !command to run a shell command]");
            (Effect::None, true)
        }
    }
}

fn tar(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
    let mut letters = String::new();
    let mut operands: Vec<String> = Vec::new();
    let mut action: Option<String> = None;
    for (i, a) in args.iter().enumerate() {
        if let Some(long) = a.strip_prefix("--") {
            if let Some(cmd) = long.strip_prefix("checkpoint-action=exec=") {
                action = Some(cmd.to_string());
            } else if long == "to-stdout" {
                letters.push('O');
            }
        } else if let Some(l) = a.strip_prefix('-') {
            letters.push_str(l);
        } else if i == 0 && !a.contains('/') && a.chars().all(|c| "ctxvfzOp".contains(c)) {
            letters.push_str(a);
        } else {
            operands.push(a.clone());
        }
    }
    let mode = letters.chars().find(|c| "ctx".contains(*c));
    let Some(mode) = mode else {
        out.err(
            "tar: You must specify one of the '-Acdtrux', '--delete' or '--test-label' options",
        );
        return Effect::None;
    };
    if !letters.contains('f') || operands.is_empty() {
        out.err("tar: this tar needs an archive: -f ARCHIVE");
        return Effect::None;
    }
    let archive = operands.remove(0);
    if let Some(cmd) = &action {
        // GNU tar runs the checkpoint action while it works on the archive.
        let effect = system(m, proc, cmd, out);
        if effect != Effect::None {
            return effect;
        }
    }
    let verbose = letters.contains('v');
    match mode {
        'c' => {
            let mut members = Vec::new();
            for path in &operands {
                if m.exhausted() {
                    break;
                }
                collect_members(m, proc, path, &mut members, out);
            }
            if operands.iter().any(|p| p.starts_with('/')) {
                out.err("tar: Removing leading `/' from member names");
            }
            if let Err(e) = m.write_kind(proc, &archive, |_| Kind::Tar(members)) {
                out.err(&format!("tar: {}: Cannot open: {e}", echo(&archive)));
            }
        }
        _ => {
            let members = match m.resolve(proc, &archive) {
                Ok(id) if !m.allowed(proc, id, R) => {
                    out.err(&format!(
                        "tar: {}: Cannot open: Permission denied",
                        echo(&archive)
                    ));
                    return Effect::None;
                }
                Ok(id) => match &m.world.fs.node(id).kind {
                    Kind::Tar(members) => members.clone(),
                    _ => {
                        out.err("tar: This does not look like a tar archive");
                        return Effect::None;
                    }
                },
                Err(e) => {
                    out.err(&format!(
                        "tar: {}: Cannot open: {}",
                        echo(&archive),
                        e.message()
                    ));
                    return Effect::None;
                }
            };
            let wanted = |name: &str| {
                operands.is_empty()
                    || operands.iter().any(|o| {
                        o.trim_start_matches("./").trim_end_matches('/') == name
                            || name.starts_with(&format!("{}/", o.trim_end_matches('/')))
                    })
            };
            for (name, content) in members.iter().filter(|(n, _)| wanted(n)) {
                if mode == 't' {
                    if verbose {
                        out.line(&format!(
                            "-rw-r--r-- root/root {:>8} 2024-01-12 09:41 {name}",
                            content.len()
                        ));
                    } else {
                        out.line(name);
                    }
                } else if letters.contains('O') {
                    out.push(content);
                } else {
                    if verbose {
                        out.line(name);
                    }
                    extract(m, proc, name, content, out);
                }
            }
        }
    }
    Effect::None
}

fn collect_members(
    m: &mut Machine,
    proc: &Proc,
    path: &str,
    members: &mut Vec<(String, String)>,
    out: &mut Out,
) {
    let Ok(id) = m.resolve(proc, path) else {
        out.err(&format!(
            "tar: {}: Cannot stat: No such file or directory",
            echo(path)
        ));
        return;
    };
    let mut stack = vec![id];
    while let Some(at) = stack.pop() {
        if members.len() >= 64 || !m.spend(1) {
            return;
        }
        let name = m.world.fs.path_of(at).trim_start_matches('/').to_string();
        if !m.allowed(proc, at, R) {
            out.err(&format!("tar: {name}: Cannot open: Permission denied"));
            continue;
        }
        match &m.world.fs.node(at).kind {
            Kind::File(t) => members.push((name, t.clone())),
            Kind::Dir(_) => {
                stack.extend(m.world.fs.sorted_children(at).into_iter().rev());
            }
            _ => {}
        }
    }
}

fn extract(m: &mut Machine, proc: &Proc, name: &str, content: &str, out: &mut Out) {
    let cwd = m.world.fs.path_of(proc.cwd);
    let (dir, file) = split_path(name);
    let mut at = cwd.clone();
    if dir != "." {
        for part in dir.split('/').filter(|p| !p.is_empty() && *p != "..") {
            at = if at.ends_with('/') {
                format!("{at}{part}")
            } else {
                format!("{at}/{part}")
            };
            if m.resolve(proc, &at).is_err() {
                let (parent, leaf) = split_path(&at);
                let Ok(pid) = m.resolve(proc, parent) else {
                    return;
                };
                if !m.allowed(proc, pid, W | X) {
                    out.err(&format!("tar: {name}: Cannot mkdir: Permission denied"));
                    return;
                }
                let gid = m.world.groups_of(proc.euid).first().copied().unwrap_or(0);
                if m.world
                    .fs
                    .add(pid, leaf, (proc.euid, gid, 0o755), Kind::Dir(Vec::new()))
                    .is_none()
                {
                    return;
                }
            }
        }
    }
    let target = format!("{}/{file}", at.trim_end_matches('/'));
    if let Err(e) = m.write_file(proc, &target, content, false) {
        out.err(&format!("tar: {name}: Cannot open: {e}"));
    }
}

/// One rule of sudoers.
struct Rule {
    who: String,
    runas: Vec<String>,
    nopasswd: bool,
    /// `None`: ALL. Otherwise program path and, when given, exact arguments.
    commands: Vec<Option<(String, Option<Vec<String>>)>>,
}

fn parse_rules(text: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    for line in text.lines().take(200) {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with("Defaults")
            || line.starts_with('@')
        {
            continue;
        }
        let Some((who, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let Some((_, spec)) = rest.split_once('=') else {
            continue;
        };
        let mut spec = spec.trim();
        let mut runas = vec!["root".to_string()];
        if let Some(r) = spec.strip_prefix('(')
            && let Some((inside, after)) = r.split_once(')')
        {
            runas = inside
                .split(':')
                .next()
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_string())
                .collect();
            spec = after.trim();
        }
        let mut nopasswd = false;
        loop {
            if let Some(s) = spec.strip_prefix("NOPASSWD:") {
                nopasswd = true;
                spec = s.trim();
            } else if let Some(s) = spec.strip_prefix("PASSWD:") {
                spec = s.trim();
            } else {
                break;
            }
        }
        let commands = spec
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| {
                if c == "ALL" {
                    return None;
                }
                let mut words = c.split_whitespace();
                let path = words.next().unwrap_or("").to_string();
                let args: Vec<String> = words.map(ToString::to_string).collect();
                Some((path, if args.is_empty() { None } else { Some(args) }))
            })
            .collect();
        rules.push(Rule {
            who: who.to_string(),
            runas,
            nopasswd,
            commands,
        });
    }
    rules
}

fn sudoers_text(m: &mut Machine) -> String {
    let root = Proc {
        uid: 0,
        euid: 0,
        cwd: crate::fs::ROOT,
        home: crate::fs::ROOT,
        depth: 0,
        via_suid: false,
    };
    let mut text = read_text(m, &root, "/etc/sudoers").unwrap_or_default();
    if let Ok(dir) = m.resolve(&root, "/etc/sudoers.d") {
        for child in m.world.fs.sorted_children(dir) {
            let name = &m.world.fs.node(child).name;
            // sudo skips names with a dot or ending in ~.
            if name.contains('.') || name.ends_with('~') {
                continue;
            }
            if let Kind::File(t) = &m.world.fs.node(child).kind {
                text.push('\n');
                text.push_str(t);
            }
        }
    }
    text
}

fn rule_text(rule: &Rule) -> String {
    let runas = if rule.runas.iter().any(|r| r == "ALL") {
        "(ALL : ALL)".to_string()
    } else {
        format!("({})", rule.runas.join(", "))
    };
    let cmds: Vec<String> = rule
        .commands
        .iter()
        .map(|c| match c {
            None => "ALL".to_string(),
            Some((p, None)) => p.clone(),
            Some((p, Some(a))) => format!("{p} {}", a.join(" ")),
        })
        .collect();
    format!(
        "    {runas} {}{}",
        if rule.nopasswd { "NOPASSWD: " } else { "" },
        cmds.join(", ")
    )
}

pub(crate) fn sudo(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
    let Some(user) = m.world.user(proc.uid).map(|u| u.name.clone()) else {
        out.err("sudo: you do not exist in the passwd database");
        return Effect::None;
    };
    let host = m.world.host.clone();
    let mut list = false;
    let mut login = false;
    let mut shell = false;
    let mut non_interactive = false;
    let mut target = "root".to_string();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-l" | "--list" | "-ll" => list = true,
            "-i" | "--login" => login = true,
            "-s" | "--shell" => shell = true,
            "-n" | "--non-interactive" => non_interactive = true,
            "-k" | "-E" | "-H" | "-S" => {}
            "-u" => {
                if let Some(u) = args.get(i + 1) {
                    target = u.clone();
                }
                i += 1;
            }
            "--" => {
                i += 1;
                break;
            }
            s if s.starts_with('-') => {
                out.err(&format!(
                    "sudo: invalid option -- '{}'",
                    echo(s.trim_start_matches('-'))
                ));
                return Effect::None;
            }
            _ => break,
        }
        i += 1;
    }
    let command: Vec<String> = args.get(i..).unwrap_or(&[]).to_vec();
    let groups: Vec<String> = m
        .world
        .groups_of(proc.uid)
        .iter()
        .map(|g| m.world.group_name(*g))
        .collect();
    let rules: Vec<Rule> = parse_rules(&sudoers_text(m))
        .into_iter()
        .filter(|r| {
            r.who == user
                || r.who
                    .strip_prefix('%')
                    .is_some_and(|g| groups.iter().any(|x| x == g))
        })
        .collect();
    let authed = proc.uid == 0 || m.sudo_cached(proc.uid);
    let ask = |m: &Machine, out: &mut Out| {
        if non_interactive {
            out.err("sudo: a password is required");
            return Effect::None;
        }
        let _ = m;
        Effect::Ask(Pending::Sudo {
            proc: proc.clone(),
            args: args.to_vec(),
        })
    };
    if list {
        if !authed && !rules.iter().any(|r| r.nopasswd) {
            return ask(m, out);
        }
        if rules.is_empty() {
            out.line(&format!("Sorry, user {user} may not run sudo on {host}."));
            return Effect::None;
        }
        out.line(&format!(
            "Matching Defaults entries for {user} on {host}:\n    env_reset, mail_badpass,\n    secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin, use_pty\n\nUser {user} may run the following commands on {host}:"
        ));
        for r in &rules {
            out.line(&rule_text(r));
        }
        return Effect::None;
    }
    let Some(target_user) = m.world.user_named(&target) else {
        out.err(&format!("sudo: unknown user {}", echo(&target)));
        return Effect::None;
    };
    let (target_uid, target_home, target_shell) = (
        target_user.uid,
        target_user.home.clone(),
        target_user.shell.clone(),
    );
    let argv: Vec<String> = if login || shell {
        let mut v = vec![target_shell];
        if !command.is_empty() {
            v.push("-c".to_string());
            v.push(command.join(" "));
        }
        v
    } else if command.is_empty() {
        out.err("usage: sudo -l | sudo [-u user] [-i | -s] [command [arg ...]]");
        return Effect::None;
    } else {
        command
    };
    let path = match m.lookup(proc, &argv[0]) {
        Ok(id) => m.world.fs.path_of(id),
        Err(_) => {
            out.err(&format!("sudo: {}: command not found", echo(&argv[0])));
            return Effect::None;
        }
    };
    // /bin/x and /usr/bin/x are the same file; rules name either.
    let same = |rule_path: &str| {
        rule_path == path
            || rule_path
                .strip_prefix("/bin/")
                .is_some_and(|n| path == format!("/usr/bin/{n}"))
    };
    let matched = rules.iter().find(|r| {
        (r.runas.iter().any(|x| x == "ALL" || *x == target))
            && r.commands.iter().any(|c| match c {
                None => true,
                Some((p, a)) => same(p) && a.as_ref().is_none_or(|a| a.as_slice() == &argv[1..]),
            })
    });
    let nopasswd = matched.is_some_and(|r| r.nopasswd);
    if !authed && !nopasswd {
        return ask(m, out);
    }
    if matched.is_none() {
        if rules.is_empty() {
            out.err(&format!(
                "{user} is not in the sudoers file.  This incident will be reported."
            ));
        } else {
            out.err(&format!(
                "Sorry, user {user} is not allowed to execute '{}' as {} on {host}.",
                echo(&argv.join(" ")),
                echo(&target)
            ));
        }
        return Effect::None;
    }
    if let Family::Sudo { path: vector } = &m.world.family
        && *vector == path
        && target_uid == 0
    {
        m.milestones.vector = true;
    }
    let root = crate::fs::Access {
        euid: 0,
        groups: Vec::new(),
    };
    let home = m
        .world
        .fs
        .resolve_as(&root, crate::fs::ROOT, crate::fs::ROOT, &target_home, true)
        .unwrap_or(crate::fs::ROOT);
    let child = Proc {
        uid: target_uid,
        euid: target_uid,
        cwd: if login { home } else { proc.cwd },
        home,
        depth: proc.depth,
        via_suid: false,
    };
    let effect = m.exec(&child, &argv, false, out);
    match effect {
        Effect::Shell(mut f) if login => {
            f.style = Style::Login;
            Effect::Shell(f)
        }
        Effect::Shell(mut f) => {
            if f.style == Style::Bash {
                f.style = Style::Login;
            }
            Effect::Shell(f)
        }
        other => other,
    }
}

fn su(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
    let mut login = false;
    let mut target = "root".to_string();
    for a in args {
        match a.as_str() {
            "-" | "-l" | "--login" => login = true,
            "-c" | "-s" | "--command" => {
                out.err(
                    "su: -c and -s are not supported here; switch user first, then run commands",
                );
                return Effect::None;
            }
            s if s.starts_with('-') => {
                out.err(&format!(
                    "su: invalid option -- '{}'",
                    echo(s.trim_start_matches('-'))
                ));
                return Effect::None;
            }
            name => target = name.to_string(),
        }
    }
    let Some(user) = m.world.user_named(&target) else {
        out.err(&format!(
            "su: user {} does not exist or the user entry does not contain all the required fields",
            echo(&target)
        ));
        return Effect::None;
    };
    if user.shell.ends_with("nologin") {
        out.err("This account is currently not available.");
        return Effect::None;
    }
    let uid = user.uid;
    if proc.uid == 0 {
        return Effect::Shell(m.su_frame(uid, login));
    }
    Effect::Ask(Pending::Su { target: uid, login })
}

fn service(m: &Machine, proc: &Proc, args: &[String], out: &mut Out) {
    let [name, action, ..] = args else {
        out.err("Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]");
        return;
    };
    if *name != m.world.app {
        out.err(&format!("{}: unrecognized service", echo(name)));
        return;
    }
    match action.as_str() {
        "status" => out.line(&format!(
            "● {name}.service - {name}\n     Loaded: loaded (/etc/systemd/system/{name}.service; enabled)\n     Active: active (running) since Fri 2024-01-12 09:41:07 UTC"
        )),
        "start" | "stop" | "restart" | "reload" if proc.euid != 0 => out.err(&format!(
            "Failed to {action} {name}.service: Interactive authentication required."
        )),
        "start" | "stop" | "restart" | "reload" => {}
        other => out.err(&format!("Unknown operation {}.", echo(other))),
    }
}

fn inert(name: &str, args: &[String], out: &mut Out) {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base {
        "passwd" => out.err("Current password: passwd: Authentication token manipulation error\npasswd: password unchanged"),
        "mount" if args.is_empty() => out.line("/dev/sda1 on / type ext4 (rw,relatime,errors=remount-ro)\ntmpfs on /tmp type tmpfs (rw,nosuid,nodev)"),
        "mount" | "umount" => out.err(&format!("{base}: only root can do that.")),
        "chsh" | "chfn" => out.err(&format!("Password: {base}: PAM: Authentication failure")),
        "gpasswd" => out.err("gpasswd: Permission denied."),
        "newgrp" => out.err("Password: Invalid password."),
        _ => out.err(&format!("{}: operation not permitted", echo(base))),
    }
}
