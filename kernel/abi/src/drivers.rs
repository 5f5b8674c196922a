//! Contracts between the drivers, the driver kernel tests and the host side that
//! judges them: the device classes and backends (the matrix's columns) and which
//! backend serves each class, the disk
//! pattern the block test writes (the host re-derives it to check the image
//! file), the UDP echo port, the addresses of two guests on one socket network, and
//! the addresses of a guest and its host on a tap network.
//!
//! Only definitions live here; nothing may allocate or depend on a driver.

/// A class of device the kernel can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceClass {
    /// Ethernet frames.
    Network,
    /// UDP datagrams: a network stack over a network device.
    Datagram,
    /// Sectors of a disk.
    Block,
    /// Random bytes from the machine.
    Entropy,
    /// Text for a person.
    Console,
}

impl DeviceClass {
    /// Every class, in the order the kernel reports them.
    pub const ALL: [DeviceClass; 5] = [
        DeviceClass::Network,
        DeviceClass::Datagram,
        DeviceClass::Block,
        DeviceClass::Entropy,
        DeviceClass::Console,
    ];

    /// A short lower-case name used in reports, logs and image descriptions.
    pub const fn name(self) -> &'static str {
        match self {
            DeviceClass::Network => "network",
            DeviceClass::Datagram => "datagram",
            DeviceClass::Block => "block",
            DeviceClass::Entropy => "entropy",
            DeviceClass::Console => "console",
        }
    }

    /// The class's place in [`DeviceClass::ALL`], for tables indexed by class.
    pub const fn index(self) -> usize {
        match self {
            DeviceClass::Network => 0,
            DeviceClass::Datagram => 1,
            DeviceClass::Block => 2,
            DeviceClass::Entropy => 3,
            DeviceClass::Console => 4,
        }
    }

    /// The class with this name, if there is one.
    pub fn from_name(name: &str) -> Option<DeviceClass> {
        Self::ALL.into_iter().find(|class| class.name() == name)
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

    /// The backend with this name, if there is one.
    pub fn from_name(name: &str) -> Option<Backend> {
        Self::ALL.into_iter().find(|backend| backend.name() == name)
    }
}

/// Which backend serves each device class: what the `[devices]` table of an image
/// description chooses (packed into the initial image), and what the kernel command
/// line may override per class. A class nobody chose for is served natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendChoice {
    backends: [Backend; DeviceClass::ALL.len()],
}

impl BackendChoice {
    /// Every class native.
    pub const NATIVE: BackendChoice = BackendChoice {
        backends: [Backend::Native; DeviceClass::ALL.len()],
    };

    /// The backend chosen for `class`.
    pub const fn backend(&self, class: DeviceClass) -> Backend {
        self.backends[class.index()]
    }

    /// Chooses `backend` for `class`.
    pub fn choose(&mut self, class: DeviceClass, backend: Backend) {
        self.backends[class.index()] = backend;
    }

    /// Every class with its backend, in [`DeviceClass::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DeviceClass, Backend)> + '_ {
        DeviceClass::ALL
            .into_iter()
            .map(|class| (class, self.backend(class)))
    }
}

impl Default for BackendChoice {
    fn default() -> BackendChoice {
        BackendChoice::NATIVE
    }
}

/// The driver names the kernel reports in its `@ethos device` lines and the
/// regression matrix expects of each row.
pub mod driver_name {
    /// The native virtio network driver.
    pub const VIRTIO_NET: &str = "virtio-net";
    /// The native virtio block driver.
    pub const VIRTIO_BLK: &str = "virtio-blk";
    /// The native virtio entropy driver.
    pub const VIRTIO_RNG: &str = "virtio-rng";
    /// The native datagram stack (`ethos-net`).
    pub const SMOLTCP: &str = "smoltcp";
    /// The console on the 16550 UART.
    pub const UART_16550: &str = "uart-16550";
    /// The console on the debug port 0xe9 alone.
    pub const DEBUG_PORT: &str = "debugcon";
    /// NetBSD's virtio network interface, in a rump kernel (its first unit).
    pub const RUMP_VIOIF: &str = "vioif0";
    /// NetBSD's Intel e1000 network interface, in a rump kernel (its first unit).
    pub const RUMP_WM: &str = "wm0";
    /// NetBSD's disk driver at virtio, in a rump kernel (its first unit).
    pub const RUMP_LD: &str = "ld0";
    /// NetBSD's TCP/IP stack, in a rump kernel.
    pub const RUMP_NETINET: &str = "netinet";
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

/// The first three octets of a socket network's addresses: peer `N` is `10.0.7.N`.
pub const PEER_NETWORK: [u8; 3] = [10, 0, 7];

/// The MAC of peer guest `number` on a socket network.
pub const fn peer_mac(number: u8) -> [u8; 6] {
    let prefix = PEER_MAC_PREFIX;
    [
        prefix[0], prefix[1], prefix[2], prefix[3], prefix[4], number,
    ]
}

/// The IPv4 address of peer guest `number` on a socket network.
pub const fn peer_address(number: u8) -> [u8; 4] {
    [PEER_NETWORK[0], PEER_NETWORK[1], PEER_NETWORK[2], number]
}

/// A MAC, displayed as QEMU's `mac=` takes it (`52:54:00:e7:00:01`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl core::fmt::Display for Mac {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d, e, f] = self.0;
        write!(formatter, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
    }
}

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

/// The words a host's kernel logs once its MinimaLT service serves (the kernel's
/// service, or a kernel test's own loop): a client host beside a server whose stack
/// serves only seconds after boot (the rump kernel's) is booted once they appear.
pub const NETWORK_SERVICE_UP: &str = "network service up";

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

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
    fn names_round_trip_and_index_the_tables() {
        for (index, class) in DeviceClass::ALL.into_iter().enumerate() {
            assert_eq!(DeviceClass::from_name(class.name()), Some(class));
            assert_eq!(class.index(), index);
        }
        for backend in Backend::ALL {
            assert_eq!(Backend::from_name(backend.name()), Some(backend));
        }
        assert_eq!(DeviceClass::from_name("Network"), None);
        assert_eq!(Backend::from_name("netbsd"), None);
    }

    #[test]
    fn a_choice_changes_one_class_only() {
        let mut choice = BackendChoice::default();
        assert!(choice.iter().all(|(_, backend)| backend == Backend::Native));
        choice.choose(DeviceClass::Datagram, Backend::Rump);
        assert_eq!(choice.backend(DeviceClass::Datagram), Backend::Rump);
        let rump: Vec<_> = choice
            .iter()
            .filter(|(_, backend)| *backend == Backend::Rump)
            .map(|(class, _)| class)
            .collect();
        assert_eq!(rump, [DeviceClass::Datagram]);
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
