//! Semantics of the kernel locks and condition variables without a rump kernel: exclusion,
//! owner tracking, timed waits, wakeups, the interlock case and the unschedule rules,
//! checked against the recording upcall table of `crate::test_upcalls`.

use std::boxed::Box;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::abi::Lwp;
use crate::error::HypercallError;
use crate::host;
use crate::sync::condvar::KernelCondvar;
use crate::sync::mutex::{KernelMutex, MutexKind};
use crate::sync::rwlock::{KernelRwLock, LockMode};
use crate::test_upcalls;

const ADAPTIVE: MutexKind = MutexKind {
    spin: false,
    kernel_mutex: true,
};
const KERNEL_SPIN: MutexKind = MutexKind {
    spin: true,
    kernel_mutex: true,
};
const SCHEDULER_SPIN: MutexKind = MutexKind {
    spin: true,
    kernel_mutex: false,
};

/// Gives the calling test thread a distinct pretend lwp and the recording upcalls.
fn enter_as_lwp(identity: usize) -> *mut Lwp {
    test_upcalls::install();
    let lwp = (identity * 64) as *mut Lwp;
    host::active().set_current_lwp(lwp);
    lwp
}

/// Waits until `condition` holds, failing the test after five seconds.
fn eventually(condition: impl Fn() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "condition never held"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn mutex_flags_decode_and_reject_nonsense() {
    assert_eq!(MutexKind::from_flags(1).unwrap(), SCHEDULER_SPIN);
    assert_eq!(MutexKind::from_flags(2).unwrap(), ADAPTIVE);
    assert_eq!(MutexKind::from_flags(3).unwrap(), KERNEL_SPIN);
    assert_eq!(
        MutexKind::from_flags(0),
        Err(HypercallError::InvalidArgument)
    );
    assert_eq!(
        MutexKind::from_flags(8),
        Err(HypercallError::InvalidArgument)
    );
}

#[test]
fn try_enter_excludes_and_tracks_the_owner() {
    let lwp = enter_as_lwp(1);
    let mutex = KernelMutex::new(ADAPTIVE);
    assert!(mutex.try_enter().is_ok());
    assert_eq!(mutex.owner(), lwp);
    assert_eq!(mutex.try_enter(), Err(HypercallError::Busy));
    assert_eq!(HypercallError::Busy.errno().value(), 16);
    mutex.exit();
    assert!(mutex.owner().is_null());
    assert!(!mutex.is_locked());
}

#[test]
fn contended_adaptive_mutex_releases_the_cpu_while_waiting() {
    enter_as_lwp(2);
    let mutex = Arc::new(KernelMutex::new(ADAPTIVE));
    mutex.enter();
    let waiter = {
        let mutex = Arc::clone(&mutex);
        thread::spawn(move || {
            let lwp = enter_as_lwp(3);
            mutex.enter();
            let owner = mutex.owner();
            mutex.exit();
            (
                owner == lwp,
                test_upcalls::unschedule_count(),
                test_upcalls::is_scheduled(),
            )
        })
    };
    thread::sleep(Duration::from_millis(50));
    mutex.exit();
    let (owned, unschedules, scheduled) = waiter.join().unwrap();
    assert!(owned, "owner must be the waiter's lwp after it acquires");
    assert_eq!(unschedules, 1, "an adaptive waiter gives its CPU back once");
    assert!(scheduled, "and takes it back before returning");
    assert_eq!(test_upcalls::violations(), 0);
}

#[test]
fn contended_spin_mutex_keeps_the_cpu() {
    enter_as_lwp(4);
    let mutex = Arc::new(KernelMutex::new(KERNEL_SPIN));
    mutex.enter();
    let waiter = {
        let mutex = Arc::clone(&mutex);
        thread::spawn(move || {
            enter_as_lwp(5);
            mutex.enter();
            mutex.exit();
            test_upcalls::unschedule_count()
        })
    };
    thread::sleep(Duration::from_millis(30));
    mutex.exit();
    assert_eq!(waiter.join().unwrap(), 0, "spin mutexes never unschedule");
}

#[test]
fn mutual_exclusion_holds_under_contention() {
    enter_as_lwp(6);
    let mutex = Arc::new(KernelMutex::new(ADAPTIVE));
    let inside = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = (0..4)
        .map(|index| {
            let (mutex, inside) = (Arc::clone(&mutex), Arc::clone(&inside));
            thread::spawn(move || {
                enter_as_lwp(100 + index);
                for _ in 0..2000 {
                    mutex.enter();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    mutex.exit();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(test_upcalls::violations(), 0);
}

#[test]
fn timed_wait_times_out_and_relocks() {
    let lwp = enter_as_lwp(7);
    let mutex = KernelMutex::new(ADAPTIVE);
    let condvar = KernelCondvar::new();
    mutex.enter();
    let before = test_upcalls::unschedule_count();
    let start = Instant::now();
    let result = condvar.timed_wait(&mutex, Duration::from_millis(40));
    let waited = start.elapsed();
    assert_eq!(result, Err(HypercallError::TimedOut));
    assert_eq!(result.unwrap_err().errno().value(), 60, "NetBSD ETIMEDOUT");
    assert!(waited >= Duration::from_millis(40), "woke after {waited:?}");
    assert!(waited < Duration::from_secs(2), "woke after {waited:?}");
    assert!(
        mutex.is_locked() && mutex.owner() == lwp,
        "mutex held again"
    );
    assert_eq!(test_upcalls::unschedule_count(), before + 1);
    assert!(test_upcalls::is_scheduled());
    assert_eq!(condvar.waiter_count(), 0);
    mutex.exit();
}

#[test]
fn signal_wakes_a_timed_waiter_before_its_deadline() {
    enter_as_lwp(8);
    let shared = Arc::new((KernelMutex::new(ADAPTIVE), KernelCondvar::new()));
    let ready = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (shared, ready) = (Arc::clone(&shared), Arc::clone(&ready));
        thread::spawn(move || {
            enter_as_lwp(9);
            let (mutex, condvar) = &*shared;
            mutex.enter();
            let start = Instant::now();
            while !ready.load(Ordering::SeqCst) {
                let result = condvar.timed_wait(mutex, Duration::from_secs(10));
                assert!(result.is_ok(), "woken, not timed out");
            }
            mutex.exit();
            start.elapsed()
        })
    };
    let (mutex, condvar) = &*shared;
    eventually(|| condvar.waiter_count() == 1);
    mutex.enter();
    ready.store(true, Ordering::SeqCst);
    condvar.signal();
    mutex.exit();
    let waited = waiter.join().unwrap();
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[test]
fn broadcast_wakes_every_waiter() {
    enter_as_lwp(10);
    let shared = Arc::new((KernelMutex::new(KERNEL_SPIN), KernelCondvar::new()));
    let generation = Arc::new(AtomicU32::new(0));
    let waiters: Vec<_> = (0..5)
        .map(|index| {
            let (shared, generation) = (Arc::clone(&shared), Arc::clone(&generation));
            thread::spawn(move || {
                let lwp = enter_as_lwp(200 + index);
                let (mutex, condvar) = &*shared;
                mutex.enter();
                while generation.load(Ordering::SeqCst) == 0 {
                    condvar.wait(mutex);
                    // Kernel spin mutexes are re-taken after the CPU, owner recorded.
                    assert_eq!(mutex.owner(), lwp);
                }
                mutex.exit();
            })
        })
        .collect();
    let (mutex, condvar) = &*shared;
    eventually(|| condvar.waiter_count() == 5);
    mutex.enter();
    generation.store(1, Ordering::SeqCst);
    condvar.broadcast();
    mutex.exit();
    for waiter in waiters {
        waiter.join().unwrap();
    }
    assert_eq!(condvar.waiter_count(), 0);
    assert_eq!(test_upcalls::violations(), 0);
}

#[test]
fn scheduler_interlock_wait_neither_takes_nor_returns_the_mutex() {
    enter_as_lwp(11);
    // Like a virtual CPU's rcpu_mtx: a SPIN mutex the kernel's unschedule takes for us.
    let scheduler_mutex: &'static KernelMutex =
        Box::leak(Box::new(KernelMutex::new(SCHEDULER_SPIN)));
    test_upcalls::register_scheduler_interlock(scheduler_mutex);
    let condvar: &'static KernelCondvar = Box::leak(Box::new(KernelCondvar::new()));
    assert!(!scheduler_mutex.is_locked());
    let result = condvar.timed_wait(scheduler_mutex, Duration::from_millis(20));
    assert_eq!(result, Err(HypercallError::TimedOut));
    assert!(
        !scheduler_mutex.is_locked(),
        "the scheduler released its mutex"
    );

    let waiter = thread::spawn(move || {
        enter_as_lwp(12);
        condvar.wait(scheduler_mutex);
        test_upcalls::is_scheduled()
    });
    eventually(|| condvar.waiter_count() == 1);
    scheduler_mutex.enter_without_unscheduling();
    condvar.broadcast();
    scheduler_mutex.exit();
    assert!(waiter.join().unwrap());
    assert!(!scheduler_mutex.is_locked());
    assert_eq!(test_upcalls::violations(), 0);
}

#[test]
fn nowrap_wait_never_touches_the_cpu() {
    enter_as_lwp(13);
    let shared = Arc::new((KernelMutex::new(SCHEDULER_SPIN), KernelCondvar::new()));
    let flag = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (shared, flag) = (Arc::clone(&shared), Arc::clone(&flag));
        thread::spawn(move || {
            enter_as_lwp(14);
            let (mutex, condvar) = &*shared;
            mutex.enter_without_unscheduling();
            while !flag.load(Ordering::SeqCst) {
                condvar.wait_without_unscheduling(mutex);
            }
            assert!(mutex.is_locked());
            mutex.exit();
            test_upcalls::unschedule_count()
        })
    };
    let (mutex, condvar) = &*shared;
    eventually(|| condvar.waiter_count() == 1);
    mutex.enter_without_unscheduling();
    flag.store(true, Ordering::SeqCst);
    condvar.signal();
    mutex.exit();
    assert_eq!(waiter.join().unwrap(), 0);
}

#[test]
fn readers_share_and_writers_exclude() {
    let lwp = enter_as_lwp(15);
    let lock = KernelRwLock::new();
    lock.enter(LockMode::Reader);
    assert!(lock.try_enter(LockMode::Reader).is_ok());
    assert!(lock.is_held(LockMode::Reader));
    assert_eq!(lock.try_enter(LockMode::Writer), Err(HypercallError::Busy));
    assert_eq!(lock.try_upgrade(), Err(HypercallError::Busy), "two readers");
    lock.exit();
    assert!(lock.try_upgrade().is_ok(), "sole reader upgrades");
    assert!(lock.is_held(LockMode::Writer));
    assert!(!lock.is_held(LockMode::Reader));
    assert_eq!(lock.try_enter(LockMode::Reader), Err(HypercallError::Busy));
    lock.downgrade();
    assert!(!lock.is_held(LockMode::Writer));
    assert!(lock.is_held(LockMode::Reader));
    assert!(
        lock.try_enter(LockMode::Reader).is_ok(),
        "readers join after downgrade"
    );
    assert_eq!(lock.try_enter(LockMode::Writer), Err(HypercallError::Busy));
    lock.exit();
    lock.exit();
    lock.enter(LockMode::Writer);
    assert!(lock.is_held(LockMode::Writer));
    let other_thread_sees_writer = thread::scope(|scope| {
        scope
            .spawn(|| {
                enter_as_lwp(16);
                lock.is_held(LockMode::Writer)
            })
            .join()
            .unwrap()
    });
    assert!(
        !other_thread_sees_writer,
        "write-held means held by the current lwp"
    );
    let _ = lwp;
    lock.exit();
    assert!(!lock.is_held(LockMode::Writer) && !lock.is_held(LockMode::Reader));
}

#[test]
fn waiting_writer_blocks_new_readers_and_releases_the_cpu() {
    enter_as_lwp(17);
    let lock = Arc::new(KernelRwLock::new());
    lock.enter(LockMode::Reader);
    let started = Arc::new(Barrier::new(2));
    let writer = {
        let (lock, started) = (Arc::clone(&lock), Arc::clone(&started));
        thread::spawn(move || {
            enter_as_lwp(18);
            started.wait();
            lock.enter(LockMode::Writer);
            let held = lock.is_held(LockMode::Writer);
            lock.exit();
            (held, test_upcalls::unschedule_count())
        })
    };
    started.wait();
    thread::sleep(Duration::from_millis(30));
    assert_eq!(
        lock.try_enter(LockMode::Reader),
        Err(HypercallError::Busy),
        "a queued writer keeps new readers out"
    );
    lock.exit();
    let (held, unschedules) = writer.join().unwrap();
    assert!(held);
    assert_eq!(unschedules, 1);
    assert_eq!(test_upcalls::violations(), 0);
}

#[test]
fn readers_and_writers_never_overlap() {
    enter_as_lwp(19);
    let lock = Arc::new(KernelRwLock::new());
    let state = Arc::new(AtomicU32::new(0));
    const WRITING: u32 = 1 << 20;
    let workers: Vec<_> = (0..6)
        .map(|index| {
            let (lock, state) = (Arc::clone(&lock), Arc::clone(&state));
            thread::spawn(move || {
                enter_as_lwp(300 + index);
                for round in 0..1500 {
                    if (round + index) % 4 == 0 {
                        lock.enter(LockMode::Writer);
                        assert_eq!(state.fetch_add(WRITING, Ordering::SeqCst), 0);
                        state.fetch_sub(WRITING, Ordering::SeqCst);
                    } else {
                        lock.enter(LockMode::Reader);
                        assert_eq!(state.fetch_add(1, Ordering::SeqCst) & WRITING, 0);
                        state.fetch_sub(1, Ordering::SeqCst);
                    }
                    lock.exit();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

/// Starts `count` threads that each take `lock` in `mode`, count themselves in `entered`,
/// hold it for `hold` and release it.
fn contenders(
    lock: &Arc<KernelRwLock>,
    mode: LockMode,
    count: usize,
    first_identity: usize,
    hold: Duration,
    entered: &Arc<AtomicU32>,
) -> Vec<thread::JoinHandle<()>> {
    (0..count)
        .map(|index| {
            let (lock, entered) = (Arc::clone(lock), Arc::clone(entered));
            thread::spawn(move || {
                enter_as_lwp(first_identity + index);
                lock.enter(mode);
                entered.fetch_add(1, Ordering::SeqCst);
                thread::sleep(hold);
                lock.exit();
            })
        })
        .collect()
}

/// Waits until the expected numbers of readers and writers sleep on `lock`, then gives
/// them time to be inside the host's wait.
fn until_asleep(lock: &KernelRwLock, readers: u32, writers: u32) {
    eventually(|| lock.sleeper_counts() == (readers, writers));
    thread::sleep(Duration::from_millis(50));
}

#[test]
fn writer_release_wakes_one_waiting_writer_at_a_time() {
    enter_as_lwp(20);
    let lock = Arc::new(KernelRwLock::new());
    let entered = Arc::new(AtomicU32::new(0));
    lock.enter(LockMode::Writer);
    let writers = contenders(
        &lock,
        LockMode::Writer,
        4,
        400,
        Duration::from_millis(20),
        &entered,
    );
    until_asleep(&lock, 0, 4);
    lock.exit();
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(entered.load(Ordering::SeqCst), 4);
    // Each release wakes the next writer only: four returns in all. Waking every sleeper
    // would make 4 + 3 + 2 + 1.
    assert_eq!(lock.wait_returns(), (0, 4));
}

#[test]
fn release_prefers_a_waiting_writer_then_wakes_all_readers_together() {
    enter_as_lwp(21);
    let lock = Arc::new(KernelRwLock::new());
    let entered = Arc::new(AtomicU32::new(0));
    lock.enter(LockMode::Writer);
    let readers = contenders(
        &lock,
        LockMode::Reader,
        3,
        410,
        Duration::from_millis(50),
        &entered,
    );
    until_asleep(&lock, 3, 0);
    let writer_entered = Arc::new(AtomicU32::new(0));
    let writer = contenders(
        &lock,
        LockMode::Writer,
        1,
        420,
        Duration::from_millis(300),
        &writer_entered,
    );
    until_asleep(&lock, 3, 1);
    lock.exit();
    // The writer goes first, and no reader was woken for it (they wake when it leaves).
    eventually(|| writer_entered.load(Ordering::SeqCst) == 1);
    assert_eq!(lock.wait_returns(), (0, 1));
    for handle in writer.into_iter().chain(readers) {
        handle.join().unwrap();
    }
    // Then one wakeup brought all three readers in at once.
    assert_eq!(lock.wait_returns(), (3, 1));
    assert_eq!(entered.load(Ordering::SeqCst), 3);
    assert_eq!(test_upcalls::violations(), 0);
}
