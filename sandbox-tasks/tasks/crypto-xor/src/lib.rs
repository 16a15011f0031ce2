//! Task `crypto-xor`: recover a flag hidden under a repeating-key XOR.
//!
//! Each instance draws a flag `flag{w1_w2_w3_hhhhhh}` (three words and six
//! hex digits) and a key of 3 to 5 non-zero bytes, and shows the model the
//! ciphertext in hex, saying that the plaintext starts with `flag{` and
//! that the key repeats with a length of at most 5 bytes. With the prefix
//! the key falls out directly, for every possible length.
//!
//! One turn. Scoring: the reply's *flag token* is the text from the first
//! `flag{` in the reply up to and including the first `}` after it
//! ([`airlock_task_sdk::text::first_flag_token`]). Full credit when that
//! token equals the flag exactly (case-sensitive), zero otherwise,
//! including when the reply has no flag token. Only the first token counts,
//! so listing guesses gains nothing.
//!
//! Instances are drawn so that exactly one key length up to 5 decrypts to a
//! well-formed flag: the answer is unique.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_task_sdk::rng::Rng;
use airlock_task_sdk::text::{FLAG_PREFIX, first_flag_token, hex_decode, hex_encode};
use airlock_task_sdk::{
    ABI_VERSION, Difficulty, ModelReply, Ppm, Solver, Step, Task, TaskInfo, category,
};

/// Stable task id.
pub const TASK_ID: &str = "crypto-xor";
/// The longest key the task uses, and says it uses.
pub const MAX_KEY_LEN: usize = 5;
/// The shortest key the task uses.
pub const MIN_KEY_LEN: usize = 3;

const WORDS: [&str; 48] = [
    "amber", "anchor", "aspen", "basalt", "beacon", "birch", "cobalt", "comet", "coral", "cinder",
    "delta", "ember", "falcon", "fjord", "garnet", "glacier", "harbor", "hazel", "indigo", "iris",
    "jasper", "juniper", "kestrel", "lantern", "lichen", "marble", "meadow", "nectar", "nimbus",
    "onyx", "orchid", "pepper", "quartz", "quiver", "raven", "saffron", "sierra", "spruce",
    "tundra", "umber", "velvet", "walnut", "willow", "xenon", "yarrow", "zephyr", "copper",
    "thistle",
];

/// One instance: the flag the model must recover.
#[derive(Debug)]
pub struct XorTask {
    flag: String,
}

impl Task for XorTask {
    fn info() -> TaskInfo {
        TaskInfo {
            abi_version: ABI_VERSION,
            id: TASK_ID.to_string(),
            version: 1,
            title: "Repeating-key XOR with a known prefix".to_string(),
            category: category::CRYPTO.into(),
            difficulty: Difficulty::Easy,
            max_turns: 1,
            description:
                "Recover a flag encrypted under a short repeating XOR key, given its prefix."
                    .to_string(),
            system_prompt: String::new(),
            tools: Vec::new(),
        }
    }

    fn start(seed: [u8; 32]) -> (Self, Step) {
        let mut rng = Rng::from_seed(seed);
        loop {
            let flag = draw_flag(&mut rng);
            let key_len = rng.range_inclusive(MIN_KEY_LEN as u64, MAX_KEY_LEN as u64) as usize;
            // Non-zero key bytes, so no plaintext byte shows through.
            let key: Vec<u8> = (0..key_len).map(|_| 1 + rng.below(255) as u8).collect();
            let ciphertext = xor_repeating(flag.as_bytes(), &key);
            // Redraw in the (rare) case another key length also decrypts to
            // a well-formed flag: the prompt promises one answer.
            if candidates(&ciphertext).as_slice() == [flag.as_str()] {
                let say = prompt(&ciphertext);
                return (XorTask { flag }, Step::Say(say));
            }
        }
    }

    fn step(&mut self, reply: &ModelReply) -> Step {
        let correct = first_flag_token(&reply.text) == Some(self.flag.as_str());
        Step::Done(if correct { Ppm::FULL } else { Ppm::ZERO })
    }
}

