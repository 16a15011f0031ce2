//! Bundle files: what crosses the air gap (SPEC.md, "Bundle").
//!
//! `header (44) ‖ frame* ‖ trailer (52)`. The trailer is introduced by a
//! zero length, carries the record count and the final chain hash, and ends
//! with [`END_MAGIC`], so a bundle cut at a frame boundary is a decode
//! error, not a shorter bundle.

use core::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use airlock_core::Digest;
use airlock_core::chain::GENESIS;
use airlock_core::record::SignedEntry;

use crate::error::{AttestError, io_err};
use crate::frame::{
    self, BodyReader, END_MAGIC, FileKind, Frame, FrameError, FrameItem, FrameParts, FrameReader,
    HEADER_LEN, HeaderError, StreamedItem,
};
use crate::fsutil::AtomicFile;
pub use crate::fsutil::Overwrite;
use crate::keys::PublicKey;

/// Length of the trailer, including its zero length marker.
pub const TRAILER_LEN: usize = 52;

/// The header of a bundle: `BUNDLE_MAGIC ‖ version u16 LE ‖ flags u16 LE ‖ key`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BundleHeader {
    /// The evaluator key that signed every entry.
    pub public_key: PublicKey,
}

impl BundleHeader {
    /// The 44 header bytes (version [`frame::FORMAT_VERSION`], flags zero).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        frame::encode_header(FileKind::Bundle, &self.public_key)
    }

    /// Parses header bytes; refuses another magic, version or non-zero flags.
    pub fn decode(bytes: &[u8]) -> Result<BundleHeader, HeaderError> {
        frame::decode_header(FileKind::Bundle, bytes).map(|public_key| BundleHeader { public_key })
    }
}

/// The bundle trailer: `u32 0 ‖ count u64 LE ‖ final chain hash ‖ END_MAGIC`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BundleTrailer {
    /// Number of frames.
    pub count: u64,
    /// Chain hash of the last entry ([`GENESIS`] if there is none).
    pub final_hash: Digest,
}

impl BundleTrailer {
    /// The 52 trailer bytes.
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut out = [0u8; TRAILER_LEN];
        out[4..12].copy_from_slice(&self.count.to_le_bytes());
        out[12..44].copy_from_slice(self.final_hash.as_bytes());
        out[44..].copy_from_slice(&END_MAGIC);
        out
    }
}

/// Why a bundle does not decode.
#[derive(Debug)]
#[non_exhaustive]
pub enum BundleError {
    /// Reading the header failed.
    HeaderIo(io::Error),
    /// The header is wrong.
    Header(HeaderError),
    /// A frame is wrong.
    Frame(FrameError),
    /// The input ends at a frame boundary without a trailer: frames were cut off.
    MissingTrailer {
        /// Where the input ends.
        offset: u64,
    },
    /// The input ends inside the trailer.
    TornTrailer {
        /// Offset of the trailer.
        offset: u64,
    },
    /// The trailer's count differs from the number of frames.
    CountMismatch {
        /// Count in the trailer.
        trailer: u64,
        /// Frames read.
        frames: u64,
    },
    /// The trailer's final hash differs from the last entry's chain hash.
    FinalHashMismatch {
        /// Hash in the trailer.
        trailer: Digest,
        /// Last entry's stored chain hash.
        last: Digest,
    },
    /// The trailer does not end with the end magic.
    BadEndMagic {
        /// Offset of the end magic.
        offset: u64,
    },
    /// Bytes follow the end magic.
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: u64,
    },
}

impl airlock_core::Classify for BundleError {
    fn class(&self) -> airlock_core::ErrorClass {
        use airlock_core::ErrorClass;
        match self {
            BundleError::HeaderIo(_) => ErrorClass::Input,
            BundleError::Header(problem) => problem.class(),
            BundleError::Frame(problem) => problem.class(),
            BundleError::MissingTrailer { .. }
            | BundleError::TornTrailer { .. }
            | BundleError::CountMismatch { .. }
            | BundleError::FinalHashMismatch { .. }
            | BundleError::BadEndMagic { .. }
            | BundleError::TrailingBytes { .. } => ErrorClass::Integrity,
        }
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::HeaderIo(e) => write!(f, "cannot read header: {e}"),
            BundleError::Header(e) => write!(f, "header: {e}"),
            BundleError::Frame(e) => write!(f, "{e}"),
            BundleError::MissingTrailer { offset } => write!(
                f,
                "bundle ends at byte {offset} without a trailer: it was cut off (records may be missing)"
            ),
            BundleError::TornTrailer { offset } => {
                write!(f, "bundle ends inside its trailer at byte {offset}")
            }
            BundleError::CountMismatch { trailer, frames } => write!(
                f,
                "trailer says {trailer} records, but the bundle holds {frames}"
            ),
            BundleError::FinalHashMismatch { trailer, last } => write!(
                f,
                "trailer's final chain hash {trailer} is not the last record's chain hash {last}"
            ),
            BundleError::BadEndMagic { offset } => {
                write!(f, "bad end magic at byte {offset}")
            }
            BundleError::TrailingBytes { offset } => {
                write!(
                    f,
                    "unexpected bytes after the end of the bundle at byte {offset}"
                )
            }
        }
    }
}

