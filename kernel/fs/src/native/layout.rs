//! The native store's records as bytes: the superblock, extents, blob references
//! and directories (the format is described in the module above). Decoding checks
//! every length and field against the buffer it reads and answers what is wrong in
//! words; it never panics, whatever the bytes.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::{
    DirectoryId, DirectoryRecord, MAXIMUM_FILE_SIZE, MAXIMUM_LABEL_LENGTH, Name, TYPE_HASH_LENGTH,
    TypeHashBytes,
};

/// The first eight bytes of each superblock.
pub(super) const MAGIC: [u8; 8] = *b"EthosFS\0";
/// The format version this code reads and writes.
pub(super) const VERSION: u32 = 1;
/// Bytes of a superblock that carry meaning; the rest of its block is zero.
pub(super) const SUPERBLOCK_BYTES: usize = 512;
/// Where the superblock's checksum sits (over every byte before it).
const SUPERBLOCK_CHECKSUM_OFFSET: usize = SUPERBLOCK_BYTES - 4;
/// Where the root's extents start in a superblock.
const SUPERBLOCK_EXTENTS_OFFSET: usize = 56;
/// The most extents one blob (a value or a directory) is stored in.
pub(super) const MAXIMUM_EXTENTS: usize = 24;
/// The largest directory, in bytes (some 50,000 names): a bound on what a
/// damaged reference can make the store read.
pub(super) const MAXIMUM_DIRECTORY_BYTES: u64 = 16 << 20;
/// The first four bytes of every directory.
const DIRECTORY_MAGIC: [u8; 4] = *b"EDir";
/// An entry's kind byte.
const KIND_FILE: u8 = 1;
const KIND_DIRECTORY: u8 = 2;
/// Bytes of one extent on disk.
const EXTENT_BYTES: usize = 16;

/// The checksum of every extent and superblock: CRC-32 (IEEE).
pub(super) fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// A run of consecutive blocks and the checksum of their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Extent {
    pub(super) start: u64,
    pub(super) blocks: u32,
    pub(super) checksum: u32,
}

impl Extent {
    /// One past the last block, without overflow for any decoded extent.
    pub(super) fn end(&self) -> u64 {
        self.start.saturating_add(u64::from(self.blocks))
    }
}

/// Where the bytes of one value or directory are: `length` bytes spread over the
/// extents in order, the last block padded with zeros.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Blob {
    pub(super) length: u64,
    pub(super) extents: Vec<Extent>,
}

impl Blob {
    pub(super) fn blocks(&self) -> u64 {
        self.extents
            .iter()
            .map(|extent| u64::from(extent.blocks))
            .sum()
    }

    /// Whether the extents hold exactly the blocks `length` bytes need.
    fn check(&self, block_size: usize) -> Result<(), String> {
        if self.extents.len() > MAXIMUM_EXTENTS {
            return Err(format!(
                "{} extents (at most {MAXIMUM_EXTENTS})",
                self.extents.len()
            ));
        }
        if let Some(empty) = self.extents.iter().find(|extent| extent.blocks == 0) {
            return Err(format!("an empty extent at block {}", empty.start));
        }
        let needed = self.length.div_ceil(block_size as u64);
        if self.blocks() != needed {
            return Err(format!(
                "{} bytes need {needed} blocks but its extents hold {}",
                self.length,
                self.blocks()
            ));
        }
        Ok(())
    }
}

/// The root of everything: which generation it is and where the root directory is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Superblock {
    pub(super) block_size: u32,
    pub(super) capacity: u64,
    pub(super) generation: u64,
    pub(super) next_directory: u64,
    pub(super) root: Blob,
}

/// Why a superblock slot holds no usable superblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SuperblockProblem {
    /// Every byte is zero.
    Blank,
    /// The slot does not start with the magic.
    Foreign,
    /// The magic is there but the version is not one this code reads.
    Version(u32),
    /// The magic is there but the checksum does not match.
    Checksum,
    /// The checksum matches but a field is impossible.
    Malformed(String),
}

