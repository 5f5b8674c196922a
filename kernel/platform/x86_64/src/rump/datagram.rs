//! The datagram class over NetBSD's UDP in the rump kernel.
//!
//! Every operation is one or two NetBSD system calls run on the rump kernel's thread
//! ([`super::worker::call`]), none of which waits: receives are `MSG_DONTWAIT`,
//! readiness is a `poll` with no timeout. NetBSD's stack runs by itself (its
//! interrupt thread and soft interrupts), so [`Datagram::poll`] has no work to do.
//! The class's rules that NetBSD would answer differently (port 0 binds an ephemeral
//! port there; a datagram longer than the buffer is truncated there) are checked
//! here first, so a rump service answers exactly as the native one does.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::ffi::{c_int, c_void};
use core::net::{Ipv4Addr, SocketAddrV4};

use ethos_devices::datagram::check_send;
use ethos_devices::{Datagram, DatagramError, DatagramSocket, LinkStatistics, Readiness};
use rump_sys::NetbsdErrno;
use rump_sys::bindings::{self, pollfd, sockaddr};

use super::{Interface, answered, last_errno, worker};

/// The largest UDP payload in one Ethernet frame (1500 − 20 − 8).
const MAXIMUM_DATAGRAM: usize = 1472;
/// Receive and send buffers asked of NetBSD per socket (its default is 41 KiB).
const SOCKET_BUFFER_BYTES: c_int = 512 * 1024;
const POLLIN: i16 = 0x1;
const POLLOUT: i16 = 0x4;

/// A NetBSD `struct sockaddr_in`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct SocketAddressIn {
    length: u8,
    family: u8,
    port: [u8; 2],
    address: [u8; 4],
    zero: [u8; 8],
}

impl SocketAddressIn {
    fn new(address: SocketAddrV4) -> SocketAddressIn {
        SocketAddressIn {
            length: core::mem::size_of::<SocketAddressIn>() as u8,
            family: bindings::RUMP_AF_INET as u8,
            port: address.port().to_be_bytes(),
            address: address.ip().octets(),
            zero: [0; 8],
        }
    }

    fn to_std(self) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(self.address), u16::from_be_bytes(self.port))
    }
}

/// NetBSD's UDP on one interface, as a datagram service.
#[derive(Debug)]
pub struct RumpDatagram {
    interface: Interface,
    /// NetBSD descriptors of the bound sockets, by socket number.
    sockets: BTreeMap<DatagramSocket, c_int>,
    next_socket: u32,
    statistics: LinkStatistics,
    /// Where the length of a waiting datagram is read (peeked) before it is taken.
    scratch: Vec<u8>,
}

impl RumpDatagram {
    pub fn new(interface: Interface) -> RumpDatagram {
        RumpDatagram {
            interface,
            sockets: BTreeMap::new(),
            next_socket: 1,
            statistics: LinkStatistics::default(),
            scratch: vec![0; 65536],
        }
    }

    /// The interface the service runs on.
    pub fn interface(&self) -> &Interface {
        &self.interface
    }

    fn descriptor(&self, socket: DatagramSocket) -> Result<c_int, DatagramError> {
        self.sockets
            .get(&socket)
            .copied()
            .ok_or(DatagramError::UnknownSocket(socket))
    }
}

fn failed(call: &'static str, errno: c_int) -> DatagramError {
    tracing::warn!(call, errno = %NetbsdErrno::from_netbsd(errno), "rump: UDP call failed");
    DatagramError::Device
}

