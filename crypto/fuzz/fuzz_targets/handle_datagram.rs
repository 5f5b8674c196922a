//! Stateful fuzzing of `Endpoint::handle_datagram`: a client and a server with a live
//! tunnel receive a sequence of datagrams — arbitrary bytes, genuine packets replayed or
//! with bytes changed — interleaved with timers, new data, rekeys and puzzle mode. Beyond
//! not panicking, every dropped datagram must leave the endpoint's state unchanged.
//!
//! `cargo fuzz` builds the crate with `--cfg fuzzing`: X25519 and XSalsa20-Poly1305 are
//! cheap stand-ins there, and an endpoint can be copied, compared and fingerprinted whole.
//! The established pair is built once and each input runs on a copy. A drop is checked by
//! the endpoint's fingerprint; an input where one changed runs again, checking each drop
//! against a whole copy, which says what changed. The target tracks which endpoint each
//! operation touches: a fingerprint kept for checking drops lasts until its endpoint is
//! touched, and an endpoint that had nothing to send is not polled again until then.
//! Until an endpoint is first touched, the established one it was copied from stands for
//! it, and the established pair's datagrams are shared, not copied, by each input.
#![no_main]

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};

use ethos_crypto::{ConnectionHandle, Endpoint, EndpointConfig, Event, SecretKey, Time, TypeHash};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

/// Copies of endpoints allocate and free many small buffers; see Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn address(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn rng(seed: u64) -> Box<ChaCha20Rng> {
    Box::new(ChaCha20Rng::seed_from_u64(seed))
}

/// The generator of a copy that is only compared, never run: a draw from it is a bug.
struct NeverDrawn;

impl RngCore for NeverDrawn {
    fn next_u32(&mut self) -> u32 {
        unreachable!("a copy kept for comparison drew a random number")
    }

    fn next_u64(&mut self) -> u64 {
        unreachable!("a copy kept for comparison drew a random number")
    }

    fn fill_bytes(&mut self, _: &mut [u8]) {
        unreachable!("a copy kept for comparison drew random bytes")
    }

    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), rand_core::Error> {
        unreachable!("a copy kept for comparison drew random bytes")
    }
}

impl CryptoRng for NeverDrawn {}

fn endpoint(seed: u8) -> Endpoint {
    Endpoint::new(
        EndpointConfig::default(),
        SecretKey::from_bytes([seed; 32]),
        rng(u64::from(seed)),
        Time::from_milliseconds(0),
    )
}

struct World {
    endpoints: [Endpoint; 2],
    /// Genuine datagrams seen so far, with the index of the endpoint they were for. Those
    /// of the established pair are shared by every copy, not copied.
    pool: Vec<(usize, Cow<'static, [u8]>)>,
    connection: ConnectionHandle,
    now: Time,
    /// Whether a drop is checked by comparing the whole endpoint with a copy from before
    /// (careful) or by its fingerprint (fast).
    careful: bool,
    /// Fingerprints of the endpoints from before the datagrams they dropped since anything
    /// else last touched them: a run of dropped datagrams is checked against one.
    fingerprints: [Option<u128>; 2],
    /// In a careful run, copies of the endpoints from before, likewise.
    copies: [Option<Endpoint>; 2],
    /// Endpoints nothing touched since the world was copied from the established one,
    /// which then serves as their copy from before.
    untouched: [bool; 2],
    /// Endpoints that had nothing to send at `now` and that nothing touched since: polling
    /// them again would answer the same.
    quiet: [bool; 2],
}

impl World {
    fn new() -> Option<World> {
        let mut client = endpoint(1);
        let mut server = endpoint(2);
        let record = server
            .directory_record(address(2), &client.host_public_key())
            .ok()?;
        let record = client
            .verify_record(
                &record,
                &server.host_public_key(),
                Time::from_milliseconds(0),
            )
            .ok()?;
        let tunnel = client.connect(Time::from_milliseconds(0), &record).ok()?;
        let user = SecretKey::from_bytes([3; 32]);
        let connection = client
            .open_connection(tunnel, b"echo", TypeHash([1; 64]), b"first", Some(&user))
            .ok()?;
        let mut world = World {
            endpoints: [client, server],
            pool: Vec::new(),
            connection,
            now: Time::from_milliseconds(1),
            careful: true,
            fingerprints: [None, None],
            copies: [None, None],
            untouched: [false, false],
            quiet: [false, false],
        };
        // Establish the tunnel and the connection; the genuine datagrams stay in the pool
        // to be replayed, reordered and damaged.
        world.pump();
        for _ in 0..3 {
            let in_flight = world.pool.clone();
            for (to, bytes) in &in_flight {
                let from = address(if *to == 0 { 2 } else { 1 });
                let _ = world.endpoints[*to].handle_datagram(world.now, from, bytes);
            }
            world.now = world.now.plus_milliseconds(20);
            world.touch(0);
            world.touch(1);
            world.pump();
        }
        Some(world)
    }

