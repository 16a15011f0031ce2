//! Hardware profile TOML: a profile file comes from a lab or an operator.
//! Any text is a validated profile or an error naming a line, never a
//! panic; a valid profile has a digest and gives sandbox limits.
#![no_main]

use airlock::profile::{ProfileSource, from_toml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    match from_toml(text, ProfileSource::Embedded("fuzz")) {
        Ok(loaded) => {
            let _ = loaded.profile.digest();
            let limits = loaded.profile.sandbox_limits();
            assert!(limits.memory_bytes > 0 || !loaded.profile.runs_tasks());
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
