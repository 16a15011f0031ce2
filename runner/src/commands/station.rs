//! `airlock station enroll`: bind the station's TPM to its evaluator key.

use std::path::{Path, PathBuf};

use airlock::run::hardware::{REGISTRATION_FILE, TCTI_FILE};
use airlock_attest::{Overwrite, SigningKey};
use airlock_core::hex;
use airlock_tpm_quote::PcrSelection;
use serde_json::json;

use super::output::{Failure, emit_json};

/// The PCRs a registration covers unless told otherwise: the PC Client
/// platform's measured boot (firmware, option ROMs, boot loader, Secure
/// Boot policy), which is what a station's known state is.
const DEFAULT_PCRS: &str = "sha256:0,1,2,3,4,5,6,7";

#[derive(clap::Subcommand, Debug)]
pub(crate) enum StationCommand {
    /// Create (or load) the station's TPM attestation key, a restricted
    /// ECDSA P-256 key under the endorsement hierarchy, and write the
    /// station registration verifiers trust: the AK's public key, the
    /// evaluator key it is bound to, the PCR selection and their digest now.
    Enroll(EnrollArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct EnrollArgs {
    /// The station's evaluator private key: the registration binds the AK
    /// to its key id, and runs signed with it are quoted by this TPM.
    #[arg(long)]
    key: PathBuf,
    /// How tpm2-tools reach the TPM; recorded for the station's runs.
    #[arg(long, default_value = "device:/dev/tpmrm0")]
    tcti: String,
    /// The PCRs every quote covers, as `sha256:0,1,2` (PCRs 0 to 23).
    #[arg(long, default_value = DEFAULT_PCRS, value_parser = parse_pcrs)]
    pcrs: PcrSelection,
    /// The station's TPM directory; default: NAME.tpm beside NAME.key.
    #[arg(long, value_name = "DIR")]
    tpm_station: Option<PathBuf>,
    /// Enrol again over an existing registration (the AK is kept; the PCR
    /// digest is read anew). Runs bound to the old registration stay bound
    /// to it.
    #[arg(long)]
    force: bool,
    /// Print the registration as JSON (airlock-station-registration/1).
    #[arg(long)]
    json: bool,
}

/// The TPM directory of a station whose evaluator key is at `key`:
/// `NAME.tpm` for `NAME.key`.
pub(crate) fn tpm_dir(key: &Path) -> PathBuf {
    key.with_extension("tpm")
}

fn parse_pcrs(text: &str) -> Result<PcrSelection, String> {
    let list = text
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("\"{text}\": give the SHA-256 bank's PCRs, as sha256:0,1,2"))?;
    let mut pcrs = Vec::new();
    for item in list.split(',') {
        let pcr: u32 = item
            .trim()
            .parse()
            .map_err(|_| format!("\"{item}\" is not a PCR number"))?;
        if pcrs.contains(&pcr) {
            return Err(format!("PCR {pcr} is given twice"));
        }
        pcrs.push(pcr);
    }
    PcrSelection::sha256(&pcrs).ok_or_else(|| format!("\"{text}\": PCRs are numbered 0 to 23"))
}

pub(crate) fn execute(command: StationCommand) -> Result<(), Failure> {
    match command {
        StationCommand::Enroll(args) => enroll(&args),
    }
}

fn enroll(args: &EnrollArgs) -> Result<(), Failure> {
    let key = SigningKey::load(&args.key).map_err(Failure::from)?;
    let dir = args
        .tpm_station
        .clone()
        .unwrap_or_else(|| tpm_dir(&args.key));
    let registration_path = dir.join(REGISTRATION_FILE);
    if registration_path.exists() && !args.force {
        return Err(Failure::input(format!(
            "{}: the station is already enrolled; pass --force to enrol again (runs bound to \
             this registration stay bound to it)",
            registration_path.display()
        )));
    }
    // A TPM that cannot enrol is this station's setup, not a verdict: exit 2.
    let tpm_failure = |e: airlock_tpm_station::StationError| {
        Failure::input(format!("{}: TPM station: {e}", dir.display()))
    };
    let registration = airlock_tpm_station::enroll(&args.tcti, &dir, &key.key_id().0, &args.pcrs)
        .map_err(tpm_failure)?;
    let bytes = registration.to_bytes();
    let written = Failure::from;
    airlock_attest::write_file_atomically(
        &dir.join(TCTI_FILE),
        format!("{}\n", args.tcti).as_bytes(),
        0o644,
        Overwrite::Replace,
    )
    .map_err(written)?;
    airlock_attest::write_file_atomically(
        &registration_path,
        &bytes,
        0o644,
        if args.force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        },
    )
    .map_err(written)?;
    let digest = blake3::hash(&bytes);
    if args.json {
        emit_json(&json!({
            "format": "airlock-station-registration/1",
            "registration": registration_path.display().to_string(),
            "registration_blake3": digest.to_hex().to_string(),
            "evaluator_key_id": key.key_id().to_hex().to_string(),
            "ak_public": hex::encode(&registration.ak_public),
            "pcr_selection": registration.pcr_selection.to_string(),
            "pcr_digest": hex::encode(&registration.pcr_digest),
        }));
    } else {
        outln!("{}", registration_path.display());
        outln!("  registration blake3  {}", digest.to_hex());
        outln!("  evaluator key id     {}", key.key_id());
        outln!(
            "  attestation key      P-256 {}",
            hex::encode(&registration.ak_public)
        );
        outln!(
            "  PCRs                 {} = {}",
            registration.pcr_selection,
            hex::encode(&registration.pcr_digest)
        );
        eprintln!(
            "give verifiers {} (they check runs with `airlock verify --station-registration`)",
            registration_path.display()
        );
    }
    Ok(())
}
