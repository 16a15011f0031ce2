//! Every variant of every error type of this crate, with the exit-code
//! class the command line takes from it. Each table's row function matches
//! without a wildcard arm, so a new variant does not compile until it has a
//! row, and the table fails until the row has a case.

use std::io;
use std::path::PathBuf;

use airlock_core::{Classify, Digest, ErrorClass};

use crate::bundle::BundleError;
use crate::dsse::{EnvelopeError, ExportError};
use crate::error::{
    AttestError, FileKind, HeaderError, JournalError, KeyFormatError, ManifestFormatError,
};
use crate::frame::FrameError;
use crate::fsutil::SecretError;
use crate::verify::Verdict;

use ErrorClass::{Input, Integrity};

/// Checks each case's class, and that `row` (numbering the variants from 0
/// to `N - 1`) met every variant.
fn check<E: Classify + core::fmt::Debug, const N: usize>(
    cases: Vec<(E, ErrorClass)>,
    row: impl Fn(&E) -> usize,
) {
    let mut seen = [false; N];
    for (error, class) in &cases {
        assert_eq!(error.class(), *class, "{error:?}");
        seen[row(error)] = true;
    }
    let missing: Vec<usize> = (0..N).filter(|&i| !seen[i]).collect();
    assert!(missing.is_empty(), "rows without a case: {missing:?}");
}

fn path() -> PathBuf {
    PathBuf::from("x")
}

fn io_error() -> io::Error {
    io::Error::other("x")
}

#[test]
fn attest_error_classes() {
    let cases = vec![
        (
            AttestError::Io {
                path: path(),
                doing: "read",
                error: io_error(),
            },
            Input,
        ),
        (AttestError::AlreadyExists { path: path() }, Input),
        (AttestError::Locked { path: path() }, Input),
        (
            AttestError::InsecurePermissions {
                path: path(),
                mode: 0o644,
            },
            Input,
        ),
        (AttestError::PublicKeyGiven { path: path() }, Input),
        (AttestError::PrivateKeyGiven { path: path() }, Input),
        (
            AttestError::BadKeyFile {
                path: path(),
                problem: KeyFormatError::WeakKey,
            },
            Input,
        ),
        (AttestError::InvalidKeyName { name: "..".into() }, Input),
        (
            AttestError::BadJournalHeader {
                path: path(),
                problem: HeaderError::TooShort { have: 0 },
            },
            Integrity,
        ),
        (
            AttestError::Journal {
                path: path(),
                error: JournalError::Io(io_error()),
            },
            Input,
        ),
        (
            AttestError::TornJournal {
                path: path(),
                offset: 0,
            },
            Integrity,
        ),
        (
            AttestError::BadManifest {
                path: path(),
                problem: ManifestFormatError::Truncated,
            },
            Integrity,
        ),
        (
            AttestError::UntrustedManifest {
                path: path(),
                key_id: Digest::ZERO,
            },
            Integrity,
        ),
        (AttestError::ManifestSignature { path: path() }, Integrity),
        (AttestError::UnlistedModule { path: path() }, Integrity),
        (
            AttestError::ModuleDigest {
                path: path(),
                expected: Digest::ZERO,
                found: Digest::ZERO,
            },
            Integrity,
        ),
        (AttestError::NotRegularFile { path: path() }, Input),
        (
            AttestError::FileTooLarge {
                path: path(),
                size: 2,
                limit: 1,
            },
            Input,
        ),
        (
            AttestError::WrongJournalKey {
                path: path(),
                journal_key: Digest::ZERO,
                given_key: Digest::ZERO,
            },
            Input,
        ),
        (
            AttestError::BadPlan {
                path: path(),
                problem: crate::campaign::PlanFormatError::Truncated,
            },
            Integrity,
        ),
        (
            AttestError::UntrustedPlan {
                path: path(),
                key_id: Digest::ZERO,
            },
            Integrity,
        ),
        (AttestError::PlanSignature { path: path() }, Integrity),
    ];
    check::<_, 22>(cases, |e| match e {
        AttestError::Io { .. } => 0,
        AttestError::AlreadyExists { .. } => 1,
        AttestError::Locked { .. } => 2,
        AttestError::InsecurePermissions { .. } => 3,
        AttestError::PublicKeyGiven { .. } => 4,
        AttestError::PrivateKeyGiven { .. } => 5,
        AttestError::BadKeyFile { .. } => 6,
        AttestError::InvalidKeyName { .. } => 7,
        AttestError::BadJournalHeader { .. } => 8,
        AttestError::Journal { .. } => 9,
        AttestError::TornJournal { .. } => 10,
        AttestError::BadManifest { .. } => 11,
        AttestError::UntrustedManifest { .. } => 12,
        AttestError::ManifestSignature { .. } => 13,
        AttestError::UnlistedModule { .. } => 14,
        AttestError::ModuleDigest { .. } => 15,
        AttestError::NotRegularFile { .. } => 16,
        AttestError::FileTooLarge { .. } => 17,
        AttestError::WrongJournalKey { .. } => 18,
        AttestError::BadPlan { .. } => 19,
        AttestError::UntrustedPlan { .. } => 20,
        AttestError::PlanSignature { .. } => 21,
    });
}

