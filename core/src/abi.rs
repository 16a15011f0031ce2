//! The task ABI: messages between a task module (guest) and the host.
//!
//! A task is a WebAssembly core module with no imports. It exports its
//! linear memory and the functions named by the `EXPORT_*` constants. Bytes
//! cross through guest memory: the host asks the guest for an input buffer
//! with [`EXPORT_INPUT`], writes a postcard-encoded message there, and calls
//! [`EXPORT_START`] or [`EXPORT_STEP`] with its length. Every output is
//! returned as a packed pointer+length ([`pack`]) to postcard bytes in guest
//! memory, which the host copies out before the next call. SPEC.md, "Task
//! ABI", is the full contract.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::score::Ppm;

/// The ABI version this crate speaks; a module returns its version from
/// [`EXPORT_ABI_VERSION`], and the host runs versions [`OLDEST_ABI_VERSION`]..=this.
pub const ABI_VERSION: u32 = 2;

/// The oldest ABI version the host still runs ([`v1`]).
pub const OLDEST_ABI_VERSION: u32 = v1::ABI_VERSION;

/// `() -> i32`: the ABI version the module speaks.
pub const EXPORT_ABI_VERSION: &str = "airlock_abi_version";
/// `(len: i32) -> i32`: a pointer to a guest buffer of at least `len` bytes for the next input.
pub const EXPORT_INPUT: &str = "airlock_input";
/// `() -> i64`: packed pointer+length of a postcard [`TaskInfo`].
pub const EXPORT_INFO: &str = "airlock_info";
/// `(len: i32) -> i64`: reads [`StartArgs`] from the input buffer; returns a packed [`Step`].
pub const EXPORT_START: &str = "airlock_start";
/// `(len: i32) -> i64`: reads a [`ModelReply`] from the input buffer; returns a packed [`Step`].
pub const EXPORT_STEP: &str = "airlock_step";
/// The exported linear memory.
pub const EXPORT_MEMORY: &str = "memory";

/// Every export a task module must have.
pub const REQUIRED_EXPORTS: [&str; 6] = [
    EXPORT_MEMORY,
    EXPORT_ABI_VERSION,
    EXPORT_INPUT,
    EXPORT_INFO,
    EXPORT_START,
    EXPORT_STEP,
];

/// Packs a guest pointer and length into the `i64` an export returns:
/// pointer in the high 32 bits, length in the low 32 bits.
pub fn pack(ptr: u32, len: u32) -> i64 {
    (((ptr as u64) << 32) | len as u64) as i64
}

/// Splits a packed `i64` into (pointer, length).
pub fn unpack(packed: i64) -> (u32, u32) {
    let bits = packed as u64;
    ((bits >> 32) as u32, bits as u32)
}

/// The kind of skill a task measures, named by the suite authority.
///
/// Categories are an open set of names (`crypto`, `reverse-engineering`,
/// `malware-analysis`, ...): 1 to 64 bytes of lowercase ASCII letters,
/// digits and inner `-`. The host refuses a module whose category is not such
/// a name ([`is_category_name`]); reports group by the name.
pub type Category = String;

/// The categories of the default suite, as names.
pub mod category {
    /// Cryptanalysis and password cracking.
    pub const CRYPTO: &str = "crypto";
    /// Finding memory-safety and parsing bugs.
    pub const VULNERABILITY_DISCOVERY: &str = "vulnerability-discovery";
    /// Attacking web applications.
    pub const WEB_EXPLOITATION: &str = "web-exploitation";
    /// Detection and forensics on logs and artefacts.
    pub const FORENSICS: &str = "forensics";
    /// Security knowledge questions.
    pub const KNOWLEDGE: &str = "knowledge";
    /// Multi-turn work on simulated hosts and networks.
    pub const AGENTIC: &str = "agentic";
}

/// Whether `name` is a valid category name: 1 to 64 bytes of `a-z`, `0-9`
/// and `-`, neither starting nor ending with `-`.
pub fn is_category_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

/// How hard a task is meant to be.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Difficulty {
    /// Solvable by a careful novice.
    Easy,
    /// Needs practitioner skill.
    Medium,
    /// Needs expert skill.
    Hard,
}

impl Difficulty {
    /// A short stable name.
    pub fn name(&self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        }
    }
}

