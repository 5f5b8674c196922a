//! Parse, then dispatch: the raw words of a system call become a typed [`Request`]
//! before any handler runs.
//!
//! Each argument is checked here against the ABI's layout and limits: the call number
//! is known, descriptor numbers lie inside the table, rights words name only defined
//! rights, and every (address, length) pair is a [`UserRange`] that lies wholly in the
//! user half of the address space and is no longer than its kind allows. Whether the
//! memory is mapped is the platform's question, asked when the range is read. This
//! module never reads memory.

use ethos_abi::arguments::{
    MAXIMUM_BLOCK_EVENTS, MAXIMUM_FD_SEND, MAXIMUM_NAME_LENGTH, MAXIMUM_PRINT_LENGTH,
    MAXIMUM_RANDOM_SIZE, MAXIMUM_VALUE_SIZE, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, USER_SPACE_END,
};
use ethos_abi::{Call, DescriptorNumber, DescriptorRights, EventId, ProcessId, Status};

use super::events::Instant;

/// A range of a program's memory, as the program alleged it: checked for overflow, for
/// staying below [`USER_SPACE_END`] and for length, never for being mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserRange {
    address: u64,
    length: u64,
}

impl UserRange {
    /// The range `[address, address + length)` if it is at most `maximum` long and lies
    /// in user space. An empty range needs no valid address.
    pub fn new(address: u64, length: u64, maximum: u64) -> Result<UserRange, Status> {
        if length > maximum {
            return Err(Status::InvalidArgument);
        }
        if length == 0 {
            return Ok(UserRange { address: 0, length });
        }
        let end = address.checked_add(length).ok_or(Status::InvalidArgument)?;
        if end > USER_SPACE_END {
            return Err(Status::InvalidArgument);
        }
        Ok(UserRange { address, length })
    }

    /// Where the range starts.
    pub fn address(self) -> u64 {
        self.address
    }

    /// How many bytes it covers.
    pub fn length(self) -> u64 {
        self.length
    }
}

/// A system call with checked arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `advertise(service)`.
    Advertise { service: UserRange },
    /// `import(listening)`.
    Import { listening: DescriptorNumber },
    /// `ipc(service, host, first_value)`.
    Ipc {
        service: UserRange,
        host: UserRange,
        first_value: UserRange,
    },
    /// `read(descriptor)`.
    Read { descriptor: DescriptorNumber },
    /// `write(descriptor, value)`.
    Write {
        descriptor: DescriptorNumber,
        value: UserRange,
    },
    /// `peek(descriptor)`.
    Peek { descriptor: DescriptorNumber },
    /// `readVar(directory, name)`.
    ReadVar {
        directory: DescriptorNumber,
        name: UserRange,
    },
    /// `writeVar(directory, name, value)`.
    WriteVar {
        directory: DescriptorNumber,
        name: UserRange,
        value: UserRange,
    },
    /// `createDirectory(directory, name, label, type_hash)`.
    CreateDirectory {
        directory: DescriptorNumber,
        name: UserRange,
        label: UserRange,
        type_hash: UserRange,
    },
    /// `openDirectory(directory, name)`.
    OpenDirectory {
        directory: DescriptorNumber,
        name: UserRange,
    },
    /// `getNextName(directory, name, buffer)`.
    GetNextName {
        directory: DescriptorNumber,
        name: UserRange,
        buffer: UserRange,
    },
    /// `fileInformation(directory, name, buffer)`.
    FileInformation {
        directory: DescriptorNumber,
        name: UserRange,
        buffer: UserRange,
    },
    /// `removeDirectoryOrFile(directory, name)`.
    RemoveDirectoryOrFile {
        directory: DescriptorNumber,
        name: UserRange,
    },
    /// `fdSend(descriptors, user, program)`; `descriptors` holds `u32` numbers.
    FdSend {
        descriptors: UserRange,
        user: UserRange,
        program: UserRange,
    },
    /// `fdReceive()`.
    FdReceive,
    /// `close(descriptor)`.
    Close { descriptor: DescriptorNumber },
    /// `copyFd(descriptor, rights)`.
    CopyFd {
        descriptor: DescriptorNumber,
        rights: DescriptorRights,
    },
    /// `fork()`.
    Fork,
    /// `exec(directory, name)`.
    Exec {
        directory: DescriptorNumber,
        name: UserRange,
    },
    /// `exit(status)`.
    Exit { status: i32 },
    /// `kill(process)`.
    Kill { process: ProcessId },
    /// `getPid()`.
    GetPid,
    /// `getUser(buffer)`.
    GetUser { buffer: UserRange },
    /// `getTime()`.
    GetTime,
    /// `beep(deadline)`.
    Beep { deadline: Instant },
    /// `random(size)`.
    Random { size: u64 },
    /// `print(text)`.
    Print { text: UserRange },
    /// `block(events)`; `events` holds `u64` ids.
    Block { events: UserRange },
    /// `retire(event, buffer)`.
    Retire { event: EventId, buffer: UserRange },
    /// `blockAndRetire(event, buffer)`.
    BlockAndRetire { event: EventId, buffer: UserRange },
    /// `writeRead(descriptor, value, buffer)`.
    WriteRead {
        descriptor: DescriptorNumber,
        value: UserRange,
        buffer: UserRange,
    },
    /// `cancel(event)`.
    Cancel { event: EventId },
    /// `sign(value)`.
    Sign { value: UserRange },
    /// `signFile(directory, name)`.
    SignFile {
        directory: DescriptorNumber,
        name: UserRange,
    },
    /// `authenticate(public_key, value, signature)`; the key is 32 bytes, the
    /// signature 64.
    Authenticate {
        public_key: UserRange,
        value: UserRange,
        signature: UserRange,
    },
}

