//! Single instructions and registers: CPUID, TSC, MSRs, port I/O, halting, and the
//! end of the machine (QEMU's exit device, then a reset).

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

/// The i8042 keyboard controller's command and status port.
const I8042_COMMAND: u16 = 0x64;
/// The i8042 command that pulses the CPU reset line.
const I8042_PULSE_RESET: u8 = 0xfe;
/// The status bit set while the controller's input buffer is full.
const I8042_INPUT_FULL: u8 = 0x02;
/// How many status reads to wait for the controller; a machine without one reads
/// all ones and would wait forever.
const I8042_PATIENCE: u32 = 10_000;
/// How long the CPU waits after pulsing the reset line before it triple-faults:
/// 2^28 TSC cycles, a tenth of a second at 2.6 GHz.
const RESET_GRACE_CYCLES: u64 = 1 << 28;

/// Ends the machine with `code`. QEMU's `isa-debug-exit` ends the run at once with
/// the code in its exit status. A machine without it (Firecracker, a PC without the
/// device) ignores that write: the kernel then resets it, by the i8042 reset line
/// (which Firecracker turns into the end of the VMM and a PC into a reboot), and,
/// if that did nothing, by a triple fault, which every VMM sees as a reset (QEMU's
/// `-no-reboot` ends on it). The verdict is then the `@ethos exit` line written
/// before. A Xen PVH guest has none of these devices, and Xen ends a domain that
/// triple-faults as crashed: there the CPU halts and the console log holds the verdict.
pub fn end_machine(code: ExitCode) -> ! {
    x86_64::instructions::interrupts::disable();
    let mut exit = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: the port belongs to the exit device; on machines without it, writes to
    // an unclaimed port are ignored.
    unsafe { exit.write(code.port_value()) };
    if under_xen() {
        halt_forever();
    }
    let mut controller = Port::<u8>::new(I8042_COMMAND);
    for _ in 0..I8042_PATIENCE {
        // SAFETY: reading the i8042 status has no side effect; an unclaimed port
        // reads all ones.
        if unsafe { controller.read() } & I8042_INPUT_FULL == 0 {
            break;
        }
    }
    // SAFETY: the machine is being ended; pulsing the reset line is the point.
    unsafe { controller.write(I8042_PULSE_RESET) };
    // A VMM may act on the reset line from another thread (Firecracker does): give
    // it the time to, before the triple fault ends the CPU in a way it reports as
    // an error.
    let pulsed = read_tsc();
    while read_tsc().wrapping_sub(pulsed) < RESET_GRACE_CYCLES {
        core::hint::spin_loop();
    }
    triple_fault()
}

/// Resets the CPU: with an empty interrupt table, a breakpoint cannot be delivered,
/// nor the double fault that follows, and the third fault resets.
fn triple_fault() -> ! {
    let empty = x86_64::structures::DescriptorTablePointer {
        limit: 0,
        base: x86_64::VirtAddr::zero(),
    };
    // SAFETY: nothing runs after this; the machine resets on the next exception.
    unsafe { x86_64::instructions::tables::lidt(&empty) };
    x86_64::instructions::interrupts::int3();
    halt_forever()
}
