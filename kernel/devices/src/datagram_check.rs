//! Checks over any [`Datagram`] service, run unchanged on every backend: the socket
//! rules of the class ([`check_socket_rules`]), an echo service that answers every
//! datagram byte for byte until the stop datagram ([`EchoServer`]), and an echo
//! client that sends numbered datagrams and checks every answer ([`EchoClient`]).
//!
//! The echo is judged where the datagrams are checked: by the client (in the matrix,
//! the host; in the host tests, a second stack). None of these may call a datagram
//! delivered that did not come back exactly as sent, nor accept an operation the
//! class says must fail.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

use ethos_abi::drivers::UDP_ECHO_STOP;

use crate::datagram::{Datagram, DatagramError, DatagramSocket, Readiness};

/// Why a datagram check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramCheckError {
    /// A step that must succeed failed.
    Failed {
        step: &'static str,
        error: DatagramError,
    },
    /// A step that must fail succeeded.
    Accepted { step: &'static str },
    /// A step failed, but not with the error the class defines for it.
    WrongError {
        step: &'static str,
        expected: DatagramError,
        found: DatagramError,
    },
    /// A socket's readiness is not what it must be.
    Readiness {
        step: &'static str,
        expected: Readiness,
        found: Readiness,
    },
    /// An answer differs from the datagram sent.
    EchoChanged {
        index: u32,
        sent: usize,
        received: usize,
    },
    /// An answer came from another endpoint than the one the datagram went to.
    EchoFromElsewhere {
        index: u32,
        expected: SocketAddrV4,
        found: SocketAddrV4,
    },
    /// No answer came back in time, resends included.
    NoEcho { index: u32, waited_ms: u64 },
}

impl fmt::Display for DatagramCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatagramCheckError::Failed { step, error } => write!(f, "{step}: {error}"),
            DatagramCheckError::Accepted { step } => {
                write!(f, "{step}: succeeded, but the class says it must fail")
            }
            DatagramCheckError::WrongError {
                step,
                expected,
                found,
            } => write!(f, "{step}: failed with `{found}`, not `{expected}`"),
            DatagramCheckError::Readiness {
                step,
                expected,
                found,
            } => write!(f, "{step}: readiness {found:?}, expected {expected:?}"),
            DatagramCheckError::EchoChanged {
                index,
                sent,
                received,
            } => write!(
                f,
                "the answer to datagram {index} ({sent} bytes) differs from it ({received} bytes)"
            ),
            DatagramCheckError::EchoFromElsewhere {
                index,
                expected,
                found,
            } => write!(
                f,
                "the answer to datagram {index} came from {found}, not {expected}"
            ),
            DatagramCheckError::NoEcho { index, waited_ms } => write!(
                f,
                "no answer to datagram {index} within {waited_ms} ms, resends included"
            ),
        }
    }
}

fn must_fail<T>(
    step: &'static str,
    outcome: Result<T, DatagramError>,
    expected: DatagramError,
) -> Result<(), DatagramCheckError> {
    match outcome {
        Ok(_) => Err(DatagramCheckError::Accepted { step }),
        Err(found) if found == expected => Ok(()),
        Err(found) => Err(DatagramCheckError::WrongError {
            step,
            expected,
            found,
        }),
    }
}

fn must_succeed<T>(
    step: &'static str,
    outcome: Result<T, DatagramError>,
) -> Result<T, DatagramCheckError> {
    outcome.map_err(|error| DatagramCheckError::Failed { step, error })
}

