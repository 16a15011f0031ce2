//! The completeness level: the results follow the signed plan, one per
//! entry in order, and RunEnd's totals and reason agree with them.

use core::fmt;

use airlock_core::Digest;
use airlock_core::record::{Record, RunEndReason};
use airlock_core::{Outcome, Ppm};

use super::plan_stream::{PlanCursor, PlanSource, StreamedStart};
use super::verdict::Status;

/// How a reason names a record: `record 5 (TaskResult)`. Formatted only
/// when a reason is written, not for every record read.
pub(super) struct Label(pub(super) u64, pub(super) &'static str);

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {} ({})", self.0, self.1)
    }
}

/// The completeness level as a state machine over the records in order.
pub(super) struct Completeness {
    key_id: Digest,
    pub(super) failure: Option<String>,
    not_checked: Option<String>,
    plan: Option<PlanCursor>,
    next: u64,
    results: u64,
    full_credit: u64,
    score_sum: u64,
    /// Model errors in a row at the end of the results so far: what an
    /// abort's count must be.
    trailing_model_errors: u64,
    ended: bool,
    note: Option<String>,
}

/// How a reason names plan entry `i`: `plan entry 3 (task x epoch 1)`.
fn describe(plan: &mut PlanCursor, i: u64) -> String {
    match plan.get(i) {
        Ok(Some(p)) => format!("plan entry {i} (task {} epoch {})", p.task_id, p.epoch),
        _ => format!("plan entry {i}"),
    }
}

impl Completeness {
    pub(super) fn new(key_id: Digest) -> Completeness {
        Completeness {
            key_id,
            failure: None,
            not_checked: None,
            plan: None,
            next: 0,
            results: 0,
            full_credit: 0,
            score_sum: 0,
            trailing_model_errors: 0,
            ended: false,
            note: None,
        }
    }

    pub(super) fn not_checked(&mut self, why: String) {
        if self.failure.is_none() && self.not_checked.is_none() {
            self.not_checked = Some(why);
        }
    }

    fn fail(&mut self, reason: String) {
        if self.failure.is_none() && self.not_checked.is_none() {
            self.failure = Some(reason);
        }
    }

    /// The first record, a RunStart: the plan the results must follow.
    pub(super) fn start(&mut self, label: &Label, start: &StreamedStart, source: PlanSource) {
        if self.failure.is_some() || self.not_checked.is_some() {
            return;
        }
        if label.0 != 0 {
            return self.fail(format!("{label}: a second RunStart"));
        }
        if start.evaluator_key_id() != self.key_id {
            return self.fail(format!(
                "{label}: evaluator key id {} is not the signing key's id {}",
                start.evaluator_key_id(),
                self.key_id
            ));
        }
        self.plan = Some(PlanCursor::new(start, source));
    }

    pub(super) fn feed(&mut self, index: u64, label: &Label, record: &Record) {
        if self.failure.is_some() || self.not_checked.is_some() {
            return;
        }
        if let Err(reason) = self.check(index, label, record) {
            self.failure = Some(reason);
        }
    }

