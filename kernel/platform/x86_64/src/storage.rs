//! The typed file system's store, mounted at `init` from the machine's disk (the
//! block class's device) with the backend the initial image's `storage` entry
//! chooses.
//!
//! Before it mounts, the kernel checks the whole store (every superblock,
//! directory, value and block: `ethos_fs::native::check`) and reports what it found
//! in one `store` line, with the backend and driver that serve it. A store with
//! problems is still mounted where its tree can be read: each damaged value then
//! answers `storage-failed` when read, and the problems are logged one per line. A
//! disk that holds no store of this kernel's format, or one whose superblocks are
//! all damaged, is refused with the reason; the run ends there, since the image
//! said its programs need the store. A machine without a disk runs without a store,
//! and says so: the file system's calls then answer `not-supported`.
//!
//! The rump backend (NetBSD's FFS in a rump kernel) is not built yet: an image that
//! chooses it is refused with that reason.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use ethos_abi::Report;
use ethos_abi::drivers::Backend;
use ethos_fs::Store;
use ethos_fs::native;

use crate::{console, drivers};

/// The driver name the `store` line gives for the kernel's own store.
pub const NATIVE_STORE: &str = "ethos-store";

/// Why there is no store.
#[derive(Debug)]
pub enum Unmounted {
    /// The machine has no disk: the kernel goes on without a store.
    NoDisk,
    /// The disk or the choice is refused, for this reason.
    Refused(String),
}

/// The store the image's `storage` entry chooses, on the machine's disk, checked;
/// why there is none to be had.
pub fn mount(backend: Backend) -> Result<Box<dyn Store + Send>, Unmounted> {
    match backend {
        Backend::Native => mount_native(),
        Backend::Rump => Err(Unmounted::Refused(String::from(
            "the image chooses the rump backend for its store (NetBSD's FFS), which this \
             kernel does not have yet; choose `native` in [storage]",
        ))),
    }
}

fn mount_native() -> Result<Box<dyn Store + Send>, Unmounted> {
    let mut disk = drivers::take_block().ok_or(Unmounted::NoDisk)?;
    let report = native::check(&mut disk);
    let store =
        native::mount(disk).map_err(|error| Unmounted::Refused(format!("the disk: {error}")))?;
    let usage = store.usage();
    for problem in &report.problems {
        tracing::warn!(%problem, "the store's check found a problem");
    }
    console::report(Report::Store {
        backend: Backend::Native,
        driver: NATIVE_STORE,
        block_size: usage.block_size as u64,
        blocks: usage.blocks,
        used: usage.used,
        problems: report.problems.len() as u64,
    });
    Ok(Box::new(store))
}
