//! The program runtime: what a program for Ethos needs around its `main`.
//!
//! With the `runtime` feature, on Ethos (`target_os = "none"`), this module provides
//! the global allocator over a [`HEAP_BYTES`] heap in `.bss`, a panic handler that
//! prints the panic message and exits with [`PANIC_STATUS`], and [`start`], which
//! [`entry!`](crate::entry) calls from `_start`. The kernel enters `_start` with the
//! stack as after a call and nothing else set up; nothing here needs more. The
//! [`Termination`] trait, which turns what `main` returns into an exit status, exists
//! everywhere. The heap is a static handed to the allocator through a leaked lock
//! guard, which proves it is used only once; the allocator is Talc, which finds a
//! block in a few steps whatever the heap holds (a first-fit list walks its holes,
//! and a program allocates for every value it sends and receives). Handing it the
//! heap and forwarding `GlobalAlloc` to it are this module's only `unsafe` code.

use core::fmt;

/// The exit status of a program that panicked.
pub const PANIC_STATUS: i32 = ethos_abi::exit::PANIC_STATUS;

/// The exit status of a program whose `main` returned an error.
pub const ERROR_STATUS: i32 = 1;

/// The heap's size: plenty for the programs of the boot image.
pub const HEAP_BYTES: usize = 1 << 20;

/// What `main` may return: the program's exit status.
pub trait Termination {
    /// The exit status; an error is printed first.
    fn exit_status(self) -> i32;
}

impl Termination for i32 {
    fn exit_status(self) -> i32 {
        self
    }
}

impl Termination for () {
    fn exit_status(self) -> i32 {
        0
    }
}

impl<T: Termination, E: fmt::Display> Termination for Result<T, E> {
    fn exit_status(self) -> i32 {
        match self {
            Ok(value) => value.exit_status(),
            Err(error) => {
                crate::println!("error: {error}");
                ERROR_STATUS
            }
        }
    }
}

/// Defines the program's entry point `_start`, which runs `main` (a function
/// returning an `i32` status, `()` or a `Result`) and exits with its status.
///
/// ```text
/// fn main() -> i32 { 0 }
/// ethos_compat::entry!(main);
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn _start() -> ! {
            $crate::runtime::start($main)
        }
    };
}

#[cfg(all(feature = "runtime", target_os = "none"))]
pub use program::start;

#[cfg(all(feature = "runtime", target_os = "none"))]
mod program {
    use core::fmt::Write;
    use core::mem::MaybeUninit;
    use core::sync::atomic::{AtomicBool, Ordering};

    use core::alloc::{GlobalAlloc, Layout};

    use talc::DefaultBinning;
    use talc::base::Talc;
    use talc::source::Manual;

    use super::{HEAP_BYTES, PANIC_STATUS, Termination};
    use crate::calls::{exit, print};

    /// The program's heap: Talc over the arena, under a lock (a program has one
    /// thread, so it is never contended).
    struct Heap(spin::Mutex<Talc<Manual, DefaultBinning>>);

    // SAFETY: every block comes from Talc under the lock and goes back to it with the
    // layout it was given with, as `GlobalAlloc`'s callers promise.
    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: `GlobalAlloc`'s caller passes a layout of non-zero size.
            unsafe { self.0.lock().allocate(layout) }
                .map_or(core::ptr::null_mut(), core::ptr::NonNull::as_ptr)
        }

        unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
            // SAFETY: the caller passes a block this allocator gave with `layout`.
            unsafe { self.0.lock().deallocate(pointer, layout) }
        }

        unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let mut talc = self.0.lock();
            // SAFETY: the caller passes a block this allocator gave with `layout`, and
            // a non-zero `new_size` that makes a valid layout with its alignment.
            if unsafe { talc.try_realloc_in_place(pointer, layout, new_size) } {
                return pointer;
            }
            // SAFETY: as above.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: the layout's size is non-zero.
            let Some(moved) = (unsafe { talc.allocate(new_layout) }) else {
                return core::ptr::null_mut();
            };
            // Only growing can fail in place, so every old byte is copied.
            // SAFETY: both blocks are live, distinct and at least `layout.size()` long.
            unsafe { core::ptr::copy_nonoverlapping(pointer, moved.as_ptr(), layout.size()) };
            // SAFETY: the old block was this allocator's with `layout`.
            unsafe { talc.deallocate(pointer, layout) };
            moved.as_ptr()
        }
    }

    #[global_allocator]
    static ALLOCATOR: Heap = Heap(spin::Mutex::new(Talc::new(Manual)));

    /// The heap's memory: uninitialised, so it lives in `.bss` and costs the
    /// executable nothing.
    static ARENA: spin::Mutex<[MaybeUninit<u8>; HEAP_BYTES]> =
        spin::Mutex::new([MaybeUninit::uninit(); HEAP_BYTES]);

    /// Gives the heap to the allocator, runs `main` and exits with its status.
    pub fn start<T: Termination>(main: fn() -> T) -> ! {
        // The guard is leaked, so the arena is handed out exactly once and stays the
        // allocator's for the life of the program.
        if let Some(arena) = ARENA.try_lock() {
            let arena: &'static mut [MaybeUninit<u8>; HEAP_BYTES] = spin::MutexGuard::leak(arena);
            // SAFETY: the arena is `HEAP_BYTES` of memory that nothing else can ever
            // reach (the guard that proves it is leaked) and that lives as long as
            // the program: it is the allocator's alone.
            let _ = unsafe {
                ALLOCATOR
                    .0
                    .lock()
                    .claim(arena.as_mut_ptr().cast(), HEAP_BYTES)
            };
        }
        exit(main().exit_status())
    }

    /// Text of at most `N` bytes on the stack, cut at a character boundary: the panic
    /// handler must not need the heap, which may be what ran out.
    struct FixedText<const N: usize> {
        bytes: [u8; N],
        used: usize,
    }

    impl<const N: usize> Write for FixedText<N> {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            for character in text.chars() {
                let mut encoded = [0; 4];
                let encoded = character.encode_utf8(&mut encoded).as_bytes();
                let end = self.used + encoded.len();
                let Some(place) = self.bytes.get_mut(self.used..end) else {
                    return Err(core::fmt::Error);
                };
                place.copy_from_slice(encoded);
                self.used = end;
            }
            Ok(())
        }
    }

    #[panic_handler]
    fn panic(information: &core::panic::PanicInfo<'_>) -> ! {
        static PANICKING: AtomicBool = AtomicBool::new(false);
        // A panic while reporting a panic only exits.
        if !PANICKING.swap(true, Ordering::Relaxed) {
            let mut text = FixedText::<512> {
                bytes: [0; 512],
                used: 0,
            };
            let _ = write!(text, "panic: {}", information.message());
            if let Some(location) = information.location() {
                let _ = write!(text, " at {}:{}", location.file(), location.line());
            }
            if let Some(written) = text.bytes.get(..text.used)
                && let Ok(written) = core::str::from_utf8(written)
            {
                let _ = print(written);
            }
        }
        exit(PANIC_STATUS)
    }
}
