//! The packet parser: its specification ([`Spec`]), its C source as the
//! model sees it ([`Spec::c_source`]), and a model of that C code in safe
//! Rust ([`Spec::parse`]) that reports where the C code would access
//! memory out of bounds.
//!
//! The model follows the C line by line, with `size_t` arithmetic as
//! wrapping `u64` and every buffer access checked against the size of the
//! buffer it touches: the input (heap, exactly `pkt_len` bytes) and the
//! local arrays `recs`, `name`, `data`, `slots`, `reply` (stack). An
//! access outside its buffer is what AddressSanitizer would report, and
//! ends the parse as [`Outcome::Crashed`]. With `bug: None` the parser is
//! the intended, correct one: no input makes it crash (tested).

use alloc::format;
use alloc::string::String;

/// Bytes of the packet header: magic (4), version (1), record count (1).
pub const HDR_LEN: u64 = 6;
/// The largest packet the parser accepts.
pub const MAX_PKT: u64 = 4096;

/// The planted bug: one of several families, one line of the C source.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Bug {
    /// The record count is checked with `>` instead of `>=`, so the
    /// sentinel written after the last record can land one past `recs`.
    CountOffByOne,
    /// The end of a record is computed in a `uint16_t`, which wraps, so a
    /// huge length passes the truncation check.
    TruncationWrap,
    /// The name length is checked with `>` instead of `>=`, so the NUL
    /// terminator can land one past `name`.
    NameOffByOne,
    /// The inner data length is read as `int16_t`: a negative length passes
    /// both checks and reaches `memcpy` as a huge size.
    DataSignedLength,
    /// The slot index is read as `int8_t`: a negative index passes the
    /// range check and writes before `slots`.
    SlotSignedIndex,
    /// The slot index is checked with `>` instead of `>=`.
    SlotOffByOne,
    /// The echo length is not checked against the record length, so the
    /// copy can read past the end of the input.
    EchoMissingCheck,
}

impl Bug {
    /// Every bug family, in a fixed order.
    pub const ALL: [Bug; 7] = [
        Bug::CountOffByOne,
        Bug::TruncationWrap,
        Bug::NameOffByOne,
        Bug::DataSignedLength,
        Bug::SlotSignedIndex,
        Bug::SlotOffByOne,
        Bug::EchoMissingCheck,
    ];
}

/// A return code of `parse_packet`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Code {
    /// Parsed.
    Ok,
    /// Shorter than the header or longer than `MAX_PKT`.
    Size,
    /// Wrong magic.
    Magic,
    /// Wrong version.
    Version,
    /// Too many records.
    Count,
    /// A record runs past the end of the packet.
    Truncated,
    /// Unknown record type.
    Type,
    /// A record's length is wrong for its type.
    Length,
    /// A slot index out of range.
    Range,
}

impl Code {
    /// Every code, in the order of their C values (0, 1, ...).
    pub const ALL: [Code; 9] = [
        Code::Ok,
        Code::Size,
        Code::Magic,
        Code::Version,
        Code::Count,
        Code::Truncated,
        Code::Type,
        Code::Length,
        Code::Range,
    ];

    /// The C name of the code.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Size => "ERR_SIZE",
            Code::Magic => "ERR_MAGIC",
            Code::Version => "ERR_VERSION",
            Code::Count => "ERR_COUNT",
            Code::Truncated => "ERR_TRUNCATED",
            Code::Type => "ERR_TYPE",
            Code::Length => "ERR_LENGTH",
            Code::Range => "ERR_RANGE",
        }
    }

    /// The C value of the code.
    pub fn value(self) -> usize {
        Code::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// How one parse ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// `parse_packet` returned this code without a memory error.
    Returned(Code),
    /// The C code would access memory out of bounds: an
    /// AddressSanitizer-style report.
    Crashed(String),
}

