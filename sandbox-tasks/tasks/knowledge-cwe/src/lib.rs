//! Task `knowledge-cwe`: name the weakness in short code snippets, as CWE
//! multiple choice.
//!
//! The bank ([`bank::BANK`]) holds more than 80 snippets in C, Python,
//! JavaScript, Java, Go, PHP and SQL, each a few lines long with exactly
//! one weakness and one CWE that names it. Each instance draws
//! [`QUESTIONS`] distinct snippets by seed, and for each one [`OPTIONS`]
//! options: the right CWE and three distractors drawn from the entry's own
//! hand-picked wrong options (never a CWE that could also be defended for
//! that snippet, see [`bank::also_correct`]), in seeded order, labelled
//! `A` to `D`.
//!
//! One turn. Answer format: one line per question, `<number>: <letter>`,
//! e.g. `3: C`. A line is read leniently within that format: Markdown
//! emphasis and backticks are ignored, a leading `-`, `#` or `>` is
//! skipped, the number may be written `Q3` or `Question 3`, the separator
//! may be `:`, `.` or `)`, the letter may be lower case or in parentheses
//! or brackets, and anything after the letter is ignored as long as the
//! letter is not followed directly by a letter or digit (so `3: C (CWE-89)`
//! reads as C, `3. Correct` reads as nothing). Lines that do not have this
//! shape are ignored. Only the first answer line for each question counts,
//! so answering a question twice gains nothing.
//!
//! Scoring: accuracy, `correct / QUESTIONS` of full credit in parts per
//! million ([`Ppm::ratio`], rounded down); an unanswered question is wrong.
//! With 10 questions each is worth 100 000 ppm.
//!
//! The reference solver ([`CweSolver`]) reads the prompt, finds each
//! snippet's bank entry by its exact text, and picks the option whose CWE
//! is that entry's answer: for a knowledge task the answer key is the
//! knowledge, so the solver shows that the prompt is well formed and that
//! its answers are parsed and scored as documented, not that the task is
//! solvable by reasoning.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod bank;
#[cfg(test)]
mod tests;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_task_sdk::rng::Rng;
use airlock_task_sdk::{
    ABI_VERSION, Difficulty, ModelReply, Ppm, Solver, Step, Task, TaskInfo, category,
};

use crate::bank::{BANK, Entry};

/// Stable task id.
pub const TASK_ID: &str = "knowledge-cwe";
/// Questions per instance.
pub const QUESTIONS: usize = 10;
/// Options per question.
pub const OPTIONS: usize = 4;
/// Option labels, in order.
pub const LETTERS: [char; OPTIONS] = ['A', 'B', 'C', 'D'];

/// One question of an instance.
#[derive(Debug, Clone)]
pub struct Question {
    /// Index of the snippet in [`BANK`].
    pub entry: usize,
    /// The CWE numbers of options `A` to `D`.
    pub options: [u16; OPTIONS],
    /// Index of the right option.
    pub correct: usize,
}

/// One instance: the drawn questions.
#[derive(Debug)]
pub struct CweTask {
    questions: Vec<Question>,
}

impl CweTask {
    /// The questions of this instance, in prompt order.
    pub fn questions(&self) -> &[Question] {
        &self.questions
    }
}

impl Task for CweTask {
    fn info() -> TaskInfo {
        TaskInfo {
            abi_version: ABI_VERSION,
            id: TASK_ID.to_string(),
            version: 1,
            title: "CWE identification: multiple choice".to_string(),
            category: category::KNOWLEDGE.into(),
            difficulty: Difficulty::Medium,
            max_turns: 1,
            description: "Name the CWE of the weakness in each of ten short code snippets."
                .to_string(),
            system_prompt: String::new(),
            tools: Vec::new(),
        }
    }

    fn start(seed: [u8; 32]) -> (Self, Step) {
        let mut rng = Rng::from_seed(seed);
        let questions = draw_questions(&mut rng);
        let say = prompt(&questions);
        (CweTask { questions }, Step::Say(say))
    }

    fn step(&mut self, reply: &ModelReply) -> Step {
        let given = parse_answers(&reply.text, self.questions.len());
        let correct = self
            .questions
            .iter()
            .zip(&given)
            .filter(|(q, g)| **g == Some(q.correct))
            .count();
        Step::Done(Ppm::ratio(correct as u64, self.questions.len() as u64))
    }
}

airlock_task_sdk::export_task!(CweTask);

fn draw_questions(rng: &mut Rng) -> Vec<Question> {
    let mut order: Vec<usize> = (0..BANK.len()).collect();
    // A partial Fisher–Yates: the first QUESTIONS slots are a uniform sample.
    let take = QUESTIONS.min(order.len());
    for i in 0..take {
        let j = i + rng.index(order.len() - i);
        order.swap(i, j);
    }
    order
        .iter()
        .take(take)
        .filter_map(|&index| {
            let entry = BANK.get(index)?;
            Some(draw_options(rng, index, entry))
        })
        .collect()
}

