//! The offline check of a station's TPM 2.0 quotes (issue 21).
//!
//! A station binds a run to its hardware through a TPM2_Quote by a
//! restricted ECDSA P-256 attestation key (AK): TPMs do not sign Ed25519,
//! so the run is bound through the quote's qualifying data
//! ([`qualifying_data`]). A verifier trusts a [`StationRegistration`] (the
//! AK's public point, the evaluator key it is bound to, the PCR selection
//! and the PCR digest of the station's known boot state) and checks each
//! quote with [`verify_quote`], and a station's quotes in order with
//! [`check_counters`].
//!
//! Everything here is a pure function of bytes from outside: every length
//! is checked before it is used, nothing panics, and the crate needs no TPM
//! library, so a verifier's machine without a TPM checks the hardware level.
//! Structures follow TPM 2.0 Library Part 2 (big-endian).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

use core::fmt;

use ring::digest;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

pub mod error;
pub mod quote_file;

pub use error::QuoteError;
pub use quote_file::{Quote, RunQuotes};

/// TPM_GENERATED_VALUE: the first four bytes of every TPMS_ATTEST a TPM makes.
pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
/// TPM_ST_ATTEST_QUOTE: the TPMS_ATTEST type of a TPM2_Quote.
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
/// TPM_ALG_ECDSA.
pub const TPM_ALG_ECDSA: u16 = 0x0018;
/// TPM_ALG_SHA1.
pub const TPM_ALG_SHA1: u16 = 0x0004;
/// TPM_ALG_SHA256.
pub const TPM_ALG_SHA256: u16 = 0x000b;
/// TPM_ALG_SHA384.
pub const TPM_ALG_SHA384: u16 = 0x000c;
/// TPM_ALG_SHA512.
pub const TPM_ALG_SHA512: u16 = 0x000d;

/// The domain string of [`qualifying_data`], NUL included, so that no other
/// SHA-256 input of the project can be read as a run binding.
pub const QUALIFYING_DATA_DOMAIN: &[u8] = b"airlock-tpm-quote/v1 run binding\0";

/// The first five bytes of an encoded [`StationRegistration`]: `ALSR`, then
/// version 1.
pub const REGISTRATION_HEADER: [u8; 5] = *b"ALSR\x01";

// Part 2 limits: sizeof(TPMT_HA) with SHA-512 for names and data, the
// largest digest for TPM2B_DIGEST, and a PCR bitmap of up to 32 PCRs
// (PCR_SELECT_MAX on PC-client TPMs is 3; 4 leaves room without letting a
// length field allocate).
const MAX_NAME: usize = 2 + 64;
const MAX_DATA: usize = 2 + 64;
const MAX_DIGEST: usize = 64;
const MAX_PCR_SELECT: usize = 4;
const MAX_BANKS: usize = 16;
const MAX_ECC_PARAMETER: usize = 66;

/// The run binding a station puts in a quote's qualifying data:
/// `SHA-256(QUALIFYING_DATA_DOMAIN || evaluator_key_id || chain_hash)`, the
/// domain string being the 33 bytes `airlock-tpm-quote/v1 run binding` and a
/// NUL, then the 32-byte evaluator key id and the 32-byte RunStart chain
/// hash. Both inputs have fixed lengths, so the concatenation is
/// unambiguous; hashing keeps the extraData at 32 bytes, within every TPM's
/// TPM2B_DATA.
pub fn qualifying_data(evaluator_key_id: &[u8; 32], chain_hash: &[u8; 32]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(QUALIFYING_DATA_DOMAIN);
    ctx.update(evaluator_key_id);
    ctx.update(chain_hash);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A big-endian cursor over one structure's bytes that names the field
/// that runs out.
struct Reader<'a> {
    structure: &'static str,
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn new(structure: &'static str, bytes: &'a [u8]) -> Self {
        Reader {
            structure,
            bytes,
            offset: 0,
        }
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], QuoteError> {
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        match rest.get(..n) {
            Some(part) => {
                self.offset += n;
                Ok(part)
            }
            None => Err(QuoteError::Truncated {
                structure: self.structure,
                field,
                offset: self.offset,
                needed: n,
                available: rest.len(),
            }),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], QuoteError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, QuoteError> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, QuoteError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, QuoteError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, QuoteError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A TPM2B: a u16 size, then that many bytes, refused above `max`.
    fn tpm2b(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], QuoteError> {
        let size = usize::from(self.u16(field)?);
        if size > max {
            return Err(QuoteError::FieldTooLarge { field, size, max });
        }
        self.take(field, size)
    }

    fn finish(&self) -> Result<(), QuoteError> {
        let count = self.bytes.len().saturating_sub(self.offset);
        if count == 0 {
            Ok(())
        } else {
            Err(QuoteError::TrailingBytes {
                structure: self.structure,
                count,
            })
        }
    }
}

/// One bank of a TPML_PCR_SELECTION: a hash algorithm and the bitmap of its
/// selected PCRs (bit `i % 8` of byte `i / 8` selects PCR `i`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PcrBank {
    /// The bank's hash algorithm (TPM_ALG_ID).
    pub hash: u16,
    /// The bitmap, `sizeofSelect` bytes long as the TPM encodes it.
    pub select: Vec<u8>,
}

