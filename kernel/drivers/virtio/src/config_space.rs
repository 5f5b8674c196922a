//! Device-specific configuration at its natural widths, for every transport.
//!
//! A value is read or written in accesses of its alignment, capped at 32 bits: a
//! byte array a byte at a time, a `u16` in one 16-bit access, a `u32` in one 32-bit
//! access, a `u64` as two 32-bit halves, low half first (virtio 1.2 §4.1.3.1 and
//! §4.2.2.2; the driver's `read_consistent` rereads the generation around the
//! halves). Nothing here may make an access wider than 32 bits, or one that spans
//! two fields.

use core::mem::{align_of, size_of};

use virtio_drivers::Error as VirtioError;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::MemoryWindow;

/// The width of one access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    Byte,
    Half,
    Word,
}

impl Width {
    pub(crate) fn bytes(self) -> usize {
        match self {
            Width::Byte => 1,
            Width::Half => 2,
            Width::Word => 4,
        }
    }

    /// The width a value of type `T` is accessed at.
    fn of<T>() -> Width {
        match align_of::<T>() {
            1 => Width::Byte,
            2 => Width::Half,
            _ => Width::Word,
        }
    }
}

/// One access of `width` at `offset` into a memory window, widened to 32 bits.
pub(crate) fn read_memory(window: &impl MemoryWindow, offset: usize, width: Width) -> u32 {
    match width {
        Width::Byte => u32::from(window.read8(offset)),
        Width::Half => u32::from(window.read16(offset)),
        Width::Word => window.read32(offset),
    }
}

/// One access of `width` at `offset` into a memory window, of `value`'s low bytes.
pub(crate) fn write_memory(
    window: &mut impl MemoryWindow,
    offset: usize,
    width: Width,
    value: u32,
) {
    match width {
        Width::Byte => window.write8(offset, value as u8),
        Width::Half => window.write16(offset, value as u16),
        Width::Word => window.write32(offset, value),
    }
}

/// Checks that `length` bytes at `offset` fit in `available` and that `offset` is
/// aligned to `width`.
fn check(offset: usize, length: usize, width: Width, available: usize) -> Result<(), VirtioError> {
    if !offset.is_multiple_of(width.bytes()) {
        return Err(VirtioError::InvalidParam);
    }
    match offset.checked_add(length) {
        Some(end) if end <= available => Ok(()),
        _ => Err(VirtioError::ConfigSpaceTooSmall),
    }
}

/// Reads a `T` at `offset` of a configuration space of `available` bytes, one
/// access at a time through `read(offset, width)`.
pub(crate) fn read<T: FromBytes + IntoBytes>(
    offset: usize,
    available: usize,
    mut read: impl FnMut(usize, Width) -> u32,
) -> Result<T, VirtioError> {
    let width = Width::of::<T>();
    check(offset, size_of::<T>(), width, available)?;
    let mut value = T::new_zeroed();
    for (index, chunk) in value.as_mut_bytes().chunks_mut(width.bytes()).enumerate() {
        let word = read(offset + index * width.bytes(), width);
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
    }
    Ok(value)
}

/// Writes `value` at `offset` of a configuration space of `available` bytes, one
/// access at a time through `write(offset, width, bytes)`.
pub(crate) fn write<T: IntoBytes + Immutable>(
    offset: usize,
    available: usize,
    value: &T,
    mut write: impl FnMut(usize, Width, u32),
) -> Result<(), VirtioError> {
    let width = Width::of::<T>();
    check(offset, size_of::<T>(), width, available)?;
    for (index, chunk) in value.as_bytes().chunks(width.bytes()).enumerate() {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        write(
            offset + index * width.bytes(),
            width,
            u32::from_le_bytes(word),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accesses<T: FromBytes + IntoBytes>(offset: usize) -> Vec<(usize, usize)> {
        let mut seen = Vec::new();
        read::<T>(offset, 64, |at, width| {
            seen.push((at, width.bytes()));
            0
        })
        .unwrap();
        seen
    }

    #[test]
    fn each_value_is_read_at_its_natural_width() {
        assert_eq!(accesses::<u8>(3), [(3, 1)]);
        assert_eq!(accesses::<u16>(6), [(6, 2)]);
        assert_eq!(accesses::<u32>(8), [(8, 4)]);
        assert_eq!(
            accesses::<[u8; 6]>(0),
            (0..6).map(|at| (at, 1)).collect::<Vec<_>>()
        );
        // A u64 is two 32-bit halves, low first, never one 8-byte access.
        assert_eq!(accesses::<u64>(16), [(16, 4), (20, 4)]);
    }

    #[test]
    fn halves_are_assembled_little_endian() {
        let value: u64 = read(
            0,
            8,
            |at, _| if at == 0 { 0x0403_0201 } else { 0x0807_0605 },
        )
        .unwrap();
        assert_eq!(value, 0x0807_0605_0403_0201);
        let mut written = Vec::new();
        write(8, 16, &0x1122_3344_5566_7788u64, |at, width, word| {
            written.push((at, width, word))
        })
        .unwrap();
        assert_eq!(
            written,
            [
                (8, Width::Word, 0x5566_7788),
                (12, Width::Word, 0x1122_3344)
            ]
        );
    }

    #[test]
    fn misaligned_or_outside_is_refused_without_an_access() {
        let never = |_: usize, _: Width| -> u32 { panic!("no access expected") };
        assert_eq!(read::<u32>(2, 64, never), Err(VirtioError::InvalidParam));
        assert_eq!(
            read::<u32>(62, 64, never),
            Err(VirtioError::InvalidParam),
            "misalignment is reported first"
        );
        assert_eq!(
            read::<u32>(64, 64, never),
            Err(VirtioError::ConfigSpaceTooSmall)
        );
        assert_eq!(
            read::<u8>(usize::MAX, 64, never),
            Err(VirtioError::ConfigSpaceTooSmall)
        );
    }
}
