//! What is inside a box: a reliability header, then control and data frames.
//!
//! ```text
//! sequence u64 (0: carries nothing to deliver), acknowledged u64 (every sequence up to
//! it received), selective u64 (bit i: sequence acknowledged + 2 + i received)
//! frames, each a type byte then fields (integers big-endian, byte strings length-prefixed)
//! ```
//!
//! This module parses and writes bytes only. It must never act on a frame: parsing is
//! total and allocation-free, so a box is checked whole before any state changes.

use alloc::vec::Vec;
use core::fmt;

use crate::keys::{AUTHENTICATOR_LENGTH, Authenticator, KEY_LENGTH, PublicKeyBytes};

/// Bytes of the reliability header.
pub(crate) const RELIABILITY_HEADER_LENGTH: usize = 24;
/// Longest service name.
pub const MAX_SERVICE_NAME: usize = 64;
/// Bytes of a type hash.
pub const TYPE_HASH_LENGTH: usize = 64;
/// Bytes a data frame adds to its payload.
pub(crate) const DATA_FRAME_OVERHEAD: usize = 1 + 4 + 2;

/// The identity hash of an Etype: every connection says which type it carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeHash(pub [u8; TYPE_HASH_LENGTH]);

impl fmt::Debug for TypeHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "TypeHash(")?;
        for byte in &self.0[..6] {
            write!(formatter, "{byte:02x}")?;
        }
        write!(formatter, "…)")
    }
}

/// Why the inside of a box is not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The box is shorter than the reliability header or a frame's fields.
    Truncated,
    /// A frame type this implementation does not know.
    UnknownFrameType(u8),
    /// A service name longer than [`MAX_SERVICE_NAME`].
    ServiceNameTooLong,
    /// A frame that must not be sent unreliably is in a packet with sequence 0.
    UnreliableControl,
}

impl fmt::Display for FrameError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Truncated => formatter.write_str("box shorter than its frames say"),
            FrameError::UnknownFrameType(kind) => write!(formatter, "unknown frame type {kind}"),
            FrameError::ServiceNameTooLong => formatter.write_str("service name too long"),
            FrameError::UnreliableControl => {
                formatter.write_str("frame in a packet that carries no sequence number")
            }
        }
    }
}

/// Sequence and acknowledgement numbers of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ReliabilityHeader {
    pub(crate) sequence: u64,
    pub(crate) acknowledged: u64,
    pub(crate) selective: u64,
}

impl ReliabilityHeader {
    pub(crate) fn encode(&self, output: &mut Vec<u8>) {
        // One copy of the whole header, not three: each copy into a vector costs a
        // capacity check, which fuzzing builds trace.
        let words = [self.sequence, self.acknowledged, self.selective].map(u64::to_be_bytes);
        output.extend_from_slice(words.as_flattened());
    }
}

/// A user's claim on a new connection: the key and the proof for this tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserClaim {
    pub(crate) user: PublicKeyBytes,
    pub(crate) authenticator: Authenticator,
}

/// One frame, borrowing from the decrypted box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    Create {
        connection: u32,
        service: &'a [u8],
        type_hash: TypeHash,
        user: Option<UserClaim>,
        first_value: &'a [u8],
    },
    Accept {
        connection: u32,
    },
    Refuse {
        connection: u32,
    },
    Close {
        connection: u32,
    },
    Data {
        connection: u32,
        bytes: &'a [u8],
    },
    WindowUpdate {
        connection: u32,
        maximum: u64,
    },
    NextTunnel {
        tunnel_id: u64,
    },
}

const CREATE: u8 = 1;
const CREATE_AUTHENTICATED: u8 = 2;
const ACCEPT: u8 = 3;
const REFUSE: u8 = 4;
const CLOSE: u8 = 5;
const DATA: u8 = 6;
const WINDOW_UPDATE: u8 = 7;
const NEXT_TUNNEL: u8 = 8;

