//! The host side of network rows: free loopback ports and a UDP echo client that
//! checks every datagram byte for byte. Traffic goes only to 127.0.0.1, and every
//! loop is bounded in count and time.

use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use ethos_abi::drivers::UDP_ECHO_STOP;

/// A UDP port on 127.0.0.1 free a moment ago.
pub fn free_udp_port() -> Option<u16> {
    Some(
        UdpSocket::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port(),
    )
}

/// A TCP port on 127.0.0.1 free a moment ago.
pub fn free_tcp_port() -> Option<u16> {
    Some(
        TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port(),
    )
}

/// The payload size of datagram `index`: fixed sizes across the range, with a
/// pseudo-random size every third datagram, never above one Ethernet frame.
pub fn datagram_size(index: u32) -> usize {
    const SIZES: [usize; 8] = [1, 2, 64, 100, 512, 1000, 1400, 1472];
    if index.is_multiple_of(3) {
        let mixed = index.wrapping_mul(2_654_435_761) >> 7;
        1 + (mixed as usize % 1472)
    } else {
        SIZES[index as usize % SIZES.len()]
    }
}

fn datagram(index: u32) -> Vec<u8> {
    (0..datagram_size(index))
        .map(|offset| (index as usize * 7 + offset) as u8 ^ (index >> 8) as u8)
        .collect()
}

/// What an echo run measured.
#[derive(Clone, Copy, Debug)]
pub struct EchoSummary {
    pub datagrams: u32,
    pub bytes: u64,
    /// From the first echo to the last.
    pub elapsed: Duration,
    /// Mean round trip of the echoes that needed no resend.
    pub mean_round_trip: Duration,
}

/// Sends `count` datagrams one at a time to 127.0.0.1:`port`, each resent until its
/// exact echo returns; then sends the stop datagram. Waits up to `boot_patience`
/// for the first echo (the guest is booting), then one second per datagram.
pub fn udp_echo_client(
    port: u16,
    count: u32,
    boot_patience: Duration,
) -> Result<EchoSummary, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    socket
        .connect(("127.0.0.1", port))
        .map_err(|error| error.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|error| error.to_string())?;
    let mut reply = vec![0u8; 4096];
    let mut bytes = 0u64;
    let mut first_echo = None;
    let (mut timed_total, mut timed_count) = (Duration::ZERO, 0u32);
    for index in 0..count {
        let data = datagram(index);
        let patience = if first_echo.is_none() {
            boot_patience
        } else {
            Duration::from_secs(1)
        };
        let started = Instant::now();
        let mut resent = false;
        'resend: loop {
            if started.elapsed() > patience {
                return Err(format!(
                    "no echo of datagram {index} ({} bytes) within {:.0} s",
                    data.len(),
                    patience.as_secs_f64()
                ));
            }
            let sent = Instant::now();
            // Before the guest forwards the port, sends may be refused; resend.
            let _ = socket.send(&data);
            while sent.elapsed() < Duration::from_millis(200) {
                match socket.recv(&mut reply) {
                    Ok(length) if reply[..length] == data[..] => {
                        if !resent {
                            timed_total += sent.elapsed();
                            timed_count += 1;
                        }
                        break 'resend;
                    }
                    // An echo of an earlier resend, or garbage: keep waiting.
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            resent = true;
        }
        first_echo.get_or_insert_with(Instant::now);
        bytes += data.len() as u64;
    }
    for _ in 0..3 {
        let _ = socket.send(UDP_ECHO_STOP);
    }
    Ok(EchoSummary {
        datagrams: count,
        bytes,
        elapsed: first_echo.map_or(Duration::ZERO, |at| at.elapsed()),
        mean_round_trip: timed_total / timed_count.max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_mixed_and_fit_a_frame() {
        let sizes: Vec<_> = (0..1000).map(datagram_size).collect();
        assert!(sizes.iter().all(|size| (1..=1472).contains(size)));
        let mut distinct = sizes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 100);
    }

    #[test]
    fn the_client_checks_bytes_against_a_local_echo() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let echo = std::thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            loop {
                let (length, from) = server.recv_from(&mut buffer).unwrap();
                if &buffer[..length] == UDP_ECHO_STOP {
                    return;
                }
                server.send_to(&buffer[..length], from).unwrap();
            }
        });
        let summary = udp_echo_client(port, 200, Duration::from_secs(5)).unwrap();
        echo.join().unwrap();
        assert_eq!(summary.datagrams, 200);
    }

    #[test]
    fn a_corrupting_echo_fails_the_client() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            while let Ok((length, from)) = server.recv_from(&mut buffer) {
                buffer[0] ^= 1;
                let _ = server.send_to(&buffer[..length], from);
            }
        });
        assert!(udp_echo_client(port, 3, Duration::from_secs(1)).is_err());
    }
}