impl Superblock {
    /// The superblock as the first [`SUPERBLOCK_BYTES`] of a block.
    pub(super) fn encode(&self) -> [u8; SUPERBLOCK_BYTES] {
        let mut bytes = [0u8; SUPERBLOCK_BYTES];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.block_size.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.capacity.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.generation.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.next_directory.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.root.length.to_le_bytes());
        let count = self.root.extents.len().min(MAXIMUM_EXTENTS) as u16;
        bytes[48..50].copy_from_slice(&count.to_le_bytes());
        for (index, extent) in self.root.extents.iter().take(MAXIMUM_EXTENTS).enumerate() {
            let offset = SUPERBLOCK_EXTENTS_OFFSET + index * EXTENT_BYTES;
            encode_extent(extent, &mut bytes[offset..offset + EXTENT_BYTES]);
        }
        let sum = checksum(&bytes[..SUPERBLOCK_CHECKSUM_OFFSET]);
        bytes[SUPERBLOCK_CHECKSUM_OFFSET..].copy_from_slice(&sum.to_le_bytes());
        bytes
    }

    /// The superblock at the start of `block`.
    pub(super) fn decode(block: &[u8]) -> Result<Superblock, SuperblockProblem> {
        let Some(bytes) = block.get(..SUPERBLOCK_BYTES) else {
            return Err(SuperblockProblem::Malformed(
                "the block is too short".to_string(),
            ));
        };
        if block.iter().all(|&byte| byte == 0) {
            return Err(SuperblockProblem::Blank);
        }
        if bytes[0..8] != MAGIC {
            return Err(SuperblockProblem::Foreign);
        }
        let mut reader = Reader::new(&bytes[8..SUPERBLOCK_CHECKSUM_OFFSET]);
        let version = reader.u32().unwrap_or(0);
        if version != VERSION {
            return Err(SuperblockProblem::Version(version));
        }
        let stored = u32::from_le_bytes([bytes[508], bytes[509], bytes[510], bytes[511]]);
        if stored != checksum(&bytes[..SUPERBLOCK_CHECKSUM_OFFSET]) {
            return Err(SuperblockProblem::Checksum);
        }
        let malformed = |what: &str| SuperblockProblem::Malformed(what.to_string());
        let fields = (|| {
            let block_size = reader.u32()?;
            let capacity = reader.u64()?;
            let generation = reader.u64()?;
            let next_directory = reader.u64()?;
            let length = reader.u64()?;
            let count = reader.u16()?;
            Some((
                block_size,
                capacity,
                generation,
                next_directory,
                length,
                count,
            ))
        })();
        let Some((block_size, capacity, generation, next_directory, length, count)) = fields else {
            return Err(malformed("a field is cut short"));
        };
        if usize::from(count) > MAXIMUM_EXTENTS {
            return Err(malformed("the root directory has too many extents"));
        }
        let mut extents = Vec::new();
        for index in 0..usize::from(count) {
            let offset = SUPERBLOCK_EXTENTS_OFFSET + index * EXTENT_BYTES;
            extents.push(decode_extent(&bytes[offset..offset + EXTENT_BYTES]));
        }
        if length > MAXIMUM_DIRECTORY_BYTES {
            return Err(malformed(
                "the root directory is longer than a directory can be",
            ));
        }
        let root = Blob { length, extents };
        if !block_size_supported(block_size as usize) {
            return Err(SuperblockProblem::Malformed(format!(
                "block size {block_size} is not supported"
            )));
        }
        root.check(block_size as usize)
            .map_err(|what| SuperblockProblem::Malformed(format!("root directory: {what}")))?;
        if next_directory <= DirectoryId::ROOT.0 {
            return Err(malformed("the next directory id is not past the root's"));
        }
        Ok(Superblock {
            block_size,
            capacity,
            generation,
            next_directory,
            root,
        })
    }
}

/// Block sizes the format supports: a power of two from 512 to 64 KiB.
pub(super) fn block_size_supported(block_size: usize) -> bool {
    block_size.is_power_of_two() && (512..=65536).contains(&block_size)
}

fn encode_extent(extent: &Extent, bytes: &mut [u8]) {
    bytes[0..8].copy_from_slice(&extent.start.to_le_bytes());
    bytes[8..12].copy_from_slice(&extent.blocks.to_le_bytes());
    bytes[12..16].copy_from_slice(&extent.checksum.to_le_bytes());
}

fn decode_extent(bytes: &[u8]) -> Extent {
    let mut reader = Reader::new(bytes);
    Extent {
        start: reader.u64().unwrap_or(0),
        blocks: reader.u32().unwrap_or(0),
        checksum: reader.u32().unwrap_or(0),
    }
}

/// One name of a directory as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StoredEntry {
    pub(super) name: Name,
    pub(super) kind: StoredKind,
    pub(super) created: u64,
    pub(super) modified: u64,
    pub(super) blob: Blob,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StoredKind {
    File,
    Directory(DirectoryId),
}