#[test]
fn wrapping_attest_errors_take_the_inner_class() {
    let journal = |error| AttestError::Journal {
        path: path(),
        error,
    };
    let corrupt = JournalError::Corrupt {
        offset: 0,
        index: 0,
        problem: "x".into(),
    };
    assert_eq!(journal(corrupt).class(), Integrity);
    let header = JournalError::Header(HeaderError::BadMagic { found: [0; 8] });
    assert_eq!(journal(header).class(), Integrity);
}

#[test]
fn header_error_classes() {
    let cases = vec![
        (HeaderError::TooShort { have: 1 }, Integrity),
        (HeaderError::BadMagic { found: [0; 8] }, Integrity),
        (
            HeaderError::WrongKind {
                expected: FileKind::Bundle,
                found: FileKind::Journal,
            },
            Integrity,
        ),
        (HeaderError::UnsupportedVersion { found: 9 }, Integrity),
        (HeaderError::ReservedFlags { found: 1 }, Integrity),
    ];
    check::<_, 5>(cases, |e| match e {
        HeaderError::TooShort { .. } => 0,
        HeaderError::BadMagic { .. } => 1,
        HeaderError::WrongKind { .. } => 2,
        HeaderError::UnsupportedVersion { .. } => 3,
        HeaderError::ReservedFlags { .. } => 4,
    });
}

#[test]
fn journal_error_classes() {
    let cases = vec![
        (
            JournalError::Header(HeaderError::TooShort { have: 0 }),
            Integrity,
        ),
        (JournalError::Io(io_error()), Input),
        (
            JournalError::Corrupt {
                offset: 0,
                index: 0,
                problem: "x".into(),
            },
            Integrity,
        ),
    ];
    check::<_, 3>(cases, |e| match e {
        JournalError::Header(_) => 0,
        JournalError::Io(_) => 1,
        JournalError::Corrupt { .. } => 2,
    });
}

#[test]
fn key_format_error_classes() {
    let cases = vec![
        (KeyFormatError::NoPemBlock, Input),
        (KeyFormatError::UnterminatedPem, Input),
        (
            KeyFormatError::WrongLabel {
                found: "x".into(),
                expected: "PUBLIC KEY",
            },
            Input,
        ),
        (KeyFormatError::BadBase64, Input),
        (KeyFormatError::BadDer("x"), Input),
        (KeyFormatError::TooLarge, Input),
        (KeyFormatError::NotText, Input),
        (KeyFormatError::WeakKey, Input),
        (KeyFormatError::NonCanonicalKey, Input),
    ];
    check::<_, 9>(cases, |e| match e {
        KeyFormatError::NoPemBlock => 0,
        KeyFormatError::UnterminatedPem => 1,
        KeyFormatError::WrongLabel { .. } => 2,
        KeyFormatError::BadBase64 => 3,
        KeyFormatError::BadDer(_) => 4,
        KeyFormatError::TooLarge => 5,
        KeyFormatError::NotText => 6,
        KeyFormatError::WeakKey => 7,
        KeyFormatError::NonCanonicalKey => 8,
    });
}

#[test]
fn manifest_format_error_classes() {
    let cases = vec![
        (ManifestFormatError::Truncated, Integrity),
        (ManifestFormatError::BadMagic, Integrity),
        (ManifestFormatError::UnsupportedVersion(9), Integrity),
        (ManifestFormatError::NonZeroFlags(1), Integrity),
        (ManifestFormatError::TooLong(u32::MAX), Integrity),
        (ManifestFormatError::Undecodable, Integrity),
        (ManifestFormatError::TrailingBytes, Integrity),
        (ManifestFormatError::BadFileName("a/b".into()), Integrity),
    ];
    check::<_, 8>(cases, |e| match e {
        ManifestFormatError::Truncated => 0,
        ManifestFormatError::BadMagic => 1,
        ManifestFormatError::UnsupportedVersion(_) => 2,
        ManifestFormatError::NonZeroFlags(_) => 3,
        ManifestFormatError::TooLong(_) => 4,
        ManifestFormatError::Undecodable => 5,
        ManifestFormatError::TrailingBytes => 6,
        ManifestFormatError::BadFileName(_) => 7,
    });
}

