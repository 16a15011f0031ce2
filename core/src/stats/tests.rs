//! Exact-value tests. Expected values were computed independently, by hand
//! with Python's `fractions` and `math.comb`, and for the bootstrap with a
//! separate Python implementation of SPEC.md's description over the `blake3`
//! package; the tests do not depend on Python.

use super::*;
use alloc::format;

#[test]
fn gcd_and_binomials_are_exact() {
    assert_eq!(gcd(12, 18), 6);
    assert_eq!(gcd(0, 5), 5);
    assert_eq!(gcd(0, 0), 0);
    assert_eq!(binomial(10, 3), Ok(120));
    assert_eq!(binomial(10, 11), Ok(0));
    assert_eq!(binomial(0, 0), Ok(1));
    assert_eq!(binomial(64, 32), Ok(1_832_624_140_942_590_534));
    // The largest central coefficient within u128, and the first beyond.
    assert_eq!(
        binomial(131, 65),
        Ok(188_694_833_082_770_476_622_296_176_145_946_360_850)
    );
    assert_eq!(binomial(132, 66), Err(StatsError::Overflow));
}

#[test]
fn ratios_reduce_add_and_round_half_up() {
    let third = Ratio::new(2, 6).unwrap();
    assert_eq!((third.numerator(), third.denominator()), (1, 3));
    assert_eq!(third.to_ppm(), Ppm(333_333));
    assert_eq!(Ratio::new(2, 3).unwrap().to_ppm(), Ppm(666_667));
    // Exactly half a part per million rounds up; just below it rounds down.
    assert_eq!(Ratio::new(1, 2_000_000).unwrap().to_ppm(), Ppm(1));
    assert_eq!(Ratio::new(1, 2_000_001).unwrap().to_ppm(), Ppm(0));
    assert_eq!(Ratio::ONE.to_ppm(), Ppm::FULL);
    assert_eq!(Ratio::new(3, 2).unwrap().to_ppm_rounded(), 1_500_000);
    assert_eq!(Ratio::new(0, 7).unwrap(), Ratio::ZERO);
    assert_eq!(Ratio::new(1, 0), Err(StatsError::ZeroDenominator));
    let sum = Ratio::new(1, 6)
        .unwrap()
        .checked_add(Ratio::new(1, 10).unwrap())
        .unwrap();
    assert_eq!(sum, Ratio::new(4, 15).unwrap());
    assert_eq!(sum.checked_div_int(2), Ratio::new(2, 15));
    assert_eq!(sum.complement(), Ratio::new(11, 15));
    // The largest denominator still converts exactly: (2^124 - 1) / 2^124.
    let big = Ratio::new(RATIO_MAX_DENOMINATOR - 1, RATIO_MAX_DENOMINATOR).unwrap();
    assert_eq!(big.to_ppm(), Ppm::FULL);
    assert_eq!(
        Ratio::new(1, RATIO_MAX_DENOMINATOR + 1),
        Err(StatsError::Overflow)
    );
    assert_eq!(format!("{sum}"), "4/15");
}

#[test]
fn pass_at_k_matches_hand_computed_fractions() {
    // 1 - C(7,5)/C(10,5) = 1 - 21/252 = 11/12.
    assert_eq!(pass_at_k(10, 3, 5), Ratio::new(11, 12));
    assert_eq!(pass_at_k(10, 3, 1), Ratio::new(3, 10));
    // Python: 1 - Fraction(comb(13, 4), comb(20, 4)) == Fraction(826, 969).
    assert_eq!(pass_at_k(20, 7, 4), Ratio::new(826, 969));
    assert_eq!(pass_at_k(20, 7, 4).unwrap().to_ppm(), Ppm(852_425));
    // Fewer failures than k: some pass is certain.
    assert_eq!(pass_at_k(5, 3, 3), Ok(Ratio::ONE));
    assert_eq!(pass_at_k(5, 0, 3), Ok(Ratio::ZERO));
    assert_eq!(pass_at_k(3, 1, 0), Err(StatsError::BadK { n: 3, k: 0 }));
    assert_eq!(pass_at_k(3, 1, 4), Err(StatsError::BadK { n: 3, k: 4 }));
    assert_eq!(
        pass_at_k(3, 4, 1),
        Err(StatsError::PassesAboveSamples { n: 3, c: 4 })
    );
}

