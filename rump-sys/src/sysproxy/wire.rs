//! The frames of the rump system call proxy protocol (version 0.4), as upstream's
//! librumpclient speaks it: a fixed header, then a body whose layout depends on the class
//! and type. Integers are in host byte order, as client and server share a machine type.
//!
//! Only encoding and decoding live here; nothing in this module touches a socket or the
//! rump kernel.

use alloc::vec::Vec;

/// Protocol version in the banner.
pub const VERSION_MAJOR: u32 = 0;
/// Protocol version in the banner.
pub const VERSION_MINOR: u32 = 4;
/// Longest banner upstream's client reads.
pub const BANNER_LIMIT: usize = 96;
/// Size of the frame header.
pub const HEADER_LENGTH: usize = 24;
/// Largest frame body accepted from a client: bounds what a peer can make the server
/// allocate (system call arguments and copied-in data are far smaller).
pub const BODY_LIMIT: usize = 64 << 20;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A request (either direction).
    Request = 0,
    /// A reply to a request.
    Response = 1,
    /// A request failed; the header's word is a [`ProtocolError`].
    Error = 2,
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Client to server: connect as a new process (guest), a forked one, or after exec.
    Handshake = 0,
    /// Client to server: run a system call; the header's word is its number.
    SystemCall = 1,
    /// Server to client: send bytes from the client's memory.
    CopyIn = 2,
    /// Server to client: send a NUL-terminated string from the client's memory.
    CopyInString = 3,
    /// Server to client: write bytes into the client's memory (no reply).
    CopyOut = 4,
    /// Server to client: write a string into the client's memory (no reply).
    CopyOutString = 5,
    /// Server to client: map anonymous memory and reply with its address.
    AnonymousMap = 6,
    /// Client to server: prepare a fork.
    Prefork = 7,
    /// Server to client: raise a signal; the header's word is its number.
    Raise = 8,
}

impl Kind {
    fn from_raw(raw: u16) -> Option<Kind> {
        Some(match raw {
            0 => Kind::Handshake,
            1 => Kind::SystemCall,
            2 => Kind::CopyIn,
            3 => Kind::CopyInString,
            4 => Kind::CopyOut,
            5 => Kind::CopyOutString,
            6 => Kind::AnonymousMap,
            7 => Kind::Prefork,
            8 => Kind::Raise,
            _ => return None,
        })
    }
}

/// Handshake kinds, in the header's word of a [`Kind::Handshake`] request.
pub const HANDSHAKE_GUEST: u32 = 0;

/// Error codes of [`Class::Error`] frames (upstream's `enum rumpsp_err`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Not authorised (also: a request before the handshake).
    Authentication = 2,
    /// The server does not serve this request.
    MalformedRequest = 7,
}

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Length of the whole frame, header included.
    pub length: u64,
    /// Request number the reply carries back.
    pub request: u64,
    /// Request, reply or error.
    pub class: Class,
    /// The request kind (meaningless for errors).
    pub kind: Option<Kind>,
    /// System call number, handshake kind, error code or signal number.
    pub word: u32,
}

/// Why a header from a peer cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The class is none of request, reply, error.
    UnknownClass(u16),
    /// The length is shorter than a header or longer than [`BODY_LIMIT`] allows.
    BadLength(u64),
}

impl Header {
    /// A header for a frame with `body_length` bytes after it.
    pub fn new(class: Class, kind: Kind, request: u64, word: u32, body_length: usize) -> Header {
        Header {
            length: (HEADER_LENGTH + body_length) as u64,
            request,
            class,
            kind: Some(kind),
            word,
        }
    }

    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LENGTH] {
        let mut bytes = [0u8; HEADER_LENGTH];
        bytes[0..8].copy_from_slice(&self.length.to_ne_bytes());
        bytes[8..16].copy_from_slice(&self.request.to_ne_bytes());
        bytes[16..18].copy_from_slice(&(self.class as u16).to_ne_bytes());
        bytes[18..20].copy_from_slice(&self.kind.map_or(0u16, |kind| kind as u16).to_ne_bytes());
        bytes[20..24].copy_from_slice(&self.word.to_ne_bytes());
        bytes
    }

    /// Reads a header from a peer.
    pub fn decode(bytes: &[u8; HEADER_LENGTH]) -> Result<Header, HeaderError> {
        let word64 = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let word16 = |at: usize| u16::from_ne_bytes([bytes[at], bytes[at + 1]]);
        let length = word64(0);
        let class = match word16(16) {
            0 => Class::Request,
            1 => Class::Response,
            2 => Class::Error,
            other => return Err(HeaderError::UnknownClass(other)),
        };
        if length < HEADER_LENGTH as u64 || length - HEADER_LENGTH as u64 > BODY_LIMIT as u64 {
            return Err(HeaderError::BadLength(length));
        }
        Ok(Header {
            length,
            request: word64(8),
            class,
            kind: Kind::from_raw(word16(18)),
            word: u32::from_ne_bytes(bytes[20..24].try_into().unwrap_or([0; 4])),
        })
    }

    /// Bytes of body that follow the header.
    pub fn body_length(&self) -> usize {
        (self.length - HEADER_LENGTH as u64) as usize
    }
}

