//! `replay:DIR`: replies from stored transcripts, turn by turn — the agent
//! verification replay re-executes tasks with.
//!
//! DIR holds disclosure files (`*.json`, format `airlock-disclosure/2`, as
//! `airlock disclose` writes them). A session is matched to its transcript
//! by plan index, and the transcript's task id, epoch and instance seed must
//! be the session's. Each `Say` must equal the recorded one; the reply is the
//! recorded reply, with its `truncated` flag. A transcript that ended with a
//! model error gives that error again when the task asks past its last turn.
//!
//! Anything else is a **divergence**: the call ends with
//! `ModelError(Unsupported)` (so the task ends, as it must: there is no
//! recorded answer) and the divergence is logged and kept, with the plan
//! entry and turn, in [`ReplayAgent::divergences`]. A replay that diverged
//! has not reproduced the run, whatever outcome it reached.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use airlock_core::outcome::ModelErrorKind;
use airlock_core::record::ModelDescriptor;
use airlock_core::transcript::Transcript;

use super::{Agent, AgentError, SessionContext};
use airlock_attest::disclosure::Disclosure;
use airlock_core::abi::{Prompt, ToolCall, ToolMode};
use airlock_sandbox::{Conversation, Reply};

/// One transcript to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayEntry {
    /// The recorded exchange.
    pub transcript: Transcript,
    /// The model error the recorded task ended with, if it did.
    pub model_error: Option<ModelErrorKind>,
}

impl From<Disclosure> for ReplayEntry {
    fn from(disclosure: Disclosure) -> ReplayEntry {
        ReplayEntry {
            transcript: disclosure.transcript,
            model_error: disclosure.model_error,
        }
    }
}

/// Where a replay left its transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The plan entry.
    pub plan_index: u32,
    /// Its task id.
    pub task_id: String,
    /// Its epoch.
    pub epoch: u32,
    /// The turn (0-based) where it happened.
    pub turn: u32,
    /// What happened.
    pub problem: String,
}

impl core::fmt::Display for Divergence {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} epoch {} (plan entry {}), turn {}: {}",
            self.task_id, self.epoch, self.plan_index, self.turn, self.problem
        )
    }
}

/// Replies from stored transcripts.
#[derive(Debug)]
pub struct ReplayAgent {
    entries: BTreeMap<u32, ReplayEntry>,
    divergences: Mutex<Vec<Divergence>>,
}

impl ReplayAgent {
    /// An agent replaying `entries`; two for one plan index are refused.
    pub fn new(entries: impl IntoIterator<Item = ReplayEntry>) -> Result<ReplayAgent, String> {
        let mut map = BTreeMap::new();
        for entry in entries {
            let index = entry.transcript.plan_index;
            if map.insert(index, entry).is_some() {
                return Err(format!("two transcripts for plan entry {index}"));
            }
        }
        Ok(ReplayAgent {
            entries: map,
            divergences: Mutex::new(Vec::new()),
        })
    }

    /// Reads every `*.json` disclosure file in `dir`.
    pub fn from_dir(dir: &Path) -> Result<ReplayAgent, AgentError> {
        let problem = |path: &Path, problem: String| AgentError::Replay {
            path: path.to_path_buf(),
            problem,
        };
        let listing = std::fs::read_dir(dir)
            .map_err(|e| problem(dir, format!("cannot read the replay directory: {e}")))?;
        let mut paths = Vec::new();
        for entry in listing {
            let path = entry
                .map_err(|e| problem(dir, format!("cannot read the replay directory: {e}")))?
                .path();
            if path.extension().is_some_and(|e| e == "json") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        if paths.is_empty() {
            return Err(problem(dir, "holds no disclosure file (*.json)".into()));
        }
        let mut entries = Vec::new();
        for path in &paths {
            let disclosure = Disclosure::read(path).map_err(|e| problem(path, e.to_string()))?;
            entries.push(ReplayEntry::from(disclosure));
        }
        ReplayAgent::new(entries).map_err(|e| problem(dir, e))
    }

    /// Every divergence so far, in plan order (parallel sandboxes may
    /// diverge in any order in time).
    pub fn divergences(&self) -> Vec<Divergence> {
        let mut all = self
            .divergences
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        all.sort_by_key(|d| (d.plan_index, d.turn));
        all
    }

    fn diverged(&self, divergence: Divergence) {
        tracing::warn!("replay diverged: {divergence}");
        self.divergences
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(divergence);
    }
}

impl Agent for ReplayAgent {
    fn descriptor(&self, tool_mode: ToolMode) -> ModelDescriptor {
        ModelDescriptor {
            agent: "replay".into(),
            model: "recorded transcripts".into(),
            reported_model: String::new(),
            tool_mode,
        }
    }

