//! The pager and the editor: `less` and `vim`, and the lines typed into them.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::common::read_text;
use super::scripting::system;
use crate::lex::{Out, echo};
use crate::machine::{Effect, Machine, Pager, Proc};

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

pub(super) fn vim(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
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

pub(super) fn less(
    m: &mut Machine,
    proc: &Proc,
    name: &str,
    args: &[String],
    out: &mut Out,
) -> Effect {
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
