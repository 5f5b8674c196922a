//! Status codes: what every call returns in `rax`.
//!
//! A call returns its status in `rax` and, when the status is [`Status::Ok`], its value
//! (an event id, a descriptor, a length, a time) in `rdx`. Codes are stable numbers;
//! a code that goes away leaves a gap.

use core::fmt;

/// The outcome of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum Status {
    /// The call did what was asked.
    Ok = 0,
    /// The policy or the descriptor's rights do not allow this.
    NotAuthorized = 1,
    /// The bytes are not a value of the type the object carries.
    InvalidType = 2,
    /// An argument is out of range: a bad pointer, length, name or flag.
    InvalidArgument = 3,
    /// No object has this name, descriptor number or event id.
    NoSuchObject = 4,
    /// The result is not ready, or the peer cannot take more now; try again later.
    WouldBlock = 5,
    /// The number in `rax` names no call.
    UnknownCall = 6,
    /// The peer closed the connection.
    Closed = 7,
    /// A fixed-size table or queue (descriptors, events, messages) is full.
    LimitReached = 8,
    /// The name is already taken (a service advertised twice).
    AlreadyExists = 9,
    /// The result does not fit the buffer given to `retire`; the event stays completed.
    BufferTooSmall = 10,
    /// No tunnel to the named host could be created.
    TunnelNotCreated = 11,
    /// The descriptor names an object of another kind than the call works on.
    WrongObject = 12,
    /// The call is part of the contract, but this kernel has no subsystem for it yet.
    NotSupported = 13,
    /// The kernel has no memory for what the call asks now; nothing was done. A
    /// program may retry with less, or after it retired or cancelled events.
    NoMemory = 14,
    /// The signature was not made over this value by the user whose key was given.
    InvalidAuthentication = 15,
    /// The storage has no room for the value or directory; nothing was changed and
    /// nothing already written was lost.
    StorageFull = 16,
    /// The storage failed: the device reported an error, or what it holds does not
    /// match its checksums. Nothing was changed.
    StorageFailed = 17,
    /// The directory still holds names; only an empty one can be removed.
    DirectoryNotEmpty = 18,
}

impl Status {
    /// Every code, for tables and exhaustive tests.
    pub const ALL: [Status; 19] = [
        Status::Ok,
        Status::NotAuthorized,
        Status::InvalidType,
        Status::InvalidArgument,
        Status::NoSuchObject,
        Status::WouldBlock,
        Status::UnknownCall,
        Status::Closed,
        Status::LimitReached,
        Status::AlreadyExists,
        Status::BufferTooSmall,
        Status::TunnelNotCreated,
        Status::WrongObject,
        Status::NotSupported,
        Status::NoMemory,
        Status::InvalidAuthentication,
        Status::StorageFull,
        Status::StorageFailed,
        Status::DirectoryNotEmpty,
    ];

    /// The value the kernel puts in `rax`.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The status behind a code, if it is one.
    pub fn from_code(code: u64) -> Option<Status> {
        Self::ALL
            .into_iter()
            .find(|status| u64::from(status.code()) == code)
    }

    /// How a call's result travels back to the program: `(rax, rdx)`, the status code
    /// and the value. A failure carries the value 0, except one that keeps an event
    /// ([`Status::to_registers_keeping`]). [`Status::from_registers`] is the program's
    /// side of the same encoding.
    pub fn to_registers(result: Result<u64, Status>) -> (u64, u64) {
        match result {
            Ok(value) => (u64::from(Status::Ok.code()), value),
            Err(status) => (u64::from(status.code()), 0),
        }
    }

    /// The failure `self` of a call that collects a completed event into a buffer
    /// and could not (`blockAndRetire`, `writeRead`): the event stays completed, and
    /// its id (never 0) travels in the value register, for `retire`.
    pub fn to_registers_keeping(self, event: crate::EventId) -> (u64, u64) {
        (u64::from(self.code()), event.0)
    }

    /// The result a program reads from `rax` and `rdx`. A code this side does not know
    /// (a newer kernel's) reads as [`Status::NotSupported`]; [`Status::Ok`] itself is
    /// never an error.
    #[inline]
    pub fn from_registers(status: u64, value: u64) -> Result<u64, Status> {
        // Success first: it is nearly every answer.
        if status == u64::from(Status::Ok.code()) {
            return Ok(value);
        }
        match Status::from_code(status) {
            Some(Status::Ok) => Ok(value),
            Some(status) => Err(status),
            None => Err(Status::NotSupported),
        }
    }

    /// A sentence for logs and reports.
    pub const fn message(self) -> &'static str {
        match self {
            Status::Ok => "success",
            Status::NotAuthorized => "not authorized",
            Status::InvalidType => "value is not of the object's type",
            Status::InvalidArgument => "argument out of range",
            Status::NoSuchObject => "no such object",
            Status::WouldBlock => "not ready; the call would block",
            Status::UnknownCall => "no such system call",
            Status::Closed => "the peer closed the connection",
            Status::LimitReached => "a table or queue is full",
            Status::AlreadyExists => "the name is already taken",
            Status::BufferTooSmall => "the result does not fit the buffer",
            Status::TunnelNotCreated => "no tunnel to the host could be created",
            Status::WrongObject => "the descriptor names another kind of object",
            Status::NotSupported => "this kernel does not provide the call yet",
            Status::NoMemory => "the kernel has no memory for the request",
            Status::InvalidAuthentication => "the signature does not verify",
            Status::StorageFull => "the storage has no room for it",
            Status::StorageFailed => "the storage failed or holds damaged data",
            Status::DirectoryNotEmpty => "the directory is not empty",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for (index, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(status.code() as usize, index);
            assert_eq!(Status::from_code(u64::from(status.code())), Some(status));
        }
        assert_eq!(Status::from_code(19), None);
        assert_eq!(Status::from_code(u64::MAX), None);
    }

    #[test]
    fn success_is_zero() {
        assert_eq!(Status::Ok.code(), 0);
    }

    #[test]
    fn results_round_trip_through_registers() {
        for value in [0, 1, u64::MAX] {
            let (rax, rdx) = Status::to_registers(Ok(value));
            assert_eq!((rax, rdx), (0, value));
            assert_eq!(Status::from_registers(rax, rdx), Ok(value));
        }
        for status in Status::ALL.into_iter().skip(1) {
            let (rax, rdx) = Status::to_registers(Err(status));
            assert_eq!((rax, rdx), (u64::from(status.code()), 0));
            assert_eq!(Status::from_registers(rax, rdx), Err(status));
        }
        assert_eq!(Status::from_registers(19, 5), Err(Status::NotSupported));
    }
}
