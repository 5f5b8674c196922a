use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::vec::Vec;

use proptest::prelude::*;

use super::tls::{TCB_BYTES, TlsError, TlsLayout, TlsTemplate};
use super::*;

const T0: Instant = Instant(0);

fn at(nanos: u64) -> Instant {
    Instant(nanos)
}

/// Schedules the next thread, which must be `expected`.
fn run_next(threads: &mut Threads, now: Instant, expected: ThreadId) {
    assert_eq!(threads.schedule(now), Ok(Some(expected)));
    assert_eq!(threads.current(), Some(expected));
    assert_eq!(threads.state(expected), Some(ThreadState::Running));
}

#[test]
fn ready_threads_run_round_robin() {
    let mut threads = Threads::new();
    let ids: Vec<ThreadId> = (0..4)
        .map(|index| threads.spawn(&std::format!("t{index}"), false))
        .collect();
    for _round in 0..3 {
        for id in &ids {
            run_next(&mut threads, T0, *id);
            threads.yield_current().unwrap();
        }
    }
    assert_eq!(threads.runs(ids[0]), Some(3));
    // A new thread joins at the back of the queue.
    let late = threads.spawn("late", false);
    for id in ids.iter().chain([&late]) {
        run_next(&mut threads, T0, *id);
        threads.yield_current().unwrap();
    }
}

#[test]
fn only_the_hub_schedules_and_only_threads_block() {
    let mut threads = Threads::new();
    assert_eq!(threads.schedule(T0), Ok(None));
    let a = threads.spawn("a", false);
    let mutex = threads.create_mutex();
    assert_eq!(threads.lock_mutex(mutex), Err(ThreadError::NoCurrentThread));
    assert_eq!(threads.yield_current(), Err(ThreadError::NoCurrentThread));
    run_next(&mut threads, T0, a);
    assert_eq!(threads.schedule(T0), Err(ThreadError::ThreadRunning(a)));
}

#[test]
fn mutex_is_handed_to_waiters_in_order() {
    let mut threads = Threads::new();
    let [a, b, c] = ["a", "b", "c"].map(|name| threads.spawn(name, false));
    let mutex = threads.create_mutex();

    run_next(&mut threads, T0, a);
    assert_eq!(threads.lock_mutex(mutex), Ok(Next::Continue));
    assert_eq!(
        threads.lock_mutex(mutex),
        Err(ThreadError::AlreadyOwner(mutex))
    );
    threads.yield_current().unwrap();

    run_next(&mut threads, T0, b);
    assert_eq!(threads.lock_mutex(mutex), Ok(Next::Switch));
    assert_eq!(threads.current(), None);
    assert_eq!(
        threads.state(b),
        Some(ThreadState::Blocked(Blocker::Mutex(mutex)))
    );
    run_next(&mut threads, T0, c);
    assert_eq!(
        threads.unlock_mutex(mutex),
        Err(ThreadError::NotOwner(mutex))
    );
    assert_eq!(threads.try_lock_mutex(mutex), Ok(false));
    assert_eq!(threads.lock_mutex(mutex), Ok(Next::Switch));
    assert_eq!(
        threads.destroy_mutex(mutex),
        Err(ThreadError::MutexInUse(mutex))
    );

    // Only `a` can run; its unlock hands the mutex to `b`, not to whoever asks next.
    run_next(&mut threads, T0, a);
    threads.unlock_mutex(mutex).unwrap();
    assert_eq!(threads.mutex_owner(mutex), Ok(Some(b)));
    assert_eq!(threads.try_lock_mutex(mutex), Ok(false));
    threads.yield_current().unwrap();

    run_next(&mut threads, T0, b);
    assert_eq!(threads.outcome(), Some(WaitOutcome::Woken));
    threads.unlock_mutex(mutex).unwrap();
    assert_eq!(threads.mutex_owner(mutex), Ok(Some(c)));
    threads.yield_current().unwrap();
    run_next(&mut threads, T0, a);
    threads.yield_current().unwrap();
    run_next(&mut threads, T0, c);
    threads.unlock_mutex(mutex).unwrap();
    assert_eq!(threads.mutex_owner(mutex), Ok(None));
    assert_eq!(threads.try_lock_mutex(mutex), Ok(true));
    threads.unlock_mutex(mutex).unwrap();
    assert_eq!(threads.destroy_mutex(mutex), Ok(()));
    assert_eq!(
        threads.lock_mutex(mutex),
        Err(ThreadError::NoSuchMutex(mutex))
    );
}

