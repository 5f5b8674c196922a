//! Serving and reaching the test services.
//!
//! A server runs each request through the generated `serve_*` dispatch and counts it:
//! answered, or malformed when it does not decode (the kernel checks every request
//! against the service's type, so a malformed request means the kernel let one
//! through). Clients connect with [`connect`], which waits a bounded time for the
//! service to be advertised, since the programs of an init set start in no
//! particular order, or with [`connect_remote`] to a service on another host; a
//! server of one connection gets it with [`accept_one`]. The `Calculator` and
//! `Bouncer` implementations are here too.

use alloc::vec::Vec;

use ethos_abi::Status;
use ethos_compat::results::release_if_grown;
use ethos_compat::typed::ServeInto;
use ethos_compat::{
    Descriptor, advertise, get_time, import_blocking, ipc_blocking, ipc_when_advertised, println,
    read_blocking_into, sleep, write_blocking, write_read_blocking_into,
};

use crate::types::{
    BouncerBounceReply, BouncerServer, BouncerShutdownReply, CalculatorAddReply,
    CalculatorEchoReply, CalculatorServer, CalculatorShutdownReply, Payload,
};

/// How long a client waits for its service to be advertised: 5 s.
pub const CONNECT_PATIENCE_NANOSECONDS: u64 = 5_000_000_000;

/// A connection to the local `service`, trying again every millisecond for
/// [`CONNECT_PATIENCE_NANOSECONDS`] while it is not advertised.
pub fn connect(service: &str) -> Result<Descriptor, Status> {
    ipc_when_advertised(service, CONNECT_PATIENCE_NANOSECONDS)
}

/// Why a server that serves one connection got none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoConnection {
    /// `advertise` failed.
    Advertise(Status),
    /// `import` failed.
    Import(Status),
}

/// The one connection a server imported, and the service it still advertises.
#[derive(Clone, Copy, Debug)]
pub struct Accepted {
    /// The advertised service's descriptor.
    pub listening: Descriptor,
    /// The connection imported from it.
    pub connection: Descriptor,
}

/// Advertises `service` and imports one connection to it, printing, as `program`,
/// `advertised <service>`, then `connection from <user>` or why either failed.
pub fn accept_one(program: &str, service: &str) -> Result<Accepted, NoConnection> {
    let listening = advertise(service).map_err(|status| {
        println!("{program}: advertise {service} failed: {status}");
        NoConnection::Advertise(status)
    })?;
    println!("{program}: advertised {service}");
    let (connection, user) = import_blocking(listening).map_err(|status| {
        println!("{program}: import failed: {status}");
        NoConnection::Import(status)
    })?;
    println!("{program}: connection from {user}");
    Ok(Accepted {
        listening,
        connection,
    })
}

/// How long a client waits for a service on another host to be advertised: 20 s (the
/// server's host boots first, but not by a known margin).
pub const REMOTE_CONNECT_PATIENCE_NANOSECONDS: u64 = 20_000_000_000;
/// How often a client asks again while that service is not advertised: 10 ms.
const REMOTE_CONNECT_RETRY_NANOSECONDS: u64 = 10_000_000;

/// A connection to `service` on `host` with `first_value`, and the `ipc` calls it
/// took: asked again every [`REMOTE_CONNECT_RETRY_NANOSECONDS`] while the service is
/// not advertised there (`NoSuchObject`), for at most
/// [`REMOTE_CONNECT_PATIENCE_NANOSECONDS`]; any other refusal is answered at once.
pub fn connect_remote(
    service: &str,
    host: &str,
    first_value: &[u8],
) -> Result<(Descriptor, u64), Status> {
    let give_up = get_time()?.saturating_add(REMOTE_CONNECT_PATIENCE_NANOSECONDS);
    let mut tries = 1;
    loop {
        match ipc_blocking(service, host, first_value) {
            Err(Status::NoSuchObject) if get_time()? < give_up => {
                tries += 1;
                sleep(REMOTE_CONNECT_RETRY_NANOSECONDS)?;
            }
            answer => return answer.map(|connection| (connection, tries)),
        }
    }
}

/// A server implementation that a `Shutdown` request stops.
pub trait Stoppable {
    /// Whether a `Shutdown` request has been answered.
    fn stop_requested(&self) -> bool;
}

/// A server with the count of requests it answered and of those that did not decode,
/// and the vector it encodes every reply into.
#[derive(Debug, Default)]
pub struct Counted<Server> {
    /// The implementation of the generated server trait.
    pub server: Server,
    /// Requests answered.
    pub answered: u64,
    /// Requests that did not decode; nothing was sent back for them.
    pub malformed: u64,
    /// Kept from one reply to the next, so answering allocates nothing for it.
    reply: Vec<u8>,
}

