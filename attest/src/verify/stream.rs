//! The bundle's frames as the levels see them: the first, the RunStart,
//! decoded as a stream, and where its plan is read the second time.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use airlock_core::Digest;
use airlock_core::chain::chain_hash;
use airlock_core::record::{Record, Signature};

use super::plan_stream::{FirstRecord, KeepPlan, PlanSource, StreamedStart, decode_first};
use crate::bundle::{BundleError, BundleReader};

/// Where the completeness check reads the plan the second time.
pub(super) enum SecondRead {
    /// From the bundle file, through a second handle.
    File {
        /// The second handle.
        file: File,
        /// The bundle's path (for looking back).
        path: PathBuf,
    },
    /// From the plan's bytes, kept as the first read passed them.
    Kept,
}

/// The input after its header, and where to read the plan again.
pub(super) struct Stream<R> {
    pub(super) reader: BundleReader<R>,
    pub(super) second: Option<SecondRead>,
}

/// One frame as the levels see it.
pub(super) struct Seen {
    pub(super) offset: u64,
    pub(super) seq: u64,
    pub(super) stored_hash: Digest,
    pub(super) signature: Signature,
    pub(super) computed_hash: Digest,
    pub(super) record: Result<Decoded, postcard::Error>,
}

/// A decoded record: the first RunStart streamed, anything else whole.
pub(super) enum Decoded {
    Start(StreamedStart),
    Record(Record),
}

impl<R: Read> Stream<R> {
    /// The next frame. The first is streamed: it is the RunStart, whose
    /// plan grows with the bundle.
    pub(super) fn next(
        &mut self,
        index: u64,
        prev: &Digest,
        keep: KeepPlan,
    ) -> Result<Option<Seen>, BundleError> {
        if index == 0 {
            let Some((parts, (computed_hash, record))) = self
                .reader
                .next_streamed(|seq, body| decode_first(prev, seq, body, keep))?
            else {
                return Ok(None);
            };
            return Ok(Some(Seen {
                offset: parts.offset,
                seq: parts.seq,
                stored_hash: parts.chain_hash,
                signature: parts.signature,
                computed_hash,
                record: record.map(|r| match r {
                    FirstRecord::Start(start) => {
                        Decoded::Start(start.in_file_at(parts.body_offset))
                    }
                    FirstRecord::Other(record) => Decoded::Record(record),
                }),
            }));
        }
        let Some(frame) = self.reader.next_entry()? else {
            return Ok(None);
        };
        let entry = frame.entry;
        Ok(Some(Seen {
            offset: frame.offset,
            seq: entry.seq,
            stored_hash: entry.chain_hash,
            signature: entry.signature,
            computed_hash: chain_hash(prev, entry.seq, &entry.body),
            record: Record::from_bytes(&entry.body).map(Decoded::Record),
        }))
    }

    /// Where to read the plan of `start` again.
    pub(super) fn plan_source(&mut self, start: &mut StreamedStart) -> PlanSource {
        match self.second.take() {
            Some(SecondRead::File { file, path }) => PlanSource::File {
                file,
                path,
                offset: start.plan_bytes.start,
            },
            Some(SecondRead::Kept) | None => {
                PlanSource::Memory(start.spilled.take().unwrap_or_default().into())
            }
        }
    }
}
