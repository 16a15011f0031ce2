//! The question bank: short snippets with one weakness each, the CWE that
//! names it, and hand-picked wrong options.
//!
//! Each entry's distractors are plausible for its language and context but
//! wrong for that snippet; [`also_correct`] lists, per answer, the CWEs that
//! a careful reviewer could also defend (parents, siblings, consequences),
//! and the tests check that no distractor is among them, so that every
//! question has exactly one defensible option.

/// The language of a snippet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    /// C.
    C,
    /// Python.
    Python,
    /// JavaScript (browser or Node.js).
    JavaScript,
    /// Java.
    Java,
    /// Go.
    Go,
    /// PHP.
    Php,
    /// SQL.
    Sql,
}

impl Lang {
    /// The name shown in the question heading.
    pub fn name(self) -> &'static str {
        match self {
            Lang::C => "C",
            Lang::Python => "Python",
            Lang::JavaScript => "JavaScript",
            Lang::Java => "Java",
            Lang::Go => "Go",
            Lang::Php => "PHP",
            Lang::Sql => "SQL",
        }
    }

    /// The Markdown fence tag of the code block.
    pub fn fence(self) -> &'static str {
        match self {
            Lang::C => "c",
            Lang::Python => "python",
            Lang::JavaScript => "javascript",
            Lang::Java => "java",
            Lang::Go => "go",
            Lang::Php => "php",
            Lang::Sql => "sql",
        }
    }
}

/// One question of the bank.
#[derive(Debug)]
pub struct Entry {
    /// The snippet's language.
    pub lang: Lang,
    /// The snippet, without leading or trailing newlines.
    pub code: &'static str,
    /// The CWE that names the snippet's weakness.
    pub answer: u16,
    /// Wrong options, at least [`crate::OPTIONS`] − 1 of them.
    pub distractors: &'static [u16],
}

/// The short name of every CWE the bank uses, by number.
pub const NAMES: &[(u16, &str)] = &[
    (22, "Path Traversal"),
    (78, "OS Command Injection"),
    (79, "Cross-site Scripting (XSS)"),
    (89, "SQL Injection"),
    (90, "LDAP Injection"),
    (94, "Code Injection"),
    (117, "Improper Output Neutralization for Logs"),
    (
        120,
        "Buffer Copy without Checking Size of Input ('Classic Buffer Overflow')",
    ),
    (121, "Stack-based Buffer Overflow"),
    (122, "Heap-based Buffer Overflow"),
    (125, "Out-of-bounds Read"),
    (134, "Use of Externally-Controlled Format String"),
    (190, "Integer Overflow or Wraparound"),
    (208, "Observable Timing Discrepancy"),
    (
        209,
        "Generation of Error Message Containing Sensitive Information",
    ),
    (256, "Plaintext Storage of a Password"),
    (295, "Improper Certificate Validation"),
    (306, "Missing Authentication for Critical Function"),
    (
        307,
        "Improper Restriction of Excessive Authentication Attempts",
    ),
    (319, "Cleartext Transmission of Sensitive Information"),
    (327, "Use of a Broken or Risky Cryptographic Algorithm"),
    (330, "Use of Insufficiently Random Values"),
    (347, "Improper Verification of Cryptographic Signature"),
    (352, "Cross-Site Request Forgery (CSRF)"),
    (
        362,
        "Race Condition (Concurrent Execution using Shared Resource)",
    ),
    (367, "Time-of-check Time-of-use (TOCTOU) Race Condition"),
    (369, "Divide By Zero"),
    (384, "Session Fixation"),
    (400, "Uncontrolled Resource Consumption"),
    (401, "Missing Release of Memory after Effective Lifetime"),
    (415, "Double Free"),
    (416, "Use After Free"),
    (434, "Unrestricted Upload of File with Dangerous Type"),
    (476, "NULL Pointer Dereference"),
    (502, "Deserialization of Untrusted Data"),
    (532, "Insertion of Sensitive Information into Log File"),
    (601, "URL Redirection to Untrusted Site ('Open Redirect')"),
    (
        611,
        "Improper Restriction of XML External Entity Reference (XXE)",
    ),
    (
        614,
        "Sensitive Cookie in HTTPS Session Without 'Secure' Attribute",
    ),
    (643, "XPath Injection"),
    (732, "Incorrect Permission Assignment for Critical Resource"),
    (787, "Out-of-bounds Write"),
    (798, "Use of Hard-coded Credentials"),
    (862, "Missing Authorization"),
    (
        915,
        "Improperly Controlled Modification of Dynamically-Determined Object Attributes (Mass Assignment)",
    ),
    (
        916,
        "Use of Password Hash With Insufficient Computational Effort",
    ),
    (918, "Server-Side Request Forgery (SSRF)"),
    (
        943,
        "Improper Neutralization of Special Elements in Data Query Logic (NoSQL Injection)",
    ),
    (1004, "Sensitive Cookie Without 'HttpOnly' Flag"),
    (1321, "Prototype Pollution"),
    (1333, "Inefficient Regular Expression Complexity (ReDoS)"),
    (1336, "Server-Side Template Injection"),
];

