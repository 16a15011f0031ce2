//! C2SP tlog-policy files: the logs and witnesses a verifier trusts and the
//! quorum of cosignatures a checkpoint needs.
//!
//! The file is octets: only tab, newline, 0x20-0x7E and 0x80-0xFF are
//! allowed, items are separated by runs of spaces and tabs, and names are
//! compared as opaque octet strings (a name that is not UTF-8 is shown
//! lossily in messages and verdicts, but never compared that way).
//!
//! Log keys must be signature type 0x01 (Ed25519 checkpoint signatures)
//! and witness keys type 0x04 (`cosignature/v1`), the only types this
//! crate verifies.

use std::collections::HashMap;

use crate::TlogError;
use crate::checkpoint::{self, Checkpoint};
use crate::note::{ALG_COSIGNATURE_V1, ALG_ED25519, Note, VerifierKey};

/// The predefined quorum name that needs no cosignature.
const NONE: &[u8] = b"none";

/// A witness of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// The witness's name in the policy (opaque octets).
    pub name: Vec<u8>,
    /// Its cosignature (type 0x04) verifier key.
    pub key: VerifierKey,
    /// Its optional URL (opaque octets).
    pub url: Option<Vec<u8>>,
}

impl PolicyWitness {
    /// The name as text, for messages.
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// A member of a group, or the quorum: a witness or an earlier group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Witness(usize),
    Group(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    name: Vec<u8>,
    threshold: usize,
    members: Vec<Member>,
}

/// A parsed tlog policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<VerifierKey>,
    log_urls: Vec<Option<Vec<u8>>>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<Group>,
    /// `None` is `quorum none`.
    quorum: Option<Member>,
}

/// What [`Policy::check`] found: the checkpoint, the log that signed it and
/// the listed witnesses whose cosignatures verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVerdict {
    /// The checkpoint body.
    pub checkpoint: Checkpoint,
    /// The log's key name (its origin).
    pub log: String,
    /// Each listed witness that cosigned, by policy name, with its
    /// cosignature timestamp, in the policy's order.
    pub cosigned_by: Vec<(String, u64)>,
}

fn malformed(line: usize, reason: impl Into<String>) -> TlogError {
    TlogError::PolicyMalformed {
        line,
        reason: reason.into(),
    }
}

fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn allowed_octet(b: u8) -> bool {
    matches!(b, 0x09 | 0x0a | 0x20..=0x7e | 0x80..=0xff)
}

fn parse_vkey(line: usize, token: &[u8], role: &str, alg: u8) -> Result<VerifierKey, TlogError> {
    let s = core::str::from_utf8(token)
        .map_err(|_| malformed(line, format!("the {role} vkey is not UTF-8")))?;
    let key = VerifierKey::parse(s).map_err(|e| malformed(line, format!("the {role} {e}")))?;
    if key.alg != alg {
        return Err(malformed(
            line,
            format!(
                "the {role} key has signature type 0x{:02x}, not 0x{alg:02x}",
                key.alg
            ),
        ));
    }
    Ok(key)
}

