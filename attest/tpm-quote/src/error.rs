//! The one error type of the crate.

use core::fmt;

use airlock_core::{Classify, ErrorClass};

use crate::PcrSelection;

/// Why a quote, its signature or a station registration could not be read,
/// or did not hold.
///
/// [`Classify`] says which are integrity failures (the bytes were read and
/// are not what they claim) and which are input errors (the bytes could not
/// be read as the format at all).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuoteError {
    // --- parse ---
    /// A structure ends before one of its fields does.
    Truncated {
        /// The structure being read (`TPMS_ATTEST`, `TPMT_SIGNATURE`, ...).
        structure: &'static str,
        /// The field that runs past the end.
        field: &'static str,
        /// The byte offset at which the field starts.
        offset: usize,
        /// The bytes the field needs.
        needed: usize,
        /// The bytes left at that offset.
        available: usize,
    },
    /// Bytes left over after a structure that must fill its input.
    TrailingBytes {
        /// The structure that ended early.
        structure: &'static str,
        /// How many bytes follow it.
        count: usize,
    },
    /// A size or count field larger than TPM 2.0 Part 2 allows for it.
    FieldTooLarge {
        /// The field whose size or count is too large.
        field: &'static str,
        /// The size or count read.
        size: usize,
        /// The largest the specification allows.
        max: usize,
    },
    /// A TPMT_SIGNATURE that is not ECDSA (0x0018) over SHA-256 (0x000b).
    UnsupportedSignature {
        /// The signature scheme read (TPM_ALG_ID).
        sig_alg: u16,
        /// The hash algorithm read (TPM_ALG_ID).
        hash: u16,
    },
    /// An ECDSA scalar (r or s) longer than 32 bytes once leading zeros are
    /// dropped, so not a P-256 scalar.
    ScalarTooLong {
        /// Which scalar: `"r"` or `"s"`.
        scalar: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A station registration that does not start with its magic and
    /// version bytes.
    RegistrationHeader {
        /// The first five bytes read (fewer if the input is shorter).
        found: Vec<u8>,
    },
    /// A registered AK public key that is not a 65-byte uncompressed point.
    AkPublicKeyMalformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A quotes file (`BUNDLE.tpm-quotes`) that does not start with its
    /// magic.
    QuotesHeader {
        /// The first eight bytes read (fewer if the input is shorter).
        found: Vec<u8>,
    },
    /// A quotes file of another version than this reader's.
    QuotesVersion {
        /// The version read.
        found: u16,
    },
    /// A quotes file holding other than one or two quotes.
    QuotesCount {
        /// The count read.
        found: u8,
    },
    // --- verify ---
    /// TPMS_ATTEST's magic is not TPM_GENERATED_VALUE (0xff544347): the
    /// bytes were not made by a TPM.
    WrongMagic {
        /// The magic read.
        found: u32,
    },
    /// TPMS_ATTEST's type is not TPM_ST_ATTEST_QUOTE (0x8018).
    WrongType {
        /// The type read.
        found: u16,
    },
    /// The signature does not verify under the registered AK.
    SignatureInvalid,
    /// The quote's extraData is not the run's qualifying data.
    QualifyingDataMismatch {
        /// The qualifying data the run calls for.
        expected: Vec<u8>,
        /// The extraData in the quote.
        found: Vec<u8>,
    },
    /// The quote covers other PCRs than the registration names.
    PcrSelectionMismatch {
        /// The registered selection.
        registered: PcrSelection,
        /// The quoted selection.
        quoted: PcrSelection,
    },
    /// The quoted PCR digest differs from the registered one: the station
    /// booted (or was extended) into another state.
    PcrDigestMismatch {
        /// The registered digest.
        registered: Vec<u8>,
        /// The quoted digest.
        quoted: Vec<u8>,
    },
    /// A quote whose clock or reset/restart counters are behind the quote
    /// before it in a station's ordered list.
    CounterWentBackwards {
        /// The 0-based index of the later quote in the list.
        index: usize,
        /// Which counter: `"clock"` or `"resetCount/restartCount"`.
        counter: &'static str,
        /// The earlier quote's value (for the pair, resetCount<<32|restartCount).
        previous: u64,
        /// The later quote's value, in the same form.
        current: u64,
    },
}

