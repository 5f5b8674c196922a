//! Running one test: reporting its start and outcome, and judging the faults and
//! panics that strike while it runs.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::heap_stress;
use ethos_abi::KernelTest;
use ethos_abi::report::contract::PAGE_FAULT_ADDRESS;
use ethos_abi::{ExitCode, Report};

use crate::{driver_tests, net_tests, random_tests, thread_tests, tunnel_tests, user_tests};
use ethos_platform_x86_64::arch::{self, probe};
use ethos_platform_x86_64::console::{self, LineBuffer};
use ethos_platform_x86_64::{boot_image, interrupt, memory, time};

/// Index into `KernelTest::ALL` plus one; 0 while no test runs.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// The address a running test expects to fault on (0: none).
static EXPECTED_FAULT: AtomicU64 = AtomicU64::new(0);

/// The test running now, if any.
pub(crate) fn running() -> Option<KernelTest> {
    let index = RUNNING.load(Ordering::Relaxed);
    index.checked_sub(1).map(|index| KernelTest::ALL[index])
}

/// Reports `test` failed for `reason`, without ending the run.
fn report_failure(test: KernelTest, reason: fmt::Arguments<'_>) {
    let mut text = LineBuffer::new();
    let _ = text.write_fmt(reason);
    console::report(Report::TestFail {
        name: test.name(),
        reason: text.as_str(),
    });
}

fn fail(test: KernelTest, reason: fmt::Arguments<'_>) -> ! {
    report_failure(test, reason);
    console::end_run(ExitCode::Failure)
}

fn pass(test: KernelTest) -> ! {
    console::report(Report::TestPass { name: test.name() });
    console::end_run(ExitCode::Success)
}

/// Runs one test to its verdict.
pub fn run(test: KernelTest) -> ! {
    interrupt::observe_fatal_faults(after_fault);
    let index = KernelTest::ALL
        .iter()
        .position(|candidate| *candidate == test)
        .unwrap_or(0);
    RUNNING.store(index + 1, Ordering::Relaxed);
    console::report(Report::TestBegin { name: test.name() });
    let outcome = match test {
        KernelTest::Boot => Ok(()),
        KernelTest::Timer => timer(),
        KernelTest::PageFault => page_fault(),
        KernelTest::InvalidOpcode => invalid_opcode(),
        KernelTest::Heap => heap(),
        KernelTest::Frames => frames(),
        KernelTest::Devices => driver_tests::devices().map_err(Failure::Driver),
        KernelTest::Block => driver_tests::block().map_err(Failure::Driver),
        KernelTest::BlockFaults => driver_tests::block_faults().map_err(Failure::Driver),
        KernelTest::Entropy => driver_tests::entropy().map_err(Failure::Driver),
        KernelTest::Random => random_tests::random().map_err(Failure::Random),
        KernelTest::NetPing => net_tests::ping().map_err(Failure::Driver),
        KernelTest::UdpEcho => net_tests::udp_echo().map_err(Failure::Driver),
        KernelTest::NetPeer => net_tests::peer().map_err(Failure::Driver),
        KernelTest::NetServe => net_tests::serve().map_err(Failure::Driver),
        KernelTest::NetDhcp => net_tests::dhcp().map_err(Failure::Driver),
        KernelTest::Tunnel => {
            tunnel_tests::tunnel(tunnel_tests::Plan::ECHO).map_err(Failure::Tunnel)
        }
        KernelTest::TunnelSoak => {
            tunnel_tests::tunnel(tunnel_tests::Plan::SOAK).map_err(Failure::Tunnel)
        }
        KernelTest::TunnelModifiedPeer => {
            tunnel_tests::tunnel(tunnel_tests::Plan::MODIFIED_PEER).map_err(Failure::Tunnel)
        }
        KernelTest::TunnelReuse => {
            tunnel_tests::tunnel(tunnel_tests::Plan::REUSE).map_err(Failure::Tunnel)
        }
        KernelTest::TunnelFlood => {
            tunnel_tests::tunnel(tunnel_tests::Plan::FLOOD).map_err(Failure::Tunnel)
        }
        KernelTest::UserHello => user_tests::hello().map_err(Failure::User),
        KernelTest::UserPointers => user_tests::pointers().map_err(Failure::User),
        KernelTest::UserFault => user_tests::faults().map_err(Failure::User),
        KernelTest::InitialImage => boot_image::check().map_err(Failure::InitialImage),
        KernelTest::ThreadPingPong => thread_tests::ping_pong().map_err(Failure::Thread),
        KernelTest::ThreadSleep => thread_tests::sleep().map_err(Failure::Thread),
        KernelTest::ThreadInterruptWake => thread_tests::interrupt_wake().map_err(Failure::Thread),
        KernelTest::ThreadTls => thread_tests::tls().map_err(Failure::Thread),
        KernelTest::ThreadFpu => thread_tests::fpu().map_err(Failure::Thread),
        KernelTest::ThreadWithProcess => thread_tests::with_process().map_err(Failure::Thread),
        KernelTest::ThreadStackOverflow => thread_tests::stack_overflow().map_err(Failure::Thread),
        KernelTest::Panic => panic!("deliberate panic from the `panic` test"),
        KernelTest::Fail => Err(Failure::Deliberate),
    };
    match outcome {
        Ok(()) => pass(test),
        Err(failure) => fail(test, format_args!("{failure}")),
    }
}

