//! `memcmp` for programs on Ethos: what `==` on byte slices and vectors calls, which
//! is how a program checks a value it received (a reply against its request).
//!
//! Hand-written, and why: the target (`x86_64-unknown-none`) has no SSE, and the
//! `memcmp` of `compiler_builtins` for x86_64 compares 16 bytes a step in 13
//! instructions; it has no faster variant to turn on, and no crate in this
//! workspace's reach has one for this target. This one compares 32 bytes a step (four
//! words, compiled to a compare and a branch each: 16 instructions a step), and looks
//! for the differing byte only in the step where the two differ, byte by byte. On
//! equal values, the common case, that is five eighths of the instructions (a 4 KiB
//! reply checked against its request: 3,358 to 2,074). `compiler_builtins` defines its
//! `memcmp` as a weak symbol so that a program may define its own, as this one does.
//!
//! This module must never compare with `==` on slices or arrays, nor call anything
//! that may become a `memcmp`: it would call itself. The comparison is safe code;
//! only turning C's pointers into slices is not.

/// The bytes one step compares.
const STEP: usize = 32;

/// Compares `left` and `right` as C's `memcmp` compares their first
/// `left.len().min(right.len())` bytes: 0 when they are equal, else the difference
/// of the first pair of bytes that differ, read as unsigned.
pub(crate) fn compare(left: &[u8], right: &[u8]) -> i32 {
    let (left_steps, _) = left.as_chunks::<STEP>();
    let (right_steps, _) = right.as_chunks::<STEP>();
    let equal_steps = left_steps
        .iter()
        .zip(right_steps)
        .take_while(|(left, right)| !differ(left, right))
        .count();
    // From the first step that differs (if one does) or the bytes after the last.
    for (left, right) in left.iter().zip(right).skip(equal_steps * STEP) {
        if left != right {
            return i32::from(*left) - i32::from(*right);
        }
    }
    0
}

/// Whether two steps differ: the differences of their four words, folded.
#[inline(always)]
fn differ(left: &[u8; STEP], right: &[u8; STEP]) -> bool {
    let (left_words, _) = left.as_chunks::<8>();
    let (right_words, _) = right.as_chunks::<8>();
    let mut difference = 0;
    for (left, right) in left_words.iter().zip(right_words) {
        difference |= u64::from_ne_bytes(*left) ^ u64::from_ne_bytes(*right);
    }
    difference != 0
}

/// C's `memcmp`, which the compiler calls for `==` on byte slices.
///
/// # Safety
///
/// As C's: `left` and `right` each point to `length` readable bytes.
#[cfg(all(feature = "runtime", target_os = "none"))]
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn memcmp(left: *const u8, right: *const u8, length: usize) -> i32 {
    // SAFETY: the caller promises `length` readable bytes at each, which nothing
    // writes while they are compared.
    let (left, right) = unsafe {
        (
            core::slice::from_raw_parts(left, length),
            core::slice::from_raw_parts(right, length),
        )
    };
    compare(left, right)
}
