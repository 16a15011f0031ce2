//! The C2SP tlog-checkpoint note body: origin, tree size and root hash,
//! then optional extension lines.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::note;
use crate::{Hash, TlogError};

/// A checkpoint body: a log's signed tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The origin line: the log's identity.
    pub origin: String,
    /// The number of leaves in the tree.
    pub size: u64,
    /// The RFC 6962 Merkle root at that size.
    pub root: Hash,
    /// Extension lines (without newlines), opaque and non-empty.
    pub extensions: Vec<String>,
}

fn malformed(line: usize, reason: impl Into<String>) -> TlogError {
    TlogError::CheckpointMalformed {
        line,
        reason: reason.into(),
    }
}

/// Parses an ASCII decimal with no leading zeroes (`0` itself allowed).
pub(crate) fn parse_decimal(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a decimal number"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(format!("{s:?} has a leading zero"));
    }
    s.parse::<u64>()
        .map_err(|_| format!("{s:?} does not fit in 64 bits"))
}

/// Decodes one base64 SHA-256 hash (strict, canonical base64).
pub(crate) fn parse_hash(s: &str) -> Result<Hash, String> {
    let raw = B64.decode(s).map_err(|_| format!("{s:?} is not base64"))?;
    raw.as_slice()
        .try_into()
        .map_err(|_| format!("the hash is {} bytes, not 32", raw.len()))
}

/// Parses a checkpoint from a note text (which ends in a newline).
///
/// Errors name the checkpoint line (line 1 is the origin).
pub fn parse(text: &str) -> Result<Checkpoint, TlogError> {
    if let Some((line, reason)) = note::text_fault(text) {
        return Err(malformed(line, reason));
    }
    // text_fault guarantees the final newline, so the last piece is empty.
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines.pop();
    if let Some(i) = lines.iter().position(|l| l.is_empty()) {
        return Err(malformed(
            i + 1,
            "empty line (every checkpoint line is non-empty)",
        ));
    }
    let [origin, size, root, extensions @ ..] = lines.as_slice() else {
        return Err(malformed(
            lines.len() + 1,
            "missing line: a checkpoint has an origin, a tree size and a root hash line",
        ));
    };
    let size = parse_decimal(size).map_err(|r| malformed(2, format!("tree size {r}")))?;
    let root = parse_hash(root).map_err(|r| malformed(3, format!("root hash {r}")))?;
    Ok(Checkpoint {
        origin: (*origin).into(),
        size,
        root,
        extensions: extensions.iter().map(|&e| e.into()).collect(),
    })
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, then each extension line,
    /// every line ending in a newline.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const SOFA: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn err(text: &str) -> (usize, String) {
        match parse(text) {
            Err(TlogError::CheckpointMalformed { line, reason }) => (line, reason),
            other => panic!("expected CheckpointMalformed for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn spec_example_parses_and_round_trips() {
        let c = parse(SOFA).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20852163);
        assert_eq!(c.root[..4], [0x0a, 0xc5, 0x18, 0x6a]);
        assert!(c.extensions.is_empty());
        assert_eq!(c.to_text(), SOFA);
    }

    #[test]
    fn the_spec_examples_signed_note_body_is_this_checkpoint() {
        let note = format!(
            "{SOFA}\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        );
        let n = note::parse(note.as_bytes()).unwrap();
        assert_eq!(parse(&n.text).unwrap().to_text(), SOFA);
    }

    #[test]
    fn extensions_and_size_zero_round_trip() {
        let text = "o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next one\next two\n";
        let c = parse(text).unwrap();
        assert_eq!(c.size, 0);
        assert_eq!(c.extensions, ["ext one", "ext two"]);
        assert_eq!(c.to_text(), text);
    }

    #[test]
    fn each_rule_is_refused_with_its_line() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases: Vec<(String, usize, &str)> = vec![
            (format!("o\n1\n{root}"), 3, "does not end in a newline"),
            (format!("\n1\n{root}\n"), 1, "empty line"),
            (format!("o\n1\n{root}\n\nx\n"), 4, "empty line"),
            ("o\n1\n".into(), 3, "missing line"),
            (format!("o\n01\n{root}\n"), 2, "leading zero"),
            (format!("o\n+1\n{root}\n"), 2, "not a decimal"),
            (format!("o\n 1\n{root}\n"), 2, "not a decimal"),
            (format!("o\n18446744073709551616\n{root}\n"), 2, "64 bits"),
            ("o\n1\nAAAA\n".into(), 3, "3 bytes, not 32"),
            ("o\n1\nnot base64!\n".into(), 3, "not base64"),
            (format!("o\tx\n1\n{root}\n"), 1, "U+0009"),
            (format!("o\n1\n{root}\r\n"), 3, "U+000D"),
        ];
        for (text, line, want) in cases {
            let (l, r) = err(&text);
            assert_eq!(l, line, "{text:?}: {r}");
            assert!(r.contains(want), "{text:?}: {r}");
        }
    }
}
