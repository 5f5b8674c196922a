//! A fake kernel that follows the documented semantics closely enough to test the
//! library against: events that complete on the spot or later, `block` answering the
//! first completed event of its set and otherwise moving a virtual clock to the next
//! scheduled happening (as if the process were parked), `retire` with
//! `BufferTooSmall`, `cancel`, connections to scripted peers, and a log of every call.
//!
//! It checks every call's arguments against `ethos_abi::arguments::layout` and panics
//! on a mismatch, and panics where a real kernel would park a process forever.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use ethos_abi::arguments;
use ethos_abi::{Call, Status};

use crate::kernel::{Argument, Kernel, RawAnswer};

mod state;

pub(crate) use state::Arrival;
use state::{Happening, Object, Offered, State};

/// Answers a request written to an offered service, or nothing.
pub(crate) type Responder = Box<dyn FnMut(&[u8]) -> Option<Vec<u8>>>;

/// One call as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Logged {
    pub(crate) call: Call,
    /// The event ids of a `block`, the event of a `retire` or `cancel`.
    pub(crate) events: Vec<u64>,
    /// The buffer length offered, for calls with a buffer.
    pub(crate) buffer: Option<usize>,
    /// What the fake answered.
    pub(crate) answer: Result<u64, Status>,
    /// The clock when the call answered.
    pub(crate) time: u64,
}

/// The fake kernel; share it with `Rc` and install a clone on the test's thread.
pub(crate) struct FakeKernel {
    state: RefCell<State>,
}

impl FakeKernel {
    pub(crate) fn new() -> Rc<FakeKernel> {
        Rc::new(FakeKernel {
            state: RefCell::new(State {
                next_descriptor: arguments::reserved::FIRST_FREE,
                user: "alice".to_string(),
                kept: None,
                clock: 1_000,
                ..State::default()
            }),
        })
    }

    /// Installs the fake on this thread until the guard goes.
    pub(crate) fn install(self: &Rc<Self>) -> crate::host::Installed {
        crate::host::install(self.clone())
    }

    /// A service the program can `ipc` to, answering each request with `responder`
    /// after `delay` nanoseconds.
    pub(crate) fn offer(
        &self,
        service: &str,
        delay: u64,
        responder: impl FnMut(&[u8]) -> Option<Vec<u8>> + 'static,
    ) {
        self.state.borrow_mut().offered.insert(
            service.to_string(),
            Offered {
                responder: Rc::new(RefCell::new(Box::new(responder))),
                delay,
            },
        );
    }

    /// Like [`FakeKernel::offer`], but only from `at` on.
    pub(crate) fn offer_at(
        &self,
        at: u64,
        service: &str,
        delay: u64,
        responder: impl FnMut(&[u8]) -> Option<Vec<u8>> + 'static,
    ) {
        let offered = Offered {
            responder: Rc::new(RefCell::new(Box::new(responder))),
            delay,
        };
        self.state.borrow_mut().schedule(
            at,
            Happening::Offer {
                service: service.to_string(),
                offered,
            },
        );
    }

    /// `ipc` to `service` answers `status`.
    pub(crate) fn refuse(&self, service: &str, status: Status) {
        self.state
            .borrow_mut()
            .refused
            .insert(service.to_string(), status);
    }

    /// The program may advertise `service`.
    pub(crate) fn allow_advertise(&self, service: &str) {
        self.state
            .borrow_mut()
            .advertisable
            .push(service.to_string());
    }

    /// A client connects at `at`.
    pub(crate) fn arrive_at(&self, at: u64, arrival: Arrival) {
        self.state
            .borrow_mut()
            .schedule(at, Happening::Arrive(arrival));
    }

    /// A message arrives on `descriptor` at `at`.
    pub(crate) fn deliver_at(&self, at: u64, descriptor: u32, bytes: Vec<u8>) {
        self.state
            .borrow_mut()
            .schedule(at, Happening::Deliver { descriptor, bytes });
    }

    /// A batch of new descriptors is sent to the program's virtual process at `at`.
    pub(crate) fn send_batch_at(&self, at: u64, count: usize) {
        let mut state = self.state.borrow_mut();
        let numbers = (0..count).map(|_| state.allocate_descriptor()).collect();
        state.schedule(at, Happening::Batch(numbers));
    }

    /// The next calls of `call` answer `statuses`, one each, before the normal ones.
    pub(crate) fn force(&self, call: Call, statuses: &[Status]) {
        self.state
            .borrow_mut()
            .forced
            .entry(call)
            .or_default()
            .extend(statuses.iter().copied());
    }

    /// Every call so far.
    pub(crate) fn log(&self) -> Vec<Logged> {
        self.state.borrow().log.clone()
    }

    /// The calls of one kind so far.
    pub(crate) fn calls(&self, call: Call) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|logged| logged.call == call)
            .collect()
    }

    /// The virtual clock.
    pub(crate) fn now(&self) -> u64 {
        self.state.borrow().clock
    }

    /// What the program printed.
    pub(crate) fn printed(&self) -> Vec<String> {
        self.state.borrow().printed.clone()
    }

    /// What `fdSend` sent: numbers, user, program.
    pub(crate) fn sent(&self) -> Vec<(Vec<u32>, String, String)> {
        self.state.borrow().sent.clone()
    }

    /// What the program wrote on `descriptor`.
    pub(crate) fn written(&self, descriptor: u32) -> Vec<Vec<u8>> {
        match self.state.borrow().descriptors.get(&descriptor) {
            Some(Object::Connection(end)) => end.written.clone(),
            _ => Vec::new(),
        }
    }

    /// Events the program holds, pending or completed.
    pub(crate) fn event_count(&self) -> usize {
        self.state.borrow().events.len()
    }

    /// Whether `descriptor` is open.
    pub(crate) fn is_open(&self, descriptor: u32) -> bool {
        self.state.borrow().descriptors.contains_key(&descriptor)
    }
}

impl Kernel for FakeKernel {
    fn system_call(&self, call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer {
        let registers: Vec<arguments::Argument> = arguments
            .iter()
            .flat_map(|argument| argument.registers().iter().copied())
            .collect();
        assert_eq!(
            registers,
            arguments::layout(call),
            "{call}: arguments do not follow the ABI layout"
        );
        let mut state = self.state.borrow_mut();
        let events = match &*arguments {
            [Argument::Events(ids)] => ids.to_vec(),
            [Argument::Event(event), ..] => alloc::vec![event.id()],
            _ => Vec::new(),
        };
        let buffer = arguments.iter().find_map(|argument| match argument {
            Argument::Buffer(buffer) => Some(buffer.len()),
            _ => None,
        });
        let forced = state.forced.get_mut(&call).and_then(VecDeque::pop_front);
        let answer = match forced {
            Some(status) => Err(status),
            None => state.answer(call, arguments),
        };
        let time = state.clock;
        state.log.push(Logged {
            call,
            events,
            buffer,
            answer,
            time,
        });
        match (answer, state.kept.take()) {
            (Ok(value), _) => RawAnswer::ok(value),
            (Err(status), Some(event)) => RawAnswer {
                status: u64::from(status.code()),
                value: event,
            },
            (Err(status), None) => RawAnswer::failed(status),
        }
    }
}
