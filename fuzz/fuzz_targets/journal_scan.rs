//! Journal scanning, as `--resume` does after a crash: any bytes give a
//! header error, entries, a torn tail or an error, never a panic.
#![no_main]

use airlock_attest::journal::JournalScanner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut scanner) = JournalScanner::new(data) else {
        return;
    };
    let mut entries = 0u64;
    while let Ok(Some(_)) = scanner.next_entry() {
        entries += 1;
    }
    assert_eq!(scanner.next_seq(), entries);
    assert!(scanner.valid_len() <= data.len() as u64);
    let _ = scanner.torn_tail();
});
