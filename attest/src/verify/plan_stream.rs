//! The first record of a bundle read as a stream, and its plan read a
//! second time alongside the results (SPEC.md, "Verification").
//!
//! A RunStart carries the whole plan, 42 bytes an entry: 4.2 MB for a
//! 100,000-result run, more again once decoded. Holding it would make the
//! verifier's memory grow with the bundle. So the first body is decoded
//! value by value from a small window while it is chain-hashed, and the
//! plan's place in the file and a digest of its bytes are noted. The
//! completeness check then reads the plan again, entry by entry in step
//! with the results (which come in plan order), from a second cursor, and
//! at the end checks that the second read hashed to the same digest: the
//! plan the results were checked against is the plan the signature covers,
//! even if the file changed in between.

use core::ops::Range;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::rc::Rc;

use airlock_core::Digest;
use airlock_core::chain::ChainHasher;
use airlock_core::record::{
    CampaignLink, ModelDescriptor, PlannedTask, ProfileRef, Record, RunStart, RunnerBuild,
    StationHardware, StationLink, SuiteRef,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Bytes read at a time. A plan entry is about 42 bytes, so one window
/// holds over a thousand; a larger value needs only a larger window.
const CHUNK: usize = 64 * 1024;

/// Decodes postcard values one after another from a stream, holding the
/// bytes of the value being decoded and little more. A value that is not
/// yet whole in the window is decoded again once more bytes are in, so the
/// checks (and errors) are exactly those of decoding the bytes whole.
struct Window<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    at_end: bool,
    consumed: u64,
    /// Set when a value was read from more bytes than it needs: decoding
    /// the record whole refuses that only after it decoded to the end, so
    /// the piecewise decode refuses it there too.
    non_canonical: bool,
}

impl<R: Read> Window<R> {
    fn new(src: R) -> Window<R> {
        Window {
            src,
            buf: Vec::new(),
            start: 0,
            at_end: false,
            consumed: 0,
            non_canonical: false,
        }
    }

