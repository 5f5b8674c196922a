//! The bootable Ethos kernel for `x86_64-unknown-none`.
//!
//! Boot order: console and log, CPU tables, boot information and command line,
//! memory (frames, page tables, heap), time (TSC, tick), interrupts on, devices
//! (PCI probe, native drivers), the random generator's seed, ready. Then the test
//! the command line names runs, or the kernel idles. Every failure on the way is
//! reported on the console and ends the run with a code from `ethos-abi`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod boot_image;
#[cfg(target_os = "none")]
mod boot_info;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod driver_tests;
#[cfg(target_os = "none")]
mod drivers;
#[cfg(target_os = "none")]
mod entropy;
#[cfg(target_os = "none")]
mod init;
#[cfg(target_os = "none")]
mod interrupt;
#[cfg(target_os = "none")]
mod kernel_tests;
#[cfg(target_os = "none")]
mod kernel_threads;
#[cfg(target_os = "none")]
mod logging;
#[cfg(target_os = "none")]
mod memory;
#[cfg(target_os = "none")]
mod net_tests;
#[cfg(target_os = "none")]
mod random_tests;
#[cfg(target_os = "none")]
mod scheduler;
#[cfg(target_os = "none")]
mod thread_tests;
#[cfg(target_os = "none")]
mod time;
#[cfg(target_os = "none")]
mod user_mode;
#[cfg(target_os = "none")]
mod user_tests;

#[cfg(target_os = "none")]
mod kernel {
    use core::fmt::{self, Write};

    use ethos_abi::{ExitCode, Report};
    use ethos_kernel::command_line::CommandLine;
    use ethos_kernel::self_tests::KernelTest;

    use crate::console::{self, LineBuffer};
    use crate::{arch, boot_info, drivers, init, kernel_tests, logging, memory, time};

    /// Reports a boot failure and ends the run.
    fn fatal(what: &str, error: fmt::Arguments<'_>) -> ! {
        let mut reason = LineBuffer::new();
        let _ = write!(reason, "{what}: {error}");
        console::go_live();
        console::write_str("boot failed: ");
        console::write_str(reason.as_str());
        console::write_str("\n");
        console::report(Report::TestFail {
            name: "boot",
            reason: reason.as_str(),
        });
        arch::exit_qemu(ExitCode::Failure)
    }

    /// Entered from the boot assembly, in long mode on the boot stack.
    #[unsafe(no_mangle)]
    extern "C" fn kernel_entry(protocol: u32, info_address: u32) -> ! {
        console::init();
        time::mark_stage(0);
        arch::init_cpu();
        time::mark_stage(1);
        let boot = boot_info::parse(protocol, info_address)
            .unwrap_or_else(|error| fatal("boot information", format_args!("{error}")));
        let line = CommandLine::parse(boot.command_line)
            .unwrap_or_else(|error| fatal("command line", format_args!("{error}")));
        logging::set_level(line.log_level);
        match line.console {
            Some(choice) => console::select(choice.serial(), choice.debug_port()),
            // A Xen PVH guest has no UART; its console log reads the debug port.
            None => console::select(true, arch::under_xen()),
        }
        time::mark_stage(2);
        let Some(test) = line.known_test() else {
            unknown_test(line.test.unwrap_or_default());
        };
        // Before `memory::init`: the tables are read through the boot identity map.
        arch::discover_firmware_tables(boot.rsdp);
        let memory = memory::init(&boot.ram)
            .unwrap_or_else(|error| fatal("memory", format_args!("{error}")));
        time::mark_stage(3);
        logging::init();
        tracing::info!(
            protocol = boot.protocol.name(),
            command_line = boot.command_line,
            "Ethos-on-rump kernel"
        );
        tracing::info!(
            usable_mib = memory.usable_bytes / (1024 * 1024),
            free_frames = memory.free_frames,
            page_table_frames = memory.page_table_frames,
            heap = %memory.heap,
            "memory ready"
        );
        let time =
            time::init(line.timer).unwrap_or_else(|error| fatal("time", format_args!("{error}")));
        arch::enable_interrupts();
        time::mark_stage(4);
        tracing::info!(
            tsc_mhz = time.clock.hz() / 1_000_000,
            source = time.source.name(),
            timer = time.timer.name(),
            tick_hz = time::TICK_HZ,
            "time ready"
        );
        time::log_boot_profile(&time.clock);
        drivers::probe();

        let ready = arch::read_tsc();
        let boot_nanos = time.clock.ticks_to_nanos(ready - arch::entry_tsc());
        console::go_live();
        console::report(Report::Ready {
            boot_ns: boot_nanos,
            tsc_khz: time.clock.hz() / 1000,
            timer: time.timer.name(),
            boot_protocol: boot.protocol.name(),
        });
        match (test, line.init) {
            (Some(test), _) => kernel_tests::run(test),
            (None, Some(set)) => init::run(set),
            (None, None) => idle(),
        }
    }

    fn unknown_test(name: &str) -> ! {
        let mut reason = LineBuffer::new();
        let _ = write!(reason, "unknown test `{name}`; known tests:");
        for test in KernelTest::ALL {
            let _ = write!(reason, " {}", test.name());
        }
        console::go_live();
        console::report(Report::TestFail {
            name,
            reason: reason.as_str(),
        });
        arch::exit_qemu(ExitCode::Failure)
    }

    /// Nothing to run: wait for interrupts until the machine is switched off.
    fn idle() -> ! {
        tracing::info!("no test requested; idling (end the run with Ctrl-C)");
        loop {
            arch::wait_for_interrupt();
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        let mut message = LineBuffer::new();
        let _ = write!(message, "{}", info.message());
        if let Some(location) = info.location() {
            let _ = write!(message, " at {}:{}", location.file(), location.line());
        }
        let mut out = console::emergency();
        let _ = writeln!(out, "\nkernel panic: {}", message.as_str());
        kernel_tests::after_panic(message.as_str());
        arch::exit_qemu(ExitCode::Failure)
    }
}

/// The kernel binary only runs on bare metal; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "ethos-kernel boots on x86_64-unknown-none: use `cargo xtask build` or `cargo xtask run`"
    );
    std::process::exit(2);
}