/// Whether a server goes on after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Read the next request.
    Continue,
    /// A `Shutdown` was answered.
    Stop,
}

impl<Server: Stoppable> Counted<Server> {
    /// Answers `request`, read from `connection`, through the generated `serve`
    /// (a `serve_i_into`).
    pub fn handle(
        &mut self,
        connection: Descriptor,
        request: &[u8],
        serve: ServeInto<Server>,
    ) -> Result<Next, Status> {
        if self.encode_reply(request, serve) {
            let sent = write_blocking(connection, &self.reply);
            release_if_grown(&mut self.reply);
            sent?;
            self.answered += 1;
        }
        Ok(self.next())
    }

    /// Runs `request` through `serve`, its reply into `self.reply`: true when it
    /// decoded, else it is counted as malformed (nothing goes back for it). The
    /// caller counts it answered once its reply went.
    fn encode_reply(&mut self, request: &[u8], serve: ServeInto<Server>) -> bool {
        self.reply.clear();
        let decoded = serve(&mut self.server, request, &mut self.reply).is_ok();
        if !decoded {
            self.malformed += 1;
        }
        decoded
    }

    fn next(&self) -> Next {
        if self.server.stop_requested() {
            Next::Stop
        } else {
            Next::Continue
        }
    }
}

/// Why serving a connection stopped before a `Shutdown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// A `read` failed (`Closed`: the client left).
    Read(Status),
    /// A reply could not be written.
    Reply(Status),
}

/// Serves the requests read from `connection` through the generated `serve` (a
/// `serve_i_into`) until a
/// `Shutdown` has been answered, and answers the counts; a failure is printed as
/// `program`'s. Every request is read into one kept vector, so reading allocates
/// nothing once it has grown.
pub fn serve_until_shutdown<Server: Stoppable + Default>(
    program: &str,
    connection: Descriptor,
    serve: ServeInto<Server>,
) -> Result<Counted<Server>, Interrupted> {
    let mut server = Counted::<Server>::default();
    let mut request = Vec::new();
    let read_failed = |status: Status| {
        println!("{program}: read failed: {status}");
        Interrupted::Read(status)
    };
    read_blocking_into(connection, &mut request).map_err(read_failed)?;
    loop {
        let decoded = server.encode_reply(&request, serve);
        release_if_grown(&mut request);
        let next = server.next();
        if !decoded {
            // Nothing goes back for a request that did not decode.
            read_blocking_into(connection, &mut request).map_err(read_failed)?;
            continue;
        }
        // The last reply goes alone; any other goes, and the next request comes,
        // in one call.
        let sent = match next {
            Next::Stop => write_blocking(connection, &server.reply),
            Next::Continue => write_read_blocking_into(connection, &server.reply, &mut request),
        };
        release_if_grown(&mut server.reply);
        match sent {
            Ok(()) => server.answered += 1,
            // The client left, before or after this reply.
            Err(Status::Closed) if next == Next::Continue => {
                return Err(read_failed(Status::Closed));
            }
            Err(status) => {
                println!("{program}: reply failed: {status}");
                return Err(Interrupted::Reply(status));
            }
        }
        if next == Next::Stop {
            return Ok(server);
        }
    }
}

/// The `Calculator` every calc and desk server runs.
#[derive(Debug, Default)]
pub struct Calculator {
    stopped: bool,
}

impl CalculatorServer for Calculator {
    fn add(&mut self, a: u64, b: u64) -> CalculatorAddReply {
        CalculatorAddReply {
            sum: a.wrapping_add(b),
        }
    }

    fn echo(&mut self, text: alloc::string::String) -> CalculatorEchoReply {
        CalculatorEchoReply { text }
    }

    fn shutdown(&mut self) -> CalculatorShutdownReply {
        self.stopped = true;
        CalculatorShutdownReply {}
    }
}

impl Stoppable for Calculator {
    fn stop_requested(&self) -> bool {
        self.stopped
    }
}

/// The `Bouncer` of the soak and benchmark servers.
#[derive(Debug, Default)]
pub struct Bouncer {
    stopped: bool,
}

impl BouncerServer for Bouncer {
    fn bounce(&mut self, data: Payload) -> BouncerBounceReply {
        BouncerBounceReply { data }
    }

    fn shutdown(&mut self) -> BouncerShutdownReply {
        self.stopped = true;
        BouncerShutdownReply {}
    }
}

impl Stoppable for Bouncer {
    fn stop_requested(&self) -> bool {
        self.stopped
    }
}
