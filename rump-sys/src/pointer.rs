//! Pointers and lengths handed over by rump kernel C code, treated as allegations: one
//! checked constructor ([`ForeignPointer::check`]) rejects null, misaligned and wrapping
//! ranges before anything is read or written.
//!
//! A checked pointer is still only as valid as the C caller's promise about lifetime and
//! aliasing; those promises are stated at each `unsafe` access. This module must never
//! dereference anything it has not checked.

use core::ffi::{CStr, c_char};
use core::ptr::NonNull;

use crate::error::HypercallError;

/// A pointer to `count` values of `T` from C code, checked for null, alignment and overflow.
#[derive(Debug)]
pub struct ForeignPointer<T> {
    start: NonNull<T>,
    count: usize,
}

impl<T> ForeignPointer<T> {
    /// Checks an alleged pointer to `count` consecutive values of `T`.
    pub fn check(raw: *const T, count: usize) -> Result<ForeignPointer<T>, HypercallError> {
        let start = NonNull::new(raw.cast_mut()).ok_or(HypercallError::NullPointer)?;
        if !raw
            .cast::<u8>()
            .addr()
            .is_multiple_of(core::mem::align_of::<T>())
        {
            return Err(HypercallError::MisalignedPointer);
        }
        let bytes = count
            .checked_mul(core::mem::size_of::<T>())
            .ok_or(HypercallError::LengthOverflow)?;
        raw.addr()
            .checked_add(bytes)
            .filter(|end| *end <= isize::MAX as usize)
            .ok_or(HypercallError::LengthOverflow)?;
        Ok(ForeignPointer { start, count })
    }

    /// Checks an alleged pointer that may legitimately be null (an optional out-argument).
    pub fn check_optional(
        raw: *const T,
        count: usize,
    ) -> Result<Option<ForeignPointer<T>>, HypercallError> {
        if raw.is_null() {
            Ok(None)
        } else {
            ForeignPointer::check(raw, count).map(Some)
        }
    }

    /// The checked address.
    pub fn as_ptr(&self) -> *mut T {
        self.start.as_ptr()
    }

    /// The first value, shared.
    ///
    /// # Safety
    /// The C caller must keep the object alive and unmodified by others for `'a`.
    pub unsafe fn as_ref<'a>(&self) -> &'a T {
        // SAFETY: non-null and aligned by `check`; liveness is the caller's promise.
        unsafe { self.start.as_ref() }
    }

    /// The values, shared.
    ///
    /// # Safety
    /// The C caller must keep the `count` values alive and unmodified by others for `'a`.
    pub unsafe fn as_slice<'a>(&self) -> &'a [T] {
        // SAFETY: non-null, aligned and not wrapping by `check`; liveness as promised.
        unsafe { core::slice::from_raw_parts(self.start.as_ptr(), self.count) }
    }

    /// The values, exclusively.
    ///
    /// # Safety
    /// The C caller must keep the `count` values alive and accessed by nobody else for `'a`.
    pub unsafe fn as_mut_slice<'a>(&self) -> &'a mut [T] {
        // SAFETY: non-null, aligned and not wrapping by `check`; exclusivity as promised.
        unsafe { core::slice::from_raw_parts_mut(self.start.as_ptr(), self.count) }
    }

    /// Stores `value` into the first element (an out-argument).
    ///
    /// # Safety
    /// The pointed-to memory must be writable for one `T`.
    pub unsafe fn write(&self, value: T) {
        // SAFETY: non-null and aligned by `check`; writability is the caller's promise.
        unsafe { self.start.as_ptr().write(value) };
    }
}

/// A NUL-terminated string from C code.
///
/// # Safety
/// If non-null, `raw` must point to a NUL-terminated string that stays alive and unmodified
/// for `'a`.
pub unsafe fn c_string<'a>(raw: *const c_char) -> Result<&'a CStr, HypercallError> {
    let checked = ForeignPointer::check(raw, 1)?;
    // SAFETY: non-null by `check`; termination and lifetime are the caller's promise.
    Ok(unsafe { CStr::from_ptr(checked.as_ptr()) })
}

/// A byte buffer from C code; a zero length accepts a null pointer.
///
/// # Safety
/// If `length` is nonzero, `raw` must point to `length` writable bytes that nobody else
/// accesses for `'a`.
pub unsafe fn byte_buffer<'a>(raw: *mut u8, length: usize) -> Result<&'a mut [u8], HypercallError> {
    if length == 0 {
        return Ok(&mut []);
    }
    let checked = ForeignPointer::check(raw, length)?;
    // SAFETY: checked range; exclusivity is the caller's promise.
    Ok(unsafe { checked.as_mut_slice() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_misaligned_and_wrapping_pointers_are_rejected() {
        assert_eq!(
            ForeignPointer::<u64>::check(core::ptr::null(), 1).unwrap_err(),
            HypercallError::NullPointer
        );
        let misaligned = 0x1001usize as *const u64;
        assert_eq!(
            ForeignPointer::check(misaligned, 1).unwrap_err(),
            HypercallError::MisalignedPointer
        );
        let high = (usize::MAX - 7) as *const u64;
        assert_eq!(
            ForeignPointer::check(high, 2).unwrap_err(),
            HypercallError::LengthOverflow
        );
        assert!(
            ForeignPointer::<u64>::check_optional(core::ptr::null(), 1)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn checked_strings_and_buffers_read_back() {
        let text = c"rumpclk0";
        // SAFETY: `text` is a live NUL-terminated literal.
        let read = unsafe { c_string(text.as_ptr()) }.unwrap();
        assert_eq!(read.to_str().unwrap(), "rumpclk0");
        let mut storage = [0u8; 4];
        // SAFETY: `storage` is a live local buffer of 4 bytes.
        let buffer = unsafe { byte_buffer(storage.as_mut_ptr(), storage.len()) }.unwrap();
        buffer.copy_from_slice(b"abcd");
        assert_eq!(&storage, b"abcd");
        // SAFETY: a zero-length buffer is never accessed.
        let empty = unsafe { byte_buffer(core::ptr::null_mut(), 0) }.unwrap();
        assert!(empty.is_empty());
    }
}
