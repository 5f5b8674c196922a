//! The tampering proxy of `hosts-tunnel-tampered`: a host process between the two
//! guests' NICs that forwards every frame and adds replayed, bit-flipped and forged
//! MinimaLT packets with IP and UDP checksums made right, so that only MinimaLT can
//! tell them from the real ones. It never changes a frame it forwards. The same
//! proxy floods host 2 for `hosts-tunnel-flood` instead ([`Mischief::Flood`],
//! `flooder.rs`), or only counts what crosses the wire ([`Mischief::Watch`]).

use std::time::Duration;

use super::flooder::{Flooded, Flooder};

/// What the proxy does besides forwarding every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mischief {
    /// Bit-flipped, replayed and forged copies of MinimaLT's packets, both ways.
    Tamper,
    /// A flood of would-be tunnel openings and other bad packets at host 2.
    Flood,
    /// Nothing: every frame forwarded as it came, MinimaLT's datagrams counted.
    Watch,
}

/// MinimaLT's datagrams that crossed the wire toward one host, as the proxy saw
/// them: what the hosts' own counts are held to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wire {
    /// Datagrams between the MinimaLT ports, of tunnels and record exchanges.
    pub datagrams: u64,
    /// Of those, tunnels' first packets (the client's ephemeral key in the clear:
    /// bit 63 of the tunnel-id word).
    pub first_packets: u64,
    /// Of those, record requests (tunnel id 0, then the request's words).
    pub record_requests: u64,
}

/// What the proxy sent: toward each host when tampering, at host 2 when flooding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Proxied {
    pub(super) injected: [Injected; 2],
    pub(super) flooded: Flooded,
    /// What crossed toward host 1 and toward host 2, when watching.
    pub(super) wire: [Wire; 2],
}

/// What the tamperer sent toward one host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// Frames passed on unchanged.
    pub forwarded: u64,
    /// MinimaLT packets sent again with one byte of the box flipped.
    pub flipped: u64,
    /// MinimaLT packets sent a second time.
    pub replayed: u64,
    /// Packets made up: a tunnel id and bytes no key made.
    pub forged: u64,
}

impl Injected {
    /// Every bad packet: each must be dropped and counted.
    pub fn bad(&self) -> u64 {
        self.flipped + self.replayed + self.forged
    }
}

/// A host process between two guests' NICs (QEMU's `-netdev socket,udp=`): it
/// forwards every Ethernet frame, and around MinimaLT's packets (the set's UDP port, not
/// the record exchange of tunnel id 0) it adds bad ones among the first
/// [`TAMPERED_PACKETS`] each way — every 5th packet first
/// goes with one byte flipped, every 7th is sent again after itself, and every 11th
/// is followed by a forged one — with IP and UDP checksums made right, so only
/// MinimaLT can tell.
pub(super) struct Tamperer {
    /// The proxy's sockets facing host 1 and host 2.
    sockets: [std::net::UdpSocket; 2],
    /// The guests' own ports (their `localaddr`).
    guests: [u16; 2],
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    worker: Option<std::thread::JoinHandle<Proxied>>,
}

impl Tamperer {
    pub(super) fn start(port: u16, mischief: Mischief) -> std::io::Result<Tamperer> {
        use std::net::UdpSocket;
        let bind = || UdpSocket::bind("127.0.0.1:0");
        let sockets = [bind()?, bind()?];
        // The guests' ports: taken free now and given to QEMU.
        let guests = {
            let a = bind()?;
            let b = bind()?;
            [a.local_addr()?.port(), b.local_addr()?.port()]
        };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let worker = {
            let sockets = [sockets[0].try_clone()?, sockets[1].try_clone()?];
            let stop = stop.clone();
            std::thread::spawn(move || match mischief {
                Mischief::Tamper => Proxied {
                    injected: forward(&sockets, guests, port, &stop),
                    ..Proxied::default()
                },
                Mischief::Flood => Proxied {
                    flooded: Flooder::new(&sockets, guests, port).run(&stop),
                    ..Proxied::default()
                },
                Mischief::Watch => Proxied {
                    wire: watch(&sockets, guests, port, &stop),
                    ..Proxied::default()
                },
            })
        };
        Ok(Tamperer {
            sockets,
            guests,
            stop,
            worker: Some(worker),
        })
    }

    /// The `-netdev socket` options of host 1 and host 2.
    pub(super) fn guest_options(&self) -> [String; 2] {
        [0, 1].map(|index| {
            format!(
                "udp=127.0.0.1:{},localaddr=127.0.0.1:{}",
                self.sockets[index].local_addr().map_or(0, |a| a.port()),
                self.guests[index]
            )
        })
    }

    pub(super) fn stop(mut self) -> Proxied {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.worker
            .take()
            .and_then(|worker| worker.join().ok())
            .unwrap_or_default()
    }
}