impl core::error::Error for BundleError {}

/// Streams the entries of a bundle, checking the trailer at the end.
#[derive(Debug)]
pub struct BundleReader<R> {
    frames: FrameReader<R>,
    header: BundleHeader,
    count: u64,
    last_hash: Digest,
    done: bool,
}

impl<R: Read> BundleReader<R> {
    /// Reads and checks the header.
    pub fn new(reader: R) -> Result<BundleReader<R>, BundleError> {
        let mut frames = FrameReader::new(reader, 0);
        let mut bytes = [0u8; HEADER_LEN];
        let have = frames.read_full(&mut bytes).map_err(|e| match e {
            FrameError::Io { error, .. } => BundleError::HeaderIo(error),
            other => BundleError::Frame(other),
        })?;
        let header = BundleHeader::decode(&bytes[..have]).map_err(BundleError::Header)?;
        Ok(BundleReader {
            frames,
            header,
            count: 0,
            last_hash: GENESIS,
            done: false,
        })
    }

    /// The header.
    pub fn header(&self) -> &BundleHeader {
        &self.header
    }

    /// Entries read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.frames.offset()
    }

    /// The next entry, or `None` after a trailer that matches what was read
    /// and is followed by the end of input.
    pub fn next_entry(&mut self) -> Result<Option<Frame>, BundleError> {
        if self.done {
            return Ok(None);
        }
        match self.frames.next_item().map_err(BundleError::Frame)? {
            FrameItem::Frame(frame) => {
                self.count += 1;
                self.last_hash = frame.entry.chain_hash;
                Ok(Some(frame))
            }
            FrameItem::End { offset } => Err(BundleError::MissingTrailer { offset }),
            FrameItem::ZeroLength { offset } => {
                self.read_trailer(offset)?;
                self.done = true;
                Ok(None)
            }
        }
    }

    /// [`BundleReader::next_entry`] without holding the entry's body:
    /// `body` reads it as a stream ([`FrameReader::next_streamed`]).
    pub fn next_streamed<T>(
        &mut self,
        body: impl FnOnce(u64, &mut BodyReader<'_, R>) -> T,
    ) -> Result<Option<(FrameParts, T)>, BundleError> {
        if self.done {
            return Ok(None);
        }
        match self
            .frames
            .next_streamed(body)
            .map_err(BundleError::Frame)?
        {
            StreamedItem::Frame(parts, value) => {
                self.count += 1;
                self.last_hash = parts.chain_hash;
                Ok(Some((parts, value)))
            }
            StreamedItem::End { offset } => Err(BundleError::MissingTrailer { offset }),
            StreamedItem::ZeroLength { offset } => {
                self.read_trailer(offset)?;
                self.done = true;
                Ok(None)
            }
        }
    }

    fn read_trailer(&mut self, offset: u64) -> Result<(), BundleError> {
        let mut rest = [0u8; TRAILER_LEN - 4];
        let have = self
            .frames
            .read_full(&mut rest)
            .map_err(BundleError::Frame)?;
        if have < rest.len() {
            return Err(BundleError::TornTrailer { offset });
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&rest[..8]);
        let count = u64::from_le_bytes(count);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&rest[8..40]);
        let hash = Digest(hash);
        if count != self.count {
            return Err(BundleError::CountMismatch {
                trailer: count,
                frames: self.count,
            });
        }
        if hash != self.last_hash {
            return Err(BundleError::FinalHashMismatch {
                trailer: hash,
                last: self.last_hash,
            });
        }
        if rest[40..] != END_MAGIC {
            return Err(BundleError::BadEndMagic {
                offset: offset + 44,
            });
        }
        let end = self.frames.offset();
        let mut extra = [0u8; 1];
        if self
            .frames
            .read_full(&mut extra)
            .map_err(BundleError::Frame)?
            != 0
        {
            return Err(BundleError::TrailingBytes { offset: end });
        }
        Ok(())
    }
}

/// Writes a bundle to a stream: header on creation, a frame per entry, the
/// trailer on [`BundleWriter::finish`].
#[derive(Debug)]
pub struct BundleWriter<W: Write> {
    inner: W,
    count: u64,
    last_hash: Digest,
}

