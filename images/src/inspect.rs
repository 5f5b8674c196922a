//! Checks that a kernel ELF can be booted by each loader: a Xen PVH entry note
//! (QEMU `-kernel`, Firecracker, Xen) and a multiboot2 header (GRUB).

use std::fmt;

use object::Endianness;
use object::elf::{FileHeader64, PF_X, PT_LOAD, PT_NOTE};
use object::read::elf::{FileHeader, ProgramHeader};

/// `XEN_ELFNOTE_PHYS32_ENTRY`.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const MULTIBOOT2_MAGIC: u32 = 0xe852_50d6;
/// Multiboot2 loaders search only this much of the file.
const MULTIBOOT2_SEARCH: usize = 32 * 1024;

/// What is wrong with an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InspectError {
    NotElf64(String),
    NoPvhNote,
    BadPvhDescriptor(usize),
    /// QEMU pads note names to the segment alignment; anything but 4 misplaces
    /// the entry address it reads.
    NoteAlignment(u64),
    EntryNotExecutable(u64),
    NoMultiboot2Header,
    Multiboot2Checksum(usize),
    Multiboot2Length(usize),
    Multiboot2NoEndTag(usize),
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::NotElf64(error) => write!(f, "not a 64-bit ELF: {error}"),
            InspectError::NoPvhNote => write!(f, "no Xen PHYS32_ENTRY note in any PT_NOTE segment"),
            InspectError::BadPvhDescriptor(size) => {
                write!(f, "the PVH note's descriptor is {size} bytes, not 4 or 8")
            }
            InspectError::NoteAlignment(align) => {
                write!(
                    f,
                    "the PVH note segment is aligned to {align}, QEMU needs 4"
                )
            }
            InspectError::EntryNotExecutable(entry) => {
                write!(
                    f,
                    "the PVH entry {entry:#x} is not in an executable loaded segment"
                )
            }
            InspectError::NoMultiboot2Header => {
                write!(f, "no multiboot2 header in the first 32 KiB")
            }
            InspectError::Multiboot2Checksum(offset) => {
                write!(
                    f,
                    "the multiboot2 header at {offset:#x} has a wrong checksum"
                )
            }
            InspectError::Multiboot2Length(offset) => {
                write!(
                    f,
                    "the multiboot2 header at {offset:#x} has an impossible length"
                )
            }
            InspectError::Multiboot2NoEndTag(offset) => {
                write!(
                    f,
                    "the multiboot2 header at {offset:#x} does not end with an end tag"
                )
            }
        }
    }
}

/// The 32-bit PVH entry address the kernel's Xen note announces.
pub fn pvh_entry(elf: &[u8]) -> Result<u64, InspectError> {
    let header = FileHeader64::<Endianness>::parse(elf)
        .map_err(|error| InspectError::NotElf64(error.to_string()))?;
    let endian = header
        .endian()
        .map_err(|error| InspectError::NotElf64(error.to_string()))?;
    let segments = header
        .program_headers(endian, elf)
        .map_err(|error| InspectError::NotElf64(error.to_string()))?;
    let mut entry = None;
    for segment in segments.iter().filter(|s| s.p_type(endian) == PT_NOTE) {
        let Ok(Some(mut notes)) = segment.notes(endian, elf) else {
            continue;
        };
        while let Ok(Some(note)) = notes.next() {
            if note.name() != b"Xen" || note.n_type(endian) != XEN_ELFNOTE_PHYS32_ENTRY {
                continue;
            }
            let align = segment.p_align(endian);
            if align != 4 {
                return Err(InspectError::NoteAlignment(align));
            }
            let descriptor = note.desc();
            entry = Some(match descriptor.len() {
                4 => u64::from(u32::from_le_bytes([
                    descriptor[0],
                    descriptor[1],
                    descriptor[2],
                    descriptor[3],
                ])),
                8 => u64::from_le_bytes(descriptor.try_into().unwrap_or([0; 8])),
                other => return Err(InspectError::BadPvhDescriptor(other)),
            });
        }
    }
    let entry = entry.ok_or(InspectError::NoPvhNote)?;
    let executable = segments.iter().any(|segment| {
        segment.p_type(endian) == PT_LOAD
            && segment.p_flags(endian) & PF_X != 0
            && (segment.p_paddr(endian)..segment.p_paddr(endian) + segment.p_memsz(endian))
                .contains(&entry)
    });
    if !executable {
        return Err(InspectError::EntryNotExecutable(entry));
    }
    Ok(entry)
}

fn word(bytes: &[u8], offset: usize) -> Option<u32> {
    let slice = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(slice.try_into().ok()?))
}

/// The file offset of a valid multiboot2 header.
pub fn multiboot2_header(image: &[u8]) -> Result<usize, InspectError> {
    let limit = image.len().min(MULTIBOOT2_SEARCH);
    let offset = (0..limit.saturating_sub(16))
        .step_by(8)
        .find(|&offset| word(image, offset) == Some(MULTIBOOT2_MAGIC))
        .ok_or(InspectError::NoMultiboot2Header)?;
    let architecture = word(image, offset + 4).unwrap_or(u32::MAX);
    let length = word(image, offset + 8).unwrap_or(0) as usize;
    let checksum = word(image, offset + 12).unwrap_or(0);
    if length < 24 || offset + length > image.len() || architecture != 0 {
        return Err(InspectError::Multiboot2Length(offset));
    }
    let sum = MULTIBOOT2_MAGIC
        .wrapping_add(architecture)
        .wrapping_add(length as u32)
        .wrapping_add(checksum);
    if sum != 0 {
        return Err(InspectError::Multiboot2Checksum(offset));
    }
    let end_tag = offset + length - 8;
    if word(image, end_tag) != Some(0) || word(image, end_tag + 4) != Some(8) {
        return Err(InspectError::Multiboot2NoEndTag(offset));
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(length: u32, checksum_adjust: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; 0x1000];
        let checksum = 0u32
            .wrapping_sub(MULTIBOOT2_MAGIC.wrapping_add(length))
            .wrapping_add(checksum_adjust);
        for value in [MULTIBOOT2_MAGIC, 0, length, checksum, 0, 8] {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn a_valid_multiboot2_header_is_found() {
        assert_eq!(multiboot2_header(&header(24, 0)), Ok(0x1000));
    }

    #[test]
    fn broken_multiboot2_headers_are_rejected() {
        assert_eq!(
            multiboot2_header(&header(24, 1)),
            Err(InspectError::Multiboot2Checksum(0x1000))
        );
        assert_eq!(
            multiboot2_header(&header(4096, 0)),
            Err(InspectError::Multiboot2Length(0x1000))
        );
        assert_eq!(
            multiboot2_header(&[0; 64]),
            Err(InspectError::NoMultiboot2Header)
        );
        let mut late = vec![0u8; MULTIBOOT2_SEARCH];
        late.extend_from_slice(&header(24, 0));
        assert_eq!(
            multiboot2_header(&late),
            Err(InspectError::NoMultiboot2Header)
        );
    }

    #[test]
    fn non_elf_input_is_an_error() {
        assert!(matches!(
            pvh_entry(b"not an elf"),
            Err(InspectError::NotElf64(_))
        ));
    }
}
