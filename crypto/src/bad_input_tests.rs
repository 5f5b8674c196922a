//! The table of bad input: each datagram is dropped with a reason, changes nothing, and
//! never panics. Lives inside the crate because some rows (an authenticator from another
//! tunnel) need a packet sealed with a real tunnel key around a forged frame.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::SocketAddr;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::endpoint::{DropReason, Endpoint, EndpointConfig, Event, TunnelHandle};
use crate::frame::{Frame, TypeHash, UserClaim};
use crate::keys::{Authenticator, SecretKey};
use crate::puzzle::{PUZZLE_LIFETIME_MILLISECONDS, PuzzleError};
use crate::record::RecordError;
use crate::time::Time;
use crate::wire::{MAX_DATAGRAM, WireError};

const TYPE: TypeHash = TypeHash([7u8; 64]);

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

/// A client endpoint's tunnel to `server`, through a verified record.
fn connect(client: &mut Endpoint, server: &mut Endpoint, server_port: u16) -> TunnelHandle {
    let record = server
        .directory_record(address(server_port), &client.host_public_key())
        .expect("record");
    let record = client
        .verify_record(
            &record,
            &server.host_public_key(),
            Time::from_milliseconds(0),
        )
        .expect("verified");
    client
        .connect(Time::from_milliseconds(0), &record)
        .expect("tunnel")
}

fn drain(endpoint: &mut Endpoint, now: Time) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    while let Some(transmit) = endpoint.poll_transmit(now) {
        packets.push(transmit.payload);
    }
    packets
}

fn events(endpoint: &mut Endpoint) -> Vec<Event> {
    core::iter::from_fn(|| endpoint.poll_event()).collect()
}

/// Feeds `bytes` to `endpoint` and checks it was dropped for `reason` with no change.
#[track_caller]
fn assert_dropped(endpoint: &mut Endpoint, now: Time, bytes: &[u8], reason: Option<DropReason>) {
    let before = endpoint.summary();
    #[cfg(fuzzing)]
    let fingerprint = endpoint.fingerprint();
    let verdict = endpoint.handle_datagram(now, address(1), bytes);
    assert!(verdict.is_err(), "accepted a bad datagram");
    if let Some(reason) = reason {
        assert_eq!(verdict, Err(reason));
    }
    assert_eq!(endpoint.summary(), before, "state changed on {verdict:?}");
    #[cfg(fuzzing)]
    assert_eq!(
        endpoint.fingerprint(),
        fingerprint,
        "state outside the summary changed on {verdict:?}"
    );
}

/// A client and a server with one established tunnel and an open connection.
struct Established {
    client: Endpoint,
    server: Endpoint,
    tunnel: TunnelHandle,
    first_packet: Vec<u8>,
}

fn established() -> Established {
    let mut client = endpoint(1);
    let mut server = endpoint(2);
    let tunnel = connect(&mut client, &mut server, 2);
    let now = Time::from_milliseconds(1);
    client
        .open_connection(tunnel, b"echo", TYPE, b"hello", None)
        .expect("open");
    let first = drain(&mut client, now);
    assert_eq!(first.len(), 1);
    server
        .handle_datagram(now, address(1), &first[0])
        .expect("first packet accepted");
    for event in events(&mut server) {
        if let Event::IncomingConnection { connection, .. } = event {
            server.accept(connection).expect("accept");
        }
    }
    for packet in drain(&mut server, now) {
        client
            .handle_datagram(now, address(2), &packet)
            .expect("reply accepted");
    }
    Established {
        client,
        server,
        tunnel,
        first_packet: first[0].clone(),
    }
}

/// One more data packet from the client, not yet delivered.
fn next_client_packet(state: &mut Established, now: Time) -> Vec<u8> {
    let connection = crate::endpoint::ConnectionHandle {
        tunnel: state.tunnel,
        id: 1,
    };
    state.client.send(connection, b"more data").expect("send");
    let mut packets = drain(&mut state.client, now);
    assert_eq!(packets.len(), 1);
    packets.remove(0)
}

#[test]
fn tampered_truncated_and_oversized_packets_are_dropped() {
    let mut state = established();
    let now = Time::from_milliseconds(2);
    let packet = next_client_packet(&mut state, now);
    for index in 0..packet.len() {
        for flip in [0x01u8, 0x80] {
            let mut tampered = packet.clone();
            tampered[index] ^= flip;
            assert_dropped(&mut state.server, now, &tampered, None);
        }
    }
    for length in 0..packet.len() {
        assert_dropped(&mut state.server, now, &packet[..length], None);
    }
    let mut oversized = packet.clone();
    oversized.resize(MAX_DATAGRAM + 1, 0);
    assert_dropped(
        &mut state.server,
        now,
        &oversized,
        Some(DropReason::Malformed(WireError::Oversized)),
    );
    // The untouched packet is still good: the drops above were about the changes.
    state
        .server
        .handle_datagram(now, address(1), &packet)
        .expect("original accepted");
}

