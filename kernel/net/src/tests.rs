//! Host tests: two stacks on an in-memory wire resolve each other with ARP, answer
//! pings and exchange UDP datagrams byte-exact through the datagram class (its
//! conformance checks included); a DHCP interface takes its lease from a server on
//! the wire.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::rc::Rc;

use ethos_devices::datagram_check::{
    self, DatagramCheckError, EchoClient, EchoProgress, EchoServer,
};
use ethos_devices::{Datagram, DatagramError, Readiness};

use super::*;

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of a wire: frames sent here arrive at the other end. Like a device whose
/// announcements are batched, frames transmitted inside a batch reach the wire only
/// when it ends, so a stack that left a batch open would lose them.
struct WireEnd {
    mac: [u8; 6],
    outgoing: Queue,
    incoming: Queue,
    /// Refuse every transmit, as a broken device would.
    broken: bool,
    /// The frames of the batch under way, if one is.
    held: Option<Vec<Vec<u8>>>,
    /// Batches that ended with frames in them.
    announcements: usize,
}

impl WireEnd {
    fn new(mac: [u8; 6], outgoing: Queue, incoming: Queue) -> WireEnd {
        WireEnd {
            mac,
            outgoing,
            incoming,
            broken: false,
            held: None,
            announcements: 0,
        }
    }
}

impl NetworkDevice for WireEnd {
    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }
    fn link_up(&self) -> bool {
        true
    }
    fn max_frame_length(&self) -> usize {
        1514
    }
    fn can_transmit(&mut self) -> bool {
        true
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), NetworkError> {
        if self.broken {
            return Err(NetworkError::Device);
        }
        match &mut self.held {
            Some(held) => held.push(frame.to_vec()),
            None => self.outgoing.borrow_mut().push_back(frame.to_vec()),
        }
        Ok(())
    }
    fn begin_transmit_batch(&mut self) {
        assert!(self.held.is_none(), "a batch began inside another");
        self.held = Some(Vec::new());
    }
    fn end_transmit_batch(&mut self) {
        let held = self.held.take().expect("a batch ended that never began");
        if !held.is_empty() {
            self.announcements += 1;
            self.outgoing.borrow_mut().extend(held);
        }
    }
    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, NetworkError> {
        let Some(frame) = self.incoming.borrow_mut().pop_front() else {
            return Ok(None);
        };
        buffer[..frame.len()].copy_from_slice(&frame);
        Ok(Some(frame.len()))
    }
}

fn peer_mac(number: u8) -> [u8; 6] {
    let mut mac = [0; 6];
    mac[..5].copy_from_slice(&PEER_MAC_PREFIX);
    mac[5] = number;
    mac
}

fn wire() -> (NetStack<WireEnd>, NetStack<WireEnd>) {
    let one_to_two = Queue::default();
    let two_to_one = Queue::default();
    let one = WireEnd::new(peer_mac(1), one_to_two.clone(), two_to_one.clone());
    let two = WireEnd::new(peer_mac(2), two_to_one, one_to_two);
    (
        NetStack::new(one, NetConfig::for_mac(peer_mac(1)), 0),
        NetStack::new(two, NetConfig::for_mac(peer_mac(2)), 0),
    )
}

fn run(one: &mut NetStack<WireEnd>, two: &mut NetStack<WireEnd>, now: &mut u64) {
    for _ in 0..8 {
        *now += 1;
        one.poll(*now);
        two.poll(*now);
    }
}

#[test]
fn configuration_follows_the_mac() {
    assert_eq!(
        NetConfig::for_mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
        NetConfig::USER_NETWORKING
    );
    let peer = NetConfig::for_mac(peer_mac(2));
    assert_eq!(peer.address, Ipv4Address::new(10, 0, 7, 2));
    assert_eq!(peer.gateway, None);
    assert_eq!(NetConfig::peer_number(peer_mac(0)), None);
}

#[test]
fn a_tap_mac_gives_the_tap_network_and_never_the_host_address() {
    use ethos_abi::drivers::{TAP_GUEST_NUMBER, tap_guest_mac};
    let guest = NetConfig::for_mac(tap_guest_mac(TAP_GUEST_NUMBER));
    assert_eq!(guest.address, Ipv4Address::new(10, 0, 8, 2));
    assert_eq!(guest.prefix_length, 24);
    assert_eq!(guest.gateway, None);
    assert_eq!(NetConfig::tap_host_address(), Ipv4Address::new(10, 0, 8, 1));
    // The host's own number, and the network and broadcast numbers, are not guests.
    for reserved in [0, 1, 255] {
        assert_eq!(
            NetConfig::for_mac(tap_guest_mac(reserved)),
            NetConfig::USER_NETWORKING
        );
    }
}

