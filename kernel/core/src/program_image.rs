//! What a program's executable asks to be loaded: its segments and entry point, read
//! from a static ELF64 executable for x86-64 and checked before any page is mapped.
//!
//! The checks: a little-endian x86-64 `ET_EXEC` file; every `PT_LOAD` segment lies
//! wholly inside the user range it is given, has no more file bytes than memory
//! bytes, is never both writable and executable, and shares no page with another
//! segment; the entry point lies in an executable segment. Interpreters, dynamic
//! sections and relocations are not supported: such a file is refused, never half
//! loaded. This module only reads the file; mapping is the platform's work.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use object_elf::Endianness;
use object_elf::elf::{self, FileHeader64, ProgramHeader64};
use object_elf::read::elf::{FileHeader, ProgramHeader};

const PAGE_SIZE: u64 = 4096;

/// One region to map: `bytes` at `address`, then zeros up to `memory_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The first user address of the segment (not necessarily page-aligned).
    pub address: u64,
    /// The bytes the file gives for its start.
    pub bytes: &'a [u8],
    /// Its whole length in memory, at least `bytes.len()`.
    pub memory_size: u64,
    /// Whether the program may write it.
    pub writable: bool,
    /// Whether the program may execute it.
    pub executable: bool,
}

impl Segment<'_> {
    /// The pages the segment touches, as page-aligned addresses.
    pub fn pages(&self) -> Range<u64> {
        let start = self.address & !(PAGE_SIZE - 1);
        let end = (self.address + self.memory_size).next_multiple_of(PAGE_SIZE);
        start..end
    }
}

/// A program ready to be mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image<'a> {
    /// Where execution starts.
    pub entry: u64,
    /// The regions to map, in file order.
    pub segments: Vec<Segment<'a>>,
}

/// Why an executable is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Not an ELF64 file, or its headers are cut short.
    Malformed(&'static str),
    /// Not little-endian x86-64.
    WrongMachine,
    /// Not `ET_EXEC` (position-independent and dynamic programs are not supported).
    NotStaticExecutable,
    /// A segment needs an interpreter or dynamic linking.
    Dynamic,
    /// A segment reaches outside the user range.
    OutsideUserRange { address: u64, size: u64 },
    /// A segment has more file bytes than memory bytes.
    FileLargerThanMemory { address: u64 },
    /// A segment is both writable and executable.
    WritableAndExecutable { address: u64 },
    /// Two segments share a page.
    Overlap { address: u64 },
    /// No segment to load.
    Empty,
    /// The entry point is in no executable segment.
    EntryOutsideCode(u64),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Malformed(what) => write!(f, "not a valid ELF64 file: {what}"),
            ImageError::WrongMachine => write!(f, "not a little-endian x86-64 executable"),
            ImageError::NotStaticExecutable => write!(f, "not a static executable (ET_EXEC)"),
            ImageError::Dynamic => write!(f, "needs an interpreter or dynamic linking"),
            ImageError::OutsideUserRange { address, size } => write!(
                f,
                "segment at {address:#x} ({size} bytes) is outside the user range"
            ),
            ImageError::FileLargerThanMemory { address } => {
                write!(f, "segment at {address:#x} has more file than memory bytes")
            }
            ImageError::WritableAndExecutable { address } => {
                write!(f, "segment at {address:#x} is writable and executable")
            }
            ImageError::Overlap { address } => {
                write!(f, "segment at {address:#x} shares a page with another")
            }
            ImageError::Empty => write!(f, "no loadable segment"),
            ImageError::EntryOutsideCode(entry) => {
                write!(f, "entry point {entry:#x} is in no executable segment")
            }
        }
    }
}

