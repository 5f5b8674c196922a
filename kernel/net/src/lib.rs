//! The native network stack: `smoltcp` over any [`NetworkDevice`], giving the kernel
//! ARP, IPv4, ICMP echo (answered automatically) and UDP, with static addresses or
//! an address leased by DHCP. UDP is offered only through the device class
//! [`ethos_devices::Datagram`] (see `datagram.rs`), as every datagram backend offers it.
//!
//! Static addresses come from the interface's MAC (see [`NetConfig::for_mac`]), so a
//! test machine is configured by its QEMU options alone; [`NetStack::with_dhcp`]
//! asks the network instead. The stack never blocks and never
//! reads a clock: the caller passes the time to every poll. Frames the device refuses
//! are dropped and counted, as a real wire would drop them; they never panic.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod checksum;
mod datagram;

pub use datagram::DATAGRAM_QUEUE;

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use ethos_abi::drivers::{
    PEER_MAC_PREFIX, TAP_HOST_ADDRESS, TAP_PREFIX_LENGTH, tap_guest_address, tap_guest_number,
};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::{dhcpv4, icmp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, HardwareAddress, Icmpv4Message, Icmpv4Packet,
    Icmpv4Repr, IpAddress, IpCidr, IpProtocol, Ipv4Address, Ipv4Packet,
};

use ethos_devices::{NetworkDevice, NetworkError};

/// An interface's static IPv4 configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetConfig {
    pub address: Ipv4Address,
    pub prefix_length: u8,
    pub gateway: Option<Ipv4Address>,
}

impl NetConfig {
    /// No address yet: what a DHCP interface has until its first lease.
    pub const UNCONFIGURED: NetConfig = NetConfig {
        address: Ipv4Address::UNSPECIFIED,
        prefix_length: 0,
        gateway: None,
    };

    /// QEMU user networking's guest address, mask and gateway.
    pub const USER_NETWORKING: NetConfig = NetConfig {
        address: Ipv4Address::new(10, 0, 2, 15),
        prefix_length: 24,
        gateway: Some(Ipv4Address::new(10, 0, 2, 2)),
    };

    /// The configuration a MAC implies: `52:54:00:e7:00:N` is peer `N` on a socket
    /// network (`10.0.7.N/24`, no gateway); `52:54:00:e8:00:N` is guest `N` on a host
    /// tap network (`10.0.8.N/24`, no gateway; the host is `10.0.8.1`); any other MAC
    /// takes user networking's.
    pub fn for_mac(mac: [u8; 6]) -> NetConfig {
        if let Some(number) = Self::peer_number(mac) {
            return NetConfig {
                address: Self::peer_address(number),
                prefix_length: 24,
                gateway: None,
            };
        }
        if let Some(number) = tap_guest_number(mac) {
            let [a, b, c, d] = tap_guest_address(number);
            return NetConfig {
                address: Ipv4Address::new(a, b, c, d),
                prefix_length: TAP_PREFIX_LENGTH,
                gateway: None,
            };
        }
        Self::USER_NETWORKING
    }

    /// The host's end of a tap network.
    pub fn tap_host_address() -> Ipv4Address {
        let [a, b, c, d] = TAP_HOST_ADDRESS;
        Ipv4Address::new(a, b, c, d)
    }

    /// The peer number a MAC carries, if it has the peer prefix.
    pub fn peer_number(mac: [u8; 6]) -> Option<u8> {
        (mac[..5] == PEER_MAC_PREFIX && mac[5] != 0).then_some(mac[5])
    }

    /// The address of peer `number` on a socket network.
    pub fn peer_address(number: u8) -> Ipv4Address {
        let [a, b, c, d] = ethos_abi::drivers::peer_address(number);
        Ipv4Address::new(a, b, c, d)
    }
}

/// Counters of what crossed the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStatistics {
    pub frames_received: u64,
    pub frames_sent: u64,
    pub send_errors: u64,
    pub receive_errors: u64,
    /// UDP datagrams dropped because their checksum did not hold.
    pub checksum_errors: u64,
    /// ICMP echo replies the device accepted: pings this interface answered.
    pub echo_replies_sent: u64,
}

/// Whether `frame` is an Ethernet frame carrying an IPv4 ICMP echo reply.
pub fn is_icmp_echo_reply(frame: &[u8]) -> bool {
    let Ok(ethernet) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    if ethernet.ethertype() != EthernetProtocol::Ipv4 {
        return false;
    }
    let Ok(ip) = Ipv4Packet::new_checked(ethernet.payload()) else {
        return false;
    };
    if ip.next_header() != IpProtocol::Icmp {
        return false;
    }
    Icmpv4Packet::new_checked(ip.payload())
        .is_ok_and(|icmp| icmp.msg_type() == Icmpv4Message::EchoReply)
}

