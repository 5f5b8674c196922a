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
//! The rump backend is NetBSD's FFS in the rump kernel (`ethos_fs_rump`), in a
//! kernel built with the `rump` feature. Its disk reaches FFS through NetBSD's own
//! `ld` driver at virtio, so the block class must be served by rump too
//! (`backend.block=rump`): FFS then mounts the block device `/dev/ld0d` (the whole
//! disk) inside the rump kernel, and every request stays in NetBSD, with its buffer
//! cache, from file system to virtqueue. The other way, the kernel's own
//! block device lent to the rump kernel as a host file (etfs, `rumpuser_bio`), would
//! work with a native block class too, but would need the host file hypercalls on
//! kernel threads and would copy every block through them; it is not built. The
//! FFS store is checked by NetBSD at mount only (there is no fsck here): its line
//! reports no problems found.

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

/// The driver name the `store` line gives for NetBSD's FFS in the rump kernel.
pub const RUMP_STORE: &str = "netbsd-ffs";

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
        #[cfg(feature = "rump")]
        Backend::Rump => rump_store::mount(),
        #[cfg(not(feature = "rump"))]
        Backend::Rump => Err(Unmounted::Refused(String::from(
            "the store's backend is rump (NetBSD's FFS), but this kernel links no rump \
             kernel (build it with RUMPKERNEL_DIR naming one); choose `native`",
        ))),
    }
}

/// The store on NetBSD's FFS, on the disk NetBSD's `ld` driver attached.
#[cfg(feature = "rump")]
mod rump_store {
    use alloc::boxed::Box;
    use alloc::format;

    use ethos_abi::Report;
    use ethos_abi::drivers::{Backend, DeviceClass};
    use ethos_fs::Store;
    use ethos_fs_rump::{FfsStore, RumpCalls};

    use super::{RUMP_STORE, Unmounted};
    use crate::{console, drivers, rump};

    /// The whole disk as NetBSD's block device (the raw partition, `d` on x86).
    const DISK: &str = "/dev/ld0d";

    /// Runs the store's calls on the rump kernel's thread.
    #[derive(Debug)]
    struct RumpThread;

    impl RumpCalls for RumpThread {
        fn call<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
            rump::worker::call(work)
        }
    }

    pub(super) fn mount() -> Result<Box<dyn Store + Send>, Unmounted> {
        let serving = drivers::with_devices(|devices| devices.serving(DeviceClass::Block));
        match serving.flatten() {
            None => return Err(Unmounted::NoDisk),
            Some(serving) if serving.backend != Backend::Rump => {
                return Err(Unmounted::Refused(format!(
                    "the store's backend is rump (NetBSD's FFS), which reaches the disk \
                     through NetBSD's ld driver, but the block class is served by {} ({}); \
                     choose the rump backend for the block class too (backend.block=rump)",
                    serving.driver,
                    serving.backend.name()
                )));
            }
            Some(_) => {}
        }
        // FFS opens the disk's block device itself; the block class's handle on the
        // raw device is closed first, so the disk has one user.
        drop(drivers::take_block());
        let mut store = FfsStore::mount(RumpThread, DISK)
            .map_err(|error| Unmounted::Refused(format!("the disk {DISK}: {error}")))?;
        let usage = store.usage().map_err(|error| {
            Unmounted::Refused(format!("the disk {DISK}: no file system status: {error}"))
        })?;
        tracing::info!(
            disk = DISK,
            fragment = usage.block_size,
            fragments = usage.blocks,
            used = usage.used,
            journal = usage.journal,
            "NetBSD's FFS mounted as the store"
        );
        console::report(Report::Store {
            backend: Backend::Rump,
            driver: RUMP_STORE,
            block_size: usage.block_size,
            blocks: usage.blocks,
            used: usage.used,
            problems: 0,
        });
        Ok(Box::new(store))
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
