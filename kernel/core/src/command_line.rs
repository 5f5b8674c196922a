//! The kernel command line: `key=value` words separated by spaces.
//!
//! Known keys: `test=NAME` (run one in-kernel test, then exit), `init=NAME` (start
//! the initial image's process set NAME, run it to its end, report, then exit; not
//! with `test=`), `log=LEVEL`
//! (`error`, `warn`, `info`, `debug`, `trace`), `timer=lapic|pit` (force a timer),
//! `console=serial|debugcon|both` (where the console goes; `debugcon` is I/O port
//! 0xe9, which Xen and QEMU's `-debugcon` read), `backend.CLASS=native|rump` (the
//! backend that serves device class CLASS for this boot, over the initial image's
//! `devices` choice).
//! Every other word is an error: a typo must not silently change what a test boots.

use core::fmt;

use ethos_abi::KernelTest;
use ethos_abi::drivers::{Backend, BackendChoice, DeviceClass};

/// How verbose the console log is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// Which device drives the periodic tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerChoice {
    /// The local APIC timer, calibrated against the TSC (the default).
    LocalApic,
    /// The legacy PIT through the 8259 interrupt controller.
    Pit,
}

/// Where console output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleChoice {
    /// The 16550 UART at COM1 (the default).
    Serial,
    /// The debug port 0xe9 only.
    DebugPort,
    /// Both.
    Both,
}

impl ConsoleChoice {
    pub fn serial(self) -> bool {
        matches!(self, ConsoleChoice::Serial | ConsoleChoice::Both)
    }

    pub fn debug_port(self) -> bool {
        matches!(self, ConsoleChoice::DebugPort | ConsoleChoice::Both)
    }
}

/// The backends the command line chooses, per class, over the image's choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendOverrides {
    chosen: [Option<Backend>; DeviceClass::ALL.len()],
}

impl BackendOverrides {
    /// The backend the command line chose for `class`, if it chose one.
    pub fn backend(&self, class: DeviceClass) -> Option<Backend> {
        self.chosen[class.index()]
    }

    /// `choice` with every class the command line names changed to its backend.
    pub fn apply(&self, mut choice: BackendChoice) -> BackendChoice {
        for class in DeviceClass::ALL {
            if let Some(backend) = self.backend(class) {
                choice.choose(class, backend);
            }
        }
        choice
    }
}

/// What the command line asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandLine<'a> {
    /// The test to run, by name as written (it may name no known test).
    pub test: Option<&'a str>,
    /// The initial image's process set to run, by name as written.
    pub init: Option<&'a str>,
    pub log_level: LogLevel,
    /// `None` lets the kernel pick the best timer the machine has.
    pub timer: Option<TimerChoice>,
    /// `None` lets the kernel pick (the debug port is added under Xen).
    pub console: Option<ConsoleChoice>,
    /// `backend.CLASS=NAME` words.
    pub backends: BackendOverrides,
    /// `rump.dma=refuse`: the rump kernel's drivers are refused every DMA allocation,
    /// so a regression run can show that a driver's failed request is reported and
    /// the kernel goes on (`rump.dma=grant`, the default, grants them).
    pub refuse_rump_dma: bool,
}

