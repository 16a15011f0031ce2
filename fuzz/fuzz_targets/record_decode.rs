//! Record, signed entry and transcript decoding: whatever decodes must
//! encode back to a value that decodes to itself.
#![no_main]

use airlock_core::decode_exact;
use airlock_core::record::{Record, SignedEntry};
use airlock_core::transcript::Transcript;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::from_bytes(data) {
        let again = Record::from_bytes(&record.to_bytes());
        assert_eq!(again.ok().as_ref(), Some(&record));
    }
    if let Ok(entry) = decode_exact::<SignedEntry>(data) {
        let again = decode_exact::<SignedEntry>(&entry.to_bytes());
        assert_eq!(again.ok().as_ref(), Some(&entry));
        // The body of an entry is a record, or the verifier says why not.
        let _ = Record::from_bytes(&entry.body);
    }
    if let Ok(transcript) = decode_exact::<Transcript>(data) {
        let bytes = postcard::to_allocvec(&transcript).unwrap_or_default();
        assert_eq!(decode_exact::<Transcript>(&bytes).ok(), Some(transcript));
    }
});
