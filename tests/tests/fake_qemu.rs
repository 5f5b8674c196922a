//! The harness against a stand-in QEMU: a shell script whose behaviour is chosen by
//! the "kernel command line". Proves that exit codes alone never pass a test, that
//! a hung machine is killed at the deadline, that a panicking caller still kills
//! its QEMU, and that a matrix row of the rump backend never passes on a kernel
//! without one.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use ethos_abi::drivers::Backend;
use ethos_abi::{ExitCode, KernelTest};
use ethos_tests::harness::{self, Expectation, RunEnd, Verdict};
use ethos_tests::matrix;
use ethos_tests::qemu::{Accelerator, Machine, QemuConfig, QemuProcess};

const SCRIPT: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
  if [ "$1" = "-append" ]; then mode="$2"; fi
  shift
done
ready="@ethos ready boot_ns=5 tsc_khz=1000000 timer=lapic boot=pvh"
case "$mode" in
  pass) echo "$ready"; echo "@ethos test-begin name=boot"; echo "@ethos test-pass name=boot"; exit 33 ;;
  silent-success) exit 33 ;;
  fail) echo "$ready"; echo "@ethos test-fail name=boot reason=it broke"; exit 35 ;;
  poweroff) echo "$ready"; echo "@ethos test-pass name=boot"; exit 0 ;;
  garbled) echo "$ready"; printf '@ethos test-pass\r\n'; exit 33 ;;
  hang:*) echo "$ready"; echo $$ > "${mode#hang:}"; exec sleep 600 ;;
  *backend.network=rump*)
    reason="devices: the network class is to be served by the rump backend, but no rump kernel is linked into this kernel (see RUMPKERNEL_DIR)"
    echo "boot failed: $reason"; echo "@ethos test-fail name=boot reason=$reason"; exit 35 ;;
  *backend.network=native*)
    echo "@ethos device class=network backend=native driver=virtio-net"
    echo "@ethos device class=datagram backend=native driver=smoltcp"
    echo "$ready"; echo "@ethos test-begin name=udp_echo"; echo "@ethos test-pass name=udp_echo"; exit 33 ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
"#;

fn stand_in() -> PathBuf {
    static WRITTEN: OnceLock<PathBuf> = OnceLock::new();
    let path = WRITTEN.get_or_init(|| {
        let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake-qemu");
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("qemu-system-x86_64");
        // Written once per run, whole, then renamed into place: a script left by an
        // older run is replaced, and one being executed is never written to.
        let fresh = directory.join(format!("qemu-system-x86_64.{}", std::process::id()));
        std::fs::write(&fresh, SCRIPT).unwrap();
        let mut permissions = std::fs::metadata(&fresh).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&fresh, permissions).unwrap();
        std::fs::rename(&fresh, &path).unwrap();
        path
    });
    set_qemu(path);
    path.clone()
}

/// Points the harness at the stand-in through the variable it reads.
fn set_qemu(path: &Path) {
    // SAFETY: every test of this file writes the same value before the harness
    // reads it, and nothing else in this test process reads `ETHOS_QEMU`.
    unsafe { std::env::set_var("ETHOS_QEMU", path) };
}

fn config(mode: &str) -> QemuConfig {
    stand_in();
    QemuConfig::pvh(
        Path::new("/nonexistent/kernel"),
        mode,
        Machine::Microvm,
        Accelerator::Tcg,
    )
}

