//! The kernel's network service at run time: a kernel thread that owns the
//! MinimaLT service (`ethos_core::minimalt`) and its UDP socket on whichever backend
//! serves the datagram class, and joins it to the process model through the
//! bridge, so programs reach services on other hosts with `ipc` and serve clients
//! from them with `import`, with no socket of their own.
//!
//! [`start`] runs when a process set starts on a kernel whose image makes it a host
//! (`[host]`, as `cargo xtask hosts` writes): it binds the host's port, attaches the
//! network to the model and spawns the thread. Each round of the thread polls the
//! stack, feeds the service what arrived, runs its timers, runs the bridge under
//! the model's lock (waking the processes whose events completed) and sends what the
//! service gives. A round that moved something is followed by another at once; a
//! round that found nothing to do waits, with the CPU free, until a device
//! interrupts (a frame arrived), the scheduler [`kick`]s it (a process gave the
//! network work), or the next timer of the service or the stack is due (where no
//! device event is to be had, a tick at a time).
//!
//! The thread does not poll while it waits for an answer. A thread that polled for
//! a while after traffic kept its guest's CPU always busy, and under emulation a
//! host with fewer CPUs than busy guests then made each frame wait for the host's
//! scheduler: round trips of several milliseconds in some runs. Waiting costs a
//! wake-up by interrupt per frame instead, which is fast once sending does not wait
//! for the device (the virtio driver hands a frame over and goes on). [`stop`] lets the
//! last packets (closes, acknowledgements) leave after the set ended, reports the
//! counters and puts the thread to sleep for good.
//!
//! MinimaLT's clock is the wall clock (`rtc`), so record expiry means the same on
//! every host; without an RTC it is the time since boot, which holds for hosts booted
//! within a record lifetime of each other (said once, as a warning).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use ethos_abi::Report;
use ethos_core::hosts::HostIdentity;
use ethos_core::minimalt::bridge::{Bridge, BridgeCounters};
use ethos_core::minimalt::{Counters, GraphTypes, TunnelService, kernel_endpoint_config};
use ethos_crypto::Time;
use ethos_devices::Datagram;
use ethos_typesys::TypeGraph;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use spin::Mutex;

use crate::kernel_threads::{self, ThreadOptions};
use crate::{console, drivers, entropy, memory, processes, rtc, time};

/// How long [`stop`] waits at most for the last packets to leave.
pub const LINGER_MILLISECONDS: u64 = 3_000;
/// How long the network must have been quiet, with no connection left, for
/// [`stop`] to end sooner.
pub const QUIET_MILLISECONDS: u64 = 300;

/// Values (sent and received) between two samples of the kernel heap: a long
/// session's first and last samples show whether the heap grows with the traffic.
pub const HEAP_SAMPLE_VALUES: u64 = 10_000;

/// The thread's stack: the service's key agreements and the stack's buffers.
const STACK_BYTES: usize = 256 * 1024;

/// The thread event that wakes the thread (+1; 0: none yet): device interrupts
/// signal it, and so does [`kick`].
static KICK: AtomicU32 = AtomicU32::new(0);

/// Set by [`stop`]: the thread ends once quiet (or the linger is over).
static STOPPING: AtomicBool = AtomicBool::new(false);
/// Set by the thread when it ended.
static STOPPED: AtomicBool = AtomicBool::new(false);
/// The datagram service once the thread stopped: the device and its stack stay, as
/// the machine still has them, so no frame of theirs is counted as freed by the run
/// (the thread stays too, asleep, for the same reason).
static PARKED: Mutex<Option<Box<dyn Datagram + Send>>> = Mutex::new(None);
/// What the thread counted, published when it ends.
static FINAL: Mutex<Option<Final>> = Mutex::new(None);

/// Where the thread's time went, in nanoseconds of the kernel clock, summed over
/// its rounds: a profile that holds on every platform and under any emulator, as it
/// needs nothing but the clock. `bench net` prints it beside its figures.
#[derive(Clone, Copy, Debug, Default)]
struct Phases {
    /// The stack's polls: frames in and out, through the device driver (a send
    /// leaves here, not in `send_to`, which only queues it).
    poll: u64,
    /// Datagrams taken from the socket and handed to MinimaLT: parsing,
    /// authentication and decryption, and the recognizer on each value.
    receive: u64,
    /// The bridge's step under the model's lock: values between tunnels and
    /// connections.
    bridge: u64,
    /// Packets MinimaLT gives (encryption) and their queueing on the socket.
    transmit: u64,
    /// Timers and the thread's own bookkeeping.
    other: u64,
    /// Yielding to other work and waiting for some: the CPU was not the thread's.
    idle: u64,
    /// Rounds of the loop.
    rounds: u64,
}