/// Lends a [`NetworkDevice`] to smoltcp with one receive buffer.
struct Adapter<D> {
    device: D,
    receive_buffer: Vec<u8>,
    statistics: NetStatistics,
}

struct ReceivedFrame<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for ReceivedFrame<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

struct TransmitSlot<'a, D> {
    device: &'a mut D,
    statistics: &'a mut NetStatistics,
}

impl<D: NetworkDevice> phy::TxToken for TransmitSlot<'_, D> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, length: usize, f: F) -> R {
        let mut frame = vec![0u8; length];
        let result = f(&mut frame);
        checksum::fill_udp_checksum(&mut frame);
        match self.device.transmit(&frame) {
            Ok(()) => {
                self.statistics.frames_sent += 1;
                if is_icmp_echo_reply(&frame) {
                    self.statistics.echo_replies_sent += 1;
                }
            }
            Err(_) => self.statistics.send_errors += 1,
        }
        result
    }
}

impl<D: NetworkDevice> phy::Device for Adapter<D> {
    type RxToken<'a>
        = ReceivedFrame<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TransmitSlot<'a, D>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let length = loop {
            match self.device.receive(&mut self.receive_buffer) {
                Ok(Some(length)) => {
                    self.statistics.frames_received += 1;
                    let length = length.min(self.receive_buffer.len());
                    if checksum::udp_checksum_holds(&self.receive_buffer[..length]) {
                        break length;
                    }
                    self.statistics.checksum_errors += 1;
                }
                Ok(None) => return None,
                Err(_) => {
                    self.statistics.receive_errors += 1;
                    return None;
                }
            }
        };
        let frame = &self.receive_buffer[..length];
        Some((
            ReceivedFrame { frame },
            TransmitSlot {
                device: &mut self.device,
                statistics: &mut self.statistics,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        if !self.device.can_transmit() {
            return None;
        }
        Some(TransmitSlot {
            device: &mut self.device,
            statistics: &mut self.statistics,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = self.device.max_frame_length();
        capabilities.max_burst_size = Some(1);
        // UDP checksums are the adapter's, both ways (`checksum`).
        capabilities.checksum.udp = phy::Checksum::None;
        capabilities
    }
}

/// Why a stack operation (other than a datagram's) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetStackError {
    /// The socket's send queue is full, or the message is larger than it.
    SendQueueFull,
    /// The device failed.
    Device(NetworkError),
}

impl fmt::Display for NetStackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetStackError::SendQueueFull => write!(f, "the send queue is full"),
            NetStackError::Device(error) => write!(f, "network device: {error}"),
        }
    }
}

/// A UDP socket the stack handed out: its smoltcp socket and its port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UdpSocketEntry {
    handle: SocketHandle,
    port: u16,
}

/// One interface with its sockets.
pub struct NetStack<D> {
    adapter: Adapter<D>,
    interface: Interface,
    sockets: SocketSet<'static>,
    icmp: SocketHandle,
    config: NetConfig,
    /// The DHCP client, when the address is leased rather than static.
    dhcp: Option<SocketHandle>,
    /// Whether `config` holds an address (always, when static).
    configured: bool,
    /// The datagram sockets, by the number their users hold.
    udp: BTreeMap<u32, UdpSocketEntry>,
    /// The number the next datagram socket gets, if it is free.
    next_udp_socket: u32,
}

impl<D> fmt::Debug for NetStack<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetStack")
            .field("config", &self.config)
            .field("statistics", &self.adapter.statistics)
            .finish_non_exhaustive()
    }
}

/// The identifier the stack's echo requests carry.
const PING_IDENTIFIER: u16 = 0x4554;

impl<D: NetworkDevice> NetStack<D> {
    /// Brings the interface up with `config` at time `now_ms`.
    pub fn new(device: D, config: NetConfig, now_ms: u64) -> NetStack<D> {
        Self::build(device, Some(config), now_ms)
    }

    /// Brings the interface up without an address at time `now_ms`; a DHCP client
    /// asks for one on the following polls (see [`NetStack::is_configured`]).
    pub fn with_dhcp(device: D, now_ms: u64) -> NetStack<D> {
        Self::build(device, None, now_ms)
    }

