//! Task `crypto-password`: crack a salted SHA-256 password hash whose
//! password was made from a common word by known mangling rules.
//!
//! Each instance draws a mangling rule, a password that follows it, and a
//! 16-character salt, and shows the model the salt, the hash
//! `SHA-256(salt || password)` in hex (hashcat mode 1420, `sha256($salt.$pass)`),
//! the rule and the whole wordlist ([`WORDLIST`], 403 common base words).
//! A password is built in this order:
//!
//! 1. one word of the wordlist, as listed (lower case);
//! 2. leetspeak never, always or either way, as the rule says (a→4, e→3,
//!    i→1, o→0, s→5, t→7, every occurrence);
//! 3. one of the case forms the rule allows: lower (unchanged), Capitalised
//!    (first character upper-cased) or UPPER (every letter upper-cased);
//! 4. digits appended: one digit, two digits (00–99) or a year 1970–2025,
//!    as the rule says;
//! 5. a symbol of [`SYMBOLS`] appended: never, always or optionally.
//!
//! The rule is drawn so that it admits between [`MIN_CANDIDATES`] and
//! [`MAX_CANDIDATES`] passwords: far too many to guess, few enough for a
//! search (the reference solver's) to enumerate and hash them all.
//!
//! One turn. Scoring: the answer is the first line of the reply that is
//! neither blank nor a Markdown code fence, trimmed, and when it still
//! holds whitespace, its last whitespace-separated word; one pair of
//! enclosing backticks or quotes is removed. Full credit when the answer
//! equals the password exactly (case-sensitive), zero otherwise. Only that
//! one answer is read, so listing guesses gains nothing.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use airlock_task_sdk::rng::Rng;
use airlock_task_sdk::text::hex_encode;
use airlock_task_sdk::{
    ABI_VERSION, Difficulty, ModelReply, Ppm, Solver, Step, Task, TaskInfo, category,
};
use sha2::{Digest, Sha256};

/// Stable task id.
pub const TASK_ID: &str = "crypto-password";
/// The fewest passwords a drawn rule admits.
pub const MIN_CANDIDATES: u64 = 40_000;
/// The most passwords a drawn rule admits.
pub const MAX_CANDIDATES: u64 = 400_000;
/// The symbols a password may end with.
pub const SYMBOLS: &str = "!@#$%&*?";
/// Leetspeak substitutions, applied to every occurrence.
pub const LEET: [(char, char); 6] = [
    ('a', '4'),
    ('e', '3'),
    ('i', '1'),
    ('o', '0'),
    ('s', '5'),
    ('t', '7'),
];
/// The first and last years of the year rule.
pub const YEARS: (u32, u32) = (1970, 2025);
/// Length of the salt, in characters.
pub const SALT_LEN: usize = 16;

