//! Two endpoints over a seeded in-memory network that loses, duplicates and reorders
//! datagrams. Whatever the seed: every byte arrives exactly once and in order on every
//! connection, in both directions; the authenticated user is reported to the server;
//! rekeying in the middle of the stream loses nothing.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::SocketAddr;

use ethos_crypto::{
    ConnectionHandle, Endpoint, EndpointConfig, Event, PublicKeyBytes, SecretKey, Time, TypeHash,
};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

const CLIENT: usize = 0;
const SERVER: usize = 1;

fn address(index: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4000 + index as u16))
}

#[derive(Debug, Clone)]
struct Conditions {
    seed: u64,
    loss_percent: u32,
    duplicate_percent: u32,
    max_delay_milliseconds: u64,
    connections: usize,
    bytes_per_connection: usize,
    rekey_after_packets: Option<u64>,
}

/// A datagram in flight: arrival time, send order, destination, payload.
type InFlight = Reverse<(u64, u64, usize, Vec<u8>)>;

/// In-flight datagrams ordered by arrival time (ties by send order).
struct Network {
    rng: ChaCha20Rng,
    conditions: Conditions,
    in_flight: BinaryHeap<InFlight>,
    sent: u64,
}

impl Network {
    fn send(&mut self, now: Time, to: usize, payload: Vec<u8>) {
        let copies = if self.rng.next_u32() % 100 < self.conditions.duplicate_percent {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if self.rng.next_u32() % 100 < self.conditions.loss_percent {
                continue;
            }
            let delay = 1 + self.rng.next_u64() % self.conditions.max_delay_milliseconds;
            self.sent += 1;
            self.in_flight.push(Reverse((
                now.as_milliseconds() + delay,
                self.sent,
                to,
                payload.clone(),
            )));
        }
    }

    fn next_arrival(&self) -> Option<u64> {
        self.in_flight.peek().map(|Reverse((at, ..))| *at)
    }
}

fn endpoint(seed: u64, index: usize, config: EndpointConfig) -> Endpoint {
    let mut key = [0u8; 32];
    ChaCha20Rng::seed_from_u64(seed ^ ((index as u64 + 1) * 0x9e37_79b9)).fill_bytes(&mut key);
    Endpoint::new(
        config,
        SecretKey::from_bytes(key),
        Box::new(ChaCha20Rng::seed_from_u64(seed.wrapping_add(index as u64))),
        Time::from_milliseconds(0),
    )
}

struct Outcome {
    sent: BTreeMap<u32, Vec<u8>>,
    server_received: BTreeMap<u32, Vec<u8>>,
    client_received: BTreeMap<u32, Vec<u8>>,
    users: BTreeMap<u32, Option<PublicKeyBytes>>,
    closed_on_server: usize,
    rekeys: usize,
}

