//! ETE, the wire encoding of values: `bincode` 2 through `serde`, standard
//! configuration with fixed-width little-endian integers and a
//! [`MAXIMUM_MESSAGE_SIZE`] limit.
//!
//! # Byte layout of each kind
//!
//! | kind | bytes |
//! |------|-------|
//! | `int8` `uint8` | 1 byte |
//! | `int16` `uint16` | 2 bytes, little-endian |
//! | `int32` `uint32` `float32` | 4 bytes, little-endian (floats: IEEE 754 bits, any pattern) |
//! | `int64` `uint64` `float64` | 8 bytes, little-endian |
//! | `bool` | 1 byte, `0` or `1`; anything else is invalid |
//! | `string` | `u64` byte length, then that many bytes of UTF-8 |
//! | `[N]T` array | `N` values of `T`, no length |
//! | `[]T` tuple | `u64` element count, then the elements |
//! | `*T` optional | `u8` `0` (nil), or `u8` `1` then a `T`; other tags are invalid |
//! | struct | the fields in declaration order, no names, no padding |
//! | union | `u32` variant index (declaration order from 0), then that variant's value |
//! | `any` | the carried type's 64-byte hash, then a value of that type |
//! | alias | exactly its target's encoding |
//! | interface request | `u32` method index (declaration order from 0), then the argument struct |
//! | interface reply | `u32` method index, then the result struct |
//!
//! A message is exactly one value: bytes left after it make it invalid. No message is
//! longer than [`MAXIMUM_MESSAGE_SIZE`]. Lengths are `u64` and indices `u32` because
//! that is how `bincode` writes `serde`'s sequences and enum variants with this
//! configuration; Rust code generated from ETN produces this layout through `serde`
//! derives, and the recognizer checks exactly this layout.
//!
//! This module never panics on input: decoding errors are [`WireError`]s.

use alloc::vec::Vec;
use core::marker::PhantomData;

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use serde::de::{DeserializeOwned, Error as _, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::TypeHash;

/// The longest value, in bytes, of any file, IPC message or network message.
pub const MAXIMUM_MESSAGE_SIZE: usize = 32 << 20;

/// The `bincode` configuration of ETE.
pub type EteConfiguration = Configuration<LittleEndian, Fixint, Limit<MAXIMUM_MESSAGE_SIZE>>;

/// The `bincode` configuration of ETE, as a value.
pub const CONFIGURATION: EteConfiguration = bincode::config::standard()
    .with_fixed_int_encoding()
    .with_little_endian()
    .with_limit::<MAXIMUM_MESSAGE_SIZE>();

/// Why a value could not be encoded or decoded.
#[derive(Debug)]
pub enum WireError {
    /// `bincode` refused to encode the value.
    Encode(bincode::error::EncodeError),
    /// The bytes are not a value of the type.
    Decode(bincode::error::DecodeError),
    /// A whole value was decoded, but bytes remain after it.
    TrailingBytes {
        /// Bytes the value used.
        consumed: usize,
        /// Bytes given.
        length: usize,
    },
}

impl core::fmt::Display for WireError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::Encode(error) => write!(formatter, "cannot encode value: {error}"),
            WireError::Decode(error) => write!(formatter, "cannot decode value: {error}"),
            WireError::TrailingBytes { consumed, length } => {
                write!(formatter, "value ends after {consumed} of {length} bytes")
            }
        }
    }
}

impl core::error::Error for WireError {}

/// Bytes appended to a vector.
struct Appending<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for Appending<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Encodes one value. The value is measured first, so its bytes are written into
/// one allocation of their exact size rather than a vector that grows as they come.
/// A sender that encodes many values keeps one vector and uses [`encode_into`]
/// instead, which neither measures nor allocates once the vector has grown.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, WireError> {
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(value, &mut size, CONFIGURATION)
        .map_err(WireError::Encode)?;
    let mut bytes = Vec::with_capacity(size.bytes_written);
    bincode::serde::encode_into_writer(value, Appending(&mut bytes), CONFIGURATION)
        .map_err(WireError::Encode)?;
    Ok(bytes)
}