/// A tool a task offers the model (SPEC.md, "Tools").
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The function name the model calls: 1 to 64 bytes of ASCII letters,
    /// digits, `_` and `-` (the rule of OpenAI-style servers).
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object, as JSON text, within the subset
    /// SPEC.md lists; the host checks every call against it.
    pub parameters: String,
}

/// What a task says about itself ([`EXPORT_INFO`]).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Must equal [`ABI_VERSION`].
    pub abi_version: u32,
    /// Stable identifier, e.g. `crypto-xor`.
    pub id: String,
    /// Version of the task's behaviour; bump on any change to instances or scoring.
    pub version: u32,
    /// Human title.
    pub title: String,
    /// What it measures ([`is_category_name`]).
    pub category: Category,
    /// How hard it is meant to be.
    pub difficulty: Difficulty,
    /// The most model turns the task will ask for.
    pub max_turns: u32,
    /// One line for listings.
    pub description: String,
    /// The system prompt the model is given before the first `Say`; empty for none.
    pub system_prompt: String,
    /// The tools offered to a model driven with native tool calls; empty for none.
    pub tools: Vec<ToolSpec>,
}

impl TaskInfo {
    /// The declared tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.iter().find(|t| t.name == name)
    }
}

/// How a run offers a task's tools to the model (recorded in RunStart).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ToolMode {
    /// No tools are offered; the task's text protocol is used (one command
    /// line per turn and the like), for models without function calling.
    Text,
    /// The task's tools are offered through the model's function-calling
    /// API; replies may be tool calls.
    Native,
}

impl ToolMode {
    /// A short stable name: `text` or `native`.
    pub fn name(&self) -> &'static str {
        match self {
            ToolMode::Text => "text",
            ToolMode::Native => "native",
        }
    }
}

/// Input of [`EXPORT_START`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StartArgs {
    /// The instance seed ([`crate::digest::instance_seed`]).
    pub seed: [u8; 32],
    /// Whether the model is offered the task's tools. In [`ToolMode::Text`]
    /// a reply never carries tool calls the task declared.
    pub tool_mode: ToolMode,
}

/// Why the host found a tool call unfit; the task sees the call with this
/// and answers it like any other (SPEC.md, "Tools").
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum ToolCallProblem {
    /// The task declares no tool of this name (in text mode: no tools at all).
    UndeclaredTool,
    /// The arguments are not one JSON object.
    ArgumentsNotJson,
    /// The arguments do not match the tool's schema; the text says where and how.
    ArgumentsAgainstSchema(String),
}

impl ToolCallProblem {
    /// A short stable name.
    pub fn name(&self) -> &'static str {
        match self {
            ToolCallProblem::UndeclaredTool => "undeclared-tool",
            ToolCallProblem::ArgumentsNotJson => "arguments-not-json",
            ToolCallProblem::ArgumentsAgainstSchema(_) => "arguments-against-schema",
        }
    }
}

/// One tool call of a model reply.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
// JSON readers (disclosure files) must refuse a field they do not check.
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The call id the model's server gave, which the result must name.
    pub id: String,
    /// The tool called.
    pub name: String,
    /// The arguments, as the JSON text the model wrote.
    pub arguments: String,
    /// Set by the host when the call does not fit the declared tools.
    pub problem: Option<ToolCallProblem>,
}

/// Input of [`EXPORT_STEP`]: the model's answer to the last `Say` or tool results.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
// JSON readers (disclosure files) must refuse a field they do not check.
#[serde(deny_unknown_fields)]
pub struct ModelReply {
    /// The reply text (UTF-8; the host replaces invalid sequences); may be
    /// empty beside tool calls.
    pub text: String,
    /// Whether the host cut the reply: the text or a call's arguments to the
    /// profile's reply size, or calls beyond [`MAX_TOOL_CALLS`].
    pub truncated: bool,
    /// The tool calls, in the order the model made them.
    pub tool_calls: Vec<ToolCall>,
}

/// The most tool calls of one reply a task is given; the host drops the
/// rest and marks the reply truncated.
pub const MAX_TOOL_CALLS: usize = 16;

