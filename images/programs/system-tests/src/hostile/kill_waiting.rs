//! `kill-waiting`: processes that end while they wait, or with timers set.
//!
//! [`KILLED`] times it forks a child that makes four waiters nobody will answer — a
//! `read` of a connection end nobody writes to, a `beep` an hour ahead, an `import`
//! on the service nobody else connects to, an `fdReceive` nobody sends to —, says so
//! on its parent's connection and blocks on all four; the parent reads what it said
//! and kills it. [`EXITED`] times it forks a child that sets [`TIMERS`] beeps an
//! hour ahead, says so and exits. A kernel that kept a dead process's waiters or
//! timers would grow its heap by the children times their size, and one that
//! counted a dead process's timer as something that can still wake the machine
//! would wait an hour at the end. Then each kind of waiter is made once more by the
//! parent and answered (see [`super::waiters_answered`]).

use ethos_abi::{ProcessId, Status};
use ethos_compat::{
    Descriptor, Event, Forked, beep, block, fd_receive, fork, get_time, import, kill, println,
    read, read_blocking, write,
};

use super::{MILLISECOND, advertise_service, bounce_request, connect_to_self, waiters_answered};

/// Children killed while they wait.
pub const KILLED: u32 = 1_000;
/// Children that exit with timers set.
pub const EXITED: u32 = 100;
/// Beeps each of those sets.
pub const TIMERS: u32 = 1_000;
/// How far ahead the children's beeps are: an hour.
pub const FAR_AHEAD: u64 = 3_600_000 * MILLISECOND;

/// Exit statuses of `kill-waiting` and of its children (which are killed, or exit 0).
pub mod status {
    /// Advertising or connecting to itself failed.
    pub const SETUP: i32 = 1;
    /// A `fork` failed.
    pub const FORK: i32 = 2;
    /// Reading what a child said failed.
    pub const HEARD: i32 = 3;
    /// Killing a waiting child failed.
    pub const KILL: i32 = 4;
    /// A waiter made after the children ended was not answered.
    pub const AFTER: i32 = 5;
    /// A child could not make its waiters or timers, or say so.
    pub const CHILD_CALL: i32 = 10;
    /// A waiting child's `block` answered, though nothing can complete its waiters.
    pub const CHILD_WOKE: i32 = 11;
}

const NAME: &str = "kill-waiting";

/// The connections a parent and its children share: `said` carries what a child
/// says (the child writes on the client end, the parent reads the server end);
/// nobody writes to `silent_server` while there are children, who read it.
#[derive(Clone, Copy)]
struct Shared {
    listening: Descriptor,
    said_client: Descriptor,
    said_server: Descriptor,
    silent_server: Descriptor,
}

/// `kill-waiting`: the steps of the module documentation, each printed.
pub fn run() -> i32 {
    let Ok(listening) = advertise_service(NAME) else {
        return status::SETUP;
    };
    let (Ok((said_client, said_server)), Ok((silent_client, silent_server))) = (
        connect_to_self(NAME, listening),
        connect_to_self(NAME, listening),
    ) else {
        return status::SETUP;
    };
    let shared = Shared {
        listening,
        said_client,
        said_server,
        silent_server,
    };
    if let Err(Ended::Parent(status) | Ended::Child(status)) = rounds(shared) {
        return status;
    }
    if let Err(status) =
        waiters_answered(NAME, listening, silent_client, silent_server, status::AFTER)
    {
        return status;
    }
    println!("{NAME}: every call was answered and the kernel went on");
    0
}

/// Why [`rounds`] stopped early: the parent failed with a status, or this is a
/// child, which ends with its status.
enum Ended {
    Parent(i32),
    Child(i32),
}

fn rounds(shared: Shared) -> Result<(), Ended> {
    let start = get_time().unwrap_or(0);
    for _ in 0..KILLED {
        let child = forked(|| wait_forever(shared))?;
        heard(shared, child)?;
        if let Err(error) = kill(child) {
            println!(
                "{NAME}: kill of waiting process {} failed: {error}",
                child.0
            );
            return Err(Ended::Parent(status::KILL));
        }
    }
    let middle = get_time().unwrap_or(0);
    println!(
        "{NAME}: {KILLED} children killed while waiting on read, beep, import and fdReceive \
         in {} ms",
        middle.saturating_sub(start) / MILLISECOND
    );
    for _ in 0..EXITED {
        let child = forked(|| exit_with_timers(shared))?;
        heard(shared, child)?;
    }
    println!(
        "{NAME}: {EXITED} children exited with {TIMERS} timers set each in {} ms",
        get_time().unwrap_or(0).saturating_sub(middle) / MILLISECOND
    );
    Ok(())
}

/// Forks a child that runs `child` and ends with its status; answers the child's id.
fn forked(child: impl FnOnce() -> i32) -> Result<ProcessId, Ended> {
    match fork() {
        Ok(Forked::Parent { child }) => Ok(child),
        Ok(Forked::Child) => Err(Ended::Child(child())),
        Err(error) => {
            println!("{NAME}: fork failed: {error}");
            Err(Ended::Parent(status::FORK))
        }
    }
}

/// Reads what `child` said on the shared connection.
fn heard(shared: Shared, child: ProcessId) -> Result<(), Ended> {
    read_blocking(shared.said_server)
        .map(drop)
        .map_err(|error| {
            println!(
                "{NAME}: reading what process {} said failed: {error}",
                child.0
            );
            Ended::Parent(status::HEARD)
        })
}

/// Says so to the parent: one small request on the shared connection.
fn say(shared: Shared) -> Result<(), Status> {
    let mut request = [0u8; 16];
    write(shared.said_client, bounce_request(&mut request))
}

/// The four waiters a killed child leaves: nobody writes to the silent connection,
/// connects to the service, or sends to the program, and the beep is an hour ahead.
fn waiters_nobody_answers(shared: Shared) -> Result<[Event; 4], Status> {
    let far = get_time()?.saturating_add(FAR_AHEAD);
    Ok([
        read(shared.silent_server)?,
        beep(far)?,
        import(shared.listening)?,
        fd_receive()?,
    ])
}

/// A killed child: four waiters nobody answers, then `block` on them.
fn wait_forever(shared: Shared) -> i32 {
    let waiters = waiters_nobody_answers(shared).and_then(|waiters| say(shared).map(|()| waiters));
    let waiters = match waiters {
        Ok(waiters) => waiters,
        Err(error) => {
            println!("{NAME}: a waiting child's call failed: {error}");
            return status::CHILD_CALL;
        }
    };
    let woke = block(&waiters);
    println!("{NAME}: a waiting child's block answered {woke:?}");
    status::CHILD_WOKE
}

/// An exiting child: [`TIMERS`] beeps an hour ahead, then it says so and exits.
fn exit_with_timers(shared: Shared) -> i32 {
    let far = get_time().unwrap_or(0).saturating_add(FAR_AHEAD);
    let set = (0..u64::from(TIMERS)).try_for_each(|timer| beep(far + timer).map(drop));
    match set.and_then(|()| say(shared)) {
        Ok(()) => 0,
        Err(error) => {
            println!("{NAME}: an exiting child's call failed: {error}");
            status::CHILD_CALL
        }
    }
}
