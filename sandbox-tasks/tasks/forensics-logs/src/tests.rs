//! Native tests of the scenario generator, the answer parser, the scoring
//! and the reference solver.

extern crate std;

use airlock_task_sdk::category;
use std::collections::BTreeSet;

use airlock_task_sdk::run_native;
use airlock_task_sdk::testkit;

use super::*;

const SEEDS: u32 = 40;

fn seed(i: u32) -> [u8; 32] {
    testkit::seed(i, 0x1f)
}

fn instance(i: u32) -> (LogsTask, String) {
    let (task, step) = LogsTask::start(seed(i));
    let Step::Say(say) = step else {
        panic!("no prompt")
    };
    (task, say)
}

fn score(i: u32, reply: &str) -> Ppm {
    let (mut task, _) = instance(i);
    match task.step(&ModelReply {
        text: reply.to_string(),
        truncated: false,
        tool_calls: Vec::new(),
    }) {
        Step::Done(score) => score,
        Step::Say(say) => panic!("asked again: {say}"),
        Step::ToolResults(results) => panic!("tool results to a text reply: {results:?}"),
    }
}

fn render(items: &BTreeSet<Item>) -> String {
    items
        .iter()
        .map(|item| match item {
            Item::Ip(ip) => format!("ip: {}\n", ip_text(*ip)),
            Item::Account(a) => format!("account: {a}\n"),
        })
        .collect()
}

#[test]
fn reference_solver_scores_full_within_one_turn() {
    for i in 0..SEEDS {
        let run = run_native::<LogsTask>(seed(i), &mut LogsSolver, 1);
        assert_eq!(
            run.score,
            Some(Ppm::FULL),
            "seed {i}: {:#?}",
            run.transcript
        );
        assert_eq!(run.turns, 1);
    }
}

#[test]
fn the_truth_itself_scores_full() {
    for i in 0..SEEDS {
        let (task, _) = instance(i);
        assert_eq!(score(i, &render(task.truth())), Ppm::FULL);
    }
}

#[test]
fn empty_reply_scores_zero() {
    for i in 0..SEEDS {
        assert_eq!(score(i, ""), Ppm::ZERO);
        assert_eq!(score(i, "I could not find anything."), Ppm::ZERO);
    }
}

#[test]
fn decoys_only_score_zero() {
    for i in 0..SEEDS {
        let (task, _) = instance(i);
        let s = task.scenario();
        let mut decoys = BTreeSet::new();
        decoys.insert(Item::Ip(s.scanner));
        decoys.extend(s.noise_ips.iter().map(|&ip| Item::Ip(ip)));
        decoys.extend(
            s.benign_accounts
                .iter()
                .map(|a| Item::Account(a.to_string())),
        );
        decoys.insert(Item::Account("root".to_string()));
        decoys.insert(Item::Account("www-data".to_string()));
        assert!(decoys.is_disjoint(task.truth()), "seed {i}");
        assert_eq!(score(i, &render(&decoys)), Ppm::ZERO, "seed {i}");
    }
}

#[test]
fn partial_answers_score_exactly_their_f1() {
    for i in 0..SEEDS {
        let (task, _) = instance(i);
        let truth = task.truth().clone();
        let n = truth.len() as u64;
        assert!(n >= 2);

        // The truth plus the scanner: one false positive.
        let mut plus_scanner = truth.clone();
        plus_scanner.insert(Item::Ip(task.scenario().scanner));
        assert_eq!(
            score(i, &render(&plus_scanner)),
            Ppm::ratio(2 * n, 2 * n + 1),
            "seed {i}"
        );

        // Every item but one: one false negative.
        let mut minus_one = truth.clone();
        let first = minus_one.iter().next().cloned().unwrap();
        minus_one.remove(&first);
        assert_eq!(
            score(i, &render(&minus_one)),
            Ppm::ratio(2 * (n - 1), 2 * n - 1)
        );

        // Only the spraying addresses seen in auth.log, nothing else.
        let s = task.scenario();
        let auth_only: BTreeSet<Item> = s
            .attacker_ips
            .iter()
            .filter(|&&ip| s.auth_log.contains(&format!("from {} ", ip_text(ip))))
            .map(|&ip| Item::Ip(ip))
            .collect();
        let tp = auth_only.len() as u64;
        assert_eq!(
            score(i, &render(&auth_only)),
            Ppm::ratio(2 * tp, 2 * tp + (n - tp))
        );
    }
}

#[test]
fn scenarios_are_consistent() {
    for i in 0..SEEDS {
        let (task, say) = instance(i);
        let s = task.scenario();
        assert!(
            say.len() <= MAX_PROMPT_BYTES,
            "seed {i}: prompt is {} bytes",
            say.len()
        );
        assert!((1..=4).contains(&s.attacker_ips.len()), "seed {i}");
        assert!((1..=2).contains(&s.attacker_accounts.len()), "seed {i}");
        for &ip in &s.attacker_ips {
            let text = ip_text(ip);
            assert!(say.contains(&text), "seed {i}: {text} not in the logs");
            assert!(!ip_text(ip).starts_with("10."), "seed {i}");
            assert_ne!(ip, s.scanner);
            assert!(!s.noise_ips.contains(&ip));
        }
        for account in &s.attacker_accounts {
            assert!(say.contains(account.as_str()), "seed {i}: {account}");
            assert_ne!(account, "root");
            assert!(!s.benign_accounts.contains(&account.as_str()));
        }
        // The scanner and the noise never log in.
        for ip in s.noise_ips.iter().chain([&s.scanner]) {
            let text = ip_text(*ip);
            assert!(s.auth_log.contains(&format!("from {text} ")), "seed {i}");
            assert!(
                !s.auth_log
                    .lines()
                    .any(|l| l.contains("Accepted") && l.contains(&format!("from {text} "))),
                "seed {i}: {text} logged in"
            );
        }
        // Both logs are in time order.
        for log in [&s.auth_log, &s.proc_log] {
            let times: Vec<&str> = log.lines().map(|l| &l[7..15]).collect();
            let mut sorted = times.clone();
            sorted.sort();
            assert_eq!(times, sorted, "seed {i}");
        }
        assert!(s.auth_log.lines().count() >= 40, "seed {i}");
        assert!(s.proc_log.lines().count() >= 20, "seed {i}");
    }
}

