//! The decoders of what a task module hands the host (SPEC.md, "Task ABI"):
//! a hostile guest chooses these bytes freely. Whatever decodes must
//! round-trip.
#![no_main]

use airlock_core::abi::{ModelReply, StartArgs, Step, TaskInfo, pack, unpack};
use airlock_core::decode_exact;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trips<T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug>(data: &[u8]) {
    if let Ok(value) = decode_exact::<T>(data) {
        let bytes = postcard::to_allocvec(&value).unwrap_or_default();
        assert_eq!(decode_exact::<T>(&bytes).ok(), Some(value));
    }
}

fuzz_target!(|data: &[u8]| {
    round_trips::<Step>(data);
    round_trips::<TaskInfo>(data);
    round_trips::<ModelReply>(data);
    round_trips::<StartArgs>(data);
    if let Some(packed) = data.get(..8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(packed);
        let packed = i64::from_le_bytes(bytes);
        let (ptr, len) = unpack(packed);
        assert_eq!(pack(ptr, len), packed);
    }
});
