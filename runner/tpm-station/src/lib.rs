//! The station side of issue 21: an ECDSA P-256 attestation key (AK) in the
//! station's TPM 2.0, its enrolment, and TPM2_Quote over a run's
//! qualifying data.
//!
//! The TPM is driven through the tpm2-tools programs (5.x) with the TCTI
//! the caller names (`swtpm:host=127.0.0.1,port=P`, `device:/dev/tpmrm0`,
//! `tabrmd`), never by marshalling TPM commands here. Between commands the
//! transient objects and sessions are flushed: without a resource manager
//! (swtpm, `/dev/tpm0`) each program leaves its objects loaded, the TPM's
//! few object slots fill, and tpm2_quote then fails with a misleading
//! "Invalid key authorization".
//!
//! The station directory holds, after [`enroll`]:
//! - `ak.handle`: tpm2-tools' serialised persistent handle of the AK
//!   (made persistent with tpm2_evictcontrol, so that it survives a reboot,
//!   which a saved transient context would not);
//! - `ak.pub`, `ak.name`, `ak.priv`, `ek.ctx`, `ak.ctx`: what
//!   tpm2_createek and tpm2_createak wrote, kept for inspection;
//! - `pcr-selection`: the enrolled TPML_PCR_SELECTION (TPM encoding), which
//!   [`quote`] asks for.
//!
//! One directory is used by one process at a time.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_tpm_quote::{PcrSelection, StationRegistration, verify_quote};

pub mod error;

pub use error::StationError;

/// The AK's persistent handle file in the station directory.
pub const AK_HANDLE_FILE: &str = "ak.handle";
/// The enrolled PCR selection in the station directory.
pub const PCR_SELECTION_FILE: &str = "pcr-selection";

/// The DER SubjectPublicKeyInfo prefix of every P-256 key with an
/// uncompressed point (id-ecPublicKey, prime256v1, BIT STRING of 66 bytes):
/// 26 bytes, then the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The qualifying data of enrolment's own quote, which reads the PCR
/// digest the registration records; it binds no run.
const ENROLMENT_QUALIFYING_DATA: [u8; 32] = *b"airlock station enrolment quote\0";

