//! The Ethos API as a safe library for programs: the system calls on Ethos, and on a
//! host whatever kernel the thread installs (a fake one in tests).
//!
//! - [`calls`]: one function per system call, typed arguments, `Result<_, Status>`;
//! - [`results`]: collecting an event's result with `retire` and decoding its layout;
//! - [`blocking`]: calls that wait for their event (`read_blocking`, `sleep`, ...);
//! - [`EventSet`]: several events waited on with one `block`;
//! - [`future`]: events as futures and the executor (`block_on`, `join`, `select`);
//! - [`typed`]: ETN-generated types over connections, and the RPC transport that
//!   generated client stubs call through;
//! - [`println!`] over `print`; [`runtime`] with [`entry!`]: `_start`, the heap and
//!   the panic handler of a program (feature `runtime`, on Ethos only);
//! - [`kernel`]: the seam every call goes through; on a host, [`host`] installs the
//!   kernel of a thread (a fake one in tests) and [`hosted`] makes the hosted
//!   platform (`ethos-platform-hosted`, programs as threads) that kernel.
//!
//! The only `unsafe` code is built only for Ethos: the `syscall` instruction and
//! growing a vector over the bytes `retire` wrote into its spare capacity, in one
//! module, the program heap's allocator in [`runtime`], and the program's `memcmp`
//! (turning C's pointers into slices), in `compare`. The library never checks what the kernel decides (rights, types, limits):
//! it passes arguments exactly as the ABI lays them out and reports the kernel's
//! answer. It is `no_std` with `alloc`; on a host it also uses `std` for per-thread
//! state, and the hosted platform for [`hosted`].
#![no_std]

extern crate alloc;
#[cfg(not(target_os = "none"))]
extern crate std;

pub mod blocking;
pub mod calls;
#[cfg(any(test, all(feature = "runtime", target_os = "none")))]
mod compare;
pub mod console;
mod event_set;
pub mod future;
pub mod handles;
#[cfg(not(target_os = "none"))]
pub mod host;
#[cfg(not(target_os = "none"))]
pub mod hosted;
pub mod kernel;
mod reactor;
pub mod results;
pub mod runtime;
#[cfg(target_os = "none")]
mod syscall;
pub mod typed;

#[cfg(test)]
mod tests;

pub use blocking::{
    fd_receive_blocking, import_blocking, ipc_blocking, ipc_when_advertised, peek_blocking,
    random_blocking, read_blocking, read_blocking_into, read_var_blocking, sign_blocking,
    sign_file_blocking, sleep, sleep_until, wait, wait_value, write_blocking,
    write_read_blocking_into, write_var_blocking,
};
pub use calls::*;
pub use ethos_abi::{DescriptorRights, LabelRights, ProcessId, Status};
pub use event_set::EventSet;
pub use handles::{Descriptor, Event};
pub use typed::{Channel, RpcConnection, TypedConnection, TypedError};
