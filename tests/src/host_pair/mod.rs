//! Rows that boot two hosts of a set (`cargo xtask hosts`) on one QEMU socket
//! network and judge both: the kernels' MinimaLT service carries typed values
//! between them, with the client's user authenticated to the server.
//!
//! A row either runs one kernel test on both hosts (`test=NAME`), or runs an init
//! set on each (`init=SET`): the client's on host 1, the server's on host 2, whose
//! programs talk through `ipc` naming the other host. An init-set host is judged as
//! the process rows judge a run (`crate::scenarios`): exactly the expected process
//! endings, and the lines its programs printed.
//!
//! Host `N` boots with the MAC `52:54:00:e7:00:0N` (which gives it `10.0.7.N`, the
//! address its image names). The first host's QEMU listens on a free loopback TCP
//! port and the second connects to it.
//!
//! Each host of a row has its own machine, NIC and backend ([`HostMachine`]): on the
//! native stack (smoltcp over virtio-net on `microvm`), or on NetBSD's TCP/IP in the
//! kernel's rump kernel (its `vioif` driver on a legacy virtio-net PCI NIC of a
//! `pc`), asked for on the host's command line. Either way the kernel's MinimaLT
//! service runs unchanged on the datagram class, and each host's `@ethos device`
//! lines must show the backend and drivers its row names. A row with a rump host on
//! kernels that link no rump kernel is skipped with the reason, never run as native.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ethos_abi::drivers::driver_name::{RUMP_NETINET, RUMP_VIOIF, SMOLTCP, VIRTIO_NET};
use ethos_abi::drivers::{Backend, DeviceClass};
use ethos_abi::{ExitCode, KernelTest};

use crate::harness::{self, Expectation, Transcript, Verdict};
use crate::matrix::devices_served;
use crate::matrix_host::free_tcp_port;
use crate::qemu::{Accelerator, Machine, QemuConfig};
use crate::scenarios::{self, Ending};
use crate::system::Outcome;

mod flooder;
mod tamperer;

pub use flooder::Flooded;
use tamperer::Tamperer;
pub use tamperer::{Injected, Mischief, Wire};

/// The kernels of a two-host set: host 1 (the client) and host 2 (the server).
#[derive(Clone, Debug)]
pub struct HostPair {
    pub client: PathBuf,
    pub server: PathBuf,
    /// The UDP port both hosts receive MinimaLT's datagrams on.
    pub port: u16,
    /// Where failed runs keep their serial logs.
    pub log_directory: PathBuf,
    /// Why a rump host cannot run, when the kernels link no rump kernel (the
    /// reason [`crate::matrix::rump_skip_reason`] gives); `None` when they do.
    pub rump_unavailable: Option<String>,
}

/// One host's machine: its NIC, and the backend that serves its network and
/// datagram classes, with the drivers that must report serving them.
#[derive(Clone, Copy, Debug)]
pub struct HostMachine {
    pub machine: Machine,
    /// The NIC model, with its `netdev=n0`.
    pub nic: &'static str,
    pub backend: Backend,
    /// The classes the host's MinimaLT service runs on, each with the driver that
    /// must serve it.
    pub serves: &'static [(DeviceClass, &'static str)],
}

/// The native stack: smoltcp over virtio-net on `microvm`'s MMIO transport.
pub const NATIVE_HOST: HostMachine = HostMachine {
    machine: Machine::Microvm,
    nic: "virtio-net-device,netdev=n0",
    backend: Backend::Native,
    serves: &[
        (DeviceClass::Network, VIRTIO_NET),
        (DeviceClass::Datagram, SMOLTCP),
    ],
};

/// NetBSD's TCP/IP in the rump kernel, over its `vioif` driver on a legacy
/// virtio-net PCI NIC (the transport that driver binds), on the PC.
pub const RUMP_HOST: HostMachine = HostMachine {
    machine: Machine::Pc,
    nic: "virtio-net-pci,netdev=n0,disable-modern=on",
    backend: Backend::Rump,
    serves: &[
        (DeviceClass::Network, RUMP_VIOIF),
        (DeviceClass::Datagram, RUMP_NETINET),
    ],
};

/// What the hosts of a row boot into.
#[derive(Clone, Copy, Debug)]
pub enum HostPairRun {
    /// Both hosts run this kernel test, which must pass on each.
    Test(KernelTest),
    /// Host 1 runs the client's init set and host 2 the server's, each to its end.
    Sets {
        client: HostInitSet,
        server: HostInitSet,
    },
    /// Host 1 runs a kernel test (a modified kernel, say) against host 2's init set.
    TestAgainstSet {
        client: KernelTest,
        server: HostInitSet,
    },
}

/// One host's init set and what its run must show.
#[derive(Clone, Copy, Debug)]
pub struct HostInitSet {
    /// The set's name in `images/boot/image.toml`.
    pub name: &'static str,
    /// How every process ended: exactly these, in any order.
    pub ended: &'static [Ending],
    /// Lines its programs printed: (user, text), each exactly.
    pub printed: &'static [(&'static str, &'static str)],
}

/// One row.
#[derive(Clone, Debug)]
pub struct HostPairRow {
    pub name: &'static str,
    pub about: &'static str,
    /// What both hosts run.
    pub run: HostPairRun,
    /// The most the kernel heap of each host may grow between the test's two
    /// measures (`tunnel_heap_growth`), where the test takes them.
    pub heap_growth_at_most: Option<u64>,
    /// Host 1's machine and host 2's.
    pub hosts: [HostMachine; 2],
    /// Metrics each host must report, with their values: (client's, server's).
    pub client_metrics: &'static [(&'static str, u64)],
    pub server_metrics: &'static [(&'static str, u64)],
    /// Whether the hosts' frames pass through a host process, and what it does
    /// besides forwarding them: tamper with, replay and forge MinimaLT's packets
    /// (each host must then have dropped exactly the bad packets sent to it), or
    /// flood host 2 (which must drop and refuse exactly what the flood sent it).
    pub proxy: Option<Mischief>,
}

/// alice's across-client on host 1 and bob's across-server on host 2.
const ACROSS_ECHO: HostPairRun = HostPairRun::Sets {
    client: HostInitSet {
        name: "across-client",
        ended: &[("alice", "across-client", "exit", 0)],
        printed: &[
            ("alice", "across-client: connected to across on beta"),
            ("alice", "across-client: method 9 refused, InvalidType"),
            ("alice", "across-client: 101 replies byte-exact"),
        ],
    },
    server: HostInitSet {
        name: "across-server",
        ended: &[("bob", "across-server", "exit", 0)],
        printed: &[
            ("bob", "across-server: connection from alice"),
            ("bob", "across-server: answered 101 requests"),
        ],
    },
};

