//! The tlog-witness `add-checkpoint` request body: `old <size>`, up to 63
//! consistency proof lines, a blank line, then the checkpoint note.
//!
//! The same bytes carry a checkpoint to a witness over HTTP or on
//! removable media. Parsing checks the syntax, that the note's body is a
//! checkpoint and that the old size is not above its size (a "400 Bad
//! Request" in the protocol); the consistency proof and signatures are
//! left to the witness, which answers those failures differently.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{self, parse_decimal, parse_hash};
use crate::note::{self, Note};
use crate::{Hash, TlogError};

/// The most consistency proof lines a client may send.
pub const MAX_CONSISTENCY: usize = 63;

/// A parsed add-checkpoint request (unverified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the previous checkpoint the witness cosigned (0 if none).
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub consistency: Vec<Hash>,
    /// The checkpoint to cosign, with its signature lines.
    pub checkpoint: Note,
}

fn malformed(line: usize, reason: impl Into<String>) -> TlogError {
    TlogError::AddCheckpointMalformed {
        line,
        reason: reason.into(),
    }
}

impl AddCheckpoint {
    /// Parses a request body; errors name the body's line.
    pub fn parse(bytes: &[u8]) -> Result<AddCheckpoint, TlogError> {
        let mut rest = bytes;
        let mut line = 0;
        let mut next = |what: &str| -> Result<(&[u8], usize), TlogError> {
            line += 1;
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                return Err(malformed(
                    line,
                    if rest.is_empty() {
                        format!("the request ends before {what}")
                    } else {
                        format!("{what} does not end in a newline")
                    },
                ));
            };
            let l = &rest[..end];
            rest = &rest[end + 1..];
            Ok((l, line))
        };
        let (old, _) = next("the old size line")?;
        let Some(old) = old.strip_prefix(b"old ") else {
            return Err(malformed(1, "the first line must be `old <size>`"));
        };
        let old_size = core::str::from_utf8(old)
            .map_err(|_| malformed(1, "the old size is not ASCII"))
            .and_then(|s| {
                parse_decimal(s).map_err(|r| malformed(1, format!("the old size {r}")))
            })?;
        let mut consistency = Vec::new();
        loop {
            let (l, n) = next("the blank line after the consistency proof")?;
            if l.is_empty() {
                break;
            }
            if consistency.len() == MAX_CONSISTENCY {
                return Err(malformed(
                    n,
                    format!("more than {MAX_CONSISTENCY} consistency proof lines"),
                ));
            }
            let s = core::str::from_utf8(l).map_err(|_| malformed(n, "not valid UTF-8"))?;
            consistency.push(
                parse_hash(s).map_err(|r| malformed(n, format!("consistency proof hash {r}")))?,
            );
        }
        let offset = line;
        let checkpoint = note::parse_inner(rest)
            .map_err(|f| malformed(offset + f.line, format!("checkpoint note: {}", f.reason)))?;
        let body = match checkpoint::parse(&checkpoint.text) {
            Ok(c) => c,
            Err(TlogError::CheckpointMalformed { line, reason }) => {
                return Err(malformed(
                    offset + line,
                    format!("checkpoint body: {reason}"),
                ));
            }
            Err(other) => return Err(malformed(offset + 1, other.to_string())),
        };
        if old_size > body.size {
            return Err(malformed(
                1,
                format!(
                    "the old size {old_size} is above the checkpoint's size {}",
                    body.size
                ),
            ));
        }
        Ok(AddCheckpoint {
            old_size,
            consistency,
            checkpoint,
        })
    }

    /// The request body's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.consistency {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint.to_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// The spec's example request body, byte for byte.
    const EXAMPLE: &str = "old 20852014\n\
        PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
        jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
        5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
        /6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
        \n\
        example.com/behind-the-sofa\n\
        20852163\n\
        CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
        \n\
        \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
        \u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

    fn err(bytes: &[u8]) -> (usize, String) {
        match AddCheckpoint::parse(bytes) {
            Err(TlogError::AddCheckpointMalformed { line, reason }) => (line, reason),
            other => panic!("expected AddCheckpointMalformed, got {other:?}"),
        }
    }

    #[test]
    fn spec_example_parses_and_round_trips() {
        let r = AddCheckpoint::parse(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(r.old_size, 20852014);
        assert_eq!(r.consistency.len(), 4);
        assert_eq!(r.consistency[3][0], 0xff);
        assert_eq!(r.checkpoint.signatures.len(), 2);
        assert!(
            r.checkpoint
                .text
                .starts_with("example.com/behind-the-sofa\n20852163\n")
        );
        assert_eq!(r.to_bytes(), EXAMPLE.as_bytes());
    }

    #[test]
    fn old_size_zero_with_no_proof_round_trips() {
        let mut r = AddCheckpoint::parse(EXAMPLE.as_bytes()).unwrap();
        r.old_size = 0;
        r.consistency.clear();
        let b = r.to_bytes();
        assert!(b.starts_with(b"old 0\n\nexample.com/"));
        assert_eq!(AddCheckpoint::parse(&b).unwrap(), r);
    }

    #[test]
    fn each_rule_is_refused_with_its_line() {
        let cases: Vec<(String, usize, &str)> = vec![
            (EXAMPLE.replacen("old ", "new ", 1), 1, "`old <size>`"),
            (
                EXAMPLE.replacen("old 20852014", "old 020852014", 1),
                1,
                "leading zero",
            ),
            (
                EXAMPLE.replacen("old 20852014", "old 20852164", 1),
                1,
                "above the checkpoint's size",
            ),
            (EXAMPLE.replacen("jrJZ", "jr!Z", 1), 3, "not base64"),
            (
                EXAMPLE.replacen("5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=", "AAAA", 1),
                4,
                "3 bytes",
            ),
            (
                EXAMPLE.replacen("\n20852163\n", "\n2085216x\n", 1),
                8,
                "checkpoint body: tree size",
            ),
            (
                EXAMPLE.replacen(
                    "\u{2014} example.com/behind-the-sofa op",
                    "- example.com/behind-the-sofa op",
                    1,
                ),
                12,
                "checkpoint note: ",
            ),
            ("old 5".into(), 1, "does not end in a newline"),
            ("old 5\n".into(), 2, "ends before the blank line"),
        ];
        for (text, line, want) in cases {
            let (l, r) = err(text.as_bytes());
            assert_eq!(l, line, "{r}");
            assert!(r.contains(want), "{r}");
        }
    }

    #[test]
    fn at_most_63_consistency_lines() {
        let h = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n";
        let ok = EXAMPLE.replacen(h, &h.repeat(60), 1);
        assert_eq!(
            AddCheckpoint::parse(ok.as_bytes())
                .unwrap()
                .consistency
                .len(),
            63
        );
        let bad = EXAMPLE.replacen(h, &h.repeat(61), 1);
        let (l, r) = err(bad.as_bytes());
        assert_eq!(l, 65);
        assert!(r.contains("more than 63"), "{r}");
    }
}
