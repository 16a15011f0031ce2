//! The embedded modules speak the task ABI (core/src/abi.rs) as the host
//! will drive them, and behave exactly like the same tasks compiled for the
//! host: same prompts, same scores, same transcripts.

// The helpers below are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use airlock_core::abi::{
    ABI_VERSION, EXPORT_ABI_VERSION, EXPORT_INFO, EXPORT_INPUT, EXPORT_MEMORY, EXPORT_START,
    EXPORT_STEP, ModelReply, StartArgs, Step, TaskInfo, ToolCall, ToolCallProblem, unpack,
};
use airlock_default_suite::{EmbeddedModule, modules, reference_solver};
use airlock_task_sdk::{NativeTurn, Ppm, Prompt, Solver, ToolMode};
use std::sync::OnceLock;

use wasmtime::{Engine, Instance, Memory, Module, Store, TypedFunc};

/// Each module compiled once for all tests: compiling is the slow part.
fn compiled() -> &'static (Engine, Vec<Module>) {
    static COMPILED: OnceLock<(Engine, Vec<Module>)> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let engine = Engine::default();
        let compiled = modules()
            .iter()
            .map(|m| Module::new(&engine, m.bytes).unwrap())
            .collect();
        (engine, compiled)
    })
}

/// Every embedded module with its compiled form.
fn each_module() -> impl Iterator<Item = (&'static EmbeddedModule, &'static Module)> {
    modules().iter().zip(&compiled().1)
}

/// One instance of a task module, driven through its exports.
struct Guest {
    store: Store<()>,
    memory: Memory,
    abi_version: TypedFunc<(), i32>,
    input: TypedFunc<i32, i32>,
    info: TypedFunc<(), i64>,
    start: TypedFunc<i32, i64>,
    step: TypedFunc<i32, i64>,
}

impl Guest {
    fn new(compiled: &Module) -> Guest {
        let mut store = Store::new(compiled.engine(), ());
        let instance = Instance::new(&mut store, compiled, &[]).unwrap();
        Guest {
            memory: instance.get_memory(&mut store, EXPORT_MEMORY).unwrap(),
            abi_version: instance
                .get_typed_func(&mut store, EXPORT_ABI_VERSION)
                .unwrap(),
            input: instance.get_typed_func(&mut store, EXPORT_INPUT).unwrap(),
            info: instance.get_typed_func(&mut store, EXPORT_INFO).unwrap(),
            start: instance.get_typed_func(&mut store, EXPORT_START).unwrap(),
            step: instance.get_typed_func(&mut store, EXPORT_STEP).unwrap(),
            store,
        }
    }

    fn write_input(&mut self, bytes: &[u8]) -> i32 {
        let len = i32::try_from(bytes.len()).unwrap();
        let ptr = self.input.call(&mut self.store, len).unwrap();
        self.memory
            .write(&mut self.store, ptr as u32 as usize, bytes)
            .unwrap();
        len
    }

    fn read_output(&self, packed: i64) -> Vec<u8> {
        let (ptr, len) = unpack(packed);
        let data = self.memory.data(&self.store);
        data[ptr as usize..ptr as usize + len as usize].to_vec()
    }

    fn info(&mut self) -> TaskInfo {
        let packed = self.info.call(&mut self.store, ()).unwrap();
        postcard::from_bytes(&self.read_output(packed)).unwrap()
    }

    fn start(&mut self, seed: [u8; 32], tool_mode: ToolMode) -> wasmtime::Result<Step> {
        let len = self.write_input(&postcard::to_allocvec(&StartArgs { seed, tool_mode }).unwrap());
        let packed = self.start.call(&mut self.store, len)?;
        Ok(postcard::from_bytes(&self.read_output(packed)).unwrap())
    }

    fn step_text(&mut self, text: &str) -> wasmtime::Result<Step> {
        self.step(&ModelReply {
            text: text.to_string(),
            truncated: false,
            tool_calls: Vec::new(),
        })
    }

    fn step(&mut self, reply: &ModelReply) -> wasmtime::Result<Step> {
        let len = self.write_input(&postcard::to_allocvec(reply).unwrap());
        let packed = self.step.call(&mut self.store, len)?;
        Ok(postcard::from_bytes(&self.read_output(packed)).unwrap())
    }

