//! The `net-bench` service: typed round trips and bulk transfer between two hosts,
//! timed by the client (`cargo xtask bench net`). `net-bench-server` (bob, on beta)
//! serves one connection; `net-bench-client` (alice, on alpha) reaches it by naming
//! beta in `ipc`, so every value crosses the kernels' MinimaLT tunnel.
//!
//! The service's type is `Bouncer` (`images/boot/types/services.etn`). The server
//! answers every `Bounce` with its payload until a `Bounce` with an empty payload,
//! which it answers and after which it counts `Bounce` values without answering
//! them: the bulk phase, one direction only. A `Shutdown` is answered and ends it.
//!
//! The client times itself with `getTime` and prints one line,
//! `net-bench setup_ns=<n> connect_tries=<n> rtt64_ns=<n> rtt4k_ns=<n> samples=<n>
//! bulk_values=<n> bulk_bytes=<n> bulk_ns=<n>`: the first `ipc` to its first reply
//! (the tunnel's setup included), the median round trips less the clock's own cost,
//! and the bulk phase from its first value written to the `Shutdown`'s reply, which
//! the server sends only after reading every value before it. Benchmarks never fail
//! on time.
//!
//! The exit statuses of each program are the constants of its module.

use alloc::vec;
use alloc::vec::Vec;

use ethos_abi::Status;
use ethos_compat::{
    Descriptor, RpcConnection, close, get_time, println, read_blocking, write_blocking,
};
use ethos_typesys::wire;

use crate::serving::{Accepted, NoConnection, accept_one, connect_remote};
use crate::types::{
    BouncerBounce, BouncerBounceReply, BouncerClient, BouncerReply, BouncerRequest,
    BouncerShutdownReply, Payload,
};

/// The service the benchmark's hosts talk over.
pub const SERVICE: &str = "net-bench";
/// The host that runs `net-bench-server`.
pub const SERVER_HOST: &str = "beta";

/// Timed round trips per payload size.
pub const ROUND_TRIPS: usize = 300;
/// The payload sizes of the round trips.
pub const SMALL_PAYLOAD: usize = 64;
pub const LARGE_PAYLOAD: usize = 4096;
/// Values the bulk phase sends, each with a [`LARGE_PAYLOAD`] payload.
pub const BULK_VALUES: usize = 1000;

/// What the client prints its figures after (the kernel adds `user <name>: `).
pub const FIGURES_PREFIX: &str = "net-bench ";

/// Exit statuses of `net-bench-server`.
pub mod server_status {
    /// `advertise` failed.
    pub const ADVERTISE: i32 = 1;
    /// `import` failed.
    pub const IMPORT: i32 = 2;
    /// A `read` failed before `Shutdown`.
    pub const READ: i32 = 3;
    /// A reply could not be written.
    pub const REPLY: i32 = 4;
    /// A value did not decode as a `Bouncer` request.
    pub const MALFORMED: i32 = 5;
}

/// `net-bench-server`: advertises `net-bench`, serves one connection until
/// `Shutdown`, then prints `net-bench-server: answered N, counted M values of B bytes`.
pub fn server() -> i32 {
    const NAME: &str = "net-bench-server";
    let Accepted {
        listening,
        connection,
    } = match accept_one(NAME, SERVICE) {
        Ok(accepted) => accepted,
        Err(NoConnection::Advertise(_)) => return server_status::ADVERTISE,
        Err(NoConnection::Import(_)) => return server_status::IMPORT,
    };
    let (mut answered, mut counted, mut counted_bytes) = (0u64, 0u64, 0u64);
    let mut counting = false;
    loop {
        let request = match read_blocking(connection) {
            Ok(request) => request,
            Err(status) => {
                println!("{NAME}: read failed after {answered} answers: {status}");
                return server_status::READ;
            }
        };
        let reply = match wire::decode::<BouncerRequest>(&request) {
            Ok(BouncerRequest::Bounce(BouncerBounce { data })) if counting => {
                counted += 1;
                counted_bytes += data.0.len() as u64;
                continue;
            }
            Ok(BouncerRequest::Bounce(BouncerBounce { data })) => {
                counting = data.0.is_empty();
                BouncerReply::Bounce(BouncerBounceReply { data })
            }
            Ok(BouncerRequest::Shutdown(_)) => BouncerReply::Shutdown(BouncerShutdownReply {}),
            Err(error) => {
                println!(
                    "{NAME}: a request of {} bytes did not decode: {error}",
                    request.len()
                );
                return server_status::MALFORMED;
            }
        };
        let stop = matches!(reply, BouncerReply::Shutdown(_));
        let written = wire::encode(&reply)
            .map_err(|_| Status::InvalidArgument)
            .and_then(|bytes| write_blocking(connection, &bytes));
        if let Err(status) = written {
            println!("{NAME}: reply {answered} failed: {status}");
            return server_status::REPLY;
        }
        answered += 1;
        if stop {
            break;
        }
    }
    let _ = close(connection);
    let _ = close(listening);
    println!("{NAME}: answered {answered}, counted {counted} values of {counted_bytes} bytes");
    0
}

