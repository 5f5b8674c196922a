//! `tracing` output on the console: `[seconds] LEVEL target: message key=value`.
//!
//! A small subscriber written for the kernel: `tracing-subscriber`'s formatters
//! need `std`. Spans are accepted but not printed. Formatting happens into a line
//! buffer on the stack, so the logger never allocates and works before the heap.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ethos_core::command_line::LogLevel;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event, Level, Metadata, Subscriber};

use crate::console::{self, LineBuffer};
use crate::time;

/// The most verbose level printed: 0 = error … 4 = trace.
static MAXIMUM: AtomicUsize = AtomicUsize::new(2);
static NEXT_SPAN: AtomicU64 = AtomicU64::new(1);

fn rank(level: &Level) -> usize {
    match *level {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    }
}

/// The level as `{:5}` writes it: padded to five columns.
fn padded_level(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN ",
        Level::INFO => "INFO ",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

struct KernelSubscriber;

struct FieldWriter<'a> {
    line: &'a mut LineBuffer,
}

impl Visit for FieldWriter<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = if field.name() == "message" {
            write!(self.line, "{value:?}")
        } else {
            write!(self.line, " {}={value:?}", field.name())
        };
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = if field.name() == "message" {
            self.line.write_str(value)
        } else {
            write!(self.line, " {}={value}", field.name())
        };
    }
}

impl Subscriber for KernelSubscriber {
    // The level can change after boot (`log=` is read after the first lines), so no
    // callsite is ever cached as never-enabled.
    fn register_callsite(&self, _metadata: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        rank(metadata.level()) <= MAXIMUM.load(Ordering::Relaxed)
    }

    fn new_span(&self, _attributes: &Attributes<'_>) -> Id {
        Id::from_u64(NEXT_SPAN.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut line = LineBuffer::new();
        let _ = match time::since_boot_nanos_if_known() {
            Some(nanos) => write!(
                line,
                "[{:5}.{:06}] ",
                nanos / 1_000_000_000,
                nanos % 1_000_000_000 / 1000
            ),
            None => line.write_str("[     ?      ] "),
        };
        // Written piece by piece rather than through `{:5} {}`: the formatter's
        // padding machinery cost some 200 instructions a line of the boot.
        let _ = line.write_str(padded_level(metadata.level()));
        let _ = line.write_str(" ");
        let _ = line.write_str(metadata.target());
        let _ = line.write_str(": ");
        event.record(&mut FieldWriter { line: &mut line });
        let _ = line.write_str("\n");
        console::write_line(&line);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// Installs the console subscriber as the global default. Needs the heap: without
/// `std`, `tracing-core` keeps the global dispatcher behind an `Arc`.
pub fn init() {
    // Fails only if a default is already set, which nothing else does.
    let _ = tracing_core::dispatcher::set_global_default(Dispatch::new(KernelSubscriber));
}

/// Sets how verbose the log is.
pub fn set_level(level: LogLevel) {
    let maximum = match level {
        LogLevel::Error => 0,
        LogLevel::Warn => 1,
        LogLevel::Info => 2,
        LogLevel::Debug => 3,
        LogLevel::Trace => 4,
    };
    MAXIMUM.store(maximum, Ordering::Relaxed);
}
