//! The rump kernel's synchronisation objects: mutexes, reader/writer locks and condition
//! variables, written once over the host's block-on-a-word primitive.
//!
//! These types implement the semantics; the `extern "C"` shells only turn handles into
//! references. None of them may hold an internal lock across an upcall.

pub mod condvar;
pub mod mutex;
pub mod rwlock;

#[cfg(all(test, feature = "std"))]
mod tests;
