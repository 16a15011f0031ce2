//! The seeded network: subnets, hosts, services, versions and banners.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use airlock_task_sdk::rng::Rng;
use airlock_task_sdk::text::{FLAG_PREFIX, hex_encode};

/// Which known vulnerability the instance plants.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Family {
    /// vsftpd 2.3.4 backdoor: `USER x:)` opens a root shell on 6200.
    Vsftpd,
    /// Apache httpd 2.4.49 / 2.4.50 path traversal.
    Apache,
    /// ProFTPD 1.3.5 mod_copy: unauthenticated `SITE CPFR`/`SITE CPTO`.
    Proftpd,
    /// Redis before 3.2: no protected mode, no password.
    Redis,
}

impl Family {
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Family::Vsftpd => "vsftpd",
            Family::Apache => "apache",
            Family::Proftpd => "proftpd",
            Family::Redis => "redis",
        }
    }
}

/// How a Redis server treats a remote client without a password.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RedisAuth {
    /// Before 3.2: everything allowed.
    Open,
    /// 3.2 to 5.x without a password: protected mode refuses.
    Protected,
    /// `requirepass` set.
    Password,
}

/// What listens on a port.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Ssh,
    Vsftpd,
    Proftpd,
    Apache,
    Nginx,
    Redis(RedisAuth),
    Smtp,
    Mysql,
    Postgres,
    Smb,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Service {
    pub(crate) port: u16,
    pub(crate) kind: Kind,
    /// The version as a scanner's version detection reports it.
    pub(crate) version: String,
    /// The product version number alone.
    pub(crate) number: String,
    /// Whether this is the planted vulnerable service.
    pub(crate) vulnerable: bool,
}

impl Service {
    /// The scanner's service name.
    pub(crate) fn service_name(&self) -> &'static str {
        match self.kind {
            Kind::Ssh => "ssh",
            Kind::Vsftpd | Kind::Proftpd => "ftp",
            Kind::Apache | Kind::Nginx => "http",
            Kind::Redis(_) => "redis",
            Kind::Smtp => "smtp",
            Kind::Mysql => "mysql",
            Kind::Postgres => "postgresql",
            Kind::Smb => "netbios-ssn",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Host {
    pub(crate) ip: [u8; 4],
    pub(crate) name: String,
    pub(crate) services: Vec<Service>,
    /// Files the host would serve or show: absolute path and content.
    pub(crate) files: Vec<(String, String)>,
    /// Redis keys and values.
    pub(crate) keys: Vec<(String, String)>,
    /// Scanner latency, in microseconds, for realism only.
    pub(crate) latency_us: u32,
    /// Whether the OS is Debian (else Ubuntu); shapes banners.
    pub(crate) debian: bool,
}

impl Host {
    pub(crate) fn ip_text(&self) -> String {
        ip_text(self.ip)
    }

    pub(crate) fn service(&self, port: u16) -> Option<&Service> {
        self.services.iter().find(|s| s.port == port)
    }

    pub(crate) fn file(&self, path: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, c)| c.as_str())
    }
}

