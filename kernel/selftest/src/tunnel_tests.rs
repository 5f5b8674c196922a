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
    };

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
    tracing::info!(host = %this.name, address = %this.address, other = %other.name, "tunnel test");
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
                key,
                &plan.request(0),
            )
            .map_err(|status| format!("open: {status}"))?;
        State::Client {
            plan,
            connection,
            sent: 0,
            replies: 0,
            rekeyed: false,
            done_at: None,
            heap_at_mark: None,
        }
    } else {
        State::Server {
            connection: None,
            answered: 0,
            closed: false,
            heap_at_mark: None,
        }
    };
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
            tunnels.handle_datagram(now, SocketAddr::V4(from), &buffer[..length]);
        }
        if tunnels.poll_timeout().is_some_and(|due| due <= now) {
            tunnels.handle_timeout(now);
        }
        while let Some(event) = tunnels.poll_event() {
            state.on_event(&mut tunnels, &image.configuration, event)?;
        }
        state.advance(&mut tunnels)?;
        while let Some(transmit) = tunnels.poll_transmit(now) {
            let SocketAddr::V4(to) = transmit.destination else {
                continue;
            };
            // A send the stack cannot take now is a loss MinimaLT retransmits.
            let _ = service.send_to(socket, to, &transmit.payload);
        }
        service.poll(now_value);
        if state.finished(now_value) {
            break;
        }
    }
    let counters = tunnels.counters();
    let statistics = tunnels.statistics();
    metric("tunnel_datagrams_sent", statistics.datagrams_sent, "count");
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
    metric("tunnel_count", tunnels.tunnel_count() as u64, "count");
    Ok(())
}

#[derive(Debug)]
enum State {
    Client {
        plan: Plan,
        connection: RemoteConnection,
        sent: usize,
        replies: usize,
        rekeyed: bool,
        done_at: Option<u64>,
        heap_at_mark: Option<usize>,
    },
    Server {
        connection: Option<RemoteConnection>,
        answered: usize,
        closed: bool,
        heap_at_mark: Option<usize>,
    },
}

impl State {
    fn on_event(
        &mut self,
        tunnels: &mut TunnelService,
        configuration: &ethos_core::process_model::Configuration,
        event: ServiceEvent,
    ) -> Result<(), String> {
        match (self, event) {
            (State::Client { .. }, ServiceEvent::Accepted(_)) => Ok(()),
            (
                State::Client {
                    plan,
                    replies,
                    sent,
                    heap_at_mark,
                    ..
                },
                ServiceEvent::Value(_, value),
            ) => {
                // Reply `k` answers request `k` (the first value is request 0).
                if value != plan.request(*replies) {
                    return Err(format!("reply {replies} is not request {replies}'s text"));
                }
                *replies += 1;
                if *replies > *sent + 1 {
                    return Err(String::from("more replies than requests"));
                }
                if *replies == HEAP_MARK {
                    *heap_at_mark = Some(memory::heap_used());
                }
                Ok(())
            }
            (State::Client { .. }, ServiceEvent::Failed(_, status)) => {
                Err(format!("the connection failed: {status}"))
            }
            (
                State::Server { connection, .. },
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
                let Some(known) = known.filter(|_| service == "echo" && connection.is_none())
                else {
                    tunnels
                        .refuse(incoming)
                        .map_err(|status| format!("{status}"))?;
                    return Err(format!(
                        "refused a connection to `{service}` from an unknown or absent user"
                    ));
                };
                tracing::info!(user = %known.name, "the client's kernel authenticated this user");
                metric("tunnel_user_authenticated", 1, "count");
                tunnels
                    .accept(incoming)
                    .map_err(|status| format!("accept: {status}"))?;
                tunnels
                    .send(incoming, &first_value)
                    .map_err(|status| format!("reply: {status}"))?;
                *connection = Some(incoming);
                Ok(())
            }
            (
                State::Server {
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
                if *answered == HEAP_MARK {
                    *heap_at_mark = Some(memory::heap_used());
                }
                Ok(())
            }
            (State::Server { closed, .. }, ServiceEvent::Closed(_)) => {
                *closed = true;
                Ok(())
            }
            (state, event) => Err(format!("unexpected {event:?} in {state:?}")),
        }
    }

    /// The client sends what the window allows, rekeys halfway, and closes at the end.
    fn advance(&mut self, tunnels: &mut TunnelService) -> Result<(), String> {
        let State::Client {
            plan,
            connection,
            sent,
            replies,
            rekeyed,
            done_at,
            heap_at_mark,
        } = self
        else {
            return Ok(());
        };
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
            metric("tunnel_values_echoed", *replies as u64, "count");
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
                answered,
                closed,
                heap_at_mark,
                ..
            } => {
                if *closed {
                    metric("tunnel_values_answered", *answered as u64 + 1, "count");
                    report_heap(*heap_at_mark);
                }
                *closed
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