const SALT_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The base words, all distinct and lower case: the common-password list
/// the prompt shows in full.
pub const WORDLIST: [&str; 403] = [
    "password",
    "love",
    "secret",
    "dragon",
    "monkey",
    "shadow",
    "master",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "soccer",
    "hockey",
    "letmein",
    "welcome",
    "freedom",
    "whatever",
    "qwerty",
    "trustno",
    "michael",
    "jennifer",
    "jordan",
    "hunter",
    "ranger",
    "buster",
    "tigger",
    "charlie",
    "robert",
    "thomas",
    "daniel",
    "andrew",
    "joshua",
    "matthew",
    "william",
    "george",
    "summer",
    "winter",
    "autumn",
    "spring",
    "flower",
    "garden",
    "orange",
    "banana",
    "cherry",
    "apple",
    "lemon",
    "pepper",
    "ginger",
    "cookie",
    "cupcake",
    "chocolate",
    "candy",
    "sugar",
    "honey",
    "butter",
    "cheese",
    "pizza",
    "coffee",
    "dolphin",
    "falcon",
    "eagle",
    "tiger",
    "lion",
    "panther",
    "jaguar",
    "wolf",
    "bear",
    "cobra",
    "viper",
    "phoenix",
    "wizard",
    "merlin",
    "gandalf",
    "batman",
    "superman",
    "spiderman",
    "ironman",
    "hulk",
    "thunder",
    "lightning",
    "storm",
    "rainbow",
    "diamond",
    "silver",
    "golden",
    "copper",
    "crystal",
    "purple",
    "yellow",
    "green",
    "blue",
    "black",
    "white",
    "maverick",
    "killer",
    "ninja",
    "samurai",
    "pirate",
    "cowboy",
    "rocket",
    "galaxy",
    "planet",
    "cosmos",
    "matrix",
    "hacker",
    "access",
    "admin",
    "server",
    "network",
    "system",
    "computer",
    "internet",
    "google",
    "yahoo",
    "mustang",
    "ferrari",
    "porsche",
    "corvette",
    "harley",
    "yamaha",
    "honda",
    "toyota",
    "nissan",
    "chevy",
    "camaro",
    "michelle",
    "jessica",
    "ashley",
    "amanda",
    "nicole",
    "melissa",
    "stephanie",
    "heather",
    "elizabeth",
    "hannah",
    "sophie",
    "olivia",
    "emily",
    "chloe",
    "daisy",
    "maggie",
    "buddy",
    "max",
    "rocky",
    "lucky",
    "molly",
    "bailey",
    "bandit",
    "zeus",
    "apollo",
    "athena",
    "hermes",
    "odin",
    "loki",
    "thor",
    "zelda",
    "mario",
    "pokemon",
    "pikachu",
    "sonic",
    "minecraft",
    "fortnite",
    "warcraft",
    "starwars",
    "startrek",
    "yankees",
    "lakers",
    "cowboys",
    "steelers",
    "packers",
    "eagles",
    "raiders",
    "dodgers",
    "giants",
    "chelsea",
    "arsenal",
    "liverpool",
    "united",
    "barcelona",
    "madrid",
    "juventus",
    "boston",
    "london",
    "paris",
    "berlin",
    "tokyo",
    "dallas",
    "chicago",
    "denver",
    "houston",
    "austin",
    "miami",
    "florida",
    "texas",
    "canada",
    "mexico",
    "america",
    "england",
    "ireland",
    "scotland",
    "brazil",
    "africa",
    "europe",
    "island",
    "ocean",
    "river",
    "mountain",
    "forest",
    "desert",
    "valley",
    "canyon",
    "beach",
    "sunset",
    "sunrise",
    "moonlight",
    "starlight",
    "midnight",
    "morning",
    "evening",
    "weekend",
    "holiday",
    "vacation",
    "christmas",
    "easter",
    "birthday",
    "family",
    "friend",
    "forever",
    "always",
    "nothing",
    "something",
    "anything",
    "everything",
    "heaven",
    "angel",
    "devil",
    "demon",
    "ghost",
    "spirit",
    "magic",
    "dream",
    "happy",
    "smile",
    "peace",
    "music",
    "guitar",
    "piano",
    "violin",
    "drummer",
    "singer",
    "dancer",
    "rock",
    "metal",
    "jazz",
    "blues",
    "hiphop",
    "disco",
    "party",
    "money",
    "dollar",
    "euro",
    "cash",
    "bitcoin",
    "crypto",
    "gold",
    "poker",
    "casino",
    "winner",
    "champion",
    "legend",
    "hero",
    "king",
    "queen",
    "prince",
    "knight",
    "castle",
    "empire",
    "kingdom",
    "warrior",
    "soldier",
    "sniper",
    "shooter",
    "fisher",
    "farmer",
    "doctor",
    "nurse",
    "teacher",
    "student",
    "school",
    "college",
    "office",
    "manager",
    "boss",
    "login",
    "changeme",
    "default",
    "guest",
    "user",
    "test",
    "demo",
    "backup",
    "service",
    "oracle",
    "mysql",
    "linux",
    "ubuntu",
    "windows",
    "macbook",
    "iphone",
    "android",
    "samsung",
    "nokia",
    "sony",
    "nintendo",
    "xbox",
    "playstation",
    "gamer",
    "player",
    "tennis",
    "golf",
    "boxing",
    "karate",
    "kungfu",
    "turtle",
    "rabbit",
    "kitten",
    "puppy",
    "doggie",
    "kitty",
    "bunny",
    "horse",
    "pony",
    "unicorn",
    "spider",
    "shark",
    "whale",
    "penguin",
    "monster",
    "zombie",
    "vampire",
    "werewolf",
    "dracula",
    "joker",
    "outlaw",
    "rebel",
    "liberty",
    "justice",
    "victory",
    "glory",
    "honor",
    "faith",
    "hope",
    "grace",
    "trinity",
    "jesus",
    "christ",
    "blessed",
    "church",
    "bible",
    "hidden",
    "private",
    "mystery",
    "puzzle",
    "riddle",
    "cipher",
    "enigma",
    "silence",
    "blizzard",
    "tornado",
    "hurricane",
    "volcano",
    "glacier",
    "crimson",
    "scarlet",
    "violet",
    "indigo",
    "emerald",
    "sapphire",
    "ruby",
    "pearl",
    "jade",
    "amber",
    "coconut",
    "pumpkin",
    "muffin",
    "pancake",
    "waffle",
    "donut",
    "biscuit",
    "toffee",
    "caramel",
    "vanilla",
    "mango",
    "peach",
    "plum",
    "kiwi",
    "papaya",
    "melon",
    "berry",
    "strawberry",
    "blueberry",
    "raspberry",
    "pineapple",
];

