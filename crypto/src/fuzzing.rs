//! Copies, comparisons and fingerprints of a whole endpoint, for fuzzing builds only
//! (`--cfg fuzzing`): a fuzz target builds an established endpoint once and replays each
//! input on a copy, and checks that a dropped datagram changed nothing by comparing the
//! state itself, or its fingerprint.
//!
//! The fingerprint goes through the state's `Hash` impls with a hasher written here
//! rather than taken from a crate: it must cost little more than comparing the bytes
//! under coverage instrumentation, which traces every comparison a loop makes, so it
//! takes its bytes 64 at a time in branch-free steps; and each step is a bijection, so a
//! single changed field or word always changes the fingerprint.
//!
//! A copy holds the same keys and nonces as its original, so both must never send on a
//! network: this module must never be compiled into anything but a fuzzing build.

use alloc::boxed::Box;
use core::hash::{Hash, Hasher};

use rand_core::CryptoRngCore;

use crate::connection::Connection;
use crate::endpoint::{Endpoint, IncomingKey};

impl Endpoint {
    /// A copy of the whole protocol state drawing on `rng` from now on (a random number
    /// generator cannot be copied).
    pub fn clone_with_rng(&self, rng: Box<dyn CryptoRngCore + Send>) -> Endpoint {
        Endpoint {
            config: self.config.clone(),
            host: self.host.clone(),
            rng,
            incoming: self.incoming.clone(),
            previous_incoming: self.previous_incoming.clone(),
            puzzle_key: self.puzzle_key.clone(),
            puzzle_difficulty: self.puzzle_difficulty,
            tunnels: self.tunnels.clone(),
            tunnel_ids: self.tunnel_ids.clone(),
            by_host: self.by_host.clone(),
            next_handle: self.next_handle,
            last_served_tunnel: self.last_served_tunnel,
            stateless: self.stateless.clone(),
            events: self.events.clone(),
            statistics: self.statistics,
            retired_first_ids: self.retired_first_ids.clone(),
        }
    }
}

fn same_incoming_key(left: &IncomingKey, right: &IncomingKey) -> bool {
    left.secret.public_key() == right.secret.public_key() && left.created == right.created
}

/// Equal protocol state: everything but the random number generator, the counters and the
/// configuration (which nothing changes after construction).
impl PartialEq for Endpoint {
    fn eq(&self, other: &Endpoint) -> bool {
        // Destructured so that a new field cannot be left out of the comparison unnoticed.
        let Endpoint {
            config: _,
            host,
            rng: _,
            incoming,
            previous_incoming,
            puzzle_key,
            puzzle_difficulty,
            tunnels,
            tunnel_ids,
            by_host,
            next_handle,
            last_served_tunnel,
            stateless,
            events,
            statistics: _,
            retired_first_ids,
        } = self;
        let previous_equal = match (previous_incoming, &other.previous_incoming) {
            (None, None) => true,
            (Some(left), Some(right)) => same_incoming_key(left, right),
            _ => false,
        };
        host.public_key() == other.host.public_key()
            && same_incoming_key(incoming, &other.incoming)
            && previous_equal
            && *puzzle_key == other.puzzle_key
            && *puzzle_difficulty == other.puzzle_difficulty
            && *tunnels == other.tunnels
            && *tunnel_ids == other.tunnel_ids
            && *by_host == other.by_host
            && *next_handle == other.next_handle
            && *last_served_tunnel == other.last_served_tunnel
            && *stateless == other.stateless
            && *events == other.events
            && *retired_first_ids == other.retired_first_ids
    }
}

fn hash_incoming_key<H: Hasher>(key: &IncomingKey, state: &mut H) {
    key.secret.public_key().hash(state);
    key.created.hash(state);
}

