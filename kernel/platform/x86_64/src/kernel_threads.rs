//! Kernel threads in the running kernel: the portable policy
//! (`ethos_core::threads`) under one lock, the machine side (`arch`: stacks,
//! switches, TLS, FPU), and the CPU shared with user processes.
//!
//! - [`spawn`] starts a thread running a closure on its own stack (64 KiB by
//!   default, above an unmapped guard page), optionally with a TLS block and FS base
//!   ([`ThreadOptions::tls`]) and with its FPU/SSE state kept across switches
//!   ([`ThreadOptions::fpu`]).
//! - Threads synchronise with [`Mutex`] (ownership handed to the first waiter),
//!   [`Condvar`] (optionally with a deadline), [`sleep_until`], [`join`], wait
//!   channels ([`wait_channel`], for rump's `wait_on_word`) and events an interrupt
//!   handler signals ([`signal_from_interrupt`], which takes no lock).
//! - The *hub* (the code that runs threads; never a thread itself) is the process
//!   scheduler's loop, which gives kernel threads a turn between processes through
//!   [`run_turn`], or, in kernel tests, [`run_until`]. With nothing to run, the hub
//!   halts with interrupts on until an interrupt makes a thread ready.
//! - A thread that runs for [`SLICE_TICKS`] timer ticks is preempted from the timer
//!   interrupt ([`after_kernel_interrupt`]) and goes to the back of the queue, so a
//!   busy thread and the processes share the CPU. A thread is not preempted while it
//!   holds the heap, console or frame allocator lock (those are taken with
//!   interrupts on), nor inside [`without_preemption`]; it is then preempted at a
//!   later tick. Any other lock a thread may hold with interrupts on must be taken
//!   inside [`without_preemption`].
//! - A thread that overflows its stack faults on its guard page: the fault is
//!   reported, the thread ends as [`ThreadEnd::Faulted`] and the kernel goes on.
//!
//! Lock order: [`THREADS`], then the frame allocator, then `arch`'s table of thread
//! machine states; all only with interrupts off.
//! Interrupt handlers take neither: from an interrupt, only
//! [`signal_from_interrupt`] and the hooks made for the interrupt path
//! ([`on_timer_tick`], [`after_kernel_interrupt`], [`kernel_fault`], [`want_cpu`])
//! may be called. A thread must never run the hub ([`run_turn`], [`run_until`], the
//! process scheduler): threads do not nest.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use ethos_abi::Report;
use ethos_core::threads::{
    CondvarId, EventId, Instant, InterruptSignals, MutexId, Next, ThreadEnd, ThreadError, ThreadId,
    Threads, WaitOutcome,
};
use spin::Mutex as SpinMutex;
use x86_64::instructions::interrupts;

use crate::arch::{self, ThreadMachineError, ThreadSetup, TrapFrame};
use crate::{console, memory, time};

/// Timer ticks a thread runs before it is preempted (20 ms, as processes).
pub const SLICE_TICKS: u64 = 2;
/// The default usable stack of a thread.
pub const DEFAULT_STACK_BYTES: usize = 64 * 1024;

type Body = Box<dyn FnOnce() -> u64 + Send>;

struct KernelThreads {
    policy: Threads,
    /// Bodies of threads that have not started yet.
    bodies: BTreeMap<ThreadId, Body>,
}

static THREADS: SpinMutex<KernelThreads> = SpinMutex::new(KernelThreads {
    policy: Threads::new(),
    bodies: BTreeMap::new(),
});

/// Events interrupt handlers signalled, not yet delivered.
static SIGNALS: InterruptSignals = InterruptSignals::new();
/// Mirrors of the policy for interrupt handlers, which never lock [`THREADS`].
static ANY_READY: AtomicBool = AtomicBool::new(false);
static NEXT_DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);
/// The tick at which the running thread got the CPU.
static SLICE_START: AtomicU64 = AtomicU64::new(0);
/// Depth of [`without_preemption`] sections.
static NO_PREEMPTION: AtomicUsize = AtomicUsize::new(0);
/// Preemptions done, for reports.
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
/// A one-shot timer alarm: the tick at which to signal, and the event (+1; 0 none).
static ALARM_TICK: AtomicU64 = AtomicU64::new(u64::MAX);
static ALARM_EVENT: AtomicU32 = AtomicU32::new(0);

