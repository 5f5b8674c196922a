//! Kernel tests of the network over whatever network device the probe bound: ICMP
//! echo, a UDP echo service for a host process, UDP between two guests on one socket
//! network, and serving the host's pings on a tap network.
//!
//! Every datagram goes through the device class [`Datagram`]; the UDP echo service
//! is the class's conformance check ([`datagram_check`]), so it judges any backend
//! the same way. The peer and serving tests run on the backend the probe chose for
//! the class: ICMP is the native stack's own (the class has none), so on the rump
//! backend NetBSD answers pings and these tests only keep its service up. Every
//! loop here is bounded in time; a test that waits too long fails.

use alloc::boxed::Box;
use alloc::vec;
use core::net::SocketAddrV4;

use ethos_abi::drivers::{
    Backend, HOST_PING_COUNT, NET_SERVING_METRIC, PEER_UDP_PORT, UDP_ECHO_PORT, UDP_ECHO_STOP,
};
use ethos_devices::datagram_check::{self, DatagramCheckError, EchoProgress, EchoServer};
use ethos_devices::{Datagram, DatagramSocket, DeviceClass, NetworkDevice};
use ethos_net::{NetConfig, NetStack};
use smoltcp::wire::Ipv4Address;

use crate::driver_tests::{DriverFailure, metric, now_ms};
use ethos_platform_x86_64::{drivers, kernel_threads, time};

type Stack = NetStack<Box<dyn NetworkDevice + Send>>;

pub(crate) fn stack() -> Result<Stack, DriverFailure> {
    let device = drivers::take_network().ok_or(DriverFailure::Missing(DeviceClass::Network))?;
    let config = NetConfig::for_mac(device.mac_address());
    let mac = device.mac_address();
    tracing::info!(
        address = %config.address,
        prefix = config.prefix_length,
        mac = ?mac,
        "network up"
    );
    Ok(NetStack::new(device, config, now_ms()))
}

fn report_statistics(stack: &Stack) {
    report_link_statistics(stack);
}

/// What crossed the interface under a datagram service, and the device interrupts.
fn report_link_statistics(service: &dyn Datagram) {
    let statistics = service.statistics();
    metric("frames_received", statistics.frames_received, "count");
    metric("frames_sent", statistics.frames_sent, "count");
    metric("send_errors", statistics.send_errors, "count");
    metric("checksum_errors", statistics.checksum_errors, "count");
    metric("device_interrupts", drivers::interrupts_total(), "count");
}

/// The address a ping test aims at: the gateway, or the other peer.
fn ping_target(config: NetConfig) -> Option<Ipv4Address> {
    match NetConfig::peer_number(mac_of(config)) {
        Some(number) => Some(NetConfig::peer_address(3 - number.min(2))),
        None => config.gateway,
    }
}

/// Recovers the peer MAC a configuration came from (peers are `10.0.7.N`).
fn mac_of(config: NetConfig) -> [u8; 6] {
    let octets = config.address.octets();
    if octets[..3] == [10, 0, 7] {
        let mut mac = [0; 6];
        mac[..5].copy_from_slice(&ethos_abi::drivers::PEER_MAC_PREFIX);
        mac[5] = octets[3];
        mac
    } else {
        [0; 6]
    }
}

/// Pings `target` until `count` echoes come back and reports the mean round trip,
/// then keeps answering for two seconds, so a host or peer pinging this guest at the
/// same time is answered too.
fn ping_then_keep_answering(
    stack: &mut Stack,
    target: Ipv4Address,
    count: u16,
) -> Result<(), DriverFailure> {
    let mean_us = ping_until_answered(stack, target, count, 30)?;
    metric("ping_rtt_mean", mean_us, "us");
    let until = now_ms() + 2000;
    while now_ms() < until {
        stack.poll(now_ms());
    }
    report_statistics(stack);
    Ok(())
}

/// Pings until `count` replies came back; returns the mean round trip in µs.
fn ping_until_answered(
    stack: &mut Stack,
    target: Ipv4Address,
    count: u16,
    seconds: u64,
) -> Result<u64, DriverFailure> {
    let deadline = now_ms() + seconds * 1000;
    let mut answered = 0u16;
    let mut total_ns = 0u64;
    let mut sequence = 0u16;
    while answered < count {
        sequence = sequence.wrapping_add(1);
        stack
            .ping(target, sequence)
            .map_err(|_| DriverFailure::Network("the ICMP send queue is full"))?;
        let sent = time::since_boot_nanos().unwrap_or(0);
        let resend = now_ms() + 500;
        'wait: while now_ms() < resend {
            stack.poll(now_ms());
            while let Some((reply, from)) = stack.ping_reply() {
                if reply == sequence && from == target {
                    total_ns += time::since_boot_nanos().unwrap_or(0) - sent;
                    answered += 1;
                    break 'wait;
                }
            }
            if now_ms() > deadline {
                return Err(DriverFailure::Timeout {
                    what: "an ICMP echo reply",
                    seconds,
                });
            }
        }
    }
    Ok(total_ns / 1000 / u64::from(count))
}