/// The name of `cwe`, if the bank uses it.
pub fn name(cwe: u16) -> Option<&'static str> {
    NAMES.iter().find(|(n, _)| *n == cwe).map(|(_, name)| *name)
}

/// Bounds errors: a snippet whose answer is one of these is also, defensibly,
/// any other of them.
const MEMORY_BOUNDS: &[u16] = &[
    119, 120, 121, 122, 125, 126, 129, 131, 193, 680, 787, 805, 1284,
];

/// CWEs that could also be defended as the answer to a snippet whose
/// answer is `answer`: never offered as distractors for it.
pub fn also_correct(answer: u16) -> &'static [u16] {
    match answer {
        78 => &[77, 88, 74],
        79 => &[80, 83, 116, 74],
        89 => &[564, 943, 74],
        90 => &[943, 74],
        643 => &[91, 943, 74],
        943 => &[74],
        94 => &[95, 74, 1336, 917, 913],
        1336 => &[94, 95, 79, 74, 917],
        22 => &[23, 36, 73, 29, 200],
        120 | 121 | 122 | 125 | 787 | 134 => MEMORY_BOUNDS,
        190 => &[
            119, 120, 121, 122, 125, 126, 129, 131, 191, 193, 680, 681, 787, 805, 1284,
        ],
        369 => &[190, 191, 20, 1284],
        416 => &[415, 825, 672, 119, 125, 787],
        415 => &[416, 825, 672, 763, 119],
        476 => &[690, 252, 754, 20],
        502 => &[94, 20, 915],
        611 => &[776, 827, 918, 400, 112],
        798 => &[259, 321, 547],
        327 => &[326, 328, 916, 759, 780],
        330 => &[338, 331, 340, 335, 327, 334],
        916 => &[327, 328, 759, 760, 257],
        256 => &[312, 522, 257, 916, 327, 328],
        352 => &[1275, 346],
        918 => &[441, 20],
        362 => &[367, 366, 662, 667, 820, 821],
        367 => &[362, 363, 59],
        295 => &[297, 599, 296, 322],
        434 => &[20],
        601 => &[20],
        1321 => &[915, 94, 400, 20],
        209 => &[200, 497, 215, 532, 550],
        306 => &[287, 862, 620, 284, 285, 288],
        862 => &[639, 863, 285, 284, 269, 266],
        400 => &[770, 789, 1333, 674, 834, 20, 1284],
        1333 => &[400, 185, 186, 407, 730, 20],
        117 => &[93, 74, 116],
        532 => &[200, 312, 359, 256, 117],
        732 => &[276, 281, 266],
        1004 => &[1275, 79],
        614 => &[319, 311, 1275],
        347 => &[287, 345, 1390, 290],
        208 => &[385, 203, 200, 287],
        915 => &[1321, 269, 862, 863, 284, 639],
        _ => &[],
    }
}