/// A case form of step 3.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Case {
    /// Unchanged (the word list is lower case).
    Lower,
    /// First character upper-cased.
    Capitalised,
    /// Every letter upper-cased.
    Upper,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Lower => "lower",
            Case::Capitalised => "Capitalised",
            Case::Upper => "UPPER",
        }
    }

    fn apply(self, text: &str, out: &mut String) {
        match self {
            Case::Lower => out.push_str(text),
            Case::Upper => out.extend(text.chars().map(|c| c.to_ascii_uppercase())),
            Case::Capitalised => {
                let mut chars = text.chars();
                if let Some(first) = chars.next() {
                    out.push(first.to_ascii_uppercase());
                }
                out.extend(chars);
            }
        }
    }
}

/// The digits of step 4.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Digits {
    /// One digit, 0–9.
    One,
    /// Two digits, 00–99.
    Two,
    /// A year, 1970–2025.
    Year,
}

impl Digits {
    fn describe(self) -> &'static str {
        match self {
            Digits::One => "one digit 0-9 appended",
            Digits::Two => "two digits 00-99 appended",
            Digits::Year => "a year 1970-2025 appended",
        }
    }

    fn count(self) -> u32 {
        match self {
            Digits::One => 10,
            Digits::Two => 100,
            Digits::Year => YEARS.1 - YEARS.0 + 1,
        }
    }

    /// The `index`-th suffix, `index < count()`.
    fn push(self, index: u32, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match self {
            Digits::One => write!(out, "{index}"),
            Digits::Two => write!(out, "{index:02}"),
            Digits::Year => write!(out, "{}", YEARS.0 + index),
        };
    }
}

/// Whether step 5 appends a symbol.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SymbolRule {
    /// No symbol.
    Never,
    /// Always one symbol of [`SYMBOLS`].
    Always,
    /// No symbol, or one of [`SYMBOLS`].
    Optional,
}

impl SymbolRule {
    fn describe(self) -> String {
        match self {
            SymbolRule::Never => "none".to_string(),
            SymbolRule::Always => format!("one of {SYMBOLS} appended"),
            SymbolRule::Optional => format!("none, or one of {SYMBOLS} appended"),
        }
    }

    fn options(self) -> Vec<Option<char>> {
        let symbols = SYMBOLS.chars().map(Some);
        match self {
            SymbolRule::Never => alloc::vec![None],
            SymbolRule::Always => symbols.collect(),
            SymbolRule::Optional => core::iter::once(None).chain(symbols).collect(),
        }
    }
}

/// A mangling rule: the options allowed at each step.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rule {
    /// Whether leetspeak is applied: `[false]`, `[true]` or `[false, true]`.
    pub leet: Vec<bool>,
    /// The case forms allowed, at least one.
    pub cases: Vec<Case>,
    /// The digits appended.
    pub digits: Digits,
    /// The symbol appended.
    pub symbol: SymbolRule,
}

const CASE_SETS: [&[Case]; 6] = [
    &[Case::Lower],
    &[Case::Capitalised],
    &[Case::Upper],
    &[Case::Lower, Case::Capitalised],
    &[Case::Capitalised, Case::Upper],
    &[Case::Lower, Case::Capitalised, Case::Upper],
];
const LEET_SETS: [&[bool]; 3] = [&[false], &[true], &[false, true]];

impl Rule {
    /// How many (word, options) combinations the rule admits over `words`
    /// (an upper bound on distinct passwords: leetspeak can leave a word
    /// unchanged).
    pub fn candidates(&self, words: usize) -> u64 {
        words as u64
            * self.leet.len() as u64
            * self.cases.len() as u64
            * u64::from(self.digits.count())
            * self.symbol.options().len() as u64
    }

    fn draw(rng: &mut Rng) -> Rule {
        loop {
            let cases = CASE_SETS.get(rng.index(CASE_SETS.len())).copied();
            let leet = LEET_SETS.get(rng.index(LEET_SETS.len())).copied();
            let digits = [Digits::One, Digits::Two, Digits::Year][rng.index(3)];
            let symbol =
                [SymbolRule::Never, SymbolRule::Always, SymbolRule::Optional][rng.index(3)];
            let rule = Rule {
                leet: leet.unwrap_or(&[false]).to_vec(),
                cases: cases.unwrap_or(&[Case::Lower]).to_vec(),
                digits,
                symbol,
            };
            let n = rule.candidates(WORDLIST.len());
            if (MIN_CANDIDATES..=MAX_CANDIDATES).contains(&n) {
                return rule;
            }
        }
    }