    /// Decodes the next value; `sink` gets the bytes it was decoded from.
    fn next<T: DeserializeOwned + Serialize>(
        &mut self,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<T, postcard::Error> {
        loop {
            let avail = &self.buf[self.start..];
            match postcard::take_from_bytes::<T>(avail) {
                Ok((value, rest)) => {
                    let used = avail.len() - rest.len();
                    if airlock_core::check_canonical(&value, used).is_err() {
                        self.non_canonical = true;
                    }
                    sink(&avail[..used]);
                    self.start += used;
                    self.consumed += used as u64;
                    return Ok(value);
                }
                Err(postcard::Error::DeserializeUnexpectedEnd) if !self.at_end => self.fill(),
                Err(e) => return Err(e),
            }
        }
    }

    /// Decodes the next value without consuming it.
    fn peek<T: DeserializeOwned>(&mut self) -> Result<T, postcard::Error> {
        loop {
            match postcard::take_from_bytes::<T>(&self.buf[self.start..]) {
                Ok((value, _)) => return Ok(value),
                Err(postcard::Error::DeserializeUnexpectedEnd) if !self.at_end => self.fill(),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads at least as many bytes again as are waiting, so that a large
    /// value is decoded a logarithmic number of times, not once per chunk.
    fn fill(&mut self) {
        self.buf.drain(..self.start);
        self.start = 0;
        let mut filled = self.buf.len();
        self.buf.resize(filled + filled.max(CHUNK), 0);
        while filled < self.buf.len() {
            match self.src.read(&mut self.buf[filled..]) {
                Ok(0) => {
                    self.at_end = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The frame reader keeps the error and reports it.
                Err(_) => {
                    self.at_end = true;
                    break;
                }
            }
        }
        self.buf.truncate(filled);
    }

    /// Hands every byte not yet consumed to `sink`; returns how many there were.
    fn rest(&mut self, sink: &mut dyn FnMut(&[u8])) -> u64 {
        let mut n = 0;
        loop {
            let waiting = &self.buf[self.start..];
            sink(waiting);
            n += waiting.len() as u64;
            self.consumed += waiting.len() as u64;
            self.start = self.buf.len();
            if self.at_end {
                return n;
            }
            self.buf.clear();
            self.start = 0;
            self.fill();
        }
    }
}

/// RunStart's fields before the plan, in encoding order.
#[derive(Serialize, Deserialize)]
struct Head {
    run_id: [u8; 16],
    started_at_unix_s: u64,
    suite: SuiteRef,
}

/// RunStart's fields after the plan, in encoding order.
#[derive(Serialize, Deserialize)]
struct Tail {
    profile: ProfileRef,
    runner: RunnerBuild,
    model: ModelDescriptor,
    seed: [u8; 32],
    evaluator_key_id: Digest,
    station: StationLink,
    campaign: Option<CampaignLink>,
    selection: Option<Vec<String>>,
    settings: Option<Digest>,
    hardware: StationHardware,
}

/// A RunStart read as a stream: every field but the plan, and where the
/// plan is.
pub(crate) struct StreamedStart {
    head: Head,
    tail: Tail,
    /// Number of plan entries.
    pub plan_len: u64,
    /// Where the plan entries' bytes are: offsets in the body, or in the
    /// file once [`StreamedStart::in_file_at`] has placed the body.
    pub plan_bytes: Range<u64>,
    /// blake3 of the plan entries' bytes.
    pub plan_digest: Digest,
    /// The entries, when they were asked for.
    pub plan: Option<Vec<PlannedTask>>,
    /// The entries' bytes, when they were asked for.
    pub spilled: Option<Vec<u8>>,
}

impl StreamedStart {
    /// The same, with [`StreamedStart::plan_bytes`] as file offsets, for a
    /// body whose first byte is at `body_offset` in the file.
    pub(super) fn in_file_at(mut self, body_offset: u64) -> StreamedStart {
        self.plan_bytes = body_offset + self.plan_bytes.start..body_offset + self.plan_bytes.end;
        self
    }

    /// Run id.
    pub(super) fn run_id(&self) -> [u8; 16] {
        self.head.run_id
    }

    /// Key id of the evaluator key that signs every record.
    pub(super) fn evaluator_key_id(&self) -> Digest {
        self.tail.evaluator_key_id
    }

    /// Station chain link.
    pub(super) fn station(&self) -> &StationLink {
        &self.tail.station
    }

    /// Whether a TPM quotes the run.
    pub(super) fn hardware(&self) -> StationHardware {
        self.tail.hardware
    }

    /// The whole record, if the plan's entries were kept.
    pub(super) fn to_run_start(&self) -> Option<RunStart> {
        let plan = self.plan.clone()?;
        let Head {
            run_id,
            started_at_unix_s,
            suite,
        } = &self.head;
        let Tail {
            profile,
            runner,
            model,
            seed,
            evaluator_key_id,
            station,
            campaign,
            selection,
            settings,
            hardware,
        } = &self.tail;
        Some(RunStart {
            run_id: *run_id,
            started_at_unix_s: *started_at_unix_s,
            suite: suite.clone(),
            plan,
            profile: profile.clone(),
            runner: runner.clone(),
            model: model.clone(),
            seed: *seed,
            evaluator_key_id: *evaluator_key_id,
            station: station.clone(),
            campaign: campaign.clone(),
            selection: selection.clone(),
            settings: *settings,
            hardware: *hardware,
        })
    }
}

/// What the first record's body decoded to.
pub(crate) enum FirstRecord {
    /// A RunStart, streamed.
    Start(StreamedStart),
    /// Any other record (read whole; only a RunStart is large).
    Other(Record),
}

/// What to keep of the plan while streaming it.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeepPlan {
    /// The decoded entries (for a caller that wants the whole RunStart).
    pub entries: bool,
    /// The entries' bytes (for a second read when the input cannot be
    /// read again).
    pub bytes: bool,
}

/// Decodes and chain-hashes the body of the record at `seq` after `prev`.
/// Returns the computed chain hash and the record, or the error decoding
/// the body whole would give.
pub(crate) fn decode_first(
    prev: &Digest,
    seq: u64,
    body: impl Read,
    keep: KeepPlan,
) -> (Digest, Result<FirstRecord, postcard::Error>) {
    let mut chain = ChainHasher::new(prev, seq);
    let mut window = Window::new(body);
    if window.peek::<u32>() != Ok(0) {
        // Not a RunStart (or not a record): small, so decoded as usual.
        let mut bytes = Vec::new();
        window.rest(&mut |b| bytes.extend_from_slice(b));
        chain.update(&bytes);
        return (
            chain.finalize(),
            Record::from_bytes(&bytes).map(FirstRecord::Other),
        );
    }
    let decoded = stream_start(&mut window, &mut chain, keep);
    let trailing = window.rest(&mut |b| chain.update(b));
    let record = match decoded {
        // Bytes after the record: what decoding it whole says of them.
        Ok(_) if trailing > 0 => Err(postcard::Error::DeserializeUnexpectedEnd),
        Ok(_) if window.non_canonical => Err(postcard::Error::DeserializeBadEncoding),
        other => other.map(FirstRecord::Start),
    };
    (chain.finalize(), record)
}

fn stream_start<R: Read>(
    window: &mut Window<R>,
    chain: &mut ChainHasher,
    keep: KeepPlan,
) -> Result<StreamedStart, postcard::Error> {
    let mut hash = |b: &[u8]| chain.update(b);
    window.next::<u32>(&mut hash)?;
    let head = window.next::<Head>(&mut hash)?;
    let plan_len = window.next::<u64>(&mut hash)?;
    let plan_start = window.consumed;
    let mut plan_hasher = blake3::Hasher::new();
    let mut plan = keep.entries.then(Vec::new);
    let mut spilled = keep.bytes.then(Vec::new);
    for _ in 0..plan_len {
        let entry = window.next::<PlannedTask>(&mut |b| {
            chain.update(b);
            plan_hasher.update(b);
            if let Some(s) = spilled.as_mut() {
                s.extend_from_slice(b);
            }
        })?;
        if let Some(p) = plan.as_mut() {
            p.push(entry);
        }
    }
    let plan_bytes = plan_start..window.consumed;
    let tail = window.next::<Tail>(&mut |b| chain.update(b))?;
    Ok(StreamedStart {
        head,
        tail,
        plan_len,
        plan_bytes,
        plan_digest: Digest(*plan_hasher.finalize().as_bytes()),
        plan,
        spilled,
    })
}

/// Where the plan can be read a second time.
pub(crate) enum PlanSource {
    /// The bundle file: a handle opened with the one being verified (for
    /// the read in step with the results) and its path (to look back, for
    /// a failure's message).
    File {
        /// The second handle.
        file: File,
        /// The bundle's path.
        path: PathBuf,
        /// Offset of the plan's first byte in the file.
        offset: u64,
    },
    /// The plan's bytes, kept from the first read.
    Memory(Rc<[u8]>),
}

/// The plan, read entry by entry in step with the results.
pub(crate) struct PlanCursor {
    source: PlanSource,
    byte_len: u64,
    len: u64,
    expected: Digest,
    scan: Option<PlanScan>,
    current: Option<(u64, PlannedTask)>,
    looked_back: Option<PlannedTask>,
}

/// One pass over the plan's bytes, hashing what it reads.
struct PlanScan {
    window: Window<Box<dyn Read>>,
    read: u64,
    hasher: blake3::Hasher,
}

/// Which handle a scan of the plan reads through.
#[derive(Clone, Copy)]
enum Handle {
    /// The handle opened with the bundle: for the scan in step with the results.
    Held,
    /// A handle opened now: for looking back, so that the scan in step with
    /// the results keeps its place.
    Fresh,
}

impl PlanScan {
    fn open(source: &PlanSource, byte_len: u64, handle: Handle) -> io::Result<PlanScan> {
        let reader: Box<dyn Read> = match source {
            PlanSource::File { file, path, offset } => {
                let mut file = match handle {
                    Handle::Held => file.try_clone()?,
                    Handle::Fresh => File::open(path)?,
                };
                file.seek(SeekFrom::Start(*offset))?;
                Box::new(BufReader::new(file).take(byte_len))
            }
            PlanSource::Memory(bytes) => Box::new(io::Cursor::new(Rc::clone(bytes))),
        };
        Ok(PlanScan::over(reader))
    }

    fn over(reader: Box<dyn Read>) -> PlanScan {
        PlanScan {
            window: Window::new(reader),
            read: 0,
            hasher: blake3::Hasher::new(),
        }
    }

    fn next(&mut self) -> Result<PlannedTask, postcard::Error> {
        let hasher = &mut self.hasher;
        let entry = self.window.next::<PlannedTask>(&mut |b| {
            hasher.update(b);
        })?;
        self.read += 1;
        Ok(entry)
    }
}

/// Why the second read of the plan is not the plan that was signed.
const CHANGED: &str = "the bundle changed while it was being verified";

impl PlanCursor {
    /// A cursor over the plan of `start`, read from `source`.
    pub(super) fn new(start: &StreamedStart, source: PlanSource) -> PlanCursor {
        PlanCursor {
            source,
            byte_len: start.plan_bytes.end - start.plan_bytes.start,
            len: start.plan_len,
            expected: start.plan_digest,
            scan: None,
            current: None,
            looked_back: None,
        }
    }

    /// Number of entries.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Entry `i`, or `None` past the end. Reading forward is one step per
    /// entry; looking back (only for a failure's message) reads from the
    /// start with a fresh handle.
    pub(super) fn get(&mut self, i: u64) -> Result<Option<&PlannedTask>, String> {
        if i >= self.len {
            return Ok(None);
        }
        if self.current.as_ref().is_some_and(|(at, _)| *at > i) {
            let entry = self.look_back(i)?;
            return Ok(Some(self.looked_back.insert(entry)));
        }
        if self.scan.is_none() {
            let scan = PlanScan::open(&self.source, self.byte_len, Handle::Held)
                .map_err(|e| format!("cannot read the plan a second time: {e}"))?;
            self.scan = Some(scan);
        }
        let Some(scan) = self.scan.as_mut() else {
            return Ok(None);
        };
        while self.current.as_ref().is_none_or(|(at, _)| *at < i) {
            let at = scan.read;
            let entry = scan.next().map_err(|e| {
                format!("plan entry {at} does not decode when read a second time ({e}): {CHANGED}")
            })?;
            self.current = Some((at, entry));
        }
        Ok(self.current.as_ref().map(|(_, entry)| entry))
    }

    fn look_back(&mut self, i: u64) -> Result<PlannedTask, String> {
        let mut scan = PlanScan::open(&self.source, self.byte_len, Handle::Fresh)
            .map_err(|e| format!("cannot read the plan a second time: {e}"))?;
        loop {
            let at = scan.read;
            let entry = scan.next().map_err(|e| {
                format!("plan entry {at} does not decode when read a second time ({e}): {CHANGED}")
            })?;
            if at == i {
                return Ok(entry);
            }
        }
    }

    /// Reads what is left of the plan and checks that the second read saw
    /// exactly the bytes the first read hashed into the chain.
    pub(super) fn finish(mut self) -> Result<(), String> {
        if self.len > 0 {
            self.get(self.len - 1)?;
        }
        let mut scan = match self.scan.take() {
            Some(scan) => scan,
            None => PlanScan::open(&self.source, self.byte_len, Handle::Held)
                .map_err(|e| format!("cannot read the plan a second time: {e}"))?,
        };
        let extra = scan.window.rest(&mut |_| {});
        let digest = Digest(*scan.hasher.finalize().as_bytes());
        if extra > 0 || digest != self.expected {
            return Err(format!(
                "the plan read a second time differs from the plan the chain hash covers: {CHANGED}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::record::SuiteTrust;

    fn sample(entries: u32) -> RunStart {
        RunStart {
            run_id: [1; 16],
            started_at_unix_s: 1_700_000_000,
            suite: SuiteRef {
                name: "suite".into(),
                digest: Digest([2; 32]),
                trust: SuiteTrust::Signed(Digest([3; 32])),
            },
            plan: (0..entries)
                .map(|i| PlannedTask {
                    task_id: format!("task-{}", i % 7),
                    task_version: i % 3,
                    module_digest: Digest([i as u8; 32]),
                    epoch: i / 7,
                })
                .collect(),
            profile: ProfileRef {
                name: "profile".into(),
                digest: Digest([4; 32]),
            },
            runner: RunnerBuild {
                airlock_version: "1.0".into(),
                wasmtime_version: "48".into(),
                engine_settings: Digest([5; 32]),
                executable: Digest([6; 32]),
            },
            model: ModelDescriptor {
                agent: "reference".into(),
                model: "m".repeat(300),
                reported_model: String::new(),
                tool_mode: airlock_core::abi::ToolMode::Native,
            },
            seed: [7; 32],
            evaluator_key_id: Digest([8; 32]),
            campaign: None,
            station: StationLink {
                run_counter: 9,
                previous_run_start_hash: Digest([10; 32]),
            },
            selection: Some(vec!["t".into()]),
            settings: Some(Digest([11; 32])),
            hardware: StationHardware::NoTpm,
        }
    }

    const ALL: KeepPlan = KeepPlan {
        entries: true,
        bytes: true,
    };

    /// The streamed decode gives the record and chain hash of the whole
    /// decode, for plans from empty to several windows long.
    #[test]
    fn streamed_run_start_equals_whole_decode() {
        for entries in [0, 1, 5000] {
            let start = sample(entries);
            let body = Record::RunStart(start.clone()).to_bytes();
            let (hash, decoded) = decode_first(&Digest([9; 32]), 3, &body[..], ALL);
            assert_eq!(
                hash,
                airlock_core::chain::chain_hash(&Digest([9; 32]), 3, &body)
            );
            let Ok(FirstRecord::Start(streamed)) = decoded else {
                panic!("not streamed");
            };
            assert_eq!(streamed.to_run_start(), Some(start.clone()));
            assert_eq!(streamed.plan_len, u64::from(entries));
            let plan = &body[streamed.plan_bytes.start as usize..streamed.plan_bytes.end as usize];
            assert_eq!(streamed.spilled.as_deref(), Some(plan));
            assert_eq!(streamed.plan_digest.0, *blake3::hash(plan).as_bytes());
        }
    }

    /// Every cut and every single-byte change of a RunStart body decodes
    /// (or fails) exactly as decoding it whole does, with the same hash.
    #[test]
    fn streamed_decode_agrees_with_whole_decode_on_damaged_bodies() {
        let body = Record::RunStart(sample(3)).to_bytes();
        let mut cases: Vec<Vec<u8>> = (0..body.len()).map(|n| body[..n].to_vec()).collect();
        for i in 0..body.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut b = body.clone();
                b[i] ^= mask;
                cases.push(b);
            }
        }
        let mut longer = body.clone();
        longer.push(0);
        cases.push(longer);
        for case in &cases {
            let whole = Record::from_bytes(case);
            let (hash, streamed) = decode_first(&Digest::ZERO, 0, &case[..], ALL);
            assert_eq!(
                hash,
                airlock_core::chain::chain_hash(&Digest::ZERO, 0, case)
            );
            match (whole, streamed) {
                (Ok(Record::RunStart(w)), Ok(FirstRecord::Start(s))) => {
                    assert_eq!(s.to_run_start(), Some(w));
                }
                (Ok(w), Ok(FirstRecord::Other(s))) => assert_eq!(w, s),
                (Err(w), Err(s)) => assert_eq!(w, s, "{case:?}"),
                (w, s) => panic!(
                    "whole {:?} vs streamed {:?}",
                    w.map(|r| r.kind()),
                    s.map(|_| ())
                ),
            }
        }
    }

    #[test]
    fn cursor_reads_forward_looks_back_and_checks_the_digest() {
        let start = sample(3000);
        let body = Record::RunStart(start.clone()).to_bytes();
        let (_, decoded) = decode_first(&Digest::ZERO, 0, &body[..], ALL);
        let Ok(FirstRecord::Start(mut streamed)) = decoded else {
            panic!("not streamed");
        };
        let bytes: Rc<[u8]> = streamed.spilled.take().unwrap_or_default().into();
        let mut cursor = PlanCursor::new(&streamed, PlanSource::Memory(Rc::clone(&bytes)));
        assert_eq!(cursor.len(), 3000);
        assert_eq!(cursor.get(0).unwrap(), Some(&start.plan[0]));
        assert_eq!(cursor.get(2500).unwrap(), Some(&start.plan[2500]));
        assert_eq!(cursor.get(7).unwrap(), Some(&start.plan[7]));
        assert_eq!(cursor.get(2501).unwrap(), Some(&start.plan[2501]));
        assert_eq!(cursor.get(3000).unwrap(), None);
        assert_eq!(cursor.finish(), Ok(()));

        // A plan whose bytes differ on the second read, after the entries
        // the results have reached, fails the final check.
        let mut changed = bytes.to_vec();
        let last = changed.len() - 2;
        changed[last] ^= 1;
        let mut cursor = PlanCursor::new(&streamed, PlanSource::Memory(changed.into()));
        assert_eq!(cursor.get(0).unwrap(), Some(&start.plan[0]));
        let err = cursor.finish().unwrap_err();
        assert!(err.contains("changed while it was being verified"), "{err}");
    }
}