impl PcrBank {
    /// The selected PCR indices, in ascending order.
    pub fn pcrs(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (byte_index, byte) in (0u32..).zip(&self.select) {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    out.push(byte_index * 8 + bit);
                }
            }
        }
        out
    }

    /// The tpm2-tools name of the bank's hash (`sha256`), if it is one of
    /// the four TPMs have.
    pub fn hash_name(&self) -> Option<&'static str> {
        match self.hash {
            TPM_ALG_SHA1 => Some("sha1"),
            TPM_ALG_SHA256 => Some("sha256"),
            TPM_ALG_SHA384 => Some("sha384"),
            TPM_ALG_SHA512 => Some("sha512"),
            _ => None,
        }
    }
}

/// A TPML_PCR_SELECTION: which PCRs of which banks a quote covers.
///
/// Two selections are equal only when their encodings are: a verifier
/// compares what the TPM signed, not a normalised form of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PcrSelection {
    /// The banks, in the order the TPM lists them.
    pub banks: Vec<PcrBank>,
}

impl PcrSelection {
    /// One SHA-256 bank selecting `pcrs`, with the three-byte bitmap
    /// (PCRs 0 to 23) that TPMs and tpm2-tools use. `None` if a PCR index
    /// is above 23.
    pub fn sha256(pcrs: &[u32]) -> Option<PcrSelection> {
        let mut select = vec![0u8; 3];
        for &pcr in pcrs {
            let byte = select.get_mut(usize::try_from(pcr / 8).ok()?)?;
            *byte |= 1 << (pcr % 8);
        }
        Some(PcrSelection {
            banks: vec![PcrBank {
                hash: TPM_ALG_SHA256,
                select,
            }],
        })
    }

    /// The selection as tpm2-tools' `-l` argument (`sha256:0,1,2,7`,
    /// banks joined by `+`); `None` if a bank's hash has no tpm2-tools name
    /// or a bank selects nothing.
    pub fn to_tpm2_tools(&self) -> Option<String> {
        let mut parts = Vec::new();
        for bank in &self.banks {
            let pcrs = bank.pcrs();
            if pcrs.is_empty() {
                return None;
            }
            let list: Vec<String> = pcrs.iter().map(u32::to_string).collect();
            parts.push(format!("{}:{}", bank.hash_name()?, list.join(",")));
        }
        if parts.is_empty() {
            None
        } else {
            Some(parts.join("+"))
        }
    }