    /// The rule as the prompt states it, one step per line.
    pub fn describe(&self) -> String {
        let leet = match self.leet.as_slice() {
            [true] => "always",
            [false] => "never",
            _ => "either way",
        };
        let cases: Vec<&str> = self.cases.iter().map(|c| c.name()).collect();
        format!(
            "  1. word: one word of the wordlist below, as listed (lower case)\n\
             \x20 2. leetspeak: {leet} (a->4 e->3 i->1 o->0 s->5 t->7, every occurrence)\n\
             \x20 3. case: {} (lower = unchanged, Capitalised = first character upper-cased, \
             UPPER = every letter upper-cased)\n\
             \x20 4. digits: {}\n\
             \x20 5. symbol: {}\n",
            cases.join(" or "),
            self.digits.describe(),
            self.symbol.describe(),
        )
    }

    /// Reads a rule back from [`Rule::describe`]'s lines anywhere in `text`.
    pub fn parse(text: &str) -> Option<Rule> {
        let field = |name: &str| {
            text.lines()
                .filter_map(|line| line.trim_start().split_once(". "))
                .find_map(|(_, rest)| rest.strip_prefix(name))
                .map(str::trim)
        };
        let leet = field("leetspeak:")?;
        let leet = if leet.starts_with("always") {
            alloc::vec![true]
        } else if leet.starts_with("never") {
            alloc::vec![false]
        } else if leet.starts_with("either way") {
            alloc::vec![false, true]
        } else {
            return None;
        };
        let case_list = field("case:")?.split(" (").next()?;
        let mut cases = Vec::new();
        for name in case_list.split(" or ") {
            cases.push(match name.trim() {
                "lower" => Case::Lower,
                "Capitalised" => Case::Capitalised,
                "UPPER" => Case::Upper,
                _ => return None,
            });
        }
        let digits = field("digits:")?;
        let digits = [Digits::One, Digits::Two, Digits::Year]
            .into_iter()
            .find(|d| digits.starts_with(d.describe()))?;
        let symbol = field("symbol:")?;
        let symbol = [SymbolRule::Optional, SymbolRule::Always, SymbolRule::Never]
            .into_iter()
            .find(|s| symbol.starts_with(s.describe().as_str()))?;
        Some(Rule {
            leet,
            cases,
            digits,
            symbol,
        })
    }

    /// Calls `visit` with every password the rule makes from `words`, in a
    /// fixed order, until `visit` returns true; returns that password.
    pub fn search(&self, words: &[&str], mut visit: impl FnMut(&str) -> bool) -> Option<String> {
        let symbols = self.symbol.options();
        let mut leeted = String::new();
        let mut candidate = String::new();
        for word in words {
            for &leet in &self.leet {
                leeted.clear();
                if leet {
                    leeted.extend(word.chars().map(leetspeak));
                } else {
                    leeted.push_str(word);
                }
                for &case in &self.cases {
                    for index in 0..self.digits.count() {
                        for &symbol in &symbols {
                            candidate.clear();
                            case.apply(&leeted, &mut candidate);
                            self.digits.push(index, &mut candidate);
                            if let Some(symbol) = symbol {
                                candidate.push(symbol);
                            }
                            if visit(&candidate) {
                                return Some(candidate);
                            }
                        }
                    }
                }
            }
        }
        None
    }
}

fn leetspeak(c: char) -> char {
    LEET.iter()
        .find(|(from, _)| *from == c)
        .map_or(c, |(_, to)| *to)
}

