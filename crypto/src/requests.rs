//! What the application asks of an endpoint about connections: open (with or without
//! user authentication), accept, refuse, send, close; and a summary of the state.
//!
//! These calls only queue frames; packets leave through `poll_transmit`. This module
//! must never block or send on its own.

use alloc::vec::Vec;

use crate::connection::{CONNECTION_SEND_BUFFER, Connection, ConnectionState};
use crate::endpoint::{ConnectionHandle, Endpoint, EndpointError, TunnelHandle};
use crate::frame::{Frame, MAX_SERVICE_NAME, TypeHash, UserClaim};
use crate::keys::{Authenticator, SecretKey};
use crate::tunnel::Tunnel;

/// Largest first value sent with a connection request, so the request fits one packet.
pub const MAX_FIRST_VALUE: usize = 1024;

/// A comparable digest of an endpoint's protocol state, for tests and monitoring: two
/// equal summaries mean no datagram changed anything that matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSummary {
    /// Per tunnel: id, next nonce, receive-window text, reliability text, connections.
    pub tunnels: Vec<TunnelSummary>,
    /// Events waiting.
    pub pending_events: usize,
    /// Stateless datagrams waiting.
    pub pending_stateless: usize,
}

/// One tunnel's part of an [`EndpointSummary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSummary {
    /// The tunnel's handle.
    pub handle: TunnelHandle,
    /// Its current id.
    pub tunnel_id: u64,
    /// The nonce its next packet will use.
    pub next_nonce: u64,
    /// The peer's nonces accepted so far, as text.
    pub receive_nonces: alloc::string::String,
    /// Its reliability state, as text.
    pub reliability: alloc::string::String,
    /// Its connections, as text.
    pub connections: alloc::string::String,
    /// Queued control frames.
    pub control_frames: usize,
}

impl Endpoint {
    fn tunnel_mut(&mut self, handle: TunnelHandle) -> Result<&mut Tunnel, EndpointError> {
        self.tunnels
            .get_mut(&handle)
            .ok_or(EndpointError::UnknownTunnel)
    }

    /// Opens a connection to `service` on an existing tunnel. It costs no round trip: the
    /// request, its first value and any data sent at once leave in the next packets. With
    /// `user`, the request carries that user's key and an authenticator for this tunnel.
    pub fn open_connection(
        &mut self,
        tunnel: TunnelHandle,
        service: &[u8],
        type_hash: TypeHash,
        first_value: &[u8],
        user: Option<&SecretKey>,
    ) -> Result<ConnectionHandle, EndpointError> {
        if service.len() > MAX_SERVICE_NAME {
            return Err(EndpointError::ServiceNameTooLong);
        }
        if first_value.len() > MAX_FIRST_VALUE {
            return Err(EndpointError::FirstValueTooLarge);
        }
        let max_connections = self.config.max_connections_per_tunnel;
        let mut x25519_operations = 0;
        let state = self.tunnel_mut(tunnel)?;
        if state.connections.len() >= max_connections {
            return Err(EndpointError::TooManyConnections);
        }
        let claim = match user {
            None => None,
            Some(user) => {
                let server = state
                    .peer_host
                    .ok_or(EndpointError::UserAuthenticationUnavailable)?;
                x25519_operations += 1;
                let authenticator = Authenticator::create(user, &server, &state.binding)
                    .map_err(|_| EndpointError::WeakKey)?;
                Some(UserClaim {
                    user: user.public_key(),
                    authenticator,
                })
            }
        };
        let id = state
            .allocate_connection_id()
            .ok_or(EndpointError::TooManyConnections)?;
        state
            .connections
            .insert(id, Connection::new(ConnectionState::Opening));
        state.queue_control(
            Frame::Create {
                connection: id,
                service,
                type_hash,
                user: claim,
                first_value,
            },
            Some(id),
        );
        self.statistics.x25519_operations += x25519_operations;
        Ok(ConnectionHandle { tunnel, id })
    }

    /// Accepts a connection the peer asked for.
    pub fn accept(&mut self, connection: ConnectionHandle) -> Result<(), EndpointError> {
        let tunnel = self.tunnel_mut(connection.tunnel)?;
        tunnel
            .connections
            .update(connection.id, |state| {
                if state.state != ConnectionState::AwaitingAccept {
                    return Err(EndpointError::NotAwaitingAnswer);
                }
                state.state = ConnectionState::Open;
                Ok(())
            })
            .unwrap_or(Err(EndpointError::UnknownConnection))?;
        tunnel.queue_control(
            Frame::Accept {
                connection: connection.id,
            },
            Some(connection.id),
        );
        Ok(())
    }

    /// Refuses a connection the peer asked for.
    pub fn refuse(&mut self, connection: ConnectionHandle) -> Result<(), EndpointError> {
        let tunnel = self.tunnel_mut(connection.tunnel)?;
        let state = tunnel
            .connections
            .get(connection.id)
            .ok_or(EndpointError::UnknownConnection)?;
        if state.state != ConnectionState::AwaitingAccept {
            return Err(EndpointError::NotAwaitingAnswer);
        }
        tunnel.connections.remove(connection.id);
        tunnel.queue_control(
            Frame::Refuse {
                connection: connection.id,
            },
            None,
        );
        Ok(())
    }

    /// Queues bytes on a connection; returns how many were taken (fewer when its send
    /// buffer is full).
    pub fn send(
        &mut self,
        connection: ConnectionHandle,
        bytes: &[u8],
    ) -> Result<usize, EndpointError> {
        let tunnel = self.tunnel_mut(connection.tunnel)?;
        tunnel
            .connections
            .update(connection.id, |state| {
                if state.state == ConnectionState::AwaitingAccept {
                    return Err(EndpointError::NotAccepted);
                }
                if state.close_requested {
                    return Err(EndpointError::UnknownConnection);
                }
                let room = CONNECTION_SEND_BUFFER.saturating_sub(state.send_buffer.len());
                let taken = bytes.len().min(room);
                state.send_buffer.extend(&bytes[..taken]);
                Ok(taken)
            })
            .unwrap_or(Err(EndpointError::UnknownConnection))
    }

    /// Closes a connection once everything queued on it has been sent.
    pub fn close(&mut self, connection: ConnectionHandle) -> Result<(), EndpointError> {
        let tunnel = self.tunnel_mut(connection.tunnel)?;
        tunnel
            .connections
            .update(connection.id, |state| state.close_requested = true)
            .ok_or(EndpointError::UnknownConnection)
    }

    /// A digest of the protocol state (not the counters).
    pub fn summary(&self) -> EndpointSummary {
        use core::fmt::Write;
        let tunnels = self
            .tunnels
            .values()
            .map(|tunnel| {
                let mut connections = alloc::string::String::new();
                for (id, connection) in tunnel.connections.iter() {
                    let _ = write!(connections, "{id}:{connection:?};");
                }
                TunnelSummary {
                    handle: tunnel.handle,
                    tunnel_id: tunnel.tunnel_id,
                    next_nonce: tunnel.next_nonce,
                    receive_nonces: alloc::format!("{:?}", tunnel.receive_nonces),
                    reliability: alloc::format!("{:?}", tunnel.reliability),
                    connections,
                    control_frames: tunnel.control.len(),
                }
            })
            .collect();
        EndpointSummary {
            tunnels,
            pending_events: self.events.len(),
            pending_stateless: self.stateless.len(),
        }
    }
}
