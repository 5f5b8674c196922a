//! The host side of network rows: free loopback ports, a UDP echo client that
//! checks every datagram byte for byte, and a tap device the host pings a guest
//! through. Echo traffic goes only to 127.0.0.1, tap traffic only to the tap's own
//! network, and every loop is bounded in count and time.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ethos_abi::drivers::{TAP_HOST_ADDRESS, TAP_PREFIX_LENGTH, UDP_ECHO_PORT, UDP_ECHO_STOP};

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

/// Whether `program` is an executable file in a directory of `PATH`.
pub fn program_on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|directory| directory.join(program).is_file())
    })
}

/// The effective user id in a `/proc/self/status` text.
fn effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1)?.parse().ok())
}

/// Why a tap row cannot run on this machine, if it cannot: the row is then skipped
/// with exactly this reason.
pub fn tap_unavailable() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(effective_uid);
    if uid != Some(0) {
        return Some("not root: creating a tap device needs root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing: the kernel offers no tap devices".into());
    }
    if !program_on_path("ip") {
        return Some("`ip` is missing and could not be installed (package iproute2)".into());
    }
    if !program_on_path("ping") {
        return Some("`ping` is missing and could not be installed (package iputils-ping)".into());
    }
    None
}

/// Runs `program arguments`, echoing the command; fails with its error output.
fn run_echoed(program: &str, arguments: &[&str]) -> Result<String, String> {
    let text = format!("{program} {}", arguments.join(" "));
    println!("$ {text}");
    let output = Command::new(program)
        .args(arguments)
        .output()
        .map_err(|error| format!("`{text}`: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "`{text}` failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            stdout.trim()
        ));
    }
    Ok(stdout)
}

/// A tap device with the host's tap address, up; deleted when dropped, whatever
/// happened in between (failures and panics included).
#[derive(Debug)]
pub struct TapDevice {
    name: String,
}

/// Tap devices this process made, for unique names.
static TAPS_MADE: AtomicU32 = AtomicU32::new(0);

impl TapDevice {
    /// Creates `ethos-tapN` (a name no other device of this machine has), gives it
    /// the host's tap address and brings it up.
    pub fn create() -> Result<TapDevice, String> {
        let name = loop {
            let serial = TAPS_MADE.fetch_add(1, Ordering::Relaxed);
            // Interface names hold at most 15 bytes: `ethos-tap` and six digits.
            let number = (std::process::id().wrapping_mul(16).wrapping_add(serial)) % 1_000_000;
            let name = format!("ethos-tap{number}");
            if !Path::new("/sys/class/net").join(&name).exists() {
                break name;
            }
        };
        run_echoed("ip", &["tuntap", "add", "dev", &name, "mode", "tap"])?;
        // From here on the guard deletes the device, whatever fails next.
        let tap = TapDevice { name };
        let [a, b, c, d] = TAP_HOST_ADDRESS;
        let address = format!("{a}.{b}.{c}.{d}/{TAP_PREFIX_LENGTH}");
        run_echoed("ip", &["addr", "add", &address, "dev", &tap.name])?;
        run_echoed("ip", &["link", "set", "dev", &tap.name, "up"])?;
        Ok(tap)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TapDevice {
    fn drop(&mut self) {
        if let Err(error) = run_echoed("ip", &["tuntap", "del", "dev", &self.name, "mode", "tap"]) {
            eprintln!("could not delete tap device {}: {error}", self.name);
        }
    }
}

/// What `ping`'s summary line counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingSummary {
    pub transmitted: u32,
    pub received: u32,
    /// The summary line itself, for the record.
    pub line: String,
}

/// Finds `N packets transmitted, M received, ...` in `ping`'s output.
pub fn parse_ping_summary(output: &str) -> Option<PingSummary> {
    output.lines().find_map(|line| {
        let mut parts = line.split(',').map(str::trim);
        let transmitted = parts
            .next()?
            .strip_suffix(" packets transmitted")?
            .parse()
            .ok()?;
        let received = parts.next()?.strip_suffix(" received")?.parse().ok()?;
        Some(PingSummary {
            transmitted,
            received,
            line: line.trim().to_string(),
        })
    })
}

/// Pings `target` through the tap `count` times with the system `ping` (the command
/// is echoed) and returns its summary; ping's own exit status is judged by the
/// caller from the counts.
pub fn ping_through(tap: &TapDevice, target: Ipv4Addr, count: u32) -> Result<PingSummary, String> {
    let count_text = count.to_string();
    let target_text = target.to_string();
    let arguments = ["-c", &count_text, "-W", "2", "-I", tap.name(), &target_text];
    println!("$ ping {}", arguments.join(" "));
    let output = Command::new("ping")
        .args(arguments)
        .output()
        .map_err(|error| format!("ping: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_ping_summary(&stdout).ok_or_else(|| {
        format!(
            "ping printed no summary ({}): {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })
}

/// Pings `target` once at a time until an echo comes back or `patience` runs out;
/// answers how long that took. For a guest that reports serving before its
/// address answers (NetBSD probes a new address for duplicates first, RFC 5227,
/// and answers nothing for it meanwhile).
pub fn wait_until_answering(
    tap: &TapDevice,
    target: Ipv4Addr,
    patience: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        let summary = ping_through(tap, target, 1)?;
        if summary.received == 1 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > patience {
            return Err(format!(
                "{target} answered no ping within {:.0} s",
                patience.as_secs_f64()
            ));
        }
    }
}

/// Sends the stop datagram to the guest's echo port a few times (UDP may drop one).
pub fn send_stop(target: Ipv4Addr) -> Result<(), String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|error| error.to_string())?;
    for _ in 0..3 {
        socket
            .send_to(UDP_ECHO_STOP, SocketAddrV4::new(target, UDP_ECHO_PORT))
            .map_err(|error| format!("sending the stop datagram to {target}: {error}"))?;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_summaries_are_parsed() {
        let output = "PING 10.0.8.2 (10.0.8.2) from 10.0.8.1 ethos-tap1: 56(84) bytes of data.\n\
                      64 bytes from 10.0.8.2: icmp_seq=1 ttl=64 time=1.23 ms\n\n\
                      --- 10.0.8.2 ping statistics ---\n\
                      5 packets transmitted, 5 received, 0% packet loss, time 4006ms\n\
                      rtt min/avg/max/mdev = 0.5/1.0/1.5/0.3 ms\n";
        let summary = parse_ping_summary(output).unwrap();
        assert_eq!((summary.transmitted, summary.received), (5, 5));
        assert!(summary.line.starts_with("5 packets transmitted"));
        let lost = "5 packets transmitted, 0 received, +5 errors, 100% packet loss, time 4100ms";
        let summary = parse_ping_summary(lost).unwrap();
        assert_eq!((summary.transmitted, summary.received), (5, 0));
        assert_eq!(
            parse_ping_summary("ping: connect: Network is unreachable"),
            None
        );
    }

    #[test]
    fn a_user_other_than_root_is_told_why_the_tap_rows_skip() {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .as_deref()
            .and_then(effective_uid);
        if uid != Some(0) {
            assert_eq!(
                tap_unavailable().as_deref(),
                Some("not root: creating a tap device needs root")
            );
        }
    }

    #[test]
    fn the_effective_uid_is_read_from_the_status_text() {
        let status = "Name:\tcargo\nUid:\t1000\t0\t1000\t1000\nGid:\t0\t0\t0\t0\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t0\t1000\t0\t0\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tx\n"), None);
    }

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
