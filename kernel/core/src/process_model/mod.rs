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
//! - [`request`]: raw registers to a checked, typed request;
//! - [`dispatch`]: a typed request to the model, reading and writing program memory
//!   through the platform's checked accessors.
//!
//! Nothing here touches hardware or program memory directly, and nothing trusts a
//! value a program supplied before it has been checked.

pub mod descriptors;
pub mod dispatch;
pub mod events;
pub mod identity;
pub mod ipc;
pub mod lifecycle;
pub mod model;
pub mod policy;
pub mod request;
pub mod timers;
pub mod transfer;

#[cfg(test)]
mod tests;

pub use model::{Configuration, ConfigurationError, ProcessModel, ServiceDeclaration};