impl Endpoint {
    /// A 128-bit fingerprint of exactly what [`PartialEq`] compares: equal endpoints have
    /// equal fingerprints, and an endpoint with one field or one word of a buffer changed
    /// never keeps its fingerprint (other changes keep it with chance 2^-64).
    pub fn fingerprint(&self) -> u128 {
        // Destructured as in `eq`, so that a new field cannot be left out unnoticed.
        let Endpoint {
            config: _,
            host,
            rng: _,
            incoming,
            previous_incoming,
            puzzle_key,
            puzzle_difficulty,
            tunnels,
            tunnel_ids,
            by_host,
            next_handle,
            last_served_tunnel,
            stateless,
            events,
            statistics: _,
            retired_first_ids,
        } = self;
        let mut state = Fingerprinter::new();
        host.public_key().hash(&mut state);
        hash_incoming_key(incoming, &mut state);
        match previous_incoming {
            None => state.write_u8(0),
            Some(previous) => {
                state.write_u8(1);
                hash_incoming_key(previous, &mut state);
            }
        }
        puzzle_key.hash(&mut state);
        puzzle_difficulty.hash(&mut state);
        tunnels.hash(&mut state);
        tunnel_ids.hash(&mut state);
        by_host.hash(&mut state);
        next_handle.hash(&mut state);
        last_served_tunnel.hash(&mut state);
        stateless.hash(&mut state);
        events.hash(&mut state);
        retired_first_ids.hash(&mut state);
        state.value()
    }
}

// By hand only for the send buffer: `VecDeque`'s own `Hash` hashes byte by byte.
impl Hash for Connection {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let Connection {
            state: connection_state,
            announced,
            send_buffer,
            sent_bytes,
            peer_maximum,
            received_bytes,
            consumed_bytes,
            advertised_maximum,
            close_requested,
        } = self;
        connection_state.hash(state);
        announced.hash(state);
        // Written in pieces cut where one write would cut them into blocks: then where the
        // deque splits its contents does not change the fingerprint, as `PartialEq` would
        // not see it.
        state.write_usize(send_buffer.len());
        let (front, mut back) = send_buffer.as_slices();
        let whole = front.len() - front.len() % BLOCK;
        state.write(&front[..whole]);
        let rest = &front[whole..];
        if !rest.is_empty() {
            let mut straddling = [0u8; BLOCK];
            let taken = (BLOCK - rest.len()).min(back.len());
            straddling[..rest.len()].copy_from_slice(rest);
            straddling[rest.len()..rest.len() + taken].copy_from_slice(&back[..taken]);
            state.write(&straddling[..rest.len() + taken]);
            back = &back[taken..];
        }
        state.write(back);
        sent_bytes.hash(state);
        peer_maximum.hash(state);
        received_bytes.hash(state);
        consumed_bytes.hash(state);
        advertised_maximum.hash(state);
        close_requested.hash(state);
    }
}

/// Bytes the fingerprinter takes per step, one word per chain.
const BLOCK: usize = 64;
const CHAINS: usize = BLOCK / 8;

/// One step of a chain: xor a word in, multiply by an odd constant, rotate. For a fixed
/// word it is a bijection of the chain, and for a fixed chain a bijection of the word.
fn step(chain: u64, word: u64, multiplier: u64) -> u64 {
    (chain ^ word).wrapping_mul(multiplier).rotate_left(29)
}

const WORD_MULTIPLIERS: [u64; 2] = [0x94d0_49bb_1331_11eb, 0xbf58_476d_1ce4_e5b9];
const STREAM_MULTIPLIER: u64 = 0xd6e8_feb8_6659_fd93;

/// Integers (fields, lengths, discriminants) go through two chains of their own; each
/// write of bytes is cut into blocks, the last one zero-padded, whose word `i` goes to
/// chain `i`. The integers say how long each write is, since `Hash` writes every slice's
/// length before its bytes, so the two together determine the state. Writes whose
/// lengths are whole blocks are fingerprinted as one write of them all.
struct Fingerprinter {
    words: [u64; 2],
    chains: [u64; CHAINS],
    stream_length: u64,
}

impl Fingerprinter {
    fn new() -> Self {
        Self {
            words: [0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b],
            chains: core::array::from_fn(|lane| 0x3c6e_f372_fe94_f82b ^ lane as u64),
            stream_length: 0,
        }
    }