/// How long a DHCP lease may take: QEMU's server answers at once, but smoltcp
/// retransmits its DISCOVER only after a backoff when the first is lost.
const DHCP_SECONDS: u64 = 30;

pub(crate) fn dhcp() -> Result<(), DriverFailure> {
    let device = drivers::take_network().ok_or(DriverFailure::Missing(DeviceClass::Network))?;
    let start = now_ms();
    let mut stack = NetStack::with_dhcp(device, start);
    while !stack.is_configured() {
        stack.poll(now_ms());
        if now_ms() > start + DHCP_SECONDS * 1000 {
            return Err(DriverFailure::Timeout {
                what: "a DHCP lease",
                seconds: DHCP_SECONDS,
            });
        }
    }
    let config = stack.config();
    tracing::info!(
        address = %config.address,
        prefix = config.prefix_length,
        gateway = ?config.gateway,
        "DHCP lease"
    );
    metric("dhcp_lease_ms", now_ms() - start, "ms");
    metric(
        "dhcp_address",
        u64::from(u32::from_be_bytes(config.address.octets())),
        "ipv4",
    );
    metric(
        "dhcp_prefix_length",
        u64::from(config.prefix_length),
        "bits",
    );
    let gateway = config
        .gateway
        .ok_or(DriverFailure::Network("the DHCP lease names no router"))?;
    let mean_us = ping_until_answered(&mut stack, gateway, 3, 30)?;
    metric("ping_rtt_mean", mean_us, "us");
    report_statistics(&stack);
    Ok(())
}

pub(crate) fn ping() -> Result<(), DriverFailure> {
    let mut stack = stack()?;
    let target = ping_target(stack.config()).ok_or(DriverFailure::Network("no address to ping"))?;
    ping_then_keep_answering(&mut stack, target, 10)
}

/// A free port the socket rules are checked on before the echo service starts.
const SOCKET_RULES_PORT: u16 = 7999;

/// Takes the datagram service of whatever backend serves the class, checks its
/// socket rules, then echoes every datagram to the echo port back to its sender,
/// byte for byte, until the stop datagram arrives (at most ten minutes).
pub(crate) fn udp_echo() -> Result<(), DriverFailure> {
    const LIMIT_S: u64 = 600;
    let mut service =
        drivers::take_datagram().ok_or(DriverFailure::Missing(DeviceClass::Datagram))?;
    let service: &mut dyn Datagram = &mut *service;
    datagram_check::check_socket_rules(service, SOCKET_RULES_PORT)
        .map_err(DriverFailure::Datagram)?;
    let mut server = EchoServer::bind(service, UDP_ECHO_PORT).map_err(DriverFailure::Datagram)?;
    tracing::info!(port = UDP_ECHO_PORT, "UDP echo listening");
    metric("udp_echo_listening", u64::from(UDP_ECHO_PORT), "port");
    let deadline = now_ms() + LIMIT_S * 1000;
    loop {
        match server
            .serve(service, now_ms())
            .map_err(DriverFailure::Datagram)?
        {
            EchoProgress::Finished(summary) => {
                metric("udp_echoed", summary.datagrams, "count");
                metric("udp_echoed_bytes", summary.bytes, "bytes");
                metric("udp_echo_dropped", summary.dropped, "count");
                report_link_statistics(service);
                return Ok(());
            }
            EchoProgress::Going if now_ms() > deadline => {
                return Err(DriverFailure::Timeout {
                    what: "the UDP echo stop datagram",
                    seconds: LIMIT_S,
                });
            }
            EchoProgress::Going => {}
        }
    }
}

/// Which backend the probe chose to serve the datagram class, if any serves it.
pub(crate) fn datagram_backend() -> Option<Backend> {
    drivers::with_devices(|devices| devices.serving(DeviceClass::Datagram))
        .flatten()
        .map(|serving| serving.backend)
}

/// How a test loop waits between polls of its datagram service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pacing {
    /// Polls again at once: the native stack does all its work in `poll`.
    Spin,
    /// Gives the CPU away for as long as the service's `poll_delay` asks (a
    /// millisecond at most): a rump kernel's stack receives frames and answers ARP
    /// and ICMP in its own threads, which run only while the test waits (nothing
    /// preempts the test).
    Yield,
}

