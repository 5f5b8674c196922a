//! Contracts between the drivers, the driver kernel tests and the host side that
//! judges them: the device classes and backends (the matrix's columns), the disk
//! pattern the block test writes (the host re-derives it to check the image
//! file), the UDP echo port, the addresses of two guests on one socket network, and
//! the addresses of a guest and its host on a tap network.
//!
//! Only definitions live here; nothing may allocate or depend on a driver.

/// A class of device the kernel can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceClass {
    /// Ethernet frames.
    Network,
    /// Sectors of a disk.
    Block,
    /// Random bytes from the machine.
    Entropy,
    /// Text for a person.
    Console,
}

impl DeviceClass {
    /// Every class, in the order the kernel reports them.
    pub const ALL: [DeviceClass; 4] = [
        DeviceClass::Network,
        DeviceClass::Block,
        DeviceClass::Entropy,
        DeviceClass::Console,
    ];

    /// A short lower-case name used in reports and logs.
    pub const fn name(self) -> &'static str {
        match self {
            DeviceClass::Network => "network",
            DeviceClass::Block => "block",
            DeviceClass::Entropy => "entropy",
            DeviceClass::Console => "console",
        }
    }
}

/// Which backend drives a device: the regression matrix's backend column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A driver written in Rust in this kernel.
    Native,
    /// A NetBSD driver in a rump kernel.
    Rump,
}

impl Backend {
    /// Every backend, in the order the kernel reports them.
    pub const ALL: [Backend; 2] = [Backend::Native, Backend::Rump];

    /// The name used in image descriptions, reports and the matrix.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Rump => "rump",
        }
    }
}

impl Backend {
    /// The backend with this name, if there is one.
    pub fn from_name(name: &str) -> Option<Backend> {
        Self::ALL.into_iter().find(|backend| backend.name() == name)
    }
}

impl DeviceClass {
    /// The class with this name, if there is one.
    pub fn from_name(name: &str) -> Option<DeviceClass> {
        Self::ALL.into_iter().find(|class| class.name() == name)
    }
}

/// The seed the `block` kernel test writes its pattern with.
pub const BLOCK_PATTERN_SEED: u64 = 0x4574_686f_7344_6973;

/// Fills `out` with the pattern bytes of the 512-byte sector `sector`.
///
/// The pattern is a xorshift64* stream keyed by seed and sector, so any sector can be
/// checked on its own and no two sectors hold the same bytes.
pub fn fill_sector_pattern(seed: u64, sector: u64, out: &mut [u8]) {
    let mut state = seed ^ sector.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d;
    if state == 0 {
        state = 1;
    }
    for chunk in out.chunks_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// The sector size of the pattern.
pub const PATTERN_SECTOR: usize = 512;

/// The UDP port the guest's echo service listens on.
pub const UDP_ECHO_PORT: u16 = 7;

/// A datagram with exactly these bytes asks the echo service to end its test.
pub const UDP_ECHO_STOP: &[u8] = b"@ethos-echo-stop";

/// The MAC prefix of guests on a QEMU socket network; the last byte numbers the
/// guest (1 or 2) and gives its address `10.0.7.N/24`. A guest with any other MAC
/// takes QEMU user networking's `10.0.2.15/24` with gateway `10.0.2.2`.
pub const PEER_MAC_PREFIX: [u8; 5] = [0x52, 0x54, 0x00, 0xe7, 0x00];

/// The UDP port two peer guests exchange datagrams on.
pub const PEER_UDP_PORT: u16 = 7000;

/// The MAC prefix of a guest on a host tap network; the last byte `N` (2 to 254)
/// gives the guest the address `10.0.8.N/24`. The host's end of the tap is
/// [`TAP_HOST_ADDRESS`].
pub const TAP_MAC_PREFIX: [u8; 5] = [0x52, 0x54, 0x00, 0xe8, 0x00];

/// The first three octets of the tap network's addresses.
pub const TAP_NETWORK: [u8; 3] = [10, 0, 8];

/// The prefix length of the tap network.
pub const TAP_PREFIX_LENGTH: u8 = 24;

/// The host's address on the tap network; no guest MAC may map to it.
pub const TAP_HOST_ADDRESS: [u8; 4] = [10, 0, 8, 1];

/// The guest number the host-ping rows give their guest.
pub const TAP_GUEST_NUMBER: u8 = 2;

/// The guest number a MAC carries on a tap network, if it has the tap prefix and a
/// number that is neither the network, the host nor the broadcast address.
pub fn tap_guest_number(mac: [u8; 6]) -> Option<u8> {
    (mac[..5] == TAP_MAC_PREFIX && !matches!(mac[5], 0 | 1 | 255)).then_some(mac[5])
}

/// The MAC of tap guest `number`.
pub const fn tap_guest_mac(number: u8) -> [u8; 6] {
    let prefix = TAP_MAC_PREFIX;
    [
        prefix[0], prefix[1], prefix[2], prefix[3], prefix[4], number,
    ]
}

/// The IPv4 address of tap guest `number`.
pub const fn tap_guest_address(number: u8) -> [u8; 4] {
    [TAP_NETWORK[0], TAP_NETWORK[1], TAP_NETWORK[2], number]
}

/// How many echo requests the host sends a serving guest; the guest's `net_serve`
/// test passes only if it answered at least this many.
pub const HOST_PING_COUNT: u32 = 5;

/// The metric a serving guest reports once it answers ARP and ICMP echo; its value
/// is the guest's IPv4 address as a big-endian number.
pub const NET_SERVING_METRIC: &str = "net_serving";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sectors_differ_and_the_pattern_is_stable() {
        let mut first = [0u8; PATTERN_SECTOR];
        let mut second = [0u8; PATTERN_SECTOR];
        fill_sector_pattern(BLOCK_PATTERN_SEED, 0, &mut first);
        fill_sector_pattern(BLOCK_PATTERN_SEED, 1, &mut second);
        assert_ne!(first, second);
        let mut again = [0u8; PATTERN_SECTOR];
        fill_sector_pattern(BLOCK_PATTERN_SEED, 0, &mut again);
        assert_eq!(first, again);
        assert!(first.iter().any(|&byte| byte != first[0]));
    }

    #[test]
    fn tap_macs_map_to_guest_addresses_and_never_to_the_host() {
        assert_eq!(
            tap_guest_number(tap_guest_mac(TAP_GUEST_NUMBER)),
            Some(TAP_GUEST_NUMBER)
        );
        assert_eq!(tap_guest_address(TAP_GUEST_NUMBER), [10, 0, 8, 2]);
        for reserved in [0, 1, 255] {
            assert_eq!(tap_guest_number(tap_guest_mac(reserved)), None);
        }
        assert_ne!(tap_guest_address(TAP_GUEST_NUMBER), TAP_HOST_ADDRESS);
        assert_eq!(TAP_HOST_ADDRESS[..3], TAP_NETWORK);
        let mut peer = tap_guest_mac(2);
        peer[..5].copy_from_slice(&PEER_MAC_PREFIX);
        assert_eq!(tap_guest_number(peer), None);
    }
}
