//! Events as futures, and a tiny executor that waits on them with `block`.
//!
//! A [`Completion`] is one event: polled, it registers the event with the program's
//! reactor and is pending until [`block_on`] has seen `block` answer it; then it
//! collects and decodes the result. Dropping a completion that has not finished
//! cancels its event. [`block_on`] polls its future, then calls `block` on the set of
//! events that pending completions wait on — the kernel parks the program there — and
//! polls again when one has completed: it never polls in a loop. [`join`],
//! [`join_all`] and [`select`] combine futures; the loser of a `select` is dropped,
//! which cancels its events.
//!
//! `block` takes at most [`MAXIMUM_BLOCK_EVENTS`] events. When more wait, the executor
//! blocks on a window of them plus a one-millisecond timer, moving the window on each
//! time the timer fires, so every event is seen within a bounded time.
//!
//! Only [`block_on`] drives completions: polled by another executor they never finish.
//! This module never blocks anywhere but in `block`.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

use ethos_abi::Status;
use ethos_abi::arguments::MAXIMUM_BLOCK_EVENTS;

use crate::calls;
use crate::handles::{Descriptor, Event};
use crate::reactor;
use crate::results::{self, ResultLayout, retire_as};

/// How long the window timer runs when more events wait than `block` takes.
pub const WINDOW_NANOSECONDS: u64 = 1_000_000;

/// A future of one event's decoded result.
#[derive(Debug)]
#[must_use = "a completion does nothing unless awaited; dropping it cancels the event"]
pub struct Completion<T: 'static> {
    /// The event, until its result is collected.
    event: Option<Event>,
    layout: &'static ResultLayout<T>,
}

impl<T> Completion<T> {
    /// The completion of `event`, whose result is laid out as `layout` says.
    pub fn new(event: Event, layout: &'static ResultLayout<T>) -> Completion<T> {
        Completion {
            event: Some(event),
            layout,
        }
    }

    /// The event, until the result has been collected.
    pub fn event(&self) -> Option<Event> {
        self.event
    }
}

impl<T> Future for Completion<T> {
    type Output = Result<T, Status>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(event) = this.event else {
            // Polled again after it finished: the event is gone.
            return Poll::Ready(Err(Status::NoSuchObject));
        };
        match reactor::with(|reactor| reactor.take_completion(event)) {
            Some(Ok(())) => {
                this.event = None;
                Poll::Ready(retire_as(event, this.layout))
            }
            Some(Err(status)) => {
                this.event = None;
                let _ = calls::cancel(event);
                Poll::Ready(Err(status))
            }
            None => {
                reactor::with(|reactor| reactor.register(event, context.waker()));
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(event) = self.event.take() {
            reactor::with(|reactor| reactor.forget(event));
            // Whatever the event was, nobody will collect it now; a descriptor its
            // result brought is closed by the kernel.
            let _ = calls::cancel(event);
        }
    }
}

/// The bytes of the event's result (`read`, `peek`, `random`, ...).
pub fn wait(event: Event) -> Completion<Vec<u8>> {
    Completion::new(event, &results::VALUE)
}

/// The next value on `descriptor`, consumed.
pub async fn read(descriptor: Descriptor) -> Result<Vec<u8>, Status> {
    Completion::new(calls::read(descriptor)?, &results::VALUE).await
}

/// A copy of the next value on `descriptor`.
pub async fn peek(descriptor: Descriptor) -> Result<Vec<u8>, Status> {
    Completion::new(calls::peek(descriptor)?, &results::VALUE).await
}

/// The next connection to a listening descriptor and its client's user.
pub async fn import(listening: Descriptor) -> Result<(Descriptor, String), Status> {
    Completion::new(calls::import(listening)?, &results::IMPORT).await
}

/// A connection to `service` on `host` (empty: this machine), with `first_value`.
pub async fn ipc(service: &str, host: &str, first_value: &[u8]) -> Result<Descriptor, Status> {
    Completion::new(
        calls::ipc(service, host, first_value)?,
        &results::CONNECTION,
    )
    .await
}

/// The next batch of descriptors sent to this process's virtual process.
pub async fn fd_receive() -> Result<Vec<Descriptor>, Status> {
    Completion::new(calls::fd_receive()?, &results::DESCRIPTORS).await
}

/// `size` random bytes.
pub async fn random(size: usize) -> Result<Vec<u8>, Status> {
    Completion::new(calls::random(size)?, &results::VALUE).await
}

/// Completes when the kernel clock reaches `deadline` (nanoseconds since boot).
pub async fn sleep_until(deadline: u64) -> Result<(), Status> {
    Completion::new(calls::beep(deadline)?, &results::NOTHING).await
}

/// Completes after `nanoseconds`, counted from the first poll.
pub async fn sleep(nanoseconds: u64) -> Result<(), Status> {
    sleep_until(calls::get_time()?.saturating_add(nanoseconds)).await
}

/// Sets a flag when woken; the executor polls again when it is set.
#[derive(Debug, Default)]
struct Signal(AtomicBool);

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `future` to its end, waiting in `block` while it is pending.
///
/// # Panics
///
/// If the future is pending but neither waits on an event nor has woken itself:
/// nothing could ever make progress.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = core::pin::pin!(future);
    let signal = Arc::new(Signal::default());
    let waker = Waker::from(signal.clone());
    let mut context = Context::from_waker(&waker);
    loop {
        signal.0.store(false, Ordering::Release);
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        while !signal.0.load(Ordering::Acquire) {
            wait_for_an_event();
        }
    }
}