impl Pacing {
    fn wait(self, service: &mut dyn Datagram) {
        if self == Pacing::Spin {
            return;
        }
        let delay_ms = service.poll_delay(now_ms()).unwrap_or(1).min(1);
        if delay_ms == 0 {
            return;
        }
        let nanos = delay_ms * 1_000_000;
        let deadline = time::since_boot_nanos().unwrap_or(0) + nanos;
        // From a thread it sleeps; from the hub, which cannot sleep, it runs the
        // other threads meanwhile.
        if kernel_threads::sleep_until(deadline).is_err() {
            kernel_threads::run_until(|| false, nanos);
        }
    }
}

/// Datagrams each peer sends and must receive, numbered.
const PEER_COUNT: u16 = 200;
/// How long a peer goes on sending once it has every datagram of the other, so the
/// other finishes too.
const PEER_LINGER_MS: u64 = 2000;
/// How much longer a rump peer stays up after that: it cannot ping (the class has no
/// ICMP), but NetBSD answers the other peer's pings while the service is up.
const RUMP_PEER_ANSWERING_MS: u64 = 10_000;

/// Sends numbered datagrams to the other peer and collects its, through whatever
/// backend serves the datagram class; passes once every number arrived. On the
/// native stack one ping to the other peer must then be answered too; a rump peer
/// sends no ping (the datagram class has no ICMP), and stays up instead while the
/// other pings it: NetBSD answers ICMP echo itself.
pub(crate) fn peer() -> Result<(), DriverFailure> {
    if datagram_backend() == Some(Backend::Rump) {
        let mut service =
            drivers::take_datagram().ok_or(DriverFailure::Missing(DeviceClass::Datagram))?;
        let service: &mut dyn Datagram = &mut *service;
        exchange_with_peer(
            service,
            PEER_LINGER_MS + RUMP_PEER_ANSWERING_MS,
            Pacing::Yield,
        )?;
        report_link_statistics(service);
        return Ok(());
    }
    let mut stack = stack()?;
    let other = exchange_with_peer(&mut stack, PEER_LINGER_MS, Pacing::Spin)?;
    ping_then_keep_answering(&mut stack, other, 3)
}

/// Set in a peer datagram's first byte once its sender has every number.
const PEER_COMPLETE: u8 = 0x80;

/// The UDP half of [`peer`] over any datagram service: own address from the
/// service (`NetConfig::for_mac` of the device's MAC), the other peer's from it;
/// sends numbered datagrams and checks every one received. Each datagram says
/// whether its sender has all of the other's, so neither stops sending before the
/// other has everything, however late the other could first receive (a rump
/// peer's NetBSD answers no ARP until it has probed its new address for
/// duplicates); once both have, it goes on for `linger_ms`. Returns the other
/// peer's address.
fn exchange_with_peer(
    service: &mut dyn Datagram,
    linger_ms: u64,
    pacing: Pacing,
) -> Result<Ipv4Address, DriverFailure> {
    const LIMIT_S: u64 = 120;
    let own = service.local_address().ok_or(DriverFailure::Network(
        "the datagram service has no address",
    ))?;
    let own_number = own.octets()[3];
    if own.octets()[..3] != [10, 0, 7] {
        return Err(DriverFailure::Network(
            "this test needs a peer MAC (52:54:00:e7:00:N)",
        ));
    }
    let other = NetConfig::peer_address(if own_number == 1 { 2 } else { 1 });
    tracing::info!(%own, %other, "exchanging datagrams with the other peer");
    let socket = service.bind(PEER_UDP_PORT).map_err(|error| {
        DriverFailure::Datagram(DatagramCheckError::Failed {
            step: "binding the peer port",
            error,
        })
    })?;
    let deadline = now_ms() + LIMIT_S * 1000;
    let mut received = vec![false; PEER_COUNT as usize];
    let mut received_count = 0u16;
    let mut other_complete = false;
    let mut next = 0u16;
    let mut done_at = None;
    let mut buffer = vec![0u8; 2048];
    let mut last_send = 0;
    while done_at.is_none_or(|at| now_ms() < at + linger_ms) {
        let now = now_ms();
        if now > deadline {
            return Err(DriverFailure::Timeout {
                what: "every datagram from the other peer, and its word that it has ours",
                seconds: LIMIT_S,
            });
        }
        if now != last_send {
            last_send = now;
            let mut datagram = [0u8; 64];
            datagram[0] = own_number;
            if received_count == PEER_COUNT {
                datagram[0] |= PEER_COMPLETE;
            }
            datagram[1..3].copy_from_slice(&next.to_le_bytes());
            for (index, byte) in datagram[3..].iter_mut().enumerate() {
                *byte = (index as u8) ^ (next as u8);
            }
            // A send the stack refuses (the peer not up yet, a full queue) is
            // tried again with the next number's turn.
            if service
                .send_to(socket, SocketAddrV4::new(other, PEER_UDP_PORT), &datagram)
                .is_ok()
            {
                next = (next + 1) % PEER_COUNT;
            }
        }
        service.poll(now);
        while let Ok(Some((length, from))) = service.receive_from(socket, &mut buffer) {
            if *from.ip() != other || length != 64 {
                continue;
            }
            other_complete |= buffer[0] & PEER_COMPLETE != 0;
            let sequence = u16::from_le_bytes([buffer[1], buffer[2]]);
            let intact = buffer[3..64]
                .iter()
                .enumerate()
                .all(|(index, byte)| *byte == (index as u8) ^ (sequence as u8));
            if let Some(seen) = received.get_mut(sequence as usize)
                && intact
                && !*seen
            {
                *seen = true;
                received_count += 1;
            }
        }
        if received_count == PEER_COUNT && other_complete && done_at.is_none() {
            done_at = Some(now_ms());
        }
        pacing.wait(service);
    }
    metric(
        "peer_datagrams_received",
        u64::from(received_count),
        "count",
    );
    Ok(other)
}

