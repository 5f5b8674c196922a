//! Device interrupts for drivers: legacy INTx through the I/O APIC, or MSI-X
//! messages straight to the local APIC.
//!
//! For INTx the interrupt path counts a line's interrupt and masks the line; the
//! driver, on its next operation, acknowledges its device and unmasks the line. An
//! MSI-X message is edge-like: the path only counts it, and the driver's
//! acknowledgement needs no unmasking.
//!
//! Drivers run outside interrupt context and hold their own locks, so the interrupt
//! path never touches a device: it must never take a lock a driver may hold.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use ethos_core::threads::{EVENT_COUNT, EventId};

use virtio_drivers::transport::InterruptStatus;

use crate::arch;

/// How many lines the I/O APIC routing covers (GSI 0–47: two I/O APICs' inputs).
pub(super) const LINES: usize = arch::DEVICE_LINES as usize;
const SLOTS: usize = arch::MSI_SLOTS as usize;

static COUNTS: [AtomicU64; LINES] = [const { AtomicU64::new(0) }; LINES];
/// Lines the interrupt path masked and no driver has serviced since.
static MASKED: [AtomicBool; LINES] = [const { AtomicBool::new(false) }; LINES];
/// Lines whose interrupts also wake a kernel thread (see [`line_event`]).
static LINE_WAKES: [AtomicBool; LINES] = [const { AtomicBool::new(false) }; LINES];
/// The last [`LINES`] thread events belong to the INTx lines, one each.
const FIRST_LINE_EVENT: usize = EVENT_COUNT - LINES;
/// The thread event every device interrupt signals once asked ([`device_event`]).
const DEVICE_EVENT: usize = FIRST_LINE_EVENT - 1;
/// Whether device interrupts signal [`DEVICE_EVENT`].
static DEVICE_WAKES: AtomicBool = AtomicBool::new(false);
static MESSAGE_COUNTS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static NEXT_SLOT: AtomicU8 = AtomicU8::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    None,
    Intx(u8),
    MsiX(u8),
}

/// How a device interrupts: a routed INTx line, an MSI-X slot, or not at all (the
/// driver then polls only).
#[derive(Clone, Copy, Debug)]
pub struct InterruptLine(Route);

impl InterruptLine {
    pub const NONE: InterruptLine = InterruptLine(Route::None);

    /// Routes `line` through the I/O APIC; on failure the device is polled only.
    pub fn route(line: u8) -> InterruptLine {
        if line as usize >= LINES {
            return InterruptLine::NONE;
        }
        match arch::route_line(line) {
            Ok(vector) => {
                tracing::debug!(line, vector, "INTx routed");
                InterruptLine(Route::Intx(line))
            }
            Err(error) => {
                tracing::warn!(line, %error, "INTx not routed; polling only");
                InterruptLine::NONE
            }
        }
    }

    /// A message slot of its own for one device, while any is left.
    pub fn allocate_message_slot() -> Option<u8> {
        NEXT_SLOT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |next| {
                (usize::from(next) < SLOTS).then_some(next + 1)
            })
            .ok()
    }

    /// The device signals slot `slot` (set up by the caller) by MSI-X.
    pub fn message(slot: u8) -> InterruptLine {
        InterruptLine(Route::MsiX(slot))
    }

    /// The INTx line, when the device interrupts that way.
    pub fn line(self) -> Option<u8> {
        match self.0 {
            Route::Intx(line) => Some(line),
            _ => None,
        }
    }

    /// `intx`, `msi-x` or `none`.
    pub fn kind(self) -> &'static str {
        match self.0 {
            Route::None => "none",
            Route::Intx(_) => "intx",
            Route::MsiX(_) => "msi-x",
        }
    }

    /// Interrupts seen on this line or slot since boot.
    pub fn count(self) -> u64 {
        match self.0 {
            Route::None => 0,
            Route::Intx(line) => COUNTS[line as usize].load(Ordering::Relaxed),
            Route::MsiX(slot) => MESSAGE_COUNTS[slot as usize].load(Ordering::Relaxed),
        }
    }
}

