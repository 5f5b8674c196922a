//! The hosted platform of the Ethos kernel: the portable core on Linux, each process a
//! thread of one Linux process.
//!
//! What the x86_64 platform does with a machine, this crate does with the host: a
//! [`HostedSystem`] owns one process model (`ethos-core`), starts each process as a
//! thread, and takes every system call through the core's one path
//! (`dispatch::handle`), then does what its answer asks — return, park the thread in
//! `block` until an event completes or a timer is due, end the process (`exit`,
//! `kill`, a deadlock), or start another program on the same thread (`exec`). The
//! clock is the host's monotonic clock from the system's start, `random` draws from
//! the core's generator seeded by the host ([`entropy`]), and the console is standard
//! output or a list of lines ([`Console`]). [`init`] runs an init set of a packed
//! initial image as the kernel's `init=SET` does, and prints what it prints.
//!
//! A program is a host function that makes its calls through its [`HostedProcess`];
//! what memory the kernel may read or write during a call is the caller's to say
//! ([`CallMemory`]), so the platform never reads through a program's address. Only
//! [`heap`] holds `unsafe` code (the allocator that measures the kernel's heap); the
//! crate denies it everywhere else.
//!
//! What a thread cannot be, the platform refuses with a reason rather than pretend:
//! there is no `fork` (a thread's stack cannot be copied into a second process) and
//! no MMU (a program that means to fault would bring down the host process).
#![deny(unsafe_code)]

pub mod console;
pub mod entropy;
pub mod heap;
pub mod init;
pub mod programs;
pub mod system;

mod call;

pub use call::{Answer, CallMemory, HostedProcess};
pub use console::Console;
pub use programs::{Entry, ProgramTable, Unrunnable};
pub use system::{Ending, Finished, HostedSystem, Running, SpawnError, StartError};

/// The kernel core, for building a configuration by hand.
pub use ethos_core::process_model;

/// Defines `main` for a binary that runs init sets of an initial image on the hosted
/// platform with the programs of `$programs` (a [`ProgramTable`]), and makes
/// [`heap::KernelHeap`] its allocator so the run reports the kernel's heap as the
/// x86_64 kernel does. The binary takes the image's path and the command line:
/// `BINARY IMAGE init=SET`.
#[macro_export]
macro_rules! hosted_main {
    ($programs:expr) => {
        #[global_allocator]
        static KERNEL_HEAP: $crate::heap::KernelHeap = $crate::heap::KernelHeap;

        fn main() -> ::std::process::ExitCode {
            $crate::init::boot(::std::env::args().skip(1), $programs)
        }
    };
}
