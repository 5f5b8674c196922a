//! Interrupt controllers and timers: the local APIC and its timer, the legacy 8259
//! PIC (masked, or driving the PIT fallback tick), and the 8254 PIT.
//!
//! The LAPIC is reached through its memory-mapped page, identity-mapped uncached
//! by `paging`. Nothing here may block for longer than a calibration window.

use core::sync::atomic::{AtomicU64, Ordering};

use ethos_core::clock::TscClock;
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

use super::cpu::{cpuid, read_tsc};

/// The vector of the LAPIC timer tick.
pub const TIMER_VECTOR: u8 = 0x30;
/// The vector the remapped PIC gives IRQ 0 (the PIT).
pub const PIT_VECTOR: u8 = 0x20;
/// Spurious vectors: the LAPIC's, and the PIC's IRQ 7 and 15.
pub const SPURIOUS_VECTORS: [u8; 3] = [0xff, 0x27, 0x2f];

const PIT_HZ: u64 = 1_193_182;
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

/// Reads PIT channel 0's current count (latched, so both bytes match).
fn pit_channel0_count() -> u16 {
    let mut command = Port::<u8>::new(0x43);
    let mut channel0 = Port::<u8>::new(0x40);
    // SAFETY: the PIT's command and channel-0 ports; a latch command changes no
    // counting state.
    unsafe {
        command.write(0x00);
        let low = channel0.read();
        let high = channel0.read();
        u16::from_le_bytes([low, high])
    }
}

/// Measures the TSC against PIT channel 0 over about `window_ms` milliseconds.
/// Channel 0's gate is always open (channel 2's gate at port 0x61 is missing on
/// some machines, such as QEMU's microvm). Returns `(tsc_ticks, pit_ticks)`, or
/// `None` when the counter does not move: there is no PIT.
pub(super) fn measure_tsc_with_pit(window_ms: u64) -> Option<(u64, u64)> {
    let target = (PIT_HZ * window_ms / 1000).min(60_000) as u16;
    // SAFETY: channel 0 in mode 0 (count down once from 0xffff); its interrupt line
    // is masked at the PIC, so nothing is delivered.
    unsafe {
        Port::<u8>::new(0x43).write(0x30);
        Port::<u8>::new(0x40).write(0xff);
        Port::<u8>::new(0x40).write(0xff);
    }
    let first = pit_channel0_count();
    let patience = read_tsc();
    let (start_count, start) = loop {
        let count = pit_channel0_count();
        if count != first {
            break (count, read_tsc());
        }
        if read_tsc() - patience > 1 << 32 {
            return None;
        }
    };
    loop {
        let count = pit_channel0_count();
        let elapsed = start_count.wrapping_sub(count);
        if elapsed >= target && elapsed < 0x8000 + target {
            return Some((read_tsc() - start, elapsed as u64));
        }
        if read_tsc() - start > 1 << 36 {
            return None;
        }
    }
}

/// The PIT's input frequency.
pub(super) const fn pit_hz() -> u64 {
    PIT_HZ
}

/// Starts the periodic tick at `tick_hz`, on the LAPIC timer unless `force_pit` is
/// set or the CPU has no LAPIC.
pub fn start_timer(clock: &TscClock, tick_hz: u32, force_pit: bool) -> TimerDevice {
    if !force_pit && has_local_apic() {
        LAPIC_BASE.store(local_apic_base(), Ordering::Relaxed);
        // Software-enable the APIC with the spurious vector.
        lapic_write(register::SPURIOUS, 0x100 | 0xff);
        lapic_write(register::TIMER_DIVIDE, 0x3);
        // One-shot, masked, counting down from the top while the TSC measures.
        lapic_write(register::LVT_TIMER, 1 << 16);
        let window = clock.nanos_to_ticks(100_000);
        lapic_write(register::TIMER_INITIAL, u32::MAX);
        let start = read_tsc();
        while read_tsc() - start < window {
            core::hint::spin_loop();
        }
        let elapsed = u32::MAX - lapic_read(register::TIMER_CURRENT);
        let elapsed_nanos = clock.ticks_to_nanos(read_tsc() - start).max(1);
        let counts_per_second = elapsed as u64 * 1_000_000_000 / elapsed_nanos;
        let counts_per_tick = (counts_per_second / tick_hz as u64).clamp(1, u32::MAX as u64) as u32;
        lapic_write(register::TIMER_INITIAL, 0);
        lapic_write(register::LVT_TIMER, TIMER_VECTOR as u32 | (1 << 17));
        lapic_write(register::TIMER_INITIAL, counts_per_tick);
        return TimerDevice::LocalApic { counts_per_tick };
    }
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