/// Moves frames both ways unchanged until `stop`; returns MinimaLT's datagrams
/// that went toward each host.
fn watch(
    sockets: &[std::net::UdpSocket; 2],
    guests: [u16; 2],
    port: u16,
    stop: &std::sync::atomic::AtomicBool,
) -> [Wire; 2] {
    let mut wire = [Wire::default(); 2];
    relay(sockets, stop, |from, frame| {
        let to = 1 - from;
        let _ = sockets[to].send_to(frame, ("127.0.0.1", guests[to]));
        count_on_wire(&mut wire[to], frame, port);
    });
    wire
}

/// Reads datagrams from either guest's socket until `stop`, handing each to
/// `each` with the index of the guest that sent it.
fn relay(
    sockets: &[std::net::UdpSocket; 2],
    stop: &std::sync::atomic::AtomicBool,
    mut each: impl FnMut(usize, &[u8]),
) {
    for socket in sockets {
        let _ = socket.set_read_timeout(Some(Duration::from_millis(5)));
    }
    let mut buffer = vec![0u8; 65536];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for (from, socket) in sockets.iter().enumerate() {
            if let Ok(length) = socket.recv(&mut buffer) {
                each(from, &buffer[..length]);
            }
        }
    }
}

/// Counts `frame` if it is a datagram between MinimaLT ports.
fn count_on_wire(wire: &mut Wire, frame: &[u8], port: u16) {
    let between_ports = frame.len() >= UDP_PAYLOAD + 8
        && frame[12..14] == [0x08, 0x00]
        && frame[14] == 0x45
        && frame[23] == 17
        && frame[34..36] == port.to_be_bytes()
        && frame[36..38] == port.to_be_bytes();
    if !between_ports {
        return;
    }
    wire.datagrams += 1;
    let payload = &frame[UDP_PAYLOAD..];
    if payload[..8] == [0; 8] {
        if payload[8..].starts_with(RECORD_REQUEST) {
            wire.record_requests += 1;
        }
    } else if payload[0] & 0x80 != 0 {
        wire.first_packets += 1;
    }
}

/// What follows tunnel id 0 in a record request (the kernel's
/// `ethos_core::minimalt::RECORD_REQUEST`, which the harness does not link).
pub(super) const RECORD_REQUEST: &[u8; 8] = b"ethos-rq";

/// Moves frames both ways until `stop`; returns what went toward each host.
fn forward(
    sockets: &[std::net::UdpSocket; 2],
    guests: [u16; 2],
    port: u16,
    stop: &std::sync::atomic::AtomicBool,
) -> [Injected; 2] {
    let mut injected = [Injected::default(); 2];
    let mut last = [None::<Vec<u8>>, None];
    let mut packets = [0u64; 2];
    let mut forged_seed = 0x9e37_79b9_7f4a_7c15u64;
    relay(sockets, stop, |from, frame| {
        let to = 1 - from;
        let destination = ("127.0.0.1", guests[to]);
        let send = |bytes: &[u8]| {
            let _ = sockets[to].send_to(bytes, destination);
        };
        if !is_tunnel_packet(frame, port) {
            send(frame);
            injected[to].forwarded += 1;
            return;
        }
        packets[to] += 1;
        let n = packets[to];
        if n > TAMPERED_PACKETS {
            send(frame);
            injected[to].forwarded += 1;
            return;
        }
        if n % 5 == 0 {
            let mut flipped = frame.to_vec();
            let last_byte = flipped.len() - 1;
            flipped[last_byte] ^= 0x01;
            fix_checksums(&mut flipped);
            send(&flipped);
            injected[to].flipped += 1;
        }
        send(frame);
        injected[to].forwarded += 1;
        if n % 7 == 0 {
            send(frame);
            injected[to].replayed += 1;
        } else if n % 7 == 3
            && let Some(previous) = &last[to]
        {
            send(previous);
            injected[to].replayed += 1;
        }
        if n % 11 == 0 {
            let mut forged = frame.to_vec();
            for byte in &mut forged[UDP_PAYLOAD..] {
                forged_seed ^= forged_seed << 13;
                forged_seed ^= forged_seed >> 7;
                forged_seed ^= forged_seed << 17;
                *byte = forged_seed as u8;
            }
            // Never tunnel id 0, which is the record exchange's.
            forged[UDP_PAYLOAD] |= 0x40;
            fix_checksums(&mut forged);
            send(&forged);
            injected[to].forged += 1;
        }
        last[to] = Some(frame.to_vec());
    });
    injected
}

/// The tamperer adds bad packets only around the first this many tunnel packets each
/// way (a session has more than 100 each way), so every bad packet reaches its host
/// before the packets that end the session: a host counts what it receives until then.
const TAMPERED_PACKETS: u64 = 80;

/// Where the UDP payload starts in an Ethernet frame of IPv4 without options.
pub(super) const UDP_PAYLOAD: usize = 14 + 20 + 8;

