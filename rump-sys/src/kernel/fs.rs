//! File systems and files inside the rump kernel: mounting tmpfs, kernfs and block-device
//! file systems (ext2fs, ffs), host files as block devices (etfs), directories, files,
//! `stat`, renaming and directory listing.
//!
//! Paths are NetBSD's: any bytes but NUL (`impl AsRef<[u8]>`, so a `&str` serves), and
//! names come back as the bytes the file system holds, never reinterpreted as UTF-8.
//!
//! NetBSD structure layouts (`struct stat`, `struct dirent`, mount arguments) are defined
//! here because the rump headers only declare them; they must match NetBSD amd64 exactly.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ffi::{c_int, c_void};

use super::error::{RumpError, c_text, check};
use crate::bindings;

/// NetBSD's `struct stat` (amd64).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FileStatus {
    /// Device of the inode.
    pub device: u64,
    /// Type and permission bits.
    pub mode: u32,
    /// Inode number.
    pub inode: u64,
    /// Link count.
    pub links: u32,
    /// Owner.
    pub user: u32,
    /// Group.
    pub group: u32,
    /// Device type, for device files.
    pub represented_device: u64,
    /// Access, modification, change and birth times (seconds, nanoseconds).
    pub times: [[i64; 2]; 4],
    /// Size in bytes.
    pub size: i64,
    /// Blocks allocated.
    pub blocks: i64,
    /// Preferred I/O size.
    pub block_size: i32,
    /// User flags.
    pub flags: u32,
    /// Generation number.
    pub generation: u32,
    spare: [u32; 2],
}

/// NetBSD's `S_IFMT` and the two kinds the facade distinguishes.
const TYPE_MASK: u32 = 0o170000;
const TYPE_DIRECTORY: u32 = 0o040000;
const TYPE_REGULAR: u32 = 0o100000;

impl FileStatus {
    /// Whether this is a directory.
    pub fn is_directory(&self) -> bool {
        self.mode & TYPE_MASK == TYPE_DIRECTORY
    }

    /// Whether this is a regular file.
    pub fn is_regular(&self) -> bool {
        self.mode & TYPE_MASK == TYPE_REGULAR
    }
}

/// NetBSD's `struct tmpfs_args`, version 1.
#[repr(C)]
struct TmpfsArguments {
    version: c_int,
    nodes_max: u64,
    size_max: i64,
    root_user: u32,
    root_group: u32,
    root_mode: u32,
}

/// NetBSD's `struct ufs_args` (also used by ext2fs).
#[repr(C)]
struct BlockFileSystemArguments {
    device: *const core::ffi::c_char,
}

/// Options of [`File::open`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenMode {
    /// Open for writing too.
    pub write: bool,
    /// Create if missing.
    pub create: bool,
    /// With `create`: fail with `EEXIST` if it exists.
    pub exclusive: bool,
    /// Cut an existing file to length 0.
    pub truncate: bool,
}

/// Creates a directory.
pub fn make_directory(path: impl AsRef<[u8]>, mode: u32) -> Result<(), RumpError> {
    let path = c_text(path)?;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let result = unsafe { bindings::rump_sys_mkdir(path.as_ptr(), mode) };
    check("mkdir", result.into()).map(drop)
}

/// Removes a file.
pub fn unlink(path: impl AsRef<[u8]>) -> Result<(), RumpError> {
    let path = c_text(path)?;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let result = unsafe { bindings::rump_sys_unlink(path.as_ptr()) };
    check("unlink", result.into()).map(drop)
}

/// Removes an empty directory.
pub fn remove_directory(path: impl AsRef<[u8]>) -> Result<(), RumpError> {
    let path = c_text(path)?;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let result = unsafe { bindings::rump_sys_rmdir(path.as_ptr()) };
    check("rmdir", result.into()).map(drop)
}

/// Gives `from` the name `to`, atomically replacing a file (or empty directory) there.
pub fn rename(from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) -> Result<(), RumpError> {
    let (from, to) = (c_text(from)?, c_text(to)?);
    // SAFETY: both paths are NUL-terminated and outlive the call.
    let result = unsafe { bindings::rump_sys_rename(from.as_ptr(), to.as_ptr()) };
    check("rename", result.into()).map(drop)
}