/// `SHA-256(salt || password)`: hashcat mode 1420, `sha256($salt.$pass)`.
pub fn salted_hash(salt: &str, password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// One instance: the password the model must recover.
#[derive(Debug)]
pub struct PasswordTask {
    password: String,
}

impl Task for PasswordTask {
    fn info() -> TaskInfo {
        TaskInfo {
            abi_version: ABI_VERSION,
            id: TASK_ID.to_string(),
            version: 1,
            title: "Crack a salted SHA-256 password hash".to_string(),
            category: category::CRYPTO.into(),
            difficulty: Difficulty::Medium,
            max_turns: 1,
            description: "Recover a mangled common password from its salted SHA-256 hash, \
                          given the wordlist and the mangling rule."
                .to_string(),
            system_prompt: String::new(),
            tools: Vec::new(),
        }
    }

    fn start(seed: [u8; 32]) -> (Self, Step) {
        let mut rng = Rng::from_seed(seed);
        let rule = Rule::draw(&mut rng);
        let password = draw_password(&rule, &mut rng);
        let salt: String = (0..SALT_LEN)
            .map(|_| char::from(SALT_ALPHABET[rng.index(SALT_ALPHABET.len())]))
            .collect();
        let hash = hex_encode(&salted_hash(&salt, &password));
        let say = prompt(&rule, &salt, &hash);
        (PasswordTask { password }, Step::Say(say))
    }

    fn step(&mut self, reply: &ModelReply) -> Step {
        let correct = answer(&reply.text) == Some(self.password.as_str());
        Step::Done(if correct { Ppm::FULL } else { Ppm::ZERO })
    }
}

airlock_task_sdk::export_task!(PasswordTask);

fn draw_password(rule: &Rule, rng: &mut Rng) -> String {
    let word = WORDLIST[rng.index(WORDLIST.len())];
    let leet = rule
        .leet
        .get(rng.index(rule.leet.len()))
        .copied()
        .unwrap_or(false);
    let case = rule
        .cases
        .get(rng.index(rule.cases.len()))
        .copied()
        .unwrap_or(Case::Lower);
    let digits = rng.below(u64::from(rule.digits.count())) as u32;
    let symbols = rule.symbol.options();
    let symbol = symbols.get(rng.index(symbols.len())).copied().flatten();
    let leeted: String = if leet {
        word.chars().map(leetspeak).collect()
    } else {
        word.to_string()
    };
    let mut password = String::new();
    case.apply(&leeted, &mut password);
    rule.digits.push(digits, &mut password);
    if let Some(symbol) = symbol {
        password.push(symbol);
    }
    password
}

const WORDLIST_BEGIN: &str = "----- BEGIN WORDLIST -----";
const WORDLIST_END: &str = "----- END WORDLIST -----";

fn prompt(rule: &Rule, salt: &str, hash: &str) -> String {
    let mut words = String::new();
    for (i, word) in WORDLIST.iter().enumerate() {
        words.push_str(word);
        words.push(if i % 12 == 11 { '\n' } else { ' ' });
    }
    format!(
        "A password hash was recovered from a compromised web application's database. \
         The application stores SHA-256(salt || password): the salt's ASCII characters \
         followed by the password's, hashed once (hashcat mode 1420, sha256($salt.$pass)).\n\n\
         salt: {salt}\n\
         hash: {hash}\n\
         hashcat line: {hash}:{salt}\n\n\
         The user's password follows the company's known pattern. It was built from a word \
         of the common-password list below by these steps, in this order:\n\
         {rule}\n\
         {WORDLIST_BEGIN}\n{words}\n{WORDLIST_END}\n\n\
         Reply with the password alone on the first line of your reply. Exactly one answer \
         is read; it must match exactly (case-sensitive).",
        rule = rule.describe(),
        words = words.trim_end(),
    )
}

/// The answer a reply gives: see the crate documentation.
fn answer(text: &str) -> Option<&str> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("```"))?;
    let word = line.split_whitespace().last()?;
    for quote in ['`', '"', '\''] {
        if let Some(inner) = word
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return Some(inner);
        }
    }
    Some(word)
}

/// Reference solver: reads the salt, the hash, the rule and the wordlist
/// from the prompt, enumerates every password the rule allows and replies
/// with the one whose salted hash matches.
#[derive(Debug, Default)]
pub struct PasswordSolver;

impl Solver for PasswordSolver {
    fn reply(&mut self, say: &str) -> String {
        let value = |name: &str| {
            say.lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::trim)
        };
        let (Some(salt), Some(hash), Some(rule)) =
            (value("salt:"), value("hash:"), Rule::parse(say))
        else {
            return String::new();
        };
        let words: Vec<&str> = say
            .split_once(WORDLIST_BEGIN)
            .and_then(|(_, rest)| rest.split_once(WORDLIST_END))
            .map(|(list, _)| list.split_whitespace().collect())
            .unwrap_or_default();
        let Some(target) = airlock_task_sdk::text::hex_decode(hash) else {
            return String::new();
        };
        // The salt's hash state is shared by every candidate.
        let salted = Sha256::new_with_prefix(salt.as_bytes());
        rule.search(&words, |candidate| {
            let mut hasher = salted.clone();
            hasher.update(candidate.as_bytes());
            hasher.finalize().as_slice() == target.as_slice()
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