fn file_error(path: &Path, e: &std::io::Error) -> StationError {
    StationError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, StationError> {
    std::fs::read(path).map_err(|e| file_error(path, &e))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), StationError> {
    std::fs::write(path, bytes).map_err(|e| file_error(path, &e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs one tpm2-tools program against `tcti` to the end, then flushes
/// the transient objects and sessions it left.
fn tpm2(program: &'static str, tcti: &str, args: &[&str]) -> Result<Vec<u8>, StationError> {
    let out = run(program, tcti, args);
    let flushed = flush(tcti);
    // Flushed on failure too (a failed command may still hold a slot), but
    // the command's own failure is the one to report.
    let out = out?;
    flushed?;
    Ok(out)
}

fn run(program: &'static str, tcti: &str, args: &[&str]) -> Result<Vec<u8>, StationError> {
    let output = Command::new(program)
        .arg("-T")
        .arg(tcti)
        .args(args)
        .output()
        .map_err(|e| StationError::Spawn {
            program,
            reason: e.to_string(),
        })?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(StationError::Tool {
            program,
            code: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

fn flush(tcti: &str) -> Result<(), StationError> {
    run("tpm2_flushcontext", tcti, &["-t"])?;
    run("tpm2_flushcontext", tcti, &["-s"])?;
    Ok(())
}

fn path_arg(path: &Path) -> Result<&str, StationError> {
    path.to_str().ok_or_else(|| StationError::File {
        path: path.to_path_buf(),
        reason: String::from("path is not UTF-8, which tpm2-tools arguments need here"),
    })
}

/// Creates the AK under an ECC endorsement key and makes it persistent,
/// unless the directory already holds its handle.
fn ensure_ak(tcti: &str, dir: &Path) -> Result<PathBuf, StationError> {
    let handle = dir.join(AK_HANDLE_FILE);
    if handle.is_file() {
        return Ok(handle);
    }
    let ek_ctx = dir.join("ek.ctx");
    let ak_ctx = dir.join("ak.ctx");
    tpm2(
        "tpm2_createek",
        tcti,
        &["-G", "ecc", "-c", path_arg(&ek_ctx)?],
    )?;
    tpm2(
        "tpm2_createak",
        tcti,
        &[
            "-C",
            path_arg(&ek_ctx)?,
            "-c",
            path_arg(&ak_ctx)?,
            "-G",
            "ecc",
            "-g",
            "sha256",
            "-s",
            "ecdsa",
            "-u",
            path_arg(&dir.join("ak.pub"))?,
            "-n",
            path_arg(&dir.join("ak.name"))?,
            "-r",
            path_arg(&dir.join("ak.priv"))?,
        ],
    )?;
    // Written to a scratch name first: a crash in between leaves no handle
    // file that names no key.
    let pending = dir.join("ak.handle.pending");
    tpm2(
        "tpm2_evictcontrol",
        tcti,
        &[
            "-C",
            "o",
            "-c",
            path_arg(&ak_ctx)?,
            "-o",
            path_arg(&pending)?,
        ],
    )?;
    std::fs::rename(&pending, &handle).map_err(|e| file_error(&handle, &e))?;
    Ok(handle)
}

/// The AK's public point, from tpm2_readpublic's DER.
fn read_ak_point(tcti: &str, handle: &Path, scratch: &Path) -> Result<[u8; 65], StationError> {
    let der_path = scratch.join("ak.der");
    tpm2(
        "tpm2_readpublic",
        tcti,
        &[
            "-c",
            path_arg(handle)?,
            "-f",
            "der",
            "-o",
            path_arg(&der_path)?,
        ],
    )?;
    let der = read(&der_path)?;
    der.strip_prefix(&P256_SPKI_PREFIX[..])
        .and_then(|point| <[u8; 65]>::try_from(point).ok())
        .filter(|point| point[0] == 0x04)
        .ok_or(StationError::AkPublicKey { len: der.len() })
}

fn scratch_dir() -> Result<tempfile::TempDir, StationError> {
    tempfile::tempdir().map_err(|e| file_error(&std::env::temp_dir(), &e))
}

fn quote_with(
    tcti: &str,
    handle: &Path,
    selection: &PcrSelection,
    qualifying_data: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), StationError> {
    let pcrs = selection
        .to_tpm2_tools()
        .ok_or_else(|| StationError::PcrSelection {
            selection: selection.to_string(),
        })?;
    let scratch = scratch_dir()?;
    let msg = scratch.path().join("quote.msg");
    let sig = scratch.path().join("quote.sig");
    let qd = hex(qualifying_data);
    tpm2(
        "tpm2_quote",
        tcti,
        &[
            "-c",
            path_arg(handle)?,
            "-l",
            &pcrs,
            "-q",
            &qd,
            "-m",
            path_arg(&msg)?,
            "-s",
            path_arg(&sig)?,
            // The TPMT_SIGNATURE as the TPM returns it, which
            // airlock_tpm_quote::parse_signature reads.
            "-f",
            "tss",
        ],
    )?;
    Ok((read(&msg)?, read(&sig)?))
}

/// Enrols the station: creates the restricted ECDSA P-256 AK (or loads it,
/// when `dir` holds its handle from an earlier enrolment), reads its public
/// point, records `pcrs` in `dir`, and reads the current PCR digest of
/// `pcrs` from a quote by the new AK, which is also checked against the
/// point read.
///
/// The registration binds the AK to `evaluator_key_id`; the caller writes
/// it out ([`StationRegistration::to_bytes`]) for verifiers.
pub fn enroll(
    tcti: &str,
    dir: &Path,
    evaluator_key_id: &[u8; 32],
    pcrs: &PcrSelection,
) -> Result<StationRegistration, StationError> {
    if pcrs.to_tpm2_tools().is_none() {
        return Err(StationError::PcrSelection {
            selection: pcrs.to_string(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, &e))?;
    let handle = ensure_ak(tcti, dir)?;
    let scratch = scratch_dir()?;
    let ak_public = read_ak_point(tcti, &handle, scratch.path())?;
    let (attest, signature) = quote_with(tcti, &handle, pcrs, &ENROLMENT_QUALIFYING_DATA)?;
    let info = airlock_tpm_quote::parse_attest(&attest)?;
    let registration = StationRegistration {
        ak_public,
        evaluator_key_id: *evaluator_key_id,
        pcr_selection: pcrs.clone(),
        pcr_digest: info.pcr_digest,
    };
    // The TPM must have quoted the selection asked for, under the key read.
    verify_quote(
        &registration,
        &attest,
        &signature,
        &ENROLMENT_QUALIFYING_DATA,
    )?;
    write(&dir.join(PCR_SELECTION_FILE), &pcrs.to_bytes())?;
    Ok(registration)
}

/// Quotes the enrolled PCR selection with the station's AK over
/// `qualifying_data` (for a run, [`airlock_tpm_quote::qualifying_data`]):
/// the TPMS_ATTEST bytes exactly as the TPM returned them, and the
/// TPMT_SIGNATURE bytes, as [`airlock_tpm_quote::verify_quote`] takes them.
pub fn quote(
    tcti: &str,
    dir: &Path,
    qualifying_data: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), StationError> {
    let selection_path = dir.join(PCR_SELECTION_FILE);
    let selection = PcrSelection::from_bytes(&read(&selection_path)?).map_err(|_| {
        StationError::SavedSelection {
            path: selection_path.clone(),
        }
    })?;
    let handle = dir.join(AK_HANDLE_FILE);
    if !handle.is_file() {
        return Err(StationError::File {
            path: handle,
            reason: String::from("no AK handle: the station is not enrolled"),
        });
    }
    quote_with(tcti, &handle, &selection, qualifying_data)
}
