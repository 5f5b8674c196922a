//! The system call proxy hypercalls (`rumpuser_sp_*`, spec §3.14): what
//! librumpkern_sysproxy needs for `rump_init_server(url)`, so that programs linked with
//! upstream's librumpclient run their system calls in this process's rump kernel.
//!
//! Served: `unix://` and `tcp://` URLs, the guest handshake, system calls, copyin and
//! copyout of bytes and strings, anonymous mappings in the client, signals to the client,
//! and the final reply at halt. Not served: prefork, fork and exec handshakes (clients
//! that fork or exec get an authentication error and are disconnected).
//!
//! Hosted only: the server uses host sockets and threads. The `extern "C"` functions here
//! are shells; they release the virtual CPU around every exchange with the client and must
//! never hold it while waiting on the network.

mod address;
mod server;
pub mod wire;

use alloc::string::ToString;
use core::ffi::{c_char, c_int, c_void};
use core::fmt;

use crate::errno::NetbsdErrno;
use crate::pointer::{self, ForeignPointer};
use crate::upcall::{self, Interlock};
use server::Client;
use wire::Kind;

/// Why a system call proxy operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysproxyError {
    /// The URL is not `unix://PATH` or `tcp://ADDRESS:PORT`.
    BadUrl,
    /// `rumpuser_sp_init` was called twice.
    AlreadyServing,
    /// The client disconnected, or the connection failed.
    NotConnected,
    /// The client could not provide or accept the memory asked for.
    Fault,
    /// The client could not map memory.
    OutOfMemory,
    /// A host call failed.
    Host(NetbsdErrno),
}

impl SysproxyError {
    /// The NetBSD errno the rump kernel gets.
    pub fn errno(self) -> NetbsdErrno {
        match self {
            SysproxyError::BadUrl => NetbsdErrno::EINVAL,
            SysproxyError::AlreadyServing => NetbsdErrno::EBUSY,
            SysproxyError::NotConnected => NetbsdErrno::ENOTCONN,
            SysproxyError::Fault => NetbsdErrno::EFAULT,
            SysproxyError::OutOfMemory => NetbsdErrno::ENOMEM,
            SysproxyError::Host(errno) => errno,
        }
    }
}

impl fmt::Display for SysproxyError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysproxyError::BadUrl => {
                formatter.write_str("server URL is not unix://PATH or tcp://ADDRESS:PORT")
            }
            SysproxyError::AlreadyServing => {
                formatter.write_str("a system call proxy server is already running")
            }
            SysproxyError::NotConnected => formatter.write_str("the client is not connected"),
            SysproxyError::Fault => {
                formatter.write_str("the client could not copy the memory asked for")
            }
            SysproxyError::OutOfMemory => formatter.write_str("the client could not map memory"),
            SysproxyError::Host(errno) => formatter.write_str(errno.message()),
        }
    }
}

impl From<std::io::Error> for SysproxyError {
    fn from(error: std::io::Error) -> SysproxyError {
        SysproxyError::Host(NetbsdErrno::from_host(
            error.raw_os_error().unwrap_or(libc::EIO),
        ))
    }
}

fn status(result: Result<(), SysproxyError>) -> c_int {
    match result {
        Ok(()) => 0,
        Err(error) => error.errno().value(),
    }
}

/// The client behind a cookie the kernel hands back.
///
/// # Safety
/// `cookie` must be null or a cookie this module gave to `hyp_lwproc_rfork`.
unsafe fn client<'a>(cookie: *mut c_void) -> Result<&'a Client, SysproxyError> {
    let checked = ForeignPointer::check(cookie.cast::<Client>().cast_const(), 1)
        .map_err(|_| SysproxyError::NotConnected)?;
    // SAFETY: such clients are never freed (see `server::handshake`).
    Ok(unsafe { checked.as_ref() })
}

/// Runs an exchange with a client with the virtual CPU released.
fn unscheduled<R>(exchange: impl FnOnce() -> R) -> R {
    let count = upcall::unschedule(Interlock::NONE);
    let result = exchange();
    upcall::schedule(count, Interlock::NONE);
    result
}

/// `int rumpuser_sp_init(const char *url, const char *ostype, const char *osrelease,
/// const char *machine)`
///
/// # Safety
/// All four must be NUL-terminated strings.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_sp_init(
    url: *const c_char,
    ostype: *const c_char,
    osrelease: *const c_char,
    machine: *const c_char,
) -> c_int {
    let text = |raw| {
        // SAFETY: forwarded caller promise.
        unsafe { pointer::c_string(raw) }
            .map(|text| text.to_string_lossy().to_string())
            .map_err(|_| SysproxyError::BadUrl)
    };
    status((|| {
        let banner = wire::banner(&text(ostype)?, &text(osrelease)?, &text(machine)?);
        server::start(&text(url)?, banner)
    })())
}

/// Copies from the client; `Some(limit)` asks for a string of at most that many bytes.
///
/// # Safety
/// `local` must be writable for `length` bytes.
unsafe fn copy_in(
    cookie: *mut c_void,
    remote: *const c_void,
    local: *mut c_void,
    length: usize,
    string: bool,
) -> Result<usize, SysproxyError> {
    // SAFETY: forwarded caller promise.
    let client = unsafe { client(cookie) }?;
    // SAFETY: forwarded caller promise.
    let local =
        unsafe { pointer::byte_buffer(local.cast(), length) }.map_err(|_| SysproxyError::Fault)?;
    let kind = if string {
        Kind::CopyInString
    } else {
        Kind::CopyIn
    };
    let body = wire::copy_request_body(length, remote.addr());
    let data = unscheduled(|| client.request(kind, &body)).map_err(|_| SysproxyError::Fault)?;
    if data.len() > length || (!string && data.len() != length) {
        return Err(SysproxyError::Fault);
    }
    local[..data.len()].copy_from_slice(&data);
    Ok(data.len())
}

