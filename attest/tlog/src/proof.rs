//! The `c2sp.org/tlog-proof@v1` offline receipt: a header line, optional
//! extra data, the entry's index, its inclusion proof and the log's
//! checkpoint note (with any witness cosignatures).
//!
//! Parsing checks the syntax of every part, including that the checkpoint
//! note's body is a checkpoint; it verifies nothing. Errors say which part
//! is wrong ([`ProofPart`]) and the proof file's line.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{self, parse_decimal, parse_hash};
use crate::note::{self, Note};
use crate::{Hash, TlogError};

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most inclusion proof lines read: a tree of fewer than 2^64 leaves
/// has no longer path.
pub const MAX_INCLUSION: usize = 64;

/// A parsed tlog proof (unverified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The decoded `extra` data, not authenticated; `None` when the line is
    /// absent. `Some` of no bytes is written as no line (the specification
    /// omits the line when there is no extra data).
    pub extra: Option<Vec<u8>>,
    /// The zero-based index of the entry in the log.
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up to the root's child.
    pub inclusion: Vec<Hash>,
    /// The log's checkpoint, with its signature lines.
    pub checkpoint: Note,
}

/// The part of a tlog proof an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProofPart {
    /// The `c2sp.org/tlog-proof@v1` line.
    Header,
    /// The optional `extra <base64>` line.
    Extra,
    /// The `index <n>` line.
    Index,
    /// The inclusion proof hash lines and the blank line after them.
    Inclusion,
    /// The checkpoint note's body (origin, size, root, extensions).
    Checkpoint,
    /// The checkpoint note's signature lines.
    Signature,
}

impl fmt::Display for ProofPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProofPart::Header => "the header line",
            ProofPart::Extra => "the extra line",
            ProofPart::Index => "the index line",
            ProofPart::Inclusion => "the inclusion proof",
            ProofPart::Checkpoint => "the checkpoint body",
            ProofPart::Signature => "a signature line",
        })
    }
}

fn malformed(part: ProofPart, line: usize, reason: impl Into<String>) -> TlogError {
    TlogError::ProofMalformed {
        part,
        line,
        reason: reason.into(),
    }
}

/// Reads newline-terminated lines, counting them.
struct Lines<'a> {
    rest: &'a [u8],
    line: usize,
}

impl<'a> Lines<'a> {
    /// The next line without its newline, or why there is none.
    fn next(&mut self, part: ProofPart, what: &str) -> Result<&'a str, TlogError> {
        self.line += 1;
        let Some(end) = self.rest.iter().position(|&b| b == b'\n') else {
            let reason = if self.rest.is_empty() {
                format!("the proof ends before {what}")
            } else {
                format!("{what} does not end in a newline")
            };
            return Err(malformed(part, self.line, reason));
        };
        let raw = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        core::str::from_utf8(raw).map_err(|_| malformed(part, self.line, "not valid UTF-8"))
    }

    fn peek_starts_with(&self, prefix: &[u8]) -> bool {
        self.rest.starts_with(prefix)
    }
}

