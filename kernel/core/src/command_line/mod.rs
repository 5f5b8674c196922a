//! The kernel command line: `key=value` words separated by spaces.
//!
//! Known keys: `test=NAME` (run one in-kernel test, then exit), `init=NAME` (start
//! the initial image's process set NAME, run it to its end, report, then exit; not
//! with `test=`), `log=LEVEL`
//! (`error`, `warn`, `info`, `debug`, `trace`), `timer=lapic|pit` (force a timer),
//! `console=serial|debugcon|both` (where the console goes; `debugcon` is I/O port
//! 0xe9, which Xen and QEMU's `-debugcon` read), `backend.CLASS=native|rump` (the
//! backend that serves device class CLASS for this boot, over the initial image's
//! `devices` choice), `storage=native|rump` (the backend of the typed file system's
//! store for this boot, over the image's `storage` choice), `rump.dma=grant|refuse`.
//!
//! Beside them the kernel reads the words a virtual machine monitor adds ([`vmm`]):
//! `virtio_mmio.device=SIZE@ADDR:IRQ` announces a virtio-mmio device, `pci=off`
//! leaves PCI alone, and `console=ttyS0` is the serial console. Every other word is
//! kept as ignored, for the kernel to report once, unless it looks like a misspelling
//! of one of the kernel's own keys: that is an error, so a typo cannot silently
//! change what a test boots.

mod vmm;

use core::fmt;

use crate::virtio_mmio::{MAXIMUM_MMIO_DEVICES, MmioDevices};

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
    /// `storage=NAME`: the store's backend over the initial image's `storage` choice.
    pub storage: Option<Backend>,
    /// `rump.dma=refuse`: the rump kernel's drivers are refused every DMA allocation,
    /// so a regression run can show that a driver's failed request is reported and
    /// the kernel goes on (`rump.dma=grant`, the default, grants them).
    pub refuse_rump_dma: bool,
    /// False after `pci=off`: the kernel then reads no PCI configuration space.
    pub pci: bool,
    /// The `virtio_mmio.device=` words, in order.
    pub mmio_devices: MmioDevices,
    /// The words the kernel does not act on, each once.
    pub ignored: IgnoredWords<'a>,
}

/// How many distinct ignored words are kept by name; the rest are only counted.
pub const KEPT_IGNORED_WORDS: usize = 16;

/// The words of the command line the kernel does not act on (a VMM's or Linux's),
/// each kept once, for the kernel to report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IgnoredWords<'a> {
    kept: [Option<&'a str>; KEPT_IGNORED_WORDS],
    /// Distinct ignored words beyond [`KEPT_IGNORED_WORDS`].
    pub more: usize,
}

impl<'a> IgnoredWords<'a> {
    fn add(&mut self, word: &'a str) {
        if self.iter().any(|kept| kept == word) {
            return;
        }
        match self.kept.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(word),
            None => self.more += 1,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.kept.iter().flatten().copied()
    }
}

