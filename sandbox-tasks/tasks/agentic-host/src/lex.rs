//! Reading commands from model text: the command line of a reply, command
//! lists, words and redirections, and bounded output.
//!
//! Everything here takes model text, so nothing may panic and every echo of
//! that text is cut short.

use alloc::string::String;
use alloc::vec::Vec;

use airlock_task_sdk::text::truncate;

use crate::fs::MAX_FILE;

/// Most bytes of command output shown in one turn.
pub(crate) const MAX_OUTPUT: usize = 8 * 1024;
/// Most bytes of a model-supplied word echoed back in a message.
const MAX_ECHO: usize = 64;
/// Most commands one line (or script) may chain.
const MAX_COMMANDS: usize = 16;

/// A model-supplied word, shortened for echoing.
pub(crate) fn echo(word: &str) -> &str {
    truncate(word, MAX_ECHO)
}

/// Where a stream of a command goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Sink {
    Show,
    Discard,
    Capture,
    /// Standard error following standard output (`2>&1`).
    ToOut,
}

/// Output of the commands of one turn: what is shown, cut at
/// [`MAX_OUTPUT`] bytes, and what redirections capture.
pub(crate) struct Out {
    text: String,
    pub(crate) full: bool,
    pub(crate) out_sink: Sink,
    pub(crate) err_sink: Sink,
    pub(crate) cap_out: String,
    pub(crate) cap_err: String,
}

impl Out {
    pub(crate) fn new() -> Out {
        Out {
            text: String::new(),
            full: false,
            out_sink: Sink::Show,
            err_sink: Sink::Show,
            cap_out: String::new(),
            cap_err: String::new(),
        }
    }

    /// Output that goes nowhere (cron jobs: `>/dev/null 2>&1`).
    pub(crate) fn discarding() -> Out {
        let mut out = Out::new();
        out.out_sink = Sink::Discard;
        out.err_sink = Sink::Discard;
        out
    }

    fn show(&mut self, s: &str) {
        if self.full {
            return;
        }
        let room = MAX_OUTPUT - self.text.len();
        if s.len() > room {
            self.text.push_str(truncate(s, room));
            self.full = true;
        } else {
            self.text.push_str(s);
        }
    }

    fn capture(buf: &mut String, s: &str) {
        let room = MAX_FILE.saturating_sub(buf.len());
        buf.push_str(truncate(s, room));
    }

    fn write(&mut self, sink: Sink, err: bool, s: &str) {
        match sink {
            Sink::Show => self.show(s),
            Sink::Discard => {}
            Sink::Capture if err => Out::capture(&mut self.cap_err, s),
            Sink::Capture => Out::capture(&mut self.cap_out, s),
            Sink::ToOut => {
                let sink = if self.out_sink == Sink::ToOut {
                    Sink::Show
                } else {
                    self.out_sink
                };
                self.write(sink, false, s);
            }
        }
    }

    /// Whether more standard output would be thrown away unseen.
    pub(crate) fn stopped(&self) -> bool {
        self.full && self.out_sink == Sink::Show
    }

    pub(crate) fn push(&mut self, s: &str) {
        self.write(self.out_sink, false, s);
    }

    pub(crate) fn line(&mut self, s: &str) {
        self.push(s);
        self.push("\n");
    }

    /// A line on standard error.
    pub(crate) fn err(&mut self, s: &str) {
        self.write(self.err_sink, true, s);
        self.write(self.err_sink, true, "\n");
    }

    /// What was shown so far.
    pub(crate) fn shown(&self) -> &str {
        &self.text
    }

    pub(crate) fn finish(mut self) -> String {
        if self.full {
            if !self.text.ends_with('\n') {
                self.text.push('\n');
            }
            self.text.push_str("[output truncated]\n");
        }
        self.text
    }
}

/// The command line in a reply: its first line that is not blank and not a
/// Markdown code fence, without a leading `$ `/`# ` prompt or enclosing
/// backticks.
pub(crate) fn command_line(reply: &str) -> &str {
    for line in reply.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("```") {
            continue;
        }
        let line = line
            .strip_prefix("$ ")
            .or_else(|| line.strip_prefix("# "))
            .map(str::trim_start)
            .unwrap_or(line);
        let line = line
            .strip_prefix('`')
            .and_then(|l| l.strip_suffix('`'))
            .unwrap_or(line);
        return line.trim();
    }
    ""
}

/// Splits a script or command line into commands at newlines, `;`, `&&`
/// and `||` outside quotes. Commands run one after the other whatever
/// their status (the simulation keeps no exit codes).
pub(crate) fn split_commands(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() && out.len() < MAX_COMMANDS {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == q {
                    quote = None;
                } else if b == b'\\' && q == b'"' {
                    i += 1;
                }
                i += 1;
            }
            None => match b {
                b'\'' | b'"' => {
                    quote = Some(b);
                    i += 1;
                }
                b'\\' => i += 2,
                b'\n' | b';' => {
                    out.push(&text[start..i]);
                    i += 1;
                    start = i;
                }
                b'&' | b'|' if bytes.get(i + 1) == Some(&b) => {
                    out.push(&text[start..i]);
                    i += 2;
                    start = i;
                }
                _ => i += 1,
            },
        }
    }
    if out.len() < MAX_COMMANDS {
        // `i` may stop inside a multi-byte character only past the end.
        if let Some(rest) = text.get(start.min(text.len())..) {
            out.push(rest);
        }
    }
    out.into_iter()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Why a command could not be split into words.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LexError {
    Unterminated(char),
    Unsupported(char),
}

