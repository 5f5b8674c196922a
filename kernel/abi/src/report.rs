//! Structured result lines the kernel writes to its serial console for the harness.
//!
//! A report is one line `@ethos <kind> key=value ...`. Values never contain spaces,
//! except `reason`, which is always the last field and runs to the end of the line.
//! Any other console line is ordinary log output. The kernel formats reports with
//! [`core::fmt::Display`]; the harness parses them with [`Report::parse`]. Parsing must
//! never panic: the serial line is input from a machine that may be broken.

use core::fmt;

use crate::ExitCode;
use crate::drivers::{Backend, DeviceClass};

/// What every report line starts with.
pub const PREFIX: &str = "@ethos ";

/// One structured line from the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report<'a> {
    /// The kernel finished booting. `boot_ns` is kernel entry → ready, by the TSC.
    Ready {
        boot_ns: u64,
        tsc_khz: u64,
        timer: &'a str,
        boot_protocol: &'a str,
    },
    /// A test named on the command line starts.
    TestBegin { name: &'a str },
    /// The test passed; the kernel exits with success next.
    TestPass { name: &'a str },
    /// The test failed for `reason`; the kernel exits with failure next.
    TestFail { name: &'a str, reason: &'a str },
    /// A CPU exception, with the faulting address (CR2 for page faults, else 0).
    Fault {
        vector: u8,
        address: u64,
        instruction: u64,
    },
    /// A process ended: `how` is `exit` (with its status), `fault` (with the vector),
    /// `killed` (with the killer's process id), `time-limit` (with the ticks it used),
    /// `deadlock`, `bad-return` or `exec-failed` (with 0).
    ProcessEnd {
        process: u64,
        user: &'a str,
        program: &'a str,
        how: &'a str,
        status: i64,
    },
    /// A measured figure a test reports beside its verdict.
    Metric {
        name: &'a str,
        value: u64,
        unit: &'a str,
    },
    /// Which backend and driver serve a device class, one line per served class,
    /// written at boot before `ready`. A class nothing serves has no line.
    Device {
        class: DeviceClass,
        backend: Backend,
        driver: &'a str,
    },
    /// The typed file system's store is mounted: which backend and driver serve it,
    /// its size and use in blocks of `block_size` bytes, and how many problems its
    /// check at mount found (the store is used only when none).
    Store {
        backend: Backend,
        driver: &'a str,
        block_size: u64,
        blocks: u64,
        used: u64,
        problems: u64,
    },
    /// The kernel ends the machine with `code`: the last line of every run. On a
    /// machine with QEMU's `isa-debug-exit` the exit status says the same; on one
    /// without (Firecracker, a PC without the device) the kernel resets the machine
    /// next, and this line is the run's verdict.
    Exit { code: ExitCode },
}

/// Why a line that starts with [`PREFIX`] is not a valid report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportError {
    /// The kind after the prefix is not one this crate defines.
    UnknownKind,
    /// A field the kind needs is absent.
    MissingField(&'static str),
    /// A numeric field does not hold a number.
    BadNumber(&'static str),
    /// A field names no known value (a device class or backend).
    UnknownName(&'static str),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::UnknownKind => write!(f, "unknown report kind"),
            ReportError::MissingField(name) => write!(f, "report lacks the field `{name}`"),
            ReportError::BadNumber(name) => write!(f, "report field `{name}` is not a number"),
            ReportError::UnknownName(name) => {
                write!(f, "report field `{name}` names nothing known")
            }
        }
    }
}

/// The `key=value` fields of one report line, looked up by key.
struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Fields<'a> {
    fn text(&self, key: &'static str) -> Result<&'a str, ReportError> {
        // `reason` swallows the rest of the line, spaces included.
        if key == "reason" {
            return self
                .rest
                .find(" reason=")
                .map(|at| &self.rest[at + " reason=".len()..])
                .or_else(|| self.rest.strip_prefix("reason="))
                .ok_or(ReportError::MissingField(key));
        }
        let before_reason = match self.rest.find(" reason=") {
            Some(at) => &self.rest[..at],
            None => self.rest,
        };
        before_reason
            .split(' ')
            .filter_map(|field| field.split_once('='))
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value)
            .ok_or(ReportError::MissingField(key))
    }

    fn signed(&self, key: &'static str) -> Result<i64, ReportError> {
        self.text(key)?
            .parse()
            .map_err(|_| ReportError::BadNumber(key))
    }

    fn number(&self, key: &'static str) -> Result<u64, ReportError> {
        let text = self.text(key)?;
        let parsed = match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => text.parse(),
        };
        parsed.map_err(|_| ReportError::BadNumber(key))
    }
}

