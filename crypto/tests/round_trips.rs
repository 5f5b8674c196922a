//! What connections cost in round trips: a new tunnel's first datagram already carries
//! the first connection, its first value and data; a later connection on the tunnel
//! reaches the server in the client's next datagram, before any reply.

use std::net::SocketAddr;

use ethos_crypto::{Endpoint, EndpointConfig, Event, SecretKey, Time, TunnelHandle, TypeHash};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn address(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn endpoint(seed: u8) -> Endpoint {
    Endpoint::new(
        EndpointConfig::default(),
        SecretKey::from_bytes([seed; 32]),
        Box::new(ChaCha20Rng::seed_from_u64(u64::from(seed))),
        Time::from_milliseconds(0),
    )
}

/// The server publishes its directory record, the client verifies it and starts a
/// tunnel to the server.
fn open_tunnel(client: &mut Endpoint, server: &mut Endpoint, now: Time) -> TunnelHandle {
    let record = server
        .directory_record(address(2), &client.host_public_key())
        .expect("record");
    let record = client
        .verify_record(&record, &server.host_public_key(), now)
        .expect("verified");
    client.connect(now, &record).expect("tunnel")
}

fn server_events(server: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| server.poll_event()).collect()
}

#[test]
fn first_datagram_opens_tunnel_and_connection_and_later_connections_need_no_round_trip() {
    let now = Time::from_milliseconds(1);
    let mut client = endpoint(1);
    let mut server = endpoint(2);
    let tunnel = open_tunnel(&mut client, &mut server, now);
    let user = SecretKey::from_bytes([9; 32]);
    let first = client
        .open_connection(
            tunnel,
            b"files",
            TypeHash([3; 64]),
            b"first value",
            Some(&user),
        )
        .expect("open");
    client.send(first, b"and some data").expect("send");
    let datagram = client.poll_transmit(now).expect("first datagram");
    assert!(
        client.poll_transmit(now).is_none(),
        "everything fits the first datagram"
    );
    server
        .handle_datagram(now, address(1), &datagram.payload)
        .expect("accepted");
    let events = server_events(&mut server);
    let incoming = events.iter().find_map(|event| match event {
        Event::IncomingConnection {
            connection,
            service,
            user,
            first_value,
            ..
        } => Some((*connection, service.clone(), *user, first_value.clone())),
        _ => None,
    });
    let (connection, service, reported_user, first_value) = incoming.expect("connection request");
    assert_eq!(service, b"files");
    assert_eq!(reported_user, Some(user.public_key()));
    assert_eq!(first_value, b"first value");
    assert!(events.contains(&Event::Data {
        connection,
        bytes: b"and some data".to_vec()
    }));

    // A second connection: the next client datagram carries it, with no reply in between.
    let second = client
        .open_connection(tunnel, b"print", TypeHash([4; 64]), b"", None)
        .expect("open");
    client.send(second, b"zero round trips").expect("send");
    let datagram = client.poll_transmit(now).expect("second datagram");
    server
        .handle_datagram(now, address(1), &datagram.payload)
        .expect("accepted");
    let events = server_events(&mut server);
    assert!(events.iter().any(|event| matches!(
        event,
        Event::IncomingConnection { service, user: None, .. } if service == b"print"
    )));
    assert!(events.iter().any(|event| matches!(
        event,
        Event::Data { bytes, .. } if bytes == b"zero round trips"
    )));
}