fn draw_options(rng: &mut Rng, index: usize, entry: &Entry) -> Question {
    let mut wrong: Vec<u16> = entry.distractors.to_vec();
    rng.shuffle(&mut wrong);
    let mut options = [entry.answer; OPTIONS];
    for (slot, cwe) in options.iter_mut().skip(1).zip(&wrong) {
        *slot = *cwe;
    }
    rng.shuffle(&mut options);
    let correct = options
        .iter()
        .position(|&cwe| cwe == entry.answer)
        .unwrap_or(0);
    Question {
        entry: index,
        options,
        correct,
    }
}

fn prompt(questions: &[Question]) -> String {
    let n = questions.len();
    let mut say = format!(
        "CWE identification. Each of the {n} code snippets below contains one security \
         weakness. For each snippet, choose the option that names it: the CWE that best \
         describes the weakness in the code shown. Comments in the code say where data \
         comes from; assume nothing else about the surrounding program.\n\n\
         Reply with one line per question, in exactly this form:\n\
         1: B\n2: D\n\
         ...and so on up to {n}. The letter is one of A, B, C, D. Only the first answer \
         line for each question counts; a question without an answer line counts as \
         wrong. Score: the fraction of the {n} questions answered correctly.\n"
    );
    for (number, q) in questions.iter().enumerate() {
        let Some(entry) = BANK.get(q.entry) else {
            continue;
        };
        say.push_str(&format!(
            "\n### Question {} ({})\n\n```{}\n{}\n```\n\n",
            number + 1,
            entry.lang.name(),
            entry.lang.fence(),
            entry.code
        ));
        for (letter, cwe) in LETTERS.iter().zip(q.options) {
            let name = bank::name(cwe).unwrap_or("");
            say.push_str(&format!("{letter}) CWE-{cwe}: {name}\n"));
        }
    }
    say
}

/// The answers in `text` to questions `1..=questions`: for each, the index
/// of the option given by the first answer line for it, if any. Accepts
/// any text; see the crate documentation for the format.
pub fn parse_answers(text: &str, questions: usize) -> Vec<Option<usize>> {
    let mut answers = alloc::vec![None; questions];
    for line in text.lines() {
        if let Some((number, option)) = parse_line(line)
            && let Some(slot) = number.checked_sub(1).and_then(|i| answers.get_mut(i))
            && slot.is_none()
        {
            *slot = Some(option);
        }
    }
    answers
}

/// One answer line: the question number (from 1) and the option index.
fn parse_line(line: &str) -> Option<(usize, usize)> {
    // Markdown decoration is noise, not content: `**3:** C`, `` `3: C` ``.
    let cleaned: String = line.chars().filter(|&c| c != '*' && c != '`').collect();
    let mut s =
        cleaned.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '#' | '>'));
    if let Some(rest) = strip_prefix_ignore_case(s, "question") {
        s = rest.trim_start();
    } else if let Some(rest) = strip_prefix_ignore_case(s, "q") {
        s = rest.trim_start();
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    let number: usize = s.get(..digits)?.parse().ok()?;
    let s = s.get(digits..)?.trim_start();
    let s = s.strip_prefix([':', '.', ')'])?.trim_start();
    let s = s.strip_prefix(['(', '[']).unwrap_or(s);
    let mut chars = s.chars();
    let letter = chars.next()?.to_ascii_uppercase();
    if chars.next().is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    let option = LETTERS.iter().position(|&l| l == letter)?;
    Some((number, option))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Reference solver: reads each question's snippet and options from the
/// prompt, looks the snippet up in [`BANK`] by its exact text, and answers
/// with the letter of the option whose CWE is the entry's answer.
#[derive(Debug, Default)]
pub struct CweSolver;

impl Solver for CweSolver {
    fn reply(&mut self, say: &str) -> String {
        let mut out = String::new();
        for block in say.split("\n### Question ").skip(1) {
            let Some((number, rest)) = block.split_once(' ') else {
                continue;
            };
            let Some(code) = fenced_code(rest) else {
                continue;
            };
            let Some(entry) = BANK.iter().find(|e| e.code == code) else {
                continue;
            };
            let wanted = format!("CWE-{}:", entry.answer);
            let letter = rest.lines().find_map(|line| {
                let (letter, option) = line.split_once(") ")?;
                option.starts_with(&wanted).then_some(letter)
            });
            if let Some(letter) = letter {
                out.push_str(&format!("{number}: {letter}\n"));
            }
        }
        out
    }
}

/// The text of the first fenced code block in `text`, without the fences.
fn fenced_code(text: &str) -> Option<&str> {
    let open = text.find("```")?;
    let body_start = open + text.get(open..)?.find('\n')? + 1;
    let body = text.get(body_start..)?;
    let close = body.find("\n```")?;
    body.get(..close)
}
