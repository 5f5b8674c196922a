//! UDP checksums in the device adapter, as a NIC with checksum offload does them: the
//! adapter fills the checksum of every UDP datagram it sends and checks that of every
//! one it takes in, and smoltcp is told to do neither (`ChecksumCapabilities`).
//!
//! Written here because smoltcp sums two bytes at a time (1.1 instructions a byte on
//! the kernel's target, in `bench net --profile`) and the crate that sums a word at a
//! time (`internet-checksum`) needs `std`; this sum takes 0.6. It adds big-endian
//! 64-bit words into a 128-bit sum (RFC 1071 §2: deferred carries, any word size),
//! then folds. Doing it here also counts what smoltcp dropped unseen: a
//! datagram whose checksum fails is dropped and counted (`checksum_errors`). The tests
//! check both directions against smoltcp's own checksums.

use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, UdpPacket};

/// Where a UDP datagram's checksum field sits in its header.
const CHECKSUM_FIELD: core::ops::Range<usize> = 6..8;
/// An IPv4 UDP header's length.
const UDP_HEADER_LENGTH: usize = 8;

/// The one's-complement sum of `bytes` as 16-bit big-endian words (a last odd byte
/// padded with zero), folded to 16 bits but not complemented. `bytes` must start at an
/// even offset of what is summed.
fn ones_complement_sum(bytes: &[u8]) -> u16 {
    const WORD: usize = core::mem::size_of::<u64>();
    // 2^64 ≡ 1 modulo 2^16 - 1: what carries out of a word counts as one, and a
    // 128-bit sum keeps the carries (an add and an add-with-carry a word).
    let mut sum = 0u128;
    let mut words = bytes.chunks_exact(WORD);
    for word in &mut words {
        let mut array = [0u8; WORD];
        array.copy_from_slice(word);
        sum += u128::from(u64::from_be_bytes(array));
    }
    let mut tail = [0u8; WORD];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    fold(sum + u128::from(u64::from_be_bytes(tail)))
}

/// Folds a sum to 16 bits with end-around carries (2^16 ≡ 1 modulo 2^16 - 1).
fn fold(mut sum: u128) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Adds two folded sums.
fn add(a: u16, b: u16) -> u16 {
    fold(u128::from(a) + u128::from(b))
}

/// The UDP datagram of an Ethernet frame: its pseudo-header's sum and its bytes (header
/// and payload, as long as its length field says). `None` for any other frame, for a
/// fragment (smoltcp drops those), and for a datagram whose lengths do not hold
/// (smoltcp drops those too).
fn udp_datagram(frame: &[u8]) -> Option<(u16, core::ops::Range<usize>)> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    if ethernet.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
    if ip.next_header() != IpProtocol::Udp || ip.more_frags() || ip.frag_offset() != 0 {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    let length = usize::from(udp.len());
    if length < UDP_HEADER_LENGTH || length > ip.payload().len() {
        return None;
    }
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&ip.src_addr().octets());
    pseudo[4..8].copy_from_slice(&ip.dst_addr().octets());
    pseudo[9] = u8::from(IpProtocol::Udp);
    pseudo[10..].copy_from_slice(&udp.len().to_be_bytes());
    let start = EthernetFrame::<&[u8]>::header_len() + usize::from(ip.header_len());
    Some((ones_complement_sum(&pseudo), start..start + length))
}

/// Whether `frame` may go on to the stack: anything but a UDP datagram, a UDP datagram
/// sent without a checksum (allowed over IPv4), or one whose checksum holds.
pub(crate) fn udp_checksum_holds(frame: &[u8]) -> bool {
    let Some((pseudo, datagram)) = udp_datagram(frame) else {
        return true;
    };
    let bytes = &frame[datagram];
    if bytes[CHECKSUM_FIELD] == [0, 0] {
        return true;
    }
    add(pseudo, ones_complement_sum(bytes)) == 0xffff
}

