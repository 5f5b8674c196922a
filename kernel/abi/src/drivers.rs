//! Contracts between the driver kernel tests and the host side that judges them: the
//! disk pattern the block test writes (the host re-derives it to check the image
//! file), the UDP echo port, and the addresses of two guests on one socket network.
//!
//! Only definitions live here; nothing may allocate or depend on a driver.

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
}