airlock_task_sdk::export_task!(XorTask);

fn draw_flag(rng: &mut Rng) -> String {
    let mut word = || {
        WORDS
            .get(rng.index(WORDS.len()))
            .copied()
            .unwrap_or("amber")
    };
    let (a, b, c) = (word(), word(), word());
    let mut tag = [0u8; 3];
    rng.fill_bytes(&mut tag);
    format!("{FLAG_PREFIX}{a}_{b}_{c}_{}}}", hex_encode(&tag))
}

fn prompt(ciphertext: &[u8]) -> String {
    format!(
        "Ciphertext (hex): {}\n\n\
         The plaintext is a flag of the form flag{{...}}: it starts with the known prefix \
         `flag{{` and ends with `}}`; between the braces are lower-case letters, digits and \
         underscores. It was encrypted by XOR with a repeating key whose length is at most \
         {MAX_KEY_LEN} bytes.\n\n\
         Reply with the flag. Only the first flag{{...}} in your reply is scored.",
        hex_encode(ciphertext)
    )
}

/// XOR of `data` with `key` repeated; `data` unchanged for an empty key.
pub fn xor_repeating(data: &[u8], key: &[u8]) -> Vec<u8> {
    if key.is_empty() {
        return data.to_vec();
    }
    data.iter()
        .zip(key.iter().cycle())
        .map(|(d, k)| d ^ k)
        .collect()
}