#[test]
fn replays_old_nonces_unknown_tunnels_and_wrong_keys_are_dropped() {
    let mut state = established();
    let now = Time::from_milliseconds(2);
    let held = next_client_packet(&mut state, now);
    let packet = next_client_packet(&mut state, now);
    state
        .server
        .handle_datagram(now, address(1), &packet)
        .expect("fresh");
    assert_dropped(
        &mut state.server,
        now,
        &packet,
        Some(DropReason::ReplayedNonce),
    );
    assert_dropped(
        &mut state.server,
        now,
        &state.first_packet.clone(),
        Some(DropReason::ReplayedNonce),
    );
    // Push the window far past the held packet.
    // Push the window far past the held packet; its data comes again by retransmission.
    let connection = crate::endpoint::ConnectionHandle {
        tunnel: state.tunnel,
        id: 1,
    };
    let mut later = now;
    for _ in 0..crate::replay::REORDER_WINDOW + 2 {
        later = later.plus_milliseconds(1_000);
        state.client.handle_timeout(later);
        state.client.send(connection, b"more").expect("send");
        for newer in drain(&mut state.client, later) {
            state
                .server
                .handle_datagram(later, address(1), &newer)
                .expect("fresh");
        }
        for reply in drain(&mut state.server, later.plus_milliseconds(100)) {
            state
                .client
                .handle_datagram(later, address(2), &reply)
                .expect("reply");
        }
    }
    assert_dropped(
        &mut state.server,
        later,
        &held,
        Some(DropReason::StaleNonce),
    );

    let mut unknown = next_client_packet(&mut state, now);
    unknown[..8].copy_from_slice(&0x0123_4567_89ab_cdefu64.to_be_bytes());
    assert_dropped(
        &mut state.server,
        now,
        &unknown,
        Some(DropReason::UnknownTunnel),
    );

    // A packet of another tunnel (another server's key) under this tunnel's id.
    let mut other_client = endpoint(3);
    let mut other_server = endpoint(4);
    let other_tunnel = connect(&mut other_client, &mut other_server, 4);
    other_client
        .open_connection(other_tunnel, b"echo", TYPE, b"x", None)
        .expect("open");
    let mut foreign = drain(&mut other_client, now).remove(0);
    let good = next_client_packet(&mut state, now);
    foreign[..8].copy_from_slice(&good[..8]);
    foreign[8..16].copy_from_slice(&good[8..16]);
    // With this tunnel's clear header, the other tunnel's key bytes and box are a box
    // under the wrong key; so is the other tunnel's box alone.
    assert_dropped(&mut state.server, now, &foreign, None);
    let mut unflagged = Vec::new();
    unflagged.extend_from_slice(&good[..16]);
    unflagged.extend_from_slice(&foreign[48..]);
    assert_dropped(
        &mut state.server,
        now,
        &unflagged,
        Some(DropReason::NotAuthentic),
    );
}

#[test]
fn an_authenticator_from_another_tunnel_is_refused() {
    let mut state = established();
    let now = Time::from_milliseconds(2);
    let user = SecretKey::from_bytes([9u8; 32]);
    // The same user's authenticator, made for another tunnel to the same server.
    let mut other_client = endpoint(5);
    let other_tunnel = connect(&mut other_client, &mut state.server, 2);
    let other_binding = other_client.tunnels[&other_tunnel].binding;
    let stolen = Authenticator::create(&user, &state.server.host_public_key(), &other_binding)
        .expect("contributory");
    let tunnel = state.client.tunnels.get_mut(&state.tunnel).expect("tunnel");
    let mut body = Vec::new();
    Frame::Create {
        connection: 101,
        service: b"echo",
        type_hash: TYPE,
        user: Some(UserClaim {
            user: user.public_key(),
            authenticator: stolen,
        }),
        first_value: b"",
    }
    .encode(&mut body);
    let sequence = tunnel.reliability.record_sent(now, body.clone());
    let forged = tunnel.seal(sequence, &body).expect("nonce left");
    assert_dropped(
        &mut state.server,
        now,
        &forged,
        Some(DropReason::UserAuthenticationFailed),
    );
    // The same frame with an authenticator for this tunnel is accepted and reported.
    let tunnel = state.client.tunnels.get_mut(&state.tunnel).expect("tunnel");
    let genuine = Authenticator::create(&user, &state.server.host_public_key(), &tunnel.binding)
        .expect("contributory");
    let mut body = Vec::new();
    Frame::Create {
        connection: 101,
        service: b"echo",
        type_hash: TYPE,
        user: Some(UserClaim {
            user: user.public_key(),
            authenticator: genuine,
        }),
        first_value: b"",
    }
    .encode(&mut body);
    let packet = tunnel.seal(sequence, &body).expect("nonce left");
    state
        .server
        .handle_datagram(now, address(1), &packet)
        .expect("genuine");
    let reported = events(&mut state.server).into_iter().any(|event| {
        matches!(event, Event::IncomingConnection { user: Some(key), .. } if key == user.public_key())
    });
    assert!(reported, "the authenticated user is reported");
}