/// Exit statuses of `net-bench-client`.
pub mod client_status {
    /// `net-bench` on beta could not be reached.
    pub const CONNECT: i32 = 1;
    /// `getTime` failed.
    pub const CLOCK: i32 = 2;
    /// A call failed.
    pub const CALL: i32 = 3;
    /// A reply differed from its request.
    pub const WRONG_REPLY: i32 = 4;
    /// A bulk value could not be written.
    pub const WRITE: i32 = 5;
}

fn now() -> Result<u64, i32> {
    get_time().map_err(|status| {
        println!("net-bench-client: getTime failed: {status}");
        client_status::CLOCK
    })
}

/// `Bounce(payload)`, encoded as a request.
fn bounce_request(payload: &[u8]) -> Vec<u8> {
    let request = BouncerRequest::Bounce(BouncerBounce {
        data: Payload(payload.to_vec()),
    });
    // A `Bounce` of bytes always encodes.
    wire::encode(&request).unwrap_or_default()
}

/// The first `ipc`, asked again while `net-bench` is not advertised on beta: the
/// connection, the tries and the time from the first try to the first reply.
fn connect() -> Result<(Descriptor, u64, u64), i32> {
    let payload = vec![0x5a; SMALL_PAYLOAD];
    let first = bounce_request(&payload);
    let started = now()?;
    let (connection, tries) = connect_remote(SERVICE, SERVER_HOST, &first).map_err(|status| {
        println!("net-bench-client: cannot connect to {SERVICE} on {SERVER_HOST}: {status:?}");
        client_status::CONNECT
    })?;
    let reply = read_blocking(connection).map_err(|status| {
        println!("net-bench-client: the first reply failed: {status}");
        client_status::CALL
    })?;
    let setup = now()?.saturating_sub(started);
    match wire::decode::<BouncerReply>(&reply) {
        Ok(BouncerReply::Bounce(BouncerBounceReply { data })) if data.0 == payload => {
            Ok((connection, tries, setup))
        }
        _ => {
            println!("net-bench-client: the first reply differs from its request");
            Err(client_status::WRONG_REPLY)
        }
    }
}

/// The median nanoseconds between two `getTime` calls around `operation`.
fn median_of(samples: usize, mut operation: impl FnMut() -> Result<(), i32>) -> Result<u64, i32> {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = now()?;
        operation()?;
        times.push(now()?.saturating_sub(start));
    }
    times.sort_unstable();
    times.get(samples / 2).copied().ok_or(client_status::CLOCK)
}

/// `net-bench-client`: connects to `net-bench` on beta, times the round trips and
/// the bulk phase, prints its figures and ends the server with `Shutdown`.
pub fn client() -> i32 {
    match measure() {
        Ok(()) => 0,
        Err(status) => status,
    }
}

fn measure() -> Result<(), i32> {
    let (connection, tries, setup) = connect()?;
    let mut bouncer = BouncerClient {
        transport: RpcConnection::new(connection),
    };
    let clock = median_of(ROUND_TRIPS, || Ok(()))?;
    let mut round_trip = |size: usize| {
        let payload = vec![0x5a; size];
        median_of(ROUND_TRIPS, || {
            match bouncer.bounce(Payload(payload.clone())) {
                Ok(reply) if reply.data.0 == payload => Ok(()),
                Ok(_) => {
                    println!("net-bench-client: a bounce of {size} bytes came back changed");
                    Err(client_status::WRONG_REPLY)
                }
                Err(error) => {
                    println!("net-bench-client: a bounce of {size} bytes failed: {error}");
                    Err(client_status::CALL)
                }
            }
        })
    };
    let small = round_trip(SMALL_PAYLOAD)?.saturating_sub(clock);
    let large = round_trip(LARGE_PAYLOAD)?.saturating_sub(clock);
    // The empty bounce turns the server to counting; its reply says it has.
    match bouncer.bounce(Payload(Vec::new())) {
        Ok(reply) if reply.data.0.is_empty() => {}
        _ => {
            println!("net-bench-client: the server did not start counting");
            return Err(client_status::CALL);
        }
    }
    let value = bounce_request(&vec![0xa5; LARGE_PAYLOAD]);
    let started = now()?;
    for index in 0..BULK_VALUES {
        write_blocking(connection, &value).map_err(|status| {
            println!("net-bench-client: bulk value {index} failed: {status}");
            client_status::WRITE
        })?;
    }
    bouncer.shutdown().map_err(|error| {
        println!("net-bench-client: shutdown failed: {error}");
        client_status::CALL
    })?;
    let bulk = now()?.saturating_sub(started);
    let _ = close(connection);
    println!(
        "{FIGURES_PREFIX}setup_ns={setup} connect_tries={tries} rtt64_ns={small} \
         rtt4k_ns={large} samples={ROUND_TRIPS} bulk_values={BULK_VALUES} bulk_bytes={} \
         bulk_ns={bulk}",
        BULK_VALUES * LARGE_PAYLOAD
    );
    Ok(())
}
