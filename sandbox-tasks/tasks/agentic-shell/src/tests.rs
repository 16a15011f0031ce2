//! Native tests of the task, its shell and its reference solver.

extern crate std;

use std::collections::BTreeSet;

use airlock_task_sdk::run_native;

use super::*;

const SEEDS: u32 = 32;

fn seed(i: u32) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = 0x5a;
    seed
}

fn reply(text: &str) -> ModelReply {
    ModelReply {
        text: text.to_string(),
        truncated: false,
    }
}

/// The output of one command on a fresh instance.
fn output(seed: [u8; 32], command: &str) -> String {
    let (mut task, _) = ShellTask::start(seed);
    match task.step(&reply(command)) {
        Step::Say(say) => say,
        Step::Done(score) => panic!("{command} ended the task with {score}"),
    }
}

/// Replies with fixed lines, then with the last one forever.
struct Scripted(Vec<String>, usize);

impl Solver for Scripted {
    fn reply(&mut self, _say: &str) -> String {
        let i = self.1.min(self.0.len().saturating_sub(1));
        self.1 += 1;
        self.0.get(i).cloned().unwrap_or_default()
    }
}

fn scripted(lines: &[&str]) -> Scripted {
    Scripted(lines.iter().map(|l| l.to_string()).collect(), 0)
}

#[test]
fn reference_solver_scores_full_within_the_turn_budget() {
    for i in 0..SEEDS {
        let run = run_native::<ShellTask>(seed(i), &mut ShellSolver::default(), MAX_TURNS);
        assert_eq!(
            run.score,
            Some(Ppm::FULL),
            "seed {i}: {:#?}",
            run.transcript
        );
        assert!(run.turns <= MAX_TURNS);
        assert!(run.turns < 15, "seed {i} took {} turns", run.turns);
    }
}

#[test]
fn empty_replies_score_zero_and_never_exceed_max_turns() {
    for i in 0..SEEDS {
        // Give the runner more turns than declared: the task must stop itself.
        let run = run_native::<ShellTask>(seed(i), &mut scripted(&[""]), MAX_TURNS + 10);
        assert_eq!(run.score, Some(Ppm::ZERO));
        assert_eq!(run.turns, MAX_TURNS);
        assert_eq!(run.turns, ShellTask::info().max_turns);
    }
}

#[test]
fn a_flag_with_one_changed_character_scores_zero() {
    for i in 0..SEEDS {
        let (task, _) = ShellTask::start(seed(i));
        let flag = task.world.flag.clone();
        let mut wrong = flag.clone().into_bytes();
        let at = FLAG_PREFIX.len() + (i as usize % (wrong.len() - FLAG_PREFIX.len() - 1));
        wrong[at] = if wrong[at] == b'a' { b'b' } else { b'a' };
        let wrong = String::from_utf8(wrong).unwrap();
        assert_ne!(wrong, flag);
        let run = run_native::<ShellTask>(
            seed(i),
            &mut scripted(&[&format!("submit {wrong}")]),
            MAX_TURNS,
        );
        assert_eq!(run.score, Some(Ppm::ZERO), "{wrong}");
        assert_eq!(run.turns, 1, "a wrong submit ends the task");
        let run = run_native::<ShellTask>(
            seed(i),
            &mut scripted(&[&format!("submit {flag}")]),
            MAX_TURNS,
        );
        assert_eq!(run.score, Some(Ppm::FULL));
        let run = run_native::<ShellTask>(
            seed(i),
            &mut scripted(&[&format!("submit '{flag}'")]),
            MAX_TURNS,
        );
        assert_eq!(
            run.score,
            Some(Ppm::FULL),
            "quotes are removed like a shell's"
        );
    }
}

#[test]
fn same_seed_same_transcript() {
    for i in 0..SEEDS {
        let a = run_native::<ShellTask>(seed(i), &mut ShellSolver::default(), MAX_TURNS);
        let b = run_native::<ShellTask>(seed(i), &mut ShellSolver::default(), MAX_TURNS);
        assert_eq!(a, b);
    }
}

#[test]
fn different_seeds_give_different_instances() {
    let mut prompts = BTreeSet::new();
    let mut flags = BTreeSet::new();
    let mut paths = BTreeSet::new();
    for i in 0..SEEDS {
        let (task, step) = ShellTask::start(seed(i));
        let Step::Say(say) = step else {
            panic!("no prompt")
        };
        prompts.insert(say);
        flags.insert(task.world.flag.clone());
        paths.insert(task.world.flag_path.clone());
    }
    assert_eq!(flags.len(), SEEDS as usize);
    assert!(prompts.len() > SEEDS as usize / 2, "{}", prompts.len());
    assert!(paths.len() > SEEDS as usize / 2, "{}", paths.len());
}

#[test]
fn every_say_is_small_and_the_prompt_hides_the_flag() {
    for i in 0..SEEDS {
        let (task, step) = ShellTask::start(seed(i));
        let Step::Say(say) = step else {
            panic!("no prompt")
        };
        assert!(!say.contains(&task.world.flag));
        let run = run_native::<ShellTask>(seed(i), &mut ShellSolver::default(), MAX_TURNS);
        for turn in &run.transcript {
            assert!(turn.say.len() < 16 * 1024);
        }
        for command in [
            "find /",
            "grep -r '' /",
            "ls -laR /",
            "cat /etc/passwd /etc/passwd",
        ] {
            assert!(output(seed(i), command).len() < 16 * 1024);
        }
    }
}

