//! What several programs share: reading a file as a process may, and short flags.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::fs::{Kind, PathError, R};
use crate::lex::Out;
use crate::machine::{Machine, Proc};

/// A file's text as `proc` may read it.
pub(super) fn read_text(m: &mut Machine, proc: &Proc, path: &str) -> Result<String, &'static str> {
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
pub(super) fn tar_bytes(members: &[(String, String)]) -> String {
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

/// Short flags: letters after `-` in words before the operands.
pub(super) struct Flags {
    /// Every flag letter given, in order.
    pub(super) letters: String,
    /// The words after the flags.
    pub(super) operands: Vec<String>,
}

pub(super) fn parse_flags(
    args: &[String],
    command: &str,
    allowed: &str,
    out: &mut Out,
) -> Option<Flags> {
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
