//! Error numbers and signal numbers as the rump kernel (NetBSD) understands them, and the
//! translation from the host's (Linux) numbering.
//!
//! Every hypercall that returns `int` returns 0 or a NetBSD errno; every host failure passes
//! through [`NetbsdErrno::from_host`] before it reaches the rump kernel. This module must never
//! hand a host (Linux) number to the rump kernel untranslated.

use core::fmt;

/// An error number in NetBSD's numbering (`sys/sys/errno.h`), as returned by hypercalls and
/// stored by `rumpuser_seterrno`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetbsdErrno(i32);

/// Declares the NetBSD error numbers: constant name, NetBSD value, the Linux value that
/// translates to it (absent where Linux uses one number for two NetBSD errors: Linux's ENOTSUP
/// is EOPNOTSUPP and its ENOATTR is ENODATA), message.
macro_rules! netbsd_errnos {
    ($( $name:ident = $netbsd:literal, $( linux $linux:literal, )? $message:literal; )*) => {
        impl NetbsdErrno {
            $( #[doc = $message] pub const $name: NetbsdErrno = NetbsdErrno($netbsd); )*

            /// Translates a host (Linux) errno; unknown host values become `EINVAL`,
            /// like the reference implementation's fallback.
            pub const fn from_host(host_errno: i32) -> NetbsdErrno {
                match host_errno {
                    0 => NetbsdErrno(0),
                    $( $( $linux => NetbsdErrno::$name, )? )*
                    _ => NetbsdErrno::EINVAL,
                }
            }

            /// The conventional text for this error number.
            pub const fn message(self) -> &'static str {
                match self.0 {
                    0 => "no error",
                    $( $netbsd => $message, )*
                    _ => "unknown error number",
                }
            }

            /// The symbolic name (`"ENOENT"`), if the number is one this module knows.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $netbsd => Some(stringify!($name)), )*
                    _ => None,
                }
            }
        }
    };
}

netbsd_errnos! {
    EPERM = 1, linux 1, "operation not permitted";
    ENOENT = 2, linux 2, "no such file or directory";
    ESRCH = 3, linux 3, "no such process";
    EINTR = 4, linux 4, "interrupted system call";
    EIO = 5, linux 5, "input/output error";
    ENXIO = 6, linux 6, "device not configured";
    E2BIG = 7, linux 7, "argument list too long";
    ENOEXEC = 8, linux 8, "exec format error";
    EBADF = 9, linux 9, "bad file descriptor";
    ECHILD = 10, linux 10, "no child processes";
    EDEADLK = 11, linux 35, "resource deadlock avoided";
    ENOMEM = 12, linux 12, "cannot allocate memory";
    EACCES = 13, linux 13, "permission denied";
    EFAULT = 14, linux 14, "bad address";
    ENOTBLK = 15, linux 15, "block device required";
    EBUSY = 16, linux 16, "device busy";
    EEXIST = 17, linux 17, "file exists";
    EXDEV = 18, linux 18, "cross-device link";
    ENODEV = 19, linux 19, "operation not supported by device";
    ENOTDIR = 20, linux 20, "not a directory";
    EISDIR = 21, linux 21, "is a directory";
    EINVAL = 22, linux 22, "invalid argument";
    ENFILE = 23, linux 23, "too many open files in system";
    EMFILE = 24, linux 24, "too many open files";
    ENOTTY = 25, linux 25, "inappropriate ioctl for device";
    ETXTBSY = 26, linux 26, "text file busy";
    EFBIG = 27, linux 27, "file too large";
    ENOSPC = 28, linux 28, "no space left on device";
    ESPIPE = 29, linux 29, "illegal seek";
    EROFS = 30, linux 30, "read-only file system";
    EMLINK = 31, linux 31, "too many links";
    EPIPE = 32, linux 32, "broken pipe";
    EDOM = 33, linux 33, "numerical argument out of domain";
    ERANGE = 34, linux 34, "result too large";
    EAGAIN = 35, linux 11, "resource temporarily unavailable";
    EINPROGRESS = 36, linux 115, "operation now in progress";
    EALREADY = 37, linux 114, "operation already in progress";
    ENOTSOCK = 38, linux 88, "socket operation on non-socket";
    EDESTADDRREQ = 39, linux 89, "destination address required";
    EMSGSIZE = 40, linux 90, "message too long";
    EPROTOTYPE = 41, linux 91, "protocol wrong type for socket";
    ENOPROTOOPT = 42, linux 92, "protocol not available";
    EPROTONOSUPPORT = 43, linux 93, "protocol not supported";
    ESOCKTNOSUPPORT = 44, linux 94, "socket type not supported";
    EOPNOTSUPP = 45, linux 95, "operation not supported";
    EPFNOSUPPORT = 46, linux 96, "protocol family not supported";
    EAFNOSUPPORT = 47, linux 97, "address family not supported by protocol family";
    EADDRINUSE = 48, linux 98, "address already in use";
    EADDRNOTAVAIL = 49, linux 99, "can't assign requested address";
    ENETDOWN = 50, linux 100, "network is down";
    ENETUNREACH = 51, linux 101, "network is unreachable";
    ENETRESET = 52, linux 102, "network dropped connection on reset";
    ECONNABORTED = 53, linux 103, "software caused connection abort";
    ECONNRESET = 54, linux 104, "connection reset by peer";
    ENOBUFS = 55, linux 105, "no buffer space available";
    EISCONN = 56, linux 106, "socket is already connected";
    ENOTCONN = 57, linux 107, "socket is not connected";
    ESHUTDOWN = 58, linux 108, "can't send after socket shutdown";
    ETOOMANYREFS = 59, linux 109, "too many references: can't splice";
    ETIMEDOUT = 60, linux 110, "operation timed out";
    ECONNREFUSED = 61, linux 111, "connection refused";
    ELOOP = 62, linux 40, "too many levels of symbolic links";
    ENAMETOOLONG = 63, linux 36, "file name too long";
    EHOSTDOWN = 64, linux 112, "host is down";
    EHOSTUNREACH = 65, linux 113, "no route to host";
    ENOTEMPTY = 66, linux 39, "directory not empty";
    EUSERS = 68, linux 87, "too many users";
    EDQUOT = 69, linux 122, "disc quota exceeded";
    ESTALE = 70, linux 116, "stale NFS file handle";
    EREMOTE = 71, linux 66, "too many levels of remote in path";
    ENOLCK = 77, linux 37, "no locks available";
    ENOSYS = 78, linux 38, "function not implemented";
    EIDRM = 82, linux 43, "identifier removed";
    ENOMSG = 83, linux 42, "no message of desired type";
    EOVERFLOW = 84, linux 75, "value too large to be stored in data type";
    EILSEQ = 85, linux 84, "illegal byte sequence";
    ENOTSUP = 86, "not supported";
    ECANCELED = 87, linux 125, "operation canceled";
    EBADMSG = 88, linux 74, "bad or corrupt message";
    ENODATA = 89, linux 61, "no message available";
    ENOSR = 90, linux 63, "no STREAM resources";
    ENOSTR = 91, linux 60, "not a STREAM";
    ETIME = 92, linux 62, "STREAM ioctl timeout";
    ENOATTR = 93, "attribute not found";
    EMULTIHOP = 94, linux 72, "multihop attempted";
    ENOLINK = 95, linux 67, "link has been severed";
    EPROTO = 96, linux 71, "protocol error";
}