impl Frame<'_> {
    /// How many bytes [`Frame::encode`] writes, so a caller can allocate them at once.
    pub(crate) fn encoded_length(&self) -> usize {
        match *self {
            Frame::Create {
                service,
                user,
                first_value,
                ..
            } => {
                let claim = if user.is_some() {
                    KEY_LENGTH + AUTHENTICATOR_LENGTH
                } else {
                    0
                };
                1 + 4
                    + 1
                    + service.len().min(MAX_SERVICE_NAME)
                    + TYPE_HASH_LENGTH
                    + claim
                    + 2
                    + first_value.len().min(usize::from(u16::MAX))
            }
            Frame::Accept { .. } | Frame::Refuse { .. } | Frame::Close { .. } => 1 + 4,
            Frame::Data { bytes, .. } => {
                DATA_FRAME_OVERHEAD + bytes.len().min(usize::from(u16::MAX))
            }
            Frame::WindowUpdate { .. } => 1 + 4 + 8,
            Frame::NextTunnel { .. } => 1 + 8,
        }
    }

    pub(crate) fn encode(&self, output: &mut Vec<u8>) {
        match *self {
            Frame::Create {
                connection,
                service,
                type_hash,
                user,
                first_value,
            } => {
                output.push(if user.is_some() {
                    CREATE_AUTHENTICATED
                } else {
                    CREATE
                });
                output.extend_from_slice(&connection.to_be_bytes());
                // Callers check the length; a longer name is cut rather than mis-framed.
                let service = &service[..service.len().min(MAX_SERVICE_NAME)];
                output.push(service.len() as u8);
                output.extend_from_slice(service);
                output.extend_from_slice(&type_hash.0);
                if let Some(claim) = user {
                    output.extend_from_slice(&claim.user.0);
                    output.extend_from_slice(&claim.authenticator.0);
                }
                let first_value = &first_value[..first_value.len().min(usize::from(u16::MAX))];
                output.extend_from_slice(&(first_value.len() as u16).to_be_bytes());
                output.extend_from_slice(first_value);
            }
            Frame::Accept { connection } => push_connection(output, ACCEPT, connection),
            Frame::Refuse { connection } => push_connection(output, REFUSE, connection),
            Frame::Close { connection } => push_connection(output, CLOSE, connection),
            Frame::Data { connection, bytes } => {
                push_connection(output, DATA, connection);
                let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
                output.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
                output.extend_from_slice(bytes);
            }
            Frame::WindowUpdate {
                connection,
                maximum,
            } => {
                push_connection(output, WINDOW_UPDATE, connection);
                output.extend_from_slice(&maximum.to_be_bytes());
            }
            Frame::NextTunnel { tunnel_id } => {
                output.push(NEXT_TUNNEL);
                output.extend_from_slice(&tunnel_id.to_be_bytes());
            }
        }
    }
}

/// Writes the head of a data frame whose `length` payload bytes the caller appends.
pub(crate) fn write_data_header(output: &mut Vec<u8>, connection: u32, length: u16) {
    push_connection(output, DATA, connection);
    output.extend_from_slice(&length.to_be_bytes());
}

fn push_connection(output: &mut Vec<u8>, kind: u8, connection: u32) {
    output.push(kind);
    output.extend_from_slice(&connection.to_be_bytes());
}

/// Splits a decrypted box into its header and a frame reader.
pub(crate) fn split(plaintext: &[u8]) -> Result<(ReliabilityHeader, FrameReader<'_>), FrameError> {
    let mut reader = FrameReader { bytes: plaintext };
    let header = ReliabilityHeader {
        sequence: reader.u64()?,
        acknowledged: reader.u64()?,
        selective: reader.u64()?,
    };
    Ok((header, reader))
}

/// A reader over bare frames.
pub(crate) fn reader_over(bytes: &[u8]) -> FrameReader<'_> {
    FrameReader { bytes }
}

/// Reads frames one by one; cloning it restarts from the same place.
#[derive(Debug, Clone)]
pub(crate) struct FrameReader<'a> {
    bytes: &'a [u8],
}

