//! The UTF-8 check of strings: `core::str::from_utf8` past a text's ASCII start, and
//! `simdutf8` on the whole 64-byte blocks of longer texts. `simdutf8` accepts exactly
//! what `core::str::from_utf8` accepts: with its `std` feature (this crate's `std`) it
//! picks SIMD code at run time, without it SIMD code only when the target enables it,
//! else the portable check (the kernel's case, which has no SIMD registers).
//!
//! The ASCII start is found by hand, a word at a time: `<[u8]>::is_ascii` says whether
//! a text is ASCII, not where it stops being so, and calling `core::str::from_utf8` on
//! a short text's ASCII start costs more than the check itself. Never panics.

/// How many bytes `simdutf8` checks at a time; it copies a shorter tail into a
/// buffer first, and reading that buffer back costs more than checking it.
const UTF8_BLOCK: usize = 64;

/// How many bytes `text` starts with that are ASCII, found a word at a time.
#[inline(always)]
fn ascii_prefix(text: &[u8]) -> usize {
    let (words, rest) = text.as_chunks::<8>();
    for (index, word) in words.iter().enumerate() {
        let high_bits = u64::from_le_bytes(*word) & 0x8080_8080_8080_8080;
        if high_bits != 0 {
            return index * 8 + (high_bits.trailing_zeros() / 8) as usize;
        }
    }
    let start = words.len() * 8;
    start + rest.iter().take_while(|byte| byte.is_ascii()).count()
}

/// Whether a text shorter than a block is UTF-8: its ASCII start needs no more look,
/// and ends before a character's first byte, so only the rest goes to
/// `core::str::from_utf8`.
#[inline(always)]
fn is_short_utf8(text: &[u8]) -> bool {
    match text.get(ascii_prefix(text)..) {
        Some([]) | None => true,
        Some(rest) => core::str::from_utf8(rest).is_ok(),
    }
}

/// Whether `text` is UTF-8. A text of a block or more is cut where characters start
/// into whole blocks for `simdutf8` and the few bytes before and after them (fewer
/// than a block, often ASCII) for [`is_short_utf8`]: the pieces are all UTF-8 exactly
/// when the whole is, since a cut before a character's first byte splits no character.
/// Without SIMD code, `simdutf8` is `core::str::from_utf8`.
#[inline(always)]
pub(crate) fn is_utf8(text: &[u8]) -> bool {
    if text.len() < UTF8_BLOCK {
        return is_short_utf8(text);
    }
    // A character starts at the end, or at any byte but a continuation byte.
    let starts_character =
        |position: usize| text.get(position).is_none_or(|&byte| (byte as i8) >= -0x40);
    let rest = text.len() % UTF8_BLOCK;
    // The blocks at the end, then at the start; else, since a character has at most 4
    // bytes, the blocks may start at one of the next 3 bytes.
    let starts = [rest, 0, 1, 2, 3];
    for start in starts {
        let end = start + (text.len() - start) / UTF8_BLOCK * UTF8_BLOCK;
        if end > start && starts_character(start) && starts_character(end) {
            let (Some(head), Some(blocks), Some(tail)) =
                (text.get(..start), text.get(start..end), text.get(end..))
            else {
                break;
            };
            return is_short_utf8(head)
                && simdutf8::basic::from_utf8(blocks).is_ok()
                && is_short_utf8(tail);
        }
    }
    simdutf8::basic::from_utf8(text).is_ok()
}
