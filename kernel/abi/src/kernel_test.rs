//! The names of the in-kernel tests a command line can select with `test=NAME`.
//!
//! The bodies live with the kernel's self-tests (they touch the machine); the names
//! live here, once, so the command-line parser, the kernel and the harness's test
//! table agree on them.

/// One in-kernel test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelTest {
    /// Passes as soon as the kernel is ready: proves the boot path.
    Boot,
    /// Timer interrupts arrive and advance the clock consistently with the TSC.
    Timer,
    /// Touches an unmapped address; the page fault handler must catch and report it.
    PageFault,
    /// An unexpected invalid-opcode exception: the kernel reports it and stops.
    InvalidOpcode,
    /// Many allocations of many sizes, freed and reused, all contents checked.
    Heap,
    /// The physical frame allocator on real memory: allocate, write, verify, free.
    Frames,
    /// Lists PCI functions and bound drivers; reports a count per device class and
    /// passes whatever is missing: the kernel goes on without a class.
    Devices,
    /// Writes a pattern over the whole disk, flushes, reads it back and compares;
    /// requests past the end must fail with an error.
    Block,
    /// Runs on a disk with injected read and write errors: every failed request is
    /// reported as failed and the kernel stays up.
    BlockFaults,
    /// Reads bytes from the entropy device.
    Entropy,
    /// Draws a mebibyte from the kernel random generator and checks it; boot must
    /// have seeded it from every source the machine has.
    Random,
    /// Pings the gateway (user networking) or the other peer (socket networking).
    NetPing,
    /// Echoes UDP datagrams on the echo port until the host sends the stop datagram.
    UdpEcho,
    /// Two guests on one socket network exchange UDP datagrams both ways.
    NetPeer,
    /// Answers ARP and ICMP echo until the host sends the stop datagram to the echo
    /// port; passes only if enough echo requests were answered.
    NetServe,
    /// Leases an address by DHCP (QEMU user networking) and pings the gateway the
    /// lease names.
    NetDhcp,
    /// Two hosts of a set (`cargo xtask hosts`) on one socket network: host 1 opens
    /// `echo` on host 2 through the kernel's MinimaLT service as a user whose key it
    /// holds, and every typed request comes back; host 2 reports the user its kernel
    /// authenticated.
    Tunnel,
    /// The same two hosts: 100,000 requests, 256 in flight, every reply checked; both
    /// report their kernel heap after the first thousand and at the end.
    TunnelSoak,
    /// Host 1 as a modified kernel: it opens `across` on host 2 (which runs the
    /// `across-server` program) and sends an ill-typed value before every request,
    /// skipping its own check; host 2's kernel must drop each, so the program sees the
    /// well-typed requests only.
    TunnelModifiedPeer,
    /// The same two hosts: host 1 opens a first connection, which makes the tunnel,
    /// closes it, and opens a second on the same tunnel; each host counts the
    /// datagrams from each connection's open to its first reply, and the tunnels
    /// it holds.
    TunnelReuse,
    /// The same two hosts, with a host process flooding host 2 with forged tunnel
    /// openings, random bytes, replays and record requests: 400 short requests, four
    /// in flight, every reply checked; host 2 reports what it dropped, whether it
    /// asked for puzzles, and its heap from the twentieth request to the end.
    TunnelFlood,
    /// Runs the `hello` program from its ELF file in ring 3: it prints through
    /// `print` and ends with `exit`.
    UserHello,
    /// A program's addresses are checked: the kernel's, unmapped ones and read-only
    /// buffers for results are refused; its stack takes a result.
    UserPointers,
    /// Programs that read a kernel address and execute an invalid instruction are
    /// killed with their fault reported, one that never ends is stopped by the
    /// timer; the kernel then runs another program.
    UserFault,
    /// Reads the initial image the build embedded, reports how many users, programs,
    /// type files, services, grants and init sets it holds, and builds a process
    /// model from it in which every init set's processes can be created.
    InitialImage,
    /// Eight kernel threads pass a turn around a ring 100,000 times through one
    /// mutex and one condition variable; every pass in order, counted once.
    ThreadPingPong,
    /// Kernel threads sleeping to different deadlines wake at or after them, in
    /// deadline order.
    ThreadSleep,
    /// A kernel thread waiting on an event is woken by the timer interrupt handler.
    ThreadInterruptWake,
    /// Kernel threads with TLS blocks read back their own `%fs`-relative values
    /// after many switches and preemptions.
    ThreadTls,
    /// Kernel threads that use SSE keep their XMM registers and MXCSR across
    /// switches and preemptions; others cannot use SSE.
    ThreadFpu,
    /// A kernel thread that never yields and user processes share the CPU.
    ThreadWithProcess,
    /// A kernel thread that overflows its stack faults on its guard page, is
    /// reported and ended, and the kernel goes on.
    ThreadStackOverflow,
    /// Panics on purpose: the panic path must exit with the failure code.
    Panic,
    /// Fails on purpose: proves the harness reports a failed kernel test as failed.
    Fail,
}

