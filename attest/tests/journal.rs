//! Journal: append, torn tails, corruption, resume, conversion to a bundle.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of tests

mod common;

use std::fs;
use std::path::Path;

use airlock_attest::journal::{JournalError, JournalHeader, JournalWriter, TornTail};
use airlock_attest::{
    AttestError, Overwrite, VerifyOptions, journal_to_bundle, verify_bundle_file, verify_journal,
};
use common::*;

/// Writes a journal of `records(.., tasks)`; returns the frame offsets and the file length.
fn write_journal(path: &Path, tasks: usize) -> Vec<u64> {
    let k = key();
    let mut w = JournalWriter::create(path, &k.public_key()).unwrap();
    let mut offsets = Vec::new();
    for r in records(&k.public_key(), tasks) {
        offsets.push(fs::metadata(path).unwrap().len());
        w.append(&k, &r).unwrap();
        w.sync().unwrap();
    }
    offsets.push(fs::metadata(path).unwrap().len());
    offsets
}

#[test]
fn journal_header_bytes_are_pinned() {
    let h = JournalHeader {
        public_key: key().public_key(),
    }
    .encode();
    assert_eq!(&h[..12], b"\x89ALJ\r\n\x1a\n\x05\x00\x00\x00");
    assert_eq!(&h[12..], &key().public_key().0);
    assert_eq!(
        JournalHeader::decode(&h).unwrap().public_key,
        key().public_key()
    );
}

#[test]
fn a_whole_journal_verifies_and_converts_to_a_verifying_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("run.journal");
    let offsets = write_journal(&j, 3);
    let state = verify_journal(&j, &key().public_key()).unwrap();
    assert_eq!(state.entries.len(), 5);
    assert_eq!(state.torn_tail, None);
    assert_eq!(state.valid_len, *offsets.last().unwrap());
    assert_eq!(state.next_seq, 5);
    assert_eq!(state.last_hash, state.entries[4].entry.chain_hash);
    for (e, off) in state.entries.iter().zip(&offsets) {
        assert_eq!(e.offset, *off);
    }

    let b = dir.path().join("run.bundle");
    let trailer = journal_to_bundle(&j, &b, Overwrite::Refuse).unwrap();
    assert_eq!(trailer.count, 5);
    let v = verify_bundle_file(&b, &[key().public_key()], VerifyOptions::default()).unwrap();
    assert!(v.verified(), "{v:#?}");
    // The bundle holds exactly the journal's frames.
    let jb = fs::read(&j).unwrap();
    let bb = fs::read(&b).unwrap();
    assert_eq!(jb[44..], bb[44..bb.len() - 52]);
    assert!(matches!(
        journal_to_bundle(&j, &b, Overwrite::Refuse),
        Err(AttestError::AlreadyExists { .. })
    ));
}

/// Cutting the journal at every byte offset inside its last record is a
/// torn tail: resume repairs it to the last whole record and goes on, and
/// the finished run verifies with every record exactly once.
#[test]
fn torn_tail_at_every_offset_is_repaired_by_resume() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.journal");
    let offsets = write_journal(&full, 2);
    let bytes = fs::read(&full).unwrap();
    let last_start = offsets[offsets.len() - 2];
    let end = *offsets.last().unwrap();
    let k = key();
    let all = records(&k.public_key(), 2);
    for cut in last_start + 1..end {
        let j = dir.path().join(format!("cut-{cut}.journal"));
        fs::write(&j, &bytes[..cut as usize]).unwrap();
        let state = verify_journal(&j, &k.public_key()).unwrap();
        assert_eq!(state.entries.len(), all.len() - 1, "cut {cut}");
        assert_eq!(
            state.torn_tail,
            Some(TornTail {
                offset: last_start,
                len: cut - last_start
            })
        );
        assert_eq!(state.valid_len, last_start);

        let (mut w, state) = JournalWriter::resume(&j, &k.public_key()).unwrap();
        assert_eq!(fs::metadata(&j).unwrap().len(), last_start);
        assert_eq!(w.next_seq(), state.next_seq);
        w.append(&k, all.last().unwrap()).unwrap();
        w.sync().unwrap();
        assert_eq!(
            fs::read(&j).unwrap(),
            bytes,
            "cut {cut}: resumed journal differs"
        );
        fs::remove_file(&j).unwrap();
    }
}

