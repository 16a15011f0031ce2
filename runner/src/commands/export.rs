//! `airlock export`: a verified bundle as DSSE envelopes (`--dsse`) or as
//! an Inspect eval log (`--inspect`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock_attest::{Overwrite, PublicKey, SigningKey};

use super::output::{EXIT_UNVERIFIED, Failure};

#[derive(clap::Args, Debug)]
#[command(group(
    clap::ArgGroup::new("output").required(true).args(["dsse", "inspect"])
))]
pub(crate) struct ExportArgs {
    /// The bundle file.
    bundle: PathBuf,
    /// Directory for results.intoto.jsonl and signer.pub (created if
    /// missing); needs --key.
    #[arg(long, value_name = "OUT_DIR", requires = "key")]
    dsse: Option<PathBuf>,
    /// Write an Inspect eval log (Inspect's JSON log format, one .json
    /// file) of the verified run to OUT; needs --pubkey or --key.
    #[arg(long, value_name = "OUT")]
    inspect: Option<PathBuf>,
    /// The evaluator private key that signed the bundle: the DSSE export
    /// runs inside the enclave, verifies the bundle under this key first,
    /// and signs each envelope with it. With --inspect only its public half
    /// is used.
    #[arg(long, required_unless_present = "pubkey")]
    key: Option<PathBuf>,
    /// With --inspect: the evaluator public key (SPKI PEM) the bundle must
    /// verify under; what a verifier outside the enclave has.
    #[arg(long, requires = "inspect", conflicts_with = "key")]
    pubkey: Option<PathBuf>,
    /// With --inspect: a disclosure file (from `airlock disclose`), checked
    /// against its signed result; that sample then carries its messages.
    /// May be given more than once.
    #[arg(long, requires = "inspect")]
    disclosed: Vec<PathBuf>,
    /// Replace existing output (results.intoto.jsonl and signer.pub in
    /// OUT_DIR, or the file OUT).
    #[arg(long)]
    force: bool,
}

pub(crate) fn execute(args: &ExportArgs) -> Result<(), Failure> {
    match (&args.dsse, &args.inspect) {
        (Some(dir), None) => export_dsse(args, dir),
        (None, Some(out)) => export_inspect(args, out),
        // clap's group makes exactly one of them required.
        _ => Err(Failure::input(
            "give exactly one of --dsse OUT_DIR, --inspect OUT",
        )),
    }
}

fn export_dsse(args: &ExportArgs, dir: &Path) -> Result<(), Failure> {
    use airlock_attest::dsse::{ExportError, export_dsse};
    use airlock_core::Classify as _;
    let Some(key) = &args.key else {
        return Err(Failure::input(
            "--dsse needs --key: the envelopes are signed",
        ));
    };
    let key = SigningKey::load(key).map_err(Failure::from)?;
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    match export_dsse(&args.bundle, &key, dir, overwrite) {
        Ok(exported) => {
            outln!("{}", exported.envelopes.display());
            outln!("{}", exported.signer.display());
            eprintln!(
                "exported {} results as DSSE envelopes signed by key {}",
                exported.count,
                key.key_id()
            );
            Ok(())
        }
        // These name their own file.
        Err(e @ (ExportError::Attest(_) | ExportError::Exists(_))) => Err(Failure::from(e)),
        Err(e) => Err(Failure::of_class(
            e.class(),
            format!("{}: {e}", args.bundle.display()),
        )),
    }
}

/// `export --inspect OUT`: verifies the bundle (and the disclosures) as
/// `airlock verify` does, refuses anything short of verified, and writes
/// the report model of the run as an Inspect eval log.
fn export_inspect(args: &ExportArgs, out: &Path) -> Result<(), Failure> {
    use airlock::audit::{self, VerifyRequest};
    use airlock::report::{self, inspect};
    use airlock_attest::disclosure::Disclosure;
    use airlock_attest::verify::VerifyOptions;
    let public = match (&args.pubkey, &args.key) {
        (Some(path), _) => PublicKey::load(path).map_err(Failure::from)?,
        (None, Some(path)) => SigningKey::load(path).map_err(Failure::from)?.public_key(),
        (None, None) => return Err(Failure::input("--inspect needs --pubkey or --key")),
    };
    // Refused before the work, and again at the rename.
    if !args.force && std::fs::symlink_metadata(out).is_ok() {
        return Err(Failure::input(format!(
            "{}: already exists; choose another path or pass --force to replace it",
            out.display()
        )));
    }
    // Unreadable disclosure files are bad input, as in `verify`; the rest
    // is the disclosed level's to judge.
    let mut disclosures = Vec::new();
    for path in &args.disclosed {
        disclosures.push(Disclosure::read(path).map_err(Failure::from)?);
    }
    // The digest is taken before and after verifying: a bundle that
    // changed meanwhile is not the one verified.
    let digest_before = bundle_digest(&args.bundle)?;
    let request = VerifyRequest {
        bundles: vec![args.bundle.clone()],
        trusted: vec![public],
        suite: None,
        release: None,
        options: VerifyOptions::default().collect_records(true),
        disclosed: args.disclosed.clone(),
        replay: None,
        log: None,
        registrations: None,
    };
    let outcome = audit::verify_all(&request).map_err(Failure::from)?;
    if !outcome.verified() {
        return Err(Failure {
            code: EXIT_UNVERIFIED,
            message: format!(
                "{}; no Inspect log written",
                audit::failure_message(&outcome)
            ),
        });
    }
    let Some(verdict) = outcome.bundles.into_iter().next().map(|b| b.verdict) else {
        return Err(Failure::input("no bundle to export"));
    };
    let report = report::model::RunReport::build(
        args.bundle.display().to_string(),
        verdict,
        &report::model::Categories::embedded(),
        None,
    );
    if bundle_digest(&args.bundle)? != digest_before {
        return Err(Failure::input(format!(
            "{}: changed while it was verified; no Inspect log written",
            args.bundle.display()
        )));
    }
    let evidence = inspect::Evidence {
        bundle_blake3: digest_before,
        disclosed: disclosures
            .iter()
            .map(|d| (d.plan_index, &d.transcript))
            .collect::<BTreeMap<_, _>>(),
    };
    let log = inspect::eval_log(&report, &evidence);
    let text = inspect::render(&log);
    report::output::write_atomically(out, text.as_bytes(), args.force).map_err(Failure::from)?;
    outln!("{}", out.display());
    if !inspect::listed_name(out) {
        eprintln!(
            "note: `inspect view` lists a JSON log only when its file name starts with a \
             timestamp, as Inspect names logs (e.g. {})",
            inspect::conventional_name(&report)
        );
    }
    eprintln!(
        "exported {} results ({} disclosed) of verified run {} as an Inspect eval log",
        report.results.len(),
        evidence.disclosed.len(),
        report.run_id_hex()
    );
    Ok(())
}

/// blake3 of the bundle file, streamed: a bundle can be large.
fn bundle_digest(path: &Path) -> Result<airlock_core::Digest, Failure> {
    let unreadable = |e: std::io::Error| Failure::input(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut hasher = blake3::Hasher::new();
    std::io::copy(&mut file, &mut hasher).map_err(unreadable)?;
    Ok(airlock_core::Digest(*hasher.finalize().as_bytes()))
}