impl KernelTest {
    /// Every test, in the order `--help` texts list them.
    pub const ALL: [KernelTest; 34] = [
        KernelTest::Boot,
        KernelTest::Timer,
        KernelTest::PageFault,
        KernelTest::InvalidOpcode,
        KernelTest::Heap,
        KernelTest::Frames,
        KernelTest::Devices,
        KernelTest::Block,
        KernelTest::BlockFaults,
        KernelTest::Entropy,
        KernelTest::Random,
        KernelTest::NetPing,
        KernelTest::UdpEcho,
        KernelTest::NetPeer,
        KernelTest::NetServe,
        KernelTest::NetDhcp,
        KernelTest::Tunnel,
        KernelTest::TunnelSoak,
        KernelTest::TunnelModifiedPeer,
        KernelTest::TunnelReuse,
        KernelTest::TunnelFlood,
        KernelTest::UserHello,
        KernelTest::UserPointers,
        KernelTest::UserFault,
        KernelTest::InitialImage,
        KernelTest::ThreadPingPong,
        KernelTest::ThreadSleep,
        KernelTest::ThreadInterruptWake,
        KernelTest::ThreadTls,
        KernelTest::ThreadFpu,
        KernelTest::ThreadWithProcess,
        KernelTest::ThreadStackOverflow,
        KernelTest::Panic,
        KernelTest::Fail,
    ];

    /// The name used on the command line and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            KernelTest::Boot => "boot",
            KernelTest::Timer => "timer",
            KernelTest::PageFault => "page_fault",
            KernelTest::InvalidOpcode => "invalid_opcode",
            KernelTest::Heap => "heap",
            KernelTest::Frames => "frames",
            KernelTest::Devices => "devices",
            KernelTest::Block => "block",
            KernelTest::BlockFaults => "block_faults",
            KernelTest::Entropy => "entropy",
            KernelTest::Random => "random",
            KernelTest::NetPing => "net_ping",
            KernelTest::UdpEcho => "udp_echo",
            KernelTest::NetPeer => "net_peer",
            KernelTest::NetServe => "net_serve",
            KernelTest::NetDhcp => "net_dhcp",
            KernelTest::Tunnel => "tunnel",
            KernelTest::TunnelSoak => "tunnel_soak",
            KernelTest::TunnelModifiedPeer => "tunnel_modified_peer",
            KernelTest::TunnelReuse => "tunnel_reuse",
            KernelTest::TunnelFlood => "tunnel_flood",
            KernelTest::UserHello => "user_hello",
            KernelTest::UserPointers => "user_pointers",
            KernelTest::UserFault => "user_fault",
            KernelTest::InitialImage => "initial_image",
            KernelTest::ThreadPingPong => "thread_ping_pong",
            KernelTest::ThreadSleep => "thread_sleep",
            KernelTest::ThreadInterruptWake => "thread_interrupt_wake",
            KernelTest::ThreadTls => "thread_tls",
            KernelTest::ThreadFpu => "thread_fpu",
            KernelTest::ThreadWithProcess => "thread_with_process",
            KernelTest::ThreadStackOverflow => "thread_stack_overflow",
            KernelTest::Panic => "panic",
            KernelTest::Fail => "fail",
        }
    }

    /// The test with this name, if there is one.
    pub fn from_name(name: &str) -> Option<KernelTest> {
        Self::ALL.into_iter().find(|test| test.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for test in KernelTest::ALL {
            assert_eq!(KernelTest::from_name(test.name()), Some(test));
        }
        assert_eq!(KernelTest::from_name("Boot"), None);
        assert_eq!(KernelTest::from_name(""), None);
    }
}