fn descriptor(word: u64) -> Result<DescriptorNumber, Status> {
    DescriptorNumber::new(word).map_err(|_| Status::InvalidArgument)
}

fn name(address: u64, length: u64) -> Result<UserRange, Status> {
    UserRange::new(address, length, MAXIMUM_NAME_LENGTH)
}

fn value(address: u64, length: u64) -> Result<UserRange, Status> {
    UserRange::new(address, length, MAXIMUM_VALUE_SIZE)
}

impl Request {
    /// Checks the call number in `rax` and the argument registers
    /// `[rdi, rsi, rdx, r10, r8, r9]`.
    #[inline]
    pub fn parse(number: u64, arguments: [u64; 6]) -> Result<Request, Status> {
        let number = u32::try_from(number).map_err(|_| Status::UnknownCall)?;
        let call = Call::try_from(number).map_err(|_| Status::UnknownCall)?;
        let [a, b, c, d, e, f] = arguments;
        let request = match call {
            Call::Advertise => Request::Advertise {
                service: name(a, b)?,
            },
            Call::Import => Request::Import {
                listening: descriptor(a)?,
            },
            Call::Ipc => Request::Ipc {
                service: name(a, b)?,
                host: name(c, d)?,
                first_value: value(e, f)?,
            },
            Call::Read => Request::Read {
                descriptor: descriptor(a)?,
            },
            Call::Write => Request::Write {
                descriptor: descriptor(a)?,
                value: value(b, c)?,
            },
            Call::Peek => Request::Peek {
                descriptor: descriptor(a)?,
            },
            Call::ReadVar => Request::ReadVar {
                directory: descriptor(a)?,
                name: name(b, c)?,
            },
            Call::WriteVar => Request::WriteVar {
                directory: descriptor(a)?,
                name: name(b, c)?,
                value: value(d, e)?,
            },
            Call::CreateDirectory => Request::CreateDirectory {
                directory: descriptor(a)?,
                name: name(b, c)?,
                label: name(d, e)?,
                type_hash: UserRange::new(f, 64, 64)?,
            },
            Call::OpenDirectory => Request::OpenDirectory {
                directory: descriptor(a)?,
                name: name(b, c)?,
            },
            Call::GetNextName => Request::GetNextName {
                directory: descriptor(a)?,
                name: name(b, c)?,
                buffer: value(d, e)?,
            },
            Call::FileInformation => Request::FileInformation {
                directory: descriptor(a)?,
                name: name(b, c)?,
                buffer: value(d, e)?,
            },
            Call::RemoveDirectoryOrFile => Request::RemoveDirectoryOrFile {
                directory: descriptor(a)?,
                name: name(b, c)?,
            },
            Call::FdSend => {
                if b == 0 || b > MAXIMUM_FD_SEND {
                    return Err(Status::InvalidArgument);
                }
                Request::FdSend {
                    descriptors: UserRange::new(a, b * 4, MAXIMUM_FD_SEND * 4)?,
                    user: name(c, d)?,
                    program: name(e, f)?,
                }
            }
            Call::FdReceive => Request::FdReceive,
            Call::Close => Request::Close {
                descriptor: descriptor(a)?,
            },
            Call::CopyFd => Request::CopyFd {
                descriptor: descriptor(a)?,
                rights: DescriptorRights::from_bits(b).map_err(|_| Status::InvalidArgument)?,
            },
            Call::Fork => Request::Fork,
            Call::Exec => Request::Exec {
                directory: descriptor(a)?,
                name: name(b, c)?,
            },
            // The status is the low 32 bits, as a program's `i32` exit status.
            Call::Exit => Request::Exit {
                status: i32::from_ne_bytes((a as u32).to_ne_bytes()),
            },
            Call::Kill => {
                if a == 0 {
                    return Err(Status::InvalidArgument);
                }
                Request::Kill {
                    process: ProcessId(a),
                }
            }
            Call::GetPid => Request::GetPid,
            Call::GetUser => Request::GetUser {
                buffer: name(a, b)?,
            },
            Call::GetTime => Request::GetTime,
            Call::Beep => Request::Beep {
                deadline: Instant(a),
            },
            Call::Random => {
                if a == 0 || a > MAXIMUM_RANDOM_SIZE {
                    return Err(Status::InvalidArgument);
                }
                Request::Random { size: a }
            }
            Call::Print => Request::Print {
                text: UserRange::new(a, b, MAXIMUM_PRINT_LENGTH)?,
            },
            Call::Block => {
                if b == 0 || b > MAXIMUM_BLOCK_EVENTS {
                    return Err(Status::InvalidArgument);
                }
                Request::Block {
                    events: UserRange::new(a, b * 8, MAXIMUM_BLOCK_EVENTS * 8)?,
                }
            }
            Call::Retire => Request::Retire {
                event: event(a)?,
                buffer: value(b, c)?,
            },
            Call::BlockAndRetire => Request::parse_block_and_retire(arguments)?,
            Call::WriteRead => Request::WriteRead {
                descriptor: descriptor(a)?,
                value: value(b, c)?,
                buffer: value(d, e)?,
            },
            Call::Cancel => Request::Cancel { event: event(a)? },
            Call::Sign => Request::Sign {
                value: value(a, b)?,
            },
            Call::SignFile => Request::SignFile {
                directory: descriptor(a)?,
                name: name(b, c)?,
            },
            Call::Authenticate => Request::Authenticate {
                public_key: UserRange::new(a, PUBLIC_KEY_LENGTH, PUBLIC_KEY_LENGTH)?,
                value: value(b, c)?,
                signature: UserRange::new(d, SIGNATURE_LENGTH, SIGNATURE_LENGTH)?,
            },
        };
        Ok(request)
    }
}

