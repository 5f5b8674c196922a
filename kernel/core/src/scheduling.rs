//! Scheduling policy: which process has the CPU, round robin with a time slice, on
//! one CPU.
//!
//! A process is ready, running or waiting (parked until one of its events
//! completes). [`RunQueue::decide`] picks the next ready process; the running one
//! leaves the CPU when its slice ended while another was ready
//! ([`RunQueue::preempt`]), when it waits ([`RunQueue::park`]) or when it ends
//! ([`RunQueue::remove`]). Processes the model woke become ready again through
//! [`RunQueue::wake`]. When every process waits and no timer is pending, nothing can
//! ever wake them: the decision is [`Decision::Deadlock`], naming them all, so the
//! platform ends them rather than hang.
//!
//! This is policy alone: time is a tick count the platform passes in, and what a
//! process is on the machine (its address space, its saved registers) is the
//! platform's `T`, kept here beside the process's state and handed back when the
//! process leaves the CPU or ends. The x86_64 platform drives it from its run loop
//! and its system-call and interrupt shells.

use alloc::collections::VecDeque;

use alloc::vec::Vec;
use litemap::LiteMap;

use ethos_abi::ProcessId;

/// How many ticks a process may run while another is ready.
pub const SLICE_TICKS: u64 = 2;

/// Where a process stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// In the ready queue.
    Ready,
    /// On the CPU.
    Running,
    /// Parked until the model wakes it.
    Waiting,
}

/// One process: the platform's data and the policy's bookkeeping.
#[derive(Debug)]
struct Entry<T> {
    data: T,
    state: State,
    /// Ticks it ran, up to its last time off the CPU.
    cpu_ticks: u64,
    /// At most this many ticks of CPU, if limited.
    limit: Option<u64>,
}

/// What the CPU does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Enter this process (now the current one).
    Run(ProcessId),
    /// Nothing is ready, but a timer is pending: wait for an interrupt.
    Wait,
    /// Every process waits and nothing can wake one: these must be ended.
    Deadlock(Vec<ProcessId>),
    /// No process is left.
    Done,
}

