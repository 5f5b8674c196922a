//! The Ethos system calls and their numbers.
//!
//! A program puts the number in `rax` and the arguments in `rdi, rsi, rdx, r10, r8, r9`
//! (see [`crate::arguments`] for what each call expects there). Numbers start at 1 so
//! that a zeroed register is never a call. Numbers are never reused: a call that goes
//! away leaves a gap. Every call is on the design's list or on original Ethos's
//! (`include/nano/syscall.h`); [`Call::BlockAndRetire`] is the one from the latter,
//! and says why it is here. [`Call::WriteRead`] is on neither list, and says why it
//! is here.

use core::fmt;

/// One Ethos system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum Call {
    /// Publish a typed service and get its listening descriptor.
    Advertise = 1,
    /// Accept a connection on a listening descriptor (event: connection and client user).
    Import = 2,
    /// Connect to a service, carrying the first value (event: the connection).
    Ipc = 3,
    /// Read one typed value from a descriptor (event: the value).
    Read = 4,
    /// Write one typed value to a descriptor.
    Write = 5,
    /// Read one typed value without consuming it (event: the value).
    Peek = 6,
    /// Read a whole file in a directory (event: the value).
    ReadVar = 7,
    /// Write a whole file in a directory (event: completion).
    WriteVar = 8,
    /// Create a directory with a label and a type.
    CreateDirectory = 9,
    /// Open a directory by name.
    OpenDirectory = 10,
    /// The next name in a directory.
    GetNextName = 11,
    /// Metadata of a file, including its type hash.
    FileInformation = 12,
    /// Remove a file or an empty directory.
    RemoveDirectoryOrFile = 13,
    /// Queue descriptors for the virtual process named (user, program).
    FdSend = 14,
    /// Collect descriptors sent to this process's virtual process (event: descriptors).
    FdReceive = 15,
    /// Close a descriptor.
    Close = 16,
    /// Copy a descriptor, optionally with fewer rights.
    CopyFd = 17,
    /// Create a child process.
    Fork = 18,
    /// Replace the program image.
    Exec = 19,
    /// End the calling process.
    Exit = 20,
    /// End another process.
    Kill = 21,
    /// The calling process's identifier.
    GetPid = 22,
    /// The name of the calling process's user.
    GetUser = 23,
    /// The kernel clock in nanoseconds.
    GetTime = 24,
    /// A timer (event: completes at the deadline).
    Beep = 25,
    /// Kernel randomness (event: the bytes).
    Random = 26,
    /// Write text to the console log.
    Print = 27,
    /// Wait for the first completed event of a set.
    Block = 28,
    /// Collect the result of a completed event.
    Retire = 29,
    /// Drop an event, pending or completed.
    Cancel = 30,
    /// Sign a value with the calling process's user's kernel-held key (event: the
    /// signature and the user's public key). The key never leaves the kernel; a
    /// user whose key this host does not hold cannot sign (`not-authorized`).
    /// [`Call::SignFile`] signs a file.
    Sign = 31,
    /// Check that a signature over a value was made by the user whose public key is
    /// given: answers at once, success or `invalid-authentication`.
    Authenticate = 32,
    /// Wait for one event to complete, then collect its result: `block` on that
    /// event followed by `retire`, in one entry into the kernel.
    ///
    /// Why it is here: original Ethos has it (`blockAndRetire`, beside `block` and
    /// `retire`), and every blocking helper makes exactly this pair. A blocking
    /// read is then `read` and `blockAndRetire`, two entries rather than three;
    /// when the event had not completed, the kernel's re-run of the parked call
    /// after the wake writes the result at once, so the woken program does not
    /// enter the kernel again to collect it. It answers as `retire` would after a
    /// `block` that answered the event: a too-small buffer leaves the event
    /// completed (`BufferTooSmall`, collect it with `retire`), and so does a buffer
    /// the caller may not write (`InvalidArgument`); either failure answers the
    /// event's id in the value register, which [`Call::WriteRead`] needs.
    BlockAndRetire = 33,
    /// Sign the file `name` in a directory with the calling process's user's
    /// kernel-held key (event: the signature and the user's public key, as
    /// [`Call::Sign`] answers): the signature is over the file's value, exactly as
    /// `sign` of that value would make it, so `authenticate` checks it against the
    /// value `readVar` gives.
    ///
    /// Why it is here: original Ethos's `sign` names a file in a directory
    /// (`sign(dirFd, fileName)`); this kernel's [`Call::Sign`] signs a value a
    /// program holds, which is what values on connections need. `signFile` is
    /// Ethos's `sign`: the kernel reads the file itself, under the same checks as
    /// `readVar` (the descriptor's `read` right, the `read` label right, the
    /// directory's type), so a program signs what is stored, not a copy it could
    /// have changed, and no value crosses into the program and back.
    SignFile = 34,
    /// Write one typed value to a connection, then wait for the next value on it and
    /// collect it: `write`, `read` and `blockAndRetire` on that read, in one entry
    /// into the kernel. It answers as `write` would when the write is refused
    /// (nothing is sent and nothing read), and otherwise as `blockAndRetire` on the
    /// read would: the length of the value in the buffer, or `BufferTooSmall` with
    /// the read's event, completed and kept, in the value register, for `retire` to
    /// collect. Everything that could refuse the read (the descriptor's `read`
    /// right, room for one more event, and the caller's kernel-memory limit, with
    /// the written value counted as held) is checked before the value is sent, so
    /// the call either sends and reads or does neither.
    ///
    /// Why it is here: a request and its reply, the round trip of every typed RPC,
    /// took a client `write`, `read` and `blockAndRetire`, and a server the same
    /// three for each reply and the next request: six entries into the kernel for
    /// two messages. With `writeRead` it is one entry on each side, the pair
    /// L4's `call` and `reply-and-wait` make, and the round trip's cost is mostly
    /// the two messages' own work. Nothing a program can do changes: it is the
    /// three calls, made by the kernel without returning to the program between
    /// them.
    WriteRead = 35,
}

