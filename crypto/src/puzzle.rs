//! Stateless puzzles that a server under load asks of clients it does not know.
//!
//! The server derives a secret solution `r` from its puzzle key, the time, the difficulty
//! and the client's ephemeral key, and sends `r` with its low `difficulty` bits cleared
//! together with a hash of `r`. The client tries every value of the cleared bits until the
//! hash matches and returns `r` with the time and difficulty. The server keeps nothing: it
//! derives `r` again and checks the time is fresh. A solution works for one client key
//! only, and only for [`PUZZLE_LIFETIME_MILLISECONDS`].
//!
//! This module must never make the server store anything per challenge.

use alloc::vec::Vec;

use crate::keys::{KEY_LENGTH, Label, PublicKeyBytes, SymmetricKey};

/// How long a challenge's solution is accepted after the server issued it.
pub const PUZZLE_LIFETIME_MILLISECONDS: u64 = 30_000;
/// The largest difficulty (bits to search) the protocol allows.
pub const MAX_DIFFICULTY: u8 = 32;
/// Bytes of an encoded [`PuzzleSolution`].
pub(crate) const SOLUTION_LENGTH: usize = 8 + 1 + KEY_LENGTH;
/// Bytes of an encoded [`PuzzleChallenge`].
pub(crate) const CHALLENGE_LENGTH: usize = 8 + 1 + 2 * KEY_LENGTH;

/// What a server sends in clear to a client it asks to work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PuzzleChallenge {
    pub(crate) issued_at: u64,
    pub(crate) difficulty: u8,
    pub(crate) masked_solution: [u8; KEY_LENGTH],
    pub(crate) solution_hash: [u8; KEY_LENGTH],
}

/// What a client returns with its first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(fuzzing, derive(Hash))]
pub(crate) struct PuzzleSolution {
    pub(crate) issued_at: u64,
    pub(crate) difficulty: u8,
    pub(crate) solution: [u8; KEY_LENGTH],
}

/// Why a puzzle solution is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PuzzleError {
    /// The solution is not the one derived for this client, time and difficulty.
    Wrong,
    /// The challenge was issued too long ago, or claims to come from the future.
    Stale,
    /// The difficulty is lower than the server now requires.
    TooEasy,
}

impl core::fmt::Display for PuzzleError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            PuzzleError::Wrong => "puzzle solution is wrong",
            PuzzleError::Stale => "puzzle solution is stale",
            PuzzleError::TooEasy => "puzzle solution is for a lower difficulty than required",
        })
    }
}

impl PuzzleSolution {
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != SOLUTION_LENGTH {
            return None;
        }
        let mut time = [0u8; 8];
        time.copy_from_slice(&bytes[..8]);
        let mut solution = [0u8; KEY_LENGTH];
        solution.copy_from_slice(&bytes[9..]);
        Some(Self {
            issued_at: u64::from_be_bytes(time),
            difficulty: bytes[8],
            solution,
        })
    }

    pub(crate) fn encode(&self, output: &mut Vec<u8>) {
        output.extend_from_slice(&self.issued_at.to_be_bytes());
        output.push(self.difficulty);
        output.extend_from_slice(&self.solution);
    }
}

impl PuzzleChallenge {
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != CHALLENGE_LENGTH {
            return None;
        }
        let mut time = [0u8; 8];
        time.copy_from_slice(&bytes[..8]);
        let mut masked_solution = [0u8; KEY_LENGTH];
        masked_solution.copy_from_slice(&bytes[9..9 + KEY_LENGTH]);
        let mut solution_hash = [0u8; KEY_LENGTH];
        solution_hash.copy_from_slice(&bytes[9 + KEY_LENGTH..]);
        Some(Self {
            issued_at: u64::from_be_bytes(time),
            difficulty: bytes[8],
            masked_solution,
            solution_hash,
        })
    }

    pub(crate) fn encode(&self, output: &mut Vec<u8>) {
        output.extend_from_slice(&self.issued_at.to_be_bytes());
        output.push(self.difficulty);
        output.extend_from_slice(&self.masked_solution);
        output.extend_from_slice(&self.solution_hash);
    }

    /// Searches the cleared bits; `None` if the difficulty is above `max_difficulty` or no
    /// value matches (the challenge was forged or damaged).
    pub(crate) fn solve(&self, max_difficulty: u8) -> Option<PuzzleSolution> {
        if self.difficulty > max_difficulty.min(MAX_DIFFICULTY) {
            return None;
        }
        let candidates: u64 = 1u64 << self.difficulty;
        for guess in 0..candidates {
            let candidate = with_low_bits(&self.masked_solution, self.difficulty, guess);
            if hash(&candidate) == self.solution_hash {
                return Some(PuzzleSolution {
                    issued_at: self.issued_at,
                    difficulty: self.difficulty,
                    solution: candidate,
                });
            }
        }
        None
    }
}

