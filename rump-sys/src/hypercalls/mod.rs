//! The rumpuser revision-17 hypercalls, exported with their exact C names and types.
//!
//! Each function here is a thin shell: it turns raw C arguments into checked Rust values
//! (see [`crate::pointer`]), calls a safe function, and turns the `Result` into the NetBSD
//! errno the rump kernel expects. Semantics live in the modules the shells call; a shell must
//! never hold a lock or contain protocol logic of its own.
//!
//! With the `c-rumpuser` feature the symbols are not exported (upstream's C `librumpuser`
//! provides them, for benchmarks), but the shells still exist for this crate's own tests.

use alloc::format;
use core::ffi::c_int;

use crate::error::HypercallError;
use crate::host;

pub mod block_io;
pub mod component;
pub mod files;
pub mod locks;
pub mod system;
pub mod threads;

/// The `int` a hypercall returns for `result`: 0 or a NetBSD errno.
fn status(result: Result<(), HypercallError>) -> c_int {
    match result {
        Ok(()) => 0,
        Err(error) => error.errno().value(),
    }
}

/// Ends the process when a hypercall that cannot report failure (it returns `void`) is
/// given arguments it cannot act on, as the reference implementation does.
fn fatal(hypercall: &str, error: HypercallError) -> ! {
    let message = format!("rumpuser: {hypercall}: {error}\n");
    host::active().diagnostic_write(message.as_bytes());
    host::active().abort_process()
}

/// Unwraps the result of a `void` hypercall's argument check, or ends the process.
fn or_fatal<T>(hypercall: &str, result: Result<T, HypercallError>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => fatal(hypercall, error),
    }
}