impl<W: Write> BundleWriter<W> {
    /// Writes the header.
    pub fn new(mut inner: W, public_key: &PublicKey) -> io::Result<BundleWriter<W>> {
        inner.write_all(
            &BundleHeader {
                public_key: *public_key,
            }
            .encode(),
        )?;
        Ok(BundleWriter {
            inner,
            count: 0,
            last_hash: GENESIS,
        })
    }

    /// Appends one entry. An entry beyond [`frame::MAX_FRAME_LEN`] is an
    /// `InvalidInput` error.
    pub fn write_entry(&mut self, entry: &SignedEntry) -> io::Result<()> {
        frame::write_frame(&mut self.inner, entry)?;
        self.count += 1;
        self.last_hash = entry.chain_hash;
        Ok(())
    }

    /// Writes the trailer and returns the stream (not yet flushed to disk).
    pub fn finish(mut self) -> io::Result<(W, BundleTrailer)> {
        let trailer = BundleTrailer {
            count: self.count,
            final_hash: self.last_hash,
        };
        self.inner.write_all(&trailer.encode())?;
        self.inner.flush()?;
        Ok((self.inner, trailer))
    }
}

/// Writes a bundle file atomically: a temporary file in the same directory,
/// fsynced, renamed into place, directory fsynced. On any error nothing is
/// left at `path` or beside it. Refuses an existing `path` unless
/// `overwrite` is [`Overwrite::Replace`].
pub fn write_bundle(
    path: &Path,
    public_key: &PublicKey,
    entries: impl IntoIterator<Item = SignedEntry>,
    overwrite: Overwrite,
) -> Result<BundleTrailer, AttestError> {
    write_bundle_from(path, public_key, overwrite, |writer| {
        for entry in entries {
            writer.write_entry(&entry)?;
        }
        Ok(())
    })
    .map_err(|e| match e {
        WriteFailure::Attest(e) => e,
        WriteFailure::Io(error) => AttestError::Io {
            path: path.to_path_buf(),
            doing: "write",
            error,
        },
    })
}

pub(crate) enum WriteFailure {
    Attest(AttestError),
    Io(io::Error),
}

impl From<io::Error> for WriteFailure {
    fn from(e: io::Error) -> Self {
        WriteFailure::Io(e)
    }
}

impl From<AttestError> for WriteFailure {
    fn from(e: AttestError) -> Self {
        WriteFailure::Attest(e)
    }
}

/// The atomic-file part of [`write_bundle`], with frames supplied by `fill`.
pub(crate) fn write_bundle_from(
    path: &Path,
    public_key: &PublicKey,
    overwrite: Overwrite,
    fill: impl FnOnce(&mut BundleWriter<BufWriter<&mut File>>) -> Result<(), WriteFailure>,
) -> Result<BundleTrailer, WriteFailure> {
    let mut atomic = AtomicFile::create(path, overwrite)?;
    let target = atomic.target_path().to_path_buf();
    let trailer = {
        let file = atomic.file()?;
        let mut writer = BundleWriter::new(BufWriter::new(file), public_key)
            .map_err(io_err(&target, "write"))?;
        fill(&mut writer)?;
        let (buffered, trailer) = writer.finish().map_err(io_err(&target, "write"))?;
        buffered
            .into_inner()
            .map_err(|e| io_err(&target, "write")(e.into_error()))?;
        trailer
    };
    atomic.commit()?;
    Ok(trailer)
}

