//! Text helpers that tasks share: flag tokens, hex, bounded output.
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
}
