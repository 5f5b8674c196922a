//! The `syscall` instruction: the only `unsafe` code of the library, built only for
//! Ethos (`target_os = "none"`).
//!
//! The call number goes in `rax` and the arguments, lowered by
//! [`crate::kernel::registers`], in `rdi, rsi, rdx, r10, r8, r9`. The kernel answers
//! the status in `rax` and one value in `rdx`, and preserves every other register but
//! `rcx` and `r11`, which `syscall` itself overwrites. This module must never do more
//! than that, and take the length of what `retire`, `blockAndRetire` or `writeRead`
//! wrote into a vector's spare capacity: every other check and every decoding
//! happens in safe code around it.

use core::arch::asm;

use alloc::vec::Vec;

use ethos_abi::{Call, Status};

use crate::handles::Event;
use crate::kernel::{Argument, Kernel, RawAnswer, registers};
use crate::results::MALFORMED_RESULT;

/// The kernel this program runs on, reached with `syscall`.
///
/// Private to the library on purpose: through [`Kernel::system_call`] any argument
/// could be put in any place, a shared slice where the kernel writes, or an unchecked
/// range where it writes; only the library's functions, which follow the ABI's
/// layouts, may reach it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Syscalls;

impl Kernel for Syscalls {
    #[inline(always)]
    fn system_call(&self, call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer {
        // The words hold addresses into `arguments`, which stays borrowed (and so the
        // memory alive and unaliased) until the kernel has answered.
        match registers(arguments) {
            Ok(words) => raw_system_call(u64::from(call.number()), words),
            Err(status) => RawAnswer::failed(status),
        }
    }
}

/// `retire` or `blockAndRetire` (`collect`) into the spare capacity of `buffer`, as
/// [`into_spare_capacity`] makes it; answers how many bytes `buffer` grew by.
pub(crate) fn retire_into_spare_capacity(
    collect: Call,
    event: Event,
    buffer: &mut Vec<u8>,
) -> Result<usize, Status> {
    // Only the calls whose layout is (event, buffer) may write here.
    if !matches!(collect, Call::Retire | Call::BlockAndRetire) {
        return Err(Status::InvalidArgument);
    }
    let mut arguments = [Argument::Event(event), SPARE_CAPACITY];
    into_spare_capacity(collect, &mut arguments, buffer).1
}

/// What holds the place of the buffer in the arguments of [`into_spare_capacity`].
pub(crate) const SPARE_CAPACITY: Argument<'static> = Argument::UncheckedBuffer {
    address: 0,
    length: 0,
};

/// `call` (`retire`, `blockAndRetire` or `writeRead`) with `arguments`, the last of
/// which, [`SPARE_CAPACITY`], only holds the place of the buffer: the spare capacity of `buffer` goes
/// there, and `buffer` then holds the bytes the kernel wrote after its contents.
/// Answers the kernel's two words and, on success, how many bytes `buffer` grew by.
/// Here, not in safe code, because the spare capacity is not initialised: the
/// kernel's answer is what says how many of its bytes are, and only then may the
/// vector's length grow over them. Offering uninitialised memory lets a program
/// collect a value of unknown length without zeroing the largest buffer it might
/// need first.
#[inline(always)]
pub(crate) fn into_spare_capacity(
    call: Call,
    arguments: &mut [Argument<'_>],
    buffer: &mut Vec<u8>,
) -> (RawAnswer, Result<usize, Status>) {
    // Only the calls whose layout ends with a buffer the kernel writes may write here.
    if !matches!(call, Call::Retire | Call::BlockAndRetire | Call::WriteRead) {
        return (
            RawAnswer::failed(Status::InvalidArgument),
            Err(Status::InvalidArgument),
        );
    }
    let spare = buffer.spare_capacity_mut();
    let capacity = spare.len();
    let address = spare.as_mut_ptr() as usize as u64;
    if let Some(place) = arguments.last_mut() {
        *place = Argument::UncheckedBuffer {
            address,
            length: capacity as u64,
        };
    }
    let answer = match registers(arguments) {
        Ok(words) => raw_system_call(u64::from(call.number()), words),
        Err(status) => RawAnswer::failed(status),
    };
    let grown = answer.result().and_then(|used| {
        let used = usize::try_from(used).map_err(|_| MALFORMED_RESULT)?;
        if used > capacity {
            return Err(MALFORMED_RESULT);
        }
        // SAFETY: the kernel answered that it wrote `used` bytes at the start of the
        // spare capacity, which is at least that long (checked above): they are
        // initialised, and the vector's length covers nothing else that is not.
        unsafe { buffer.set_len(buffer.len() + used) };
        Ok(used)
    });
    (answer, grown)
}

/// The `syscall` instruction with call number `number` and argument words `words`.
/// Safe as a function because it is private to the library: every caller in it
/// passes only addresses the ABI's layouts allow (see [`Syscalls`]), or is itself an
/// `unsafe fn` whose caller promises the same ([`crate::calls::system_call_unchecked`]).
#[inline]
pub(crate) fn raw_system_call(number: u64, words: [u64; 6]) -> RawAnswer {
    let [first, second, third, fourth, fifth, sixth] = words;
    let status: u64;
    let value: u64;
    // SAFETY: the kernel checks every word: addresses are only read or written
    // through the process's own page tables, so no word can make it touch memory the
    // program does not own. The addresses the library passes name memory the caller
    // borrows for the whole call (shared for what the kernel reads, exclusive for
    // buffers it writes); the kernel writes nothing else of ours. `syscall` overwrites
    // `rcx` and `r11`, declared clobbered; the kernel preserves every other register
    // and does not use the user stack. Memory is not declared untouched, so the
    // compiler makes no assumption about buffers across the instruction.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => status,
            in("rdi") first,
            in("rsi") second,
            inlateout("rdx") third => value,
            in("r10") fourth,
            in("r8") fifth,
            in("r9") sixth,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    RawAnswer { status, value }
}
