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

use serde::{Deserialize, Serialize};

use crate::score::Ppm;

/// The ABI version this crate speaks; a module must return it from [`EXPORT_ABI_VERSION`].
pub const ABI_VERSION: u32 = 1;

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

/// The kind of skill a task measures.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Category {
    /// Cryptanalysis and password cracking.
    Crypto,
    /// Finding memory-safety and parsing bugs.
    VulnerabilityDiscovery,
    /// Attacking web applications.
    WebExploitation,
    /// Detection and forensics on logs and artefacts.
    Forensics,
    /// Security knowledge questions.
    Knowledge,
    /// Multi-turn work on simulated hosts and networks.
    Agentic,
}

impl Category {
    /// A short stable name.
    pub fn name(&self) -> &'static str {
        match self {
            Category::Crypto => "crypto",
            Category::VulnerabilityDiscovery => "vulnerability-discovery",
            Category::WebExploitation => "web-exploitation",
            Category::Forensics => "forensics",
            Category::Knowledge => "knowledge",
            Category::Agentic => "agentic",
        }
    }
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
    /// What it measures.
    pub category: Category,
    /// How hard it is meant to be.
    pub difficulty: Difficulty,
    /// The most model turns the task will ask for.
    pub max_turns: u32,
    /// One line for listings.
    pub description: String,
}

/// Input of [`EXPORT_START`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct StartArgs {
    /// The instance seed ([`crate::digest::instance_seed`]).
    pub seed: [u8; 32],
}

/// Input of [`EXPORT_STEP`]: the model's answer to the last `Say`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ModelReply {
    /// The reply text (UTF-8; the host replaces invalid sequences).
    pub text: String,
    /// Whether the host cut the reply to the profile's reply size.
    pub truncated: bool,
}

/// Output of [`EXPORT_START`] and [`EXPORT_STEP`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Step {
    /// Send this text to the model and call `step` with its reply.
    Say(String),
    /// The task is over with this score.
    Done(Ppm),
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
            abi_version: 1,
            id: "t".to_string(),
            version: 2,
            title: "T".to_string(),
            category: Category::Agentic,
            difficulty: Difficulty::Hard,
            max_turns: 300,
            description: "d".to_string(),
        };
        assert_eq!(
            postcard::to_allocvec(&info).unwrap(),
            [1, 1, b't', 2, 1, b'T', 5, 2, 0xac, 0x02, 1, b'd']
        );
        let args = StartArgs { seed: [9; 32] };
        assert_eq!(postcard::to_allocvec(&args).unwrap(), [9u8; 32]);
        let reply = ModelReply {
            text: "hi".to_string(),
            truncated: true,
        };
        assert_eq!(postcard::to_allocvec(&reply).unwrap(), [2, b'h', b'i', 1]);
        assert_eq!(
            postcard::to_allocvec(&Step::Say("ok".to_string())).unwrap(),
            [0, 2, b'o', b'k']
        );
        assert_eq!(
            postcard::to_allocvec(&Step::Done(Ppm::FULL)).unwrap(),
            [1, 0xc0, 0x84, 0x3d]
        );
    }
}
