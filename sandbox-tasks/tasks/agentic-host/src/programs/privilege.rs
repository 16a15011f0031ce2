//! Users and privilege: `id`, `sudo` (with its sudoers rules) and `su`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::common::read_text;
use crate::fs::Kind;
use crate::lex::{Out, echo};
use crate::machine::{Effect, Machine, Pending, Proc, Style};
use crate::world::Family;

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

pub(super) fn su(m: &mut Machine, proc: &Proc, args: &[String], out: &mut Out) -> Effect {
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

pub(super) fn id(m: &Machine, proc: &Proc, args: &[String], out: &mut Out) {
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
