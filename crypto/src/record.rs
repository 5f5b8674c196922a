//! Directory records: how a client learns where a host is and which ephemeral key it
//! currently accepts tunnels under.
//!
//! A record holds the host's address, UDP port, long-term public key, current ephemeral
//! incoming public key and expiry. The host boxes it from its long-term key to the
//! verifier's long-term key, so only that host can have made it and nobody can change it;
//! the verifier checks it against the host key it already trusts. Layout:
//!
//! ```text
//! host public key 32 | nonce 24 | tag 16 | box of:
//!   version u8 = 1 | address family u8 (4 or 6) | address 16 | port u16 |
//!   host public key 32 | ephemeral public key 32 | expiry u64 (milliseconds)
//! ```
//!
//! This module must never accept a record whose box, host key or expiry does not check.

use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::keys::{KEY_LENGTH, Label, NONCE_LENGTH, PublicKeyBytes, SecretKey, TAG_LENGTH};
use crate::time::Time;

const VERSION: u8 = 1;
const BODY_LENGTH: usize = 1 + 1 + 16 + 2 + KEY_LENGTH + KEY_LENGTH + 8;
/// Bytes of an encoded record.
pub const RECORD_LENGTH: usize = KEY_LENGTH + NONCE_LENGTH + TAG_LENGTH + BODY_LENGTH;

/// What a directory says about a host, once verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryRecord {
    /// Where the host receives datagrams.
    pub address: SocketAddr,
    /// The host's long-term key.
    pub host_key: PublicKeyBytes,
    /// The key under which the host accepts new tunnels until `expiry`.
    pub ephemeral_key: PublicKeyBytes,
    /// After this time the record must not be used.
    pub expiry: Time,
}

/// Why a record is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Not [`RECORD_LENGTH`] bytes.
    WrongLength,
    /// Made by a host other than the one expected.
    UnexpectedHost,
    /// The box does not authenticate: the record was forged or changed.
    Forged,
    /// A version or address family this implementation does not know.
    Malformed,
    /// The record's expiry has passed.
    Expired,
    /// The host key is of small order; no secret can be agreed with it.
    WeakHostKey,
}

impl fmt::Display for RecordError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            RecordError::WrongLength => "directory record has the wrong length",
            RecordError::UnexpectedHost => "directory record is from an unexpected host",
            RecordError::Forged => "directory record does not authenticate",
            RecordError::Malformed => "directory record has an unknown version or address",
            RecordError::Expired => "directory record has expired",
            RecordError::WeakHostKey => "directory record's host key is of small order",
        })
    }
}

impl DirectoryRecord {
    /// Boxes the record from the host's key to `verifier`.
    pub(crate) fn seal(
        &self,
        host: &SecretKey,
        verifier: &PublicKeyBytes,
        nonce: [u8; NONCE_LENGTH],
    ) -> Result<Vec<u8>, RecordError> {
        let key = host
            .derive_shared(verifier, &Label::DIRECTORY_RECORD)
            .map_err(|_| RecordError::WeakHostKey)?;
        let mut body = [0u8; BODY_LENGTH];
        body[0] = VERSION;
        match self.address.ip() {
            IpAddr::V4(address) => {
                body[1] = 4;
                body[2..6].copy_from_slice(&address.octets());
            }
            IpAddr::V6(address) => {
                body[1] = 6;
                body[2..18].copy_from_slice(&address.octets());
            }
        }
        body[18..20].copy_from_slice(&self.address.port().to_be_bytes());
        body[20..52].copy_from_slice(&self.host_key.0);
        body[52..84].copy_from_slice(&self.ephemeral_key.0);
        body[84..92].copy_from_slice(&self.expiry.as_milliseconds().to_be_bytes());
        let tag = key.seal(&nonce, &mut body);
        let mut record = Vec::with_capacity(RECORD_LENGTH);
        record.extend_from_slice(&host.public_key().0);
        record.extend_from_slice(&nonce);
        record.extend_from_slice(&tag);
        record.extend_from_slice(&body);
        Ok(record)
    }

