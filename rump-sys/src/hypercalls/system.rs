//! Shells of the initialisation, parameter, memory, clock, entropy, console, termination,
//! errno, signal, dynamic-linking and daemonisation hypercalls (spec §3.1–§3.3, §3.5–§3.7,
//! §3.12, §3.13).
//!
//! Only `clock_sleep` may release the virtual CPU here; everything else is called in busy
//! or early-boot paths and must never block or call an upcall.

use alloc::format;
use core::ffi::{c_char, c_int, c_long, c_void};
use core::ptr::NonNull;
use core::time::Duration;

use super::status;
use crate::abi::{
    CLOCK_ABSMONO, CLOCK_RELWALL, ComponentLoad, HyperUpcalls, ModuleInit, RANDOM_NOWAIT,
    RUMPUSER_PANIC, RUMPUSER_VERSION, SymbolLoad,
};
use crate::errno::host_signal_from_netbsd;
use crate::error::HypercallError;
use crate::host;
use crate::parameters::{self, HostParameters};
use crate::pointer::{self, ForeignPointer};
use crate::upcall;

/// `int rumpuser_init(int version, const struct rumpuser_hyperup *hyp)`
///
/// # Safety
/// `upcalls` must point to the rump kernel's upcall table.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_init(version: c_int, upcalls: *const HyperUpcalls) -> c_int {
    status(initialise(version, upcalls))
}

fn initialise(version: c_int, upcalls: *const HyperUpcalls) -> Result<(), HypercallError> {
    if version != RUMPUSER_VERSION {
        let message = format!(
            "rumpuser: rump kernel wants hypercall revision {version}, this host has {RUMPUSER_VERSION}\n"
        );
        host::active().diagnostic_write(message.as_bytes());
        return Err(HypercallError::VersionMismatch { requested: version });
    }
    let table = ForeignPointer::check(upcalls, 1)?;
    // SAFETY: checked; the kernel's table is a static object that outlives the process.
    upcall::install(*unsafe { table.as_ref() })
}

/// `int rumpuser_getparam(const char *name, void *buf, size_t buflen)`
///
/// # Safety
/// `name` must be a NUL-terminated string; `buffer` writable for `length` bytes.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_getparam(
    name: *const c_char,
    buffer: *mut c_void,
    length: usize,
) -> c_int {
    // SAFETY: forwarded caller promises.
    let arguments = unsafe { pointer::c_string(name) }
        .and_then(|name| name.to_str().map_err(|_| HypercallError::NotUtf8))
        .and_then(|name| {
            // SAFETY: forwarded caller promise.
            unsafe { pointer::byte_buffer(buffer.cast(), length) }.map(|buffer| (name, buffer))
        });
    status(arguments.and_then(|(name, buffer)| {
        let value = parameters::parameter_value(name, &HostParameters)?;
        parameters::copy_with_nul(&value, buffer)
    }))
}

/// `int rumpuser_malloc(size_t len, int alignment, void **memp)`
///
/// # Safety
/// `memory_out` must be writable for one pointer.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_malloc(
    length: usize,
    alignment: c_int,
    memory_out: *mut *mut c_void,
) -> c_int {
    status((|| {
        let out = ForeignPointer::check(memory_out, 1)?;
        let alignment = usize::try_from(alignment).map_err(|_| HypercallError::InvalidArgument)?;
        let memory = host::active().allocate(length, alignment)?;
        // SAFETY: checked; writability is the caller's promise.
        unsafe { out.write(memory.as_ptr().cast()) };
        Ok(())
    })())
}

/// `void rumpuser_free(void *mem, size_t len)`
///
/// # Safety
/// `memory` must come from `rumpuser_malloc` with this `length`, and be unused afterwards.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_free(memory: *mut c_void, length: usize) {
    if let Some(memory) = NonNull::new(memory.cast::<u8>()) {
        // SAFETY: forwarded caller promise.
        unsafe { host::active().deallocate(memory, length) };
    }
}

