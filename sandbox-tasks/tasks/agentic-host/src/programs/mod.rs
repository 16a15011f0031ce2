//! The programs of the simulated host, one file per family: files and
//! search ([`files`]), shells and interpreters ([`scripting`]), pagers and
//! the editor ([`pagers`]), and users and privilege ([`privilege`]); the
//! small system programs are here with the dispatcher.
//!
//! Each takes the process it runs as (after any set-uid change), its
//! arguments, and the turn's output. Programs that start other programs
//! (`find -exec`, `env`, `awk system()`, `python3 os.system()`, `vim :!`,
//! `less !`, `tar --checkpoint-action`) do so through [`Machine::exec`]
//! with `spawned` set, which is how privilege escapes are noticed.

mod common;
mod files;
mod pagers;
mod privilege;
mod scripting;

pub(crate) use pagers::pager_input;
pub(crate) use privilege::sudo;
pub(crate) use scripting::{echo_cmd, keeps_privileges};

use alloc::format;
use alloc::string::String;

use crate::fs::Prog;
use crate::lex::{Out, echo};
use crate::machine::{Effect, Machine, Proc};
use files::{cat, chmod, cp, find, grep, ls, tar};
use pagers::{less, vim};
use privilege::{id, su};
use scripting::{awk, env, python, shell};

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
