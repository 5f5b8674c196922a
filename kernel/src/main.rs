//! The bootable Ethos kernel for `x86_64-unknown-none`.
//!
//! Boot order: the TSC frequency asked for (or its measurement begun), console and
//! log, CPU tables, boot information and command line, memory (frames, page tables,
//! heap), time (the tick's device counting), interrupts on, devices (the backend of
//! each class from the initial image and the command line, checked against the
//! drivers this kernel has; PCI probe, native drivers, a device line per class
//! served), time finished (TSC frequency, tick), ready. Then the test
//! the command line names runs (in a kernel built with the `selftest` feature), the
//! init set it names runs, or the kernel idles. The machine is reached only
//! through `ethos-platform-x86_64`; the decisions are `ethos-core`'s. Every failure on the way is
//! reported on the console and ends the run with a code from `ethos-abi`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod kernel {
    use core::fmt::{self, Write};

    use ethos_abi::{ExitCode, KernelTest, Report};
    use ethos_core::command_line::CommandLine;
    use ethos_platform_x86_64::console::{self, LineBuffer};
    use ethos_platform_x86_64::{
        arch, boot_image, boot_info, drivers, init, logging, memory, time,
    };

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
        console::end_run(ExitCode::Failure)
    }

    ethos_platform_x86_64::entry_point!(kernel_main);

    /// Entered from the boot assembly, in long mode on the boot stack.
    fn kernel_main(protocol: u32, info_address: u32) -> ! {
        // First: a TSC measurement begun here has the whole boot as its window.
        time::begin();
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
        // A VMM's words (`reboot=k`, `panic=1`, …) are said once, then left alone.
        for word in line.ignored.iter() {
            tracing::info!(word, "command line word ignored: not the kernel's");
        }
        if line.ignored.more > 0 {
            tracing::info!(
                more = line.ignored.more,
                "command line words ignored beyond those named"
            );
        }
        tracing::info!(
            usable_mib = memory.usable_bytes / (1024 * 1024),
            free_frames = memory.free_frames,
            page_table_frames = memory.page_table_frames,
            heap = %memory.heap,
            "memory ready"
        );
        time::init(line.timer).unwrap_or_else(|error| fatal("time", format_args!("{error}")));
        arch::enable_interrupts();
        time::mark_stage(4);
        let image_backends = boot_image::backend_choice()
            .unwrap_or_else(|error| fatal("device backends", format_args!("{error}")));
        drivers::refuse_rump_dma(line.refuse_rump_dma);
        drivers::probe(
            &line.backends.apply(image_backends),
            line.pci,
            &line.mmio_devices,
        )
        .unwrap_or_else(|error| fatal("devices", format_args!("{error}")));

        // The time is needed now at the latest: a measurement still under way ends
        // here, and any wait for it counts in the boot time.
        let time = time::finish().unwrap_or_else(|error| fatal("time", format_args!("{error}")));
        let ready = arch::read_tsc();
        let timer = time.timer.map_or("none", |timer| timer.name());
        if arch::tell_vmm_booted() {
            tracing::info!("told Firecracker's boot timer the kernel is ready");
        }
        let boot_nanos = time.clock.ticks_to_nanos(ready - arch::entry_tsc());
        tracing::info!(
            tsc_mhz = time.clock.hz() / 1_000_000,
            source = time.source.name(),
            timer,
            tick_hz = time::TICK_HZ,
            "time ready"
        );
        time::log_boot_profile(&time.clock);
        console::go_live();
        console::report(Report::Ready {
            boot_ns: boot_nanos,
            tsc_khz: time.clock.hz() / 1000,
            timer,
            boot_protocol: boot.protocol.name(),
        });
        match (test, line.init) {
            (Some(test), _) => run_test(test),
            (None, Some(set)) => init::run(set, line.storage),
            (None, None) => idle(),
        }
    }

    /// Runs the in-kernel test the command line names.
    #[cfg(feature = "selftest")]
    fn run_test(test: KernelTest) -> ! {
        ethos_selftest::run(test)
    }

    /// A production kernel carries no in-kernel tests: it says so and fails the run.
    #[cfg(not(feature = "selftest"))]
    fn run_test(test: KernelTest) -> ! {
        console::report(Report::TestFail {
            name: test.name(),
            reason: "this kernel was built without its in-kernel tests; build it with the \
                     `selftest` feature (`cargo xtask build --selftest`)",
        });
        console::end_run(ExitCode::Failure)
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
        console::end_run(ExitCode::Failure)
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
        #[cfg(feature = "selftest")]
        ethos_selftest::after_panic(message.as_str());
        console::end_run(ExitCode::Failure)
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
