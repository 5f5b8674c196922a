//! Kernel time: the calibrated TSC clock and the periodic tick.
//!
//! Setup is split so the boot never waits for a calibration: [`begin`] asks the
//! machine for the TSC frequency at entry (or starts measuring it), [`init`] sets the
//! tick's device counting, and [`finish`] completes both when the time is first
//! needed, at the latest when the kernel is ready. By then the boot's own work has
//! filled the measurement windows.

use core::sync::atomic::{AtomicU64, Ordering};

use ethos_core::clock::TscClock;
use ethos_core::command_line::TimerChoice;
use spin::{Mutex, Once};
use x86_64::instructions::interrupts::without_interrupts;

use crate::arch::{self, TimerDevice, TimerStart, TscFrequency, TscSource};

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
    /// The tick's device; `None` before [`init`].
    pub timer: Option<TimerDevice>,
}

/// Why time could not be set up.
#[derive(Clone, Copy, Debug)]
pub struct NoTscFrequency(pub TscSource);

impl core::fmt::Display for NoTscFrequency {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            TscSource::PitMeasurement => {
                write!(f, "no TSC frequency: the machine names none and has no PIT")
            }
            source => write!(f, "the TSC frequency from {} is implausible", source.name()),
        }
    }
}

/// Time setup begun and not yet finished: what the first need of the time completes.
struct Unfinished {
    /// The frequency, announced or being measured; taken when the clock is set.
    frequency: Option<TscFrequency>,
    /// The tick's device, counting since [`init`]; taken when the tick starts.
    timer: Option<TimerStart>,
}

static UNFINISHED: Mutex<Unfinished> = Mutex::new(Unfinished {
    frequency: None,
    timer: None,
});
static SOURCE: Once<TscSource> = Once::new();
static TIMER: Once<TimerDevice> = Once::new();

/// Asks the machine for the TSC frequency, first thing at boot. Where it announces
/// one the clock is set at once; otherwise a PIT measurement begins, to be finished
/// when the time is first needed, so the boot's own work fills the window.
pub fn begin() {
    let frequency = arch::discover_tsc_frequency();
    if let TscFrequency::Known(hz, source) = frequency
        && let Some(clock) = TscClock::from_hz(hz)
    {
        CLOCK.call_once(|| clock);
        SOURCE.call_once(|| source);
    }
    UNFINISHED.lock().frequency = Some(frequency);
}

/// Prepares the periodic tick (on the PIT when `choice` says so or there is no
/// LAPIC). A LAPIC timer starts counting, its rate measured when the tick is first
/// needed; the PIT tick, whose rate is fixed, starts at once, after the TSC
/// measurement it takes the PIT from.
pub fn init(choice: Option<TimerChoice>) -> Result<(), NoTscFrequency> {
    match arch::prepare_timer(choice == Some(TimerChoice::Pit)) {
        TimerStart::Pit => {
            without_interrupts(|| set_clock(&mut UNFINISHED.lock()))?;
            TIMER.call_once(|| arch::start_pit_tick(TICK_HZ));
        }
        start => UNFINISHED.lock().timer = Some(start),
    }
    Ok(())
}

/// Sets the clock from the frequency [`begin`] found or measured, finishing the
/// measurement (waiting only while it is shorter than its precision needs).
fn set_clock(unfinished: &mut Unfinished) -> Result<TscClock, NoTscFrequency> {
    if let Some(clock) = CLOCK.get() {
        return Ok(*clock);
    }
    let (hz, source) = match unfinished.frequency.take() {
        Some(TscFrequency::Known(hz, source)) => (Some(hz), source),
        Some(TscFrequency::Measuring(window)) => (window.finish(), TscSource::PitMeasurement),
        Some(TscFrequency::Unknown) | None => (None, TscSource::PitMeasurement),
    };
    let clock = hz
        .and_then(TscClock::from_hz)
        .ok_or(NoTscFrequency(source))?;
    SOURCE.call_once(|| source);
    Ok(*CLOCK.call_once(|| clock))
}

/// Finishes time setup: the clock, and the tick on the LAPIC timer. Called at the
/// first need of the time and at the latest when the kernel is ready.
pub fn finish() -> Result<TimeSummary, NoTscFrequency> {
    without_interrupts(|| {
        let mut unfinished = UNFINISHED.lock();
        let clock = set_clock(&mut unfinished)?;
        if let Some(TimerStart::LocalApic { tsc }) = unfinished.timer.take() {
            TIMER.call_once(|| arch::start_lapic_tick(&clock, TICK_HZ, tsc));
        }
        Ok(TimeSummary {
            clock,
            source: SOURCE.get().copied().unwrap_or(TscSource::PitMeasurement),
            timer: TIMER.get().copied(),
        })
    })
}

/// The clock, finishing time setup if this is the first need of it.
fn needed_clock() -> Option<TscClock> {
    match CLOCK.get() {
        Some(clock) if TIMER.get().is_some() => Some(*clock),
        _ => finish().ok().map(|summary| summary.clock),
    }
}

/// Nanoseconds since the first kernel instruction (finishing time setup if needed);
/// `None` when the TSC frequency cannot be had.
pub fn since_boot_nanos() -> Option<u64> {
    let clock = needed_clock()?;
    Some(clock.ticks_to_nanos(arch::read_tsc().saturating_sub(arch::entry_tsc())))
}

/// Nanoseconds since the first kernel instruction if the clock is already set:
/// for log lines, which must not finish a measurement early.
pub fn since_boot_nanos_if_known() -> Option<u64> {
    let clock = CLOCK.get()?;
    Some(clock.ticks_to_nanos(arch::read_tsc().saturating_sub(arch::entry_tsc())))
}

/// The clock (finishing time setup if needed).
pub fn clock() -> Option<TscClock> {
    needed_clock()
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
    tick_periods_at(since_boot_nanos())
}

/// [`tick_periods`] at a time [`since_boot_nanos`] read (`None`: the clock is not
/// set), for a caller that needs both.
pub fn tick_periods_at(nanos: Option<u64>) -> u64 {
    nanos.map_or_else(ticks, |nanos| nanos / (1_000_000_000 / u64::from(TICK_HZ)))
}
