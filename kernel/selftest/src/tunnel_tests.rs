//! `tunnel`: two hosts of a set (`cargo xtask hosts`) on one socket network talk
//! through the kernel's MinimaLT service (`ethos_core::minimalt`) over whatever
//! backend serves the datagram class.
//!
//! Host 1 (the client) opens the image's `echo` service on the host its directory
//! lists, proving the first user whose key it holds; it sends 100 requests
//! `Say(Text)` of growing length, moves the tunnel to a new key halfway, and checks
//! every reply byte-exact and in order; it also tries one ill-typed request, which
//! its own kernel must refuse. Host 2 (the server) accepts the connection if its
//! image knows the authenticated user, reports that user's name, and answers each
//! request with the same `Say`. Both report what their services counted.
//! `tunnel_soak` sends 100,000 short requests with 256 in flight and reports the
//! kernel heap after the first thousand replies and at the end, on both hosts.
//! `tunnel_modified_peer` makes host 1 a modified kernel against host 2's programs:
//! it opens `across` (served by the `across-server` program there) and sends an
//! ill-typed value before each of its ten requests, skipping its own check; host 2's
//! kernel must drop every one, so its program answers the well-typed ones only.
//! `tunnel_reuse` has host 1 open a second connection on the tunnel its first one
//! made, once the first is closed and the network quiet, and report what each open
//! cost on the wire up to its first reply (`tunnel_traffic`). `tunnel_flood` runs 400
//! short requests, four in flight, while a host process floods host 2 with forged
//! tunnel openings and the like; host 2 reports what it dropped and refused, whether
//! it asked for puzzles, and its heap from the twentieth request to the end.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;

use ethos_abi::Status;
use ethos_abi::drivers::Backend;
use ethos_core::minimalt::{GraphTypes, RemoteConnection, ServiceEvent, TunnelService};
use ethos_crypto::TypeHash;
use ethos_devices::Datagram;
use ethos_platform_x86_64::network::tunnel_now;
use ethos_platform_x86_64::{boot_image, drivers, entropy, memory, rtc};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::driver_tests::{metric, now_ms};
use crate::net_tests;
use crate::tunnel_traffic::{self, OpenCost, Traffic};

/// What one run of the test does.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Requests the client sends after the first.
    values: usize,
    /// Requests the client may have waiting for their replies.
    window: usize,
    /// Whether request `k` carries `k × 7` more bytes than request 0 (else a short
    /// text naming `k`).
    growing: bool,
    /// Whether the tunnel moves to a new key halfway.
    rekey: bool,
    /// How long the test may take.
    limit_ms: u64,
    /// The service the client opens on the other host.
    service: &'static str,
    /// Whether the client acts as a modified kernel: before every request after the
    /// first it sends an ill-typed value, skipping its own check.
    modified: bool,
    /// Whether the client, once its first connection is done and closed and the
    /// network quiet, opens a second on the same tunnel and runs the plan again.
    reuse: bool,
    /// Replies (on the client) and answers (on the server) after which each host
    /// takes its first measure of the kernel heap; the second is at the end.
    heap_mark: usize,
}

impl Plan {
    /// `tunnel`: a typed request and reply at a time, growing, with a rekey.
    pub(crate) const ECHO: Plan = Plan {
        values: 100,
        window: 1,
        growing: true,
        rekey: true,
        limit_ms: 120_000,
        service: "echo",
        modified: false,
        reuse: false,
        heap_mark: HEAP_MARK,
    };
    /// `tunnel_soak`: 100,000 short requests, 256 in flight; the kernel heap is
    /// measured after the first thousand replies and at the end.
    pub(crate) const SOAK: Plan = Plan {
        values: 100_000,
        window: 256,
        growing: false,
        rekey: false,
        limit_ms: 900_000,
        service: "echo",
        modified: false,
        reuse: false,
        heap_mark: HEAP_MARK,
    };
    /// `tunnel_modified_peer`: ten requests to the `across-server` program, each
    /// after an ill-typed value its own kernel would have refused.
    pub(crate) const MODIFIED_PEER: Plan = Plan {
        values: 10,
        window: 1,
        growing: false,
        rekey: false,
        limit_ms: 120_000,
        service: "across",
        modified: true,
        reuse: false,
        heap_mark: HEAP_MARK,
    };
    /// `tunnel_reuse`: a connection of four requests, closed, then a second one of
    /// four on the same tunnel; each open's cost up to its first reply is reported.
    pub(crate) const REUSE: Plan = Plan {
        values: 3,
        window: 1,
        growing: true,
        rekey: false,
        limit_ms: 120_000,
        service: "echo",
        modified: false,
        reuse: true,
        heap_mark: HEAP_MARK,
    };
    /// `tunnel_flood`: 400 short requests, four in flight, long enough for a host
    /// process to flood host 2 while the session runs; the heap is measured from the
    /// twentieth reply, after the tunnel is made, to the end.
    pub(crate) const FLOOD: Plan = Plan {
        values: 400,
        window: 4,
        growing: false,
        rekey: false,
        limit_ms: 300_000,
        service: "echo",
        modified: false,
        reuse: false,
        heap_mark: 20,
    };