#[test]
fn condvar_signal_wakes_the_longest_waiter_with_its_mutex() {
    let mut threads = Threads::new();
    let [a, b, c] = ["a", "b", "c"].map(|name| threads.spawn(name, false));
    let mutex = threads.create_mutex();
    let condvar = threads.create_condvar();

    for waiter in [a, b] {
        run_next(&mut threads, T0, waiter);
        assert_eq!(threads.lock_mutex(mutex), Ok(Next::Continue));
        assert_eq!(
            threads.wait_condvar(condvar, mutex, None, T0),
            Ok(Next::Switch)
        );
        // Waiting released the mutex.
        assert_eq!(threads.mutex_owner(mutex), Ok(None));
    }
    assert_eq!(threads.condvar_waiters(condvar), Ok(2));
    assert_eq!(
        threads.destroy_condvar(condvar),
        Err(ThreadError::CondvarInUse(condvar))
    );

    run_next(&mut threads, T0, c);
    assert_eq!(
        threads.wait_condvar(condvar, mutex, None, T0),
        Err(ThreadError::NotOwner(mutex))
    );
    assert_eq!(threads.lock_mutex(mutex), Ok(Next::Continue));
    threads.signal_condvar(condvar).unwrap();
    // `a` waited first; it now waits for the mutex `c` holds.
    assert_eq!(
        threads.state(a),
        Some(ThreadState::Blocked(Blocker::Mutex(mutex)))
    );
    assert_eq!(
        threads.state(b),
        Some(ThreadState::Blocked(Blocker::Condvar { condvar, mutex }))
    );
    threads.unlock_mutex(mutex).unwrap();
    assert_eq!(threads.mutex_owner(mutex), Ok(Some(a)));
    threads.yield_current().unwrap();

    run_next(&mut threads, T0, a);
    assert_eq!(threads.outcome(), Some(WaitOutcome::Woken));
    threads.unlock_mutex(mutex).unwrap();
    threads.yield_current().unwrap();
    // Nothing signalled `b`.
    run_next(&mut threads, T0, c);
    threads.yield_current().unwrap();
    run_next(&mut threads, T0, a);
}

#[test]
fn condvar_broadcast_wakes_all_in_order_each_with_the_mutex_in_turn() {
    let mut threads = Threads::new();
    let waiters: Vec<ThreadId> = (0..5).map(|_| threads.spawn("w", false)).collect();
    let waker = threads.spawn("waker", false);
    let mutex = threads.create_mutex();
    let condvar = threads.create_condvar();
    for waiter in &waiters {
        run_next(&mut threads, T0, *waiter);
        assert_eq!(threads.lock_mutex(mutex), Ok(Next::Continue));
        assert_eq!(
            threads.wait_condvar(condvar, mutex, None, T0),
            Ok(Next::Switch)
        );
    }
    run_next(&mut threads, T0, waker);
    threads.broadcast_condvar(condvar).unwrap();
    assert_eq!(threads.condvar_waiters(condvar), Ok(0));
    // Free mutex: the first waiter owns it at once, the rest queue behind.
    assert_eq!(threads.mutex_owner(mutex), Ok(Some(waiters[0])));
    threads.yield_current().unwrap();
    for waiter in &waiters {
        run_next(&mut threads, T0, *waiter);
        assert_eq!(threads.outcome(), Some(WaitOutcome::Woken));
        assert_eq!(threads.mutex_owner(mutex), Ok(Some(*waiter)));
        threads.unlock_mutex(mutex).unwrap();
        threads.exit_current(ThreadEnd::Returned(0)).unwrap();
        // The waker runs between handovers: it is in the ready queue too.
        run_next(&mut threads, T0, waker);
        threads.yield_current().unwrap();
    }
    assert_eq!(threads.destroy_condvar(condvar), Ok(()));
}

