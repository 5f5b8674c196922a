//! How the kernel ends a run: codes written to QEMU's `isa-debug-exit` device, the
//! exit status of a hosted run, and the status of a program that panicked.
//!
//! QEMU turns a value `v` written to the device into the process exit status
//! `(v << 1) | 1`, so a status of 0 or any even number can never come from the kernel:
//! the harness treats those as "QEMU stopped without the kernel's word". A hosted run
//! (the kernel as a Linux process) ends with [`ExitCode::host_status`] instead.

/// The I/O port of the `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// QEMU options that attach the exit device at [`DEBUG_EXIT_PORT`].
pub const DEBUG_EXIT_DEVICE: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";

/// Why the kernel ended the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// The requested test passed (or the kernel was asked to stop after boot).
    Success = 0x10,
    /// A test failed, the kernel panicked, or the command line named no known test.
    Failure = 0x11,
    /// A CPU exception nobody expected: the kernel printed the fault and stopped.
    Fault = 0x12,
}

impl ExitCode {
    /// Every code, for tables and exhaustive tests.
    pub const ALL: [ExitCode; 3] = [ExitCode::Success, ExitCode::Failure, ExitCode::Fault];

    /// The value the kernel writes to the exit port.
    pub const fn port_value(self) -> u32 {
        self as u32
    }

    /// The exit status the QEMU process ends with after the kernel wrote this code.
    pub const fn qemu_status(self) -> i32 {
        ((self as u32 as i32) << 1) | 1
    }

    /// The code behind a QEMU exit status, if the kernel wrote one.
    pub fn from_qemu_status(status: i32) -> Option<ExitCode> {
        Self::ALL
            .into_iter()
            .find(|code| code.qemu_status() == status)
    }

    /// The exit status of a hosted run (the kernel as a Linux process) that ends this
    /// way: 0 for success, as Linux programs do.
    pub const fn host_status(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Fault => 2,
        }
    }

    /// The code behind a hosted run's exit status, if the kernel chose it (a status
    /// of 101 is a panic of the runner itself, not a code).
    pub fn from_host_status(status: i32) -> Option<ExitCode> {
        Self::ALL
            .into_iter()
            .find(|code| code.host_status() == status)
    }

    /// A short lower-case name used in reports.
    pub const fn name(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::Failure => "failure",
            ExitCode::Fault => "fault",
        }
    }

    /// The code [`ExitCode::name`] names.
    pub fn from_name(name: &str) -> Option<ExitCode> {
        Self::ALL.into_iter().find(|code| code.name() == name)
    }
}

/// The exit status of a program that panicked: what the program runtime's panic
/// handler passes to `exit` (Rust's own convention), and how the hosted platform ends
/// a program thread that unwound without ending its process.
pub const PANIC_STATUS: i32 = 101;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_are_distinct() {
        for code in ExitCode::ALL {
            assert_eq!(ExitCode::from_qemu_status(code.qemu_status()), Some(code));
            assert_eq!(code.qemu_status() & 1, 1, "QEMU statuses are always odd");
        }
        assert_eq!(ExitCode::Success.qemu_status(), 33);
        assert_eq!(ExitCode::from_qemu_status(0), None);
        assert_eq!(ExitCode::from_qemu_status(1), None);
    }

    #[test]
    fn host_statuses_round_trip_and_a_panic_is_no_code() {
        for code in ExitCode::ALL {
            assert_eq!(ExitCode::from_host_status(code.host_status()), Some(code));
        }
        assert_eq!(ExitCode::Success.host_status(), 0);
        assert_eq!(ExitCode::from_host_status(PANIC_STATUS), None);
    }

    #[test]
    fn names_round_trip() {
        for code in ExitCode::ALL {
            assert_eq!(ExitCode::from_name(code.name()), Some(code));
        }
        assert_eq!(ExitCode::from_name("Success"), None);
    }
}
