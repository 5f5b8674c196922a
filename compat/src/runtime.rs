//! The program runtime: what a program for Ethos needs around its `main`.
//!
//! With the `runtime` feature, on Ethos (`target_os = "none"`), this module provides
//! the global allocator over a heap in the program's `.bss` ([`HEAP_BYTES`] unless
//! the program's [`entry!`](crate::entry) asks for another size), a panic handler that
//! prints the panic message and exits with [`PANIC_STATUS`], and [`start`], which
//! [`entry!`](crate::entry) calls from `_start`. The kernel enters `_start` with the
//! stack as after a call and nothing else set up; nothing here needs more. The
//! [`Termination`] trait, which turns what `main` returns into an exit status, exists
//! everywhere. The heap is a static handed to the allocator through a leaked lock
//! guard, which proves it is used only once; the allocator is Talc, which finds a
//! block in a few steps whatever the heap holds (a first-fit list walks its holes,
//! and a program allocates for every value it sends and receives), with freed
//! small blocks kept per size class in front of it. Handing it the heap, the kept
//! blocks' links and forwarding `GlobalAlloc` to it are this module's only
//! `unsafe` code.

use core::fmt;

/// The exit status of a program that panicked.
pub const PANIC_STATUS: i32 = ethos_abi::exit::PANIC_STATUS;

/// The exit status of a program whose `main` returned an error.
pub const ERROR_STATUS: i32 = 1;

/// The heap's size unless a program asks for another: plenty for the programs of
/// the boot image. The heap is the program's `.bss`, so each program pays only for
/// the heap it asks for.
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
/// returning an `i32` status, `()` or a `Result`) and exits with its status, and the
/// program's heap: [`HEAP_BYTES`], or `heap = BYTES` for a program that holds larger
/// values (the heap is a static of the program's own, so no other program grows).
///
/// ```text
/// fn main() -> i32 { 0 }
/// ethos_compat::entry!(main);
/// // or, for a program that holds several values of a MiB at once:
/// ethos_compat::entry!(main, heap = 8 << 20);
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::entry!($main, heap = $crate::runtime::HEAP_BYTES);
    };
    ($main:path, heap = $bytes:expr) => {
        #[unsafe(no_mangle)]
        extern "C" fn _start() -> ! {
            static ARENA: $crate::runtime::Arena<{ $bytes }> = $crate::runtime::Arena::new();
            $crate::runtime::start($main, &ARENA)
        }
    };
}

#[cfg(all(feature = "runtime", target_os = "none"))]
pub use program::{Arena, start};

#[cfg(all(feature = "runtime", target_os = "none"))]
mod program {
    use core::fmt::Write;
    use core::mem::MaybeUninit;
    use core::sync::atomic::{AtomicBool, Ordering};

    use core::alloc::{GlobalAlloc, Layout};

    use talc::DefaultBinning;
    use talc::base::Talc;
    use talc::source::Manual;

    use super::{PANIC_STATUS, Termination};
    use crate::calls::{exit, print};

    /// The program's heap: Talc over the arena, and the small blocks kept for reuse,
    /// under one lock (a program has one thread, so it is never contended).
    struct Heap(spin::Mutex<State>);

    struct State {
        talc: Talc<Manual, DefaultBinning>,
        recycled: Recycled,
    }

    /// The smallest recycled block: 16 bytes (the shift of its size).
    const SMALLEST_SHIFT: u32 = 4;
    /// Size classes 16, 32, … 8 KiB: the largest is what a read's result is first
    /// collected into (`results::FIRST_VALUE_BUFFER`).
    const CLASSES: usize = 10;
    /// Freed blocks kept per class; more go back to Talc.
    const KEPT_PER_CLASS: usize = 4;
    /// The alignment every recycled block has.
    const RECYCLED_ALIGN: usize = 16;

    /// Freed blocks of each power-of-two class, kept for the next allocation of the
    /// same class: a program allocates and frees the same few sizes for every value
    /// it sends and receives, and taking a block from a list is a few instructions
    /// where Talc's search and split are a hundred. Each block is one whole class
    /// size from Talc; its first word links to the next (0 ends a list). At most
    /// [`KEPT_PER_CLASS`] per class (64 KiB in all) are kept, and all go back to
    /// Talc before an allocation is refused.
    struct Recycled {
        heads: [usize; CLASSES],
        counts: [usize; CLASSES],
    }