/// The rules every datagram service keeps, checked on `port` (which must be free;
/// it is free again afterwards): port 0 and a port in use are refused; a fresh
/// socket can send and has nothing to receive; unaddressable destinations and
/// datagrams over the limit are refused with their errors; a closed socket is
/// unknown to every operation, and its port can be bound again. Nothing is sent.
pub fn check_socket_rules(
    datagram: &mut dyn Datagram,
    port: u16,
) -> Result<(), DatagramCheckError> {
    must_fail("binding port 0", datagram.bind(0), DatagramError::PortZero)?;
    let socket = must_succeed("binding a free port", datagram.bind(port))?;
    must_fail(
        "binding a port in use",
        datagram.bind(port),
        DatagramError::PortInUse(port),
    )?;
    let fresh = must_succeed(
        "the readiness of a fresh socket",
        datagram.readiness(socket),
    )?;
    let expected = Readiness {
        receive: false,
        send: true,
    };
    if fresh != expected {
        return Err(DatagramCheckError::Readiness {
            step: "a fresh socket",
            expected,
            found: fresh,
        });
    }
    let mut buffer = [0u8; 64];
    if must_succeed(
        "receiving on a fresh socket",
        datagram.receive_from(socket, &mut buffer),
    )?
    .is_some()
    {
        return Err(DatagramCheckError::Accepted {
            step: "receiving on a fresh socket (a datagram came from nowhere)",
        });
    }
    for to in [
        SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 0),
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port),
    ] {
        must_fail(
            "sending to an unaddressable destination",
            datagram.send_to(socket, to, b"nowhere"),
            DatagramError::Unaddressable(to),
        )?;
    }
    let limit = datagram.max_datagram_length();
    let oversized = vec![0x5a; limit + 1];
    must_fail(
        "sending a datagram over the limit",
        datagram.send_to(
            socket,
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), port),
            &oversized,
        ),
        DatagramError::TooLarge {
            length: limit + 1,
            limit,
        },
    )?;
    must_succeed("closing the socket", datagram.close(socket))?;
    let unknown = DatagramError::UnknownSocket(socket);
    must_fail("closing a closed socket", datagram.close(socket), unknown)?;
    must_fail(
        "sending on a closed socket",
        datagram.send_to(
            socket,
            SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), port),
            b"closed",
        ),
        unknown,
    )?;
    must_fail(
        "receiving on a closed socket",
        datagram.receive_from(socket, &mut buffer),
        unknown,
    )?;
    must_fail(
        "the readiness of a closed socket",
        datagram.readiness(socket),
        unknown,
    )?;
    let again = must_succeed("binding a closed socket's port again", datagram.bind(port))?;
    must_succeed("closing the socket again", datagram.close(again))
}

/// What an echo exchange moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EchoSummary {
    /// Datagrams answered (server) or answered correctly (client).
    pub datagrams: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Server: answers dropped because the send queue was full. Client: resends.
    pub dropped: u64,
}

/// Where an echo exchange is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoProgress {
    /// Call again after the next poll.
    Going,
    /// The server received the stop datagram, or the client got every answer.
    Finished(EchoSummary),
}

/// The payload of datagram `index` of an echo exchange, at most `limit` bytes:
/// sizes from one byte to the limit, and bytes that differ between neighbours.
pub fn echo_payload(index: u32, limit: usize) -> Vec<u8> {
    // Never 16 bytes: that is the stop datagram's length.
    const SIZES: [usize; 6] = [1, 17, 64, 512, 1000, usize::MAX];
    let size = SIZES[index as usize % SIZES.len()].min(limit).max(1);
    (0..size)
        .map(|offset| (index as usize * 7 + offset) as u8 ^ (index >> 8) as u8)
        .collect()
}

/// Answers every datagram on a port with the same bytes, to its sender, until the
/// stop datagram ([`UDP_ECHO_STOP`]) arrives.
#[derive(Debug)]
pub struct EchoServer {
    socket: DatagramSocket,
    buffer: Vec<u8>,
    summary: EchoSummary,
}

impl EchoServer {
    /// Binds `port` for the service.
    pub fn bind(datagram: &mut dyn Datagram, port: u16) -> Result<EchoServer, DatagramCheckError> {
        let socket = must_succeed("binding the echo port", datagram.bind(port))?;
        Ok(EchoServer {
            socket,
            buffer: vec![0; datagram.max_datagram_length().max(UDP_ECHO_STOP.len())],
            summary: EchoSummary::default(),
        })
    }

    /// The socket the server answers on.
    pub fn socket(&self) -> DatagramSocket {
        self.socket
    }

    /// Polls, then answers every datagram waiting; `Finished` once the stop datagram
    /// came (the socket stays bound).
    pub fn serve(
        &mut self,
        datagram: &mut dyn Datagram,
        now_ms: u64,
    ) -> Result<EchoProgress, DatagramCheckError> {
        datagram.poll(now_ms);
        loop {
            let (length, from) = match datagram.receive_from(self.socket, &mut self.buffer) {
                Ok(Some(received)) => received,
                Ok(None) => return Ok(EchoProgress::Going),
                // Longer than any datagram the service sends (a reassembled one):
                // take it whole all the same.
                Err(DatagramError::BufferTooSmall { length, capacity }) if length > capacity => {
                    self.buffer.resize(length, 0);
                    continue;
                }
                Err(error) => {
                    return Err(DatagramCheckError::Failed {
                        step: "receiving a datagram to answer",
                        error,
                    });
                }
            };
            let data = &self.buffer[..length];
            if data == UDP_ECHO_STOP {
                datagram.poll(now_ms);
                return Ok(EchoProgress::Finished(self.summary));
            }
            match datagram.send_to(self.socket, from, data) {
                Ok(()) => {
                    self.summary.datagrams += 1;
                    self.summary.bytes += length as u64;
                }
                // A full queue drops the answer, as a busy host would; the sender
                // sees the loss and resends.
                Err(DatagramError::QueueFull) => self.summary.dropped += 1,
                Err(error) => {
                    return Err(DatagramCheckError::Failed {
                        step: "answering a datagram",
                        error,
                    });
                }
            }
            datagram.poll(now_ms);
        }
    }
}

