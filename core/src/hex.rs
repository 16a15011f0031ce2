//! Hexadecimal text of bytes: the one encoder and decoder of the workspace.
//!
//! Encoding is always lower case, since digests and ids are compared as
//! text; decoding accepts either case. Nothing here allocates unless the
//! `alloc` feature is on, so the task modules can use it as they are.

use core::fmt::{self, Write as _};

#[cfg(feature = "alloc")]
use alloc::{string::String, vec::Vec};

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// The two lower-case digits of `byte`, high nibble first.
pub const fn byte_digits(byte: u8) -> [u8; 2] {
    [LOWER[(byte >> 4) as usize], LOWER[(byte & 0xf) as usize]]
}

/// The two upper-case digits of `byte`, high nibble first (percent
/// encoding spells them so).
pub const fn byte_digits_upper(byte: u8) -> [u8; 2] {
    [UPPER[(byte >> 4) as usize], UPPER[(byte & 0xf) as usize]]
}

/// The value of one hexadecimal digit (either case), or `None`.
pub const fn digit_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The byte spelled by two hexadecimal digits, or `None`.
pub const fn byte_value(high: u8, low: u8) -> Option<u8> {
    match (digit_value(high), digit_value(low)) {
        (Some(h), Some(l)) => Some((h << 4) | l),
        _ => None,
    }
}

/// Writes the lower-case hex of `bytes` into `out`, which must be exactly
/// twice as long; returns `None` (writing nothing) when it is not.
pub fn encode_to_slice(bytes: &[u8], out: &mut [u8]) -> Option<()> {
    if out.len() != 2 * bytes.len() {
        return None;
    }
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&byte_digits(b));
    }
    Some(())
}

/// Parses exactly `2 * N` hexadecimal digits (either case) into `N` bytes.
pub fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = byte_value(pair[0], pair[1])?;
    }
    Some(out)
}

/// Displays its bytes as lower-case hex, so that hex can be written into
/// any formatter without an intermediate string.
#[derive(Clone, Copy, Debug)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            let [high, low] = byte_digits(b);
            f.write_char(char::from(high))?;
            f.write_char(char::from(low))?;
        }
        Ok(())
    }
}

/// The lower-case hex of `bytes`.
#[cfg(feature = "alloc")]
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        let [high, low] = byte_digits(b);
        out.push(char::from(high));
        out.push(char::from(low));
    }
    out
}

/// The bytes of an even-length hexadecimal string (either case), or `None`.
#[cfg(feature = "alloc")]
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| byte_value(pair[0], pair[1]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips_in_either_case() {
        for b in 0..=255u8 {
            let [h, l] = byte_digits(b);
            assert_eq!(byte_value(h, l), Some(b));
            let [h, l] = byte_digits_upper(b);
            assert_eq!(byte_value(h, l), Some(b));
        }
        assert_eq!(byte_digits(0xa5), *b"a5");
        assert_eq!(byte_digits_upper(0xa5), *b"A5");
    }

    #[test]
    fn junk_and_wrong_lengths_are_refused() {
        for c in [b'g', b'G', b'+', b'-', b' ', b'x', 0xff] {
            assert_eq!(digit_value(c), None, "{c}");
        }
        assert_eq!(decode_array::<2>("abc"), None);
        assert_eq!(decode_array::<2>("+abc"), None);
        assert_eq!(decode_array::<2>("ABcd"), Some([0xab, 0xcd]));
        assert_eq!(decode_array::<1>("é"), None);
        let mut out = [0u8; 3];
        assert_eq!(encode_to_slice(&[1, 2], &mut out), None);
        assert_eq!(out, [0; 3]);
    }

    #[test]
    fn display_is_the_lower_case_digits() {
        struct Buf([u8; 8], usize);
        impl fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.1 + s.len();
                self.0
                    .get_mut(self.1..end)
                    .ok_or(fmt::Error)?
                    .copy_from_slice(s.as_bytes());
                self.1 = end;
                Ok(())
            }
        }
        let mut buf = Buf([0; 8], 0);
        let _ = write!(buf, "{}", Hex(&[0x00, 0x7f, 0xab, 0xff]));
        assert_eq!(&buf.0, b"007fabff");
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn allocating_forms_agree() {
        let bytes = [0x00, 0x10, 0xfe, 0xff];
        assert_eq!(encode(&bytes), "0010feff");
        assert_eq!(decode("0010FEff").as_deref(), Some(&bytes[..]));
        assert_eq!(decode("001"), None);
        assert_eq!(decode("zz"), None);
        assert_eq!(decode(""), Some(alloc::vec::Vec::new()));
    }
}
