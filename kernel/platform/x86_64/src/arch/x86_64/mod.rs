//! x86_64 on bare hardware or a hypervisor (KVM, Xen PVH, TCG): boot, CPU tables,
//! interrupts, timers, paging and entropy sources.

mod apic;
mod boot;
mod cpu;
mod ecam;
mod entropy;
mod firmware;
mod gdt;
mod interrupts;
mod ioapic;
mod memory_window;
mod msi;
mod paging;
mod pit;
mod port_io;
#[cfg(feature = "selftest-support")]
pub mod probe;
mod thread;
#[cfg(feature = "selftest-support")]
mod thread_probe;
mod thread_stack;
mod tsc;
mod user;

pub use apic::{
    PIT_VECTOR, SPURIOUS_VECTORS, TIMER_VECTOR, TimerDevice, TimerStart, end_of_interrupt,
    prepare_timer, start_lapic_tick, start_pit_tick,
};
pub use boot::{BOOT_PROTOCOL_MULTIBOOT2, BOOT_PROTOCOL_PVH, entry_tsc};
pub use cpu::{end_machine, read_tsc, under_xen, wait_for_interrupt};
pub use ecam::PciConfig;
pub use entropy::{cpu_random, read_rdrand, read_rdseed, timing_jitter};
pub use ethos_core::ending::exception_name;
pub use firmware::{discover_firmware_tables, firmware_platform, tell_vmm_booted};
pub use interrupts::{TrapFrame, enable_interrupts};
pub use ioapic::{DEVICE_LINES, DEVICE_VECTOR_BASE, mask_line, route_line, unmask_line};
pub use memory_window::DeviceMemoryWindow;
pub use msi::{MSI_SLOTS, MSI_VECTOR_BASE, msi_message};
pub use paging::{PagingError, build_kernel_page_tables, kernel_image, map_device_memory};
pub use pit::PitWindow;
pub use port_io::{IoWindow, PortConfigSpace};
pub use thread::{
    ThreadMachineError, ThreadSetup, abandon_thread, create_thread, in_thread, leave_thread,
    preempt_thread, release_thread, run_thread, running_thread_stack,
};
#[cfg(feature = "selftest-support")]
pub use thread_probe::{
    TLS_INITIAL_VALUE, ThreadLocals, VectorRegisters, load_vector_registers, read_thread_locals,
    store_vector_registers, write_thread_locals,
};
pub use tsc::{TscFrequency, TscSource, discover_tsc_frequency};
pub use user::{
    AddressSpace, ContextPlace, ContextSlot, MapError, PageRights, SYSCALL_INSTRUCTION_BYTES,
    USER_STACK_TOP, USER_START, UserContext, current_root, enter as enter_user,
    finish_unfinished_syscall, resume_kernel, return_to as return_to_user, supervisor_protection,
    switch_to as switch_to_user, switch_to_root, user_flags,
};

/// Loads the GDT with its TSS, the IDT, masks the legacy interrupt controller and
/// turns on no-execute pages, SMEP and SMAP where the CPU has them, and `syscall`.
/// Interrupts stay off.
pub fn init_cpu() {
    gdt::init();
    user::init();
    interrupts::init();
    apic::mask_legacy_pic();
    cpu::enable_no_execute();
}
