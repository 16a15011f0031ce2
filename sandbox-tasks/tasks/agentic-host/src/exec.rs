//! The shell that starts programs: command lines with their redirections,
//! the builtins, `exec` (path lookup, permissions, set-uid, and the
//! milestones a privilege escape reaches), and answers to password prompts.
//!
//! It sits above both the machine and the programs: programs start others
//! through [`Machine::exec`], and the machine itself knows no program.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::fs::{Kind, NodeId, PathError, Prog, SUID, X};
use crate::lex::{LexError, Out, Sink, Token, echo, split_commands, tokens};
use crate::machine::{Effect, Machine, Mode, Pending, Proc};
use crate::programs;

/// Deepest nesting of programs starting programs.
const MAX_DEPTH: u8 = 6;

impl Machine {
    /// Runs a command line or script text: commands separated by newlines,
    /// `;`, `&&` or `||`. Stops at the first command that needs the terminal.
    pub(crate) fn run_script(&mut self, proc: &mut Proc, text: &str, out: &mut Out) -> Effect {
        for command in split_commands(text) {
            let effect = self.run_command(proc, command, out);
            if effect != Effect::None {
                return effect;
            }
        }
        Effect::None
    }

    /// Runs one command with its redirections.
    pub(crate) fn run_command(&mut self, proc: &mut Proc, command: &str, out: &mut Out) -> Effect {
        let toks = match tokens(command) {
            Ok(t) => t,
            Err(LexError::Unterminated(q)) => {
                out.err(&format!(
                    "bash: unexpected EOF while looking for matching `{q}'"
                ));
                return Effect::None;
            }
            Err(LexError::Unsupported(c)) => {
                out.err(&format!(
                    "bash: `{c}': pipes, input redirection, background jobs and substitutions \
                     are not supported here; run commands one at a time"
                ));
                return Effect::None;
            }
        };
        let mut argv = Vec::new();
        let mut stdout_to: Option<(String, bool)> = None;
        let mut stderr_to: Option<(String, bool)> = None;
        let mut err_to_out = false;
        let mut iter = toks.into_iter();
        while let Some(tok) = iter.next() {
            match tok {
                Token::Word(w) => argv.push(w),
                Token::ErrToOut => err_to_out = true,
                Token::To { fd, append } => {
                    let Some(Token::Word(path)) = iter.next() else {
                        out.err("bash: syntax error near unexpected token `newline'");
                        return Effect::None;
                    };
                    if fd == 2 {
                        stderr_to = Some((path, append));
                    } else {
                        stdout_to = Some((path, append));
                    }
                }
            }
        }
        if argv.is_empty() && stdout_to.is_none() && stderr_to.is_none() {
            return Effect::None;
        }
        // Like bash, open (check) the targets before running the command.
        for (path, _) in stdout_to.iter().chain(stderr_to.iter()) {
            if let Err(e) = self.check_writable(proc, path) {
                out.err(&format!("bash: {}: {e}", echo(path)));
                return Effect::None;
            }
        }
        let saved = (
            out.out_sink,
            out.err_sink,
            core::mem::take(&mut out.cap_out),
            core::mem::take(&mut out.cap_err),
        );
        if stdout_to.is_some() {
            out.out_sink = Sink::Capture;
        }
        if let Some((path, _)) = &stderr_to {
            out.err_sink = if path == "/dev/null" {
                Sink::Discard
            } else {
                Sink::Capture
            };
        }
        if err_to_out {
            out.err_sink = Sink::ToOut;
        }
        let effect = if argv.is_empty() {
            Effect::None
        } else {
            self.run_argv(proc, &argv, out)
        };
        let captured_out = core::mem::take(&mut out.cap_out);
        let captured_err = core::mem::take(&mut out.cap_err);
        (out.out_sink, out.err_sink, out.cap_out, out.cap_err) = saved;
        for (target, text) in [(stdout_to, captured_out), (stderr_to, captured_err)] {
            if let Some((path, append)) = target
                && let Err(e) = self.write_file(proc, &path, &text, append)
            {
                out.err(&format!("bash: {}: {e}", echo(&path)));
            }
        }
        effect
    }

    /// Builtins, then programs.
    pub(crate) fn run_argv(&mut self, proc: &mut Proc, argv: &[String], out: &mut Out) -> Effect {
        let Some((name, args)) = argv.split_first() else {
            return Effect::None;
        };
        match name.as_str() {
            "cd" => {
                self.cd(proc, args, out);
                Effect::None
            }
            "pwd" => {
                out.line(&self.world.fs.path_of(proc.cwd));
                Effect::None
            }
            "exit" | "logout" => Effect::Exit,
            "help" => {
                out.push(crate::HELP);
                Effect::None
            }
            "echo" => {
                programs::echo_cmd(args, out);
                Effect::None
            }
            "history" => {
                out.err("bash: history: not kept in this simulation; see ~/.bash_history");
                Effect::None
            }
            "export" | "unset" | "set" | "alias" | "clear" | "true" | ":" => Effect::None,
            "submit" => {
                out.err("submit: only at the start of a line, on its own");
                Effect::None
            }
            _ => self.exec(proc, argv, false, out),
        }
    }

