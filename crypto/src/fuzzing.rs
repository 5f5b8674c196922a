//! Copies and comparisons of a whole endpoint, for fuzzing builds only (`--cfg fuzzing`):
//! a fuzz target builds an established endpoint once and replays each input on a copy,
//! and checks that a dropped datagram changed nothing by comparing the state itself.
//!
//! A copy holds the same keys and nonces as its original, so both must never send on a
//! network: this module must never be compiled into anything but a fuzzing build.

use alloc::boxed::Box;

use rand_core::CryptoRngCore;

use crate::endpoint::{Endpoint, IncomingKey};

impl Endpoint {
    /// A copy of the whole protocol state drawing on `rng` from now on (a random number
    /// generator cannot be copied).
    pub fn clone_with_rng(&self, rng: Box<dyn CryptoRngCore + Send>) -> Endpoint {
        Endpoint {
            config: self.config.clone(),
            host: self.host.clone(),
            rng,
            incoming: self.incoming.clone(),
            previous_incoming: self.previous_incoming.clone(),
            puzzle_key: self.puzzle_key.clone(),
            puzzle_difficulty: self.puzzle_difficulty,
            tunnels: self.tunnels.clone(),
            tunnel_ids: self.tunnel_ids.clone(),
            by_host: self.by_host.clone(),
            next_handle: self.next_handle,
            last_served_tunnel: self.last_served_tunnel,
            stateless: self.stateless.clone(),
            events: self.events.clone(),
            statistics: self.statistics,
        }
    }
}

fn same_incoming_key(left: &IncomingKey, right: &IncomingKey) -> bool {
    left.secret.public_key() == right.secret.public_key() && left.created == right.created
}

/// Equal protocol state: everything but the random number generator, the counters and the
/// configuration (which nothing changes after construction).
impl PartialEq for Endpoint {
    fn eq(&self, other: &Endpoint) -> bool {
        // Destructured so that a new field cannot be left out of the comparison unnoticed.
        let Endpoint {
            config: _,
            host,
            rng: _,
            incoming,
            previous_incoming,
            puzzle_key,
            puzzle_difficulty,
            tunnels,
            tunnel_ids,
            by_host,
            next_handle,
            last_served_tunnel,
            stateless,
            events,
            statistics: _,
        } = self;
        let previous_equal = match (previous_incoming, &other.previous_incoming) {
            (None, None) => true,
            (Some(left), Some(right)) => same_incoming_key(left, right),
            _ => false,
        };
        host.public_key() == other.host.public_key()
            && same_incoming_key(incoming, &other.incoming)
            && previous_equal
            && *puzzle_key == other.puzzle_key
            && *puzzle_difficulty == other.puzzle_difficulty
            && *tunnels == other.tunnels
            && *tunnel_ids == other.tunnel_ids
            && *by_host == other.by_host
            && *next_handle == other.next_handle
            && *last_served_tunnel == other.last_served_tunnel
            && *stateless == other.stateless
            && *events == other.events
    }
}
