//! A run's progress on stderr: a bar on a terminal, or JSON lines.

use airlock::report;
use airlock::run::Progress;
use airlock_core::JsonSafe;
use airlock_core::record::TaskResult;

/// A progress bar on stderr when it is a terminal; quiet otherwise.
pub(crate) struct Bar(indicatif::ProgressBar, Vec<TaskResult>);

impl Bar {
    pub(crate) fn new() -> Bar {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} tasks  {msg}  eta {eta}")
        {
            bar.set_style(style);
        }
        Bar(bar, Vec::new())
    }
}

impl Progress for Bar {
    fn start(&mut self, total: u64, done: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }

    fn result(&mut self, result: &TaskResult) {
        self.1.push(result.clone());
        let done = self
            .1
            .iter()
            .filter(|r| r.outcome == airlock_core::Outcome::Done)
            .count();
        self.0
            .set_message(format!("{done} done, {} other", self.1.len() - done));
        self.0.inc(1);
    }

    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

/// `--json` progress: one JSON line on stderr per event (SPEC.md, "Run
/// progress events"), so a supervisor knows which results are durable
/// without waiting for the run to end, even when the run is killed.
pub(crate) struct JsonProgress;

impl JsonProgress {
    fn emit(value: &serde_json::Value) {
        use std::io::Write;
        // One write per line: a reader that sees the newline saw the whole
        // event. A failed write cannot undo durability, so it is not an error.
        let line = format!("{}\n", JsonSafe(&value.to_string()));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

impl Progress for JsonProgress {
    fn start(&mut self, total: u64, done: u64) {
        JsonProgress::emit(&report::progress_json(
            "start",
            serde_json::json!({ "planned": total, "durable": done }),
        ));
    }

    fn result(&mut self, result: &TaskResult) {
        JsonProgress::emit(&report::progress_json(
            "result",
            serde_json::json!({ "result": report::result_json(result) }),
        ));
    }

    fn finish(&mut self) {
        JsonProgress::emit(&report::progress_json("end", serde_json::json!({})));
    }
}
