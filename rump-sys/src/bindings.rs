//! The rump kernel entry points this project calls (`rump_init`, `rump_boot_*`, `rump_sys_*`,
//! `rump_pub_*`) and the constants it passes them, declared by hand.
//!
//! They are declared here rather than generated so that every rump-facing line of Rust —
//! this module, the safe facade in [`crate::kernel`] and the kernel's rump backends —
//! compiles and is linted on any machine, with or without a rump kernel build. Where a
//! build's headers exist (`RUMPKERNEL_DIR` on a hosted target), the build script runs
//! bindgen on `include/rump/*.h` for exactly these names and the `checked` module below
//! makes the compiler compare every declaration with the generated one: a function whose
//! arity, argument or return type differs, or a constant whose value differs, fails the
//! build at the entry at fault. Add an entry point here (and to the checks) before using it.
//!
//! The names are NetBSD's and stay in C spelling.

#![allow(non_camel_case_types, non_upper_case_globals, missing_docs)]

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

/// `socklen_t`.
pub type socklen_t = c_uint;
/// `pid_t`.
pub type pid_t = c_int;
/// `off_t` (64-bit on every rump target).
pub type off_t = i64;
/// `mode_t`.
pub type mode_t = c_uint;
/// `u_long`, the type of an ioctl request.
pub type u_long = c_ulong;
/// `u_int`.
pub type u_int = c_uint;
/// `enum rump_sigmodel`.
pub type rump_sigmodel = c_uint;
/// `enum rump_etfs_type`.
pub type rump_etfs_type = c_uint;

/// NetBSD's `struct sockaddr`; only ever behind a pointer.
#[repr(C)]
#[derive(Debug)]
pub struct sockaddr {
    _opaque: [u8; 0],
}

/// NetBSD's `struct stat`; only ever behind a pointer.
#[repr(C)]
#[derive(Debug)]
pub struct stat {
    _opaque: [u8; 0],
}

/// NetBSD's `struct statvfs`; only ever behind a pointer.
#[repr(C)]
#[derive(Debug)]
pub struct statvfs {
    _opaque: [u8; 0],
}

/// NetBSD's `struct pollfd`: a descriptor, the events asked for and those returned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct pollfd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

pub const rump_sigmodel_RUMP_SIGMODEL_IGNORE: rump_sigmodel = 1;
pub const rump_sigmodel_RUMP_SIGMODEL_RAISE: rump_sigmodel = 3;
pub const rump_etfs_type_RUMP_ETFS_BLK: rump_etfs_type = 1;

pub const RUMP_O_RDONLY: u32 = 0x0;
pub const RUMP_O_RDWR: u32 = 0x2;
pub const RUMP_O_CREAT: u32 = 0x200;
pub const RUMP_O_TRUNC: u32 = 0x400;
pub const RUMP_O_EXCL: u32 = 0x800;
pub const RUMP_MNT_RDONLY: u32 = 0x1;
pub const RUMP_MNT_LOG: u32 = 0x0200_0000;
pub const RUMP_MNT_NOATIME: u32 = 0x0400_0000;
pub const RUMP_AF_INET: u32 = 2;
pub const RUMP_AF_INET6: u32 = 24;
pub const RUMP_SOCK_STREAM: u32 = 1;
pub const RUMP_SOCK_DGRAM: u32 = 2;
pub const RUMP_MSG_DONTWAIT: u32 = 0x80;
pub const RUMP_MSG_PEEK: u32 = 0x2;
pub const RUMP_SOL_SOCKET: u32 = 0xffff;
pub const RUMP_SO_SNDBUF: u32 = 0x1001;
pub const RUMP_SO_RCVBUF: u32 = 0x1002;

