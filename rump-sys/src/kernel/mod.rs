//! A safe facade over a linked rump kernel: boot, file systems, files, sockets, interface
//! configuration and reboot, with typed errors.
//!
//! One rump kernel per process: [`RumpKernel::boot`] succeeds once. Every call goes through
//! the generated [`crate::bindings`]; raw pointers never leave this module tree.

mod error;

use core::sync::atomic::{AtomicBool, Ordering};

#[cfg(feature = "vfs")]
pub mod fs;
#[cfg(feature = "inet")]
pub mod net;

pub use error::RumpError;

use crate::bindings;
use crate::errno::NetbsdErrno;

static BOOTED: AtomicBool = AtomicBool::new(false);

/// What the rump kernel does with signals it would deliver to the hosting process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalModel {
    /// Drop them: the host process is never signalled by the rump kernel.
    Ignore,
    /// Raise them in the host process (upstream's default).
    Raise,
}

/// The booted rump kernel of this process.
#[derive(Debug)]
pub struct RumpKernel {
    _private: (),
}

impl RumpKernel {
    /// Boots the rump kernel (`rump_init`), once per process.
    pub fn boot(signals: SignalModel) -> Result<RumpKernel, RumpError> {
        if BOOTED.swap(true, Ordering::SeqCst) {
            return Err(RumpError::AlreadyBooted);
        }
        let model = match signals {
            SignalModel::Ignore => bindings::rump_sigmodel_RUMP_SIGMODEL_IGNORE,
            SignalModel::Raise => bindings::rump_sigmodel_RUMP_SIGMODEL_RAISE,
        };
        // SAFETY: called before rump_init, as rump_boot_setsigmodel requires.
        unsafe { bindings::rump_boot_setsigmodel(model) };
        // SAFETY: rump_init takes no arguments and runs once (guarded above).
        let result = unsafe { bindings::rump_init() };
        if result != 0 {
            return Err(RumpError::Boot(NetbsdErrno::from_netbsd(result)));
        }
        Ok(RumpKernel { _private: () })
    }

    /// Process id the calling thread has inside the rump kernel.
    pub fn process_id(&self) -> i32 {
        // SAFETY: getpid has no arguments and cannot fail.
        unsafe { bindings::rump_sys_getpid() }
    }

    /// Syncs file systems and halts the rump kernel, which ends the process with status 0
    /// (`rump_sys_reboot`). Returns only if the kernel refused.
    pub fn reboot(self) -> RumpError {
        // SAFETY: reboot with no flags and no boot string.
        let result = unsafe { bindings::rump_sys_reboot(0, core::ptr::null_mut()) };
        RumpError::RebootReturned(if result == -1 {
            error::last_errno()
        } else {
            NetbsdErrno::from_netbsd(result)
        })
    }
}