/// The clock for [`Phases`].
fn nanos() -> u64 {
    time::since_boot_nanos().unwrap_or(0)
}

/// What the thread counted.
struct Final {
    phases: Phases,
    counters: Counters,
    bridge: BridgeCounters,
    statistics: ethos_crypto::Statistics,
    tunnels: usize,
    /// The kernel heap in use at the first and the last sample, if traffic came
    /// to [`HEAP_SAMPLE_VALUES`] values.
    heap_samples: Option<(usize, usize)>,
}

/// Milliseconds since boot.
fn now_ms() -> u64 {
    time::since_boot_nanos().unwrap_or(0) / 1_000_000
}

/// MinimaLT's clock: the wall clock, or the time since boot where there is none.
pub fn tunnel_now() -> Time {
    match rtc::unix_millis() {
        Ok(millis) => Time::from_milliseconds(millis),
        Err(_) => Time::from_milliseconds(now_ms()),
    }
}

/// Why the network service cannot start.
#[derive(Debug)]
pub enum StartError {
    /// The image makes this kernel no host.
    NoIdentity,
    /// No datagram service: no network device, or its class has no stack here.
    NoDatagramService,
    /// The datagram service has no address, or not the image's.
    WrongAddress(String),
    /// The host's port cannot be bound.
    Bind(String),
    /// The thread cannot start.
    Thread(String),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::NoIdentity => formatter.write_str("the image gives this kernel no [host]"),
            StartError::NoDatagramService => formatter.write_str(
                "no datagram service (the machine has no network device, or none this \
                 kernel drives)",
            ),
            StartError::WrongAddress(text) | StartError::Bind(text) | StartError::Thread(text) => {
                formatter.write_str(text)
            }
        }
    }
}

/// Starts the network service of the host `identity` makes this kernel, with the
/// recognizer over `types`, and attaches it to the installed process model.
pub fn start(identity: HostIdentity, types: TypeGraph<'static>) -> Result<(), StartError> {
    let this = identity.this_host.ok_or(StartError::NoIdentity)?;
    let mut datagrams: Box<dyn Datagram + Send> =
        drivers::take_datagram().ok_or(StartError::NoDatagramService)?;
    let own = datagrams.local_address();
    if own.map(|address| address.octets()) != Some(this.address.ip) {
        return Err(StartError::WrongAddress(alloc::format!(
            "the interface's address {own:?} is not the image's {} (host N boots with the \
             MAC 52:54:00:e7:00:0N)",
            this.address
        )));
    }
    let socket = datagrams.bind(this.address.port).map_err(|error| {
        StartError::Bind(alloc::format!(
            "binding UDP port {}: {error}",
            this.address.port
        ))
    })?;
    let mut seed = [0u8; 32];
    entropy::fill(&mut seed);
    if let Err(error) = rtc::unix_millis() {
        tracing::warn!(
            %error,
            "no wall clock: MinimaLT's clock is the time since boot, so records from \
             hosts booted far apart may look expired"
        );
    }
    let service = TunnelService::new(
        this.key().clone(),
        this.address,
        identity.directory,
        Box::new(GraphTypes { graph: types }),
        Box::new(ChaCha20Rng::from_seed(seed)),
        kernel_endpoint_config(),
        tunnel_now(),
    );
    let bridge = Bridge::new();
    tracing::info!(
        host = %this.name,
        address = %this.address,
        "{}",
        ethos_abi::drivers::NETWORK_SERVICE_UP
    );
    processes::with_model(|model| model.attach_network());
    STOPPING.store(false, Ordering::Relaxed);
    STOPPED.store(false, Ordering::Relaxed);
    let options = ThreadOptions {
        stack_bytes: STACK_BYTES,
        joinable: false,
        ..ThreadOptions::named("minimalt")
    };
    kernel_threads::spawn(&options, move || serve(datagrams, socket, service, bridge))
        .map_err(|error| StartError::Thread(alloc::format!("{error}")))?;
    Ok(())
}

