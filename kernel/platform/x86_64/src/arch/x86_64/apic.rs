//! Interrupt controllers and timers: the local APIC and its timer, the legacy 8259
//! PIC (masked, or driving the PIT fallback tick), and the 8254 PIT's tick.
//!
//! The LAPIC is reached through its memory-mapped page, identity-mapped uncached
//! by `paging`. Nothing here waits longer than a LAPIC timer measurement needs.

use core::sync::atomic::{AtomicU64, Ordering};

use ethos_core::clock::TscClock;
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

use super::cpu::{cpuid, read_tsc};
use super::pit::PIT_HZ;

/// The vector of the LAPIC timer tick.
pub const TIMER_VECTOR: u8 = 0x30;
/// The vector the remapped PIC gives IRQ 0 (the PIT).
pub const PIT_VECTOR: u8 = 0x20;
/// Spurious vectors: the LAPIC's, and the PIC's IRQ 7 and 15.
pub const SPURIOUS_VECTORS: [u8; 3] = [0xff, 0x27, 0x2f];

const APIC_BASE_MSR: u32 = 0x1b;

/// The physical address of the LAPIC page once it has been found.
static LAPIC_BASE: AtomicU64 = AtomicU64::new(0);

mod register {
    pub(super) const EOI: usize = 0xb0;
    pub(super) const SPURIOUS: usize = 0xf0;
    pub(super) const LVT_TIMER: usize = 0x320;
    pub(super) const TIMER_INITIAL: usize = 0x380;
    pub(super) const TIMER_CURRENT: usize = 0x390;
    pub(super) const TIMER_DIVIDE: usize = 0x3e0;
}

/// The device behind the periodic tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerDevice {
    LocalApic { counts_per_tick: u32 },
    Pit { divisor: u16 },
}

impl TimerDevice {
    pub fn name(self) -> &'static str {
        match self {
            TimerDevice::LocalApic { .. } => "lapic",
            TimerDevice::Pit { .. } => "pit",
        }
    }
}

/// Whether the CPU has a local APIC (CPUID 1, EDX bit 9).
pub(super) fn has_local_apic() -> bool {
    cpuid(1).edx & (1 << 9) != 0
}

/// This CPU's local APIC identifier (CPUID 1, EBX bits 24–31).
pub(super) fn local_apic_id() -> u8 {
    (cpuid(1).ebx >> 24) as u8
}

/// The physical address of this CPU's LAPIC page.
pub(super) fn local_apic_base() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every CPU with a local APIC, which the callers
    // check first; reading it has no side effects.
    let value = unsafe { Msr::new(APIC_BASE_MSR).read() };
    value & 0x000f_ffff_ffff_f000
}

fn lapic_write(offset: usize, value: u32) {
    let base = LAPIC_BASE.load(Ordering::Relaxed);
    // SAFETY: `base` is the LAPIC page, identity-mapped uncached by `paging`, and
    // `offset` is one of the architectural 32-bit registers in it.
    unsafe { ((base as usize + offset) as *mut u32).write_volatile(value) }
}

fn lapic_read(offset: usize) -> u32 {
    let base = LAPIC_BASE.load(Ordering::Relaxed);
    // SAFETY: as in `lapic_write`.
    unsafe { ((base as usize + offset) as *const u32).read_volatile() }
}

/// Acknowledges the interrupt being handled.
pub fn end_of_interrupt(vector: u8) {
    if vector == PIT_VECTOR {
        let mut command = Port::<u8>::new(0x20);
        // SAFETY: writing the non-specific EOI command to the master PIC.
        unsafe { command.write(0x20) };
    } else {
        lapic_write(register::EOI, 0);
    }
}

/// Remaps the 8259 pair to vectors 0x20–0x2f (away from CPU exceptions, where
/// firmware leaves them) and masks every line.
pub(super) fn mask_legacy_pic() {
    let writes: [(u16, u8); 10] = [
        (0x20, 0x11),
        (0xa0, 0x11),
        (0x21, PIT_VECTOR),
        (0xa1, PIT_VECTOR + 8),
        (0x21, 4),
        (0xa1, 2),
        (0x21, 1),
        (0xa1, 1),
        (0x21, 0xff),
        (0xa1, 0xff),
    ];
    for (port, value) in writes {
        // SAFETY: the 8259 command and data ports; the sequence is the standard
        // initialisation, and on machines without a PIC the writes are ignored.
        unsafe { Port::<u8>::new(port).write(value) };
    }
}

