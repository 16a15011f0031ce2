//! Native tests of the task, its parser model and its reference solver.

extern crate std;

use airlock_task_sdk::category;
use std::collections::BTreeSet;

use airlock_task_sdk::run_native;
use airlock_task_sdk::testkit::{self, Scripted, reply};

use super::*;
use crate::parser::Code;

const SEEDS: u32 = 40;

fn seed(i: u32) -> [u8; 32] {
    testkit::seed(i, 0x7e)
}

fn spec_of(seed: [u8; 32]) -> Spec {
    ParserTask::start(seed).0.spec
}

/// A packet the parser accepts: one record of each type, all valid.
fn valid_packet(spec: &Spec) -> Vec<u8> {
    let mut pkt = spec.header(3.min(spec.max_recs - 1));
    pkt.extend(spec.record(spec.t_name(), b"alice"));
    let mut data = spec.u16_bytes(4).to_vec();
    data.extend_from_slice(b"abcd");
    pkt.extend(spec.record(spec.t_data(), &data));
    pkt.extend(spec.record(spec.t_slot(), &[spec.nslots - 1, 7]));
    pkt
}

#[test]
fn reference_solver_crashes_the_parser_on_the_first_try() {
    for i in 0..SEEDS {
        let run = run_native::<ParserTask>(seed(i), &mut ParserSolver::default(), MAX_TURNS);
        assert_eq!(
            run.score,
            Some(Ppm::FULL),
            "seed {i}: {:#?}",
            run.transcript
        );
        assert_eq!(run.turns, 1, "seed {i}");
    }
}

#[test]
fn empty_replies_score_zero_and_never_exceed_max_turns() {
    for i in 0..SEEDS {
        let run = run_native::<ParserTask>(seed(i), &mut Scripted::new(&[""]), MAX_TURNS + 10);
        assert_eq!(run.score, Some(Ppm::ZERO));
        assert_eq!(run.turns, MAX_TURNS);
        assert_eq!(run.turns, ParserTask::info().max_turns);
    }
}

#[test]
fn valid_rejected_and_wrong_family_packets_score_zero() {
    for i in 0..SEEDS {
        let spec = spec_of(seed(i));
        let bug = spec.bug.expect("a planted bug");
        let valid = valid_packet(&spec);
        assert_eq!(spec.parse(&valid), Outcome::Returned(Code::Ok), "seed {i}");
        let mut wrong_magic = valid.clone();
        wrong_magic[0] ^= 0x20;
        let mut tries = alloc::vec![hex_encode(&valid), hex_encode(&wrong_magic)];
        // The packets for the other bug families: each is rejected cleanly.
        for other in Bug::ALL.into_iter().filter(|b| *b != bug) {
            let pkt = spec.trigger(other);
            assert!(
                matches!(spec.parse(&pkt), Outcome::Returned(code) if code != Code::Ok),
                "seed {i}: {other:?} packet on a {bug:?} parser"
            );
            tries.push(hex_encode(&pkt));
        }
        assert_eq!(tries.len() as u32, MAX_TURNS);
        let run = run_native::<ParserTask>(seed(i), &mut Scripted::new(&tries), MAX_TURNS);
        assert_eq!(run.score, Some(Ppm::ZERO), "seed {i}");
        assert_eq!(run.turns, MAX_TURNS);
        assert!(
            run.transcript[1]
                .say
                .starts_with("parse_packet returned OK (0)")
        );
        assert!(
            run.transcript[2]
                .say
                .starts_with("parse_packet returned ERR_MAGIC (2)")
        );
    }
}

#[test]
fn a_crash_on_a_later_try_still_scores_full() {
    let spec = spec_of(seed(4));
    let tries = alloc::vec![
        "zz".to_string(),
        hex_encode(&valid_packet(&spec)),
        hex_encode(&spec.trigger(spec.bug.expect("bug"))),
    ];
    let run = run_native::<ParserTask>(seed(4), &mut Scripted::new(&tries), MAX_TURNS);
    assert_eq!(run.score, Some(Ppm::FULL));
    assert_eq!(run.turns, 3);
    assert!(
        run.transcript[1]
            .say
            .starts_with("Your reply's first line is not")
    );
}