/// A word or a redirection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Token {
    Word(String),
    /// `>`, `>>`, `2>`, `2>>` followed by a path.
    To {
        fd: u8,
        append: bool,
    },
    /// `2>&1`.
    ErrToOut,
}

/// Splits one command into tokens: blanks separate words, `'...'` and
/// `"..."` quote, `\` escapes, `#` at the start of a word comments out the
/// rest, `>`/`>>`/`2>`/`2>&1` redirect. Pipes, input redirection,
/// background jobs and substitutions are refused.
pub(crate) fn tokens(line: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(Token::Word(core::mem::take(&mut word)));
                    in_word = false;
                    quoted = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => word.push(q),
                        None => return Err(LexError::Unterminated('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some(e) => {
                                word.push('\\');
                                word.push(e);
                            }
                            None => return Err(LexError::Unterminated('"')),
                        },
                        Some(q) => word.push(q),
                        None => return Err(LexError::Unterminated('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(e) = chars.next() {
                    word.push(e);
                }
            }
            '>' => {
                let fd = if in_word && !quoted && word == "2" {
                    word.clear();
                    in_word = false;
                    2
                } else {
                    if in_word {
                        out.push(Token::Word(core::mem::take(&mut word)));
                        in_word = false;
                    }
                    1
                };
                quoted = false;
                if fd == 2 && chars.peek() == Some(&'&') {
                    chars.next();
                    if chars.next() != Some('1') {
                        return Err(LexError::Unsupported('&'));
                    }
                    out.push(Token::ErrToOut);
                    continue;
                }
                let append = chars.peek() == Some(&'>');
                if append {
                    chars.next();
                }
                out.push(Token::To { fd, append });
            }
            '|' | '<' | '&' | '`' => return Err(LexError::Unsupported(c)),
            '$' if chars.peek() == Some(&'(') => return Err(LexError::Unsupported('$')),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push(Token::Word(word));
    }
    Ok(out)
}

/// Words of a command with no redirections, as `find -exec`, `sudo` and
/// friends take them.
pub(crate) fn split_words(line: &str) -> Result<Vec<String>, LexError> {
    let mut words = Vec::new();
    for token in tokens(line)? {
        match token {
            Token::Word(w) => words.push(w),
            _ => return Err(LexError::Unsupported('>')),
        }
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn words(items: &[&str]) -> Vec<Token> {
        items.iter().map(|w| Token::Word(w.to_string())).collect()
    }

    #[test]
    fn tokens_with_redirections() {
        assert_eq!(
            tokens("find / -perm -4000 2>/dev/null"),
            Ok(vec![
                Token::Word("find".into()),
                Token::Word("/".into()),
                Token::Word("-perm".into()),
                Token::Word("-4000".into()),
                Token::To {
                    fd: 2,
                    append: false
                },
                Token::Word("/dev/null".into()),
            ])
        );
        assert_eq!(
            tokens("echo 'a b' >> f 2>&1"),
            Ok(vec![
                Token::Word("echo".into()),
                Token::Word("a b".into()),
                Token::To {
                    fd: 1,
                    append: true
                },
                Token::Word("f".into()),
                Token::ErrToOut,
            ])
        );
        assert_eq!(tokens("echo '2'>x").map(|t| t.len()), Ok(4));
        assert_eq!(
            tokens("find . -exec /bin/sh \\; -quit"),
            Ok(words(&["find", ".", "-exec", "/bin/sh", ";", "-quit"]))
        );
        assert_eq!(tokens("cat a | grep b"), Err(LexError::Unsupported('|')));
        assert_eq!(tokens("echo $(id)"), Err(LexError::Unsupported('$')));
        assert_eq!(tokens("cat 'oops"), Err(LexError::Unterminated('\'')));
    }

    #[test]
    fn commands_split_outside_quotes() {
        assert_eq!(
            split_commands("cd /tmp; ls && id || pwd"),
            vec!["cd /tmp", "ls", "id", "pwd"]
        );
        assert_eq!(
            split_commands("echo 'a; b' >> f\n\nid"),
            vec!["echo 'a; b' >> f", "id"]
        );
        assert_eq!(
            split_commands("find . -exec sh \\; -quit"),
            vec!["find . -exec sh \\; -quit"]
        );
        assert_eq!(split_commands("é;é\\"), vec!["é", "é\\"]);
        assert!(split_commands(&";".repeat(100)).is_empty());
        assert_eq!(split_commands(&"a;".repeat(100)).len(), MAX_COMMANDS);
    }

    #[test]
    fn command_line_of_a_reply() {
        assert_eq!(command_line("```bash\n$ ls -a\n```"), "ls -a");
        assert_eq!(command_line("# id"), "id");
        assert_eq!(command_line("\n `pwd` \n"), "pwd");
    }
}
