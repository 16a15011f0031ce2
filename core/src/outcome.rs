//! How a task ended. Every way is distinct and recorded; none stops a run.

use core::fmt;

use serde::{Deserialize, Serialize};

/// How one task instance ended. The postcard encoding is the variant index
/// as a varint, followed by the variant's fields (SPEC.md, "Outcome").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Outcome {
    /// The task returned `Done`; its score is the one recorded.
    Done,
    /// The task used up its fuel (deterministic CPU budget).
    OutOfFuel,
    /// The task asked for more memory than its sandbox may have.
    MemoryLimit,
    /// The task exceeded its WebAssembly stack.
    StackOverflow,
    /// The task trapped for another reason.
    Trap(TrapKind),
    /// The task broke the guest/host ABI.
    AbiViolation(AbiViolation),
    /// The wall-clock backstop fired (not deterministic: a host fault, not a task fault).
    WallClockTimeout,
    /// The model (agent) failed to answer.
    ModelError(ModelErrorKind),
    /// The task still wanted to talk after its maximum number of turns.
    TurnLimit,
    /// The model's calls used more tokens than the profile's per-task budget
    /// (as the server reported them).
    TokenLimit,
}

impl Outcome {
    /// A short stable name, used in tables and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::OutOfFuel => "out-of-fuel",
            Outcome::MemoryLimit => "memory-limit",
            Outcome::StackOverflow => "stack-overflow",
            Outcome::Trap(_) => "trap",
            Outcome::AbiViolation(_) => "abi-violation",
            Outcome::WallClockTimeout => "wall-clock-timeout",
            Outcome::ModelError(_) => "model-error",
            Outcome::TurnLimit => "turn-limit",
            Outcome::TokenLimit => "token-limit",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Trap(kind) => write!(f, "trap ({})", kind.name()),
            Outcome::AbiViolation(kind) => write!(f, "abi-violation ({})", kind.name()),
            Outcome::ModelError(kind) => write!(f, "model-error ({})", kind.name()),
            other => f.write_str(other.name()),
        }
    }
}

/// Why a task trapped (other than fuel, memory and stack, which have their own outcomes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum TrapKind {
    /// An `unreachable` instruction: how a Rust guest's panic ends.
    Unreachable,
    /// A load or store outside linear memory.
    MemoryOutOfBounds,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// Integer overflow in a division.
    IntegerOverflow,
    /// A float that does not fit the integer type it was converted to.
    BadConversionToInteger,
    /// An indirect call through a null table entry.
    IndirectCallToNull,
    /// An indirect call whose signature did not match.
    BadSignature,
    /// A table access out of bounds.
    TableOutOfBounds,
    /// A trap not listed above.
    Other,
}

impl TrapKind {
    /// A short stable name.
    pub fn name(&self) -> &'static str {
        match self {
            TrapKind::Unreachable => "unreachable",
            TrapKind::MemoryOutOfBounds => "memory-out-of-bounds",
            TrapKind::IntegerDivisionByZero => "integer-division-by-zero",
            TrapKind::IntegerOverflow => "integer-overflow",
            TrapKind::BadConversionToInteger => "bad-conversion-to-integer",
            TrapKind::IndirectCallToNull => "indirect-call-to-null",
            TrapKind::BadSignature => "bad-signature",
            TrapKind::TableOutOfBounds => "table-out-of-bounds",
            TrapKind::Other => "other",
        }
    }
}

/// How a task broke the ABI (SPEC.md, "Task ABI").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum AbiViolation {
    /// An output pointer+length reached outside linear memory or overflowed.
    OutputOutOfBounds,
    /// An output was longer than the profile's message size.
    OutputTooLarge,
    /// An output did not decode as the expected message.
    UndecodableOutput,
    /// The input buffer the task returned was outside memory or too small.
    BadInputBuffer,
    /// The task declared a different ABI version than the host speaks.
    WrongAbiVersion,
    /// The task's `info` differed from the one it was planned with.
    InfoMismatch,
    /// The task returned a score above full credit.
    ScoreOutOfRange,
    /// The task's tool results did not answer the last reply's tool calls
    /// one for one, in order, by id (or came when there were no calls), or
    /// it said something else while calls were unanswered.
    ToolResultsMismatch,
}

impl AbiViolation {
    /// A short stable name.
    pub fn name(&self) -> &'static str {
        match self {
            AbiViolation::OutputOutOfBounds => "output-out-of-bounds",
            AbiViolation::OutputTooLarge => "output-too-large",
            AbiViolation::UndecodableOutput => "undecodable-output",
            AbiViolation::BadInputBuffer => "bad-input-buffer",
            AbiViolation::WrongAbiVersion => "wrong-abi-version",
            AbiViolation::InfoMismatch => "info-mismatch",
            AbiViolation::ScoreOutOfRange => "score-out-of-range",
            AbiViolation::ToolResultsMismatch => "tool-results-mismatch",
        }
    }
}

/// Why the model (agent) failed to answer a turn.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ModelErrorKind {
    /// No reply within the profile's model-call timeout.
    Timeout,
    /// The connection or process failed.
    Transport,
    /// The server answered with an error status.
    ServerError,
    /// The reply could not be parsed.
    MalformedReply,
    /// The agent has no answer for this task (e.g. no reference solver).
    Unsupported,
    /// The server refused a request because it offered tools (a client
    /// error status to a request with `tools`): it does not do function
    /// calling; run with `--tool-mode text`.
    ToolsRefused,
}

impl ModelErrorKind {
    /// A short stable name.
    pub fn name(&self) -> &'static str {
        match self {
            ModelErrorKind::Timeout => "timeout",
            ModelErrorKind::Transport => "transport",
            ModelErrorKind::ServerError => "server-error",
            ModelErrorKind::MalformedReply => "malformed-reply",
            ModelErrorKind::Unsupported => "unsupported",
            ModelErrorKind::ToolsRefused => "tools-refused",
        }
    }
}
