//! Frames and file headers shared by journals and bundles (SPEC.md, "Frames").
//!
//! A frame is `length (u32 LE) ‖ postcard(SignedEntry)`. Journals and
//! bundles both start with a 44-byte header and continue with frames; a
//! bundle then ends with a trailer introduced by a zero length.

use core::fmt;
use std::io::{self, Read, Write};

use airlock_core::Digest;
use airlock_core::record::{Signature, SignedEntry};

pub use crate::error::{FORMAT_VERSION, FileKind, HEADER_LEN, HeaderError};
use crate::keys::PublicKey;

/// The largest frame accepted, in bytes (16 MiB). A hostile length beyond it
/// is refused before anything is allocated; below it, buffers grow only as
/// bytes actually arrive.
pub const MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;

/// Magic of a journal file. PNG-style: the high byte and CR LF / SUB / LF
/// detect 7-bit and text-mode transfers that would mangle the file.
pub const JOURNAL_MAGIC: [u8; 8] = *b"\x89ALJ\r\n\x1a\n";
/// Magic of a bundle file.
pub const BUNDLE_MAGIC: [u8; 8] = *b"\x89ALB\r\n\x1a\n";
/// Magic that ends a bundle, after its trailer.
pub const END_MAGIC: [u8; 8] = *b"\x89ALE\r\n\x1a\n";

/// The magic that starts a file of `kind`.
fn magic_of(kind: FileKind) -> [u8; 8] {
    match kind {
        FileKind::Journal => JOURNAL_MAGIC,
        FileKind::Bundle => BUNDLE_MAGIC,
    }
}

/// `magic ‖ version u16 LE ‖ flags u16 LE (0) ‖ public key`.
pub(crate) fn encode_header(kind: FileKind, key: &PublicKey) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..8].copy_from_slice(&magic_of(kind));
    out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[10..12].copy_from_slice(&0u16.to_le_bytes());
    out[12..].copy_from_slice(&key.0);
    out
}

pub(crate) fn decode_header(kind: FileKind, bytes: &[u8]) -> Result<PublicKey, HeaderError> {
    if bytes.len() < HEADER_LEN {
        // Say "not an Airlock file" when even the magic is wrong.
        if bytes.len() >= 8 {
            check_magic(kind, &bytes[..8])?;
        }
        return Err(HeaderError::TooShort { have: bytes.len() });
    }
    check_magic(kind, &bytes[..8])?;
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(HeaderError::UnsupportedVersion { found: version });
    }
    let flags = u16::from_le_bytes([bytes[10], bytes[11]]);
    if flags != 0 {
        return Err(HeaderError::ReservedFlags { found: flags });
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes[12..HEADER_LEN]);
    Ok(PublicKey(key))
}

fn check_magic(kind: FileKind, magic: &[u8]) -> Result<(), HeaderError> {
    if magic == magic_of(kind) {
        return Ok(());
    }
    for other in [FileKind::Journal, FileKind::Bundle] {
        if magic == magic_of(other) {
            return Err(HeaderError::WrongKind {
                expected: kind,
                found: other,
            });
        }
    }
    let mut found = [0u8; 8];
    found.copy_from_slice(magic);
    Err(HeaderError::BadMagic { found })
}

/// An entry too large to be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLarge {
    /// Its encoded length.
    pub len: usize,
}

impl fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an entry of {} bytes exceeds the maximum frame length of {MAX_FRAME_LEN} bytes",
            self.len
        )
    }
}

impl core::error::Error for FrameTooLarge {}

