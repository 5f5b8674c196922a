//! Shells of the host file hypercalls: open, close, getfileinfo, iovread, iovwrite, syncfd
//! (spec §3.4). Block I/O is in [`super::block_io`].
//!
//! Every call that touches a file releases the virtual CPU around the host call.

use alloc::vec::Vec;
use core::ffi::{c_char, c_int};

use super::status;
use crate::abi::{
    FILE_TYPE_BLOCK, FILE_TYPE_CHARACTER, FILE_TYPE_DIRECTORY, FILE_TYPE_OTHER, FILE_TYPE_REGULAR,
    IOV_NOSEEK, OPEN_ACCMODE, OPEN_BIO, OPEN_CREATE, OPEN_EXCL, OPEN_RDONLY, OPEN_RDWR,
    OPEN_WRONLY, RumpuserIovec, SYNCFD_BARRIER, SYNCFD_READ, SYNCFD_SYNC, SYNCFD_WRITE,
};
use crate::error::HypercallError;
use crate::host::{self, FileKind, IoBuffer, IoBufferMut, OpenOptions};
use crate::pointer::{self, ForeignPointer};
use crate::upcall;

/// Decodes `RUMPUSER_OPEN_*` flags.
pub fn open_options(mode: c_int) -> Result<OpenOptions, HypercallError> {
    let known = OPEN_ACCMODE | OPEN_CREATE | OPEN_EXCL | OPEN_BIO;
    if mode & !known != 0 {
        return Err(HypercallError::InvalidArgument);
    }
    let (read, write) = match mode & OPEN_ACCMODE {
        OPEN_RDONLY => (true, false),
        OPEN_WRONLY => (false, true),
        OPEN_RDWR => (true, true),
        _ => return Err(HypercallError::InvalidArgument),
    };
    Ok(OpenOptions {
        read,
        write,
        create: mode & OPEN_CREATE != 0,
        exclusive: mode & OPEN_EXCL != 0,
    })
}

/// `int rumpuser_open(const char *name, int mode, int *fdp)`
///
/// # Safety
/// `name` must be a NUL-terminated string; `handle_out` writable for one `int`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_open(
    name: *const c_char,
    mode: c_int,
    handle_out: *mut c_int,
) -> c_int {
    status((|| {
        // SAFETY: forwarded caller promise.
        let path = unsafe { pointer::c_string(name) }?;
        let out = ForeignPointer::check(handle_out, 1)?;
        let options = open_options(mode)?;
        let handle = upcall::while_unscheduled(|| host::active().open(path, options))?;
        // SAFETY: checked; writability is the caller's promise.
        unsafe { out.write(handle) };
        Ok(())
    })())
}

/// `int rumpuser_close(int fd)`
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_close(handle: c_int) -> c_int {
    status(upcall::while_unscheduled(|| host::active().close(handle)))
}

/// `int rumpuser_getfileinfo(const char *name, uint64_t *size, int *type)`; either
/// out-pointer may be null.
///
/// # Safety
/// `name` must be a NUL-terminated string; non-null out-pointers writable.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_getfileinfo(
    name: *const c_char,
    size_out: *mut u64,
    type_out: *mut c_int,
) -> c_int {
    status((|| {
        // SAFETY: forwarded caller promise.
        let path = unsafe { pointer::c_string(name) }?;
        let size_out = ForeignPointer::check_optional(size_out, 1)?;
        let type_out = ForeignPointer::check_optional(type_out, 1)?;
        let info = upcall::while_unscheduled(|| host::active().file_info(path))?;
        let kind = match info.kind {
            FileKind::Other => FILE_TYPE_OTHER,
            FileKind::Directory => FILE_TYPE_DIRECTORY,
            FileKind::Regular => FILE_TYPE_REGULAR,
            FileKind::BlockDevice => FILE_TYPE_BLOCK,
            FileKind::CharacterDevice => FILE_TYPE_CHARACTER,
        };
        // SAFETY: checked; writability is the caller's promise.
        unsafe {
            if let Some(out) = size_out {
                out.write(info.size);
            }
            if let Some(out) = type_out {
                out.write(kind);
            }
        }
        Ok(())
    })())
}