#[test]
fn the_frames_of_one_poll_are_announced_to_the_device_once() {
    let (mut one, mut two) = wire();
    let socket_one = one.bind(7000).unwrap();
    let socket_two = two.bind(7000).unwrap();
    let to_two = SocketAddrV4::new(NetConfig::peer_address(2), 7000);
    let mut now = 0;
    // The first datagram resolves the peer's address.
    one.send_to(socket_one, to_two, b"first").unwrap();
    run(&mut one, &mut two, &mut now);
    let mut buffer = [0u8; 2048];
    assert!(two.receive_from(socket_two, &mut buffer).unwrap().is_some());
    let before = one.device().announcements;
    for index in 0..3u8 {
        one.send_to(socket_one, to_two, &[index; 600]).unwrap();
    }
    now += 1;
    one.poll(now);
    assert_eq!(
        one.device().announcements,
        before + 1,
        "three datagrams sent in one poll are one announcement"
    );
    run(&mut one, &mut two, &mut now);
    for index in 0..3u8 {
        let (length, _) = two.receive_from(socket_two, &mut buffer).unwrap().unwrap();
        assert_eq!(&buffer[..length], &[index; 600][..]);
    }
}

#[test]
fn udp_crosses_the_wire_both_ways_byte_exact() {
    let (mut one, mut two) = wire();
    let socket_one = one.bind(7000).unwrap();
    let socket_two = two.bind(7000).unwrap();
    let mut now = 0;
    let address_two = NetConfig::peer_address(2);
    let address_one = NetConfig::peer_address(1);
    let mut buffer = [0u8; 2048];
    for size in [1usize, 17, 512, 1472] {
        let data: Vec<u8> = (0..size).map(|index| (index * 7 + size) as u8).collect();
        one.send_to(socket_one, SocketAddrV4::new(address_two, 7000), &data)
            .unwrap();
        run(&mut one, &mut two, &mut now);
        let (length, from) = two.receive_from(socket_two, &mut buffer).unwrap().unwrap();
        assert_eq!(
            (&buffer[..length], from),
            (&data[..], SocketAddrV4::new(address_one, 7000))
        );
        two.send_to(socket_two, from, &buffer[..length]).unwrap();
        run(&mut one, &mut two, &mut now);
        let (length, from) = one.receive_from(socket_one, &mut buffer).unwrap().unwrap();
        assert_eq!((&buffer[..length], *from.ip()), (&data[..], address_two));
    }
    assert!(one.statistics().frames_sent >= 5, "ARP plus four datagrams");
}

#[test]
fn a_corrupted_datagram_is_dropped_and_counted_and_the_next_arrives() {
    let (mut one, mut two) = wire();
    let socket_one = one.bind(7000).unwrap();
    let socket_two = two.bind(7000).unwrap();
    let to_two = SocketAddrV4::new(NetConfig::peer_address(2), 7000);
    let mut now = 0;
    let mut buffer = [0u8; 2048];
    // The first datagram also settles ARP.
    one.send_to(socket_one, to_two, b"first").unwrap();
    run(&mut one, &mut two, &mut now);
    assert_eq!(
        two.receive_from(socket_two, &mut buffer)
            .unwrap()
            .map(|(n, _)| n),
        Some(5)
    );

    one.send_to(socket_one, to_two, b"corrupted on the wire")
        .unwrap();
    now += 1;
    one.poll(now);
    {
        let mut queue = two.adapter.device.incoming.borrow_mut();
        let frame = queue.back_mut().expect("the datagram is on the wire");
        let last = frame.len() - 1;
        frame[last] ^= 0x20;
    }
    run(&mut one, &mut two, &mut now);
    assert_eq!(two.receive_from(socket_two, &mut buffer).unwrap(), None);
    assert_eq!(two.statistics().checksum_errors, 1);

    one.send_to(socket_one, to_two, b"intact").unwrap();
    run(&mut one, &mut two, &mut now);
    let (length, _) = two.receive_from(socket_two, &mut buffer).unwrap().unwrap();
    assert_eq!(&buffer[..length], b"intact");
    assert_eq!(two.statistics().checksum_errors, 1);
    assert_eq!(one.statistics().checksum_errors, 0);
}

