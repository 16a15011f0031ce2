//! Text from outside, made safe to print.
//!
//! Task ids, titles, suite and model names, server messages and file names
//! come from modules, bundles, plans, disclosure files, model servers and
//! directories that an attacker may have written. Printed raw to a terminal,
//! an escape sequence in one of them can move the cursor, clear the screen
//! and draw a fake "VERIFIED" line, and a newline can start a line that
//! looks like the program's own. Every printer interpolates such text
//! through [`Untrusted`], so there is one definition of what is escaped.

use core::fmt::{self, Write as _};

/// Whether `c` can change what a terminal shows beyond its own glyph: C0
/// and C1 controls (newlines and tabs included), DEL, the bidirectional
/// embeddings, overrides, isolates and marks that reorder the text around
/// them, and the Unicode line and paragraph separators.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Untrusted text for display: each character [`is_unsafe_char`] calls
/// unsafe is written as its Rust escape, `\u{1b}`; everything else as it
/// is. The result is one line that moves nothing. Width, fill and
/// alignment (`{:<16}`) apply to the escaped text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Untrusted<'a>(pub &'a str);

/// Untrusted text in which line breaks (`\n`) and tabs are kept, for a
/// printer whose whole output is the text (a log line, a block of lines
/// that is written as one); every other character [`is_unsafe_char`] calls
/// unsafe is escaped as [`Untrusted`] escapes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntrustedLines<'a>(pub &'a str);

fn write_escaped(f: &mut dyn fmt::Write, text: &str, keep_lines: bool) -> fmt::Result {
    let mut plain = 0;
    for (at, c) in text.char_indices() {
        if is_unsafe_char(c) && !(keep_lines && matches!(c, '\n' | '\t')) {
            f.write_str(&text[plain..at])?;
            write!(f, "{}", c.escape_unicode())?;
            plain = at + c.len_utf8();
        }
    }
    f.write_str(&text[plain..])
}

/// Characters [`write_escaped`] writes for `text`.
fn escaped_width(text: &str, keep_lines: bool) -> usize {
    text.chars()
        .map(|c| {
            if is_unsafe_char(c) && !(keep_lines && matches!(c, '\n' | '\t')) {
                c.escape_unicode().count()
            } else {
                1
            }
        })
        .sum()
}

fn pad(f: &mut fmt::Formatter<'_>, text: &str, keep_lines: bool) -> fmt::Result {
    let Some(width) = f.width() else {
        return write_escaped(f, text, keep_lines);
    };
    let fill = width.saturating_sub(escaped_width(text, keep_lines));
    let (before, after) = match f.align() {
        Some(fmt::Alignment::Right) => (fill, 0),
        Some(fmt::Alignment::Center) => (fill / 2, fill - fill / 2),
        Some(fmt::Alignment::Left) | None => (0, fill),
    };
    let c = f.fill();
    for _ in 0..before {
        f.write_char(c)?;
    }
    write_escaped(f, text, keep_lines)?;
    for _ in 0..after {
        f.write_char(c)?;
    }
    Ok(())
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        pad(f, self.0, false)
    }
}

impl fmt::Display for UntrustedLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        pad(f, self.0, true)
    }
}

/// JSON text (as serde_json writes it) made safe to print: the characters
/// [`is_unsafe_char`] calls unsafe that a JSON encoder may leave raw (DEL,
/// C1 controls, bidirectional controls, line separators) are written as
/// JSON escapes, `\u009b`, which decode to the same string. Structural
/// whitespace (`\n`, `\t`, `\r` between tokens) is kept; an encoder
/// escapes it inside strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonSafe<'a>(pub &'a str);

impl fmt::Display for JsonSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let mut plain = 0;
        for (at, c) in text.char_indices() {
            if is_unsafe_char(c) && !matches!(c, '\n' | '\t' | '\r') {
                f.write_str(&text[plain..at])?;
                // Every unsafe character is in the Basic Multilingual Plane.
                write!(f, "\\u{:04x}", u32::from(c))?;
                plain = at + c.len_utf8();
            }
        }
        f.write_str(&text[plain..])
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    use super::*;
    use alloc::format;

    #[test]
    fn controls_bidi_and_newlines_are_escaped() {
        let hostile = "a\x1b[2J\nVERIFIED\r\u{9b}\u{7f}x\u{202e}y\u{2066}\u{200f}\u{2028}";
        let shown = format!("{}", Untrusted(hostile));
        assert_eq!(
            shown,
            "a\\u{1b}[2J\\u{a}VERIFIED\\u{d}\\u{9b}\\u{7f}x\\u{202e}y\\u{2066}\\u{200f}\\u{2028}"
        );
        assert!(!shown.chars().any(is_unsafe_char));
    }

    #[test]
    fn json_keeps_its_meaning() {
        assert_eq!(
            format!("{}", JsonSafe("{\"id\":\"a\u{9b}2J\u{202e}\\u001b\"}\n")),
            "{\"id\":\"a\\u009b2J\\u202e\\u001b\"}\n"
        );
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(format!("{}", Untrusted("crypto-xor ü ✓")), "crypto-xor ü ✓");
    }

    #[test]
    fn lines_keep_newlines_and_tabs_only() {
        assert_eq!(
            format!("{}", UntrustedLines("a\tb\nc\x1b[0m\r")),
            "a\tb\nc\\u{1b}[0m\\u{d}"
        );
    }

    #[test]
    fn padding_counts_the_escaped_text() {
        assert_eq!(format!("[{:<6}]", Untrusted("a\x07")), "[a\\u{7}]");
        assert_eq!(format!("[{:<10}]", Untrusted("a\x07")), "[a\\u{7}    ]");
        assert_eq!(format!("[{:>4}]", Untrusted("ab")), "[  ab]");
        assert_eq!(format!("[{:^4}]", Untrusted("ab")), "[ ab ]");
    }
}
