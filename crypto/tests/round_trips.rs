//! What connections cost in round trips: a new tunnel's first datagram already carries
//! the first connection, its first value and data; a later connection on the tunnel
//! reaches the server in the client's next datagram, before any reply.

use std::net::SocketAddr;

use ethos_crypto::{Endpoint, EndpointConfig, Event, SecretKey, Time, TypeHash};
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

fn server_events(server: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| server.poll_event()).collect()
}

#[test]
fn first_datagram_opens_tunnel_and_connection_and_later_connections_need_no_round_trip() {
    let now = Time::from_milliseconds(1);
    let mut client = endpoint(1);
    let mut server = endpoint(2);
    let record = server
        .directory_record(address(2), &client.host_public_key())
        .expect("record");
    let record = client
        .verify_record(&record, &server.host_public_key(), now)
        .expect("verified");
    let tunnel = client.connect(now, &record).expect("tunnel");
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
    let record = server
        .directory_record(address(2), &client.host_public_key())
        .expect("record");
    let record = client
        .verify_record(&record, &server.host_public_key(), now)
        .expect("verified");
    let tunnel = client.connect(now, &record).expect("tunnel");
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