#[test]
fn pings_are_answered() {
    let (mut one, mut two) = wire();
    let mut now = 0;
    one.ping(NetConfig::peer_address(2), 1).unwrap();
    run(&mut one, &mut two, &mut now);
    // The first request may wait on ARP; ask again once the neighbour is known.
    one.ping(NetConfig::peer_address(2), 2).unwrap();
    run(&mut one, &mut two, &mut now);
    let mut replies = Vec::new();
    while let Some(reply) = one.ping_reply() {
        replies.push(reply);
    }
    assert!(
        replies.contains(&(2, NetConfig::peer_address(2))),
        "{replies:?}"
    );
    // Only the pinged side answered, and it counted what it answered.
    assert_eq!(
        two.statistics().echo_replies_sent,
        replies.len() as u64,
        "{replies:?}"
    );
    assert_eq!(one.statistics().echo_replies_sent, 0);
}

#[test]
fn only_echo_replies_are_counted_as_answers() {
    let (mut one, mut two) = wire();
    let mut now = 0;
    let socket_one = one.bind(7000).unwrap();
    let socket_two = two.bind(7000).unwrap();
    one.send_to(
        socket_one,
        SocketAddrV4::new(NetConfig::peer_address(2), 7000),
        b"not a ping",
    )
    .unwrap();
    run(&mut one, &mut two, &mut now);
    let mut buffer = [0u8; 64];
    assert!(two.receive_from(socket_two, &mut buffer).unwrap().is_some());
    assert_eq!(one.statistics().echo_replies_sent, 0);
    assert_eq!(two.statistics().echo_replies_sent, 0);
    assert!(!is_icmp_echo_reply(&[]));
    assert!(!is_icmp_echo_reply(&[0xff; 60]));
}

#[test]
fn a_device_that_refuses_frames_is_counted_not_fatal() {
    let (mut one, mut two) = wire();
    one.device().broken = true;
    let socket = one.bind(7000).unwrap();
    one.send_to(
        socket,
        SocketAddrV4::new(NetConfig::peer_address(2), 7000),
        b"lost",
    )
    .unwrap();
    let mut now = 0;
    run(&mut one, &mut two, &mut now);
    assert!(one.statistics().send_errors > 0);
    assert_eq!(one.statistics().frames_sent, 0);
}

#[test]
fn the_native_stack_keeps_the_socket_rules() {
    let (mut one, _two) = wire();
    assert_eq!(datagram_check::check_socket_rules(&mut one, 7000), Ok(()));
    assert_eq!(one.max_datagram_length(), 1472);
    assert_eq!(one.local_address(), Some(NetConfig::peer_address(1)));
    // The checked socket is closed again: its port binds, nothing else is open.
    assert!(one.bind(7000).is_ok());
    assert_eq!(one.udp.len(), 1);
}

/// Runs an echo client on stack one against an echo server on stack two until the
/// client finishes or fails; then stops the server. Returns the client's outcome
/// and the server's summary, if the stop datagram ended it.
fn echo_across_the_wire(
    one: &mut NetStack<WireEnd>,
    two: &mut NetStack<WireEnd>,
    count: u32,
) -> (
    Result<datagram_check::EchoSummary, DatagramCheckError>,
    Option<datagram_check::EchoSummary>,
) {
    let mut server = EchoServer::bind(two, ethos_abi::drivers::UDP_ECHO_PORT).unwrap();
    let peer = SocketAddrV4::new(
        NetConfig::peer_address(2),
        ethos_abi::drivers::UDP_ECHO_PORT,
    );
    let mut client = EchoClient::bind(one, 7001, peer, count).unwrap();
    let mut now = 0;
    let outcome = loop {
        now += 1;
        match client.step(one, now) {
            Ok(EchoProgress::Going) => {}
            Ok(EchoProgress::Finished(summary)) => break Ok(summary),
            Err(error) => break Err(error),
        }
        assert_eq!(server.serve(two, now), Ok(EchoProgress::Going));
    };
    let mut stopped = None;
    if outcome.is_ok() {
        client.stop(one, now).unwrap();
        for _ in 0..8 {
            now += 1;
            if let Ok(EchoProgress::Finished(summary)) = server.serve(two, now) {
                stopped = Some(summary);
                break;
            }
        }
    }
    (outcome, stopped)
}