    /// The TPM encoding: u32 count, then per bank u16 hash, u8
    /// sizeofSelect and the bitmap.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Reads the TPM encoding of [`PcrSelection::to_bytes`], refusing
    /// trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<PcrSelection, QuoteError> {
        let mut r = Reader::new("TPML_PCR_SELECTION", bytes);
        let selection = PcrSelection::read(&mut r)?;
        r.finish()?;
        Ok(selection)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let count = u32::try_from(self.banks.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for bank in &self.banks {
            out.extend_from_slice(&bank.hash.to_be_bytes());
            out.push(u8::try_from(bank.select.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&bank.select);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<PcrSelection, QuoteError> {
        let count = r.u32("TPML_PCR_SELECTION.count")?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > MAX_BANKS {
            return Err(QuoteError::FieldTooLarge {
                field: "TPML_PCR_SELECTION.count",
                size: count,
                max: MAX_BANKS,
            });
        }
        let mut banks = Vec::with_capacity(count);
        for _ in 0..count {
            let hash = r.u16("TPMS_PCR_SELECTION.hash")?;
            let size = usize::from(r.u8("TPMS_PCR_SELECTION.sizeofSelect")?);
            if size > MAX_PCR_SELECT {
                return Err(QuoteError::FieldTooLarge {
                    field: "TPMS_PCR_SELECTION.sizeofSelect",
                    size,
                    max: MAX_PCR_SELECT,
                });
            }
            let select = r.take("TPMS_PCR_SELECTION.pcrSelect", size)?.to_vec();
            banks.push(PcrBank { hash, select });
        }
        Ok(PcrSelection { banks })
    }
}

impl fmt::Display for PcrSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.banks.is_empty() {
            return f.write_str("(no banks)");
        }
        for (i, bank) in self.banks.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            match bank.hash_name() {
                Some(name) => f.write_str(name)?,
                None => write!(f, "0x{:04x}", bank.hash)?,
            }
            let list: Vec<String> = bank.pcrs().iter().map(u32::to_string).collect();
            write!(f, ":{}", list.join(","))?;
        }
        Ok(())
    }
}

/// TPMS_CLOCK_INFO: the TPM's time and boot counters at the quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered since its last TPM2_Clear.
    pub clock: u64,
    /// TPM Resets (reboots) since the last TPM2_Clear.
    pub reset_count: u32,
    /// TPM Restarts (resume from hibernation) since the last TPM Reset.
    pub restart_count: u32,
    /// Whether `clock` is known not to have been reported lower before.
    pub safe: bool,
}

/// A TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE, as read by [`parse_attest`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuoteInfo {
    /// qualifiedSigner: the AK's qualified name (TPM2B_NAME contents).
    pub qualified_signer: Vec<u8>,
    /// extraData: the qualifying data the quote was asked for.
    pub extra_data: Vec<u8>,
    /// clockInfo.
    pub clock_info: ClockInfo,
    /// firmwareVersion: vendor-defined.
    pub firmware_version: u64,
    /// TPMS_QUOTE_INFO.pcrSelect.
    pub pcr_selection: PcrSelection,
    /// TPMS_QUOTE_INFO.pcrDigest: the hash (by the AK's scheme hash) of the
    /// selected PCR values in order.
    pub pcr_digest: Vec<u8>,
}

/// Reads a TPMS_ATTEST exactly as TPM2_Quote returns it (tpm2_quote `-m`):
/// magic u32, type u16, qualifiedSigner TPM2B_NAME, extraData TPM2B_DATA,
/// TPMS_CLOCK_INFO (clock u64, resetCount u32, restartCount u32, safe u8),
/// firmwareVersion u64, TPMS_QUOTE_INFO (TPML_PCR_SELECTION, TPM2B_DIGEST).
///
/// Refuses another magic or type, any length past the end or above Part 2's
/// limits, a `safe` byte other than 0 or 1, and trailing bytes.
pub fn parse_attest(bytes: &[u8]) -> Result<QuoteInfo, QuoteError> {
    let mut r = Reader::new("TPMS_ATTEST", bytes);
    let magic = r.u32("magic")?;
    if magic != TPM_GENERATED_VALUE {
        return Err(QuoteError::WrongMagic { found: magic });
    }
    let kind = r.u16("type")?;
    if kind != TPM_ST_ATTEST_QUOTE {
        return Err(QuoteError::WrongType { found: kind });
    }
    let qualified_signer = r.tpm2b("qualifiedSigner", MAX_NAME)?.to_vec();
    let extra_data = r.tpm2b("extraData", MAX_DATA)?.to_vec();
    let clock = r.u64("clockInfo.clock")?;
    let reset_count = r.u32("clockInfo.resetCount")?;
    let restart_count = r.u32("clockInfo.restartCount")?;
    let safe = match r.u8("clockInfo.safe")? {
        0 => false,
        1 => true,
        other => {
            return Err(QuoteError::FieldTooLarge {
                field: "clockInfo.safe",
                size: usize::from(other),
                max: 1,
            });
        }
    };
    let firmware_version = r.u64("firmwareVersion")?;
    let pcr_selection = PcrSelection::read(&mut r)?;
    let pcr_digest = r.tpm2b("pcrDigest", MAX_DIGEST)?.to_vec();
    r.finish()?;
    Ok(QuoteInfo {
        qualified_signer,
        extra_data,
        clock_info: ClockInfo {
            clock,
            reset_count,
            restart_count,
            safe,
        },
        firmware_version,
        pcr_selection,
        pcr_digest,
    })
}