#[test]
fn pass_hat_k_matches_hand_computed_fractions() {
    // C(3,2)/C(10,2) = 3/45 = 1/15.
    assert_eq!(pass_hat_k(10, 3, 2), Ratio::new(1, 15));
    assert_eq!(pass_hat_k(10, 3, 2).unwrap().to_ppm(), Ppm(66_667));
    // Python: Fraction(comb(13, 4), comb(20, 4)) == Fraction(143, 969).
    assert_eq!(pass_hat_k(20, 13, 4), Ratio::new(143, 969));
    assert_eq!(pass_hat_k(20, 13, 4).unwrap().to_ppm(), Ppm(147_575));
    assert_eq!(pass_hat_k(4, 4, 4), Ok(Ratio::ONE));
    assert_eq!(pass_hat_k(4, 3, 4), Ok(Ratio::ZERO));
}

#[test]
fn pass_k_identities_hold_for_small_n() {
    for n in 1..=20u32 {
        for c in 0..=n {
            assert_eq!(pass_at_k(n, c, 1), Ratio::new(c.into(), n.into()));
            assert_eq!(pass_hat_k(n, c, 1), Ratio::new(c.into(), n.into()));
            let any = if c > 0 { Ratio::ONE } else { Ratio::ZERO };
            let all = if c == n { Ratio::ONE } else { Ratio::ZERO };
            assert_eq!(pass_at_k(n, c, n), Ok(any));
            assert_eq!(pass_hat_k(n, c, n), Ok(all));
        }
    }
}

#[test]
fn pass_k_is_exact_up_to_127_samples() {
    for n in [100u32, 127] {
        for k in 1..=n {
            assert!(pass_at_k(n, n / 3, k).is_ok(), "pass@{k} of {n}");
            assert!(pass_hat_k(n, n - 1, k).is_ok(), "pass^{k} of {n}");
        }
    }
    // Beyond, the widest k no longer fits; the ends still do.
    assert_eq!(pass_hat_k(200, 1, 100), Err(StatsError::Overflow));
    assert_eq!(pass_at_k(1000, 1, 1), Ratio::new(1, 1000));
}

#[test]
fn report_ks_are_powers_of_two_then_n() {
    let ks = |n| report_ks(n).collect::<alloc::vec::Vec<_>>();
    assert!(ks(0).is_empty());
    assert_eq!(ks(1), [1]);
    assert_eq!(ks(2), [1, 2]);
    assert_eq!(ks(5), [1, 2, 4, 5]);
    assert_eq!(ks(8), [1, 2, 4, 8]);
    assert_eq!(ks(u32::MAX).last(), Some(&u32::MAX));
}

fn moments(scores: &[u32]) -> Moments {
    let mut m = Moments::new();
    for &s in scores {
        m.push(Ppm(s));
    }
    m
}

#[test]
fn mean_rounds_half_up() {
    assert_eq!(moments(&[]).mean(), None);
    assert_eq!(moments(&[1, 2]).mean(), Some(Ppm(2)));
    assert_eq!(moments(&[0, 0, 1]).mean(), Some(Ppm(0)));
    assert_eq!(moments(&[0, 1, 1]).mean(), Some(Ppm(1)));
    assert_eq!(
        moments(&[0, 1_000_000, 1_000_000, 250_000, 0, 1_000_000, 500_000]).mean(),
        Some(Ppm(535_714))
    );
    assert_eq!(
        moments(&[123_457, 987_654, 5, 1_000_000, 333_333]).mean(),
        Some(Ppm(488_890))
    );
}