#[test]
fn the_echo_check_passes_across_the_wire() {
    let (mut one, mut two) = wire();
    let (client, server) = echo_across_the_wire(&mut one, &mut two, 200);
    let client = client.unwrap();
    assert_eq!(client.datagrams, 200);
    let expected: u64 = (0..200)
        .map(|index| datagram_check::echo_payload(index, 1472).len() as u64)
        .sum();
    assert_eq!(client.bytes, expected);
    let server = server.expect("the stop datagram ended the server");
    assert_eq!((server.datagrams, server.bytes), (200, expected));
    // The client may resend while ARP resolves; every resend was answered too.
    assert_eq!(server.datagrams, client.datagrams + client.dropped);
}

#[test]
fn a_device_that_drops_every_frame_fails_the_echo_check() {
    let (mut one, mut two) = wire();
    two.device().broken = true;
    let (client, server) = echo_across_the_wire(&mut one, &mut two, 3);
    assert!(
        matches!(client, Err(DatagramCheckError::NoEcho { index: 0, .. })),
        "{client:?}"
    );
    assert_eq!(server, None);
}

#[test]
fn a_datagram_longer_than_the_buffer_stays_queued() {
    let (mut one, mut two) = wire();
    let sender = one.bind(7000).unwrap();
    let receiver = two.bind(7000).unwrap();
    assert_eq!(
        two.readiness(receiver),
        Ok(Readiness {
            receive: false,
            send: true
        })
    );
    one.send_to(
        sender,
        SocketAddrV4::new(NetConfig::peer_address(2), 7000),
        &[0x42; 300],
    )
    .unwrap();
    let mut now = 0;
    run(&mut one, &mut two, &mut now);
    assert!(two.readiness(receiver).unwrap().receive);
    let mut short = [0u8; 100];
    assert_eq!(
        two.receive_from(receiver, &mut short),
        Err(DatagramError::BufferTooSmall {
            length: 300,
            capacity: 100
        })
    );
    let mut long = [0u8; 1500];
    let (length, from) = two.receive_from(receiver, &mut long).unwrap().unwrap();
    assert_eq!(
        (length, from),
        (300, SocketAddrV4::new(NetConfig::peer_address(1), 7000))
    );
    assert!(long[..300].iter().all(|byte| *byte == 0x42));
    assert!(!two.readiness(receiver).unwrap().receive);
    assert_eq!(two.receive_from(receiver, &mut long), Ok(None));
}

#[test]
fn the_poll_hook_asks_for_a_poll_while_a_datagram_waits_to_leave() {
    let (mut one, _two) = wire();
    let socket = one.bind(7000).unwrap();
    one.send_to(
        socket,
        SocketAddrV4::new(NetConfig::peer_address(2), 7000),
        b"soon",
    )
    .unwrap();
    assert_eq!(one.poll_delay(5), Some(0));
    Datagram::poll(&mut one, 5);
    assert_eq!(
        Datagram::statistics(&one).frames_sent,
        1,
        "no ARP request left"
    );
    // Nobody answers the ARP request: the datagram waits, and the hook names the
    // time of the next try rather than asking for a poll at once.
    let delay = one.poll_delay(5);
    assert!(delay.is_some_and(|delay| delay > 0), "{delay:?}");
}