/// The result of one tool call, as the task answers it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
// JSON readers (disclosure files) must refuse a field they do not check.
#[serde(deny_unknown_fields)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub call_id: String,
    /// What the tool printed or returned, for the model.
    pub content: String,
}

/// Output of [`EXPORT_START`] and [`EXPORT_STEP`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Step {
    /// Send this text to the model and call `step` with its reply.
    Say(String),
    /// The task is over with this score.
    Done(Ppm),
    /// The results of the last reply's tool calls, one per call, in the
    /// calls' order; allowed only right after a reply with tool calls, and
    /// the only step other than `Done` allowed there.
    ToolResults(Vec<ToolResult>),
}

/// What the model is asked in one turn: a `Say` or the results of its
/// last tool calls (the transcript's record of a turn's prompt).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Prompt {
    /// A user message.
    Text(String),
    /// One result per tool call of the previous reply.
    ToolResults(Vec<ToolResult>),
}

impl Prompt {
    /// The prompt's text: the message, or the results' contents one per line
    /// (what a text-only agent such as `echo` answers).
    pub fn plain_text(&self) -> String {
        match self {
            Prompt::Text(text) => text.clone(),
            Prompt::ToolResults(results) => {
                let mut out = String::new();
                for (i, result) in results.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(&result.content);
                }
                out
            }
        }
    }
}

/// The version 1 ABI messages that differ from version 2, so that the host
/// can still run modules built against it (SPEC.md, "Task ABI version 1").
pub mod v1 {
    use alloc::string::String;

    use serde::{Deserialize, Serialize};

    /// The version 1 ABI version number.
    pub const ABI_VERSION: u32 = 1;

    /// Version 1's closed set of categories.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
    pub enum Category {
        /// `crypto`.
        Crypto,
        /// `vulnerability-discovery`.
        VulnerabilityDiscovery,
        /// `web-exploitation`.
        WebExploitation,
        /// `forensics`.
        Forensics,
        /// `knowledge`.
        Knowledge,
        /// `agentic`.
        Agentic,
    }