    fn build(device: D, config: Option<NetConfig>, now_ms: u64) -> NetStack<D> {
        let mac = EthernetAddress(device.mac_address());
        let frame_limit = device.max_frame_length();
        let mut adapter = Adapter {
            device,
            receive_buffer: vec![0u8; frame_limit],
            statistics: NetStatistics::default(),
        };
        let now = Instant::from_millis(now_ms as i64);
        let mut interface = Interface::new(
            Config::new(HardwareAddress::Ethernet(mac)),
            &mut adapter,
            now,
        );
        let mut sockets = SocketSet::new(Vec::new());
        let dhcp = match config {
            Some(config) => {
                apply(&mut interface, config);
                None
            }
            None => Some(sockets.add(dhcpv4::Socket::new())),
        };
        let icmp_socket = icmp::Socket::new(
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 16], vec![0; 4096]),
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 16], vec![0; 4096]),
        );
        let icmp = sockets.add(icmp_socket);
        let mut stack = NetStack {
            adapter,
            interface,
            sockets,
            icmp,
            config: config.unwrap_or(NetConfig::UNCONFIGURED),
            dhcp,
            configured: config.is_some(),
            udp: BTreeMap::new(),
            next_udp_socket: 1,
        };
        let socket = stack.sockets.get_mut::<icmp::Socket>(stack.icmp);
        // Binding an unused identifier on a fresh socket cannot fail.
        let _ = socket.bind(icmp::Endpoint::Ident(PING_IDENTIFIER));
        stack
    }

    /// The interface's configuration ([`NetConfig::UNCONFIGURED`] while a DHCP
    /// interface has no lease).
    pub fn config(&self) -> NetConfig {
        self.config
    }

    /// Whether the interface has an address: always when static, once leased by DHCP.
    pub fn is_configured(&self) -> bool {
        self.configured
    }

    /// Whether the address comes from DHCP.
    pub fn uses_dhcp(&self) -> bool {
        self.dhcp.is_some()
    }

    pub fn statistics(&self) -> NetStatistics {
        self.adapter.statistics
    }

    /// The device, for its own counters.
    pub fn device(&mut self) -> &mut D {
        &mut self.adapter.device
    }

    /// Moves frames both ways and runs timers; returns whether a socket changed.
    pub fn poll(&mut self, now_ms: u64) -> bool {
        let now = Instant::from_millis(now_ms as i64);
        // Every frame the stack sends leaves in its poll: the device is told of them
        // once, after it.
        self.adapter.device.begin_transmit_batch();
        let changed = !matches!(
            self.interface
                .poll(now, &mut self.adapter, &mut self.sockets),
            smoltcp::iface::PollResult::None
        );
        self.adapter.device.end_transmit_batch();
        let Some(dhcp) = self.dhcp else {
            return changed;
        };
        let leased = match self.sockets.get_mut::<dhcpv4::Socket>(dhcp).poll() {
            None => return changed,
            Some(dhcpv4::Event::Configured(lease)) => Some(NetConfig {
                address: lease.address.address(),
                prefix_length: lease.address.prefix_len(),
                gateway: lease.router,
            }),
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        self.configured = leased.is_some();
        self.config = leased.unwrap_or(NetConfig::UNCONFIGURED);
        apply(&mut self.interface, self.config);
        true
    }

    /// Sends an ICMP echo request with `sequence` to `target`.
    pub fn ping(&mut self, target: Ipv4Address, sequence: u16) -> Result<(), NetStackError> {
        let request = Icmpv4Repr::EchoRequest {
            ident: PING_IDENTIFIER,
            seq_no: sequence,
            data: b"ethos ping",
        };
        let socket = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        let payload = socket
            .send(request.buffer_len(), IpAddress::Ipv4(target))
            .map_err(|_| NetStackError::SendQueueFull)?;
        let mut packet = Icmpv4Packet::new_unchecked(payload);
        request.emit(&mut packet, &smoltcp::phy::ChecksumCapabilities::default());
        Ok(())
    }

    /// The sequence number and sender of one echo reply, if one arrived.
    pub fn ping_reply(&mut self) -> Option<(u16, Ipv4Address)> {
        let socket = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        while socket.can_recv() {
            let (payload, IpAddress::Ipv4(from)) = socket.recv().ok()?;
            let packet = Icmpv4Packet::new_checked(payload).ok()?;
            let checksums = smoltcp::phy::ChecksumCapabilities::default();
            if let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) =
                Icmpv4Repr::parse(&packet, &checksums)
                && ident == PING_IDENTIFIER
            {
                return Some((seq_no, from));
            }
        }
        None
    }
}

/// Gives the interface `config`'s address and default route, replacing any.
fn apply(interface: &mut Interface, config: NetConfig) {
    interface.update_ip_addrs(|addresses| {
        addresses.clear();
        if config != NetConfig::UNCONFIGURED {
            // The list was just emptied; it has room for one address.
            let _ = addresses.push(IpCidr::new(
                IpAddress::Ipv4(config.address),
                config.prefix_length,
            ));
        }
    });
    interface.routes_mut().remove_default_ipv4_route();
    if let Some(gateway) = config.gateway {
        // Only fails when the route table is full; the default route was just removed.
        let _ = interface.routes_mut().add_default_ipv4_route(gateway);
    }
}

#[cfg(test)]
mod tests;