#[test]
fn timed_condvar_wait_times_out_at_its_deadline_and_keeps_the_mutex() {
    let mut threads = Threads::new();
    let [a, b] = ["a", "b"].map(|name| threads.spawn(name, false));
    let mutex = threads.create_mutex();
    let condvar = threads.create_condvar();
    run_next(&mut threads, T0, a);
    assert_eq!(threads.lock_mutex(mutex), Ok(Next::Continue));
    // A deadline already passed ends the wait at once.
    assert_eq!(
        threads.wait_condvar(condvar, mutex, Some(at(0)), at(5)),
        Ok(Next::Continue)
    );
    assert_eq!(threads.outcome(), Some(WaitOutcome::TimedOut));
    assert_eq!(
        threads.wait_condvar(condvar, mutex, Some(at(100)), at(5)),
        Ok(Next::Switch)
    );
    assert_eq!(threads.next_deadline(), Some(at(100)));
    run_next(&mut threads, at(50), b);
    assert_eq!(threads.lock_mutex(mutex), Ok(Next::Continue));
    threads.yield_current().unwrap();
    // The deadline passes while `b` holds the mutex: `a` queues for it.
    run_next(&mut threads, at(99), b);
    threads.yield_current().unwrap();
    run_next(&mut threads, at(100), b);
    assert_eq!(threads.condvar_waiters(condvar), Ok(0));
    assert_eq!(
        threads.state(a),
        Some(ThreadState::Blocked(Blocker::Mutex(mutex)))
    );
    threads.unlock_mutex(mutex).unwrap();
    threads.yield_current().unwrap();
    run_next(&mut threads, at(101), a);
    assert_eq!(threads.outcome(), Some(WaitOutcome::TimedOut));
    assert_eq!(threads.mutex_owner(mutex), Ok(Some(a)));
    assert_eq!(threads.next_deadline(), None);
}

#[test]
fn a_signalled_waiter_leaves_the_deadline_queue() {
    let mut threads = Threads::new();
    let [a, b] = ["a", "b"].map(|name| threads.spawn(name, false));
    let mutex = threads.create_mutex();
    let condvar = threads.create_condvar();
    run_next(&mut threads, T0, a);
    assert_eq!(threads.lock_mutex(mutex), Ok(Next::Continue));
    assert_eq!(
        threads.wait_condvar(condvar, mutex, Some(at(10)), T0),
        Ok(Next::Switch)
    );
    run_next(&mut threads, T0, b);
    threads.signal_condvar(condvar).unwrap();
    assert_eq!(threads.next_deadline(), None);
    threads.yield_current().unwrap();
    run_next(&mut threads, at(1_000), a);
    assert_eq!(threads.outcome(), Some(WaitOutcome::Woken));
}

