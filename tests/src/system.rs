//! The system tests: each boots the real kernel in QEMU and judges what it says.
//!
//! The table is data; `cargo xtask test` runs every row (or those matching a
//! filter). A row needing KVM is skipped, with the reason, where KVM is not usable.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ethos_abi::report::contract::PAGE_FAULT_ADDRESS;
use ethos_abi::{ExitCode, KernelTest, Report};

use crate::harness::{self, Expectation, RunEnd, Transcript, Verdict};
use crate::qemu::{Accelerator, BootMedia, GuestConsole, Machine, QemuConfig, kvm_usable};

/// What a row boots.
#[derive(Clone, Copy, Debug)]
pub enum Media {
    /// The kernel ELF through PVH, with a command line of `test=NAME` for the
    /// kernel test (if any) followed by `words`.
    Pvh {
        test: Option<KernelTest>,
        words: &'static str,
    },
    /// The production kernel (no in-kernel tests) through PVH, with these words.
    ProductionPvh { words: &'static str },
    /// The GRUB ISO built with `test=boot` (multiboot2 under SeaBIOS).
    BootIso,
    /// As [`Media::Pvh`] on a machine without `isa-debug-exit`, as on Firecracker:
    /// the kernel ends the run by a reset, and its exit report is the verdict.
    PvhWithoutExitDevice {
        test: Option<KernelTest>,
        words: &'static str,
    },
}

/// One system test.
#[derive(Clone, Copy, Debug)]
pub struct SystemTest {
    pub name: &'static str,
    pub about: &'static str,
    pub machine: Machine,
    pub accelerator: Accelerator,
    pub media: Media,
    /// The CPU model, where the row needs one other than the accelerator's default.
    pub cpu: Option<&'static str>,
    pub console: GuestConsole,
    pub expectation: Expectation,
    /// For tests of the harness itself: the run must be judged *failed*, with a
    /// reason containing this text.
    pub must_fail_with: Option<&'static str>,
    /// How long the run may take, where the accelerator's default is too short.
    pub timeout: Option<Duration>,
    /// Whether the kernel test must report every metric of
    /// [`Inputs::initial_image_counts`] with exactly that value.
    pub reports_initial_image: bool,
}

/// What the rows need from the build.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The kernel with its in-kernel tests (`test=NAME`).
    pub kernel: PathBuf,
    /// The kernel as users get it: no in-kernel tests.
    pub production_kernel: PathBuf,
    pub boot_iso: PathBuf,
    pub log_directory: PathBuf,
    /// What the initial image's description declares, as (metric name, count): the
    /// counts the `initial_image` kernel test must report.
    pub initial_image_counts: Vec<(&'static str, u64)>,
    /// Why the kernel cannot run rows of the rump backend (it links no rump
    /// kernel); `None` when it can. Such rows are skipped with this reason.
    pub rump_unavailable: Option<String>,
}

/// The outcome of one row.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub elapsed: Duration,
    /// Where the serial log was kept (only for failures).
    pub log: Option<PathBuf>,
}

const TCG_TIMEOUT: Duration = Duration::from_secs(60);
/// KVM here may be nested, where every exit is slow; boots can take seconds.
const KVM_TIMEOUT: Duration = Duration::from_secs(180);

const fn pvh(
    name: &'static str,
    about: &'static str,
    machine: Machine,
    accelerator: Accelerator,
    (test, words): (Option<KernelTest>, &'static str),
    expectation: Expectation,
) -> SystemTest {
    SystemTest {
        name,
        about,
        machine,
        accelerator,
        media: Media::Pvh { test, words },
        cpu: None,
        console: GuestConsole::Serial,
        expectation,
        must_fail_with: None,
        timeout: None,
        reports_initial_image: false,
    }
}

fn reports(transcript: &Transcript) -> Vec<Report<'_>> {
    transcript.reports().filter_map(Result::ok).collect()
}

fn fault_at_contract_address(transcript: &Transcript) -> Result<(), String> {
    let reports = reports(transcript);
    let fault = reports
        .iter()
        .find_map(|report| match report {
            Report::Fault {
                vector, address, ..
            } => Some((*vector, *address)),
            _ => None,
        })
        .ok_or("no fault report")?;
    if fault != (14, PAGE_FAULT_ADDRESS) {
        return Err(format!(
            "fault report names vector {} at {:#x}, expected a page fault at {PAGE_FAULT_ADDRESS:#x}",
            fault.0, fault.1
        ));
    }
    if !reports
        .iter()
        .any(|r| matches!(r, Report::TestPass { name } if *name == "page_fault"))
    {
        return Err("no test-pass report for `page_fault`".into());
    }
    let printed = transcript
        .lines
        .iter()
        .any(|(_, line)| line.contains(&format!("faulting address {PAGE_FAULT_ADDRESS:#018x}")));
    printed
        .then_some(())
        .ok_or_else(|| "the console report does not name the faulting address".into())
}

