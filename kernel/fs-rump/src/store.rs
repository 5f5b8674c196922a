//! The store itself: mounting, the [`Store`] calls and the errors of a mount.

use alloc::string::String;
use core::fmt;

use ethos_fs::{DirectoryId, DirectoryRecord, Entry, Information, Name, Store, StoreError};
use rump_sys::kernel::RumpError;
use rump_sys::kernel::fs::{self, FfsOptions};

use crate::tree::{self, Tree};

/// Where the store's file system is mounted inside the rump kernel.
pub const MOUNT_POINT: &str = "/ethos-store";

/// Runs work inside the rump kernel: on the calling thread in a hosted process, on
/// the rump kernel's own thread in a kernel.
pub trait RumpCalls {
    /// Runs `work` where rump system calls may be made, and answers its result.
    fn call<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R;
}

/// Calls on the calling thread (a hosted rump kernel, whose host gives every thread
/// a rump context on demand).
#[derive(Clone, Copy, Debug, Default)]
pub struct CallingThread;

impl RumpCalls for CallingThread {
    fn call<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        work()
    }
}

/// Why a disk was not mounted as a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountError {
    /// The mount point could not be made in the rump kernel's root.
    MountPoint(RumpError),
    /// NetBSD's FFS refused the disk: it holds no FFS file system (or a damaged one).
    NotFfs {
        /// The disk, as the rump kernel names it.
        device: String,
        /// What the mount answered.
        error: RumpError,
    },
    /// The file system's root has no record file: an FFS disk, but not a store.
    NoRootRecord,
    /// The root's record file is unreadable or malformed.
    DamagedRootRecord(String),
}

impl fmt::Display for MountError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountError::MountPoint(error) => {
                write!(formatter, "no mount point {MOUNT_POINT}: {error}")
            }
            MountError::NotFfs { device, error } => write!(
                formatter,
                "{device} holds no FFS file system NetBSD can mount ({error})"
            ),
            MountError::NoRootRecord => formatter.write_str(
                "the disk is FFS but not a store: its root has no directory record (make the \
                 disk with ethos_fs_rump::image, i.e. makefs -t ffs plus the root record)",
            ),
            MountError::DamagedRootRecord(what) => {
                write!(formatter, "the root's directory record is damaged: {what}")
            }
        }
    }
}

/// How much of the file system is used, in its fragments (FFS's unit of allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Whether the file system's journal (WAPBL) is on.
    pub journal: bool,
    /// Bytes per fragment.
    pub block_size: u64,
    /// Fragments in the file system.
    pub blocks: u64,
    /// Fragments in use.
    pub used: u64,
}

/// The store on an FFS file system mounted in the rump kernel.
#[derive(Debug)]
pub struct FfsStore<C: RumpCalls> {
    calls: C,
    tree: Tree,
}

/// How the store mounts FFS: no access times, so reading writes nothing; with the
/// WAPBL journal, so a power cut leaves metadata (block maps, inodes, directories)
/// whole: without it, a disk cut mid-write mounts with free blocks counted twice,
/// and NetBSD panics on the next removal.
const OPTIONS: FfsOptions = FfsOptions {
    read_only: false,
    no_access_times: true,
    log: true,
};

impl<C: RumpCalls> FfsStore<C> {
    /// Mounts the FFS file system on the rump kernel's block device `device` (a
    /// `/dev/` name, or an etfs key) at [`MOUNT_POINT`] and checks it is a store.
    pub fn mount(calls: C, device: &str) -> Result<FfsStore<C>, MountError> {
        let tree = calls.call(|| {
            match fs::make_directory(MOUNT_POINT, 0o755) {
                Err(error) if tree::errno_of(&error) != Some(rump_sys::NetbsdErrno::EEXIST) => {
                    return Err(MountError::MountPoint(error));
                }
                _ => {}
            }
            fs::mount_ffs(device, MOUNT_POINT, OPTIONS).map_err(|error| MountError::NotFfs {
                device: String::from(device),
                error,
            })?;
            let tree = Tree::open(MOUNT_POINT);
            if let Err(error) = tree {
                // Leave the rump kernel as it was: the disk is not ours.
                let _ = fs::unmount(MOUNT_POINT);
                return Err(error);
            }
            tree
        })?;
        Ok(FfsStore { calls, tree })
    }

    /// Unmounts the file system (everything is durable already).
    pub fn unmount(self) -> Result<(), RumpError> {
        self.calls.call(|| fs::unmount(MOUNT_POINT))
    }

    /// The file system's size and use, as `statvfs` reports them.
    pub fn usage(&mut self) -> Result<Usage, StoreError> {
        let status = self
            .calls
            .call(|| fs::file_system_status(MOUNT_POINT))
            .map_err(tree::store_error)?;
        Ok(Usage {
            journal: status.flags & u64::from(rump_sys::bindings::RUMP_MNT_LOG) != 0,
            block_size: status.fragment_size,
            blocks: status.fragments,
            used: status.fragments.saturating_sub(status.free_fragments),
        })
    }
}

impl<C: RumpCalls> Store for FfsStore<C> {
    fn directory(&mut self, directory: DirectoryId) -> Result<DirectoryRecord, StoreError> {
        let tree = &mut self.tree;
        self.calls.call(|| tree.directory(directory))
    }

    fn lookup(&mut self, directory: DirectoryId, name: &Name) -> Result<Entry, StoreError> {
        let tree = &mut self.tree;
        self.calls.call(|| tree.lookup(directory, name))
    }

    fn create_directory(
        &mut self,
        directory: DirectoryId,
        name: &Name,
        record: &DirectoryRecord,
        now: u64,
    ) -> Result<DirectoryId, StoreError> {
        let tree = &mut self.tree;
        self.calls
            .call(|| tree.create_directory(directory, name, record, now))
    }

    fn read_file(
        &mut self,
        directory: DirectoryId,
        name: &Name,
    ) -> Result<alloc::vec::Vec<u8>, StoreError> {
        let tree = &mut self.tree;
        self.calls.call(|| tree.read_file(directory, name))
    }

    fn write_file(
        &mut self,
        directory: DirectoryId,
        name: &Name,
        value: &[u8],
        now: u64,
    ) -> Result<(), StoreError> {
        let tree = &mut self.tree;
        self.calls
            .call(|| tree.write_file(directory, name, value, now))
    }

    fn remove(&mut self, directory: DirectoryId, name: &Name) -> Result<(), StoreError> {
        let tree = &mut self.tree;
        self.calls.call(|| tree.remove(directory, name))
    }

    fn next_name(
        &mut self,
        directory: DirectoryId,
        after: Option<&Name>,
    ) -> Result<Option<Name>, StoreError> {
        let tree = &mut self.tree;
        self.calls.call(|| tree.next_name(directory, after))
    }

    fn information(
        &mut self,
        directory: DirectoryId,
        name: &Name,
    ) -> Result<Information, StoreError> {
        let tree = &mut self.tree;
        self.calls.call(|| tree.information(directory, name))
    }
}