fn run(conditions: Conditions) -> Outcome {
    let client_config = EndpointConfig {
        rekey_after_packets: conditions.rekey_after_packets,
        ..EndpointConfig::default()
    };
    let mut endpoints = [
        endpoint(conditions.seed, CLIENT, client_config),
        endpoint(conditions.seed, SERVER, EndpointConfig::default()),
    ];
    let user = SecretKey::from_bytes([42u8; 32]);
    let mut network = Network {
        rng: ChaCha20Rng::seed_from_u64(conditions.seed),
        conditions: conditions.clone(),
        in_flight: BinaryHeap::new(),
        sent: 0,
    };
    let [client, server] = &mut endpoints;
    let record = server
        .directory_record(address(SERVER), &client.host_public_key())
        .expect("record");
    let record = client
        .verify_record(
            &record,
            &server.host_public_key(),
            Time::from_milliseconds(0),
        )
        .expect("verified");
    let tunnel = client
        .connect(Time::from_milliseconds(0), &record)
        .expect("tunnel");

    let mut data_rng = ChaCha20Rng::seed_from_u64(!conditions.seed);
    let mut outcome = Outcome {
        sent: BTreeMap::new(),
        server_received: BTreeMap::new(),
        client_received: BTreeMap::new(),
        users: BTreeMap::new(),
        closed_on_server: 0,
        rekeys: 0,
    };
    let mut handles: Vec<ConnectionHandle> = Vec::new();
    let mut pending: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for index in 0..conditions.connections {
        let mut bytes = vec![0u8; conditions.bytes_per_connection];
        data_rng.fill_bytes(&mut bytes);
        let authenticated = index % 2 == 0;
        let handle = client
            .open_connection(
                tunnel,
                b"echo",
                TypeHash([index as u8; 64]),
                b"first value",
                authenticated.then_some(&user),
            )
            .expect("open");
        outcome.sent.insert(handle.id, bytes.clone());
        pending.insert(handle.id, bytes);
        handles.push(handle);
    }
    let expected_user = Some(user.public_key());
    let total: usize = conditions.connections * conditions.bytes_per_connection;
    let mut manual_rekey_done = false;
    let mut now = Time::from_milliseconds(0);
    let mut echo_queue: BTreeMap<(usize, ConnectionHandle), Vec<u8>> = BTreeMap::new();
    let mut closed = false;

    for _step in 0..2_000_000 {
        // The application: push what fits, echo on the server, close once everything is back.
        for handle in &handles {
            if let Some(rest) = pending.get_mut(&handle.id) {
                let taken = endpoints[CLIENT].send(*handle, rest).expect("send");
                rest.drain(..taken);
            }
        }
        pending.retain(|_, rest| !rest.is_empty());
        for ((side, handle), rest) in echo_queue.iter_mut() {
            if let Ok(taken) = endpoints[*side].send(*handle, rest) {
                rest.drain(..taken);
            }
        }
        let received_by_server: usize = outcome.server_received.values().map(Vec::len).sum();
        if !manual_rekey_done && received_by_server * 2 >= total {
            manual_rekey_done = endpoints[CLIENT].rekey(tunnel).is_ok();
        }
        let echoed: usize = outcome.client_received.values().map(Vec::len).sum();
        if echoed == total && outcome.rekeys >= 2 && !closed {
            for handle in &handles {
                endpoints[CLIENT].close(*handle).expect("close");
            }
            closed = true;
        }
        if closed && outcome.closed_on_server == handles.len() {
            break;
        }
        for (index, endpoint) in endpoints.iter_mut().enumerate() {
            while let Some(transmit) = endpoint.poll_transmit(now) {
                let to = if transmit.destination == address(SERVER) {
                    SERVER
                } else {
                    CLIENT
                };
                assert_ne!(to, index, "an endpoint sends to itself");
                network.send(now, to, transmit.payload);
            }
            while let Some(event) = endpoint.poll_event() {
                match event {
                    Event::IncomingConnection {
                        connection,
                        user,
                        first_value,
                        ..
                    } => {
                        assert_eq!(index, SERVER);
                        assert_eq!(first_value, b"first value");
                        outcome.users.insert(connection.id, user);
                        endpoint.accept(connection).expect("accept");
                    }
                    Event::Data { connection, bytes } => {
                        let map = if index == SERVER {
                            echo_queue
                                .entry((SERVER, connection))
                                .or_default()
                                .extend_from_slice(&bytes);
                            &mut outcome.server_received
                        } else {
                            &mut outcome.client_received
                        };
                        map.entry(connection.id)
                            .or_default()
                            .extend_from_slice(&bytes);
                    }
                    Event::ConnectionClosed { .. } => {
                        assert_eq!(index, SERVER);
                        outcome.closed_on_server += 1;
                    }
                    Event::TunnelRekeyed { .. } => outcome.rekeys += 1,
                    Event::TunnelClosed { .. } => panic!("a tunnel closed as idle"),
                    Event::ConnectionRefused { .. } => panic!("refused"),
                    Event::TunnelAccepted { .. } | Event::ConnectionAccepted { .. } => {}
                }
            }
        }
        let next_timer = endpoints.iter().filter_map(Endpoint::poll_timeout).min();
        let next = match (network.next_arrival(), next_timer) {
            (Some(arrival), Some(timer)) => arrival.min(timer.as_milliseconds()),
            (Some(arrival), None) => arrival,
            (None, Some(timer)) => timer.as_milliseconds(),
            (None, None) => break,
        };
        // At most a second at a time, so the application gets to act between timers.
        let next = next.min(now.as_milliseconds() + 1_000);
        now = Time::from_milliseconds(next.max(now.as_milliseconds()));
        if now.as_milliseconds() >= 600_000 {
            for endpoint in &endpoints {
                eprintln!("{:#?}", endpoint.summary());
            }
            eprintln!(
                "rekeys {} echoed {echoed} of {total} closed {closed}",
                outcome.rekeys
            );
            panic!("no progress after ten virtual minutes");
        }
        while network
            .next_arrival()
            .is_some_and(|at| at <= now.as_milliseconds())
        {
            let Some(Reverse((_, _, to, payload))) = network.in_flight.pop() else {
                break;
            };
            let from = address(1 - to);
            // Duplicates and stale copies are dropped by design; only panics would matter.
            let _ = endpoints[to].handle_datagram(now, from, &payload);
        }
        for endpoint in &mut endpoints {
            if endpoint
                .poll_timeout()
                .is_some_and(|deadline| deadline <= now)
            {
                endpoint.handle_timeout(now);
            }
        }
    }
    for (index, handle) in handles.iter().enumerate() {
        assert_eq!(
            outcome.users.get(&handle.id),
            Some(&if index % 2 == 0 { expected_user } else { None }),
            "user reported for connection {}",
            handle.id
        );
    }
    outcome
}