/// How to start a thread.
#[derive(Clone, Copy, Debug)]
pub struct ThreadOptions {
    pub name: &'static str,
    pub stack_bytes: usize,
    pub fpu: bool,
    pub tls: bool,
    pub joinable: bool,
}

impl ThreadOptions {
    /// A joinable thread with the default stack, no TLS block, no FPU.
    pub const fn named(name: &'static str) -> ThreadOptions {
        ThreadOptions {
            name,
            stack_bytes: DEFAULT_STACK_BYTES,
            fpu: false,
            tls: false,
            joinable: true,
        }
    }
}

/// Why a thread operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelThreadError {
    Policy(ThreadError),
    Machine(ThreadMachineError),
    NoFrameAllocator,
}

impl core::fmt::Display for KernelThreadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KernelThreadError::Policy(error) => write!(f, "{error}"),
            KernelThreadError::Machine(error) => write!(f, "{error}"),
            KernelThreadError::NoFrameAllocator => write!(f, "the frame allocator is not set up"),
        }
    }
}

impl From<ThreadError> for KernelThreadError {
    fn from(error: ThreadError) -> Self {
        KernelThreadError::Policy(error)
    }
}

fn now() -> Instant {
    Instant(time::since_boot_nanos().unwrap_or(0))
}

/// Copies what interrupt handlers need to know into the mirrors.
fn publish(policy: &Threads) {
    ANY_READY.store(policy.has_ready(), Ordering::Relaxed);
    NEXT_DEADLINE.store(
        policy
            .next_deadline()
            .map_or(u64::MAX, |deadline| deadline.0),
        Ordering::Relaxed,
    );
}

/// Runs `action` on the policy, with interrupts off, after delivering pending
/// interrupt signals.
fn with_policy<T>(action: impl FnOnce(&mut Threads) -> T) -> T {
    interrupts::without_interrupts(|| {
        let mut threads = THREADS.lock();
        threads.policy.deliver(&SIGNALS);
        let result = action(&mut threads.policy);
        publish(&threads.policy);
        result
    })
}

/// Starts a thread running `body`; its return value is what [`join`] answers.
pub fn spawn(
    options: &ThreadOptions,
    body: impl FnOnce() -> u64 + Send + 'static,
) -> Result<ThreadId, KernelThreadError> {
    let setup = ThreadSetup {
        stack_bytes: options.stack_bytes,
        fpu: options.fpu,
        tls: options.tls,
    };
    interrupts::without_interrupts(|| {
        let mut threads = THREADS.lock();
        let id = threads.policy.spawn(options.name, options.joinable);
        let created = match memory::FRAMES.lock().as_mut() {
            Some(frames) => arch::create_thread(id, &setup, thread_start, frames)
                .map_err(KernelThreadError::Machine),
            None => Err(KernelThreadError::NoFrameAllocator),
        };
        if let Err(error) = created {
            threads.policy.remove_unstarted(id)?;
            return Err(error);
        }
        threads.bodies.insert(id, Box::new(body));
        publish(&threads.policy);
        Ok(id)
    })
}

/// Where every thread starts (from `arch`, interrupts off, on its own stack).
extern "C" fn thread_start() -> ! {
    let body = {
        let mut threads = THREADS.lock();
        let current = threads.policy.current();
        current.and_then(|id| threads.bodies.remove(&id))
    };
    interrupts::enable();
    let value = body.map_or(0, |body| body());
    exit(ThreadEnd::Returned(value))
}

/// Ends the calling thread with `end`. Only a thread may call it (from the hub it
/// stops the kernel with a panic).
pub fn exit(end: ThreadEnd) -> ! {
    interrupts::disable();
    {
        let mut threads = THREADS.lock();
        if let Err(error) = threads.policy.exit_current(end) {
            panic!("kernel_threads::exit: {error}");
        }
        publish(&threads.policy);
    }
    arch::abandon_thread()
}

