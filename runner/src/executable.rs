//! The running executable's identity: the digest RunStart records of the
//! runner, `airlock --version --json` prints, and a release manifest lists.

use std::sync::OnceLock;

use airlock_core::Digest;

/// blake3 of the running executable, recorded so a verifier knows which
/// build produced the fuel counts. Computed once per process, streamed: the
/// binary is never held in memory at once. [`Digest::ZERO`] when the
/// executable cannot be read (a verifier then sees an unknown build).
pub fn executable_digest() -> Digest {
    static DIGEST: OnceLock<Digest> = OnceLock::new();
    *DIGEST.get_or_init(|| {
        let hash = || -> std::io::Result<Digest> {
            let file = std::fs::File::open(std::env::current_exe()?)?;
            let mut hasher = blake3::Hasher::new();
            hasher.update_reader(file)?;
            Ok(Digest(*hasher.finalize().as_bytes()))
        };
        hash().unwrap_or(Digest::ZERO)
    })
}

/// Starts [`executable_digest`] on a thread of its own, so that hashing the
/// binary overlaps what comes before a run (compiling the suite's modules);
/// the run's own call then waits for it if it is not done.
pub fn prefetch_executable_digest() {
    std::thread::spawn(executable_digest);
}
