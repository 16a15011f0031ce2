//! Group commit. Fast tasks would spend most of a run waiting for two
//! fsyncs each, so results are made durable in groups: one fsync of the
//! sealed transcripts, then the results are appended and the journal
//! fsynced once. The durability rules still hold for each result: it is
//! appended only after its transcript is durable and reported only after
//! the journal holding it is.

use core::time::Duration;
use std::time::Instant;

use airlock_attest::{JournalWriter, SigningKey};
use airlock_core::record::{Record, TaskResult};

use super::error::RunError;
use super::options::Progress;
use airlock_attest::transcripts::TranscriptWriter;

/// Results that ran but are not durable yet.
#[derive(Default)]
pub(super) struct GroupCommit {
    pending: Vec<TaskResult>,
    opened: Option<Instant>,
    last_task: Duration,
}

/// How long a group may stay open. Groups are checked as results arrive
/// and every window while the run waits for one, so a finished result
/// waits for durability about this long at most; that bounds the work a
/// crash takes back.
/// A task that alone takes this long commits at once, so slow tasks (real
/// model calls) commit one by one as before.
pub(super) const GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(100);

/// Most results in one group, which bounds the memory they hold.
const GROUP_COMMIT_MAX: usize = 1024;

impl GroupCommit {
    /// Holds `result`, whose task took `took`, until the group commits.
    pub(super) fn push(&mut self, result: TaskResult, took: Duration) {
        self.opened.get_or_insert_with(Instant::now);
        self.pending.push(result);
        self.last_task = took;
    }

    /// Whether the group should commit now: full, open for a window, or
    /// just joined by a slow task.
    pub(super) fn due(&self) -> bool {
        self.pending.len() >= GROUP_COMMIT_MAX
            || self.last_task >= GROUP_COMMIT_WINDOW
            || self
                .opened
                .is_some_and(|opened| opened.elapsed() >= GROUP_COMMIT_WINDOW)
    }

    /// Makes the group durable, transcripts first, then reports each result.
    pub(super) fn commit(
        &mut self,
        sealed: &mut TranscriptWriter,
        writer: &mut JournalWriter,
        key: &SigningKey,
        progress: &mut dyn Progress,
        results: &mut Vec<TaskResult>,
    ) -> Result<(), RunError> {
        self.opened = None;
        if self.pending.is_empty() {
            return Ok(());
        }
        // The transcripts are durable before any result that commits to
        // one exists anywhere.
        sealed.sync()?;
        for result in &self.pending {
            writer.append(key, &Record::TaskResult(result.clone()))?;
        }
        writer.sync()?;
        for result in self.pending.drain(..) {
            tracing::info!(
                task = %result.task_id,
                epoch = result.epoch,
                outcome = %result.outcome,
                score = %result.score,
                fuel = result.fuel_consumed,
                "result durable"
            );
            progress.result(&result);
            results.push(result);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use airlock_core::outcome::Outcome;
    use airlock_core::{Digest, Ppm};

    use super::*;
    use airlock_attest::transcripts::{TranscriptKey, open_all};

    struct Count(usize);

    impl Progress for Count {
        fn start(&mut self, _total: u64, _done: u64) {}
        fn result(&mut self, _result: &TaskResult) {
            self.0 += 1;
        }
        fn finish(&mut self) {}
    }

    fn result(plan_index: u32) -> TaskResult {
        TaskResult {
            plan_index,
            task_id: "bench-echo".into(),
            module_digest: Digest([1; 32]),
            epoch: plan_index,
            outcome: Outcome::Done,
            score: Ppm::FULL,
            fuel_consumed: 10,
            peak_memory_bytes: 65536,
            turns: 1,
            tokens: Default::default(),
            wall_time_us: 5,
            transcript_commitment: Digest([2; 32]),
        }
    }

    #[test]
    fn a_group_is_due_when_full_old_or_after_a_slow_task() {
        let quick = Duration::from_micros(50);
        let mut batch = GroupCommit::default();
        assert!(!batch.due());
        batch.push(result(0), quick);
        assert!(!batch.due(), "one quick result waits for more");
        batch.push(result(1), GROUP_COMMIT_WINDOW);
        assert!(batch.due(), "a slow task commits at once");

        let mut batch = GroupCommit::default();
        for i in 0..GROUP_COMMIT_MAX as u32 - 1 {
            batch.push(result(i), quick);
        }
        assert!(!batch.due());
        batch.push(result(GROUP_COMMIT_MAX as u32), quick);
        assert!(batch.due(), "a full group commits");

        let mut batch = GroupCommit::default();
        batch.push(result(0), quick);
        std::thread::sleep(GROUP_COMMIT_WINDOW);
        assert!(batch.due(), "an old group commits");
    }

    /// Nothing is reported or in the journal before the commit; after it,
    /// every result is, in order, and each has its sealed transcript.
    #[test]
    fn a_commit_makes_the_group_durable_then_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_seed(&[3; 32]);
        let run_id = [4; 16];
        let transcript_key = TranscriptKey::from_bytes(&[5; 32]);
        let store = dir.path().join("run.transcripts");
        let mut sealed = TranscriptWriter::create(&store, run_id, transcript_key).unwrap();
        let journal = dir.path().join("run.journal");
        let mut writer = JournalWriter::create(&journal, &key.public_key()).unwrap();
        let mut progress = Count(0);
        let mut results = Vec::new();

        let mut batch = GroupCommit::default();
        for i in 0..3 {
            sealed
                .seal(i, format!("transcript {i}").as_bytes())
                .unwrap();
            batch.push(result(i), Duration::ZERO);
        }
        assert_eq!(progress.0, 0);
        assert_eq!(
            writer.next_seq(),
            0,
            "no result before its transcript is durable"
        );
        batch
            .commit(&mut sealed, &mut writer, &key, &mut progress, &mut results)
            .unwrap();
        assert_eq!(progress.0, 3);
        assert_eq!(results, vec![result(0), result(1), result(2)]);
        let state = airlock_attest::verify_journal(&journal, &key.public_key()).unwrap();
        let recorded: Vec<Record> = state.entries.into_iter().map(|e| e.record).collect();
        assert_eq!(
            recorded,
            results
                .iter()
                .cloned()
                .map(Record::TaskResult)
                .collect::<Vec<_>>()
        );
        let transcript_key = TranscriptKey::from_bytes(&[5; 32]);
        let opened = open_all(&store, &transcript_key, &run_id).unwrap();
        assert_eq!(opened.len(), 3);

        // An empty group commits nothing and reports nothing.
        batch
            .commit(&mut sealed, &mut writer, &key, &mut progress, &mut results)
            .unwrap();
        assert_eq!(progress.0, 3);
        assert_eq!(writer.next_seq(), 3);
    }
}