/// Runs a policy operation for the calling thread; if it must wait, leaves the CPU
/// until it is woken, and answers how the wait ended.
fn wait_for(
    operation: impl FnOnce(&mut Threads, Instant) -> Result<Next, ThreadError>,
) -> Result<WaitOutcome, ThreadError> {
    interrupts::without_interrupts(|| {
        let next = with_policy(|policy| operation(policy, now()))?;
        if next == Next::Switch {
            arch::leave_thread();
        }
        Ok(with_policy(|policy| policy.outcome()).unwrap_or(WaitOutcome::Woken))
    })
}

/// The calling thread gives the CPU to the next ready one (or a process). From the
/// hub, does nothing.
pub fn yield_now() {
    interrupts::without_interrupts(|| {
        if with_policy(|policy| policy.yield_current()).is_ok() {
            arch::leave_thread();
        }
    });
}

/// The calling thread sleeps until the kernel clock reaches `deadline`
/// (nanoseconds since boot), or not at all if it already has.
pub fn sleep_until(deadline: u64) -> Result<(), ThreadError> {
    wait_for(|policy, now| policy.sleep_until(Instant(deadline), now)).map(|_| ())
}

/// Waits for `thread` to end and answers how it did. From a thread it blocks; from
/// the hub it runs threads until that one has ended.
pub fn join(thread: ThreadId) -> Result<ThreadEnd, ThreadError> {
    if arch::in_thread() {
        loop {
            let mut ended = None;
            wait_for(|policy, _| {
                let (next, end) = policy.join(thread)?;
                ended = end;
                Ok(next)
            })?;
            if let Some(end) = ended {
                return Ok(end);
            }
        }
    }
    loop {
        if let Some(end) = with_policy(|policy| policy.try_join(thread))? {
            return Ok(end);
        }
        if !run_turn() {
            idle();
        }
    }
}

/// The calling thread (`None` in the hub).
pub fn current() -> Option<ThreadId> {
    with_policy(|policy| policy.current())
}

/// Sets the calling thread's slot (rump's `curlwp`).
pub fn set_slot(value: usize) -> Result<(), ThreadError> {
    with_policy(|policy| policy.set_slot(value))
}

/// The calling thread's slot.
pub fn slot() -> Result<usize, ThreadError> {
    with_policy(|policy| policy.slot())
}

/// Which wakeup, counting all since boot, last made the calling thread ready.
pub fn wakeup_number() -> Option<u64> {
    with_policy(|policy| policy.wakeup_number())
}

/// How many times `thread` was given the CPU.
pub fn runs(thread: ThreadId) -> Option<u64> {
    with_policy(|policy| policy.runs(thread))
}

/// Threads preempted by the timer since boot.
pub fn preemptions() -> u64 {
    PREEMPTIONS.load(Ordering::Relaxed)
}

/// A mutex for kernel threads: the first waiter gets it on unlock.
#[derive(Debug)]
pub struct Mutex(MutexId);

impl Default for Mutex {
    fn default() -> Self {
        Self::new()
    }
}

impl Mutex {
    pub fn new() -> Mutex {
        Mutex(with_policy(|policy| policy.create_mutex()))
    }

    /// Takes it, waiting as long as another thread owns it.
    pub fn lock(&self) -> Result<(), ThreadError> {
        wait_for(|policy, _| policy.lock_mutex(self.0)).map(|_| ())
    }

    /// Its identifier in the policy.
    pub fn id(&self) -> MutexId {
        self.0
    }

    /// Takes it if free.
    pub fn try_lock(&self) -> Result<bool, ThreadError> {
        with_policy(|policy| policy.try_lock_mutex(self.0))
    }

    pub fn unlock(&self) -> Result<(), ThreadError> {
        with_policy(|policy| policy.unlock_mutex(self.0))
    }

    /// The thread that owns it.
    pub fn owner(&self) -> Result<Option<ThreadId>, ThreadError> {
        with_policy(|policy| policy.mutex_owner(self.0))
    }
}

impl Drop for Mutex {
    fn drop(&mut self) {
        let _ = with_policy(|policy| policy.destroy_mutex(self.0));
    }
}

/// A condition variable for kernel threads.
#[derive(Debug)]
pub struct Condvar(CondvarId);

impl Default for Condvar {
    fn default() -> Self {
        Self::new()
    }
}

impl Condvar {
    pub fn new() -> Condvar {
        Condvar(with_policy(|policy| policy.create_condvar()))
    }

