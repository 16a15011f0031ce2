//! Native tests of the bank, the task, its answer parser and its solver.

extern crate std;

use airlock_task_sdk::category;
use std::collections::BTreeSet;

use airlock_task_sdk::run_native;
use airlock_task_sdk::testkit;

use super::*;
use crate::bank::{Lang, NAMES, also_correct, name};

const SEEDS: u32 = 32;

fn seed(i: u32) -> [u8; 32] {
    testkit::seed(i, 0xc3)
}

fn score(task: &mut CweTask, reply: &str) -> Ppm {
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

fn instance(i: u32) -> (CweTask, String) {
    let (task, step) = CweTask::start(seed(i));
    let Step::Say(say) = step else {
        panic!("no prompt")
    };
    (task, say)
}

/// `n: X` lines choosing, for each question, the option `pick` returns.
fn answer_lines(task: &CweTask, pick: impl Fn(&Question) -> usize) -> String {
    task.questions()
        .iter()
        .enumerate()
        .map(|(i, q)| format!("{}: {}\n", i + 1, LETTERS[pick(q) % OPTIONS]))
        .collect()
}

#[test]
fn bank_is_large_varied_and_consistent() {
    assert!(BANK.len() >= 40, "{} entries", BANK.len());
    let codes: BTreeSet<&str> = BANK.iter().map(|e| e.code).collect();
    assert_eq!(codes.len(), BANK.len(), "duplicate snippet");
    for lang in [
        Lang::C,
        Lang::Python,
        Lang::JavaScript,
        Lang::Java,
        Lang::Go,
        Lang::Php,
        Lang::Sql,
    ] {
        assert!(BANK.iter().any(|e| e.lang == lang), "{lang:?} missing");
    }
    let answers: BTreeSet<u16> = BANK.iter().map(|e| e.answer).collect();
    assert!(
        answers.len() >= 30,
        "only {} distinct answers",
        answers.len()
    );
    let names: BTreeSet<u16> = NAMES.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), NAMES.len(), "CWE named twice");
}

#[test]
fn every_entry_has_one_defensible_option() {
    for (i, e) in BANK.iter().enumerate() {
        assert!(
            name(e.answer).is_some(),
            "entry {i}: CWE-{} unnamed",
            e.answer
        );
        assert!(
            e.distractors.len() >= OPTIONS - 1,
            "entry {i}: too few distractors"
        );
        let distinct: BTreeSet<u16> = e.distractors.iter().copied().collect();
        assert_eq!(distinct.len(), e.distractors.len(), "entry {i}: repeated");
        for &d in e.distractors {
            assert_ne!(d, e.answer, "entry {i}: distractor equals the answer");
            assert!(name(d).is_some(), "entry {i}: CWE-{d} unnamed");
            assert!(
                !also_correct(e.answer).contains(&d),
                "entry {i}: CWE-{d} is also defensible for CWE-{}",
                e.answer
            );
        }
        assert_eq!(e.code, e.code.trim(), "entry {i}: stray whitespace");
        assert!(!e.code.contains("```"), "entry {i}: breaks the fence");
        assert!(
            !e.code.contains("\n### "),
            "entry {i}: looks like a heading"
        );
        // The snippet must not name its own answer.
        assert!(
            !e.code.to_lowercase().contains("cwe"),
            "entry {i}: mentions a CWE"
        );
    }
}

#[test]
fn instances_hold_distinct_snippets_and_well_formed_options() {
    for i in 0..SEEDS {
        let (task, say) = instance(i);
        assert_eq!(task.questions().len(), QUESTIONS);
        let entries: BTreeSet<usize> = task.questions().iter().map(|q| q.entry).collect();
        assert_eq!(entries.len(), QUESTIONS);
        for q in task.questions() {
            let entry = &BANK[q.entry];
            let distinct: BTreeSet<u16> = q.options.iter().copied().collect();
            assert_eq!(distinct.len(), OPTIONS);
            assert_eq!(q.options[q.correct], entry.answer);
            for (k, &cwe) in q.options.iter().enumerate() {
                if k != q.correct {
                    assert!(entry.distractors.contains(&cwe));
                }
            }
            assert!(say.contains(entry.code));
        }
        assert!(say.len() < 12 * 1024, "prompt is {} bytes", say.len());
    }
}

#[test]
fn sampling_reaches_every_entry_and_every_position() {
    let mut seen = BTreeSet::new();
    let mut positions = [0u32; OPTIONS];
    for i in 0..300 {
        let (task, _) = instance(i);
        for q in task.questions() {
            seen.insert(q.entry);
            positions[q.correct] += 1;
        }
    }
    assert_eq!(seen.len(), BANK.len());
    assert!(positions.iter().all(|&n| n > 500), "{positions:?}");
}

#[test]
fn reference_solver_scores_full_within_one_turn() {
    for i in 0..SEEDS {
        let run = run_native::<CweTask>(seed(i), &mut CweSolver, 1);
        assert_eq!(run.score, Some(Ppm::FULL), "seed {i}: {:?}", run.transcript);
        assert_eq!(run.turns, 1);
    }
}