fn mount(
    kind: &str,
    path: &str,
    flags: c_int,
    data: *mut c_void,
    length: usize,
) -> Result<(), RumpError> {
    let (kind, path) = (c_text(kind)?, c_text(path)?);
    // SAFETY: both strings are NUL-terminated; `data` points to `length` bytes of the file
    // system's argument structure (or is null with length 0), all alive for the call.
    let result =
        unsafe { bindings::rump_sys_mount(kind.as_ptr(), path.as_ptr(), flags, data, length) };
    check("mount", result.into()).map(drop)
}

/// Mounts a fresh tmpfs at `path`.
pub fn mount_tmpfs(path: &str) -> Result<(), RumpError> {
    let mut arguments = TmpfsArguments {
        version: 1,
        nodes_max: 0,
        size_max: 0,
        root_user: 0,
        root_group: 0,
        root_mode: 0o777,
    };
    let length = core::mem::size_of::<TmpfsArguments>();
    mount("tmpfs", path, 0, (&raw mut arguments).cast(), length)
}

/// Mounts kernfs at `path`.
pub fn mount_kernfs(path: &str) -> Result<(), RumpError> {
    mount("kernfs", path, 0, core::ptr::null_mut(), 0)
}

/// How [`mount_ffs`] mounts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FfsOptions {
    /// Read-only (`MNT_RDONLY`).
    pub read_only: bool,
    /// Never write access times (`MNT_NOATIME`): reading changes nothing on the disk.
    pub no_access_times: bool,
    /// With the WAPBL journal (`MNT_LOG`), so metadata survives a power cut whole.
    pub log: bool,
}

/// Mounts an FFS (UFS1 or UFS2) file system from the block device `device` at `path`.
pub fn mount_ffs(device: &str, path: &str, options: FfsOptions) -> Result<(), RumpError> {
    let device = c_text(device)?;
    let mut arguments = BlockFileSystemArguments {
        device: device.as_ptr(),
    };
    let mut flags = 0;
    for (chosen, flag) in [
        (options.read_only, bindings::RUMP_MNT_RDONLY),
        (options.no_access_times, bindings::RUMP_MNT_NOATIME),
        (options.log, bindings::RUMP_MNT_LOG),
    ] {
        if chosen {
            flags |= flag;
        }
    }
    let length = core::mem::size_of::<BlockFileSystemArguments>();
    let flags = c_int::try_from(flags).unwrap_or(0);
    mount("ffs", path, flags, (&raw mut arguments).cast(), length)
}

/// Mounts an ext2 file system from the block device `device` at `path`, read-write.
pub fn mount_ext2fs(device: &str, path: &str) -> Result<(), RumpError> {
    let device = c_text(device)?;
    let mut arguments = BlockFileSystemArguments {
        device: device.as_ptr(),
    };
    let length = core::mem::size_of::<BlockFileSystemArguments>();
    mount("ext2fs", path, 0, (&raw mut arguments).cast(), length)
}

/// Unmounts the file system at `path`.
pub fn unmount(path: &str) -> Result<(), RumpError> {
    let path = c_text(path)?;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let result = unsafe { bindings::rump_sys_unmount(path.as_ptr(), 0) };
    check("unmount", result.into()).map(drop)
}

/// Makes the host file `host_path` appear as block device `key` inside the rump kernel
/// (`rump_pub_etfs_register`, served by `rumpuser_bio`).
pub fn register_host_block_device(key: &str, host_path: &str) -> Result<(), RumpError> {
    let (key, host_path) = (c_text(key)?, c_text(host_path)?);
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let result = unsafe {
        bindings::rump_pub_etfs_register(
            key.as_ptr(),
            host_path.as_ptr(),
            bindings::rump_etfs_type_RUMP_ETFS_BLK,
        )
    };
    if result != 0 {
        return Err(RumpError::System {
            call: "etfs_register",
            errno: crate::errno::NetbsdErrno::from_netbsd(result),
        });
    }
    Ok(())
}

/// Status of the object at `path`.
pub fn status(path: impl AsRef<[u8]>) -> Result<FileStatus, RumpError> {
    let path = c_text(path)?;
    let mut status = FileStatus::default();
    // SAFETY: `status` has NetBSD's `struct stat` layout and is writable.
    let result = unsafe { bindings::rump_sys_stat(path.as_ptr(), (&raw mut status).cast()) };
    check("stat", result.into())?;
    Ok(status)
}