impl<'a> Report<'a> {
    /// Parses one console line. `Ok(None)` means the line is ordinary log output.
    pub fn parse(line: &'a str) -> Result<Option<Report<'a>>, ReportError> {
        let Some(body) = line.trim_end_matches(['\r', '\n']).strip_prefix(PREFIX) else {
            return Ok(None);
        };
        let (kind, rest) = body.split_once(' ').unwrap_or((body, ""));
        let fields = Fields { rest };
        let report = match kind {
            "ready" => Report::Ready {
                boot_ns: fields.number("boot_ns")?,
                tsc_khz: fields.number("tsc_khz")?,
                timer: fields.text("timer")?,
                boot_protocol: fields.text("boot")?,
            },
            "test-begin" => Report::TestBegin {
                name: fields.text("name")?,
            },
            "test-pass" => Report::TestPass {
                name: fields.text("name")?,
            },
            "test-fail" => Report::TestFail {
                name: fields.text("name")?,
                reason: fields.text("reason")?,
            },
            "fault" => Report::Fault {
                vector: u8::try_from(fields.number("vector")?)
                    .map_err(|_| ReportError::BadNumber("vector"))?,
                address: fields.number("address")?,
                instruction: fields.number("rip")?,
            },
            "process-end" => Report::ProcessEnd {
                process: fields.number("pid")?,
                user: fields.text("user")?,
                program: fields.text("program")?,
                how: fields.text("how")?,
                status: fields.signed("status")?,
            },
            "metric" => Report::Metric {
                name: fields.text("name")?,
                value: fields.number("value")?,
                unit: fields.text("unit")?,
            },
            "device" => Report::Device {
                class: DeviceClass::from_name(fields.text("class")?)
                    .ok_or(ReportError::UnknownName("class"))?,
                backend: Backend::from_name(fields.text("backend")?)
                    .ok_or(ReportError::UnknownName("backend"))?,
                driver: fields.text("driver")?,
            },
            "store" => Report::Store {
                backend: Backend::from_name(fields.text("backend")?)
                    .ok_or(ReportError::UnknownName("backend"))?,
                driver: fields.text("driver")?,
                block_size: fields.number("block_size")?,
                blocks: fields.number("blocks")?,
                used: fields.number("used")?,
                problems: fields.number("problems")?,
            },
            "exit" => Report::Exit {
                code: ExitCode::from_name(fields.text("code")?)
                    .ok_or(ReportError::UnknownName("code"))?,
            },
            _ => return Err(ReportError::UnknownKind),
        };
        Ok(Some(report))
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        match self {
            Report::Ready {
                boot_ns,
                tsc_khz,
                timer,
                boot_protocol,
            } => write!(
                f,
                "ready boot_ns={boot_ns} tsc_khz={tsc_khz} timer={timer} boot={boot_protocol}"
            ),
            Report::TestBegin { name } => write!(f, "test-begin name={name}"),
            Report::TestPass { name } => write!(f, "test-pass name={name}"),
            Report::TestFail { name, reason } => {
                write!(f, "test-fail name={name} reason={reason}")
            }
            Report::Fault {
                vector,
                address,
                instruction,
            } => write!(
                f,
                "fault vector={vector} address={address:#x} rip={instruction:#x}"
            ),
            Report::ProcessEnd {
                process,
                user,
                program,
                how,
                status,
            } => write!(
                f,
                "process-end pid={process} user={user} program={program} how={how} status={status}"
            ),
            Report::Metric { name, value, unit } => {
                write!(f, "metric name={name} value={value} unit={unit}")
            }
            Report::Device {
                class,
                backend,
                driver,
            } => write!(
                f,
                "device class={} backend={} driver={driver}",
                class.name(),
                backend.name()
            ),
            Report::Store {
                backend,
                driver,
                block_size,
                blocks,
                used,
                problems,
            } => write!(
                f,
                "store backend={} driver={driver} block_size={block_size} blocks={blocks} \
                 used={used} problems={problems}",
                backend.name()
            ),
            Report::Exit { code } => write!(f, "exit code={}", code.name()),
        }
    }
}

/// Contracts between in-kernel tests and the harness tests that judge them.
pub mod contract {
    /// The unmapped address the `page_fault` kernel test touches; the harness checks
    /// that the fault report names exactly this address.
    pub const PAGE_FAULT_ADDRESS: u64 = 0x0000_7fee_dead_b000;

