//! The flooding host of `hosts-tunnel-flood` and `hosts-ipc-flood`: the proxy
//! between the two guests' NICs (as the tamperer's) forwards every frame unchanged,
//! and also acts as a third machine on the network, `10.0.7.99`, that floods host 2's MinimaLT port with
//! packets that would open tunnels if the service let them: forged first packets
//! (a client ephemeral key no client holds, each from its own source port), random
//! bytes, replays of the client's real first packet and record requests from a key
//! no directory lists. It counts what it sent and what host 2 answered (puzzle
//! challenges), so the row can hold the server's counters to them.
//!
//! Every bad packet must reach the service, or the count proves nothing: host 2's
//! socket queues 64 datagrams, and its stack takes frames in as they come while
//! the service spends a key agreement on each first packet, so a flood sent at
//! once is mostly lost before the service sees it (an echo reply would show only
//! that the stack took a frame in, not that the service got to it). The flooder
//! therefore sends first packets [`OPENING_SPACING`] apart until host 2 answers one
//! with a puzzle challenge, which it makes only once it has read every datagram
//! before it; from then on it sends [`BURST`] at a time and waits for their
//! challenges. It answers ARP for its own address and keeps every frame meant for
//! it.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ethos_abi::drivers::{peer_address, peer_mac};

use super::tamperer::{RECORD_REQUEST, UDP_PAYLOAD, fix_checksums, is_tunnel_packet};

/// The flooder's guest number on the socket network: `10.0.7.99`, a host no
/// directory lists.
const FLOODER: u8 = 99;
/// Forged first packets sent when the client first asks host 2 for its record,
/// before its first packet passes: more key agreements than host 2 spends in a
/// second before it asks for puzzles, so the client's tunnel must be made with one.
const OPENING_FLOOD: u64 = 400;
/// While the session runs (the client sends some hundred packets to host 2 in
/// all), a round of bad packets follows every this many of the client's packets...
const ROUND_EVERY: u64 = 2;
/// ...from this packet on (the tunnel is made by then)...
const ROUNDS_FROM: u64 = 10;
/// ...for this many rounds, which ends well before the session does: the
/// service must read every round before it ends.
const ROUNDS: u64 = 30;
/// Until host 2 asks for puzzles, forged first packets go this far apart: about 125
/// a second, twice what makes it ask, and slow enough that its socket's queue does
/// not overflow while each costs a key agreement.
const OPENING_SPACING: Duration = Duration::from_millis(8);
/// Most spaced first packets sent at once to catch up with the clock.
const CATCH_UP: u64 = 4;
/// Forged first packets the flooder sends before it waits for their challenges,
/// once host 2 asks for puzzles.
const BURST: u64 = 16;
/// How long the flooder waits for challenges before it goes on (and counts the
/// wait as unanswered).
const CHALLENGE_PATIENCE: Duration = Duration::from_secs(2);
/// The first source port of forged packets; each takes the next.
const FIRST_SOURCE_PORT: u16 = 20_000;

/// What the flooder sent host 2 and what came back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flooded {
    /// Frames passed on unchanged between the guests.
    pub forwarded: u64,
    /// Forged first packets: a tunnel id, an odd nonce, a random ephemeral key and a
    /// box no key made.
    pub first_packets: u64,
    /// Datagrams of random bytes (never tunnel id 0).
    pub random: u64,
    /// The client's first packet that made the tunnel (with its puzzle's solution,
    /// under load) sent again.
    pub replayed: u64,
    /// Record requests from a key no directory lists.
    pub record_requests: u64,
    /// Forged first packets sent before host 2 answered one with a challenge: how
    /// many key agreements the flood got out of it before it asked for puzzles.
    pub before_puzzles: u64,
    /// Distinct source ports the forged datagrams came from.
    pub source_ports: u64,
    /// Puzzle challenges host 2 sent the flooder.
    pub challenges_to_flooder: u64,
    /// Puzzle challenges host 2 sent the client, each for a first packet of the
    /// client's that it dropped.
    pub challenges_to_client: u64,
    /// Waits for host 2's challenges that ended without them: the flood may then
    /// have outrun the service, or reached it after the session.
    pub unanswered_waits: u64,
}

impl Flooded {
    /// The flooder's datagrams that reach the MinimaLT endpoint: each must be
    /// dropped and counted (`tunnel_datagrams_dropped`); record requests are the
    /// service's to refuse (`tunnel_record_requests_refused`).
    pub fn bad_packets(&self) -> u64 {
        self.first_packets + self.random + self.replayed
    }
}