/// What `statvfs` says of a mounted file system, in its fragments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileSystemStatus {
    /// The mount's flags (`f_flag`: `MNT_RDONLY`, `MNT_LOG`, ...).
    pub flags: u64,
    /// The file system's block size (`f_bsize`).
    pub block_size: u64,
    /// The unit of the counts below (`f_frsize`).
    pub fragment_size: u64,
    /// Fragments in the file system (`f_blocks`).
    pub fragments: u64,
    /// Fragments free (`f_bfree`).
    pub free_fragments: u64,
}

/// The status of the file system mounted at (or holding) `path`.
pub fn file_system_status(path: impl AsRef<[u8]>) -> Result<FileSystemStatus, RumpError> {
    /// `ST_WAIT`: counts brought up to date first.
    const WAIT: c_int = 1;
    let path = c_text(path)?;
    // NetBSD's `struct statvfs` (about 2.3 KiB) begins with four `unsigned long` and
    // then the 64-bit counts; the room given is larger than any version of it, and
    // only those leading words, whose places never changed, are read.
    let mut words = vec![0u64; 512];
    // SAFETY: `path` is NUL-terminated; the kernel writes one `struct statvfs`, which
    // fits in the 4 KiB of `words`.
    let result =
        unsafe { bindings::rump_sys_statvfs1(path.as_ptr(), words.as_mut_ptr().cast(), WAIT) };
    check("statvfs", result.into())?;
    Ok(FileSystemStatus {
        flags: words[0],
        block_size: words[1],
        fragment_size: words[2],
        fragments: words[4],
        free_fragments: words[5],
    })
}

/// Names in the directory at `path`, including `.` and `..`.
pub fn read_directory(path: impl AsRef<[u8]>) -> Result<Vec<String>, RumpError> {
    Ok(directory_entries(path)?
        .into_iter()
        .map(|entry| String::from_utf8_lossy(&entry.name).into_owned())
        .collect())
}

/// What a directory entry names, as `getdents` reports it (`d_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// `DT_DIR`.
    Directory,
    /// `DT_REG`.
    Regular,
    /// Anything else, or not reported (`DT_UNKNOWN`).
    Other,
}

/// One entry of a directory: its name's bytes, its inode and its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The name as the file system holds it (not necessarily UTF-8).
    pub name: Vec<u8>,
    /// Its inode number.
    pub inode: u64,
    /// What it is.
    pub kind: EntryKind,
}