/// Opens a bundle file for [`crate::verify::verify_bundle`], buffered.
pub fn open_bundle(path: &Path) -> Result<BufReader<File>, AttestError> {
    use std::io::BufRead as _;
    let mut reader = File::open(path)
        .map(BufReader::new)
        .map_err(io_err(path, "open"))?;
    // A file that cannot be read at all (a directory, a failing device) is
    // an input error, like a missing one, not a bundle that fails to decode.
    reader.fill_buf().map_err(io_err(path, "read"))?;
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;

    const SEED: [u8; 32] = [
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c,
        0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae,
        0x7f, 0x60,
    ];

    fn one_entry_bundle() -> (Vec<u8>, SignedEntry) {
        let key = SigningKey::from_seed(&SEED);
        let entry = key.sign_body(&GENESIS, 0, b"airlock".to_vec());
        let mut w = BundleWriter::new(Vec::new(), &key.public_key()).unwrap();
        w.write_entry(&entry).unwrap();
        (w.finish().unwrap().0, entry)
    }

    /// Exact bytes of a one-entry bundle (SPEC.md, "Bundle", test vector):
    /// the entry is body "airlock" at seq 0 signed with the RFC 8032 key.
    #[test]
    fn bundle_bytes_are_pinned() {
        let (bytes, entry) = one_entry_bundle();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"\x89ALB\r\n\x1a\n");
        expected.extend_from_slice(&[5, 0, 0, 0]);
        expected.extend_from_slice(&SigningKey::from_seed(&SEED).public_key().0);
        expected.extend_from_slice(&[105, 0, 0, 0]); // 1 + 1 + 7 + 32 + 64
        expected.extend_from_slice(&[0, 7]);
        expected.extend_from_slice(b"airlock");
        expected.extend_from_slice(entry.chain_hash.as_bytes());
        expected.extend_from_slice(&entry.signature.0);
        expected.extend_from_slice(&[0, 0, 0, 0]);
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(entry.chain_hash.as_bytes());
        expected.extend_from_slice(b"\x89ALE\r\n\x1a\n");
        assert_eq!(bytes, expected);
        assert_eq!(bytes.len(), 44 + 4 + 105 + 52);
        assert_eq!(
            airlock_core::hex::encode(&bytes[..48]),
            "89414c420d0a1a0a05000000d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a69000000"
        );
        assert_eq!(
            Digest::blake3(&bytes).to_hex().as_str(),
            BUNDLE_VECTOR_BLAKE3
        );
    }

    // Cross-checked by building the same bytes from SPEC.md in Python (blake3 package).
    const BUNDLE_VECTOR_BLAKE3: &str =
        "9bd856ad62604b54169695340b78562b0e8710b75e84b316fbbdc08a551cb34d";

    #[test]
    fn empty_bundle_trailer_is_pinned() {
        let key = SigningKey::from_seed(&SEED);
        let (bytes, trailer) = BundleWriter::new(Vec::new(), &key.public_key())
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(trailer.count, 0);
        assert_eq!(trailer.final_hash, GENESIS);
        let mut tail = vec![0u8; 4 + 8 + 32];
        tail.extend_from_slice(b"\x89ALE\r\n\x1a\n");
        assert_eq!(&bytes[44..], &tail[..]);
    }

    #[test]
    fn reader_rejects_every_trailer_defect() {
        let (good, _) = one_entry_bundle();
        let read_all = |bytes: &[u8]| -> Result<u64, BundleError> {
            let mut r = BundleReader::new(bytes)?;
            while r.next_entry()?.is_some() {}
            Ok(r.count())
        };
        assert_eq!(read_all(&good).unwrap(), 1);
        let t = good.len() - TRAILER_LEN;
        assert!(matches!(
            read_all(&good[..t]),
            Err(BundleError::MissingTrailer { .. })
        ));
        assert!(matches!(
            read_all(&good[..t + 10]),
            Err(BundleError::TornTrailer { .. })
        ));
        let mut bad = good.clone();
        bad[t + 4] = 2;
        assert!(matches!(
            read_all(&bad),
            Err(BundleError::CountMismatch {
                trailer: 2,
                frames: 1
            })
        ));
        let mut bad = good.clone();
        bad[t + 12] ^= 1;
        assert!(matches!(
            read_all(&bad),
            Err(BundleError::FinalHashMismatch { .. })
        ));
        let mut bad = good.clone();
        bad[t + 44] ^= 1;
        assert!(matches!(
            read_all(&bad),
            Err(BundleError::BadEndMagic { .. })
        ));
        let mut bad = good.clone();
        bad.push(0);
        assert!(matches!(
            read_all(&bad),
            Err(BundleError::TrailingBytes { .. })
        ));
        let mut journal = good.clone();
        journal[3] = b'J';
        assert!(matches!(
            read_all(&journal),
            Err(BundleError::Header(HeaderError::WrongKind { .. }))
        ));
    }

    fn dir_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_bundle_refuses_existing_unless_replace_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.bundle");
        let (expected, entry) = one_entry_bundle();
        let key = SigningKey::from_seed(&SEED).public_key();
        let trailer = write_bundle(&path, &key, [entry.clone()], Overwrite::Refuse).unwrap();
        assert_eq!(trailer.count, 1);
        assert_eq!(std::fs::read(&path).unwrap(), expected);

        let err = write_bundle(&path, &key, [], Overwrite::Refuse).unwrap_err();
        assert!(matches!(err, AttestError::AlreadyExists { .. }));
        assert!(
            err.to_string().contains("run.bundle: already exists"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), expected);

        write_bundle(&path, &key, [], Overwrite::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 44 + 52);
        assert_eq!(dir_names(dir.path()), vec!["run.bundle"]);
    }

    #[test]
    fn failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bundle");
        let key = SigningKey::from_seed(&SEED);
        let (_, small) = one_entry_bundle();
        let huge = key.sign_body(
            &small.chain_hash,
            1,
            vec![0; crate::frame::MAX_FRAME_LEN as usize],
        );
        let err =
            write_bundle(&path, &key.public_key(), [small, huge], Overwrite::Refuse).unwrap_err();
        assert!(err.to_string().contains("maximum frame length"), "{err}");
        assert!(dir_names(dir.path()).is_empty());
    }
}