/// The flooding proxy's state: the two sockets facing the guests and what it learnt.
pub(super) struct Flooder<'a> {
    sockets: &'a [UdpSocket; 2],
    guests: [u16; 2],
    port: u16,
    counts: Flooded,
    /// The client's last first packet before host 2 answered on the tunnel: the one
    /// that made it (the ones before it were answered with challenges).
    captured: Option<Vec<u8>>,
    /// Whether host 2 sent the client a tunnel packet other than a challenge.
    tunnel_answered: bool,
    opened: bool,
    /// The client's tunnel packets to host 2 so far.
    client_packets: u64,
    rounds: u64,
    seed: u64,
}

impl<'a> Flooder<'a> {
    pub(super) fn new(sockets: &'a [UdpSocket; 2], guests: [u16; 2], port: u16) -> Self {
        Flooder {
            sockets,
            guests,
            port,
            counts: Flooded::default(),
            captured: None,
            tunnel_answered: false,
            opened: false,
            client_packets: 0,
            rounds: 0,
            seed: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// Moves frames both ways until `stop`, flooding as it goes.
    pub(super) fn run(mut self, stop: &AtomicBool) -> Flooded {
        for socket in self.sockets {
            let _ = socket.set_read_timeout(Some(Duration::from_millis(5)));
        }
        let mut buffer = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            if let Ok(length) = self.sockets[1].recv(&mut buffer) {
                self.take_from_server(&buffer[..length]);
            }
            if let Ok(length) = self.sockets[0].recv(&mut buffer) {
                let frame = buffer[..length].to_vec();
                self.take_from_client(&frame);
            }
        }
        self.counts
    }

    fn send(&mut self, to: usize, frame: &[u8]) {
        let _ = self.sockets[to].send_to(frame, ("127.0.0.1", self.guests[to]));
    }

    /// A frame host 2 sent: the flooder's own are kept (and answered, for ARP),
    /// the rest passed to the client.
    fn take_from_server(&mut self, frame: &[u8]) {
        if let Some(reply) = arp_reply_for_flooder(frame) {
            self.send(1, &reply);
            return;
        }
        if frame.get(..6) == Some(&peer_mac(FLOODER)[..]) {
            if challenge(frame) {
                self.counts.challenges_to_flooder += 1;
            }
            return;
        }
        if is_tunnel_packet(frame, self.port) {
            if challenge(frame) {
                self.counts.challenges_to_client += 1;
            } else {
                self.tunnel_answered = true;
            }
        }
        self.send(0, frame);
        self.counts.forwarded += 1;
    }

    /// A frame the client sent: passed on first, then, by what it is, the opening
    /// flood (the client's first record request), a capture (a first packet, until
    /// host 2 answers on the tunnel) or a round of bad packets (every
    /// [`ROUND_EVERY`]th packet).
    fn take_from_client(&mut self, frame: &[u8]) {
        self.send(1, frame);
        self.counts.forwarded += 1;
        if !self.opened && record_request(frame, self.port) {
            self.opened = true;
            self.opening_flood();
            return;
        }
        if !is_tunnel_packet(frame, self.port) {
            return;
        }
        self.client_packets += 1;
        if frame[UDP_PAYLOAD] & 0x80 != 0 && !self.tunnel_answered {
            self.captured = Some(frame.to_vec());
        }
        let due = self.client_packets >= ROUNDS_FROM
            && self.client_packets.is_multiple_of(ROUND_EVERY)
            && self.rounds < ROUNDS
            && self.tunnel_answered
            && self.captured.is_some();
        if due {
            self.rounds += 1;
            self.round();
        }
    }

    /// [`OPENING_FLOOD`] forged first packets: spaced until host 2 asks for
    /// puzzles, then a burst at a time.
    fn opening_flood(&mut self) {
        let introduce = arp_request_from_flooder();
        self.send(1, &introduce);
        let mut sent = 0;
        let started = Instant::now();
        while sent < OPENING_FLOOD && self.counts.challenges_to_flooder == 0 {
            // Kept to the rate by the clock, not by each wait: with both guests'
            // processors busy, this thread is often scheduled late, and a flood that
            // fell behind would not make host 2 ask for puzzles.
            let due = (started.elapsed().as_millis() / OPENING_SPACING.as_millis()) as u64 + 1;
            let until = due.min(sent + CATCH_UP).min(OPENING_FLOOD);
            while sent < until {
                let forged = self.forged_first_packet();
                self.send(1, &forged);
                sent += 1;
            }
            self.listen(Duration::from_millis(1));
        }
        self.counts.before_puzzles = sent;
        while sent < OPENING_FLOOD {
            let burst = BURST.min(OPENING_FLOOD - sent);
            let before = self.counts.challenges_to_flooder;
            for _ in 0..burst {
                let forged = self.forged_first_packet();
                self.send(1, &forged);
            }
            sent += burst;
            self.await_challenges(before + burst);
        }
    }

    /// One round during the session: random bytes, a replay of the client's first
    /// packet, a forged record request, and forged first packets last, whose
    /// challenges show host 2 read the round.
    fn round(&mut self) {
        for _ in 0..2 {
            let random = self.random_datagram();
            self.send(1, &random);
        }
        if let Some(captured) = self.captured.clone() {
            self.send(1, &captured);
            self.counts.replayed += 1;
        }
        let request = self.forged_record_request();
        self.send(1, &request);
        let before = self.counts.challenges_to_flooder;
        for _ in 0..4 {
            let forged = self.forged_first_packet();
            self.send(1, &forged);
        }
        self.await_challenges(before + 4);
    }

    /// Takes what host 2 sends for `period`, the client's frames waiting meanwhile.
    fn listen(&mut self, period: Duration) {
        let started = Instant::now();
        let mut buffer = vec![0u8; 65536];
        while started.elapsed() < period {
            if let Ok(length) = self.sockets[1].recv(&mut buffer) {
                let frame = buffer[..length].to_vec();
                self.take_from_server(&frame);
            }
        }
    }

    /// Takes what host 2 sends until it has sent the flooder `total` challenges, or
    /// [`CHALLENGE_PATIENCE`] passed (counted as unanswered).
    fn await_challenges(&mut self, total: u64) {
        let started = Instant::now();
        let mut buffer = vec![0u8; 65536];
        while self.counts.challenges_to_flooder < total {
            if started.elapsed() >= CHALLENGE_PATIENCE {
                self.counts.unanswered_waits += 1;
                return;
            }
            if let Ok(length) = self.sockets[1].recv(&mut buffer) {
                let frame = buffer[..length].to_vec();
                self.take_from_server(&frame);
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    fn random_bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.next_random() as u8).collect()
    }

    /// A UDP frame from the flooder (its next source port) to host 2's MinimaLT port.
    fn frame_for_server(&mut self, payload: &[u8]) -> Vec<u8> {
        let source_port = FIRST_SOURCE_PORT.wrapping_add(self.counts.source_ports as u16);
        self.counts.source_ports += 1;
        udp_frame(source_port, self.port, payload)
    }

    fn forged_first_packet(&mut self) -> Vec<u8> {
        // Bit 63: a client ephemeral key follows; never tunnel id 0.
        let word = (self.next_random() & !(3 << 62)) | (1 << 63) | 1;
        let nonce = self.next_random() | 1;
        let mut payload = Vec::with_capacity(112);
        payload.extend_from_slice(&word.to_be_bytes());
        payload.extend_from_slice(&nonce.to_be_bytes());
        let rest = self.random_bytes(32 + 16 + 48);
        payload.extend_from_slice(&rest);
        self.counts.first_packets += 1;
        self.frame_for_server(&payload)
    }

    fn random_datagram(&mut self) -> Vec<u8> {
        let length = 24 + (self.next_random() % 100) as usize;
        let mut payload = self.random_bytes(length);
        // Never tunnel id 0, which is the record exchange's.
        payload[7] |= 1;
        self.counts.random += 1;
        self.frame_for_server(&payload)
    }

    fn forged_record_request(&mut self) -> Vec<u8> {
        let mut payload = vec![0u8; 8];
        payload.extend_from_slice(RECORD_REQUEST);
        let key = self.random_bytes(32);
        payload.extend_from_slice(&key);
        self.counts.record_requests += 1;
        self.frame_for_server(&payload)
    }
}

/// The client's record request to host 2: tunnel id 0, then the request's words.
fn record_request(frame: &[u8], port: u16) -> bool {
    let request = RECORD_REQUEST;
    frame.len() >= UDP_PAYLOAD + 8 + request.len()
        && frame[12..14] == [0x08, 0x00]
        && frame[23] == 17
        && frame[36..38] == port.to_be_bytes()
        && frame[UDP_PAYLOAD..UDP_PAYLOAD + 8] == [0; 8]
        && &frame[UDP_PAYLOAD + 8..UDP_PAYLOAD + 8 + request.len()] == request
}

/// A puzzle challenge: the puzzle bit of the tunnel-id word without the key bit.
fn challenge(frame: &[u8]) -> bool {
    frame.len() > UDP_PAYLOAD + 8 && frame[23] == 17 && frame[UDP_PAYLOAD] & 0xc0 == 0x40
}

/// An Ethernet and IPv4 header from the flooder to host 2, `protocol` and `length`
/// bytes after the IP header, its checksum right.
fn ip_frame(protocol: u8, after_header: usize) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + 20];
    frame[0..6].copy_from_slice(&peer_mac(2));
    frame[6..12].copy_from_slice(&peer_mac(FLOODER));
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14] = 0x45;
    frame[16..18].copy_from_slice(&((20 + after_header) as u16).to_be_bytes());
    frame[22] = 64;
    frame[23] = protocol;
    frame[26..30].copy_from_slice(&peer_address(FLOODER));
    frame[30..34].copy_from_slice(&peer_address(2));
    let header = internet_checksum(&frame[14..34]);
    frame[24..26].copy_from_slice(&header.to_be_bytes());
    frame
}