/// A directory as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StoredDirectory {
    pub(super) id: DirectoryId,
    pub(super) created: u64,
    pub(super) record: DirectoryRecord,
    pub(super) entries: Vec<StoredEntry>,
}

/// Appends a directory's bytes to `bytes`; `entries` must be in name order.
pub(super) fn encode_directory<'a>(
    id: DirectoryId,
    created: u64,
    record: &DirectoryRecord,
    entries: impl ExactSizeIterator<Item = (&'a Name, StoredKind, u64, u64, &'a Blob)>,
    bytes: &mut Vec<u8>,
) {
    bytes.extend_from_slice(&DIRECTORY_MAGIC);
    bytes.extend_from_slice(&id.0.to_le_bytes());
    bytes.extend_from_slice(&created.to_le_bytes());
    bytes.extend_from_slice(&record.type_hash);
    bytes.extend_from_slice(&(record.label.len() as u16).to_le_bytes());
    bytes.extend_from_slice(record.label.as_bytes());
    bytes.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (name, kind, created, modified, blob) in entries {
        let (kind_byte, child) = match kind {
            StoredKind::File => (KIND_FILE, 0),
            StoredKind::Directory(child) => (KIND_DIRECTORY, child.0),
        };
        bytes.push(kind_byte);
        bytes.push(name.as_str().len() as u8);
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(&created.to_le_bytes());
        bytes.extend_from_slice(&modified.to_le_bytes());
        bytes.extend_from_slice(&child.to_le_bytes());
        bytes.extend_from_slice(&blob.length.to_le_bytes());
        bytes.extend_from_slice(&(blob.extents.len() as u16).to_le_bytes());
        for extent in &blob.extents {
            let mut encoded = [0u8; EXTENT_BYTES];
            encode_extent(extent, &mut encoded);
            bytes.extend_from_slice(&encoded);
        }
    }
}

/// The directory in `bytes` (exactly its length, padding removed).
pub(super) fn decode_directory(bytes: &[u8], block_size: usize) -> Result<StoredDirectory, String> {
    let mut reader = Reader::new(bytes);
    let short = || "it is cut short".to_string();
    if reader.take(4).ok_or_else(short)? != DIRECTORY_MAGIC {
        return Err("it does not start with the directory magic".to_string());
    }
    let id = DirectoryId(reader.u64().ok_or_else(short)?);
    let created = reader.u64().ok_or_else(short)?;
    let mut type_hash: TypeHashBytes = [0; TYPE_HASH_LENGTH];
    type_hash.copy_from_slice(reader.take(TYPE_HASH_LENGTH).ok_or_else(short)?);
    let label_length = usize::from(reader.u16().ok_or_else(short)?);
    let label = core::str::from_utf8(reader.take(label_length).ok_or_else(short)?)
        .map_err(|_| "its label is not UTF-8".to_string())?;
    if label.is_empty() || label.len() > MAXIMUM_LABEL_LENGTH {
        return Err(format!("its label is {} bytes long", label.len()));
    }
    let record = DirectoryRecord {
        label: label.to_string(),
        type_hash,
    };
    let count = reader.u32().ok_or_else(short)?;
    let mut entries: Vec<StoredEntry> = Vec::new();
    for index in 0..count {
        let entry = decode_entry(&mut reader, block_size)
            .map_err(|what| format!("entry {index}: {what}"))?;
        if let Some(previous) = entries.last()
            && previous.name >= entry.name
        {
            return Err(format!(
                "name {:?} follows {:?}: names are not sorted and unique",
                entry.name.as_str(),
                previous.name.as_str()
            ));
        }
        entries.push(entry);
    }
    if !reader.is_empty() {
        return Err(format!(
            "{} bytes follow its last entry",
            reader.remaining()
        ));
    }
    Ok(StoredDirectory {
        id,
        created,
        record,
        entries,
    })
}

