//! Files and search: `cat`, `ls`, `cp`, `chmod`, `find`, `grep`, `tar`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use airlock_task_sdk::text::glob_match;

use super::common::{parse_flags, read_text, tar_bytes};
use super::scripting::system;
use crate::fs::{Kind, NodeId, R, W, X, mode_string};
use crate::lex::{Out, echo};
use crate::machine::{Effect, Machine, Proc, split_path};

pub(super) fn cat(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
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

pub(super) fn ls(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
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

pub(super) fn cp(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
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

pub(super) fn chmod(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
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

pub(super) fn find(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
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

pub(super) fn grep(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) {
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

pub(super) fn tar(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
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