/// Parses a tlog proof.
pub fn parse(bytes: &[u8]) -> Result<TlogProof, TlogError> {
    let mut lines = Lines {
        rest: bytes,
        line: 0,
    };
    let header = lines.next(ProofPart::Header, "the header line")?;
    if header != HEADER {
        return Err(malformed(
            ProofPart::Header,
            1,
            format!("the first line must be {HEADER:?}"),
        ));
    }
    let mut line = lines.next(ProofPart::Index, "the index line")?;
    let mut extra = None;
    if let Some(b64) = line.strip_prefix("extra ") {
        if b64.is_empty() {
            return Err(malformed(
                ProofPart::Extra,
                2,
                "the extra line has no data (the line is omitted when there is none)",
            ));
        }
        let data = B64
            .decode(b64)
            .map_err(|_| malformed(ProofPart::Extra, 2, "the extra data is not base64"))?;
        extra = Some(data);
        line = lines.next(ProofPart::Index, "the index line")?;
    } else if !line.starts_with("index ") && lines.peek_starts_with(b"index ") {
        // An index line follows, so this line was meant as the extra line.
        return Err(malformed(
            ProofPart::Extra,
            2,
            "the line before the index line must be `extra <base64>`",
        ));
    }
    let index_line = lines.line;
    let Some(index) = line.strip_prefix("index ") else {
        return Err(malformed(
            ProofPart::Index,
            index_line,
            "expected `index <n>`",
        ));
    };
    let index = parse_decimal(index)
        .map_err(|r| malformed(ProofPart::Index, index_line, format!("the index {r}")))?;
    let mut inclusion = Vec::new();
    loop {
        let l = lines.next(
            ProofPart::Inclusion,
            "the blank line after the inclusion proof",
        )?;
        if l.is_empty() {
            break;
        }
        if inclusion.len() == MAX_INCLUSION {
            return Err(malformed(
                ProofPart::Inclusion,
                lines.line,
                format!("more than {MAX_INCLUSION} inclusion proof hashes"),
            ));
        }
        let h = parse_hash(l).map_err(|r| malformed(ProofPart::Inclusion, lines.line, r))?;
        inclusion.push(h);
    }
    let offset = lines.line;
    let checkpoint = note::parse_inner(lines.rest).map_err(|f| {
        let part = if f.in_signatures {
            ProofPart::Signature
        } else {
            ProofPart::Checkpoint
        };
        malformed(part, offset + f.line, f.reason)
    })?;
    if let Err(e) = checkpoint::parse(&checkpoint.text) {
        let (line, reason) = match e {
            TlogError::CheckpointMalformed { line, reason } => (line, reason),
            other => (1, other.to_string()),
        };
        return Err(malformed(ProofPart::Checkpoint, offset + line, reason));
    }
    Ok(TlogProof {
        extra,
        index,
        inclusion,
        checkpoint,
    })
}