impl Classify for QuoteError {
    fn class(&self) -> ErrorClass {
        match self {
            // --- parse ---
            QuoteError::Truncated { .. }
            | QuoteError::TrailingBytes { .. }
            | QuoteError::FieldTooLarge { .. }
            | QuoteError::UnsupportedSignature { .. }
            | QuoteError::ScalarTooLong { .. }
            | QuoteError::RegistrationHeader { .. }
            | QuoteError::AkPublicKeyMalformed { .. }
            | QuoteError::QuotesHeader { .. }
            | QuoteError::QuotesVersion { .. }
            | QuoteError::QuotesCount { .. } => ErrorClass::Input,
            // --- verify ---
            // A signed structure that is not a TPM quote claims to be one.
            QuoteError::WrongMagic { .. } | QuoteError::WrongType { .. } => ErrorClass::Integrity,
            QuoteError::SignatureInvalid
            | QuoteError::QualifyingDataMismatch { .. }
            | QuoteError::PcrSelectionMismatch { .. }
            | QuoteError::PcrDigestMismatch { .. }
            | QuoteError::CounterWentBackwards { .. } => ErrorClass::Integrity,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for QuoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuoteError::Truncated {
                structure,
                field,
                offset,
                needed,
                available,
            } => write!(
                f,
                "{structure}: field {field} at byte {offset} needs {needed} bytes, {available} left"
            ),
            QuoteError::TrailingBytes { structure, count } => {
                write!(f, "{structure}: {count} bytes after its end")
            }
            QuoteError::FieldTooLarge { field, size, max } => {
                write!(f, "{field}: size {size} exceeds the maximum {max}")
            }
            QuoteError::UnsupportedSignature { sig_alg, hash } => write!(
                f,
                "TPMT_SIGNATURE: scheme 0x{sig_alg:04x} hash 0x{hash:04x}, expected ECDSA \
                 (0x0018) with SHA-256 (0x000b)"
            ),
            QuoteError::ScalarTooLong { scalar, len } => write!(
                f,
                "TPMT_SIGNATURE: ECDSA {scalar} is {len} bytes, longer than a P-256 scalar"
            ),
            QuoteError::RegistrationHeader { found } => write!(
                f,
                "station registration: header {} is not 414c535201 (\"ALSR\", version 1)",
                hex(found)
            ),
            QuoteError::AkPublicKeyMalformed { reason } => {
                write!(f, "station registration: AK public key: {reason}")
            }
            QuoteError::QuotesHeader { found } => write!(
                f,
                "quotes file: magic {} is not 89414c510d0a1a0a (\"\\x89ALQ\\r\\n\\x1a\\n\")",
                hex(found)
            ),
            QuoteError::QuotesVersion { found } => write!(
                f,
                "quotes file: version {found}, this reader reads version {}",
                crate::quote_file::QUOTES_VERSION
            ),
            QuoteError::QuotesCount { found } => write!(
                f,
                "quotes file: {found} quotes, expected 1 (RunStart) or 2 (RunStart and RunEnd)"
            ),
            QuoteError::WrongMagic { found } => write!(
                f,
                "TPMS_ATTEST: magic 0x{found:08x} is not TPM_GENERATED_VALUE 0xff544347"
            ),
            QuoteError::WrongType { found } => write!(
                f,
                "TPMS_ATTEST: type 0x{found:04x} is not TPM_ST_ATTEST_QUOTE 0x8018"
            ),
            QuoteError::SignatureInvalid => write!(
                f,
                "TPM quote signature does not verify under the registered attestation key"
            ),
            QuoteError::QualifyingDataMismatch { expected, found } => write!(
                f,
                "TPMS_ATTEST extraData {} is not this run's qualifying data {}",
                hex(found),
                hex(expected)
            ),
            QuoteError::PcrSelectionMismatch { registered, quoted } => write!(
                f,
                "TPMS_QUOTE_INFO: quoted PCR selection {quoted} is not the registered {registered}"
            ),
            QuoteError::PcrDigestMismatch { registered, quoted } => write!(
                f,
                "TPMS_QUOTE_INFO: PCR digest {} is not the registered {}: the station's PCRs \
                 changed",
                hex(quoted),
                hex(registered)
            ),
            QuoteError::CounterWentBackwards {
                index,
                counter,
                previous,
                current,
            } => write!(
                f,
                "quote {index}: TPMS_CLOCK_INFO {counter} went backwards from {previous} to \
                 {current}"
            ),
        }
    }
}

impl core::error::Error for QuoteError {}
