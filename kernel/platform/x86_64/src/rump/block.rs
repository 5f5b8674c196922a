//! The block class over NetBSD's `ld` disk driver at virtio, in the rump kernel.
//!
//! The disk is NetBSD's raw whole-disk device (`/dev/rld0d`: the raw partition,
//! which no disklabel bounds), read and written with `pread`/`pwrite` at block
//! offsets on the rump kernel's thread ([`super::worker::call`]). Geometry comes
//! from NetBSD (`DIOCGSECTORSIZE`, `DIOCGMEDIASIZE`); a flush is `DIOCCACHESYNC`,
//! which this NetBSD's `ld` at virtio refuses as unknown: its driver never negotiates
//! the virtio flush feature, so the device writes through and a completed write is
//! durable already (see [`RumpDisk::flush`]).
//! Every request is checked against that geometry here first
//! ([`ethos_devices::check_block_request`]), as every backend does, so a request
//! beyond the disk never reaches NetBSD. An I/O error NetBSD reports for a request
//! is [`BlockError::Io`] at the request's first block.

use core::ffi::{CStr, c_int, c_uint, c_void};

use ethos_devices::{BlockDevice, BlockError, check_block_request};
use rump_sys::NetbsdErrno;
use rump_sys::bindings;

use super::{answered, last_errno, worker};

/// NetBSD's raw whole-disk device of the first `ld` unit.
pub const WHOLE_DISK: &CStr = c"/dev/rld0d";

/// `DIOCGSECTORSIZE`: `_IOR('d', 133, u_int)`.
const DIOCGSECTORSIZE: u64 = 0x4004_6485;
/// `DIOCGMEDIASIZE`: `_IOR('d', 132, off_t)`.
const DIOCGMEDIASIZE: u64 = 0x4008_6484;
/// `DIOCCACHESYNC`: `_IOW('d', 118, int)`.
const DIOCCACHESYNC: u64 = 0x8004_6476;
const ENOTTY: c_int = 25;
const ENODEV: c_int = 19;

/// NetBSD's `ld0`, as a block device.
#[derive(Debug)]
pub struct RumpDisk {
    descriptor: c_int,
    block_size: usize,
    capacity: u64,
}

impl RumpDisk {
    /// Opens the whole disk and reads its geometry; the error names what failed.
    pub fn open() -> Result<RumpDisk, alloc::string::String> {
        worker::call(|| {
            // SAFETY: the path is NUL-terminated; no mode follows without O_CREAT.
            let descriptor = unsafe {
                bindings::rump_sys_open(WHOLE_DISK.as_ptr(), bindings::RUMP_O_RDWR as c_int)
            };
            if descriptor < 0 {
                return Err(alloc::format!(
                    "{}: open: {}",
                    WHOLE_DISK.to_string_lossy(),
                    NetbsdErrno::from_netbsd(last_errno())
                ));
            }
            let mut sector: c_uint = 0;
            let mut media: i64 = 0;
            // SAFETY: each request writes one value of the type passed.
            let sector_status =
                unsafe { bindings::rump_sys_ioctl(descriptor, DIOCGSECTORSIZE, &raw mut sector) };
            // SAFETY: as above.
            let media_status =
                unsafe { bindings::rump_sys_ioctl(descriptor, DIOCGMEDIASIZE, &raw mut media) };
            if sector_status != 0 || media_status != 0 || sector == 0 || media < 0 {
                let errno = last_errno();
                // SAFETY: opened above, closed once.
                unsafe { bindings::rump_sys_close(descriptor) };
                return Err(alloc::format!(
                    "{}: no geometry: {}",
                    WHOLE_DISK.to_string_lossy(),
                    NetbsdErrno::from_netbsd(errno)
                ));
            }
            Ok(RumpDisk {
                descriptor,
                block_size: sector as usize,
                capacity: media as u64 / u64::from(sector),
            })
        })
    }

