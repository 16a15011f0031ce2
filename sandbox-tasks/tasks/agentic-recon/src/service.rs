//! Connections to the simulated services: banners and line protocols.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_task_sdk::hex;
use airlock_task_sdk::text::{glob_match, truncate};

use crate::echo;
use crate::net::{Host, Kind, Net, RedisAuth, Service};

/// A file `SITE CPTO` made: host index, path, content.
pub(crate) type Copy = (usize, String, String);
/// Most copies kept (each is at most a small seeded file).
const MAX_COPIES: usize = 32;

/// Most bytes of output shown in one turn.
const MAX_OUTPUT: usize = 12 * 1024;

/// Output of one turn, cut at [`MAX_OUTPUT`] bytes.
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

/// What a line sent to a service did.
#[derive(Default)]
pub(crate) struct Effect {
    pub(crate) closed: bool,
    /// The vsftpd backdoor is now listening.
    pub(crate) backdoor: bool,
    /// The planted vulnerability was triggered.
    pub(crate) triggered: bool,
}

/// Per-protocol connection state.
#[derive(Clone, Debug)]
enum State {
    Ftp {
        user: Option<String>,
        /// `SITE CPFR` source, when accepted.
        copy_from: Option<String>,
    },
    Http,
    Redis,
    Shell,
    Smtp,
    /// Services that close on any input (ssh, mysql, postgres, smb).
    Closing,
}

/// An open connection.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    host: usize,
    pub(crate) port: u16,
    state: State,
}

fn service(net: &Net, host: usize, port: u16) -> Option<(&Host, &Service)> {
    let h = net.hosts.get(host)?;
    Some((h, h.service(port)?))
}

/// Percent-decodes once; invalid escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let Some(byte) = hex::byte_value(*h, *l)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn has_dot_dot(path: &str) -> bool {
    path.split('/').any(|s| s == "..")
}

