//! Hardware profiles as the CLI sees them: by name, by path, and refused
//! with the file, line and field named when wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airlock_tests::*;

fn default_profile_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hardware-profiles/default.toml");
    std::fs::read_to_string(path).unwrap()
}

fn write_profile(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_profile_file_gives_the_same_results_as_the_embedded_profile() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let file = write_profile(dir.path(), "copy.toml", &default_profile_text());
    let by_name = Run::new("reference", &key, &dir.path().join("a.bundle"))
        .seed(seed(10))
        .results();
    let mut by_path = Run::new("reference", &key, &dir.path().join("b.bundle")).seed(seed(10));
    by_path.profile = file.to_str().unwrap().to_owned();
    assert_eq!(by_name, by_path.results());
}

#[test]
fn an_unknown_profile_field_is_refused_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let text = default_profile_text().replacen("cores = 2", "cores = 2\ncpus = 4", 1);
    let line = text.lines().position(|l| l.starts_with("cpus")).unwrap() + 1;
    let file = write_profile(dir.path(), "typo.toml", &text);
    let out = dir.path().join("run.bundle");
    let mut run = Run::new("null", &key, &out);
    run.profile = file.to_str().unwrap().to_owned();
    let done = run.finish();
    done.expect_code(2);
    for needle in ["typo.toml", &format!("line {line}"), "cpus"] {
        assert!(done.stderr.contains(needle), "{needle:?} not named: {done}");
    }
    assert!(!out.exists());
}

#[test]
fn an_impossible_profile_value_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let text =
        default_profile_text().replacen("total_memory_mib = 1024", "total_memory_mib = 16", 1);
    let file = write_profile(dir.path(), "small.toml", &text);
    let mut run = Run::new("null", &key, &dir.path().join("run.bundle"));
    run.profile = file.to_str().unwrap().to_owned();
    let done = run.finish();
    done.expect_code(2);
    for needle in ["small.toml", "memory_per_sandbox_mib", "total_memory_mib"] {
        assert!(done.stderr.contains(needle), "{needle:?} not named: {done}");
    }
}

#[test]
fn an_unknown_profile_name_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let mut run = Run::new("null", &key, &dir.path().join("run.bundle"));
    run.profile = "no-such-machine".to_owned();
    let done = run.finish();
    done.expect_code(2);
    assert!(done.stderr.contains("no-such-machine"), "{done}");
    assert!(done.stderr.contains("default"), "{done}");
}
