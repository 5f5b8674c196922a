//! The `Bouncer` services: `soak` (a million checked messages) and `bench` (timed
//! round trips). Each server serves one connection until `Shutdown`.
//!
//! The exit statuses of each program are the constants of its module.

use alloc::vec;
use alloc::vec::Vec;

use ethos_compat::{RpcConnection, get_pid, get_time, println};

use crate::serving::{
    Bouncer, Interrupted, NoConnection, accept_one, connect, serve_until_shutdown,
};
use crate::types::{BouncerClient, Payload, serve_bouncer_into};

/// The soak's service.
pub const SOAK_SERVICE: &str = "soak";
/// The benchmark's service.
pub const BENCH_SERVICE: &str = "bench";

/// Exit statuses of `soak-server` and `bench-server`.
pub mod server_status {
    /// `advertise` failed.
    pub const ADVERTISE: i32 = 1;
    /// `import` failed.
    pub const IMPORT: i32 = 2;
    /// A `read` failed, or the client left before `Shutdown`.
    pub const READ: i32 = 3;
    /// A reply could not be written.
    pub const REPLY: i32 = 4;
    /// Some request did not decode.
    pub const MALFORMED: i32 = 5;
}

/// `soak-server`: serves `soak` to one client until `Shutdown`.
pub fn soak_server() -> i32 {
    serve_one_client("soak-server", SOAK_SERVICE)
}

/// `bench-server`: serves `bench` to one client until `Shutdown`.
pub fn bench_server() -> i32 {
    serve_one_client("bench-server", BENCH_SERVICE)
}

fn serve_one_client(program: &str, service: &str) -> i32 {
    let connection = match accept_one(program, service) {
        Ok(accepted) => accepted.connection,
        Err(NoConnection::Advertise(_)) => return server_status::ADVERTISE,
        Err(NoConnection::Import(_)) => return server_status::IMPORT,
    };
    let bouncer = match serve_until_shutdown::<Bouncer>(program, connection, serve_bouncer_into) {
        Ok(bouncer) => bouncer,
        Err(Interrupted::Read(_)) => return server_status::READ,
        Err(Interrupted::Reply(_)) => return server_status::REPLY,
    };
    println!(
        "{program}: served {} requests, {} malformed",
        bouncer.answered, bouncer.malformed
    );
    if bouncer.malformed == 0 {
        0
    } else {
        server_status::MALFORMED
    }
}

/// Exit statuses of `soak-client`.
pub mod soak_status {
    /// `soak` could not be reached.
    pub const CONNECT: i32 = 1;
    /// A bounce failed.
    pub const CALL: i32 = 2;
    /// A reply differed from its request.
    pub const WRONG_REPLY: i32 = 3;
    /// The `Shutdown` call failed.
    pub const SHUTDOWN: i32 = 4;
}

/// Round trips of the soak: each is two messages.
pub const SOAK_ROUND_TRIPS: u64 = 500_000;
/// The soak prints its progress every this many messages.
pub const SOAK_PROGRESS_MESSAGES: u64 = 100_000;

/// `soak-client`: 500,000 bounces of 16-byte payloads (1,000,000 messages), each
/// reply checked, progress printed every 100,000 messages, the last line being
/// `soak-client: 1000000 messages`; then `Shutdown`.
pub fn soak_client() -> i32 {
    let connection = match connect(SOAK_SERVICE) {
        Ok(connection) => connection,
        Err(status) => {
            println!("soak-client: cannot connect to soak: {status}");
            return soak_status::CONNECT;
        }
    };
    let mut bouncer = BouncerClient {
        transport: RpcConnection::new(connection),
    };
    for round in 0..SOAK_ROUND_TRIPS {
        let payload = soak_payload(round);
        match bouncer.bounce(Payload(payload.clone())) {
            Ok(reply) if reply.data.0 == payload => {}
            Ok(reply) => {
                println!(
                    "soak-client: round trip {round} came back as {:?}",
                    reply.data.0
                );
                return soak_status::WRONG_REPLY;
            }
            Err(error) => {
                println!("soak-client: round trip {round} failed: {error}");
                return soak_status::CALL;
            }
        }
        let messages = 2 * (round + 1);
        if messages % SOAK_PROGRESS_MESSAGES == 0 {
            println!("soak-client: {messages} messages");
        }
    }
    match bouncer.shutdown() {
        Ok(_) => 0,
        Err(error) => {
            println!("soak-client: shutdown failed: {error}");
            soak_status::SHUTDOWN
        }
    }
}