/// Joins `path` under `root`, resolving `.` and `..` (which may climb
/// above `root`: that is the bug being simulated).
fn resolve(root: &str, path: &str) -> String {
    let mut parts: Vec<&str> = root.split('/').filter(|p| !p.is_empty()).collect();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::new();
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

const DOCROOT: &str = "/var/www/html";

impl Conn {
    pub(crate) fn open(net: &Net, host: usize, port: u16) -> Conn {
        let state = match service(net, host, port).map(|(_, s)| &s.kind) {
            Some(Kind::Vsftpd | Kind::Proftpd) => State::Ftp {
                user: None,
                copy_from: None,
            },
            Some(Kind::Apache | Kind::Nginx) => State::Http,
            Some(Kind::Redis(_)) => State::Redis,
            Some(Kind::Smtp) => State::Smtp,
            None if port == 6200 => State::Shell,
            _ => State::Closing,
        };
        Conn { host, port, state }
    }

    pub(crate) fn is_backdoor(&self) -> bool {
        matches!(self.state, State::Shell)
    }

    pub(crate) fn host_ip(&self, net: &Net) -> String {
        net.hosts
            .get(self.host)
            .map(Host::ip_text)
            .unwrap_or_default()
    }

    /// What the service sends first. `grab`: for `banner`, which also sends
    /// `HEAD /` to web servers and says when nothing comes.
    pub(crate) fn banner(&self, net: &Net, grab: bool) -> String {
        let Some(h) = net.hosts.get(self.host) else {
            return String::new();
        };
        let Some(s) = h.service(self.port) else {
            return if grab {
                "(no banner: the service waits for the client)\n".to_string()
            } else {
                String::new()
            };
        };
        match &s.kind {
            Kind::Ssh => {
                let v = s.number.replacen(' ', "-", 1);
                let v = v.split(' ').next().unwrap_or("");
                format!("SSH-2.0-OpenSSH_{v}\n")
            }
            Kind::Vsftpd => format!("220 (vsFTPd {})\n", s.number),
            Kind::Proftpd => format!(
                "220 ProFTPD {} Server (ProFTPD Default Installation) [{}]\n",
                s.number,
                h.ip_text()
            ),
            Kind::Smtp => format!(
                "220 {} ESMTP Postfix ({})\n",
                h.name,
                if h.debian { "Debian/GNU" } else { "Ubuntu" }
            ),
            Kind::Mysql => format!(
                "[binary MySQL handshake] protocol 10, server version {}, auth plugin caching_sha2_password\n",
                s.number
            ),
            Kind::Apache | Kind::Nginx if grab => {
                let mut out = Out::new();
                http_response(h, s, "HEAD", "/", &[], &mut out);
                out.finish()
            }
            _ if grab => "(no banner: the service waits for the client)\n".to_string(),
            _ => String::new(),
        }
    }

    /// Sends one line to the service.
    pub(crate) fn send(
        &mut self,
        net: &Net,
        copies: &mut Vec<Copy>,
        line: &str,
        out: &mut Out,
    ) -> Effect {
        let mut effect = Effect::default();
        let Some(h) = net.hosts.get(self.host) else {
            effect.closed = true;
            return effect;
        };
        let host_vulnerable = self.host == net.target;
        match &mut self.state {
            State::Closing => {
                let Some(s) = h.service(self.port) else {
                    effect.closed = true;
                    return effect;
                };
                match s.kind {
                    Kind::Ssh => out.line("Invalid SSH identification string.\nProtocol mismatch."),
                    Kind::Mysql => out.line("[binary MySQL error packet] Got packets out of order"),
                    _ => {}
                }
                effect.closed = true;
            }
            State::Shell => {
                effect.closed = shell(h, line, out);
            }
            State::Smtp => {
                let upper = line.to_ascii_uppercase();
                let verb = upper.split_whitespace().next().unwrap_or("");
                match verb {
                    "EHLO" => out.line(&format!(
                        "250-{}\n250-PIPELINING\n250-SIZE 10240000\n250-VRFY\n250-ETRN\n250-STARTTLS\n250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250 SMTPUTF8",
                        h.name
                    )),
                    "HELO" => out.line(&format!("250 {}", h.name)),
                    "VRFY" => out.line("252 2.0.0 Cannot VRFY user; try RCPT to attempt delivery"),
                    "MAIL" => out.line("250 2.1.0 Ok"),
                    "RCPT" => out.line("554 5.7.1 Relay access denied"),
                    "NOOP" | "RSET" => out.line("250 2.0.0 Ok"),
                    "QUIT" => {
                        out.line("221 2.0.0 Bye");
                        effect.closed = true;
                    }
                    _ => out.line("502 5.5.2 Error: command not recognized"),
                }
            }
            State::Ftp { user, copy_from } => {
                let Some(s) = h.service(self.port) else {
                    effect.closed = true;
                    return effect;
                };
                let proftpd = s.kind == Kind::Proftpd;
                let (verb, arg) = match line.split_once(' ') {
                    Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
                    None => (line.to_ascii_uppercase(), String::new()),
                };
                let login = if proftpd {
                    "530 Please login with USER and PASS"
                } else {
                    "530 Please login with USER and PASS."
                };
                match verb.as_str() {
                    "USER" => {
                        if proftpd {
                            out.line(&format!("331 Password required for {}", echo(&arg)));
                        } else {
                            out.line("331 Please specify the password.");
                        }
                        *user = Some(arg);
                    }
                    "PASS" => match user {
                        None => out.line("503 Login with USER first."),
                        Some(u) => {
                            if s.vulnerable && s.kind == Kind::Vsftpd && u.ends_with(":)") {
                                // The backdoor forks a shell on 6200; the
                                // FTP session itself just hangs.
                                out.line("(no response)");
                                effect.backdoor = true;
                            } else {
                                out.line("530 Login incorrect.");
                            }
                            *user = None;
                        }
                    },
                    "SITE" => {
                        let (sub, path) = match arg.split_once(' ') {
                            Some((a, b)) => (a.to_ascii_uppercase(), b.trim().to_string()),
                            None => (arg.to_ascii_uppercase(), String::new()),
                        };
                        let open_copy = proftpd && s.vulnerable;
                        match sub.as_str() {
                            "CPFR" if open_copy => {
                                if path.is_empty() {
                                    out.line("500 'SITE CPFR' not understood");
                                } else if h.file(&resolve("/", &path)).is_some() {
                                    out.line("350 File or directory exists, ready for destination name");
                                    *copy_from = Some(resolve("/", &path));
                                } else {
                                    out.line(&format!("550 {}: No such file or directory", echo(&path)));
                                }
                            }
                            "CPTO" if open_copy => match copy_from.take() {
                                None => out.line("503 Bad sequence of commands"),
                                Some(from) => {
                                    let to = resolve("/", &path);
                                    let dir = to.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                                    if dir == DOCROOT || dir == "/tmp" || dir == "/srv/ftp" {
                                        out.line("250 Copy successful");
                                        effect.triggered = true;
                                        let content = h.file(&from).unwrap_or("").to_string();
                                        copies.retain(|(i, p, _)| !(*i == self.host && *p == to));
                                        if copies.len() < MAX_COPIES {
                                            copies.push((self.host, to, content));
                                        }
                                    } else {
                                        out.line(&format!("550 {}: Permission denied", echo(&path)));
                                    }
                                }
                            },
                            "HELP" if proftpd => out.line("214-The following SITE commands are recognized (* =>'s unimplemented)\n214-CPFR <sp> pathname\n214-CPTO <sp> pathname\n214-HELP\n214-CHGRP\n214-CHMOD\n214 Direct comments to root@localhost"),
                            _ if proftpd => out.line(login),
                            _ => out.line("550 Permission denied."),
                        }
                    }
                    "SYST" => out.line("215 UNIX Type: L8"),
                    "FEAT" => out.line("211-Features:\n EPRT\n EPSV\n MDTM\n PASV\n REST STREAM\n SIZE\n TVFS\n211 End"),
                    "HELP" => out.line("214-The following commands are recognized.\n USER PASS QUIT SYST FEAT HELP SITE NOOP\n214 Help OK."),
                    "NOOP" => out.line("200 NOOP ok."),
                    "QUIT" => {
                        out.line("221 Goodbye.");
                        effect.closed = true;
                    }
                    "LIST" | "NLST" | "RETR" | "STOR" | "CWD" | "PWD" | "PASV" | "EPSV" | "PORT"
                    | "TYPE" | "SIZE" | "MDTM" | "DELE" | "MKD" => out.line(login),
                    _ => out.line("500 Unknown command."),
                }
            }
            State::Http => {
                let Some(s) = h.service(self.port) else {
                    effect.closed = true;
                    return effect;
                };
                let mut words = line.split_whitespace();
                let method = words.next().unwrap_or("");
                let target = words.next().unwrap_or("");
                if !["GET", "HEAD", "POST", "OPTIONS"].contains(&method) || !target.starts_with('/')
                {
                    http_status(h, s, "400 Bad Request", &mut *out);
                } else {
                    let extra: Vec<(String, String)> = copies
                        .iter()
                        .filter(|(i, _, _)| *i == self.host)
                        .map(|(_, p, c)| (p.clone(), c.clone()))
                        .collect();
                    effect.triggered = http_response(h, s, method, target, &extra, out)
                        && host_vulnerable
                        && s.vulnerable;
                }
                effect.closed = true;
            }
            State::Redis => {
                let Some(s) = h.service(self.port) else {
                    effect.closed = true;
                    return effect;
                };
                let Kind::Redis(auth) = s.kind else {
                    effect.closed = true;
                    return effect;
                };
                let words: Vec<&str> = line.split_whitespace().collect();
                let command = words
                    .first()
                    .map(|w| w.to_ascii_uppercase())
                    .unwrap_or_default();
                if auth == RedisAuth::Protected {
                    out.line("-DENIED Redis is running in protected mode because protected mode is enabled, no bind address was specified, no authentication password is requested to clients. In this mode connections are only accepted from the loopback interface.");
                    effect.closed = true;
                    return effect;
                }
                if command == "QUIT" {
                    out.line("+OK");
                    effect.closed = true;
                    return effect;
                }
                if command == "AUTH" {
                    out.line(if auth == RedisAuth::Open {
                        "-ERR Client sent AUTH, but no password is set"
                    } else {
                        "-WRONGPASS invalid username-password pair or user is disabled."
                    });
                    return effect;
                }
                if auth == RedisAuth::Password {
                    out.line("-NOAUTH Authentication required.");
                    return effect;
                }
                effect.triggered = redis(h, s, &command, &words, out) && s.vulnerable;
            }
        }
        effect
    }
}

/// A root shell on the vsftpd backdoor. True when it exits.
fn shell(h: &Host, line: &str, out: &mut Out) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((cmd, args)) = words.split_first() else {
        return false;
    };
    let short = h.name.split('.').next().unwrap_or("");
    match *cmd {
        "id" => out.line("uid=0(root) gid=0(root) groups=0(root)"),
        "whoami" => out.line("root"),
        "hostname" => out.line(short),
        "pwd" => out.line("/"),
        "uname" => out.line(&format!(
            "Linux {short} 2.6.24-16-server #1 SMP Thu Apr 10 13:58:00 UTC 2008 i686 GNU/Linux"
        )),
        "exit" | "logout" => return true,
        "ls" => {
            let dir = args
                .iter()
                .find(|a| !a.starts_with('-'))
                .copied()
                .unwrap_or("/");
            let dir = resolve("/", dir);
            let prefix = if dir == "/" {
                "/".to_string()
            } else {
                format!("{dir}/")
            };
            let mut names: Vec<&str> = h
                .files
                .iter()
                .filter_map(|(p, _)| p.strip_prefix(prefix.as_str()))
                .map(|rest| rest.split('/').next().unwrap_or(rest))
                .collect();
            if dir == "/" {
                names.extend(["bin", "boot", "dev", "home", "root", "tmp", "usr", "var"]);
            }
            names.sort_unstable();
            names.dedup();
            if names.is_empty() {
                out.line(&format!(
                    "ls: cannot access '{}': No such file or directory",
                    echo(&dir)
                ));
            } else {
                out.line(&names.join("  "));
            }
        }
        "cat" => {
            for a in args.iter().filter(|a| !a.starts_with('-')) {
                match h.file(&resolve("/", a)) {
                    Some(text) => out.push(text),
                    None => out.line(&format!("cat: {}: No such file or directory", echo(a))),
                }
            }
        }
        other => out.line(&format!("sh: {}: not found", echo(other))),
    }
    false
}