    /// A copy on which one input runs. Its endpoints draw on fresh generators with fixed
    /// seeds, so every input starts from the same state, which is this world's.
    fn fork(&self, careful: bool) -> World {
        let [client, server] = &self.endpoints;
        World {
            endpoints: [
                client.clone_with_rng(rng(101)),
                server.clone_with_rng(rng(102)),
            ],
            pool: self.pool.clone(),
            connection: self.connection,
            now: self.now,
            careful,
            fingerprints: [None, None],
            copies: [None, None],
            untouched: [true, true],
            quiet: self.quiet,
        }
    }

    /// Endpoint `index` may change: what was kept of it from before is stale, and it may
    /// have something to send.
    fn touch(&mut self, index: usize) {
        self.stale(index);
        self.quiet[index] = false;
    }

    /// Endpoint `index` may change: what was kept of it from before is stale.
    fn stale(&mut self, index: usize) {
        self.fingerprints[index] = None;
        self.copies[index] = None;
        self.untouched[index] = false;
    }

    /// Moves every pending datagram into the pool and answers events like an application.
    fn pump(&mut self) {
        for index in 0..2 {
            if self.quiet[index] {
                continue;
            }
            // Sending changes the endpoint.
            self.stale(index);
            while let Some(transmit) = self.endpoints[index].poll_transmit(self.now) {
                self.pool.push((1 - index, Cow::Owned(transmit.payload)));
            }
            // An answered event may queue frames (an accept, a window update).
            self.quiet[index] = true;
            while let Some(event) = self.endpoints[index].poll_event() {
                self.quiet[index] = false;
                if let Event::IncomingConnection { connection, .. } = event {
                    let _ = self.endpoints[index].accept(connection);
                }
            }
        }
        if self.pool.len() > 256 {
            self.pool.drain(..128);
        }
    }

    /// Hands `bytes` to endpoint `to`; if it drops them, checks that nothing changed. A
    /// careful run panics with what changed; a fast one returns false when the endpoint's
    /// fingerprint changed, and the input is then run again carefully.
    fn deliver(&mut self, established: &Established, to: usize, bytes: &[u8]) -> bool {
        if self.careful {
            self.deliver_carefully(&established.world, to, bytes);
            return true;
        }
        let from = address(if to == 0 { 2 } else { 1 });
        let endpoint = &mut self.endpoints[to];
        let before = if self.untouched[to] {
            established.fingerprints[to]
        } else {
            *self.fingerprints[to].get_or_insert_with(|| endpoint.fingerprint())
        };
        let verdict = endpoint.handle_datagram(self.now, from, bytes);
        // A puzzle answer queues a challenge; every other drop must change nothing.
        if verdict.is_ok() || verdict == Err(ethos_crypto::DropReason::PuzzleIssued) {
            self.touch(to);
            true
        } else {
            endpoint.fingerprint() == before
        }
    }

    /// `deliver`, checking a drop against a whole copy of the endpoint from before.
    /// `established` is the world this one was copied from.
    fn deliver_carefully(&mut self, established: &World, to: usize, bytes: &[u8]) {
        let from = address(if to == 0 { 2 } else { 1 });
        let endpoint = &mut self.endpoints[to];
        let before = if self.untouched[to] {
            &established.endpoints[to]
        } else {
            self.copies[to].get_or_insert_with(|| endpoint.clone_with_rng(Box::new(NeverDrawn)))
        };
        let verdict = endpoint.handle_datagram(self.now, from, bytes);
        if verdict.is_ok() || verdict == Err(ethos_crypto::DropReason::PuzzleIssued) {
            self.touch(to);
        } else if before != endpoint {
            assert_eq!(
                before.summary(),
                endpoint.summary(),
                "state changed on {verdict:?}"
            );
            panic!("state outside the summary changed on {verdict:?}");
        }
    }
}

/// The fuzzer's input, read front to back.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    /// `count` bytes, or `None` when fewer are left.
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(count)?;
        self.0 = tail;
        Some(head)
    }
}

/// The established pair, from which every input starts.
struct Established {
    world: World,
    /// The fingerprints of its endpoints, taken once.
    fingerprints: [u128; 2],
}

