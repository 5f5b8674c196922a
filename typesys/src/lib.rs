//! Etypes: the ETN notation, type hashes, the ETE wire encoding, Rust code generation
//! and the kernel recognizer.
//!
//! - [`etn`] parses `.etn` source into a checked [`etn::Schema`];
//! - [`graph`] holds types as a graph of nodes; [`hash`] gives each node its 64-byte
//!   SHA-512 identity over a documented canonical encoding;
//! - [`wire`] documents and implements the byte layout of values;
//! - [`recognizer`] decides, without allocating, recursing or panicking, whether bytes
//!   are exactly one value of a type: the check the kernel runs on every write and
//!   message;
//! - [`codegen`] turns ETN into Rust (types, hashes, the graph as data, and per
//!   interface a request/reply pair, a client stub and a server dispatch trait);
//!   [`rpc`] is what that generated code calls.
//!
//! The crate is `no_std` with `alloc`; the `std` feature adds file access for build
//! scripts and the `etn-codegen` command. It contains no `unsafe` code.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod codegen;
pub mod etn;
pub mod graph;
pub mod hash;
mod layout;
mod program;
mod quick;
pub mod recognizer;
pub mod rpc;
mod utf8;
pub mod wire;

pub use graph::TypeGraph;
pub use hash::TypeHash;
pub use recognizer::{TypeError, validate, validate_reply};

/// `serde`, re-exported so generated code needs no dependency of its own on it.
pub use serde;

/// A Rust type generated from a named ETN type.
pub trait EtnType {
    /// The type's 64-byte identity.
    const TYPE_HASH: TypeHash;
}

/// Paths generated code uses, so that it works in `no_std` crates and whatever names
/// the ETN declares (a type named `Box` or `Vec` cannot shadow these).
#[doc(hidden)]
pub mod __private {
    pub use alloc::borrow::Cow;
    pub use alloc::boxed::Box;
    pub use alloc::string::String;
    pub use alloc::vec::Vec;
    pub use core::option::Option;
    pub use core::result::Result;
}