/// The (vector, address) of every fault report, in order.
fn fault_reports(transcript: &Transcript) -> Vec<(u8, u64)> {
    reports(transcript)
        .iter()
        .filter_map(|report| match report {
            Report::Fault {
                vector, address, ..
            } => Some((*vector, *address)),
            _ => None,
        })
        .collect()
}

/// A page fault reported in the guard page the test names, and the test passed.
fn guard_page_fault_reported(transcript: &Transcript) -> Result<(), String> {
    passed(transcript, KernelTest::ThreadStackOverflow)?;
    let guard = transcript
        .metric("thread_guard_page")
        .ok_or("no `thread_guard_page` metric")?;
    let faults = fault_reports(transcript);
    match faults.as_slice() {
        [(14, address)] if (guard..guard + 4096).contains(address) => Ok(()),
        other => Err(format!(
            "fault reports {other:?}, expected one page fault in the guard page {guard:#x}"
        )),
    }
}

fn invalid_opcode_reported(transcript: &Transcript) -> Result<(), String> {
    let reports = reports(transcript);
    if !reports
        .iter()
        .any(|r| matches!(r, Report::Fault { vector: 6, .. }))
    {
        return Err("no fault report for vector 6 (#UD)".into());
    }
    let text: String = transcript
        .lines
        .iter()
        .map(|(_, line)| line.as_str())
        .collect();
    for register in ["rip=", "rsp=", "rax=", "r15="] {
        if !text.contains(register) {
            return Err(format!("the register dump lacks `{register}`"));
        }
    }
    if !reports.iter().any(|r| {
        matches!(r, Report::TestFail { name, reason } if *name == "invalid_opcode" && reason.contains("invalid opcode"))
    }) {
        return Err("the running test was not failed with the exception's name".into());
    }
    Ok(())
}

fn panic_reported(transcript: &Transcript) -> Result<(), String> {
    let printed = transcript
        .lines
        .iter()
        .any(|(_, line)| line.starts_with("kernel panic: deliberate panic"));
    if !printed {
        return Err("no `kernel panic:` line with the message".into());
    }
    reports(transcript)
        .iter()
        .any(|r| matches!(r, Report::TestFail { name, reason } if *name == "panic" && reason.starts_with("panicked: deliberate panic")))
        .then_some(())
        .ok_or_else(|| "no test-fail report for `panic` carrying the panic message".into())
}

fn unknown_test_reported(transcript: &Transcript) -> Result<(), String> {
    reports(transcript)
        .iter()
        .any(|r| matches!(r, Report::TestFail { name, reason } if *name == "no_such_test" && reason.contains("unknown test `no_such_test`") && reason.contains("known tests: boot")))
        .then_some(())
        .ok_or_else(|| "the kernel did not report the unknown test with the known names".into())
}

/// What the `hello` program prints, as the console shows it.
const HELLO_LINE: &str = "user ethos: hello, world, from an ELF program";

fn printed(transcript: &Transcript, expected: &str) -> Result<(), String> {
    transcript
        .lines
        .iter()
        .any(|(_, line)| line == expected)
        .then_some(())
        .ok_or_else(|| format!("no console line `{expected}`"))
}

fn user_hello_checked(transcript: &Transcript) -> Result<(), String> {
    passed(transcript, KernelTest::UserHello)?;
    printed(transcript, HELLO_LINE)
}

fn user_pointers_checked(transcript: &Transcript) -> Result<(), String> {
    passed(transcript, KernelTest::UserPointers)?;
    printed(transcript, "user ethos: hello from ring 3")?;
    // `getUser` wrote the name onto the program's stack, which printed it.
    printed(transcript, "user ethos: ethos")
}

/// The kernel address the `user_fault` test's program reads.
const USER_FAULT_KERNEL_ADDRESS: u64 = 0x10_0000;

fn user_fault_checked(transcript: &Transcript) -> Result<(), String> {
    passed(transcript, KernelTest::UserFault)?;
    let faults = fault_reports(transcript);
    if faults != [(14, USER_FAULT_KERNEL_ADDRESS), (6, 0)] {
        return Err(format!(
            "fault reports {faults:?}, expected a page fault at {USER_FAULT_KERNEL_ADDRESS:#x} then #UD"
        ));
    }
    let endings: Vec<(&str, &str, i64)> = reports(transcript)
        .iter()
        .filter_map(|report| match report {
            Report::ProcessEnd {
                program,
                how,
                status,
                ..
            } => Some((*program, *how, *status)),
            _ => None,
        })
        .collect();
    let expected = [
        ("read_kernel", "fault", 14),
        ("invalid_opcode", "fault", 6),
        ("spin", "time-limit", 100),
        ("hello", "exit", 0),
    ];
    if endings != expected {
        return Err(format!(
            "process endings {endings:?}, expected {expected:?}"
        ));
    }
    printed(transcript, HELLO_LINE)
}