#[test]
fn sleepers_wake_at_their_deadlines_in_deadline_order() {
    let mut threads = Threads::new();
    let deadlines = [30, 10, 20, 10];
    let ids: Vec<ThreadId> = deadlines
        .iter()
        .map(|_| threads.spawn("s", false))
        .collect();
    for (id, deadline) in ids.iter().zip(deadlines) {
        run_next(&mut threads, T0, *id);
        assert_eq!(threads.sleep_until(at(deadline), T0), Ok(Next::Switch));
    }
    assert_eq!(threads.next_deadline(), Some(at(10)));
    assert_eq!(threads.schedule(at(9)), Ok(None));
    // Both 10s, in the order they slept, numbered in that order.
    let mut numbers = Vec::new();
    for expected in [ids[1], ids[3]] {
        run_next(&mut threads, at(10), expected);
        assert_eq!(threads.outcome(), Some(WaitOutcome::TimedOut));
        numbers.push(threads.wakeup_number().unwrap());
        threads.exit_current(ThreadEnd::Returned(0)).unwrap();
    }
    assert!(numbers[0] < numbers[1]);
    assert_eq!(threads.schedule(at(19)), Ok(None));
    run_next(&mut threads, at(25), ids[2]);
    threads.exit_current(ThreadEnd::Returned(0)).unwrap();
    assert_eq!(threads.schedule(at(29)), Ok(None));
    run_next(&mut threads, at(31), ids[0]);
    // A deadline that has passed does not sleep at all.
    assert_eq!(threads.sleep_until(at(31), at(31)), Ok(Next::Continue));
}

proptest! {
    #[test]
    fn no_sleeper_ever_wakes_before_its_deadline(
        deadlines in proptest::collection::vec(1u64..1_000, 1..20),
        steps in proptest::collection::vec(0u64..200, 1..40),
    ) {
        let mut threads = Threads::new();
        let mut deadline_of = std::collections::BTreeMap::new();
        for deadline in &deadlines {
            let id = threads.spawn("s", false);
            deadline_of.insert(id, *deadline);
            prop_assert_eq!(threads.schedule(T0), Ok(Some(id)));
            prop_assert_eq!(threads.sleep_until(at(*deadline), T0), Ok(Next::Switch));
        }
        let mut now = 0;
        let mut woken = Vec::new();
        for step in steps.iter().chain([&1_000]) {
            now += step;
            while let Some(id) = threads.schedule(at(now)).unwrap() {
                prop_assert!(deadline_of[&id] <= now, "woke at {} before {}", now, deadline_of[&id]);
                woken.push(deadline_of[&id]);
                threads.exit_current(ThreadEnd::Returned(0)).unwrap();
            }
        }
        prop_assert_eq!(woken.len(), deadlines.len());
        prop_assert!(woken.windows(2).all(|pair| pair[0] <= pair[1]), "order {:?}", woken);
    }
}

#[test]
fn join_collects_the_end_before_or_after_it_happens() {
    let mut threads = Threads::new();
    let early = threads.spawn("early", true);
    let late = threads.spawn("late", true);
    let joiner = threads.spawn("joiner", false);

    run_next(&mut threads, T0, early);
    threads.exit_current(ThreadEnd::Returned(7)).unwrap();
    assert_eq!(threads.take_released(), [early]);
    assert_eq!(
        threads.state(early),
        Some(ThreadState::Ended(ThreadEnd::Returned(7)))
    );

    run_next(&mut threads, T0, late);
    threads.yield_current().unwrap();

    run_next(&mut threads, T0, joiner);
    // Already ended: collected at once, and the thread is gone.
    assert_eq!(
        threads.join(early),
        Ok((Next::Continue, Some(ThreadEnd::Returned(7))))
    );
    assert_eq!(threads.state(early), None);
    assert_eq!(threads.join(joiner), Err(ThreadError::JoinSelf));
    assert_eq!(threads.join(late), Ok((Next::Switch, None)));
    assert_eq!(
        threads.state(joiner),
        Some(ThreadState::Blocked(Blocker::Join(late)))
    );

    run_next(&mut threads, T0, late);
    threads
        .exit_current(ThreadEnd::Faulted {
            vector: 14,
            address: 0x1000,
        })
        .unwrap();
    run_next(&mut threads, T0, joiner);
    assert_eq!(
        threads.join(late),
        Ok((
            Next::Continue,
            Some(ThreadEnd::Faulted {
                vector: 14,
                address: 0x1000
            })
        ))
    );
    assert_eq!(threads.join(late), Err(ThreadError::NoSuchThread(late)));
    assert_eq!(threads.live(), 1);
}