/// Sends [`echo_payload`]s to an echo server one at a time, each resent until its
/// exact answer returns, and fails on any answer that differs.
#[derive(Debug)]
pub struct EchoClient {
    socket: DatagramSocket,
    peer: SocketAddrV4,
    count: u32,
    limit: usize,
    /// The datagram awaiting its answer.
    next: u32,
    /// When it was first sent, and last sent.
    first_sent: Option<u64>,
    last_sent: Option<u64>,
    buffer: Vec<u8>,
    summary: EchoSummary,
}

impl EchoClient {
    /// How long an answer may take before the datagram is sent again.
    pub const RESEND_MS: u64 = 200;
    /// How long one datagram may go unanswered, resends included.
    pub const GIVE_UP_MS: u64 = 5_000;

    /// Binds `port` and aims `count` datagrams at `peer`.
    pub fn bind(
        datagram: &mut dyn Datagram,
        port: u16,
        peer: SocketAddrV4,
        count: u32,
    ) -> Result<EchoClient, DatagramCheckError> {
        let socket = must_succeed("binding the client port", datagram.bind(port))?;
        let limit = datagram.max_datagram_length();
        Ok(EchoClient {
            socket,
            peer,
            count,
            limit,
            next: 0,
            first_sent: None,
            last_sent: None,
            buffer: vec![0; limit],
            summary: EchoSummary::default(),
        })
    }

    /// Polls, checks every answer that came, and sends (or resends) the datagram
    /// awaiting one; `Finished` once every datagram came back exactly.
    pub fn step(
        &mut self,
        datagram: &mut dyn Datagram,
        now_ms: u64,
    ) -> Result<EchoProgress, DatagramCheckError> {
        datagram.poll(now_ms);
        self.take_answers(datagram)?;
        if self.next == self.count {
            return Ok(EchoProgress::Finished(self.summary));
        }
        let first = *self.first_sent.get_or_insert(now_ms);
        if now_ms.saturating_sub(first) > Self::GIVE_UP_MS {
            return Err(DatagramCheckError::NoEcho {
                index: self.next,
                waited_ms: now_ms - first,
            });
        }
        let due = self
            .last_sent
            .is_none_or(|at| now_ms.saturating_sub(at) >= Self::RESEND_MS);
        if due {
            let payload = echo_payload(self.next, self.limit);
            match datagram.send_to(self.socket, self.peer, &payload) {
                Ok(()) => {
                    if self.last_sent.is_some() {
                        self.summary.dropped += 1;
                    }
                    self.last_sent = Some(now_ms);
                }
                Err(DatagramError::QueueFull) => {}
                Err(error) => {
                    return Err(DatagramCheckError::Failed {
                        step: "sending a datagram to the echo server",
                        error,
                    });
                }
            }
            datagram.poll(now_ms);
        }
        Ok(EchoProgress::Going)
    }

    fn take_answers(&mut self, datagram: &mut dyn Datagram) -> Result<(), DatagramCheckError> {
        loop {
            let (length, from) = match datagram.receive_from(self.socket, &mut self.buffer) {
                Ok(Some(received)) => received,
                Ok(None) => return Ok(()),
                Err(error) => {
                    return Err(DatagramCheckError::Failed {
                        step: "receiving an answer",
                        error,
                    });
                }
            };
            if from != self.peer {
                return Err(DatagramCheckError::EchoFromElsewhere {
                    index: self.next,
                    expected: self.peer,
                    found: from,
                });
            }
            let answer = &self.buffer[..length];
            if self.next < self.count && answer == echo_payload(self.next, self.limit) {
                self.summary.datagrams += 1;
                self.summary.bytes += length as u64;
                self.next += 1;
                self.first_sent = None;
                self.last_sent = None;
                continue;
            }
            // A late answer to a resent datagram that was answered already.
            let late = (self.next.saturating_sub(4)..self.next)
                .any(|earlier| answer == echo_payload(earlier, self.limit));
            if !late {
                return Err(DatagramCheckError::EchoChanged {
                    index: self.next,
                    sent: echo_payload(self.next, self.limit).len(),
                    received: length,
                });
            }
        }
    }

    /// Sends the stop datagram three times (UDP may lose one).
    pub fn stop(
        &mut self,
        datagram: &mut dyn Datagram,
        now_ms: u64,
    ) -> Result<(), DatagramCheckError> {
        for _ in 0..3 {
            must_succeed(
                "sending the stop datagram",
                datagram.send_to(self.socket, self.peer, UDP_ECHO_STOP),
            )?;
            datagram.poll(now_ms);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