fn offset_from(raw: i64) -> Result<Option<u64>, HypercallError> {
    if raw == IOV_NOSEEK {
        return Ok(None);
    }
    u64::try_from(raw)
        .map(Some)
        .map_err(|_| HypercallError::InvalidArgument)
}

/// Checks the iovec array and each buffer it names.
///
/// # Safety
/// `vectors` must point to `count` iovecs whose buffers stay valid and unaliased for `'a`.
unsafe fn checked_vectors<'a>(
    vectors: *const RumpuserIovec,
    count: usize,
) -> Result<Vec<&'a mut [u8]>, HypercallError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let array = ForeignPointer::check(vectors, count)?;
    // SAFETY: checked range; liveness is the caller's promise.
    let array = unsafe { array.as_slice() };
    array
        .iter()
        .map(|vector| {
            // SAFETY: forwarded caller promise about each buffer.
            unsafe { pointer::byte_buffer(vector.base.cast(), vector.length) }
        })
        .collect()
}

/// `int rumpuser_iovread(int fd, struct rumpuser_iovec *iov, size_t iovlen, int64_t off,
/// size_t *retv)`
///
/// # Safety
/// `vectors` must describe `count` writable buffers; `count_out` writable.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_iovread(
    handle: c_int,
    vectors: *mut RumpuserIovec,
    count: usize,
    offset: i64,
    count_out: *mut usize,
) -> c_int {
    status((|| {
        let out = ForeignPointer::check(count_out, 1)?;
        let offset = offset_from(offset)?;
        // SAFETY: forwarded caller promise.
        let buffers = unsafe { checked_vectors(vectors, count) }?;
        let mut slices: Vec<IoBufferMut<'_>> = buffers.into_iter().map(IoBufferMut::new).collect();
        let read = upcall::while_unscheduled(|| {
            host::active().read_vectored(handle, &mut slices, offset)
        })?;
        // SAFETY: checked; writability is the caller's promise.
        unsafe { out.write(read) };
        Ok(())
    })())
}

/// `int rumpuser_iovwrite(int fd, const struct rumpuser_iovec *iov, size_t iovlen,
/// int64_t off, size_t *retv)`
///
/// # Safety
/// `vectors` must describe `count` readable buffers; `count_out` writable.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_iovwrite(
    handle: c_int,
    vectors: *const RumpuserIovec,
    count: usize,
    offset: i64,
    count_out: *mut usize,
) -> c_int {
    status((|| {
        let out = ForeignPointer::check(count_out, 1)?;
        let offset = offset_from(offset)?;
        // SAFETY: forwarded caller promise; the buffers are only read.
        let buffers = unsafe { checked_vectors(vectors, count) }?;
        let slices: Vec<IoBuffer<'_>> =
            buffers.iter().map(|buffer| IoBuffer::new(buffer)).collect();
        let written =
            upcall::while_unscheduled(|| host::active().write_vectored(handle, &slices, offset))?;
        // SAFETY: checked; writability is the caller's promise.
        unsafe { out.write(written) };
        Ok(())
    })())
}

/// `int rumpuser_syncfd(int fd, int flags, uint64_t start, uint64_t len)`
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_syncfd(handle: c_int, flags: c_int, _start: u64, _length: u64) -> c_int {
    let known = SYNCFD_READ | SYNCFD_WRITE | SYNCFD_BARRIER | SYNCFD_SYNC;
    if flags & !known != 0 {
        return HypercallError::InvalidArgument.errno().value();
    }
    // Reads are always coherent on the host; only writes need flushing.
    if flags & (SYNCFD_WRITE | SYNCFD_BARRIER | SYNCFD_SYNC) == 0 {
        return 0;
    }
    status(upcall::while_unscheduled(|| host::active().sync(handle)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_modes_decode() {
        let options = open_options(OPEN_RDWR | OPEN_CREATE | OPEN_BIO).unwrap();
        assert!(options.read && options.write && options.create && !options.exclusive);
        let options = open_options(OPEN_RDONLY).unwrap();
        assert!(options.read && !options.write);
        assert_eq!(
            open_options(0x3).unwrap_err(),
            HypercallError::InvalidArgument
        );
        assert_eq!(
            open_options(0x100).unwrap_err(),
            HypercallError::InvalidArgument
        );
    }
}