/// A word of the command line the kernel does not understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandLineError<'a> {
    /// A word without `=`, or with a key the kernel does not know.
    UnknownWord(&'a str),
    /// `log=` with a level that does not exist.
    BadLogLevel(&'a str),
    /// `timer=` with a timer that does not exist.
    BadTimer(&'a str),
    /// `console=` with a console that does not exist.
    BadConsole(&'a str),
    /// `backend.CLASS=` with a class that does not exist.
    BadDeviceClass(&'a str),
    /// `backend.CLASS=` with a backend that does not exist.
    BadBackend(&'a str),
    /// `rump.dma=` with neither `grant` nor `refuse`.
    BadRumpDma(&'a str),
    /// The same key twice: which one wins would be a guess.
    Repeated(&'a str),
    /// Both a test and a process set: the kernel runs one or the other.
    TestAndInit,
}

impl fmt::Display for CommandLineError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandLineError::UnknownWord(word) => write!(
                f,
                "unknown command line word `{word}` (known: test=NAME init=SET log=LEVEL \
                 timer=lapic|pit console=serial|debugcon|both backend.CLASS=native|rump \
                 rump.dma=grant|refuse)"
            ),
            CommandLineError::BadLogLevel(level) => write!(
                f,
                "unknown log level `{level}` (known: error warn info debug trace)"
            ),
            CommandLineError::BadTimer(timer) => {
                write!(f, "unknown timer `{timer}` (known: lapic pit)")
            }
            CommandLineError::BadConsole(console) => {
                write!(
                    f,
                    "unknown console `{console}` (known: serial debugcon both)"
                )
            }
            CommandLineError::BadDeviceClass(class) => {
                write!(f, "unknown device class `{class}` (known:")?;
                for class in DeviceClass::ALL {
                    write!(f, " {}", class.name())?;
                }
                write!(f, ")")
            }
            CommandLineError::BadBackend(backend) => {
                write!(f, "unknown backend `{backend}` (known: native rump)")
            }
            CommandLineError::BadRumpDma(value) => {
                write!(f, "unknown rump.dma `{value}` (known: grant refuse)")
            }
            CommandLineError::Repeated(key) => write!(f, "`{key}=` is given more than once"),
            CommandLineError::TestAndInit => {
                write!(f, "`test=` and `init=` cannot be given together")
            }
        }
    }
}

impl<'a> CommandLine<'a> {
    /// Parses the whole command line; the first bad word is the error.
    pub fn parse(text: &'a str) -> Result<CommandLine<'a>, CommandLineError<'a>> {
        let mut line = CommandLine {
            test: None,
            init: None,
            log_level: LogLevel::Info,
            timer: None,
            console: None,
            backends: BackendOverrides::default(),
            refuse_rump_dma: false,
        };
        let (mut saw_log, mut saw_timer, mut saw_dma) = (false, false, false);
        for word in text.split_ascii_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                return Err(CommandLineError::UnknownWord(word));
            };
            match key {
                "test" if line.test.is_some() => return Err(CommandLineError::Repeated(key)),
                "test" => line.test = Some(value),
                "init" if line.init.is_some() => return Err(CommandLineError::Repeated(key)),
                "init" => line.init = Some(value),
                "log" if saw_log => return Err(CommandLineError::Repeated(key)),
                "log" => {
                    saw_log = true;
                    line.log_level = match value {
                        "error" => LogLevel::Error,
                        "warn" => LogLevel::Warn,
                        "info" => LogLevel::Info,
                        "debug" => LogLevel::Debug,
                        "trace" => LogLevel::Trace,
                        _ => return Err(CommandLineError::BadLogLevel(value)),
                    };
                }
                "timer" if saw_timer => return Err(CommandLineError::Repeated(key)),
                "timer" => {
                    saw_timer = true;
                    line.timer = Some(match value {
                        "lapic" => TimerChoice::LocalApic,
                        "pit" => TimerChoice::Pit,
                        _ => return Err(CommandLineError::BadTimer(value)),
                    });
                }
                "console" if line.console.is_some() => {
                    return Err(CommandLineError::Repeated(key));
                }
                "console" => {
                    line.console = Some(match value {
                        "serial" => ConsoleChoice::Serial,
                        "debugcon" => ConsoleChoice::DebugPort,
                        "both" => ConsoleChoice::Both,
                        _ => return Err(CommandLineError::BadConsole(value)),
                    });
                }
                "rump.dma" if saw_dma => return Err(CommandLineError::Repeated(key)),
                "rump.dma" => {
                    saw_dma = true;
                    line.refuse_rump_dma = match value {
                        "grant" => false,
                        "refuse" => true,
                        _ => return Err(CommandLineError::BadRumpDma(value)),
                    };
                }
                _ => match key.strip_prefix("backend.") {
                    Some(class) => {
                        let class = DeviceClass::from_name(class)
                            .ok_or(CommandLineError::BadDeviceClass(class))?;
                        let backend =
                            Backend::from_name(value).ok_or(CommandLineError::BadBackend(value))?;
                        let slot = &mut line.backends.chosen[class.index()];
                        if slot.is_some() {
                            return Err(CommandLineError::Repeated(key));
                        }
                        *slot = Some(backend);
                    }
                    None => return Err(CommandLineError::UnknownWord(word)),
                },
            }
        }
        if line.test.is_some() && line.init.is_some() {
            return Err(CommandLineError::TestAndInit);
        }
        Ok(line)
    }

    /// The test the command line names, if it names a known one.
    pub fn known_test(&self) -> Option<Option<KernelTest>> {
        match self.test {
            None => Some(None),
            Some(name) => KernelTest::from_name(name).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rump_dma_is_granted_unless_refused() {
        assert!(!CommandLine::parse("").unwrap().refuse_rump_dma);
        assert!(
            !CommandLine::parse("rump.dma=grant")
                .unwrap()
                .refuse_rump_dma
        );
        assert!(
            CommandLine::parse("rump.dma=refuse")
                .unwrap()
                .refuse_rump_dma
        );
        assert_eq!(
            CommandLine::parse("rump.dma=never"),
            Err(CommandLineError::BadRumpDma("never"))
        );
        assert_eq!(
            CommandLine::parse("rump.dma=refuse rump.dma=grant"),
            Err(CommandLineError::Repeated("rump.dma"))
        );
    }

    #[test]
    fn empty_line_means_defaults() {
        let line = CommandLine::parse("").unwrap();
        assert_eq!(line.test, None);
        assert_eq!(line.log_level, LogLevel::Info);
        assert_eq!(line.timer, None);
    }

    #[test]
    fn every_key_is_read() {
        let line = CommandLine::parse("  test=heap   log=debug timer=pit console=both").unwrap();
        assert_eq!(line.console, Some(ConsoleChoice::Both));
        assert_eq!(line.test, Some("heap"));
        assert_eq!(line.log_level, LogLevel::Debug);
        assert_eq!(line.timer, Some(TimerChoice::Pit));
        assert_eq!(line.known_test(), Some(Some(KernelTest::Heap)));
        assert_eq!(line.backends, BackendOverrides::default());
    }

    #[test]
    fn backend_words_override_the_image_per_class() {
        let line =
            CommandLine::parse("test=udp_echo backend.network=rump backend.block=native").unwrap();
        assert_eq!(
            line.backends.backend(DeviceClass::Network),
            Some(Backend::Rump)
        );
        assert_eq!(line.backends.backend(DeviceClass::Datagram), None);
        let mut image = BackendChoice::NATIVE;
        image.choose(DeviceClass::Block, Backend::Rump);
        image.choose(DeviceClass::Entropy, Backend::Rump);
        let chosen = line.backends.apply(image);
        assert_eq!(chosen.backend(DeviceClass::Network), Backend::Rump);
        assert_eq!(chosen.backend(DeviceClass::Block), Backend::Native);
        assert_eq!(chosen.backend(DeviceClass::Entropy), Backend::Rump);
        assert_eq!(chosen.backend(DeviceClass::Datagram), Backend::Native);
    }

    #[test]
    fn unknown_test_names_are_kept_for_the_report() {
        let line = CommandLine::parse("test=no_such_test").unwrap();
        assert_eq!(line.test, Some("no_such_test"));
        assert_eq!(line.known_test(), None);
    }

    #[test]
    fn bad_words_are_errors() {
        assert_eq!(
            CommandLine::parse("quiet"),
            Err(CommandLineError::UnknownWord("quiet"))
        );
        assert_eq!(
            CommandLine::parse("tset=heap"),
            Err(CommandLineError::UnknownWord("tset=heap"))
        );
        assert_eq!(
            CommandLine::parse("log=loud"),
            Err(CommandLineError::BadLogLevel("loud"))
        );
        assert_eq!(
            CommandLine::parse("timer=hpet"),
            Err(CommandLineError::BadTimer("hpet"))
        );
        assert_eq!(
            CommandLine::parse("console=vga"),
            Err(CommandLineError::BadConsole("vga"))
        );
        assert_eq!(
            CommandLine::parse("test=a test=b"),
            Err(CommandLineError::Repeated("test"))
        );
        assert_eq!(
            CommandLine::parse("init=a init=b"),
            Err(CommandLineError::Repeated("init"))
        );
        assert_eq!(
            CommandLine::parse("init=ipc test=heap"),
            Err(CommandLineError::TestAndInit)
        );
        assert_eq!(CommandLine::parse("init=ipc").unwrap().init, Some("ipc"));
        assert_eq!(
            CommandLine::parse("backend.nic=rump"),
            Err(CommandLineError::BadDeviceClass("nic"))
        );
        assert_eq!(
            CommandLine::parse("backend.network=netbsd"),
            Err(CommandLineError::BadBackend("netbsd"))
        );
        assert_eq!(
            CommandLine::parse("backend.network=rump backend.network=native"),
            Err(CommandLineError::Repeated("backend.network"))
        );
        assert_eq!(
            CommandLine::parse("backend=rump"),
            Err(CommandLineError::UnknownWord("backend=rump"))
        );
    }
}