/// The server's secret for puzzles; it keeps nothing else.
#[derive(Debug)]
#[cfg_attr(fuzzing, derive(Clone, PartialEq, Hash))]
pub(crate) struct PuzzleKey(SymmetricKey);

impl PuzzleKey {
    pub(crate) fn new(bytes: [u8; KEY_LENGTH]) -> Self {
        Self(SymmetricKey::from_bytes(bytes))
    }

    fn solution(
        &self,
        issued_at: u64,
        difficulty: u8,
        client: &PublicKeyBytes,
    ) -> [u8; KEY_LENGTH] {
        let mut context = [0u8; 9];
        context[..8].copy_from_slice(&issued_at.to_be_bytes());
        context[8] = difficulty;
        let per_time = self
            .0
            .derive(&Label::with_context(b"minimalt puz", &context));
        let mut head = [0u8; 24];
        head.copy_from_slice(&client.0[..24]);
        let per_client = per_time.derive(&Label(head));
        per_client.pseudorandom(&Label::with_context(b"minimalt sol", &client.0[24..]))
    }

    pub(crate) fn challenge(
        &self,
        now: u64,
        difficulty: u8,
        client: &PublicKeyBytes,
    ) -> PuzzleChallenge {
        let difficulty = difficulty.min(MAX_DIFFICULTY);
        let solution = self.solution(now, difficulty, client);
        PuzzleChallenge {
            issued_at: now,
            difficulty,
            masked_solution: with_low_bits(&solution, difficulty, 0),
            solution_hash: hash(&solution),
        }
    }

    pub(crate) fn verify(
        &self,
        now: u64,
        required_difficulty: u8,
        client: &PublicKeyBytes,
        offered: &PuzzleSolution,
    ) -> Result<(), PuzzleError> {
        if offered.issued_at > now || now - offered.issued_at > PUZZLE_LIFETIME_MILLISECONDS {
            return Err(PuzzleError::Stale);
        }
        if offered.difficulty < required_difficulty.min(MAX_DIFFICULTY) {
            return Err(PuzzleError::TooEasy);
        }
        let expected =
            SymmetricKey::from_bytes(self.solution(offered.issued_at, offered.difficulty, client));
        // Compare by opening a box, which checks in constant time.
        let mut probe = [0u8; 1];
        let tag = expected.seal(&Label::PUZZLE_HASH.0, &mut probe);
        SymmetricKey::from_bytes(offered.solution)
            .open(&Label::PUZZLE_HASH.0, &mut probe, &tag)
            .map_err(|_| PuzzleError::Wrong)
    }
}

fn hash(value: &[u8; KEY_LENGTH]) -> [u8; KEY_LENGTH] {
    SymmetricKey::from_bytes(*value).pseudorandom(&Label::PUZZLE_HASH)
}

/// `value` with its low `bits` bits (counted from the last byte) replaced by `low`.
fn with_low_bits(value: &[u8; KEY_LENGTH], bits: u8, low: u64) -> [u8; KEY_LENGTH] {
    let mut result = *value;
    for bit in 0..u32::from(bits) {
        let byte = KEY_LENGTH - 1 - (bit / 8) as usize;
        let mask = 1u8 << (bit % 8);
        if low >> bit & 1 == 1 {
            result[byte] |= mask;
        } else {
            result[byte] &= !mask;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solved_challenge_verifies_only_fresh_and_for_its_client() {
        let key = PuzzleKey::new([5u8; KEY_LENGTH]);
        let client = PublicKeyBytes([7u8; KEY_LENGTH]);
        let other = PublicKeyBytes([8u8; KEY_LENGTH]);
        let challenge = key.challenge(1_000, 8, &client);
        let solution = challenge.solve(16).expect("solvable");
        assert_eq!(key.verify(2_000, 8, &client, &solution), Ok(()));
        assert_eq!(
            key.verify(2_000, 8, &other, &solution),
            Err(PuzzleError::Wrong)
        );
        assert_eq!(
            key.verify(2_000, 9, &client, &solution),
            Err(PuzzleError::TooEasy)
        );
        assert_eq!(
            key.verify(
                1_000 + PUZZLE_LIFETIME_MILLISECONDS + 1,
                8,
                &client,
                &solution
            ),
            Err(PuzzleError::Stale)
        );
        let mut wrong = solution;
        wrong.solution[0] ^= 1;
        assert_eq!(
            key.verify(2_000, 8, &client, &wrong),
            Err(PuzzleError::Wrong)
        );
        assert_eq!(challenge.solve(7), None, "above the client's limit");
    }
}