/// The thread's loop.
fn serve(
    mut datagrams: Box<dyn Datagram + Send>,
    socket: ethos_devices::DatagramSocket,
    mut service: TunnelService,
    mut bridge: Bridge,
) -> ! {
    let mut buffer = vec![0u8; 2048];
    let mut last_activity = now_ms();
    let mut stop_asked_at: Option<u64> = None;
    let mut next_sample = HEAP_SAMPLE_VALUES;
    let mut heap_samples: Option<(usize, usize)> = None;
    let wake = drivers::device_event();
    if let Some(event) = wake {
        KICK.store(u32::from(event.index()) + 1, Ordering::Release);
    }
    let mut phases = Phases::default();
    let mut mark = nanos();
    // Adds the time since the last mark to `phase`.
    let mut lap = |phase: &mut u64| {
        let now = nanos();
        *phase += now.saturating_sub(mark);
        mark = now;
    };
    loop {
        lap(&mut phases.idle);
        phases.rounds += 1;
        let now_value = now_ms();
        let now = tunnel_now();
        let mut moved = datagrams.poll(now_value);
        lap(&mut phases.poll);
        while let Ok(Some((length, from))) = datagrams.receive_from(socket, &mut buffer) {
            service.handle_datagram(now, SocketAddr::V4(from), &buffer[..length]);
            moved = true;
        }
        lap(&mut phases.receive);
        if service.poll_timeout().is_some_and(|due| due <= now) {
            service.handle_timeout(now);
        }
        lap(&mut phases.other);
        processes::with_model(|model| bridge.step(model, &mut service, now));
        lap(&mut phases.bridge);
        while let Some(transmit) = service.poll_transmit(now) {
            let SocketAddr::V4(to) = transmit.destination else {
                continue;
            };
            // A send the stack cannot take now is a loss MinimaLT retransmits.
            let _ = datagrams.send_to(socket, to, &transmit.payload);
            moved = true;
        }
        lap(&mut phases.transmit);
        // The sends leave. A frame this poll takes in is read in the next round,
        // not left in the socket while the thread waits for an interrupt that
        // already came.
        let took_in = datagrams.poll(now_value);
        lap(&mut phases.poll);
        if moved || bridge.holds_values() {
            last_activity = now_value;
        }
        let counted = bridge.counters();
        if counted.values_sent + counted.values_received >= next_sample {
            next_sample += HEAP_SAMPLE_VALUES;
            let used = memory::heap_used();
            let first = heap_samples.map_or(used, |(first, _)| first);
            heap_samples = Some((first, used));
        }
        if STOPPING.load(Ordering::Relaxed) {
            let asked = *stop_asked_at.get_or_insert(now_value);
            let quiet = service.connection_count() == 0
                && now_value.saturating_sub(last_activity) >= QUIET_MILLISECONDS;
            if quiet || now_value.saturating_sub(asked) >= LINGER_MILLISECONDS {
                break;
            }
        }
        let tick_ms = 1_000 / u64::from(time::TICK_HZ);
        // A thread's deadline is checked at timer ticks, so a timer due sooner than
        // a tick (a retransmission, a delayed acknowledgement) is waited for by
        // polling.
        let due_ms = [
            service
                .poll_timeout()
                .map(|due| due.milliseconds_since(now)),
            datagrams.poll_delay(now_value),
        ]
        .into_iter()
        .flatten()
        .min();
        // Work done may make more (a reply to send, a value to hand over): look
        // again at once, after whatever else is ready.
        let polling =
            moved || took_in || bridge.holds_values() || due_ms.is_some_and(|due| due < tick_ms);
        lap(&mut phases.other);
        if polling {
            kernel_threads::yield_now();
            continue;
        }
        // Nothing to do until a frame arrives (the device interrupts), a process
        // gives the network work (the scheduler kicks), or a timer of the service or
        // the stack is due; the CPU is free meanwhile. Stopping, or with no device
        // event to wait on, the thread looks again each tick.
        let wait_ms = match due_ms {
            _ if wake.is_none() || STOPPING.load(Ordering::Relaxed) => tick_ms,
            Some(due) => due.max(tick_ms),
            None => tick_ms,
        };
        let deadline = time::since_boot_nanos()
            .unwrap_or(0)
            .saturating_add(wait_ms * 1_000_000);
        let _ = match wake {
            Some(event) => kernel_threads::wait_event(event, Some(deadline)).map(drop),
            None => kernel_threads::sleep_until(deadline),
        };
    }
    lap(&mut phases.other);
    let counted = Final {
        phases,
        counters: service.counters(),
        bridge: bridge.counters(),
        statistics: service.statistics(),
        tunnels: service.tunnel_count(),
        heap_samples,
    };
    x86_64::instructions::interrupts::without_interrupts(|| *FINAL.lock() = Some(counted));
    let _ = datagrams.close(socket);
    x86_64::instructions::interrupts::without_interrupts(|| *PARKED.lock() = Some(datagrams));
    STOPPED.store(true, Ordering::Release);
    // The thread stays, asleep, with its stack: what the run started with is what it
    // ends with, frame for frame.
    loop {
        let _ = kernel_threads::sleep_until(u64::MAX);
    }
}