/// The frame of `entry`: `length u32 LE ‖ postcard(entry)`. Length zero is
/// never produced (an entry is at least 98 bytes), so zero can mark a trailer.
pub fn encode_frame(entry: &SignedEntry) -> Result<Vec<u8>, FrameTooLarge> {
    let body = entry.to_bytes();
    if body.len() > MAX_FRAME_LEN as usize {
        return Err(FrameTooLarge { len: body.len() });
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Writes the frame of `entry` with one `write_all`, so that an append is
/// either whole or a torn tail, never interleaved.
pub fn write_frame<W: Write>(w: &mut W, entry: &SignedEntry) -> io::Result<usize> {
    let frame = encode_frame(entry).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    w.write_all(&frame)?;
    Ok(frame.len())
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Byte offset of the frame's length field in the file.
    pub offset: u64,
    /// Length of the postcard part.
    pub len: u32,
    /// The entry.
    pub entry: SignedEntry,
}

/// What [`FrameReader::next_item`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameItem {
    /// A whole, decodable frame.
    Frame(Frame),
    /// A zero length at this offset: in a bundle, the trailer follows.
    ZeroLength {
        /// Offset of the zero length field.
        offset: u64,
    },
    /// Clean end of input exactly at a frame boundary.
    End {
        /// Offset of the end (the input length).
        offset: u64,
    },
}

/// Why the next frame could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum FrameError {
    /// Input ends inside a length field.
    TornLength {
        /// Offset of the length field.
        offset: u64,
        /// Bytes of it present (1 to 3).
        have: usize,
    },
    /// Input ends inside a frame.
    TornFrame {
        /// Offset of the frame's length field.
        offset: u64,
        /// Declared length.
        declared: u32,
        /// Bytes present after the length field.
        have: usize,
    },
    /// A length above [`MAX_FRAME_LEN`].
    Oversized {
        /// Offset of the length field.
        offset: u64,
        /// The length.
        len: u32,
    },
    /// A whole frame whose bytes are not a `SignedEntry`.
    Undecodable {
        /// Offset of the frame's length field.
        offset: u64,
        /// Declared length.
        len: u32,
        /// What postcard said.
        error: postcard::Error,
    },
    /// A whole frame that decodes as a `SignedEntry`, but from bytes that
    /// are not its one encoding: a varint (the sequence number, the body's
    /// length) written with more bytes than it needs. Outside the chain
    /// hash, such bytes would give a second file that verifies as the same
    /// bundle.
    NonCanonical {
        /// Offset of the frame's length field.
        offset: u64,
        /// Declared length.
        len: u32,
    },
    /// Reading failed.
    Io {
        /// Offset where reading failed.
        offset: u64,
        /// The error.
        error: io::Error,
    },
}

impl airlock_core::Classify for FrameError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            FrameError::TornLength { .. }
            | FrameError::TornFrame { .. }
            | FrameError::Oversized { .. }
            | FrameError::Undecodable { .. }
            | FrameError::NonCanonical { .. } => ErrorClass::Integrity,
            FrameError::Io { .. } => ErrorClass::Input,
        }
    }
}

impl FrameError {
    /// Whether this is a partially written last frame (what a crash during
    /// an append leaves), as opposed to corruption.
    pub fn is_torn(&self) -> bool {
        matches!(
            self,
            FrameError::TornLength { .. } | FrameError::TornFrame { .. }
        )
    }

    /// The byte offset of the frame concerned.
    pub fn offset(&self) -> u64 {
        match self {
            FrameError::TornLength { offset, .. }
            | FrameError::TornFrame { offset, .. }
            | FrameError::Oversized { offset, .. }
            | FrameError::Undecodable { offset, .. }
            | FrameError::NonCanonical { offset, .. }
            | FrameError::Io { offset, .. } => *offset,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TornLength { offset, have } => write!(
                f,
                "input ends at byte {} inside a frame length ({have} of 4 bytes)",
                offset + *have as u64
            ),
            FrameError::TornFrame {
                offset,
                declared,
                have,
            } => write!(
                f,
                "frame at byte {offset} declares {declared} bytes, but the input ends after {have}"
            ),
            FrameError::Oversized { offset, len } => write!(
                f,
                "frame at byte {offset} declares {len} bytes, more than the maximum {MAX_FRAME_LEN}"
            ),
            FrameError::Undecodable { offset, len, error } => write!(
                f,
                "frame at byte {offset} ({len} bytes) is not a signed entry: {error}"
            ),
            FrameError::NonCanonical { offset, len } => write!(
                f,
                "frame at byte {offset} ({len} bytes) is not in canonical form: a varint is \
                 written with more bytes than it needs"
            ),
            FrameError::Io { offset, error } => write!(f, "read failed at byte {offset}: {error}"),
        }
    }
}