/// The banner the server sends first: `RUMPSP-<major>.<minor>-<ostype>-<osrelease>/<machine>\n`,
/// cut to [`BANNER_LIMIT`] bytes with the newline kept.
pub fn banner(ostype: &str, osrelease: &str, machine: &str) -> Vec<u8> {
    let mut text =
        alloc::format!("RUMPSP-{VERSION_MAJOR}.{VERSION_MINOR}-{ostype}-{osrelease}/{machine}")
            .into_bytes();
    text.truncate(BANNER_LIMIT - 2);
    text.push(b'\n');
    text
}

/// Body of a copy request: length, then the client address.
pub fn copy_request_body(length: usize, client_address: usize) -> [u8; 16] {
    let mut body = [0u8; 16];
    body[0..8].copy_from_slice(&(length as u64).to_ne_bytes());
    body[8..16].copy_from_slice(&(client_address as u64).to_ne_bytes());
    body
}

/// Body of a system call reply: error, padding, two return values.
pub fn system_call_reply_body(error: i32, values: [i64; 2]) -> [u8; 24] {
    let mut body = [0u8; 24];
    body[0..4].copy_from_slice(&error.to_ne_bytes());
    body[8..16].copy_from_slice(&values[0].to_ne_bytes());
    body[16..24].copy_from_slice(&values[1].to_ne_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_with_upstream_layout() {
        let header = Header::new(Class::Request, Kind::CopyInString, 7, 0, 16);
        let bytes = header.encode();
        assert_eq!(&bytes[0..8], &40u64.to_ne_bytes());
        assert_eq!(&bytes[8..16], &7u64.to_ne_bytes());
        assert_eq!(&bytes[16..20], &[0, 0, 3, 0]);
        assert_eq!(Header::decode(&bytes), Ok(header));
        assert_eq!(header.body_length(), 16);
    }

    #[test]
    fn hostile_headers_are_refused() {
        let mut bytes = Header::new(Class::Request, Kind::SystemCall, 1, 20, 0).encode();
        bytes[16] = 9;
        assert_eq!(Header::decode(&bytes), Err(HeaderError::UnknownClass(9)));
        let mut short = Header::new(Class::Request, Kind::SystemCall, 1, 20, 0).encode();
        short[0..8].copy_from_slice(&3u64.to_ne_bytes());
        assert_eq!(Header::decode(&short), Err(HeaderError::BadLength(3)));
        let mut huge = short;
        huge[0..8].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert_eq!(Header::decode(&huge), Err(HeaderError::BadLength(u64::MAX)));
    }

    #[test]
    fn banner_has_upstream_form_and_limit() {
        assert_eq!(
            banner("NetBSD", "7.99.34", "amd64"),
            b"RUMPSP-0.4-NetBSD-7.99.34/amd64\n"
        );
        let long = banner(&"x".repeat(200), "1", "m");
        assert_eq!(long.len(), BANNER_LIMIT - 1);
        assert_eq!(long.last(), Some(&b'\n'));
    }

    #[test]
    fn reply_bodies_have_upstream_layout() {
        let body = system_call_reply_body(2, [-1, 5]);
        assert_eq!(&body[0..4], &2i32.to_ne_bytes());
        assert_eq!(&body[8..16], &(-1i64).to_ne_bytes());
        assert_eq!(&body[16..24], &5i64.to_ne_bytes());
        let copy = copy_request_body(3, 0x1000);
        assert_eq!(&copy[0..8], &3u64.to_ne_bytes());
        assert_eq!(&copy[8..16], &0x1000u64.to_ne_bytes());
    }
}
