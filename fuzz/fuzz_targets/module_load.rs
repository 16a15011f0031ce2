//! Task modules: any bytes are screened, compiled and probed by the
//! sandbox, and a module that loads is run to its end against a model that
//! echoes. Whatever the module does, the runner gets a load error or an
//! outcome within the limits, never a panic.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use airlock_core::Ppm;
use airlock_core::abi::{Prompt, StartArgs, ToolCall, ToolMode};
use airlock_core::outcome::{ModelErrorKind, Outcome};
use airlock_sandbox::{Conversation, Reply, Sandbox, SandboxLimits};
use libfuzzer_sys::fuzz_target;

/// Small limits, so that every bomb goes off within milliseconds.
fn limits() -> SandboxLimits {
    SandboxLimits {
        fuel_per_task: 1_000_000,
        memory_bytes: 1 << 20,
        max_wasm_stack_bytes: 64 * 1024,
        max_message_bytes: 4096,
        max_reply_bytes: 64,
        max_module_bytes: 64 * 1024,
        max_turns: 4,
        wall_clock_backstop: Duration::from_secs(5),
        max_instances: 2,
        max_table_elements: 1000,
        tokens: airlock_sandbox::TokenBudget::default(),
    }
}

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| match Sandbox::new(limits()) {
        Ok(sandbox) => sandbox,
        Err(error) => panic!("the fuzz sandbox's own limits are refused: {error}"),
    })
}

/// A model that answers each prompt with it reversed, twice over (long
/// enough to be cut at the reply limit), and a tool call whose name is the
/// prompt's first word and whose arguments are the prompt, so the host's
/// check of calls sees whatever the module declared and said.
struct Echo;

impl Conversation for Echo {
    fn reply(&mut self, prompt: &Prompt) -> Result<Reply, ModelErrorKind> {
        let say = prompt.plain_text();
        let reversed: String = say.chars().rev().collect();
        let name = say.split_whitespace().next().unwrap_or("bash").to_owned();
        Ok(Reply {
            text: reversed.repeat(2),
            tool_calls: vec![ToolCall {
                id: "call-1".into(),
                name,
                arguments: say,
                problem: None,
            }],
            usage: None,
            reasoning: String::new(),
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let sandbox = sandbox();
    let Ok(task) = sandbox.load(data) else {
        return;
    };
    let start = StartArgs {
        seed: [7; 32],
        tool_mode: ToolMode::Native,
    };
    let run = sandbox.run(&task, &start, &mut Echo);
    let limits = sandbox.limits();
    assert!(run.fuel_consumed <= limits.fuel_per_task);
    assert!(run.turns.len() <= limits.max_turns as usize);
    assert!(run.peak_memory_bytes <= limits.memory_bytes);
    assert!(
        run.turns
            .iter()
            .all(|t| t.reply.text.len() <= limits.max_reply_bytes as usize)
    );
    if run.outcome != Outcome::Done {
        assert_eq!(run.score, Ppm::ZERO);
    }
    assert!(run.score.is_valid());
});