/// A number in `rax` that names no call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCall(pub u32);

impl fmt::Display for UnknownCall {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} is not a system call number", self.0)
    }
}

impl Call {
    /// Every call, in number order.
    pub const ALL: [Call; 35] = [
        Call::Advertise,
        Call::Import,
        Call::Ipc,
        Call::Read,
        Call::Write,
        Call::Peek,
        Call::ReadVar,
        Call::WriteVar,
        Call::CreateDirectory,
        Call::OpenDirectory,
        Call::GetNextName,
        Call::FileInformation,
        Call::RemoveDirectoryOrFile,
        Call::FdSend,
        Call::FdReceive,
        Call::Close,
        Call::CopyFd,
        Call::Fork,
        Call::Exec,
        Call::Exit,
        Call::Kill,
        Call::GetPid,
        Call::GetUser,
        Call::GetTime,
        Call::Beep,
        Call::Random,
        Call::Print,
        Call::Block,
        Call::Retire,
        Call::Cancel,
        Call::Sign,
        Call::Authenticate,
        Call::BlockAndRetire,
        Call::SignFile,
        Call::WriteRead,
    ];

    /// The number a program puts in `rax`.
    pub const fn number(self) -> u32 {
        self as u32
    }

    /// The call's name as Ethos spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Call::Advertise => "advertise",
            Call::Import => "import",
            Call::Ipc => "ipc",
            Call::Read => "read",
            Call::Write => "write",
            Call::Peek => "peek",
            Call::ReadVar => "readVar",
            Call::WriteVar => "writeVar",
            Call::CreateDirectory => "createDirectory",
            Call::OpenDirectory => "openDirectory",
            Call::GetNextName => "getNextName",
            Call::FileInformation => "fileInformation",
            Call::RemoveDirectoryOrFile => "removeDirectoryOrFile",
            Call::FdSend => "fdSend",
            Call::FdReceive => "fdReceive",
            Call::Close => "close",
            Call::CopyFd => "copyFd",
            Call::Fork => "fork",
            Call::Exec => "exec",
            Call::Exit => "exit",
            Call::Kill => "kill",
            Call::GetPid => "getPid",
            Call::GetUser => "getUser",
            Call::GetTime => "getTime",
            Call::Beep => "beep",
            Call::Random => "random",
            Call::Print => "print",
            Call::Block => "block",
            Call::Retire => "retire",
            Call::Cancel => "cancel",
            Call::Sign => "sign",
            Call::Authenticate => "authenticate",
            Call::BlockAndRetire => "blockAndRetire",
            Call::SignFile => "signFile",
            Call::WriteRead => "writeRead",
        }
    }

    /// Whether the call may block: such a call returns an event id in the value
    /// register, and its result is collected with [`Call::Retire`].
    pub const fn returns_event(self) -> bool {
        matches!(
            self,
            Call::Import
                | Call::Ipc
                | Call::Read
                | Call::Peek
                | Call::ReadVar
                | Call::WriteVar
                | Call::FdReceive
                | Call::Beep
                | Call::Random
                | Call::Sign
                | Call::SignFile
        )
    }
}

impl TryFrom<u32> for Call {
    type Error = UnknownCall;

    fn try_from(number: u32) -> Result<Self, Self::Error> {
        // Numbers are dense from 1, so the table index is the number minus one.
        let index = usize::try_from(number)
            .ok()
            .and_then(|number| number.checked_sub(1))
            .ok_or(UnknownCall(number))?;
        Call::ALL.get(index).copied().ok_or(UnknownCall(number))
    }
}

impl fmt::Display for Call {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_are_dense() {
        for (index, call) in Call::ALL.into_iter().enumerate() {
            assert_eq!(call.number() as usize, index + 1, "{call} is out of order");
            assert_eq!(Call::try_from(call.number()), Ok(call));
        }
    }

    #[test]
    fn numbers_outside_the_set_are_refused() {
        for number in [0, 36, 37, 1000, u32::MAX] {
            assert_eq!(Call::try_from(number), Err(UnknownCall(number)));
        }
    }

    #[test]
    fn names_are_distinct() {
        for (index, call) in Call::ALL.into_iter().enumerate() {
            for other in &Call::ALL[index + 1..] {
                assert_ne!(call.name(), other.name());
            }
        }
    }

    #[test]
    fn the_asynchronous_calls_are_those_that_may_wait() {
        assert!(Call::Read.returns_event());
        assert!(Call::Beep.returns_event());
        assert!(!Call::Write.returns_event());
        assert!(!Call::Block.returns_event());
        assert!(!Call::Retire.returns_event());
        assert!(!Call::BlockAndRetire.returns_event());
        assert!(!Call::WriteRead.returns_event());
        assert!(Call::Sign.returns_event());
        assert!(!Call::Authenticate.returns_event());
    }
}