mod dhcp {
    //! A DHCP server on the wire's far end, built from smoltcp's own wire types:
    //! it answers DISCOVER with OFFER and REQUEST with ACK.

    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        DhcpMessageType, DhcpPacket, DhcpRepr, EthernetRepr, Ipv4Repr, UdpPacket, UdpRepr,
    };

    use super::*;

    const SERVER_MAC: [u8; 6] = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
    const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
    const LEASED: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
    const MASK: Ipv4Address = Ipv4Address::new(255, 255, 255, 0);

    /// The server's answer to one client frame, if it is a DHCP request it serves.
    fn answer(frame: &[u8]) -> Option<Vec<u8>> {
        let ethernet = EthernetFrame::new_checked(frame).ok()?;
        let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
        let udp = UdpPacket::new_checked(ip.payload()).ok()?;
        if udp.dst_port() != 67 {
            return None;
        }
        let packet = DhcpPacket::new_checked(udp.payload()).ok()?;
        let request = DhcpRepr::parse(&packet).ok()?;
        let message_type = match request.message_type {
            DhcpMessageType::Discover => DhcpMessageType::Offer,
            DhcpMessageType::Request => DhcpMessageType::Ack,
            _ => return None,
        };
        let reply = DhcpRepr {
            message_type,
            transaction_id: request.transaction_id,
            secs: 0,
            client_hardware_address: request.client_hardware_address,
            client_ip: Ipv4Address::UNSPECIFIED,
            your_ip: LEASED,
            server_ip: SERVER,
            router: Some(SERVER),
            subnet_mask: Some(MASK),
            relay_agent_ip: Ipv4Address::UNSPECIFIED,
            broadcast: false,
            requested_ip: None,
            client_identifier: None,
            server_identifier: Some(SERVER),
            parameter_request_list: None,
            dns_servers: None,
            max_size: None,
            lease_duration: Some(86_400),
            renew_duration: None,
            rebind_duration: None,
            additional_options: &[],
        };
        let mut dhcp_bytes = vec![0u8; reply.buffer_len()];
        reply
            .emit(&mut DhcpPacket::new_unchecked(&mut dhcp_bytes[..]))
            .ok()?;
        let udp_repr = UdpRepr {
            src_port: 67,
            dst_port: 68,
        };
        let broadcast = Ipv4Address::BROADCAST;
        let ip_repr = Ipv4Repr {
            src_addr: SERVER,
            dst_addr: broadcast,
            next_header: IpProtocol::Udp,
            payload_len: udp_repr.header_len() + dhcp_bytes.len(),
            hop_limit: 64,
        };
        let ethernet_repr = EthernetRepr {
            src_addr: EthernetAddress(SERVER_MAC),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut out =
            vec![0u8; ethernet_repr.buffer_len() + ip_repr.buffer_len() + ip_repr.payload_len];
        let mut frame = EthernetFrame::new_unchecked(&mut out[..]);
        ethernet_repr.emit(&mut frame);
        let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
        let checksums = ChecksumCapabilities::default();
        ip_repr.emit(&mut packet, &checksums);
        udp_repr.emit(
            &mut UdpPacket::new_unchecked(packet.payload_mut()),
            &IpAddress::Ipv4(SERVER),
            &IpAddress::Ipv4(broadcast),
            dhcp_bytes.len(),
            |payload| payload.copy_from_slice(&dhcp_bytes),
            &checksums,
        );
        Some(out)
    }

    #[test]
    fn a_dhcp_interface_takes_the_leased_address_and_router() {
        let to_server = Queue::default();
        let to_client = Queue::default();
        let device = WireEnd::new(
            [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
            to_server.clone(),
            to_client.clone(),
        );
        let mut stack = NetStack::with_dhcp(device, 0);
        assert!(stack.uses_dhcp());
        assert!(!stack.is_configured());
        assert_eq!(stack.config(), NetConfig::UNCONFIGURED);
        let mut now = 0;
        let mut answered = 0;
        while !stack.is_configured() && now < 10_000 {
            now += 10;
            stack.poll(now);
            while let Some(frame) = to_server.borrow_mut().pop_front() {
                if let Some(reply) = answer(&frame) {
                    answered += 1;
                    to_client.borrow_mut().push_back(reply);
                }
            }
        }
        assert!(stack.is_configured(), "no lease after {now} ms");
        assert_eq!(answered, 2, "one OFFER and one ACK");
        assert_eq!(
            stack.config(),
            NetConfig {
                address: LEASED,
                prefix_length: 24,
                gateway: Some(SERVER),
            }
        );
    }

    #[test]
    fn without_a_server_a_dhcp_interface_stays_unconfigured() {
        let device = WireEnd::new(
            [0x52, 0x54, 0x00, 0x12, 0x34, 0x57],
            Queue::default(),
            Queue::default(),
        );
        let mut stack = NetStack::with_dhcp(device, 0);
        for now in (0..5_000).step_by(50) {
            stack.poll(now);
        }
        assert!(!stack.is_configured());
        // Without an address, nothing can be sent.
        assert_eq!(stack.local_address(), None);
        // The DHCP client holds its port.
        assert_eq!(stack.bind(68), Err(DatagramError::PortInUse(68)));
        let socket = stack.bind(7000).unwrap();
        let to = SocketAddrV4::new(Ipv4Address::new(10, 0, 2, 2), 7000);
        assert_eq!(
            stack.send_to(socket, to, b"too early"),
            Err(DatagramError::Unaddressable(to))
        );
        assert!(stack.statistics().frames_sent >= 1, "no DISCOVER was sent");
    }
}
