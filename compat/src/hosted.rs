//! On Linux: this library's adapter to the hosted platform (`ethos-platform-hosted`),
//! which is the kernel there.
//!
//! [`program`] turns a program's `main` into what a hosted thread runs: it installs
//! the thread's [`HostedProcess`] as this library's [`Kernel`], so every call the
//! program makes goes down to the platform and through the kernel core's one
//! system-call path, as the `syscall` instruction takes it on Ethos. What a call
//! lends the kernel is what its [`Argument`]s borrow: an address they do not cover
//! is unmapped, so a bad pointer is refused as on Ethos. When the platform says the
//! program no longer runs (it called `exit`, was killed, or `exec`ed), the thread
//! unwinds to its start. The platform's types are re-exported here, so a program
//! package needs no other dependency to run on the host.
//!
//! This module never reads or writes through an address: it finds the argument an
//! address falls in.

use alloc::borrow::Cow;
use alloc::rc::Rc;
use alloc::vec::Vec;

use ethos_abi::{Call, Status};
use ethos_platform_hosted::process_model::request::UserRange;

pub use ethos_platform_hosted::{
    Answer, CallMemory, Console, Ending, Entry, Finished, HostedProcess, HostedSystem,
    ProgramTable, Running, SpawnError, StartError, Unrunnable, heap, hosted_main, init,
    process_model,
};

use crate::host::{end_thread, install};
use crate::kernel::{Argument, Kernel, RawAnswer, registers};
use crate::runtime::Termination;

/// What a hosted thread runs for the program whose `main` this is: `main`'s result
/// becomes the exit status as on Ethos (an error is printed first).
pub fn program<T: Termination>(
    main: impl Fn() -> T + Send + Sync + 'static,
) -> impl Fn(HostedProcess) -> i32 + Send + Sync + 'static {
    move |process| {
        let _installed = install(Rc::new(HostedKernel { process }));
        main().exit_status()
    }
}

/// The kernel a program thread calls.
struct HostedKernel {
    process: HostedProcess,
}

impl Kernel for HostedKernel {
    fn system_call(&self, call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer {
        let words = match registers(arguments) {
            Ok(words) => words,
            Err(status) => return RawAnswer::failed(status),
        };
        let mut memory = ArgumentMemory { arguments };
        match self
            .process
            .system_call(u64::from(call.number()), words, &mut memory)
        {
            Answer::Registers { status, value } => RawAnswer { status, value },
            // A call made while the thread already unwinds (from a destructor) must
            // not start a second unwinding: the process is gone, and so is its object.
            Answer::Ended if std::thread::panicking() => RawAnswer::failed(Status::NoSuchObject),
            Answer::Ended => end_thread(0),
        }
    }
}

/// A program's memory as the kernel sees it during one call: the arguments.
struct ArgumentMemory<'call, 'memory> {
    arguments: &'call mut [Argument<'memory>],
}

/// Where a readable argument lives and its bytes.
fn readable<'a>(argument: &'a Argument<'_>) -> Option<(u64, Cow<'a, [u8]>)> {
    let address = |pointer: *const u8| pointer as usize as u64;
    match argument {
        Argument::Name(name) => Some((address(name.as_ptr()), Cow::Borrowed(name.as_bytes()))),
        Argument::Value(value) => Some((address(value.as_ptr()), Cow::Borrowed(value))),
        Argument::Buffer(buffer) => Some((address(buffer.as_ptr()), Cow::Borrowed(&buffer[..]))),
        Argument::TypeHash(hash) => Some((address(hash.as_ptr()), Cow::Borrowed(&hash[..]))),
        Argument::PublicKey(key) => Some((address(key.as_ptr()), Cow::Borrowed(&key[..]))),
        Argument::Signature(signature) => {
            Some((address(signature.as_ptr()), Cow::Borrowed(&signature[..])))
        }
        Argument::Descriptors(numbers) => Some((
            address(numbers.as_ptr().cast()),
            Cow::Owned(numbers.iter().flat_map(|n| n.to_le_bytes()).collect()),
        )),
        Argument::Events(ids) => Some((
            address(ids.as_ptr().cast()),
            Cow::Owned(ids.iter().flat_map(|id| id.to_le_bytes()).collect()),
        )),
        _ => None,
    }
}

/// The offset of `range` in memory starting at `start` and `length` long, if inside.
fn offset_in(range: UserRange, start: u64, length: usize) -> Option<usize> {
    let offset = usize::try_from(range.address().checked_sub(start)?).ok()?;
    let wanted = usize::try_from(range.length()).ok()?;
    (offset.checked_add(wanted)? <= length).then_some(offset)
}

impl CallMemory for ArgumentMemory<'_, '_> {
    fn read(&self, range: UserRange) -> Result<Vec<u8>, Status> {
        if range.length() == 0 {
            return Ok(Vec::new());
        }
        self.arguments
            .iter()
            .filter_map(readable)
            .find_map(|(start, bytes)| {
                let offset = offset_in(range, start, bytes.len())?;
                let end = offset + usize::try_from(range.length()).ok()?;
                bytes.get(offset..end).map(<[u8]>::to_vec)
            })
            .ok_or(Status::InvalidArgument)
    }

    fn write(&mut self, range: UserRange, bytes: &[u8]) -> Result<(), Status> {
        if bytes.is_empty() {
            return Ok(());
        }
        for argument in self.arguments.iter_mut() {
            if let Argument::Buffer(buffer) = argument {
                let start = buffer.as_ptr() as usize as u64;
                if let Some(offset) = offset_in(range, start, buffer.len())
                    && let Some(place) = buffer.get_mut(offset..offset + bytes.len())
                {
                    place.copy_from_slice(bytes);
                    return Ok(());
                }
            }
        }
        Err(Status::InvalidArgument)
    }
}
