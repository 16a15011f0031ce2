//! Agents: what answers a task's `Say` on behalf of the model under test.
//!
//! The model is never called from inside the sandbox; the host carries each
//! `Say` to an agent session and the reply back. Built in: `reference` (the
//! task's own reference solver, optionally slowed down) and `null` (always an
//! empty reply). Adapters for served models plug in behind the same trait.

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use airlock_core::abi::TaskInfo;
use airlock_core::outcome::ModelErrorKind;
use airlock_core::record::ModelDescriptor;

use crate::sandbox::Conversation;

/// Something that can hold conversations with tasks.
pub trait Agent: Send + Sync {
    /// How the run records this agent and model.
    fn descriptor(&self) -> ModelDescriptor;

    /// A fresh conversation for one task instance.
    fn session(&self, task: &TaskInfo) -> Box<dyn Conversation + Send + '_>;
}

/// Which agent to use, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentSpec {
    /// `reference[:delay-ms=N]`: the task's reference solver, sleeping N ms before each reply.
    Reference {
        /// Delay before each reply (lets people and tests interrupt a run mid-way).
        delay: Duration,
    },
    /// `null`: always replies with an empty message.
    Null,
}

/// A malformed `--agent` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSpecError(String);

impl fmt::Display for AgentSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for AgentSpecError {}

impl FromStr for AgentSpec {
    type Err = AgentSpecError;

    fn from_str(text: &str) -> Result<AgentSpec, AgentSpecError> {
        let (kind, options) = match text.split_once(':') {
            Some((kind, options)) => (kind, Some(options)),
            None => (text, None),
        };
        match (kind, options) {
            ("null", None) => Ok(AgentSpec::Null),
            ("reference", None) => Ok(AgentSpec::Reference {
                delay: Duration::ZERO,
            }),
            ("reference", Some(options)) => {
                let mut delay = Duration::ZERO;
                for option in options.split(',') {
                    match option.split_once('=') {
                        Some(("delay-ms", value)) => {
                            let ms: u64 = value.parse().map_err(|_| {
                                AgentSpecError(format!(
                                    "agent \"{text}\": delay-ms wants a whole number of milliseconds, not \"{value}\""
                                ))
                            })?;
                            delay = Duration::from_millis(ms);
                        }
                        _ => {
                            return Err(AgentSpecError(format!(
                                "agent \"{text}\": unknown option \"{option}\" (known: delay-ms=N)"
                            )));
                        }
                    }
                }
                Ok(AgentSpec::Reference { delay })
            }
            _ => Err(AgentSpecError(format!(
                "unknown agent \"{text}\" (known: reference, reference:delay-ms=N, null)"
            ))),
        }
    }
}

impl AgentSpec {
    /// Builds the agent.
    pub fn build(&self) -> Box<dyn Agent> {
        match self {
            AgentSpec::Reference { delay } => Box::new(ReferenceAgent { delay: *delay }),
            AgentSpec::Null => Box::new(NullAgent),
        }
    }
}

/// Answers with each task's reference solver from the embedded suite.
#[derive(Debug)]
pub struct ReferenceAgent {
    delay: Duration,
}

impl Agent for ReferenceAgent {
    fn descriptor(&self) -> ModelDescriptor {
        ModelDescriptor {
            agent: "reference".into(),
            model: "reference-solver".into(),
            reported_model: String::new(),
        }
    }

    fn session(&self, task: &TaskInfo) -> Box<dyn Conversation + Send + '_> {
        Box::new(ReferenceSession {
            solver: airlock_default_suite::reference_solver(&task.id),
            delay: self.delay,
        })
    }
}

struct ReferenceSession {
    solver: Option<Box<dyn airlock_task_sdk::Solver>>,
    delay: Duration,
}

impl Conversation for ReferenceSession {
    fn reply(&mut self, say: &str) -> Result<String, ModelErrorKind> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        match &mut self.solver {
            Some(solver) => Ok(solver.reply(say)),
            None => Err(ModelErrorKind::Unsupported),
        }
    }
}

/// Always replies with an empty message: the floor every task must score 0 on.
#[derive(Debug)]
pub struct NullAgent;

impl Agent for NullAgent {
    fn descriptor(&self) -> ModelDescriptor {
        ModelDescriptor {
            agent: "null".into(),
            model: "null".into(),
            reported_model: String::new(),
        }
    }

    fn session(&self, _task: &TaskInfo) -> Box<dyn Conversation + Send + '_> {
        Box::new(NullSession)
    }
}

struct NullSession;

impl Conversation for NullSession {
    fn reply(&mut self, _say: &str) -> Result<String, ModelErrorKind> {
        Ok(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_agent_specs() {
        assert_eq!("null".parse::<AgentSpec>().unwrap(), AgentSpec::Null);
        assert_eq!(
            "reference:delay-ms=25".parse::<AgentSpec>().unwrap(),
            AgentSpec::Reference {
                delay: Duration::from_millis(25)
            }
        );
        let err = "reference:delay-ms=x".parse::<AgentSpec>().unwrap_err();
        assert!(err.to_string().contains("delay-ms"), "{err}");
        let err = "gpt".parse::<AgentSpec>().unwrap_err();
        assert!(err.to_string().contains("unknown agent \"gpt\""), "{err}");
    }
}
