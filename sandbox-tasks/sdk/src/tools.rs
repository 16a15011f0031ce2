//! Tools the default suite's tasks declare, and reading and answering
//! tool calls (SPEC.md, "Tools").
//!
//! Every tool here takes one string argument, so a call is read as one
//! string ([`argument`]). The host has already checked each call against
//! the declared schema and says why one does not fit in its `problem`, but
//! a task reads the arguments itself anyway: in a native run
//! ([`crate::run_native_in`]) no host checks anything, and a reply is
//! hostile input either way.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use airlock_core::Ppm;
use airlock_core::abi::{
    ModelReply, Step, ToolCall, ToolCallProblem, ToolMode, ToolResult, ToolSpec,
};

/// The command tool of the agentic tasks: `bash {"command": string}` runs
/// one command line on the simulated host and returns its output.
pub const BASH: &str = "bash";
/// The answer tool: `submit {"answer": string}` submits a flag or answer.
pub const SUBMIT: &str = "submit";
/// The argument of [`BASH`].
pub const COMMAND: &str = "command";
/// The argument of [`SUBMIT`].
pub const ANSWER: &str = "answer";

/// A tool taking one required string argument `key` and nothing else.
pub fn one_string_tool(name: &str, description: &str, key: &str, about: &str) -> ToolSpec {
    // Built as a serde_json value so that quotes or backslashes in the
    // descriptions cannot break the schema's JSON.
    let mut property = serde_json::Map::new();
    property.insert("type".to_string(), "string".into());
    property.insert("description".to_string(), about.into());
    let mut properties = serde_json::Map::new();
    properties.insert(key.to_string(), property.into());
    let mut schema = serde_json::Map::new();
    schema.insert("type".to_string(), "object".into());
    schema.insert("properties".to_string(), properties.into());
    schema.insert(
        "required".to_string(),
        serde_json::Value::Array(Vec::from([key.into()])),
    );
    schema.insert("additionalProperties".to_string(), false.into());
    ToolSpec {
        name: name.to_string(),
        description: description.to_string(),
        parameters: serde_json::Value::Object(schema).to_string(),
    }
}

/// The [`BASH`] tool with the task's own description of what it runs.
pub fn bash_tool(description: &str) -> ToolSpec {
    one_string_tool(BASH, description, COMMAND, "The command line to run.")
}

/// The [`SUBMIT`] tool with the task's own description of what it takes.
pub fn submit_tool(description: &str) -> ToolSpec {
    one_string_tool(
        SUBMIT,
        description,
        ANSWER,
        "The answer, e.g. the flag flag{...}.",
    )
}

/// The string argument `key` of `call` to tool `tool`, or the text of a tool
/// result that says why there is none, naming what the model can do about
/// it. `tools` are the names the task declares, for the message about an
/// undeclared tool.
pub fn argument(call: &ToolCall, tools: &[&str], tool: &str, key: &str) -> Result<String, String> {
    let usage = format!("call {tool} with {{\"{key}\": \"...\"}}");
    match &call.problem {
        Some(ToolCallProblem::UndeclaredTool) => return Err(undeclared(call, tools)),
        Some(ToolCallProblem::ArgumentsNotJson) => {
            return Err(format!(
                "error: the arguments are not one JSON object; {usage}"
            ));
        }
        Some(ToolCallProblem::ArgumentsAgainstSchema(why)) => {
            return Err(format!(
                "error: the arguments do not match the schema of {tool} ({why}); {usage}"
            ));
        }
        None => {}
    }
    let Ok(serde_json::Value::Object(mut object)) =
        serde_json::from_str::<serde_json::Value>(&call.arguments)
    else {
        return Err(format!(
            "error: the arguments are not one JSON object; {usage}"
        ));
    };
    match object.remove(key) {
        Some(serde_json::Value::String(value)) => Ok(value),
        Some(_) => Err(format!(
            "error: the arguments do not match the schema of {tool} (/{key}: expected string); {usage}"
        )),
        None => Err(format!(
            "error: the arguments do not match the schema of {tool} (/: missing the required \
             property \"{key}\"); {usage}"
        )),
    }
}