    /// Releases `mutex` (which the caller owns), waits for a signal, and takes
    /// `mutex` back before returning.
    pub fn wait(&self, mutex: &Mutex) -> Result<(), ThreadError> {
        wait_for(|policy, now| policy.wait_condvar(self.0, mutex.0, None, now)).map(|_| ())
    }

    /// As [`Condvar::wait`], until the clock reaches `deadline` at the latest.
    pub fn wait_until(&self, mutex: &Mutex, deadline: u64) -> Result<WaitOutcome, ThreadError> {
        wait_for(|policy, now| policy.wait_condvar(self.0, mutex.0, Some(Instant(deadline)), now))
    }

    pub fn signal(&self) -> Result<(), ThreadError> {
        with_policy(|policy| policy.signal_condvar(self.0))
    }

    pub fn broadcast(&self) -> Result<(), ThreadError> {
        with_policy(|policy| policy.broadcast_condvar(self.0))
    }
}

impl Drop for Condvar {
    fn drop(&mut self) {
        let _ = with_policy(|policy| policy.destroy_condvar(self.0));
    }
}

/// The calling thread waits until channel `key` is woken or `deadline` passes.
pub fn wait_channel(key: u64, deadline: Option<u64>) -> Result<WaitOutcome, ThreadError> {
    wait_for(|policy, now| policy.wait_channel(key, deadline.map(Instant), now))
}

/// The calling thread waits on channel `key` (until woken or `deadline`) only if
/// `still_waiting` holds when checked under the thread table's lock, as a futex
/// does: a waker that changes what `still_waiting` reads and then wakes the channel
/// cannot slip between the check and the wait. When it does not hold, returns at
/// once (as woken).
pub fn wait_channel_while(
    key: u64,
    deadline: Option<u64>,
    still_waiting: impl FnOnce() -> bool,
) -> Result<WaitOutcome, ThreadError> {
    wait_for(|policy, now| {
        if still_waiting() {
            policy.wait_channel(key, deadline.map(Instant), now)
        } else {
            Ok(Next::Continue)
        }
    })
}

/// Wakes up to `count` waiters of channel `key`.
pub fn wake_channel(key: u64, count: usize) -> usize {
    with_policy(|policy| policy.wake_channel(key, count))
}

/// The calling thread waits for `event` to be signalled (or `deadline`).
pub fn wait_event(event: EventId, deadline: Option<u64>) -> Result<WaitOutcome, ThreadError> {
    wait_for(|policy, now| policy.wait_event(event, deadline.map(Instant), now))
}

/// Signals `event` from an interrupt handler (or anywhere): sets a bit, takes no
/// lock; the waiter runs at the next scheduling decision.
pub fn signal_from_interrupt(event: EventId) {
    SIGNALS.signal(event);
}

/// Has the timer interrupt signal `event` at tick `tick` (one alarm at a time; a new
/// one replaces the last).
pub fn signal_at_tick(event: EventId, tick: u64) {
    ALARM_EVENT.store(u32::from(event.index()) + 1, Ordering::Relaxed);
    ALARM_TICK.store(tick, Ordering::Release);
}

/// Runs `action` where the calling thread cannot be preempted by the timer: for a
/// spin lock a thread takes with interrupts on. `action` must not block or yield
/// (the count is the CPU's, not the thread's).
pub fn without_preemption<T>(action: impl FnOnce() -> T) -> T {
    NO_PREEMPTION.fetch_add(1, Ordering::Acquire);
    let result = action();
    NO_PREEMPTION.fetch_sub(1, Ordering::Release);
    result
}

/// Whether a kernel thread wants the CPU: one is ready, a deadline has come, or an
/// interrupt signalled an event. Lock-free: the process scheduler asks it from the
/// timer interrupt.
pub fn want_cpu() -> bool {
    want_cpu_at(None)
}

/// [`want_cpu`] with the clock as `now` (nanoseconds since boot) read it, where the
/// caller just read it; `None` reads it here.
pub fn want_cpu_at(now_nanos: Option<u64>) -> bool {
    if ANY_READY.load(Ordering::Relaxed) || SIGNALS.any_pending() {
        return true;
    }
    let deadline = NEXT_DEADLINE.load(Ordering::Relaxed);
    deadline != u64::MAX && deadline <= now_nanos.unwrap_or_else(|| now().0)
}