/// Serves one HTTP request; true when it resolved outside the document root.
fn http_response(
    h: &Host,
    s: &Service,
    method: &str,
    target: &str,
    extra: &[(String, String)],
    out: &mut Out,
) -> bool {
    let raw = target.split(['?', '#']).next().unwrap_or("/");
    // Servers normalise literal dot segments before anything else.
    let normalised = resolve("/", raw);
    let keep_slash = if raw.ends_with('/') && normalised != "/" {
        "/"
    } else {
        ""
    };
    let raw = format!("{normalised}{keep_slash}");
    let once = percent_decode(&raw);
    let path = match (&s.kind, s.number.as_str()) {
        (Kind::Apache, "2.4.49") => once,
        (Kind::Apache, "2.4.50") => {
            if has_dot_dot(&once) {
                http_status(h, s, "400 Bad Request", out);
                return false;
            }
            percent_decode(&once)
        }
        _ => {
            if has_dot_dot(&once) {
                http_status(h, s, "400 Bad Request", out);
                return false;
            }
            once
        }
    };
    let escaped = has_dot_dot(&path);
    let file = resolve(DOCROOT, &path);
    let outside = escaped && !file.starts_with(&format!("{DOCROOT}/")) && file != DOCROOT;
    let lookup = if file == DOCROOT || file.ends_with('/') {
        format!("{}/index.html", file.trim_end_matches('/'))
    } else {
        file.clone()
    };
    let body = h.file(&lookup).or_else(|| {
        extra
            .iter()
            .find(|(p, _)| *p == lookup)
            .map(|(_, c)| c.as_str())
    });
    match body {
        Some(body) if outside || lookup.starts_with(DOCROOT) => {
            out.line("HTTP/1.1 200 OK");
            out.line(&format!("Server: {}", server_header(h, s)));
            out.line(&format!("Content-Length: {}", body.len()));
            out.line("Content-Type: text/html\nConnection: close\n");
            if method != "HEAD" {
                out.push(body);
            }
        }
        _ => http_status(h, s, "404 Not Found", out),
    }
    outside
}