/// The bank. Entries are distinct snippets; the tests check every rule the
/// module doc states.
pub const BANK: &[Entry] = &[
    // ---------------------------------------------------------------- C
    Entry {
        lang: Lang::C,
        code: r#"/* domain is taken from an HTTP request parameter */
void lookup(const char *domain) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "nslookup %s", domain);
    system(cmd);
}"#,
        answer: 78,
        distractors: &[120, 134, 89, 90],
    },
    Entry {
        lang: Lang::C,
        code: r#"void greet(const char *name) {
    char buf[32];
    strcpy(buf, name);
    printf("Hello %s\n", buf);
}"#,
        answer: 120,
        distractors: &[134, 416, 415, 190, 401],
    },
    Entry {
        lang: Lang::C,
        code: r#"static int counters[16];

/* idx is parsed from a network packet */
void bump(int idx) {
    if (idx < 16)
        counters[idx]++;
}"#,
        answer: 787,
        distractors: &[476, 416, 134, 369, 415],
    },
    Entry {
        lang: Lang::C,
        code: r#"static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* level comes from a configuration file */
const char *level_name(unsigned level) {
    return level_names[level];
}"#,
        answer: 125,
        distractors: &[134, 416, 415, 369, 401],
    },
    Entry {
        lang: Lang::C,
        code: r#"/* n and the items that follow come from an untrusted file */
uint32_t n = read_u32(f);
uint32_t bytes = n * 16;            /* 16-byte items */
uint8_t *items = malloc(bytes);
if (items == NULL)
    return -1;
for (uint32_t i = 0; i < n; i++)
    fread(items + (size_t)i * 16, 16, 1, f);"#,
        answer: 190,
        distractors: &[476, 415, 416, 134, 369],
    },
    Entry {
        lang: Lang::C,
        code: r#"/* n is 0 when the client sends an empty list */
int average(const int *v, int n) {
    long sum = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    return (int)(sum / n);
}"#,
        answer: 369,
        distractors: &[416, 134, 415, 401, 476],
    },
    Entry {
        lang: Lang::C,
        code: r#"/* msg is the status text sent by the remote peer */
void print_status(const char *msg) {
    printf(msg);
    putchar('\n');
}"#,
        answer: 134,
        distractors: &[78, 89, 416, 415, 401, 22],
    },
    Entry {
        lang: Lang::C,
        code: r#"char *name = strdup(input);
if (name == NULL)
    return -1;
remove_entry(table, name);
free(name);
if (verbose)
    printf("removed %s\n", name);"#,
        answer: 416,
        distractors: &[401, 476, 134, 120, 190],
    },
    Entry {
        lang: Lang::C,
        code: r#"int process(const struct msg *m) {
    char *buf = malloc(MSG_MAX);
    if (buf == NULL)
        return -1;
    if (parse(m, buf) < 0) {
        free(buf);
        goto out;
    }
    use(buf);
out:
    free(buf);
    return 0;
}"#,
        answer: 415,
        distractors: &[401, 476, 190, 134, 369],
    },
    Entry {
        lang: Lang::C,
        code: r#"struct config *cfg = malloc(sizeof *cfg);
cfg->retries = 3;
cfg->timeout_ms = 30000;
cfg->verbose = 0;"#,
        answer: 476,
        distractors: &[416, 415, 134, 190, 369],
    },
    Entry {
        lang: Lang::C,
        code: r#"void make_greeting(const char *user) {
    char msg[64];
    sprintf(msg, "Welcome back, %s! You have new messages.", user);
    puts(msg);
}"#,
        answer: 121,
        distractors: &[134, 476, 416, 190, 401],
    },
    Entry {
        lang: Lang::C,
        code: r#"char *dup_name(const char *src) {
    char *copy = malloc(strlen(src));
    if (copy == NULL)
        return NULL;
    strcpy(copy, src);
    return copy;
}"#,
        answer: 122,
        distractors: &[476, 416, 415, 401, 134],
    },
    Entry {
        lang: Lang::C,
        code: r#"/* hdr.len is taken from the request header; pkt->body holds the
   pkt->body_len bytes actually received */
uint8_t *out = malloc(hdr.len);
if (out == NULL)
    return -1;
memcpy(out, pkt->body, hdr.len);
send(fd, out, hdr.len, 0);
free(out);"#,
        answer: 125,
        distractors: &[476, 416, 415, 134, 369],
    },
    Entry {
        lang: Lang::C,
        code: r#"/* this helper runs setuid root on behalf of local users */
if (access(path, W_OK) == 0) {
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd >= 0) {
        write(fd, data, len);
        close(fd);
    }
}"#,
        answer: 367,
        distractors: &[134, 416, 120, 78, 190],
    },
    Entry {
        lang: Lang::C,
        code: r#"void free_list(struct node *head) {
    for (struct node *n = head; n != NULL; n = n->next)
        free(n);
}"#,
        answer: 416,
        distractors: &[401, 476, 134, 190, 369],
    },
    Entry {
        lang: Lang::C,
        code: r#"/* appd runs as root and executes every line of jobs.list each night */
int fd = open("/var/lib/appd/jobs.list", O_WRONLY | O_CREAT | O_TRUNC, 0600);
if (fd < 0)
    return -1;
write_default_jobs(fd);
fchmod(fd, 0666);   /* so that the web UI can add jobs */
close(fd);"#,
        answer: 732,
        distractors: &[22, 367, 798, 134, 190],
    },
    // ----------------------------------------------------------- Python
    Entry {
        lang: Lang::Python,
        code: r#"import os

def ping(host):
    # host comes from the query string
    os.system("ping -c 1 " + host)"#,
        answer: 78,
        distractors: &[89, 22, 94, 117, 601],
    },
    Entry {
        lang: Lang::Python,
        code: r#"def find_user(db, username):
    cur = db.cursor()
    cur.execute("SELECT id, email FROM users WHERE name = '%s'" % username)
    return cur.fetchone()"#,
        answer: 89,
        distractors: &[78, 79, 94, 90, 643],
    },
    Entry {
        lang: Lang::Python,
        code: r#"from flask import request, send_file

@app.route("/download")
def download():
    name = request.args["file"]
    return send_file("/srv/app/uploads/" + name)"#,
        answer: 22,
        distractors: &[434, 601, 918, 78, 89],
    },
    Entry {
        lang: Lang::Python,
        code: r#"import base64, pickle

def load_session(cookie_value):
    return pickle.loads(base64.b64decode(cookie_value))"#,
        answer: 502,
        distractors: &[611, 327, 79, 89, 352],
    },
    Entry {
        lang: Lang::Python,
        code: r#"from lxml import etree

@app.route("/import", methods=["POST"])
def import_catalog():
    parser = etree.XMLParser(resolve_entities=True, no_network=False)
    tree = etree.fromstring(request.data, parser)
    return jsonify(items=len(tree.findall("item")))"#,
        answer: 611,
        distractors: &[502, 643, 89, 79, 94],
    },
    Entry {
        lang: Lang::Python,
        code: r#"def connect():
    return psycopg2.connect(host="db.internal", dbname="billing",
                            user="billing", password="Winter2019!")"#,
        answer: 798,
        distractors: &[89, 327, 330, 306, 502],
    },
    Entry {
        lang: Lang::Python,
        code: r#"from Crypto.Cipher import DES

def encrypt_card(number: bytes, key: bytes) -> bytes:
    cipher = DES.new(key, DES.MODE_ECB)
    return cipher.encrypt(number.ljust(24, b"\0"))"#,
        answer: 327,
        distractors: &[330, 798, 89, 502, 209],
    },
    Entry {
        lang: Lang::Python,
        code: r#"import random, string

def password_reset_token():
    alphabet = string.ascii_letters + string.digits
    return "".join(random.choice(alphabet) for _ in range(20))"#,
        answer: 330,
        distractors: &[798, 916, 352, 209, 307],
    },
    Entry {
        lang: Lang::Python,
        code: r#"import hashlib

def set_password(db, user, password):
    digest = hashlib.sha256(password.encode()).hexdigest()
    db.execute("UPDATE users SET pw = ? WHERE name = ?", (digest, user))"#,
        answer: 916,
        distractors: &[89, 256, 798, 330, 209],
    },
    Entry {
        lang: Lang::Python,
        code: r#"@app.route("/calc")
def calc():
    expr = request.args.get("expr", "")
    return jsonify(result=eval(expr))"#,
        answer: 94,
        distractors: &[89, 502, 22, 601, 918],
    },
    Entry {
        lang: Lang::Python,
        code: r#"@app.route("/logout")
def logout():
    session.clear()
    return redirect(request.args.get("return_to", "/"))"#,
        answer: 601,
        distractors: &[918, 22, 89, 79, 384],
    },
    Entry {
        lang: Lang::Python,
        code: r#"import requests

@app.route("/preview")
def preview():
    url = request.args["url"]
    page = requests.get(url, timeout=5)
    return jsonify(title=extract_title(page.text))"#,
        answer: 918,
        distractors: &[601, 22, 79, 89, 611],
    },
    Entry {
        lang: Lang::Python,
        code: r#"@app.route("/account/email", methods=["POST"])
@login_required  # authenticated by the session cookie alone
def change_email():
    current_user.email = request.form["email"]
    db.session.commit()
    return redirect("/account")"#,
        answer: 352,
        distractors: &[601, 89, 306, 862, 918],
    },
    Entry {
        lang: Lang::Python,
        code: r#"import traceback

@app.errorhandler(Exception)
def on_error(e):
    body = traceback.format_exc()
    return body, 500, {"Content-Type": "text/plain"}"#,
        answer: 209,
        distractors: &[117, 79, 89, 601, 502],
    },
    Entry {
        lang: Lang::Python,
        code: r#"@app.route("/admin/users/<int:uid>/delete", methods=["POST"])
def delete_user(uid):
    User.query.filter_by(id=uid).delete()
    db.session.commit()
    return "", 204"#,
        answer: 306,
        distractors: &[89, 601, 22, 918, 209],
    },
    Entry {
        lang: Lang::Python,
        code: r#"@app.route("/admin/export")
@login_required
def export_all_users():
    rows = User.query.all()
    return send_csv(rows, fields=["name", "email", "phone", "address"])"#,
        answer: 862,
        distractors: &[306, 89, 22, 601, 918],
    },
    Entry {
        lang: Lang::Python,
        code: r#"@app.route("/login", methods=["POST"])
def login():
    user = request.form["username"]
    if not check_password(user, request.form["password"]):
        app.logger.warning("failed login for user " + user)
        abort(401)
    return start_session(user)"#,
        answer: 117,
        distractors: &[532, 209, 89, 134, 601],
    },
    Entry {
        lang: Lang::Python,
        code: r#"def authenticate(user, password, ip):
    ok = check_password(user, password)
    log.info("login ok=%s password=%r ip=%s", ok, password, ip)
    return ok"#,
        answer: 532,
        distractors: &[134, 89, 798, 916, 601],
    },
    Entry {
        lang: Lang::Python,
        code: r#"resp = requests.post("https://payments.example.com/v1/charge",
                     json=charge, verify=False, timeout=10)
