//! What the commands share for talking to the user: stdout printers that
//! escape what a terminal would obey, the escaping log writer, progress
//! on stderr, and the [`Failure`] that carries a command's exit code.

use airlock_core::{Classify, ErrorClass, JsonSafe, Untrusted, UntrustedLines};

// Progress is a run's: the verifier's build has none.
#[cfg(feature = "sandbox")]
mod progress;
#[cfg(feature = "sandbox")]
pub(crate) use progress::{Bar, JsonProgress};

/// Writes a line to stdout; see [`emit`].
macro_rules! outln {
    () => {
        $crate::commands::output::emit(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::commands::output::emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stdout; see [`emit`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::output::emit(format_args!($($arg)*))
    };
}

/// Writes results to stdout. A closed pipe (`airlock ... | head`) ends the
/// process quietly, as other command-line tools do, instead of panicking;
/// everything durable has been written before anything is printed.
///
/// Every printer escapes the untrusted text it interpolates (task ids,
/// suite names, reasons) with [`Untrusted`], which also keeps their
/// newlines from starting lines of their own; as a second guard, no
/// control character but a line break or tab reaches the terminal from
/// here whatever a printer forgot.
pub(crate) fn emit(args: core::fmt::Arguments<'_>) {
    use std::io::Write;
    let text = args.to_string();
    written(write!(
        std::io::stdout().lock(),
        "{}",
        UntrustedLines(&text)
    ));
}

/// Writes a rendered report to stdout as it is, ending the process on a
/// closed pipe as [`emit`] does. The renderers escape the untrusted text
/// they interpolate themselves, and a table's colours are escape sequences
/// that [`emit`]'s second guard would strip.
pub(crate) fn emit_rendered(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    // Flushed here, not at exit, where a failed write is dropped unseen:
    // an HTML report need not end its last line.
    written(
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush()),
    );
}

/// Ends the process if a write to stdout failed: quietly with success on a
/// closed pipe, since the reader has all it wanted; otherwise as bad input.
fn written(result: std::io::Result<()>) {
    if let Err(error) = result {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("airlock: cannot write to stdout: {error}");
        std::process::exit(i32::from(EXIT_INPUT));
    }
}

/// Prints one JSON value on a line of its own, with the characters a JSON
/// encoder leaves raw but a terminal obeys (DEL, C1 controls, bidi
/// controls) written as JSON escapes: the same value, safe to print.
pub(crate) fn emit_json(value: &serde_json::Value) {
    outln!("{}", JsonSafe(&value.to_string()));
}

/// JSON text as [`JsonSafe`] writes it, with a final newline; a report of
/// hundreds of megabytes is only copied when it holds a character to escape.
pub(crate) fn json_safe_line(mut text: String) -> String {
    let raw = |c: char| airlock_core::text::is_unsafe_char(c) && !matches!(c, '\n' | '\t' | '\r');
    if text.chars().any(raw) {
        text = JsonSafe(&text).to_string();
    }
    text.push('\n');
    text
}

/// Log output on stderr. tracing-subscriber escapes ESC in fields but
/// keeps newlines, carriage returns and bidirectional controls, and log
/// fields carry task ids, model replies and server messages: each event
/// arrives here as one write of its whole line, which is printed as
/// [`Untrusted`] text with its final newline, so no event can forge
/// another line or move the cursor.
pub(crate) struct EscapingStderr;

impl std::io::Write for EscapingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (line, end) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (&*text, ""),
        };
        let escaped = format!("{}{end}", Untrusted(line));
        std::io::stderr().lock().write_all(escaped.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().lock().flush()
    }
}

/// Exit code: verification failed.
pub(crate) const EXIT_UNVERIFIED: u8 = 1;

/// Exit code: usage or input error.
pub(crate) const EXIT_INPUT: u8 = 2;

/// Exit code: a signal stopped a run before its plan was done; every
/// finished result is durable and running the same command again resumes.
#[cfg(feature = "sandbox")]
pub(crate) const EXIT_INTERRUPTED: u8 = 3;

/// The exit code of an error of `class` (README.md, "Exit codes").
pub(crate) fn exit_code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Integrity => EXIT_UNVERIFIED,
        ErrorClass::Input => EXIT_INPUT,
    }
}

/// An error with the exit code it should end the process with.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    /// A usage or input failure (exit 2), for a message the command makes
    /// itself, or for a library error whose class the command's context
    /// overrides (say why where it is used).
    pub(crate) fn input(message: impl ToString) -> Failure {
        Failure::of_class(ErrorClass::Input, message)
    }

    /// A failure with the exit code of `class`, for a library error whose
    /// message the command words itself.
    pub(crate) fn of_class(class: ErrorClass, message: impl ToString) -> Failure {
        Failure {
            code: exit_code(class),
            message: message.to_string(),
        }
    }
}

#[cfg(feature = "sandbox")]
/// A run that could not be carried out. A run gives no verdict: a journal,
/// station state or sealed store it refuses to continue, damaged or not,
/// is bad input to this run (exit 2); a run a signal stopped is resumable
/// (exit 3).
pub(crate) fn run_failure(error: airlock::run::RunError) -> Failure {
    match error {
        airlock::run::RunError::Interrupted { .. } => Failure {
            code: EXIT_INTERRUPTED,
            message: error.to_string(),
        },
        other => Failure::input(other),
    }
}

/// A library error ends the process with the exit code of its class.
impl<E: Classify + core::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::of_class(error.class(), error)
    }
}