fn server_header(h: &Host, s: &Service) -> String {
    match s.kind {
        Kind::Nginx => format!("nginx/{}", s.version.trim_start_matches("nginx ")),
        _ => {
            let os = if s.version.contains("(Unix)") {
                "Unix"
            } else if h.debian {
                "Debian"
            } else {
                "Ubuntu"
            };
            format!("Apache/{} ({os})", s.number)
        }
    }
}

fn http_status(h: &Host, s: &Service, status: &str, out: &mut Out) {
    let (code, text) = status.split_once(' ').unwrap_or((status, ""));
    out.line(&format!("HTTP/1.1 {status}"));
    out.line(&format!("Server: {}", server_header(h, s)));
    out.line("Content-Type: text/html; charset=iso-8859-1\nConnection: close\n");
    if s.kind == Kind::Nginx {
        out.line(&format!(
            "<html>\n<head><title>{status}</title></head>\n<body>\n<center><h1>{status}</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>"
        ));
    } else {
        let detail = if code == "404" {
            "The requested URL was not found on this server."
        } else {
            "Your browser sent a request that this server could not understand."
        };
        out.line(&format!(
            "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>{status}</title>\n</head><body>\n<h1>{text}</h1>\n<p>{detail}</p>\n<hr>\n<address>{} Server at {} Port 80</address>\n</body></html>",
            server_header(h, s),
            h.name
        ));
    }
}