    /// Connections the client opens, one after the other.
    fn connections(&self) -> usize {
        if self.reuse { 2 } else { 1 }
    }

    /// The ill-typed value a modified client sends before request `index`: a method
    /// `Echo` lacks, a `Say` whose text is cut short, or one with bytes after it.
    fn ill_typed(index: usize) -> Vec<u8> {
        match index % 3 {
            0 => vec![9, 0, 0, 0],
            1 => {
                let mut cut = say("cut short");
                cut.truncate(cut.len() - 2);
                cut
            }
            _ => {
                let mut long = say("trailing");
                long.push(0);
                long
            }
        }
    }

    fn request(&self, index: usize) -> Vec<u8> {
        if self.growing {
            say(&format!("request {index} {}", "x".repeat(index * 7)))
        } else {
            say(&format!("soak {index}"))
        }
    }
}

/// Replies after which the soak takes its first heap measure: the connection's
/// buffers have reached their steady size by then.
const HEAP_MARK: usize = 1_000;
/// How long no datagram must have moved before `tunnel_reuse` opens its second
/// connection: the first one's close and its acknowledgements are over by then, so
/// what the second open costs is counted alone.
const QUIET_BEFORE_REOPEN_MS: u64 = 500;
/// How long the client goes on after its last reply, so its close reaches the
/// server.
const LINGER_MS: u64 = 2_000;

/// `Say(Text)`, method 0 of `Echo`: its request and its reply have this form.
fn say(text: &str) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0, 0];
    bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