/// Gives one ready thread a turn, from the hub: it runs until it waits, yields, is
/// preempted or ends. Answers whether a thread ran.
pub fn run_turn() -> bool {
    // Without a thread to run this costs two atomic loads: the process scheduler
    // calls it at every decision.
    if arch::in_thread() || !want_cpu() {
        return false;
    }
    let next = with_policy(|policy| policy.schedule(now()));
    let ran = match next {
        Ok(Some(thread)) => {
            SLICE_START.store(time::tick_periods(), Ordering::Relaxed);
            if let Err(error) = arch::run_thread(thread) {
                tracing::error!(%thread, %error, "cannot run a kernel thread");
            }
            true
        }
        _ => false,
    };
    release_ended();
    ran
}

/// Frees the stacks and TLS blocks of threads that will never run again.
fn release_ended() {
    interrupts::without_interrupts(|| {
        let released: Vec<ThreadId> = THREADS.lock().policy.take_released();
        if released.is_empty() {
            return;
        }
        if let Some(frames) = memory::FRAMES.lock().as_mut() {
            for thread in released {
                if let Err(error) = arch::release_thread(thread, frames) {
                    tracing::error!(%thread, %error, "cannot free a kernel thread's stack");
                }
            }
        }
    });
}

/// From the hub with nothing to run: halts until an interrupt, unless a thread
/// wants the CPU already.
pub fn idle() {
    interrupts::disable();
    if want_cpu() {
        interrupts::enable();
    } else {
        // `sti; hlt`: an interrupt between the check and the halt still ends it.
        interrupts::enable_and_hlt();
    }
}

/// Runs threads from the hub until `done` says so or `patience_nanos` pass;
/// answers whether `done` did.
pub fn run_until(mut done: impl FnMut() -> bool, patience_nanos: u64) -> bool {
    let give_up = now().0.saturating_add(patience_nanos);
    loop {
        if done() {
            return true;
        }
        if now().0 >= give_up {
            return false;
        }
        if !run_turn() {
            idle();
        }
    }
}

/// From the timer interrupt, after the tick: rings the alarm when due.
pub fn on_timer_tick() {
    let due = ALARM_TICK.load(Ordering::Acquire);
    if time::ticks() >= due {
        ALARM_TICK.store(u64::MAX, Ordering::Relaxed);
        let event = ALARM_EVENT.swap(0, Ordering::Relaxed);
        if let Some(event) = event
            .checked_sub(1)
            .and_then(|index| u16::try_from(index).ok())
            .and_then(EventId::new)
        {
            signal_from_interrupt(event);
        }
    }
}

/// From any interrupt taken in ring 0, after it was handled: preempts the running
/// thread if its slice is over and it holds none of the locks shared with the hub.
pub fn after_kernel_interrupt(frame: &mut TrapFrame) {
    if !arch::in_thread()
        || time::tick_periods().saturating_sub(SLICE_START.load(Ordering::Relaxed)) < SLICE_TICKS
        || NO_PREEMPTION.load(Ordering::Acquire) != 0
        || memory::heap_busy()
        || console::busy()
        || memory::FRAMES.is_locked()
        || THREADS.is_locked()
    {
        return;
    }
    if arch::preempt_thread(frame, preempted) {
        PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where a preempted thread lands (interrupts off, on its own stack).
extern "C" fn preempted() {
    yield_now();
}

/// From the exception path, for a fault in ring 0: if it hit the running thread's
/// guard page, reports it and ends that thread, and the kernel goes on; otherwise
/// returns for the fault to be handled as any kernel fault.
pub fn kernel_fault(frame: &TrapFrame, address: u64) {
    let Some(stack) = arch::running_thread_stack() else {
        return;
    };
    // A fault while the thread held the console or the thread table (with
    // interrupts off) is left to the fatal path, which can report it.
    if !(stack.guard..stack.bottom).contains(&address) || console::busy() || THREADS.is_locked() {
        return;
    }
    console::write_str("kernel thread overflowed its stack into its guard page\n");
    console::report(Report::Fault {
        vector: frame.vector as u8,
        address,
        instruction: frame.rip,
    });
    exit(ThreadEnd::Faulted {
        vector: frame.vector as u8,
        address,
    })
}