/// Answers one Redis command without authentication; true for a data command.
fn redis(h: &Host, s: &Service, command: &str, words: &[&str], out: &mut Out) -> bool {
    let bulk = |out: &mut Out, v: &str| out.line(&format!("${}\n{v}", v.len()));
    match command {
        "PING" => out.line("+PONG"),
        "INFO" => {
            let text = format!(
                "# Server\nredis_version:{}\nredis_mode:standalone\nos:Linux x86_64\ntcp_port:6379\n# Keyspace\ndb0:keys={},expires=0",
                s.number,
                h.keys.len()
            );
            bulk(out, &text);
        }
        "DBSIZE" => out.line(&format!(":{}", h.keys.len())),
        "KEYS" | "SCAN" => {
            let pattern = if command == "KEYS" {
                words.get(1).copied().unwrap_or("*")
            } else {
                "*"
            };
            let keys: Vec<&str> = h
                .keys
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| glob_match(pattern, k))
                .collect();
            if command == "SCAN" {
                out.line("*2\n$1\n0");
            }
            out.line(&format!("*{}", keys.len()));
            for k in keys {
                bulk(out, k);
            }
            return true;
        }
        "GET" | "DUMP" => {
            let Some(key) = words.get(1) else {
                out.line(&format!(
                    "-ERR wrong number of arguments for '{}' command",
                    command.to_ascii_lowercase()
                ));
                return false;
            };
            match h.keys.iter().find(|(k, _)| k == key) {
                Some((_, v)) => bulk(out, v),
                None => out.line("$-1"),
            }
            return true;
        }
        "MGET" => {
            out.line(&format!("*{}", words.len().saturating_sub(1)));
            for key in words.iter().skip(1) {
                match h.keys.iter().find(|(k, _)| k == key) {
                    Some((_, v)) => bulk(out, v),
                    None => out.line("$-1"),
                }
            }
            return true;
        }
        "CONFIG" => out.line("*2\n$3\ndir\n$14\n/var/lib/redis"),
        "" => {}
        other => out.line(&format!(
            "-ERR unknown command '{}'",
            echo(&other.to_ascii_lowercase())
        )),
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_and_resolution() {
        assert_eq!(percent_decode("/.%2e/%2E%2e/x"), "/../../x");
        assert_eq!(percent_decode("/.%%32%65/"), "/.%2e/");
        assert_eq!(percent_decode(&percent_decode("/.%%32%65/")), "/../");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(resolve(DOCROOT, "/icons/../../../../flag.txt"), "/flag.txt");
        assert_eq!(resolve("/", "/../../etc/passwd"), "/etc/passwd");
    }
}
