//! Legacy INTx for drivers: the interrupt path counts a line's interrupt and masks
//! the line; the driver, on its next operation, acknowledges its device and unmasks
//! the line.
//!
//! Drivers run outside interrupt context and hold their own locks, so the interrupt
//! path never touches a device: it must never take a lock a driver may hold.

use core::sync::atomic::{AtomicU64, Ordering};

use virtio_drivers::transport::InterruptStatus;

use crate::arch;

/// How many lines the I/O APIC routing covers (the first I/O APIC's 24 inputs).
pub(crate) const LINES: usize = 24;

static COUNTS: [AtomicU64; LINES] = [const { AtomicU64::new(0) }; LINES];

/// A device's routed interrupt line, or none (the driver then polls only).
#[derive(Clone, Copy, Debug)]
pub(crate) struct InterruptLine(Option<u8>);

impl InterruptLine {
    pub(crate) const NONE: InterruptLine = InterruptLine(None);

    /// Routes `line` through the I/O APIC; on failure the device is polled only.
    pub(crate) fn route(line: u8) -> InterruptLine {
        if line as usize >= LINES {
            return InterruptLine::NONE;
        }
        match arch::route_pci_line(line) {
            Ok(vector) => {
                tracing::debug!(line, vector, "INTx routed");
                InterruptLine(Some(line))
            }
            Err(error) => {
                tracing::warn!(line, %error, "INTx not routed; polling only");
                InterruptLine::NONE
            }
        }
    }

    pub(crate) fn line(self) -> Option<u8> {
        self.0
    }

    /// Interrupts seen on this line since boot.
    pub(crate) fn count(self) -> u64 {
        self.0
            .map_or(0, |line| COUNTS[line as usize].load(Ordering::Relaxed))
    }

    /// Acknowledges the device with `acknowledge` and lets the line fire again.
    pub(crate) fn service(self, acknowledge: impl FnOnce() -> InterruptStatus) {
        let _ = acknowledge();
        if let Some(line) = self.0 {
            arch::unmask_line(line);
        }
    }
}

/// From the interrupt path: a device vector fired.
pub(crate) fn line_fired(line: u8) {
    if let Some(count) = COUNTS.get(line as usize) {
        count.fetch_add(1, Ordering::Relaxed);
        arch::mask_line(line);
    }
}

/// Total device interrupts since boot.
pub(crate) fn total() -> u64 {
    COUNTS
        .iter()
        .map(|count| count.load(Ordering::Relaxed))
        .sum()
}
