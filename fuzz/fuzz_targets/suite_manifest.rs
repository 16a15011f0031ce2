//! Suite manifests (`suite.manifest`) come with the suite from outside the
//! enclave: any bytes decode to a manifest with safe file names and a
//! signature check, or give a reason, never a panic.
#![no_main]

use airlock_attest::manifest::decode_manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((manifest, authority, signature)) = decode_manifest(data) {
        for task in &manifest.tasks {
            assert!(!task.file_name.contains('/') && !task.file_name.is_empty());
        }
        let _ = authority.verify(&manifest.signed_message(), &signature);
    }
});