impl TlogProof {
    /// The proof file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        s.push_str(HEADER);
        s.push('\n');
        if let Some(extra) = self.extra.as_deref().filter(|e| !e.is_empty()) {
            s.push_str("extra ");
            s.push_str(&B64.encode(extra));
            s.push('\n');
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.inclusion {
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
    use crate::cosignature;
    use crate::note::tests::{keypair, signer};
    use crate::note::{ALG_COSIGNATURE_V1, ALG_ED25519, VerifierKey};

    /// The spec's example, with real signatures in place of its elided
    /// ones (`hI2DJw[...]1roloI=` cannot be decoded).
    fn example() -> (Vec<u8>, VerifierKey, VerifierKey) {
        let body = "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n";
        let (lk, lp) = keypair(11);
        let (wk, wp) = keypair(12);
        let log = note::sign_ed25519(body, "example.com/fancylog", &lp, signer(&lk)).unwrap();
        let wit =
            cosignature::sign(body, "witness1.example", &wp, 1_700_000_000, signer(&wk)).unwrap();
        let text = format!(
            "c2sp.org/tlog-proof@v1\n\
             extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n\
             index 73894\n\
             gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
             B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\
             EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n\
             RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n\
             AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n\
             \n\
             {body}\n{}{}",
            log.to_line(),
            wit.to_line()
        );
        (
            text.into_bytes(),
            VerifierKey::new("example.com/fancylog", ALG_ED25519, &lp).unwrap(),
            VerifierKey::new("witness1.example", ALG_COSIGNATURE_V1, &wp).unwrap(),
        )
    }

    fn err(bytes: &[u8]) -> (ProofPart, usize, String) {
        match parse(bytes) {
            Err(TlogError::ProofMalformed { part, line, reason }) => (part, line, reason),
            other => panic!("expected ProofMalformed, got {other:?}"),
        }
    }

    #[test]
    fn spec_example_structure_parses_and_round_trips() {
        let (bytes, log, wit) = example();
        let p = parse(&bytes).unwrap();
        assert_eq!(p.extra.as_deref().unwrap()[..6], *b"age-v1");
        assert_eq!(p.index, 73894);
        assert_eq!(p.inclusion.len(), 5);
        assert_eq!(p.inclusion[0][..2], [0x81, 0x22]);
        assert_eq!(p.checkpoint.signatures.len(), 2);
        assert_eq!(log.verify(&p.checkpoint), Ok(None));
        assert_eq!(wit.verify(&p.checkpoint), Ok(Some(1_700_000_000)));
        assert_eq!(p.to_bytes(), bytes);
    }

    #[test]
    fn without_extra_and_with_an_empty_proof() {
        let (bytes, _, _) = example();
        let mut p = parse(&bytes).unwrap();
        p.extra = None;
        p.inclusion.clear();
        p.index = 0;
        let b = p.to_bytes();
        assert!(b.starts_with(b"c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/fancylog\n"));
        assert_eq!(parse(&b).unwrap(), p);
        // Some(empty) has no line to write, so it reads back as None.
        p.extra = Some(Vec::new());
        assert_eq!(parse(&p.to_bytes()).unwrap().extra, None);
    }

    /// Replaces the first occurrence of `from` (on line `line`) by `to`.
    fn alter(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
        let s = core::str::from_utf8(bytes).unwrap();
        assert!(s.contains(from), "{from:?}");
        s.replacen(from, to, 1).into_bytes()
    }

    #[test]
    fn one_altered_byte_in_each_part_names_that_part() {
        let (b, _, _) = example();
        let cases: Vec<(Vec<u8>, ProofPart, usize)> = vec![
            (alter(&b, "proof@v1", "proof@v2"), ProofPart::Header, 1),
            (alter(&b, "extra ", "extrA "), ProofPart::Extra, 2),
            (alter(&b, "YWdl", "YWd!"), ProofPart::Extra, 2),
            (alter(&b, "index ", "indeX "), ProofPart::Index, 3),
            (alter(&b, "73894", "7389x"), ProofPart::Index, 3),
            (alter(&b, "B95lDa8R", "B95lDa8!"), ProofPart::Inclusion, 5),
            (
                alter(&b, "AHCioX9n", "AHCioX9\u{7}"),
                ProofPart::Inclusion,
                8,
            ),
            (alter(&b, "vk=\n\n", "vk=\nx\n"), ProofPart::Inclusion, 9),
            (
                alter(&b, "\n109482\n", "\n1094x2\n"),
                ProofPart::Checkpoint,
                11,
            ),
            (alter(&b, "sFodV", "sFod!"), ProofPart::Checkpoint, 12),
            (
                alter(&b, "fancylog\n109482", "fancylog\u{1}\n109482"),
                ProofPart::Checkpoint,
                10,
            ),
            (
                alter(
                    &b,
                    "\u{2014} example.com/fancylog",
                    "- example.com/fancylog",
                ),
                ProofPart::Signature,
                14,
            ),
            (
                alter(&b, "\u{2014} witness1", "\u{2014} witness\u{1}"),
                ProofPart::Signature,
                15,
            ),
        ];
        for (bytes, part, line) in cases {
            let (p, l, r) = err(&bytes);
            assert_eq!((p, l), (part, line), "{r}");
            let msg = parse(&bytes).unwrap_err().to_string();
            assert!(msg.contains(&part.to_string()), "{msg}");
            assert!(msg.contains(&format!("line {line}")), "{msg}");
        }
    }

    #[test]
    fn an_invalid_utf8_byte_in_a_signature_names_the_signature_line() {
        let (mut b, _, _) = example();
        let at = b.len() - 10;
        b[at] = 0xff;
        let (p, l, _) = err(&b);
        assert_eq!((p, l), (ProofPart::Signature, 15));
    }

    #[test]
    fn truncations_name_the_part_that_is_cut() {
        let (b, _, _) = example();
        assert_eq!(err(b"").0, ProofPart::Header);
        assert_eq!(err(b"c2sp.org/tlog-proof@v1").0, ProofPart::Header);
        assert_eq!(err(b"c2sp.org/tlog-proof@v1\n").0, ProofPart::Index);
        assert_eq!(
            err(b"c2sp.org/tlog-proof@v1\nindex 1\n").0,
            ProofPart::Inclusion
        );
        assert_eq!(
            err(b"c2sp.org/tlog-proof@v1\nindex 01\n\n").0,
            ProofPart::Index
        );
        assert_eq!(
            err(b"c2sp.org/tlog-proof@v1\nextra \nindex 1\n").0,
            ProofPart::Extra
        );
        let cut = &b[..b.len() - 1];
        assert_eq!(err(cut).0, ProofPart::Signature);
        let s = core::str::from_utf8(&b).unwrap();
        let body_end = s.find("EQi08=\n").unwrap() + 7;
        assert_eq!(err(&b[..body_end]).0, ProofPart::Checkpoint);
    }

    #[test]
    fn more_than_64_inclusion_hashes_are_refused() {
        let (b, _, _) = example();
        let h = "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n";
        let many = alter(
            &b,
            "index 73894\n",
            &format!("index 73894\n{}", h.repeat(60)),
        );
        let (p, l, r) = err(&many);
        assert_eq!((p, l), (ProofPart::Inclusion, 4 + 64));
        assert!(r.contains("more than 64"), "{r}");
    }
}
