//! The outer packet format: what travels in clear in a UDP datagram.
//!
//! ```text
//! tunnel id  u64 big-endian; bit 63: client ephemeral key present,
//!                            bit 62: puzzle (challenge from a server, solution from a client)
//! nonce      u64 big-endian
//! [client ephemeral public key, 32 bytes]                        if bit 63
//! [puzzle solution: time u64, difficulty u8, solution 32 bytes]  if bits 63 and 62
//! box        16-byte Poly1305 tag, then the ciphertext
//! ```
//!
//! A puzzle challenge (bit 62 alone) carries no box: `time u64, difficulty u8, masked
//! solution 32 bytes, hash of the solution 32 bytes` follow the nonce.
//!
//! The box's 24-byte nonce is the packet nonce followed by the tunnel id (both
//! big-endian, flags cleared) and 8 zero bytes, so neither can be changed in transit.
//! This module parses and writes bytes only; it must never decide whether a packet is
//! authentic or fresh.

use core::fmt;

use crate::keys::{KEY_LENGTH, NONCE_LENGTH, PublicKeyBytes, TAG_LENGTH};
use crate::puzzle::{PuzzleChallenge, PuzzleSolution, SOLUTION_LENGTH};

/// Largest datagram the endpoint sends or accepts.
pub const MAX_DATAGRAM: usize = 1400;
/// Bit of the tunnel-id word that says a client ephemeral key follows the nonce.
pub(crate) const FLAG_EPHEMERAL_KEY: u64 = 1 << 63;
/// Bit of the tunnel-id word that says a puzzle challenge or solution follows.
pub(crate) const FLAG_PUZZLE: u64 = 1 << 62;
/// Bits of the tunnel-id word that are the tunnel id.
pub(crate) const TUNNEL_ID_MASK: u64 = !(FLAG_EPHEMERAL_KEY | FLAG_PUZZLE);
/// Bytes of the clear header: tunnel id and nonce.
pub(crate) const HEADER_LENGTH: usize = 16;
/// Bytes a first packet adds: the client's ephemeral key.
pub(crate) const FIRST_PACKET_EXTRA: usize = KEY_LENGTH;

/// Why bytes are not a well-formed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the header and fields announced by its flags need.
    Truncated,
    /// More bytes than [`MAX_DATAGRAM`].
    Oversized,
    /// The tunnel id is zero, which no tunnel uses.
    ZeroTunnelId,
    /// A puzzle challenge of the wrong length.
    MalformedPuzzle,
}

impl fmt::Display for WireError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            WireError::Truncated => "datagram shorter than its header says",
            WireError::Oversized => "datagram longer than the largest allowed",
            WireError::ZeroTunnelId => "tunnel id zero is reserved",
            WireError::MalformedPuzzle => "puzzle challenge has the wrong length",
        })
    }
}

/// A parsed datagram, borrowing its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    /// A boxed packet: every packet of a tunnel, first or not.
    Boxed(BoxedPacket<'a>),
    /// A server's stateless puzzle challenge for the tunnel a client is opening.
    Challenge {
        tunnel_id: u64,
        challenge: PuzzleChallenge,
    },
}

/// A packet carrying a box.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BoxedPacket<'a> {
    pub(crate) tunnel_id: u64,
    pub(crate) nonce: u64,
    pub(crate) client_ephemeral: Option<PublicKeyBytes>,
    pub(crate) puzzle_solution: Option<PuzzleSolution>,
    pub(crate) tag: [u8; TAG_LENGTH],
    pub(crate) ciphertext: &'a [u8],
}

fn read_u64(bytes: &[u8], at: usize) -> Result<u64, WireError> {
    let field = bytes.get(at..at + 8).ok_or(WireError::Truncated)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(field);
    Ok(u64::from_be_bytes(word))
}

fn read_array<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], WireError> {
    let field = bytes.get(at..at + N).ok_or(WireError::Truncated)?;
    let mut array = [0u8; N];
    array.copy_from_slice(field);
    Ok(array)
}

/// Parses a datagram without looking at anything secret.
pub(crate) fn parse(bytes: &[u8]) -> Result<Packet<'_>, WireError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(WireError::Oversized);
    }
    let word = read_u64(bytes, 0)?;
    let nonce = read_u64(bytes, 8)?;
    let tunnel_id = word & TUNNEL_ID_MASK;
    if tunnel_id == 0 {
        return Err(WireError::ZeroTunnelId);
    }
    let has_key = word & FLAG_EPHEMERAL_KEY != 0;
    let has_puzzle = word & FLAG_PUZZLE != 0;
    let mut at = HEADER_LENGTH;
    if has_puzzle && !has_key {
        let body = &bytes[at..];
        let challenge = PuzzleChallenge::decode(body).ok_or(WireError::MalformedPuzzle)?;
        return Ok(Packet::Challenge {
            tunnel_id,
            challenge,
        });
    }
    let client_ephemeral = if has_key {
        let key = PublicKeyBytes(read_array::<KEY_LENGTH>(bytes, at)?);
        at += KEY_LENGTH;
        Some(key)
    } else {
        None
    };
    let puzzle_solution = if has_puzzle {
        let field = bytes
            .get(at..at + SOLUTION_LENGTH)
            .ok_or(WireError::Truncated)?;
        at += SOLUTION_LENGTH;
        Some(PuzzleSolution::decode(field).ok_or(WireError::Truncated)?)
    } else {
        None
    };
    let tag = read_array::<TAG_LENGTH>(bytes, at)?;
    at += TAG_LENGTH;
    Ok(Packet::Boxed(BoxedPacket {
        tunnel_id,
        nonce,
        client_ephemeral,
        puzzle_solution,
        tag,
        ciphertext: &bytes[at..],
    }))
}

