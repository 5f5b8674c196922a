//! The checks against in-memory datagram services on one shared medium: a correct
//! service passes, and each flawed one fails with the rule or the datagram it broke.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use super::*;
use crate::datagram::LinkStatistics;

/// Datagrams in flight: (from, to, payload).
type Medium = Rc<RefCell<VecDeque<(SocketAddrV4, SocketAddrV4, Vec<u8>)>>>;

/// How a fake service breaks the class's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    None,
    /// Lets two sockets bind one port.
    SharesPorts,
    /// Changes the last byte of every datagram it sends.
    Corrupts,
    /// Never sends anything.
    Mute,
    /// Still answers for a closed socket.
    KeepsClosedSockets,
}

/// One socket of a fake service.
struct FakeSocket {
    port: u16,
    received: VecDeque<(SocketAddrV4, Vec<u8>)>,
    open: bool,
}

struct FakeService {
    address: Ipv4Addr,
    medium: Medium,
    flaw: Flaw,
    next_socket: u32,
    sockets: BTreeMap<u32, FakeSocket>,
    outgoing: Vec<(SocketAddrV4, SocketAddrV4, Vec<u8>)>,
    statistics: LinkStatistics,
}

const LIMIT: usize = 1472;
const QUEUE: usize = 8;

impl FakeService {
    fn new(last_octet: u8, medium: &Medium, flaw: Flaw) -> FakeService {
        FakeService {
            address: Ipv4Addr::new(10, 0, 9, last_octet),
            medium: medium.clone(),
            flaw,
            next_socket: 1,
            sockets: BTreeMap::new(),
            outgoing: Vec::new(),
            statistics: LinkStatistics::default(),
        }
    }

    fn open(&mut self, socket: DatagramSocket) -> Result<&mut FakeSocket, DatagramError> {
        let keeps_closed = self.flaw == Flaw::KeepsClosedSockets;
        match self.sockets.get_mut(&socket.0) {
            Some(entry) if entry.open || keeps_closed => Ok(entry),
            _ => Err(DatagramError::UnknownSocket(socket)),
        }
    }
}

impl Datagram for FakeService {
    fn bind(&mut self, port: u16) -> Result<DatagramSocket, DatagramError> {
        if port == 0 {
            return Err(DatagramError::PortZero);
        }
        let taken = self
            .sockets
            .values()
            .any(|entry| entry.open && entry.port == port);
        if taken && self.flaw != Flaw::SharesPorts {
            return Err(DatagramError::PortInUse(port));
        }
        let socket = self.next_socket;
        self.next_socket += 1;
        self.sockets.insert(
            socket,
            FakeSocket {
                port,
                received: VecDeque::new(),
                open: true,
            },
        );
        Ok(DatagramSocket(socket))
    }

    fn close(&mut self, socket: DatagramSocket) -> Result<(), DatagramError> {
        self.open(socket)?.open = false;
        if self.flaw != Flaw::KeepsClosedSockets {
            self.sockets.remove(&socket.0);
        }
        Ok(())
    }

    fn send_to(
        &mut self,
        socket: DatagramSocket,
        to: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), DatagramError> {
        let port = self.open(socket)?.port;
        if to.port() == 0 || to.ip().is_unspecified() {
            return Err(DatagramError::Unaddressable(to));
        }
        if data.len() > LIMIT {
            return Err(DatagramError::TooLarge {
                length: data.len(),
                limit: LIMIT,
            });
        }
        if self.outgoing.len() >= QUEUE {
            return Err(DatagramError::QueueFull);
        }
        let mut data = data.to_vec();
        if self.flaw == Flaw::Corrupts
            && let Some(last) = data.last_mut()
        {
            *last ^= 0x01;
        }
        self.outgoing
            .push((SocketAddrV4::new(self.address, port), to, data));
        Ok(())
    }

    fn receive_from(
        &mut self,
        socket: DatagramSocket,
        buffer: &mut [u8],
    ) -> Result<Option<(usize, SocketAddrV4)>, DatagramError> {
        let queue = &mut self.open(socket)?.received;
        let Some((from, data)) = queue.front() else {
            return Ok(None);
        };
        if data.len() > buffer.len() {
            return Err(DatagramError::BufferTooSmall {
                length: data.len(),
                capacity: buffer.len(),
            });
        }
        let (from, length) = (*from, data.len());
        buffer[..length].copy_from_slice(data);
        queue.pop_front();
        Ok(Some((length, from)))
    }

    fn readiness(&mut self, socket: DatagramSocket) -> Result<Readiness, DatagramError> {
        let receive = !self.open(socket)?.received.is_empty();
        Ok(Readiness {
            receive,
            send: self.outgoing.len() < QUEUE,
        })
    }

    fn max_datagram_length(&self) -> usize {
        LIMIT
    }

    fn local_address(&self) -> Option<Ipv4Addr> {
        Some(self.address)
    }