/// LAPIC timer counts to see before its rate is trusted: a count is then at most
/// 0.05 % of the measurement.
const LAPIC_MEASURE_COUNTS: u32 = 2_000;

/// How the periodic tick gets going.
#[derive(Clone, Copy, Debug)]
pub enum TimerStart {
    /// The LAPIC timer counts down, masked, from the top since `tsc`; its rate is
    /// measured against the TSC when the tick is first needed ([`start_lapic_tick`]).
    LocalApic { tsc: u64 },
    /// The PIT, whose rate is fixed: the tick can start at once ([`start_pit_tick`]).
    Pit,
}

/// Chooses the tick's device: the LAPIC timer unless `force_pit` is set or the CPU
/// has no LAPIC. A LAPIC timer starts counting here, without waiting, so its rate is
/// measured over the rest of the boot.
pub fn prepare_timer(force_pit: bool) -> TimerStart {
    if force_pit || !has_local_apic() {
        return TimerStart::Pit;
    }
    LAPIC_BASE.store(local_apic_base(), Ordering::Relaxed);
    // Software-enable the APIC with the spurious vector.
    lapic_write(register::SPURIOUS, 0x100 | 0xff);
    // Divide by 1: the finest count to measure with.
    lapic_write(register::TIMER_DIVIDE, 0xb);
    // One-shot, masked, counting down from the top while the TSC measures.
    lapic_write(register::LVT_TIMER, 1 << 16);
    lapic_write(register::TIMER_INITIAL, u32::MAX);
    TimerStart::LocalApic { tsc: read_tsc() }
}

/// Starts the periodic LAPIC tick at `tick_hz`, its rate measured since `started`
/// (the TSC when [`prepare_timer`] loaded the count), waiting only for the few
/// counts a measurement needs when the window is still shorter.
pub fn start_lapic_tick(clock: &TscClock, tick_hz: u32, started: u64) -> TimerDevice {
    let mut started = started;
    let (elapsed, tsc_ticks) = loop {
        let current = lapic_read(register::TIMER_CURRENT);
        let now = read_tsc();
        if current == 0 {
            // The count ran out (seconds went by): the window's length is unknown.
            lapic_write(register::TIMER_INITIAL, u32::MAX);
            started = read_tsc();
            continue;
        }
        let elapsed = u32::MAX - current;
        if elapsed >= LAPIC_MEASURE_COUNTS {
            break (elapsed, now - started);
        }
        core::hint::spin_loop();
    };
    let counts_per_second = elapsed as u128 * clock.hz() as u128 / tsc_ticks.max(1) as u128;
    let counts_per_tick = (counts_per_second / tick_hz as u128).clamp(1, u32::MAX as u128) as u32;
    lapic_write(register::TIMER_INITIAL, 0);
    lapic_write(register::LVT_TIMER, TIMER_VECTOR as u32 | (1 << 17));
    lapic_write(register::TIMER_INITIAL, counts_per_tick);
    TimerDevice::LocalApic { counts_per_tick }
}

/// Starts the periodic PIT tick at `tick_hz` (IRQ 0 through the PIC). It takes over
/// channel 0, so a TSC calibration against it must be finished first.
pub fn start_pit_tick(tick_hz: u32) -> TimerDevice {
    let divisor = (PIT_HZ / tick_hz as u64).clamp(1, u16::MAX as u64) as u16;
    // SAFETY: channel 0 in rate-generator mode, then IRQ 0 unmasked on the PIC that
    // `mask_legacy_pic` remapped to PIT_VECTOR.
    unsafe {
        Port::<u8>::new(0x43).write(0x34);
        Port::<u8>::new(0x40).write(divisor as u8);
        Port::<u8>::new(0x40).write((divisor >> 8) as u8);
        Port::<u8>::new(0x21).write(0xfe);
    }
    TimerDevice::Pit { divisor }
}
