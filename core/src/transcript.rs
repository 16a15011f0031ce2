//! Transcripts and the commitments that let results leave while transcripts stay.
//!
//! A task's whole behaviour is a function of (module, seed, replies), so a
//! transcript is exactly what is needed to re-execute it. Records carry only
//! a commitment: keyed blake3 under an opening key derived from a per-run
//! secret, so disclosing one transcript's opening reveals nothing of the others.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::abi::{ModelReply, Prompt};
use crate::digest::Digest;
use crate::record::TokenUsage;

/// blake3 key-derivation context of per-transcript opening keys.
pub const OPENING_CONTEXT: &str = "airlock v1 transcript opening";

/// One exchange: what the task asked and what the model replied.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Turn {
    /// The task's `Say` text or tool results.
    pub prompt: Prompt,
    /// The model's reply exactly as given to the task: text, cut flag, and
    /// tool calls with their ids and the host's verdict on each.
    pub reply: ModelReply,
    /// The tokens the server reported for this call, `None` when it reported none.
    pub usage: Option<TokenUsage>,
    /// Reasoning text the server sent beside the reply (`reasoning_content`
    /// and the like): sealed here, never shown to the task or sent back.
    pub reasoning: String,
}

impl Turn {
    /// A turn of plain text both ways, with no usage and no reasoning.
    pub fn text(say: &str, reply: &str, truncated: bool) -> Turn {
        Turn {
            prompt: Prompt::Text(say.into()),
            reply: ModelReply {
                text: reply.into(),
                truncated,
                tool_calls: Vec::new(),
            },
            usage: None,
            reasoning: String::new(),
        }
    }
}

/// The complete exchange of one task instance.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Transcript {
    /// Task id.
    pub task_id: String,
    /// Index of the task in the run's plan.
    pub plan_index: u32,
    /// Epoch.
    pub epoch: u32,
    /// Instance seed passed to `start`.
    pub seed: [u8; 32],
    /// The turns in order. A final `Say` the model never answered has no entry.
    pub turns: Vec<Turn>,
}

/// The opening key of the transcript at `plan_index`:
/// `blake3_derive_key(OPENING_CONTEXT, run_secret ‖ plan_index as u32 LE)`.
pub fn opening_key(run_secret: &[u8; 32], plan_index: u32) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(OPENING_CONTEXT);
    h.update(run_secret);
    h.update(&plan_index.to_le_bytes());
    *h.finalize().as_bytes()
}

/// `blake3_keyed(opening, postcard(transcript))`.
pub fn commitment(opening: &[u8; 32], transcript_bytes: &[u8]) -> Digest {
    Digest(*blake3::keyed_hash(opening, transcript_bytes).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_bytes_are_pinned() {
        let transcript = Transcript {
            task_id: "t".into(),
            plan_index: 1,
            epoch: 0,
            seed: [5; 32],
            turns: alloc::vec![
                Turn::text("q", "a", true),
                Turn {
                    prompt: Prompt::ToolResults(alloc::vec![crate::abi::ToolResult {
                        call_id: "c".into(),
                        content: "o".into(),
                    }]),
                    reply: ModelReply {
                        text: String::new(),
                        truncated: false,
                        tool_calls: alloc::vec![crate::abi::ToolCall {
                            id: "d".into(),
                            name: "b".into(),
                            arguments: "{}".into(),
                            problem: Some(crate::abi::ToolCallProblem::UndeclaredTool),
                        }],
                    },
                    usage: Some(TokenUsage {
                        prompt_tokens: 300,
                        completion_tokens: 7,
                    }),
                    reasoning: "r".into(),
                },
            ],
        };
        let bytes = postcard::to_allocvec(&transcript).unwrap();
        let mut expected = alloc::vec![0x01, 0x74, 0x01, 0x00];
        expected.extend_from_slice(&[5; 32]);
        // two turns; the first: Text "q", reply "a" cut, no calls, no usage, no reasoning
        expected.extend_from_slice(&[0x02, 0x00, 0x01, 0x71, 0x01, 0x61, 0x01, 0x00, 0x00, 0x00]);
        // the second: ToolResults [c: o], reply "" with one call d/b/{} undeclared,
        // usage 300 + 7, reasoning "r"
        expected.extend_from_slice(&[0x01, 0x01, 0x01, 0x63, 0x01, 0x6f]);
        expected.extend_from_slice(&[0x00, 0x00, 0x01, 0x01, 0x64, 0x01, 0x62, 0x02, 0x7b, 0x7d]);
        expected.extend_from_slice(&[0x01, 0x00, 0x01, 0xac, 0x02, 0x07, 0x01, 0x72]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn openings_differ_per_task_and_commitment_binds_bytes() {
        let secret = [3u8; 32];
        let a = opening_key(&secret, 0);
        assert_ne!(a, opening_key(&secret, 1));
        assert_ne!(commitment(&a, b"t"), commitment(&a, b"u"));
    }
}