    /// Plays one instance to its end (or `max_turns` replies), like `run_native`.
    fn run(
        &mut self,
        seed: [u8; 32],
        tool_mode: ToolMode,
        solver: &mut dyn Solver,
        max_turns: u32,
    ) -> (Option<Ppm>, Vec<NativeTurn>) {
        let mut step = self.start(seed, tool_mode).unwrap();
        let mut turns = Vec::new();
        loop {
            let prompt = match step {
                Step::Done(score) => return (Some(score), turns),
                _ if turns.len() as u32 >= max_turns => return (None, turns),
                Step::Say(say) => Prompt::Text(say),
                Step::ToolResults(results) => Prompt::ToolResults(results),
            };
            let reply = solver.respond(&prompt, tool_mode);
            step = self.step(&reply).unwrap();
            turns.push(NativeTurn {
                say: prompt.plain_text(),
                reply: reply.text.clone(),
                truncated: false,
                prompt,
                model_reply: reply,
            });
        }
    }
}

fn seed(i: u8) -> [u8; 32] {
    let mut seed = [0x33; 32];
    seed[0] = i;
    seed
}

/// The same task run natively, with the suite's reference solver.
fn native(task_id: &str, seed: [u8; 32], tool_mode: ToolMode) -> (Option<Ppm>, Vec<NativeTurn>) {
    let run = airlock_default_suite::run_reference_in(task_id, seed, tool_mode)
        .unwrap_or_else(|| panic!("{task_id} is not in the suite"));
    (run.score, run.transcript)
}

struct Empty;

impl Solver for Empty {
    fn reply(&mut self, _say: &str) -> String {
        String::new()
    }
}

#[test]
fn modules_report_the_abi_version_and_their_info() {
    for (module, compiled) in each_module() {
        let mut guest = Guest::new(compiled);
        assert_eq!(
            guest.abi_version.call(&mut guest.store, ()).unwrap(),
            ABI_VERSION as i32
        );
        let info = guest.info();
        assert_eq!(info.id, module.task_id);
        assert_eq!(info.abi_version, ABI_VERSION);
        assert!(info.max_turns >= 1);
    }
}

#[test]
fn guest_runs_equal_native_runs_and_reference_solvers_score_full_in_both_modes() {
    for (module, compiled) in each_module() {
        let tools = !Guest::new(compiled).info().tools.is_empty();
        for mode in [ToolMode::Text, ToolMode::Native] {
            for i in 0..4 {
                let mut guest = Guest::new(compiled);
                let max_turns = guest.info().max_turns;
                let mut solver = reference_solver(module.task_id).unwrap();
                let in_guest = guest.run(seed(i), mode, solver.as_mut(), max_turns);
                let what = format!("{} {} seed {i}", module.task_id, mode.name());
                assert_eq!(in_guest.0, Some(Ppm::FULL), "{what}");
                assert_eq!(in_guest, native(module.task_id, seed(i), mode), "{what}");
                // A task with tools is answered with tool calls in native
                // mode, and every prompt after the first is their results.
                let calls = in_guest
                    .1
                    .iter()
                    .all(|t| !t.model_reply.tool_calls.is_empty());
                assert_eq!(calls, tools && mode == ToolMode::Native, "{what}");
                if calls {
                    assert!(
                        in_guest.1[1..]
                            .iter()
                            .all(|t| matches!(t.prompt, Prompt::ToolResults(_))),
                        "{what}"
                    );
                }
            }
        }
    }
}

#[test]
fn empty_replies_score_zero_within_max_turns() {
    for (module, compiled) in each_module() {
        let mut guest = Guest::new(compiled);
        let max_turns = guest.info().max_turns;
        // Allow more replies than declared: the module must stop by itself.
        let (score, turns) = guest.run(seed(9), ToolMode::Text, &mut Empty, max_turns + 5);
        assert_eq!(score, Some(Ppm::ZERO), "{}", module.task_id);
        assert!(turns.len() as u32 <= max_turns);
    }
}

#[test]
fn one_instance_can_be_restarted() {
    for (module, compiled) in each_module() {
        let mut guest = Guest::new(compiled);
        let first = guest.start(seed(1), ToolMode::Text).unwrap();
        assert_eq!(
            guest.start(seed(1), ToolMode::Text).unwrap(),
            first,
            "{}",
            module.task_id
        );
        assert_ne!(
            guest.start(seed(2), ToolMode::Text).unwrap(),
            first,
            "{}",
            module.task_id
        );
    }
}