/// Writes the checksum of the UDP datagram `frame` carries, if it carries one.
pub(crate) fn fill_udp_checksum(frame: &mut [u8]) {
    let Some((pseudo, datagram)) = udp_datagram(frame) else {
        return;
    };
    let bytes = &mut frame[datagram];
    bytes[CHECKSUM_FIELD].fill(0);
    let checksum = match !add(pseudo, ones_complement_sum(bytes)) {
        // Zero on the wire means "no checksum"; its one's-complement twin stands in.
        0 => 0xffff,
        checksum => checksum,
    };
    bytes[CHECKSUM_FIELD].copy_from_slice(&checksum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{EthernetAddress, EthernetRepr, IpAddress, Ipv4Address, Ipv4Repr, UdpRepr};

    /// An Ethernet frame with a UDP datagram of `payload`, its checksum filled by
    /// smoltcp when `checksummed`, zero otherwise.
    fn udp_frame(payload: &[u8], checksummed: bool) -> Vec<u8> {
        let source = Ipv4Address::new(10, 0, 7, 1);
        let destination = Ipv4Address::new(10, 0, 7, 2);
        let udp = UdpRepr {
            src_port: 4_000,
            dst_port: 5_000,
        };
        let ip = Ipv4Repr {
            src_addr: source,
            dst_addr: destination,
            next_header: IpProtocol::Udp,
            payload_len: UDP_HEADER_LENGTH + payload.len(),
            hop_limit: 64,
        };
        let ethernet = EthernetRepr {
            src_addr: EthernetAddress([0x52, 0x54, 0, 0xe7, 0, 1]),
            dst_addr: EthernetAddress([0x52, 0x54, 0, 0xe7, 0, 2]),
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut caps = ChecksumCapabilities::default();
        if !checksummed {
            caps.udp = smoltcp::phy::Checksum::None;
        }
        let length = ethernet.buffer_len() + ip.buffer_len() + ip.payload_len;
        let mut frame = vec![0u8; length];
        let mut ethernet_frame = EthernetFrame::new_unchecked(&mut frame);
        ethernet.emit(&mut ethernet_frame);
        let mut ip_packet = Ipv4Packet::new_unchecked(ethernet_frame.payload_mut());
        ip.emit(&mut ip_packet, &caps);
        let mut udp_packet = UdpPacket::new_unchecked(ip_packet.payload_mut());
        udp.emit(
            &mut udp_packet,
            &IpAddress::Ipv4(source),
            &IpAddress::Ipv4(destination),
            payload.len(),
            |buffer| buffer.copy_from_slice(payload),
            &caps,
        );
        frame
    }

    fn udp_checksum_field(frame: &[u8]) -> [u8; 2] {
        let (_, datagram) = udp_datagram(frame).expect("a UDP frame");
        frame[datagram][CHECKSUM_FIELD].try_into().unwrap()
    }

    proptest::proptest! {
        #[test]
        fn fills_and_checks_as_smoltcp(payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1500)) {
            let reference = udp_frame(&payload, true);
            proptest::prop_assert!(udp_checksum_holds(&reference));
            let mut filled = udp_frame(&payload, false);
            proptest::prop_assert_eq!(udp_checksum_field(&filled), [0, 0]);
            fill_udp_checksum(&mut filled);
            proptest::prop_assert_eq!(&filled, &reference);
        }

        #[test]
        fn a_changed_byte_is_caught(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..1500),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let mut frame = udp_frame(&payload, true);
            let last = frame.len() - 1;
            let at = last - at.index(payload.len());
            frame[at] ^= flip;
            proptest::prop_assert!(!udp_checksum_holds(&frame));
        }
    }

    #[test]
    fn a_datagram_without_a_checksum_passes_and_other_frames_are_not_touched() {
        let frame = udp_frame(b"no checksum", false);
        assert!(udp_checksum_holds(&frame));
        let arp = vec![0u8; 60];
        assert!(udp_checksum_holds(&arp));
        let mut untouched = arp.clone();
        fill_udp_checksum(&mut untouched);
        assert_eq!(untouched, arp);
    }

    #[test]
    fn a_sum_of_zero_is_sent_as_all_ones() {
        // Search for a two-byte payload whose datagram sums to zero, then fill it.
        let base = udp_frame(&[0, 0], false);
        let (pseudo, datagram) = udp_datagram(&base).unwrap();
        let partial = add(pseudo, ones_complement_sum(&base[datagram]));
        let payload = (!partial).to_be_bytes();
        let mut frame = udp_frame(&payload, false);
        fill_udp_checksum(&mut frame);
        assert_eq!(udp_checksum_field(&frame), [0xff, 0xff]);
        assert!(udp_checksum_holds(&frame));
    }

    #[test]
    fn the_sum_agrees_with_the_sum_of_sixteen_bit_words() {
        let bytes: Vec<u8> = (0..1001u32).map(|i| (i * 97 % 256) as u8).collect();
        for length in [0, 1, 2, 7, 8, 9, 15, 16, 17, 1000, 1001] {
            let slice = &bytes[..length];
            let mut words = 0u64;
            for pair in slice.chunks(2) {
                let high = u64::from(pair[0]) << 8;
                let low = pair.get(1).map_or(0, |byte| u64::from(*byte));
                words += high | low;
            }
            assert_eq!(
                ones_complement_sum(slice),
                fold(u128::from(words)),
                "length {length}"
            );
        }
    }
}
