//! `airlock profile`: listing, checking a suite against a profile's budgets
//! (deterministic fuel and memory), and calibrating the host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airlock_tests::*;

fn profile_text(name: &str, memory_mib: u32, fuel: u64) -> String {
    format!(
        "name = \"{name}\"\ndescription = \"test\"\ncores = 1\nmemory_per_sandbox_mib = {memory_mib}\n\
         total_memory_mib = {memory_mib}\nfuel_per_task = {fuel}\nmax_wasm_stack_kib = 256\n\
         max_turns = 64\nmax_message_bytes = 65536\nmax_reply_bytes = 16384\n\
         max_module_bytes = 8388608\nmodel_call_timeout_ms = 1000\nwall_clock_backstop_ms = 60000\n\
         max_consecutive_model_errors = 5\nmax_table_elements = 10000\n\
         max_tokens_per_task = 0\nmax_completion_tokens_per_task = 0\n"
    )
}

#[test]
fn a_task_over_the_fuel_budget_is_reported_with_its_numbers_and_fits_a_larger_profile() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.toml");
    std::fs::write(&small, profile_text("small", 64, 100_000)).unwrap();
    let done = finish(airlock().args(["profile", "check", "--json"]).arg(&small));
    done.expect_code(1);
    let report = done.json();
    assert_eq!(report["fits"], false);
    let tasks = report["tasks"].as_array().unwrap();
    let over: Vec<&serde_json::Value> = tasks.iter().filter(|t| t["fits"] == false).collect();
    assert!(
        !over.is_empty(),
        "some task must exceed 100000 fuel: {report}"
    );
    for task in &over {
        let fuel = task["fuel"].as_u64().unwrap();
        assert!(fuel > 100_000, "{task}");
        assert_eq!(task["fuel_budget"], 100_000);
        assert_eq!(
            task["measurement_outcome"], "done",
            "measured in full: {task}"
        );
    }
    // The same suite under the default profile: everything fits.
    let done = finish(airlock().args(["profile", "check", "default", "--json"]));
    done.expect_code(0);
    let report = done.json();
    assert_eq!(report["fits"], true);
    for task in report["tasks"].as_array().unwrap() {
        assert_eq!(task["solved"], true, "{task}");
        // At least 2x fuel headroom under the default profile (issue 3).
        assert!(
            task["fuel_headroom_centi"].as_u64().unwrap() >= 200,
            "{task}"
        );
    }
}

#[test]
fn a_task_over_the_memory_limit_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let tight = dir.path().join("tight.toml");
    std::fs::write(&tight, profile_text("tight", 1, 200_000_000)).unwrap();
    let done = finish(airlock().args(["profile", "check"]).arg(&tight));
    done.expect_code(1);
    assert!(done.stdout.contains("DOES NOT FIT"), "{done}");
    assert!(done.stdout.contains("KiB"), "peak memory is shown: {done}");
}

#[test]
fn every_embedded_profile_is_listed_and_the_verifier_appliance_runs_nothing() {
    let done = finish(airlock().args(["profile", "list", "--json"]));
    done.expect_code(0);
    let names: Vec<String> = done
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    for name in [
        "default",
        "enclave-workstation",
        "enclave-small",
        "field-laptop",
        "verifier-appliance",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    let done = finish(airlock().args(["profile", "check", "verifier-appliance"]));
    done.expect_code(2);
    assert!(done.stderr.contains("verification only"), "{done}");
}

#[test]
fn calibrate_reports_a_rate_and_a_prediction() {
    let done = finish(airlock().args(["profile", "calibrate", "--json"]));
    done.expect_code(0);
    let c = done.json();
    assert!(c["fuel_per_second"].as_u64().unwrap() > 0, "{c}");
    assert!(c["predicted_worst_case_us"].as_u64().unwrap() > 0, "{c}");
}

/// Finding 9 of issue 14: a budget spent on operators that run as host calls
/// took 100 to 500 times longer than plain code, so whether a task ended out
/// of fuel or at the backstop depended on the host. `profile check` and
/// `profile calibrate` time the slowest operator on this host, under both
/// backends, and report how long one task's whole budget can take; under the
/// default profile that is well inside its backstop.
#[test]
fn check_and_calibrate_report_the_worst_case_time_of_the_fuel_budget_inside_the_backstop() {
    for args in [
        &["profile", "check", "default", "--json"][..],
        &["profile", "calibrate", "--json"][..],
    ] {
        let done = finish(airlock().args(args));
        done.expect_code(0);
        let worst = &done.json()["worst_case"];
        assert_eq!(worst["fuel_per_task"], 200_000_000u64, "{args:?}: {worst}");
        assert_eq!(
            worst["fuel_ends_before_backstop"], true,
            "{args:?}: {worst}"
        );
        let wall_us = worst["worst_case_fuel_wall_us"].as_u64().unwrap();
        let backstop_us = worst["wall_clock_backstop_ms"].as_u64().unwrap() * 1000;
        assert!(
            wall_us > 0 && wall_us * 2 < backstop_us,
            "{args:?}: {worst}"
        );
        for key in ["slowest_operator_native", "slowest_operator_pulley"] {
            assert!(
                worst[key].as_str().is_some_and(|s| !s.is_empty()),
                "{worst}"
            );
        }
    }
    let done = finish(airlock().args(["profile", "check", "default"]));
    assert!(done.stdout.contains("worst case on this host"), "{done}");
}