/// The processes one CPU runs.
#[derive(Debug)]
pub struct RunQueue<T> {
    /// By increasing id (ids only grow, so a new process goes last), searched by
    /// halving: a CPU runs few processes, and every switch looks several up, which a
    /// sorted list does in a few comparisons where a tree walks nodes.
    entries: LiteMap<ProcessId, Entry<T>>,
    ready: VecDeque<ProcessId>,
    current: Option<ProcessId>,
    /// The tick at which the current process was entered.
    slice_start: u64,
    /// How many times a process was entered.
    switches: u64,
}

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RunQueue<T> {
    /// No processes.
    pub const fn new() -> RunQueue<T> {
        RunQueue {
            entries: LiteMap::new(),
            ready: VecDeque::new(),
            current: None,
            slice_start: 0,
            switches: 0,
        }
    }

    /// Adds a ready process, at the back of the queue, limited to `limit` ticks of
    /// CPU if given. A process already present is replaced.
    pub fn add(&mut self, process: ProcessId, data: T, limit: Option<u64>) {
        self.ready.retain(|ready| *ready != process);
        let entry = Entry {
            data,
            state: State::Ready,
            cpu_ticks: 0,
            limit,
        };
        self.entries.insert(process, entry);
        self.ready.push_back(process);
    }

    /// The running process.
    pub fn current(&self) -> Option<ProcessId> {
        self.current
    }

    /// Whether no process is left.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many processes there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many times a process was entered.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// The platform's data of `process`.
    pub fn get(&self, process: ProcessId) -> Option<&T> {
        self.entries.get(&process).map(|entry| &entry.data)
    }

    /// The platform's data of `process`, to change.
    pub fn get_mut(&mut self, process: ProcessId) -> Option<&mut T> {
        self.entries.get_mut(&process).map(|entry| &mut entry.data)
    }

    /// Where `process` stands.
    pub fn state(&self, process: ProcessId) -> Option<State> {
        self.entries.get(&process).map(|entry| entry.state)
    }

    /// The CPU limit of `process`, which a child it forks inherits.
    pub fn limit(&self, process: ProcessId) -> Option<u64> {
        self.entries.get(&process).and_then(|entry| entry.limit)
    }

    /// Makes waiting processes ready again, in the order given; a process that is
    /// not waiting is left as it is.
    #[inline]
    pub fn wake(&mut self, processes: impl IntoIterator<Item = ProcessId>) {
        for process in processes {
            if let Some(entry) = self.entries.get_mut(&process)
                && entry.state == State::Waiting
            {
                entry.state = State::Ready;
                self.ready.push_back(process);
            }
        }
    }

    /// [`RunQueue::wake`] then [`RunQueue::decide`], as one step: the decision
    /// when the CPU has just been freed and the model woke `processes`. With
    /// nothing else ready, the first of them that was waiting would be first in the
    /// queue, so it runs at once without passing through the queue; the others
    /// queue behind it. This is the round trip's path, where a process that parks
    /// hands the CPU to the one it wrote to.
    pub fn wake_and_decide(
        &mut self,
        processes: impl IntoIterator<Item = ProcessId>,
        now: u64,
        timer_pending: bool,
    ) -> Decision {
        let mut processes = processes.into_iter();
        if self.current.is_none() && self.ready.is_empty() {
            for process in processes.by_ref() {
                if let Some(entry) = self.entries.get_mut(&process)
                    && entry.state == State::Waiting
                {
                    entry.state = State::Running;
                    self.current = Some(process);
                    self.slice_start = now;
                    self.switches += 1;
                    self.wake(processes);
                    return Decision::Run(process);
                }
            }
        }
        self.wake(processes);
        self.decide(now, timer_pending)
    }

    /// The limit the current process has used up at tick `now`, if it has one and
    /// reached it (this slice counted).
    pub fn over_limit(&self, now: u64) -> Option<u64> {
        let entry = self.entries.get(&self.current?)?;
        let used = entry.cpu_ticks + now.saturating_sub(self.slice_start);
        entry.limit.filter(|limit| used >= *limit)
    }

    /// Whether the current process should give way at tick `now`: its slice is
    /// over and another process is ready, or `others_waiting` (the platform's own
    /// work, such as kernel threads, wants the CPU).
    pub fn slice_over(&self, now: u64, others_waiting: bool) -> bool {
        self.current.is_some()
            && (others_waiting || !self.ready.is_empty())
            && now.saturating_sub(self.slice_start) >= SLICE_TICKS
    }

    fn off_cpu(&mut self, now: u64, state: State) -> Option<&mut T> {
        let process = self.current.take()?;
        let used = now.saturating_sub(self.slice_start);
        let entry = self.entries.get_mut(&process)?;
        entry.cpu_ticks += used;
        entry.state = state;
        if state == State::Ready {
            self.ready.push_back(process);
        }
        Some(&mut entry.data)
    }

    /// The current process leaves the CPU at tick `now` but stays ready, at the back
    /// of the queue; answers its data so the platform can save its registers.
    pub fn preempt(&mut self, now: u64) -> Option<&mut T> {
        self.off_cpu(now, State::Ready)
    }

    /// The current process leaves the CPU at tick `now` to wait until it is woken;
    /// answers its data so the platform can save its registers.
    pub fn park(&mut self, now: u64) -> Option<&mut T> {
        self.off_cpu(now, State::Waiting)
    }

    /// Ends `process` (the current one or another): it never runs again, and its
    /// data goes back to the platform to release.
    pub fn remove(&mut self, process: ProcessId) -> Option<T> {
        if self.current == Some(process) {
            self.current = None;
        }
        self.ready.retain(|ready| *ready != process);
        self.entries.remove(&process).map(|entry| entry.data)
    }

    /// Decides what the CPU does at tick `now`. `timer_pending` says whether a
    /// timer can still wake a waiting process. A decision to run makes that process
    /// current and starts its slice.
    pub fn decide(&mut self, now: u64, timer_pending: bool) -> Decision {
        if self.entries.is_empty() {
            return Decision::Done;
        }
        if let Some(current) = self.current {
            // The platform decides only when the CPU is free; a current process that
            // asks again simply goes on.
            return Decision::Run(current);
        }
        while let Some(next) = self.ready.pop_front() {
            let Some(entry) = self.entries.get_mut(&next) else {
                continue;
            };
            entry.state = State::Running;
            self.current = Some(next);
            self.slice_start = now;
            self.switches += 1;
            return Decision::Run(next);
        }
        if timer_pending {
            Decision::Wait
        } else {
            Decision::Deadlock(self.entries.keys().copied().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(number: u64) -> ProcessId {
        ProcessId(number)
    }

    fn queue(processes: &[u64]) -> RunQueue<&'static str> {
        let mut queue = RunQueue::new();
        for &process in processes {
            queue.add(pid(process), "task", None);
        }
        queue
    }

    /// `wake_and_decide` decides as `wake` then `decide` would, in every
    /// arrangement of ready, waiting and current processes and woken lists.
    #[test]
    fn waking_and_deciding_at_once_is_waking_then_deciding() {
        let woken_lists: [&[u64]; 6] = [&[], &[2], &[3, 2], &[1, 2, 3], &[9, 2], &[2, 2]];
        // Which of processes 1, 2, 3 are ready (the rest wait), and whether 1 runs.
        for ready_mask in 0..8u8 {
            for current in [false, true] {
                for woken in woken_lists {
                    let arranged = || {
                        let mut queue = queue(&[1, 2, 3]);
                        for _ in 0..3 {
                            queue.decide(0, true);
                            queue.park(0);
                        }
                        queue.wake(
                            (1..=3)
                                .filter(|n| ready_mask & (1 << (n - 1)) != 0)
                                .map(pid),
                        );
                        if current {
                            queue.wake([pid(1)]);
                            while queue.decide(0, true) != Decision::Run(pid(1)) {
                                queue.preempt(0);
                            }
                        }
                        queue
                    };
                    let mut one_step = arranged();
                    let mut two_steps = arranged();
                    let woken = || woken.iter().copied().map(pid);
                    let decided = one_step.wake_and_decide(woken(), 5, false);
                    two_steps.wake(woken());
                    assert_eq!(decided, two_steps.decide(5, false));
                    assert_eq!(one_step.ready, two_steps.ready);
                    assert_eq!(one_step.current, two_steps.current);
                    assert_eq!(one_step.switches, two_steps.switches);
                    assert_eq!(one_step.slice_start, two_steps.slice_start);
                    for n in 1..=3 {
                        assert_eq!(one_step.state(pid(n)), two_steps.state(pid(n)));
                    }
                }
            }
        }
    }

    #[test]
    fn round_robin_in_arrival_order() {
        let mut queue = queue(&[1, 2, 3]);
        let mut order = Vec::new();
        for tick in 0..6 {
            let Decision::Run(process) = queue.decide(tick, false) else {
                panic!("a ready process must run");
            };
            order.push(process.0);
            assert!(queue.preempt(tick + 1).is_some());
        }
        assert_eq!(order, [1, 2, 3, 1, 2, 3]);
        assert_eq!(queue.switches(), 6);
    }

    #[test]
    fn the_slice_ends_only_when_another_is_ready() {
        let mut queue = queue(&[1]);
        assert_eq!(queue.decide(10, false), Decision::Run(pid(1)));
        assert!(
            !queue.slice_over(10 + SLICE_TICKS * 10, false),
            "alone, it keeps the CPU"
        );
        assert!(!queue.slice_over(10 + SLICE_TICKS - 1, true));
        assert!(queue.slice_over(10 + SLICE_TICKS, true), "other work waits");
        queue.add(pid(2), "task", None);
        assert!(!queue.slice_over(10 + SLICE_TICKS - 1, false));
        assert!(queue.slice_over(10 + SLICE_TICKS, false));
    }

    #[test]
    fn a_parked_process_runs_only_after_it_is_woken() {
        let mut queue = queue(&[1, 2]);
        assert_eq!(queue.decide(0, true), Decision::Run(pid(1)));
        queue.park(1);
        assert_eq!(queue.state(pid(1)), Some(State::Waiting));
        assert_eq!(queue.decide(1, true), Decision::Run(pid(2)));
        queue.park(2);
        assert_eq!(queue.decide(2, true), Decision::Wait);
        queue.wake([pid(2)]);
        assert_eq!(queue.decide(3, true), Decision::Run(pid(2)));
        // Waking a process that is not waiting changes nothing.
        queue.wake([pid(2), pid(9)]);
        queue.preempt(4);
        assert_eq!(queue.decide(4, true), Decision::Run(pid(2)));
    }

    #[test]
    fn everyone_waiting_without_a_timer_is_a_deadlock() {
        let mut queue = queue(&[1, 2]);
        for tick in 0..2 {
            assert!(matches!(queue.decide(tick, false), Decision::Run(_)));
            queue.park(tick);
        }
        assert_eq!(queue.decide(2, true), Decision::Wait);
        assert_eq!(
            queue.decide(2, false),
            Decision::Deadlock(vec![pid(1), pid(2)])
        );
        assert!(queue.remove(pid(1)).is_some());
        assert!(queue.remove(pid(2)).is_some());
        assert_eq!(queue.decide(3, false), Decision::Done);
    }

    #[test]
    fn removed_processes_never_run_again() {
        let mut queue = queue(&[1, 2, 3]);
        assert_eq!(queue.remove(pid(2)), Some("task"));
        assert_eq!(queue.remove(pid(2)), None);
        assert_eq!(queue.decide(0, false), Decision::Run(pid(1)));
        // The running process ends itself (exit): the CPU is free again.
        assert_eq!(queue.remove(pid(1)), Some("task"));
        assert_eq!(queue.current(), None);
        assert_eq!(queue.decide(1, false), Decision::Run(pid(3)));
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn cpu_limits_count_every_slice() {
        let mut queue = RunQueue::new();
        queue.add(pid(1), (), Some(5));
        queue.add(pid(2), (), None);
        assert_eq!(queue.decide(0, false), Decision::Run(pid(1)));
        assert_eq!(queue.over_limit(3), None);
        queue.preempt(3);
        assert_eq!(queue.decide(3, false), Decision::Run(pid(2)));
        assert_eq!(queue.over_limit(1_000), None, "no limit, never over");
        queue.preempt(4);
        assert_eq!(queue.decide(4, false), Decision::Run(pid(1)));
        assert_eq!(queue.over_limit(5), None);
        assert_eq!(queue.over_limit(6), Some(5));
        assert_eq!(queue.limit(pid(1)), Some(5));
    }

    #[test]
    fn a_current_process_is_not_decided_twice() {
        let mut queue = queue(&[1, 2]);
        assert_eq!(queue.decide(0, false), Decision::Run(pid(1)));
        assert_eq!(queue.decide(1, false), Decision::Run(pid(1)));
        assert_eq!(queue.switches(), 1);
    }
}