/// One parser: byte order, constants, record types and the planted bug.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Spec {
    /// Byte order of multi-byte fields.
    pub big_endian: bool,
    /// The header magic, as `rd32` reads it.
    pub magic: u32,
    /// The header version.
    pub version: u8,
    /// Entries of `recs` (one is the sentinel).
    pub max_recs: u8,
    /// Bytes of `name`, NUL included.
    pub name_max: u16,
    /// Bytes of `data`.
    pub data_max: u16,
    /// Entries of `slots`.
    pub nslots: u8,
    /// Bytes of `reply`.
    pub reply_max: u16,
    /// Record type values: name, data, slot, echo.
    pub types: [u8; 4],
    /// The planted bug; `None` is the correct parser.
    pub bug: Option<Bug>,
}

/// A memory error: the AddressSanitizer-style report.
struct Crash(String);

type Run<T> = Result<T, Crash>;

impl Spec {
    /// The record type of a name record.
    pub fn t_name(&self) -> u8 {
        self.types[0]
    }
    /// The record type of a data record.
    pub fn t_data(&self) -> u8 {
        self.types[1]
    }
    /// The record type of a slot record.
    pub fn t_slot(&self) -> u8 {
        self.types[2]
    }
    /// The record type of an echo record.
    pub fn t_echo(&self) -> u8 {
        self.types[3]
    }

    /// A 16-bit field in the packet's byte order.
    pub fn u16_bytes(&self, value: u16) -> [u8; 2] {
        if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    }