/// Host 1 as a modified kernel against bob's across-server on host 2.
const MODIFIED_PEER: HostPairRun = HostPairRun::TestAgainstSet {
    client: KernelTest::TunnelModifiedPeer,
    server: HostInitSet {
        name: "across-server",
        ended: &[("bob", "across-server", "exit", 0)],
        printed: &[
            ("bob", "across-server: connection from alice"),
            ("bob", "across-server: answered 11 requests"),
        ],
    },
};
const MODIFIED_PEER_CLIENT: &[(&str, u64)] =
    &[("tunnel_values_echoed", 11), ("tunnel_ill_typed_sent", 10)];
const MODIFIED_PEER_SERVER: &[(&str, u64)] = &[
    ("tunnel_ill_typed_values", 10),
    ("remote_values_received", 10),
    ("remote_values_refused", 0),
];

/// What the client host of the echo session counts: one connection, 100 values
/// after the first and 101 replies, nothing lost, one record request, no datagram
/// dropped.
const ECHO_CLIENT_METRICS: &[(&str, u64)] = &[
    ("remote_connections_opened", 1),
    ("remote_connections_accepted", 1),
    ("remote_values_sent", 100),
    ("remote_values_received", 101),
    ("remote_values_lost", 0),
    ("tunnel_record_requests_sent", 1),
    ("tunnel_datagrams_dropped", 0),
];

/// What the server host of the echo session counts.
const ECHO_SERVER_METRICS: &[(&str, u64)] = &[
    ("remote_incoming_accepted", 1),
    ("remote_values_received", 100),
    ("remote_values_sent", 101),
    ("remote_values_refused", 0),
    ("tunnel_ill_typed_values", 0),
    ("tunnel_datagrams_dropped", 0),
];

/// What host 1 of `hosts-tunnel-reuse` counts at its socket from each open to its
/// first reply. The first open asks host 2 for its record (one round trip) and
/// sends the tunnel's first packet, which carries the connection request and the
/// first value (MinimaLT makes the tunnel with no round trip of its own), with four
/// X25519 operations: the record opened, the tunnel's ephemeral key made and agreed,
/// and the user's authenticator. The second, on the tunnel the first made, is one
/// datagram out and its reply one back, with no record request or first packet,
/// and one X25519 operation: the authenticator, which proves the user on every
/// connection. Were the tunnel not reused, the second open would send a first packet
/// and make and agree a key (three operations), and host 1 would hold two tunnels.
const REUSE_CLIENT_METRICS: &[(&str, u64)] = &[
    ("tunnel_open_1_datagrams_sent", 2),
    ("tunnel_open_1_datagrams_received", 2),
    ("tunnel_open_1_first_packets", 1),
    ("tunnel_open_1_record_requests", 1),
    ("tunnel_open_1_key_operations", 4),
    ("tunnel_open_2_datagrams_sent", 1),
    ("tunnel_open_2_datagrams_received", 1),
    ("tunnel_open_2_first_packets", 0),
    ("tunnel_open_2_record_requests", 0),
    ("tunnel_open_2_key_operations", 1),
    ("tunnel_values_echoed", 8),
    ("tunnel_socket_first_packets_sent", 1),
    ("tunnel_record_requests_sent", 1),
    ("tunnel_count", 1),
    ("tunnel_datagrams_dropped", 0),
];

/// What sign-check prints on host 1 for each of alice and carol, whose keys it holds.
const SIGN_CHECKED_ALICE_CAROL: &[(&str, &str)] = &[
    (
        "alice",
        "sign-check: signed 44 bytes, verified under the signer's key",
    ),
    (
        "alice",
        "sign-check: a tampered value refused: InvalidAuthentication",
    ),
    (
        "alice",
        "sign-check: a tampered signature refused: InvalidAuthentication",
    ),
    (
        "alice",
        "sign-check: another user's key refused: InvalidAuthentication",
    ),
    ("alice", "sign-check: every check passed"),
    ("carol", "sign-check: every check passed"),
];

