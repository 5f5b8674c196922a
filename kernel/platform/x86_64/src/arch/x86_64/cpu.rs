//! Single instructions and registers: CPUID, TSC, MSRs, port I/O, halting, and the
//! QEMU exit device.

use core::arch::x86_64::{__cpuid, _rdtsc, CpuidResult};

use ethos_abi::ExitCode;
use ethos_abi::exit::DEBUG_EXIT_PORT;
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::{Efer, EferFlags};

/// The time-stamp counter.
pub fn read_tsc() -> u64 {
    // SAFETY: `rdtsc` only reads a counter; every x86_64 CPU has it.
    unsafe { _rdtsc() }
}

pub(super) fn cpuid(leaf: u32) -> CpuidResult {
    __cpuid(leaf)
}

/// Whether CPUID leaf 1 reports a hypervisor (ECX bit 31).
pub(super) fn under_hypervisor() -> bool {
    cpuid(1).ecx & (1 << 31) != 0
}

/// Whether the hypervisor is Xen (CPUID 0x4000_0000 signature "XenVMMXenVMM").
pub fn under_xen() -> bool {
    if !under_hypervisor() {
        return false;
    }
    let signature = cpuid(0x4000_0000);
    [signature.ebx, signature.ecx, signature.edx] == [0x566e_6558, 0x65584d4d, 0x4d4d_566e]
}

/// Sets EFER.NXE when the CPU has no-execute pages (CPUID 0x8000_0001 EDX bit 20),
/// so page tables may carry the NX bit.
pub(super) fn enable_no_execute() {
    if no_execute_supported() {
        // SAFETY: setting NXE only gives meaning to bit 63 of page table entries,
        // which no table sets before this point.
        unsafe { Efer::update(|flags| flags.insert(EferFlags::NO_EXECUTE_ENABLE)) };
    }
}

pub(super) fn no_execute_supported() -> bool {
    cpuid(0x8000_0000).eax >= 0x8000_0001 && cpuid(0x8000_0001).edx & (1 << 20) != 0
}

/// Sleeps until the next interrupt (interrupts must be enabled to wake up).
pub fn wait_for_interrupt() {
    x86_64::instructions::hlt();
}

/// Stops this CPU for good.
pub(super) fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}

/// Ends the QEMU run with `code` through `isa-debug-exit`. On a machine without the
/// device the write goes nowhere and the CPU halts.
pub fn exit_qemu(code: ExitCode) -> ! {
    let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: the port belongs to the exit device; on machines without it, writes to
    // an unclaimed port are ignored.
    unsafe { port.write(code.port_value()) };
    halt_forever()
}