/// The sources the kernel's seeding line names (`sources=rdrand+jitter`).
fn seed_sources(transcript: &Transcript) -> Result<Vec<String>, String> {
    let line = transcript
        .lines
        .iter()
        .map(|(_, line)| line)
        .find(|line| line.contains("random generator seeded"))
        .ok_or("no `random generator seeded` line")?;
    let sources = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("sources="))
        .ok_or_else(|| format!("the seeding line names no sources: {line}"))?;
    Ok(sources.split('+').map(str::to_string).collect())
}

fn seed_metric(transcript: &Transcript, name: &str) -> Result<u64, String> {
    transcript
        .metric(name)
        .ok_or_else(|| format!("no `{name}` metric"))
}

/// The `random` test passed with a CPU instruction among the credited sources.
fn random_from_cpu_checked(transcript: &Transcript) -> Result<(), String> {
    passed(transcript, KernelTest::Random)?;
    let sources = seed_sources(transcript)?;
    let cpu_bits = seed_metric(transcript, "random_rdseed_bits")?
        + seed_metric(transcript, "random_rdrand_bits")?;
    if cpu_bits == 0 || !sources.iter().any(|s| s == "rdseed" || s == "rdrand") {
        return Err(format!(
            "no RDSEED or RDRAND credit (sources {sources:?}, {cpu_bits} bits)"
        ));
    }
    // Timing samples are always mixed in; under TCG they may look too regular to
    // earn credit, so the count of samples is what shows they were taken.
    if seed_metric(transcript, "random_jitter_samples")? == 0 {
        return Err(format!(
            "no jitter samples were mixed in (sources {sources:?})"
        ));
    }
    Ok(())
}

/// The `random` test passed on timing jitter alone.
fn random_from_jitter_checked(transcript: &Transcript) -> Result<(), String> {
    passed(transcript, KernelTest::Random)?;
    let sources = seed_sources(transcript)?;
    if sources != ["jitter"] {
        return Err(format!("sources {sources:?}, expected jitter alone"));
    }
    let jitter = seed_metric(transcript, "random_jitter_bits")?;
    if jitter < 256 {
        return Err(format!("jitter credited {jitter} bits, fewer than 256"));
    }
    Ok(())
}

/// Whether the transcript reports every `(metric, value)` of `expected`, each with
/// exactly that value.
pub fn metrics_match(transcript: &Transcript, expected: &[(&str, u64)]) -> Result<(), String> {
    if expected.is_empty() {
        return Err("the build declared no counts to compare".into());
    }
    let reports = reports(transcript);
    for (wanted, value) in expected {
        let reported = reports.iter().find_map(|report| match report {
            Report::Metric { name, value, .. } if name == wanted => Some(*value),
            _ => None,
        });
        match reported {
            Some(reported) if reported == *value => {}
            Some(reported) => {
                return Err(format!(
                    "metric `{wanted}` is {reported}; the description declares {value}"
                ));
            }
            None => return Err(format!("no metric `{wanted}` was reported")),
        }
    }
    Ok(())
}

/// The boot ended before `ready`, naming the class, the rump backend and
/// `RUMPKERNEL_DIR`, and no class was served.
fn rump_refused_at_boot(transcript: &Transcript) -> Result<(), String> {
    let reports = reports(transcript);
    if reports.iter().any(|r| matches!(r, Report::Ready { .. })) {
        return Err("the kernel reported ready: it booted without the backend asked for".into());
    }
    if let Some(Report::Device {
        class,
        backend,
        driver,
    }) = reports.iter().find(|r| matches!(r, Report::Device { .. }))
    {
        return Err(format!(
            "the {} class was served by {} {driver} on a refused boot",
            class.name(),
            backend.name()
        ));
    }
    reports
        .iter()
        .any(|r| {
            matches!(r, Report::TestFail { name, reason } if *name == "boot"
                && reason.contains("network class")
                && reason.contains("rump backend")
                && reason.contains("RUMPKERNEL_DIR"))
        })
        .then_some(())
        .ok_or_else(|| {
            "no boot failure naming the network class, the rump backend and RUMPKERNEL_DIR".into()
        })
}

/// One word that makes the command line (`test=boot ` and it) 1106 bytes long, past
/// the 1024 the kernel reads.
const OVERLONG_WORDS: &str = concat!(
    "pad=",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
);

fn overlong_command_line_refused(transcript: &Transcript) -> Result<(), String> {
    let length = command_line(Some(KernelTest::Boot), OVERLONG_WORDS).len();
    let expected = format!("kernel command line is {length} bytes; at most 1024 are read");
    reports(transcript)
        .iter()
        .any(|r| matches!(r, Report::TestFail { name, reason } if *name == "boot" && reason.contains(&expected)))
        .then_some(())
        .ok_or_else(|| format!("no boot failure saying `{expected}`"))
}

/// The words Firecracker and a Linux-minded user put beside the kernel's own.
const VMM_WORDS: &str = "console=ttyS0 reboot=k panic=1 pci=off quiet panic=1";