#[test]
fn detached_threads_vanish_and_cannot_be_joined() {
    let mut threads = Threads::new();
    let detached = threads.spawn("detached", false);
    let joinable = threads.spawn("joinable", true);
    assert_eq!(
        threads.try_join(detached),
        Err(ThreadError::NotJoinable(detached))
    );
    assert_eq!(threads.try_join(joinable), Ok(None));
    run_next(&mut threads, T0, detached);
    threads.exit_current(ThreadEnd::Returned(1)).unwrap();
    assert_eq!(threads.state(detached), None);
    assert_eq!(threads.take_released(), [detached]);
    assert_eq!(threads.take_released(), []);
    run_next(&mut threads, T0, joinable);
    threads.exit_current(ThreadEnd::Returned(2)).unwrap();
    // The hub joins without waiting.
    assert_eq!(threads.try_join(joinable), Ok(Some(ThreadEnd::Returned(2))));
}

#[test]
fn a_second_joiner_is_refused() {
    let mut threads = Threads::new();
    let [target, first, second] = ["t", "1", "2"].map(|name| threads.spawn(name, true));
    threads.schedule(T0).unwrap();
    threads.yield_current().unwrap();
    run_next(&mut threads, T0, first);
    assert_eq!(threads.join(target), Ok((Next::Switch, None)));
    run_next(&mut threads, T0, second);
    assert_eq!(
        threads.join(target),
        Err(ThreadError::AlreadyJoined(target))
    );
}

#[test]
fn each_thread_keeps_its_own_slot() {
    let mut threads = Threads::new();
    let [a, b] = ["a", "b"].map(|name| threads.spawn(name, false));
    assert_eq!(threads.slot(), Err(ThreadError::NoCurrentThread));
    run_next(&mut threads, T0, a);
    assert_eq!(threads.slot(), Ok(0));
    threads.set_slot(0xa0a0).unwrap();
    threads.yield_current().unwrap();
    run_next(&mut threads, T0, b);
    assert_eq!(threads.slot(), Ok(0));
    threads.set_slot(0xb0b0).unwrap();
    threads.yield_current().unwrap();
    run_next(&mut threads, T0, a);
    assert_eq!(threads.slot(), Ok(0xa0a0));
    threads.yield_current().unwrap();
    run_next(&mut threads, T0, b);
    assert_eq!(threads.slot(), Ok(0xb0b0));
}

#[test]
fn wait_channels_wake_the_number_asked_and_time_out() {
    let mut threads = Threads::new();
    let ids: Vec<ThreadId> = (0..4).map(|_| threads.spawn("w", false)).collect();
    for (index, id) in ids.iter().enumerate() {
        run_next(&mut threads, T0, *id);
        let deadline = (index == 3).then_some(at(50));
        assert_eq!(threads.wait_channel(0x1000, deadline, T0), Ok(Next::Switch));
    }
    assert_eq!(threads.wake_channel(0x2000, 1), 0);
    assert_eq!(threads.wake_channel(0x1000, 2), 2);
    for id in &ids[..2] {
        run_next(&mut threads, at(1), *id);
        assert_eq!(threads.outcome(), Some(WaitOutcome::Woken));
        threads.exit_current(ThreadEnd::Returned(0)).unwrap();
    }
    assert_eq!(threads.schedule(at(49)), Ok(None));
    run_next(&mut threads, at(50), ids[3]);
    assert_eq!(threads.outcome(), Some(WaitOutcome::TimedOut));
    threads.exit_current(ThreadEnd::Returned(0)).unwrap();
    // The timed-out waiter left the channel: one waiter remains.
    assert_eq!(threads.wake_channel(0x1000, usize::MAX), 1);
    run_next(&mut threads, at(51), ids[2]);
}