/// Parses a policy file; errors name the line.
pub fn parse(bytes: &[u8]) -> Result<Policy, TlogError> {
    if let Some(at) = bytes.iter().position(|&b| !allowed_octet(b)) {
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        return Err(malformed(
            line,
            format!(
                "octet 0x{:02x} is not allowed (only tab, newline, 0x20-0x7e and 0x80-0xff)",
                bytes[at]
            ),
        ));
    }
    let mut pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // The piece after the final newline is empty; anything else there is
    // a line without its newline.
    if pieces.last().is_some_and(|l| !l.is_empty()) {
        return Err(malformed(
            pieces.len(),
            "the last line does not end in a newline",
        ));
    }
    pieces.pop();

    let mut p = Policy {
        logs: Vec::new(),
        log_urls: Vec::new(),
        witnesses: Vec::new(),
        groups: Vec::new(),
        quorum: None,
    };
    let mut log_lines: Vec<usize> = Vec::new();
    let mut witness_lines: Vec<usize> = Vec::new();
    let mut names: HashMap<Vec<u8>, (Member, usize)> = HashMap::new();
    let mut quorum_line: Option<usize> = None;

    let define = |names: &HashMap<Vec<u8>, (Member, usize)>, line: usize, name: &[u8]| {
        if name == NONE {
            return Err(malformed(
                line,
                "the name `none` is predefined and cannot be defined",
            ));
        }
        if let Some((_, first)) = names.get(name) {
            return Err(malformed(
                line,
                format!(
                    "the name {:?} is already defined on line {first}",
                    show(name)
                ),
            ));
        }
        Ok(())
    };

    for (i, raw) in pieces.iter().enumerate() {
        let line = i + 1;
        let tokens: Vec<&[u8]> = raw
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty())
            .collect();
        let Some(&keyword) = tokens.first() else {
            continue;
        };
        if keyword.starts_with(b"#") {
            continue;
        }
        match keyword {
            b"log" => {
                if !(2..=3).contains(&tokens.len()) {
                    return Err(malformed(line, "expected `log <vkey> [<url>]`"));
                }
                let key = parse_vkey(line, tokens[1], "log", ALG_ED25519)?;
                if let Some(j) = p.logs.iter().position(|k| k.public == key.public) {
                    return Err(malformed(
                        line,
                        format!(
                            "duplicate log: the same public key as the log on line {}",
                            log_lines[j]
                        ),
                    ));
                }
                p.logs.push(key);
                p.log_urls.push(tokens.get(2).map(|u| u.to_vec()));
                log_lines.push(line);
            }
            b"witness" => {
                if !(3..=4).contains(&tokens.len()) {
                    return Err(malformed(line, "expected `witness <name> <vkey> [<url>]`"));
                }
                let name = tokens[1];
                define(&names, line, name)?;
                let key = parse_vkey(line, tokens[2], "witness", ALG_COSIGNATURE_V1)?;
                if let Some(j) = p.witnesses.iter().position(|w| w.key.public == key.public) {
                    return Err(malformed(
                        line,
                        format!(
                            "duplicate witness: the same public key as witness {:?} on line {}",
                            p.witnesses[j].display_name(),
                            witness_lines[j]
                        ),
                    ));
                }
                names.insert(name.to_vec(), (Member::Witness(p.witnesses.len()), line));
                p.witnesses.push(PolicyWitness {
                    name: name.to_vec(),
                    key,
                    url: tokens.get(3).map(|u| u.to_vec()),
                });
                witness_lines.push(line);
            }
            b"group" => {
                if tokens.len() < 4 {
                    return Err(malformed(
                        line,
                        "expected `group <name> all|any|<k> <name>...` with at least one member",
                    ));
                }
                let name = tokens[1];
                define(&names, line, name)?;
                let listed = &tokens[3..];
                let mut members = Vec::with_capacity(listed.len());
                for (j, &m) in listed.iter().enumerate() {
                    if m == NONE {
                        return Err(malformed(line, "`none` cannot be a group member"));
                    }
                    let Some(&(member, _)) = names.get(m) else {
                        return Err(malformed(
                            line,
                            format!(
                                "group member {:?} is not defined on a preceding line",
                                show(m)
                            ),
                        ));
                    };
                    if listed[..j].contains(&m) {
                        return Err(malformed(
                            line,
                            format!("group member {:?} is listed twice", show(m)),
                        ));
                    }
                    members.push(member);
                }
                let n = members.len();
                let threshold = match tokens[2] {
                    b"all" => n,
                    b"any" => 1,
                    k => {
                        let k = core::str::from_utf8(k)
                            .ok()
                            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                            .and_then(|s| s.parse::<usize>().ok())
                            .ok_or_else(|| {
                                malformed(
                                    line,
                                    format!(
                                        "the threshold {:?} is not `all`, `any` or a decimal number",
                                        show(k)
                                    ),
                                )
                            })?;
                        if k < 1 || k > n {
                            return Err(malformed(
                                line,
                                format!("the threshold {k} is not between 1 and the {n} members"),
                            ));
                        }
                        k
                    }
                };
                names.insert(name.to_vec(), (Member::Group(p.groups.len()), line));
                p.groups.push(Group {
                    name: name.to_vec(),
                    threshold,
                    members,
                });
            }
            b"quorum" => {
                if tokens.len() != 2 {
                    return Err(malformed(line, "expected `quorum <name>`"));
                }
                if let Some(first) = quorum_line {
                    return Err(malformed(
                        line,
                        format!("a second quorum line (the first is line {first})"),
                    ));
                }
                let name = tokens[1];
                p.quorum = if name == NONE {
                    None
                } else {
                    let Some(&(member, _)) = names.get(name) else {
                        return Err(malformed(
                            line,
                            format!(
                                "the quorum {:?} is not defined on a preceding line",
                                show(name)
                            ),
                        ));
                    };
                    Some(member)
                };
                quorum_line = Some(line);
            }
            other => {
                return Err(malformed(
                    line,
                    format!(
                        "unknown line type {:?} (expected log, witness, group or quorum)",
                        show(other)
                    ),
                ));
            }
        }
    }
    if quorum_line.is_none() {
        return Err(malformed(
            pieces.len().max(1),
            "the policy has no quorum line",
        ));
    }
    Ok(p)
}

