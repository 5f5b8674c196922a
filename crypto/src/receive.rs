//! The endpoint's receive path: which tunnel a datagram belongs to, accepting new
//! tunnels from first packets (behind puzzles when under load), and answering puzzles
//! as a client.
//!
//! Everything here checks first and changes state last: a new tunnel is built aside and
//! inserted only once its first packet authenticated and its frames checked. This module
//! must never create state for a datagram that failed a check.

use core::net::SocketAddr;

use crate::endpoint::{
    DropReason, Endpoint, Event, MAX_PENDING_CHALLENGES, Transmit, TunnelHandle,
};
use crate::keys::Label;
use crate::puzzle::PuzzleChallenge;
use crate::time::Time;
use crate::tunnel::{Role, Tunnel};
use crate::wire::{self, BoxedPacket};

impl Endpoint {
    pub(crate) fn handle_challenge(
        &mut self,
        tunnel_id: u64,
        challenge: &PuzzleChallenge,
    ) -> Result<(), DropReason> {
        let handle = *self
            .tunnel_ids
            .get(&tunnel_id)
            .ok_or(DropReason::UnexpectedChallenge)?;
        let max_difficulty = self.config.max_puzzle_difficulty;
        let tunnel = self
            .tunnels
            .get_mut(&handle)
            .ok_or(DropReason::UnexpectedChallenge)?;
        if tunnel.role != Role::Client || !tunnel.first_phase {
            return Err(DropReason::UnexpectedChallenge);
        }
        let solution = challenge
            .solve(max_difficulty)
            .ok_or(DropReason::UnexpectedChallenge)?;
        tunnel.puzzle_solution = Some(solution);
        tunnel.reliability.retransmit_all();
        Ok(())
    }

    pub(crate) fn handle_boxed(
        &mut self,
        now: Time,
        from: SocketAddr,
        packet: &BoxedPacket<'_>,
    ) -> Result<(), DropReason> {
        let Some(&handle) = self.tunnel_ids.get(&packet.tunnel_id) else {
            return self.accept_first_packet(now, from, packet);
        };
        let max_connections = self.config.max_connections_per_tunnel;
        let tunnel = self
            .tunnels
            .get_mut(&handle)
            .ok_or(DropReason::UnknownTunnel)?;
        let opened = tunnel.open(packet, &self.host)?;
        tunnel.peer_address = from;
        tunnel.deliver(now, opened, max_connections, &mut self.events);
        self.apply_id_changes(handle);
        Ok(())
    }

    fn accept_first_packet(
        &mut self,
        now: Time,
        from: SocketAddr,
        packet: &BoxedPacket<'_>,
    ) -> Result<(), DropReason> {
        let client_ephemeral = packet.client_ephemeral.ok_or(DropReason::UnknownTunnel)?;
        // The first packet of a tunnel torn down as idle, replayed.
        if self.retired_first_ids.contains_key(&packet.tunnel_id) {
            return Err(DropReason::ReplayedNonce);
        }
        if self.tunnels.len() >= self.config.max_tunnels {
            return Err(DropReason::TooManyTunnels);
        }
        if packet.nonce % 2 != 1 {
            return Err(DropReason::WrongNonceParity);
        }
        if let Some(difficulty) = self.puzzle_difficulty {
            match &packet.puzzle_solution {
                None => {
                    if self.stateless.len() < MAX_PENDING_CHALLENGES {
                        let challenge = self.puzzle_key.challenge(
                            now.as_milliseconds(),
                            difficulty,
                            &client_ephemeral,
                        );
                        let mut payload = alloc::vec::Vec::new();
                        wire::write_challenge(&mut payload, packet.tunnel_id, &challenge);
                        self.stateless.push_back(Transmit {
                            destination: from,
                            payload,
                        });
                    }
                    return Err(DropReason::PuzzleIssued);
                }
                Some(solution) => self
                    .puzzle_key
                    .verify(
                        now.as_milliseconds(),
                        difficulty,
                        &client_ephemeral,
                        solution,
                    )
                    .map_err(DropReason::Puzzle)?,
            }
        }
        let handle = TunnelHandle(self.next_handle);
        let mut candidates = [Some(&self.incoming.secret), None];
        candidates[1] = self.previous_incoming.as_ref().map(|key| &key.secret);
        let mut outcome = Err(DropReason::NotAuthentic);
        for incoming in candidates.into_iter().flatten() {
            self.statistics.x25519_operations += 1;
            let Ok(key) = incoming.derive_shared(&client_ephemeral, &Label::TUNNEL_KEY) else {
                outcome = Err(DropReason::WeakKey);
                break;
            };
            let tunnel = Tunnel::new(
                handle,
                Role::Server,
                from,
                packet.tunnel_id,
                key,
                client_ephemeral,
            );
            match tunnel.open(packet, &self.host) {
                Ok(opened) => {
                    outcome = Ok((tunnel, opened));
                    break;
                }
                Err(DropReason::NotAuthentic) => continue,
                Err(other) => {
                    outcome = Err(other);
                    break;
                }
            }
        }
        let (mut tunnel, opened) = outcome?;
        tunnel.last_heard = now;
        self.next_handle += 1;
        self.tunnels.insert(handle, tunnel);
        self.tunnel_ids.insert(packet.tunnel_id, handle);
        self.events
            .push_back(Event::TunnelAccepted { tunnel: handle });
        let max_connections = self.config.max_connections_per_tunnel;
        if let Some(tunnel) = self.tunnels.get_mut(&handle) {
            tunnel.deliver(now, opened, max_connections, &mut self.events);
        }
        self.apply_id_changes(handle);
        Ok(())
    }
}