/// 16 bytes that differ for every round trip: the round and its complement.
fn soak_payload(round: u64) -> Vec<u8> {
    let mut payload = Vec::with_capacity(16);
    payload.extend_from_slice(&round.to_le_bytes());
    payload.extend_from_slice(&(!round).to_le_bytes());
    payload
}

/// Exit statuses of `bench-client`.
pub mod bench_status {
    /// `bench` could not be reached.
    pub const CONNECT: i32 = 1;
    /// `getTime` or `getPid` failed.
    pub const CLOCK: i32 = 2;
    /// A bounce failed.
    pub const CALL: i32 = 3;
    /// A reply differed from its request.
    pub const WRONG_REPLY: i32 = 4;
    /// The `Shutdown` call failed.
    pub const SHUTDOWN: i32 = 5;
}

/// Timed `getPid` calls.
pub const NULL_SAMPLES: usize = 10_000;
/// Timed round trips per payload size.
pub const ROUND_TRIP_SAMPLES: usize = 2_000;

/// `bench-client`: the median cost of a null system call (`getPid`) over 10,000
/// calls, and the median round trip of 2,000 typed bounces of 64 B and of 4 KiB,
/// printed as one line
/// `bench null_ns=<n> rtt64_ns=<n> rtt4k_ns=<n> samples=<round trips per size>`;
/// then `Shutdown`.
///
/// Each sample is the time between two `getTime` calls around the operation, less
/// the median time between two `getTime` calls with nothing between them, so that
/// reading the clock is not counted.
pub fn bench_client() -> i32 {
    let connection = match connect(BENCH_SERVICE) {
        Ok(connection) => connection,
        Err(status) => {
            println!("bench-client: cannot connect to bench: {status}");
            return bench_status::CONNECT;
        }
    };
    let mut bouncer = BouncerClient {
        transport: RpcConnection::new(connection),
    };
    let (null, small, large) = match measure(&mut bouncer) {
        Ok(medians) => medians,
        Err(status) => return status,
    };
    println!("bench null_ns={null} rtt64_ns={small} rtt4k_ns={large} samples={ROUND_TRIP_SAMPLES}");
    match bouncer.shutdown() {
        Ok(_) => 0,
        Err(error) => {
            println!("bench-client: shutdown failed: {error}");
            bench_status::SHUTDOWN
        }
    }
}

/// The medians of a null call, a 64 B and a 4 KiB round trip, less the clock's own.
fn measure(bouncer: &mut BouncerClient<RpcConnection>) -> Result<(u64, u64, u64), i32> {
    let clock = median_of(NULL_SAMPLES, || Ok(()))?;
    let null = median_of(NULL_SAMPLES, || {
        get_pid().map(drop).map_err(|error| {
            println!("bench-client: getPid failed: {error}");
            bench_status::CLOCK
        })
    })?;
    let mut round_trip = |size: usize| {
        let payload = vec![0x5a; size];
        median_of(ROUND_TRIP_SAMPLES, || {
            match bounce_once(bouncer, &payload) {
                Ok(reply) if reply.data.0 == payload => Ok(()),
                Ok(_) => {
                    println!("bench-client: a bounce of {size} bytes came back changed");
                    Err(bench_status::WRONG_REPLY)
                }
                Err(error) => {
                    println!("bench-client: bounce of {size} bytes failed: {error}");
                    Err(bench_status::CALL)
                }
            }
        })
    };
    let small = round_trip(64)?;
    let large = round_trip(4096)?;
    Ok((
        null.saturating_sub(clock),
        small.saturating_sub(clock),
        large.saturating_sub(clock),
    ))
}

/// One timed round trip: a function of its own, never inlined, so that a profile of
/// the benchmark (`cargo xtask bench ipc --profile`) finds each round trip by its
/// entry, whatever the compiler makes of the stubs it calls.
#[inline(never)]
fn bounce_once(
    bouncer: &mut BouncerClient<RpcConnection>,
    payload: &[u8],
) -> Result<crate::types::BouncerBounceReply, ethos_typesys::rpc::RpcError<ethos_abi::Status>> {
    bouncer.bounce(Payload(payload.to_vec()))
}

/// The median nanoseconds between two `getTime` calls around `operation`, over
/// `samples` runs, or the status of what failed.
fn median_of(samples: usize, mut operation: impl FnMut() -> Result<(), i32>) -> Result<u64, i32> {
    let now = || {
        get_time().map_err(|error| {
            println!("bench-client: getTime failed: {error}");
            bench_status::CLOCK
        })
    };
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = now()?;
        operation()?;
        let end = now()?;
        times.push(end.saturating_sub(start));
    }
    times.sort_unstable();
    times.get(samples / 2).copied().ok_or(bench_status::CLOCK)
}
