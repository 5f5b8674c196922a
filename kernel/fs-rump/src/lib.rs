//! The typed file system's store on NetBSD's FFS, in a rump kernel: the `rump`
//! backend of [`ethos_fs::Store`], passing the same conformance suite as the native
//! store.
//!
//! How the store's promises are kept on FFS:
//! - **Directories** are FFS directories. Each holds a hidden record file
//!   ([`format::RECORD`]: label, type hash, creation time) that no program can name
//!   (hidden names are not UTF-8, see [`format`]). A directory is made whole under a
//!   hidden name, with its record written and synced, then renamed into place; it is
//!   removed by renaming it out of sight first. A disk whose root has no record is
//!   refused: it is not a store (`image` makes one on the host).
//! - **Values**: `write_file` writes the header and value to a hidden file, syncs it,
//!   renames it over the name (atomic in FFS) and syncs the directory, so after `Ok`
//!   the new value is durable and at every moment the name holds the old or the new
//!   one. FFS is mounted with its WAPBL journal, so a power cut never leaves its
//!   metadata half written. Times are the caller's clock, kept in each value's header
//!   ([`format::VALUE_HEADER`]); sizes come from `stat`.
//! - **Directory ids** are handed out per mount, from the directory's inode, and never
//!   reused within a mount: a removed directory's id finds nothing.
//! - **Errors**: `ENOSPC` is [`StoreError::Full`], `EIO` a device error; a refused
//!   call leaves only hidden names behind, which the next such call reuses.
//!
//! Every call into the rump kernel goes through `RumpCalls`, so a kernel can run
//! them on the thread its rump kernel needs. This crate never boots or halts the rump
//! kernel: its user does, with the `ffs` component linked.
//!
//! Features: `store` (the store, over rump-sys; a binary with it links the rump kernel
//! when `RUMPKERNEL_DIR` is set) and `std` (the host's [`image`] helper, which needs
//! no rump kernel, so host tools make disks without linking one).

#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod format;
#[cfg(feature = "std")]
pub mod image;
#[cfg(feature = "store")]
mod store;
#[cfg(feature = "store")]
mod tree;

#[cfg(feature = "store")]
pub use store::{CallingThread, FfsStore, MOUNT_POINT, MountError, RumpCalls, Usage};
