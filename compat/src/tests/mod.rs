//! Host tests of the library against a fake kernel that follows the documented
//! semantics: marshalling of every call against the ABI's layouts, decoding of
//! `retire` results, the blocking helpers, the executor and the typed layer.

mod blocking;
mod compare;
mod executor;
mod fake;
mod hosted;
mod marshalling;
mod results;
mod typed;