/// The boot passed, `pci=off` left PCI alone, and every word of [`VMM_WORDS`] the
/// kernel does not act on was said to be ignored, once.
fn vmm_words_ignored(transcript: &Transcript) -> Result<(), String> {
    passed(transcript, KernelTest::Boot)?;
    for word in ["reboot=k", "panic=1", "quiet"] {
        let said = transcript
            .lines
            .iter()
            .filter(|(_, line)| {
                line.contains("command line word ignored")
                    && line.ends_with(&format!("word={word}"))
            })
            .count();
        if said != 1 {
            return Err(format!(
                "`{word}` was said to be ignored {said} times, not once"
            ));
        }
    }
    let pci_left = transcript
        .lines
        .iter()
        .any(|(_, line)| line.contains("PCI left alone (pci=off)"));
    let pci_read = transcript
        .lines
        .iter()
        .any(|(_, line)| line.contains("PCI configuration space access="));
    match (pci_left, pci_read) {
        (true, false) => Ok(()),
        _ => Err(format!(
            "pci=off was not honoured: left alone {pci_left}, configuration space read {pci_read}"
        )),
    }
}

/// A misspelling of `init=` ends the boot with an error that names the word and the
/// key it resembles.
fn misspelling_refused(transcript: &Transcript) -> Result<(), String> {
    reports(transcript)
        .iter()
        .any(|r| {
            matches!(r, Report::TestFail { name, reason } if *name == "boot"
                && reason.contains("`inti=ipc`")
                && reason.contains("the kernel's `init=`")
                && reason.contains("init=SET"))
        })
        .then_some(())
        .ok_or_else(|| "no boot failure naming `inti=ipc` and `init=`".into())
}

/// The run ended by the kernel's reset, not by the exit device, and its exit report
/// said `code`.
fn ended_by_reset(transcript: &Transcript, code: ExitCode) -> Result<(), String> {
    match &transcript.end {
        RunEnd::Reported(reported) if *reported == code => Ok(()),
        other => Err(format!(
            "expected the kernel to report `{}` and reset the machine, but {other}",
            code.name()
        )),
    }
}

fn boot_passed_then_reset(transcript: &Transcript) -> Result<(), String> {
    passed(transcript, KernelTest::Boot)?;
    ended_by_reset(transcript, ExitCode::Success)
}

fn failure_reported_then_reset(transcript: &Transcript) -> Result<(), String> {
    reports(transcript)
        .iter()
        .any(|r| matches!(r, Report::TestFail { name, .. } if *name == "fail"))
        .then_some(())
        .ok_or("no test-fail report for `fail`")?;
    ended_by_reset(transcript, ExitCode::Failure)
}

/// `row` on a machine without `isa-debug-exit`, as on Firecracker.
const fn without_exit_device(row: SystemTest) -> SystemTest {
    let Media::Pvh { test, words } = row.media else {
        panic!("only a PVH row can drop the exit device");
    };
    SystemTest {
        media: Media::PvhWithoutExitDevice { test, words },
        ..row
    }
}

fn passed(transcript: &Transcript, test: KernelTest) -> Result<(), String> {
    let test = test.name();
    reports(transcript)
        .iter()
        .any(|r| matches!(r, Report::TestPass { name } if *name == test))
        .then_some(())
        .ok_or_else(|| format!("no test-pass report for `{test}`"))
}