fn decode_entry(reader: &mut Reader<'_>, block_size: usize) -> Result<StoredEntry, String> {
    let short = || "it is cut short".to_string();
    let kind_byte = reader.u8().ok_or_else(short)?;
    let name_length = usize::from(reader.u8().ok_or_else(short)?);
    let name_bytes = reader.take(name_length).ok_or_else(short)?;
    let name = core::str::from_utf8(name_bytes)
        .ok()
        .and_then(|text| Name::new(text).ok())
        .ok_or_else(|| {
            format!(
                "{:?} is not a valid name",
                String::from_utf8_lossy(name_bytes)
            )
        })?;
    let created = reader.u64().ok_or_else(short)?;
    let modified = reader.u64().ok_or_else(short)?;
    let child = reader.u64().ok_or_else(short)?;
    let length = reader.u64().ok_or_else(short)?;
    let count = usize::from(reader.u16().ok_or_else(short)?);
    if count > MAXIMUM_EXTENTS {
        return Err(format!(
            "{:?} has {count} extents (at most {MAXIMUM_EXTENTS})",
            name.as_str()
        ));
    }
    let mut extents = Vec::with_capacity(count);
    for _ in 0..count {
        extents.push(decode_extent(reader.take(EXTENT_BYTES).ok_or_else(short)?));
    }
    let blob = Blob { length, extents };
    let kind = match (kind_byte, child) {
        (KIND_FILE, 0) => {
            if length > MAXIMUM_FILE_SIZE as u64 {
                return Err(format!("file {:?} is {length} bytes long", name.as_str()));
            }
            StoredKind::File
        }
        (KIND_DIRECTORY, _) if length > MAXIMUM_DIRECTORY_BYTES => {
            return Err(format!(
                "directory {:?} is {length} bytes long",
                name.as_str()
            ));
        }
        (KIND_DIRECTORY, child) if child > DirectoryId::ROOT.0 => {
            StoredKind::Directory(DirectoryId(child))
        }
        (kind, child) => {
            return Err(format!(
                "{:?} has kind {kind} and directory id {child}",
                name.as_str()
            ));
        }
    };
    blob.check(block_size)
        .map_err(|what| format!("{:?}: {what}", name.as_str()))?;
    Ok(StoredEntry {
        name,
        kind,
        created,
        modified,
        blob,
    })
}

/// Reads little-endian fields from a buffer; every read answers `None` past its end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if count > self.bytes.len() {
            return None;
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Some(taken)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|bytes| bytes[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2)?.try_into().ok().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;

    use super::*;
    use crate::testing::Random;

    fn sample_directory() -> Vec<u8> {
        let record = DirectoryRecord {
            label: "label".to_string(),
            type_hash: [4; 64],
        };
        let names = [Name::new("a").unwrap(), Name::new("b").unwrap()];
        let file = Blob {
            length: 700,
            extents: vec![Extent {
                start: 9,
                blocks: 2,
                checksum: 5,
            }],
        };
        let child = Blob {
            length: 100,
            extents: vec![Extent {
                start: 12,
                blocks: 1,
                checksum: 6,
            }],
        };
        let mut bytes = Vec::new();
        encode_directory(
            DirectoryId(1),
            3,
            &record,
            [
                (&names[0], StoredKind::File, 1, 2, &file),
                (
                    &names[1],
                    StoredKind::Directory(DirectoryId(2)),
                    3,
                    3,
                    &child,
                ),
            ]
            .into_iter(),
            &mut bytes,
        );
        bytes
    }

    #[test]
    fn a_directory_and_a_superblock_decode_as_encoded() {
        let bytes = sample_directory();
        let directory = decode_directory(&bytes, 512).unwrap();
        assert_eq!(directory.id, DirectoryId(1));
        assert_eq!(directory.entries.len(), 2);
        assert_eq!(
            directory.entries[1].kind,
            StoredKind::Directory(DirectoryId(2))
        );
        let superblock = Superblock {
            block_size: 512,
            capacity: 100,
            generation: 7,
            next_directory: 3,
            root: directory.entries[1].blob.clone(),
        };
        assert_eq!(Superblock::decode(&superblock.encode()), Ok(superblock));
    }

    /// Decoding never panics: every truncation and random damage of a valid
    /// directory, and random bytes as superblocks, are answered with an error or a
    /// value.
    #[test]
    fn decoding_damaged_bytes_never_panics() {
        let bytes = sample_directory();
        for length in 0..bytes.len() {
            assert!(decode_directory(&bytes[..length], 512).is_err());
        }
        let mut random = Random::new(3);
        for _ in 0..20_000 {
            let mut damaged = bytes.clone();
            for _ in 0..1 + random.below(4) {
                let at = random.below(damaged.len() as u64) as usize;
                damaged[at] = random.next_u64() as u8;
            }
            let _ = decode_directory(&damaged, 512);
            let mut block = random.bytes(512);
            block[..8].copy_from_slice(&MAGIC);
            block[8..12].copy_from_slice(&VERSION.to_le_bytes());
            let sum = checksum(&block[..SUPERBLOCK_CHECKSUM_OFFSET]);
            block[SUPERBLOCK_CHECKSUM_OFFSET..].copy_from_slice(&sum.to_le_bytes());
            let _ = Superblock::decode(&block);
        }
    }
}