#[test]
fn an_event_signalled_from_an_interrupt_wakes_its_waiter_or_is_kept() {
    let mut threads = Threads::new();
    let signals = InterruptSignals::new();
    let event = EventId::new(70).unwrap();
    let other = EventId::new(3).unwrap();
    assert_eq!(EventId::new(EVENT_COUNT as u16), None);
    let [a, b] = ["a", "b"].map(|name| threads.spawn(name, false));

    run_next(&mut threads, T0, a);
    assert_eq!(threads.wait_event(event, None, T0), Ok(Next::Switch));
    run_next(&mut threads, T0, b);
    // The "interrupt" comes while a thread runs and the table is in use: the
    // handler needs nothing but `&InterruptSignals`.
    signals.signal(event);
    signals.signal(event);
    assert!(signals.any_pending());
    threads.yield_current().unwrap();
    threads.deliver(&signals);
    assert!(!signals.any_pending());
    run_next(&mut threads, T0, b);
    threads.yield_current().unwrap();
    run_next(&mut threads, T0, a);
    assert_eq!(threads.outcome(), Some(WaitOutcome::Woken));
    // Two signals before delivery counted once: the next wait blocks.
    assert_eq!(threads.wait_event(event, None, T0), Ok(Next::Switch));
    // A signal with nobody waiting is kept for the next wait.
    signals.signal(other);
    threads.deliver(&signals);
    run_next(&mut threads, T0, b);
    assert_eq!(threads.wait_event(other, None, T0), Ok(Next::Continue));
    assert_eq!(
        threads.wait_event(other, Some(at(5)), at(5)),
        Ok(Next::Continue)
    );
    assert_eq!(threads.outcome(), Some(WaitOutcome::TimedOut));
    assert_eq!(
        threads.wait_event(other, Some(at(10)), at(5)),
        Ok(Next::Switch)
    );
    assert_eq!(threads.schedule(at(9)), Ok(None));
    run_next(&mut threads, at(10), b);
    assert_eq!(threads.outcome(), Some(WaitOutcome::TimedOut));
}