/// One `block` on the events futures wait on; wakes the future whose event it
/// answers, or every future of the set with the status `block` failed with.
fn wait_for_an_event() {
    let waiting = reactor::with(|reactor| reactor.waiting());
    assert!(
        !waiting.is_empty(),
        "block_on: the future is pending but waits on no event"
    );
    let most = MAXIMUM_BLOCK_EVENTS as usize;
    let (mut set, timer) = if waiting.len() <= most {
        (waiting, None)
    } else {
        let start = reactor::with(|reactor| reactor.rotation()) % waiting.len();
        let window: Vec<Event> = waiting
            .iter()
            .cycle()
            .skip(start)
            .take(most - 1)
            .copied()
            .collect();
        let timer =
            calls::get_time().and_then(|now| calls::beep(now.saturating_add(WINDOW_NANOSECONDS)));
        match timer {
            Ok(timer) => (window, Some(timer)),
            Err(status) => return fail(&window, status),
        }
    };
    if let Some(timer) = timer {
        set.push(timer);
    }
    let answer = calls::block(&set);
    if let Some(timer) = timer {
        if answer == Ok(timer) {
            let _ = retire_as(timer, &results::NOTHING);
            reactor::with(|reactor| reactor.rotate(most - 1));
            return;
        }
        let _ = calls::cancel(timer);
        set.pop();
    }
    match answer {
        Ok(event) => {
            if let Some(waker) = reactor::with(|reactor| reactor.complete(event, Ok(()))) {
                waker.wake();
            }
        }
        // A kernel that does not park: ask again.
        Err(Status::WouldBlock) => core::hint::spin_loop(),
        Err(status) => fail(&set, status),
    }
}

fn fail(set: &[Event], status: Status) {
    let wakers: Vec<Waker> = reactor::with(|reactor| {
        set.iter()
            .filter_map(|event| reactor.complete(*event, Err(status)))
            .collect()
    });
    for waker in wakers {
        waker.wake();
    }
}

/// A future's place in a combinator: still running, or finished with its output
/// waiting to be taken.
enum Slot<F: Future> {
    Running(Pin<Box<F>>),
    Finished(Option<F::Output>),
}

impl<F: Future> Slot<F> {
    fn new(future: F) -> Self {
        Slot::Running(Box::pin(future))
    }

