//! `airlock --version [--json]`: which build this is, as a bundle's
//! RunStart records it and a release manifest lists it.

use airlock::executable::executable_digest;

use super::output::{Failure, emit_json};

/// The `format` of `airlock --version --json`.
const VERSION_FORMAT: &str = "airlock-version/1";

pub(crate) fn execute(json: bool) -> Result<(), Failure> {
    let version = env!("CARGO_PKG_VERSION");
    if !json {
        outln!("airlock {version}");
        return Ok(());
    }
    let target = format!(
        "{}-{}-{}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        if cfg!(target_env = "musl") {
            "musl"
        } else if cfg!(target_env = "gnu") {
            "gnu"
        } else {
            "other"
        }
    );
    #[cfg(feature = "sandbox")]
    let (wasmtime, settings) = {
        let facts = super::release::runner_facts(&[])?;
        let settings: Vec<serde_json::Value> = facts
            .engine_settings
            .iter()
            .map(|e| {
                serde_json::json!({
                    "profile": e.profile,
                    "backend": e.backend,
                    "blake3": e.digest.to_hex().as_str(),
                })
            })
            .collect();
        (serde_json::Value::from(facts.wasmtime_version), settings)
    };
    #[cfg(not(feature = "sandbox"))]
    let (wasmtime, settings) = (serde_json::Value::Null, Vec::<serde_json::Value>::new());
    emit_json(&serde_json::json!({
        "format": VERSION_FORMAT,
        "airlock_version": version,
        "wasmtime_version": wasmtime,
        "sandbox": cfg!(feature = "sandbox"),
        "target": target,
        "static": cfg!(target_feature = "crt-static"),
        "executable": {"blake3": executable_digest().to_hex().as_str()},
        "engine_settings": settings,
    }));
    Ok(())
}