    fn session(&self, context: &SessionContext<'_>) -> Box<dyn Conversation + Send + '_> {
        let mut session = ReplaySession {
            agent: self,
            entry: None,
            plan_index: context.plan_index,
            task_id: context.task.id.clone(),
            epoch: context.epoch,
            next: 0,
            last_cut: false,
            diverged: false,
        };
        match self.entries.get(&context.plan_index) {
            None => session.diverge("no transcript for this plan entry".into()),
            Some(entry) => {
                let t = &entry.transcript;
                if t.task_id != context.task.id || t.epoch != context.epoch {
                    session.diverge(format!(
                        "the transcript is of {} epoch {}",
                        t.task_id, t.epoch
                    ));
                } else if t.seed != context.seed {
                    session.diverge(
                        "the instance seed differs from the transcript's (run with the recorded run seed)"
                            .into(),
                    );
                } else {
                    session.entry = Some(entry);
                }
            }
        }
        Box::new(session)
    }
}

struct ReplaySession<'a> {
    agent: &'a ReplayAgent,
    entry: Option<&'a ReplayEntry>,
    plan_index: u32,
    task_id: String,
    epoch: u32,
    next: usize,
    last_cut: bool,
    diverged: bool,
}

impl ReplaySession<'_> {
    fn diverge(&mut self, problem: String) {
        if !self.diverged {
            self.diverged = true;
            self.agent.diverged(Divergence {
                plan_index: self.plan_index,
                task_id: self.task_id.clone(),
                epoch: self.epoch,
                turn: self.next as u32,
                problem,
            });
        }
    }
}

impl Conversation for ReplaySession<'_> {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        self.last_cut = false;
        if self.diverged {
            return Err(ModelErrorKind::Unsupported);
        }
        let Some(entry) = self.entry else {
            return Err(ModelErrorKind::Unsupported);
        };
        let turns = &entry.transcript.turns;
        match turns.get(self.next) {
            Some(turn) if turn.prompt == *prompt => {
                self.next += 1;
                self.last_cut = turn.reply.truncated;
                // The host gives each call its verdict again, from the same
                // bytes and the same declared tools, so the task sees what
                // it saw in the recorded run.
                let tool_calls = turn
                    .reply
                    .tool_calls
                    .iter()
                    .map(|call| ToolCall {
                        problem: None,
                        ..call.clone()
                    })
                    .collect();
                Ok(Reply {
                    text: turn.reply.text.clone(),
                    tool_calls,
                    usage: turn.usage,
                    reasoning: turn.reasoning.clone(),
                })
            }
            Some(_) => {
                self.diverge("the task said something other than the transcript records".into());
                Err(ModelErrorKind::Unsupported)
            }
            None => match entry.model_error {
                Some(kind) if self.next == turns.len() => {
                    // The recorded run ended here with this error.
                    self.next += 1;
                    Err(kind)
                }
                _ => {
                    self.diverge(format!(
                        "the task asked for a turn the transcript does not have (it has {})",
                        turns.len()
                    ));
                    Err(ModelErrorKind::Unsupported)
                }
            },
        }
    }

    fn last_reply_was_cut(&self) -> bool {
        self.last_cut
    }
}

