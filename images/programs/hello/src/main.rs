//! `hello`: the first Ethos program. It prints a greeting with `print` and ends with
//! `exit`, with status 0 when the kernel accepted the text.
//!
//! The kernel enters `_start` in ring 3 with the stack as after a call (8 bytes below
//! a 16-byte boundary) and nothing else set up. The program uses no floating point
//! or vector registers (the target has none enabled), which the kernel does not save.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod program {
    use core::arch::asm;

    use ethos_abi::{Call, Status};

    /// One system call with two arguments; answers the status word and the value.
    fn system_call(call: Call, first: u64, second: u64) -> (u64, u64) {
        let status: u64;
        let value: u64;
        // SAFETY: `syscall` clobbers only `rcx` and `r11`; the kernel returns the
        // status in `rax` and the value in `rdx` and preserves every other register.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") call as u64 => status,
                in("rdi") first,
                in("rsi") second,
                inlateout("rdx") 0u64 => value,
                out("rcx") _,
                out("r11") _,
                options(nostack),
            );
        }
        (status, value)
    }

    fn exit(status: i32) -> ! {
        system_call(Call::Exit, u64::from(status as u32), 0);
        // `exit` does not return; if it did, stop here rather than run on.
        loop {
            core::hint::spin_loop();
        }
    }

    #[unsafe(no_mangle)]
    extern "C" fn _start() -> ! {
        const TEXT: &str = "hello, world, from an ELF program";
        let (status, _) = system_call(Call::Print, TEXT.as_ptr() as u64, TEXT.len() as u64);
        exit(if status == u64::from(Status::Ok.code()) {
            0
        } else {
            1
        })
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        exit(101)
    }
}

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("hello is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