#[test]
fn refused_and_closed_connections_are_reported_to_the_client() {
    let now = Time::from_milliseconds(1);
    let mut client = endpoint(1);
    let mut server = endpoint(2);
    let tunnel = open_tunnel(&mut client, &mut server, now);
    let refused = client
        .open_connection(tunnel, b"nobody", TypeHash([5; 64]), b"", None)
        .expect("open");
    let accepted = client
        .open_connection(tunnel, b"echo", TypeHash([6; 64]), b"", None)
        .expect("open");
    while let Some(datagram) = client.poll_transmit(now) {
        server
            .handle_datagram(now, address(1), &datagram.payload)
            .expect("accepted");
    }
    for event in server_events(&mut server) {
        if let Event::IncomingConnection {
            connection,
            service,
            ..
        } = event
        {
            if service == b"nobody" {
                server.refuse(connection).expect("refuse");
            } else {
                server.accept(connection).expect("accept");
                server.close(connection).expect("close");
            }
        }
    }
    while let Some(datagram) = server.poll_transmit(now) {
        client
            .handle_datagram(now, address(2), &datagram.payload)
            .expect("accepted");
    }
    let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(events.contains(&Event::ConnectionRefused {
        connection: refused
    }));
    assert!(events.contains(&Event::ConnectionAccepted {
        connection: accepted
    }));
    assert!(events.contains(&Event::ConnectionClosed {
        connection: accepted
    }));
    assert_eq!(
        client.send(refused, b"x"),
        Err(ethos_crypto::EndpointError::UnknownConnection)
    );
}

#[test]
fn incoming_keys_rotate_and_retired_keys_open_nothing() {
    let lifetime = 1_000;
    let config = EndpointConfig {
        incoming_key_lifetime_milliseconds: lifetime,
        ..EndpointConfig::default()
    };
    let start = Time::from_milliseconds(0);
    let mut server = Endpoint::new(
        config,
        SecretKey::from_bytes([2; 32]),
        Box::new(ChaCha20Rng::seed_from_u64(2)),
        start,
    );
    let verifier = |seed: u8| endpoint(seed);
    let mut early = verifier(10);
    let mut late = verifier(11);
    let old_record = server
        .directory_record(address(2), &early.host_public_key())
        .expect("record");
    let old_record = early
        .verify_record(&old_record, &server.host_public_key(), start)
        .expect("verified");
    assert_eq!(old_record.expiry, Time::from_milliseconds(2 * lifetime));
    assert_eq!(
        server.poll_timeout(),
        Some(Time::from_milliseconds(lifetime))
    );

    // Rotation: a new key is advertised; the old one still opens tunnels for a while.
    let rotated = Time::from_milliseconds(lifetime);
    server.handle_timeout(rotated);
    let new_record = server
        .directory_record(address(2), &late.host_public_key())
        .expect("record");
    let new_record = late
        .verify_record(&new_record, &server.host_public_key(), rotated)
        .expect("verified");
    assert_ne!(new_record.ephemeral_key, old_record.ephemeral_key);
    let tunnel = early.connect(rotated, &old_record).expect("tunnel");
    early
        .open_connection(tunnel, b"a", TypeHash([1; 64]), b"", None)
        .expect("open");
    let packet = early.poll_transmit(rotated).expect("first packet");
    server
        .handle_datagram(rotated, address(1), &packet.payload)
        .expect("previous key still accepted");

    // A first packet under the old key, delivered after the old key was erased, opens nothing.
    let mut straggler = verifier(12);
    let stale = straggler.connect(rotated, &old_record).expect("tunnel");
    straggler
        .open_connection(stale, b"a", TypeHash([1; 64]), b"", None)
        .expect("open");
    let stale_packet = straggler.poll_transmit(rotated).expect("first packet");
    let retired = Time::from_milliseconds(2 * lifetime);
    server.handle_timeout(retired);
    let before = server.summary();
    assert_eq!(
        server.handle_datagram(retired, address(3), &stale_packet.payload),
        Err(ethos_crypto::DropReason::NotAuthentic)
    );
    assert_eq!(server.summary(), before);
    let mut newcomer = verifier(13);
    assert_eq!(
        newcomer.connect(retired, &old_record),
        Err(ethos_crypto::EndpointError::Record(
            ethos_crypto::RecordError::Expired
        ))
    );
}