/// Declares the entry points, and, where headers were read, checks each against bindgen's.
///
/// An entry point the headers rename (`__RENAME`, as every `rump_sys_*` call is) gives its
/// symbol after `=`; the check compares that too.
macro_rules! entry_points {
    ($(fn $name:ident($($argument:ident: $type:ty),*) $(-> $result:ty)? $(= $symbol:literal)?;)*) => {
        unsafe extern "C" {
            $(
                $(#[link_name = $symbol])?
                pub fn $name($($argument: $type),*) $(-> $result)?;
            )*
        }

        #[cfg(rump_headers)]
        const _: () = {
            $(
                let _: unsafe extern "C" fn($($type),*) $(-> $result)? = checked::$name;
                assert!(
                    checked::same(checked::symbols::$name, symbol!($name $(, $symbol)?)),
                    concat!("the headers give ", stringify!($name), " another symbol")
                );
            )*
        };
    };
}

/// The symbol of an entry point: its own name unless the declaration gives another.
#[cfg(rump_headers)]
macro_rules! symbol {
    ($name:ident) => {
        stringify!($name)
    };
    ($name:ident, $symbol:literal) => {
        $symbol
    };
}

entry_points! {
    fn rump_boot_setsigmodel(model: rump_sigmodel);
    fn rump_init() -> c_int;
    fn rump_sys_getpid() -> pid_t = "rump___sysimpl_getpid";
    fn rump_sys_reboot(how: c_int, boot_string: *mut c_char) -> c_int = "rump___sysimpl_reboot";
    fn rump_sys_close(descriptor: c_int) -> c_int = "rump___sysimpl_close";
    fn rump_sys_read(descriptor: c_int, buffer: *mut c_void, length: usize) -> isize = "rump___sysimpl_read";
    fn rump_sys_write(descriptor: c_int, buffer: *const c_void, length: usize) -> isize = "rump___sysimpl_write";
    fn rump_sys_pread(descriptor: c_int, buffer: *mut c_void, length: usize, offset: off_t)
        -> isize = "rump___sysimpl_pread";
    fn rump_sys_pwrite(
        descriptor: c_int,
        buffer: *const c_void,
        length: usize,
        offset: off_t
    ) -> isize = "rump___sysimpl_pwrite";
    fn rump_sys_pipe(descriptors: *mut c_int) -> c_int;
    fn rump_sys_lseek(descriptor: c_int, offset: off_t, whence: c_int) -> off_t = "rump___sysimpl_lseek";
    fn rump_sys_fsync(descriptor: c_int) -> c_int = "rump___sysimpl_fsync";
    fn rump_sys_fstat(descriptor: c_int, status: *mut stat) -> c_int = "rump___sysimpl_fstat50";
    fn rump_sys_stat(path: *const c_char, status: *mut stat) -> c_int = "rump___sysimpl_stat50";
    fn rump_sys_statvfs1(path: *const c_char, status: *mut statvfs, flags: c_int) -> c_int = "rump___sysimpl_statvfs1";
    fn rump_sys_mkdir(path: *const c_char, mode: mode_t) -> c_int = "rump___sysimpl_mkdir";
    fn rump_sys_unlink(path: *const c_char) -> c_int = "rump___sysimpl_unlink";
    fn rump_sys_rmdir(path: *const c_char) -> c_int = "rump___sysimpl_rmdir";
    fn rump_sys_rename(from: *const c_char, to: *const c_char) -> c_int = "rump___sysimpl_rename";
    fn rump_sys_getdents(descriptor: c_int, buffer: *mut c_char, length: usize) -> c_int = "rump___sysimpl_getdents30";
    fn rump_sys_mount(
        kind: *const c_char,
        path: *const c_char,
        flags: c_int,
        data: *mut c_void,
        length: usize
    ) -> c_int = "rump___sysimpl_mount50";
    fn rump_sys_unmount(path: *const c_char, flags: c_int) -> c_int = "rump___sysimpl_unmount";
    fn rump_sys_socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int = "rump___sysimpl_socket30";
    fn rump_sys_bind(descriptor: c_int, address: *const sockaddr, length: socklen_t) -> c_int = "rump___sysimpl_bind";
    fn rump_sys_listen(descriptor: c_int, backlog: c_int) -> c_int = "rump___sysimpl_listen";
    fn rump_sys_accept(descriptor: c_int, address: *mut sockaddr, length: *mut socklen_t)
        -> c_int = "rump___sysimpl_accept";
    fn rump_sys_connect(descriptor: c_int, address: *const sockaddr, length: socklen_t)
        -> c_int = "rump___sysimpl_connect";
    fn rump_sys_sendto(
        descriptor: c_int,
        buffer: *const c_void,
        length: usize,
        flags: c_int,
        address: *const sockaddr,
        address_length: socklen_t
    ) -> isize = "rump___sysimpl_sendto";
    fn rump_sys_recvfrom(
        descriptor: c_int,
        buffer: *mut c_void,
        length: usize,
        flags: c_int,
        address: *mut sockaddr,
        address_length: *mut socklen_t
    ) -> isize = "rump___sysimpl_recvfrom";
    fn rump_sys_setsockopt(
        descriptor: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        length: socklen_t
    ) -> c_int = "rump___sysimpl_setsockopt";
    fn rump_sys_poll(descriptors: *mut pollfd, count: u_int, timeout_ms: c_int) -> c_int = "rump___sysimpl_poll";
    fn rump_pub_etfs_register(key: *const c_char, host_path: *const c_char, kind: rump_etfs_type)
        -> c_int;
    fn rump_pub_netconfig_ifup(interface: *const c_char) -> c_int;
    fn rump_pub_netconfig_ipv4_ifaddr(
        interface: *const c_char,
        address: *const c_char,
        netmask: *const c_char
    ) -> c_int;
    fn rump_pub_netconfig_ipv6_ifaddr(
        interface: *const c_char,
        address: *const c_char,
        prefix_length: c_int
    ) -> c_int;
    fn rump_pub_shmif_create(bus_path: *const c_char, unit: *mut c_int) -> c_int;
    fn rump_pub_lwproc_rfork(flags: c_int) -> c_int;
    fn rump_pub_lwproc_newlwp(process: pid_t) -> c_int;
    fn rump_pub_lwproc_releaselwp();
}

unsafe extern "C" {
    /// `int rump_sys_open(const char *, int, ...)`: the mode follows when creating.
    #[link_name = "rump___sysimpl_open"]
    pub fn rump_sys_open(path: *const c_char, flags: c_int, ...) -> c_int;
    /// `int rump_sys_ioctl(int, u_long, ...)`: the request's argument follows.
    #[link_name = "rump___sysimpl_ioctl"]
    pub fn rump_sys_ioctl(descriptor: c_int, request: u_long, ...) -> c_int;
}

/// The generated declarations of the same names, and the comparisons bindgen's types
/// cannot express through function pointers (variadic functions, constants).
#[cfg(rump_headers)]
#[allow(
    dead_code,
    non_snake_case,
    non_upper_case_globals,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
mod checked {

    include!(concat!(env!("OUT_DIR"), "/rump_bindings.rs"));

    const _: unsafe extern "C" fn(
        *const core::ffi::c_char,
        core::ffi::c_int,
        ...
    ) -> core::ffi::c_int = rump_sys_open;
    const _: () = assert!(same(symbols::rump_sys_open, "rump___sysimpl_open"));
    const _: unsafe extern "C" fn(core::ffi::c_int, super::u_long, ...) -> core::ffi::c_int =
        rump_sys_ioctl;
    const _: () = assert!(same(symbols::rump_sys_ioctl, "rump___sysimpl_ioctl"));

    /// Whether two strings are equal, at compile time.
    pub(super) const fn same(left: &str, right: &str) -> bool {
        let (left, right) = (left.as_bytes(), right.as_bytes());
        if left.len() != right.len() {
            return false;
        }
        let mut index = 0;
        while index < left.len() {
            if left[index] != right[index] {
                return false;
            }
            index += 1;
        }
        true
    }
    const _: () = {
        assert!(super::rump_sigmodel_RUMP_SIGMODEL_IGNORE == rump_sigmodel_RUMP_SIGMODEL_IGNORE);
        assert!(super::rump_sigmodel_RUMP_SIGMODEL_RAISE == rump_sigmodel_RUMP_SIGMODEL_RAISE);
        assert!(super::rump_etfs_type_RUMP_ETFS_BLK == rump_etfs_type_RUMP_ETFS_BLK);
        assert!(super::RUMP_O_RDONLY == RUMP_O_RDONLY);
        assert!(super::RUMP_O_RDWR == RUMP_O_RDWR);
        assert!(super::RUMP_O_CREAT == RUMP_O_CREAT);
        assert!(super::RUMP_O_TRUNC == RUMP_O_TRUNC);
        assert!(super::RUMP_O_EXCL == RUMP_O_EXCL);
        assert!(super::RUMP_MNT_RDONLY == RUMP_MNT_RDONLY);
        assert!(super::RUMP_MNT_LOG == RUMP_MNT_LOG);
        assert!(super::RUMP_MNT_NOATIME == RUMP_MNT_NOATIME);
        assert!(super::RUMP_AF_INET == RUMP_AF_INET);
        assert!(super::RUMP_AF_INET6 == RUMP_AF_INET6);
        assert!(super::RUMP_SOCK_STREAM == RUMP_SOCK_STREAM);
        assert!(super::RUMP_SOCK_DGRAM == RUMP_SOCK_DGRAM);
        assert!(super::RUMP_MSG_DONTWAIT == RUMP_MSG_DONTWAIT);
        assert!(super::RUMP_MSG_PEEK == RUMP_MSG_PEEK);
        assert!(super::RUMP_SOL_SOCKET == RUMP_SOL_SOCKET);
        assert!(super::RUMP_SO_SNDBUF == RUMP_SO_SNDBUF);
        assert!(super::RUMP_SO_RCVBUF == RUMP_SO_RCVBUF);
    };
}
