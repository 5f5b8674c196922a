//! On a host (Linux): the kernel each thread's calls go to.
//!
//! A thread is one program. It has no kernel until it [`install`]s one — a fake kernel
//! in tests, or the hosted platform (see `hosted`) — and until then every call answers
//! [`Status::NotSupported`]. `exit` ends the program by unwinding its thread with an
//! [`Exited`] payload, which whoever runs the program catches. This module exists only
//! on hosts and must never be needed by a program built for Ethos.

use alloc::rc::Rc;
use core::cell::RefCell;

use ethos_abi::{Call, Status};

use crate::kernel::{Argument, Kernel, RawAnswer};

std::thread_local! {
    static KERNEL: RefCell<Option<Rc<dyn Kernel>>> = const { RefCell::new(None) };
}

/// The payload a program's thread unwinds with when it calls `exit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exited(pub i32);

/// The kernel installed on this thread until the guard is dropped; then the one before
/// it is back.
#[must_use = "the kernel is uninstalled when the guard is dropped"]
pub struct Installed {
    previous: Option<Rc<dyn Kernel>>,
}

impl core::fmt::Debug for Installed {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Installed")
            .field("previous", &self.previous.is_some())
            .finish()
    }
}

/// Makes `kernel` answer this thread's calls.
pub fn install(kernel: Rc<dyn Kernel>) -> Installed {
    let previous = KERNEL.with(|current| current.borrow_mut().replace(kernel));
    Installed { previous }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        KERNEL.with(|current| *current.borrow_mut() = previous);
    }
}

/// Makes a call on this thread's kernel. The kernel is taken out of the cell before it
/// runs, so a kernel may itself make calls or install another.
pub(crate) fn system_call(call: Call, arguments: &mut [Argument<'_>]) -> RawAnswer {
    let kernel = KERNEL.with(|current| current.borrow().clone());
    match kernel {
        Some(kernel) => kernel.system_call(call, arguments),
        None => RawAnswer::failed(Status::NotSupported),
    }
}

/// Ends the program's thread after its kernel accepted `exit`.
pub(crate) fn end_thread(status: i32) -> ! {
    std::panic::resume_unwind(alloc::boxed::Box::new(Exited(status)))
}