/// Carries every datagram each way until both are quiet.
fn exchange(client: &mut Endpoint, server: &mut Endpoint, now: Time) -> Vec<Vec<u8>> {
    let mut carried = Vec::new();
    for _ in 0..32 {
        let mut moved = false;
        while let Some(datagram) = client.poll_transmit(now) {
            let _ = server.handle_datagram(now, address(1), &datagram.payload);
            carried.push(datagram.payload);
            moved = true;
        }
        while let Some(datagram) = server.poll_transmit(now) {
            let _ = client.handle_datagram(now, address(2), &datagram.payload);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    carried
}

#[test]
fn an_idle_tunnel_is_torn_down_on_both_sides_and_its_packets_open_nothing_after() {
    let idle = 10_000;
    let config = EndpointConfig {
        idle_tunnel_milliseconds: Some(idle),
        ..EndpointConfig::default()
    };
    let make = |seed: u8| {
        Endpoint::new(
            config.clone(),
            SecretKey::from_bytes([seed; 32]),
            Box::new(ChaCha20Rng::seed_from_u64(u64::from(seed))),
            Time::from_milliseconds(0),
        )
    };
    let (mut client, mut server) = (make(1), make(2));
    let mut now = Time::from_milliseconds(1);
    let tunnel = open_tunnel(&mut client, &mut server, now);
    let connection = client
        .open_connection(tunnel, b"echo", TypeHash([6; 64]), b"hi", None)
        .expect("open");
    let old_packets = exchange(&mut client, &mut server, now);
    for event in server_events(&mut server) {
        if let Event::IncomingConnection { connection, .. } = event {
            server.accept(connection).expect("accept");
        }
    }
    exchange(&mut client, &mut server, now);
    // A tunnel with a connection is never idle, however long nothing moves.
    now = now.plus_milliseconds(3 * idle);
    client.handle_timeout(now);
    server.handle_timeout(now);
    assert_eq!((client.tunnel_count(), server.tunnel_count()), (1, 1));
    client.close(connection).expect("close");
    exchange(&mut client, &mut server, now);
    // The delayed acknowledgements go out, and then nothing is owed either way.
    now = now.plus_milliseconds(ethos_crypto::ACK_DELAY_MILLISECONDS);
    client.handle_timeout(now);
    server.handle_timeout(now);
    exchange(&mut client, &mut server, now);
    let _ = std::iter::from_fn(|| client.poll_event()).count();
    server_events(&mut server);
    // Quiet now: the deadline is `idle` after the last authentic packet.
    let deadline = client.poll_timeout().expect("a deadline");
    assert!(deadline <= now.plus_milliseconds(idle));
    client.handle_timeout(now.plus_milliseconds(idle - 1));
    assert_eq!(client.tunnel_count(), 1);
    now = now.plus_milliseconds(idle);
    client.handle_timeout(now);
    server.handle_timeout(now);
    assert_eq!((client.tunnel_count(), server.tunnel_count()), (0, 0));
    assert!(
        std::iter::from_fn(|| client.poll_event())
            .any(|event| event == Event::TunnelClosed { tunnel })
    );
    assert!(
        server_events(&mut server)
            .iter()
            .any(|event| matches!(event, Event::TunnelClosed { .. }))
    );
    // The old tunnel's packets, replayed, open nothing: its keys are gone.
    for packet in &old_packets {
        assert!(server.handle_datagram(now, address(1), packet).is_err());
    }
    assert_eq!(server.tunnel_count(), 0);
    // A new connection to the same host makes a new tunnel.
    let again = open_tunnel(&mut client, &mut server, now);
    assert_ne!(again, tunnel);
    client
        .open_connection(again, b"echo", TypeHash([6; 64]), b"again", None)
        .expect("open");
    exchange(&mut client, &mut server, now);
    assert!(server_events(&mut server).iter().any(|event| matches!(
        event,
        Event::IncomingConnection { first_value, .. } if first_value == b"again"
    )));
}
