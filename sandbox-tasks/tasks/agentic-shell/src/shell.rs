//! The simulated shell: reading a command from a reply, and running it.
//!
//! Everything here takes model text, so nothing may panic and every echo of
//! that text is cut short: output is bounded by [`MAX_OUTPUT`].

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_task_sdk::text::truncate;

use crate::fs::{Fs, Kind, NodeId, PathError};

/// Most bytes of command output shown in one turn.
pub(crate) const MAX_OUTPUT: usize = 8 * 1024;
/// Most bytes of a model-supplied word echoed back in a message.
const MAX_ECHO: usize = 64;

/// Command output, cut at [`MAX_OUTPUT`] bytes.
pub(crate) struct Out {
    text: String,
    full: bool,
}

impl Out {
    pub(crate) fn new() -> Out {
        Out {
            text: String::new(),
            full: false,
        }
    }

    pub(crate) fn push(&mut self, s: &str) {
        if self.full {
            return;
        }
        let room = MAX_OUTPUT - self.text.len();
        if s.len() > room {
            self.text.push_str(truncate(s, room));
            self.full = true;
        } else {
            self.text.push_str(s);
        }
    }

    pub(crate) fn line(&mut self, s: &str) {
        self.push(s);
        self.push("\n");
    }

    pub(crate) fn finish(mut self) -> String {
        if self.full {
            if !self.text.ends_with('\n') {
                self.text.push('\n');
            }
            self.text.push_str("[output truncated]\n");
        }
        self.text
    }
}

/// A model-supplied word, shortened for echoing.
fn echo(word: &str) -> &str {
    truncate(word, MAX_ECHO)
}

/// The command line in a reply: its first line that is not blank and not a
/// Markdown code fence, without a leading `$ ` prompt or enclosing backticks.
pub(crate) fn command_line(reply: &str) -> &str {
    for line in reply.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("```") {
            continue;
        }
        let line = line.strip_prefix('$').map(str::trim_start).unwrap_or(line);
        let line = line
            .strip_prefix('`')
            .and_then(|l| l.strip_suffix('`'))
            .unwrap_or(line);
        return line.trim();
    }
    ""
}

/// Why a command line could not be split into words.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LexError {
    Unterminated(char),
    Unsupported(char),
}

/// Splits a command line into words: blanks separate words, `'...'` and
/// `"..."` quote, `\` escapes, `#` at the start of a word comments out
/// the rest. Pipes, redirections, lists and substitutions are refused.
pub(crate) fn split_words(line: &str) -> Result<Vec<String>, LexError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => word.push(q),
                        None => return Err(LexError::Unterminated('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some(e) => {
                                word.push('\\');
                                word.push(e);
                            }
                            None => return Err(LexError::Unterminated('"')),
                        },
                        Some(q) => word.push(q),
                        None => return Err(LexError::Unterminated('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(e) = chars.next() {
                    word.push(e);
                }
            }
            '|' | '>' | '<' | ';' | '&' | '`' => return Err(LexError::Unsupported(c)),
            '$' if chars.clone().next() == Some('(') => return Err(LexError::Unsupported('$')),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Shell-style glob match of a whole name: `*` any run, `?` one character.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and which name position it is matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == '*')
}

/// A shell session: where the model is and what it may see.
pub(crate) struct Session<'a> {
    pub(crate) fs: &'a Fs,
    pub(crate) cwd: &'a mut NodeId,
    pub(crate) home: NodeId,
    pub(crate) user: &'a str,
    pub(crate) host: &'a str,
}

/// Short flags of a command: letters after `-` in words before the operands.
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
                    out.line(&format!("{command}: invalid option -- '{c}'"));
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

