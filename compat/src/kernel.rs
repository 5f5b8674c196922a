//! The one seam between this library and a kernel: a call with typed arguments in, the
//! two answer words out.
//!
//! Every function of the library builds its call's [`Argument`]s in the order
//! [`ethos_abi::arguments::layout`] gives and hands them to a [`Kernel`]. On Ethos the
//! kernel is the `syscall` instruction (the `syscall` module lowers the arguments to
//! the six registers with [`registers`]); on a host it is whatever the thread installed
//! with [`crate::host::install`]: a fake kernel in tests, or the hosted platform.
//! Keeping arguments typed until the last step lets host tests check every call's
//! marshalling against the ABI without touching raw memory. This module never reads
//! or writes through an address itself.

use ethos_abi::arguments::Argument as Register;
use ethos_abi::{Call, DescriptorRights, ProcessId, Status};

use crate::handles::{Descriptor, Event};

/// One argument of a call, typed; each lowers to the one or two registers the ABI
/// names in brackets.
#[derive(Debug)]
pub enum Argument<'a> {
    /// A descriptor number (`Descriptor`).
    Descriptor(Descriptor),
    /// A UTF-8 name the kernel reads (`NameAddress`, `NameLength`).
    Name(&'a str),
    /// A value the kernel reads (`ValueAddress`, `ValueLength`).
    Value(&'a [u8]),
    /// A buffer the kernel writes (`BufferAddress`, `BufferLength`).
    Buffer(&'a mut [u8]),
    /// Descriptor numbers the kernel reads (`DescriptorsAddress`, `DescriptorCount`).
    Descriptors(&'a [u32]),
    /// Event ids the kernel reads (`EventsAddress`, `EventCount`).
    Events(&'a [u64]),
    /// A 64-byte type hash the kernel reads (`TypeHashAddress`).
    TypeHash(&'a [u8; 64]),
    /// A user's 32-byte public key the kernel reads (`PublicKeyAddress`).
    PublicKey(&'a [u8; 32]),
    /// A 64-byte signature the kernel reads (`SignatureAddress`).
    Signature(&'a [u8; 64]),
    /// An event id (`Event`).
    Event(Event),
    /// Rights for a copied descriptor (`Rights`).
    Rights(DescriptorRights),
    /// A kernel clock time in nanoseconds (`Time`).
    Time(u64),
    /// A byte count (`Size`).
    Size(u64),
    /// A process identifier (`Process`).
    Process(ProcessId),
    /// An exit status (`ExitStatus`).
    ExitStatus(i32),
    /// A range no Rust object backs, in place of a value the kernel reads
    /// (`ValueAddress`, `ValueLength`): for programs that check the kernel's checks.
    UncheckedValue {
        /// The alleged address.
        address: u64,
        /// The alleged length.
        length: u64,
    },
    /// A range no Rust object backs, in place of a buffer the kernel writes
    /// (`BufferAddress`, `BufferLength`). Only [`crate::calls::get_user_unchecked`],
    /// an `unsafe` function, builds one.
    UncheckedBuffer {
        /// The alleged address.
        address: u64,
        /// The alleged length.
        length: u64,
    },
}

impl Argument<'_> {
    /// The registers this argument fills, as the ABI names them.
    pub fn registers(&self) -> &'static [Register] {
        match self {
            Argument::Descriptor(_) => &[Register::Descriptor],
            Argument::Name(_) => &[Register::NameAddress, Register::NameLength],
            Argument::Value(_) | Argument::UncheckedValue { .. } => {
                &[Register::ValueAddress, Register::ValueLength]
            }
            Argument::Buffer(_) | Argument::UncheckedBuffer { .. } => {
                &[Register::BufferAddress, Register::BufferLength]
            }
            Argument::Descriptors(_) => &[Register::DescriptorsAddress, Register::DescriptorCount],
            Argument::Events(_) => &[Register::EventsAddress, Register::EventCount],
            Argument::TypeHash(_) => &[Register::TypeHashAddress],
            Argument::PublicKey(_) => &[Register::PublicKeyAddress],
            Argument::Signature(_) => &[Register::SignatureAddress],
            Argument::Event(_) => &[Register::Event],
            Argument::Rights(_) => &[Register::Rights],
            Argument::Time(_) => &[Register::Time],
            Argument::Size(_) => &[Register::Size],
            Argument::Process(_) => &[Register::Process],
            Argument::ExitStatus(_) => &[Register::ExitStatus],
        }
    }

    /// The register words, with addresses of the memory this argument borrows.
    #[inline(always)]
    fn words(&mut self) -> ([u64; 2], usize) {
        match self {
            Argument::Descriptor(descriptor) => ([u64::from(descriptor.number()), 0], 1),
            Argument::Name(name) => ([address_of(name.as_bytes()), length(name.len())], 2),
            Argument::Value(value) => ([address_of(value), length(value.len())], 2),
            Argument::Buffer(buffer) => (
                [buffer.as_mut_ptr() as usize as u64, length(buffer.len())],
                2,
            ),
            // Counts, not byte lengths: the ABI counts descriptors and events.
            Argument::Descriptors(numbers) => {
                ([numbers.as_ptr() as usize as u64, length(numbers.len())], 2)
            }
            Argument::Events(ids) => ([ids.as_ptr() as usize as u64, length(ids.len())], 2),
            Argument::TypeHash(hash) => ([address_of(hash.as_slice()), 0], 1),
            Argument::PublicKey(key) => ([address_of(key.as_slice()), 0], 1),
            Argument::Signature(signature) => ([address_of(signature.as_slice()), 0], 1),
            Argument::Event(event) => ([event.id(), 0], 1),
            Argument::Rights(rights) => ([u64::from(rights.bits()), 0], 1),
            Argument::Time(nanoseconds) => ([*nanoseconds, 0], 1),
            Argument::Size(size) => ([*size, 0], 1),
            Argument::Process(process) => ([process.0, 0], 1),
            // The kernel reads the low 32 bits as the program's `i32` status.
            Argument::ExitStatus(status) => ([u64::from(*status as u32), 0], 1),
            Argument::UncheckedValue { address, length }
            | Argument::UncheckedBuffer { address, length } => ([*address, *length], 2),
        }
    }
}

fn address_of(bytes: &[u8]) -> u64 {
    bytes.as_ptr() as usize as u64
}

fn length(length: usize) -> u64 {
    length as u64
}

/// Lowers arguments to the words for `rdi, rsi, rdx, r10, r8, r9`; unused registers
/// are zero. `InvalidArgument` if they need more than six registers (no call does).
///
/// The words hold addresses of the memory the arguments borrow, so they are only
/// meaningful while `arguments` is borrowed.
#[inline(always)]
pub fn registers(arguments: &mut [Argument<'_>]) -> Result<[u64; 6], Status> {
    let mut words = [0; 6];
    let mut next = 0;
    for argument in arguments {
        let (argument_words, count) = argument.words();
        for word in &argument_words[..count] {
            *words.get_mut(next).ok_or(Status::InvalidArgument)? = *word;
            next += 1;
        }
    }
    Ok(words)
}

/// The two words a kernel answers: the status for `rax`, the value for `rdx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAnswer {
    /// The status code.
    pub status: u64,
    /// The value; meaningful only when the status is [`Status::Ok`].
    pub value: u64,
}

impl RawAnswer {
    /// A success answering `value`.
    pub fn ok(value: u64) -> RawAnswer {
        let (status, value) = Status::to_registers(Ok(value));
        RawAnswer { status, value }
    }

    /// A failure with `status`.
    pub fn failed(status: Status) -> RawAnswer {
        let (status, value) = Status::to_registers(Err(status));
        RawAnswer { status, value }
    }

    /// The value, or the status the call failed with. A code this library does not
    /// know (a newer kernel's) reads as [`Status::NotSupported`].
    #[inline]
    pub fn result(self) -> Result<u64, Status> {
        Status::from_registers(self.status, self.value)
    }
}

/// Something that answers system calls. On Ethos the library reaches the real kernel
/// only through its own functions; on a host, [`crate::host::install`] puts an
/// implementation of this trait in its place.
pub trait Kernel {
    /// Makes `call` with `arguments` (in the ABI's order) and answers its two words.
    /// A buffer argument holds what the kernel wrote when this returns.
    fn system_call(&self, call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer;
}

/// Makes `call` on this program's kernel: the value, or the failure status.
#[inline(always)]
pub(crate) fn call(call: Call, arguments: &mut [Argument<'_>]) -> Result<u64, Status> {
    current_system_call(call, arguments).result()
}

/// Makes `call` on this program's kernel and answers both words, for the calls
/// whose failures carry a value (`writeRead`'s kept event).
#[inline(always)]
pub(crate) fn call_raw(call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer {
    current_system_call(call, arguments)
}

#[cfg(target_os = "none")]
#[inline(always)]
fn current_system_call(call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer {
    crate::syscall::Syscalls.system_call(call, arguments)
}

#[cfg(not(target_os = "none"))]
fn current_system_call(call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer {
    crate::host::system_call(call, arguments)
}
