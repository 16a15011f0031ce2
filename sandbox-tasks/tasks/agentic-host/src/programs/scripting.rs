//! Shells and interpreters: `sh`, `bash`, `env`, `echo`, `awk`, `python3`,
//! and `system()`, through which the others start commands.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::common::read_text;
use crate::lex::{Out, echo, split_words};
use crate::machine::{Effect, Frame, Machine, Proc, Style};

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

pub(super) fn shell(
    m: &mut Machine,
    proc: &Proc,
    args: &[String],
    bash: bool,
    out: &mut Out,
) -> Effect {
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

pub(super) fn env(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
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
pub(super) fn system(m: &mut Machine, proc: &Proc, command: &str, out: &mut Out) -> Effect {
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

pub(super) fn awk(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
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

pub(super) fn python(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
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
