//! Reliable, ordered delivery of a tunnel's boxes: sequence numbers, acknowledgements
//! (cumulative plus a 64-packet selective bitmap) and retransmission on the caller's timer.
//!
//! The sender keeps at most [`SEND_WINDOW`] unacknowledged packets; the receiver buffers at
//! most [`SEND_WINDOW`] packets that arrive ahead of a gap, so a peer cannot make it hold
//! more. A retransmission is a new packet (new nonce) with the same sequence number.
//! This module never touches keys or bytes on the wire.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use crate::frame::ReliabilityHeader;
use crate::time::Time;

/// Most unacknowledged packets in flight, and most packets buffered ahead of a gap.
pub const SEND_WINDOW: u64 = 64;
/// Retransmission timeout before any round trip was measured.
pub const INITIAL_RETRANSMISSION_TIMEOUT_MILLISECONDS: u64 = 250;
const MIN_RETRANSMISSION_TIMEOUT_MILLISECONDS: u64 = 20;
const MAX_RETRANSMISSION_TIMEOUT_MILLISECONDS: u64 = 4_000;
const MAX_BACKOFF: u32 = 5;
/// Longest a received packet waits for its acknowledgement to ride on other traffic.
pub const ACK_DELAY_MILLISECONDS: u64 = 10;
const PACKETS_PER_ACK: u32 = 8;

#[cfg_attr(fuzzing, derive(Clone, PartialEq, Hash))]
struct SentPacket {
    sequence: u64,
    body: Vec<u8>,
    sent_at: Time,
    retransmitted: bool,
    due: bool,
}

// Bodies are plaintext: debug output shows their length, never their bytes.
impl core::fmt::Debug for SentPacket {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("SentPacket")
            .field("sequence", &self.sequence)
            .field("body_length", &self.body.len())
            .field("sent_at", &self.sent_at)
            .field("retransmitted", &self.retransmitted)
            .field("due", &self.due)
            .finish()
    }
}

/// What to do with a received packet, decided before any state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Sequence 0: acknowledgements only.
    AcknowledgementOnly,
    /// Next in order: deliver now.
    InOrder,
    /// Ahead of a gap but within the window: keep until the gap fills.
    Ahead,
    /// Already delivered or already buffered.
    Duplicate,
}

/// The packet is further ahead than the window allows; an honest peer never sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BeyondWindow;

#[cfg_attr(fuzzing, derive(Clone, PartialEq, Hash))]
pub(crate) struct Reliability {
    next_sequence: u64,
    /// Sent packets not yet acknowledged, by increasing sequence.
    unacknowledged: VecDeque<SentPacket>,
    /// How many of them are due for retransmission, so that a poll with none due looks
    /// at no packet.
    packets_due: usize,
    smoothed_round_trip: Option<u64>,
    backoff: u32,
    delivered: u64,
    ahead: BTreeMap<u64, Vec<u8>>,
    /// Which packets `ahead` holds, as the selective acknowledgement says it: bit `i` is
    /// sequence `delivered + 2 + i`. Kept as packets arrive and are delivered, so a header
    /// does not walk `ahead`.
    selective: u64,
    ack_pending: bool,
    ack_eager: bool,
    packets_since_ack: u32,
    ack_deadline: Option<Time>,
}

impl core::fmt::Debug for Reliability {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ahead: Vec<(u64, usize)> = self.ahead.iter().map(|(s, f)| (*s, f.len())).collect();
        formatter
            .debug_struct("Reliability")
            .field("next_sequence", &self.next_sequence)
            .field("unacknowledged", &self.unacknowledged)
            .field("smoothed_round_trip", &self.smoothed_round_trip)
            .field("backoff", &self.backoff)
            .field("delivered", &self.delivered)
            .field("ahead_lengths", &ahead)
            .field("ack_pending", &self.ack_pending)
            .field("ack_eager", &self.ack_eager)
            .field("packets_since_ack", &self.packets_since_ack)
            .field("ack_deadline", &self.ack_deadline)
            .finish()
    }
}

