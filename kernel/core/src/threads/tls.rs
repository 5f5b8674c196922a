//! Where a thread's TLS block and thread control block lie: x86_64's "variant II".
//!
//! Code compiled with `__thread` (C) or reading `%fs`-relative words uses the
//! local-exec model in a static kernel: the linker turns each thread-local variable
//! into a fixed negative offset from the thread pointer (`%fs` base), computed as
//! `offset_in_tls_segment - align_up(memory_size, align)` (`sym@tpoff`). So the
//! block holding a copy of the TLS segment (`.tdata` initialised, `.tbss` zeroed)
//! must end exactly at the thread pointer, and the thread control block starts
//! there: its first word points to itself (`%fs:0`, how code finds the thread
//! pointer as an address), and the word at `%fs:0x28` is the stack protector's
//! guard, where GCC and Clang read it.
//!
//! ```text
//!  allocation start                thread pointer (FS base)
//!  |  padding  | .tdata copy | .tbss zeros |  TCB: self, 0, 0, 0, 0, guard, 0, 0 |
//!              ^ image_offset            ^ thread_pointer_offset
//! ```

use core::fmt;

/// Bytes of the thread control block at the thread pointer.
pub const TCB_BYTES: usize = 64;
/// Where the stack protector's guard word lies in the control block.
pub const STACK_GUARD_OFFSET: usize = 0x28;

/// The TLS segment of the kernel image (`PT_TLS`): what every block starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsTemplate {
    /// Initialised bytes (`.tdata`), copied into each block.
    pub image_bytes: usize,
    /// The whole segment, `.tbss` included; the rest after the image is zeroed.
    pub memory_bytes: usize,
    /// The segment's alignment (a power of two; 0 counts as 1).
    pub align: usize,
}

/// Why a template cannot be laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsError {
    AlignmentNotPowerOfTwo(usize),
    ImageLargerThanSegment { image: usize, memory: usize },
    TooLarge,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::AlignmentNotPowerOfTwo(align) => {
                write!(f, "TLS alignment {align} is not a power of two")
            }
            TlsError::ImageLargerThanSegment { image, memory } => write!(
                f,
                "TLS image of {image} bytes is larger than its {memory}-byte segment"
            ),
            TlsError::TooLarge => write!(f, "TLS segment too large"),
        }
    }
}

/// One thread's TLS allocation, as offsets from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsLayout {
    /// Bytes to allocate.
    pub allocation_bytes: usize,
    /// Alignment of the allocation.
    pub allocation_align: usize,
    /// Where the copy of the segment starts.
    pub image_offset: usize,
    /// Initialised bytes to copy there.
    pub image_bytes: usize,
    /// The segment size rounded up to its alignment: the distance from the start of
    /// the copy to the thread pointer.
    pub block_bytes: usize,
    /// Where the thread pointer (and the control block) is.
    pub thread_pointer_offset: usize,
}

impl TlsLayout {
    /// Lays out one block for `template`.
    pub fn new(template: TlsTemplate) -> Result<TlsLayout, TlsError> {
        let align = template.align.max(1);
        if !align.is_power_of_two() {
            return Err(TlsError::AlignmentNotPowerOfTwo(template.align));
        }
        if template.image_bytes > template.memory_bytes {
            return Err(TlsError::ImageLargerThanSegment {
                image: template.image_bytes,
                memory: template.memory_bytes,
            });
        }
        let allocation_align = align.max(16);
        let block_bytes = template
            .memory_bytes
            .checked_next_multiple_of(align)
            .ok_or(TlsError::TooLarge)?;
        let thread_pointer_offset = block_bytes
            .checked_next_multiple_of(allocation_align)
            .ok_or(TlsError::TooLarge)?;
        let allocation_bytes = thread_pointer_offset
            .checked_add(TCB_BYTES)
            .ok_or(TlsError::TooLarge)?;
        Ok(TlsLayout {
            allocation_bytes,
            allocation_align,
            image_offset: thread_pointer_offset - block_bytes,
            image_bytes: template.image_bytes,
            block_bytes,
            thread_pointer_offset,
        })
    }

    /// The thread-pointer-relative offset of byte `segment_offset` of the TLS
    /// segment: what the linker writes for a local-exec access (`sym@tpoff`).
    pub fn thread_pointer_relative(&self, segment_offset: usize) -> isize {
        segment_offset as isize - self.block_bytes as isize
    }
}