/// Reads the load plan of `file`, a static executable whose segments must lie in
/// `user_range`.
pub fn parse(file: &[u8], user_range: Range<u64>) -> Result<Image<'_>, ImageError> {
    let header = FileHeader64::<Endianness>::parse(file)
        .map_err(|_| ImageError::Malformed("file header"))?;
    let endian = header
        .endian()
        .map_err(|_| ImageError::Malformed("byte order"))?;
    if endian != Endianness::Little || header.e_machine(endian) != elf::EM_X86_64 {
        return Err(ImageError::WrongMachine);
    }
    if header.e_type(endian) != elf::ET_EXEC {
        return Err(ImageError::NotStaticExecutable);
    }
    let program_headers: &[ProgramHeader64<Endianness>] = header
        .program_headers(endian, file)
        .map_err(|_| ImageError::Malformed("program headers"))?;
    let mut segments: Vec<Segment<'_>> = Vec::new();
    for program_header in program_headers {
        match program_header.p_type(endian) {
            elf::PT_LOAD => {}
            elf::PT_INTERP | elf::PT_DYNAMIC => return Err(ImageError::Dynamic),
            _ => continue,
        }
        let address = program_header.p_vaddr(endian);
        let size = program_header.p_memsz(endian);
        if size == 0 {
            continue;
        }
        let bytes = program_header
            .data(endian, file)
            .map_err(|_| ImageError::Malformed("segment data"))?;
        if bytes.len() as u64 > size {
            return Err(ImageError::FileLargerThanMemory { address });
        }
        let inside = address >= user_range.start
            && address
                .checked_add(size)
                .and_then(|end| end.checked_next_multiple_of(PAGE_SIZE))
                .is_some_and(|end| end <= user_range.end);
        if !inside {
            return Err(ImageError::OutsideUserRange { address, size });
        }
        let flags = program_header.p_flags(endian);
        let segment = Segment {
            address,
            bytes,
            memory_size: size,
            writable: flags & elf::PF_W != 0,
            executable: flags & elf::PF_X != 0,
        };
        if segment.writable && segment.executable {
            return Err(ImageError::WritableAndExecutable { address });
        }
        let pages = segment.pages();
        if segments.iter().any(|other| {
            let theirs = other.pages();
            pages.start < theirs.end && theirs.start < pages.end
        }) {
            return Err(ImageError::Overlap { address });
        }
        segments.push(segment);
    }
    if segments.is_empty() {
        return Err(ImageError::Empty);
    }
    let entry = header.e_entry(endian);
    if !segments.iter().any(|segment| {
        segment.executable
            && (segment.address..segment.address + segment.memory_size).contains(&entry)
    }) {
        return Err(ImageError::EntryOutsideCode(entry));
    }
    Ok(Image { entry, segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: Range<u64> = 0x4000_0000_0000..0x8000_0000_0000;

    /// A minimal ELF64 executable: the header, `segments.len()` program headers,
    /// then each segment's bytes.
    fn elf(kind: u16, machine: u16, entry: u64, segments: &[(u32, u64, &[u8], u64)]) -> Vec<u8> {
        let header_size = 64u64;
        let program_header_size = 56u64;
        let mut offset = header_size + program_header_size * segments.len() as u64;
        let mut file = Vec::new();
        file.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&kind.to_le_bytes());
        file.extend_from_slice(&machine.to_le_bytes());
        file.extend_from_slice(&1u32.to_le_bytes());
        file.extend_from_slice(&entry.to_le_bytes());
        file.extend_from_slice(&header_size.to_le_bytes());
        file.extend_from_slice(&0u64.to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&(header_size as u16).to_le_bytes());
        file.extend_from_slice(&(program_header_size as u16).to_le_bytes());
        file.extend_from_slice(&(segments.len() as u16).to_le_bytes());
        file.extend_from_slice(&64u16.to_le_bytes());
        file.extend_from_slice(&0u16.to_le_bytes());
        file.extend_from_slice(&0u16.to_le_bytes());
        for (flags, address, bytes, memory_size) in segments {
            file.extend_from_slice(&elf::PT_LOAD.to_le_bytes());
            file.extend_from_slice(&flags.to_le_bytes());
            file.extend_from_slice(&offset.to_le_bytes());
            file.extend_from_slice(&address.to_le_bytes());
            file.extend_from_slice(&address.to_le_bytes());
            file.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            file.extend_from_slice(&memory_size.to_le_bytes());
            file.extend_from_slice(&PAGE_SIZE.to_le_bytes());
            offset += bytes.len() as u64;
        }
        for (_, _, bytes, _) in segments {
            file.extend_from_slice(bytes);
        }
        file
    }

    const CODE: u32 = elf::PF_R | elf::PF_X;
    const DATA: u32 = elf::PF_R | elf::PF_W;

    #[test]
    fn a_static_executable_gives_its_segments_and_entry() {
        let file = elf(
            elf::ET_EXEC,
            elf::EM_X86_64,
            USER.start + 4,
            &[
                (CODE, USER.start, &[0x90; 16], 16),
                (DATA, USER.start + 0x1000, &[1, 2, 3], 0x2000),
            ],
        );
        let image = parse(&file, USER).unwrap();
        // Where the file lies in memory does not matter.
        let mut shifted = vec![0];
        shifted.extend_from_slice(&file);
        assert_eq!(parse(&shifted[1..], USER).unwrap(), image);
        assert_eq!(image.entry, USER.start + 4);
        assert_eq!(image.segments.len(), 2);
        assert!(image.segments[0].executable && !image.segments[0].writable);
        assert_eq!(image.segments[1].bytes, &[1, 2, 3]);
        assert_eq!(
            image.segments[1].pages(),
            USER.start + 0x1000..USER.start + 0x3000
        );
    }

    #[test]
    fn unsafe_layouts_are_refused() {
        let code: &[u8] = &[0x90; 16];
        let refuse = |kind, machine, entry, segments: &[(u32, u64, &[u8], u64)]| {
            parse(&elf(kind, machine, entry, segments), USER.clone()).unwrap_err()
        };
        let exec = elf::ET_EXEC;
        let x86 = elf::EM_X86_64;
        assert_eq!(
            refuse(
                elf::ET_DYN,
                x86,
                USER.start,
                &[(CODE, USER.start, code, 16)]
            ),
            ImageError::NotStaticExecutable
        );
        assert_eq!(
            refuse(
                exec,
                elf::EM_AARCH64,
                USER.start,
                &[(CODE, USER.start, code, 16)]
            ),
            ImageError::WrongMachine
        );
        assert!(matches!(
            refuse(exec, x86, 0x10_0000, &[(CODE, 0x10_0000, code, 16)]),
            ImageError::OutsideUserRange { .. }
        ));
        assert!(matches!(
            refuse(exec, x86, USER.end - 8, &[(CODE, USER.end - 8, code, 16)]),
            ImageError::OutsideUserRange { .. }
        ));
        assert!(matches!(
            refuse(exec, x86, u64::MAX - 4, &[(CODE, u64::MAX - 4, code, 16)]),
            ImageError::OutsideUserRange { .. }
        ));
        assert!(matches!(
            refuse(
                exec,
                x86,
                USER.start,
                &[(CODE | elf::PF_W, USER.start, code, 16)]
            ),
            ImageError::WritableAndExecutable { .. }
        ));
        assert!(matches!(
            refuse(exec, x86, USER.start, &[(CODE, USER.start, code, 8)]),
            ImageError::FileLargerThanMemory { .. }
        ));
        assert!(matches!(
            refuse(
                exec,
                x86,
                USER.start,
                &[
                    (CODE, USER.start, code, 16),
                    (DATA, USER.start + 0x800, code, 16)
                ]
            ),
            ImageError::Overlap { .. }
        ));
        assert_eq!(
            refuse(
                exec,
                x86,
                USER.start + 0x1000,
                &[(CODE, USER.start, code, 16)]
            ),
            ImageError::EntryOutsideCode(USER.start + 0x1000)
        );
        assert_eq!(refuse(exec, x86, USER.start, &[]), ImageError::Empty);
        assert!(matches!(
            parse(b"\x7fELF", USER),
            Err(ImageError::Malformed(_))
        ));
    }
}
