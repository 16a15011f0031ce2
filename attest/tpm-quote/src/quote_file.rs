//! `BUNDLE.tpm-quotes`: a run's TPM quotes, as they travel beside its
//! bundle (SPEC.md, "TPM quotes").
//!
//! The quotes are not records of the signed chain: each is already signed
//! by the station's attestation key and bound to the run by its qualifying
//! data, and the RunEnd quote can only be made once the RunEnd's chain hash
//! exists. Keeping them beside the bundle leaves the bundle's bytes and the
//! chain as they are for runs without a TPM.

use crate::{QuoteError, Reader};

/// The first eight bytes of a quotes file: `\x89ALQ\r\n\x1a\n`, PNG-style
/// like the journal and bundle magics.
pub const QUOTES_MAGIC: [u8; 8] = *b"\x89ALQ\r\n\x1a\n";

/// The quotes file's version, u16 little-endian after the magic.
pub const QUOTES_VERSION: u16 = 1;

/// The largest TPMS_ATTEST accepted: a quote of every PCR of four banks
/// with the largest names and digests is under 400 bytes.
pub const MAX_ATTEST_BYTES: usize = 1024;

/// The largest TPMT_SIGNATURE accepted: an ECDSA P-521 signature is 140
/// bytes; ours are P-256.
pub const MAX_SIGNATURE_BYTES: usize = 256;

/// The largest quotes file: the header and two quotes of the largest sizes.
pub const MAX_QUOTES_FILE_BYTES: u64 = 11 + 2 * (4 + MAX_ATTEST_BYTES + MAX_SIGNATURE_BYTES) as u64;

/// One TPM2_Quote as the TPM returned it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quote {
    /// The TPMS_ATTEST bytes the signature covers.
    pub attest: Vec<u8>,
    /// The TPMT_SIGNATURE bytes.
    pub signature: Vec<u8>,
}

/// A run's quotes: over its RunStart, and once it ended, over its RunEnd.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunQuotes {
    /// The quote whose qualifying data binds the RunStart chain hash.
    pub run_start: Quote,
    /// The quote whose qualifying data binds the final (RunEnd) chain hash;
    /// `None` while the run is in progress.
    pub run_end: Option<Quote>,
}

impl RunQuotes {
    /// The encoding SPEC.md "TPM quotes" gives: magic, version (u16 LE),
    /// count (u8: 1 or 2), then per quote the TPMS_ATTEST and the
    /// TPMT_SIGNATURE, each as a u16 LE length and the bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&QUOTES_MAGIC);
        out.extend_from_slice(&QUOTES_VERSION.to_le_bytes());
        let quotes: Vec<&Quote> = core::iter::once(&self.run_start)
            .chain(self.run_end.as_ref())
            .collect();
        out.push(u8::try_from(quotes.len()).unwrap_or(u8::MAX));
        for quote in quotes {
            for part in [&quote.attest, &quote.signature] {
                let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(part);
            }
        }
        out
    }

    /// Reads [`RunQuotes::to_bytes`]'s encoding, refusing another magic or
    /// version, a count other than 1 or 2, a length of zero or above the
    /// limits, and trailing bytes. The TPM structures inside are not
    /// parsed here; [`crate::verify_quote`] does that.
    pub fn from_bytes(bytes: &[u8]) -> Result<RunQuotes, QuoteError> {
        let mut r = Reader::new("quotes file", bytes);
        let magic = r.take("magic", 8).map_err(|_| QuoteError::QuotesHeader {
            found: bytes.get(..8).unwrap_or(bytes).to_vec(),
        })?;
        if magic != QUOTES_MAGIC {
            return Err(QuoteError::QuotesHeader {
                found: magic.to_vec(),
            });
        }
        let version = u16::from_le_bytes(r.array("version")?);
        if version != QUOTES_VERSION {
            return Err(QuoteError::QuotesVersion { found: version });
        }
        let count = r.u8("count")?;
        if !(1..=2).contains(&count) {
            return Err(QuoteError::QuotesCount { found: count });
        }
        let mut quotes = Vec::with_capacity(2);
        for _ in 0..count {
            let attest = sized(&mut r, "TPMS_ATTEST length", MAX_ATTEST_BYTES)?;
            let signature = sized(&mut r, "TPMT_SIGNATURE length", MAX_SIGNATURE_BYTES)?;
            quotes.push(Quote { attest, signature });
        }
        r.finish()?;
        let mut quotes = quotes.into_iter();
        let Some(run_start) = quotes.next() else {
            return Err(QuoteError::QuotesCount { found: count });
        };
        Ok(RunQuotes {
            run_start,
            run_end: quotes.next(),
        })
    }
}

/// A u16 LE length, 1 to `max`, then that many bytes.
fn sized(r: &mut Reader<'_>, field: &'static str, max: usize) -> Result<Vec<u8>, QuoteError> {
    let len = usize::from(u16::from_le_bytes(r.array(field)?));
    if len == 0 || len > max {
        return Err(QuoteError::FieldTooLarge {
            field,
            size: len,
            max,
        });
    }
    Ok(r.take(field, len)?.to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn quotes(end: bool) -> RunQuotes {
        RunQuotes {
            run_start: Quote {
                attest: vec![0xaa, 0xbb],
                signature: vec![0xcc],
            },
            run_end: end.then(|| Quote {
                attest: vec![0xdd],
                signature: vec![0xee, 0xff],
            }),
        }
    }

    /// Exact bytes of a quotes file (SPEC.md, "TPM quotes").
    #[test]
    fn quotes_file_bytes_are_pinned() {
        let both = quotes(true).to_bytes();
        assert_eq!(
            both,
            [
                0x89, b'A', b'L', b'Q', 0x0d, 0x0a, 0x1a, 0x0a, 1, 0, 2, // header, count 2
                2, 0, 0xaa, 0xbb, 1, 0, 0xcc, // RunStart quote
                1, 0, 0xdd, 2, 0, 0xee, 0xff, // RunEnd quote
            ]
        );
        assert_eq!(RunQuotes::from_bytes(&both).unwrap(), quotes(true));
        let start = quotes(false).to_bytes();
        assert_eq!(start.get(10), Some(&1));
        assert_eq!(start.len(), 11 + 7);
        assert_eq!(RunQuotes::from_bytes(&start).unwrap(), quotes(false));
    }

    #[test]
    fn malformed_quotes_files_are_refused_by_name() {
        let good = quotes(true).to_bytes();
        let mut other_magic = good.clone();
        other_magic[3] = b'B';
        assert!(matches!(
            RunQuotes::from_bytes(&other_magic),
            Err(QuoteError::QuotesHeader { .. })
        ));
        let mut version = good.clone();
        version[8] = 2;
        assert_eq!(
            RunQuotes::from_bytes(&version),
            Err(QuoteError::QuotesVersion { found: 2 })
        );
        for count in [0, 3] {
            let mut bad = good.clone();
            bad[10] = count;
            assert_eq!(
                RunQuotes::from_bytes(&bad),
                Err(QuoteError::QuotesCount { found: count })
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            RunQuotes::from_bytes(&trailing),
            Err(QuoteError::TrailingBytes { .. })
        ));
        for cut in 0..good.len() {
            assert!(RunQuotes::from_bytes(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut empty_attest = good;
        empty_attest[11] = 0;
        assert!(matches!(
            RunQuotes::from_bytes(&empty_attest),
            Err(QuoteError::FieldTooLarge { size: 0, .. })
        ));
    }
}
