//! The signature level: every record's Ed25519 signature over its chain
//! hash, checked on the calling thread or by a pool of workers, with the
//! same findings whatever the number of threads.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use airlock_core::Digest;
use airlock_core::chain::signed_message;
use airlock_core::record::Signature;

use crate::keys::PublicKey;

/// The signature level's findings: the first bad record and how many.
#[derive(Clone, Copy, Default)]
pub(super) struct SignatureFailures {
    pub(super) first: Option<(u64, &'static str)>,
    pub(super) count: u64,
}

impl SignatureFailures {
    fn add(&mut self, index: u64, kind: &'static str) {
        self.count += 1;
        if self.first.is_none_or(|(i, _)| index < i) {
            self.first = Some((index, kind));
        }
    }

    fn merge(&mut self, other: SignatureFailures) {
        if let Some((i, kind)) = other.first {
            self.add(i, kind);
            self.count += other.count - 1;
        }
    }
}

/// Where the streamed verifier hands each entry's signature to be checked.
pub(super) trait SignatureCheck {
    /// Checks (now or later) the signature of entry `index`, of record kind
    /// `kind`, over its stored chain hash.
    fn submit(&mut self, index: u64, kind: &'static str, hash: Digest, signature: Signature);
    /// Every failure, once every submitted signature is checked.
    fn finish(&mut self) -> SignatureFailures;
}

/// Checks each signature on the calling thread.
pub(super) struct InlineSignatures {
    key: PublicKey,
    failures: SignatureFailures,
}

impl InlineSignatures {
    pub(super) fn new(key: PublicKey) -> InlineSignatures {
        InlineSignatures {
            key,
            failures: SignatureFailures::default(),
        }
    }
}

impl SignatureCheck for InlineSignatures {
    fn submit(&mut self, index: u64, kind: &'static str, hash: Digest, signature: Signature) {
        if !self.key.verify(&signed_message(&hash), &signature) {
            self.failures.add(index, kind);
        }
    }

    fn finish(&mut self) -> SignatureFailures {
        self.failures
    }
}

/// Signatures per batch handed to a worker: large enough that channel
/// traffic is noise next to the Ed25519 work, small enough that a batch is
/// a few kilobytes.
const BATCH: usize = 128;

/// One signature to check: record index, kind, chain hash and signature.
type Job = (u64, &'static str, Digest, Signature);

/// Checks one batch of signatures.
fn check_batch(key: &PublicKey, batch: Vec<Job>) -> SignatureFailures {
    let mut failures = SignatureFailures::default();
    for (index, kind, hash, signature) in batch {
        if !key.verify(&signed_message(&hash), &signature) {
            failures.add(index, kind);
        }
    }
    failures
}

/// `threads − 1` worker threads checking signatures in batches, and the
/// calling thread, which reads, decodes and chains the records, checking a
/// batch itself whenever the workers are all busy. So `threads` threads are
/// busy, not `threads + 1` competing for `threads` cores. The job channel
/// is bounded (two batches per worker), so a fast reader does not buffer
/// the bundle: memory stays flat.
pub(super) struct PooledSignatures {
    key: PublicKey,
    jobs: Option<SyncSender<Vec<Job>>>,
    done: Receiver<SignatureFailures>,
    batch: Vec<Job>,
    sent: u64,
    received: u64,
    failures: SignatureFailures,
}

impl PooledSignatures {
    pub(super) fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        key: PublicKey,
        threads: usize,
    ) -> PooledSignatures {
        let workers = threads.saturating_sub(1).max(1);
        let (jobs, inbox) = std::sync::mpsc::sync_channel::<Vec<Job>>(workers * 2);
        let (report, done) = std::sync::mpsc::channel();
        let inbox = std::sync::Arc::new(std::sync::Mutex::new(inbox));
        for _ in 0..workers {
            let inbox = std::sync::Arc::clone(&inbox);
            let report = report.clone();
            scope.spawn(move || {
                loop {
                    // The lock is held only to take the next batch.
                    let batch = match inbox.lock() {
                        Ok(inbox) => inbox.recv(),
                        Err(_) => return,
                    };
                    let Ok(batch) = batch else { return };
                    if report.send(check_batch(&key, batch)).is_err() {
                        return;
                    }
                }
            });
        }
        PooledSignatures {
            key,
            jobs: Some(jobs),
            done,
            batch: Vec::with_capacity(BATCH),
            sent: 0,
            received: 0,
            failures: SignatureFailures::default(),
        }
    }

    fn send_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = core::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let unsent = match &self.jobs {
            Some(jobs) => match jobs.try_send(batch) {
                Ok(()) => {
                    self.sent += 1;
                    None
                }
                Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => Some(batch),
            },
            None => Some(batch),
        };
        if let Some(batch) = unsent {
            let failures = check_batch(&self.key, batch);
            self.failures.merge(failures);
        }
        while let Ok(f) = self.done.try_recv() {
            self.received += 1;
            self.failures.merge(f);
        }
    }
}

impl SignatureCheck for PooledSignatures {
    fn submit(&mut self, index: u64, kind: &'static str, hash: Digest, signature: Signature) {
        self.batch.push((index, kind, hash, signature));
        if self.batch.len() == BATCH {
            self.send_batch();
        }
    }

    fn finish(&mut self) -> SignatureFailures {
        self.send_batch();
        // Closing the channel ends the workers once it is drained.
        self.jobs = None;
        while self.received < self.sent {
            match self.done.recv() {
                Ok(f) => {
                    self.received += 1;
                    self.failures.merge(f);
                }
                Err(_) => break,
            }
        }
        self.failures
    }
}