fn process_exists(pid: &str) -> bool {
    std::process::Command::new("kill")
        .args(["-0", pid.trim()])
        .stderr(Stdio::null())
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

#[test]
fn a_reported_pass_with_the_success_code_passes() {
    let transcript = harness::run(&config("pass"), Duration::from_secs(20));
    assert_eq!(transcript.end, RunEnd::Kernel(ExitCode::Success));
    assert_eq!(
        harness::judge(
            &transcript,
            &Expectation::Pass {
                test: KernelTest::Boot
            }
        ),
        Verdict::Passed
    );
}

#[test]
fn the_success_code_alone_does_not_pass() {
    let transcript = harness::run(&config("silent-success"), Duration::from_secs(20));
    assert!(matches!(
        harness::judge(
            &transcript,
            &Expectation::Pass {
                test: KernelTest::Boot
            }
        ),
        Verdict::Failed(_)
    ));
}

#[test]
fn a_reported_failure_fails_with_its_reason() {
    let transcript = harness::run(&config("fail"), Duration::from_secs(20));
    assert_eq!(transcript.end, RunEnd::Kernel(ExitCode::Failure));
    assert_eq!(
        harness::judge(
            &transcript,
            &Expectation::Pass {
                test: KernelTest::Boot
            }
        ),
        Verdict::Failed("`boot` failed: it broke".into())
    );
}

#[test]
fn an_exit_without_the_kernel_code_fails() {
    let transcript = harness::run(&config("poweroff"), Duration::from_secs(20));
    assert_eq!(transcript.end, RunEnd::QemuStatus(0));
    assert!(matches!(
        harness::judge(&transcript, &Expectation::Pass { test: KernelTest::Boot }),
        Verdict::Failed(reason) if reason.contains("status 0")
    ));
}

#[test]
fn garbled_reports_fail() {
    let transcript = harness::run(&config("garbled"), Duration::from_secs(20));
    assert!(matches!(
        harness::judge(&transcript, &Expectation::Pass { test: KernelTest::Boot }),
        Verdict::Failed(reason) if reason.contains("malformed")
    ));
}

#[test]
fn a_hung_machine_is_killed_at_the_deadline() {
    let pid_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hang-deadline.pid");
    let _ = std::fs::remove_file(&pid_file);
    let transcript = harness::run(
        &config(&format!("hang:{}", pid_file.display())),
        Duration::from_millis(1500),
    );
    assert_eq!(
        transcript.end,
        RunEnd::TimedOut(Duration::from_millis(1500))
    );
    let pid = std::fs::read_to_string(&pid_file).expect("the stand-in wrote its pid");
    assert!(
        !process_exists(&pid),
        "QEMU {pid} still runs after the timeout"
    );
    let log = transcript
        .keep(Path::new(env!("CARGO_TARGET_TMPDIR")), "hang")
        .unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("no end within") && text.contains("@ethos ready"));
}

#[test]
fn a_panicking_caller_still_kills_its_qemu() {
    let pid_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hang-panic.pid");
    let _ = std::fs::remove_file(&pid_file);
    let config = config(&format!("hang:{}", pid_file.display()));
    let watched = pid_file.clone();
    let result = std::thread::spawn(move || {
        let _process = QemuProcess::spawn(config.command(), Stdio::null()).unwrap();
        while !watched.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(50));
        panic!("the caller fails while QEMU runs");
    })
    .join();
    assert!(result.is_err());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(!process_exists(&pid), "QEMU {pid} outlived the panic");
}

#[test]
fn a_missing_qemu_is_a_clear_failure() {
    let config = QemuConfig::pvh(Path::new("/k"), "pass", Machine::Pc, Accelerator::Tcg);
    let mut broken = std::process::Command::new("/nonexistent/qemu-system-x86_64");
    broken.args(config.arguments());
    assert!(QemuProcess::spawn(broken, Stdio::null()).is_err());
}

#[test]
fn a_rump_row_never_passes_on_a_kernel_without_rump() {
    let rump = matrix::rows()
        .into_iter()
        .find(|row| row.backend == Backend::Rump)
        .expect("the matrix has a row of the rump backend");
    let pass = Expectation::Pass { test: rump.test };
    // A kernel that honours the row's backend words refuses the boot.
    let refused = harness::run(&config(&rump.command_line()), Duration::from_secs(20));
    assert_eq!(refused.end, RunEnd::Kernel(ExitCode::Failure));
    let verdict = rump.judged(harness::judge(&refused, &pass), &[refused]);
    assert!(
        matches!(&verdict, Verdict::Failed(reason) if reason.contains("RUMPKERNEL_DIR")),
        "{verdict:?}"
    );
    // A kernel that serves the row's classes natively instead passes its test, and
    // the row still fails: its device lines name the wrong backend.
    let native_line = rump.command_line().replace("=rump", "=native");
    let native = harness::run(&config(&native_line), Duration::from_secs(20));
    assert_eq!(harness::judge(&native, &pass), Verdict::Passed);
    let verdict = rump.judged(Verdict::Passed, std::slice::from_ref(&native));
    assert!(
        matches!(&verdict, Verdict::Failed(reason) if reason.contains("served by native virtio-net")),
        "{verdict:?}"
    );
    // The native row of the same device passes on that run.
    let native_row = matrix::rows()
        .into_iter()
        .find(|row| row.backend == Backend::Native && row.command_line() == native_line)
        .expect("a native row for the rump row's device");
    assert_eq!(
        native_row.judged(Verdict::Passed, &[native]),
        Verdict::Passed
    );
}