#[test]
fn secret_error_classes() {
    let cases = vec![
        (SecretError::Io(io_error()), Input),
        (SecretError::WrongLength, Input),
    ];
    check::<_, 2>(cases, |e| match e {
        SecretError::Io(_) => 0,
        SecretError::WrongLength => 1,
    });
}

#[test]
fn bundle_error_classes() {
    let cases = vec![
        (BundleError::HeaderIo(io_error()), Input),
        (
            BundleError::Header(HeaderError::TooShort { have: 0 }),
            Integrity,
        ),
        (
            BundleError::Frame(FrameError::Io {
                offset: 0,
                error: io_error(),
            }),
            Input,
        ),
        (BundleError::MissingTrailer { offset: 0 }, Integrity),
        (BundleError::TornTrailer { offset: 0 }, Integrity),
        (
            BundleError::CountMismatch {
                trailer: 1,
                frames: 2,
            },
            Integrity,
        ),
        (
            BundleError::FinalHashMismatch {
                trailer: Digest::ZERO,
                last: Digest::ZERO,
            },
            Integrity,
        ),
        (BundleError::BadEndMagic { offset: 0 }, Integrity),
        (BundleError::TrailingBytes { offset: 0 }, Integrity),
    ];
    check::<_, 9>(cases, |e| match e {
        BundleError::HeaderIo(_) => 0,
        BundleError::Header(_) => 1,
        BundleError::Frame(_) => 2,
        BundleError::MissingTrailer { .. } => 3,
        BundleError::TornTrailer { .. } => 4,
        BundleError::CountMismatch { .. } => 5,
        BundleError::FinalHashMismatch { .. } => 6,
        BundleError::BadEndMagic { .. } => 7,
        BundleError::TrailingBytes { .. } => 8,
    });
}

#[test]
fn frame_error_classes() {
    let cases = vec![
        (FrameError::TornLength { offset: 0, have: 1 }, Integrity),
        (
            FrameError::TornFrame {
                offset: 0,
                declared: 9,
                have: 1,
            },
            Integrity,
        ),
        (
            FrameError::Oversized {
                offset: 0,
                len: u32::MAX,
            },
            Integrity,
        ),
        (
            FrameError::Undecodable {
                offset: 0,
                len: 1,
                error: postcard::Error::DeserializeUnexpectedEnd,
            },
            Integrity,
        ),
        (FrameError::NonCanonical { offset: 0, len: 1 }, Integrity),
        (
            FrameError::Io {
                offset: 0,
                error: io_error(),
            },
            Input,
        ),
    ];
    check::<_, 6>(cases, |e| match e {
        FrameError::TornLength { .. } => 0,
        FrameError::TornFrame { .. } => 1,
        FrameError::Oversized { .. } => 2,
        FrameError::Undecodable { .. } => 3,
        FrameError::NonCanonical { .. } => 4,
        FrameError::Io { .. } => 5,
    });
}

#[test]
fn envelope_error_classes() {
    let cases = vec![
        (EnvelopeError::Malformed("payload"), Integrity),
        (EnvelopeError::PayloadType("x".into()), Integrity),
        (EnvelopeError::NoSignatureForKey, Integrity),
        (EnvelopeError::BadSignature, Integrity),
    ];
    check::<_, 4>(cases, |e| match e {
        EnvelopeError::Malformed(_) => 0,
        EnvelopeError::PayloadType(_) => 1,
        EnvelopeError::NoSignatureForKey => 2,
        EnvelopeError::BadSignature => 3,
    });
}

#[test]
fn export_error_classes() {
    let verdict = Verdict {
        levels: Vec::new(),
        summary: Default::default(),
        records: None,
    };
    let cases = vec![
        (
            ExportError::Attest(AttestError::AlreadyExists { path: path() }),
            Input,
        ),
        (
            ExportError::WrongKey {
                bundle_key: Digest::ZERO,
                given_key: Digest::ZERO,
            },
            Input,
        ),
        (ExportError::Unverified(Box::new(verdict)), Integrity),
        (ExportError::Changed, Integrity),
        (ExportError::Exists(path()), Input),
    ];
    check::<_, 5>(cases, |e| match e {
        ExportError::Attest(_) => 0,
        ExportError::WrongKey { .. } => 1,
        ExportError::Unverified(_) => 2,
        ExportError::Changed => 3,
        ExportError::Exists(_) => 4,
    });
}