fn metric(name: &str, value: u64, unit: &str) {
    console::report(Report::Metric { name, value, unit });
}

/// Wakes the thread: a process gave the network work (a connection to open or
/// close, values to send). Lock-free; cheap when the thread is awake already.
pub fn kick() {
    let index = KICK.load(Ordering::Acquire);
    if let Some(event) = index
        .checked_sub(1)
        .and_then(|index| u16::try_from(index).ok())
        .and_then(ethos_core::threads::EventId::new)
    {
        kernel_threads::signal_from_interrupt(event);
    }
}

/// From the hub, after the set ended: lets the thread send what is left (at most
/// [`LINGER_MILLISECONDS`]), then reports what the service and the bridge counted.
/// Nothing when the service never started.
pub fn stop() {
    let running = processes::with_model(|model| model.network_attached()).unwrap_or(false);
    if !running {
        return;
    }
    STOPPING.store(true, Ordering::Relaxed);
    kick();
    let patience = (LINGER_MILLISECONDS + 1_000) * 1_000_000;
    if !kernel_threads::run_until(|| STOPPED.load(Ordering::Acquire), patience) {
        tracing::warn!("the network service did not stop in time");
    }
    let counted = x86_64::instructions::interrupts::without_interrupts(|| FINAL.lock().take());
    let Some(Final {
        phases,
        counters,
        bridge,
        statistics,
        tunnels,
        heap_samples,
    }) = counted
    else {
        return;
    };
    for (name, value) in [
        ("net_thread_poll", phases.poll),
        ("net_thread_receive", phases.receive),
        ("net_thread_bridge", phases.bridge),
        ("net_thread_transmit", phases.transmit),
        ("net_thread_other", phases.other),
        ("net_thread_idle", phases.idle),
    ] {
        metric(name, value / 1_000, "us");
    }
    metric("net_thread_rounds", phases.rounds, "count");
    if let Some((first, last)) = heap_samples {
        for (name, value) in [
            ("tunnel_heap_at_mark", first),
            ("tunnel_heap_at_end", last),
            ("tunnel_heap_growth", last.saturating_sub(first)),
        ] {
            metric(name, value as u64, "bytes");
        }
    }
    for (name, value) in [
        ("remote_connections_opened", bridge.opened),
        ("remote_connections_accepted", bridge.accepted),
        ("remote_connections_failed", bridge.failed),
        ("remote_incoming_accepted", bridge.incoming_accepted),
        ("remote_incoming_refused", bridge.incoming_refused),
        ("remote_values_sent", bridge.values_sent),
        ("remote_values_received", bridge.values_received),
        ("remote_values_refused", bridge.values_refused),
        ("remote_values_lost", bridge.values_lost),
        ("remote_overruns", bridge.overruns),
        ("tunnel_count", tunnels as u64),
        ("tunnel_datagrams_sent", statistics.datagrams_sent),
        ("tunnel_datagrams_accepted", counters.datagrams_accepted),
        ("tunnel_datagrams_dropped", counters.datagrams_dropped),
        ("tunnel_ill_typed_values", counters.ill_typed_values),
        ("tunnel_record_requests_sent", counters.record_requests_sent),
        (
            "tunnel_record_requests_refused",
            counters.record_requests_refused,
        ),
        ("tunnel_records_refused", counters.records_refused),
        ("tunnel_requests_refused", counters.requests_refused),
        ("tunnel_puzzles_switched_on", counters.puzzles_switched_on),
        // Whether the NIC's interrupts woke the thread (0: it ran on ticks alone).
        ("device_interrupts", drivers::interrupts_total()),
    ] {
        metric(name, value, "count");
    }
}