/// Every family's packet crashes a parser with that bug, and the correct
/// parser answers the same packet with a return code.
#[test]
fn each_trigger_reaches_its_bug_and_only_its_bug() {
    for i in 0..SEEDS {
        let base = spec_of(seed(i));
        for bug in Bug::ALL {
            let spec = Spec {
                bug: Some(bug),
                ..base.clone()
            };
            let pkt = spec.trigger(bug);
            assert!(
                matches!(spec.parse(&pkt), Outcome::Crashed(_)),
                "seed {i} {bug:?}: {:?}",
                spec.parse(&pkt)
            );
            let fixed = Spec {
                bug: None,
                ..base.clone()
            };
            assert!(matches!(fixed.parse(&pkt), Outcome::Returned(_)));
        }
    }
}

/// The correct parser (no planted bug) never crashes: so any crash of an
/// instance is its planted bug, and the detector has no false alarms.
#[test]
fn the_correct_parser_never_crashes_on_fuzzed_packets() {
    let mut rng = Rng::from_seed([9; 32]);
    let mut codes = BTreeSet::new();
    for i in 0..SEEDS {
        let spec = Spec {
            bug: None,
            ..spec_of(seed(i))
        };
        let mut corpus: Vec<Vec<u8>> = Bug::ALL.iter().map(|b| spec.trigger(*b)).collect();
        corpus.push(valid_packet(&spec));
        for _ in 0..400 {
            let base = corpus[rng.index(corpus.len())].clone();
            let mut pkt = base;
            for _ in 0..rng.range_inclusive(1, 4) {
                match rng.below(4) {
                    0 if !pkt.is_empty() => {
                        let at = rng.index(pkt.len());
                        pkt[at] = rng.below(256) as u8;
                    }
                    1 if !pkt.is_empty() => {
                        // Interesting bytes: type values, sizes, signs.
                        let at = rng.index(pkt.len());
                        let picks = [
                            0x00,
                            0x01,
                            0x02,
                            0x7f,
                            0x80,
                            0xff,
                            spec.nslots,
                            spec.max_recs,
                            spec.types[rng.index(4)],
                            spec.name_max as u8,
                            spec.reply_max as u8,
                        ];
                        pkt[at] = picks[rng.index(picks.len())];
                    }
                    2 => {
                        let cut = rng.index(pkt.len() + 1);
                        pkt.truncate(cut);
                    }
                    _ => {
                        let extra = rng.below(40) as usize;
                        pkt.extend((0..extra).map(|_| rng.below(256) as u8));
                    }
                }
            }
            match spec.parse(&pkt) {
                Outcome::Returned(code) => {
                    codes.insert(code.name());
                }
                Outcome::Crashed(report) => panic!("seed {i}: {pkt:02x?}\n{report}"),
            }
            corpus.push(pkt);
        }
    }
    // The fuzzing reached every return code, OK included.
    assert_eq!(codes.len(), Code::ALL.len(), "{codes:?}");
}

#[test]
fn the_solver_reads_the_spec_back_from_the_c_source() {
    for i in 0..SEEDS {
        let base = spec_of(seed(i));
        for bug in Bug::ALL {
            let spec = Spec {
                bug: Some(bug),
                ..base.clone()
            };
            assert_eq!(Spec::from_c_source(&spec.c_source()), Some(spec.clone()));
        }
        let fixed = Spec { bug: None, ..base };
        assert_eq!(Spec::from_c_source(&fixed.c_source()), None);
    }
}

#[test]
fn the_bug_is_one_line_of_the_source() {
    let base = spec_of(seed(0));
    let fixed = Spec {
        bug: None,
        ..base.clone()
    };
    let fixed_source = fixed.c_source();
    for bug in Bug::ALL {
        let source = Spec {
            bug: Some(bug),
            ..base.clone()
        }
        .c_source();
        let ours: BTreeSet<&str> = source.lines().collect();
        let theirs: BTreeSet<&str> = fixed_source.lines().collect();
        let changed = ours.symmetric_difference(&theirs).count();
        assert!((1..=3).contains(&changed), "{bug:?}: {changed}");
    }
}

