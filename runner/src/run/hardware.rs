//! The station's TPM during a run (SPEC.md, "TPM quotes"): the enrolment a
//! run is bound to, and the quotes over its RunStart and RunEnd chain
//! hashes, kept in `OUT.tpm-quotes`.
//!
//! A quote is made once its record is durable in the journal and before
//! the run goes on, and is written atomically, so a run killed at any point
//! resumes with a quotes file that is either absent, holds the RunStart
//! quote, or holds both; a missing quote is made on resume (its clock is
//! then later, which the verifier's order check allows).

use std::path::{Path, PathBuf};

use airlock_attest::Overwrite;
use airlock_attest::hardware::{MAX_REGISTRATION_BYTES, TrustedRegistration, quotes_path};
use airlock_core::Digest;
use airlock_core::record::StationHardware;
use airlock_tpm_quote::quote_file::MAX_QUOTES_FILE_BYTES;
use airlock_tpm_quote::{Quote, RunQuotes, parse_attest, qualifying_data, verify_quote};
use airlock_tpm_station::StationError;

use super::error::RunError;

/// The station registration in an enrolled station's TPM directory: the
/// file `airlock station enroll` wrote for verifiers.
pub const REGISTRATION_FILE: &str = "registration";
/// The TCTI the station was enrolled through, one line, in its TPM directory.
pub const TCTI_FILE: &str = "tcti";

/// An enrolled station's TPM, as a run uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmStation {
    /// The station's TPM directory (`NAME.tpm` beside `NAME.key`).
    pub dir: PathBuf,
    /// How tpm2-tools reach the TPM.
    pub tcti: String,
    /// The registration the station wrote at enrolment, with its blake3
    /// (which RunStart records), read as a verifier reads it.
    pub registration: TrustedRegistration,
}

impl TpmStation {
    /// Reads an enrolled station's TPM directory; `tcti` replaces the one
    /// recorded at enrolment.
    pub fn load(dir: &Path, tcti: Option<&str>) -> Result<TpmStation, RunError> {
        let tpm_error = |error| RunError::Tpm {
            dir: dir.to_path_buf(),
            error,
        };
        let path = dir.join(REGISTRATION_FILE);
        if !path.exists() {
            return Err(tpm_error(StationError::File {
                path,
                reason: "no station registration: the station is not enrolled (run `airlock \
                         station enroll`)"
                    .into(),
            }));
        }
        let bytes = airlock_attest::read_regular(&path, MAX_REGISTRATION_BYTES)?;
        let label = path.display().to_string();
        let registration = TrustedRegistration::from_bytes(&label, &bytes).map_err(|e| {
            tpm_error(StationError::File {
                path: path.clone(),
                reason: e.to_string(),
            })
        })?;
        let tcti = match tcti {
            Some(tcti) => tcti.to_owned(),
            None => {
                let path = dir.join(TCTI_FILE);
                let text = airlock_attest::read_regular(&path, 4096)?;
                let text = String::from_utf8(text).map_err(|_| {
                    tpm_error(StationError::File {
                        path: path.clone(),
                        reason: "not UTF-8".into(),
                    })
                })?;
                text.trim().to_owned()
            }
        };
        Ok(TpmStation {
            dir: dir.to_path_buf(),
            tcti,
            registration,
        })
    }

    /// What RunStart records for a run quoted by this station.
    pub fn hardware(&self) -> StationHardware {
        StationHardware::Tpm2Quote {
            registration: self.registration.digest,
        }
    }

    fn error(&self, error: impl Into<StationError>) -> RunError {
        RunError::Tpm {
            dir: self.dir.clone(),
            error: error.into(),
        }
    }

    /// One quote over `chain_hash`, checked against the registration: a
    /// quote the station's own verifier would refuse (PCRs changed since
    /// enrolment, another TPM behind the TCTI) is kept, since the run's
    /// results are still the run's, but said loudly, as verifiers asking
    /// for the hardware level will refuse the run.
    fn quote(&self, key_id: &Digest, chain_hash: &Digest, record: &str) -> Result<Quote, RunError> {
        let qualifying = qualifying_data(&key_id.0, &chain_hash.0);
        let (attest, signature) = airlock_tpm_station::quote(&self.tcti, &self.dir, &qualifying)
            .map_err(|e| self.error(e))?;
        if let Err(why) = verify_quote(
            &self.registration.registration,
            &attest,
            &signature,
            &qualifying,
        ) {
            tracing::warn!(
                record,
                %why,
                "the TPM quote does not match the station registration: verifiers asking for \
                 the hardware level will refuse this run"
            );
        }
        Ok(Quote { attest, signature })
    }
}

/// Whether `quote` was asked for `qualifying` (the signature is the
/// verifier's to check; here only which run it is for matters).
fn quotes_this(quote: &Quote, key_id: &Digest, chain_hash: &Digest) -> bool {
    parse_attest(&quote.attest)
        .is_ok_and(|info| info.extra_data == qualifying_data(&key_id.0, &chain_hash.0))
}

/// The run's quotes file as it stands: `None` when absent, unreadable, or
/// the leftover of another run (a replaced bundle's), which is then quoted
/// anew.
fn existing(out: &Path, key_id: &Digest, start_hash: &Digest) -> Option<RunQuotes> {
    let bytes = airlock_attest::read_regular(&quotes_path(out), MAX_QUOTES_FILE_BYTES).ok()?;
    RunQuotes::from_bytes(&bytes)
        .ok()
        .filter(|q| quotes_this(&q.run_start, key_id, start_hash))
}

fn write(out: &Path, quotes: &RunQuotes) -> Result<(), RunError> {
    airlock_attest::write_file_atomically(
        &quotes_path(out),
        &quotes.to_bytes(),
        0o644,
        Overwrite::Replace,
    )?;
    Ok(())
}

/// Makes sure `OUT.tpm-quotes` holds the RunStart quote of this run.
pub(super) fn quote_run_start(
    tpm: &TpmStation,
    out: &Path,
    key_id: &Digest,
    start_hash: &Digest,
) -> Result<(), RunError> {
    if existing(out, key_id, start_hash).is_some() {
        return Ok(());
    }
    let run_start = tpm.quote(key_id, start_hash, "RunStart")?;
    write(
        out,
        &RunQuotes {
            run_start,
            run_end: None,
        },
    )
}

/// Makes sure `OUT.tpm-quotes` holds this run's RunStart and RunEnd quotes.
pub(super) fn quote_run_end(
    tpm: &TpmStation,
    out: &Path,
    key_id: &Digest,
    start_hash: &Digest,
    final_hash: &Digest,
) -> Result<(), RunError> {
    let run_start = match existing(out, key_id, start_hash) {
        Some(RunQuotes {
            run_end: Some(end), ..
        }) if quotes_this(&end, key_id, final_hash) => return Ok(()),
        Some(quotes) => quotes.run_start,
        None => tpm.quote(key_id, start_hash, "RunStart")?,
    };
    let run_end = tpm.quote(key_id, final_hash, "RunEnd")?;
    write(
        out,
        &RunQuotes {
            run_start,
            run_end: Some(run_end),
        },
    )
}

/// A run without a TPM leaves no quotes file: one left by a replaced
/// bundle's run would stand beside a bundle it does not belong to.
pub(super) fn remove_stale_quotes(out: &Path) -> Result<(), RunError> {
    let path = quotes_path(out);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(RunError::Io {
            path,
            doing: "remove the stale TPM quotes file",
            error,
        }),
    }
}