    /// The `name` of the `test-fail` report with which the hosted platform refuses
    /// what it cannot do (a program that needs an MMU, `fork`): the harness reports
    /// such a run as skipped, with the report's reason, rather than failed.
    pub const HOSTED_UNSUPPORTED: &str = "hosted-unsupported";
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    fn round_trip(report: Report<'_>) {
        let line = format!("{report}");
        assert_eq!(Report::parse(&line), Ok(Some(report)), "line: {line}");
    }

    #[test]
    fn every_kind_round_trips() {
        round_trip(Report::Ready {
            boot_ns: 812_345,
            tsc_khz: 2_995_000,
            timer: "lapic",
            boot_protocol: "pvh",
        });
        round_trip(Report::TestBegin { name: "heap" });
        round_trip(Report::TestPass { name: "heap" });
        round_trip(Report::TestFail {
            name: "heap",
            reason: "block 3 changed: expected 0x5a, found 0x00 (name=x)",
        });
        round_trip(Report::Fault {
            vector: 14,
            address: contract::PAGE_FAULT_ADDRESS,
            instruction: 0xffff_8000_0010_2345,
        });
        round_trip(Report::ProcessEnd {
            process: 7,
            user: "alice",
            program: "calc-server",
            how: "exit",
            status: -3,
        });
        round_trip(Report::Metric {
            name: "ticks",
            value: 17,
            unit: "count",
        });
        for code in ExitCode::ALL {
            round_trip(Report::Exit { code });
        }
        for backend in Backend::ALL {
            round_trip(Report::Store {
                backend,
                driver: "ethos-store",
                block_size: 4096,
                blocks: 4096,
                used: 17,
                problems: 0,
            });
        }
        for class in DeviceClass::ALL {
            for backend in Backend::ALL {
                round_trip(Report::Device {
                    class,
                    backend,
                    driver: "virtio-net",
                });
            }
        }
    }

    #[test]
    fn device_lines_read_as_written() {
        assert_eq!(
            Report::parse("@ethos device class=datagram backend=native driver=smoltcp"),
            Ok(Some(Report::Device {
                class: DeviceClass::Datagram,
                backend: Backend::Native,
                driver: "smoltcp",
            }))
        );
        assert_eq!(
            format!(
                "{}",
                Report::Device {
                    class: DeviceClass::Network,
                    backend: Backend::Rump,
                    driver: "vioif",
                }
            ),
            "@ethos device class=network backend=rump driver=vioif"
        );
    }

    #[test]
    fn ordinary_lines_are_not_reports() {
        assert_eq!(Report::parse("INFO kernel: heap ready"), Ok(None));
        assert_eq!(Report::parse(""), Ok(None));
        assert_eq!(Report::parse("@ethosready"), Ok(None));
    }

    #[test]
    fn malformed_reports_are_errors_not_panics() {
        assert_eq!(
            Report::parse("@ethos launch name=x"),
            Err(ReportError::UnknownKind)
        );
        assert_eq!(
            Report::parse("@ethos test-pass"),
            Err(ReportError::MissingField("name"))
        );
        assert_eq!(
            Report::parse("@ethos fault vector=300 address=0x1 rip=0x2"),
            Err(ReportError::BadNumber("vector"))
        );
        assert_eq!(
            Report::parse("@ethos fault vector=14 address=0xZZ rip=0x2"),
            Err(ReportError::BadNumber("address"))
        );
        assert_eq!(
            Report::parse("@ethos test-fail name=x"),
            Err(ReportError::MissingField("reason"))
        );
        assert_eq!(
            Report::parse("@ethos device class=network backend=native"),
            Err(ReportError::MissingField("driver"))
        );
        assert_eq!(
            Report::parse("@ethos device class=nic backend=native driver=x"),
            Err(ReportError::UnknownName("class"))
        );
        assert_eq!(
            Report::parse("@ethos device class=block backend=netbsd driver=x"),
            Err(ReportError::UnknownName("backend"))
        );
    }

    #[test]
    fn carriage_returns_from_the_serial_line_are_ignored() {
        assert_eq!(
            Report::parse("@ethos test-pass name=timer\r\n"),
            Ok(Some(Report::TestPass { name: "timer" }))
        );
    }
}