#[test]
fn empty_reply_scores_zero() {
    for i in 0..SEEDS {
        let (mut task, _) = instance(i);
        assert_eq!(score(&mut task, ""), Ppm::ZERO);
    }
}

#[test]
fn wrong_answers_score_zero_and_one_mistake_costs_one_tenth() {
    for i in 0..SEEDS {
        let (mut task, _) = instance(i);
        let wrong = answer_lines(&task, |q| q.correct + 1 + (q.entry % 3));
        assert_eq!(score(&mut task, &wrong), Ppm::ZERO, "{wrong}");

        let (mut task, _) = instance(i);
        let first_wrong = answer_lines(&task, |q| {
            if core::ptr::eq(q, &task.questions()[0]) {
                q.correct + 1
            } else {
                q.correct
            }
        });
        assert_eq!(score(&mut task, &first_wrong), Ppm(900_000));
    }
}

#[test]
fn one_letter_for_everything_scores_its_share() {
    for i in 0..SEEDS {
        let (mut task, _) = instance(i);
        let hits = task.questions().iter().filter(|q| q.correct == 0).count();
        let all_a = answer_lines(&task, |_| 0);
        assert_eq!(
            score(&mut task, &all_a),
            Ppm::ratio(hits as u64, QUESTIONS as u64)
        );
    }
}

#[test]
fn only_the_first_answer_line_per_question_counts() {
    let (mut task, _) = instance(5);
    let right = answer_lines(&task, |q| q.correct);
    let wrong = answer_lines(&task, |q| q.correct + 1);
    assert_eq!(score(&mut task, &format!("{wrong}{right}")), Ppm::ZERO);
    let (mut task, _) = instance(5);
    assert_eq!(score(&mut task, &format!("{right}{wrong}")), Ppm::FULL);
}

#[test]
fn lenient_forms_of_the_answer_format() {
    let cases = [
        ("1: B", Some((1, 1))),
        ("  1:B", Some((1, 1))),
        ("**1:** b", Some((1, 1))),
        ("`2: C`", Some((2, 2))),
        ("- Q3) D", Some((3, 3))),
        ("Question 4: (A)", Some((4, 0))),
        ("10. [c] CWE-89", Some((10, 2))),
        ("5: A, or maybe B", Some((5, 0))),
        ("6: E", None),
        ("7. Correct", None),
        ("8 B", None),
        ("B", None),
        ("1234: A", None),
        (": A", None),
        ("9:", None),
        ("", None),
    ];
    for (line, want) in cases {
        assert_eq!(parse_line(line), want, "{line:?}");
    }
    assert_eq!(
        parse_answers("0: A\n11: B\n2: C", 10),
        [
            None,
            Some(2),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None
        ]
    );
}

#[test]
fn hostile_replies_score_zero_without_panicking() {
    let (mut task, _) = instance(9);
    let long = "1: ".repeat(400_000);
    let cases = [
        long.as_str(),
        "\u{0}\u{ffff}\u{10ffff}: A",
        "é: A\nQé: B\nquestioné",
        "99999999999999999999999: A",
        "1:\u{301}A",
    ];
    for case in cases {
        let (mut t, _) = instance(9);
        assert_eq!(
            score(&mut t, case),
            Ppm::ZERO,
            "{:?}",
            &case[..case.len().min(40)]
        );
    }
    let mega: String = "Z".repeat(1 << 20);
    assert_eq!(score(&mut task, &mega), Ppm::ZERO);
}

#[test]
fn same_seed_same_transcript() {
    testkit::assert_same_seed_same_run::<CweTask, _>((0..SEEDS).map(seed), || CweSolver, 1);
}

#[test]
fn different_seeds_give_different_instances() {
    let mut prompts = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for i in 0..SEEDS {
        let (task, say) = instance(i);
        prompts.insert(say);
        keys.insert(
            task.questions()
                .iter()
                .map(|q| (q.entry, q.correct))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(prompts.len(), SEEDS as usize);
    assert_eq!(keys.len(), SEEDS as usize);
}

#[test]
fn solver_gives_up_quietly_on_unknown_prompts() {
    assert_eq!(CweSolver.reply(""), "");
    assert_eq!(
        CweSolver.reply("### Question 1 (C)\n```c\nint x;\n```\nA) CWE-1: x"),
        ""
    );
    assert_eq!(
        CweSolver.reply("\n### Question 1 (C)\n```c\nunterminated"),
        ""
    );
}

#[test]
fn info_is_consistent() {
    let info = CweTask::info();
    assert_eq!(info.id, TASK_ID);
    assert_eq!(info.abi_version, ABI_VERSION);
    assert_eq!(info.category, category::KNOWLEDGE);
    assert_eq!(info.max_turns, 1);
    assert_eq!(info.version, 1);
}
