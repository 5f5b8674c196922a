//! Kernel time: the calibrated TSC clock and the periodic tick.

use core::sync::atomic::{AtomicU64, Ordering};

use ethos_core::clock::TscClock;
use ethos_core::command_line::TimerChoice;
use spin::Once;

use crate::arch::{self, TimerDevice, TscSource};

/// Ticks per second of the periodic timer.
pub const TICK_HZ: u32 = 100;

static CLOCK: Once<TscClock> = Once::new();
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Boot stages, in order, for the boot profile.
pub const BOOT_STAGES: [&str; 5] = ["console", "cpu", "boot-info", "memory", "time"];
/// The TSC when each of [`BOOT_STAGES`] finished.
static STAGE_ENDS: [AtomicU64; BOOT_STAGES.len()] =
    [const { AtomicU64::new(0) }; BOOT_STAGES.len()];

/// Records that boot stage `index` of [`BOOT_STAGES`] is done.
pub fn mark_stage(index: usize) {
    if let Some(slot) = STAGE_ENDS.get(index) {
        slot.store(arch::read_tsc(), Ordering::Relaxed);
    }
}

/// Logs how long each boot stage took (at debug level).
pub fn log_boot_profile(clock: &TscClock) {
    let mut previous = arch::entry_tsc();
    for (name, end) in BOOT_STAGES.iter().zip(&STAGE_ENDS) {
        let end = end.load(Ordering::Relaxed);
        let micros = clock.ticks_to_nanos(end.saturating_sub(previous)) / 1000;
        tracing::debug!(stage = name, micros, "boot profile");
        previous = end;
    }
}

/// What time setup found.
#[derive(Clone, Copy, Debug)]
pub struct TimeSummary {
    pub clock: TscClock,
    pub source: TscSource,
    pub timer: TimerDevice,
}

/// Why time could not be set up.
#[derive(Clone, Copy, Debug)]
pub struct NoTscFrequency(pub TscSource);

impl core::fmt::Display for NoTscFrequency {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the TSC frequency from {} is implausible", self.0.name())
    }
}

/// Calibrates the TSC and starts the tick (interrupts are enabled by the caller).
pub fn init(choice: Option<TimerChoice>) -> Result<TimeSummary, NoTscFrequency> {
    let (hz, source) = arch::discover_tsc_frequency();
    let clock = TscClock::from_hz(hz).ok_or(NoTscFrequency(source))?;
    CLOCK.call_once(|| clock);
    let timer = arch::start_timer(&clock, TICK_HZ, choice == Some(TimerChoice::Pit));
    Ok(TimeSummary {
        clock,
        source,
        timer,
    })
}

/// Nanoseconds since the first kernel instruction, once the clock is calibrated.
pub fn since_boot_nanos() -> Option<u64> {
    let clock = CLOCK.get()?;
    Some(clock.ticks_to_nanos(arch::read_tsc().saturating_sub(arch::entry_tsc())))
}

/// The calibrated clock.
pub fn clock() -> Option<TscClock> {
    CLOCK.get().copied()
}

/// Called from the timer interrupt.
pub fn tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Timer interrupts so far.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Tick periods since boot by the TSC (timer interrupts before the clock is
/// calibrated). Unlike [`ticks`], it counts the periods in which interrupts were
/// off — a long system call, whose pending tick interrupts collapse into one — so
/// time slices and CPU limits charge them to whoever ran.
pub fn tick_periods() -> u64 {
    since_boot_nanos().map_or_else(ticks, |nanos| nanos / (1_000_000_000 / u64::from(TICK_HZ)))
}
