//! The receive side of a direction's nonces: strictly increasing, with a reorder window.
//!
//! A peer's nonces all have one parity and grow by two per packet. A nonce is accepted if
//! it is newer than every accepted nonce, or if it is at most [`REORDER_WINDOW`] packets
//! older than the newest and was never accepted. Anything else is a replay or too old.
//! Checking never changes state: [`NonceWindow::accept`] is called only once the packet
//! has authenticated.

/// How many packets a nonce may trail the newest accepted one and still be accepted.
pub const REORDER_WINDOW: u64 = 64;

/// Accepted nonces of one direction.
#[derive(Debug, Clone)]
#[cfg_attr(fuzzing, derive(PartialEq, Hash))]
pub(crate) struct NonceWindow {
    parity: u64,
    newest: Option<u64>,
    /// Bit `i` set: nonce `newest - 2 * (i + 1)` was accepted.
    older_seen: u64,
}

/// Why a nonce is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceRejection {
    WrongParity,
    Replayed,
    TooOld,
}

impl NonceWindow {
    /// A window for a peer whose nonces are odd (`parity` 1) or even (`parity` 0).
    pub(crate) fn new(parity: u64) -> Self {
        Self {
            parity,
            newest: None,
            older_seen: 0,
        }
    }

    pub(crate) fn check(&self, nonce: u64) -> Result<(), NonceRejection> {
        if nonce % 2 != self.parity || nonce == 0 {
            return Err(NonceRejection::WrongParity);
        }
        let Some(newest) = self.newest else {
            return Ok(());
        };
        if nonce > newest {
            return Ok(());
        }
        if nonce == newest {
            return Err(NonceRejection::Replayed);
        }
        let distance = (newest - nonce) / 2;
        if distance > REORDER_WINDOW {
            return Err(NonceRejection::TooOld);
        }
        if self.older_seen & (1u64 << (distance - 1)) != 0 {
            return Err(NonceRejection::Replayed);
        }
        Ok(())
    }

    /// Records an authenticated nonce that passed [`NonceWindow::check`].
    pub(crate) fn accept(&mut self, nonce: u64) {
        match self.newest {
            None => {
                self.newest = Some(nonce);
                self.older_seen = 0;
            }
            Some(newest) if nonce > newest => {
                let shift = (nonce - newest) / 2;
                self.older_seen = if shift > REORDER_WINDOW {
                    0
                } else {
                    // The old newest becomes bit `shift - 1`.
                    let moved = if shift >= 64 {
                        0
                    } else {
                        self.older_seen << shift
                    };
                    moved | (1u64 << (shift - 1))
                };
                self.newest = Some(nonce);
            }
            Some(newest) => {
                let distance = (newest - nonce) / 2;
                if (1..=REORDER_WINDOW).contains(&distance) {
                    self.older_seen |= 1u64 << (distance - 1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replays_and_old_nonces_are_refused() {
        let mut window = NonceWindow::new(1);
        assert_eq!(window.check(2), Err(NonceRejection::WrongParity));
        window.accept(5);
        assert_eq!(window.check(5), Err(NonceRejection::Replayed));
        assert_eq!(window.check(3), Ok(()));
        window.accept(3);
        assert_eq!(window.check(3), Err(NonceRejection::Replayed));
        window.accept(5 + 2 * 200);
        assert_eq!(window.check(5), Err(NonceRejection::TooOld));
        assert_eq!(window.check(5 + 2 * 199), Ok(()));
    }

    proptest! {
        /// Against a model that remembers every nonce: each nonce is accepted at most
        /// once, and a fresh nonce within the window is never refused.
        #[test]
        fn window_matches_a_model(steps in proptest::collection::vec(0u64..300, 1..200)) {
            let mut window = NonceWindow::new(1);
            let mut accepted = std::collections::BTreeSet::new();
            for step in steps {
                let nonce = step * 2 + 1;
                let newest = accepted.iter().next_back().copied();
                let fresh = !accepted.contains(&nonce);
                let within = newest.is_none_or(|n| nonce > n || (n - nonce) / 2 <= REORDER_WINDOW);
                let verdict = window.check(nonce);
                prop_assert_eq!(verdict.is_ok(), fresh && within, "nonce {}", nonce);
                if verdict.is_ok() {
                    window.accept(nonce);
                    accepted.insert(nonce);
                }
            }
        }
    }
}