    /// Opens a record the host `expected_host` boxed to `verifier`, valid at `now`.
    pub(crate) fn open(
        bytes: &[u8],
        expected_host: &PublicKeyBytes,
        verifier: &SecretKey,
        now: Time,
    ) -> Result<DirectoryRecord, RecordError> {
        if bytes.len() != RECORD_LENGTH {
            return Err(RecordError::WrongLength);
        }
        let mut host = [0u8; KEY_LENGTH];
        host.copy_from_slice(&bytes[..KEY_LENGTH]);
        if host != expected_host.0 {
            return Err(RecordError::UnexpectedHost);
        }
        let key = verifier
            .derive_shared(expected_host, &Label::DIRECTORY_RECORD)
            .map_err(|_| RecordError::WeakHostKey)?;
        let mut nonce = [0u8; NONCE_LENGTH];
        nonce.copy_from_slice(&bytes[KEY_LENGTH..KEY_LENGTH + NONCE_LENGTH]);
        let mut tag = [0u8; TAG_LENGTH];
        let tag_start = KEY_LENGTH + NONCE_LENGTH;
        tag.copy_from_slice(&bytes[tag_start..tag_start + TAG_LENGTH]);
        let mut body = [0u8; BODY_LENGTH];
        body.copy_from_slice(&bytes[tag_start + TAG_LENGTH..]);
        key.open(&nonce, &mut body, &tag)
            .map_err(|_| RecordError::Forged)?;
        if body[0] != VERSION {
            return Err(RecordError::Malformed);
        }
        let ip = match body[1] {
            4 => IpAddr::V4(Ipv4Addr::new(body[2], body[3], body[4], body[5])),
            6 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&body[2..18]);
                IpAddr::V6(Ipv6Addr::from(octets))
            }
            _ => return Err(RecordError::Malformed),
        };
        let port = u16::from_be_bytes([body[18], body[19]]);
        let mut inner_host = [0u8; KEY_LENGTH];
        inner_host.copy_from_slice(&body[20..52]);
        if inner_host != expected_host.0 {
            return Err(RecordError::UnexpectedHost);
        }
        let mut ephemeral = [0u8; KEY_LENGTH];
        ephemeral.copy_from_slice(&body[52..84]);
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&body[84..92]);
        let expiry = Time::from_milliseconds(u64::from_be_bytes(expiry));
        if now >= expiry {
            return Err(RecordError::Expired);
        }
        Ok(DirectoryRecord {
            address: SocketAddr::new(ip, port),
            host_key: *expected_host,
            ephemeral_key: PublicKeyBytes(ephemeral),
            expiry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_verify_and_any_change_is_refused() {
        let host = SecretKey::from_bytes([1u8; KEY_LENGTH]);
        let verifier = SecretKey::from_bytes([2u8; KEY_LENGTH]);
        let record = DirectoryRecord {
            address: SocketAddr::from(([127, 0, 0, 1], 4242)),
            host_key: host.public_key(),
            ephemeral_key: PublicKeyBytes([3u8; KEY_LENGTH]),
            expiry: Time::from_milliseconds(10_000),
        };
        let bytes = record
            .seal(&host, &verifier.public_key(), [4u8; NONCE_LENGTH])
            .expect("sealed");
        let now = Time::from_milliseconds(5_000);
        let opened = DirectoryRecord::open(&bytes, &host.public_key(), &verifier, now);
        assert_eq!(opened, Ok(record));
        for index in KEY_LENGTH..bytes.len() {
            let mut forged = bytes.clone();
            forged[index] ^= 0x10;
            let verdict = DirectoryRecord::open(&forged, &host.public_key(), &verifier, now);
            assert_eq!(verdict, Err(RecordError::Forged), "byte {index}");
        }
        let late = Time::from_milliseconds(10_000);
        let verdict = DirectoryRecord::open(&bytes, &host.public_key(), &verifier, late);
        assert_eq!(verdict, Err(RecordError::Expired));
        let stranger = SecretKey::from_bytes([9u8; KEY_LENGTH]);
        let verdict = DirectoryRecord::open(&bytes, &stranger.public_key(), &verifier, now);
        assert_eq!(verdict, Err(RecordError::UnexpectedHost));
    }
}
