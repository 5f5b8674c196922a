//! Argument layouts: what each call expects in its argument registers, the limits the
//! kernel checks them against, and how `retire` lays out each call's result.
//!
//! Registers, in order: `rdi, rsi, rdx, r10, r8, r9`. A name, a value or a buffer is an
//! (address, length) pair; names are UTF-8. The kernel turns these words into a typed
//! request, checking every one, before any handler runs; this module only describes
//! them and never touches memory.

use crate::call::Call;

/// Longest user, program, service, host or file name, in bytes.
pub const MAXIMUM_NAME_LENGTH: u64 = 255;
/// Largest value a call may carry or return, in bytes (files, messages, objects).
/// A service may set a lower maximum for the values on its connections (the image
/// description's `maximum_value`); a larger value is refused with `invalid-argument`.
/// A value the kernel holds also counts against its process's kernel memory limit
/// ([`DEFAULT_PROCESS_KERNEL_MEMORY`]), which on a kernel whose heap is at most
/// 64 MiB is at most 16 MiB: there a value of more is refused with `limit-reached`.
pub const MAXIMUM_VALUE_SIZE: u64 = 32 << 20;
/// Longest text one `print` may carry, in bytes: a call's work stays short, so one
/// program's output cannot hold the machine.
pub const MAXIMUM_PRINT_LENGTH: u64 = 64 << 10;
/// Most bytes one `random` may ask for. The kernel generates them while the call
/// runs, which is work proportional to the size: 32 MiB took 2.7 s of the machine
/// under emulation, 1 MiB takes under a tenth of that, as long as a maximal `print`.
/// More randomness takes more calls.
pub const MAXIMUM_RANDOM_SIZE: u64 = 1 << 20;
/// Length of a user's public key (an X25519 u-coordinate), as `authenticate` reads it.
pub const PUBLIC_KEY_LENGTH: u64 = 32;
/// Length of a signature, as `sign` makes it and `authenticate` reads it.
pub const SIGNATURE_LENGTH: u64 = 64;
/// The context every value signature binds, before the signer's public key and the
/// value: the kernel signs and verifies `context || public key || value`, so that a
/// signature over a value can never pass for a signature over anything else.
pub const VALUE_SIGNATURE_CONTEXT: &[u8] = b"ethos value signature v1";
/// Descriptors per process; numbers run from 0 to one less than this.
pub const DESCRIPTOR_TABLE_SIZE: u32 = 1024;
/// Most events one `block` may wait on.
pub const MAXIMUM_BLOCK_EVENTS: u64 = 64;
/// Most descriptors one `fdSend` may carry.
pub const MAXIMUM_FD_SEND: u64 = 16;
/// Most events a process may hold at once, pending or completed.
pub const MAXIMUM_EVENTS: usize = 4096;
/// Kernel memory a process may hold on its behalf, in bytes, unless the image
/// description gives another limit: its events (each [`EVENT_KERNEL_BYTES`] plus the
/// value an outcome holds until it is retired), the values it queued that no reader
/// has taken yet, and the descriptors it sent that no process has received yet (each
/// [`DESCRIPTOR_IN_FLIGHT_BYTES`]). A request that would pass it is refused with
/// `limit-reached`; what is held is released when it is consumed, cancelled, or the
/// process ends. A kernel with a bounded heap lowers the limit to a quarter of its
/// heap when it is more, and logs both figures at boot, so that no process can fill
/// the heap the others need.
pub const DEFAULT_PROCESS_KERNEL_MEMORY: usize = 64 << 20;
/// The least per-process kernel memory limit an image may set: room for a few
/// events and a page of values, so every process can make progress.
pub const MINIMUM_PROCESS_KERNEL_MEMORY: usize = 16 * 1024;
/// Memory the rump kernel may use (NetBSD's `RUMP_MEMLIMIT`), in bytes, unless the
/// image description gives another: NetBSD's page daemon keeps its pools and caches
/// within it.
pub const DEFAULT_RUMP_KERNEL_MEMORY: u64 = 32 << 20;
/// The least rump kernel memory an image may set: NetBSD's boot needs a few MiB.
pub const MINIMUM_RUMP_KERNEL_MEMORY: u64 = 8 << 20;
/// What one event counts against its process's kernel memory, before any value.
pub const EVENT_KERNEL_BYTES: usize = 128;
/// What one descriptor in flight (sent, not yet received) counts against its sender.
pub const DESCRIPTOR_IN_FLIGHT_BYTES: usize = 64;
/// The first address a program may not name: the end of the lower canonical half.
pub const USER_SPACE_END: u64 = 0x0000_8000_0000_0000;

