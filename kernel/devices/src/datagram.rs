//! The datagram class: UDP over IPv4 — bind a port, send to an address and port,
//! receive with the sender, readiness, and the poll hook that does a stack's work.
//!
//! A datagram service is a network stack over a network device: the native one is
//! `ethos-net` (smoltcp), a rump one would be NetBSD's. Callers hold sockets as
//! [`DatagramSocket`] numbers the service gave out; a number the service does not
//! know (never bound, or closed) is an error, never a panic. A service never blocks
//! and never reads a clock: the caller passes the time to [`Datagram::poll`] and asks
//! [`Datagram::poll_delay`] when to come back.

use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

/// A bound UDP socket of one [`Datagram`] service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DatagramSocket(pub u32);

impl fmt::Display for DatagramSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socket {}", self.0)
    }
}

/// What a socket can do now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// A datagram is waiting: [`Datagram::receive_from`] returns it.
    pub receive: bool,
    /// The send queue has room for another datagram.
    pub send: bool,
}

/// Why a datagram operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramError {
    /// Port 0 names no port; a socket binds a port of its own choosing.
    PortZero,
    /// Another socket of the service holds the port.
    PortInUse(u16),
    /// The service has no such socket: it was never bound, or it was closed.
    UnknownSocket(DatagramSocket),
    /// The datagram is larger than one datagram of the service can be.
    TooLarge { length: usize, limit: usize },
    /// The destination cannot be sent to (unspecified address or port 0), or the
    /// service has no address of its own yet.
    Unaddressable(SocketAddrV4),
    /// The send queue is full; poll and try again.
    QueueFull,
    /// The waiting datagram is longer than the buffer; it stays queued, so a larger
    /// buffer can take it.
    BufferTooSmall { length: usize, capacity: usize },
    /// The backend or its device failed.
    Device,
}

impl fmt::Display for DatagramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatagramError::PortZero => write!(f, "port 0 cannot be bound"),
            DatagramError::PortInUse(port) => write!(f, "UDP port {port} is already bound"),
            DatagramError::UnknownSocket(socket) => {
                write!(f, "{socket} is not bound (never, or no longer)")
            }
            DatagramError::TooLarge { length, limit } => write!(
                f,
                "a {length}-byte datagram exceeds the limit of {limit} bytes"
            ),
            DatagramError::Unaddressable(to) => write!(f, "{to} cannot be sent to"),
            DatagramError::QueueFull => write!(f, "the send queue is full"),
            DatagramError::BufferTooSmall { length, capacity } => write!(
                f,
                "a {length}-byte datagram does not fit a {capacity}-byte buffer"
            ),
            DatagramError::Device => write!(f, "the backend or its device failed"),
        }
    }
}

/// What crossed the interface under a datagram service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStatistics {
    pub frames_received: u64,
    pub frames_sent: u64,
    /// Frames the device refused to send.
    pub send_errors: u64,
    /// Receive attempts the device failed.
    pub receive_errors: u64,
    /// UDP datagrams dropped because their checksum did not hold. The rump backend
    /// leaves this at zero: NetBSD drops and counts those in its own statistics.
    pub checksum_errors: u64,
}

/// Checks a datagram of `length` bytes to `to` against the class's rules before a
/// service hands it to its stack: a destination with an address and a port, a
/// service with an address of its own (`addressed`), and at most `limit` bytes.
/// Every backend calls this, so all answer alike.
pub fn check_send(
    to: SocketAddrV4,
    length: usize,
    limit: usize,
    addressed: bool,
) -> Result<(), DatagramError> {
    if to.port() == 0 || to.ip().is_unspecified() || !addressed {
        return Err(DatagramError::Unaddressable(to));
    }
    if length > limit {
        return Err(DatagramError::TooLarge { length, limit });
    }
    Ok(())
}

/// UDP over IPv4 on one interface.
pub trait Datagram {
    /// Opens a socket on UDP `port` of every local address.
    fn bind(&mut self, port: u16) -> Result<DatagramSocket, DatagramError>;

    /// Closes `socket`: its port is free again and queued datagrams are dropped.
    fn close(&mut self, socket: DatagramSocket) -> Result<(), DatagramError>;

    /// Queues `data` as one datagram to `to`; it leaves on a following poll.
    fn send_to(
        &mut self,
        socket: DatagramSocket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), DatagramError>;

    /// Takes one received datagram into `buffer`: its length and its sender.
    /// `Ok(None)` when none is waiting.
    fn receive_from(
        &mut self,
        socket: DatagramSocket,
        buffer: &mut [u8],
    ) -> Result<Option<(usize, SocketAddrV4)>, DatagramError>;

    /// What `socket` can do now, without waiting.
    fn readiness(&mut self, socket: DatagramSocket) -> Result<Readiness, DatagramError>;

    /// The longest datagram payload the service sends.
    fn max_datagram_length(&self) -> usize;

    /// The service's own address, once it has one.
    fn local_address(&self) -> Option<Ipv4Addr>;

    /// Does the stack's work at `now_ms` (milliseconds on any clock that only goes
    /// forward): moves frames both ways and runs timers. Returns whether a socket's
    /// readiness may have changed, so a waiting caller should look again.
    fn poll(&mut self, now_ms: u64) -> bool;

    /// How long, from `now_ms`, the service may go without a poll if no frame
    /// arrives: `Some(0)` means poll now, `None` means only when a frame arrives or
    /// a socket is used. A caller that sleeps wakes at this time or on a device
    /// interrupt, whichever is first.
    fn poll_delay(&mut self, now_ms: u64) -> Option<u64>;

    /// What crossed the interface so far.
    fn statistics(&self) -> LinkStatistics;
}

impl<T: Datagram + ?Sized> Datagram for alloc::boxed::Box<T> {
    fn bind(&mut self, port: u16) -> Result<DatagramSocket, DatagramError> {
        (**self).bind(port)
    }
    fn close(&mut self, socket: DatagramSocket) -> Result<(), DatagramError> {
        (**self).close(socket)
    }
    fn send_to(
        &mut self,
        socket: DatagramSocket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), DatagramError> {
        (**self).send_to(socket, to, data)
    }
    fn receive_from(
        &mut self,
        socket: DatagramSocket,
        buffer: &mut [u8],
    ) -> Result<Option<(usize, SocketAddrV4)>, DatagramError> {
        (**self).receive_from(socket, buffer)
    }
    fn readiness(&mut self, socket: DatagramSocket) -> Result<Readiness, DatagramError> {
        (**self).readiness(socket)
    }
    fn max_datagram_length(&self) -> usize {
        (**self).max_datagram_length()
    }
    fn local_address(&self) -> Option<Ipv4Addr> {
        (**self).local_address()
    }
    fn poll(&mut self, now_ms: u64) -> bool {
        (**self).poll(now_ms)
    }
    fn poll_delay(&mut self, now_ms: u64) -> Option<u64> {
        (**self).poll_delay(now_ms)
    }
    fn statistics(&self) -> LinkStatistics {
        (**self).statistics()
    }
}
