//! The serial console (COM1, a 16550 UART): log lines and harness reports.
//!
//! Until the kernel is ready, output is kept in memory and written out at once when
//! it is: under a hypervisor every UART register access is a VM exit, and boot time
//! is measured up to the ready line. A panic or fault flushes the buffer first, so
//! nothing is lost. The console must never allocate: it runs before the heap.
//!
//! A second sink, the debug port 0xe9, carries the same text where there is no
//! UART: Xen passes what a PVH guest writes there to its console log, and QEMU
//! shows it with `-debugcon`.

use core::fmt::{self, Write};

use spin::Mutex;
use uart_16550::Uart16550;
use uart_16550::backend::PioBackend;

const COM1: u16 = 0x3f8;
const DEBUG_PORT: u16 = 0xe9;
const EARLY_BUFFER: usize = 16 * 1024;

struct Console {
    uart: Option<Uart16550<PioBackend>>,
    serial: bool,
    debug_port: bool,
    early: [u8; EARLY_BUFFER],
    early_length: usize,
    early_lost: usize,
    live: bool,
}

static CONSOLE: Mutex<Console> = Mutex::new(Console {
    uart: None,
    serial: true,
    debug_port: false,
    early: [0; EARLY_BUFFER],
    early_length: 0,
    early_lost: 0,
    live: false,
});

impl Console {
    fn emit(&mut self, bytes: &[u8]) {
        Self::emit_to(self.serial, self.debug_port, &mut self.uart, bytes);
    }

    fn emit_to(
        serial: bool,
        debug_port: bool,
        uart: &mut Option<Uart16550<PioBackend>>,
        bytes: &[u8],
    ) {
        if serial && let Some(uart) = uart.as_mut() {
            uart.send_bytes_exact(bytes);
        }
        if debug_port {
            let mut port = x86_64::instructions::port::Port::<u8>::new(DEBUG_PORT);
            for &byte in bytes {
                // SAFETY: port 0xe9 is the debug console by convention (Xen, QEMU's
                // debugcon, Bochs); where nothing listens, writes are ignored.
                unsafe { port.write(byte) };
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.live {
            self.emit(bytes);
            return;
        }
        let room = EARLY_BUFFER - self.early_length;
        let taken = room.min(bytes.len());
        self.early[self.early_length..self.early_length + taken].copy_from_slice(&bytes[..taken]);
        self.early_length += taken;
        self.early_lost += bytes.len() - taken;
    }

    fn go_live(&mut self) {
        if self.live {
            return;
        }
        self.live = true;
        // Borrow the fields apart: copying the buffer would need 16 KiB of stack,
        // more than an interrupt stack has.
        Self::emit_to(
            self.serial,
            self.debug_port,
            &mut self.uart,
            &self.early[..self.early_length],
        );
        if self.early_lost > 0 {
            let mut line = LineBuffer::new();
            let _ = writeln!(
                line,
                "console: {} bytes of early log did not fit",
                self.early_lost
            );
            self.emit(line.as_bytes());
        }
    }
}

/// Finds and programs the UART. Without one, output is dropped.
pub fn init() {
    let mut console = CONSOLE.lock();
    // SAFETY: COM1's eight ports belong to the console alone.
    if let Ok(mut uart) = unsafe { Uart16550::new_port(COM1) }
        && uart.init(uart_16550::Config::default()).is_ok()
    {
        console.uart = Some(uart);
    }
}

/// Chooses the sinks (before the console goes live; early output is kept until then).
pub fn select(serial: bool, debug_port: bool) {
    let mut console = CONSOLE.lock();
    console.serial = serial;
    console.debug_port = debug_port;
}

/// The name of what serves the console class: the UART, the debug port, or both.
pub fn driver_name() -> &'static str {
    use ethos_abi::drivers::driver_name::{DEBUG_PORT, UART_16550};
    let console = CONSOLE.lock();
    match (console.serial && console.uart.is_some(), console.debug_port) {
        (true, true) => "uart-16550+debugcon",
        (true, false) => UART_16550,
        (false, _) => DEBUG_PORT,
    }
}

/// Writes out everything buffered so far; from now on output goes straight out.
pub fn go_live() {
    CONSOLE.lock().go_live();
}

/// Writes text (log lines and reports go through here).
/// Writes a formatted line: its bytes are UTF-8 already (the buffer cuts only at
/// character boundaries), so they are not checked again on the way out.
pub fn write_line(line: &LineBuffer) {
    CONSOLE.lock().write(line.as_bytes());
}

pub fn write_str(text: &str) {
    CONSOLE.lock().write(text.as_bytes());
}

/// Whether someone holds the console's lock (a kernel thread must not be
/// preempted then: the hub writes too).
pub(crate) fn busy() -> bool {
    CONSOLE.is_locked()
}

/// The console for a path that cannot wait: a fault or panic that may have struck
/// while the lock was held. Takes the lock by force and flushes early output.
pub fn emergency() -> EmergencyConsole {
    if CONSOLE.is_locked() {
        // SAFETY: called only on fatal paths that never return to the interrupted
        // holder, so no one else will use the console concurrently.
        unsafe { CONSOLE.force_unlock() };
    }
    CONSOLE.lock().go_live();
    EmergencyConsole
}

/// The handle [`emergency`] returns.
#[derive(Debug)]
pub struct EmergencyConsole;

impl Write for EmergencyConsole {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_str(text);
        Ok(())
    }
}

/// A fixed line buffer: formats a whole line, so concurrent writers never
/// interleave within one.
pub struct LineBuffer {
    bytes: [u8; 512],
    length: usize,
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for LineBuffer {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_tuple("LineBuffer")
            .field(&self.as_str())
            .finish()
    }
}

impl LineBuffer {
    pub const fn new() -> LineBuffer {
        LineBuffer {
            bytes: [0; 512],
            length: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.length]
    }

    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are appended, but a full buffer may cut a character.
        match core::str::from_utf8(self.as_bytes()) {
            Ok(text) => text,
            Err(error) => {
                core::str::from_utf8(&self.bytes[..error.valid_up_to()]).unwrap_or_default()
            }
        }
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = self.bytes.len() - self.length;
        let mut taken = room.min(text.len());
        // A full buffer cuts the text at a character boundary, so the bytes held
        // stay UTF-8 (`write_line` relies on it).
        while !text.is_char_boundary(taken) {
            taken -= 1;
        }
        self.bytes[self.length..self.length + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.length += taken;
        Ok(())
    }
}

/// Prints a harness report line.
pub fn report(report: ethos_abi::Report<'_>) {
    let mut line = LineBuffer::new();
    let _ = writeln!(line, "{report}");
    write_line(&line);
}

/// Ends the run with `code`: writes the `@ethos exit` report, the run's last line
/// and its verdict on a machine without QEMU's exit device, then ends the machine
/// ([`arch::end_machine`]). Safe on fatal paths: the console is taken by force if
/// the interrupted code held it.
pub fn end_run(code: ethos_abi::ExitCode) -> ! {
    let mut line = LineBuffer::new();
    let _ = writeln!(line, "{}", ethos_abi::Report::Exit { code });
    let _ = emergency().write_str(line.as_str());
    crate::arch::end_machine(code)
}
