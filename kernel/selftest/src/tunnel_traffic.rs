//! What the `tunnel` tests' loop puts on the wire and takes from it, counted per
//! datagram at the socket: the figures by which `tunnel_reuse` shows that a
//! connection opened on an existing tunnel costs no round trip, where the first
//! connection to a host costs the record request's.
//!
//! The counts come from the bytes that leave and arrive, not from the service's
//! own idea of what it did, so a service that sent a handshake it should not have
//! would show it here. They must never change what the loop sends.

use ethos_core::minimalt::{RECORD_REQUEST, TunnelService};

/// Datagrams through the test's socket, by kind, and when the last one moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Traffic {
    /// Datagrams sent.
    pub(crate) sent: u64,
    /// Datagrams received.
    pub(crate) received: u64,
    /// Of those sent, first packets of a tunnel: the clear header carries the
    /// client's ephemeral key (bit 63 of the tunnel-id word), which only a packet
    /// that makes a tunnel does.
    pub(crate) first_packets_sent: u64,
    /// Of those sent, record requests (tunnel id 0, then [`RECORD_REQUEST`]).
    pub(crate) record_requests_sent: u64,
    /// Milliseconds since boot when a datagram last moved either way.
    pub(crate) last_moved_ms: u64,
}

impl Traffic {
    /// Counts a datagram the loop sends.
    pub(crate) fn on_send(&mut self, payload: &[u8], now_ms: u64) {
        self.sent += 1;
        self.last_moved_ms = now_ms;
        if let Some((word, rest)) = payload.split_first_chunk::<8>() {
            if *word == [0; 8] {
                if rest.starts_with(RECORD_REQUEST) {
                    self.record_requests_sent += 1;
                }
            } else if word[0] & 0x80 != 0 {
                self.first_packets_sent += 1;
            }
        }
    }

    /// Counts a datagram the loop received.
    pub(crate) fn on_receive(&mut self, now_ms: u64) {
        self.received += 1;
        self.last_moved_ms = now_ms;
    }
}

/// What it took one connection to get from `open` to its first reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OpenCost {
    /// The traffic counted when the connection was opened.
    at_open: Traffic,
    /// The key agreements and generations the service had done then.
    key_operations_at_open: u64,
    /// Traffic and key operations between the open and the first reply, once it came.
    pub(crate) to_first_reply: Option<(Traffic, u64)>,
}

impl OpenCost {
    /// Starts counting for a connection opened now.
    pub(crate) fn opened(traffic: &Traffic, tunnels: &TunnelService) -> OpenCost {
        OpenCost {
            at_open: *traffic,
            key_operations_at_open: tunnels.statistics().x25519_operations,
            to_first_reply: None,
        }
    }

    /// The connection's first reply arrived: what moved since the open.
    pub(crate) fn replied(&mut self, traffic: &Traffic, tunnels: &TunnelService) {
        if self.to_first_reply.is_some() {
            return;
        }
        let since = Traffic {
            sent: traffic.sent - self.at_open.sent,
            received: traffic.received - self.at_open.received,
            first_packets_sent: traffic.first_packets_sent - self.at_open.first_packets_sent,
            record_requests_sent: traffic.record_requests_sent - self.at_open.record_requests_sent,
            last_moved_ms: traffic.last_moved_ms,
        };
        let key_operations = tunnels.statistics().x25519_operations - self.key_operations_at_open;
        self.to_first_reply = Some((since, key_operations));
    }
}

/// The metric names of connection 1's and connection 2's costs, in the order
/// [`report`] gives them: datagrams sent, received, first packets of a tunnel,
/// record requests, key operations.
const NAMES: [[&str; 5]; 2] = [
    [
        "tunnel_open_1_datagrams_sent",
        "tunnel_open_1_datagrams_received",
        "tunnel_open_1_first_packets",
        "tunnel_open_1_record_requests",
        "tunnel_open_1_key_operations",
    ],
    [
        "tunnel_open_2_datagrams_sent",
        "tunnel_open_2_datagrams_received",
        "tunnel_open_2_first_packets",
        "tunnel_open_2_record_requests",
        "tunnel_open_2_key_operations",
    ],
];

/// Reports what opening connection `number` (1 or 2) cost, once its reply came.
pub(crate) fn report(number: usize, cost: &OpenCost) {
    let (Some(names), Some((traffic, key_operations))) =
        (NAMES.get(number.wrapping_sub(1)), cost.to_first_reply)
    else {
        return;
    };
    let values = [
        traffic.sent,
        traffic.received,
        traffic.first_packets_sent,
        traffic.record_requests_sent,
        key_operations,
    ];
    for (name, value) in names.iter().zip(values) {
        crate::driver_tests::metric(name, value, "count");
    }
}