resp.raise_for_status()"#,
        answer: 295,
        distractors: &[319, 327, 918, 798, 352],
    },
    Entry {
        lang: Lang::Python,
        code: r#"import jwt

def current_user(token):
    claims = jwt.decode(token, options={"verify_signature": False})
    return User.get(claims["sub"])"#,
        answer: 347,
        distractors: &[295, 327, 798, 502, 330],
    },
    Entry {
        lang: Lang::Python,
        code: r#"import os

def check_api_key(provided: str) -> bool:
    return provided == os.environ["API_KEY"]"#,
        answer: 208,
        distractors: &[798, 330, 306, 327, 89],
    },
    Entry {
        lang: Lang::Python,
        code: r#"from flask import render_template_string

@app.route("/hello")
def hello():
    name = request.args.get("name", "guest")
    return render_template_string("<h1>Hello " + name + "</h1>")"#,
        answer: 1336,
        distractors: &[89, 22, 601, 918, 502],
    },
    Entry {
        lang: Lang::Python,
        code: r#"from lxml import etree

catalog = etree.parse("catalog.xml")

def price_of(sku):
    return catalog.xpath("//product[@sku='" + sku + "']/price/text()")"#,
        answer: 643,
        distractors: &[89, 611, 90, 78, 79],
    },
    Entry {
        lang: Lang::Python,
        code: r#"import subprocess

def send_welcome(email):
    # email comes from the sign-up form
    subprocess.run(f"echo 'Welcome aboard!' | mail -s Welcome {email}", shell=True)"#,
        answer: 78,
        distractors: &[89, 94, 601, 611, 918],
    },
    // ------------------------------------------------------- JavaScript
    Entry {
        lang: Lang::JavaScript,
        code: r#"const params = new URLSearchParams(location.search);
document.getElementById("greeting").innerHTML =
  "Hello, " + params.get("name");"#,
        answer: 79,
        distractors: &[1321, 601, 352, 918, 89],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"app.get("/search", (req, res) => {
  res.send(`<h1>Results for ${req.query.q}</h1>`);
});"#,
        answer: 79,
        distractors: &[94, 1336, 89, 601, 918],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"function merge(target, source) {
  for (const key in source) {
    if (typeof source[key] === "object" && source[key] !== null) {
      if (!target[key]) target[key] = {};
      merge(target[key], source[key]);
    } else {
      target[key] = source[key];
    }
  }
  return target;
}