/// Every entry of the directory at `path`, including `.` and `..`, names as bytes.
pub fn directory_entries(path: impl AsRef<[u8]>) -> Result<Vec<DirectoryEntry>, RumpError> {
    let directory = File::open(path, OpenMode::default())?;
    let mut entries = Vec::new();
    let mut buffer = vec![0u8; 8192];
    loop {
        // SAFETY: the kernel writes at most `buffer.len()` bytes of dirents into `buffer`.
        let result = unsafe {
            bindings::rump_sys_getdents(
                directory.descriptor,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        let length = usize::try_from(check("getdents", result.into())?).unwrap_or(0);
        if length == 0 {
            return Ok(entries);
        }
        parse_entries(&buffer[..length], |name, inode, kind| {
            entries.push(DirectoryEntry {
                name: name.to_vec(),
                inode,
                kind: match kind {
                    4 => EntryKind::Directory,
                    8 => EntryKind::Regular,
                    _ => EntryKind::Other,
                },
            });
        })?;
    }
}

/// Parses NetBSD `struct dirent` records: inode (8), record length (2), name length (2),
/// type (1), name; calls `entry` with the name, inode and type of each `struct dirent` in `bytes`.
fn parse_entries(mut bytes: &[u8], mut entry: impl FnMut(&[u8], u64, u8)) -> Result<(), RumpError> {
    while !bytes.is_empty() {
        let header = bytes.get(..13).ok_or(RumpError::MalformedDirectoryEntry)?;
        let record = usize::from(u16::from_ne_bytes([header[8], header[9]]));
        let name_length = usize::from(u16::from_ne_bytes([header[10], header[11]]));
        if record < 13 || record > bytes.len() || 13 + name_length > record {
            return Err(RumpError::MalformedDirectoryEntry);
        }
        let mut inode = [0u8; 8];
        inode.copy_from_slice(&header[..8]);
        entry(
            &bytes[13..13 + name_length],
            u64::from_ne_bytes(inode),
            header[12],
        );
        bytes = &bytes[record..];
    }
    Ok(())
}

/// An open file inside the rump kernel; closed on drop.
#[derive(Debug)]
pub struct File {
    descriptor: c_int,
}

impl File {
    /// Opens `path`.
    pub fn open(path: impl AsRef<[u8]>, mode: OpenMode) -> Result<File, RumpError> {
        let path = c_text(path)?;
        let mut flags = if mode.write {
            bindings::RUMP_O_RDWR
        } else {
            bindings::RUMP_O_RDONLY
        };
        if mode.create {
            flags |= bindings::RUMP_O_CREAT;
        }
        if mode.exclusive {
            flags |= bindings::RUMP_O_EXCL;
        }
        if mode.truncate {
            flags |= bindings::RUMP_O_TRUNC;
        }
        let flags = c_int::try_from(flags).unwrap_or(0);
        // SAFETY: `path` is NUL-terminated; the mode argument is read with O_CREAT.
        let result = unsafe { bindings::rump_sys_open(path.as_ptr(), flags, 0o644) };
        let descriptor = check("open", result.into())?;
        Ok(File {
            descriptor: c_int::try_from(descriptor).unwrap_or(-1),
        })
    }

    /// Writes from `bytes`, returning how many were written.
    pub fn write(&self, bytes: &[u8]) -> Result<usize, RumpError> {
        // SAFETY: the kernel reads at most `bytes.len()` bytes from `bytes`.
        let result = unsafe {
            bindings::rump_sys_write(self.descriptor, bytes.as_ptr().cast(), bytes.len())
        };
        check("write", result as i64).map(|count| count as usize)
    }

    /// Reads into `bytes`, returning how many were read (0 at end of file).
    pub fn read(&self, bytes: &mut [u8]) -> Result<usize, RumpError> {
        // SAFETY: the kernel writes at most `bytes.len()` bytes into `bytes`.
        let result = unsafe {
            bindings::rump_sys_read(self.descriptor, bytes.as_mut_ptr().cast(), bytes.len())
        };
        check("read", result as i64).map(|count| count as usize)
    }

    /// Moves the file position to `offset` from the start.
    pub fn seek_to(&self, offset: i64) -> Result<(), RumpError> {
        // SAFETY: lseek takes plain integers.
        let result = unsafe { bindings::rump_sys_lseek(self.descriptor, offset, 0) };
        check("lseek", result).map(drop)
    }

    /// Makes the file's writes durable.
    pub fn sync(&self) -> Result<(), RumpError> {
        // SAFETY: fsync takes a plain descriptor.
        let result = unsafe { bindings::rump_sys_fsync(self.descriptor) };
        check("fsync", result.into()).map(drop)
    }

    /// Status of the open file.
    pub fn status(&self) -> Result<FileStatus, RumpError> {
        let mut status = FileStatus::default();
        // SAFETY: `status` has NetBSD's `struct stat` layout and is writable.
        let result = unsafe { bindings::rump_sys_fstat(self.descriptor, (&raw mut status).cast()) };
        check("fstat", result.into())?;
        Ok(status)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe { bindings::rump_sys_close(self.descriptor) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netbsd_structures_have_their_sizes() {
        assert_eq!(core::mem::size_of::<FileStatus>(), 152);
        assert_eq!(core::mem::size_of::<TmpfsArguments>(), 40);
    }

    #[test]
    fn directory_entries_keep_their_bytes_inode_and_kind() {
        let mut bytes = Vec::new();
        for (inode, name, kind) in [(2u64, &b"."[..], 4u8), (7, b"\xffhidden", 8)] {
            let record = (13 + name.len() + 1).next_multiple_of(8);
            bytes.extend_from_slice(&inode.to_ne_bytes());
            bytes.extend_from_slice(&(record as u16).to_ne_bytes());
            bytes.extend_from_slice(&(name.len() as u16).to_ne_bytes());
            bytes.push(kind);
            bytes.extend_from_slice(name);
            bytes.resize(bytes.len() + record - 13 - name.len(), 0);
        }
        let mut seen = Vec::new();
        parse_entries(&bytes, |name, inode, kind| {
            seen.push((name.to_vec(), inode, kind))
        })
        .expect("well formed");
        assert_eq!(
            seen,
            [(b".".to_vec(), 2, 4), (b"\xffhidden".to_vec(), 7, 8)]
        );
        assert_eq!(
            parse_entries(&bytes[..20], |_, _, _| {}),
            Err(RumpError::MalformedDirectoryEntry)
        );
    }
}