/// Every system test, in the order they run.
pub fn all() -> Vec<SystemTest> {
    use Accelerator::{Kvm, Tcg};
    use Machine::{Microvm, Pc};
    let pass = |test| Expectation::Pass { test };
    let mut rows = vec![
        pvh(
            "boot-pvh-tcg-pc",
            "PVH through SeaBIOS's option ROM, TCG",
            Pc,
            Tcg,
            run_test(KernelTest::Boot, ""),
            pass(KernelTest::Boot),
        ),
        pvh(
            "boot-pvh-tcg-microvm",
            "PVH on microvm, TCG",
            Microvm,
            Tcg,
            run_test(KernelTest::Boot, ""),
            pass(KernelTest::Boot),
        ),
        pvh(
            "boot-pvh-kvm-pc",
            "PVH through SeaBIOS's option ROM, KVM",
            Pc,
            Kvm,
            run_test(KernelTest::Boot, ""),
            pass(KernelTest::Boot),
        ),
        pvh(
            "boot-pvh-kvm-microvm",
            "PVH on microvm, KVM",
            Microvm,
            Kvm,
            run_test(KernelTest::Boot, ""),
            pass(KernelTest::Boot),
        ),
        SystemTest {
            name: "boot-iso-multiboot2",
            about: "the GRUB ISO boots the kernel through multiboot2 under SeaBIOS",
            machine: Pc,
            accelerator: Tcg,
            media: Media::BootIso,
            cpu: None,
            console: GuestConsole::Serial,
            expectation: pass(KernelTest::Boot),
            must_fail_with: None,
            timeout: None,
            reports_initial_image: false,
        },
        pvh(
            "timer-lapic",
            "LAPIC timer ticks agree with the TSC clock",
            Microvm,
            Tcg,
            run_test(KernelTest::Timer, ""),
            pass(KernelTest::Timer),
        ),
        pvh(
            "timer-pit",
            "PIT fallback ticks agree with the TSC clock",
            Pc,
            Tcg,
            run_test(KernelTest::Timer, "timer=pit"),
            pass(KernelTest::Timer),
        ),
        pvh(
            "page-fault",
            "an unmapped read is caught and reported with its address",
            Microvm,
            Tcg,
            run_test(KernelTest::PageFault, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: fault_at_contract_address,
            },
        ),
        pvh(
            "invalid-opcode",
            "an unexpected #UD is reported with registers and ends the run as a fault",
            Microvm,
            Tcg,
            run_test(KernelTest::InvalidOpcode, ""),
            Expectation::Ends {
                code: ExitCode::Fault,
                check: invalid_opcode_reported,
            },
        ),
        pvh(
            "heap",
            "heap stress: many sizes, freed, reused, contents checked",
            Microvm,
            Tcg,
            run_test(KernelTest::Heap, ""),
            pass(KernelTest::Heap),
        ),
        pvh(
            "frames",
            "frame allocator on real memory",
            Microvm,
            Tcg,
            run_test(KernelTest::Frames, ""),
            pass(KernelTest::Frames),
        ),
        pvh(
            "random-tcg-max",
            "the kernel generator seeded with RDRAND (TCG's `max` CPU) and jitter; 1 MiB checked",
            Microvm,
            Tcg,
            run_test(KernelTest::Random, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: random_from_cpu_checked,
            },
        ),
        SystemTest {
            cpu: Some("qemu64"),
            ..pvh(
                "random-tcg-jitter",
                "the kernel generator seeded from timing jitter alone (qemu64: no RDRAND, no RDSEED)",
                Microvm,
                Tcg,
                run_test(KernelTest::Random, ""),
                Expectation::Ends {
                    code: ExitCode::Success,
                    check: random_from_jitter_checked,
                },
            )
        },
        pvh(
            "user-hello",
            "the hello program, loaded from its ELF file, prints in ring 3 and exits",
            Microvm,
            Tcg,
            run_test(KernelTest::UserHello, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: user_hello_checked,
            },
        ),
        pvh(
            "user-hello-pc",
            "the hello program on the PC machine (SeaBIOS, legacy devices present)",
            Pc,
            Tcg,
            run_test(KernelTest::UserHello, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: user_hello_checked,
            },
        ),
        pvh(
            "user-pointers",
            "a program's kernel, unmapped and read-only addresses are refused; its stack takes a result",
            Microvm,
            Tcg,
            run_test(KernelTest::UserPointers, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: user_pointers_checked,
            },
        ),
        pvh(
            "user-fault",
            "programs reading a kernel address or running #UD are killed and reported, one that never ends is stopped; the kernel runs on",
            Microvm,
            Tcg,
            run_test(KernelTest::UserFault, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: user_fault_checked,
            },
        ),
        pvh(
            "user-pointers-kvm",
            "user-pointers under KVM: every check of a call's pointers, with system calls made the way the hypervisor lets them",
            Microvm,
            Kvm,
            run_test(KernelTest::UserPointers, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: user_pointers_checked,
            },
        ),
        pvh(
            "user-fault-kvm",
            "user-fault under KVM: faults kill only their program, the timer stops a spinning one, and hello's calls work after them",
            Microvm,
            Kvm,
            run_test(KernelTest::UserFault, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: user_fault_checked,
            },
        ),
        SystemTest {
            reports_initial_image: true,
            ..pvh(
                "initial-image",
                "the embedded initial image is read, holds what images/boot/image.toml declares, and makes a process model",
                Microvm,
                Tcg,
                run_test(KernelTest::InitialImage, ""),
                pass(KernelTest::InitialImage),
            )
        },
        pvh(
            "thread-ping-pong",
            "eight kernel threads pass a turn 100,000 times through one mutex and one condition variable, in order",
            Microvm,
            Tcg,
            run_test(KernelTest::ThreadPingPong, ""),
            pass(KernelTest::ThreadPingPong),
        ),
        pvh(
            "thread-sleep",
            "kernel threads sleeping or waiting with deadlines wake no earlier than their deadlines, in deadline order",
            Microvm,
            Tcg,
            run_test(KernelTest::ThreadSleep, ""),
            pass(KernelTest::ThreadSleep),
        ),
        pvh(
            "thread-interrupt-wake",
            "the timer interrupt handler wakes a kernel thread waiting on an event, which wakes two more",
            Microvm,
            Tcg,
            run_test(KernelTest::ThreadInterruptWake, ""),
            pass(KernelTest::ThreadInterruptWake),
        ),
        pvh(
            "thread-tls",
            "kernel threads with TLS blocks read their own %fs-relative values back after switches and preemptions",
            Microvm,
            Tcg,
            run_test(KernelTest::ThreadTls, ""),
            pass(KernelTest::ThreadTls),
        ),
        pvh(
            "thread-fpu",
            "kernel threads that use SSE keep their XMM registers and MXCSR across switches and preemptions",
            Microvm,
            Tcg,
            run_test(KernelTest::ThreadFpu, ""),
            pass(KernelTest::ThreadFpu),
        ),
        pvh(
            "thread-with-process",
            "a kernel thread that never yields and user processes (spin, hello) all progress on one CPU",
            Microvm,
            Tcg,
            run_test(KernelTest::ThreadWithProcess, ""),
            pass(KernelTest::ThreadWithProcess),
        ),
        pvh(
            "thread-tls-kvm",
            "thread-tls under KVM: FS base and TLS blocks per thread with the hypervisor's MSR handling",
            Microvm,
            Kvm,
            run_test(KernelTest::ThreadTls, ""),
            pass(KernelTest::ThreadTls),
        ),
        pvh(
            "thread-fpu-kvm",
            "thread-fpu under KVM: CR0/CR4 and fxsave64/fxrstor64 as the hypervisor runs them",
            Microvm,
            Kvm,
            run_test(KernelTest::ThreadFpu, ""),
            pass(KernelTest::ThreadFpu),
        ),
        pvh(
            "thread-with-process-kvm",
            "thread-with-process under KVM: ring-0 preemption and ring-3 processes on one CPU",
            Microvm,
            Kvm,
            run_test(KernelTest::ThreadWithProcess, ""),
            pass(KernelTest::ThreadWithProcess),
        ),
        pvh(
            "thread-stack-overflow",
            "a kernel thread that overflows its stack faults on its guard page, is reported and ended; the kernel goes on",
            Microvm,
            Tcg,
            run_test(KernelTest::ThreadStackOverflow, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: guard_page_fault_reported,
            },
        ),
        pvh(
            "panic",
            "a panic exits with the failure code and its message",
            Microvm,
            Tcg,
            run_test(KernelTest::Panic, ""),
            Expectation::Ends {
                code: ExitCode::Failure,
                check: panic_reported,
            },
        ),
        pvh(
            "unknown-test",
            "a test name that does not exist is reported and fails the run",
            Microvm,
            Tcg,
            words("test=no_such_test"),
            Expectation::Ends {
                code: ExitCode::Failure,
                check: unknown_test_reported,
            },
        ),
        SystemTest {
            console: GuestConsole::DebugPort,
            ..pvh(
                "console-debug-port",
                "with console=debugcon the kernel speaks on port 0xe9 alone, as under Xen",
                Microvm,
                Tcg,
                run_test(KernelTest::Boot, "console=debugcon"),
                pass(KernelTest::Boot),
            )
        },
        pvh(
            "devices-rump-refused",
            "a class asked of the rump backend, on a kernel that links no rump kernel, ends the \
             boot with a failure naming RUMPKERNEL_DIR",
            Microvm,
            Tcg,
            run_test(KernelTest::Boot, "backend.network=rump"),
            Expectation::Ends {
                code: ExitCode::Failure,
                check: rump_refused_at_boot,
            },
        ),
        pvh(
            "command-line-vmm-words",
            "a VMM's and Linux's words (console=ttyS0 reboot=k panic=1 pci=off quiet) boot: \
             pci=off is honoured, the rest are said to be ignored once each",
            Microvm,
            Tcg,
            run_test(KernelTest::Boot, VMM_WORDS),
            Expectation::Ends {
                code: ExitCode::Success,
                check: vmm_words_ignored,
            },
        ),
        pvh(
            "command-line-misspelt",
            "a misspelling of one of the kernel's own words (inti=ipc) is still an error \
             naming the word, the key it resembles and the known words",
            Microvm,
            Tcg,
            (None, "inti=ipc"),
            Expectation::Ends {
                code: ExitCode::Failure,
                check: misspelling_refused,
            },
        ),
        without_exit_device(pvh(
            "exit-by-reset-microvm",
            "without isa-debug-exit the kernel reports its exit and resets the machine \
             (a triple fault: microvm has no i8042); the report is the verdict",
            Microvm,
            Tcg,
            run_test(KernelTest::Boot, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: boot_passed_then_reset,
            },
        )),
        without_exit_device(pvh(
            "exit-by-reset-pc",
            "without isa-debug-exit the kernel reports its exit and resets the PC (the \
             i8042's reset line, a triple fault if that did nothing); the report is the \
             verdict",
            Pc,
            Tcg,
            run_test(KernelTest::Boot, ""),
            Expectation::Ends {
                code: ExitCode::Success,
                check: boot_passed_then_reset,
            },
        )),
        without_exit_device(pvh(
            "exit-by-reset-failure",
            "a failing test on a machine without isa-debug-exit ends in a reset whose \
             exit report says failure",
            Microvm,
            Tcg,
            run_test(KernelTest::Fail, ""),
            Expectation::Ends {
                code: ExitCode::Failure,
                check: failure_reported_then_reset,
            },
        )),
        pvh(
            "command-line-overlong",
            "a command line longer than the kernel reads ends the boot with its true length",
            Microvm,
            Tcg,
            run_test(KernelTest::Boot, OVERLONG_WORDS),
            Expectation::Ends {
                code: ExitCode::Failure,
                check: overlong_command_line_refused,
            },
        ),
        SystemTest {
            must_fail_with: Some("deliberate failure"),
            ..pvh(
                "harness-reports-failure",
                "a kernel test that fails on purpose is judged failed by the harness",
                Microvm,
                Tcg,
                run_test(KernelTest::Fail, ""),
                pass(KernelTest::Fail),
            )
        },
    ];
    rows.extend(crate::scenarios::all());
    rows.extend(crate::hostile::all());
    rows
}