#[test]
fn standard_error_is_exact() {
    assert_eq!(moments(&[500_000]).standard_error(), None);
    assert_eq!(
        moments(&[0, 1_000_000]).standard_error(),
        Some(Ppm(500_000))
    );
    // Two scores a, b: the standard error is |a - b| / 2, so these sit
    // exactly on a half and round up.
    assert_eq!(moments(&[0, 1]).standard_error(), Some(Ppm(1)));
    assert_eq!(moments(&[0, 3]).standard_error(), Some(Ppm(2)));
    assert_eq!(moments(&[7, 7, 7]).standard_error(), Some(Ppm(0)));
    // sqrt(2e12 / 18) = 333333.33…
    assert_eq!(
        moments(&[0, 0, 1_000_000]).standard_error(),
        Some(Ppm(333_333))
    );
    assert_eq!(
        moments(&[0, 1_000_000, 1_000_000, 250_000, 0, 1_000_000, 500_000]).standard_error(),
        Some(Ppm(176_174))
    );
    assert_eq!(
        moments(&[123_457, 987_654, 5, 1_000_000, 333_333]).standard_error(),
        Some(Ppm(212_926))
    );
}

const SEED: [u8; 32] = {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = i as u8;
        i += 1;
    }
    s
};

#[test]
fn bootstrap_stream_is_pinned() {
    // Python: blake3(SEED + b"\xa5"*16 + pack("<I", 7) + b"overall",
    //                derive_key_context="airlock v1 report bootstrap")
    let mut rng = BootstrapRng::new(&SEED, &[0xa5; 16], "overall");
    assert_eq!(rng.next_u64(), 0x9187_339c_5298_7baf);
    assert_eq!(rng.next_u64(), 0xd11f_b028_1145_9a30);
    assert_eq!(rng.next_u64(), 0x25b8_a6fe_6d15_af1c);
    let mut key = blake3::Hasher::new_derive_key(BOOTSTRAP_CONTEXT);
    key.update(&SEED);
    key.update(&[0xa5; 16]);
    key.update(&7u32.to_le_bytes());
    key.update(b"overall");
    assert_eq!(
        crate::Digest(*key.finalize().as_bytes()).to_hex().as_str(),
        "af7b98529c338791309a451128b01fd11caf156dfea6b825c671163ae3e4e85b"
    );
}

#[test]
fn below_is_in_range_and_reads_past_a_block() {
    let mut rng = BootstrapRng::new(&SEED, &[0; 16], "x");
    for n in 1..200u64 {
        assert!(rng.below(n) < n);
    }
    assert_eq!(rng.below(1), 0);
}

fn ppms(scores: &[u32]) -> alloc::vec::Vec<Ppm> {
    scores.iter().map(|&s| Ppm(s)).collect()
}

#[test]
fn bootstrap_interval_matches_the_independent_implementation() {
    let scores = ppms(&[0, 1_000_000, 1_000_000, 250_000, 0, 1_000_000, 500_000]);
    let mut rng = BootstrapRng::new(&SEED, &[0xa5; 16], "task:crypto-xor");
    assert_eq!(
        bootstrap_interval(&scores, &mut rng),
        Some(Interval {
            low: Ppm(214_285),
            high: Ppm(857_143)
        })
    );
    let mut rng = BootstrapRng::new(&SEED, &[0xa5; 16], "overall");
    assert_eq!(
        bootstrap_interval(&ppms(&[1_000_000, 0]), &mut rng),
        Some(Interval {
            low: Ppm(0),
            high: Ppm::FULL
        })
    );
    assert_eq!(bootstrap_interval(&ppms(&[5]), &mut rng), None);
    assert_eq!(bootstrap_interval(&[], &mut rng), None);
}

#[test]
fn bootstrap_interval_is_a_function_of_its_inputs() {
    let scores = ppms(&[10, 900_000, 30, 400_000, 777_777, 0, 1_000_000, 12]);
    let run = |label: &str| {
        let mut rng = BootstrapRng::new(&SEED, &[1; 16], label);
        bootstrap_interval(&scores, &mut rng)
    };
    assert_eq!(run("overall"), run("overall"));
    let interval = run("overall").unwrap();
    let mean = moments(&[10, 900_000, 30, 400_000, 777_777, 0, 1_000_000, 12])
        .mean()
        .unwrap();
    assert!(interval.low <= mean && mean <= interval.high);
}