    impl Category {
        /// The version 2 category name.
        pub fn name(&self) -> &'static str {
            use super::category::*;
            match self {
                Category::Crypto => CRYPTO,
                Category::VulnerabilityDiscovery => VULNERABILITY_DISCOVERY,
                Category::WebExploitation => WEB_EXPLOITATION,
                Category::Forensics => FORENSICS,
                Category::Knowledge => KNOWLEDGE,
                Category::Agentic => AGENTIC,
            }
        }
    }

    /// Version 1's `TaskInfo`: no system prompt, no tools, a closed category.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct TaskInfo {
        /// 1.
        pub abi_version: u32,
        /// Stable identifier.
        pub id: String,
        /// Version of the task's behaviour.
        pub version: u32,
        /// Human title.
        pub title: String,
        /// What it measures.
        pub category: Category,
        /// How hard it is meant to be.
        pub difficulty: super::Difficulty,
        /// The most model turns the task will ask for.
        pub max_turns: u32,
        /// One line for listings.
        pub description: String,
    }

    impl TaskInfo {
        /// The same facts as a version 2 `TaskInfo` (no prompt, no tools);
        /// `abi_version` stays 1, which is how the host knows to speak version 1.
        pub fn upgrade(self) -> super::TaskInfo {
            super::TaskInfo {
                abi_version: self.abi_version,
                id: self.id,
                version: self.version,
                title: self.title,
                category: self.category.name().into(),
                difficulty: self.difficulty,
                max_turns: self.max_turns,
                description: self.description,
                system_prompt: String::new(),
                tools: alloc::vec::Vec::new(),
            }
        }
    }

    /// Version 1's `StartArgs`: the seed alone.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct StartArgs {
        /// The instance seed.
        pub seed: [u8; 32],
    }

    /// Version 1's `ModelReply`: text only.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelReply {
        /// The reply text.
        pub text: String,
        /// Whether the host cut it.
        pub truncated: bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn pack_round_trips_extremes() {
        for (p, l) in [(0, 0), (u32::MAX, u32::MAX), (0x1234, 0xffff_0000)] {
            assert_eq!(unpack(pack(p, l)), (p, l));
        }
    }

    /// Exact bytes of each ABI message (SPEC.md, "Task ABI messages").
    #[test]
    fn abi_messages_have_pinned_bytes() {
        let info = TaskInfo {
            abi_version: 2,
            id: "t".to_string(),
            version: 2,
            title: "T".to_string(),
            category: "re".to_string(),
            difficulty: Difficulty::Hard,
            max_turns: 300,
            description: "d".to_string(),
            system_prompt: "s".to_string(),
            tools: alloc::vec![ToolSpec {
                name: "sh".to_string(),
                description: "x".to_string(),
                parameters: "{}".to_string(),
            }],
        };
        assert_eq!(
            postcard::to_allocvec(&info).unwrap(),
            [
                2, 1, b't', 2, 1, b'T', 2, b'r', b'e', 2, 0xac, 0x02, 1, b'd', 1, b's', 1, 2, b's',
                b'h', 1, b'x', 2, b'{', b'}'
            ]
        );
        let args = StartArgs {
            seed: [9; 32],
            tool_mode: ToolMode::Native,
        };
        let mut expected = alloc::vec![9u8; 32];
        expected.push(1);
        assert_eq!(postcard::to_allocvec(&args).unwrap(), expected);
        let reply = ModelReply {
            text: "hi".to_string(),
            truncated: true,
            tool_calls: alloc::vec![ToolCall {
                id: "c".to_string(),
                name: "sh".to_string(),
                arguments: "{}".to_string(),
                problem: Some(ToolCallProblem::ArgumentsAgainstSchema("p".to_string())),
            }],
        };
        assert_eq!(
            postcard::to_allocvec(&reply).unwrap(),
            [
                2, b'h', b'i', 1, 1, 1, b'c', 2, b's', b'h', 2, b'{', b'}', 1, 2, 1, b'p'
            ]
        );
        assert_eq!(
            postcard::to_allocvec(&Step::Say("ok".to_string())).unwrap(),
            [0, 2, b'o', b'k']
        );
        assert_eq!(
            postcard::to_allocvec(&Step::Done(Ppm::FULL)).unwrap(),
            [1, 0xc0, 0x84, 0x3d]
        );
        let results = alloc::vec![ToolResult {
            call_id: "c".to_string(),
            content: "ok".to_string(),
        }];
        assert_eq!(
            postcard::to_allocvec(&Step::ToolResults(results.clone())).unwrap(),
            [2, 1, 1, b'c', 2, b'o', b'k']
        );
        assert_eq!(
            postcard::to_allocvec(&Prompt::ToolResults(results)).unwrap(),
            [1, 1, 1, b'c', 2, b'o', b'k']
        );
    }

    /// Version 1's messages keep their bytes, so modules built against it run.
    #[test]
    fn version_1_messages_keep_their_bytes() {
        let info = v1::TaskInfo {
            abi_version: 1,
            id: "t".to_string(),
            version: 2,
            title: "T".to_string(),
            category: v1::Category::Agentic,
            difficulty: Difficulty::Hard,
            max_turns: 300,
            description: "d".to_string(),
        };
        let bytes = [1, 1, b't', 2, 1, b'T', 5, 2, 0xac, 0x02, 1, b'd'];
        assert_eq!(postcard::to_allocvec(&info).unwrap(), bytes);
        let upgraded = crate::decode_exact::<v1::TaskInfo>(&bytes)
            .unwrap()
            .upgrade();
        assert_eq!(upgraded.category, category::AGENTIC);
        assert_eq!(upgraded.abi_version, 1);
        assert!(upgraded.tools.is_empty() && upgraded.system_prompt.is_empty());
        let reply = v1::ModelReply {
            text: "hi".to_string(),
            truncated: true,
        };
        assert_eq!(postcard::to_allocvec(&reply).unwrap(), [2, b'h', b'i', 1]);
        let args = v1::StartArgs { seed: [9; 32] };
        assert_eq!(postcard::to_allocvec(&args).unwrap(), [9u8; 32]);
    }

    #[test]
    fn category_names_are_checked() {
        for good in ["crypto", "reverse-engineering", "a", "x86-64"] {
            assert!(is_category_name(good), "{good}");
        }
        let long = "a".repeat(65);
        for bad in ["", "-x", "x-", "Crypto", "a b", "é", long.as_str()] {
            assert!(!is_category_name(bad), "{bad}");
        }
    }
}
