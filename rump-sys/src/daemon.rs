//! Daemonisation (`rumpuser_daemonize_begin/done`): the process forks before the rump kernel
//! boots; the parent waits for the child to report the outcome of `rump_init` and exits with
//! it, the child carries on in a new session.
//!
//! `begin` must run before any thread exists (before `rump_init`). Hosted only.

use std::sync::Mutex;

use crate::error::HypercallError;

/// The child's end of the report channel, present between `begin` and `done`.
static REPORT_CHANNEL: Mutex<Option<i32>> = Mutex::new(None);

/// Forks; returns in the child, ends the parent once the child reports.
pub fn begin() -> Result<(), HypercallError> {
    let mut channel = REPORT_CHANNEL
        .lock()
        .map_err(|_| HypercallError::InvalidArgument)?;
    if channel.is_some() {
        return Err(HypercallError::Host(crate::errno::NetbsdErrno::EINPROGRESS));
    }
    let mut ends = [0i32; 2];
    // SAFETY: `ends` is a writable array of two descriptors.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(HypercallError::last_host_error());
    }
    let [read_end, write_end] = ends;
    // SAFETY: called before the rump kernel starts threads, so the child is a full copy.
    match unsafe { libc::fork() } {
        -1 => Err(HypercallError::last_host_error()),
        0 => {
            // SAFETY: plain descriptor and session calls in the child.
            unsafe {
                libc::close(read_end);
                libc::setsid();
            }
            *channel = Some(write_end);
            Ok(())
        }
        _child => {
            // SAFETY: plain descriptor calls in the parent.
            unsafe { libc::close(write_end) };
            let mut report = [0u8; 4];
            // SAFETY: `report` is a writable buffer of 4 bytes.
            let count = unsafe { libc::read(read_end, report.as_mut_ptr().cast(), report.len()) };
            let status = if count == 4 {
                i32::from_ne_bytes(report)
            } else {
                1
            };
            // SAFETY: the parent ends here without running the rump kernel.
            unsafe { libc::_exit(status) }
        }
    }
}

/// Reports `error` to the waiting parent; on success detaches standard I/O.
pub fn done(error: i32) -> Result<(), HypercallError> {
    let mut channel = REPORT_CHANNEL
        .lock()
        .map_err(|_| HypercallError::InvalidArgument)?;
    let write_end = channel
        .take()
        .ok_or(HypercallError::Host(crate::errno::NetbsdErrno::ENOENT))?;
    let report = error.to_ne_bytes();
    // SAFETY: `report` is a readable buffer of 4 bytes; the descriptor is ours.
    let written = unsafe { libc::write(write_end, report.as_ptr().cast(), report.len()) };
    // SAFETY: closing our own descriptor once.
    unsafe { libc::close(write_end) };
    if written != 4 {
        return Err(HypercallError::last_host_error());
    }
    if error == 0 {
        // SAFETY: opening /dev/null and duplicating it over the standard descriptors.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null != -1 {
                libc::dup2(null, 0);
                libc::dup2(null, 1);
                libc::dup2(null, 2);
                if null > 2 {
                    libc::close(null);
                }
            }
        }
    }
    Ok(())
}