    pub(crate) fn cd(&self, proc: &mut Proc, args: &[String], out: &mut Out) {
        let target = match args {
            [] => Ok(proc.home),
            [path] => self.resolve(proc, path),
            _ => {
                out.err("bash: cd: too many arguments");
                return;
            }
        };
        let shown = args.first().map(|a| echo(a)).unwrap_or("~");
        match target {
            Ok(id) if !self.world.fs.node(id).is_dir() => {
                out.err(&format!("bash: cd: {shown}: Not a directory"));
            }
            Ok(id) if !self.allowed(proc, id, X) => {
                out.err(&format!("bash: cd: {shown}: Permission denied"));
            }
            Ok(id) => proc.cwd = id,
            Err(e) => out.err(&format!("bash: cd: {shown}: {}", e.message())),
        }
    }

    /// Finds a program by path or in `PATH`.
    pub(crate) fn lookup(&self, proc: &Proc, name: &str) -> Result<NodeId, PathError> {
        if name.contains('/') {
            return self.resolve(proc, name);
        }
        for dir in ["/usr/local/bin", "/usr/bin", "/usr/sbin"] {
            if let Ok(id) = self.resolve(proc, &format!("{dir}/{name}")) {
                return Ok(id);
            }
        }
        Err(PathError::NotFound)
    }

    /// Runs a program (never a builtin). `spawned`: started by another
    /// program rather than by a shell or sudo, which is what a privilege
    /// escape looks like.
    pub(crate) fn exec(
        &mut self,
        proc: &Proc,
        argv: &[String],
        spawned: bool,
        out: &mut Out,
    ) -> Effect {
        let Some((name, args)) = argv.split_first() else {
            return Effect::None;
        };
        if proc.depth >= MAX_DEPTH || !self.spend(10) {
            out.err("bash: fork: retry: Resource temporarily unavailable");
            return Effect::None;
        }
        let id = match self.lookup(proc, name) {
            Ok(id) => id,
            Err(PathError::NotFound) if !name.contains('/') => {
                out.err(&format!("bash: {}: command not found", echo(name)));
                return Effect::None;
            }
            Err(e) => {
                out.err(&format!("bash: {}: {}", echo(name), e.message()));
                return Effect::None;
            }
        };
        let node = self.world.fs.node(id);
        let prog = match &node.kind {
            Kind::Bin(p) => Some(*p),
            Kind::Dir(_) => {
                out.err(&format!("bash: {}: Is a directory", echo(name)));
                return Effect::None;
            }
            _ => None,
        };
        if !self.allowed(proc, id, X) {
            out.err(&format!("bash: {}: Permission denied", echo(name)));
            return Effect::None;
        }
        let euid = if node.mode & SUID != 0 {
            node.uid
        } else {
            proc.euid
        };
        let odd_suid = self.world.suid_node == Some(id);
        let child = Proc {
            euid,
            depth: proc.depth + 1,
            via_suid: odd_suid,
            ..proc.clone()
        };
        // The odd set-uid binary starting a program (or being a shell
        // itself) is the escape being tried, whether or not it keeps root.
        if !self.in_cron()
            && ((spawned && proc.via_suid)
                || (odd_suid && matches!(prog, Some(Prog::Sh | Prog::Bash))))
        {
            self.milestones.vector = true;
        }
        // A shell started without -p drops a set-uid effective user: no gain.
        let effective = match prog {
            Some(Prog::Sh | Prog::Bash) if !programs::keeps_privileges(args) => child.uid,
            _ => child.euid,
        };
        if spawned && effective == 0 && self.top().euid != 0 && !self.in_cron() {
            self.milestones.privilege = true;
        }
        let Some(prog) = prog else {
            // A text file with the x bit: a shell script.
            let Kind::File(text) = &self.world.fs.node(id).kind else {
                out.err(&format!("bash: {}: cannot execute binary file", echo(name)));
                return Effect::None;
            };
            let text = text.clone();
            let mut p = child;
            if p.euid != p.uid {
                p.euid = p.uid;
            }
            return self.run_script(&mut p, &text, out);
        };
        programs::run(self, prog, &child, name, args, out)
    }

    /// Answers a password prompt.
    pub(crate) fn answer_password(&mut self, pending: Pending, answer: &str, out: &mut Out) {
        self.mode = Mode::Shell;
        match pending {
            Pending::Su { target, login } => {
                let ok = self
                    .world
                    .user(target)
                    .is_some_and(|u| !u.password.is_empty() && u.password == answer);
                if !ok {
                    out.err("su: Authentication failure");
                    return;
                }
                let frame = self.su_frame(target, login);
                if target != self.top().uid {
                    self.milestones.privilege = true;
                }
                self.apply(Effect::Shell(frame), out);
            }
            Pending::Sudo { proc, args } => {
                let ok = self
                    .world
                    .user(proc.uid)
                    .is_some_and(|u| !u.password.is_empty() && u.password == answer);
                if !ok {
                    out.err("sudo: 1 incorrect password attempt");
                    return;
                }
                self.cache_sudo(proc.uid);
                let effect = programs::sudo(self, &proc, &args, out);
                self.apply(effect, out);
            }
        }
    }
}