/// The tool result for a call to a tool the task does not declare.
pub fn undeclared(call: &ToolCall, tools: &[&str]) -> String {
    format!(
        "error: there is no tool named \"{}\"; the tools are {}",
        crate::text::truncate(&call.name, 64),
        tools.join(", ")
    )
}

/// The `Say` that answers a reply without tool calls in a native-mode run:
/// the task's text protocol is not read there, so the model is told how to
/// go on. The reply still counts as a turn.
pub fn nudge(tools: &[&str]) -> String {
    format!(
        "No tool was called, so nothing ran. Use the tools ({}) to act; text alone does \
         nothing here.",
        tools.join(", ")
    )
}

/// What a task does for the two kinds of tool it declares: a command tool
/// (`bash {"command"}`, `http {"request"}`, ...) and [`SUBMIT`].
pub trait Toolbox {
    /// Runs one command: its result, or the score the task ends with (a
    /// command that solves the task, such as a login that bypasses).
    fn command(&mut self, command: &str) -> Result<String, Ppm>;
    /// Takes one answer: the result to give when the task goes on
    /// (`incorrect, ...`), or the score the task ends with.
    fn submit(&mut self, answer: &str) -> Result<String, Ppm>;
}

/// A simulated host that a task drives through [`BASH`] and [`SUBMIT`]
/// (the agentic tasks): what [`shell_turn`] needs besides the tools.
pub trait Shell: Toolbox {
    /// Whether the turns are used up (checked after each reply).
    fn out_of_turns(&self) -> bool;
    /// The score the task ends with when the turns are used up.
    fn score_out_of_turns(&self) -> Ppm;
    /// What ends a `Say`: a turns-left note near the end, then the prompt.
    fn prompt_tail(&self) -> String;
}

/// One native-mode turn of a [`Shell`] task: a reply without tool calls
/// is answered with the [`nudge`] and the prompt; one with calls has them
/// answered in order ([`answer_calls`], at most `max_commands` [`BASH`]
/// commands); a call that ends the task ends it, and so do used-up turns.
pub fn shell_turn(
    reply: &ModelReply,
    tools: &[&str],
    max_commands: usize,
    shell: &mut impl Shell,
) -> Step {
    if reply.tool_calls.is_empty() {
        if shell.out_of_turns() {
            return Step::Done(shell.score_out_of_turns());
        }
        let mut say = nudge(tools);
        say.push('\n');
        say.push_str(&shell.prompt_tail());
        return Step::Say(say);
    }
    let results = match answer_calls(
        &reply.tool_calls,
        tools,
        (BASH, COMMAND),
        max_commands,
        shell,
    ) {
        Ok(results) => results,
        Err(score) => return Step::Done(score),
    };
    if shell.out_of_turns() {
        return Step::Done(shell.score_out_of_turns());
    }
    Step::ToolResults(results)
}

/// Answers the tool calls of one reply in order: each call of
/// `command_tool` (whose one argument is `key`) runs ([`Toolbox::command`]),
/// up to `max_commands` of them,
/// and later ones are answered with an error and not run; each [`SUBMIT`]
/// is taken ([`Toolbox::submit`]); a call that ends the task ends the
/// reply (`Err` with its score); a call with a problem, or to a tool other
/// than these two, is answered with an error saying so. `tools` are the
/// names the task declares.
pub fn answer_calls(
    calls: &[ToolCall],
    tools: &[&str],
    (command_tool, key): (&str, &str),
    max_commands: usize,
    toolbox: &mut impl Toolbox,
) -> Result<Vec<ToolResult>, Ppm> {
    let mut results = Vec::new();
    let mut commands = 0usize;
    for call in calls {
        let content = if call.name == command_tool {
            match argument(call, tools, command_tool, key) {
                Err(error) => error,
                Ok(_) if commands >= max_commands => format!(
                    "error: not run: at most {max_commands} {command_tool} calls run per turn; \
                     call it again in your next reply"
                ),
                Ok(command) => {
                    commands += 1;
                    toolbox.command(&command)?
                }
            }
        } else if call.name == SUBMIT && tools.contains(&SUBMIT) {
            match argument(call, tools, SUBMIT, ANSWER) {
                Err(error) => error,
                Ok(answer) => toolbox.submit(&answer)?,
            }
        } else {
            undeclared(call, tools)
        };
        results.push(ToolResult {
            call_id: call.id.clone(),
            content,
        });
    }
    Ok(results)
}

