//! Networking inside the rump kernel: shared-memory Ethernet interfaces (shmif), interface
//! addresses, and TCP sockets with NetBSD socket addresses.
//!
//! NetBSD socket addresses carry a length byte before the family; the conversions from
//! `core::net` types live here and nowhere else.

use alloc::string::ToString;
use core::ffi::c_int;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::{RumpError, c_text, check};
use crate::bindings;
use crate::errno::NetbsdErrno;

fn public_status(call: &'static str, result: c_int) -> Result<(), RumpError> {
    if result == 0 {
        Ok(())
    } else {
        Err(RumpError::System {
            call,
            errno: NetbsdErrno::from_netbsd(result),
        })
    }
}

#[cfg(feature = "shmif")]
/// Creates a shared-memory Ethernet interface on the bus file `bus_path` (shared by every
/// rump kernel that attaches to it) and returns its name (`shmifN`).
pub fn create_shared_memory_interface(bus_path: &str) -> Result<alloc::string::String, RumpError> {
    let bus_path = c_text(bus_path)?;
    let mut unit: c_int = 0;
    // SAFETY: `bus_path` is NUL-terminated; `unit` is writable.
    let result = unsafe { bindings::rump_pub_shmif_create(bus_path.as_ptr(), &mut unit) };
    public_status("shmif_create", result)?;
    Ok(alloc::format!("shmif{unit}"))
}

/// Brings interface `name` up.
pub fn interface_up(name: &str) -> Result<(), RumpError> {
    let name = c_text(name)?;
    // SAFETY: `name` is NUL-terminated.
    public_status("netconfig_ifup", unsafe {
        bindings::rump_pub_netconfig_ifup(name.as_ptr())
    })
}

/// Adds an IPv4 address with its netmask to interface `name`.
pub fn add_ipv4_address(name: &str, address: Ipv4Addr, netmask: Ipv4Addr) -> Result<(), RumpError> {
    let (name, address, netmask) = (
        c_text(name)?,
        c_text(address.to_string())?,
        c_text(netmask.to_string())?,
    );
    // SAFETY: all three strings are NUL-terminated.
    let result = unsafe {
        bindings::rump_pub_netconfig_ipv4_ifaddr(name.as_ptr(), address.as_ptr(), netmask.as_ptr())
    };
    public_status("netconfig_ipv4_ifaddr", result)
}

/// Adds an IPv6 address with its prefix length to interface `name`.
pub fn add_ipv6_address(name: &str, address: Ipv6Addr, prefix_length: u8) -> Result<(), RumpError> {
    let (name, address) = (c_text(name)?, c_text(address.to_string())?);
    // SAFETY: both strings are NUL-terminated.
    let result = unsafe {
        bindings::rump_pub_netconfig_ipv6_ifaddr(
            name.as_ptr(),
            address.as_ptr(),
            c_int::from(prefix_length),
        )
    };
    public_status("netconfig_ipv6_ifaddr", result)
}

/// A NetBSD `struct sockaddr_in` or `sockaddr_in6`, as bytes.
#[repr(C, align(4))]
struct NetbsdSocketAddress {
    bytes: [u8; 28],
    length: usize,
}

impl NetbsdSocketAddress {
    fn from_std(address: SocketAddr) -> NetbsdSocketAddress {
        let mut bytes = [0u8; 28];
        let port = address.port().to_be_bytes();
        match address.ip() {
            IpAddr::V4(ip) => {
                bytes[0] = 16;
                bytes[1] = bindings::RUMP_AF_INET as u8;
                bytes[2..4].copy_from_slice(&port);
                bytes[4..8].copy_from_slice(&ip.octets());
                NetbsdSocketAddress { bytes, length: 16 }
            }
            IpAddr::V6(ip) => {
                bytes[0] = 28;
                bytes[1] = bindings::RUMP_AF_INET6 as u8;
                bytes[2..4].copy_from_slice(&port);
                bytes[8..24].copy_from_slice(&ip.octets());
                NetbsdSocketAddress { bytes, length: 28 }
            }
        }
    }
}

/// A TCP socket inside the rump kernel; closed on drop.
#[derive(Debug)]
pub struct TcpSocket {
    descriptor: c_int,
}

impl TcpSocket {
    /// A new stream socket for the family of `address`.
    pub fn new_for(address: SocketAddr) -> Result<TcpSocket, RumpError> {
        let family = if address.is_ipv4() {
            bindings::RUMP_AF_INET
        } else {
            bindings::RUMP_AF_INET6
        };
        // SAFETY: socket takes plain integers.
        let result = unsafe {
            bindings::rump_sys_socket(family as c_int, bindings::RUMP_SOCK_STREAM as c_int, 0)
        };
        let descriptor = check("socket", result.into())?;
        Ok(TcpSocket {
            descriptor: descriptor as c_int,
        })
    }

    /// Binds to `address` and listens.
    pub fn listen(address: SocketAddr) -> Result<TcpSocket, RumpError> {
        let socket = TcpSocket::new_for(address)?;
        let native = NetbsdSocketAddress::from_std(address);
        // SAFETY: `native` holds a NetBSD socket address of `length` bytes.
        let result = unsafe {
            bindings::rump_sys_bind(
                socket.descriptor,
                native.bytes.as_ptr().cast(),
                native.length as u32,
            )
        };
        check("bind", result.into())?;
        // SAFETY: listen takes plain integers.
        let result = unsafe { bindings::rump_sys_listen(socket.descriptor, 8) };
        check("listen", result.into())?;
        Ok(socket)
    }

    /// Waits for a connection on a listening socket.
    pub fn accept(&self) -> Result<TcpSocket, RumpError> {
        // SAFETY: null address pointers ask for no peer address.
        let result = unsafe {
            bindings::rump_sys_accept(
                self.descriptor,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            )
        };
        let descriptor = check("accept", result.into())?;
        Ok(TcpSocket {
            descriptor: descriptor as c_int,
        })
    }

    /// Connects to `address`.
    pub fn connect(address: SocketAddr) -> Result<TcpSocket, RumpError> {
        let socket = TcpSocket::new_for(address)?;
        let native = NetbsdSocketAddress::from_std(address);
        // SAFETY: `native` holds a NetBSD socket address of `length` bytes.
        let result = unsafe {
            bindings::rump_sys_connect(
                socket.descriptor,
                native.bytes.as_ptr().cast(),
                native.length as u32,
            )
        };
        check("connect", result.into())?;
        Ok(socket)
    }

    /// Sends all of `bytes`.
    pub fn send_all(&self, mut bytes: &[u8]) -> Result<(), RumpError> {
        while !bytes.is_empty() {
            // SAFETY: the kernel reads at most `bytes.len()` bytes from `bytes`.
            let result = unsafe {
                bindings::rump_sys_sendto(
                    self.descriptor,
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    0,
                    core::ptr::null(),
                    0,
                )
            };
            let sent = check("sendto", result as i64)? as usize;
            bytes = &bytes[sent..];
        }
        Ok(())
    }

    /// Receives into `bytes`, returning how many arrived (0 when the peer closed).
    pub fn receive(&self, bytes: &mut [u8]) -> Result<usize, RumpError> {
        // SAFETY: the kernel writes at most `bytes.len()` bytes into `bytes`.
        let result = unsafe {
            bindings::rump_sys_recvfrom(
                self.descriptor,
                bytes.as_mut_ptr().cast(),
                bytes.len(),
                0,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            )
        };
        check("recvfrom", result as i64).map(|count| count as usize)
    }
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe { bindings::rump_sys_close(self.descriptor) };
    }
}