/// Encodes one value at the end of `bytes`, which grows as the value's bytes come:
/// for a sender that reuses one vector for every message, whose room is then already
/// there. On an error, `bytes` may hold part of the value after what it held.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, bytes: &mut Vec<u8>) -> Result<(), WireError> {
    bincode::serde::encode_into_writer(value, Appending(bytes), CONFIGURATION)
        .map_err(WireError::Encode)
}

/// Decodes one value that must use every byte.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let (value, consumed) = decode_prefix(bytes)?;
    if consumed == bytes.len() {
        Ok(value)
    } else {
        Err(WireError::TrailingBytes {
            consumed,
            length: bytes.len(),
        })
    }
}

/// Decodes one value from the start of `bytes` and says how many bytes it used.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), WireError> {
    bincode::serde::decode_from_slice(bytes, CONFIGURATION).map_err(WireError::Decode)
}

/// A fixed-length array `[N]T` of any length: `serde` itself only handles up to 32.
/// Encoded as `N` elements without a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Array<T, const N: usize>(pub [T; N]);

impl<T: Default, const N: usize> Default for Array<T, N> {
    fn default() -> Self {
        Array(core::array::from_fn(|_| T::default()))
    }
}

impl<T, const N: usize> core::ops::Deref for Array<T, N> {
    type Target = [T; N];
    fn deref(&self) -> &[T; N] {
        &self.0
    }
}

impl<T, const N: usize> core::ops::DerefMut for Array<T, N> {
    fn deref_mut(&mut self) -> &mut [T; N] {
        &mut self.0
    }
}

impl<T: Serialize, const N: usize> Serialize for Array<T, N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(N)?;
        for element in &self.0 {
            tuple.serialize_element(element)?;
        }
        tuple.end()
    }
}

struct ArrayVisitor<T, const N: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for ArrayVisitor<T, N> {
    type Value = Array<T, N>;

    fn expecting(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "an array of {N} elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Self::Value, A::Error> {
        // The length comes from the type, not the input; the cap only bounds the
        // first allocation for very long array types.
        let mut elements = Vec::with_capacity(N.min(4096));
        for position in 0..N {
            match sequence.next_element()? {
                Some(element) => elements.push(element),
                None => return Err(A::Error::invalid_length(position, &self)),
            }
        }
        <[T; N]>::try_from(elements)
            .map(Array)
            .map_err(|_| A::Error::invalid_length(N, &self))
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Array<T, N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_tuple(N, ArrayVisitor::<T, N>(PhantomData))
    }
}

/// `serde` functions for a `[]uint8` value held as a `Vec<u8>`: the generated code
/// puts them on such fields (`#[serde(with = "::ethos_typesys::wire::byte_sequence")]`).
/// The bytes are those of any `[]T` tuple, a `u64` count then the elements, but
/// `bincode` writes and reads them as one slice instead of one `u8` at a time through
/// `serde`'s sequence machinery, which cost about 70% of a 4 KiB round trip's
/// instructions. They are read as borrowed bytes, copied once into a vector of their
/// length: asked for an owned buffer instead, `bincode` zeroes a new vector before
/// it copies into it. Other formats than `bincode` may hand a sequence or an owned
/// buffer: both are accepted.
pub mod byte_sequence {
    use alloc::vec::Vec;

    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    /// Writes `bytes` as a count then the bytes.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    /// Reads a count then that many bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_bytes(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            formatter.write_str("a sequence of bytes")
        }

        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Vec<u8>, A::Error> {
            let mut bytes = Vec::with_capacity(sequence.size_hint().unwrap_or(0).min(4096));
            while let Some(byte) = sequence.next_element()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
}

impl Serialize for TypeHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Array(self.0).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TypeHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Array::<u8, 64>::deserialize(deserializer).map(|array| TypeHash(array.0))
    }
}