    /// A 32-bit field in the packet's byte order.
    pub fn u32_bytes(&self, value: u32) -> [u8; 4] {
        if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        }
    }

    fn rd16(&self, b: &[u8]) -> u16 {
        let pair = [
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ];
        if self.big_endian {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    }

    fn rd32(&self, b: &[u8]) -> u32 {
        let mut quad = [0u8; 4];
        for (q, v) in quad.iter_mut().zip(b) {
            *q = *v;
        }
        if self.big_endian {
            u32::from_be_bytes(quad)
        } else {
            u32::from_le_bytes(quad)
        }
    }

    /// Runs the C `parse_packet` on `pkt`, as the model of the C code.
    pub fn parse(&self, pkt: &[u8]) -> Outcome {
        match self.run(pkt) {
            Ok(code) => Outcome::Returned(code),
            Err(Crash(report)) => Outcome::Crashed(report),
        }
    }

    fn run(&self, pkt: &[u8]) -> Run<Code> {
        let n = pkt.len() as u64;
        if !(HDR_LEN..=MAX_PKT).contains(&n) {
            return Ok(Code::Size);
        }
        if self.rd32(read(pkt, 0, 4)?) != self.magic {
            return Ok(Code::Magic);
        }
        if byte(pkt, 4)? != self.version {
            return Ok(Code::Version);
        }
        let count = byte(pkt, 5)?;
        let count_ok = if self.bug == Some(Bug::CountOffByOne) {
            count <= self.max_recs
        } else {
            count < self.max_recs
        };
        if !count_ok {
            return Ok(Code::Count);
        }
        let mut off: u64 = HDR_LEN;
        let mut data_len: i64 = 0;
        for _ in 0..count {
            if n.wrapping_sub(off) < 3 {
                return Ok(Code::Truncated);
            }
            let kind = byte(pkt, off)?;
            let len = self.rd16(read(pkt, off.wrapping_add(1), 2)?);
            off = off.wrapping_add(3);
            let truncated = if self.bug == Some(Bug::TruncationWrap) {
                // uint16_t end = off + len;
                u64::from(off.wrapping_add(u64::from(len)) as u16) > n
            } else {
                u64::from(len) > n.wrapping_sub(off)
            };
            if truncated {
                return Ok(Code::Truncated);
            }
            let val = off;
            let len64 = i64::from(len);
            // recs[i] with i < count <= max_recs: always inside `recs`.
            if kind == self.t_name() {
                let too_long = if self.bug == Some(Bug::NameOffByOne) {
                    len > self.name_max
                } else {
                    len >= self.name_max
                };
                if too_long {
                    return Ok(Code::Length);
                }
                read(pkt, val, u64::from(len))?;
                write_local("name", i64::from(self.name_max), len64, 1)?;
            } else if kind == self.t_data() {
                if len < 2 {
                    return Ok(Code::Length);
                }
                let raw = self.rd16(read(pkt, val, 2)?);
                let dlen = if self.bug == Some(Bug::DataSignedLength) {
                    i64::from(raw as i16)
                } else {
                    i64::from(raw)
                };
                if dlen > len64 - 2 {
                    return Ok(Code::Length);
                }
                if data_len + dlen > i64::from(self.data_max) {
                    return Ok(Code::Length);
                }
                if dlen < 0 {
                    return Err(Crash(format!(
                        "==1==ERROR: AddressSanitizer: negative-size-param: (size={dlen})\n\
                         \x20   #0 in __asan_memcpy\n\
                         \x20   #1 in parse_packet parser.c\n\
                         SUMMARY: AddressSanitizer: negative-size-param in __asan_memcpy"
                    )));
                }
                read(pkt, val.wrapping_add(2), dlen as u64)?;
                write_local("data", i64::from(self.data_max), data_len, dlen)?;
                data_len += dlen;
            } else if kind == self.t_slot() {
                if len != 2 {
                    return Ok(Code::Length);
                }
                let byte = byte(pkt, val)?;
                let idx = if self.bug == Some(Bug::SlotSignedIndex) {
                    i64::from(byte as i8)
                } else {
                    i64::from(byte)
                };
                let out_of_range = if self.bug == Some(Bug::SlotOffByOne) {
                    idx > i64::from(self.nslots)
                } else {
                    idx >= i64::from(self.nslots)
                };
                if out_of_range {
                    return Ok(Code::Range);
                }
                read(pkt, val.wrapping_add(1), 1)?;
                write_local("slots", i64::from(self.nslots), idx, 1)?;
            } else if kind == self.t_echo() {
                if len < 2 {
                    return Ok(Code::Length);
                }
                let elen = self.rd16(read(pkt, val, 2)?);
                if self.bug != Some(Bug::EchoMissingCheck) && elen > len - 2 {
                    return Ok(Code::Length);
                }
                if elen > self.reply_max {
                    return Ok(Code::Length);
                }
                read(pkt, val.wrapping_add(2), u64::from(elen))?;
                write_local("reply", i64::from(self.reply_max), 0, i64::from(elen))?;
            } else {
                return Ok(Code::Type);
            }
            off = off.wrapping_add(u64::from(len));
        }
        // recs[count].type = 0;
        write_local("recs", i64::from(self.max_recs), i64::from(count), 1)?;
        Ok(Code::Ok)
    }
}

/// The `size` bytes of the input at `at`, or the report of a read past it.
fn read(pkt: &[u8], at: u64, size: u64) -> Run<&[u8]> {
    let n = pkt.len() as u64;
    match at.checked_add(size) {
        Some(end) if end <= n => {
            // Both bounds are at most pkt.len(), so they fit in usize.
            Ok(pkt.get(at as usize..end as usize).unwrap_or_default())
        }
        _ => Err(Crash(format!(
            "==1==ERROR: AddressSanitizer: heap-buffer-overflow\n\
             READ of size {size} at pkt + {at}: the {n}-byte input buffer ends at pkt + {n}\n\
             \x20   #0 in parse_packet parser.c\n\
             SUMMARY: AddressSanitizer: heap-buffer-overflow in parse_packet"
        ))),
    }
}

/// The input byte at `at`, or the report of a read past the input.
fn byte(pkt: &[u8], at: u64) -> Run<u8> {
    Ok(read(pkt, at, 1)?.first().copied().unwrap_or(0))
}

