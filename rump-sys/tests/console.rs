//! Where the hosted hypercalls write: `rumpuser_dprintf` diagnostics go to standard error
//! and `rumpuser_putchar` console output to standard output, as upstream's librumpuser
//! does. Needs no rump kernel. The hypercalls run in a child process (this test binary run
//! again with `RUMP_SYS_CONSOLE_CHILD` set), so the two streams can be told apart.

use std::ffi::{c_char, c_int};
use std::process::Command;

// Links the crate, whose hypercalls the child calls by their C names.
use rump_sys as _;

const CHILD_VARIABLE: &str = "RUMP_SYS_CONSOLE_CHILD";

unsafe extern "C" {
    fn rumpuser_dprintf(format: *const c_char, ...);
    fn rumpuser_putchar(character: c_int);
}

#[test]
#[ignore = "entry point of the child process the other test starts"]
fn console_child_entry() {
    assert!(
        std::env::var_os(CHILD_VARIABLE).is_some(),
        "started by dprintf_writes_to_standard_error_and_putchar_to_standard_output"
    );
    // SAFETY: a NUL-terminated format whose one conversion matches the int argument.
    unsafe { rumpuser_dprintf(c"diagnostic number %d\n".as_ptr(), 42 as c_int) };
    for byte in b"console text\n" {
        // SAFETY: putchar takes any byte value widened to int.
        unsafe { rumpuser_putchar(c_int::from(*byte)) };
    }
}

#[test]
fn dprintf_writes_to_standard_error_and_putchar_to_standard_output() {
    let output = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "console_child_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VARIABLE, "1")
        .output()
        .expect("child test process starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("diagnostic number 42\n"),
        "stderr:\n{stderr}"
    );
    assert!(!stdout.contains("diagnostic number"), "stdout:\n{stdout}");
    assert!(stdout.contains("console text\n"), "stdout:\n{stdout}");
    assert!(!stderr.contains("console text"), "stderr:\n{stderr}");
}