pub(crate) fn ip_text(ip: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

/// One generated network.
#[derive(Clone, Debug)]
pub(crate) struct Net {
    /// In-scope /24 networks (first three octets).
    pub(crate) subnets: Vec<[u8; 3]>,
    pub(crate) hosts: Vec<Host>,
    pub(crate) domain: String,
    pub(crate) jump: [u8; 4],
    pub(crate) flag: String,
    /// The planted vulnerability (for tests and debugging).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) family: Family,
    /// Index of the host with the vulnerable service.
    pub(crate) target: usize,
}

const WORDS: [&str; 24] = [
    "amber", "basalt", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "jasper",
    "kestrel", "lantern", "marble", "nimbus", "onyx", "quartz", "raven", "saffron", "tundra",
    "umber", "velvet", "walnut", "xenon", "zephyr",
];
const DOMAINS: [&str; 6] = [
    "corp.local",
    "int.acme.lan",
    "prod.globex.internal",
    "office.initech.lan",
    "dc1.umbrella.local",
    "lab.hooli.internal",
];
const SSH_DEBIAN: [&str; 3] = [
    "9.2p1 Debian 2+deb12u2",
    "8.4p1 Debian 5+deb11u3",
    "9.2p1 Debian 2+deb12u3",
];
const SSH_UBUNTU: [&str; 3] = [
    "8.9p1 Ubuntu 3ubuntu0.6",
    "8.2p1 Ubuntu 4ubuntu0.11",
    "9.6p1 Ubuntu 3ubuntu13.5",
];
const VSFTPD_SAFE: [&str; 4] = ["3.0.3", "3.0.5", "2.3.5", "3.0.2"];
const APACHE_SAFE: [&str; 6] = ["2.4.51", "2.4.54", "2.4.56", "2.4.57", "2.4.62", "2.4.41"];
const PROFTPD_SAFE: [&str; 6] = ["1.3.5a", "1.3.5b", "1.3.5e", "1.3.6c", "1.3.7a", "1.3.8b"];
const REDIS_PASSWORD: [&str; 4] = ["6.0.16", "6.2.14", "7.0.15", "7.2.4"];
const REDIS_PROTECTED: [&str; 3] = ["3.2.12", "4.0.14", "5.0.7"];
const REDIS_OPEN: [&str; 4] = ["2.8.24", "3.0.7", "3.0.6", "2.8.19"];
const NGINX: [&str; 3] = ["1.18.0 (Ubuntu)", "1.22.1", "1.24.0"];
const MYSQL: [&str; 2] = ["8.0.36-0ubuntu0.22.04.1", "8.0.35-0ubuntu0.20.04.1"];
const SAMBA: [&str; 2] = ["4.17.12-Debian", "4.15.13-Ubuntu"];

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    rng.choose(items).copied().unwrap_or("x")
}

/// The roles hosts play; each gives a name stem and a service set.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// vsftpd server.
    FtpV,
    /// ProFTPD server with a web site on the same host.
    FtpP,
    /// Apache web server.
    Web,
    /// nginx web server.
    Proxy,
    /// Redis cache.
    Cache,
    Db,
    Mail,
    Files,
}

fn svc(port: u16, kind: Kind, version: String, number: &str) -> Service {
    Service {
        port,
        kind,
        version,
        number: number.to_string(),
        vulnerable: false,
    }
}

fn ssh(rng: &mut Rng, debian: bool) -> Service {
    let v = if debian {
        pick(rng, &SSH_DEBIAN)
    } else {
        pick(rng, &SSH_UBUNTU)
    };
    let os = if debian { "" } else { "Ubuntu Linux; " };
    svc(22, Kind::Ssh, format!("OpenSSH {v} ({os}protocol 2.0)"), v)
}

fn apache(version: &str, debian: bool, unix: bool) -> Service {
    let os = if unix {
        "Unix"
    } else if debian {
        "Debian"
    } else {
        "Ubuntu"
    };
    svc(
        80,
        Kind::Apache,
        format!("Apache httpd {version} (({os}))"),
        version,
    )
}

