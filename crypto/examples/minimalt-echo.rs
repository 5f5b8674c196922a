//! `minimalt-echo`: a MinimaLT echo server and client over UDP, for two Linux processes.
//!
//! ```text
//! minimalt-echo public --seed HEX32
//! minimalt-echo server --seed HEX32 --client-public HEX32 [--listen 127.0.0.1:0]
//! minimalt-echo client --seed HEX32 --server-public HEX32 --record HEX [--messages N]
//! ```
//!
//! The server prints `listening ADDRESS` and `record HEX` (its directory record, boxed
//! for the client host) and echoes every connection's bytes back until every connection
//! it accepted is closed. The client verifies the record, opens one tunnel carrying a
//! connection authenticated as a user, sends N messages, checks each echo, closes, and
//! prints `echoed N messages`. Both give up after 20 seconds without progress.

use std::io::Write;
use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ethos_crypto::{
    Endpoint, EndpointConfig, Event, MAX_DATAGRAM, PublicKeyBytes, SecretKey, Time, TypeHash,
};

const ECHO_TYPE: TypeHash = TypeHash([0x45; 64]);
const GIVE_UP: Duration = Duration::from_secs(20);

fn now() -> Time {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Time::from_milliseconds(since_epoch.as_millis() as u64)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() & 1 == 1 {
        return Err(format!("odd-length hex: {text}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|at| {
            u8::from_str_radix(&text[at..at + 2], 16).map_err(|error| format!("bad hex: {error}"))
        })
        .collect()
}

fn key32(text: &str) -> Result<[u8; 32], String> {
    unhex(text)?
        .try_into()
        .map_err(|_| "a key is 32 bytes (64 hex digits)".to_string())
}

fn option<'a>(arguments: &'a [String], name: &str) -> Result<&'a str, String> {
    arguments
        .windows(2)
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str())
        .ok_or(format!("missing {name}"))
}

fn endpoint(seed: [u8; 32]) -> Endpoint {
    Endpoint::new(
        EndpointConfig::default(),
        SecretKey::from_bytes(seed),
        Box::new(rand_core::OsRng),
        now(),
    )
}

/// Sends what the endpoint has, then waits for one datagram or the next timer.
fn turn(endpoint: &mut Endpoint, socket: &UdpSocket) -> Result<(), String> {
    while let Some(transmit) = endpoint.poll_transmit(now()) {
        socket
            .send_to(&transmit.payload, transmit.destination)
            .map_err(|error| format!("send: {error}"))?;
    }
    let wait = endpoint
        .poll_timeout()
        .map(|deadline| Duration::from_millis(deadline.milliseconds_since(now())))
        .unwrap_or(Duration::from_millis(100))
        .clamp(Duration::from_millis(1), Duration::from_millis(100));
    socket
        .set_read_timeout(Some(wait))
        .map_err(|error| format!("timeout: {error}"))?;
    let mut buffer = [0u8; MAX_DATAGRAM + 1];
    match socket.recv_from(&mut buffer) {
        Ok((length, from)) => {
            // Dropped datagrams are the protocol working; nothing to report.
            let _ = endpoint.handle_datagram(now(), from, &buffer[..length]);
        }
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Err(error) => return Err(format!("receive: {error}")),
    }
    let current = now();
    if endpoint
        .poll_timeout()
        .is_some_and(|deadline| deadline <= current)
    {
        endpoint.handle_timeout(current);
    }
    Ok(())
}