/// `int rumpuser_anonmmap(void *prefaddr, size_t size, int alignbit, int exec, void **memp)`
///
/// # Safety
/// `memory_out` must be writable for one pointer.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_anonmmap(
    preferred: *mut c_void,
    size: usize,
    alignment_bits: c_int,
    executable: c_int,
    memory_out: *mut *mut c_void,
) -> c_int {
    status((|| {
        let out = ForeignPointer::check(memory_out, 1)?;
        let bits = u32::try_from(alignment_bits).map_err(|_| HypercallError::InvalidArgument)?;
        let memory = host::active().map_anonymous(preferred.addr(), size, bits, executable != 0)?;
        // SAFETY: checked; writability is the caller's promise.
        unsafe { out.write(memory.as_ptr().cast()) };
        Ok(())
    })())
}

/// `void rumpuser_unmap(void *addr, size_t len)`
///
/// # Safety
/// The range must be a mapping nothing uses afterwards.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_unmap(address: *mut c_void, length: usize) {
    if let Some(address) = NonNull::new(address.cast::<u8>()) {
        // SAFETY: forwarded caller promise.
        unsafe { host::active().unmap(address, length) };
    }
}

/// `int rumpuser_clock_gettime(int clk, int64_t *sec, long *nsec)`
///
/// # Safety
/// `seconds_out` and `nanoseconds_out` must be writable.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_clock_gettime(
    clock: c_int,
    seconds_out: *mut i64,
    nanoseconds_out: *mut c_long,
) -> c_int {
    status((|| {
        let now = match clock {
            CLOCK_RELWALL => host::active().wall_clock_now(),
            CLOCK_ABSMONO => host::active().monotonic_now(),
            _ => return Err(HypercallError::InvalidArgument),
        };
        let seconds = ForeignPointer::check(seconds_out, 1)?;
        let nanoseconds = ForeignPointer::check(nanoseconds_out, 1)?;
        // SAFETY: both checked; writability is the caller's promise.
        unsafe {
            seconds.write(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
            nanoseconds.write(c_long::from(now.subsec_nanos()));
        }
        Ok(())
    })())
}

/// `int rumpuser_clock_sleep(int clk, int64_t sec, long nsec)`: releases the virtual CPU.
///
/// # Safety
/// Called by the rump kernel with a virtual CPU.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_clock_sleep(
    clock: c_int,
    seconds: i64,
    nanoseconds: c_long,
) -> c_int {
    let time = Duration::from_secs(u64::try_from(seconds).unwrap_or(0)).saturating_add(
        Duration::from_nanos(u64::try_from(nanoseconds).unwrap_or(0)),
    );
    status(sleep(clock, time))
}

/// Sleeps for a duration (RELWALL) or until an absolute monotonic time (ABSMONO).
pub fn sleep(clock: c_int, time: Duration) -> Result<(), HypercallError> {
    let deadline = match clock {
        CLOCK_RELWALL => host::active().monotonic_now().saturating_add(time),
        CLOCK_ABSMONO => time,
        _ => return Err(HypercallError::InvalidArgument),
    };
    upcall::while_unscheduled(|| host::active().sleep_until(deadline));
    Ok(())
}

/// `int rumpuser_getrandom(void *buf, size_t buflen, int flags, size_t *retp)`
///
/// # Safety
/// `buffer` must be writable for `length` bytes; `count_out` for one `size_t`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpuser_getrandom(
    buffer: *mut c_void,
    length: usize,
    flags: c_int,
    count_out: *mut usize,
) -> c_int {
    status((|| {
        let count_out = ForeignPointer::check(count_out, 1)?;
        // SAFETY: forwarded caller promise.
        let buffer = unsafe { pointer::byte_buffer(buffer.cast(), length) }?;
        let count = host::active().fill_random(buffer, flags & RANDOM_NOWAIT == 0)?;
        // SAFETY: checked; writability is the caller's promise.
        unsafe { count_out.write(count) };
        Ok(())
    })())
}

/// `void rumpuser_putchar(int ch)`
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_putchar(character: c_int) {
    // The console carries bytes: the kernel passes an unsigned char widened to int.
    host::active().console_write(&[character as u8]);
}

/// Output of the C `rumpuser_dprintf` front end (which formats the variadic arguments):
/// diagnostics, which upstream writes to standard error, not to the console.
///
/// # Safety
/// `text` must be readable for `length` bytes.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub unsafe extern "C" fn rumpsys_diagnostic_write(text: *const c_char, length: usize) {
    if let Ok(text) = ForeignPointer::check(text.cast::<u8>(), length) {
        // SAFETY: checked; readability is the caller's promise.
        host::active().diagnostic_write(unsafe { text.as_slice() });
    }
}