    /// The class of `layout`, if its blocks are recycled: the bits of the size less
    /// one, rounded up to the smallest class, so a size of 17 to 32 is class 1.
    #[inline(always)]
    fn class_of(layout: Layout) -> Option<usize> {
        if layout.align() > RECYCLED_ALIGN
            || layout.size() > 1 << (SMALLEST_SHIFT as usize + CLASSES - 1)
        {
            return None;
        }
        let largest_offset = layout.size().max(1 << SMALLEST_SHIFT) - 1;
        Some((usize::BITS - largest_offset.leading_zeros() - SMALLEST_SHIFT) as usize)
    }

    /// The layout every block of `class` has in Talc.
    fn class_layout(class: usize) -> Layout {
        // SAFETY: a power of two below 8 KiB, and a power-of-two alignment.
        unsafe {
            Layout::from_size_align_unchecked(
                1 << (SMALLEST_SHIFT as usize + class),
                RECYCLED_ALIGN,
            )
        }
    }

    impl Recycled {
        /// A kept block of `class` (below [`CLASSES`]), if there is one.
        #[inline(always)]
        fn take(&mut self, class: usize) -> Option<*mut u8> {
            let head = self.heads[class];
            if head == 0 {
                return None;
            }
            let block = core::ptr::with_exposed_provenance_mut::<u8>(head);
            // SAFETY: a kept block is a live class-size block of ours whose first
            // word, aligned to 16, links to the next.
            self.heads[class] = unsafe { block.cast::<usize>().read() };
            self.counts[class] -= 1;
            Some(block)
        }

        /// Keeps `pointer`, a block of `class` (below [`CLASSES`]), unless its class
        /// has all it may keep; answers whether it was kept.
        ///
        /// # Safety
        /// `pointer` is a live block of this heap's class `class`, not kept already.
        #[inline(always)]
        unsafe fn keep(&mut self, class: usize, pointer: *mut u8) -> bool {
            if self.counts[class] >= KEPT_PER_CLASS {
                return false;
            }
            // SAFETY: the block is ours, at least 16 bytes and 16-aligned.
            unsafe { pointer.cast::<usize>().write(self.heads[class]) };
            self.heads[class] = pointer.expose_provenance();
            self.counts[class] += 1;
            true
        }
    }

    impl State {
        /// A block for `layout` (non-zero size), or null when the heap cannot hold it:
        /// a kept block of its class, or one from Talc.
        ///
        /// # Safety
        /// `layout` has a non-zero size.
        #[inline(always)]
        unsafe fn allocate(&mut self, layout: Layout) -> *mut u8 {
            let class = class_of(layout);
            if let Some(class) = class
                && let Some(block) = self.recycled.take(class)
            {
                return block;
            }
            // SAFETY: the caller's layout has a non-zero size.
            unsafe { self.allocate_from_talc(layout, class) }
        }

        /// A block from Talc for `layout` (non-zero size), one whole class size when
        /// it has a `class`, or null when the heap cannot hold it, even with every
        /// kept block given back. Apart from [`State::allocate`], whose common case
        /// (a kept block) is then a few instructions where it is inlined.
        ///
        /// # Safety
        /// `layout` has a non-zero size, and `class` is its class.
        #[inline(never)]
        unsafe fn allocate_from_talc(&mut self, layout: Layout, class: Option<usize>) -> *mut u8 {
            let real = class.map_or(layout, class_layout);
            // SAFETY: the layout's size is non-zero (the caller's, or a class size).
            if let Some(block) = unsafe { self.talc.allocate(real) } {
                return block.as_ptr();
            }
            self.release_recycled();
            // SAFETY: as above.
            unsafe { self.talc.allocate(real) }
                .map_or(core::ptr::null_mut(), core::ptr::NonNull::as_ptr)
        }

        /// Takes back a block this heap gave for `layout`: kept for its class, or
        /// given back to Talc.
        ///
        /// # Safety
        /// `pointer` is a live block of this heap, given for `layout`.
        #[inline(always)]
        unsafe fn deallocate(&mut self, pointer: *mut u8, layout: Layout) {
            match class_of(layout) {
                // SAFETY: a block given for `layout` is a block of its class.
                Some(class) if unsafe { self.recycled.keep(class, pointer) } => {}
                // SAFETY: it was given by Talc with its class's layout.
                Some(class) => unsafe { self.talc.deallocate(pointer, class_layout(class)) },
                // SAFETY: it was given by Talc with `layout`.
                None => unsafe { self.talc.deallocate(pointer, layout) },
            }
        }

