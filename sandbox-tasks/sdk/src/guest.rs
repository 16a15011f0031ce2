//! The WebAssembly side of the task ABI: guest memory, exports' bodies,
//! the allocator and the panic handler. All of the SDK's `unsafe` is here.
//!
//! Malformed input from the host (a length past the input buffer, bytes
//! that do not decode, a `step` before `start` or after `Done`) is a host
//! bug, not something a task can score: the guest traps, and the host
//! records the trap.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ptr;

use airlock_core::abi::{ABI_VERSION, ModelReply, StartArgs, Step, pack};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Task;

#[cfg(target_feature = "atomics")]
compile_error!("airlock task modules are single-threaded: build without the atomics feature");

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Ends the call as a wasm trap.
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

/// The guest's mutable state, reachable from every export.
struct Guest {
    /// Where the host writes the next input.
    input: Vec<u8>,
    /// The last output; the host copies it out before the next call.
    output: Vec<u8>,
    /// The running task, a `Box<T>` for the `T` of [`export_task!`], or null.
    task: *mut (),
    /// Drops `task` with its real type.
    drop_task: Option<fn(*mut ())>,
}

struct GuestCell(UnsafeCell<Guest>);

// SAFETY: a wasm32 guest without the atomics feature (refused above) runs a
// single thread, so the state is never shared between threads.
unsafe impl Sync for GuestCell {}

static GUEST: GuestCell = GuestCell(UnsafeCell::new(Guest {
    input: Vec::new(),
    output: Vec::new(),
    task: ptr::null_mut(),
    drop_task: None,
}));

/// The guest state. Each export calls this once and the host never
/// re-enters the guest during a call, so no two of these borrows overlap.
fn guest() -> &'static mut Guest {
    // SAFETY: see above: one thread, one borrow per export call, and task
    // code cannot reach `GUEST`.
    unsafe { &mut *GUEST.0.get() }
}

fn drop_boxed<T>(task: *mut ()) {
    // SAFETY: `task` came from `Box::<T>::into_raw` in `start::<T>` and is
    // dropped at most once, since the caller nulls it right after.
    drop(unsafe { Box::from_raw(task.cast::<T>()) });
}

impl Guest {
    fn drop_task(&mut self) {
        if let Some(drop_task) = self.drop_task.take() {
            drop_task(self.task);
        }
        self.task = ptr::null_mut();
    }

    /// Decodes exactly the first `len` bytes of the input buffer.
    fn read<M: DeserializeOwned>(&self, len: i32) -> M {
        let Ok(len) = usize::try_from(len) else {
            trap()
        };
        let Some(bytes) = self.input.get(..len) else {
            trap()
        };
        match postcard::take_from_bytes::<M>(bytes) {
            Ok((message, [])) => message,
            _ => trap(),
        }
    }

    /// Keeps the encoding of `message` alive until the next call and
    /// returns its packed pointer and length.
    fn write<M: Serialize>(&mut self, message: &M) -> i64 {
        self.output.clear();
        match postcard::to_extend(message, core::mem::take(&mut self.output)) {
            Ok(bytes) => self.output = bytes,
            Err(_) => trap(),
        }
        pack(
            self.output.as_ptr() as usize as u32,
            self.output.len() as u32,
        )
    }
}

#[doc(hidden)]
pub fn abi_version() -> i32 {
    ABI_VERSION as i32
}

#[doc(hidden)]
pub fn input(len: i32) -> i32 {
    let Ok(len) = usize::try_from(len) else {
        trap()
    };
    let g = guest();
    g.input.clear();
    // Zero-filled so that the bytes are initialised whatever the host writes.
    g.input.resize(len, 0);
    g.input.as_mut_ptr() as usize as i32
}

#[doc(hidden)]
pub fn info<T: Task>() -> i64 {
    guest().write(&T::info())
}

#[doc(hidden)]
pub fn start<T: Task>(len: i32) -> i64 {
    let g = guest();
    let args: StartArgs = g.read(len);
    g.drop_task();
    let (task, step) = T::start_in_mode(args.seed, args.tool_mode);
    if !matches!(step, Step::Done(_)) {
        g.task = Box::into_raw(Box::new(task)).cast::<()>();
        g.drop_task = Some(drop_boxed::<T>);
    }
    g.write(&step)
}

#[doc(hidden)]
pub fn step<T: Task>(len: i32) -> i64 {
    let g = guest();
    let reply: ModelReply = g.read(len);
    if g.task.is_null() {
        trap();
    }
    // SAFETY: a non-null `task` is the `Box<T>` that `start::<T>` stored;
    // both functions are instantiated with the same `T` by the one
    // `export_task!` call of the module (a second call would define the
    // exports twice and fail to link).
    let task = unsafe { &mut *g.task.cast::<T>() };
    let step = task.step(&reply);
    if let Step::Done(_) = step {
        // A finished task is never stepped again; freeing it makes a
        // further `step` trap instead of running a finished task.
        g.drop_task();
    }
    g.write(&step)
}
