//! The native datagram service: [`Datagram`] on a [`NetStack`], with smoltcp's UDP
//! sockets.
//!
//! The stack hands out socket numbers and keeps, for each, the smoltcp handle and
//! the port; smoltcp itself neither refuses a port another socket holds nor survives
//! a handle that is gone, so both are checked here before smoltcp is asked.

use alloc::vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use ethos_devices::datagram::check_send;
use ethos_devices::{
    Datagram, DatagramError, DatagramSocket, LinkStatistics, NetworkDevice, Readiness,
};
use smoltcp::socket::udp;
use smoltcp::time::Instant;
use smoltcp::wire::IpAddress;

use crate::{NetStack, UdpSocketEntry};

/// Datagrams each socket queues each way.
pub const DATAGRAM_QUEUE: usize = 64;

/// The port a DHCP client receives on; the stack's own client holds it.
const DHCP_CLIENT_PORT: u16 = 68;

/// Ethernet, IPv4 and UDP headers: what a frame holds besides the payload.
const HEADERS: usize = 14 + 20 + 8;

impl<D: NetworkDevice> NetStack<D> {
    fn udp_entry(&self, socket: DatagramSocket) -> Result<UdpSocketEntry, DatagramError> {
        self.udp
            .get(&socket.0)
            .copied()
            .ok_or(DatagramError::UnknownSocket(socket))
    }
}

impl<D: NetworkDevice> Datagram for NetStack<D> {
    fn bind(&mut self, port: u16) -> Result<DatagramSocket, DatagramError> {
        if port == 0 {
            return Err(DatagramError::PortZero);
        }
        let dhcp_client = self.dhcp.is_some() && port == DHCP_CLIENT_PORT;
        if dhcp_client || self.udp.values().any(|entry| entry.port == port) {
            return Err(DatagramError::PortInUse(port));
        }
        let slot = self.max_datagram_length().max(1536);
        let buffer = || {
            udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; DATAGRAM_QUEUE],
                vec![0; DATAGRAM_QUEUE * slot],
            )
        };
        let mut socket = udp::Socket::new(buffer(), buffer());
        // A fresh socket on a non-zero port: smoltcp refuses neither.
        socket.bind(port).map_err(|_| DatagramError::PortZero)?;
        let handle = self.sockets.add(socket);
        let mut number = self.next_udp_socket;
        while self.udp.contains_key(&number) {
            number = number.wrapping_add(1);
        }
        self.next_udp_socket = number.wrapping_add(1);
        self.udp.insert(number, UdpSocketEntry { handle, port });
        Ok(DatagramSocket(number))
    }

    fn close(&mut self, socket: DatagramSocket) -> Result<(), DatagramError> {
        let entry = self.udp_entry(socket)?;
        self.udp.remove(&socket.0);
        self.sockets.remove(entry.handle);
        Ok(())
    }

    fn send_to(
        &mut self,
        socket: DatagramSocket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), DatagramError> {
        let entry = self.udp_entry(socket)?;
        check_send(to, data.len(), self.max_datagram_length(), self.configured)?;
        self.sockets
            .get_mut::<udp::Socket>(entry.handle)
            .send_slice(data, (IpAddress::Ipv4(*to.ip()), to.port()))
            .map_err(|error| match error {
                udp::SendError::BufferFull => DatagramError::QueueFull,
                udp::SendError::Unaddressable => DatagramError::Unaddressable(to),
            })
    }

    fn receive_from(
        &mut self,
        socket: DatagramSocket,
        buffer: &mut [u8],
    ) -> Result<Option<(usize, SocketAddrV4)>, DatagramError> {
        let entry = self.udp_entry(socket)?;
        let socket = self.sockets.get_mut::<udp::Socket>(entry.handle);
        // Look first: smoltcp drops a datagram that does not fit the buffer.
        let length = match socket.peek() {
            Ok((payload, _)) => payload.len(),
            Err(_) => return Ok(None),
        };
        if length > buffer.len() {
            return Err(DatagramError::BufferTooSmall {
                length,
                capacity: buffer.len(),
            });
        }
        let (length, metadata) = socket
            .recv_slice(buffer)
            .map_err(|_| DatagramError::Device)?;
        let IpAddress::Ipv4(address) = metadata.endpoint.addr;
        Ok(Some((
            length,
            SocketAddrV4::new(address, metadata.endpoint.port),
        )))
    }

    fn readiness(&mut self, socket: DatagramSocket) -> Result<Readiness, DatagramError> {
        let entry = self.udp_entry(socket)?;
        let socket = self.sockets.get::<udp::Socket>(entry.handle);
        Ok(Readiness {
            receive: socket.can_recv(),
            send: socket.can_send(),
        })
    }

    fn max_datagram_length(&self) -> usize {
        self.adapter
            .device
            .max_frame_length()
            .saturating_sub(HEADERS)
    }

    fn local_address(&self) -> Option<Ipv4Addr> {
        self.configured.then_some(self.config.address)
    }

    fn poll(&mut self, now_ms: u64) -> bool {
        NetStack::poll(self, now_ms)
    }

    fn poll_delay(&mut self, now_ms: u64) -> Option<u64> {
        self.interface
            .poll_delay(Instant::from_millis(now_ms as i64), &self.sockets)
            .map(|delay| delay.total_millis())
    }

    fn statistics(&self) -> LinkStatistics {
        let statistics = self.adapter.statistics;
        LinkStatistics {
            frames_received: statistics.frames_received,
            frames_sent: statistics.frames_sent,
            send_errors: statistics.send_errors,
            receive_errors: statistics.receive_errors,
            checksum_errors: statistics.checksum_errors,
        }
    }
}