/// Descriptor numbers that a process is given at start and that `copyFd` never hands
/// out: the only ambient authority a process has.
pub mod reserved {
    /// The root directory.
    pub const ROOT_DIRECTORY: u32 = 1;
    /// The current directory.
    pub const CURRENT_DIRECTORY: u32 = 2;
    /// The environment directory.
    pub const ENVIRONMENT: u32 = 3;
    /// The argument directory.
    pub const ARGUMENTS: u32 = 4;
    /// The first number that is never reserved.
    pub const FIRST_FREE: u32 = 5;
}

/// What one argument register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Argument {
    /// A descriptor number below [`DESCRIPTOR_TABLE_SIZE`].
    Descriptor,
    /// The address of a UTF-8 name; the next register is its length (≤ [`MAXIMUM_NAME_LENGTH`]).
    NameAddress,
    /// The length of the name before it.
    NameLength,
    /// The address of a value; the next register is its length (≤ [`MAXIMUM_VALUE_SIZE`]).
    ValueAddress,
    /// The length of the value before it.
    ValueLength,
    /// The address of a buffer the kernel writes; the next register is its length.
    BufferAddress,
    /// The length of the buffer before it.
    BufferLength,
    /// The address of an array of `u32` descriptor numbers; the next register counts them.
    DescriptorsAddress,
    /// How many descriptors the array before it holds (≤ [`MAXIMUM_FD_SEND`]).
    DescriptorCount,
    /// The address of an array of `u64` event ids; the next register counts them.
    EventsAddress,
    /// How many events the array before it holds (1 to [`MAXIMUM_BLOCK_EVENTS`]).
    EventCount,
    /// An event id returned by an earlier call.
    Event,
    /// The address of a 64-byte type hash.
    TypeHashAddress,
    /// A [`crate::DescriptorRights`] word.
    Rights,
    /// The address of a user's 32-byte public key ([`PUBLIC_KEY_LENGTH`]).
    PublicKeyAddress,
    /// The address of a 64-byte signature ([`SIGNATURE_LENGTH`]).
    SignatureAddress,
    /// A kernel clock time in nanoseconds.
    Time,
    /// A byte count for `random` (1 to [`MAXIMUM_RANDOM_SIZE`]).
    Size,
    /// A process identifier.
    Process,
    /// A program's exit status.
    ExitStatus,
}

/// The argument registers `call` reads, in order; registers past them are ignored.
pub const fn layout(call: Call) -> &'static [Argument] {
    use Argument::*;
    match call {
        Call::Advertise => &[NameAddress, NameLength],
        Call::Import => &[Descriptor],
        Call::Ipc => &[
            NameAddress,
            NameLength,
            NameAddress,
            NameLength,
            ValueAddress,
            ValueLength,
        ],
        Call::Read | Call::Peek => &[Descriptor],
        Call::Write => &[Descriptor, ValueAddress, ValueLength],
        Call::ReadVar => &[Descriptor, NameAddress, NameLength],
        Call::WriteVar => &[
            Descriptor,
            NameAddress,
            NameLength,
            ValueAddress,
            ValueLength,
        ],
        Call::CreateDirectory => &[
            Descriptor,
            NameAddress,
            NameLength,
            NameAddress,
            NameLength,
            TypeHashAddress,
        ],
        Call::OpenDirectory => &[Descriptor, NameAddress, NameLength],
        Call::GetNextName => &[
            Descriptor,
            NameAddress,
            NameLength,
            BufferAddress,
            BufferLength,
        ],
        Call::FileInformation => &[
            Descriptor,
            NameAddress,
            NameLength,
            BufferAddress,
            BufferLength,
        ],
        Call::RemoveDirectoryOrFile => &[Descriptor, NameAddress, NameLength],
        Call::FdSend => &[
            DescriptorsAddress,
            DescriptorCount,
            NameAddress,
            NameLength,
            NameAddress,
            NameLength,
        ],
        Call::FdReceive => &[],
        Call::Close => &[Descriptor],
        Call::CopyFd => &[Descriptor, Rights],
        Call::Fork => &[],
        Call::Exec => &[Descriptor, NameAddress, NameLength],
        Call::Exit => &[ExitStatus],
        Call::Kill => &[Process],
        Call::GetPid => &[],
        Call::GetUser => &[BufferAddress, BufferLength],
        Call::GetTime => &[],
        Call::Beep => &[Time],
        Call::Random => &[Size],
        Call::Print => &[ValueAddress, ValueLength],
        Call::Block => &[EventsAddress, EventCount],
        Call::Retire => &[Event, BufferAddress, BufferLength],
        Call::Cancel => &[Event],
        Call::Sign => &[ValueAddress, ValueLength],
        Call::SignFile => &[Descriptor, NameAddress, NameLength],
        Call::Authenticate => &[
            PublicKeyAddress,
            ValueAddress,
            ValueLength,
            SignatureAddress,
        ],
        Call::BlockAndRetire => &[Event, BufferAddress, BufferLength],
        Call::WriteRead => &[
            Descriptor,
            ValueAddress,
            ValueLength,
            BufferAddress,
            BufferLength,
        ],
    }
}

