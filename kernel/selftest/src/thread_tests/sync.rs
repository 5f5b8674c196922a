//! Threads that wait for each other, for time and for interrupts.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use ethos_core::threads::{EventId, ThreadError, WaitOutcome};

use super::{PATIENCE_NANOS, ThreadTestFailure, join_clean, metric, now, spawn};
use ethos_platform_x86_64::kernel_threads::{self, Condvar, Mutex, ThreadOptions};
use ethos_platform_x86_64::time;

/// Threads in the ping-pong ring.
pub(super) const RING: usize = 8;
/// Passes of the turn around the ring, in total.
pub(super) const PASSES: u64 = 100_000;

/// The ring's shared state; the numbers are only touched with `mutex` held.
struct PingPong {
    mutex: Mutex,
    turn: Condvar,
    next: AtomicUsize,
    passes: AtomicU64,
    per_thread: [AtomicU64; RING],
    out_of_turn: AtomicU64,
    /// A thread's operation was refused.
    failed: AtomicBool,
}

/// Each ring thread's slot value (as rump keeps its `curlwp` there).
fn ring_slot(me: usize) -> usize {
    0x5107_0000 + me
}

/// One ring thread. It holds the mutex throughout and gives it up only inside the
/// condition variable wait, so every pass goes through a broadcast, a wait per
/// thread whose turn it is not, and a mutex handover.
fn ping_pong_thread(ring: &PingPong, me: usize) -> Result<(), ThreadError> {
    kernel_threads::set_slot(ring_slot(me))?;
    ring.mutex.lock()?;
    loop {
        while ring.next.load(Ordering::Relaxed) != me
            && ring.passes.load(Ordering::Relaxed) < PASSES
        {
            ring.turn.wait(&ring.mutex)?;
        }
        let passes = ring.passes.load(Ordering::Relaxed);
        if passes >= PASSES {
            break;
        }
        // Strict alternation: pass n belongs to thread n mod 8, and the thread
        // holds the mutex while it takes it.
        if passes % RING as u64 != me as u64 || ring.mutex.owner()? != kernel_threads::current() {
            ring.out_of_turn.fetch_add(1, Ordering::Relaxed);
        }
        ring.passes.store(passes + 1, Ordering::Relaxed);
        ring.per_thread[me].fetch_add(1, Ordering::Relaxed);
        ring.next.store((me + 1) % RING, Ordering::Relaxed);
        ring.turn.broadcast()?;
    }
    ring.mutex.unlock()?;
    // The slot stayed this thread's through every switch.
    if kernel_threads::slot()? != ring_slot(me) {
        ring.out_of_turn.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// `thread_ping_pong`: eight threads pass a turn around a ring 100,000 times through
/// one mutex and one condition variable; every pass is in order and counted once.
pub(crate) fn ping_pong() -> Result<(), ThreadTestFailure> {
    let ring = Arc::new(PingPong {
        mutex: Mutex::new(),
        turn: Condvar::new(),
        next: AtomicUsize::new(0),
        passes: AtomicU64::new(0),
        per_thread: [const { AtomicU64::new(0) }; RING],
        out_of_turn: AtomicU64::new(0),
        failed: AtomicBool::new(false),
    });
    let started = now();
    let mut threads = Vec::new();
    for me in 0..RING {
        let ring = Arc::clone(&ring);
        threads.push(spawn(
            &ThreadOptions::named("ping-pong"),
            move || match ping_pong_thread(&ring, me) {
                Ok(()) => 0,
                Err(_) => {
                    ring.failed.store(true, Ordering::Relaxed);
                    1
                }
            },
        )?);
    }
    if !kernel_threads::run_until(
        || ring.passes.load(Ordering::Relaxed) >= PASSES || ring.failed.load(Ordering::Relaxed),
        PATIENCE_NANOS,
    ) {
        return Err(ThreadTestFailure::Lost {
            what: "the last pass",
        });
    }
    // Turns the threads were given, counted before joining forgets them.
    let turns: u64 = threads
        .iter()
        .map(|thread| kernel_threads::runs(*thread).unwrap_or(0))
        .sum();
    for thread in threads.iter().copied() {
        join_clean(thread)?;
    }
    let elapsed = now() - started;
    metric("thread_ping_pong_turns", turns, "count");
    let passes = ring.passes.load(Ordering::Relaxed);
    let per_thread = ring
        .per_thread
        .each_ref()
        .map(|count| count.load(Ordering::Relaxed));
    let out_of_turn = ring.out_of_turn.load(Ordering::Relaxed);
    metric("thread_ping_pong_passes", passes, "count");
    metric("thread_ping_pong_elapsed", elapsed / 1_000_000, "ms");
    metric("thread_preemptions", kernel_threads::preemptions(), "count");
    if passes != PASSES
        || out_of_turn != 0
        || per_thread
            .iter()
            .any(|count| *count != PASSES / RING as u64)
    {
        return Err(ThreadTestFailure::PingPong {
            passes,
            per_thread,
            out_of_turn,
        });
    }
    Ok(())
}

/// Sleepers, with deadlines in milliseconds after the start, deliberately unsorted
/// and 7 ms apart, so they fall at different points between two 10 ms ticks: a
/// wakeup even a few milliseconds early shows for some of them.
pub(super) const SLEEPERS: usize = 12;
const SLEEP_MS: [u64; SLEEPERS] = [49, 14, 84, 35, 7, 70, 28, 63, 21, 77, 42, 56];

/// Waits until `deadline` in one of three ways: a sleep, a condition variable wait
/// nobody signals, a wait channel nobody wakes. Each must end by its deadline.
fn wait_out(kind: usize, deadline: u64) -> Result<(), ThreadError> {
    match kind % 3 {
        0 => kernel_threads::sleep_until(deadline),
        1 => {
            let (mutex, condvar) = (Mutex::new(), Condvar::new());
            if !mutex.try_lock()? {
                return Err(ThreadError::NotOwner(mutex.id()));
            }
            let outcome = condvar.wait_until(&mutex, deadline)?;
            mutex.unlock()?;
            if outcome != WaitOutcome::TimedOut {
                return Err(ThreadError::NotOwner(mutex.id()));
            }
            Ok(())
        }
        _ => match kernel_threads::wait_channel(0x5_1eef + kind as u64, Some(deadline))? {
            WaitOutcome::TimedOut => Ok(()),
            WaitOutcome::Woken => Err(ThreadError::NoCurrentThread),
        },
    }
}

/// The wait channel sleepers wait on until every one has started.
const START_CHANNEL: u64 = 0x57a7;
/// How long after the start signal the first deadline may come, at least.
const START_MARGIN_NANOS: u64 = 20_000_000;

/// `thread_sleep`: threads sleeping, or waiting with a deadline on a condition
/// variable or a wait channel, each wake at or after their deadline, in deadline
/// order.
pub(crate) fn sleep() -> Result<(), ThreadTestFailure> {
    let start = Arc::new(AtomicU64::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let woke_at = Arc::new([const { AtomicU64::new(0) }; SLEEPERS]);
    let wakeup = Arc::new([const { AtomicU64::new(0) }; SLEEPERS]);
    let mut threads = Vec::new();
    for (index, milliseconds) in SLEEP_MS.iter().enumerate() {
        let (start, started, woke_at, wakeup) = (
            start.clone(),
            started.clone(),
            woke_at.clone(),
            wakeup.clone(),
        );
        threads.push(spawn(&ThreadOptions::named("sleeper"), move || {
            started.fetch_add(1, Ordering::Release);
            if kernel_threads::wait_channel(START_CHANNEL, None).is_err() {
                return 1;
            }
            let deadline = start.load(Ordering::Acquire) + milliseconds * 1_000_000;
            if now() >= deadline {
                // Too slow a machine to test anything: say so rather than pass.
                return 2;
            }
            if wait_out(index, deadline).is_err() {
                return 3;
            }
            woke_at[index].store(now(), Ordering::Relaxed);
            // The order the kernel woke them in (not the order they got to run
            // after: a slow machine may preempt one between its wakeup and here).
            let Some(number) = kernel_threads::wakeup_number() else {
                return 4;
            };
            wakeup[index].store(number, Ordering::Relaxed);
            0
        })?);
    }
    // Every sleeper waits for the start: the deadlines then count from one instant.
    if !kernel_threads::run_until(
        || started.load(Ordering::Acquire) == SLEEPERS,
        PATIENCE_NANOS,
    ) {
        return Err(ThreadTestFailure::Lost {
            what: "the sleepers' start",
        });
    }
    let start = {
        let at = now() + START_MARGIN_NANOS;
        start.store(at, Ordering::Release);
        at
    };
    let mut woken = 0;
    while woken < SLEEPERS {
        woken += kernel_threads::wake_channel(START_CHANNEL, SLEEPERS);
        kernel_threads::run_turn();
    }
    for thread in threads.iter().copied() {
        join_clean(thread)?;
    }
    let mut by_wakeup: Vec<(u64, u64)> = Vec::new();
    let mut latest_lateness = 0;
    for (index, milliseconds) in SLEEP_MS.iter().enumerate() {
        let deadline = start + milliseconds * 1_000_000;
        let woke = woke_at[index].load(Ordering::Relaxed);
        if woke < deadline {
            return Err(ThreadTestFailure::EarlyWake { deadline, woke });
        }
        latest_lateness = latest_lateness.max(woke - deadline);
        by_wakeup.push((wakeup[index].load(Ordering::Relaxed), *milliseconds));
    }
    metric("thread_sleep_max_lateness", latest_lateness / 1000, "us");
    by_wakeup.sort_unstable();
    let mut in_wake_order = [0; SLEEPERS];
    for (slot, (_, milliseconds)) in in_wake_order.iter_mut().zip(&by_wakeup) {
        *slot = *milliseconds;
    }
    if in_wake_order.windows(2).any(|pair| pair[0] > pair[1]) {
        return Err(ThreadTestFailure::WakeOrder {
            deadlines_in_wake_order: in_wake_order,
        });
    }
    Ok(())
}

/// The wait channel the last thread of the interrupt chain waits on.
const CHAIN_CHANNEL: u64 = 0xc4a1;

/// `thread_interrupt_wake`: a thread waits on an event with nothing else to wake it;
/// the timer interrupt handler signals the event, and the thread runs. It then
/// wakes a second thread through a condition variable, which wakes a third through
/// a wait channel: every wait has a far deadline, and every one must end woken.
pub(crate) fn interrupt_wake() -> Result<(), ThreadTestFailure> {
    let event = EventId::new(7).ok_or(ThreadTestFailure::Lost {
        what: "an event id",
    })?;
    let waiting = Arc::new(AtomicUsize::new(0));
    let woke_tick = Arc::new(AtomicU64::new(0));
    let woken = Arc::new(AtomicUsize::new(0));
    let pair = Arc::new((Mutex::new(), Condvar::new(), AtomicBool::new(false)));
    let far = now() + PATIENCE_NANOS;
    let mut threads = Vec::new();
    {
        let (waiting, woke_tick, woken, pair) = (
            waiting.clone(),
            woke_tick.clone(),
            woken.clone(),
            pair.clone(),
        );
        threads.push(spawn(
            &ThreadOptions::named("interrupt-waiter"),
            move || {
                waiting.fetch_add(1, Ordering::Release);
                let Ok(WaitOutcome::Woken) = kernel_threads::wait_event(event, Some(far)) else {
                    return 1;
                };
                woke_tick.store(time::ticks(), Ordering::Relaxed);
                woken.fetch_add(1, Ordering::Relaxed);
                let (mutex, condvar, flag) = &*pair;
                if mutex.lock().is_err() {
                    return 2;
                }
                flag.store(true, Ordering::Relaxed);
                let signalled = condvar.signal();
                let _ = mutex.unlock();
                u64::from(signalled.is_err()) * 3
            },
        )?);
    }
    {
        let (waiting, woken, pair) = (waiting.clone(), woken.clone(), pair.clone());
        threads.push(spawn(&ThreadOptions::named("condvar-waiter"), move || {
            let (mutex, condvar, flag) = &*pair;
            if mutex.lock().is_err() {
                return 1;
            }
            waiting.fetch_add(1, Ordering::Release);
            while !flag.load(Ordering::Relaxed) {
                match condvar.wait_until(mutex, far) {
                    Ok(WaitOutcome::Woken) => {}
                    _ => return 2,
                }
            }
            let _ = mutex.unlock();
            woken.fetch_add(1, Ordering::Relaxed);
            // Wake the channel waiter, once it waits.
            while kernel_threads::wake_channel(CHAIN_CHANNEL, 1) == 0 {
                kernel_threads::yield_now();
            }
            0
        })?);
    }
    {
        let (waiting, woken) = (waiting.clone(), woken.clone());
        threads.push(spawn(&ThreadOptions::named("channel-waiter"), move || {
            waiting.fetch_add(1, Ordering::Release);
            match kernel_threads::wait_channel(CHAIN_CHANNEL, Some(far)) {
                Ok(WaitOutcome::Woken) => {
                    woken.fetch_add(1, Ordering::Relaxed);
                    0
                }
                _ => 1,
            }
        })?);
    }
    if !kernel_threads::run_until(|| waiting.load(Ordering::Acquire) == 3, PATIENCE_NANOS) {
        return Err(ThreadTestFailure::Lost {
            what: "the waiters' start",
        });
    }
    // Let the waiters block first, then arm the timer interrupt.
    let alarm_tick = time::ticks() + 10;
    kernel_threads::signal_at_tick(event, alarm_tick);
    for thread in threads.iter().copied() {
        join_clean(thread)?;
    }
    let woke = woke_tick.load(Ordering::Relaxed);
    metric(
        "thread_interrupt_wake_delay",
        woke.saturating_sub(alarm_tick),
        "ticks",
    );
    if woke < alarm_tick || woken.load(Ordering::Relaxed) != 3 {
        return Err(ThreadTestFailure::InterruptWake {
            alarm_tick,
            woke_tick: woke,
            woken: woken.load(Ordering::Relaxed),
        });
    }
    Ok(())
}