impl ethos_virtio::DeviceInterrupt for InterruptLine {
    /// Acknowledges the device with `acknowledge` and lets an INTx line fire again.
    ///
    /// An INTx line that has not fired since its last service is left alone: it is
    /// unmasked, so whatever the device raises still reaches the interrupt path,
    /// which masks the line and leaves the work to the next service. Each
    /// acknowledgement and unmasking is six register accesses, each a trip out of
    /// the guest under emulation, and drivers service on every look at a queue.
    fn service(self, acknowledge: impl FnOnce() -> InterruptStatus) {
        match self.0 {
            Route::Intx(line) => {
                if MASKED[line as usize].swap(false, Ordering::AcqRel) {
                    let _ = acknowledge();
                    arch::unmask_line(line);
                }
            }
            Route::MsiX(_) | Route::None => {
                let _ = acknowledge();
            }
        }
    }
}

/// From the interrupt path: a device's INTx vector fired. The line stays masked
/// until its driver has serviced the device.
pub fn line_fired(line: u8) {
    if let Some(count) = COUNTS.get(line as usize) {
        count.fetch_add(1, Ordering::Relaxed);
        arch::mask_line(line);
        MASKED[line as usize].store(true, Ordering::Release);
        wake_device_waiter();
        if LINE_WAKES[line as usize].load(Ordering::Acquire)
            && let Some(event) = event_of(line)
        {
            crate::kernel_threads::signal_from_interrupt(event);
        }
    }
}

fn event_of(line: u8) -> Option<EventId> {
    EventId::new(u16::try_from(FIRST_LINE_EVENT + line as usize).ok()?)
}

/// From now on every interrupt of `line` also signals the thread event this
/// answers, for a driver that services its device from a kernel thread (the rump
/// kernel's interrupt threads). `None` for a line past the I/O APIC's.
pub fn line_event(line: u8) -> Option<EventId> {
    let event = event_of(line).filter(|_| (line as usize) < LINES)?;
    LINE_WAKES[line as usize].store(true, Ordering::Release);
    Some(event)
}

/// Lets `line` fire again once its driver serviced the device.
pub fn unmask_line(line: u8) {
    if (line as usize) < LINES {
        MASKED[line as usize].store(false, Ordering::Release);
        arch::unmask_line(line);
    }
}

/// From the interrupt path: an MSI-X message arrived in `slot`.
pub fn message_fired(slot: u8) {
    if let Some(count) = MESSAGE_COUNTS.get(slot as usize) {
        count.fetch_add(1, Ordering::Relaxed);
        wake_device_waiter();
    }
}

/// From now on every device interrupt (INTx or MSI-X, any device) also signals the
/// thread event this answers: for a thread that polls a device through a layer that
/// does not say which line it uses (the network service over the datagram class),
/// and otherwise sleeps. A spurious wake costs it one poll.
pub fn device_event() -> Option<EventId> {
    let event = EventId::new(u16::try_from(DEVICE_EVENT).ok()?)?;
    DEVICE_WAKES.store(true, Ordering::Release);
    Some(event)
}

fn wake_device_waiter() {
    if DEVICE_WAKES.load(Ordering::Acquire)
        && let Some(event) = u16::try_from(DEVICE_EVENT).ok().and_then(EventId::new)
    {
        crate::kernel_threads::signal_from_interrupt(event);
    }
}

/// Device interrupts since boot, INTx and MSI-X.
pub fn totals() -> (u64, u64) {
    let sum = |counts: &[AtomicU64]| {
        counts
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    };
    (sum(&COUNTS), sum(&MESSAGE_COUNTS))
}

/// Total device interrupts since boot.
pub fn total() -> u64 {
    let (intx, messages) = totals();
    intx + messages
}