impl NetbsdErrno {
    /// Wraps a value already in NetBSD numbering (as returned by the rump kernel).
    pub const fn from_netbsd(value: i32) -> NetbsdErrno {
        NetbsdErrno(value)
    }

    /// The raw NetBSD number, as hypercalls return it.
    pub const fn value(self) -> i32 {
        self.0
    }
}

impl fmt::Debug for NetbsdErrno {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(formatter, "{name}({})", self.0),
            None => write!(formatter, "NetbsdErrno({})", self.0),
        }
    }
}

impl fmt::Display for NetbsdErrno {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} (NetBSD errno {})", self.message(), self.0)
    }
}

/// Translates a NetBSD signal number to the host's (Linux numbering, like
/// [`NetbsdErrno::from_host`]), for `rumpuser_kill`. `None` for signals Linux does not have
/// (NetBSD's SIGEMT, SIGINFO). The numbers are Linux's own (x86_64 and the generic ABI),
/// written out so the table needs no C library; the tests check them against `libc`.
pub const fn host_signal_from_netbsd(netbsd_signal: i32) -> Option<i32> {
    // Signals 1-9, 11, 13-15 share their numbers; the rest differ.
    let host = match netbsd_signal {
        1..=6 | 8 | 9 | 11 | 13..=15 => netbsd_signal,
        7 => return None,  // SIGEMT
        10 => 7,           // SIGBUS
        12 => 31,          // SIGSYS
        16 => 23,          // SIGURG
        17 => 19,          // SIGSTOP
        18 => 20,          // SIGTSTP
        19 => 18,          // SIGCONT
        20 => 17,          // SIGCHLD
        21 => 21,          // SIGTTIN
        22 => 22,          // SIGTTOU
        23 => 29,          // SIGIO
        24 => 24,          // SIGXCPU
        25 => 25,          // SIGXFSZ
        26 => 26,          // SIGVTALRM
        27 => 27,          // SIGPROF
        28 => 28,          // SIGWINCH
        29 => return None, // SIGINFO
        30 => 10,          // SIGUSR1
        31 => 12,          // SIGUSR2
        32 => 30,          // SIGPWR
        _ => return None,
    };
    Some(host)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn identical_low_numbers_pass_through() {
        for value in 1..=34 {
            if value == libc::EAGAIN || value == libc::EDEADLK {
                continue;
            }
            assert_eq!(
                NetbsdErrno::from_host(value).value(),
                value,
                "host errno {value}"
            );
        }
    }

    #[test]
    fn numbers_that_differ_are_translated() {
        let expected = [
            (libc::EAGAIN, 35),
            (libc::EDEADLK, 11),
            (libc::EINPROGRESS, 36),
            (libc::EALREADY, 37),
            (libc::ENOTSOCK, 38),
            (libc::EOPNOTSUPP, 45),
            (libc::EAFNOSUPPORT, 47),
            (libc::EADDRINUSE, 48),
            (libc::EADDRNOTAVAIL, 49),
            (libc::ENETDOWN, 50),
            (libc::ENETUNREACH, 51),
            (libc::ECONNRESET, 54),
            (libc::ENOBUFS, 55),
            (libc::EISCONN, 56),
            (libc::ENOTCONN, 57),
            (libc::ETIMEDOUT, 60),
            (libc::ECONNREFUSED, 61),
            (libc::ELOOP, 62),
            (libc::ENAMETOOLONG, 63),
            (libc::EHOSTUNREACH, 65),
            (libc::ENOTEMPTY, 66),
            (libc::ENOLCK, 77),
            (libc::ENOSYS, 78),
            (libc::EOVERFLOW, 84),
            (libc::EILSEQ, 85),
            (libc::ECANCELED, 87),
        ];
        for (host, netbsd) in expected {
            assert_eq!(
                NetbsdErrno::from_host(host).value(),
                netbsd,
                "host errno {host}"
            );
        }
    }

    #[test]
    fn unknown_host_numbers_become_einval() {
        assert_eq!(NetbsdErrno::from_host(4095), NetbsdErrno::EINVAL);
        assert_eq!(NetbsdErrno::from_host(-3), NetbsdErrno::EINVAL);
    }

    #[test]
    fn every_known_netbsd_number_has_a_name_and_message() {
        assert_eq!(NetbsdErrno::ETIMEDOUT.name(), Some("ETIMEDOUT"));
        assert_eq!(NetbsdErrno::ENOENT.message(), "no such file or directory");
        assert_eq!(NetbsdErrno::from_netbsd(67).name(), None);
        assert_eq!(
            format!("{}", NetbsdErrno::EAGAIN),
            "resource temporarily unavailable (NetBSD errno 35)"
        );
    }

    #[test]
    fn signals_are_translated_to_linux_numbers() {
        assert_eq!(host_signal_from_netbsd(13), Some(libc::SIGPIPE));
        assert_eq!(host_signal_from_netbsd(20), Some(libc::SIGCHLD));
        assert_eq!(host_signal_from_netbsd(30), Some(libc::SIGUSR1));
        assert_eq!(host_signal_from_netbsd(10), Some(libc::SIGBUS));
        assert_eq!(host_signal_from_netbsd(7), None);
        assert_eq!(host_signal_from_netbsd(64), None);
    }

    #[test]
    fn the_written_out_signal_numbers_are_the_c_librarys() {
        let expected = [
            (1, libc::SIGHUP),
            (2, libc::SIGINT),
            (3, libc::SIGQUIT),
            (4, libc::SIGILL),
            (5, libc::SIGTRAP),
            (6, libc::SIGABRT),
            (8, libc::SIGFPE),
            (9, libc::SIGKILL),
            (10, libc::SIGBUS),
            (11, libc::SIGSEGV),
            (12, libc::SIGSYS),
            (13, libc::SIGPIPE),
            (14, libc::SIGALRM),
            (15, libc::SIGTERM),
            (16, libc::SIGURG),
            (17, libc::SIGSTOP),
            (18, libc::SIGTSTP),
            (19, libc::SIGCONT),
            (20, libc::SIGCHLD),
            (21, libc::SIGTTIN),
            (22, libc::SIGTTOU),
            (23, libc::SIGIO),
            (24, libc::SIGXCPU),
            (25, libc::SIGXFSZ),
            (26, libc::SIGVTALRM),
            (27, libc::SIGPROF),
            (28, libc::SIGWINCH),
            (30, libc::SIGUSR1),
            (31, libc::SIGUSR2),
            (32, libc::SIGPWR),
        ];
        for (netbsd, host) in expected {
            assert_eq!(
                host_signal_from_netbsd(netbsd),
                Some(host),
                "NetBSD signal {netbsd}"
            );
        }
        assert_eq!(host_signal_from_netbsd(29), None);
    }
}