impl core::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            FrameError::Undecodable { error, .. } => Some(error),
            FrameError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Bytes after the body of an entry: its chain hash and signature.
const ENTRY_TAIL_LEN: u64 = 32 + 64;

/// A frame read by [`FrameReader::next_streamed`]: everything but the
/// body, which went to the caller as a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameParts {
    /// Byte offset of the frame's length field in the file.
    pub offset: u64,
    /// Length of the postcard part.
    pub len: u32,
    /// The entry's sequence number.
    pub seq: u64,
    /// Byte offset of the body's first byte in the file.
    pub body_offset: u64,
    /// Length of the body.
    pub body_len: u64,
    /// The stored chain hash.
    pub chain_hash: Digest,
    /// The stored signature.
    pub signature: Signature,
}

/// What [`FrameReader::next_streamed`] found.
#[derive(Debug)]
pub enum StreamedItem<T> {
    /// A whole frame, and what the body reader made of its body.
    Frame(FrameParts, T),
    /// A zero length at this offset: in a bundle, the trailer follows.
    ZeroLength {
        /// Offset of the zero length field.
        offset: u64,
    },
    /// Clean end of input exactly at a frame boundary.
    End {
        /// Offset of the end (the input length).
        offset: u64,
    },
}

/// The body of a frame as a stream of exactly its bytes. Input that ends
/// early or fails reads as an early end here; the frame reader then
/// reports it as a torn frame or a read error.
pub struct BodyReader<'a, R> {
    inner: &'a mut R,
    offset: &'a mut u64,
    remaining: u64,
    short: bool,
    error: Option<io::Error>,
}

impl<R> fmt::Debug for BodyReader<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("offset", &self.offset)
            .field("remaining", &self.remaining)
            .field("short", &self.short)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Read for BodyReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || self.short || self.error.is_some() || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        loop {
            match self.inner.read(&mut buf[..want]) {
                Ok(0) => {
                    self.short = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.remaining -= n as u64;
                    *self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    return Ok(0);
                }
            }
        }
    }
}

/// What a frame's length field says.
enum Length {
    /// A frame of `len` bytes after the field at `start`.
    Frame { start: u64, len: u32 },
    /// A zero length: the trailer follows, in a bundle.
    Zero { offset: u64 },
    /// Clean end of input.
    End { offset: u64 },
}