/// An ECDSA P-256 signature as ring checks it: r and s, each left-padded
/// to 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EcdsaSignature {
    /// The scalar r, big-endian.
    pub r: [u8; 32],
    /// The scalar s, big-endian.
    pub s: [u8; 32],
}

impl EcdsaSignature {
    /// r || s, ring's `ECDSA_P256_SHA256_FIXED` form.
    pub fn fixed(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        let (r, s) = out.split_at_mut(32);
        r.copy_from_slice(&self.r);
        s.copy_from_slice(&self.s);
        out
    }
}

fn scalar(bytes: &[u8], name: &'static str) -> Result<[u8; 32], QuoteError> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let trimmed = bytes.get(start..).unwrap_or_default();
    let pad = 32usize
        .checked_sub(trimmed.len())
        .ok_or(QuoteError::ScalarTooLong {
            scalar: name,
            len: trimmed.len(),
        })?;
    let mut out = [0u8; 32];
    if let Some(tail) = out.get_mut(pad..) {
        tail.copy_from_slice(trimmed);
    }
    Ok(out)
}

/// Reads a TPMT_SIGNATURE of the ECDSA form (tpm2_quote `-s` with `-f
/// tss`, its default): sigAlg u16 = 0x0018, hash u16 = 0x000b, then
/// TPMS_SIGNATURE_ECDSA's r and s as TPM2B_ECC_PARAMETER (u16 size, bytes).
/// Refuses other schemes and hashes, scalars longer than 32 significant
/// bytes, and trailing bytes.
pub fn parse_signature(bytes: &[u8]) -> Result<EcdsaSignature, QuoteError> {
    let mut r = Reader::new("TPMT_SIGNATURE", bytes);
    let sig_alg = r.u16("sigAlg")?;
    let hash = r.u16("signature.ecdsa.hash")?;
    if sig_alg != TPM_ALG_ECDSA || hash != TPM_ALG_SHA256 {
        return Err(QuoteError::UnsupportedSignature { sig_alg, hash });
    }
    let sig_r = scalar(
        r.tpm2b("signature.ecdsa.signatureR", MAX_ECC_PARAMETER)?,
        "r",
    )?;
    let sig_s = scalar(
        r.tpm2b("signature.ecdsa.signatureS", MAX_ECC_PARAMETER)?,
        "s",
    )?;
    r.finish()?;
    Ok(EcdsaSignature { r: sig_r, s: sig_s })
}

/// What a verifier trusts about one station, written once at enrolment.
///
/// The AK is kept as the 65-byte uncompressed SEC 1 point (`04 || X || Y`)
/// rather than an SPKI: it is what ring verifies with, and P-256 is the
/// only curve, so the SPKI's algorithm identifiers would add nothing to
/// check.
///
/// # Encoding (binary, all integers big-endian)
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 5 | `41 4c 53 52 01`: `ALSR` and version 1 |
/// | 5 | 65 | AK public key: `04`, X (32), Y (32) |
/// | 70 | 32 | evaluator key id the station is bound to |
/// | 102 | 4 | PCR selection: TPML_PCR_SELECTION count (u32), at most 16 |
/// | 106 | per bank | hash (u16 TPM_ALG_ID), sizeofSelect (u8, at most 4), bitmap (sizeofSelect bytes) |
/// | then | 2 | expected PCR digest size D (u16), 1 to 64 |
/// | then | D | expected PCR digest, as TPMS_QUOTE_INFO.pcrDigest |
///
/// Nothing follows: a registration with trailing bytes is refused. The
/// selection is byte for byte what the TPM puts in its quotes, so that
/// [`verify_quote`] compares encodings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StationRegistration {
    /// The AK public key, uncompressed P-256 point.
    pub ak_public: [u8; 65],
    /// The evaluator key id this station is bound to.
    pub evaluator_key_id: [u8; 32],
    /// The PCRs every quote must cover.
    pub pcr_selection: PcrSelection,
    /// The PCR digest of the station's known state.
    pub pcr_digest: Vec<u8>,
}

