//! The x86_64 platform of the Ethos kernel: the only place outside `rump-sys` that
//! touches the machine.
//!
//! Entry (PVH and multiboot2), CPU tables, boot information, paging and the kernel
//! heap, interrupts (local APIC, I/O APIC, MSI), time (TSC, LAPIC or PIT tick), the
//! console, user mode (address spaces, the `syscall` entry, user-memory copies), the
//! mechanism of the scheduler, and the native drivers' machine access (PCI
//! configuration space, BARs, DMA, interrupt lines). Every `unsafe` block here says
//! why it is sound. The portable core (`ethos-core`) decides; this crate carries out.
//!
//! Built for any other target, the crate is empty.
#![cfg_attr(target_os = "none", no_std)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot_image;
#[cfg(target_os = "none")]
pub mod boot_info;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod drivers;
#[cfg(target_os = "none")]
pub mod entropy;
#[cfg(target_os = "none")]
pub mod init;
#[cfg(target_os = "none")]
pub mod interrupt;
#[cfg(target_os = "none")]
pub mod kernel_threads;
#[cfg(target_os = "none")]
pub mod logging;
#[cfg(target_os = "none")]
pub mod memory;
#[cfg(target_os = "none")]
pub mod network;
#[cfg(target_os = "none")]
pub mod processes;
#[cfg(target_os = "none")]
pub mod rtc;
#[cfg(all(target_os = "none", feature = "rump"))]
pub mod rump;
#[cfg(target_os = "none")]
pub mod scheduler;
#[cfg(target_os = "none")]
pub mod storage;
#[cfg(target_os = "none")]
pub mod time;
#[cfg(target_os = "none")]
pub mod user_mode;

/// Names the kernel's main function as the entry the boot code calls, with the boot
/// protocol and the physical address of its information block, in long mode on the
/// boot stack. The one symbol the platform's assembly reaches by name; the binary
/// invokes this once.
#[macro_export]
macro_rules! entry_point {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn kernel_entry(protocol: u32, info_address: u32) -> ! {
            let main: fn(u32, u32) -> ! = $main;
            main(protocol, info_address)
        }
    };
}
