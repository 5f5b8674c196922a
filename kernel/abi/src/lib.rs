//! The Ethos contract: one definition of everything the kernel shares with `compat`,
//! programs and the test harness.
//!
//! This crate holds only data definitions and their (de)serialisation; it must never
//! depend on anything else in the workspace, allocate, or contain `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

pub mod drivers;
pub mod exit;
pub mod report;

pub use exit::ExitCode;
pub use report::{Report, ReportError};