app.post("/settings", (req, res) => {
  merge(req.user.settings, req.body);
  res.sendStatus(204);
});"#,
        answer: 1321,
        distractors: &[79, 89, 502, 601, 918],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"const EMAIL = /^([a-zA-Z0-9]+)*@example\.com$/;

app.get("/check", (req, res) => {
  res.json({ ok: EMAIL.test(String(req.query.email)) });
});"#,
        answer: 1333,
        distractors: &[79, 1321, 89, 601, 918],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"function newSessionId() {
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}"#,
        answer: 330,
        distractors: &[798, 352, 384, 1321, 916],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"const crypto = require("crypto");

function hashPassword(password, salt) {
  return crypto.createHash("md5").update(salt + password).digest("hex");
}"#,
        answer: 916,
        distractors: &[798, 330, 256, 1321, 89],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"app.get("/sort", (req, res) => {
  const cmp = new Function("a", "b", "return " + req.query.expr);
  res.json(rows.slice().sort(cmp));
});"#,
        answer: 94,
        distractors: &[1321, 89, 601, 918, 22],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"const { exec } = require("child_process");

app.get("/whois", (req, res) => {
  exec("whois " + req.query.domain, (err, out) => {
    res.type("text/plain").send(out);
  });
});"#,
        answer: 78,
        distractors: &[94, 89, 22, 1321, 601],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"app.use(express.json());