/// `int rumpuser_sp_copyin(void *client, const void *raddr, void *laddr, size_t len)`
///
/// # Safety
/// `local` must be writable for `length` bytes; `cookie` from the kernel.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_sp_copyin(
    cookie: *mut c_void,
    remote: *const c_void,
    local: *mut c_void,
    length: usize,
) -> c_int {
    // SAFETY: forwarded caller promises.
    status(unsafe { copy_in(cookie, remote, local, length, false) }.map(|_| ()))
}

/// `int rumpuser_sp_copyinstr(void *client, const void *raddr, void *laddr, size_t *len)`
///
/// # Safety
/// `length` must be readable and writable; `local` writable for `*length` bytes.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_sp_copyinstr(
    cookie: *mut c_void,
    remote: *const c_void,
    local: *mut c_void,
    length: *mut usize,
) -> c_int {
    status((|| {
        let length = ForeignPointer::check(length, 1).map_err(|_| SysproxyError::Fault)?;
        // SAFETY: checked; readability is the caller's promise.
        let limit = unsafe { *length.as_ref() };
        // SAFETY: forwarded caller promises.
        let copied = unsafe { copy_in(cookie, remote, local, limit, true) }?;
        // SAFETY: checked; writability is the caller's promise.
        unsafe { length.write(copied) };
        Ok(())
    })())
}

/// Sends bytes to the client's memory (no reply; upstream sends strings the same way).
///
/// # Safety
/// `local` must be readable for `length` bytes.
unsafe fn copy_out(
    cookie: *mut c_void,
    local: *const c_void,
    remote: *mut c_void,
    length: usize,
) -> Result<(), SysproxyError> {
    // SAFETY: forwarded caller promise.
    let client = unsafe { client(cookie) }?;
    let data =
        ForeignPointer::check(local.cast::<u8>(), length).map_err(|_| SysproxyError::Fault)?;
    // SAFETY: checked; readability is the caller's promise.
    let data = unsafe { data.as_slice() };
    let body = wire::copy_request_body(length, remote.addr());
    unscheduled(|| client.notify(Kind::CopyOut, 0, &[&body, data]))
        .map_err(|_| SysproxyError::Fault)
}

/// `int rumpuser_sp_copyout(void *client, const void *laddr, void *raddr, size_t len)`
///
/// # Safety
/// `local` must be readable for `length` bytes; `cookie` from the kernel.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_sp_copyout(
    cookie: *mut c_void,
    local: *const c_void,
    remote: *mut c_void,
    length: usize,
) -> c_int {
    // SAFETY: forwarded caller promises.
    status(unsafe { copy_out(cookie, local, remote, length) })
}

/// `int rumpuser_sp_copyoutstr(void *client, const void *laddr, void *raddr, size_t *len)`
///
/// # Safety
/// `length` must be readable; `local` readable for `*length` bytes.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_sp_copyoutstr(
    cookie: *mut c_void,
    local: *const c_void,
    remote: *mut c_void,
    length: *mut usize,
) -> c_int {
    status((|| {
        let length =
            ForeignPointer::check(length.cast_const(), 1).map_err(|_| SysproxyError::Fault)?;
        // SAFETY: checked; readability is the caller's promise.
        let length = unsafe { *length.as_ref() };
        // SAFETY: forwarded caller promises.
        unsafe { copy_out(cookie, local, remote, length) }
    })())
}

/// `int rumpuser_sp_anonmmap(void *client, size_t howmuch, void **addr)`
///
/// # Safety
/// `address_out` must be writable for one pointer; `cookie` from the kernel.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_sp_anonmmap(
    cookie: *mut c_void,
    size: usize,
    address_out: *mut *mut c_void,
) -> c_int {
    status((|| {
        // SAFETY: forwarded caller promise.
        let client = unsafe { client(cookie) }?;
        let out =
            ForeignPointer::check(address_out.cast_const(), 1).map_err(|_| SysproxyError::Fault)?;
        let reply =
            unscheduled(|| client.request(Kind::AnonymousMap, &(size as u64).to_ne_bytes()))
                .map_err(|_| SysproxyError::Fault)?;
        let address: [u8; 8] = reply
            .as_slice()
            .try_into()
            .map_err(|_| SysproxyError::Fault)?;
        let address = u64::from_ne_bytes(address) as usize;
        if address == 0 {
            return Err(SysproxyError::OutOfMemory);
        }
        // SAFETY: checked; writability is the caller's promise. The address is the
        // client's, never dereferenced here.
        unsafe { out.write(core::ptr::without_provenance_mut(address)) };
        Ok(())
    })())
}

/// `int rumpuser_sp_raise(void *client, int signo)`: the signal, in NetBSD numbering, is
/// raised by the client.
///
/// # Safety
/// `cookie` must come from the kernel.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_sp_raise(cookie: *mut c_void, signal: c_int) -> c_int {
    status((|| {
        // SAFETY: forwarded caller promise.
        let client = unsafe { client(cookie) }?;
        unscheduled(|| client.notify(Kind::Raise, signal as u32, &[]))
    })())
}

/// `void rumpuser_sp_fini(void *client)`: the kernel is halting.
///
/// # Safety
/// `cookie` must be null or come from the kernel.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_sp_fini(cookie: *mut c_void) {
    // SAFETY: forwarded caller promise.
    let client = unsafe { client(cookie) }.ok();
    server::finish(client);
}
