//! Host tests: two stacks on an in-memory wire resolve each other with ARP, answer
//! pings and exchange UDP datagrams byte-exact; a DHCP interface takes its lease
//! from a server on the wire.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::*;

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of a wire: frames sent here arrive at the other end.
struct WireEnd {
    mac: [u8; 6],
    outgoing: Queue,
    incoming: Queue,
    /// Refuse every transmit, as a broken device would.
    broken: bool,
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
        self.outgoing.borrow_mut().push_back(frame.to_vec());
        Ok(())
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
    let one = WireEnd {
        mac: peer_mac(1),
        outgoing: one_to_two.clone(),
        incoming: two_to_one.clone(),
        broken: false,
    };
    let two = WireEnd {
        mac: peer_mac(2),
        outgoing: two_to_one,
        incoming: one_to_two,
        broken: false,
    };
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
fn udp_crosses_the_wire_both_ways_byte_exact() {
    let (mut one, mut two) = wire();
    let socket_one = one.udp_bind(7000, 8).unwrap();
    let socket_two = two.udp_bind(7000, 8).unwrap();
    let mut now = 0;
    let address_two = NetConfig::peer_address(2);
    let address_one = NetConfig::peer_address(1);
    let mut buffer = [0u8; 2048];
    for size in [1usize, 17, 512, 1472] {
        let data: Vec<u8> = (0..size).map(|index| (index * 7 + size) as u8).collect();
        one.udp_send(socket_one, (address_two, 7000), &data)
            .unwrap();
        run(&mut one, &mut two, &mut now);
        let (length, from, port) = two.udp_receive(socket_two, &mut buffer).unwrap();
        assert_eq!(
            (&buffer[..length], from, port),
            (&data[..], address_one, 7000)
        );
        two.udp_send(socket_two, (from, port), &buffer[..length])
            .unwrap();
        run(&mut one, &mut two, &mut now);
        let (length, from, _) = one.udp_receive(socket_one, &mut buffer).unwrap();
        assert_eq!((&buffer[..length], from), (&data[..], address_two));
    }
    assert!(one.statistics().frames_sent >= 5, "ARP plus four datagrams");
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
    let socket_one = one.udp_bind(7000, 4).unwrap();
    let socket_two = two.udp_bind(7000, 4).unwrap();
    one.udp_send(
        socket_one,
        (NetConfig::peer_address(2), 7000),
        b"not a ping",
    )
    .unwrap();
    run(&mut one, &mut two, &mut now);
    let mut buffer = [0u8; 64];
    assert!(two.udp_receive(socket_two, &mut buffer).is_some());
    assert_eq!(one.statistics().echo_replies_sent, 0);
    assert_eq!(two.statistics().echo_replies_sent, 0);
    assert!(!is_icmp_echo_reply(&[]));
    assert!(!is_icmp_echo_reply(&[0xff; 60]));
}

#[test]
fn a_device_that_refuses_frames_is_counted_not_fatal() {
    let (mut one, mut two) = wire();
    one.device().broken = true;
    let socket = one.udp_bind(7000, 4).unwrap();
    one.udp_send(socket, (NetConfig::peer_address(2), 7000), b"lost")
        .unwrap();
    let mut now = 0;
    run(&mut one, &mut two, &mut now);
    assert!(one.statistics().send_errors > 0);
    assert_eq!(one.statistics().frames_sent, 0);
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
        let device = WireEnd {
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
            outgoing: to_server.clone(),
            incoming: to_client.clone(),
            broken: false,
        };
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
        let device = WireEnd {
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x57],
            outgoing: Queue::default(),
            incoming: Queue::default(),
            broken: false,
        };
        let mut stack = NetStack::with_dhcp(device, 0);
        for now in (0..5_000).step_by(50) {
            stack.poll(now);
        }
        assert!(!stack.is_configured());
        assert!(stack.statistics().frames_sent >= 1, "no DISCOVER was sent");
    }
}