impl Reliability {
    pub(crate) fn new() -> Self {
        Self {
            next_sequence: 1,
            unacknowledged: VecDeque::new(),
            packets_due: 0,
            smoothed_round_trip: None,
            backoff: 0,
            delivered: 0,
            ahead: BTreeMap::new(),
            selective: 0,
            ack_pending: false,
            ack_eager: false,
            packets_since_ack: 0,
            ack_deadline: None,
        }
    }

    fn retransmission_timeout(&self) -> u64 {
        let base = match self.smoothed_round_trip {
            Some(round_trip) => (round_trip * 2).clamp(
                MIN_RETRANSMISSION_TIMEOUT_MILLISECONDS,
                MAX_RETRANSMISSION_TIMEOUT_MILLISECONDS,
            ),
            None => INITIAL_RETRANSMISSION_TIMEOUT_MILLISECONDS,
        };
        (base << self.backoff).min(MAX_RETRANSMISSION_TIMEOUT_MILLISECONDS * 8)
    }

    /// The header every outgoing packet carries; `sequence` 0 for acknowledgement only.
    pub(crate) fn header(&self, sequence: u64) -> ReliabilityHeader {
        ReliabilityHeader {
            sequence,
            acknowledged: self.delivered,
            selective: self.selective,
        }
    }

    /// Whether a new packet may be sent now.
    pub(crate) fn can_send_new(&self) -> bool {
        match self.unacknowledged.front() {
            Some(oldest) => self.next_sequence - oldest.sequence < SEND_WINDOW,
            None => true,
        }
    }