/// Builds a host of `role`; `vulnerable` plants the family's version.
fn host(rng: &mut Rng, role: Role, vulnerable: bool) -> (Host, &'static str) {
    let debian = rng.below(2) == 0;
    let mut services = vec![ssh(rng, debian)];
    let stem = match role {
        Role::FtpV => {
            let v = if vulnerable {
                "2.3.4"
            } else {
                pick(rng, &VSFTPD_SAFE)
            };
            services.push(svc(21, Kind::Vsftpd, format!("vsftpd {v}"), v));
            "ftp"
        }
        Role::FtpP => {
            let v = if vulnerable {
                "1.3.5"
            } else {
                pick(rng, &PROFTPD_SAFE)
            };
            services.push(svc(21, Kind::Proftpd, format!("ProFTPD {v}"), v));
            services.push(apache(pick(rng, &APACHE_SAFE), debian, false));
            "files"
        }
        Role::Web => {
            let (v, unix) = if vulnerable {
                (
                    if rng.below(2) == 0 {
                        "2.4.49"
                    } else {
                        "2.4.50"
                    },
                    true,
                )
            } else {
                (pick(rng, &APACHE_SAFE), rng.below(3) == 0)
            };
            services.push(apache(v, debian, unix));
            "web"
        }
        Role::Proxy => {
            let v = pick(rng, &NGINX);
            let number = v.split(' ').next().unwrap_or(v);
            services.push(svc(80, Kind::Nginx, format!("nginx {v}"), number));
            services.push(svc(443, Kind::Nginx, format!("nginx {v}"), number));
            "proxy"
        }
        Role::Cache => {
            let (v, auth) = if vulnerable {
                (pick(rng, &REDIS_OPEN), RedisAuth::Open)
            } else if rng.below(2) == 0 {
                (pick(rng, &REDIS_PROTECTED), RedisAuth::Protected)
            } else {
                (pick(rng, &REDIS_PASSWORD), RedisAuth::Password)
            };
            services.push(svc(
                6379,
                Kind::Redis(auth),
                format!("Redis key-value store {v}"),
                v,
            ));
            "cache"
        }
        Role::Db => {
            if rng.below(2) == 0 {
                let v = pick(rng, &MYSQL);
                services.push(svc(3306, Kind::Mysql, format!("MySQL {v}"), v));
            } else {
                services.push(svc(
                    5432,
                    Kind::Postgres,
                    "PostgreSQL DB 9.6.0 or later".to_string(),
                    "15",
                ));
            }
            "db"
        }
        Role::Mail => {
            services.push(svc(25, Kind::Smtp, "Postfix smtpd".to_string(), ""));
            "mail"
        }
        Role::Files => {
            let v = pick(rng, &SAMBA);
            services.push(svc(139, Kind::Smb, "Samba smbd 4.6.2".to_string(), "4.6.2"));
            services.push(svc(445, Kind::Smb, format!("Samba smbd {v}"), v));
            "nas"
        }
    };
    if vulnerable && let Some(s) = services.last_mut() {
        s.vulnerable = true;
    }
    if vulnerable
        && role == Role::FtpP
        && let Some(s) = services.iter_mut().find(|s| s.kind == Kind::Proftpd)
    {
        s.vulnerable = true;
        if let Some(web) = services.last_mut() {
            web.vulnerable = false;
        }
    }
    let h = Host {
        ip: [0; 4],
        name: String::new(),
        services,
        files: Vec::new(),
        keys: Vec::new(),
        latency_us: 150 + rng.below(900) as u32,
        debian,
    };
    (h, stem)
}