    fn check(&mut self, index: u64, label: &Label, record: &Record) -> Result<(), String> {
        if self.ended {
            return Err(format!("{label}: record after RunEnd"));
        }
        if index == 0 {
            // A first record that is a RunStart is streamed (`start`); a
            // whole one here is any other kind.
            return Err(format!("{label}: the first record must be RunStart"));
        }
        let Some(plan) = self.plan.as_mut() else {
            return Err(format!("{label}: there is no plan to check it against"));
        };
        let n = plan.len();
        match record {
            Record::RunStart(_) => Err(format!("{label}: a second RunStart")),
            Record::TaskResult(r) => {
                let pi = u64::from(r.plan_index);
                if pi < self.next {
                    return Err(format!(
                        "{label}: duplicate result for {}",
                        describe(plan, pi)
                    ));
                }
                if self.next >= n {
                    return Err(format!(
                        "{label}: extra result for plan entry {pi}; all {n} planned results are present"
                    ));
                }
                if pi >= n {
                    return Err(format!(
                        "{label}: result for plan entry {pi}, beyond the plan of {n} entries"
                    ));
                }
                if pi > self.next {
                    return Err(format!(
                        "{label}: result for plan entry {pi}, but {} has no result before it",
                        describe(plan, self.next)
                    ));
                }
                let (same_task, planned_digest, same_epoch) = match plan.get(pi) {
                    Ok(Some(p)) => (r.task_id == p.task_id, p.module_digest, r.epoch == p.epoch),
                    Ok(None) => return Err(format!("{label}: plan entry {pi} cannot be read")),
                    Err(e) => return Err(format!("{label}: {e}")),
                };
                if !same_task {
                    return Err(format!(
                        "{label}: task id {:?} differs from {}",
                        r.task_id,
                        describe(plan, pi)
                    ));
                }
                if r.module_digest != planned_digest {
                    return Err(format!(
                        "{label}: module digest {} differs from {}'s {}",
                        r.module_digest,
                        describe(plan, pi),
                        planned_digest
                    ));
                }
                if !same_epoch {
                    return Err(format!(
                        "{label}: epoch {} differs from {}",
                        r.epoch,
                        describe(plan, pi)
                    ));
                }
                if !r.score.is_valid() {
                    return Err(format!(
                        "{label}: score {} ppm is above full credit ({})",
                        r.score.0,
                        Ppm::FULL.0
                    ));
                }
                if r.outcome != Outcome::Done && r.score != Ppm::ZERO {
                    return Err(format!(
                        "{label}: score {} ppm with outcome {}; only done may score",
                        r.score.0, r.outcome
                    ));
                }
                self.next += 1;
                self.results += 1;
                self.full_credit += u64::from(r.score == Ppm::FULL);
                self.score_sum += u64::from(r.score.0);
                if matches!(r.outcome, Outcome::ModelError(_)) {
                    self.trailing_model_errors += 1;
                } else {
                    self.trailing_model_errors = 0;
                }
                Ok(())
            }
            Record::RunEnd(end) => {
                for (what, claimed, seen) in [
                    ("results", u64::from(end.results), self.results),
                    ("full_credit", u64::from(end.full_credit), self.full_credit),
                    ("score_sum", end.score_sum, self.score_sum),
                ] {
                    if claimed != seen {
                        return Err(format!(
                            "{label}: {what} total {claimed}, but the results before it give {seen}"
                        ));
                    }
                }
                match end.reason {
                    RunEndReason::Completed if self.next < n => {
                        return Err(format!(
                            "{label}: run ended as completed after {} of {n} planned results; {} has no result",
                            self.next,
                            describe(plan, self.next)
                        ));
                    }
                    RunEndReason::Completed => {}
                    // What the runner writes when it ends a run early
                    // (SPEC.md, "Verification", level 4): after n ≥ 1 model
                    // errors in a row, the last n results, and before the
                    // plan is done. The profile's limit is not known here.
                    RunEndReason::AbortedModelErrors(0) => {
                        return Err(format!(
                            "{label}: run ended as aborted after 0 consecutive model errors; \
                             a run ends early only after at least one"
                        ));
                    }
                    RunEndReason::AbortedModelErrors(errors) if self.next >= n => {
                        return Err(format!(
                            "{label}: run ended as aborted after {errors} consecutive model errors, \
                             but all {n} planned results are present (such a run is completed)"
                        ));
                    }
                    RunEndReason::AbortedModelErrors(errors)
                        if u64::from(errors) != self.trailing_model_errors =>
                    {
                        return Err(format!(
                            "{label}: run ended as aborted after {errors} consecutive model errors, \
                             but the {} results before it end with {} model errors in a row",
                            self.next, self.trailing_model_errors
                        ));
                    }
                    RunEndReason::AbortedModelErrors(errors) => {
                        self.note = Some(format!(
                            "aborted after {} of {n} planned results ({errors} consecutive model errors)",
                            self.next
                        ));
                    }
                }
                self.ended = true;
                Ok(())
            }
        }
    }

    pub(super) fn finish(self, records: u64, last_kind: &str) -> (Status, Option<String>) {
        if let Some(reason) = self.failure {
            return (Status::Failed(reason), None);
        }
        if let Some(why) = self.not_checked {
            return (Status::NotChecked(why), None);
        }
        if records == 0 {
            return (
                Status::Failed("the bundle holds no records".to_owned()),
                None,
            );
        }
        let Some(mut plan) = self.plan else {
            return (
                Status::Failed("the bundle holds no RunStart".to_owned()),
                None,
            );
        };
        if !self.ended {
            let missing = if self.next < plan.len() {
                format!(
                    "; {} and after have no result",
                    describe(&mut plan, self.next)
                )
            } else {
                String::new()
            };
            return (
                Status::Failed(format!(
                    "the bundle ends after record {} ({last_kind}) without RunEnd: {} of {} planned results present{missing}",
                    records - 1,
                    self.next,
                    plan.len()
                )),
                None,
            );
        }
        if let Err(reason) = plan.finish() {
            return (Status::Failed(reason), None);
        }
        (Status::Passed, self.note)
    }
}