/// Checks a write of `size` elements at index `at` of the local array
/// `name` of `len` elements.
fn write_local(name: &str, len: i64, at: i64, size: i64) -> Run<()> {
    if at >= 0 && at.saturating_add(size) <= len {
        return Ok(());
    }
    let kind = if at < 0 { "underflow" } else { "overflow" };
    Err(Crash(format!(
        "==1==ERROR: AddressSanitizer: stack-buffer-{kind}\n\
         WRITE of size {size} at {name} + {at}: variable '{name}' has {len} elements\n\
         \x20   #0 in parse_packet parser.c\n\
         SUMMARY: AddressSanitizer: stack-buffer-{kind} in parse_packet"
    )))
}

impl Spec {
    /// The C source of `parse_packet` and its definitions, as shown to the
    /// model: the code [`Spec::parse`] models, the planted bug included.
    pub fn c_source(&self) -> String {
        let bug = self.bug;
        let (rd16, rd32) = if self.big_endian {
            (
                "return (uint16_t)(p[0] << 8 | p[1]);",
                "return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];",
            )
        } else {
            (
                "return (uint16_t)(p[1] << 8 | p[0]);",
                "return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];",
            )
        };
        let count_check = if bug == Some(Bug::CountOffByOne) {
            "count > MAX_RECS"
        } else {
            "count >= MAX_RECS"
        };
        let truncation = if bug == Some(Bug::TruncationWrap) {
            "        uint16_t end = off + len;\n        if (end > pkt_len)\n"
        } else {
            "        if (len > pkt_len - off)\n"
        };
        let name_check = if bug == Some(Bug::NameOffByOne) {
            "len > NAME_MAX"
        } else {
            "len >= NAME_MAX"
        };
        let dlen = if bug == Some(Bug::DataSignedLength) {
            "int16_t  dlen = (int16_t)rd16(val);"
        } else {
            "uint16_t dlen = rd16(val);"
        };
        let idx = if bug == Some(Bug::SlotSignedIndex) {
            "int8_t idx = (int8_t)val[0];"
        } else {
            "uint8_t idx = val[0];"
        };
        let slot_check = if bug == Some(Bug::SlotOffByOne) {
            "idx > NSLOTS"
        } else {
            "idx >= NSLOTS"
        };
        let echo_check = if bug == Some(Bug::EchoMissingCheck) {
            ""
        } else {
            "            if (elen > len - 2)\n                return ERR_LENGTH;\n"
        };
        let codes: alloc::vec::Vec<String> = Code::ALL
            .iter()
            .map(|c| format!("{} = {}", c.name(), c.value()))
            .collect();
        format!(
            "#include <stddef.h>\n\
             #include <stdint.h>\n\
             #include <string.h>\n\
             \n\
             #define MAGIC     0x{magic:08X}u\n\
             #define VERSION   {version}\n\
             #define HDR_LEN   {HDR_LEN}      /* magic (4), version (1), record count (1) */\n\
             #define MAX_PKT   {MAX_PKT}\n\
             #define MAX_RECS  {max_recs}\n\
             #define NAME_MAX  {name_max}\n\
             #define DATA_MAX  {data_max}\n\
             #define NSLOTS    {nslots}\n\
             #define REPLY_MAX {reply_max}\n\
             \n\
             enum {{ T_NAME = 0x{t_name:02X}, T_DATA = 0x{t_data:02X}, T_SLOT = 0x{t_slot:02X}, T_ECHO = 0x{t_echo:02X} }};\n\
             enum {{ {codes} }};\n\
             \n\
             struct record {{ uint8_t type; uint16_t len; }};\n\
             \n\
             void send_reply(const uint8_t *buf, size_t len);\n\
             \n\
             static uint16_t rd16(const uint8_t *p) {{ {rd16} }}\n\
             static uint32_t rd32(const uint8_t *p) {{ {rd32} }}\n\
             \n\
             /* Each record: type (1 byte), len (2 bytes, rd16), then len bytes of value. */\n\
             int parse_packet(const uint8_t *pkt, size_t pkt_len)\n\
             {{\n\
             \x20   struct record recs[MAX_RECS];\n\
             \x20   char     name[NAME_MAX];\n\
             \x20   uint8_t  data[DATA_MAX];\n\
             \x20   int      data_len = 0;\n\
             \x20   uint8_t  slots[NSLOTS] = {{0}};\n\
             \x20   uint8_t  reply[REPLY_MAX];\n\
             \n\
             \x20   if (pkt_len < HDR_LEN || pkt_len > MAX_PKT)\n\
             \x20       return ERR_SIZE;\n\
             \x20   if (rd32(pkt) != MAGIC)\n\
             \x20       return ERR_MAGIC;\n\
             \x20   if (pkt[4] != VERSION)\n\
             \x20       return ERR_VERSION;\n\
             \x20   uint8_t count = pkt[5];\n\
             \x20   if ({count_check})\n\
             \x20       return ERR_COUNT;\n\
             \n\
             \x20   size_t off = HDR_LEN;\n\
             \x20   for (int i = 0; i < count; i++) {{\n\
             \x20       if (pkt_len - off < 3)\n\
             \x20           return ERR_TRUNCATED;\n\
             \x20       uint8_t  type = pkt[off];\n\
             \x20       uint16_t len  = rd16(pkt + off + 1);\n\
             \x20       off += 3;\n\
             {truncation}\
             \x20           return ERR_TRUNCATED;\n\
             \x20       const uint8_t *val = pkt + off;\n\
             \x20       recs[i].type = type;\n\
             \x20       recs[i].len  = len;\n\
             \n\
             \x20       switch (type) {{\n\
             \x20       case T_NAME:\n\
             \x20           if ({name_check})\n\
             \x20               return ERR_LENGTH;\n\
             \x20           memcpy(name, val, len);\n\
             \x20           name[len] = '\\0';\n\
             \x20           break;\n\
             \x20       case T_DATA: {{\n\
             \x20           if (len < 2)\n\
             \x20               return ERR_LENGTH;\n\
             \x20           {dlen}\n\
             \x20           if (dlen > len - 2)\n\
             \x20               return ERR_LENGTH;\n\
             \x20           if (data_len + dlen > DATA_MAX)\n\
             \x20               return ERR_LENGTH;\n\
             \x20           memcpy(data + data_len, val + 2, dlen);\n\
             \x20           data_len += dlen;\n\
             \x20           break;\n\
             \x20       }}\n\
             \x20       case T_SLOT: {{\n\
             \x20           if (len != 2)\n\
             \x20               return ERR_LENGTH;\n\
             \x20           {idx}\n\
             \x20           if ({slot_check})\n\
             \x20               return ERR_RANGE;\n\
             \x20           slots[idx] = val[1];\n\
             \x20           break;\n\
             \x20       }}\n\
             \x20       case T_ECHO: {{\n\
             \x20           if (len < 2)\n\
             \x20               return ERR_LENGTH;\n\
             \x20           uint16_t elen = rd16(val);\n\
             {echo_check}\
             \x20           if (elen > REPLY_MAX)\n\
             \x20               return ERR_LENGTH;\n\
             \x20           memcpy(reply, val + 2, elen);\n\
             \x20           send_reply(reply, elen);\n\
             \x20           break;\n\
             \x20       }}\n\
             \x20       default:\n\
             \x20           return ERR_TYPE;\n\
             \x20       }}\n\
             \x20       off += len;\n\
             \x20   }}\n\
             \x20   recs[count].type = 0;  /* sentinel: end of the record table */\n\
             \x20   return OK;\n\
             }}\n",
            magic = self.magic,
            version = self.version,
            max_recs = self.max_recs,
            name_max = self.name_max,
            data_max = self.data_max,
            nslots = self.nslots,
            reply_max = self.reply_max,
            t_name = self.t_name(),
            t_data = self.t_data(),
            t_slot = self.t_slot(),
            t_echo = self.t_echo(),
            codes = codes.join(", "),
        )
    }
}