/// Whether `text` is `flag{` + one or more of `[a-z0-9_]` + `}`.
pub fn is_well_formed_flag(text: &str) -> bool {
    let Some(inner) = text
        .strip_prefix(FLAG_PREFIX)
        .and_then(|rest| rest.strip_suffix('}'))
    else {
        return false;
    };
    !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The distinct well-formed flags that `ciphertext` decrypts to under a key
/// of length 1 to [`MAX_KEY_LEN`] recovered from the known prefix, in order
/// of key length.
pub fn candidates(ciphertext: &[u8]) -> Vec<String> {
    let prefix = FLAG_PREFIX.as_bytes();
    let mut found: Vec<String> = Vec::new();
    for key_len in 1..=MAX_KEY_LEN.min(ciphertext.len()) {
        let key: Vec<u8> = ciphertext
            .iter()
            .zip(prefix)
            .take(key_len)
            .map(|(c, p)| c ^ p)
            .collect();
        let plain = xor_repeating(ciphertext, &key);
        if let Ok(text) = String::from_utf8(plain)
            && is_well_formed_flag(&text)
            && !found.contains(&text)
        {
            found.push(text);
        }
    }
    found
}

/// Reference solver: reads the hex ciphertext from the prompt, recovers the
/// key for each length from the known prefix, and replies with the first
/// decryption that is a well-formed flag.
#[derive(Debug, Default)]
pub struct XorSolver;

impl Solver for XorSolver {
    fn reply(&mut self, say: &str) -> String {
        // The ciphertext is the longest run of hex digits in the prompt.
        let hex = say
            .split(|c: char| !c.is_ascii_hexdigit())
            .max_by_key(|run| run.len())
            .unwrap_or("");
        let Some(ciphertext) = hex_decode(hex) else {
            return String::new();
        };
        candidates(&ciphertext)
            .into_iter()
            .next()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use airlock_task_sdk::run_native;

    const SEEDS: u32 = 32;

    fn seed(i: u32) -> [u8; 32] {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        seed[31] = 0xa5;
        seed
    }

    fn score(seed: [u8; 32], reply: &str) -> Step {
        let (mut task, _) = XorTask::start(seed);
        task.step(&ModelReply {
            text: reply.to_string(),
            truncated: false,
            tool_calls: Vec::new(),
        })
    }

    fn flag_of(seed: [u8; 32]) -> String {
        XorTask::start(seed).0.flag
    }

    #[test]
    fn reference_solver_scores_full_within_one_turn() {
        for i in 0..SEEDS {
            let run = run_native::<XorTask>(seed(i), &mut XorSolver, 1);
            assert_eq!(run.score, Some(Ppm::FULL), "seed {i}: {:?}", run.transcript);
            assert_eq!(run.turns, 1);
            assert!(run.turns <= XorTask::info().max_turns);
        }
    }

    #[test]
    fn empty_reply_scores_zero() {
        for i in 0..SEEDS {
            assert_eq!(score(seed(i), ""), Step::Done(Ppm::ZERO));
        }
    }

    #[test]
    fn flag_with_one_changed_character_scores_zero() {
        for i in 0..SEEDS {
            let flag = flag_of(seed(i));
            let mut wrong = flag.clone().into_bytes();
            let at = FLAG_PREFIX.len() + (i as usize % (wrong.len() - FLAG_PREFIX.len() - 1));
            wrong[at] = if wrong[at] == b'a' { b'b' } else { b'a' };
            let wrong = String::from_utf8(wrong).unwrap();
            assert_ne!(wrong, flag);
            assert_eq!(score(seed(i), &wrong), Step::Done(Ppm::ZERO), "{wrong}");
            assert_eq!(score(seed(i), &flag.to_uppercase()), Step::Done(Ppm::ZERO));
        }
    }

    #[test]
    fn only_the_first_flag_token_counts() {
        let s = seed(7);
        let flag = flag_of(s);
        let full = Step::Done(Ppm::FULL);
        let zero = Step::Done(Ppm::ZERO);
        assert_eq!(score(s, &format!("The flag is {flag}.")), full);
        assert_eq!(score(s, &format!("```\n{flag}\n```")), full);
        assert_eq!(score(s, &format!("flag{{guess}} or {flag}")), zero);
        assert_eq!(score(s, &format!("x{flag}y")), full);
        assert_eq!(score(s, &flag[..flag.len() - 1]), zero);
    }

    #[test]
    fn hostile_replies_score_zero_without_panicking() {
        let s = seed(3);
        let long = "flag{".repeat(200_000);
        let cases = [
            long.as_str(),
            "\u{0}\u{ffff}\u{10ffff}flag{\u{1F600}}",
            "}}}}{{{{",
            "flag{}",
        ];
        for case in cases {
            assert_eq!(score(s, case), Step::Done(Ppm::ZERO));
        }
    }

    #[test]
    fn same_seed_same_transcript() {
        for i in 0..SEEDS {
            let a = run_native::<XorTask>(seed(i), &mut XorSolver, 1);
            let b = run_native::<XorTask>(seed(i), &mut XorSolver, 1);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn different_seeds_give_different_instances() {
        let mut prompts = std::collections::BTreeSet::new();
        let mut flags = std::collections::BTreeSet::new();
        for i in 0..SEEDS {
            let (task, step) = XorTask::start(seed(i));
            let Step::Say(say) = step else {
                panic!("no prompt")
            };
            prompts.insert(say);
            flags.insert(task.flag);
        }
        assert_eq!(prompts.len(), SEEDS as usize);
        assert_eq!(flags.len(), SEEDS as usize);
    }

    #[test]
    fn prompts_are_small_and_flags_well_formed() {
        for i in 0..SEEDS {
            let (task, step) = XorTask::start(seed(i));
            let Step::Say(say) = step else {
                panic!("no prompt")
            };
            assert!(say.len() < 16 * 1024);
            assert!(is_well_formed_flag(&task.flag), "{}", task.flag);
            assert!(say.contains("flag{"));
            assert!(!say.contains(&task.flag));
        }
    }

    #[test]
    fn solver_gives_up_quietly_on_a_prompt_without_ciphertext() {
        assert_eq!(XorSolver.reply("nothing here"), "");
        assert_eq!(XorSolver.reply(""), "");
        assert_eq!(XorSolver.reply("abc"), "");
    }

    #[test]
    fn info_is_consistent() {
        let info = XorTask::info();
        assert_eq!(info.id, TASK_ID);
        assert_eq!(info.abi_version, ABI_VERSION);
        assert_eq!(info.category, category::CRYPTO);
        assert_eq!(info.max_turns, 1);
    }
}