/// `void rumpuser_exit(int value)`: never returns.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_exit(value: c_int) -> ! {
    if value == RUMPUSER_PANIC {
        host::active().diagnostic_write(b"rump kernel panic: aborting\n");
        host::active().abort_process()
    }
    host::active().exit_process(value)
}

/// `void rumpuser_seterrno(int error)`: the value is already in NetBSD numbering.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_seterrno(error: c_int) {
    host::active().set_thread_errno(error);
}

/// `int rumpuser_kill(int64_t pid, int sig)`: raises the translated signal in this process.
///
/// The pid is the rump kernel's own number for the process (its proc1 or any other process
/// local to the rump kernel, or `RUMPUSER_PID_SELF`), and every local rump process lives
/// in this host process; a remote client's signals go through `rumpuser_sp_raise`
/// instead. So, like upstream, the signal is raised whatever the pid: a rump process
/// writing to a pipe whose reader is gone gets its SIGPIPE here.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_kill(pid: i64, netbsd_signal: c_int) -> c_int {
    let _ = pid;
    if let Some(host_signal) = host_signal_from_netbsd(netbsd_signal) {
        host::active().raise_signal(host_signal);
    }
    0
}

/// `void rumpuser_dl_bootstrap(rump_modinit_fn, rump_symload_fn, rump_compload_fn)`.
///
/// This crate links the rump kernel statically with constructors (`RUMP_USE_CTOR`), so every
/// component and module registered itself before `rump_init`; there are no shared objects to
/// walk and nothing to hand to the callbacks.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_dl_bootstrap(
    _module_init: Option<ModuleInit>,
    _symbol_load: Option<SymbolLoad>,
    _component_load: Option<ComponentLoad>,
) {
}

/// `int rumpuser_daemonize_begin(void)`: forks when hosted; ENOSYS without `std`, where
/// there is no process to fork (as on rumprun).
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_daemonize_begin() -> c_int {
    #[cfg(feature = "std")]
    let result = crate::daemon::begin();
    #[cfg(not(feature = "std"))]
    let result = Err(HypercallError::Unsupported);
    status(result)
}

/// `int rumpuser_daemonize_done(int error)`: ENOSYS without `std`.
#[cfg_attr(not(feature = "c-rumpuser"), unsafe(no_mangle))]
pub extern "C" fn rumpuser_daemonize_done(error: c_int) -> c_int {
    #[cfg(feature = "std")]
    let result = crate::daemon::done(error);
    #[cfg(not(feature = "std"))]
    let result = {
        let _ = error;
        Err(HypercallError::Unsupported)
    };
    status(result)
}

/// The freestanding formatter of `dprintf.c` (what a bare-metal build formats
/// `rumpuser_dprintf` with), checked against the C library's `snprintf` on the host.
#[cfg(all(test, feature = "std", not(feature = "c-rumpuser")))]
mod format_tests {
    use core::ffi::{CStr, c_char, c_int, c_long, c_longlong, c_uint, c_ulong, c_void};

    unsafe extern "C" {
        fn rumpsys_format(buffer: *mut c_char, size: usize, format: *const c_char, ...) -> c_int;
    }

    /// Formats with both and compares text and returned length.
    macro_rules! same_as_libc {
        ($format:literal $(, $argument:expr)*) => {{
            let mut ours = [0 as c_char; 256];
            let mut theirs = [0 as c_char; 256];
            // SAFETY: the buffers are writable for their length; the arguments match the
            // format's conversions.
            let (ours_length, theirs_length) = unsafe {
                (
                    rumpsys_format(ours.as_mut_ptr(), ours.len(), $format.as_ptr() $(, $argument)*),
                    libc::snprintf(theirs.as_mut_ptr(), theirs.len(), $format.as_ptr() $(, $argument)*),
                )
            };
            // SAFETY: both formatters NUL-terminate within the buffer.
            let (ours, theirs) = unsafe {
                (CStr::from_ptr(ours.as_ptr()), CStr::from_ptr(theirs.as_ptr()))
            };
            assert_eq!(ours, theirs, "format {:?}", $format);
            assert_eq!(ours_length, theirs_length, "length of format {:?}", $format);
        }};
    }