fn serve(arguments: &[String]) -> Result<(), String> {
    let mut endpoint = endpoint(key32(option(arguments, "--seed")?)?);
    let client = PublicKeyBytes(key32(option(arguments, "--client-public")?)?);
    let listen = option(arguments, "--listen").unwrap_or("127.0.0.1:0");
    let socket = UdpSocket::bind(listen).map_err(|error| format!("bind {listen}: {error}"))?;
    let address = socket
        .local_addr()
        .map_err(|error| format!("address: {error}"))?;
    let record = endpoint
        .directory_record(address, &client)
        .map_err(|error| format!("record: {error}"))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening {address}")
        .and_then(|()| writeln!(stdout, "record {}", hex(&record)))
        .and_then(|()| stdout.flush())
        .map_err(|error| format!("stdout: {error}"))?;
    let mut open = 0usize;
    let mut served = 0usize;
    let mut last_progress = Instant::now();
    loop {
        turn(&mut endpoint, &socket)?;
        while let Some(event) = endpoint.poll_event() {
            last_progress = Instant::now();
            match event {
                Event::IncomingConnection {
                    connection,
                    user,
                    service,
                    ..
                } => {
                    let user = user
                        .map(|key| hex(&key.0))
                        .unwrap_or_else(|| "none".to_string());
                    println!(
                        "connection {} service {} user {user}",
                        connection.id,
                        String::from_utf8_lossy(&service)
                    );
                    endpoint
                        .accept(connection)
                        .map_err(|error| format!("accept: {error}"))?;
                    open += 1;
                    served += 1;
                }
                Event::Data { connection, bytes } => {
                    endpoint
                        .send(connection, &bytes)
                        .map_err(|error| format!("echo: {error}"))?;
                }
                Event::ConnectionClosed { .. } => open = open.saturating_sub(1),
                _ => {}
            }
        }
        if served > 0 && open == 0 {
            // Let the last acknowledgements out before leaving.
            for _ in 0..20 {
                turn(&mut endpoint, &socket)?;
            }
            println!("served {served} connections");
            return Ok(());
        }
        if last_progress.elapsed() > GIVE_UP {
            return Err("no client activity".to_string());
        }
    }
}

fn client(arguments: &[String]) -> Result<(), String> {
    let seed = key32(option(arguments, "--seed")?)?;
    let mut endpoint = endpoint(seed);
    let server = PublicKeyBytes(key32(option(arguments, "--server-public")?)?);
    let record = unhex(option(arguments, "--record")?)?;
    let messages: usize = option(arguments, "--messages")
        .unwrap_or("10")
        .parse()
        .map_err(|error| format!("--messages: {error}"))?;
    let record = endpoint
        .verify_record(&record, &server, now())
        .map_err(|error| format!("record: {error}"))?;
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|error| format!("bind: {error}"))?;
    let tunnel = endpoint
        .connect(now(), &record)
        .map_err(|error| format!("connect: {error}"))?;
    let mut user_seed = seed;
    user_seed[0] ^= 0xff;
    let user = SecretKey::from_bytes(user_seed);
    let connection = endpoint
        .open_connection(tunnel, b"echo", ECHO_TYPE, b"hello", Some(&user))
        .map_err(|error| format!("open: {error}"))?;
    let mut expected = Vec::new();
    for index in 0..messages {
        let message = format!("message {index} through MinimaLT\n");
        expected.extend_from_slice(message.as_bytes());
        endpoint
            .send(connection, message.as_bytes())
            .map_err(|error| format!("send: {error}"))?;
    }
    let mut echoed = Vec::new();
    let mut last_progress = Instant::now();
    while echoed.len() < expected.len() {
        turn(&mut endpoint, &socket)?;
        while let Some(event) = endpoint.poll_event() {
            last_progress = Instant::now();
            match event {
                Event::Data { bytes, .. } => echoed.extend_from_slice(&bytes),
                Event::ConnectionRefused { .. } => return Err("refused".to_string()),
                _ => {}
            }
        }
        if last_progress.elapsed() > GIVE_UP {
            return Err(format!(
                "echo stalled at {} of {} bytes",
                echoed.len(),
                expected.len()
            ));
        }
    }
    if echoed != expected {
        return Err("the echo differs from what was sent".to_string());
    }
    endpoint
        .close(connection)
        .map_err(|error| format!("close: {error}"))?;
    for _ in 0..50 {
        turn(&mut endpoint, &socket)?;
    }
    println!("echoed {messages} messages");
    Ok(())
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().collect();
    let result = match arguments.get(1).map(String::as_str) {
        Some("server") => serve(&arguments),
        Some("client") => client(&arguments),
        Some("public") => option(&arguments, "--seed")
            .and_then(key32)
            .map(|seed| println!("{}", hex(&SecretKey::from_bytes(seed).public_key().0))),
        _ => Err(
            "usage: minimalt-echo public|server|client ... (see the source's header)".to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("minimalt-echo: {message}");
            ExitCode::FAILURE
        }
    }
}
