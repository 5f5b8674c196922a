//! Two hosts' services joined by an in-memory network: typed request and reply with
//! the user authenticated, connections on an existing tunnel, the type checked on
//! both sides, records fetched and refused, rekeying, and bad packets dropped.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::hosts::{HostName, KnownHost};

const TYPES: &str = "\
Text string
Echo interface { Say(Text Text) (Text Text) }
";

/// The recognizer over the test's ETN types.
fn recognizer() -> Box<dyn TypeCheck + Send> {
    let schema = ethos_typesys::etn::parse("echo.etn", TYPES).unwrap();
    Box::new(GraphTypes {
        graph: schema.graph,
    })
}

/// The hash of the connection type `Text`, and the wire bytes of a `Text` value.
fn text_type() -> TypeHash {
    let schema = ethos_typesys::etn::parse("echo.etn", TYPES).unwrap();
    let node = schema.graph.find_by_name("Text").unwrap();
    TypeHash(schema.graph.hash(node).unwrap().0)
}

fn text(value: &str) -> Vec<u8> {
    ethos_typesys::wire::encode(&alloc::string::String::from(value)).unwrap()
}

fn secret(byte: u8) -> SecretKey {
    SecretKey::from_bytes([byte; 32])
}

fn address(last: u8) -> HostAddress {
    HostAddress::new([10, 0, 7, last], 7100).unwrap()
}

fn known(name: &str, last: u8, key: u8) -> KnownHost {
    KnownHost {
        name: HostName::new(name).unwrap(),
        address: address(last),
        public_key: secret(key).public_key(),
    }
}

/// Host `alpha` (key 1, 10.0.7.1) and host `beta` (key 2, 10.0.7.2), each knowing the
/// other.
struct Pair {
    alpha: TunnelService,
    beta: TunnelService,
    now: Time,
    /// Datagrams carried, both ways.
    carried: u64,
}

fn service(key: u8, last: u8, others: Vec<KnownHost>, seed: u64) -> TunnelService {
    TunnelService::new(
        secret(key),
        address(last),
        StaticDirectory::new(others).unwrap(),
        recognizer(),
        Box::new(ChaCha20Rng::seed_from_u64(seed)),
        kernel_endpoint_config(),
        Time::from_milliseconds(1_000),
    )
}

impl Pair {
    fn new() -> Pair {
        Pair {
            alpha: service(1, 1, vec![known("beta", 2, 2)], 1),
            beta: service(2, 2, vec![known("alpha", 1, 1)], 2),
            now: Time::from_milliseconds(1_000),
            carried: 0,
        }
    }