/// Why a test failed.
#[derive(Debug)]
enum Failure {
    Deliberate,
    NoClock,
    NoTicks { waited_ms: u64 },
    TickRate { ticks: u64, elapsed_us: u64 },
    ClockWentBack { earlier: u64, later: u64 },
    FaultDidNotHappen,
    Heap(heap_stress::HeapError),
    HeapLeak { before: usize, after: usize },
    NoFrameAllocator,
    OutOfFrames { allocated: usize },
    FrameTwice(u64),
    FrameContent { frame: u64, offset: usize },
    FrameFree(ethos_core::frames::FrameError),
    FreeCountChanged { before: usize, after: usize },
    DoubleFreeAccepted(u64),
    Driver(driver_tests::DriverFailure),
    Random(random_tests::RandomFailure),
    User(user_tests::UserFailure),
    InitialImage(boot_image::BootImageError),
    Tunnel(alloc::string::String),
    Thread(thread_tests::ThreadTestFailure),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Deliberate => write!(f, "deliberate failure: this test always fails"),
            Failure::NoClock => write!(f, "the TSC clock is not calibrated"),
            Failure::NoTicks { waited_ms } => {
                write!(f, "no timer interrupt arrived in {waited_ms} ms")
            }
            Failure::TickRate { ticks, elapsed_us } => write!(
                f,
                "{ticks} ticks at {} Hz took {elapsed_us} us by the TSC",
                time::TICK_HZ
            ),
            Failure::ClockWentBack { earlier, later } => {
                write!(f, "the clock went back from {earlier} ns to {later} ns")
            }
            Failure::FaultDidNotHappen => {
                write!(
                    f,
                    "reading an unmapped address returned instead of faulting"
                )
            }
            Failure::Heap(error) => write!(f, "heap stress: {error}"),
            Failure::HeapLeak { before, after } => write!(
                f,
                "heap use was {before} bytes before the stress run and {after} after"
            ),
            Failure::NoFrameAllocator => write!(f, "the frame allocator is not set up"),
            Failure::OutOfFrames { allocated } => {
                write!(f, "frames ran out after {allocated}")
            }
            Failure::FrameTwice(frame) => write!(f, "frame {frame:#x} was handed out twice"),
            Failure::FrameContent { frame, offset } => {
                write!(f, "frame {frame:#x} lost its pattern at byte {offset}")
            }
            Failure::FrameFree(error) => write!(f, "freeing a frame failed: {error}"),
            Failure::FreeCountChanged { before, after } => write!(
                f,
                "free frames were {before} before the test and {after} after"
            ),
            Failure::DoubleFreeAccepted(frame) => {
                write!(f, "a second free of frame {frame:#x} was accepted")
            }
            Failure::Driver(failure) => write!(f, "{failure}"),
            Failure::Random(failure) => write!(f, "{failure}"),
            Failure::User(failure) => write!(f, "{failure}"),
            Failure::InitialImage(error) => write!(f, "{error}"),
            Failure::Tunnel(reason) => write!(f, "{reason}"),
            Failure::Thread(failure) => write!(f, "{failure}"),
        }
    }
}

