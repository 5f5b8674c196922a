//! `bad-pointer`: passes the kernel addresses a program may not name and checks that
//! each call is refused with `InvalidArgument` while the program runs on: `print`
//! from a kernel address (0x100000), `print` from a user address nothing is mapped
//! at, and `getUser` into a buffer that is the program's own (read-only) code. A
//! `print` of its own text must still work after.
//!
//! Exit status: 0 every bad pointer was refused; 1 `print` from the kernel address
//! was not refused with `InvalidArgument`; 2 `print` from the unmapped address was
//! not; 3 `getUser` into the code was not; 4 a good `print` failed afterwards.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(program::main);

#[cfg(target_os = "none")]
mod program {
    use ethos_abi::Status;
    use ethos_compat::{calls, println};

    /// Where the kernel image is loaded: mapped, but never for a program.
    const KERNEL_ADDRESS: u64 = 0x10_0000;
    /// In the user range, far above the program and below its stack: nothing is
    /// mapped there.
    const UNMAPPED_ADDRESS: u64 = 0x6000_0000_0000;

    fn expect_invalid(
        what: &str,
        answer: Result<impl core::fmt::Debug, Status>,
        status: i32,
    ) -> Result<(), i32> {
        match answer {
            Err(Status::InvalidArgument) => {
                println!("bad-pointer: {what}: refused, InvalidArgument");
                Ok(())
            }
            other => {
                println!("bad-pointer: {what}: answered {other:?}, not InvalidArgument");
                Err(status)
            }
        }
    }

    /// The code `getUser` is pointed at; it only has to exist.
    #[inline(never)]
    fn code_the_kernel_must_not_write() -> u64 {
        core::hint::black_box(0x5ca1ab1e)
    }

    fn checks() -> Result<(), i32> {
        expect_invalid(
            "print from kernel address 0x100000",
            calls::print_unchecked(KERNEL_ADDRESS, 16),
            1,
        )?;
        expect_invalid(
            "print from unmapped address 0x600000000000",
            calls::print_unchecked(UNMAPPED_ADDRESS, 16),
            2,
        )?;
        let code = code_the_kernel_must_not_write as fn() -> u64 as usize as u64;
        // SAFETY: the buffer is this program's code, which the kernel maps
        // read-execute, so the kernel must refuse to write there; that is what this
        // program checks. If the kernel wrongly wrote, it would overwrite at most 64
        // bytes from the start of a function that is only called after the check
        // failed, never before, and the program would report the failure.
        let answer = unsafe { calls::get_user_unchecked(code, 64) };
        if answer.is_ok() {
            // The function's bytes may have changed: report without calling it.
            println!("bad-pointer: getUser into the program's code was not refused");
            return Err(3);
        }
        expect_invalid("getUser into the program's code", answer, 3)?;
        let _ = code_the_kernel_must_not_write();
        calls::print("bad-pointer: a good print still works").map_err(|_| 4)
    }

    pub(crate) fn main() -> i32 {
        match checks() {
            Ok(()) => 0,
            Err(status) => status,
        }
    }
}

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("bad-pointer is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