impl Session<'_> {
    fn resolve(&self, path: &str) -> Result<NodeId, PathError> {
        self.fs.resolve(*self.cwd, self.home, path)
    }

    /// The prompt shown after each command, bash style.
    pub(crate) fn prompt(&self) -> String {
        let path = self.fs.path_of(*self.cwd);
        let home = self.fs.path_of(self.home);
        let shown = match path.strip_prefix(home.as_str()) {
            Some("") => "~".to_string(),
            Some(rest) if rest.starts_with('/') => format!("~{rest}"),
            _ => path,
        };
        format!("{}@{}:{shown}$ ", self.user, self.host)
    }

    pub(crate) fn pwd(&self, out: &mut Out) {
        out.line(&self.fs.path_of(*self.cwd));
    }

    pub(crate) fn cd(&mut self, args: &[String], out: &mut Out) {
        let target = match args {
            [] => Ok(self.home),
            [path] => self.resolve(path),
            _ => {
                out.line("bash: cd: too many arguments");
                return;
            }
        };
        let shown = args.first().map(|a| echo(a)).unwrap_or("~");
        match target {
            Ok(id) if self.fs.node(id).is_dir() => *self.cwd = id,
            Ok(_) => out.line(&format!("bash: cd: {shown}: Not a directory")),
            Err(e) => out.line(&format!("bash: cd: {shown}: {}", e.message())),
        }
    }

    fn long_line(&self, id: NodeId, name: &str) -> String {
        let node = self.fs.node(id);
        let (mode, size) = match &node.kind {
            Kind::Dir(_) => ("drwxr-xr-x", 4096),
            Kind::File(content) => ("-rw-r--r--", content.len()),
        };
        format!(
            "{mode} 1 {owner} {owner} {size:>5} Jan 12 09:41 {name}",
            owner = node.owner
        )
    }

    pub(crate) fn ls(&self, args: &[String], out: &mut Out) {
        let Some(flags) = parse_flags(args, "ls", "alh1", out) else {
            return;
        };
        let all = flags.letters.contains('a');
        let long = flags.letters.contains('l');
        let targets = if flags.operands.is_empty() {
            ["."].iter().map(|s| s.to_string()).collect()
        } else {
            flags.operands
        };
        let many = targets.len() > 1;
        for (i, target) in targets.iter().enumerate() {
            if out.full {
                return;
            }
            let id = match self.resolve(target) {
                Ok(id) => id,
                Err(e) => {
                    out.line(&format!(
                        "ls: cannot access '{}': {}",
                        echo(target),
                        e.message()
                    ));
                    continue;
                }
            };
            if !self.fs.node(id).is_dir() {
                if long {
                    out.line(&self.long_line(id, echo(target)));
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
            let mut entries: Vec<(String, NodeId)> = Vec::new();
            if all {
                entries.push((".".to_string(), id));
                entries.push(("..".to_string(), self.fs.node(id).parent));
            }
            for child in self.fs.sorted_children(id) {
                let name = &self.fs.node(child).name;
                if all || !name.starts_with('.') {
                    entries.push((name.clone(), child));
                }
            }
            if long {
                for (name, child) in &entries {
                    out.line(&self.long_line(*child, name));
                }
            } else if !entries.is_empty() {
                let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
                out.line(&names.join("  "));
            }
        }
    }

    pub(crate) fn cat(&self, args: &[String], out: &mut Out) {
        if args.is_empty() {
            out.line("cat: reading standard input is not supported here; give a file");
            return;
        }
        for path in args {
            if out.full {
                return;
            }
            match self.resolve(path).map(|id| &self.fs.node(id).kind) {
                Ok(Kind::File(content)) => out.push(content),
                Ok(Kind::Dir(_)) => out.line(&format!("cat: {}: Is a directory", echo(path))),
                Err(e) => out.line(&format!("cat: {}: {}", echo(path), e.message())),
            }
        }
    }

    pub(crate) fn find(&self, args: &[String], out: &mut Out) {
        let mut starts: Vec<&str> = Vec::new();
        let mut name: Option<(String, bool)> = None;
        let mut kind: Option<bool> = None;
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            if !arg.starts_with('-') {
                if name.is_some() || kind.is_some() {
                    out.line(&format!(
                        "find: paths must precede expression: `{}'",
                        echo(arg)
                    ));
                    return;
                }
                starts.push(arg);
                i += 1;
                continue;
            }
            let Some(value) = args.get(i + 1) else {
                out.line(&format!("find: missing argument to `{}'", echo(arg)));
                return;
            };
            match arg.as_str() {
                "-name" => name = Some((value.clone(), false)),
                "-iname" => name = Some((value.to_ascii_lowercase(), true)),
                "-type" => match value.as_str() {
                    "f" => kind = Some(false),
                    "d" => kind = Some(true),
                    other => {
                        out.line(&format!("find: Unknown argument to -type: {}", echo(other)));
                        return;
                    }
                },
                other => {
                    out.line(&format!("find: unknown predicate `{}'", echo(other)));
                    return;
                }
            }
            i += 2;
        }
        if starts.is_empty() {
            starts.push(".");
        }
        for start in starts {
            let id = match self.resolve(start) {
                Ok(id) => id,
                Err(e) => {
                    out.line(&format!("find: '{}': {}", echo(start), e.message()));
                    continue;
                }
            };
            let shown = if start.len() > 1 {
                start.trim_end_matches('/')
            } else {
                start
            };
            let shown = if shown.is_empty() { "/" } else { shown };
            // Depth-first, pre-order, children by name: what `find` prints.
            let mut stack: Vec<(NodeId, String)> = Vec::new();
            stack.push((id, shown.to_string()));
            while let Some((at, path)) = stack.pop() {
                if out.full {
                    return;
                }
                let node = self.fs.node(at);
                let base = if at == id { shown } else { node.name.as_str() };
                let name_ok = match &name {
                    None => true,
                    Some((pattern, false)) => glob_match(pattern, base),
                    Some((pattern, true)) => glob_match(pattern, &base.to_ascii_lowercase()),
                };
                let kind_ok = kind.is_none_or(|dir| dir == node.is_dir());
                if name_ok && kind_ok {
                    out.line(&path);
                }
                for child in self.fs.sorted_children(at).into_iter().rev() {
                    let child_path = if path.ends_with('/') {
                        format!("{path}{}", self.fs.node(child).name)
                    } else {
                        format!("{path}/{}", self.fs.node(child).name)
                    };
                    stack.push((child, child_path));
                }
            }
        }
    }

    pub(crate) fn grep(&self, args: &[String], out: &mut Out) {
        let Some(flags) = parse_flags(args, "grep", "rRinF", out) else {
            return;
        };
        let recursive = flags.letters.contains('r') || flags.letters.contains('R');
        let ignore_case = flags.letters.contains('i');
        let numbers = flags.letters.contains('n');
        let Some((pattern, paths)) = flags.operands.split_first() else {
            out.line("usage: grep [-r] [-i] [-n] PATTERN PATH...");
            return;
        };
        let mut paths: Vec<String> = paths.to_vec();
        if paths.is_empty() {
            if !recursive {
                out.line("grep: reading standard input is not supported here; give a file");
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
        for path in &paths {
            let id = match self.resolve(path) {
                Ok(id) => id,
                Err(e) => {
                    out.line(&format!("grep: {}: {}", echo(path), e.message()));
                    continue;
                }
            };
            if self.fs.node(id).is_dir() && !recursive {
                out.line(&format!("grep: {}: Is a directory", echo(path)));
                continue;
            }
            let mut stack = Vec::new();
            stack.push((id, path.trim_end_matches('/').to_string()));
            while let Some((at, shown)) = stack.pop() {
                if out.full {
                    return;
                }
                let shown = if shown.is_empty() {
                    "/".to_string()
                } else {
                    shown
                };
                match &self.fs.node(at).kind {
                    Kind::File(content) => {
                        for (n, line) in content.lines().enumerate() {
                            let hit = if ignore_case {
                                line.to_ascii_lowercase().contains(&pattern)
                            } else {
                                line.contains(&pattern)
                            };
                            if !hit {
                                continue;
                            }
                            let mut text = String::new();
                            if prefix {
                                text.push_str(&shown);
                                text.push(':');
                            }
                            if numbers {
                                text.push_str(&format!("{}:", n + 1));
                            }
                            text.push_str(line);
                            out.line(&text);
                        }
                    }
                    Kind::Dir(_) => {
                        for child in self.fs.sorted_children(at).into_iter().rev() {
                            let name = &self.fs.node(child).name;
                            let child_shown = if shown.ends_with('/') {
                                format!("{shown}{name}")
                            } else {
                                format!("{shown}/{name}")
                            };
                            stack.push((child, child_shown));
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn unknown(&self, command: &str, out: &mut Out) {
        out.line(&format!("bash: {}: command not found", echo(command)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*.txt", "notes.txt"));
        assert!(!glob_match("*.txt", "notes.txt.bak"));
        assert!(glob_match("?otes*", "notes.txt"));
        assert!(glob_match("*a*b*c", "xxaxxbxxc"));
        assert!(!glob_match("*a*b*c", "xxaxxbxxcx"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(glob_match("**", "é"));
    }

    #[test]
    fn words_split_with_quotes_and_escapes() {
        assert_eq!(
            split_words("find / -name '*flag*'"),
            Ok(vec![
                "find".into(),
                "/".into(),
                "-name".into(),
                "*flag*".into()
            ])
        );
        assert_eq!(
            split_words(r#"grep "a b\"c" x\ y # comment"#),
            Ok(vec!["grep".into(), "a b\"c".into(), "x y".into()])
        );
        assert_eq!(split_words("cat a | less"), Err(LexError::Unsupported('|')));
        assert_eq!(split_words("echo $(id)"), Err(LexError::Unsupported('$')));
        assert_eq!(split_words("cat 'oops"), Err(LexError::Unterminated('\'')));
        assert_eq!(split_words("   "), Ok(vec![]));
        assert_eq!(split_words("''"), Ok(vec![String::new()]));
    }

    #[test]
    fn command_line_skips_fences_and_prompts() {
        assert_eq!(command_line("```bash\n$ ls -a\n```"), "ls -a");
        assert_eq!(command_line("\n\n  `pwd`  \nmore"), "pwd");
        assert_eq!(command_line(""), "");
        assert_eq!(command_line("```"), "");
        assert_eq!(command_line("$"), "");
    }
}