#[test]
fn instances_vary_in_the_ways_that_matter() {
    let mut spray_counts = BTreeSet::new();
    let mut account_counts = BTreeSet::new();
    let mut victims = BTreeSet::new();
    let mut c2_is_spray = false;
    let mut c2_is_new = false;
    for i in 0..SEEDS {
        let (task, _) = instance(i);
        let s = task.scenario();
        let spray = s
            .attacker_ips
            .iter()
            .filter(|&&ip| s.auth_log.contains(&format!("from {} ", ip_text(ip))))
            .count();
        spray_counts.insert(spray);
        account_counts.insert(s.attacker_accounts.len());
        victims.extend(s.attacker_accounts.iter().cloned());
        if spray == s.attacker_ips.len() {
            c2_is_spray = true;
        } else {
            c2_is_new = true;
        }
    }
    assert_eq!(spray_counts.len(), 3, "{spray_counts:?}");
    assert_eq!(account_counts.len(), 2);
    assert!(victims.len() >= 10, "{victims:?}");
    assert!(c2_is_spray && c2_is_new);
}

#[test]
fn answer_parser_is_lenient_within_the_format() {
    let ip = |s: &str| Item::Ip(parse_ipv4(s).unwrap());
    let account = |s: &str| Item::Account(s.to_string());
    let text = "\
Here is my analysis.
- ip: 45.1.2.3
* **IP**: `46.1.2.3` (spray)
1. ips = 47.1.2.3, 48.1.2.3; 49.1.2.3:8080
account: Deploy (initial access)
Accounts: sysupdate, 'ops-maint'.
ip: 300.1.2.3
ip: 1.2.3
ip: banana
hostname: web01
The account deploy was used.
";
    let got = parse_answer(text);
    let want: BTreeSet<Item> = [
        ip("45.1.2.3"),
        ip("46.1.2.3"),
        ip("47.1.2.3"),
        ip("48.1.2.3"),
        ip("49.1.2.3"),
        account("deploy"),
        account("sysupdate"),
        account("ops-maint"),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(parse_ipv4("01.2.3.4"), Some(0x0102_0304));
    assert_eq!(parse_ipv4("1.2.3.4.5"), None);
    assert_eq!(parse_ipv4("1..3.4"), None);
    assert_eq!(parse_ipv4("+1.2.3.4"), None);
}

#[test]
fn duplicates_count_once_and_extra_items_cost() {
    let i = 3;
    let (task, _) = instance(i);
    let truth = render(task.truth());
    assert_eq!(score(i, &format!("{truth}{truth}")), Ppm::FULL);
    let n = task.truth().len() as u64;
    let junk = "account: nobody\naccount: alice\nip: 8.8.8.8\n";
    assert_eq!(
        score(i, &format!("{truth}{junk}")),
        Ppm::ratio(2 * n, 2 * n + 3)
    );
}

#[test]
fn hostile_replies_do_not_panic() {
    let long_ips = "ip: 1.2.3.4, ".repeat(100_000);
    let long_accounts: String = (0..20_000).map(|k| format!("account: u{k}\n")).collect();
    let cases = [
        long_ips.as_str(),
        long_accounts.as_str(),
        "\u{0}\u{ffff}\u{10ffff}:",
        "ip:\nip:,,,;;;\naccount:\naccount: ''",
        "ip: é.é.é.é\naccount: \u{301}",
        ":::::=====",
    ];
    for case in cases {
        let s = score(5, case);
        assert!(s.is_valid());
        assert!(s < Ppm::FULL);
    }
    assert_eq!(score(5, &"x".repeat(1 << 20)), Ppm::ZERO);
}

#[test]
fn same_seed_same_transcript() {
    testkit::assert_same_seed_same_run::<LogsTask, _>((0..SEEDS).map(seed), || LogsSolver, 1);
}

#[test]
fn different_seeds_give_different_instances() {
    let mut prompts = BTreeSet::new();
    let mut truths = BTreeSet::new();
    for i in 0..SEEDS {
        let (task, say) = instance(i);
        prompts.insert(say);
        truths.insert(task.truth().clone());
    }
    assert_eq!(prompts.len(), SEEDS as usize);
    assert_eq!(truths.len(), SEEDS as usize);
}

#[test]
fn solver_gives_up_quietly_on_unrelated_text() {
    assert_eq!(LogsSolver.reply(""), "");
    assert_eq!(LogsSolver.reply("nothing to see\n\n"), "");
    assert_eq!(
        LogsSolver.reply("Mar  1 00:00:00 h sshd[x]: Accepted password for a from 1.2.3.4"),
        ""
    );
}

#[test]
fn info_is_consistent() {
    let info = LogsTask::info();
    assert_eq!(info.id, TASK_ID);
    assert_eq!(info.abi_version, ABI_VERSION);
    assert_eq!(info.category, category::FORENSICS);
    assert_eq!(info.max_turns, 1);
    assert_eq!(info.version, 1);
}