fn check(conditions: Conditions) {
    let outcome = run(conditions.clone());
    for (id, sent) in &outcome.sent {
        let received = outcome
            .server_received
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        assert!(
            received == sent.as_slice(),
            "connection {id}: server got {} of {} bytes, or out of order",
            received.len(),
            sent.len()
        );
        let echoed = outcome
            .client_received
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        assert!(
            echoed == sent.as_slice(),
            "connection {id}: echo of {} of {} bytes, or out of order",
            echoed.len(),
            sent.len()
        );
    }
    assert_eq!(outcome.closed_on_server, outcome.sent.len());
    assert!(
        outcome.rekeys >= 2,
        "the rekey mid-stream happened on both sides ({conditions:?})"
    );
}

#[test]
fn heavy_loss_with_automatic_rekeying() {
    check(Conditions {
        seed: 5819495443492694907,
        loss_percent: 23,
        duplicate_percent: 9,
        max_delay_milliseconds: 4,
        connections: 1,
        bytes_per_connection: 4304,
        rekey_after_packets: Some(79),
    });
}

#[test]
fn clean_network_delivers_everything() {
    check(Conditions {
        seed: 1,
        loss_percent: 0,
        duplicate_percent: 0,
        max_delay_milliseconds: 5,
        connections: 3,
        bytes_per_connection: 40_000,
        rekey_after_packets: None,
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn lossy_duplicating_reordering_network_delivers_exactly_once_in_order(
        seed in any::<u64>(),
        loss_percent in 0u32..25,
        duplicate_percent in 0u32..20,
        max_delay_milliseconds in 1u64..60,
        connections in 1usize..4,
        bytes_per_connection in 1usize..30_000,
        rekey_after_packets in proptest::option::of(20u64..200),
    ) {
        check(Conditions {
            seed,
            loss_percent,
            duplicate_percent,
            max_delay_milliseconds,
            connections,
            bytes_per_connection,
            rekey_after_packets,
        });
    }
}
