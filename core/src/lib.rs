//! Airlock's portable scoring core.
//!
//! This crate compiles into the WebAssembly task modules and into the host
//! alike, so that both sides of the task ABI, and every verifier, share one
//! definition of each message, record and hash. It is `#![no_std]`; the
//! `alloc` feature (on by default) adds the types that own strings and
//! vectors. Without `alloc` the fixed-size parts remain: scores, outcomes,
//! digests, chain hashing and the signed message. The one hex encoder and
//! decoder of the workspace ([`hex`]), the escaping of untrusted text for
//! terminals and logs, and the exit-code class every library error declares
//! ([`Classify`]) live here too, since every other crate uses them.
//!
//! Byte layouts are specified in `SPEC.md` at the repository root and pinned
//! by exact-byte tests in this crate.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A `pub` item must be reachable from outside the crate; anything else says
// `pub(crate)`, so the public face of each crate is what it declares.
#![warn(unreachable_pub)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
pub mod abi;
#[cfg(feature = "alloc")]
pub mod campaign;
pub mod chain;
pub mod digest;
pub mod error_class;
pub mod hex;
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
pub use error_class::{Classify, ErrorClass};
pub use outcome::Outcome;
pub use score::Ppm;
pub use text::{JsonSafe, Untrusted, UntrustedLines};

/// Decodes a postcard message that must fill `bytes` exactly and be its
/// value's one encoding: trailing bytes are an error, so that one byte
/// string never decodes as two messages, and so is a varint spelled with
/// more bytes than it needs (postcard itself accepts `82 80 00` for 2), so
/// that one message never has two byte strings. A non-minimal encoding is
/// reported as [`postcard::Error::DeserializeBadEncoding`].
pub fn decode_exact<'a, T>(bytes: &'a [u8]) -> Result<T, postcard::Error>
where
    T: serde::Deserialize<'a> + serde::Serialize,
{
    let (value, rest) = postcard::take_from_bytes::<T>(bytes)?;
    if !rest.is_empty() {
        return Err(postcard::Error::DeserializeUnexpectedEnd);
    }
    check_canonical(&value, bytes.len())?;
    Ok(value)
}

/// Checks that `value`, decoded from `len` bytes, takes exactly `len` bytes
/// to encode. The one freedom postcard's decoder leaves a writer is a
/// varint's length (every other field is fixed by the value: raw bytes,
/// `00`/`01` for bools and options), and an unneeded varint byte only ever
/// lengthens the encoding, so equal length means these are the canonical
/// bytes, without encoding them again.
pub fn check_canonical<T: serde::Serialize + ?Sized>(
    value: &T,
    len: usize,
) -> Result<(), postcard::Error> {
    match postcard::experimental::serialized_size(value) {
        Ok(n) if n == len => Ok(()),
        _ => Err(postcard::Error::DeserializeBadEncoding),
    }
}

/// Version of the record, chain, signature and bundle formats in SPEC.md.
pub const FORMAT_VERSION: u16 = 5;