fn timer() -> Result<(), Failure> {
    const TICKS: u64 = 20;
    let clock = time::clock().ok_or(Failure::NoClock)?;
    let patience = clock.nanos_to_ticks(5_000_000_000);
    let start_ticks = time::ticks();
    let start = arch::read_tsc();
    let mut last_nanos = 0;
    while time::ticks() < start_ticks + TICKS {
        if arch::read_tsc() - start > patience {
            return Err(Failure::NoTicks { waited_ms: 5000 });
        }
        let now = time::since_boot_nanos().ok_or(Failure::NoClock)?;
        if now < last_nanos {
            return Err(Failure::ClockWentBack {
                earlier: last_nanos,
                later: now,
            });
        }
        last_nanos = now;
        core::hint::spin_loop();
    }
    let elapsed_us = clock.ticks_to_nanos(arch::read_tsc() - start) / 1000;
    let ticks = time::ticks() - start_ticks;
    console::report(Report::Metric {
        name: "timer_ticks",
        value: ticks,
        unit: "count",
    });
    console::report(Report::Metric {
        name: "timer_elapsed",
        value: elapsed_us,
        unit: "us",
    });
    // The tick and the TSC are independent clocks; they must agree within a factor
    // of two (virtual machines delay interrupts, never by that much).
    let expected_us = ticks * 1_000_000 / time::TICK_HZ as u64;
    if elapsed_us < expected_us / 2 || elapsed_us > expected_us * 2 {
        return Err(Failure::TickRate { ticks, elapsed_us });
    }
    Ok(())
}

fn page_fault() -> Result<(), Failure> {
    EXPECTED_FAULT.store(PAGE_FAULT_ADDRESS, Ordering::SeqCst);
    // The address is unmapped by construction (above all RAM the kernel maps); the
    // read faults, and the page-fault handler ends the test.
    let value = probe::read_unmapped(PAGE_FAULT_ADDRESS);
    tracing::error!(value, "the unmapped read returned");
    Err(Failure::FaultDidNotHappen)
}

fn invalid_opcode() -> Result<(), Failure> {
    probe::invalid_opcode();
    Ok(())
}

fn heap() -> Result<(), Failure> {
    let before = memory::heap_used();
    let summary = heap_stress::run(20_000, arch::read_tsc()).map_err(Failure::Heap)?;
    let after = memory::heap_used();
    console::report(Report::Metric {
        name: "heap_allocations",
        value: summary.allocations,
        unit: "count",
    });
    console::report(Report::Metric {
        name: "heap_bytes",
        value: summary.bytes_allocated,
        unit: "bytes",
    });
    if before != after {
        return Err(Failure::HeapLeak { before, after });
    }
    Ok(())
}

fn frames() -> Result<(), Failure> {
    const COUNT: usize = 2048;
    let mut guard = memory::FRAMES.lock();
    let frames = guard.as_mut().ok_or(Failure::NoFrameAllocator)?;
    let free_before = frames.free_frames();
    let mut taken = [0u64; COUNT];
    for (index, slot) in taken.iter_mut().enumerate() {
        let frame = frames
            .allocate()
            .ok_or(Failure::OutOfFrames { allocated: index })?;
        // A freshly allocated frame, owned here until the end of the test.
        probe::fill_frame(frame, (index % 251) as u8);
        *slot = frame;
    }
    let mut sorted = taken;
    sorted.sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(Failure::FrameTwice(pair[0]));
    }
    for (index, &frame) in taken.iter().enumerate() {
        // The frame is still allocated to this test and was filled above.
        if let Some(offset) = probe::frame_mismatch(frame, (index % 251) as u8) {
            return Err(Failure::FrameContent { frame, offset });
        }
    }
    for &frame in &taken {
        frames.free(frame).map_err(Failure::FrameFree)?;
    }
    if frames.free(taken[0]).is_ok() {
        return Err(Failure::DoubleFreeAccepted(taken[0]));
    }
    let block = frames
        .allocate_contiguous(512, 512)
        .ok_or(Failure::OutOfFrames { allocated: 0 })?;
    frames
        .free_contiguous(block, 512)
        .map_err(Failure::FrameFree)?;
    let free_after = frames.free_frames();
    if free_after != free_before {
        return Err(Failure::FreeCountChanged {
            before: free_before,
            after: free_after,
        });
    }
    console::report(Report::Metric {
        name: "frames_checked",
        value: COUNT as u64,
        unit: "count",
    });
    Ok(())
}

/// Called by the exception handler before it ends the run with the fault code:
/// completes (and ends) the test that expected exactly this fault, or reports the
/// running test failed and returns.
fn after_fault(vector: u64, address: u64) {
    let Some(test) = running() else { return };
    let expected = EXPECTED_FAULT.load(Ordering::SeqCst);
    if vector == 14 && expected != 0 && address == expected {
        pass(test);
    }
    report_failure(
        test,
        format_args!(
            "unexpected CPU exception {} at address {address:#x}",
            arch::exception_name(vector)
        ),
    );
}

/// Called by the panic handler: fails the running test with the panic message.
pub fn after_panic(message: &str) {
    if let Some(test) = running() {
        fail(test, format_args!("panicked: {message}"));
    }
}