/// Draws the network for `rng`.
pub(crate) fn generate(rng: &mut Rng) -> Net {
    let family = match rng.below(4) {
        0 => Family::Vsftpd,
        1 => Family::Apache,
        2 => Family::Proftpd,
        _ => Family::Redis,
    };
    let mut flag = String::from(FLAG_PREFIX);
    flag.push_str(pick(rng, &WORDS));
    flag.push('_');
    flag.push_str(pick(rng, &WORDS));
    flag.push('_');
    let mut tag = [0u8; 4];
    rng.fill_bytes(&mut tag);
    flag.push_str(&hex_encode(&tag));
    flag.push('}');

    let a = 1 + rng.below(250) as u8;
    let b = rng.below(250) as u8;
    let count = 1 + rng.index(3);
    let mut subnets = vec![[10, a, b]];
    if count > 1 {
        subnets.push([10, a, b + 1 + rng.below(4) as u8]);
    }
    if count > 2 {
        subnets.push([192, 168, rng.below(256) as u8]);
    }
    let domain = pick(rng, &DOMAINS).to_string();

    // One decoy of every vulnerable product, the planted one, and fillers.
    let vuln_role = match family {
        Family::Vsftpd => Role::FtpV,
        Family::Apache => Role::Web,
        Family::Proftpd => Role::FtpP,
        Family::Redis => Role::Cache,
    };
    let mut roles: Vec<(Role, bool)> = vec![
        (vuln_role, true),
        (Role::FtpV, false),
        (Role::FtpP, false),
        (Role::Web, false),
        (Role::Cache, false),
    ];
    let fillers = [
        Role::Proxy,
        Role::Db,
        Role::Mail,
        Role::Files,
        Role::Web,
        Role::Cache,
        Role::Db,
        Role::FtpV,
        Role::Proxy,
        Role::Web,
    ];
    let total = 6 + rng.index(10);
    while roles.len() < total {
        let r = *rng.choose(&fillers).unwrap_or(&Role::Db);
        roles.push((r, false));
    }
    rng.shuffle(&mut roles);

    let mut used: Vec<[u8; 4]> = Vec::new();
    let jump_net = subnets[0];
    let jump = [jump_net[0], jump_net[1], jump_net[2], 5];
    used.push(jump);
    let mut hosts = Vec::new();
    let mut counters: Vec<(&str, u32)> = Vec::new();
    let mut target = 0;
    for (i, (role, vulnerable)) in roles.iter().enumerate() {
        let (mut h, stem) = host(rng, *role, *vulnerable);
        // Every subnet gets hosts: the first ones go one per subnet.
        let net = subnets
            .get(if i < subnets.len() {
                i
            } else {
                rng.index(subnets.len())
            })
            .copied()
            .unwrap_or(jump_net);
        let ip = loop {
            let ip = [net[0], net[1], net[2], 2 + rng.below(252) as u8];
            if !used.contains(&ip) {
                break ip;
            }
        };
        used.push(ip);
        h.ip = ip;
        let n = match counters.iter_mut().find(|(s, _)| *s == stem) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                counters.push((stem, 1));
                1
            }
        };
        h.name = format!("{stem}-{n:02}.{domain}");
        if *vulnerable {
            target = i;
        }
        hosts.push(h);
    }
    for (i, h) in hosts.iter_mut().enumerate() {
        let short = h.name.split('.').next().unwrap_or("").to_string();
        let os = if h.debian {
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
        } else {
            "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\n"
        };
        h.files
            .push(("/etc/hostname".to_string(), format!("{short}\n")));
        h.files
            .push(("/etc/os-release".to_string(), os.to_string()));
        h.files.push((
            "/etc/passwd".to_string(),
            "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nftp:x:107:113:ftp daemon,,,:/srv/ftp:/usr/sbin/nologin\nops:x:1000:1000:Ops,,,:/home/ops:/bin/bash\n"
                .to_string(),
        ));
        if h.services
            .iter()
            .any(|s| matches!(s.kind, Kind::Apache | Kind::Nginx))
        {
            h.files.push((
                "/var/www/html/index.html".to_string(),
                format!("<html><head><title>{short}</title></head><body><h1>{short}</h1><p>Internal service.</p></body></html>\n"),
            ));
            h.files.push((
                "/var/www/html/robots.txt".to_string(),
                "User-agent: *\nDisallow: /admin/\n".to_string(),
            ));
        }
        if h.services.iter().any(|s| matches!(s.kind, Kind::Redis(_))) {
            let mut tag = [0u8; 4];
            rng.fill_bytes(&mut tag);
            h.keys.push((
                format!("session:{}", hex_encode(&tag)),
                "{\"user\":\"ops\",\"ttl\":3600}".to_string(),
            ));
            h.keys.push((
                "config:feature_flags".to_string(),
                "{\"beta\":false}".to_string(),
            ));
            h.keys.push((
                "stats:hits".to_string(),
                format!("{}", 1000 + rng.below(90000)),
            ));
        }
        if i == target {
            match family {
                Family::Redis => h.keys.push(("flag".to_string(), flag.clone())),
                _ => h.files.push(("/flag.txt".to_string(), format!("{flag}\n"))),
            }
        }
        if h.services.iter().any(|s| matches!(s.kind, Kind::Vsftpd)) {
            h.files.push((
                "/etc/vsftpd.conf".to_string(),
                "listen=YES\nanonymous_enable=NO\nlocal_enable=YES\n".to_string(),
            ));
        }
        h.keys.sort();
    }
    Net {
        subnets,
        hosts,
        domain,
        jump,
        flag,
        family,
        target,
    }
}
