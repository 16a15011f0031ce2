// expect: trap (unreachable)
// A real Rust guest, compiled by the tests' build script with rustc alone
// (no_std, panic=abort, for wasm32-unknown-unknown): `airlock_start` indexes
// an array with a number taken from its input, the bounds check fails, and
// the panic handler ends the call the way the task SDK's does, with
// `unreachable`.
#![no_std]

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Where the host writes inputs.
static mut INPUT: [u8; 256] = [0; 256];

/// The TaskInfo in postcard: ABI 1, id "rust-panic", version 1, title
/// "Rust panic", category Knowledge, difficulty Easy, 1 turn, description "d".
static INFO: [u8; 29] = *b"\x01\x0arust-panic\x01\x0aRust panic\x04\x00\x01\x01d";

fn pack(bytes: &[u8]) -> i64 {
    (((bytes.as_ptr() as usize as u64) << 32) | bytes.len() as u64) as i64
}

#[unsafe(no_mangle)]
pub extern "C" fn airlock_abi_version() -> i32 {
    1
}

#[unsafe(no_mangle)]
pub extern "C" fn airlock_input(_len: i32) -> i32 {
    (&raw mut INPUT) as usize as i32
}

#[unsafe(no_mangle)]
pub extern "C" fn airlock_info() -> i64 {
    pack(&INFO)
}

#[unsafe(no_mangle)]
pub extern "C" fn airlock_start(len: i32) -> i64 {
    let table = [1u8, 2, 3, 4];
    // The 32-byte seed's length: past the end of `table`.
    let index = len as usize;
    i64::from(table[index])
}

#[unsafe(no_mangle)]
pub extern "C" fn airlock_step(_len: i32) -> i64 {
    panic!("the task ended in airlock_start")
}