/// How `retire` lays out results in the caller's buffer; `rdx` holds the length used.
///
/// - `read`, `peek`, `readVar`, `random`: the bytes themselves.
/// - `sign`, `signFile`: the signature ([`SIGNATURE_LENGTH`] bytes), then the signing user's
///   public key ([`PUBLIC_KEY_LENGTH`] bytes): what `authenticate` needs besides the
///   value.
/// - `ipc`: the new connection's descriptor number, `u32` little-endian.
/// - `import`: the connection's descriptor number (`u32` LE), then the client user's
///   name in UTF-8 filling the rest.
/// - `fdReceive`: the received descriptor numbers, each `u32` LE.
/// - `beep`, `writeVar`: nothing (length 0).
///
/// Calls that answer at once write into the buffer they are given and answer its
/// length in `rdx`:
/// - `getNextName(directory, name, buffer)`: the first name in the directory after
///   `name` in byte order (after nothing, when `name` is empty), in UTF-8; length 0
///   past the last name.
/// - `fileInformation(directory, name, buffer)`: [`results::file_information`].
///
/// A call that completed with a failure (for example a read whose peer closed)
/// returns that status from `retire` and writes nothing.
pub mod results {
    /// Bytes of one descriptor number in a result.
    pub const DESCRIPTOR_BYTES: usize = 4;
    /// Bytes of a `sign` result: the signature, then the signer's public key.
    pub const SIGNED_BYTES: usize = (super::SIGNATURE_LENGTH + super::PUBLIC_KEY_LENGTH) as usize;

    /// The layout `fileInformation` writes, all numbers little-endian:
    ///
    /// | offset | bytes | field |
    /// |---|---|---|
    /// | 0 | 1 | kind: [`file_information::FILE`] or [`file_information::DIRECTORY`] |
    /// | 1 | 7 | zero |
    /// | 8 | 8 | size of a file's value in bytes (0 for a directory) |
    /// | 16 | 8 | created, nanoseconds since the Unix epoch |
    /// | 24 | 8 | last modified, nanoseconds since the Unix epoch |
    /// | 32 | 64 | type hash (a file's: its directory's) |
    /// | 96 | the rest | label in UTF-8 (a file's: its directory's) |
    pub mod file_information {
        /// The entry is a file.
        pub const FILE: u8 = 0;
        /// The entry is a directory.
        pub const DIRECTORY: u8 = 1;
        /// Where the size starts.
        pub const SIZE: usize = 8;
        /// Where the creation time starts.
        pub const CREATED: usize = 16;
        /// Where the modification time starts.
        pub const MODIFIED: usize = 24;
        /// Where the type hash starts.
        pub const TYPE_HASH: usize = 32;
        /// Where the label starts; the fixed part's length.
        pub const LABEL: usize = 96;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_fits_the_six_registers_and_pairs_lengths() {
        for call in Call::ALL {
            let arguments = layout(call);
            assert!(arguments.len() <= 6, "{call} takes too many registers");
            for (index, argument) in arguments.iter().enumerate() {
                let needs_length = match argument {
                    Argument::NameAddress => Some(Argument::NameLength),
                    Argument::ValueAddress => Some(Argument::ValueLength),
                    Argument::BufferAddress => Some(Argument::BufferLength),
                    Argument::DescriptorsAddress => Some(Argument::DescriptorCount),
                    Argument::EventsAddress => Some(Argument::EventCount),
                    _ => None,
                };
                if let Some(length) = needs_length {
                    assert_eq!(
                        arguments.get(index + 1),
                        Some(&length),
                        "{call}: argument {index} needs its length next"
                    );
                }
            }
        }
    }

    // Checked when the crate builds: a reserved number outside the table could never
    // be handed to a process.
    const _: () = assert!(reserved::FIRST_FREE < DESCRIPTOR_TABLE_SIZE);
}
