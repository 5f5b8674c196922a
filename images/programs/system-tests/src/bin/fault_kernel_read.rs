//! `fault-kernel-read`: reads the kernel's memory at 0x100000, which is mapped for the
//! kernel only; the kernel must end the program with a page fault and keep running
//! every other program.
//!
//! Exit status: none when the kernel kills it, as it must (the kernel reports the
//! fault); 1 if the read returned and the program survived.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(program::main);

#[cfg(target_os = "none")]
mod program {
    use ethos_compat::println;

    /// Where the kernel image is loaded.
    const KERNEL_ADDRESS: usize = 0x10_0000;

    pub(crate) fn main() -> i32 {
        println!(
            "fault-kernel-read: reading kernel address 0x100000; the kernel must end this program"
        );
        let address = core::ptr::with_exposed_provenance::<u64>(KERNEL_ADDRESS);
        // SAFETY: not sound by Rust's rules, on purpose: the address is the kernel's,
        // which a program may not read, and this program checks that the processor
        // faults and the kernel ends it. The read is volatile so that it happens
        // exactly once, here; if it returns, nothing relies on the value but the
        // report of the kernel's failure.
        let value = unsafe { core::ptr::read_volatile(address) };
        println!("fault-kernel-read: read {value:#x} and survived");
        1
    }
}

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("fault-kernel-read is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
