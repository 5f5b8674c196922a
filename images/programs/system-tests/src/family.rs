//! `family`: processes — `getPid`, `fork`, `exec` and `kill`.
//!
//! The first child checks that it is a new process and becomes `hello` with `exec`;
//! the second spins forever until the parent kills it, which needs the kernel to
//! preempt it (one CPU runs one process at a time).

use ethos_abi::{ProcessId, Status};
use ethos_compat::{Descriptor, Forked, exec, fork, get_pid, kill, println};

/// The program the first child becomes.
pub const CHILD_PROGRAM: &str = "hello";
/// A process that does not exist.
pub const NO_PROCESS: ProcessId = ProcessId(999_999);

/// Exit statuses of `family` and of its first child (the second is killed).
pub mod status {
    /// The parent's `getPid` failed.
    pub const PID: i32 = 1;
    /// The first `fork` failed.
    pub const FIRST_FORK: i32 = 2;
    /// The second `fork` failed.
    pub const SECOND_FORK: i32 = 3;
    /// Killing the spinning child failed.
    pub const KILL: i32 = 4;
    /// Killing a process that does not exist did not answer `NoSuchObject`.
    pub const KILL_NOBODY: i32 = 5;
    /// The first child's `getPid` failed.
    pub const CHILD_PID: i32 = 10;
    /// The first child has its parent's identifier.
    pub const SAME_PID: i32 = 11;
    /// `exec` of `hello` returned.
    pub const EXEC: i32 = 12;
}

/// `family`: the steps of the module documentation, each printed.
pub fn run() -> i32 {
    let parent = match get_pid() {
        Ok(pid) => pid,
        Err(error) => {
            println!("family: getPid failed: {error}");
            return status::PID;
        }
    };
    println!("family: I am process {}", parent.0);
    match fork() {
        Ok(Forked::Child) => return become_hello(parent),
        Ok(Forked::Parent { child }) => println!("family: forked process {}", child.0),
        Err(error) => {
            println!("family: fork failed: {error}");
            return status::FIRST_FORK;
        }
    }
    let spinner = match fork() {
        Ok(Forked::Child) => spin(),
        Ok(Forked::Parent { child }) => child,
        Err(error) => {
            println!("family: second fork failed: {error}");
            return status::SECOND_FORK;
        }
    };
    if let Err(error) = kill(spinner) {
        println!(
            "family: kill of spinning process {} failed: {error}",
            spinner.0
        );
        return status::KILL;
    }
    println!("family: killed spinning process {}", spinner.0);
    match kill(NO_PROCESS) {
        Err(Status::NoSuchObject) => {
            println!(
                "family: kill of process {} answered NoSuchObject",
                NO_PROCESS.0
            );
            0
        }
        answer => {
            println!(
                "family: kill of process {} answered {answer:?}",
                NO_PROCESS.0
            );
            status::KILL_NOBODY
        }
    }
}

fn become_hello(parent: ProcessId) -> i32 {
    let own = match get_pid() {
        Ok(pid) => pid,
        Err(error) => {
            println!("family child: getPid failed: {error}");
            return status::CHILD_PID;
        }
    };
    if own == parent {
        println!("family child: my identifier is my parent's, {}", own.0);
        return status::SAME_PID;
    }
    println!("family child: I am process {}; exec {CHILD_PROGRAM}", own.0);
    let Err(error) = exec(Descriptor::ROOT_DIRECTORY, CHILD_PROGRAM);
    println!("family child: exec {CHILD_PROGRAM} failed: {error}");
    status::EXEC
}

fn spin() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