/// A word of the command line the kernel does not understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandLineError<'a> {
    /// A word whose key looks like a misspelling of the kernel's key `.1`, or one of
    /// its own keys without a value, or a `rump.` key the kernel does not have.
    UnknownWord(&'a str, &'static str),
    /// `virtio_mmio.device=` with a value that is not `SIZE@ADDR:IRQ[:ID]`.
    BadMmioDevice(&'a str),
    /// More `virtio_mmio.device=` words than the kernel keeps.
    TooManyMmioDevices,
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
    /// `storage=` with a backend that does not exist.
    BadStorage(&'a str),
    /// The same key twice: which one wins would be a guess.
    Repeated(&'a str),
    /// Both a test and a process set: the kernel runs one or the other.
    TestAndInit,
}

impl fmt::Display for CommandLineError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandLineError::UnknownWord(word, key) => write!(
                f,
                "unknown command line word `{word}`, too like the kernel's `{key}=` to be \
                 ignored (known: test=NAME init=SET log=LEVEL timer=lapic|pit \
                 console=serial|debugcon|both|ttyS0 backend.CLASS=native|rump \
                 storage=native|rump rump.dma=grant|refuse virtio_mmio.device=SIZE@ADDR:IRQ pci=off)"
            ),
            CommandLineError::BadMmioDevice(value) => write!(
                f,
                "`virtio_mmio.device={value}` is not SIZE@ADDR:IRQ (for example \
                 4K@0xc0001000:5; the window at least {:#x} bytes, its address 4-byte \
                 aligned)",
                crate::virtio_mmio::MINIMUM_MMIO_WINDOW
            ),
            CommandLineError::TooManyMmioDevices => write!(
                f,
                "more than {MAXIMUM_MMIO_DEVICES} `virtio_mmio.device=` words"
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
            CommandLineError::BadStorage(value) => {
                write!(f, "unknown storage backend `{value}` (known: native rump)")
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
            storage: None,
            refuse_rump_dma: false,
            pci: true,
            mmio_devices: MmioDevices::default(),
            ignored: IgnoredWords::default(),
        };
        let (mut saw_log, mut saw_timer, mut saw_dma) = (false, false, false);
        for word in text.split_ascii_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                // A flag: Linux's (`quiet`, `ro`), unless it is close to a key of ours.
                if let Some(own) = vmm::misspelt_key(word) {
                    return Err(CommandLineError::UnknownWord(word, own));
                }
                line.ignored.add(word);
                continue;
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
                "console" => match value {
                    "serial" => line.console = Some(ConsoleChoice::Serial),
                    "debugcon" => line.console = Some(ConsoleChoice::DebugPort),
                    "both" => line.console = Some(ConsoleChoice::Both),
                    _ => match vmm::linux_console(value) {
                        Some(vmm::LinuxConsole::FirstUart) => {
                            line.console = Some(ConsoleChoice::Serial);
                        }
                        Some(vmm::LinuxConsole::Other) => line.ignored.add(word),
                        None => return Err(CommandLineError::BadConsole(value)),
                    },
                },
                "virtio_mmio.device" => {
                    let device =
                        vmm::mmio_device(value).ok_or(CommandLineError::BadMmioDevice(value))?;
                    if !line.mmio_devices.push(device) {
                        return Err(CommandLineError::TooManyMmioDevices);
                    }
                }
                "pci" if value == "off" => line.pci = false,
                "storage" if line.storage.is_some() => {
                    return Err(CommandLineError::Repeated(key));
                }
                "storage" => {
                    line.storage =
                        Some(Backend::from_name(value).ok_or(CommandLineError::BadStorage(value))?);
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
                    None if key.starts_with("rump.") => {
                        return Err(CommandLineError::UnknownWord(word, "rump.dma"));
                    }
                    None => match vmm::misspelt_key(key) {
                        Some(own) => return Err(CommandLineError::UnknownWord(word, own)),
                        None => line.ignored.add(word),
                    },
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
            CommandLine::parse("storage=rump").unwrap().storage,
            Some(Backend::Rump)
        );
        assert_eq!(CommandLine::parse("").unwrap().storage, None);
        assert_eq!(
            CommandLine::parse("storage=ext4"),
            Err(CommandLineError::BadStorage("ext4"))
        );
        assert_eq!(
            CommandLine::parse("storage=rump storage=native"),
            Err(CommandLineError::Repeated("storage"))
        );
        assert!(matches!(
            CommandLine::parse("storag=rump"),
            Err(CommandLineError::UnknownWord(_, "storage"))
        ));
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
            CommandLine::parse("tset=heap"),
            Err(CommandLineError::UnknownWord("tset=heap", "test"))
        );
        assert_eq!(
            CommandLine::parse("test"),
            Err(CommandLineError::UnknownWord("test", "test"))
        );
        assert_eq!(
            CommandLine::parse("rump.dma.x=1"),
            Err(CommandLineError::UnknownWord("rump.dma.x=1", "rump.dma"))
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
            Err(CommandLineError::UnknownWord("backend=rump", "backend"))
        );
        assert_eq!(
            CommandLine::parse("virtio_mmio.device=4K@0xc0001000"),
            Err(CommandLineError::BadMmioDevice("4K@0xc0001000"))
        );
    }

    #[test]
    fn a_firecracker_command_line_boots() {
        let line = CommandLine::parse(
            "console=ttyS0 reboot=k panic=1 pci=off init=ipc \
             virtio_mmio.device=4K@0xc0001000:5 virtio_mmio.device=4K@0xc0002000:6 pci=off",
        )
        .unwrap();
        assert_eq!(line.init, Some("ipc"));
        assert_eq!(line.console, Some(ConsoleChoice::Serial));
        assert!(!line.pci);
        let bases: Vec<u64> = line.mmio_devices.iter().map(|device| device.base).collect();
        assert_eq!(bases, [0xc000_1000, 0xc000_2000]);
        let ignored: Vec<&str> = line.ignored.iter().collect();
        assert_eq!(ignored, ["reboot=k", "panic=1"]);
        assert_eq!(line.ignored.more, 0);
    }

    #[test]
    fn linux_words_are_kept_as_ignored_once_each() {
        let line = CommandLine::parse("quiet ro quiet console=hvc0 pci=nomsi test=boot").unwrap();
        let ignored: Vec<&str> = line.ignored.iter().collect();
        assert_eq!(ignored, ["quiet", "ro", "console=hvc0", "pci=nomsi"]);
        assert!(line.pci, "only pci=off turns PCI off");
        assert_eq!(line.console, None);
        assert_eq!(line.test, Some("boot"));
    }

    #[test]
    fn ignored_words_beyond_the_kept_are_counted() {
        let words: Vec<String> = (0..KEPT_IGNORED_WORDS + 3)
            .map(|n| format!("linux.word{n}=1"))
            .collect();
        let text = words.join(" ");
        let line = CommandLine::parse(&text).unwrap();
        assert_eq!(line.ignored.iter().count(), KEPT_IGNORED_WORDS);
        assert_eq!(line.ignored.more, 3);
    }

    #[test]
    fn too_many_devices_are_refused() {
        let words: Vec<String> = (0..=MAXIMUM_MMIO_DEVICES)
            .map(|n| format!("virtio_mmio.device=512@{:#x}:{}", 0xfeb0_0000 + n * 512, n))
            .collect();
        let text = words.join(" ");
        assert_eq!(
            CommandLine::parse(&text),
            Err(CommandLineError::TooManyMmioDevices)
        );
    }

    #[test]
    fn the_error_lists_every_known_word() {
        let message = CommandLineError::UnknownWord("inti=ipc", "init").to_string();
        for known in [
            "init=SET",
            "test=NAME",
            "virtio_mmio.device=",
            "pci=off",
            "`init=`",
        ] {
            assert!(message.contains(known), "{message}");
        }
    }
}