#[test]
fn zero_filled_tail_is_torn_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("z.journal");
    let offsets = write_journal(&j, 1);
    let mut bytes = fs::read(&j).unwrap();
    bytes.extend_from_slice(&[0; 300]);
    fs::write(&j, &bytes).unwrap();
    let state = verify_journal(&j, &key().public_key()).unwrap();
    assert_eq!(state.entries.len(), 3);
    assert_eq!(
        state.torn_tail,
        Some(TornTail {
            offset: *offsets.last().unwrap(),
            len: 300
        })
    );
    // A zeroed last record (file grown, data never written) is torn too.
    let mut bytes = fs::read(&j).unwrap();
    bytes.truncate(offsets[2] as usize);
    let n = bytes.len();
    bytes.extend_from_slice(&(offsets[3] - offsets[2] - 4).to_le_bytes()[..4]);
    bytes.resize(offsets[3] as usize, 0);
    assert_eq!(bytes.len() - n, (offsets[3] - offsets[2]) as usize);
    fs::write(&j, &bytes).unwrap();
    let state = verify_journal(&j, &key().public_key()).unwrap();
    assert_eq!(state.entries.len(), 2);
    assert_eq!(state.torn_tail.map(|t| t.offset), Some(offsets[2]));
}

#[test]
fn corrupt_record_in_the_middle_is_refused_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("c.journal");
    let offsets = write_journal(&j, 2);
    let good = fs::read(&j).unwrap();
    // Every byte of every record but the last (lengths included), changed
    // in three ways, is reported as that record, and resume refuses.
    for record in 0..offsets.len() - 2 {
        for pos in offsets[record]..offsets[record + 1] {
            for mask in [0x01u8, 0x40, 0xff] {
                let mut bad = good.clone();
                bad[pos as usize] ^= mask;
                fs::write(&j, &bad).unwrap();
                match verify_journal(&j, &key().public_key()) {
                    Err(AttestError::Journal {
                        error: JournalError::Corrupt { index, offset, .. },
                        ..
                    }) => {
                        assert_eq!(index, record as u64, "pos {pos} ^ {mask:#x}");
                        assert_eq!(offset, offsets[record], "pos {pos} ^ {mask:#x}");
                    }
                    other => {
                        panic!("pos {pos} ^ {mask:#x}: expected record {record}, got {other:?}")
                    }
                }
                assert!(JournalWriter::resume(&j, &key().public_key()).is_err());
                assert_eq!(
                    fs::read(&j).unwrap(),
                    bad,
                    "resume must not touch a corrupt journal"
                );
            }
        }
    }
    // A whole last record that does not verify is corruption too.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    fs::write(&j, &bad).unwrap();
    let err = verify_journal(&j, &key().public_key()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("c.journal: record 3 at byte") && msg.contains("signature does not verify"),
        "{msg}"
    );
}

#[test]
fn journal_of_another_key_and_bad_headers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("k.journal");
    write_journal(&j, 1);
    let err = verify_journal(&j, &other_key().public_key()).unwrap_err();
    assert!(matches!(err, AttestError::WrongJournalKey { .. }));
    let mut w = JournalWriter::resume(&j, &key().public_key()).unwrap().0;
    assert!(matches!(
        w.append(&other_key(), &records(&key().public_key(), 1)[0]),
        Err(AttestError::WrongJournalKey { .. })
    ));

    let b = dir.path().join("x.bundle");
    journal_to_bundle(&j, &b, Overwrite::Refuse).unwrap();
    let err = verify_journal(&b, &key().public_key()).unwrap_err();
    assert!(
        err.to_string()
            .contains("this is an Airlock bundle, not a journal"),
        "{err}"
    );
    assert!(matches!(
        JournalWriter::create(&j, &key().public_key()),
        Err(AttestError::AlreadyExists { .. })
    ));
}

#[test]
fn torn_journal_is_not_converted() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("t.journal");
    write_journal(&j, 1);
    let mut bytes = fs::read(&j).unwrap();
    bytes.truncate(bytes.len() - 3);
    fs::write(&j, &bytes).unwrap();
    let b = dir.path().join("t.bundle");
    let err = journal_to_bundle(&j, &b, Overwrite::Refuse).unwrap_err();
    assert!(matches!(err, AttestError::TornJournal { .. }), "{err}");
    assert!(err.to_string().contains("resume the run"), "{err}");
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["t.journal"]);
}