impl Request {
    /// The arguments of `blockAndRetire`, checked as [`Request::parse`] checks them.
    #[inline]
    pub fn parse_block_and_retire(arguments: [u64; 6]) -> Result<Request, Status> {
        let [a, b, c, ..] = arguments;
        Ok(Request::BlockAndRetire {
            event: event(a)?,
            buffer: value(b, c)?,
        })
    }
}

fn event(word: u64) -> Result<EventId, Status> {
    if word == 0 {
        return Err(Status::InvalidArgument);
    }
    Ok(EventId(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_must_stay_in_user_space() {
        assert!(UserRange::new(0x1000, 16, 255).is_ok());
        assert_eq!(UserRange::new(0, 0, 255).map(UserRange::length), Ok(0));
        assert_eq!(
            UserRange::new(USER_SPACE_END - 8, 16, 255),
            Err(Status::InvalidArgument)
        );
        assert_eq!(
            UserRange::new(u64::MAX - 3, 8, 255),
            Err(Status::InvalidArgument)
        );
        assert_eq!(
            UserRange::new(0x1000, 256, 255),
            Err(Status::InvalidArgument)
        );
        assert!(UserRange::new(USER_SPACE_END - 16, 16, 255).is_ok());
    }

    #[test]
    fn unknown_numbers_never_reach_a_handler() {
        assert_eq!(Request::parse(0, [0; 6]), Err(Status::UnknownCall));
        assert_eq!(Request::parse(36, [0; 6]), Err(Status::UnknownCall));
        assert_eq!(
            Request::parse(1 << 32 | 4, [0; 6]),
            Err(Status::UnknownCall)
        );
    }

    #[test]
    fn every_call_parses_with_small_valid_words() {
        // Descriptor 5, three-byte ranges at address 3, rights READ | WRITE, three
        // events or descriptors: in range for every call.
        let words = [5, 3, 3, 3, 3, 3];
        for call in Call::ALL {
            let parsed = Request::parse(u64::from(call.number()), words);
            assert!(parsed.is_ok(), "{call}: {parsed:?}");
        }
    }
}