/// A call of `tool` with the one string argument `key` = `value`, as a
/// solver makes it; the id is left empty for the host's agent to assign.
pub fn call(tool: &str, key: &str, value: &str) -> ToolCall {
    let mut object = serde_json::Map::new();
    object.insert(key.to_string(), value.into());
    ToolCall {
        id: String::new(),
        name: tool.to_string(),
        arguments: serde_json::Value::Object(object).to_string(),
        problem: None,
    }
}

/// A solver's reply in `tool_mode` for a line of a task's text protocol:
/// in text mode the line itself; in native mode `submit ANSWER` becomes a
/// [`SUBMIT`] call and any other line a call of `command_tool` with it as
/// its argument `key`.
pub fn line_reply(
    line: String,
    tool_mode: ToolMode,
    (command_tool, key): (&str, &str),
) -> ModelReply {
    match tool_mode {
        ToolMode::Text => ModelReply {
            text: line,
            truncated: false,
            tool_calls: Vec::new(),
        },
        ToolMode::Native => {
            let call = match line.strip_prefix("submit ") {
                Some(answer) => call(SUBMIT, ANSWER, answer),
                None => call(command_tool, key, &line),
            };
            calls(Vec::from([call]))
        }
    }
}

/// A reply that makes `calls` and says nothing.
pub fn calls(calls: Vec<ToolCall>) -> ModelReply {
    ModelReply {
        text: String::new(),
        truncated: false,
        tool_calls: calls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(arguments: &str, problem: Option<ToolCallProblem>) -> ToolCall {
        ToolCall {
            id: "c".to_string(),
            name: BASH.to_string(),
            arguments: arguments.to_string(),
            problem,
        }
    }

    #[test]
    fn a_call_round_trips_through_its_json() {
        let c = call(BASH, COMMAND, "echo \"hi\" \\ done");
        assert_eq!(c.arguments, r#"{"command":"echo \"hi\" \\ done"}"#);
        let got = argument(&c, &[BASH, SUBMIT], BASH, COMMAND);
        assert_eq!(got.as_deref(), Ok("echo \"hi\" \\ done"));
    }

    #[test]
    fn each_problem_gets_an_error_naming_the_fix() {
        let tools = [BASH, SUBMIT];
        let cases = [
            (
                with("{}", Some(ToolCallProblem::UndeclaredTool)),
                "no tool named",
            ),
            (
                with("{", Some(ToolCallProblem::ArgumentsNotJson)),
                "not one JSON object",
            ),
            (
                with(
                    "{}",
                    Some(ToolCallProblem::ArgumentsAgainstSchema(
                        "/: why".to_string(),
                    )),
                ),
                "(/: why)",
            ),
            // Unchecked calls (a native run) are read as carefully.
            (with("not json", None), "not one JSON object"),
            (with("[1]", None), "not one JSON object"),
            (with(r#"{"command": 5}"#, None), "/command: expected string"),
            (
                with(r#"{"cmd": "id"}"#, None),
                "missing the required property",
            ),
        ];
        for (c, want) in cases {
            let err = argument(&c, &tools, BASH, COMMAND).unwrap_err();
            assert!(err.starts_with("error: ") && err.contains(want), "{err}");
        }
    }

    #[test]
    fn schemas_are_json_objects_with_one_required_string() {
        let spec = bash_tool("Runs \"one\" line.");
        let schema: serde_json::Value = serde_json::from_str(&spec.parameters).unwrap();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"][0], COMMAND);
        assert_eq!(schema["properties"][COMMAND]["type"], "string");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(submit_tool("x").name, SUBMIT);
    }
}