#[test]
fn forged_directory_records_are_refused() {
    let mut client = endpoint(1);
    let mut server = endpoint(2);
    let record = server
        .directory_record(address(2), &client.host_public_key())
        .expect("record");
    let before = client.summary();
    for index in 0..record.len() {
        let mut forged = record.clone();
        forged[index] ^= 0x04;
        let verdict = client.verify_record(
            &forged,
            &server.host_public_key(),
            Time::from_milliseconds(0),
        );
        assert!(verdict.is_err(), "byte {index}");
    }
    // A record made by another host, claiming this host's key, is refused too.
    let mut impostor = endpoint(2 + 100);
    let forged = impostor
        .directory_record(address(2), &client.host_public_key())
        .expect("record");
    let verdict = client.verify_record(
        &forged,
        &server.host_public_key(),
        Time::from_milliseconds(0),
    );
    assert_eq!(verdict, Err(RecordError::UnexpectedHost));
    assert_eq!(client.summary(), before);
}

#[test]
fn wrong_and_stale_puzzle_solutions_are_dropped() {
    let mut client = endpoint(1);
    let mut server = endpoint(2);
    server.set_puzzle_difficulty(Some(6));
    let tunnel = connect(&mut client, &mut server, 2);
    let now = Time::from_milliseconds(1_000);
    client
        .open_connection(tunnel, b"echo", TYPE, b"hello", None)
        .expect("open");
    let first = drain(&mut client, now).remove(0);
    assert_eq!(
        server.handle_datagram(now, address(1), &first),
        Err(DropReason::PuzzleIssued)
    );
    assert_eq!(
        server.tunnel_count(),
        0,
        "a puzzle costs the server no state"
    );
    let challenge = drain(&mut server, now).remove(0);
    client
        .handle_datagram(now, address(2), &challenge)
        .expect("solved");
    let solved = drain(&mut client, now).remove(0);
    // The solution sits after the header and the client key: time, difficulty, value.
    let solution_start = 16 + 32;
    let mut wrong = solved.clone();
    wrong[solution_start + 9 + 31] ^= 0x01;
    assert_dropped(
        &mut server,
        now,
        &wrong,
        Some(DropReason::Puzzle(PuzzleError::Wrong)),
    );
    let mut easier = solved.clone();
    easier[solution_start + 8] = 1;
    assert_dropped(
        &mut server,
        now,
        &easier,
        Some(DropReason::Puzzle(PuzzleError::TooEasy)),
    );
    let late = now.plus_milliseconds(PUZZLE_LIFETIME_MILLISECONDS + 1);
    assert_dropped(
        &mut server,
        late,
        &solved,
        Some(DropReason::Puzzle(PuzzleError::Stale)),
    );
    // Unsolved, it is answered with a puzzle again, still without a tunnel.
    assert_eq!(
        server.handle_datagram(now, address(1), &first),
        Err(DropReason::PuzzleIssued)
    );
    assert_eq!(server.tunnel_count(), 0);
    server
        .handle_datagram(now, address(1), &solved)
        .expect("fresh solution");
    assert_eq!(server.tunnel_count(), 1);
}

#[test]
fn a_replayed_first_packet_after_a_rekey_is_dropped() {
    let mut state = established();
    let mut now = Time::from_milliseconds(2);
    state.client.rekey(state.tunnel).expect("rekey");
    // Exchange until both sides use the new id and key.
    for _ in 0..4 {
        now = now.plus_milliseconds(50);
        let packet = next_client_packet(&mut state, now);
        let _ = state.server.handle_datagram(now, address(1), &packet);
        for packet in drain(&mut state.client, now) {
            let _ = state.server.handle_datagram(now, address(1), &packet);
        }
        for packet in drain(&mut state.server, now) {
            let _ = state.client.handle_datagram(now, address(2), &packet);
        }
    }
    let original = state.client.tunnels[&state.tunnel].original_tunnel_id;
    assert_ne!(
        state.client.tunnels[&state.tunnel].tunnel_id, original,
        "moved"
    );
    assert_ne!(
        state.server.tunnels.values().next().map(|t| t.tunnel_id),
        Some(original)
    );
    let first = state.first_packet.clone();
    assert_dropped(
        &mut state.server,
        now,
        &first,
        Some(DropReason::UnknownTunnel),
    );
    assert_eq!(
        state.server.tunnel_count(),
        1,
        "no second tunnel from a replay"
    );
}