fn udp_frame(source_port: u16, port: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = ip_frame(17, 8 + payload.len());
    frame.extend_from_slice(&source_port.to_be_bytes());
    frame.extend_from_slice(&port.to_be_bytes());
    frame.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    fix_checksums(&mut frame);
    frame
}

/// An ARP frame: `operation` from the flooder to `target_mac`/`target_ip`.
fn arp(operation: u16, destination: [u8; 6], target_mac: [u8; 6], target_ip: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(42);
    frame.extend_from_slice(&destination);
    frame.extend_from_slice(&peer_mac(FLOODER));
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
    frame.extend_from_slice(&operation.to_be_bytes());
    frame.extend_from_slice(&peer_mac(FLOODER));
    frame.extend_from_slice(&peer_address(FLOODER));
    frame.extend_from_slice(&target_mac);
    frame.extend_from_slice(&target_ip);
    frame
}

/// Asks host 2 for its MAC, which teaches it the flooder's: its challenges then
/// leave without waiting for an answer of their own.
fn arp_request_from_flooder() -> Vec<u8> {
    arp(1, [0xff; 6], [0; 6], peer_address(2))
}

/// The answer to an ARP request for the flooder's address, if `frame` is one.
fn arp_reply_for_flooder(frame: &[u8]) -> Option<Vec<u8>> {
    let body = frame.get(14..42)?;
    let request = frame[12..14] == [0x08, 0x06] && body[6..8] == [0, 1];
    if !request || body[24..28] != peer_address(FLOODER) {
        return None;
    }
    let mut asker_mac = [0u8; 6];
    asker_mac.copy_from_slice(&body[8..14]);
    let mut asker_ip = [0u8; 4];
    asker_ip.copy_from_slice(&body[14..18]);
    Some(arp(2, asker_mac, asker_mac, asker_ip))
}

