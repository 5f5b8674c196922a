//! The CMOS real-time clock (MC146818, ports 0x70/0x71): the wall clock, read once
//! when first asked — never on the boot path — and carried forward by the TSC.
//! Decoding is `ethos_core::wall_clock`'s.

use ethos_core::wall_clock::{RtcError, RtcRegisters};
use x86_64::instructions::port::Port;

use crate::time;

const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;
/// Set in the index written to port 0x70: keep NMIs masked while a register is read.
const NMI_MASKED: u8 = 0x80;
/// Status register A's bit that says the clock is updating its registers.
const UPDATING: u8 = 0x80;
/// Reads before the registers are taken as they are.
const ATTEMPTS: usize = 8;

fn register(index: u8) -> u8 {
    let mut select = Port::<u8>::new(INDEX);
    let mut data = Port::<u8>::new(DATA);
    // SAFETY: ports 0x70 and 0x71 are the CMOS index and data registers on the PC
    // and on QEMU's machines; selecting a clock register and reading it changes no
    // state but the index. Where no CMOS exists, the read gives all ones, which
    // `RtcRegisters::unix_seconds` refuses.
    unsafe {
        select.write(index | NMI_MASKED);
        data.read()
    }
}

fn read_all() -> RtcRegisters {
    // Wait out an update in progress (it lasts under 2 ms), a bounded number of reads.
    for _ in 0..10_000 {
        if register(0x0a) & UPDATING == 0 {
            break;
        }
    }
    RtcRegisters {
        seconds: register(0x00),
        minutes: register(0x02),
        hours: register(0x04),
        day: register(0x07),
        month: register(0x08),
        year: register(0x09),
        status_b: register(0x0b),
        century: None,
    }
}

/// The wall clock when it was read (Unix milliseconds) and the time since boot then.
static READING: spin::Once<Result<(u64, u64), RtcError>> = spin::Once::new();

/// Milliseconds since the Unix epoch, from the RTC read at the first call and the
/// TSC since; an error when the machine has no RTC that gives a valid time (Firecracker
/// on x86 has none) or the TSC is not calibrated.
pub fn unix_millis() -> Result<u64, RtcError> {
    let reading = READING.call_once(|| {
        // Two equal readings in a row: not torn by an update between registers.
        let mut previous = read_all();
        for _ in 0..ATTEMPTS {
            let current = read_all();
            if current == previous {
                break;
            }
            previous = current;
        }
        let seconds = previous.unix_seconds()?;
        let now_ms = time::since_boot_nanos().unwrap_or(0) / 1_000_000;
        Ok((seconds * 1000, now_ms))
    });
    let (wall_ms, at_ms) = (*reading)?;
    let now_ms = time::since_boot_nanos().unwrap_or(0) / 1_000_000;
    Ok(wall_ms + now_ms.saturating_sub(at_ms))
}