        /// Gives every kept block back to Talc.
        fn release_recycled(&mut self) {
            for class in 0..CLASSES {
                while self.recycled.heads[class] != 0 {
                    let block =
                        core::ptr::with_exposed_provenance_mut::<u8>(self.recycled.heads[class]);
                    // SAFETY: as in `allocate`: a kept block, linked by its first word,
                    // given by Talc with its class's layout.
                    unsafe {
                        self.recycled.heads[class] = block.cast::<usize>().read();
                        self.talc.deallocate(block, class_layout(class));
                    }
                }
                self.recycled.counts[class] = 0;
            }
        }
    }

    // SAFETY: every block comes from `State` under the lock and goes back to it with
    // the layout it was given with, as `GlobalAlloc`'s callers promise; `State` keeps
    // a block's class from its layout, so a kept block is reused only for a layout
    // of the same class.
    unsafe impl GlobalAlloc for Heap {
        #[inline]
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: `GlobalAlloc`'s caller passes a layout of non-zero size.
            unsafe { self.0.lock().allocate(layout) }
        }

        #[inline]
        unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
            // SAFETY: the caller passes a block this allocator gave with `layout`.
            unsafe { self.0.lock().deallocate(pointer, layout) }
        }

        unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let mut heap = self.0.lock();
            // SAFETY: the caller passes a non-zero `new_size` that makes a valid
            // layout with the alignment.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            let in_place = match (class_of(layout), class_of(new_layout)) {
                // The block already has the room.
                (Some(old), Some(new)) => old == new,
                // SAFETY: the caller passes a block this allocator gave with
                // `layout`, which Talc gave as it stands (no class).
                (None, None) => unsafe {
                    heap.talc.try_realloc_in_place(pointer, layout, new_size)
                },
                _ => false,
            };
            if in_place {
                return pointer;
            }
            // SAFETY: the new layout's size is non-zero.
            let moved = unsafe { heap.allocate(new_layout) };
            if moved.is_null() {
                return moved;
            }
            // SAFETY: both blocks are live and distinct, the old one `layout.size()`
            // long and the new one `new_size`.
            unsafe { core::ptr::copy_nonoverlapping(pointer, moved, layout.size().min(new_size)) };
            // SAFETY: the old block was this allocator's with `layout`.
            unsafe { heap.deallocate(pointer, layout) };
            moved
        }
    }

    #[global_allocator]
    static ALLOCATOR: Heap = Heap(spin::Mutex::new(State {
        talc: Talc::new(Manual),
        recycled: Recycled {
            heads: [0; CLASSES],
            counts: [0; CLASSES],
        },
    }));

    /// A program's heap memory, `BYTES` long: uninitialised, so it lives in `.bss`
    /// and costs the executable nothing. [`entry!`](crate::entry) defines one.
    pub struct Arena<const BYTES: usize>(spin::Mutex<[MaybeUninit<u8>; BYTES]>);

    impl<const BYTES: usize> Arena<BYTES> {
        /// An arena not handed to the allocator yet.
        pub const fn new() -> Self {
            Arena(spin::Mutex::new([MaybeUninit::uninit(); BYTES]))
        }
    }

    impl<const BYTES: usize> core::fmt::Debug for Arena<BYTES> {
        fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(formatter, "Arena({BYTES} bytes)")
        }
    }

    impl<const BYTES: usize> Default for Arena<BYTES> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// Gives `arena` to the allocator, runs `main` and exits with its status.
    pub fn start<T: Termination, const BYTES: usize>(
        main: fn() -> T,
        arena: &'static Arena<BYTES>,
    ) -> ! {
        // The guard is leaked, so the arena is handed out exactly once and stays the
        // allocator's for the life of the program.
        if let Some(memory) = arena.0.try_lock() {
            let memory: &'static mut [MaybeUninit<u8>; BYTES] = spin::MutexGuard::leak(memory);
            // SAFETY: the arena is `BYTES` of memory that nothing else can ever reach
            // (the guard that proves it is leaked) and that lives as long as the
            // program: it is the allocator's alone.
            let _ = unsafe {
                ALLOCATOR
                    .0
                    .lock()
                    .talc
                    .claim(memory.as_mut_ptr().cast(), BYTES)
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