pub(crate) fn tunnel(plan: Plan) -> Result<(), String> {
    let image = boot_image::initial_image().map_err(|error| format!("{error}"))?;
    let hosts = image.hosts;
    let this = hosts
        .this_host
        .as_ref()
        .ok_or("this kernel's image makes it no host: boot a kernel of `cargo xtask hosts`")?;
    let other = hosts
        .directory
        .hosts()
        .next()
        .ok_or("the image's directory lists no other host")?
        .clone();
    let declared = image
        .configuration
        .services
        .iter()
        .find(|service| service.name.as_str() == plan.service)
        .ok_or_else(|| format!("the image declares no `{}` service", plan.service))?;
    let service_type = TypeHash(declared.type_hash.0);
    let mut datagrams = datagram_service()?;
    let service_box: &mut dyn Datagram = &mut *datagrams;
    let own = service_box
        .local_address()
        .ok_or("the datagram service has no address")?;
    if own.octets() != this.address.ip {
        return Err(format!(
            "the interface's address {own} is not the image's {} (boot host N with the MAC \
             52:54:00:e7:00:0N)",
            this.address
        ));
    }
    let socket = service_box
        .bind(this.address.port)
        .map_err(|error| format!("binding UDP port {}: {error}", this.address.port))?;
    let mut seed = [0u8; 32];
    entropy::fill(&mut seed);
    let mut tunnels = TunnelService::new(
        this.key().clone(),
        this.address,
        hosts.directory.clone(),
        Box::new(GraphTypes {
            graph: image.configuration.types.clone(),
        }),
        Box::new(ChaCha20Rng::from_seed(seed)),
        ethos_core::minimalt::kernel_endpoint_config(),
        tunnel_now(),
    );
    match rtc::unix_millis() {
        Ok(millis) => tracing::info!(unix_ms = millis, "MinimaLT's clock: the RTC"),
        Err(error) => tracing::warn!(
            %error,
            "no wall clock: MinimaLT's clock is the time since boot, so records from \
             hosts booted far apart may look expired"
        ),
    }
    tracing::info!(
        host = %this.name,
        address = %this.address,
        other = %other.name,
        "{} (the tunnel test's own loop)",
        ethos_abi::drivers::NETWORK_SERVICE_UP
    );
    let client = this.address.ip[3] == 1;
    let mut state = if client {
        let user = hosts
            .user_keys
            .users()
            .next()
            .cloned()
            .ok_or("the client host holds no user's key")?;
        let key = hosts.user_keys.key(&user).cloned();
        tracing::info!(user = %user, service = plan.service, "opening it on the other host as this user");
        let first_open = OpenCost::opened(&Traffic::default(), &tunnels);
        // The client's own kernel refuses an ill-typed request: method 9 of Echo.
        let ill_typed = [9, 0, 0, 0];
        if tunnels.open(
            tunnel_now(),
            other.name.as_str(),
            plan.service,
            service_type,
            None,
            &ill_typed,
        ) != Err(Status::InvalidType)
        {
            return Err(String::from("an ill-typed first value was not refused"));
        }
        let connection = tunnels
            .open(
                tunnel_now(),
                other.name.as_str(),
                plan.service,
                service_type,
                key.clone(),
                &plan.request(0),
            )
            .map_err(|status| format!("open: {status}"))?;
        State::Client {
            plan,
            target: Box::new(Target {
                host: other.name.as_str().into(),
                service_type,
                user: key,
            }),
            connection,
            opened: 1,
            costs: Box::new([first_open, OpenCost::default()]),
            echoed: 0,
            sent: 0,
            replies: 0,
            rekeyed: false,
            reopen: false,
            done_at: None,
            heap_at_mark: None,
        }
    } else {
        State::Server {
            plan,
            accepted: 0,
            answered: 0,
            closed: 0,
            heap_at_mark: None,
        }
    };
    let mut traffic = Traffic::default();
    let started = now_ms();
    let mut buffer = vec![0u8; 2048];
    loop {
        let now_value = now_ms();
        if now_value - started > plan.limit_ms {
            return Err(format!("not done in {} s: {state:?}", plan.limit_ms / 1000));
        }
        let now = tunnel_now();
        let service: &mut dyn Datagram = &mut *datagrams;
        service.poll(now_value);
        while let Ok(Some((length, from))) = service.receive_from(socket, &mut buffer) {
            traffic.on_receive(now_value);
            tunnels.handle_datagram(now, SocketAddr::V4(from), &buffer[..length]);
        }
        if tunnels.poll_timeout().is_some_and(|due| due <= now) {
            tunnels.handle_timeout(now);
        }
        while let Some(event) = tunnels.poll_event() {
            state.on_event(&mut tunnels, &image.configuration, &traffic, event)?;
        }
        state.advance(&mut tunnels, &traffic)?;
        while let Some(transmit) = tunnels.poll_transmit(now) {
            let SocketAddr::V4(to) = transmit.destination else {
                continue;
            };
            // A send the stack cannot take now is a loss MinimaLT retransmits.
            if service.send_to(socket, to, &transmit.payload).is_ok() {
                traffic.on_send(&transmit.payload, now_value);
            }
        }
        service.poll(now_value);
        if state.finished(now_value) {
            break;
        }
    }
    let counters = tunnels.counters();
    let statistics = tunnels.statistics();
    metric("tunnel_datagrams_sent", statistics.datagrams_sent, "count");
    // What went through the socket, whatever the service made of it: what a
    // host process on the wire can hold the host to.
    metric("tunnel_socket_datagrams_sent", traffic.sent, "count");
    metric(
        "tunnel_socket_datagrams_received",
        traffic.received,
        "count",
    );
    metric(
        "tunnel_socket_first_packets_sent",
        traffic.first_packets_sent,
        "count",
    );
    metric(
        "tunnel_datagrams_accepted",
        counters.datagrams_accepted,
        "count",
    );
    metric(
        "tunnel_datagrams_dropped",
        counters.datagrams_dropped,
        "count",
    );
    metric(
        "tunnel_ill_typed_values",
        counters.ill_typed_values,
        "count",
    );
    metric(
        "tunnel_record_requests_sent",
        counters.record_requests_sent,
        "count",
    );
    metric(
        "tunnel_record_requests_refused",
        counters.record_requests_refused,
        "count",
    );
    metric(
        "tunnel_puzzles_switched_on",
        counters.puzzles_switched_on,
        "count",
    );
    metric("tunnel_count", tunnels.tunnel_count() as u64, "count");
    Ok(())
}