/// The 24-byte box nonce for a packet nonce on a tunnel.
pub(crate) fn box_nonce(tunnel_id: u64, nonce: u64) -> [u8; NONCE_LENGTH] {
    let mut bytes = [0u8; NONCE_LENGTH];
    bytes[..8].copy_from_slice(&nonce.to_be_bytes());
    bytes[8..16].copy_from_slice(&(tunnel_id & TUNNEL_ID_MASK).to_be_bytes());
    bytes
}

/// Bytes [`write_boxed_header`] writes: the clear part of a boxed packet and its tag.
pub(crate) fn boxed_header_length(client_ephemeral: bool, puzzle_solution: bool) -> usize {
    let first = match (client_ephemeral, puzzle_solution) {
        (false, _) => 0,
        (true, false) => FIRST_PACKET_EXTRA,
        (true, true) => FIRST_PACKET_EXTRA + SOLUTION_LENGTH,
    };
    HEADER_LENGTH + first + TAG_LENGTH
}

/// Writes the clear part of a boxed packet and reserves room for the tag; returns the
/// offset of the tag. The caller appends the plaintext, seals it and writes the tag.
pub(crate) fn write_boxed_header(
    output: &mut alloc::vec::Vec<u8>,
    tunnel_id: u64,
    nonce: u64,
    client_ephemeral: Option<&PublicKeyBytes>,
    puzzle_solution: Option<&PuzzleSolution>,
) -> usize {
    let mut word = tunnel_id & TUNNEL_ID_MASK;
    if client_ephemeral.is_some() {
        word |= FLAG_EPHEMERAL_KEY;
        if puzzle_solution.is_some() {
            word |= FLAG_PUZZLE;
        }
    }
    // Whole arrays rather than one word at a time: each copy into a vector costs a
    // capacity check, which fuzzing builds trace.
    let mut ids = [[0u8; 8]; 2];
    ids[0] = word.to_be_bytes();
    ids[1] = nonce.to_be_bytes();
    output.extend_from_slice(ids.as_flattened());
    if let Some(key) = client_ephemeral {
        output.extend_from_slice(&key.0);
        if let Some(solution) = puzzle_solution {
            solution.encode(output);
        }
    }
    let tag_offset = output.len();
    output.extend_from_slice(&[0u8; TAG_LENGTH]);
    tag_offset
}

/// Writes a puzzle challenge packet.
pub(crate) fn write_challenge(
    output: &mut alloc::vec::Vec<u8>,
    tunnel_id: u64,
    challenge: &PuzzleChallenge,
) {
    let word = (tunnel_id & TUNNEL_ID_MASK) | FLAG_PUZZLE;
    output.extend_from_slice(&word.to_be_bytes());
    output.extend_from_slice(&0u64.to_be_bytes());
    challenge.encode(output);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn boxed_header_round_trips() {
        let mut bytes = Vec::new();
        let key = PublicKeyBytes([9u8; KEY_LENGTH]);
        let tag_offset = write_boxed_header(&mut bytes, 77, 5, Some(&key), None);
        assert_eq!(bytes.len(), boxed_header_length(true, false));
        bytes[tag_offset] = 1;
        bytes.extend_from_slice(b"ciphertext");
        let Ok(Packet::Boxed(packet)) = parse(&bytes) else {
            panic!("a boxed packet");
        };
        assert_eq!(packet.tunnel_id, 77);
        assert_eq!(packet.nonce, 5);
        assert_eq!(packet.client_ephemeral, Some(key));
        assert_eq!(packet.tag[0], 1);
        assert_eq!(packet.ciphertext, b"ciphertext");
    }

    #[test]
    fn malformed_datagrams_are_refused() {
        assert_eq!(parse(&[0u8; 8]), Err(WireError::Truncated));
        assert_eq!(parse(&[0u8; 40]), Err(WireError::ZeroTunnelId));
        assert_eq!(parse(&[1u8; MAX_DATAGRAM + 1]), Err(WireError::Oversized));
        let mut first = Vec::new();
        first.extend_from_slice(&(FLAG_EPHEMERAL_KEY | 3).to_be_bytes());
        first.extend_from_slice(&1u64.to_be_bytes());
        first.extend_from_slice(&[0u8; 20]);
        assert_eq!(parse(&first), Err(WireError::Truncated));
    }
}