impl Policy {
    /// The listed logs' keys, in file order.
    pub fn logs(&self) -> &[VerifierKey] {
        &self.logs
    }

    /// The listed logs' URLs, parallel to [`Policy::logs`].
    pub fn log_urls(&self) -> &[Option<Vec<u8>>] {
        &self.log_urls
    }

    /// The listed witnesses, in file order.
    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }

    /// The first listed log whose key name is `origin`.
    pub fn log_for_origin(&self, origin: &str) -> Option<&VerifierKey> {
        self.logs.iter().find(|k| k.name == origin)
    }

    /// Checks a checkpoint note against the policy: its body must be a
    /// checkpoint, a listed log named by its origin must have signed it,
    /// every cosignature line of a listed witness must verify, and the
    /// witnesses that cosigned must meet the quorum.
    pub fn check(&self, note: &Note) -> Result<PolicyVerdict, TlogError> {
        let checkpoint = checkpoint::parse(&note.text)?;
        let mut any_log = false;
        let mut signed = false;
        for key in self.logs.iter().filter(|k| k.name == checkpoint.origin) {
            any_log = true;
            match key.verify(note) {
                Ok(_) => signed = true,
                // Another key for the same origin (a rotation) may sign.
                Err(TlogError::SignatureMissing { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if !any_log {
            return Err(TlogError::PolicyUnknownOrigin {
                origin: checkpoint.origin,
            });
        }
        if !signed {
            return Err(TlogError::SignatureMissing {
                name: checkpoint.origin,
            });
        }

        let mut cosigned = vec![false; self.witnesses.len()];
        let mut cosigned_by = Vec::new();
        for (i, w) in self.witnesses.iter().enumerate() {
            match w.key.verify(note) {
                Ok(ts) => {
                    cosigned[i] = true;
                    // Witness keys are type 0x04 (checked at parse), whose
                    // verification always yields a timestamp.
                    cosigned_by.push((w.display_name(), ts.unwrap_or(0)));
                }
                Err(TlogError::SignatureMissing { .. }) => {}
                Err(TlogError::SignatureInvalid { name, reason, .. }) => {
                    return Err(TlogError::WitnessCosignatureInvalid {
                        witness: w.display_name(),
                        key_name: name,
                        reason,
                    });
                }
                Err(e) => return Err(e),
            }
        }

        // Groups only name earlier groups, so one pass in file order
        // settles each before it is used.
        let mut group_met = vec![false; self.groups.len()];
        for (g, group) in self.groups.iter().enumerate() {
            let count = group
                .members
                .iter()
                .filter(|m| met(**m, &cosigned, &group_met))
                .count();
            group_met[g] = count >= group.threshold;
        }
        if let Some(q) = self.quorum
            && !met(q, &cosigned, &group_met)
        {
            let (yes, no): (Vec<_>, Vec<_>) =
                self.witnesses.iter().zip(&cosigned).partition(|(_, c)| **c);
            return Err(TlogError::QuorumNotMet {
                rule: self.describe_quorum(q, &group_met),
                cosigned: yes.into_iter().map(|(w, _)| w.display_name()).collect(),
                missing: no.into_iter().map(|(w, _)| w.display_name()).collect(),
            });
        }
        Ok(PolicyVerdict {
            log: checkpoint.origin.clone(),
            checkpoint,
            cosigned_by,
        })
    }

    fn member_name(&self, m: Member) -> String {
        match m {
            Member::Witness(i) => self.witnesses[i].display_name(),
            Member::Group(g) => show(&self.groups[g].name),
        }
    }

    fn describe_group(&self, g: usize) -> String {
        let group = &self.groups[g];
        let members: Vec<String> = group.members.iter().map(|&m| self.member_name(m)).collect();
        format!(
            "group {} needs {} of {}",
            show(&group.name),
            group.threshold,
            members.join(", ")
        )
    }

    /// The quorum rule in words, with each unmet group under it.
    fn describe_quorum(&self, q: Member, group_met: &[bool]) -> String {
        match q {
            Member::Witness(i) => format!(
                "quorum {0} needs a cosignature by witness {0}",
                self.witnesses[i].display_name()
            ),
            Member::Group(top) => {
                let mut under = vec![false; self.groups.len()];
                under[top] = true;
                // Members come before their group, so walking down from
                // the top marks every group the quorum depends on.
                for g in (0..=top).rev() {
                    if under[g] {
                        for m in &self.groups[g].members {
                            if let Member::Group(c) = *m {
                                under[c] = true;
                            }
                        }
                    }
                }
                let unmet: Vec<String> = (0..=top)
                    .rev()
                    .filter(|&g| under[g] && !group_met[g])
                    .map(|g| self.describe_group(g))
                    .collect();
                format!(
                    "quorum {}: unmet {}",
                    show(&self.groups[top].name),
                    unmet.join("; ")
                )
            }
        }
    }
}

fn met(m: Member, cosigned: &[bool], group_met: &[bool]) -> bool {
    match m {
        Member::Witness(i) => cosigned[i],
        Member::Group(g) => group_met[g],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::cosignature;
    use crate::note::tests::{keypair, signer};
    use crate::note::{self, NoteSignature};

    const ORIGIN: &str = "example.com/log";
    const WITNESSES: [&str; 6] = ["X1", "X2", "X3", "Y1", "Y2", "Y3"];

    fn log_vkey(seed: u8) -> String {
        let (_, public) = keypair(seed);
        VerifierKey::new(ORIGIN, ALG_ED25519, &public)
            .unwrap()
            .to_string()
    }

    fn witness_vkey(i: usize) -> String {
        let (_, public) = keypair(100 + i as u8);
        let name = format!("{}.witness.example", WITNESSES[i].to_lowercase());
        VerifierKey::new(&name, ALG_COSIGNATURE_V1, &public)
            .unwrap()
            .to_string()
    }

    /// The spec's example policy with real keys.
    fn example_policy() -> String {
        let w: Vec<String> = (0..6).map(witness_vkey).collect();
        format!(
            "log {}\n\
             \n\
             witness X1 {}\n\
             witness X2 {}\n\
             witness X3 {}\n\
             group X-witnesses 2 X1 X2 X3\n\
             \n\
             witness Y1 {}\n\
             witness Y2 {}\n\
             witness Y3 {}\n\
             group Y-witnesses any Y1 Y2 Y3\n\
             \n\
             group X-and-Y all X-witnesses Y-witnesses\n\
             quorum X-and-Y\n",
            log_vkey(1),
            w[0],
            w[1],
            w[2],
            w[3],
            w[4],
            w[5]
        )
    }

    const BODY: &str = "example.com/log\n7\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn cosig(i: usize, ts: u64) -> NoteSignature {
        let (kp, public) = keypair(100 + i as u8);
        let name = format!("{}.witness.example", WITNESSES[i].to_lowercase());
        cosignature::sign(BODY, &name, &public, ts, signer(&kp)).unwrap()
    }

    /// A checkpoint signed by log key `seed` and cosigned by witnesses `ws`.
    fn note_by(seed: u8, ws: &[usize]) -> Note {
        let (kp, public) = keypair(seed);
        let mut signatures = vec![note::sign_ed25519(BODY, ORIGIN, &public, signer(&kp)).unwrap()];
        signatures.extend(ws.iter().map(|&i| cosig(i, 1000 + i as u64)));
        Note {
            text: BODY.into(),
            signatures,
        }
    }

    fn err_line(policy: &str) -> (usize, String) {
        match parse(policy.as_bytes()) {
            Err(TlogError::PolicyMalformed { line, reason }) => (line, reason),
            other => panic!("expected PolicyMalformed for {policy:?}, got {other:?}"),
        }
    }

    #[test]
    fn spec_example_structure_parses() {
        let p = parse(example_policy().as_bytes()).unwrap();
        assert_eq!(p.logs().len(), 1);
        assert_eq!(p.logs()[0].name, ORIGIN);
        assert_eq!(p.witnesses().len(), 6);
        assert_eq!(p.witnesses()[3].name, b"Y1");
        assert_eq!(p.groups.len(), 3);
        assert_eq!(p.groups[0].threshold, 2);
        assert_eq!(p.groups[1].threshold, 1);
        assert_eq!(p.groups[2].threshold, 2);
        assert_eq!(p.quorum, Some(Member::Group(2)));
        assert_eq!(p.log_for_origin(ORIGIN), Some(&p.logs()[0]));
        assert_eq!(p.log_for_origin("example.com/other"), None);
    }

    #[test]
    fn quorum_met_gives_the_verdict() {
        let p = parse(example_policy().as_bytes()).unwrap();
        // X1, X3 (two X) and Y2 (any Y), plus a stranger's line, ignored.
        let mut note = note_by(1, &[0, 2, 4]);
        let (kp, public) = keypair(77);
        note.signatures
            .push(cosignature::sign(BODY, "stranger", &public, 5, signer(&kp)).unwrap());
        let v = p.check(&note).unwrap();
        assert_eq!(v.log, ORIGIN);
        assert_eq!(v.checkpoint.size, 7);
        assert_eq!(
            v.cosigned_by,
            [
                ("X1".into(), 1000),
                ("X3".into(), 1002),
                ("Y2".into(), 1004)
            ]
        );
    }

    #[test]
    fn quorum_not_met_names_the_rule_and_the_witnesses() {
        let p = parse(example_policy().as_bytes()).unwrap();
        // Only one X witness.
        let e = p.check(&note_by(1, &[0, 3])).unwrap_err();
        assert_eq!(
            airlock_core::Classify::class(&e),
            airlock_core::ErrorClass::Integrity
        );
        assert_eq!(
            e.to_string(),
            "quorum not met: quorum X-and-Y: unmet group X-and-Y needs 2 of X-witnesses, \
             Y-witnesses; group X-witnesses needs 2 of X1, X2, X3; \
             cosigned by: X1, Y1; not cosigned by: X2, X3, Y2, Y3"
        );
        // Every X witness, no Y witness.
        let e = p.check(&note_by(1, &[0, 1, 2])).unwrap_err();
        let TlogError::QuorumNotMet {
            rule,
            cosigned,
            missing,
        } = e
        else {
            panic!("{e:?}");
        };
        assert!(
            rule.contains("group Y-witnesses needs 1 of Y1, Y2, Y3"),
            "{rule}"
        );
        assert!(!rule.contains("group X-witnesses"), "{rule}");
        assert_eq!(cosigned, ["X1", "X2", "X3"]);
        assert_eq!(missing, ["Y1", "Y2", "Y3"]);
        // No cosignature at all.
        assert!(matches!(
            p.check(&note_by(1, &[])),
            Err(TlogError::QuorumNotMet { .. })
        ));
    }

    #[test]
    fn a_single_witness_quorum_and_quorum_none() {
        let one = format!(
            "log {}\nwitness W {}\nquorum W\n",
            log_vkey(1),
            witness_vkey(0)
        );
        let p = parse(one.as_bytes()).unwrap();
        assert_eq!(
            p.check(&note_by(1, &[0])).unwrap().cosigned_by,
            [("W".into(), 1000)]
        );
        let e = p.check(&note_by(1, &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "quorum not met: quorum W needs a cosignature by witness W; \
             cosigned by: (none); not cosigned by: W"
        );
        let none = format!("log {}\nquorum none\n", log_vkey(1));
        let v = parse(none.as_bytes())
            .unwrap()
            .check(&note_by(1, &[]))
            .unwrap();
        assert!(v.cosigned_by.is_empty());
    }

    #[test]
    fn the_log_must_be_listed_for_the_origin_and_have_signed() {
        let p = parse(example_policy().as_bytes()).unwrap();
        // Signed by another key under the same name: no signature by it.
        let e = p.check(&note_by(2, &[0, 1, 3])).unwrap_err();
        assert_eq!(e.to_string(), "no signature by example.com/log");
        // An origin no log is named for.
        let other = parse(
            format!("log {}\nquorum none\n", {
                let (_, public) = keypair(1);
                VerifierKey::new("example.com/other", ALG_ED25519, &public).unwrap()
            })
            .as_bytes(),
        )
        .unwrap();
        let e = other.check(&note_by(1, &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "checkpoint origin \"example.com/log\" is not a log of the policy"
        );
        // A log signature that does not verify names the log.
        let mut bad = note_by(1, &[0, 1, 3]);
        bad.signatures[0].signature[0] ^= 1;
        let e = p.check(&bad).unwrap_err();
        assert!(
            matches!(e, TlogError::SignatureInvalid { ref name, .. } if name == ORIGIN),
            "{e:?}"
        );
        // A body that is not a checkpoint.
        let mut junk = note_by(1, &[]);
        junk.text = "not a checkpoint\n".into();
        assert!(matches!(
            p.check(&junk),
            Err(TlogError::CheckpointMalformed { .. })
        ));
    }

    #[test]
    fn a_bad_cosignature_by_a_listed_witness_names_the_witness() {
        let p = parse(example_policy().as_bytes()).unwrap();
        let mut note = note_by(1, &[0, 1, 3, 4]);
        note.signatures[4].signature[20] ^= 1;
        let e = p.check(&note).unwrap_err();
        assert_eq!(
            airlock_core::Classify::class(&e),
            airlock_core::ErrorClass::Integrity
        );
        assert!(
            matches!(&e, TlogError::WitnessCosignatureInvalid { witness, key_name, .. }
                if witness == "Y2" && key_name == "y2.witness.example"),
            "{e:?}"
        );
    }

    #[test]
    fn comments_whitespace_urls_and_opaque_names_are_read() {
        let text = format!(
            "# a comment\n\
             \t  # an indented comment \u{2014} with non-ASCII\n\
             \x20\t\n\
             \tlog \t{}  https://log.example/  \n\
             witness K {} https://w.example/\n\
             witness \u{212a} {}\n\
             group both all K \u{212a}\n\
             quorum\tboth\t\n",
            log_vkey(1),
            witness_vkey(0),
            witness_vkey(1)
        );
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(
            p.log_urls()[0].as_deref(),
            Some(&b"https://log.example/"[..])
        );
        assert_eq!(
            p.witnesses()[0].url.as_deref(),
            Some(&b"https://w.example/"[..])
        );
        // "K" and the Kelvin sign are two names.
        assert_eq!(p.witnesses()[1].name, "\u{212a}".as_bytes());
        assert_eq!(p.groups[0].members.len(), 2);
        // Non-UTF-8 octets are allowed in names and comments.
        let raw = [
            b"# \xff\xfe\nwitness \xff ".as_slice(),
            witness_vkey(0).as_bytes(),
            b"\nquorum \xff\n",
        ]
        .concat();
        let p = parse(&raw).unwrap();
        assert_eq!(p.witnesses()[0].name, b"\xff");
    }

    #[test]
    fn each_parse_rule_is_refused_with_its_line() {
        let log = log_vkey(1);
        let log2 = {
            let (_, public) = keypair(1);
            VerifierKey::new("example.com/renamed", ALG_ED25519, &public)
                .unwrap()
                .to_string()
        };
        let w0 = witness_vkey(0);
        let w1 = witness_vkey(1);
        let w0_renamed = {
            let (_, public) = keypair(100);
            VerifierKey::new("other.name", ALG_COSIGNATURE_V1, &public)
                .unwrap()
                .to_string()
        };
        let w0_as_log = {
            let (_, public) = keypair(100);
            VerifierKey::new("w", ALG_ED25519, &public)
                .unwrap()
                .to_string()
        };
        let cases: Vec<(String, usize, &str)> = vec![
            ("quorum none\r\n".into(), 1, "octet 0x0d"),
            ("# ok\nquorum none\x01\n".into(), 2, "octet 0x01"),
            ("# ok\n\x7f\nquorum none\n".into(), 2, "octet 0x7f"),
            ("quorum none".into(), 1, "does not end in a newline"),
            ("".into(), 1, "no quorum line"),
            ("# only\n\n".into(), 2, "no quorum line"),
            (
                "logs x\nquorum none\n".into(),
                1,
                "unknown line type \"logs\"",
            ),
            ("log\nquorum none\n".into(), 1, "`log <vkey> [<url>]`"),
            (
                format!("log {log} url extra\nquorum none\n"),
                1,
                "`log <vkey> [<url>]`",
            ),
            (
                "log not+a+vkey\nquorum none\n".into(),
                1,
                "the log verifier key",
            ),
            (format!("log {w0}\nquorum none\n"), 1, "type 0x04, not 0x01"),
            (
                format!("log {log}\nlog {log2}\nquorum none\n"),
                2,
                "duplicate log",
            ),
            (
                format!("witness A {w0}\nwitness B {w0_renamed}\nquorum none\n"),
                2,
                "duplicate witness",
            ),
            (
                format!("witness A {w0_as_log}\nquorum none\n"),
                1,
                "type 0x01, not 0x04",
            ),
            (
                "witness A\nquorum none\n".into(),
                1,
                "`witness <name> <vkey> [<url>]`",
            ),
            (
                format!("witness A {w0} u x\nquorum none\n"),
                1,
                "`witness <name> <vkey> [<url>]`",
            ),
            (
                format!("witness none {w0}\nquorum none\n"),
                1,
                "`none` is predefined",
            ),
            (
                format!("witness A {w0}\nwitness A {w1}\nquorum A\n"),
                2,
                "already defined on line 1",
            ),
            (
                format!("witness A {w0}\ngroup A any A\nquorum A\n"),
                2,
                "already defined on line 1",
            ),
            (
                format!("witness A {w0}\ngroup G any\nquorum G\n"),
                2,
                "at least one member",
            ),
            (
                format!("witness A {w0}\ngroup G any B\nquorum G\n"),
                2,
                "\"B\" is not defined",
            ),
            (
                format!("witness A {w0}\ngroup G any G\nquorum G\n"),
                2,
                "\"G\" is not defined",
            ),
            (
                format!("witness A {w0}\ngroup G any none\nquorum G\n"),
                2,
                "`none` cannot be a group member",
            ),
            (
                format!("witness A {w0}\ngroup G any A A\nquorum G\n"),
                2,
                "listed twice",
            ),
            (
                format!("witness A {w0}\ngroup G 0 A\nquorum G\n"),
                2,
                "threshold 0 is not between 1 and the 1",
            ),
            (
                format!("witness A {w0}\ngroup G 2 A\nquorum G\n"),
                2,
                "threshold 2 is not between",
            ),
            (
                format!("witness A {w0}\ngroup G +1 A\nquorum G\n"),
                2,
                "not `all`, `any` or a decimal",
            ),
            (
                format!("witness A {w0}\ngroup G some A\nquorum G\n"),
                2,
                "not `all`, `any` or a decimal",
            ),
            (
                format!("quorum A\nwitness A {w0}\n"),
                1,
                "not defined on a preceding line",
            ),
            (
                "quorum none\nquorum none\n".into(),
                2,
                "second quorum line (the first is line 1)",
            ),
            ("quorum\n".into(), 1, "`quorum <name>`"),
            ("quorum a b\n".into(), 1, "`quorum <name>`"),
        ];
        for (text, line, want) in cases {
            let (l, r) = err_line(&text);
            assert_eq!(l, line, "{text:?}: {r}");
            assert!(r.contains(want), "{text:?}: {r}");
        }
    }

    #[test]
    fn a_vkey_that_is_not_utf8_is_refused() {
        match parse(b"# c\nlog \xff+01020304+AQ==\nquorum none\n") {
            Err(TlogError::PolicyMalformed { line, reason }) => {
                assert_eq!(line, 2);
                assert_eq!(reason, "the log vkey is not UTF-8");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn definitions_after_the_quorum_line_are_allowed() {
        let text = format!(
            "witness A {}\nquorum A\nlog {}\n",
            witness_vkey(0),
            log_vkey(1)
        );
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(p.logs().len(), 1);
        assert!(p.check(&note_by(1, &[0])).is_ok());
    }
}