/// Where the client's connections go, kept for the second open of `tunnel_reuse`.
struct Target {
    host: String,
    service_type: TypeHash,
    user: Option<ethos_crypto::SecretKey>,
}

impl core::fmt::Debug for Target {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Target")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum State {
    Client {
        plan: Plan,
        /// Boxed, as `costs`.
        target: Box<Target>,
        /// The connection in use.
        connection: RemoteConnection,
        /// Connections opened so far.
        opened: usize,
        /// What each open cost up to its first reply (boxed: the server's state is
        /// far smaller).
        costs: Box<[OpenCost; 2]>,
        /// Replies of the connections before this one.
        echoed: usize,
        sent: usize,
        replies: usize,
        rekeyed: bool,
        /// Whether the first connection is done and the second waits for quiet.
        reopen: bool,
        done_at: Option<u64>,
        heap_at_mark: Option<usize>,
    },
    Server {
        plan: Plan,
        accepted: usize,
        answered: usize,
        closed: usize,
        heap_at_mark: Option<usize>,
    },
}

impl State {
    fn on_event(
        &mut self,
        tunnels: &mut TunnelService,
        configuration: &ethos_core::process_model::Configuration,
        traffic: &Traffic,
        event: ServiceEvent,
    ) -> Result<(), String> {
        match (self, event) {
            (State::Client { .. }, ServiceEvent::Accepted(_)) => Ok(()),
            (
                State::Client {
                    plan,
                    connection,
                    opened,
                    costs,
                    replies,
                    sent,
                    heap_at_mark,
                    ..
                },
                ServiceEvent::Value(on, value),
            ) => {
                if on != *connection {
                    return Err(format!("a value on {on:?}, not the connection in use"));
                }
                // Reply `k` answers request `k` (the first value is request 0).
                if value != plan.request(*replies) {
                    return Err(format!("reply {replies} is not request {replies}'s text"));
                }
                if *replies == 0
                    && let Some(cost) = costs.get_mut(*opened - 1)
                {
                    cost.replied(traffic, tunnels);
                }
                *replies += 1;
                if *replies > *sent + 1 {
                    return Err(String::from("more replies than requests"));
                }
                if *replies == plan.heap_mark {
                    *heap_at_mark = Some(memory::heap_used());
                }
                Ok(())
            }
            (State::Client { .. }, ServiceEvent::Failed(_, status)) => {
                Err(format!("the connection failed: {status}"))
            }
            (
                State::Server { plan, accepted, .. },
                ServiceEvent::Incoming {
                    connection: incoming,
                    service,
                    user,
                    first_value,
                    ..
                },
            ) => {
                let known = user.and_then(|key| {
                    configuration
                        .users
                        .iter()
                        .find(|known| known.public_key.0 == key.0)
                });
                let wanted = service == "echo" && *accepted < plan.connections();
                let Some(known) = known.filter(|_| wanted) else {
                    tunnels
                        .refuse(incoming)
                        .map_err(|status| format!("{status}"))?;
                    return Err(format!(
                        "refused a connection to `{service}` from an unknown or absent user"
                    ));
                };
                tracing::info!(user = %known.name, "the client's kernel authenticated this user");
                if *accepted == 0 {
                    metric("tunnel_user_authenticated", 1, "count");
                }
                tunnels
                    .accept(incoming)
                    .map_err(|status| format!("accept: {status}"))?;
                tunnels
                    .send(incoming, &first_value)
                    .map_err(|status| format!("reply: {status}"))?;
                *accepted += 1;
                Ok(())
            }
            (
                State::Server {
                    plan,
                    answered,
                    heap_at_mark,
                    ..
                },
                ServiceEvent::Value(connection, value),
            ) => {
                tunnels
                    .send(connection, &value)
                    .map_err(|status| format!("reply: {status}"))?;
                *answered += 1;
                if *answered == plan.heap_mark {
                    *heap_at_mark = Some(memory::heap_used());
                }
                Ok(())
            }
            (State::Server { closed, .. }, ServiceEvent::Closed(_)) => {
                *closed += 1;
                Ok(())
            }
            (state, event) => Err(format!("unexpected {event:?} in {state:?}")),
        }
    }

