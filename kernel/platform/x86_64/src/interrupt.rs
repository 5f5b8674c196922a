//! What happens on each vector: timer ticks, device INTx lines and MSI-X messages, spurious interrupts, and CPU
//! exceptions, which are reported with every register and end the run unless the
//! running test expected exactly that fault. An exception taken in ring 3 kills only
//! the program (see `user_mode`).

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use ethos_abi::{ExitCode, Report};
use x86_64::registers::control::Cr2;

use crate::arch::{
    self, DEVICE_LINES, DEVICE_VECTOR_BASE, MSI_SLOTS, MSI_VECTOR_BASE, PIT_VECTOR,
    SPURIOUS_VECTORS, TIMER_VECTOR, TrapFrame,
};
use crate::{console, drivers, kernel_threads, time, user_mode};

/// Called with the vector and faulting address before an unexpected exception ends
/// the run; the kernel's self-tests install one to judge the fault they expected.
static FAULT_OBSERVER: spin::Once<fn(u64, u64)> = spin::Once::new();

/// Installs `observer` (the first call wins): it sees every fatal exception, with
/// its vector and faulting address, after the fault is reported and before the run
/// ends.
pub fn observe_fatal_faults(observer: fn(vector: u64, address: u64)) {
    FAULT_OBSERVER.call_once(|| observer);
}

const PAGE_FAULT: u64 = 14;

/// Entry from the architecture's interrupt shell.
pub fn handle(frame: &mut TrapFrame) {
    let vector = frame.vector;
    if vector < 32 {
        if frame.cs & 3 == 3 {
            // A program's fault ends the program, never the kernel.
            let address = if vector == PAGE_FAULT {
                Cr2::read_raw()
            } else {
                0
            };
            if vector == PAGE_FAULT && arch::finish_unfinished_syscall(frame, address) {
                return;
            }
            user_mode::user_fault(frame, address);
        }
        if vector == PAGE_FAULT {
            kernel_threads::kernel_fault(frame, Cr2::read_raw());
        }
        exception(frame);
    }
    match vector as u8 {
        TIMER_VECTOR | PIT_VECTOR => {
            time::tick();
            kernel_threads::on_timer_tick();
            arch::end_of_interrupt(vector as u8);
        }
        spurious if SPURIOUS_VECTORS.contains(&spurious) => {}
        device if (DEVICE_VECTOR_BASE..DEVICE_VECTOR_BASE + DEVICE_LINES).contains(&device) => {
            drivers::line_fired(device - DEVICE_VECTOR_BASE);
            arch::end_of_interrupt(device);
        }
        message if (MSI_VECTOR_BASE..MSI_VECTOR_BASE + MSI_SLOTS).contains(&message) => {
            drivers::message_fired(message - MSI_VECTOR_BASE);
            arch::end_of_interrupt(message);
        }
        other => {
            tracing::warn!(vector = other, "unexpected interrupt");
            arch::end_of_interrupt(other);
        }
    }
    if frame.cs & 3 == 3 {
        user_mode::after_user_interrupt(frame);
    } else {
        kernel_threads::after_kernel_interrupt(frame);
    }
}

/// Set while an exception is being reported: a second one means the report itself
/// faulted, and only a last word without formatting is safe.
static REPORTING: AtomicBool = AtomicBool::new(false);

fn exception(frame: &TrapFrame) -> ! {
    if REPORTING.swap(true, Ordering::SeqCst) {
        console::write_str("\nCPU exception while reporting a CPU exception; stopping\n");
        arch::end_machine(ExitCode::Fault);
    }
    let address = if frame.vector == PAGE_FAULT {
        Cr2::read_raw()
    } else {
        0
    };
    let mut out = console::emergency();
    let _ = writeln!(
        out,
        "\nCPU exception: {} (vector {}), error code {:#x}",
        arch::exception_name(frame.vector),
        frame.vector,
        frame.error_code
    );
    if frame.vector == PAGE_FAULT {
        let _ = writeln!(
            out,
            "  faulting address {address:#018x} ({} {} in {} mode{})",
            if frame.error_code & 1 != 0 {
                "protection violation,"
            } else {
                "page not present,"
            },
            if frame.error_code & 2 != 0 {
                "write"
            } else {
                "read"
            },
            if frame.error_code & 4 != 0 {
                "user"
            } else {
                "kernel"
            },
            if frame.error_code & 16 != 0 {
                ", instruction fetch"
            } else {
                ""
            },
        );
    }
    let _ = writeln!(
        out,
        "  rip={:#018x} cs={:#06x} rflags={:#010x} rsp={:#018x} ss={:#06x}",
        frame.rip, frame.cs, frame.rflags, frame.rsp, frame.ss
    );
    let registers = [
        ("rax", frame.rax),
        ("rbx", frame.rbx),
        ("rcx", frame.rcx),
        ("rdx", frame.rdx),
        ("rsi", frame.rsi),
        ("rdi", frame.rdi),
        ("rbp", frame.rbp),
        ("r8", frame.r8),
        ("r9", frame.r9),
        ("r10", frame.r10),
        ("r11", frame.r11),
        ("r12", frame.r12),
        ("r13", frame.r13),
        ("r14", frame.r14),
        ("r15", frame.r15),
    ];
    for row in registers.chunks(4) {
        let _ = out.write_str(" ");
        for (name, value) in row {
            let _ = write!(out, " {name:>3}={value:#018x}");
        }
        let _ = out.write_str("\n");
    }
    console::report(Report::Fault {
        vector: frame.vector as u8,
        address,
        instruction: frame.rip,
    });
    if let Some(observer) = FAULT_OBSERVER.get() {
        observer(frame.vector, address);
    }
    console::end_run(ExitCode::Fault)
}