impl<'a> FrameReader<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], FrameError> {
        if self.bytes.len() < length {
            return Err(FrameError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(length);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, FrameError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn next_frame(&mut self) -> Result<Frame<'a>, FrameError> {
        let kind = self.u8()?;
        Ok(match kind {
            CREATE | CREATE_AUTHENTICATED => {
                let connection = self.u32()?;
                let service_length = usize::from(self.u8()?);
                if service_length > MAX_SERVICE_NAME {
                    return Err(FrameError::ServiceNameTooLong);
                }
                let service = self.take(service_length)?;
                let type_hash = TypeHash(self.array()?);
                let user = if kind == CREATE_AUTHENTICATED {
                    Some(UserClaim {
                        user: PublicKeyBytes(self.array::<KEY_LENGTH>()?),
                        authenticator: Authenticator(self.array::<AUTHENTICATOR_LENGTH>()?),
                    })
                } else {
                    None
                };
                let value_length = usize::from(self.u16()?);
                let first_value = self.take(value_length)?;
                Frame::Create {
                    connection,
                    service,
                    type_hash,
                    user,
                    first_value,
                }
            }
            ACCEPT => Frame::Accept {
                connection: self.u32()?,
            },
            REFUSE => Frame::Refuse {
                connection: self.u32()?,
            },
            CLOSE => Frame::Close {
                connection: self.u32()?,
            },
            DATA => {
                let connection = self.u32()?;
                let length = usize::from(self.u16()?);
                Frame::Data {
                    connection,
                    bytes: self.take(length)?,
                }
            }
            WINDOW_UPDATE => Frame::WindowUpdate {
                connection: self.u32()?,
                maximum: self.u64()?,
            },
            NEXT_TUNNEL => Frame::NextTunnel {
                tunnel_id: self.u64()?,
            },
            other => return Err(FrameError::UnknownFrameType(other)),
        })
    }
}

impl<'a> Iterator for FrameReader<'a> {
    type Item = Result<Frame<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.bytes.is_empty() {
            return None;
        }
        let frame = self.next_frame();
        if frame.is_err() {
            self.bytes = &[];
        }
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let claim = UserClaim {
            user: PublicKeyBytes([3u8; KEY_LENGTH]),
            authenticator: Authenticator([4u8; AUTHENTICATOR_LENGTH]),
        };
        let frames = [
            Frame::Create {
                connection: 2,
                service: b"echo",
                type_hash: TypeHash([1u8; TYPE_HASH_LENGTH]),
                user: Some(claim),
                first_value: b"first",
            },
            Frame::Create {
                connection: 4,
                service: b"",
                type_hash: TypeHash([2u8; TYPE_HASH_LENGTH]),
                user: None,
                first_value: b"",
            },
            Frame::Accept { connection: 1 },
            Frame::Refuse { connection: 2 },
            Frame::Close { connection: 3 },
            Frame::Data {
                connection: 4,
                bytes: b"payload",
            },
            Frame::WindowUpdate {
                connection: 5,
                maximum: 1 << 40,
            },
            Frame::NextTunnel { tunnel_id: 99 },
        ];
        let header = ReliabilityHeader {
            sequence: 7,
            acknowledged: 6,
            selective: 5,
        };
        let mut bytes = Vec::new();
        header.encode(&mut bytes);
        let mut boundaries = Vec::new();
        for frame in &frames {
            boundaries.push(bytes.len());
            frame.encode(&mut bytes);
            assert_eq!(
                bytes.len() - boundaries[boundaries.len() - 1],
                frame.encoded_length()
            );
        }
        let (parsed_header, reader) = split(&bytes).expect("well formed");
        assert_eq!(parsed_header, header);
        let parsed: Vec<Frame<'_>> = reader.map(|frame| frame.expect("well formed")).collect();
        assert_eq!(parsed, frames);
        for cut in RELIABILITY_HEADER_LENGTH + 1..bytes.len() {
            let (_, reader) = split(&bytes[..cut]).expect("header intact");
            let mut reader = reader;
            let failed = reader.any(|frame| frame.is_err());
            assert_eq!(failed, !boundaries.contains(&cut), "cut {cut}");
        }
    }
}