impl StationRegistration {
    /// The encoding in the table above.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(150);
        out.extend_from_slice(&REGISTRATION_HEADER);
        out.extend_from_slice(&self.ak_public);
        out.extend_from_slice(&self.evaluator_key_id);
        self.pcr_selection.encode(&mut out);
        let size = u16::try_from(self.pcr_digest.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&self.pcr_digest);
        out
    }

    /// Reads the encoding in the table above, refusing anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<StationRegistration, QuoteError> {
        let mut r = Reader::new("station registration", bytes);
        let header = r
            .take("header", 5)
            .map_err(|_| QuoteError::RegistrationHeader {
                found: bytes.get(..5).unwrap_or(bytes).to_vec(),
            })?;
        if header != REGISTRATION_HEADER {
            return Err(QuoteError::RegistrationHeader {
                found: header.to_vec(),
            });
        }
        let ak_public: [u8; 65] = r.array("AK public key")?;
        if ak_public[0] != 0x04 {
            return Err(QuoteError::AkPublicKeyMalformed {
                reason: "not an uncompressed point (first byte is not 04)",
            });
        }
        let evaluator_key_id = r.array("evaluator key id")?;
        let pcr_selection = PcrSelection::read(&mut r)?;
        let pcr_digest = r.tpm2b("PCR digest", MAX_DIGEST)?.to_vec();
        if pcr_digest.is_empty() {
            return Err(QuoteError::Truncated {
                structure: "station registration",
                field: "PCR digest",
                offset: r.offset,
                needed: 1,
                available: 0,
            });
        }
        r.finish()?;
        Ok(StationRegistration {
            ak_public,
            evaluator_key_id,
            pcr_selection,
            pcr_digest,
        })
    }
}

/// Checks one quote against a station's registration and the run's
/// qualifying data ([`qualifying_data`]), in this order: the signature
/// parses and verifies under the registered AK over `attest_bytes`, the
/// attest parses as a quote (magic, type, lengths), its extraData equals
/// `expected_qualifying_data`, its PCR selection and digest equal the
/// registered ones. The first failure is returned.
pub fn verify_quote(
    registration: &StationRegistration,
    attest_bytes: &[u8],
    signature_bytes: &[u8],
    expected_qualifying_data: &[u8],
) -> Result<QuoteInfo, QuoteError> {
    let signature = parse_signature(signature_bytes)?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &registration.ak_public[..])
        .verify(attest_bytes, &signature.fixed())
        .map_err(|_| QuoteError::SignatureInvalid)?;
    let info = parse_attest(attest_bytes)?;
    if info.extra_data != expected_qualifying_data {
        return Err(QuoteError::QualifyingDataMismatch {
            expected: expected_qualifying_data.to_vec(),
            found: info.extra_data,
        });
    }
    if info.pcr_selection != registration.pcr_selection {
        return Err(QuoteError::PcrSelectionMismatch {
            registered: registration.pcr_selection.clone(),
            quoted: info.pcr_selection,
        });
    }
    if info.pcr_digest != registration.pcr_digest {
        return Err(QuoteError::PcrDigestMismatch {
            registered: registration.pcr_digest.clone(),
            quoted: info.pcr_digest,
        });
    }
    Ok(info)
}

/// Checks that a station's quotes, in the order they were made, never go
/// back in time: `clock` never decreases, and the pair (resetCount,
/// restartCount) never decreases in lexicographic order. The pair is
/// compared as a pair because restartCount returns to 0 at each TPM Reset,
/// when resetCount goes up. (A TPM2_Clear zeroes all three; it also
/// destroys the AK's hierarchy, so it calls for a new enrolment anyway.)
pub fn check_counters(quotes: &[ClockInfo]) -> Result<(), QuoteError> {
    for (index, pair) in (1usize..).zip(quotes.windows(2)) {
        let [previous, current] = pair else {
            continue;
        };
        if current.clock < previous.clock {
            return Err(QuoteError::CounterWentBackwards {
                index,
                counter: "clock",
                previous: previous.clock,
                current: current.clock,
            });
        }
        let boots = |c: &ClockInfo| (u64::from(c.reset_count) << 32) | u64::from(c.restart_count);
        if boots(current) < boots(previous) {
            return Err(QuoteError::CounterWentBackwards {
                index,
                counter: "resetCount/restartCount",
                previous: boots(previous),
                current: boots(current),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