/// The established pair, built once: its key agreements and handshake are the same for
/// every input. Its datagrams live as long as the process, so copies share them.
static ESTABLISHED: LazyLock<Mutex<Established>> = LazyLock::new(|| {
    let mut world = World::new().expect("two fresh endpoints establish a tunnel");
    for (_, bytes) in &mut world.pool {
        *bytes = Cow::Borrowed(Vec::leak(std::mem::take(bytes).into_owned()));
    }
    let fingerprints = [0, 1].map(|index| world.endpoints[index].fingerprint());
    Mutex::new(Established {
        world,
        fingerprints,
    })
});

fuzz_target!(|data: &[u8]| {
    let established = ESTABLISHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Checking drops by fingerprint is fast; when one changed, the same input runs again
    // with whole copies, which says what changed.
    if !run(&established, data, false) {
        run(&established, data, true);
        panic!(
            "a drop changed an endpoint's fingerprint but not its state: the fingerprint does not match PartialEq"
        );
    }
});

/// Runs one input on a copy of the established pair; false if a fast run found that a
/// drop changed an endpoint's fingerprint.
fn run(established: &Established, data: &[u8], careful: bool) -> bool {
    let mut world = established.world.fork(careful);
    let mut input = Cursor(data);
    let mut take = |count: usize| input.take(count);
    // One buffer for every damaged datagram and one user key for every new connection,
    // made once per input instead of once per operation.
    let mut damaged = Vec::new();
    let mut user = None;
    for _ in 0..64 {
        let Some(operation) = take(1) else { break };
        match operation[0] % 10 {
            0 | 1 => {
                let Some(length) = take(2) else { break };
                let length = usize::from(u16::from_le_bytes([length[0], length[1]]) % 1500);
                let bytes = take(length).unwrap_or_default();
                if !world.deliver(established, usize::from(operation[0] % 2), bytes) {
                    return false;
                }
            }
            2 | 3 => {
                let Some(choice) = take(4) else { break };
                if world.pool.is_empty() {
                    continue;
                }
                let (to, genuine) = &world.pool[usize::from(choice[0]) % world.pool.len()];
                let to = *to;
                damaged.clear();
                damaged.extend_from_slice(genuine);
                if !damaged.is_empty() {
                    let at =
                        usize::from(u16::from_le_bytes([choice[1], choice[2]])) % damaged.len();
                    damaged[at] ^= choice[3] | 1;
                }
                if operation[0] % 2 == 1 {
                    damaged.truncate(usize::from(choice[3]) % (damaged.len() + 1));
                }
                if !world.deliver(established, to, &damaged) {
                    return false;
                }
            }
            4 => {
                let Some(step) = take(2) else { break };
                let step = u64::from(u16::from_le_bytes([step[0], step[1]]));
                world.touch(0);
                world.touch(1);
                world.now = world.now.plus_milliseconds(step);
                for endpoint in &mut world.endpoints {
                    endpoint.handle_timeout(world.now);
                }
                world.pump();
            }
            5 => {
                let Some(length) = take(1) else { break };
                let bytes = [length[0]; 255 * 8];
                world.touch(0);
                let _ =
                    world.endpoints[0].send(world.connection, &bytes[..usize::from(length[0]) * 8]);
                world.pump();
            }
            6 => {
                let Some(choice) = take(1) else { break };
                if world.pool.is_empty() {
                    continue;
                }
                let pick = usize::from(choice[0]) % world.pool.len();
                let to = world.pool[pick].0;
                world.touch(to);
                let from = address(if to == 0 { 2 } else { 1 });
                let _ = world.endpoints[to].handle_datagram(world.now, from, &world.pool[pick].1);
                world.pump();
            }
            7 => {
                world.touch(0);
                let _ = world.endpoints[0].rekey(world.connection.tunnel);
                world.pump();
            }
            8 => {
                let Some(difficulty) = take(1) else { break };
                let difficulty = (difficulty[0] % 6 != 0).then_some(difficulty[0] % 6);
                world.touch(1);
                world.endpoints[1].set_puzzle_difficulty(difficulty);
            }
            _ => {
                let user = user.get_or_insert_with(|| SecretKey::from_bytes([4; 32]));
                world.touch(0);
                let _ = world.endpoints[0].open_connection(
                    world.connection.tunnel,
                    b"other",
                    TypeHash([2; 64]),
                    b"value",
                    Some(user),
                );
                world.pump();
            }
        }
    }
    true
}
