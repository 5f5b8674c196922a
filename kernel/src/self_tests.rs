//! The names of the in-kernel tests a command line can select with `test=NAME`.
//!
//! The bodies live with the platform (they touch the machine); the names live here so
//! the parser, the kernel and host tests agree on them.

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
    /// Panics on purpose: the panic path must exit with the failure code.
    Panic,
    /// Fails on purpose: proves the harness reports a failed kernel test as failed.
    Fail,
}

impl KernelTest {
    /// Every test, in the order `--help` texts list them.
    pub const ALL: [KernelTest; 8] = [
        KernelTest::Boot,
        KernelTest::Timer,
        KernelTest::PageFault,
        KernelTest::InvalidOpcode,
        KernelTest::Heap,
        KernelTest::Frames,
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
