//! Text helpers that tasks share: flag tokens, hex, bounded output, globs.
//!
//! Everything here accepts arbitrary text (any length, any UTF-8) without
//! panicking, since its input is usually a model's reply.

use alloc::string::String;
use alloc::vec::Vec;

/// The prefix of every flag.
pub const FLAG_PREFIX: &str = "flag{";

/// The first flag token in `text`: from the first occurrence of `flag{`
/// up to and including the first `}` after it. `None` when there is no
/// `flag{`, or no `}` after it.
///
/// Tasks score only this token, so that a reply listing many guesses is
/// worth no more than its first one.
pub fn first_flag_token(text: &str) -> Option<&str> {
    let start = text.find(FLAG_PREFIX)?;
    let rest = &text[start..];
    let end = rest.find('}')?;
    Some(&rest[..=end])
}

/// Lower-case hexadecimal of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    airlock_core::hex::encode(bytes)
}

/// Bytes of an even-length hexadecimal string (either case), or `None`.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    airlock_core::hex::decode(text)
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on
/// a character boundary.
pub fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether `name` matches the glob `pattern` as a whole: `*` matches any
/// run of characters, `?` one character, everything else itself. This is
/// the glob of shell file names and of Redis `KEYS`, which simulated hosts
/// and services both need; it runs in time linear in
/// `pattern.len() * name.len()` at worst, whatever a model sends.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_token_is_the_first_complete_one() {
        assert_eq!(first_flag_token("x flag{a} flag{b}"), Some("flag{a}"));
        assert_eq!(first_flag_token("flag{a"), None);
        assert_eq!(first_flag_token("FLAG{a}"), None);
        assert_eq!(first_flag_token("}flag{é}"), Some("flag{é}"));
        assert_eq!(first_flag_token(""), None);
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex_encode(&bytes), "0001abff");
        assert_eq!(hex_decode("0001ABff").as_deref(), Some(&bytes[..]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode("éé"), None);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("hi", 10), "hi");
        assert_eq!(truncate("", 0), "");
    }

    #[test]
    fn glob_matches_whole_names() {
        assert!(glob_match("*.tar", "x-config.tar"));
        assert!(!glob_match("*.tar", "x.tar.gz"));
        assert!(glob_match("?d", "id"));
        assert!(glob_match("*", ""));
        assert!(glob_match("fl?g", "flag"));
        assert!(!glob_match("s*", "flag"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("", "x"));
        assert!(glob_match("é?", "éa"));
    }
}