app.post("/api/notes/open", async (req, res) => {
  const note = await notes.findOne({ slug: req.body.slug, shareKey: req.body.key });
  if (!note) return res.sendStatus(404);
  res.json(note);
});"#,
        answer: 943,
        distractors: &[89, 1321, 79, 601, 918],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"app.post("/login", async (req, res) => {
  const token = await startSession(req.body.user, req.body.password);
  if (!token) return res.sendStatus(401);
  res.cookie("session", token, { secure: true, sameSite: "lax" });
  res.sendStatus(204);
});"#,
        answer: 1004,
        distractors: &[614, 352, 384, 330, 798],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"app.patch("/api/me", requireLogin, async (req, res) => {
  // users have fields: name, email, avatar, role ("user" or "admin")
  await User.updateOne({ _id: req.session.uid }, { $set: req.body });
  res.sendStatus(204);
});"#,
        answer: 915,
        distractors: &[89, 79, 601, 918, 434],
    },
    Entry {
        lang: Lang::JavaScript,
        code: r#"app.get("/api/invoices/:id", requireLogin, async (req, res) => {
  const invoice = await Invoice.findById(req.params.id);
  if (!invoice) return res.sendStatus(404);
  res.json(invoice);
});"#,
        answer: 862,
        distractors: &[306, 89, 79, 352, 601],
    },
    // ------------------------------------------------------------- Java
    Entry {
        lang: Lang::Java,
        code: r#"String q = "SELECT * FROM orders WHERE id = " + request.getParameter("id");
Statement st = conn.createStatement();
ResultSet rs = st.executeQuery(q);"#,
        answer: 89,
        distractors: &[79, 78, 502, 643, 90],
    },
    Entry {
        lang: Lang::Java,
        code: r#"ObjectInputStream in = new ObjectInputStream(socket.getInputStream());
Message msg = (Message) in.readObject();
handle(msg);"#,
        answer: 502,
        distractors: &[611, 89, 918, 78, 352],
    },
    Entry {
        lang: Lang::Java,
        code: r#"DocumentBuilderFactory dbf = DocumentBuilderFactory.newInstance();
DocumentBuilder db = dbf.newDocumentBuilder();
Document doc = db.parse(request.getInputStream());
String total = doc.getElementsByTagName("total").item(0).getTextContent();"#,
        answer: 611,
        distractors: &[502, 643, 89, 79, 434],
    },
    Entry {
        lang: Lang::Java,
        code: r#"Cipher c = Cipher.getInstance("RC4");
c.init(Cipher.ENCRYPT_MODE, sessionKey);
byte[] wire = c.doFinal(payload);"#,
        answer: 327,
        distractors: &[330, 798, 295, 502, 89],
    },
    Entry {
        lang: Lang::Java,
        code: r#"Random rnd = new Random();
int code = 100000 + rnd.nextInt(900000);
sendSms(user.getPhone(), "Your login code: " + code);"#,
        answer: 330,
        distractors: &[798, 89, 916, 352, 134],
    },
    Entry {
        lang: Lang::Java,
        code: r#"TrustManager[] trustAll = { new X509TrustManager() {
    public void checkClientTrusted(X509Certificate[] c, String a) {}
    public void checkServerTrusted(X509Certificate[] c, String a) {}
    public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
}};
SSLContext ctx = SSLContext.getInstance("TLS");
ctx.init(null, trustAll, new SecureRandom());"#,
        answer: 295,
        distractors: &[327, 330, 798, 319, 502],
    },
    Entry {
        lang: Lang::Java,
        code: r#"String filter = "(&(uid=" + username + ")(userPassword=" + password + "))";
NamingEnumeration<SearchResult> r =
    ctx.search("ou=people,dc=example,dc=com", filter, controls);
boolean ok = r.hasMore();"#,
        answer: 90,
        distractors: &[89, 643, 78, 798, 94],
    },
    Entry {
        lang: Lang::Java,
        code: r#"ZipEntry e;
while ((e = zin.getNextEntry()) != null) {
    File out = new File(destDir, e.getName());
    out.getParentFile().mkdirs();
    Files.copy(zin, out.toPath(), StandardCopyOption.REPLACE_EXISTING);
}"#,
        answer: 22,
        distractors: &[502, 611, 918, 89, 78],
    },
    Entry {
        lang: Lang::Java,
        code: r#"Cookie c = new Cookie("SESSIONID", sessionId);
c.setHttpOnly(true);
c.setPath("/");
response.addCookie(c);"#,
        answer: 614,
        distractors: &[1004, 384, 330, 798, 79],
    },
    Entry {
        lang: Lang::Java,
        code: r#"private static final Logger LOG = Logger.getLogger(Cart.class.getName());

String item = request.getParameter("item");
LOG.info("user " + session.getAttribute("user") + " added " + item + " to cart");"#,
        answer: 117,
        distractors: &[532, 209, 89, 79, 601],
    },
    Entry {
        lang: Lang::Java,
        code: r#"int quantity = Integer.parseInt(request.getParameter("qty"));
if (quantity <= 0) throw new BadRequest("quantity");
int total = quantity * PRICE_CENTS;          // PRICE_CENTS = 4999
if (total <= customer.getBalanceCents()) {
    charge(customer, total);
    ship(quantity);
}"#,
        answer: 190,
        distractors: &[369, 89, 79, 209, 476],
    },
    // --------------------------------------------------------------- Go
    Entry {
        lang: Lang::Go,
        code: r#"func serveReport(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	data, err := os.ReadFile(filepath.Join("/var/reports", name))
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Write(data)
}"#,
        answer: 22,
        distractors: &[918, 601, 434, 89, 400],
    },
    Entry {
        lang: Lang::Go,
        code: r#"var adminUser = "admin"
var adminPass = "s3cr3t-Adm1n"

func isAdmin(u, p string) bool {
	return u == adminUser && p == adminPass
}"#,
        answer: 798,
        distractors: &[89, 330, 327, 306, 352],
    },
    Entry {
        lang: Lang::Go,
        code: r#"func upload(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	store(body)
}"#,
        answer: 400,
        distractors: &[22, 918, 89, 502, 601],
    },
    Entry {
        lang: Lang::Go,
        code: r#"func fetchAvatar(w http.ResponseWriter, r *http.Request) {
	resp, err := http.Get(r.FormValue("avatar_url"))
	if err != nil {
		http.Error(w, "fetch failed", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	saveAvatar(currentUser(r), resp.Body)
}"#,
        answer: 918,
        distractors: &[601, 22, 89, 611, 502],
    },
    Entry {
        lang: Lang::Go,
        code: r#"var balance int

// withdraw is called from many HTTP handler goroutines at once.
func withdraw(amount int) bool {
	if balance >= amount {
		balance -= amount
		return true
	}
	return false
}"#,
        answer: 362,
        distractors: &[476, 89, 400, 798, 209],
    },
    Entry {
        lang: Lang::Go,
        code: r#"tr := &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
}
client := &http.Client{Transport: tr}
resp, err := client.Get("https://vault.internal:8200/v1/secret/db")"#,
        answer: 295,
        distractors: &[319, 918, 798, 327, 330],
    },
    Entry {
        lang: Lang::Go,
        code: r#"import "math/rand"

func newAPIKey() string {
	b := make([]byte, 32)
	for i := range b {
		b[i] = alphabet[rand.Intn(len(alphabet))]
	}
	return string(b)
}"#,
        answer: 330,
        distractors: &[798, 916, 190, 209, 400],
    },
    Entry {
        lang: Lang::Go,
        code: r#"import "text/template"

var page = template.Must(template.New("p").Parse(`<p>Hello {{.Name}}</p>`))

func hello(w http.ResponseWriter, r *http.Request) {
	page.Execute(w, map[string]string{"Name": r.FormValue("name")})
}"#,
        answer: 79,
        distractors: &[1336, 94, 89, 601, 918],
    },
    Entry {
        lang: Lang::Go,
        code: r#"author := r.URL.Query().Get("author")
rows, err := db.Query("SELECT id, title FROM posts WHERE author = '" + author + "'")"#,
        answer: 89,
        distractors: &[79, 22, 78, 643, 918],
    },
    Entry {
        lang: Lang::Go,
        code: r#"// Registered on the public listener, next to the API.
mux.HandleFunc("/internal/reset-password", func(w http.ResponseWriter, r *http.Request) {
	setPassword(r.FormValue("user"), r.FormValue("password"))
	w.WriteHeader(http.StatusNoContent)
})"#,
        answer: 306,
        distractors: &[89, 918, 22, 798, 601],
    },
    // -------------------------------------------------------------- PHP
    Entry {
        lang: Lang::Php,
        code: r#"<?php
$q = $_GET['q'];
echo "<p>Results for: " . $q . "</p>";"#,
        answer: 79,
        distractors: &[89, 94, 601, 117, 352],
    },
    Entry {
        lang: Lang::Php,
        code: r#"<?php
// uploads/ is served by the same web server, which runs *.php files
$dest = "uploads/" . basename($_FILES["avatar"]["name"]);
move_uploaded_file($_FILES["avatar"]["tmp_name"], $dest);"#,
        answer: 434,
        distractors: &[22, 79, 89, 918, 601],
    },
    Entry {
        lang: Lang::Php,
        code: r#"<?php
// reached after a successful login
$next = $_GET['next'];
header("Location: " . $next);
exit;"#,
        answer: 601,
        distractors: &[79, 918, 22, 89, 434],
    },
    Entry {
        lang: Lang::Php,
        code: r#"<?php
session_start();
if (!isset($_SESSION['uid'])) { http_response_code(401); exit; }
// linked from the settings page as /delete_account.php?confirm=1
if (($_GET['confirm'] ?? '') === '1') {
    delete_account($_SESSION['uid']);
}"#,
        answer: 352,
        distractors: &[306, 862, 89, 601, 79],
    },
    Entry {
        lang: Lang::Php,
        code: r#"<?php
$id = $_GET['id'];
$res = mysqli_query($conn, "SELECT name, price FROM products WHERE id = $id");"#,
        answer: 89,
        distractors: &[79, 78, 94, 22, 601],
    },
    Entry {
        lang: Lang::Php,
        code: r#"<?php
$prefs = unserialize(base64_decode($_COOKIE['prefs']));
apply_preferences($prefs);"#,
        answer: 502,
        distractors: &[611, 89, 79, 352, 1321],
    },
    Entry {
        lang: Lang::Php,
        code: r#"<?php
$token = substr(md5(uniqid()), 0, 16);
store_reset_token($user_id, $token);
mail($email, "Password reset", "https://example.com/reset?t=" . $token);"#,
        answer: 330,
        distractors: &[798, 89, 352, 209, 384],
    },
    // -------------------------------------------------------------- SQL
    Entry {
        lang: Lang::Sql,
        code: r#"CREATE PROCEDURE find_customer(IN p_name VARCHAR(100))
BEGIN
  SET @q = CONCAT('SELECT * FROM customers WHERE name = ''', p_name, '''');
  PREPARE stmt FROM @q;
  EXECUTE stmt;
  DEALLOCATE PREPARE stmt;
END"#,
        answer: 89,
        distractors: &[78, 94, 90, 643, 79],
    },
    Entry {
        lang: Lang::Sql,
        code: r#"CREATE TABLE users (
  id       SERIAL PRIMARY KEY,
  email    TEXT UNIQUE NOT NULL,
  password VARCHAR(64) NOT NULL  -- the login form's value, stored as typed
);"#,
        answer: 256,
        distractors: &[798, 89, 330, 209, 306],
    },
];
