//! Benchmarks, printed side by side in one run (`cargo bench -p ethos-crypto`):
//! tunnel setup CPU per side and X25519 operations per setup; bulk throughput through a
//! tunnel against raw XSalsa20-Poly1305 seal and open of the same bytes; and a rustls
//! TLS 1.3 handshake in memory against a MinimaLT tunnel setup in memory. Everything runs
//! on one thread and is timed with the thread's CPU time. Each figure is the median of
//! several rounds.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ethos_crypto::{ConnectionHandle, Endpoint, EndpointConfig, Event, SecretKey, Time, TypeHash};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use xsalsa20poly1305::aead::AeadInPlace;
use xsalsa20poly1305::{KeyInit, XSalsa20Poly1305};

const ROUNDS: usize = 11;

fn address(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn endpoint(seed: u64, max_tunnels: usize) -> Endpoint {
    let mut key = [0u8; 32];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut key);
    Endpoint::new(
        EndpointConfig {
            max_tunnels,
            ..EndpointConfig::default()
        },
        SecretKey::from_bytes(key),
        Box::new(ChaCha20Rng::seed_from_u64(seed ^ 0xabcdef)),
        Time::from_milliseconds(0),
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct SetupFigures {
    client_microseconds: f64,
    server_microseconds: f64,
    client_x25519: f64,
    server_x25519: f64,
}

/// CPU time this thread has used, from the scheduler's own accounting, so that other
/// processes on a shared machine do not count; wall time where that is unavailable. The
/// scheduler updates it at its tick (a few milliseconds), so every timed phase runs for a
/// hundred milliseconds or more.
#[derive(Clone, Copy)]
struct CpuClock(Option<u64>, Instant);

impl CpuClock {
    fn now() -> CpuClock {
        let scheduled = std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok());
        CpuClock(scheduled, Instant::now())
    }

    fn elapsed(self) -> Duration {
        match (self.0, CpuClock::now().0) {
            (Some(start), Some(end)) => Duration::from_nanos(end.saturating_sub(start)),
            _ => self.1.elapsed(),
        }
    }
}

/// One round: `count` tunnel setups, each a first packet carrying a connection and its
/// first value, answered by the server's accept. The phases run in batches so each side's
/// CPU time is measured apart: clients open, the server answers, clients take the answers.
/// The directory record is looked up once per host, not per tunnel, and is not timed.
fn tunnel_setups(count: usize, seed: u64) -> SetupFigures {
    let now = Time::from_milliseconds(1);
    let mut server = endpoint(seed, count + 16);
    let mut clients = Vec::with_capacity(count);
    let mut records = Vec::with_capacity(count);
    for index in 0..count {
        let mut client = endpoint(seed + 1 + index as u64, 4);
        let record = server
            .directory_record(address(2), &client.host_public_key())
            .expect("record");
        let record = client
            .verify_record(&record, &server.host_public_key(), now)
            .expect("verified");
        clients.push(client);
        records.push(record);
    }
    let client_before: u64 = clients
        .iter()
        .map(|c| c.statistics().x25519_operations)
        .sum();
    let server_before = server.statistics().x25519_operations;

    let start = CpuClock::now();
    let mut first_packets = Vec::with_capacity(count);
    for (client, record) in clients.iter_mut().zip(&records) {
        let tunnel = client.connect(now, record).expect("tunnel");
        client
            .open_connection(tunnel, b"echo", TypeHash([1; 64]), b"hello", None)
            .expect("open");
        first_packets.push(client.poll_transmit(now).expect("first packet").payload);
    }
    let mut client_time = start.elapsed();

    let start = CpuClock::now();
    let mut replies = Vec::with_capacity(count);
    for packet in &first_packets {
        server
            .handle_datagram(now, address(1), packet)
            .expect("accepted");
        while let Some(event) = server.poll_event() {
            if let Event::IncomingConnection { connection, .. } = event {
                server.accept(connection).expect("accept");
            }
        }
        replies.push(server.poll_transmit(now).expect("reply").payload);
    }
    let server_time = start.elapsed();

    let start = CpuClock::now();
    let mut accepted = 0;
    for (client, reply) in clients.iter_mut().zip(&replies) {
        client
            .handle_datagram(now, address(2), reply)
            .expect("reply accepted");
        while let Some(event) = client.poll_event() {
            accepted += usize::from(matches!(event, Event::ConnectionAccepted { .. }));
        }
    }
    client_time += start.elapsed();
    assert_eq!(
        accepted, count,
        "every tunnel and first connection is up after one round trip"
    );
    let client_after: u64 = clients
        .iter()
        .map(|c| c.statistics().x25519_operations)
        .sum();
    let server_after = server.statistics().x25519_operations;
    SetupFigures {
        client_microseconds: client_time.as_secs_f64() * 1e6 / count as f64,
        server_microseconds: server_time.as_secs_f64() * 1e6 / count as f64,
        client_x25519: (client_after - client_before) as f64 / count as f64,
        server_x25519: (server_after - server_before) as f64 / count as f64,
    }
}

/// Seconds to move `total` bytes from client to server through one connection.
fn bulk_through_tunnel(total: usize) -> (f64, usize) {
    let now = Time::from_milliseconds(1);
    let mut client = endpoint(1, 4);
    let mut server = endpoint(2, 4);
    let record = server
        .directory_record(address(2), &client.host_public_key())
        .expect("record");
    let record = client
        .verify_record(&record, &server.host_public_key(), now)
        .expect("verified");
    let tunnel = client.connect(now, &record).expect("tunnel");
    let connection = client
        .open_connection(tunnel, b"bulk", TypeHash([1; 64]), b"", None)
        .expect("open");
    let payload = vec![0x5au8; 64 * 1024];
    let mut sent = 0usize;
    let mut received = 0usize;
    let mut packets = 0usize;
    let mut accepted: Option<ConnectionHandle> = None;
    let start = CpuClock::now();
    while received < total {
        while sent < total {
            let chunk = payload.len().min(total - sent);
            let taken = client.send(connection, &payload[..chunk]).expect("send");
            if taken == 0 {
                break;
            }
            sent += taken;
        }
        while let Some(transmit) = client.poll_transmit(now) {
            packets += 1;
            let _ = server.handle_datagram(now, address(1), &transmit.payload);
        }
        while let Some(event) = server.poll_event() {
            match event {
                Event::IncomingConnection { connection, .. } => {
                    server.accept(connection).expect("accept");
                    accepted = Some(connection);
                }
                Event::Data { bytes, .. } => received += bytes.len(),
                _ => {}
            }
        }
        // Acknowledgements go out when due (every few packets, or after the ack delay).
        let later = Time::from_milliseconds(now.as_milliseconds() + 20);
        while let Some(transmit) = server.poll_transmit(later) {
            let _ = client.handle_datagram(now, address(2), &transmit.payload);
        }
        while client.poll_event().is_some() {}
    }
    let elapsed = start.elapsed().as_secs_f64();
    black_box(accepted);
    (elapsed, packets)
}

/// Seconds for raw XSalsa20-Poly1305 seal and open of `total` bytes in `chunk`-byte boxes.
fn raw_seal_open(total: usize, chunk: usize) -> f64 {
    let cipher = XSalsa20Poly1305::new(&[7u8; 32].into());
    let mut buffer = vec![0x5au8; chunk];
    let start = CpuClock::now();
    let mut done = 0;
    let mut counter = 0u64;
    while done < total {
        let length = chunk.min(total - done);
        let mut nonce = [0u8; 24];
        nonce[..8].copy_from_slice(&counter.to_be_bytes());
        counter += 1;
        let tag = cipher
            .encrypt_in_place_detached(&nonce.into(), b"", &mut buffer[..length])
            .expect("seal");
        cipher
            .decrypt_in_place_detached(&nonce.into(), b"", &mut buffer[..length], &tag)
            .expect("open");
        done += length;
    }
    black_box(&buffer);
    start.elapsed().as_secs_f64()
}

/// Microseconds for one key generation (fixed-base) and for one key agreement (measured
/// as verifying a directory record: one agreement and a 92-byte box).
fn primitive_costs(count: usize) -> (f64, f64) {
    let start = CpuClock::now();
    for index in 0..count {
        black_box(SecretKey::from_bytes([index as u8; 32]).public_key());
    }
    let generation = start.elapsed().as_secs_f64() * 1e6 / count as f64;
    let now = Time::from_milliseconds(1);
    let mut client = endpoint(1, 4);
    let mut server = endpoint(2, 4);
    let record = server
        .directory_record(address(2), &client.host_public_key())
        .expect("record");
    let host = server.host_public_key();
    let start = CpuClock::now();
    for _ in 0..count {
        black_box(client.verify_record(&record, &host, now).expect("verified"));
    }
    let agreement = start.elapsed().as_secs_f64() * 1e6 / count as f64;
    (generation, agreement)
}

fn tls_configs() -> (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let certificate = rustls::pki_types::CertificateDer::from(certified.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.key_pair.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .expect("server config");
    // Full handshakes only, as MinimaLT's setups are: no tickets, no resumption.
    server.send_tls13_tickets = 0;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate).expect("root");
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = rustls::client::Resumption::disabled();
    (Arc::new(client), Arc::new(server))
}

/// Microseconds per full TLS 1.3 handshake (both sides) in memory.
fn tls_handshakes(
    count: usize,
    configs: &(Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>),
) -> f64 {
    let start = Instant::now();
    for _ in 0..count {
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let mut client = rustls::ClientConnection::new(configs.0.clone(), name).expect("client");
        let mut server = rustls::ServerConnection::new(configs.1.clone()).expect("server");
        let mut buffer = Vec::with_capacity(8192);
        while client.is_handshaking() || server.is_handshaking() {
            buffer.clear();
            client.write_tls(&mut buffer).expect("client writes");
            server
                .read_tls(&mut buffer.as_slice())
                .expect("server reads");
            server.process_new_packets().expect("server handshake");
            buffer.clear();
            server.write_tls(&mut buffer).expect("server writes");
            client
                .read_tls(&mut buffer.as_slice())
                .expect("client reads");
            client.process_new_packets().expect("client handshake");
        }
        black_box((&client, &server));
    }
    start.elapsed().as_secs_f64() * 1e6 / count as f64
}

fn main() {
    // `cargo test` runs benchmarks once in debug to check they work; keep that short.
    let quick = std::env::args().all(|argument| argument != "--bench");
    let setups = if quick { 3 } else { 2000 };
    let bulk_bytes = if quick { 256 * 1024 } else { 32 * 1024 * 1024 };
    let rounds = if quick { 1 } else { ROUNDS };

    // Rounds interleave the measurements so that drift in machine load hits both sides
    // of each comparison alike; ratios are taken per round, then the median.
    let configs = tls_configs();
    let mut client_setup = Vec::new();
    let mut server_setup = Vec::new();
    let mut tls_setup = Vec::new();
    let mut setup_ratios = Vec::new();
    let mut tunnel_rates = Vec::new();
    let mut raw_rates = Vec::new();
    let mut bulk_ratios = Vec::new();
    let mut x25519 = (0.0, 0.0);
    let mut packets = 0;
    let megabytes = bulk_bytes as f64 / (1024.0 * 1024.0);
    for round in 0..rounds {
        let figures = tunnel_setups(setups, 1000 * round as u64 + 7);
        let tls = tls_handshakes(setups, &configs);
        client_setup.push(figures.client_microseconds);
        server_setup.push(figures.server_microseconds);
        tls_setup.push(tls);
        setup_ratios.push((figures.client_microseconds + figures.server_microseconds) / tls);
        x25519 = (figures.client_x25519, figures.server_x25519);

        let (tunnel_seconds, sent) = bulk_through_tunnel(bulk_bytes);
        packets = sent;
        let chunk = bulk_bytes.div_ceil(packets.max(1));
        let raw_seconds = raw_seal_open(bulk_bytes, chunk);
        tunnel_rates.push(megabytes / tunnel_seconds);
        raw_rates.push(megabytes / raw_seconds);
        bulk_ratios.push(raw_seconds / tunnel_seconds);
    }
    let client_setup = median(client_setup);
    let server_setup = median(server_setup);
    let ours_total = client_setup + server_setup;
    let tls = median(tls_setup);
    let setup_ratio = median(setup_ratios);
    let chunk = bulk_bytes.div_ceil(packets.max(1));
    let (generation, agreement) = primitive_costs(setups);

    println!("MinimaLT benchmarks ({} rounds, median)", rounds);
    println!();
    println!("tunnel setup (1-RTT, first connection and first value included)");
    println!(
        "  client CPU per setup            {client_setup:>10.1} us   X25519 ops {:.1}",
        x25519.0
    );
    println!(
        "  server CPU per setup            {server_setup:>10.1} us   X25519 ops {:.1}",
        x25519.1
    );
    println!("  both sides                      {ours_total:>10.1} us");
    println!("  (one key generation {generation:.1} us, one key agreement {agreement:.1} us)");
    println!("  rustls TLS 1.3 full handshake   {tls:>10.1} us   (both sides, ring, ECDSA P-256)");
    println!(
        "  MinimaLT / TLS                  {:>10.3}      (goal <= 0.333)",
        setup_ratio
    );
    println!();
    println!(
        "bulk transfer, {megabytes:.0} MiB one way, {packets} packets of ~{chunk} payload bytes"
    );
    println!(
        "  through a tunnel                {:>10.1} MiB/s",
        median(tunnel_rates)
    );
    println!(
        "  raw XSalsa20-Poly1305 seal+open {:>10.1} MiB/s",
        median(raw_rates)
    );
    println!(
        "  tunnel / raw                    {:>10.3}      (goal >= 0.85)",
        median(bulk_ratios)
    );
}