    /// Polls if still running; whether it has finished.
    fn poll(&mut self, context: &mut Context<'_>) -> bool {
        match self {
            Slot::Running(future) => match future.as_mut().poll(context) {
                Poll::Ready(output) => {
                    *self = Slot::Finished(Some(output));
                    true
                }
                Poll::Pending => false,
            },
            Slot::Finished(_) => true,
        }
    }

    fn take(&mut self) -> Option<F::Output> {
        match self {
            Slot::Finished(output) => output.take(),
            Slot::Running(_) => None,
        }
    }
}

/// Both outputs of [`join`].
#[must_use = "futures do nothing unless awaited"]
pub struct Join<A: Future, B: Future> {
    first: Slot<A>,
    second: Slot<B>,
}

// The futures are pinned in their boxes; the outputs are only ever moved out, never
// pinned, so the combinator itself may move.
impl<A: Future, B: Future> Unpin for Join<A, B> {}

impl<A: Future, B: Future> core::fmt::Debug for Join<A, B> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("Join").finish_non_exhaustive()
    }
}

/// Runs both futures at once; completes with both outputs.
pub fn join<A: Future, B: Future>(first: A, second: B) -> Join<A, B> {
    Join {
        first: Slot::new(first),
        second: Slot::new(second),
    }
}

impl<A: Future, B: Future> Future for Join<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let first = this.first.poll(context);
        let second = this.second.poll(context);
        if !(first && second) {
            return Poll::Pending;
        }
        match (this.first.take(), this.second.take()) {
            (Some(first), Some(second)) => Poll::Ready((first, second)),
            // Only when polled again after it completed.
            _ => Poll::Pending,
        }
    }
}

/// Every output of [`join_all`], in the order of the futures.
#[must_use = "futures do nothing unless awaited"]
pub struct JoinAll<F: Future> {
    slots: Vec<Slot<F>>,
}

// As for `Join`: nothing in the combinator is pinned but the boxed futures.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> core::fmt::Debug for JoinAll<F> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("JoinAll")
            .field("futures", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// Runs every future at once; completes with all outputs.
pub fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> JoinAll<F> {
    JoinAll {
        slots: futures.into_iter().map(Slot::new).collect(),
    }
}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut finished = true;
        for slot in &mut this.slots {
            finished &= slot.poll(context);
        }
        if !finished {
            return Poll::Pending;
        }
        let outputs: Option<Vec<F::Output>> = this.slots.iter_mut().map(Slot::take).collect();
        outputs.map_or(Poll::Pending, Poll::Ready)
    }
}

/// Which of two futures finished first, with its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future's output.
    Left(A),
    /// The second future's output.
    Right(B),
}

/// The first output of [`select`].
#[must_use = "futures do nothing unless awaited"]
pub struct Select<A: Future, B: Future> {
    first: Option<Pin<Box<A>>>,
    second: Option<Pin<Box<B>>>,
}

impl<A: Future, B: Future> core::fmt::Debug for Select<A, B> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct("Select").finish_non_exhaustive()
    }
}

/// Runs both futures until one finishes; the other is dropped then, which cancels the
/// events it waited on. The first future wins a tie.
pub fn select<A: Future, B: Future>(first: A, second: B) -> Select<A, B> {
    Select {
        first: Some(Box::pin(first)),
        second: Some(Box::pin(second)),
    }
}

impl<A: Future, B: Future> Future for Select<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(first) = this.first.as_mut()
            && let Poll::Ready(output) = first.as_mut().poll(context)
        {
            this.first = None;
            this.second = None;
            return Poll::Ready(Either::Left(output));
        }
        if let Some(second) = this.second.as_mut()
            && let Poll::Ready(output) = second.as_mut().poll(context)
        {
            this.first = None;
            this.second = None;
            return Poll::Ready(Either::Right(output));
        }
        Poll::Pending
    }
}