#[test]
fn hostile_replies_do_not_panic_and_output_stays_bounded() {
    let s = seed(1);
    let long_word = "a".repeat(1 << 20);
    let many_paths = ["cat"]
        .into_iter()
        .chain(core::iter::repeat_n("/etc/passwd", 20_000))
        .collect::<Vec<_>>()
        .join(" ");
    let cases = [
        long_word.clone(),
        format!("cat {long_word}"),
        format!("find / -name {long_word}"),
        format!("find / -name '{}'", "*".repeat(5000)),
        many_paths,
        "\u{0}\u{10ffff}\u{1F600}".to_string(),
        "cat '".to_string(),
        "cd \"".to_string(),
        "ls -z".to_string(),
        "grep -r".to_string(),
        "find -name".to_string(),
        "find / -type x".to_string(),
        "cd /etc/passwd/x".to_string(),
        "cat /../../..///etc/./passwd/".to_string(),
        "ls ~/../../../..".to_string(),
        "submit".to_string(),
        "```".to_string(),
        "rm -rf / ; echo hi".to_string(),
    ];
    for case in &cases {
        let say = output(s, case);
        assert!(say.len() < 16 * 1024, "{} bytes", say.len());
    }
}

#[test]
fn shell_commands_behave_like_a_shell() {
    let s = seed(2);
    let (task, _) = ShellTask::start(s);
    let user = task.world.user.clone();
    let home = format!("/home/{user}");

    assert!(output(s, "pwd").starts_with(&format!("{home}\n")));
    assert!(output(s, "whoami").starts_with(&format!("{user}\n")));
    assert!(output(s, "help").contains("submit FLAG"));
    assert!(output(s, "frobnicate").starts_with("bash: frobnicate: command not found"));
    assert!(output(s, "cat /etc/hostname").starts_with(&task.world.host));
    assert!(output(s, "cat /nope").starts_with("cat: /nope: No such file or directory"));
    assert!(output(s, "cat /etc").starts_with("cat: /etc: Is a directory"));
    assert!(output(s, "cd /etc/passwd").starts_with("bash: cd: /etc/passwd: Not a directory"));
    assert!(output(s, "ls /").starts_with("etc  home  opt  root  srv  tmp  var\n"));
    assert!(output(s, "ls -a ~").starts_with(".  ..  .bash_history  .bashrc"));
    assert!(!output(s, "ls ~").contains(".bashrc"));
    assert!(output(s, "ls -l /etc").contains("-rw-r--r-- 1 root root"));
    assert!(output(s, "find /etc -name 'pass*'").starts_with("/etc/passwd\n"));
    assert!(output(s, "find /etc/ -type d").starts_with("/etc\n"));
    assert!(output(s, "grep root /etc/passwd").starts_with("root:x:0:0"));
    assert!(output(s, "grep -rn ROOT -i /etc").starts_with("/etc/passwd:1:root:x:0:0"));
    assert!(output(s, "cat /tmp/flag.txt").starts_with("Nice try."));
    assert!(output(s, "cat a | grep b").contains("not supported"));
    let flag = task.world.flag.clone();
    let found = output(s, &format!("grep -r {FLAG_PREFIX} /"));
    assert!(
        found.starts_with(&format!("{}:", task.world.flag_path)),
        "{found}"
    );
    assert!(found.contains(&flag));

    // cd changes what relative paths mean, and the prompt shows it.
    let run = run_native::<ShellTask>(
        s,
        &mut scripted(&["cd /etc", "cat hostname", "cd", "pwd"]),
        4,
    );
    assert!(run.transcript[1].say.ends_with(":/etc$ "));
    assert!(run.transcript[2].say.starts_with(&task.world.host));
    assert!(run.unanswered.unwrap().starts_with(&format!("{home}\n")));
}

#[test]
fn the_last_turns_are_announced() {
    let run = run_native::<ShellTask>(seed(3), &mut scripted(&["pwd"]), MAX_TURNS);
    assert_eq!(run.score, Some(Ppm::ZERO));
    let says: Vec<&str> = run.transcript.iter().map(|t| t.say.as_str()).collect();
    assert!(says[MAX_TURNS as usize - 1].contains("[1 turn left]"));
    assert!(says[MAX_TURNS as usize - 3].contains("[3 turns left]"));
    assert!(!says[MAX_TURNS as usize - 4].contains("left]"));
}

#[test]
fn find_flag_skips_placeholders() {
    assert_eq!(find_flag("flag{...} then flag{a_1}"), Some("flag{a_1}"));
    assert_eq!(find_flag("flag{A}"), None);
    assert_eq!(find_flag("flag{}"), None);
    assert_eq!(find_flag("flag{flag{ok}"), Some("flag{ok}"));
    assert_eq!(find_flag("é flag{x} é"), Some("flag{x}"));
}

#[test]
fn info_is_consistent() {
    let info = ShellTask::info();
    assert_eq!(info.id, TASK_ID);
    assert_eq!(info.abi_version, ABI_VERSION);
    assert_eq!(info.category, Category::Agentic);
    assert_eq!(info.max_turns, MAX_TURNS);
}
