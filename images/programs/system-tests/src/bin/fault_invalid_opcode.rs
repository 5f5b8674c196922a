//! `fault-invalid-opcode`: executes `ud2`; the kernel must end the program on the
//! invalid-opcode exception and keep running every other program.
//!
//! Exit status: none when the kernel kills it, as it must (the kernel reports the
//! fault); 1 if execution went on after `ud2`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(program::main);

#[cfg(target_os = "none")]
mod program {
    use core::arch::asm;

    use ethos_compat::println;

    pub(crate) fn main() -> i32 {
        println!("fault-invalid-opcode: executing ud2; the kernel must end this program");
        // SAFETY: `ud2` touches no memory and no register; it raises the invalid
        // opcode exception, on which the kernel ends the program. Should the kernel
        // return to the program instead, it goes on past the instruction and reports.
        unsafe { asm!("ud2", options(nomem, nostack)) };
        println!("fault-invalid-opcode: survived ud2");
        1
    }
}

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("fault-invalid-opcode is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