    fn offset(&self, first_block: u64) -> i64 {
        (first_block * self.block_size as u64) as i64
    }
}

impl BlockDevice for RumpDisk {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn capacity_blocks(&self) -> u64 {
        self.capacity
    }

    fn read_blocks(&mut self, first_block: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        check_block_request(first_block, buffer.len(), self.block_size, self.capacity)?;
        let (descriptor, offset, length) =
            (self.descriptor, self.offset(first_block), buffer.len());
        let read = worker::call(|| {
            // SAFETY: NetBSD writes at most `length` bytes into `buffer`.
            answered(unsafe {
                bindings::rump_sys_pread(
                    descriptor,
                    buffer.as_mut_ptr().cast::<c_void>(),
                    length,
                    offset,
                )
            })
        });
        transferred("read", first_block, length, read)
    }

    fn write_blocks(&mut self, first_block: u64, data: &[u8]) -> Result<(), BlockError> {
        check_block_request(first_block, data.len(), self.block_size, self.capacity)?;
        let (descriptor, offset, length) = (self.descriptor, self.offset(first_block), data.len());
        let written = worker::call(|| {
            // SAFETY: NetBSD reads `length` bytes of `data`.
            answered(unsafe {
                bindings::rump_sys_pwrite(
                    descriptor,
                    data.as_ptr().cast::<c_void>(),
                    length,
                    offset,
                )
            })
        });
        match written {
            Err(errno) if errno == NetbsdErrno::EROFS.value() => Err(BlockError::ReadOnly),
            other => transferred("write", first_block, length, other),
        }
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        let descriptor = self.descriptor;
        let status = worker::call(|| {
            let force: c_int = 1;
            // SAFETY: the request reads one int.
            let status =
                unsafe { bindings::rump_sys_ioctl(descriptor, DIOCCACHESYNC, &raw const force) };
            if status != 0 {
                Err(last_errno())
            } else {
                Ok(())
            }
        });
        match status {
            Ok(()) => Ok(()),
            // This NetBSD's ld has no cache-flush request (ENOTTY) because its virtio
            // driver never negotiates the flush feature; a virtio disk whose driver
            // did not negotiate it writes through (the virtio specification asks it to
            // commit writes before completing them, and QEMU turns its write cache off),
            // so every completed write is durable already and there is nothing to flush.
            Err(errno) if errno == ENOTTY => Ok(()),
            Err(errno) if errno == ENODEV => Err(BlockError::Unsupported),
            Err(errno) => {
                tracing::warn!(errno = %NetbsdErrno::from_netbsd(errno), "rump: ld0 cache flush failed");
                Err(BlockError::Device)
            }
        }
    }
}

impl Drop for RumpDisk {
    /// Closes the raw disk, so NetBSD's FFS can open the disk's block device (the
    /// rump store takes the block class's device and drops it before it mounts).
    fn drop(&mut self) {
        let descriptor = self.descriptor;
        worker::call(|| {
            // SAFETY: the descriptor was opened by `open`, is owned by this value and
            // is closed once.
            unsafe { bindings::rump_sys_close(descriptor) };
        });
    }
}

/// The block class's answer for a transfer of `length` bytes that moved `moved`:
/// anything short of the whole request is an I/O error at its first block.
fn transferred(
    what: &'static str,
    first_block: u64,
    length: usize,
    moved: Result<usize, c_int>,
) -> Result<(), BlockError> {
    match moved {
        Ok(count) if count == length => Ok(()),
        Ok(count) => {
            tracing::warn!(
                what,
                first_block,
                length,
                count,
                "rump: short transfer on ld0"
            );
            Err(BlockError::Io { first_block })
        }
        Err(errno) => {
            tracing::warn!(what, first_block, length, errno = %NetbsdErrno::from_netbsd(errno), "rump: ld0 transfer failed");
            Err(BlockError::Io { first_block })
        }
    }
}