/// How long a serving guest waits for the host's stop datagram: within the host
/// harness's limit.
const SERVE_LIMIT_S: u64 = 90;

/// Serves the host's pings on a tap network until the stop datagram arrives on the
/// echo port. On the native stack, answers ARP and ICMP echo requests itself and
/// passes only if it answered at least [`HOST_PING_COUNT`] of them: a guest nobody
/// reached fails. On the rump backend NetBSD answers them, out of this test's
/// sight, so it keeps the datagram service up and passes only if the host's stop
/// datagram reached it; the host counts the echoes that came back.
pub(crate) fn serve() -> Result<(), DriverFailure> {
    if datagram_backend() == Some(Backend::Rump) {
        return serve_on_datagram_service();
    }
    serve_native()
}

fn serve_on_datagram_service() -> Result<(), DriverFailure> {
    let mut service =
        drivers::take_datagram().ok_or(DriverFailure::Missing(DeviceClass::Datagram))?;
    let service: &mut dyn Datagram = &mut *service;
    let address = service.local_address().ok_or(DriverFailure::Network(
        "the datagram service has no address",
    ))?;
    let socket = service.bind(UDP_ECHO_PORT).map_err(|error| {
        DriverFailure::Datagram(DatagramCheckError::Failed {
            step: "binding the echo port",
            error,
        })
    })?;
    tracing::info!(%address, "serving until the stop datagram; the backend answers ICMP echo");
    let stopped = serve_until_stop(service, socket, address.octets());
    report_link_statistics(service);
    if !stopped {
        return Err(DriverFailure::Timeout {
            what: "the host's stop datagram",
            seconds: SERVE_LIMIT_S,
        });
    }
    Ok(())
}

/// Reports `address` as serving, then takes the datagrams that reach `socket`
/// until the host's stop datagram arrives or [`SERVE_LIMIT_S`] pass; answers
/// whether it arrived.
fn serve_until_stop(service: &mut dyn Datagram, socket: DatagramSocket, address: [u8; 4]) -> bool {
    metric(
        NET_SERVING_METRIC,
        u64::from(u32::from_be_bytes(address)),
        "ipv4",
    );
    let deadline = now_ms() + SERVE_LIMIT_S * 1000;
    let mut buffer = vec![0u8; 2048];
    let mut stopped = false;
    while !stopped && now_ms() < deadline {
        service.poll(now_ms());
        while let Ok(Some((length, from))) = service.receive_from(socket, &mut buffer) {
            if &buffer[..length] == UDP_ECHO_STOP {
                tracing::info!(%from, "stop datagram received");
                stopped = true;
            }
        }
    }
    stopped
}

fn serve_native() -> Result<(), DriverFailure> {
    let mut stack = stack()?;
    let socket = stack
        .bind(UDP_ECHO_PORT)
        .map_err(|_| DriverFailure::Network("cannot bind the echo port"))?;
    let address = stack.config().address;
    tracing::info!(%address, "serving ICMP echo until the stop datagram");
    let stopped = serve_until_stop(&mut stack, socket, address.octets());
    let answered = stack.statistics().echo_replies_sent;
    metric("echo_replies_sent", answered, "count");
    report_statistics(&stack);
    if !stopped {
        tracing::warn!(seconds = SERVE_LIMIT_S, "no stop datagram arrived");
    }
    let wanted = u64::from(HOST_PING_COUNT);
    if answered < wanted {
        return Err(DriverFailure::TooFewEchoesAnswered { answered, wanted });
    }
    Ok(())
}