/// `into_bundle` gives the very bundle `journal_to_bundle` gives, for a
/// fresh journal and for one continued after a resume.
#[test]
fn writer_into_bundle_equals_journal_to_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let all = records(&k.public_key(), 3);
    let j = dir.path().join("w.journal");
    let mut w = JournalWriter::create(&j, &k.public_key()).unwrap();
    for r in &all[..2] {
        w.append(&k, r).unwrap();
    }
    w.sync().unwrap();
    drop(w);
    let (mut w, _) = JournalWriter::resume(&j, &k.public_key()).unwrap();
    for r in &all[2..] {
        w.append(&k, r).unwrap();
    }
    w.sync().unwrap();

    let reference = dir.path().join("reference.bundle");
    journal_to_bundle(&j, &reference, Overwrite::Refuse).unwrap();
    let b = dir.path().join("w.bundle");
    let trailer = w.into_bundle(&b, Overwrite::Refuse).unwrap();
    assert_eq!(trailer.count, all.len() as u64);
    assert_eq!(fs::read(&b).unwrap(), fs::read(&reference).unwrap());
    let v = verify_bundle_file(&b, &[k.public_key()], VerifyOptions::default()).unwrap();
    assert!(v.verified(), "{v:#?}");
}

/// A journal changed behind its writer's back is refused, and no bundle is
/// written: a flipped signature bit (which the chain does not cover), an
/// entry cut off whole, and an entry of another journal with the same key.
#[test]
fn writer_into_bundle_refuses_a_journal_changed_behind_its_back() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let all = records(&k.public_key(), 2);
    let fresh = |name: &str| {
        let j = dir.path().join(name);
        let mut w = JournalWriter::create(&j, &k.public_key()).unwrap();
        let mut offsets = Vec::new();
        for r in &all {
            offsets.push(fs::metadata(&j).unwrap().len());
            w.append(&k, r).unwrap();
        }
        w.sync().unwrap();
        (j, w, offsets)
    };

    // The last byte of a frame is the last byte of its signature.
    let (j, w, offsets) = fresh("sig.journal");
    let mut bytes = fs::read(&j).unwrap();
    bytes[offsets[2] as usize - 1] ^= 0x01;
    fs::write(&j, &bytes).unwrap();
    let err = w
        .into_bundle(&dir.path().join("sig.bundle"), Overwrite::Refuse)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::Journal {
                error: JournalError::Corrupt { .. },
                ..
            }
        ),
        "{err}"
    );

    let (j, w, offsets) = fresh("cut.journal");
    let mut bytes = fs::read(&j).unwrap();
    bytes.truncate(offsets[3] as usize);
    fs::write(&j, &bytes).unwrap();
    let err = w
        .into_bundle(&dir.path().join("cut.bundle"), Overwrite::Refuse)
        .unwrap_err();
    assert!(
        err.to_string().contains("differ from the 4 written"),
        "{err}"
    );

    // Same key and records, signed in another order: a valid journal, not this one.
    let (j, w, _) = fresh("swap.journal");
    let other = dir.path().join("other.journal");
    let mut o = JournalWriter::create(&other, &k.public_key()).unwrap();
    for r in all.iter().rev() {
        o.append(&k, r).unwrap();
    }
    o.sync().unwrap();
    fs::copy(&other, &j).unwrap();
    let err = w
        .into_bundle(&dir.path().join("swap.bundle"), Overwrite::Refuse)
        .unwrap_err();
    assert!(matches!(err, AttestError::Journal { .. }), "{err}");

    let mut bundles: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("bundle"))
        .collect();
    bundles.sort();
    assert!(bundles.is_empty(), "{bundles:?}");
}

/// The writer holds the journal's exclusive lock from its creation (before
/// the journal appears under its name) or resumption until it is dropped:
/// a second writer is refused at once, naming the file, and nothing of the
/// journal changes; once the first is gone the second may resume.
#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    let k = key();
    let mut first = JournalWriter::create(&path, &k.public_key()).unwrap();
    for r in records(&k.public_key(), 2).into_iter().take(2) {
        first.append(&k, &r).unwrap();
    }
    first.sync().unwrap();
    let before = fs::read(&path).unwrap();
    let err = JournalWriter::resume(&path, &k.public_key()).unwrap_err();
    assert!(matches!(err, AttestError::Locked { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: another process holds it (an airlock run of this output is still writing it); \
             wait for that process to end before running or resuming again",
            path.display()
        )
    );
    assert!(matches!(
        JournalWriter::create(&path, &k.public_key()),
        Err(AttestError::AlreadyExists { .. })
    ));
    assert_eq!(fs::read(&path).unwrap(), before);
    // No temporary file is left beside it.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    drop(first);
    let (_second, state) = JournalWriter::resume(&path, &k.public_key()).unwrap();
    assert_eq!(state.entries.len(), 2);
}
