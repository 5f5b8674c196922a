//! The Ethos process model, portable and host-tested: capability descriptors, events,
//! typed local IPC, virtual processes, users, programs and authorization, and the
//! parse-then-dispatch path from raw call registers to these.
//!
//! - [`identity`]: users, programs (SHA-512 of the executable), names and labels;
//! - [`policy`]: rights per label for (user or group, program or any);
//! - [`descriptors`]: per-process tables of (object, rights);
//! - [`events`]: per-process event bookkeeping;
//! - [`model`]: the state and object lifetimes; the calls are in [`ipc`],
//!   [`transfer`] and [`timers`]; `fork`, `exec` and `kill` in [`lifecycle`];
//! - [`remote`]: connections whose other end is on another host, and the queue of
//!   requests the kernel's network service carries out;
//! - [`files`]: the typed file system's calls, on the store the platform attaches;
//! - [`signing`]: `sign` and `authenticate`, with the users' kernel-held keys;
//! - [`memory_limit`]: the per-process kernel memory limit fitted to the kernel heap;
//! - [`request`]: raw registers to a checked, typed request;
//! - [`dispatch`]: a typed request to the model, reading and writing program memory
//!   through the platform's checked accessors.
//!
//! Nothing here touches hardware or program memory directly, and nothing trusts a
//! value a program supplied before it has been checked.

pub mod descriptors;
pub mod dispatch;
pub mod events;
pub mod files;
pub mod identity;
pub mod ipc;
pub mod lifecycle;
pub mod memory_limit;
pub mod model;
pub mod policy;
pub mod remote;
pub mod request;
pub mod signing;
pub mod timers;
pub mod transfer;

#[cfg(test)]
mod tests;

pub use model::{Configuration, ConfigurationError, ProcessModel, ServiceDeclaration};
pub use remote::NetworkRequest;

/// A copy of `bytes` on the kernel heap, or [`ethos_abi::Status::NoMemory`]: every buffer a
/// program's request sizes is allocated this way, so no request can abort the kernel.
pub fn copied(bytes: &[u8]) -> Result<alloc::vec::Vec<u8>, ethos_abi::Status> {
    let mut copy = alloc::vec::Vec::new();
    copy.try_reserve_exact(bytes.len())
        .map_err(|_| ethos_abi::Status::NoMemory)?;
    copy.extend_from_slice(bytes);
    Ok(copy)
}

/// `length` zero bytes on the kernel heap, or [`ethos_abi::Status::NoMemory`].
pub fn zeroed(length: usize) -> Result<alloc::vec::Vec<u8>, ethos_abi::Status> {
    let mut bytes = alloc::vec::Vec::new();
    bytes
        .try_reserve_exact(length)
        .map_err(|_| ethos_abi::Status::NoMemory)?;
    bytes.resize(length, 0);
    Ok(bytes)
}

#[cfg(test)]
mod allocation_tests {
    use ethos_abi::Status;

    #[test]
    fn a_request_the_heap_cannot_hold_is_a_status() {
        assert_eq!(super::zeroed(usize::MAX), Err(Status::NoMemory));
        assert_eq!(super::zeroed(3), Ok(alloc::vec![0, 0, 0]));
        assert_eq!(super::copied(b"abc"), Ok(b"abc".to_vec()));
    }
}