/// A call as a hostile model might make it (the host checks nothing here).
fn call(id: &str, name: &str, arguments: &str, problem: Option<ToolCallProblem>) -> ToolCall {
    ToolCall {
        id: id.to_string(),
        name: name.to_string(),
        arguments: arguments.to_string(),
        problem,
    }
}

#[test]
fn hostile_tool_calls_do_not_trap_and_each_gets_its_result() {
    let huge = "\u{10ffff}\u{0}é\"\\".repeat(50_000);
    let calls = [
        call("a", "bash", r#"{"command": "id"}"#, None),
        call("", "submit", &huge, Some(ToolCallProblem::ArgumentsNotJson)),
        call(
            &huge[..603],
            &huge[..603],
            "{}",
            Some(ToolCallProblem::UndeclaredTool),
        ),
        call(
            "d",
            "http",
            r#"{"request": 5}"#,
            Some(ToolCallProblem::ArgumentsAgainstSchema(
                "/request: expected string".into(),
            )),
        ),
        call(
            "e",
            "bash",
            &format!("{{\"command\": \"{}\"}}", "x".repeat(16_000)),
            None,
        ),
        call("f", "submit", r#"{"answer": "flag{nope}"}"#, None),
    ];
    for (module, compiled) in each_module() {
        for mode in [ToolMode::Text, ToolMode::Native] {
            let mut guest = Guest::new(compiled);
            let has_tools = !guest.info().tools.is_empty();
            guest.start(seed(3), mode).unwrap();
            let reply = ModelReply {
                text: "x".to_string(),
                truncated: true,
                tool_calls: calls.to_vec(),
            };
            let what = format!("{} {}", module.task_id, mode.name());
            let step = guest.step(&reply);
            let Ok(step) = step else {
                panic!("{what} trapped: {step:?}")
            };
            if has_tools && mode == ToolMode::Native {
                // Either the task ended (a submit) or it answered every call in order.
                if let Step::ToolResults(results) = &step {
                    let ids: Vec<&str> = results.iter().map(|r| r.call_id.as_str()).collect();
                    let want: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
                    assert_eq!(ids, want, "{what}");
                } else {
                    assert!(matches!(step, Step::Done(_)), "{what}: {step:?}");
                }
            } else {
                assert!(!matches!(step, Step::ToolResults(_)), "{what}");
            }
        }
    }
}

#[test]
fn hostile_replies_do_not_trap() {
    let huge = "flag{\u{10ffff}\u{0}é".repeat(100_000);
    for (module, compiled) in each_module() {
        for reply in [huge.as_str(), "", "}{", "cat '", "submit"] {
            let mut guest = Guest::new(compiled);
            guest.start(seed(3), ToolMode::Text).unwrap();
            let step = guest.step_text(reply);
            assert!(step.is_ok(), "{} trapped: {step:?}", module.task_id);
        }
    }
}

#[test]
fn host_mistakes_trap() {
    for (module, compiled) in each_module() {
        // `step` before `start`.
        let mut guest = Guest::new(compiled);
        assert!(guest.step_text("x").is_err(), "{}", module.task_id);

        // A length past the input buffer.
        let mut guest = Guest::new(compiled);
        let len = guest.write_input(&[0; 32]);
        assert!(guest.start.call(&mut guest.store, len + 1).is_err());

        // A negative length.
        let mut guest = Guest::new(compiled);
        assert!(guest.input.call(&mut guest.store, -1).is_err());

        // Bytes that are not a ModelReply, and trailing bytes.
        let mut guest = Guest::new(compiled);
        guest.start(seed(4), ToolMode::Text).unwrap();
        let len = guest.write_input(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(guest.step.call(&mut guest.store, len).is_err());
        let mut guest = Guest::new(compiled);
        guest.start(seed(4), ToolMode::Text).unwrap();
        let len = guest.write_input(&[0, 0, 7]);
        assert!(guest.step.call(&mut guest.store, len).is_err());

        // `step` after `Done`.
        let mut guest = Guest::new(compiled);
        guest.start(seed(5), ToolMode::Text).unwrap();
        let mut step = guest.step_text("submit flag{nope}").unwrap();
        while let Step::Say(_) = step {
            step = guest.step_text("").unwrap();
        }
        assert!(guest.step_text("x").is_err(), "{}", module.task_id);
    }
}