    /// The client sends what the window allows, rekeys halfway, and closes at the
    /// end; under `reuse` it then opens the second connection once the network is
    /// quiet.
    fn advance(&mut self, tunnels: &mut TunnelService, traffic: &Traffic) -> Result<(), String> {
        let State::Client {
            plan,
            target,
            connection,
            opened,
            costs,
            echoed,
            sent,
            replies,
            rekeyed,
            reopen,
            done_at,
            heap_at_mark,
        } = self
        else {
            return Ok(());
        };
        if *reopen {
            if now_ms().saturating_sub(traffic.last_moved_ms) < QUIET_BEFORE_REOPEN_MS {
                return Ok(());
            }
            costs[1] = OpenCost::opened(traffic, tunnels);
            *connection = tunnels
                .open(
                    tunnel_now(),
                    &target.host,
                    plan.service,
                    target.service_type,
                    target.user.clone(),
                    &plan.request(0),
                )
                .map_err(|status| format!("second open: {status}"))?;
            *opened += 1;
            *reopen = false;
            (*sent, *replies) = (0, 0);
        }
        // Up to the window's requests in flight beyond the replies (the first value
        // is request 0, in flight from the start).
        while *sent < plan.values && *sent + 1 - *replies < plan.window {
            *sent += 1;
            if plan.modified {
                tunnels
                    .send_unchecked_as_modified_peer(*connection, &Plan::ill_typed(*sent))
                    .map_err(|status| format!("ill-typed value {sent}: {status}"))?;
            }
            tunnels
                .send(*connection, &plan.request(*sent))
                .map_err(|status| format!("request {sent}: {status}"))?;
        }
        if plan.rekey && !*rekeyed && *replies > plan.values / 2 {
            tunnels
                .rekey(*connection)
                .map_err(|status| format!("rekey: {status}"))?;
            *rekeyed = true;
            metric("tunnel_rekeys", 1, "count");
        }
        if *replies == plan.values + 1 && done_at.is_none() {
            tunnel_traffic::report(*opened, &costs[*opened - 1]);
            *echoed += *replies;
            if *opened < plan.connections() {
                tunnels
                    .close(*connection)
                    .map_err(|status| format!("close: {status}"))?;
                *reopen = true;
                *replies = 0;
                return Ok(());
            }
            metric("tunnel_values_echoed", *echoed as u64, "count");
            if plan.modified {
                metric("tunnel_ill_typed_sent", plan.values as u64, "count");
            }
            report_heap(*heap_at_mark);
            tunnels
                .close(*connection)
                .map_err(|status| format!("close: {status}"))?;
            *done_at = Some(now_ms());
        }
        Ok(())
    }

    fn finished(&self, now: u64) -> bool {
        match self {
            State::Client { done_at, .. } => done_at.is_some_and(|at| now >= at + LINGER_MS),
            State::Server {
                plan,
                accepted,
                answered,
                closed,
                heap_at_mark,
            } => {
                let all_closed = *closed >= plan.connections();
                if all_closed {
                    // Each connection's first request came with its open.
                    metric(
                        "tunnel_values_answered",
                        (*answered + *accepted) as u64,
                        "count",
                    );
                    metric("tunnel_connections_accepted", *accepted as u64, "count");
                    report_heap(*heap_at_mark);
                }
                all_closed
            }
        }
    }
}

/// The kernel heap in use after the first [`HEAP_MARK`] values and now, when the
/// run got that far.
fn report_heap(at_mark: Option<usize>) {
    if let Some(at_mark) = at_mark {
        let now = memory::heap_used();
        metric("tunnel_heap_at_mark", at_mark as u64, "bytes");
        metric("tunnel_heap_at_end", now as u64, "bytes");
        metric(
            "tunnel_heap_growth",
            now.saturating_sub(at_mark) as u64,
            "bytes",
        );
    }
}

/// The service of the datagram class: the native stack on the network device, or
/// the rump kernel's.
fn datagram_service() -> Result<Box<dyn Datagram>, String> {
    if net_tests::datagram_backend() == Some(Backend::Rump) {
        tracing::info!("datagram class: rump");
        let service: Box<dyn Datagram> =
            drivers::take_datagram().ok_or_else(|| String::from("no datagram service"))?;
        return Ok(service);
    }
    tracing::info!("datagram class: native");
    let stack = net_tests::stack().map_err(|failure| format!("{failure}"))?;
    Ok(Box::new(stack))
}