    #[test]
    fn integers_match_the_c_library() {
        same_as_libc!(c"plain text, 100%% sure");
        same_as_libc!(
            c"%d %i %u",
            -42 as c_int,
            7 as c_int,
            4_000_000_000u32 as c_uint
        );
        same_as_libc!(c"[%5d] [%-5d] [%05d] [%+d] [% d]", 42, 42, -42, 42, 42);
        same_as_libc!(c"[%.3d] [%8.3d] [%-8.3x] [%.0d]", 7, -7, 255u32, 0);
        same_as_libc!(
            c"%x %X %#x %#X %#o %o %#o",
            48879u32,
            48879u32,
            255u32,
            255u32,
            8u32,
            0u32,
            0u32
        );
        same_as_libc!(
            c"%ld %lu %lx",
            -1 as c_long,
            c_ulong::MAX,
            0xdead_beef_u64 as c_ulong
        );
        same_as_libc!(
            c"%lld %llu %qd",
            c_longlong::MIN,
            u64::MAX,
            -5 as c_longlong
        );
        same_as_libc!(c"%zu %zd %jd %td", 12usize, -3isize, -9i64, 11isize);
        same_as_libc!(
            c"%hd %hu %hhd %hhu",
            70000 as c_int,
            70000 as c_int,
            300 as c_int,
            300 as c_int
        );
        same_as_libc!(
            c"[%*d] [%-*d] [%.*d]",
            6 as c_int,
            1 as c_int,
            6 as c_int,
            1 as c_int,
            3 as c_int,
            5 as c_int
        );
    }

    #[test]
    fn strings_characters_and_pointers_match_the_c_library() {
        same_as_libc!(
            c"[%s] [%8s] [%-8s] [%.2s] [%*.*s]",
            c"vnode".as_ptr(),
            c"abc".as_ptr(),
            c"abc".as_ptr(),
            c"abc".as_ptr(),
            5 as c_int,
            1 as c_int,
            c"xyz".as_ptr()
        );
        same_as_libc!(
            c"[%c] [%3c] [%-3c]",
            'a' as c_int,
            'b' as c_int,
            'c' as c_int
        );
        let pointer = 0x1234_5678usize as *const c_void;
        same_as_libc!(c"%p [%20p] [%-20p]", pointer, pointer, pointer);
        same_as_libc!(
            c"mount at ``%s'': lookup error %d\n",
            c"/mnt".as_ptr(),
            2 as c_int
        );
    }

    #[test]
    fn output_is_cut_to_the_buffer_and_the_full_length_returned() {
        let mut buffer = [0x55 as c_char; 8];
        // SAFETY: the buffer is writable for its length; the argument matches `%s`.
        let length = unsafe {
            rumpsys_format(
                buffer.as_mut_ptr(),
                buffer.len(),
                c"%s!".as_ptr(),
                c"0123456789".as_ptr(),
            )
        };
        assert_eq!(length, 11);
        // SAFETY: the formatter NUL-terminates within the buffer.
        assert_eq!(unsafe { CStr::from_ptr(buffer.as_ptr()) }, c"0123456");
        // SAFETY: a zero size writes nothing.
        let length =
            unsafe { rumpsys_format(core::ptr::null_mut(), 0, c"%d".as_ptr(), 12345 as c_int) };
        assert_eq!(length, 5);
    }

    #[test]
    fn unknown_and_floating_conversions_are_copied_unconsumed() {
        let mut buffer = [0 as c_char; 64];
        // SAFETY: the buffer is writable; `%f` and `%y` consume nothing, `%d` takes the int.
        let length = unsafe {
            rumpsys_format(
                buffer.as_mut_ptr(),
                buffer.len(),
                c"%5.2f %y %d".as_ptr(),
                3 as c_int,
            )
        };
        // SAFETY: NUL-terminated within the buffer.
        assert_eq!(unsafe { CStr::from_ptr(buffer.as_ptr()) }, c"%5.2f %y 3");
        assert_eq!(length, 10);
    }
}
