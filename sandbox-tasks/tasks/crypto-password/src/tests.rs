//! Native tests of the task and its reference solver.

extern crate std;

use airlock_task_sdk::category;
use std::collections::BTreeSet;

use airlock_task_sdk::run_native;
use airlock_task_sdk::testkit;

use super::*;

const SEEDS: u32 = 24;

fn seed(i: u32) -> [u8; 32] {
    testkit::seed(i, 0x3c)
}

fn score(seed: [u8; 32], reply: &str) -> Step {
    let (mut task, _) = PasswordTask::start(seed);
    task.step(&ModelReply {
        text: reply.to_string(),
        truncated: false,
        tool_calls: Vec::new(),
    })
}

fn instance(seed: [u8; 32]) -> (String, String) {
    let (task, step) = PasswordTask::start(seed);
    let Step::Say(say) = step else {
        panic!("no prompt")
    };
    (task.password, say)
}

/// Always replies with the same text.
struct Fixed(&'static str);

impl Solver for Fixed {
    fn reply(&mut self, _say: &str) -> String {
        self.0.to_string()
    }
}

#[test]
fn reference_solver_scores_full_within_one_turn() {
    for i in 0..SEEDS {
        let run = run_native::<PasswordTask>(seed(i), &mut PasswordSolver, 1);
        assert_eq!(run.score, Some(Ppm::FULL), "seed {i}: {:?}", run.transcript);
        assert_eq!(run.turns, 1);
        let (password, _) = instance(seed(i));
        assert_eq!(run.transcript[0].reply, password);
    }
}

#[test]
fn empty_reply_scores_zero() {
    for i in 0..SEEDS {
        assert_eq!(score(seed(i), ""), Step::Done(Ppm::ZERO));
        let run = run_native::<PasswordTask>(seed(i), &mut Fixed(""), 5);
        assert_eq!(run.score, Some(Ppm::ZERO));
        assert_eq!(run.turns, 1);
    }
}

#[test]
fn near_misses_score_zero() {
    for i in 0..SEEDS {
        let (password, _) = instance(seed(i));
        let mut wrong: Vec<char> = password.chars().collect();
        // Change the last character: a wrong digit or a wrong symbol.
        let last = wrong.len() - 1;
        wrong[last] = if wrong[last] == '1' { '2' } else { '1' };
        let wrong: String = wrong.into_iter().collect();
        let swapped_case: String = password
            .chars()
            .map(|c| {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        let digits_only: String = password.chars().filter(|c| c.is_ascii_digit()).collect();
        for near in [
            wrong.as_str(),
            swapped_case.as_str(),
            &password[..password.len() - 1],
            &format!("{password}!"),
            &format!("{password}x"),
            digits_only.as_str(),
        ] {
            if near == password {
                continue;
            }
            assert_eq!(score(seed(i), near), Step::Done(Ppm::ZERO), "{near}");
        }
        assert_eq!(score(seed(i), &password), Step::Done(Ppm::FULL));
    }
}

#[test]
fn the_answer_is_read_from_the_first_line_only() {
    let s = seed(5);
    let (password, _) = instance(s);
    let full = Step::Done(Ppm::FULL);
    let zero = Step::Done(Ppm::ZERO);
    assert_eq!(score(s, &format!("  {password}  \n")), full);
    assert_eq!(score(s, &format!("`{password}`")), full);
    assert_eq!(score(s, &format!("\"{password}\"")), full);
    assert_eq!(score(s, &format!("Password: {password}")), full);
    assert_eq!(score(s, &format!("\n```\n{password}\n```\n")), full);
    assert_eq!(score(s, &format!("guess1\n{password}")), zero);
    assert_eq!(score(s, &format!("{password} is the password")), zero);
    assert_eq!(score(s, &format!("{password}\u{a0}x")), zero);
}

#[test]
fn hostile_replies_score_zero_without_panicking() {
    let s = seed(3);
    let long = "A".repeat(1 << 20);
    let spaces = " \n".repeat(1 << 19);
    let cases = [
        long.as_str(),
        spaces.as_str(),
        "\u{0}\u{ffff}\u{10ffff}\u{1F600}",
        "```",
        "``",
        "'",
        "\"",
        "\r\n\r\n",
    ];
    for case in cases {
        assert_eq!(score(s, case), Step::Done(Ppm::ZERO), "{:.40}", case);
    }
}

#[test]
fn same_seed_same_transcript() {
    testkit::assert_same_seed_same_run::<PasswordTask, _>(
        (0..SEEDS).map(seed),
        || Fixed("Dragon1999!"),
        1,
    );
    testkit::assert_same_seed_same_run::<PasswordTask, _>([seed(1)], || PasswordSolver, 1);
    for i in 0..SEEDS {
        assert_eq!(instance(seed(i)), instance(seed(i)));
    }
}

#[test]
fn different_seeds_give_different_instances() {
    let mut prompts = BTreeSet::new();
    let mut passwords = BTreeSet::new();
    let mut rules = BTreeSet::new();
    for i in 0..SEEDS {
        let (password, say) = instance(seed(i));
        rules.insert(Rule::parse(&say).map(|r| r.describe()));
        prompts.insert(say);
        passwords.insert(password);
    }
    assert_eq!(prompts.len(), SEEDS as usize);
    assert_eq!(passwords.len(), SEEDS as usize);
    assert!(rules.len() > SEEDS as usize / 3, "{}", rules.len());
}

#[test]
fn prompts_are_small_hide_the_password_and_state_a_searchable_rule() {
    for i in 0..SEEDS {
        let (password, say) = instance(seed(i));
        assert!(say.len() < 12 * 1024, "{} bytes", say.len());
        assert!(!say.contains(&password));
        let rule = Rule::parse(&say).expect("the prompt states the rule");
        let n = rule.candidates(WORDLIST.len());
        assert!((MIN_CANDIDATES..=MAX_CANDIDATES).contains(&n), "{n}");
        // The password is one of the rule's candidates.
        assert_eq!(
            rule.search(&WORDLIST, |c| c == password).as_deref(),
            Some(password.as_str())
        );
        // The prompt's hash is that of the password under the prompt's salt.
        let salt = say
            .lines()
            .find_map(|l| l.strip_prefix("salt: "))
            .expect("salt");
        assert_eq!(salt.len(), SALT_LEN);
        assert!(say.contains(&format!(
            "hash: {}\n",
            hex_encode(&salted_hash(salt, &password))
        )));
    }
}

#[test]
fn every_rule_round_trips_through_its_description() {
    for cases in CASE_SETS {
        for leet in LEET_SETS {
            for digits in [Digits::One, Digits::Two, Digits::Year] {
                for symbol in [SymbolRule::Never, SymbolRule::Always, SymbolRule::Optional] {
                    let rule = Rule {
                        leet: leet.to_vec(),
                        cases: cases.to_vec(),
                        digits,
                        symbol,
                    };
                    assert_eq!(Rule::parse(&rule.describe()), Some(rule.clone()));
                    let mut n = 0u64;
                    rule.search(&WORDLIST[..2], |_| {
                        n += 1;
                        false
                    });
                    assert_eq!(n, rule.candidates(2));
                }
            }
        }
    }
}

#[test]
fn mangling_follows_the_stated_order() {
    let rule = Rule {
        leet: alloc::vec![true],
        cases: alloc::vec![Case::Capitalised, Case::Upper],
        digits: Digits::Year,
        symbol: SymbolRule::Always,
    };
    let all: Vec<String> = {
        let mut all = Vec::new();
        rule.search(&["master", "admin"], |c| {
            all.push(c.to_string());
            false
        });
        all
    };
    assert!(all.contains(&"M4573r1970!".to_string()), "{:?}", &all[..3]);
    assert!(all.contains(&"M4573R2025?".to_string()));
    assert!(all.contains(&"4dm1n1999#".to_string()));
    assert!(all.contains(&"4DM1N1999#".to_string()));
    // Hashcat mode 1420 test vector shape: sha256 of salt then password.
    assert_eq!(
        hex_encode(&salted_hash("", "abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(salted_hash("ab", "c"), salted_hash("", "abc"));
}

#[test]
fn wordlist_is_distinct_lower_case_words() {
    let set: BTreeSet<&str> = WORDLIST.iter().copied().collect();
    assert_eq!(set.len(), WORDLIST.len());
    assert!(WORDLIST.len() >= 300);
    for word in WORDLIST {
        assert!(
            !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()),
            "{word}"
        );
    }
}

#[test]
fn solver_gives_up_quietly_on_a_foreign_prompt() {
    assert_eq!(PasswordSolver.reply(""), "");
    assert_eq!(PasswordSolver.reply("salt: x\nhash: zz"), "");
}

#[test]
fn info_is_consistent() {
    let info = PasswordTask::info();
    assert_eq!(info.id, TASK_ID);
    assert_eq!(info.abi_version, ABI_VERSION);
    assert_eq!(info.category, category::CRYPTO);
    assert_eq!(info.max_turns, 1);
}
