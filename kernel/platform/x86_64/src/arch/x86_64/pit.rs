//! The 8254 PIT as the reference a TSC calibration is measured against, where the
//! machine names no TSC frequency (TCG, old CPUs).
//!
//! Channel 0 counts down once from the top in mode 0 while the kernel boots; the
//! calibration is finished when the time is first needed, so no boot step waits for
//! it. Mode 0 raises the channel's output when the count runs out and keeps it high,
//! and the read-back command returns that output with the count: a window longer
//! than one pass of the counter (55 ms) is seen, not misread, and is measured again.
//! Nothing here may wait longer than it takes the reference to pin the frequency.

use ethos_core::clock::{CALIBRATION_TOLERANCE_PPM, Edge, hz_between_edges};
use x86_64::instructions::port::Port;

use super::cpu::read_tsc;

/// The PIT's input frequency.
pub(super) const PIT_HZ: u64 = 1_193_182;

const COMMAND: u16 = 0x43;
const CHANNEL0: u16 = 0x40;
/// Channel 0, low then high byte, mode 0 (interrupt on terminal count), binary.
const CHANNEL0_MODE0: u8 = 0x30;
/// Read-back: latch channel 0's status and count.
const READ_BACK_CHANNEL0: u8 = 0xc2;
/// The status byte's copy of the channel's output pin.
const STATUS_OUTPUT: u8 = 0x80;
/// TSC cycles to wait for the counter to move before deciding there is no PIT
/// (about a second at a few GHz).
const PATIENCE: u64 = 1 << 32;

/// Channel 0's output and count, latched together, and the TSC just after the
/// latch: the count was that at some moment before this TSC value.
fn read_channel0() -> (bool, u16, u64) {
    // SAFETY: the PIT's command and channel-0 ports; a read-back latch changes no
    // counting state, and the three reads return the latched status and count.
    unsafe {
        Port::<u8>::new(COMMAND).write(READ_BACK_CHANNEL0);
        let latched_by = read_tsc();
        let mut channel0 = Port::<u8>::new(CHANNEL0);
        let status = channel0.read();
        let low = channel0.read();
        let high = channel0.read();
        (
            status & STATUS_OUTPUT != 0,
            u16::from_le_bytes([low, high]),
            latched_by,
        )
    }
}

/// Why a window ended without a frequency.
enum Stop {
    /// The counter never moved: there is no PIT.
    Still,
    /// The count ran out since the window began: its length is unknown.
    Overrun,
}

/// Waits for the count to change and returns the new count with its edge.
fn next_edge() -> Result<(u16, Edge), Stop> {
    let mut before = read_tsc();
    let (overrun, first, _) = read_channel0();
    if overrun {
        return Err(Stop::Overrun);
    }
    let patience = before;
    loop {
        let read_at = read_tsc();
        let (overrun, count, latched_by) = read_channel0();
        if overrun {
            return Err(Stop::Overrun);
        }
        // The count changed between the previous latch (after `before`) and this
        // one (before `latched_by`). The TSC read right after the latch, rather
        // than after the reads and the comparison, narrows the edge by a dozen
        // instructions: the calibration's tolerance is a bound on the edges'
        // widths against the window, so narrower edges end it sooner (under icount
        // it bounded the boot at about 50,000 instructions).
        if count != first {
            return Ok((
                count,
                Edge {
                    before,
                    after: latched_by,
                },
            ));
        }
        if read_at - patience > PATIENCE {
            return Err(Stop::Still);
        }
        before = read_at;
    }
}

/// A calibration under way: channel 0 counting down since an edge the TSC pinned.
#[derive(Clone, Copy, Debug)]
pub struct PitWindow {
    count: u16,
    edge: Edge,
}

impl PitWindow {
    /// Starts channel 0 counting and waits for its first edge (under a microsecond);
    /// `None` when it does not move: there is no PIT.
    pub(super) fn start() -> Option<PitWindow> {
        // SAFETY: channel 0 in mode 0, counting down once from the top (0 loads
        // 65,536); its interrupt line is masked at the PIC, so nothing is delivered.
        unsafe {
            Port::<u8>::new(COMMAND).write(CHANNEL0_MODE0);
            Port::<u8>::new(CHANNEL0).write(0);
            Port::<u8>::new(CHANNEL0).write(0);
        }
        loop {
            match next_edge() {
                Ok((count, edge)) => return Some(PitWindow { count, edge }),
                Err(Stop::Still) => return None,
                // The output of the previous mode holds until the new count loads.
                Err(Stop::Overrun) => continue,
            }
        }
    }

    /// The TSC frequency over the window, waiting for later edges only until they
    /// pin it within [`CALIBRATION_TOLERANCE_PPM`]; a window that overran is begun
    /// again. `None` when the PIT stopped moving.
    pub fn finish(mut self) -> Option<u64> {
        loop {
            match next_edge() {
                Ok((count, edge)) => {
                    let reference_ticks = u64::from(self.count.wrapping_sub(count));
                    if let Some(hz) = hz_between_edges(
                        self.edge,
                        edge,
                        reference_ticks,
                        PIT_HZ,
                        CALIBRATION_TOLERANCE_PPM,
                    ) {
                        return Some(hz);
                    }
                }
                Err(Stop::Overrun) => self = PitWindow::start()?,
                Err(Stop::Still) => return None,
            }
        }
    }
}
