//! On the host: a disk for the store, made by NetBSD's `makefs -t ffs` (Debian's
//! `makefs` package) from a directory holding just the root's record file.
//!
//! The disk is UFS2 (64-bit times and sizes), with an inode for every 8 KiB (makefs
//! would otherwise make only as many as the content needs), and the root directory's record
//! ([`crate::format::RECORD`]) as its only content. Never in the kernel.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ethos_fs::DirectoryRecord;

use crate::format::{RECORD, encode_record};

/// Why no disk was made.
#[derive(Debug)]
pub enum ImageError {
    /// The root record is not a valid one.
    Record(ethos_fs::StoreError),
    /// A host file operation failed.
    Io {
        /// The path it was about.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// `makefs` could not be run: it is not installed.
    NoMakefs(std::io::Error),
    /// `makefs` ran and failed.
    Makefs(String),
}

impl fmt::Display for ImageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Record(error) => write!(formatter, "the root record: {error}"),
            ImageError::Io { path, error } => write!(formatter, "{}: {error}", path.display()),
            ImageError::NoMakefs(error) => write!(
                formatter,
                "makefs (NetBSD's, Debian package `makefs`) could not be run: {error}"
            ),
            ImageError::Makefs(output) => write!(formatter, "makefs failed: {output}"),
        }
    }
}

impl std::error::Error for ImageError {}

/// Makes `disk`, `size` bytes (a multiple of 512), holding an empty store whose root
/// has `root` as its record, made at `now`.
pub fn make(disk: &Path, size: u64, root: &DirectoryRecord, now: u64) -> Result<(), ImageError> {
    root.check().map_err(ImageError::Record)?;
    let staging = disk.with_extension("ffs-root");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| ImageError::Io { path, error }
    };
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let record = staging.join(OsStr::from_bytes(RECORD));
    std::fs::write(&record, encode_record(root, now)).map_err(io(&record))?;
    let _ = std::fs::remove_file(disk);
    let output = Command::new("makefs")
        .args(["-t", "ffs", "-o", "version=2,density=8192", "-s"])
        .arg(size.to_string())
        .arg(disk)
        .arg(&staging)
        .output()
        .map_err(ImageError::NoMakefs);
    let _ = std::fs::remove_dir_all(&staging);
    let output = output?;
    if !output.status.success() {
        return Err(ImageError::Makefs(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(())
}