#[test]
fn interrupt_signals_from_other_cpus_are_never_lost_and_never_block() {
    let signals = Arc::new(InterruptSignals::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Threads::new();
    let waiters: Vec<(EventId, ThreadId)> = (0..8)
        .map(|index| (EventId::new(index * 31).unwrap(), threads.spawn("w", false)))
        .collect();
    for (event, id) in &waiters {
        run_next(&mut threads, T0, *id);
        assert_eq!(threads.wait_event(*event, None, T0), Ok(Next::Switch));
    }
    // "Interrupt handlers" hammer the bits while this thread holds the table.
    let handlers: Vec<_> = (0..4)
        .map(|_| {
            let signals = Arc::clone(&signals);
            let stop = Arc::clone(&stop);
            let events: Vec<EventId> = waiters.iter().map(|(event, _)| *event).collect();
            std::thread::spawn(move || {
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) || sent < 1000 {
                    signals.signal(events[(sent % 8) as usize]);
                    sent += 1;
                }
            })
        })
        .collect();
    let mut woken = std::collections::BTreeSet::new();
    while woken.len() < waiters.len() {
        threads.deliver(&signals);
        while let Some(id) = threads.schedule(T0).unwrap() {
            woken.insert(id);
            threads.exit_current(ThreadEnd::Returned(0)).unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for handler in handlers {
        handler.join().unwrap();
    }
    assert_eq!(woken.len(), 8);
}

/// Eight simulated threads pass a turn around a ring through one mutex and one
/// condition variable, the way the QEMU test `thread_ping_pong` does on real stacks.
#[test]
fn eight_threads_pass_a_turn_through_one_mutex_and_condvar() {
    const THREADS: usize = 8;
    const PASSES: u64 = 4_000;
    #[derive(Clone, Copy, PartialEq)]
    enum Step {
        Lock,
        Check,
    }
    let mut threads = Threads::new();
    let mutex = threads.create_mutex();
    let condvar = threads.create_condvar();
    let ids: Vec<ThreadId> = (0..THREADS).map(|_| threads.spawn("ring", true)).collect();
    let mut steps = [Step::Lock; THREADS];
    let (mut turn, mut count) = (0usize, 0u64);
    let mut order = Vec::new();
    while let Some(id) = threads.schedule(T0).unwrap() {
        let me = ids.iter().position(|candidate| *candidate == id).unwrap();
        loop {
            if steps[me] == Step::Lock {
                steps[me] = Step::Check;
                if threads.lock_mutex(mutex).unwrap() == Next::Switch {
                    break;
                }
            }
            assert_eq!(threads.mutex_owner(mutex), Ok(Some(id)));
            if count >= PASSES {
                threads.unlock_mutex(mutex).unwrap();
                threads.broadcast_condvar(condvar).unwrap();
                threads.exit_current(ThreadEnd::Returned(0)).unwrap();
                break;
            }
            if turn != me {
                if threads.wait_condvar(condvar, mutex, None, T0).unwrap() == Next::Switch {
                    break;
                }
                continue;
            }
            order.push(me);
            count += 1;
            turn = (turn + 1) % THREADS;
            threads.broadcast_condvar(condvar).unwrap();
            threads.unlock_mutex(mutex).unwrap();
            steps[me] = Step::Lock;
            threads.yield_current().unwrap();
            break;
        }
    }
    assert_eq!(count, PASSES);
    assert!(
        order
            .iter()
            .enumerate()
            .all(|(index, me)| index % THREADS == *me)
    );
    for id in ids {
        assert_eq!(threads.try_join(id), Ok(Some(ThreadEnd::Returned(0))));
    }
}

#[test]
fn tls_block_ends_at_the_thread_pointer_as_the_linker_computes() {
    let template = TlsTemplate {
        image_bytes: 12,
        memory_bytes: 40,
        align: 8,
    };
    let layout = TlsLayout::new(template).unwrap();
    assert_eq!(layout.block_bytes, 40);
    assert_eq!(layout.thread_pointer_offset % 16, 0);
    assert_eq!(
        layout.allocation_bytes,
        layout.thread_pointer_offset + TCB_BYTES
    );
    // lld: tpoff = offset - align_up(memory_size, align).
    for offset in [0, 8, 12, 39] {
        let relative = layout.thread_pointer_relative(offset);
        assert_eq!(relative, offset as isize - 40);
        assert_eq!(
            (layout.thread_pointer_offset as isize + relative) as usize,
            layout.image_offset + offset
        );
    }
    // A 64-byte-aligned segment: the copy starts aligned, the pointer too.
    let wide = TlsLayout::new(TlsTemplate {
        image_bytes: 1,
        memory_bytes: 65,
        align: 64,
    })
    .unwrap();
    assert_eq!(wide.block_bytes, 128);
    assert_eq!(wide.allocation_align, 64);
    assert_eq!(wide.image_offset % 64, 0);
    assert_eq!(wide.thread_pointer_offset % 64, 0);
    // No TLS at all still gives a control block.
    let empty = TlsLayout::new(TlsTemplate {
        image_bytes: 0,
        memory_bytes: 0,
        align: 0,
    })
    .unwrap();
    assert_eq!(empty.allocation_bytes, TCB_BYTES);
    assert_eq!(
        TlsLayout::new(TlsTemplate {
            image_bytes: 0,
            memory_bytes: 8,
            align: 12
        }),
        Err(TlsError::AlignmentNotPowerOfTwo(12))
    );
    assert!(matches!(
        TlsLayout::new(TlsTemplate {
            image_bytes: 9,
            memory_bytes: 8,
            align: 8
        }),
        Err(TlsError::ImageLargerThanSegment { .. })
    ));
}
