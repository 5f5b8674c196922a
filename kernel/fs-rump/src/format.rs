//! What the store keeps on FFS beside the names programs see: the hidden names, each
//! directory's record file, and the header in front of every value.
//!
//! Every hidden name begins with the byte `0xff`, which never occurs in UTF-8, so no
//! [`ethos_fs::Name`] can ever be one: programs can neither make, open nor remove
//! them, and [`crate::FfsStore`]'s `next_name` passes over every name that is not
//! UTF-8. This module must never produce a hidden name that is valid UTF-8.

use alloc::string::String;
use alloc::vec::Vec;

use ethos_fs::{DirectoryRecord, MAXIMUM_LABEL_LENGTH, TYPE_HASH_LENGTH};

/// The record file in every directory: its label, type and creation time.
pub const RECORD: &[u8] = b"\xffethos-directory";
/// Where a value is written before it replaces the file it is for.
pub const NEW_FILE: &[u8] = b"\xffethos-new-file";
/// Where a directory is made, whole with its record, before it gets its name.
pub const NEW_DIRECTORY: &[u8] = b"\xffethos-new-directory";
/// Where a directory goes, out of sight, while it is removed.
pub const GONE_DIRECTORY: &[u8] = b"\xffethos-gone-directory";

/// Whether `name` (as FFS holds it) is one programs may see.
pub fn visible(name: &[u8]) -> bool {
    name != b"." && name != b".." && core::str::from_utf8(name).is_ok()
}

/// The first bytes of a record file.
const RECORD_MAGIC: &[u8; 16] = b"ethos-directory\x01";

/// The bytes of a record file: magic, creation time (little-endian nanoseconds), type
/// hash, label.
pub fn encode_record(record: &DirectoryRecord, created: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(RECORD_MAGIC.len() + 8 + TYPE_HASH_LENGTH + 64);
    bytes.extend_from_slice(RECORD_MAGIC);
    bytes.extend_from_slice(&created.to_le_bytes());
    bytes.extend_from_slice(&record.type_hash);
    bytes.extend_from_slice(record.label.as_bytes());
    bytes
}

/// A record file's record and creation time; what is wrong with it otherwise.
pub fn decode_record(bytes: &[u8]) -> Result<(DirectoryRecord, u64), String> {
    let fixed = RECORD_MAGIC.len() + 8 + TYPE_HASH_LENGTH;
    if bytes.len() < fixed || !bytes.starts_with(RECORD_MAGIC) {
        return Err(String::from(
            "not a directory record (wrong length or magic)",
        ));
    }
    let (time, rest) = bytes[RECORD_MAGIC.len()..].split_at(8);
    let (type_hash, label) = rest.split_at(TYPE_HASH_LENGTH);
    let label = core::str::from_utf8(label)
        .map_err(|_| String::from("the directory record's label is not UTF-8"))?;
    let record = DirectoryRecord {
        label: String::from(label),
        type_hash: type_hash.try_into().unwrap_or([0; TYPE_HASH_LENGTH]),
    };
    if record.check().is_err() || label.len() > MAXIMUM_LABEL_LENGTH {
        return Err(String::from(
            "the directory record's label is empty or too long",
        ));
    }
    Ok((
        record,
        u64::from_le_bytes(time.try_into().unwrap_or([0; 8])),
    ))
}

/// The bytes in front of every value: when the file was made and when its value
/// last changed, each little-endian nanoseconds of the caller's clock.
///
/// FFS has no creation time a program can set, and its modification time is the
/// rump kernel's clock, not the caller's; both times live here, in the same file as
/// the value, so one rename replaces all three at once.
pub const VALUE_HEADER: usize = 16;

/// A value's file: header, then the value.
pub fn encode_value(value: &[u8], created: u64, modified: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(VALUE_HEADER + value.len());
    bytes.extend_from_slice(&created.to_le_bytes());
    bytes.extend_from_slice(&modified.to_le_bytes());
    bytes.extend_from_slice(value);
    bytes
}

/// A value file's creation and modification times, from its first bytes.
pub fn decode_times(header: &[u8]) -> Option<(u64, u64)> {
    let created = u64::from_le_bytes(header.get(..8)?.try_into().ok()?);
    let modified = u64::from_le_bytes(header.get(8..16)?.try_into().ok()?);
    Some((created, modified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_names_are_never_utf8() {
        for name in [RECORD, NEW_FILE, NEW_DIRECTORY, GONE_DIRECTORY] {
            assert!(!visible(name));
        }
        assert!(visible("é".as_bytes()));
        assert!(!visible(b".."));
    }

    #[test]
    fn records_and_values_read_back() {
        let record = DirectoryRecord {
            label: String::from("notes"),
            type_hash: [7; 64],
        };
        let bytes = encode_record(&record, 123);
        assert_eq!(decode_record(&bytes), Ok((record, 123)));
        assert!(decode_record(&bytes[..20]).is_err());
        assert!(decode_record(b"something else entirely, long enough to pass the length check of a record file........").is_err());
        let value = encode_value(b"hello", 5, 6);
        assert_eq!(decode_times(&value), Some((5, 6)));
        assert_eq!(&value[VALUE_HEADER..], b"hello");
        assert_eq!(decode_times(&value[..10]), None);
    }
}