    fn word(&mut self, value: u64) {
        self.words = [0, 1].map(|lane| step(self.words[lane], value, WORD_MULTIPLIERS[lane]));
    }

    fn absorb(&mut self, block: &[u8; BLOCK]) {
        let (words, _) = block.as_chunks::<8>();
        let chains = self.chains;
        self.chains = core::array::from_fn(|lane| {
            step(
                chains[lane],
                u64::from_le_bytes(words[lane]),
                STREAM_MULTIPLIER,
            )
        });
    }

    /// The fingerprint: the byte chains joined by xor (a bijection of each for fixed
    /// others) and the bytes' length, into the integer chains.
    fn value(mut self) -> u128 {
        let joined = self
            .chains
            .iter()
            .enumerate()
            .fold(0, |joined, (lane, chain)| {
                joined ^ chain.rotate_left(8 * lane as u32)
            });
        self.word(joined);
        self.word(self.stream_length);
        u128::from(self.words[0]) << 64 | u128::from(self.words[1])
    }
}

impl Hasher for Fingerprinter {
    // Written to make few comparisons, each of which coverage instrumentation traces: the
    // length wraps instead of being checked, and the tail is copied without bounds checks.
    fn write(&mut self, bytes: &[u8]) {
        self.stream_length = self.stream_length.wrapping_add(bytes.len() as u64);
        let (blocks, tail) = bytes.as_chunks::<BLOCK>();
        for block in blocks {
            self.absorb(block);
        }
        if !tail.is_empty() {
            let mut last = [0u8; BLOCK];
            for (slot, byte) in last.iter_mut().zip(tail) {
                *slot = *byte;
            }
            self.absorb(&last);
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.word(u64::from(value));
    }

    fn write_u16(&mut self, value: u16) {
        self.word(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.word(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.word(value);
    }

    fn write_u128(&mut self, value: u128) {
        self.word(value as u64);
        self.word((value >> 64) as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.word(value as u64);
    }

    fn write_i8(&mut self, value: i8) {
        self.word(value as u64);
    }

    fn write_i16(&mut self, value: i16) {
        self.word(value as u64);
    }

    fn write_i32(&mut self, value: i32) {
        self.word(value as u64);
    }

    fn write_i64(&mut self, value: i64) {
        self.word(value as u64);
    }

    fn write_isize(&mut self, value: isize) {
        self.word(value as u64);
    }

    /// Not a fingerprint: [`Fingerprinter::value`] is.
    fn finish(&self) -> u64 {
        self.words[0]
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;
    use core::net::SocketAddr;

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::connection::ConnectionState;
    use crate::endpoint::{EndpointConfig, Event};
    use crate::frame::TypeHash;
    use crate::keys::SecretKey;
    use crate::time::Time;

    fn endpoint(seed: u8) -> Endpoint {
        Endpoint::new(
            EndpointConfig::default(),
            SecretKey::from_bytes([seed; 32]),
            Box::new(ChaCha20Rng::seed_from_u64(u64::from(seed))),
            Time::from_milliseconds(0),
        )
    }

    /// A client with an open connection, data in flight and data still queued, and its
    /// server.
    fn busy_pair() -> (Endpoint, Endpoint) {
        let mut client = endpoint(1);
        let mut server = endpoint(2);
        let address = SocketAddr::from(([127, 0, 0, 1], 2));
        let now = Time::from_milliseconds(0);
        let record = server
            .directory_record(address, &client.host_public_key())
            .expect("record");
        let record = client
            .verify_record(&record, &server.host_public_key(), now)
            .expect("verified");
        let tunnel = client.connect(now, &record).expect("tunnel");
        let connection = client
            .open_connection(tunnel, b"echo", TypeHash([1; 64]), b"first", None)
            .expect("connection");
        for (_, packet) in (0..3).zip(core::iter::from_fn(|| client.poll_transmit(now))) {
            let _ = server.handle_datagram(now, address, &packet.payload);
        }
        while let Some(event) = server.poll_event() {
            if let Event::IncomingConnection { connection, .. } = event {
                server.accept(connection).expect("accepted");
            }
        }
        while let Some(packet) = server.poll_transmit(now) {
            let _ = client.handle_datagram(now, address, &packet.payload);
        }
        client.send(connection, &[5; 3000]).expect("sent");
        let _ = client.poll_transmit(now);
        client.send(connection, &[6; 700]).expect("sent");
        (client, server)
    }

    fn fingerprint_of(connection: &Connection) -> u128 {
        let mut state = Fingerprinter::new();
        connection.hash(&mut state);
        state.value()
    }

    #[test]
    fn a_copy_has_the_fingerprint_of_its_original() {
        let (client, server) = busy_pair();
        for original in [&client, &server] {
            let copy = original.clone_with_rng(Box::new(ChaCha20Rng::seed_from_u64(9)));
            assert!(copy == *original);
            assert_eq!(copy.fingerprint(), original.fingerprint());
        }
        assert_ne!(client.fingerprint(), server.fingerprint());
    }

    #[test]
    fn a_change_anywhere_changes_the_fingerprint() {
        let (client, _) = busy_pair();
        let before = client.fingerprint();
        let copy =
            |endpoint: &Endpoint| endpoint.clone_with_rng(Box::new(ChaCha20Rng::seed_from_u64(9)));
        let mut changed = Vec::new();
        let mut puzzles = copy(&client);
        puzzles.set_puzzle_difficulty(Some(1));
        changed.push(puzzles);
        let mut timed_out = copy(&client);
        timed_out.handle_timeout(Time::from_milliseconds(60_000));
        changed.push(timed_out);
        let mut sent = copy(&client);
        let _ = sent.poll_transmit(Time::from_milliseconds(1));
        changed.push(sent);
        let mut queued = copy(&client);
        let handle = *queued.tunnels.keys().next().expect("a tunnel");
        let tunnel = queued.tunnels.get_mut(&handle).expect("a tunnel");
        let (id, connection) = tunnel.connections.iter().next().expect("a connection");
        assert!(
            !connection.send_buffer.is_empty(),
            "the connection has data queued"
        );
        tunnel.connections.update(id, |connection| {
            let last = connection.send_buffer.back_mut().expect("queued data");
            *last ^= 1;
        });
        changed.push(queued);
        for endpoint in &changed {
            assert!(*endpoint != client);
            assert_ne!(endpoint.fingerprint(), before);
        }
    }

    #[test]
    fn a_send_buffer_split_anywhere_has_one_fingerprint() {
        let contents: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for length in [0, 1, 63, 64, 65, 127, 128, 200, 300] {
            let mut contiguous = Connection::new(ConnectionState::Open);
            contiguous.send_buffer = VecDeque::from(contents[..length].to_vec());
            let expected = fingerprint_of(&contiguous);
            for split in 0..=length {
                // A deque whose first `split` bytes sit at the end of its buffer and the
                // rest at its start.
                let mut deque = VecDeque::with_capacity(length.max(1));
                deque.extend(contents[split..length].iter().copied());
                for &byte in contents[..split].iter().rev() {
                    deque.push_front(byte);
                }
                if 0 < split && split < length {
                    assert_eq!(
                        deque.as_slices().0.len(),
                        split,
                        "the deque wraps where asked"
                    );
                }
                let mut wrapped = Connection::new(ConnectionState::Open);
                wrapped.send_buffer = deque;
                assert!(wrapped == contiguous);
                assert_eq!(
                    fingerprint_of(&wrapped),
                    expected,
                    "length {length} split {split}"
                );
            }
            if length > 0 {
                let mut changed = Connection::new(ConnectionState::Open);
                let mut bytes = contents[..length].to_vec();
                bytes[length / 2] ^= 0x80;
                changed.send_buffer = VecDeque::from(bytes);
                assert_ne!(fingerprint_of(&changed), expected);
            }
        }
    }
}