#[test]
fn hex_packets_are_read_leniently_from_the_first_line() {
    let bytes = alloc::vec![0x41u8, 0x42, 0x0a];
    for text in [
        "41420a",
        "41 42 0a",
        "0x41, 0x42, 0x0A",
        "\\x41\\x42\\x0a",
        "\n```\n41 42 0a\n```",
        "  41 42 0a  \nignored",
    ] {
        assert_eq!(packet(text), Some(bytes.clone()), "{text:?}");
    }
    for text in ["", "hello", "414", "```", "41 4", "é"] {
        assert_eq!(packet(text), None, "{text:?}");
    }
    let long = "41".repeat(1 << 19);
    assert_eq!(packet(&long).map(|p| p.len()), Some(MAX_PKT_BYTES + 1));
}

const MAX_PKT_BYTES: usize = parser::MAX_PKT as usize;

#[test]
fn hostile_replies_do_not_panic_and_replies_stay_small() {
    let s = seed(1);
    let long_hex = "ff".repeat(1 << 19);
    let long_junk = "é".repeat(1 << 19);
    let mixed = format!("{}é{}", "a".repeat(9000), "b".repeat(9000));
    let cases = [
        long_hex.as_str(),
        long_junk.as_str(),
        mixed.as_str(),
        "\u{0}\u{10ffff}\u{1F600}",
        "\\x",
        "0x",
        ",,,",
        "\\xé",
        "0xé1",
    ];
    for case in cases {
        let (mut task, _) = ParserTask::start(s);
        match task.step(&reply(case)) {
            Step::Say(say) => assert!(say.len() < 1024, "{} bytes", say.len()),
            Step::Done(score) => panic!("{score:?}"),
            Step::ToolResults(results) => panic!("{results:?}"),
        }
    }
}

#[test]
fn same_seed_same_transcript() {
    let seeds = || (0..SEEDS).map(seed);
    testkit::assert_same_seed_same_run::<ParserTask, _>(seeds(), ParserSolver::default, MAX_TURNS);
    let script = || Scripted::new(&["00", "0102030405060708"]);
    testkit::assert_same_seed_same_run::<ParserTask, _>(seeds(), script, MAX_TURNS);
}

#[test]
fn different_seeds_give_different_instances() {
    let mut prompts = BTreeSet::new();
    let mut bugs = BTreeSet::new();
    let mut orders = BTreeSet::new();
    for i in 0..SEEDS {
        let (task, step) = ParserTask::start(seed(i));
        let Step::Say(say) = step else {
            panic!("no prompt")
        };
        assert!(say.len() < 8 * 1024, "{} bytes", say.len());
        prompts.insert(say);
        bugs.insert(alloc::format!("{:?}", task.spec.bug));
        orders.insert(task.spec.big_endian);
    }
    assert_eq!(prompts.len(), SEEDS as usize);
    assert_eq!(bugs.len(), Bug::ALL.len(), "{bugs:?}");
    assert_eq!(orders.len(), 2);
}

#[test]
fn the_last_tries_are_counted_down() {
    let run = run_native::<ParserTask>(seed(2), &mut Scripted::new(&["00"]), MAX_TURNS);
    assert_eq!(run.score, Some(Ppm::ZERO));
    assert!(run.transcript[1].say.contains("[7 tries left]"));
    assert!(
        run.transcript[MAX_TURNS as usize - 1]
            .say
            .contains("[1 try left]")
    );
    assert!(run.transcript[1].say.contains("ERR_SIZE (1)"));
}

#[test]
fn info_is_consistent() {
    let info = ParserTask::info();
    assert_eq!(info.id, TASK_ID);
    assert_eq!(info.abi_version, ABI_VERSION);
    assert_eq!(info.category, category::VULNERABILITY_DISCOVERY);
    assert_eq!(info.max_turns, MAX_TURNS);
}