    fn poll(&mut self, _now_ms: u64) -> bool {
        let mut changed = false;
        if self.flaw != Flaw::Mute {
            for datagram in self.outgoing.drain(..) {
                self.statistics.frames_sent += 1;
                self.medium.borrow_mut().push_back(datagram);
                changed = true;
            }
        }
        let mut medium = self.medium.borrow_mut();
        let mut others = VecDeque::new();
        while let Some((from, to, data)) = medium.pop_front() {
            if *to.ip() != self.address {
                others.push_back((from, to, data));
                continue;
            }
            self.statistics.frames_received += 1;
            if let Some(socket) = self
                .sockets
                .values_mut()
                .find(|socket| socket.open && socket.port == to.port())
            {
                socket.received.push_back((from, data));
                changed = true;
            }
        }
        *medium = others;
        changed
    }

    fn poll_delay(&mut self, _now_ms: u64) -> Option<u64> {
        (!self.outgoing.is_empty()).then_some(0)
    }

    fn statistics(&self) -> LinkStatistics {
        self.statistics
    }
}

#[test]
fn a_correct_service_keeps_the_socket_rules() {
    let medium = Medium::default();
    let mut service = FakeService::new(1, &medium, Flaw::None);
    assert_eq!(check_socket_rules(&mut service, 7000), Ok(()));
    // The port is free again, and nothing left the service.
    assert!(service.bind(7000).is_ok());
    service.poll(0);
    assert!(medium.borrow().is_empty());
}

#[test]
fn a_service_sharing_a_port_fails_the_rules() {
    let mut service = FakeService::new(1, &Medium::default(), Flaw::SharesPorts);
    assert_eq!(
        check_socket_rules(&mut service, 7000),
        Err(DatagramCheckError::Accepted {
            step: "binding a port in use"
        })
    );
}

#[test]
fn a_service_keeping_closed_sockets_fails_the_rules() {
    let mut service = FakeService::new(1, &Medium::default(), Flaw::KeepsClosedSockets);
    assert_eq!(
        check_socket_rules(&mut service, 7000),
        Err(DatagramCheckError::Accepted {
            step: "closing a closed socket"
        })
    );
}

/// Runs a client on service one against an echo server on service two.
fn exchange(
    server_flaw: Flaw,
    count: u32,
) -> (Result<EchoSummary, DatagramCheckError>, Option<EchoSummary>) {
    let medium = Medium::default();
    let mut one = FakeService::new(1, &medium, Flaw::None);
    let mut two = FakeService::new(2, &medium, server_flaw);
    let mut server = EchoServer::bind(&mut two, UDP_ECHO_PORT_FOR_TESTS).unwrap();
    let peer = SocketAddrV4::new(two.address, UDP_ECHO_PORT_FOR_TESTS);
    let mut client = EchoClient::bind(&mut one, 7001, peer, count).unwrap();
    let mut now = 0;
    let outcome = loop {
        now += 10;
        match client.step(&mut one, now) {
            Ok(EchoProgress::Going) => {}
            Ok(EchoProgress::Finished(summary)) => break Ok(summary),
            Err(error) => break Err(error),
        }
        assert_eq!(server.serve(&mut two, now), Ok(EchoProgress::Going));
    };
    let mut stopped = None;
    if outcome.is_ok() {
        client.stop(&mut one, now).unwrap();
        for _ in 0..4 {
            now += 10;
            if let EchoProgress::Finished(summary) = server.serve(&mut two, now).unwrap() {
                stopped = Some(summary);
                break;
            }
        }
    }
    (outcome, stopped)
}

const UDP_ECHO_PORT_FOR_TESTS: u16 = 7;

#[test]
fn an_echo_comes_back_byte_exact_and_the_stop_ends_the_server() {
    let (client, server) = exchange(Flaw::None, 40);
    let client = client.unwrap();
    assert_eq!(client.datagrams, 40);
    assert_eq!(client.dropped, 0);
    let expected: u64 = (0..40)
        .map(|index| echo_payload(index, LIMIT).len() as u64)
        .sum();
    assert_eq!(client.bytes, expected);
    let server = server.expect("the stop datagram ended the server");
    assert_eq!((server.datagrams, server.bytes), (40, expected));
}

#[test]
fn a_changed_answer_fails_the_client() {
    let (client, server) = exchange(Flaw::Corrupts, 10);
    assert_eq!(
        client,
        Err(DatagramCheckError::EchoChanged {
            index: 0,
            sent: 1,
            received: 1
        })
    );
    assert_eq!(server, None);
}

#[test]
fn a_server_that_never_answers_fails_the_client_in_time() {
    let (client, _) = exchange(Flaw::Mute, 3);
    assert!(
        matches!(client, Err(DatagramCheckError::NoEcho { index: 0, waited_ms }) if waited_ms > EchoClient::GIVE_UP_MS),
        "{client:?}"
    );
}

#[test]
fn payloads_vary_fit_the_limit_and_are_never_the_stop_datagram() {
    let payloads: Vec<_> = (0..600).map(|index| echo_payload(index, 300)).collect();
    assert!(
        payloads
            .iter()
            .all(|payload| (1..=300).contains(&payload.len()))
    );
    assert!(payloads.iter().all(|payload| payload != UDP_ECHO_STOP));
    assert!(payloads.windows(2).all(|pair| pair[0] != pair[1]));
    assert_eq!(echo_payload(5, LIMIT).len(), LIMIT);
}