/// Every row.
pub fn all() -> Vec<HostPairRow> {
    let native = vec![
        HostPairRow {
            name: "hosts-tunnel-echo",
            about: "two hosts: alice on host 1 reaches `echo` on host 2 through the kernels' \
                MinimaLT service; host 2's kernel authenticates her, 101 typed requests \
                come back byte-exact across a rekey, and no datagram is dropped",
            run: HostPairRun::Test(KernelTest::Tunnel),
            heap_growth_at_most: None,
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: &[
                ("tunnel_values_echoed", 101),
                ("tunnel_rekeys", 1),
                ("tunnel_record_requests_sent", 1),
                ("tunnel_count", 1),
                ("tunnel_datagrams_dropped", 0),
            ],
            server_metrics: &[
                ("tunnel_user_authenticated", 1),
                ("tunnel_values_answered", 101),
                ("tunnel_ill_typed_values", 0),
                ("tunnel_datagrams_dropped", 0),
            ],
            proxy: None,
        },
        HostPairRow {
            name: "hosts-tunnel-tampered",
            about: "the same session through a host process that replays, bit-flips and forges \
                MinimaLT packets both ways: every bad packet is dropped and counted by the \
                host it reached, and all 101 requests come back byte-exact",
            run: HostPairRun::Test(KernelTest::Tunnel),
            heap_growth_at_most: None,
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: &[("tunnel_values_echoed", 101), ("tunnel_rekeys", 1)],
            server_metrics: &[
                ("tunnel_user_authenticated", 1),
                ("tunnel_values_answered", 101),
                ("tunnel_ill_typed_values", 0),
            ],
            proxy: Some(Mischief::Tamper),
        },
        HostPairRow {
            name: "hosts-tunnel-soak",
            about: "100,000 typed requests from host 1 to host 2 and back, 256 in flight, \
                    every reply checked; neither kernel heap grows from the first thousand \
                    to the end",
            run: HostPairRun::Test(KernelTest::TunnelSoak),
            heap_growth_at_most: Some(HEAP_GROWTH_BOUND),
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: &[
                ("tunnel_values_echoed", 100_001),
                ("tunnel_datagrams_dropped", 0),
            ],
            server_metrics: &[
                ("tunnel_user_authenticated", 1),
                ("tunnel_values_answered", 100_001),
                ("tunnel_datagrams_dropped", 0),
            ],
            proxy: None,
        },
        HostPairRow {
            name: "hosts-tunnel-reuse",
            about: "host 1 opens `echo` on host 2, which makes the tunnel (a record request \
                and a first packet), closes it once four requests came back, and opens a \
                second connection on the same tunnel: counted at host 1's socket, the \
                second open and its first reply take one datagram each way (the first: \
                two), with no first packet or record request and one X25519 operation, \
                the user's authenticator (the first: four); each host holds one tunnel, \
                and a host process on the wire counts what host 1 counted, one first \
                packet and one record request in all",
            run: HostPairRun::Test(KernelTest::TunnelReuse),
            heap_growth_at_most: None,
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: REUSE_CLIENT_METRICS,
            server_metrics: &[
                ("tunnel_connections_accepted", 2),
                ("tunnel_values_answered", 8),
                ("tunnel_count", 1),
                ("tunnel_datagrams_dropped", 0),
            ],
            proxy: Some(Mischief::Watch),
        },
        HostPairRow {
            name: "hosts-tunnel-flood",
            about: "a host process on the network floods host 2 with forged tunnel openings \
                from as many source ports, random bytes, replays of the client's first \
                packet and record requests from an unknown key, before and during a \
                session of 401 requests: host 2 asks for puzzles, the client solves one, \
                every bad packet is dropped or refused and counted, no tunnel is made but \
                the client's, every reply comes back byte-exact and neither heap grows",
            run: HostPairRun::Test(KernelTest::TunnelFlood),
            heap_growth_at_most: Some(HEAP_GROWTH_BOUND),
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: &[
                ("tunnel_values_echoed", 401),
                ("tunnel_count", 1),
                ("tunnel_datagrams_dropped", 0),
            ],
            server_metrics: &[
                ("tunnel_user_authenticated", 1),
                ("tunnel_connections_accepted", 1),
                ("tunnel_values_answered", 401),
                ("tunnel_ill_typed_values", 0),
                ("tunnel_count", 1),
            ],
            proxy: Some(Mischief::Flood),
        },
        HostPairRow {
            name: "hosts-ipc-echo",
            about: "programs on two hosts: alice's across-client on host 1 reaches bob's \
                across-server on host 2 with `ipc` naming the host; host 2 names her, and 101 \
                typed requests of growing length come back byte-exact",
            run: ACROSS_ECHO,
            heap_growth_at_most: None,
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: ECHO_CLIENT_METRICS,
            server_metrics: ECHO_SERVER_METRICS,
            proxy: None,
        },
        HostPairRow {
            name: "hosts-ipc-refused",
            about: "remote `ipc` the policy or the directory refuses: a program not granted \
                host 2, a service granted for another host, a host no directory lists \
                (host 1's kernel), and carol, whom host 2's kernel grants nothing; no \
                connection reaches host 2's server",
            run: HostPairRun::Sets {
                client: HostInitSet {
                    name: "across-refused",
                    ended: &[
                        ("alice", "across-probe", "exit", 0),
                        ("carol", "across-client", "exit", 3),
                    ],
                    printed: &[
                        (
                            "alice",
                            "across-probe: a program not granted beta refused: NotAuthorized",
                        ),
                        (
                            "alice",
                            "across-probe: a service granted for host gamma only refused: \
                             NotAuthorized",
                        ),
                        (
                            "alice",
                            "across-probe: a host no directory lists refused: TunnelNotCreated",
                        ),
                        ("carol", "across-client: not authorized"),
                    ],
                },
                server: HostInitSet {
                    name: "across-idle",
                    ended: &[("bob", "across-idle", "exit", 0)],
                    printed: &[("bob", "across-idle: no connection in 30 s")],
                },
            },
            heap_growth_at_most: None,
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: &[
                // Only carol's connection left alpha: the probe's were refused by
                // alpha's policy, or found no host.
                ("remote_connections_opened", 2),
                ("remote_connections_failed", 2),
                ("remote_connections_accepted", 0),
            ],
            // Beta's kernel, not alpha's, refused carol.
            server_metrics: &[
                ("remote_incoming_refused", 1),
                ("remote_incoming_accepted", 0),
            ],
            proxy: None,
        },
        HostPairRow {
            name: "hosts-ipc-soak",
            about: "100,000 typed requests from alice's across-soak on host 1 to bob's \
                across-server on host 2 and back, 64 in flight, every reply checked; \
                neither kernel heap grows from its first sample to its last",
            run: HostPairRun::Sets {
                client: HostInitSet {
                    name: "across-soak",
                    ended: &[("alice", "across-soak", "exit", 0)],
                    printed: &[("alice", "across-soak: 100000 replies in order")],
                },
                server: HostInitSet {
                    name: "across-server",
                    ended: &[("bob", "across-server", "exit", 0)],
                    printed: &[
                        ("bob", "across-server: connection from alice"),
                        ("bob", "across-server: answered 100000 requests"),
                    ],
                },
            },
            heap_growth_at_most: Some(HEAP_GROWTH_BOUND),
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: &[
                ("remote_values_received", 100_000),
                ("remote_values_lost", 0),
                ("tunnel_datagrams_dropped", 0),
            ],
            // The first request travels in the connection request itself.
            server_metrics: &[
                ("remote_values_received", 99_999),
                ("remote_values_sent", 100_000),
                ("tunnel_datagrams_dropped", 0),
            ],
            proxy: None,
        },
        HostPairRow {
            name: "hosts-ipc-modified-peer",
            about: "host 1 as a modified kernel sends an ill-typed value before each of ten \
                requests to the across-server program on host 2, skipping its own check: \
                host 2's kernel drops and counts all ten, and the program answers the \
                eleven well-typed requests only",
            run: MODIFIED_PEER,
            heap_growth_at_most: None,
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: MODIFIED_PEER_CLIENT,
            server_metrics: MODIFIED_PEER_SERVER,
            proxy: None,
        },
        HostPairRow {
            name: "hosts-sign",
            about: "kernels that hold users' keys sign for them: alice and carol on host 1, \
                bob on host 2, each signs a value with `sign` and checks it with \
                `authenticate` under the key `sign` answered; a tampered value, a tampered \
                signature and another user's key are refused",
            run: HostPairRun::Sets {
                client: HostInitSet {
                    name: "signing",
                    ended: &[
                        ("alice", "sign-check", "exit", 0),
                        ("carol", "sign-check", "exit", 0),
                    ],
                    printed: SIGN_CHECKED_ALICE_CAROL,
                },
                server: HostInitSet {
                    name: "signing-bob",
                    ended: &[("bob", "sign-check", "exit", 0)],
                    printed: &[
                        ("bob", "sign-check: every check passed"),
                        (
                            "bob",
                            "sign-check: another user's key refused: InvalidAuthentication",
                        ),
                    ],
                },
            },
            heap_growth_at_most: None,
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: &[],
            server_metrics: &[],
            proxy: None,
        },
        HostPairRow {
            name: "hosts-ipc-flood",
            about: "the programs' session of hosts-ipc-echo while a host process on the \
                network floods host 2's MinimaLT service (the kernel's, which programs' \
                `ipc` uses) with forged tunnel openings, random bytes, replays of alice's \
                first packet and record requests from an unknown key: host 2 asks for \
                puzzles, host 1's kernel solves one, every bad packet is dropped or refused \
                and counted, host 2 holds no tunnel but alice's, and all 101 requests come \
                back byte-exact",
            run: ACROSS_ECHO,
            heap_growth_at_most: None,
            hosts: [NATIVE_HOST, NATIVE_HOST],
            // Host 1 sees nothing of the flood: its counts are the plain session's.
            client_metrics: ECHO_CLIENT_METRICS,
            server_metrics: &[
                ("remote_incoming_accepted", 1),
                ("remote_values_received", 100),
                ("remote_values_sent", 101),
                ("remote_values_refused", 0),
                ("tunnel_ill_typed_values", 0),
                ("tunnel_count", 1),
            ],
            proxy: Some(Mischief::Flood),
        },
        HostPairRow {
            name: "hosts-ipc-tampered",
            about: "the programs' session through a host process that replays, bit-flips \
                and forges MinimaLT packets both ways: every bad packet is dropped and \
                counted by the host it reached, and all 101 requests come back byte-exact",
            run: ACROSS_ECHO,
            heap_growth_at_most: None,
            hosts: [NATIVE_HOST, NATIVE_HOST],
            client_metrics: &[
                ("remote_connections_accepted", 1),
                ("remote_values_received", 101),
                ("remote_values_lost", 0),
            ],
            server_metrics: &[
                ("remote_incoming_accepted", 1),
                ("remote_values_received", 100),
                ("remote_values_refused", 0),
            ],
            proxy: Some(Mischief::Tamper),
        },
    ];
    // The same sessions with one or both hosts on NetBSD's stack in the rump kernel:
    // each the row it repeats, with its own name, words and hosts.
    let rump = [
        rump_variant(
            &native,
            "hosts-tunnel-echo",
            "hosts-tunnel-echo-rump",
            "hosts-tunnel-echo with host 2's end of the kernel test on NetBSD's UDP in the \
                rump kernel: host 2's kernel authenticates alice, and 101 typed requests \
                come back byte-exact across a rekey, with no datagram dropped",
            [NATIVE_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-tunnel-tampered",
            "hosts-tunnel-tampered-rump",
            "hosts-tunnel-tampered with host 2 on NetBSD's UDP in the rump kernel: every \
                replayed, bit-flipped or forged packet is dropped and counted by the host \
                it reached, and all 101 requests come back byte-exact",
            [NATIVE_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-tunnel-soak",
            "hosts-tunnel-soak-rump",
            "hosts-tunnel-soak with host 2 on NetBSD's UDP in the rump kernel: 100,000 \
                typed requests, 256 in flight, every reply checked, and neither heap grows \
                from the first thousand to the end",
            [NATIVE_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-tunnel-reuse",
            "hosts-tunnel-reuse-rump",
            "hosts-tunnel-reuse with host 2 on NetBSD's UDP in the rump kernel: the \
                second connection on the tunnel costs one datagram each way and one X25519 \
                operation, counted at host 1's socket and on the wire",
            [NATIVE_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-tunnel-flood",
            "hosts-tunnel-flood-rump",
            "hosts-tunnel-flood with host 2 on NetBSD's UDP in the rump kernel: host 2 asks \
                for puzzles, drops or refuses and counts every bad packet, holds alice's \
                tunnel only, answers all 401 requests and its heap does not grow",
            [NATIVE_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-ipc-echo",
            "hosts-ipc-echo-rump",
            "the programs of hosts-ipc-echo with host 2's MinimaLT service on NetBSD's \
                UDP in the rump kernel (vioif on legacy virtio-net PCI) and host 1's on the \
                native stack: 101 typed requests come back byte-exact across the two stacks",
            [NATIVE_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-ipc-echo",
            "hosts-ipc-echo-rump-both",
            "the programs of hosts-ipc-echo with both hosts' MinimaLT services on \
                NetBSD's UDP in their rump kernels: 101 typed requests come back byte-exact",
            [RUMP_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-ipc-soak",
            "hosts-ipc-soak-rump",
            "hosts-ipc-soak with host 2 on NetBSD's UDP in the rump kernel: 100,000 \
                typed requests and their replies through NetBSD's stack, every reply \
                checked; neither kernel heap grows from its first sample to its last",
            [NATIVE_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-ipc-modified-peer",
            "hosts-ipc-modified-peer-rump",
            "hosts-ipc-modified-peer with host 2 on NetBSD's UDP in the rump kernel: \
                its kernel drops and counts the ten ill-typed values the modified host 1 \
                sends, and the program answers the eleven well-typed requests only",
            [NATIVE_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-ipc-flood",
            "hosts-ipc-flood-rump",
            "hosts-ipc-flood with host 2 on NetBSD's UDP in the rump kernel: the flood \
                goes through NetBSD's stack to the same MinimaLT service, which asks for \
                puzzles, drops or refuses and counts every bad packet, holds no tunnel but \
                alice's, and answers all 101 requests byte-exact",
            [NATIVE_HOST, RUMP_HOST],
        ),
        rump_variant(
            &native,
            "hosts-ipc-tampered",
            "hosts-ipc-tampered-rump",
            "hosts-ipc-tampered with host 2 on NetBSD's UDP in the rump kernel: every \
                bad packet is dropped and counted by the host it reached, and all 101 \
                requests come back byte-exact",
            [NATIVE_HOST, RUMP_HOST],
        ),
    ];
    native.into_iter().chain(rump).collect()
}

/// The row `of` with another name and description, on `hosts`.
fn rump_variant(
    rows: &[HostPairRow],
    of: &str,
    name: &'static str,
    about: &'static str,
    hosts: [HostMachine; 2],
) -> HostPairRow {
    let row = rows
        .iter()
        .find(|row| row.name == of)
        .expect("the row a rump variant repeats is in the table");
    HostPairRow {
        name,
        about,
        hosts,
        ..row.clone()
    }
}

/// What "flat" allows a kernel heap over the soak: some allocator slack, far less
/// than the soak's values (100 of them take about 1.6 KiB).
pub const HEAP_GROWTH_BOUND: u64 = 16 * 1024;

/// The rows whose name contains `filter` (all without one).
pub fn select(filter: Option<&str>) -> Vec<HostPairRow> {
    all()
        .into_iter()
        .filter(|row| filter.is_none_or(|text| row.name.contains(text)))
        .collect()
}

const TIMEOUT: Duration = Duration::from_secs(180);

/// How long a client host waits at most for a server host on the rump kernel to
/// say its network service is up.
const SERVER_PATIENCE: Duration = Duration::from_secs(120);

impl HostPairRow {
    /// The kernel command line of host `number` (1, the client, or 2, the server).
    pub fn command_line(&self, number: u8) -> String {
        let run = self.run_words(number);
        match self.host(number).backend {
            Backend::Native => run,
            // The classes the service runs on, asked of the rump kernel.
            backend @ Backend::Rump => format!(
                "{run} backend.network={name} backend.datagram={name}",
                name = backend.name()
            ),
        }
    }

    /// Host `number`'s machine (1, the client, or 2, the server).
    pub fn host(&self, number: u8) -> HostMachine {
        self.hosts[usize::from(number != 1)]
    }

    /// Whether a host of the row runs on the rump kernel.
    pub fn asks_for_rump(&self) -> bool {
        self.hosts.iter().any(|host| host.backend == Backend::Rump)
    }

    /// Why the row cannot run with `pair`'s kernels, if it cannot.
    pub fn skip_reason(&self, pair: &HostPair) -> Option<String> {
        self.asks_for_rump()
            .then(|| pair.rump_unavailable.clone())
            .flatten()
    }

    /// What host `number` runs: `test=NAME` or `init=SET`.
    fn run_words(&self, number: u8) -> String {
        match self.run {
            HostPairRun::Test(test) => format!("test={}", test.name()),
            HostPairRun::Sets { client, server } => {
                let set = if number == 1 { client } else { server };
                format!("init={}", set.name)
            }
            HostPairRun::TestAgainstSet { client, server } => {
                if number == 1 {
                    format!("test={}", client.name())
                } else {
                    format!("init={}", server.name)
                }
            }
        }
    }

    fn config(&self, kernel: &Path, number: u8, peer: &str) -> QemuConfig {
        let host = self.host(number);
        let mut config = QemuConfig::pvh(
            kernel,
            &self.command_line(number),
            host.machine,
            Accelerator::Tcg,
        );
        config.extra = vec![
            "-netdev".into(),
            format!("socket,id=n0,{peer}"),
            "-device".into(),
            format!(
                "{},mac={}",
                host.nic,
                ethos_abi::drivers::Mac(ethos_abi::drivers::peer_mac(number))
            ),
        ];
        config
    }

    /// The QEMU commands of both hosts (the port shown as a name).
    pub fn display(&self, pair: &HostPair) -> Vec<String> {
        if self.proxy.is_some() {
            return vec![
                self.config(
                    &pair.server,
                    2,
                    "udp=127.0.0.1:PROXY2,localaddr=127.0.0.1:PORT2",
                )
                .display(),
                self.config(
                    &pair.client,
                    1,
                    "udp=127.0.0.1:PROXY1,localaddr=127.0.0.1:PORT1",
                )
                .display(),
            ];
        }
        vec![
            self.config(&pair.server, 2, "listen=127.0.0.1:PORT")
                .display(),
            self.config(&pair.client, 1, "connect=127.0.0.1:PORT")
                .display(),
        ]
    }

    /// Boots both hosts and judges them.
    pub fn run(&self, pair: &HostPair) -> Outcome {
        if let Some(reason) = self.skip_reason(pair) {
            return Outcome {
                verdict: Verdict::Skipped(reason),
                elapsed: Duration::ZERO,
                log: None,
            };
        }
        if let Some(mischief) = self.proxy {
            return self.run_proxied(pair, mischief);
        }
        let started = Instant::now();
        let Some(port) = free_tcp_port() else {
            return Outcome {
                verdict: Verdict::Failed("no free TCP port".into()),
                elapsed: started.elapsed(),
                log: None,
            };
        };
        let server = self.config(&pair.server, 2, &format!("listen=127.0.0.1:{port}"));
        let client = self.config(&pair.client, 1, &format!("connect=127.0.0.1:{port}"));
        let listening = self.boot_server(server);
        let client = harness::run(&client, TIMEOUT);
        let server = listening.join();
        let verdict = match server {
            Ok(server) => {
                let verdict = both(self.judge(&client, 1), self.judge(&server, 2));
                let log = verdict
                    .is_err()
                    .then(|| keep_logs(pair, self.name, &client, &server))
                    .flatten();
                return Outcome {
                    verdict: verdict.map_or_else(Verdict::Failed, |()| Verdict::Passed),
                    elapsed: started.elapsed(),
                    log,
                };
            }
            Err(_) => Verdict::Failed("the server's QEMU thread was lost".into()),
        };
        Outcome {
            verdict,
            elapsed: started.elapsed(),
            log: None,
        }
    }
}

impl HostPairRow {
    /// Boots the server host on a thread of its own and returns when the client
    /// may boot: once the server's QEMU is up (a listening socket network's must be
    /// before the other connects). A client host asks for the server's record a
    /// few seconds only (MinimaLT's record requests), so where the server takes
    /// longer to serve than the client (NetBSD's stack in the rump kernel boots and
    /// probes its address first), it waits until the server says its service is
    /// up; past the patience the client boots anyway, and the judgement says what
    /// the server did.
    fn boot_server(&self, server: QemuConfig) -> std::thread::JoinHandle<Transcript> {
        let (serving, service_up) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            harness::run_observed(&server, TIMEOUT, |line| {
                if line.contains(ethos_abi::drivers::NETWORK_SERVICE_UP) {
                    let _ = serving.send(());
                }
            })
        });
        std::thread::sleep(Duration::from_millis(1500));
        if self.host(2).backend == Backend::Rump {
            let _ = service_up.recv_timeout(SERVER_PATIENCE);
        }
        thread
    }

    /// Boots both hosts with their NICs on UDP sockets of a [`Tamperer`] between
    /// them, which does `mischief`.
    fn run_proxied(&self, pair: &HostPair, mischief: Mischief) -> Outcome {
        let started = Instant::now();
        let failed = |reason: String| Outcome {
            verdict: Verdict::Failed(reason),
            elapsed: started.elapsed(),
            log: None,
        };
        let tamperer = match Tamperer::start(pair.port, mischief) {
            Ok(tamperer) => tamperer,
            Err(error) => return failed(format!("the tampering proxy: {error}")),
        };
        let [client_side, server_side] = tamperer.guest_options();
        let server = self.config(&pair.server, 2, &server_side);
        let client = self.config(&pair.client, 1, &client_side);
        let serving = self.boot_server(server);
        let client = harness::run(&client, TIMEOUT);
        let Ok(server) = serving.join() else {
            return failed("the server's QEMU thread was lost".into());
        };
        let proxied = tamperer.stop();
        // A proxy's row is judged on both hosts and on what the proxy counted; the
        // logs are kept when it fails.
        let concluded = |verdict: Result<(), String>| Outcome {
            log: verdict
                .is_err()
                .then(|| keep_logs(pair, self.name, &client, &server))
                .flatten(),
            verdict: verdict.map_or_else(Verdict::Failed, |()| Verdict::Passed),
            elapsed: started.elapsed(),
        };
        if mischief == Mischief::Flood {
            let flooded = proxied.flooded;
            println!("     flooder: {}", flooder_summary(&flooded));
            let verdict = both(self.judge(&client, 1), self.judge(&server, 2))
                .and_then(|()| flood_counted(&server, &flooded));
            return concluded(verdict);
        }
        if mischief == Mischief::Watch {
            let wire = proxied.wire;
            println!(
                "     on the wire: to host 1 {} datagrams; to host 2 {} ({} first packets, {} \
                 record requests)",
                wire[0].datagrams,
                wire[1].datagrams,
                wire[1].first_packets,
                wire[1].record_requests,
            );
            let verdict = both(self.judge(&client, 1), self.judge(&server, 2))
                .and_then(|()| wire_counted(&client, &wire));
            return concluded(verdict);
        }
        let injected = proxied.injected;
        println!(
            "     tamperer: to host 1 {} bad packets ({} flipped, {} replayed, {} forged) of {} \
             forwarded; to host 2 {} ({} flipped, {} replayed, {} forged) of {}",
            injected[0].bad(),
            injected[0].flipped,
            injected[0].replayed,
            injected[0].forged,
            injected[0].forwarded,
            injected[1].bad(),
            injected[1].flipped,
            injected[1].replayed,
            injected[1].forged,
            injected[1].forwarded,
        );
        let counted = |transcript: &Transcript, host: &str, sent: &Injected| {
            if sent.bad() == 0 {
                return Err(format!("{host}: the tamperer sent it no bad packet"));
            }
            match transcript.metric("tunnel_datagrams_dropped") {
                Some(dropped) if dropped == sent.bad() => Ok(()),
                Some(dropped) => Err(format!(
                    "{host}: dropped {dropped} datagrams, but {} bad ones were sent to it",
                    sent.bad()
                )),
                None => Err(format!("{host}: no tunnel_datagrams_dropped metric")),
            }
        };
        let verdict = both(self.judge(&client, 1), self.judge(&server, 2))
            .and_then(|()| counted(&client, "host 1 (client)", &injected[0]))
            .and_then(|()| counted(&server, "host 2 (server)", &injected[1]));
        concluded(verdict)
    }
}

impl HostPairRow {
    /// Host `number` (1, the client, or 2, the server) passed the row's test or ran
    /// its init set as expected, reported every metric with its value, and its heap
    /// stayed within the row's bound.
    fn judge(&self, transcript: &Transcript, number: u8) -> Result<(), String> {
        let (host, metrics) = if number == 1 {
            ("host 1 (client)", self.client_metrics)
        } else {
            ("host 2 (server)", self.server_metrics)
        };
        match self.run {
            HostPairRun::Test(test) => judge(transcript, test, metrics, host)?,
            HostPairRun::Sets { client, server } => {
                let set = if number == 1 { client } else { server };
                judge_set(transcript, &set, metrics, host)?;
            }
            HostPairRun::TestAgainstSet { client, server } => {
                if number == 1 {
                    judge(transcript, client, metrics, host)?;
                } else {
                    judge_set(transcript, &server, metrics, host)?;
                }
            }
        }
        let machine = self.host(number);
        devices_served(transcript, machine.backend, machine.serves)
            .map_err(|reason| format!("{host}: {reason}"))?;
        if let Some(bound) = self.heap_growth_at_most {
            match transcript.metric("tunnel_heap_growth") {
                Some(growth) if growth <= bound => {}
                Some(growth) => {
                    return Err(format!(
                        "{host}: the kernel heap grew {growth} bytes, more than {bound}"
                    ));
                }
                None => return Err(format!("{host}: no tunnel_heap_growth metric")),
            }
        }
        Ok(())
    }
}

/// The host passed `test` and reported every metric with its value.
fn judge(
    transcript: &Transcript,
    test: KernelTest,
    metrics: &[(&str, u64)],
    host: &str,
) -> Result<(), String> {
    let expectation = Expectation::Pass { test };
    match harness::judge(transcript, &expectation) {
        Verdict::Passed => {}
        Verdict::Failed(reason) | Verdict::Skipped(reason) => {
            return Err(format!("{host}: {reason}"));
        }
    }
    reported(transcript, metrics, host)
}

/// The host reported every metric with its value.
fn reported(transcript: &Transcript, metrics: &[(&str, u64)], host: &str) -> Result<(), String> {
    for (name, wanted) in metrics {
        match transcript.metric(name) {
            Some(value) if value == *wanted => {}
            Some(value) => return Err(format!("{host}: {name} is {value}, not {wanted}")),
            None => return Err(format!("{host}: no {name} metric")),
        }
    }
    Ok(())
}

/// The host ran `set` to its end: the kernel exited with success, every process
/// ended as the set expects and no other did, its programs printed every expected
/// line, and the host reported every metric with its value.
fn judge_set(
    transcript: &Transcript,
    set: &HostInitSet,
    metrics: &[(&str, u64)],
    host: &str,
) -> Result<(), String> {
    let expectation = Expectation::Ends {
        code: ExitCode::Success,
        check: |_| Ok(()),
    };
    let within = |reason: String| format!("{host}: init={}: {reason}", set.name);
    match harness::judge(transcript, &expectation) {
        Verdict::Passed => {}
        Verdict::Failed(reason) | Verdict::Skipped(reason) => return Err(within(reason)),
    }
    scenarios::ended(transcript, set.ended).map_err(within)?;
    for (user, text) in set.printed {
        scenarios::printed(transcript, user, text).map_err(within)?;
    }
    reported(transcript, metrics, host)
}

/// One line of what the flooder did, for the row's output.
fn flooder_summary(flooded: &Flooded) -> String {
    format!(
        "{} bad packets to host 2 ({} forged first packets, {} of them before it asked \
         for puzzles, {} random, {} replays) and {} record requests, from {} source \
         ports; host 2 sent {} challenges to the flooder \
         and {} to the client ({} waits for challenges unanswered); {} frames forwarded",
        flooded.bad_packets(),
        flooded.first_packets,
        flooded.before_puzzles,
        flooded.random,
        flooded.replayed,
        flooded.record_requests,
        flooded.source_ports,
        flooded.challenges_to_flooder,
        flooded.challenges_to_client,
        flooded.unanswered_waits,
        flooded.forwarded,
    )
}

/// Host 2 asked for puzzles, of the flooder and of the client; it answered every
/// wait of the flooder's with its challenges, so the flood did not outrun it and
/// every datagram reached the service; and it counted what the flooder sent it: it
/// dropped every bad packet and every first packet of the client's it answered
/// with a puzzle, and nothing else, and refused every forged record request.
fn flood_counted(server: &Transcript, flooded: &Flooded) -> Result<(), String> {
    let host = "host 2 (server)";
    if flooded.first_packets == 0 || flooded.replayed == 0 || flooded.record_requests == 0 {
        return Err(format!(
            "the flooder sent too little to judge: {}",
            flooder_summary(flooded)
        ));
    }
    let metric = |name: &str| {
        server
            .metric(name)
            .ok_or_else(|| format!("{host}: no {name} metric"))
    };
    if metric("tunnel_puzzles_switched_on")? == 0 {
        return Err(format!("{host}: never asked for puzzles under the flood"));
    }
    if flooded.challenges_to_flooder == 0 || flooded.challenges_to_client == 0 {
        return Err(format!(
            "{host}: challenged the flooder {} times and the client {}: puzzles did not \
             guard the tunnel's opening",
            flooded.challenges_to_flooder, flooded.challenges_to_client
        ));
    }
    if flooded.unanswered_waits != 0 {
        return Err(format!(
            "{host} left {} of the flooder's waits for challenges unanswered, so some of \
             the flood may not have reached the service",
            flooded.unanswered_waits
        ));
    }
    let dropped = metric("tunnel_datagrams_dropped")?;
    let expected = flooded.bad_packets() + flooded.challenges_to_client;
    if dropped != expected {
        return Err(format!(
            "{host}: dropped {dropped} datagrams, but the flooder sent {} bad ones and host 2 \
             challenged {} of the client's",
            flooded.bad_packets(),
            flooded.challenges_to_client
        ));
    }
    let refused = metric("tunnel_record_requests_refused")?;
    if refused != flooded.record_requests {
        return Err(format!(
            "{host}: refused {refused} record requests, but the flooder sent {}",
            flooded.record_requests
        ));
    }
    Ok(())
}

/// Host 1 (the client) counted at its socket what the wire carried: every datagram
/// each way, the tunnels' first packets and the record requests it sent. Its counts
/// per connection are then counts of what crossed, not the service's own account.
fn wire_counted(client: &Transcript, wire: &[Wire; 2]) -> Result<(), String> {
    let host = "host 1 (client)";
    let checks = [
        (
            "tunnel_socket_datagrams_sent",
            wire[1].datagrams,
            "datagrams to host 2",
        ),
        (
            "tunnel_socket_datagrams_received",
            wire[0].datagrams,
            "datagrams to host 1",
        ),
        (
            "tunnel_socket_first_packets_sent",
            wire[1].first_packets,
            "first packets to host 2",
        ),
        (
            "tunnel_record_requests_sent",
            wire[1].record_requests,
            "record requests to host 2",
        ),
    ];
    for (name, seen, what) in checks {
        match client.metric(name) {
            Some(counted) if counted == seen => {}
            Some(counted) => {
                return Err(format!(
                    "{host}: {name} is {counted}, but the wire carried {seen} {what}"
                ));
            }
            None => return Err(format!("{host}: no {name} metric")),
        }
    }
    Ok(())
}

/// Both judgements passed; else what failed, of both hosts, so that a run where
/// each host went wrong shows both.
fn both(client: Result<(), String>, server: Result<(), String>) -> Result<(), String> {
    match (client, server) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(reason), Ok(())) | (Ok(()), Err(reason)) => Err(reason),
        (Err(client), Err(server)) => Err(format!("{client}; {server}")),
    }
}

/// Writes both serial logs beside each other; returns the client's path.
fn keep_logs(
    pair: &HostPair,
    name: &str,
    client: &Transcript,
    server: &Transcript,
) -> Option<PathBuf> {
    std::fs::create_dir_all(&pair.log_directory).ok()?;
    let mut first = None;
    for (host, transcript) in [("client", client), ("server", server)] {
        let path = pair.log_directory.join(format!("{name}-{host}.log"));
        let text: String = transcript
            .lines
            .iter()
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        std::fs::write(&path, text).ok()?;
        first.get_or_insert(path);
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::RunEnd;

    fn transcript(lines: &[&str]) -> Transcript {
        crate::harness::transcript_of(lines, RunEnd::Kernel(ethos_abi::ExitCode::Success))
    }

    /// The judgement needs the pass, the exit and every metric at its value.
    #[test]
    fn a_host_passes_only_with_its_metrics() {
        let good = transcript(&[
            "@ethos ready boot_ns=1000 tsc_khz=2000000 timer=lapic boot=pvh",
            "@ethos test-begin name=tunnel",
            "@ethos metric name=tunnel_values_echoed value=101 unit=count",
            "@ethos test-pass name=tunnel",
        ]);
        assert_eq!(
            judge(
                &good,
                KernelTest::Tunnel,
                &[("tunnel_values_echoed", 101)],
                "host 1"
            ),
            Ok(())
        );
        assert_eq!(
            judge(
                &good,
                KernelTest::Tunnel,
                &[("tunnel_values_echoed", 100)],
                "host 1"
            ),
            Err("host 1: tunnel_values_echoed is 101, not 100".into())
        );
        assert_eq!(
            judge(&good, KernelTest::Tunnel, &[("tunnel_rekeys", 1)], "host 1"),
            Err("host 1: no tunnel_rekeys metric".into())
        );
        let failed = transcript(&[
            "@ethos ready boot_ns=1000 tsc_khz=2000000 timer=lapic boot=pvh",
            "@ethos test-begin name=tunnel",
            "@ethos test-fail name=tunnel reason=\"no reply\"",
        ]);
        assert!(
            judge(&failed, KernelTest::Tunnel, &[], "host 2")
                .unwrap_err()
                .starts_with("host 2: ")
        );
    }

    /// The server's set of `hosts-ipc-echo`.
    fn echo_server() -> HostInitSet {
        let row = all()
            .into_iter()
            .find(|row| row.name == "hosts-ipc-echo")
            .expect("the row hosts-ipc-echo");
        match row.run {
            HostPairRun::Sets { server, .. } => server,
            HostPairRun::Test(_) | HostPairRun::TestAgainstSet { .. } => {
                panic!("hosts-ipc-echo runs init sets")
            }
        }
    }

    /// An init-set host passes only with the kernel's success, exactly the expected
    /// endings and every expected line.
    #[test]
    fn an_init_set_host_passes_only_as_its_set_expects() {
        let set = echo_server();
        let server = [
            "@ethos ready boot_ns=1000 tsc_khz=2000000 timer=lapic boot=pvh",
            "user bob: across-server: advertised across",
            "user bob: across-server: connection from alice",
            "user bob: across-server: answered 101 requests",
            "@ethos process-end pid=1 user=bob program=across-server how=exit status=0",
        ];
        assert_eq!(judge_set(&transcript(&server), &set, &[], "host 2"), Ok(()));
        // The client's key named by its digits: the server's image did not know it.
        let mut unknown = server;
        unknown[2] = "user bob: across-server: connection from a11ce0a11ce0";
        assert!(judge_set(&transcript(&unknown), &set, &[], "host 2").is_err());
        // The server failed to read.
        let mut failed = server;
        failed[4] = "@ethos process-end pid=1 user=bob program=across-server how=exit status=3";
        assert!(judge_set(&transcript(&failed), &set, &[], "host 2").is_err());
        // Nothing ended: a run with no set at all must not pass.
        let idle = &server[..1];
        assert!(judge_set(&transcript(idle), &set, &[], "host 2").is_err());
        // The kernel did not end the run itself.
        let timed_out =
            crate::harness::transcript_of(&server, RunEnd::TimedOut(Duration::from_secs(180)));
        assert!(judge_set(&timed_out, &set, &[], "host 2").is_err());
        // A metric the row names must be reported, with its value.
        assert!(
            judge_set(
                &transcript(&server),
                &set,
                &[("remote_accepted", 1)],
                "host 2"
            )
            .is_err()
        );
    }

    /// The rump row asks host 2's kernel for NetBSD's stack, boots it on a PCI NIC
    /// the rump kernel's `vioif` binds, accepts host 2 only with rump's device lines,
    /// and is skipped with the reason when the kernels link no rump kernel.
    #[test]
    fn a_rump_host_asks_for_rump_and_is_skipped_without_it() {
        let row = all()
            .into_iter()
            .find(|row| row.name == "hosts-ipc-echo-rump")
            .expect("the row hosts-ipc-echo-rump");
        assert_eq!(row.command_line(1), "init=across-client");
        assert_eq!(
            row.command_line(2),
            "init=across-server backend.network=rump backend.datagram=rump"
        );
        let server = row.config(Path::new("/beta"), 2, "listen=127.0.0.1:PORT");
        let shown = server.display();
        assert!(shown.contains("-M pc "), "{shown}");
        assert!(shown.contains("virtio-net-pci,netdev=n0,disable-modern=on,mac=52:54:00:e7:00:02"));
        let reason = crate::matrix::rump_skip_reason(None);
        let pair = HostPair {
            client: "/alpha".into(),
            server: "/beta".into(),
            port: 7100,
            log_directory: std::env::temp_dir(),
            rump_unavailable: Some(reason.clone()),
        };
        assert_eq!(row.run(&pair).verdict, Verdict::Skipped(reason));
        for native in all().iter().filter(|row| !row.asks_for_rump()) {
            assert_eq!(native.skip_reason(&pair), None, "{}", native.name);
        }
        let ran = |devices: [&'static str; 2]| {
            let mut lines = vec!["@ethos ready boot_ns=1000 tsc_khz=2000000 timer=lapic boot=pvh"];
            lines.extend(devices);
            lines.extend([
                "user bob: across-server: connection from alice",
                "user bob: across-server: answered 101 requests",
                "@ethos process-end pid=1 user=bob program=across-server how=exit status=0",
                "@ethos metric name=remote_incoming_accepted value=1 unit=count",
                "@ethos metric name=remote_values_received value=100 unit=count",
                "@ethos metric name=remote_values_sent value=101 unit=count",
                "@ethos metric name=remote_values_refused value=0 unit=count",
                "@ethos metric name=tunnel_ill_typed_values value=0 unit=count",
                "@ethos metric name=tunnel_datagrams_dropped value=0 unit=count",
            ]);
            transcript(&lines)
        };
        let rump = ran([
            "@ethos device class=network backend=rump driver=vioif0",
            "@ethos device class=datagram backend=rump driver=netinet",
        ]);
        assert_eq!(row.judge(&rump, 2), Ok(()));
        // The same run on the native stack is not this row's.
        let native = ran([
            "@ethos device class=network backend=native driver=virtio-net",
            "@ethos device class=datagram backend=native driver=smoltcp",
        ]);
        assert!(row.judge(&native, 2).is_err());
    }

    /// The flood's judgement holds host 2 to the flooder's counts exactly: one
    /// datagram dropped more or less than sent, a forged record request not refused,
    /// no puzzle, or a wait for challenges unanswered fails it.
    #[test]
    fn a_flooded_host_passes_only_with_the_flooders_counts() {
        let flooded = Flooded {
            first_packets: 560,
            random: 80,
            replayed: 40,
            record_requests: 40,
            challenges_to_flooder: 500,
            challenges_to_client: 1,
            ..Flooded::default()
        };
        let server = |dropped: u64, refused: u64, puzzles: u64| {
            let lines = [
                format!("@ethos metric name=tunnel_datagrams_dropped value={dropped} unit=count"),
                format!(
                    "@ethos metric name=tunnel_record_requests_refused value={refused} unit=count"
                ),
                format!("@ethos metric name=tunnel_puzzles_switched_on value={puzzles} unit=count"),
            ];
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            transcript(&lines)
        };
        assert_eq!(flood_counted(&server(681, 40, 1), &flooded), Ok(()));
        assert!(flood_counted(&server(680, 40, 1), &flooded).is_err());
        assert!(flood_counted(&server(682, 40, 1), &flooded).is_err());
        assert!(flood_counted(&server(681, 39, 1), &flooded).is_err());
        assert!(flood_counted(&server(681, 40, 0), &flooded).is_err());
        let unpaced = Flooded {
            unanswered_waits: 1,
            ..flooded
        };
        assert!(flood_counted(&server(681, 40, 1), &unpaced).is_err());
        let unchallenged = Flooded {
            challenges_to_client: 0,
            ..flooded
        };
        assert!(flood_counted(&server(680, 40, 1), &unchallenged).is_err());
    }

    /// Host 1's socket counts must be the wire's, each way.
    #[test]
    fn a_watched_host_passes_only_with_the_wires_counts() {
        let client = |sent: u64| {
            let lines = [
                format!("@ethos metric name=tunnel_socket_datagrams_sent value={sent} unit=count"),
                "@ethos metric name=tunnel_socket_datagrams_received value=9 unit=count".into(),
                "@ethos metric name=tunnel_socket_first_packets_sent value=1 unit=count".into(),
                "@ethos metric name=tunnel_record_requests_sent value=1 unit=count".into(),
            ];
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            transcript(&lines)
        };
        let wire = [
            Wire {
                datagrams: 9,
                ..Wire::default()
            },
            Wire {
                datagrams: 15,
                first_packets: 1,
                record_requests: 1,
            },
        ];
        assert_eq!(wire_counted(&client(15), &wire), Ok(()));
        assert!(wire_counted(&client(14), &wire).is_err());
        let two_tunnels = [
            wire[0],
            Wire {
                first_packets: 2,
                ..wire[1]
            },
        ];
        assert!(wire_counted(&client(15), &two_tunnels).is_err());
    }

    /// Host 1 boots the client's set and host 2 the server's.
    #[test]
    fn each_host_boots_its_own_set() {
        let row = all()
            .into_iter()
            .find(|row| row.name == "hosts-ipc-refused")
            .expect("the row hosts-ipc-refused");
        assert_eq!(row.command_line(1), "init=across-refused");
        assert_eq!(row.command_line(2), "init=across-idle");
        let tunnel = all()
            .into_iter()
            .find(|row| row.name == "hosts-tunnel-echo")
            .expect("the row hosts-tunnel-echo");
        assert_eq!(tunnel.command_line(1), "test=tunnel");
        assert_eq!(tunnel.command_line(2), "test=tunnel");
    }
}
