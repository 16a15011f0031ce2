//! Airlock's portable scoring core.
//!
//! This crate compiles into the WebAssembly task modules and into the host
//! alike, so that both sides of the task ABI, and every verifier, share one
//! definition of each message, record and hash. It is `#![no_std]`; the
//! `alloc` feature (on by default) adds the types that own strings and
//! vectors. Without `alloc` the fixed-size parts remain: scores, outcomes,
//! digests, chain hashing and the signed message.
//!
//! Byte layouts are specified in `SPEC.md` at the repository root and pinned
//! by exact-byte tests in this crate.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
pub mod abi;
pub mod chain;
pub mod digest;
pub mod outcome;
#[cfg(feature = "alloc")]
pub mod record;
pub mod score;
pub mod stats;
pub mod suite;
pub mod text;
#[cfg(feature = "alloc")]
pub mod transcript;

pub use digest::Digest;
pub use outcome::Outcome;
pub use score::Ppm;
pub use text::{JsonSafe, Untrusted, UntrustedLines};

/// Decodes a postcard message that must fill `bytes` exactly: trailing bytes
/// are an error, so that one byte string never decodes as two messages.
pub fn decode_exact<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeUnexpectedEnd)
    }
}

/// Version of the record, chain, signature and bundle formats in SPEC.md.
pub const FORMAT_VERSION: u16 = 1;