/// The words of a kernel test's row: `test=NAME` then the rest.
pub(crate) const fn run_test(
    test: KernelTest,
    words: &'static str,
) -> (Option<KernelTest>, &'static str) {
    (Some(test), words)
}

/// A row's command line without a kernel test.
pub(crate) const fn words(words: &'static str) -> (Option<KernelTest>, &'static str) {
    (None, words)
}

/// The command line of a row: `test=NAME` for its kernel test, then its words.
pub fn command_line(test: Option<KernelTest>, words: &str) -> String {
    let test = test.map(|test| format!("test={}", test.name()));
    test.into_iter()
        .chain((!words.is_empty()).then(|| words.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl SystemTest {
    /// The QEMU configuration of this row.
    pub fn config(&self, inputs: &Inputs) -> QemuConfig {
        let mut config = QemuConfig::pvh(&inputs.kernel, "", self.machine, self.accelerator);
        config.console = self.console;
        config.cpu = self.cpu.map(str::to_string);
        config.media = match self.media {
            Media::Pvh { test, words } => BootMedia::PvhKernel {
                kernel: inputs.kernel.clone(),
                command_line: command_line(test, words),
            },
            Media::ProductionPvh { words } => BootMedia::PvhKernel {
                kernel: inputs.production_kernel.clone(),
                command_line: words.to_string(),
            },
            Media::BootIso => BootMedia::Iso {
                image: inputs.boot_iso.clone(),
            },
            Media::PvhWithoutExitDevice { test, words } => {
                config.exit_device = false;
                BootMedia::PvhKernel {
                    kernel: inputs.kernel.clone(),
                    command_line: command_line(test, words),
                }
            }
        };
        config
    }

    /// Whether the row asks for a class of the rump backend (`backend.CLASS=rump`).
    /// Such a row checks how a kernel without a rump kernel refuses, so it is skipped
    /// for a kernel that links one.
    pub fn asks_for_rump(&self) -> bool {
        matches!(self.media, Media::Pvh { words, .. } if words
            .split_whitespace()
            .any(|word| word.starts_with("backend.") && word.ends_with("=rump")))
    }

    /// Runs this row and judges it.
    pub fn run(&self, inputs: &Inputs) -> Outcome {
        let started = Instant::now();
        if self.asks_for_rump() && inputs.rump_unavailable.is_none() {
            return Outcome {
                verdict: Verdict::Skipped(
                    "this kernel links a rump kernel; the row checks a kernel without one".into(),
                ),
                elapsed: started.elapsed(),
                log: None,
            };
        }
        if self.accelerator == Accelerator::Kvm
            && let Err(reason) = kvm_usable()
        {
            return Outcome {
                verdict: Verdict::Skipped(reason.to_string()),
                elapsed: started.elapsed(),
                log: None,
            };
        }
        let timeout = self.timeout.unwrap_or(match self.accelerator {
            Accelerator::Kvm => KVM_TIMEOUT,
            Accelerator::Tcg => TCG_TIMEOUT,
        });
        let transcript = harness::run(&self.config(inputs), timeout);
        let judged = match harness::judge(&transcript, &self.expectation) {
            Verdict::Passed if self.reports_initial_image => {
                match metrics_match(&transcript, &inputs.initial_image_counts) {
                    Ok(()) => Verdict::Passed,
                    Err(reason) => Verdict::Failed(reason),
                }
            }
            verdict => verdict,
        };
        let verdict = match (self.must_fail_with, judged) {
            (None, verdict) => verdict,
            (Some(needle), Verdict::Failed(reason)) if reason.contains(needle) => Verdict::Passed,
            (Some(needle), Verdict::Failed(reason)) => Verdict::Failed(format!(
                "the harness failed the run, but for `{reason}` instead of `{needle}`"
            )),
            (Some(_), other) => Verdict::Failed(format!(
                "a kernel test that always fails was judged {other:?}: the harness passes vacuously"
            )),
        };
        let log = match verdict {
            Verdict::Failed(_) => transcript.keep(&inputs.log_directory, self.name).ok(),
            _ => None,
        };
        Outcome {
            verdict,
            elapsed: started.elapsed(),
            log,
        }
    }
}

/// The rows whose name contains `filter` (all rows for `None`).
pub fn select(filter: Option<&str>) -> Vec<SystemTest> {
    all()
        .into_iter()
        .filter(|test| filter.is_none_or(|filter| test.name.contains(filter)))
        .collect()
}

/// Where failed runs' logs go, under a target directory.
pub fn log_directory(target: &Path) -> PathBuf {
    target.join("test-logs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_row_can_fail() {
        let rows = all();
        let mut names: Vec<_> = rows.iter().map(|row| row.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rows.len());
        // Every pass expectation names a kernel test; the harness self-test is the
        // only row that must fail.
        assert_eq!(
            rows.iter()
                .filter(|row| row.must_fail_with.is_some())
                .count(),
            1
        );
    }

    fn seeded_run(
        sources: &str,
        rdrand_bits: u64,
        jitter_bits: u64,
        jitter_samples: u64,
    ) -> Transcript {
        let lines = [
            format!(
                "[ 0.03] INFO  ethos_platform_x86_64::entropy: random generator seeded sources={sources} credited_bits=356"
            ),
            "@ethos test-begin name=random".to_string(),
            "@ethos metric name=random_rdseed_bits value=0 unit=bits".to_string(),
            format!("@ethos metric name=random_rdrand_bits value={rdrand_bits} unit=bits"),
            format!("@ethos metric name=random_jitter_bits value={jitter_bits} unit=bits"),
            format!("@ethos metric name=random_jitter_samples value={jitter_samples} unit=count"),
            "@ethos test-pass name=random".to_string(),
        ];
        Transcript {
            command: String::new(),
            lines: lines
                .into_iter()
                .map(|line| (Duration::ZERO, line))
                .collect(),
            stderr: String::new(),
            end: harness::RunEnd::Kernel(ExitCode::Success),
        }
    }

    #[test]
    fn seeding_checks_name_the_sources_they_need() {
        let cpu = seeded_run("rdrand+jitter", 256, 100, 256);
        let jitter = seeded_run("jitter", 0, 364, 768);
        assert_eq!(random_from_cpu_checked(&cpu), Ok(()));
        assert!(random_from_cpu_checked(&jitter).is_err());
        assert_eq!(random_from_jitter_checked(&jitter), Ok(()));
        assert!(random_from_jitter_checked(&cpu).is_err());
        // Jitter mixed in without credit is still mixed in; none taken at all is not.
        assert_eq!(
            random_from_cpu_checked(&seeded_run("rdrand", 256, 0, 256)),
            Ok(())
        );
        assert!(random_from_cpu_checked(&seeded_run("rdrand", 256, 0, 0)).is_err());
        assert!(random_from_jitter_checked(&seeded_run("jitter", 0, 200, 512)).is_err());
    }

    #[test]
    fn reported_metrics_are_compared_with_the_declared_counts() {
        let transcript = Transcript {
            command: "qemu".into(),
            lines: [
                "@ethos metric name=image_users value=4 unit=count",
                "@ethos metric name=image_programs value=1 unit=count",
            ]
            .iter()
            .map(|line| (Duration::ZERO, line.to_string()))
            .collect(),
            stderr: String::new(),
            end: harness::RunEnd::Kernel(ExitCode::Success),
        };
        assert_eq!(
            metrics_match(&transcript, &[("image_users", 4), ("image_programs", 1)]),
            Ok(())
        );
        assert_eq!(
            metrics_match(&transcript, &[("image_users", 3)]),
            Err("metric `image_users` is 4; the description declares 3".into())
        );
        assert_eq!(
            metrics_match(&transcript, &[("image_services", 1)]),
            Err("no metric `image_services` was reported".into())
        );
        assert!(metrics_match(&transcript, &[]).is_err());
    }

    #[test]
    fn a_refused_rump_boot_must_name_the_class_backend_and_variable() {
        let run = |lines: &[&str]| {
            harness::transcript_of(lines, harness::RunEnd::Kernel(ExitCode::Failure))
        };
        let refusal = "@ethos test-fail name=boot reason=devices: the network class is to be \
                       served by the rump backend, but no rump kernel is linked into this kernel \
                       (... RUMPKERNEL_DIR ...); choose `native` for network";
        assert_eq!(rump_refused_at_boot(&run(&[refusal])), Ok(()));
        let ready = "@ethos ready boot_ns=1 tsc_khz=1 timer=lapic boot=pvh";
        assert!(rump_refused_at_boot(&run(&[ready, refusal])).is_err());
        let served = "@ethos device class=network backend=native driver=virtio-net";
        assert!(rump_refused_at_boot(&run(&[served, refusal])).is_err());
        assert!(
            rump_refused_at_boot(&run(&[
                "@ethos test-fail name=boot reason=devices: something else"
            ]))
            .is_err()
        );
        let row = all()
            .into_iter()
            .find(|row| row.name == "devices-rump-refused")
            .unwrap();
        assert!(row.asks_for_rump());
        assert_eq!(all().iter().filter(|row| row.asks_for_rump()).count(), 1);
    }

    #[test]
    fn filter_selects_by_substring() {
        assert!(
            select(Some("boot-pvh"))
                .iter()
                .all(|row| row.name.starts_with("boot-pvh"))
        );
        assert_eq!(select(Some("no-such-row")).len(), 0);
        assert_eq!(select(None).len(), all().len());
    }
}