/// Reads frames one at a time from a stream, tracking byte offsets. Memory
/// is one frame at a time, whatever the input size.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    offset: u64,
    buf: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    /// A reader whose first byte is at `offset` in the file (the header
    /// length, when the header has been read already).
    pub fn new(inner: R, offset: u64) -> FrameReader<R> {
        FrameReader {
            inner,
            offset,
            buf: Vec::new(),
        }
    }

    /// The offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads a frame's length field and checks it.
    fn read_length(&mut self) -> Result<Length, FrameError> {
        let start = self.offset;
        let mut len_bytes = [0u8; 4];
        let have = self.read_full(&mut len_bytes)?;
        if have == 0 {
            return Ok(Length::End { offset: start });
        }
        if have < 4 {
            return Err(FrameError::TornLength {
                offset: start,
                have,
            });
        }
        let len = u32::from_le_bytes(len_bytes);
        if len == 0 {
            return Ok(Length::Zero { offset: start });
        }
        if len > MAX_FRAME_LEN {
            return Err(FrameError::Oversized { offset: start, len });
        }
        Ok(Length::Frame { start, len })
    }

    /// Reads the next frame.
    pub fn next_item(&mut self) -> Result<FrameItem, FrameError> {
        let (start, len) = match self.read_length()? {
            Length::Frame { start, len } => (start, len),
            Length::Zero { offset } => return Ok(FrameItem::ZeroLength { offset }),
            Length::End { offset } => return Ok(FrameItem::End { offset }),
        };
        if self.buf.capacity() > 1 << 20 {
            // One huge frame should not pin its buffer for the rest of the file.
            self.buf = Vec::new();
        }
        self.buf.clear();
        // take + read_to_end grows the buffer with the bytes that exist, so
        // a large declared length on a short input allocates little.
        let got = (&mut self.inner)
            .take(u64::from(len))
            .read_to_end(&mut self.buf)
            .map_err(|error| FrameError::Io {
                offset: self.offset,
                error,
            })?;
        self.offset += got as u64;
        if got < len as usize {
            return Err(FrameError::TornFrame {
                offset: start,
                declared: len,
                have: got,
            });
        }
        let entry = SignedEntry::from_bytes(&self.buf).map_err(|error| match error {
            // The one BadEncoding a SignedEntry gives: its bytes are not canonical.
            postcard::Error::DeserializeBadEncoding => {
                FrameError::NonCanonical { offset: start, len }
            }
            error => FrameError::Undecodable {
                offset: start,
                len,
                error,
            },
        })?;
        Ok(FrameItem::Frame(Frame {
            offset: start,
            len,
            entry,
        }))
    }

    /// Reads the next frame without holding its body: `body` gets the
    /// entry's sequence number and a reader of exactly the body's bytes
    /// (what it leaves unread is skipped). For an entry too large to hold,
    /// such as a RunStart with a long plan. Errors are the ones
    /// [`FrameReader::next_item`] gives for the same bytes: a frame cut
    /// short is torn even where its first bytes are also undecodable.
    pub fn next_streamed<T>(
        &mut self,
        body: impl FnOnce(u64, &mut BodyReader<'_, R>) -> T,
    ) -> Result<StreamedItem<T>, FrameError> {
        let (start, len) = match self.read_length()? {
            Length::Frame { start, len } => (start, len),
            Length::Zero { offset } => return Ok(StreamedItem::ZeroLength { offset }),
            Length::End { offset } => return Ok(StreamedItem::End { offset }),
        };
        let end = start + 4 + u64::from(len);
        let (seq, seq_minimal) = match self.frame_varint(start, len, end)? {
            Ok(seq) => seq,
            Err(error) => return Err(self.undecodable(start, len, end, error)),
        };
        let (body_len, len_minimal) = match self.frame_varint(start, len, end)? {
            Ok(n) => n,
            Err(error) => return Err(self.undecodable(start, len, end, error)),
        };
        // postcard reads the body, then the 96 bytes after it, then finds
        // the frame's end; any other length is an unexpected end there.
        if body_len.checked_add(ENTRY_TAIL_LEN) != Some(end - self.offset) {
            let error = postcard::Error::DeserializeUnexpectedEnd;
            return Err(self.undecodable(start, len, end, error));
        }
        let body_offset = self.offset;
        let mut reader = BodyReader {
            inner: &mut self.inner,
            offset: &mut self.offset,
            remaining: body_len,
            short: false,
            error: None,
        };
        let value = body(seq, &mut reader);
        io::copy(&mut reader, &mut io::sink()).map_err(|error| FrameError::Io {
            offset: body_offset,
            error,
        })?;
        let (short, error) = (reader.short, reader.error);
        if let Some(error) = error {
            return Err(FrameError::Io {
                offset: self.offset,
                error,
            });
        }
        let torn = |reader: &Self| FrameError::TornFrame {
            offset: start,
            declared: len,
            have: (reader.offset - start - 4) as usize,
        };
        if short {
            return Err(torn(self));
        }
        let mut tail = [0u8; ENTRY_TAIL_LEN as usize];
        if self.read_full(&mut tail)? < tail.len() {
            return Err(torn(self));
        }
        // Refused here, once the frame is whole, as decoding it whole refuses
        // it: after every other check.
        if !(seq_minimal && len_minimal) {
            return Err(FrameError::NonCanonical { offset: start, len });
        }
        let mut chain_hash = [0u8; 32];
        chain_hash.copy_from_slice(&tail[..32]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&tail[32..]);
        Ok(StreamedItem::Frame(
            FrameParts {
                offset: start,
                len,
                seq,
                body_offset,
                body_len,
                chain_hash: Digest(chain_hash),
                signature: Signature(signature),
            },
            value,
        ))
    }

    /// A u64 varint inside the frame that ends at `end`, decoded by
    /// postcard itself so that its checks are the ones a whole decode makes,
    /// and whether it was written in as few bytes as it needs (its last byte
    /// is not zero, or it is one byte). The outer error is a torn frame or a
    /// failed read.
    fn frame_varint(
        &mut self,
        start: u64,
        len: u32,
        end: u64,
    ) -> Result<Result<(u64, bool), postcard::Error>, FrameError> {
        let mut bytes = [0u8; 10];
        for n in 1..=bytes.len() {
            if self.offset == end {
                return Ok(Err(postcard::Error::DeserializeUnexpectedEnd));
            }
            if self.read_full(&mut bytes[n - 1..n])? == 0 {
                return Err(FrameError::TornFrame {
                    offset: start,
                    declared: len,
                    have: (self.offset - start - 4) as usize,
                });
            }
            match postcard::from_bytes::<u64>(&bytes[..n]) {
                Err(postcard::Error::DeserializeUnexpectedEnd) => {}
                decoded => return Ok(decoded.map(|v| (v, n == 1 || bytes[n - 1] != 0))),
            }
        }
        Ok(Err(postcard::Error::DeserializeBadVarint))
    }

    /// The error for a frame found undecodable before its end: torn if the
    /// input ends before the frame does (as a whole read would find first).
    fn undecodable(
        &mut self,
        start: u64,
        len: u32,
        end: u64,
        error: postcard::Error,
    ) -> FrameError {
        let mut rest = (&mut self.inner).take(end - self.offset);
        match io::copy(&mut rest, &mut io::sink()) {
            Ok(n) => self.offset += n,
            Err(error) => {
                return FrameError::Io {
                    offset: self.offset,
                    error,
                };
            }
        }
        if self.offset < end {
            return FrameError::TornFrame {
                offset: start,
                declared: len,
                have: (self.offset - start - 4) as usize,
            };
        }
        FrameError::Undecodable {
            offset: start,
            len,
            error,
        }
    }

    /// The raw bytes of the last frame returned (valid until the next call).
    pub fn last_frame_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Reads up to `buf.len()` bytes, stopping early only at end of input;
    /// returns how many were read.
    pub fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, FrameError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return Err(FrameError::Io {
                        offset: self.offset,
                        error,
                    });
                }
            }
        }
        Ok(filled)
    }

    /// Reads to the end of input; returns (bytes read, whether all were zero).
    pub fn drain(&mut self) -> Result<(u64, bool), FrameError> {
        let mut chunk = [0u8; 4096];
        let mut total = 0u64;
        let mut all_zero = true;
        loop {
            let n = self.read_full(&mut chunk)?;
            if n == 0 {
                return Ok((total, all_zero));
            }
            total += n as u64;
            all_zero &= chunk[..n].iter().all(|&b| b == 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::Digest;
    use airlock_core::record::Signature;

    fn entry(seq: u64, body: &[u8]) -> SignedEntry {
        SignedEntry {
            seq,
            body: body.to_vec(),
            chain_hash: Digest([5; 32]),
            signature: Signature([6; 64]),
        }
    }

    /// Exact bytes of a frame (SPEC.md, "Frames").
    #[test]
    fn frame_bytes_are_pinned() {
        let frame = encode_frame(&entry(1, &[7, 8])).unwrap();
        let mut expected = vec![100u8, 0, 0, 0, 1, 2, 7, 8];
        expected.extend_from_slice(&[5; 32]);
        expected.extend_from_slice(&[6; 64]);
        assert_eq!(frame, expected);
    }

    #[test]
    fn header_bytes_are_pinned_and_checked() {
        let key = PublicKey([0xaa; 32]);
        let h = encode_header(FileKind::Bundle, &key);
        assert_eq!(&h[..12], b"\x89ALB\r\n\x1a\n\x05\x00\x00\x00");
        assert_eq!(&h[12..], &[0xaa; 32]);
        assert_eq!(decode_header(FileKind::Bundle, &h), Ok(key));
        assert_eq!(
            decode_header(FileKind::Journal, &h),
            Err(HeaderError::WrongKind {
                expected: FileKind::Journal,
                found: FileKind::Bundle
            })
        );
        // Versions 1 to 4 (before campaign links, then settings digests,
        // then the station hardware, in RunStart) and one from the future.
        for version in [1, 2, 3, 4, 6] {
            let mut other = h;
            other[8] = version;
            assert_eq!(
                decode_header(FileKind::Bundle, &other),
                Err(HeaderError::UnsupportedVersion {
                    found: u16::from(version)
                })
            );
        }
        let mut flags = h;
        flags[11] = 1;
        assert_eq!(
            decode_header(FileKind::Bundle, &flags),
            Err(HeaderError::ReservedFlags { found: 0x100 })
        );
        assert_eq!(
            decode_header(FileKind::Bundle, &h[..10]),
            Err(HeaderError::TooShort { have: 10 })
        );
        assert!(matches!(
            decode_header(
                FileKind::Bundle,
                b"hello world, this is not a bundle at all!!!!"
            ),
            Err(HeaderError::BadMagic { .. })
        ));
    }

    #[test]
    fn reader_distinguishes_end_torn_oversized_and_undecodable() {
        let a = encode_frame(&entry(0, b"a")).unwrap();
        let b = encode_frame(&entry(1, b"bb")).unwrap();
        let mut bytes = a.clone();
        bytes.extend_from_slice(&b);

        let mut r = FrameReader::new(&bytes[..], 44);
        match r.next_item().unwrap() {
            FrameItem::Frame(f) => {
                assert_eq!(f.offset, 44);
                assert_eq!(f.entry, entry(0, b"a"));
            }
            other => panic!("{other:?}"),
        }
        match r.next_item().unwrap() {
            FrameItem::Frame(f) => assert_eq!(f.offset, 44 + a.len() as u64),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r.next_item().unwrap(),
            FrameItem::End {
                offset: 44 + bytes.len() as u64
            }
        );

        // Every cut inside the second frame is torn, never undecodable.
        for cut in a.len() + 1..bytes.len() {
            let mut r = FrameReader::new(&bytes[..cut], 0);
            assert!(matches!(r.next_item(), Ok(FrameItem::Frame(_))));
            let err = r.next_item().unwrap_err();
            assert!(err.is_torn(), "cut {cut}: {err}");
            assert_eq!(err.offset(), a.len() as u64);
        }

        let mut r = FrameReader::new(&[0xff, 0xff, 0xff, 0xff, 1, 2][..], 0);
        assert!(matches!(
            r.next_item(),
            Err(FrameError::Oversized { len: u32::MAX, .. })
        ));

        let mut r = FrameReader::new(&[3, 0, 0, 0, 1, 2, 3][..], 0);
        assert!(matches!(r.next_item(), Err(FrameError::Undecodable { .. })));

        let mut r = FrameReader::new(&[0, 0, 0, 0][..], 0);
        assert_eq!(r.next_item().unwrap(), FrameItem::ZeroLength { offset: 0 });
    }

    /// What a reader made of an input, in a comparable form.
    fn outcome(item: Result<FrameItem, FrameError>) -> String {
        match item {
            Ok(item) => format!("{item:?}"),
            Err(e) => format!("error: {e}"),
        }
    }

    fn streamed(r: &mut FrameReader<&[u8]>) -> String {
        let item = r.next_streamed(|seq, body| {
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes).map(|_| (seq, bytes))
        });
        outcome(item.map(|item| match item {
            StreamedItem::Frame(parts, read) => {
                let (seq, body) = read.unwrap_or_default();
                assert_eq!(seq, parts.seq);
                assert_eq!(body.len() as u64, parts.body_len);
                assert_eq!(parts.body_offset, parts.offset + 4 + 2);
                FrameItem::Frame(Frame {
                    offset: parts.offset,
                    len: parts.len,
                    entry: SignedEntry {
                        seq: parts.seq,
                        body,
                        chain_hash: parts.chain_hash,
                        signature: parts.signature,
                    },
                })
            }
            StreamedItem::ZeroLength { offset } => FrameItem::ZeroLength { offset },
            StreamedItem::End { offset } => FrameItem::End { offset },
        }))
    }

    /// A streamed frame reads as the whole one does: the same entry, or
    /// the same error, for every cut and every single-byte change, and the
    /// reader is left at the same place.
    #[test]
    fn streamed_frames_read_as_whole_ones() {
        let first = encode_frame(&entry(3, &[9; 40])).unwrap();
        let mut bytes = first.clone();
        bytes.extend_from_slice(&encode_frame(&entry(4, b"next")).unwrap());
        let mut cases: Vec<Vec<u8>> = (0..=bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        for i in 0..first.len() {
            for mask in [0x01, 0x02, 0x40, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= mask;
                cases.push(b);
            }
        }
        for pad_seq in [true, false] {
            let mut b = padded_frame(3, &[9; 40], pad_seq, 1);
            b.extend_from_slice(&encode_frame(&entry(4, b"next")).unwrap());
            cases.push(b.clone());
            // Cut short, it is torn first, as a whole read finds.
            b.truncate(b.len() - 120);
            cases.push(b);
        }
        for case in &cases {
            let mut whole = FrameReader::new(&case[..], 44);
            let mut stream = FrameReader::new(&case[..], 44);
            assert_eq!(
                streamed(&mut stream),
                outcome(whole.next_item()),
                "{case:?}"
            );
            assert_eq!(stream.offset(), whole.offset(), "{case:?}");
            assert_eq!(
                streamed(&mut stream),
                outcome(whole.next_item()),
                "{case:?}"
            );
        }
    }

    /// The frame of `entry(seq, body)` with its sequence number or its
    /// body length written with `extra` redundant varint bytes.
    fn padded_frame(seq: u64, body: &[u8], pad_seq: bool, extra: usize) -> Vec<u8> {
        fn varint(mut v: u64, extra: usize) -> Vec<u8> {
            let mut out = Vec::new();
            loop {
                let byte = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
            for _ in 0..extra {
                *out.last_mut().unwrap() |= 0x80;
                out.push(0);
            }
            out
        }
        let mut inner = varint(seq, if pad_seq { extra } else { 0 });
        inner.extend(varint(body.len() as u64, if pad_seq { 0 } else { extra }));
        inner.extend_from_slice(body);
        inner.extend_from_slice(&[5; 32]);
        inner.extend_from_slice(&[6; 64]);
        let mut out = (inner.len() as u32).to_le_bytes().to_vec();
        out.extend(inner);
        out
    }

    /// postcard decodes `82 80 00` as 2: a sequence number or body length
    /// with redundant bytes would make a second file that verifies as the
    /// same bundle. Whole and streamed reads both refuse it, and the
    /// canonical frame still reads.
    #[test]
    fn non_minimal_varints_in_a_frame_are_refused() {
        assert_eq!(
            padded_frame(130, &[7, 8], true, 0),
            encode_frame(&entry(130, &[7, 8])).unwrap()
        );
        for pad_seq in [true, false] {
            for (seq, extra) in [(0, 1), (2, 1), (130, 1), (130, 3)] {
                let bytes = padded_frame(seq, &[7, 8], pad_seq, extra);
                // postcard alone accepts it; the project's decoding does not.
                assert!(SignedEntry::from_bytes(&bytes[4..]).is_err());
                assert_eq!(
                    postcard::take_from_bytes::<SignedEntry>(&bytes[4..]).map(|(e, _)| e),
                    Ok(entry(seq, &[7, 8]))
                );
                let mut whole = FrameReader::new(&bytes[..], 44);
                assert!(
                    matches!(
                        whole.next_item(),
                        Err(FrameError::NonCanonical { offset: 44, .. })
                    ),
                    "seq {seq} extra {extra} pad_seq {pad_seq}"
                );
                let mut stream = FrameReader::new(&bytes[..], 44);
                let got = streamed(&mut stream);
                assert!(got.contains("not in canonical form"), "{got}");
            }
        }
    }

    #[test]
    fn hostile_length_on_short_input_allocates_little() {
        let mut bytes = (MAX_FRAME_LEN).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 10]);
        let mut r = FrameReader::new(&bytes[..], 0);
        assert!(matches!(
            r.next_item(),
            Err(FrameError::TornFrame { have: 10, .. })
        ));
        assert!(r.buf.capacity() < 4096);
    }
}