impl Drop for ReplaySession<'_> {
    fn drop(&mut self) {
        let Some(entry) = self.entry else { return };
        let recorded = entry.transcript.turns.len() + usize::from(entry.model_error.is_some());
        if !self.diverged && self.next < recorded {
            self.diverge(format!(
                "the task ended after {} of the transcript's {} turns",
                self.next,
                entry.transcript.turns.len()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::abi::{Difficulty, TaskInfo};
    use airlock_core::transcript::Turn;

    fn info(id: &str) -> TaskInfo {
        TaskInfo {
            abi_version: 1,
            id: id.into(),
            version: 1,
            title: String::new(),
            category: "knowledge".into(),
            difficulty: Difficulty::Easy,
            max_turns: 4,
            description: String::new(),
            system_prompt: String::new(),
            tools: Vec::new(),
        }
    }

    fn agent(model_error: Option<ModelErrorKind>) -> ReplayAgent {
        ReplayAgent::new([ReplayEntry {
            transcript: Transcript {
                task_id: "t".into(),
                plan_index: 0,
                epoch: 0,
                seed: [1; 32],
                turns: vec![Turn::text("a", "A", false), Turn::text("b", "B", true)],
            },
            model_error,
        }])
        .unwrap()
    }

    fn context<'a>(task: &'a TaskInfo, seed: u8) -> SessionContext<'a> {
        SessionContext {
            task,
            plan_index: 0,
            epoch: 0,
            seed: [seed; 32],
            tool_mode: ToolMode::Text,
        }
    }

    fn say(text: &str) -> Prompt {
        Prompt::Text(text.into())
    }

    #[test]
    fn replays_turn_by_turn_with_the_cut_flag_and_the_recorded_error() {
        let task = info("t");
        let agent = agent(Some(ModelErrorKind::Timeout));
        let mut session = agent.session(&context(&task, 1));
        assert_eq!(session.reply(&say("a")).unwrap(), Reply::text("A"));
        assert!(!session.last_reply_was_cut());
        assert_eq!(session.reply(&say("b")).unwrap(), Reply::text("B"));
        assert!(session.last_reply_was_cut());
        assert_eq!(session.reply(&say("c")), Err(ModelErrorKind::Timeout));
        drop(session);
        assert_eq!(agent.divergences(), []);
    }

    #[test]
    fn divergences_are_listed_in_plan_order_whatever_order_they_happened_in() {
        let task = info("t");
        let agent = agent(None);
        let later = SessionContext {
            plan_index: 1,
            ..context(&task, 1)
        };
        drop(agent.session(&later));
        drop(agent.session(&context(&task, 2)));
        let order: Vec<u32> = agent.divergences().iter().map(|d| d.plan_index).collect();
        assert_eq!(order, [0, 1]);
    }

    #[test]
    fn every_departure_from_the_transcript_is_a_divergence() {
        let task = info("t");
        let cases: [(&str, u8, &[&str], &str); 5] = [
            ("t", 1, &["a", "x"], "turn 1: the task said something other"),
            ("t", 2, &["a"], "turn 0: the instance seed differs"),
            ("u", 1, &["a"], "turn 0: the transcript is of t epoch 0"),
            (
                "t",
                1,
                &["a"],
                "turn 1: the task ended after 1 of the transcript's 2 turns",
            ),
            (
                "t",
                1,
                &["a", "b", "c"],
                "turn 2: the task asked for a turn",
            ),
        ];
        for (id, seed, says, expected) in cases {
            let other = info(id);
            let agent = agent(None);
            let task = if id == "t" { &task } else { &other };
            let mut session = agent.session(&context(task, seed));
            for text in says {
                let _ = session.reply(&say(text));
            }
            drop(session);
            let divergences = agent.divergences();
            assert_eq!(divergences.len(), 1, "{expected}: {divergences:?}");
            let text = divergences[0].to_string();
            assert!(text.contains(expected), "{text}");
        }
    }
}