    /// Carries every datagram each side has to send, through `tamper` (which may
    /// change, drop or add datagrams), until both are quiet.
    fn run_with(&mut self, tamper: &mut dyn FnMut(bool, Vec<u8>) -> Vec<Vec<u8>>) {
        for _ in 0..64 {
            let mut moved = false;
            while let Some(transmit) = self.alpha.poll_transmit(self.now) {
                assert_eq!(transmit.destination, socket_address(address(2)));
                for payload in tamper(true, transmit.payload) {
                    self.carried += 1;
                    self.beta
                        .handle_datagram(self.now, socket_address(address(1)), &payload);
                }
                moved = true;
            }
            while let Some(transmit) = self.beta.poll_transmit(self.now) {
                assert_eq!(transmit.destination, socket_address(address(1)));
                for payload in tamper(false, transmit.payload) {
                    self.carried += 1;
                    self.alpha
                        .handle_datagram(self.now, socket_address(address(2)), &payload);
                }
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("the hosts never went quiet");
    }

    fn run(&mut self) {
        self.run_with(&mut |_, payload| vec![payload]);
    }

    fn events(service: &mut TunnelService) -> Vec<ServiceEvent> {
        core::iter::from_fn(|| service.poll_event()).collect()
    }

    /// Alice on alpha opens `echo` on beta with "hello"; beta accepts. Returns both
    /// ends.
    fn connect(&mut self, first: &str) -> (RemoteConnection, RemoteConnection) {
        let client = self
            .alpha
            .open(
                self.now,
                "beta",
                "echo",
                text_type(),
                Some(secret(7)),
                &text(first),
            )
            .unwrap();
        self.run();
        let server = match Pair::events(&mut self.beta).as_slice() {
            [
                ServiceEvent::Incoming {
                    connection,
                    host,
                    service,
                    type_hash,
                    user,
                    first_value,
                },
            ] => {
                // The client's host, found in the directory by its address.
                assert_eq!(host, "alpha");
                assert_eq!(service, "echo");
                assert_eq!(*type_hash, text_type());
                // The server's kernel sees the user the client's kernel proved.
                assert_eq!(*user, Some(secret(7).public_key()));
                assert_eq!(*first_value, text(first));
                *connection
            }
            other => panic!("{other:?}"),
        };
        self.beta.accept(server).unwrap();
        self.run();
        assert_eq!(
            Pair::events(&mut self.alpha),
            [ServiceEvent::Accepted(client)]
        );
        (client, server)
    }
}

#[test]
fn a_typed_request_and_reply_between_two_hosts_with_the_user_authenticated() {
    let mut pair = Pair::new();
    let (client, server) = pair.connect("hello");
    assert_eq!(pair.alpha.counters().record_requests_sent, 1);
    pair.beta.send(server, &text("hello, alice")).unwrap();
    pair.alpha.send(client, &text("and again")).unwrap();
    pair.run();
    assert_eq!(
        Pair::events(&mut pair.alpha),
        [ServiceEvent::Value(client, text("hello, alice"))]
    );
    assert_eq!(
        Pair::events(&mut pair.beta),
        [ServiceEvent::Value(server, text("and again"))]
    );
    pair.alpha.close(client).unwrap();
    pair.run();
    assert_eq!(Pair::events(&mut pair.beta), [ServiceEvent::Closed(server)]);
    assert_eq!(pair.alpha.counters().datagrams_dropped, 0);
    assert_eq!(pair.beta.counters().datagrams_dropped, 0);
}

#[test]
fn a_connection_on_an_existing_tunnel_costs_no_round_trip() {
    let mut pair = Pair::new();
    pair.connect("first");
    let requests = pair.alpha.counters().record_requests_sent;
    // The second connection's request leaves at once, with its first value: the
    // server learns of it from the very next datagram alpha sends.
    pair.alpha
        .open(
            pair.now,
            "beta",
            "echo",
            text_type(),
            Some(secret(7)),
            &text("second"),
        )
        .unwrap();
    let transmit = pair.alpha.poll_transmit(pair.now).unwrap();
    pair.beta
        .handle_datagram(pair.now, socket_address(address(1)), &transmit.payload);
    assert!(matches!(
        Pair::events(&mut pair.beta).as_slice(),
        [ServiceEvent::Incoming { first_value, .. }] if *first_value == text("second")
    ));
    assert_eq!(pair.alpha.counters().record_requests_sent, requests);
    assert_eq!(pair.alpha.tunnel_count(), 1);
}

#[test]
fn each_kernel_checks_the_type_and_an_ill_typed_value_never_arrives() {
    let mut pair = Pair::new();
    let (client, server) = pair.connect("hello");
    // Not a `Text` (a length of 200 with 3 bytes after it): the sender's kernel
    // refuses it, and nothing leaves.
    let ill_typed = [200, 0, 0, 0, 0, 0, 0, 0, b'a', b'b', b'c'];
    assert_eq!(
        pair.alpha.send(client, &ill_typed),
        Err(Status::InvalidType)
    );
    assert_eq!(
        pair.alpha
            .open(pair.now, "beta", "echo", text_type(), None, &ill_typed),
        Err(Status::InvalidType)
    );
    // A modified kernel sends it anyway: the receiver's kernel drops and counts it,
    // and the good value after it still arrives.
    pair.alpha
        .send_unchecked_as_modified_peer(client, &ill_typed)
        .unwrap();
    pair.alpha.send(client, &text("fine")).unwrap();
    pair.run();
    assert_eq!(
        Pair::events(&mut pair.beta),
        [ServiceEvent::Value(server, text("fine"))]
    );
    assert_eq!(pair.beta.counters().ill_typed_values, 1);
}

#[test]
fn an_unknown_host_has_no_tunnel_and_a_silent_one_fails_in_time() {
    let mut pair = Pair::new();
    assert_eq!(
        pair.alpha
            .open(pair.now, "gamma", "echo", text_type(), None, &[]),
        Err(Status::TunnelNotCreated)
    );
    // Beta never answers: after RECORD_ATTEMPTS requests the connection fails.
    let connection = pair
        .alpha
        .open(pair.now, "beta", "echo", text_type(), None, &[])
        .unwrap();
    for _ in 0..RECORD_ATTEMPTS + 1 {
        while pair.alpha.poll_transmit(pair.now).is_some() {}
        pair.now = pair.now.plus_milliseconds(RECORD_RETRY_MILLISECONDS);
        pair.alpha.handle_timeout(pair.now);
    }
    assert_eq!(
        pair.alpha.counters().record_requests_sent,
        u64::from(RECORD_ATTEMPTS)
    );
    assert_eq!(
        Pair::events(&mut pair.alpha),
        [ServiceEvent::Failed(connection, Status::TunnelNotCreated)]
    );
    assert_eq!(pair.alpha.connection_count(), 0);
}

#[test]
fn a_refused_connection_fails_as_not_authorized() {
    let mut pair = Pair::new();
    let client = pair
        .alpha
        .open(pair.now, "beta", "echo", text_type(), None, &[])
        .unwrap();
    pair.run();
    let server = match Pair::events(&mut pair.beta).as_slice() {
        [
            ServiceEvent::Incoming {
                connection, user, ..
            },
        ] => {
            assert_eq!(*user, None);
            *connection
        }
        other => panic!("{other:?}"),
    };
    pair.beta.refuse(server).unwrap();
    pair.run();
    assert_eq!(
        Pair::events(&mut pair.alpha),
        [ServiceEvent::Failed(client, Status::NotAuthorized)]
    );
}

#[test]
fn records_go_only_to_listed_hosts_and_only_the_asked_host_is_believed() {
    let mut pair = Pair::new();
    // A host beta does not list asks for its record: refused, counted, unanswered.
    let mut stranger = service(9, 9, vec![known("beta", 2, 2)], 9);
    stranger
        .open(pair.now, "beta", "echo", text_type(), None, &[])
        .unwrap();
    let request = stranger.poll_transmit(pair.now).unwrap();
    pair.beta
        .handle_datagram(pair.now, socket_address(address(9)), &request.payload);
    assert!(pair.beta.poll_transmit(pair.now).is_none());
    assert_eq!(pair.beta.counters().record_requests_refused, 1);
    // A record alpha did not ask for, and garbage after the answer tag: refused.
    let mut forged = ZERO_TUNNEL.to_vec();
    forged.extend_from_slice(RECORD_ANSWER);
    forged.extend_from_slice(&[0x55; RECORD_LENGTH]);
    pair.alpha
        .handle_datagram(pair.now, socket_address(address(2)), &forged);
    forged.push(0);
    pair.alpha
        .handle_datagram(pair.now, socket_address(address(2)), &forged);
    assert_eq!(pair.alpha.counters().records_refused, 2);
}

#[test]
fn bad_packets_are_dropped_and_counted_and_the_session_completes() {
    let mut pair = Pair::new();
    let (client, server) = pair.connect("hello");
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut round = 0u32;
    // Every packet is also replayed; every third arrives with a flipped bit first;
    // a forged packet under a made-up tunnel id goes with each.
    let mut tamper = |_: bool, payload: Vec<u8>| {
        round += 1;
        let mut out = Vec::new();
        if round.is_multiple_of(3) {
            let mut flipped = payload.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            out.push(flipped);
        }
        let mut forged = vec![0x42; 8];
        forged.extend_from_slice(&[7; 64]);
        out.push(forged);
        out.push(payload.clone());
        for old in &seen {
            out.push(old.clone());
        }
        seen.push(payload);
        if seen.len() > 4 {
            seen.remove(0);
        }
        out
    };
    let values: Vec<Vec<u8>> = (0..50)
        .map(|index| text(&alloc::format!("value {index} {}", "x".repeat(index * 20))))
        .collect();
    for value in &values {
        pair.alpha.send(client, value).unwrap();
    }
    pair.run_with(&mut tamper);
    let received: Vec<Vec<u8>> = Pair::events(&mut pair.beta)
        .into_iter()
        .map(|event| match event {
            ServiceEvent::Value(connection, value) if connection == server => value,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(received, values);
    let dropped = pair.alpha.counters().datagrams_dropped + pair.beta.counters().datagrams_dropped;
    assert!(
        dropped >= round as u64,
        "dropped {dropped} of {round} rounds"
    );
}

#[test]
fn a_tunnel_rekeys_mid_session() {
    let mut pair = Pair::new();
    let (client, server) = pair.connect("hello");
    pair.alpha.send(client, &text("before")).unwrap();
    pair.run();
    pair.beta.send(server, &text("reply")).unwrap();
    pair.run();
    Pair::events(&mut pair.alpha);
    pair.alpha.rekey(client).unwrap();
    pair.alpha.send(client, &text("after")).unwrap();
    pair.run();
    assert_eq!(
        Pair::events(&mut pair.beta),
        [
            ServiceEvent::Value(server, text("before")),
            ServiceEvent::Value(server, text("after"))
        ]
    );
    assert_eq!(pair.alpha.tunnel_count(), 1);
    assert_eq!(pair.beta.counters().datagrams_dropped, 0);
}

#[test]
fn on_an_interface_the_client_sends_requests_and_the_server_replies() {
    let schema = ethos_typesys::etn::parse("echo.etn", TYPES).unwrap();
    let node = schema.graph.find_by_name("Echo").unwrap();
    let echo = TypeHash(schema.graph.hash(node).unwrap().0);
    // `Say` is method 0: its request and its reply both carry one Text.
    let say = |words: &str| [&[0, 0, 0, 0][..], &text(words)].concat();
    let mut pair = Pair::new();
    let client = pair
        .alpha
        .open(pair.now, "beta", "echo", echo, None, &say("hi"))
        .unwrap();
    pair.run();
    let server = match Pair::events(&mut pair.beta).as_slice() {
        [ServiceEvent::Incoming { connection, .. }] => *connection,
        other => panic!("{other:?}"),
    };
    pair.beta.accept(server).unwrap();
    pair.run();
    Pair::events(&mut pair.alpha);
    // Method 1 does not exist: neither side may send it.
    let no_method = [&[1, 0, 0, 0][..], &text("hi")].concat();
    assert_eq!(
        pair.alpha.send(client, &no_method),
        Err(Status::InvalidType)
    );
    assert_eq!(pair.beta.send(server, &no_method), Err(Status::InvalidType));
    pair.beta.send(server, &say("hi")).unwrap();
    pair.run();
    assert_eq!(
        Pair::events(&mut pair.alpha),
        [ServiceEvent::Value(client, say("hi"))]
    );
}

#[test]
fn an_idle_tunnel_goes_and_the_next_connection_makes_a_new_one() {
    let mut pair = Pair::new();
    let (client, _) = pair.connect("hello");
    pair.alpha.close(client).unwrap();
    pair.run();
    Pair::events(&mut pair.beta);
    // The delayed acknowledgements leave; then nothing moves for the idle time.
    for step in [
        ethos_crypto::ACK_DELAY_MILLISECONDS,
        IDLE_TUNNEL_MILLISECONDS,
    ] {
        pair.now = pair.now.plus_milliseconds(step);
        pair.alpha.handle_timeout(pair.now);
        pair.beta.handle_timeout(pair.now);
        pair.run();
    }
    assert_eq!(
        (pair.alpha.tunnel_count(), pair.beta.tunnel_count()),
        (0, 0)
    );
    let requests = pair.alpha.counters().record_requests_sent;
    pair.connect("again");
    assert_eq!(pair.alpha.tunnel_count(), 1);
    // The record is still good: no new request for it.
    assert_eq!(pair.alpha.counters().record_requests_sent, requests);
}

#[test]
fn a_tunnel_flood_turns_puzzles_on_and_a_real_client_still_connects() {
    let mut pair = Pair::new();
    let flood_address = socket_address(address(66));
    // 150 clients each open a tunnel to beta at once: genuine first packets, each
    // costing beta a key agreement until it asks for puzzles.
    for seed in 0..150u64 {
        let mut flooder = Endpoint::new(
            EndpointConfig {
                // A flooder that will not solve puzzles.
                max_puzzle_difficulty: 0,
                ..EndpointConfig::default()
            },
            SecretKey::from_bytes([100 + (seed % 100) as u8; 32]),
            Box::new(ChaCha20Rng::seed_from_u64(1000 + seed)),
            pair.now,
        );
        let record = pair
            .beta
            .endpoint
            .directory_record(flood_address, &flooder.host_public_key())
            .unwrap();
        let record = flooder
            .verify_record(&record, &secret(2).public_key(), pair.now)
            .unwrap();
        let tunnel = flooder.connect(pair.now, &record).unwrap();
        flooder
            .open_connection(tunnel, b"echo", text_type(), &[], None)
            .unwrap();
        let first = flooder.poll_transmit(pair.now).unwrap();
        pair.beta
            .handle_datagram(pair.now, flood_address, &first.payload);
    }
    assert!(pair.beta.asks_puzzles());
    assert_eq!(pair.beta.counters().puzzles_switched_on, 1);
    // Only the packets before the switch made tunnels.
    let flooded = pair.beta.tunnel_count();
    assert!(
        flooded > 0 && flooded as u64 <= LOAD_KEY_AGREEMENTS,
        "{flooded}"
    );
    for event in Pair::events(&mut pair.beta) {
        if let ServiceEvent::Incoming { connection, .. } = event {
            pair.beta.refuse(connection).unwrap();
        }
    }
    while pair.beta.poll_transmit(pair.now).is_some() {}
    // Alice's kernel solves beta's puzzle and connects as before.
    let (client, server) = pair.connect("through the flood");
    pair.alpha.send(client, &text("still here")).unwrap();
    pair.run();
    assert_eq!(
        Pair::events(&mut pair.beta),
        [ServiceEvent::Value(server, text("still here"))]
    );
    assert_eq!(pair.beta.tunnel_count(), flooded + 1);
    // Quiet windows later, new clients are no longer asked.
    for _ in 0..QUIET_WINDOWS + 1 {
        pair.now = pair.now.plus_milliseconds(LOAD_WINDOW_MILLISECONDS);
        pair.beta.handle_timeout(pair.now);
    }
    assert!(!pair.beta.asks_puzzles());
}