/// The one's complement of the one's complement sum of `bytes` (an IPv4 header's).
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut total: u32 = 0;
    for pair in bytes.chunks(2) {
        total += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while total > 0xffff {
        total = (total & 0xffff) + (total >> 16);
    }
    !(total as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flooder's frames are what a stack takes: right checksums, its address,
    /// host 2's port; a forged first packet carries the key bit and never tunnel id
    /// 0, and the client's record request is recognised.
    #[test]
    fn the_flooders_frames_are_well_formed() {
        let sockets = [
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        let mut flooder = Flooder::new(&sockets, [1, 2], 7100);
        let forged = flooder.forged_first_packet();
        assert_eq!(internet_checksum(&forged[14..34]), 0);
        assert_eq!(forged[36..38], 7100u16.to_be_bytes());
        assert_eq!(forged[UDP_PAYLOAD] & 0xc0, 0x80);
        assert_eq!(forged[26..30], peer_address(FLOODER));
        let second = flooder.forged_first_packet();
        assert_ne!(forged[34..36], second[34..36], "each from its own port");
        let mut challenged = forged.clone();
        challenged[UDP_PAYLOAD] = 0x40;
        assert!(challenge(&challenged));
        assert!(!challenge(&forged));
        let mut asking = arp(1, [0xff; 6], [0; 6], peer_address(FLOODER));
        asking[6..12].copy_from_slice(&peer_mac(2));
        asking[22..28].copy_from_slice(&peer_mac(2));
        asking[28..32].copy_from_slice(&peer_address(2));
        let reply = arp_reply_for_flooder(&asking).expect("an answer");
        assert_eq!(reply[0..6], peer_mac(2));
        assert_eq!(reply[38..42], peer_address(2));
        let record = flooder.forged_record_request();
        let mut from_client = record.clone();
        from_client[34..36].copy_from_slice(&7100u16.to_be_bytes());
        assert!(record_request(&from_client, 7100));
        assert!(!record_request(&forged, 7100));
        assert_eq!(flooder.counts.source_ports, 3);
        assert_eq!(flooder.counts.bad_packets(), 2);
    }
}