/// An Ethernet frame of IPv4 (no options) and UDP between MinimaLT ports, whose
/// payload is a packet of a tunnel (not tunnel id 0).
pub(super) fn is_tunnel_packet(frame: &[u8], port: u16) -> bool {
    frame.len() > UDP_PAYLOAD + 8
        && frame[12..14] == [0x08, 0x00]
        && frame[14] == 0x45
        && frame[23] == 17
        && frame[34..36] == port.to_be_bytes()
        && frame[36..38] == port.to_be_bytes()
        && frame[UDP_PAYLOAD..UDP_PAYLOAD + 8] != [0; 8]
}

/// Recomputes the IPv4 header and UDP checksums of a frame `is_tunnel_packet` took.
pub(super) fn fix_checksums(frame: &mut [u8]) {
    fn sum(bytes: &[u8], mut total: u32) -> u32 {
        for pair in bytes.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            total += u32::from(word);
        }
        total
    }
    fn fold(mut total: u32) -> u16 {
        while total > 0xffff {
            total = (total & 0xffff) + (total >> 16);
        }
        !(total as u16)
    }
    frame[24..26].copy_from_slice(&[0, 0]);
    let header = fold(sum(&frame[14..34], 0));
    frame[24..26].copy_from_slice(&header.to_be_bytes());
    let udp_length = u16::from_be_bytes([frame[38], frame[39]]) as usize;
    let end = (34 + udp_length).min(frame.len());
    frame[40..42].copy_from_slice(&[0, 0]);
    let mut pseudo = sum(&frame[26..34], 0);
    pseudo += 17 + udp_length as u32;
    let mut checksum = fold(sum(&frame[34..end], pseudo));
    if checksum == 0 {
        checksum = 0xffff;
    }
    frame[40..42].copy_from_slice(&checksum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A MinimaLT port for the frames the tests make.
    const PORT: u16 = 7100;

    /// A frame of 10.0.7.1:7100 → 10.0.7.2:7100 carrying `payload`, checksums right.
    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0u8; UDP_PAYLOAD];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame[14] = 0x45;
        let total = (20 + 8 + payload.len()) as u16;
        frame[16..18].copy_from_slice(&total.to_be_bytes());
        frame[22] = 64;
        frame[23] = 17;
        frame[26..30].copy_from_slice(&[10, 0, 7, 1]);
        frame[30..34].copy_from_slice(&[10, 0, 7, 2]);
        frame[34..36].copy_from_slice(&PORT.to_be_bytes());
        frame[36..38].copy_from_slice(&PORT.to_be_bytes());
        frame[38..40].copy_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        frame.extend_from_slice(payload);
        fix_checksums(&mut frame);
        frame
    }

    /// The checksums the tamperer writes verify as a receiving stack checks them
    /// (the one's complement sum over header or pseudo-header and datagram is
    /// 0xffff), and only tunnels' packets are touched.
    #[test]
    fn the_tamperers_packets_carry_right_checksums() {
        let mut packet = frame(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        assert!(is_tunnel_packet(&packet, PORT));
        let verify = |frame: &[u8]| {
            let fold = |bytes: &[u8], mut total: u32| {
                for pair in bytes.chunks(2) {
                    total += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
                }
                while total > 0xffff {
                    total = (total & 0xffff) + (total >> 16);
                }
                total
            };
            let header = fold(&frame[14..34], 0);
            let udp_length = u16::from_be_bytes([frame[38], frame[39]]) as usize;
            let pseudo = fold(&frame[26..34], 17 + udp_length as u32);
            let udp = fold(&frame[34..34 + udp_length], pseudo);
            (header, udp)
        };
        assert_eq!(verify(&packet), (0xffff, 0xffff));
        let mut wire = Wire::default();
        count_on_wire(&mut wire, &packet, PORT);
        let mut first = frame(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        count_on_wire(&mut wire, &first, PORT);
        let mut request = vec![0u8; 8];
        request.extend_from_slice(RECORD_REQUEST);
        request.extend_from_slice(&[7; 32]);
        count_on_wire(&mut wire, &frame(&request), PORT);
        first[36..38].copy_from_slice(&7000u16.to_be_bytes());
        count_on_wire(&mut wire, &first, PORT);
        assert_eq!(
            wire,
            Wire {
                datagrams: 3,
                first_packets: 1,
                record_requests: 1
            }
        );
        let last = packet.len() - 1;
        packet[last] ^= 1;
        assert_ne!(verify(&packet).1, 0xffff);
        fix_checksums(&mut packet);
        assert_eq!(verify(&packet), (0xffff, 0xffff));
        // The record exchange (tunnel id 0) and other ports pass untouched.
        assert!(!is_tunnel_packet(&frame(&[0; 20]), PORT));
        let mut other_port = frame(&[1; 20]);
        other_port[36..38].copy_from_slice(&7000u16.to_be_bytes());
        assert!(!is_tunnel_packet(&other_port, PORT));
    }
}