#[test]
fn summary_per_task_category_and_overall() {
    let seed = [7u8; 32];
    let run_id = [9u8; 16];
    // Interleaved on purpose: groups keep observation order.
    let obs = [
        ("crypto-xor", "crypto", 1_000_000, true),
        ("agentic-shell", "agentic", 500_000, false),
        ("crypto-xor", "crypto", 0, false),
        ("agentic-shell", "agentic", 1_000_000, true),
        ("crypto-xor", "crypto", 1_000_000, true),
        ("agentic-shell", "agentic", 0, false),
    ]
    .map(|(task_id, category, score, passed)| Observation {
        task_id,
        category,
        score: Ppm(score),
        passed,
    });
    let summary = summarize(&obs, &seed, &run_id);

    let names: alloc::vec::Vec<&str> = summary.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["crypto-xor", "agentic-shell"]);
    let xor = &summary.tasks[0];
    assert_eq!(xor.category.as_deref(), Some("crypto"));
    assert_eq!((xor.instances, xor.passes, xor.tasks), (3, 2, 1));
    assert_eq!(xor.score_sum, 2_000_000);
    assert_eq!(xor.mean, Ppm(666_667));
    assert_eq!(xor.standard_error, Some(Ppm(333_333)));
    assert_eq!(
        xor.interval,
        Some(Interval {
            low: Ppm(0),
            high: Ppm::FULL
        })
    );
    assert_eq!(xor.samples_per_task, 3);
    let ks: alloc::vec::Vec<u32> = xor.pass_k.iter().map(|p| p.k).collect();
    assert_eq!(ks, [1, 2, 3]);
    assert_eq!(xor.pass_k[0].pass_at_k, Ratio::new(2, 3).ok());
    assert_eq!(xor.pass_k[1].pass_hat_k, Ratio::new(1, 3).ok());

    let shell = &summary.tasks[1];
    assert_eq!(shell.mean, Ppm(500_000));
    assert_eq!(shell.standard_error, Some(Ppm(288_675)));

    let cats: alloc::vec::Vec<&str> = summary.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cats, ["crypto", "agentic"]);
    assert_eq!(summary.categories[0].mean, Ppm(666_667));
    assert_eq!(summary.categories[0].category, None);

    let overall = summary.overall.as_ref().unwrap();
    assert_eq!(
        (overall.instances, overall.passes, overall.tasks),
        (6, 3, 2)
    );
    assert_eq!(overall.mean, Ppm(583_333));
    assert_eq!(overall.standard_error, Some(Ppm(200_693)));
    assert_eq!(
        overall.interval,
        Some(Interval {
            low: Ppm(166_666),
            high: Ppm(916_667)
        })
    );
    // Means over the two tasks of the exact per-task values.
    let at: alloc::vec::Vec<_> = overall.pass_k.iter().map(|p| p.pass_at_k).collect();
    let hat: alloc::vec::Vec<_> = overall.pass_k.iter().map(|p| p.pass_hat_k).collect();
    assert_eq!(
        at,
        [
            Ratio::new(1, 2).ok(),
            Ratio::new(5, 6).ok(),
            Some(Ratio::ONE)
        ]
    );
    assert_eq!(
        hat,
        [
            Ratio::new(1, 2).ok(),
            Ratio::new(1, 6).ok(),
            Some(Ratio::ZERO)
        ]
    );
}

#[test]
fn summary_of_nothing_is_empty() {
    let summary = summarize(&[], &[0; 32], &[0; 16]);
    assert!(summary.overall.is_none());
    assert!(summary.tasks.is_empty() && summary.categories.is_empty());
}

#[test]
fn group_pass_k_uses_the_fewest_samples() {
    let obs: alloc::vec::Vec<Observation<'_>> = [("a", 3usize), ("b", 5)]
        .iter()
        .flat_map(|&(id, n)| {
            (0..n).map(move |i| Observation {
                task_id: id,
                category: "c",
                score: Ppm(if i == 0 { 1_000_000 } else { 0 }),
                passed: i == 0,
            })
        })
        .collect();
    let summary = summarize(&obs, &[0; 32], &[0; 16]);
    let overall = summary.overall.unwrap();
    assert_eq!(overall.samples_per_task, 3);
    let ks: alloc::vec::Vec<u32> = overall.pass_k.iter().map(|p| p.k).collect();
    assert_eq!(ks, [1, 2, 3]);
    // pass@3: a = 1, b = 1 - C(4,3)/C(5,3) = 3/5; mean 4/5.
    assert_eq!(overall.pass_k[2].pass_at_k, Ratio::new(4, 5).ok());
}
