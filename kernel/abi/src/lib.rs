//! The Ethos contract: one definition of everything the kernel shares with `compat`,
//! programs and the test harness.
//!
//! - [`call`]: the system calls and their numbers;
//! - [`arguments`]: what each call expects in its registers, the limits, result layouts;
//! - [`status`]: the status codes every call returns;
//! - [`handles`]: descriptor numbers, event ids and process ids;
//! - [`rights`]: descriptor rights and label rights, as types;
//! - [`kernel_test`]: the names of the in-kernel tests (`test=NAME`);
//! - [`drivers`]: device classes, backends and what the driver tests share with the host;
//! - [`exit`] and [`report`]: how the kernel ends a QEMU run and reports to the harness.
//!
//! This crate holds only data definitions and their (de)serialisation; it must never
//! depend on anything else in the workspace, allocate, or contain `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

pub mod arguments;
pub mod call;
pub mod drivers;
pub mod exit;
pub mod handles;
pub mod kernel_test;
pub mod report;
pub mod rights;
pub mod status;

pub use call::{Call, UnknownCall};
pub use exit::ExitCode;
pub use handles::{DescriptorNumber, DescriptorOutOfRange, EventId, ProcessId};
pub use kernel_test::KernelTest;
pub use report::{Report, ReportError};
pub use rights::{DescriptorRights, LabelRights, UndefinedRights};
pub use status::Status;