impl Datagram for RumpDatagram {
    fn bind(&mut self, port: u16) -> Result<DatagramSocket, DatagramError> {
        if port == 0 {
            return Err(DatagramError::PortZero);
        }
        let descriptor = worker::call(|| {
            // SAFETY: socket takes plain integers.
            let descriptor = unsafe {
                bindings::rump_sys_socket(
                    bindings::RUMP_AF_INET as c_int,
                    bindings::RUMP_SOCK_DGRAM as c_int,
                    0,
                )
            };
            if descriptor < 0 {
                return Err(failed("socket", last_errno()));
            }
            let size: c_int = SOCKET_BUFFER_BYTES;
            for option in [bindings::RUMP_SO_RCVBUF, bindings::RUMP_SO_SNDBUF] {
                // SAFETY: the value is an int of the size given.
                unsafe {
                    bindings::rump_sys_setsockopt(
                        descriptor,
                        bindings::RUMP_SOL_SOCKET as c_int,
                        option as c_int,
                        (&raw const size).cast(),
                        core::mem::size_of::<c_int>() as u32,
                    )
                };
            }
            let address = SocketAddressIn::new(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
            // SAFETY: `address` is a NetBSD sockaddr_in of the length given.
            let bound = unsafe {
                bindings::rump_sys_bind(
                    descriptor,
                    (&raw const address).cast::<sockaddr>(),
                    core::mem::size_of::<SocketAddressIn>() as u32,
                )
            };
            if bound != 0 {
                let errno = last_errno();
                // SAFETY: the descriptor was just made here and is closed once.
                unsafe { bindings::rump_sys_close(descriptor) };
                return Err(if errno == NetbsdErrno::EADDRINUSE.value() {
                    DatagramError::PortInUse(port)
                } else {
                    failed("bind", errno)
                });
            }
            Ok(descriptor)
        })?;
        let socket = DatagramSocket(self.next_socket);
        self.next_socket += 1;
        self.sockets.insert(socket, descriptor);
        Ok(socket)
    }

    fn close(&mut self, socket: DatagramSocket) -> Result<(), DatagramError> {
        let descriptor = self.descriptor(socket)?;
        self.sockets.remove(&socket);
        // SAFETY: the descriptor is this service's and is closed once.
        worker::call(|| unsafe { bindings::rump_sys_close(descriptor) });
        Ok(())
    }

    fn send_to(
        &mut self,
        socket: DatagramSocket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), DatagramError> {
        let descriptor = self.descriptor(socket)?;
        check_send(to, data.len(), MAXIMUM_DATAGRAM, true)?;
        let address = SocketAddressIn::new(to);
        let sent = worker::call(|| {
            // SAFETY: NetBSD reads `data.len()` bytes of `data` and a sockaddr_in.
            let sent = unsafe {
                bindings::rump_sys_sendto(
                    descriptor,
                    data.as_ptr().cast::<c_void>(),
                    data.len(),
                    bindings::RUMP_MSG_DONTWAIT as c_int,
                    (&raw const address).cast::<sockaddr>(),
                    core::mem::size_of::<SocketAddressIn>() as u32,
                )
            };
            answered(sent).map(|_| ())
        });
        match sent {
            Ok(()) => {
                self.statistics.frames_sent += 1;
                Ok(())
            }
            Err(errno)
                if errno == NetbsdErrno::EAGAIN.value()
                    || errno == NetbsdErrno::ENOBUFS.value() =>
            {
                Err(DatagramError::QueueFull)
            }
            Err(errno)
                if errno == NetbsdErrno::ENETUNREACH.value()
                    || errno == NetbsdErrno::EHOSTUNREACH.value() =>
            {
                Err(DatagramError::Unaddressable(to))
            }
            Err(errno) => {
                self.statistics.send_errors += 1;
                Err(failed("sendto", errno))
            }
        }
    }

    fn receive_from(
        &mut self,
        socket: DatagramSocket,
        buffer: &mut [u8],
    ) -> Result<Option<(usize, SocketAddrV4)>, DatagramError> {
        let descriptor = self.descriptor(socket)?;
        let scratch = &mut self.scratch;
        let received = worker::call(|| {
            // SAFETY: NetBSD writes at most `scratch.len()` bytes into `scratch`.
            let waiting = unsafe {
                bindings::rump_sys_recvfrom(
                    descriptor,
                    scratch.as_mut_ptr().cast::<c_void>(),
                    scratch.len(),
                    (bindings::RUMP_MSG_DONTWAIT | bindings::RUMP_MSG_PEEK) as c_int,
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                )
            };
            let waiting = answered(waiting)?;
            if waiting > buffer.len() {
                return Ok(Err((waiting, buffer.len())));
            }
            let mut from = SocketAddressIn::default();
            let mut from_length = core::mem::size_of::<SocketAddressIn>() as u32;
            // SAFETY: NetBSD writes at most `buffer.len()` bytes and one sockaddr_in.
            let taken = unsafe {
                bindings::rump_sys_recvfrom(
                    descriptor,
                    buffer.as_mut_ptr().cast::<c_void>(),
                    buffer.len(),
                    bindings::RUMP_MSG_DONTWAIT as c_int,
                    (&raw mut from).cast::<sockaddr>(),
                    &mut from_length,
                )
            };
            Ok(Ok((answered(taken)?, from.to_std())))
        });
        match received {
            Ok(Ok(datagram)) => {
                self.statistics.frames_received += 1;
                Ok(Some(datagram))
            }
            Ok(Err((length, capacity))) => Err(DatagramError::BufferTooSmall { length, capacity }),
            Err(errno) if errno == NetbsdErrno::EAGAIN.value() => Ok(None),
            Err(errno) => {
                self.statistics.receive_errors += 1;
                Err(failed("recvfrom", errno))
            }
        }
    }

    fn readiness(&mut self, socket: DatagramSocket) -> Result<Readiness, DatagramError> {
        let descriptor = self.descriptor(socket)?;
        let answer = worker::call(|| {
            let mut polled = pollfd {
                fd: descriptor,
                events: POLLIN | POLLOUT,
                revents: 0,
            };
            // SAFETY: one pollfd, no waiting.
            let ready = unsafe { bindings::rump_sys_poll(&mut polled, 1, 0) };
            if ready < 0 {
                Err(last_errno())
            } else {
                Ok(polled.revents)
            }
        })
        .map_err(|errno| failed("poll", errno))?;
        Ok(Readiness {
            receive: answer & POLLIN != 0,
            send: answer & POLLOUT != 0,
        })
    }

    fn max_datagram_length(&self) -> usize {
        MAXIMUM_DATAGRAM
    }

    fn local_address(&self) -> Option<Ipv4Addr> {
        Some(self.interface.config.address)
    }

    fn poll(&mut self, _now_ms: u64) -> bool {
        // NetBSD moves frames in its own threads; readiness may change at any time.
        true
    }

    fn poll_delay(&mut self, _now_ms: u64) -> Option<u64> {
        // Nothing to do here; a waiting caller should look again soon.
        Some(1)
    }

    fn statistics(&self) -> LinkStatistics {
        self.statistics
    }
}
