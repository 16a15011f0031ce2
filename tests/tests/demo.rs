//! `airlock demo` and the scores the built-in agents get.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_tests::*;

#[test]
fn demo_exits_zero_and_prints_both_tables() {
    let done = finish(airlock().arg("demo"));
    done.expect_code(0);
    for agent in ["reference", "null"] {
        assert!(done.stdout.contains(agent), "no {agent} table: {done}");
    }
    for task in DEFAULT_TASKS {
        // One row per table.
        assert!(
            done.stdout.matches(task).count() >= 2,
            "{task} is not in both tables: {done}"
        );
    }
}

#[test]
fn reference_scores_full_and_null_scores_zero_on_every_task() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    for (agent, expected) in [("reference", FULL_PPM), ("null", 0)] {
        let rows = Run::new(agent, &key, &dir.path().join(format!("{agent}.bundle")))
            .seed(seed(2))
            .results();
        let mut ids: Vec<_> = rows.iter().map(|r| r.task_id.as_str()).collect();
        ids.sort_unstable();
        let mut want = DEFAULT_TASKS.to_vec();
        want.sort_unstable();
        assert_eq!(ids, want, "{agent}: {rows:?}");
        for row in &rows {
            assert_eq!(row.score_ppm, expected, "{agent}: {row:?}");
            if agent == "reference" {
                assert_eq!(row.outcome, "done", "{agent}: {row:?}");
            }
            assert!(row.fuel_consumed > 0, "{agent}: {row:?}");
        }
    }
}