    /// Records a new packet; returns its sequence number.
    pub(crate) fn record_sent(&mut self, now: Time, body: Vec<u8>) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.unacknowledged.push_back(SentPacket {
            sequence,
            body,
            sent_at: now,
            retransmitted: false,
            due: false,
        });
        self.acknowledgement_sent();
        sequence
    }

    /// The body of an unacknowledged packet.
    pub(crate) fn body_of(&self, sequence: u64) -> Option<&[u8]> {
        // A new packet is the last one; an older one is found by bisection, the queue being
        // in sequence order.
        let packet = match self.unacknowledged.back() {
            Some(newest) if newest.sequence == sequence => newest,
            _ => {
                let index = self
                    .unacknowledged
                    .binary_search_by_key(&sequence, |packet| packet.sequence)
                    .ok()?;
                &self.unacknowledged[index]
            }
        };
        Some(packet.body.as_slice())
    }

    /// The oldest packet due for retransmission, marked as sent again at `now`.
    pub(crate) fn next_retransmission(&mut self, now: Time) -> Option<u64> {
        if self.packets_due == 0 {
            return None;
        }
        let packet = self.unacknowledged.iter_mut().find(|packet| packet.due)?;
        packet.due = false;
        self.packets_due -= 1;
        packet.retransmitted = true;
        packet.sent_at = now;
        self.ack_pending = false;
        self.ack_eager = false;
        self.packets_since_ack = 0;
        self.ack_deadline = None;
        Some(packet.sequence)
    }

    /// Marks every unacknowledged packet for retransmission (a new path or a puzzle).
    pub(crate) fn retransmit_all(&mut self) {
        for packet in &mut self.unacknowledged {
            packet.due = true;
        }
        self.packets_due = self.unacknowledged.len();
    }

    /// Whether an acknowledgement-only packet should go out now.
    pub(crate) fn acknowledgement_due(&self, now: Time) -> bool {
        self.ack_pending
            && (self.ack_eager
                || self.packets_since_ack >= PACKETS_PER_ACK
                || self.ack_deadline.is_some_and(|deadline| now >= deadline))
    }

    pub(crate) fn acknowledgement_sent(&mut self) {
        self.ack_pending = false;
        self.ack_eager = false;
        self.packets_since_ack = 0;
        self.ack_deadline = None;
    }

    /// Classifies a received sequence number without changing anything.
    pub(crate) fn classify(&self, sequence: u64) -> Result<Arrival, BeyondWindow> {
        if sequence == 0 {
            Ok(Arrival::AcknowledgementOnly)
        } else if sequence <= self.delivered || self.ahead.contains_key(&sequence) {
            Ok(Arrival::Duplicate)
        } else if sequence == self.delivered + 1 {
            Ok(Arrival::InOrder)
        } else if sequence - self.delivered <= SEND_WINDOW {
            Ok(Arrival::Ahead)
        } else {
            Err(BeyondWindow)
        }
    }

    /// Notes a received reliable packet for acknowledgement.
    pub(crate) fn note_received(&mut self, now: Time, arrival: Arrival) {
        if arrival == Arrival::AcknowledgementOnly {
            return;
        }
        self.ack_pending = true;
        self.packets_since_ack += 1;
        if arrival != Arrival::InOrder || !self.ahead.is_empty() {
            self.ack_eager = true;
        }
        if self.ack_deadline.is_none() {
            self.ack_deadline = Some(now.plus_milliseconds(ACK_DELAY_MILLISECONDS));
        }
    }

    pub(crate) fn mark_delivered(&mut self, sequence: u64) {
        debug_assert_eq!(sequence, self.delivered + 1);
        self.delivered = sequence;
        // Every bit now names the sequence one lower; the next in order leaves the bitmap.
        self.selective >>= 1;
    }

    /// Keeps a packet that arrived ahead of a gap: [`Reliability::classify`] said
    /// [`Arrival::Ahead`], so it lies within the window, after the next in order.
    pub(crate) fn store_ahead(&mut self, sequence: u64, frames: Vec<u8>) {
        self.selective |= 1 << (sequence - self.delivered - 2);
        self.ahead.insert(sequence, frames);
    }

    /// The buffered packet that is now next in order, if any.
    pub(crate) fn take_next_in_order(&mut self) -> Option<(u64, Vec<u8>)> {
        let next = self.delivered + 1;
        self.ahead.remove(&next).map(|frames| (next, frames))
    }

    /// Drops every packet the peer acknowledged.
    pub(crate) fn on_acknowledgement(&mut self, now: Time, header: &ReliabilityHeader) {
        let acknowledged = |sequence: u64| {
            sequence <= header.acknowledged
                || (sequence >= header.acknowledged + 2
                    && sequence - header.acknowledged - 2 < 64
                    && header.selective >> (sequence - header.acknowledged - 2) & 1 == 1)
        };
        let mut progressed = false;
        let mut sample = None;
        let mut packets_due = self.packets_due;
        self.unacknowledged.retain(|packet| {
            if acknowledged(packet.sequence) {
                progressed = true;
                packets_due -= usize::from(packet.due);
                if !packet.retransmitted {
                    sample = Some(now.milliseconds_since(packet.sent_at));
                }
                false
            } else {
                true
            }
        });
        self.packets_due = packets_due;
        if let Some(round_trip) = sample {
            self.smoothed_round_trip = Some(match self.smoothed_round_trip {
                Some(smoothed) => (smoothed * 7 + round_trip) / 8,
                None => round_trip,
            });
        }
        if progressed {
            self.backoff = 0;
        }
    }

    /// When the caller should call back: the earliest retransmission or delayed ack.
    /// Whether nothing is in flight and no acknowledgement is owed.
    pub(crate) fn is_settled(&self) -> bool {
        self.unacknowledged.is_empty() && !self.ack_pending
    }

    pub(crate) fn next_timeout(&self) -> Option<Time> {
        let retransmission = self
            .unacknowledged
            .iter()
            .filter(|packet| !packet.due)
            .map(|packet| packet.sent_at)
            .min()
            .map(|sent| sent.plus_milliseconds(self.retransmission_timeout()));
        let ack = if self.ack_pending {
            self.ack_deadline
        } else {
            None
        };
        match (retransmission, ack) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Marks for retransmission every packet whose timer expired.
    pub(crate) fn on_timeout(&mut self, now: Time) {
        let timeout = self.retransmission_timeout();
        let mut expired = false;
        for packet in &mut self.unacknowledged {
            if !packet.due && now >= packet.sent_at.plus_milliseconds(timeout) {
                packet.due = true;
                self.packets_due += 1;
                expired = true;
            }
        }
        if expired {
            self.backoff = (self.backoff + 1).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_packets_leave_and_lost_ones_come_back() {
        let mut sender = Reliability::new();
        let start = Time::from_milliseconds(0);
        for index in 0..3u8 {
            sender.record_sent(start, alloc::vec![index]);
        }
        let header = ReliabilityHeader {
            sequence: 0,
            acknowledged: 1,
            selective: 1,
        };
        sender.on_acknowledgement(Time::from_milliseconds(5), &header);
        assert_eq!(sender.unacknowledged.len(), 1, "2 is lost, 1 and 3 arrived");
        assert!(
            sender
                .next_retransmission(Time::from_milliseconds(5))
                .is_none()
        );
        let deadline = sender.next_timeout().expect("a timer runs");
        sender.on_timeout(deadline);
        let sequence = sender.next_retransmission(deadline).expect("due");
        assert_eq!((sequence, sender.body_of(sequence)), (2, Some(&[1u8][..])));
    }

    #[test]
    fn packets_due_are_counted_through_acknowledgements_and_resends() {
        let mut sender = Reliability::new();
        let start = Time::from_milliseconds(0);
        for index in 0..4u8 {
            sender.record_sent(start, alloc::vec![index]);
        }
        sender.retransmit_all();
        // 2 and 3 arrive while due: they are not resent and no longer counted.
        let header = ReliabilityHeader {
            sequence: 0,
            acknowledged: 0,
            selective: 0b11,
        };
        sender.on_acknowledgement(start, &header);
        assert_eq!(sender.packets_due, 2);
        let resent: Vec<u64> = core::iter::from_fn(|| sender.next_retransmission(start)).collect();
        assert_eq!(resent, [1, 4]);
        assert_eq!(sender.packets_due, 0);
        assert_eq!(sender.body_of(4), Some(&[3u8][..]));
        assert_eq!(sender.body_of(1), Some(&[0u8][..]));
        assert_eq!(sender.body_of(2), None, "acknowledged");
    }

    #[test]
    fn receiver_classifies_and_advertises_gaps() {
        let mut receiver = Reliability::new();
        let now = Time::from_milliseconds(0);
        assert_eq!(receiver.classify(1), Ok(Arrival::InOrder));
        assert_eq!(receiver.classify(3), Ok(Arrival::Ahead));
        assert_eq!(receiver.classify(SEND_WINDOW + 1), Err(BeyondWindow));
        receiver.store_ahead(3, alloc::vec![]);
        assert_eq!(receiver.classify(3), Ok(Arrival::Duplicate));
        assert_eq!(receiver.header(0).selective, 1 << 1);
        receiver.mark_delivered(1);
        receiver.note_received(now, Arrival::InOrder);
        assert!(receiver.take_next_in_order().is_none());
        assert_eq!(receiver.header(0).selective, 1);
        receiver.store_ahead(SEND_WINDOW + 1, alloc::vec![]);
        assert_eq!(receiver.header(0).selective, 1 | 1 << (SEND_WINDOW - 2));
        receiver.mark_delivered(2);
        assert_eq!(receiver.take_next_in_order(), Some((3, alloc::vec![])));
        receiver.mark_delivered(3);
        assert_eq!(receiver.header(0).selective, 1 << (SEND_WINDOW - 4));
    }
}
