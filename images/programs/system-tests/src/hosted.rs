//! The system-test programs on Linux: the table the hosted platform
//! (`ethos-platform-hosted`, through `ethos_compat::hosted`) runs them from, by the
//! names `images/boot/image.toml` gives them.
//!
//! Every program whose logic is a function of this library runs as a thread. Those
//! that cannot be a thread are listed with the reason, so that an init set needing
//! one is refused with it rather than run without it. The image, not this table,
//! says who each program is (its identity, its label).

use ethos_compat::hosted::{ProgramTable, program};

use crate::hostile::{cancel_churn, deadlock, peek_flood, print_flood, value_flood};
use crate::{bounce, calc, desk, events, fuzz, signing};

/// Why the `across` and `net-bench` programs do not run here: each is one half of a run of two hosts
/// (the host-pair rows), and the hosted platform is one host with no network.
const ACROSS_HOSTS: &str = "it talks to a program on another host through the kernels' tunnel, \
     and the hosted platform is one host with no network";

/// Every program of the initial image, by name: what a hosted thread runs for it, or
/// why it cannot run there.
pub fn programs() -> ProgramTable {
    ProgramTable::new()
        .runs("calc-server", program(calc::server))
        .runs("calc-client", program(calc::client))
        .runs("calc-probe", program(calc::probe))
        .runs("calc-ill-typed", program(calc::ill_typed))
        .runs("desk-dispatcher", program(desk::dispatcher))
        .runs("desk-worker", program(desk::worker))
        .runs("desk-client", program(desk::client))
        .runs("events", program(events::run))
        .runs("soak-server", program(bounce::soak_server))
        .runs("soak-client", program(bounce::soak_client))
        .runs("bench-server", program(bounce::bench_server))
        .runs("bench-client", program(bounce::bench_client))
        .runs("fuzz-server", program(fuzz::server))
        .runs("value-flood", program(value_flood::run))
        .runs("peek-flood", program(peek_flood::run))
        .runs("cancel-churn", program(cancel_churn::run))
        .runs("deadlock-after-cancel", program(deadlock::run))
        .runs("print-flood", program(print_flood::run))
        .runs("tick-counter", program(print_flood::tick_counter))
        .runs("sign-check", program(signing::check))
        .cannot_run(
            "fault-kernel-read",
            "it reads a kernel address for the MMU to fault and the kernel to end it; a \
             thread has no MMU of its own, and the read would end the whole host process",
        )
        .cannot_run(
            "fault-invalid-opcode",
            "it executes `ud2` for the kernel to end it; on a thread the host would end \
             the whole host process",
        )
        .cannot_run(
            "bad-pointer",
            "its checks are in its Ethos binary (raw addresses passed with `unsafe`), not \
             in the library the hosted binary links",
        )
        .cannot_run(
            "memory-hog",
            "its checks are in its Ethos binary (raw calls, a `print` over the limit passed \
             with its own length), not in the library the hosted binary links",
        )
        .cannot_run(
            "syscall-fuzz",
            "it issues raw system calls with hostile addresses through `unsafe` and forks; \
             a thread shares the host's memory and cannot be copied",
        )
        .cannot_run(
            "family",
            "it forks, and a thread cannot be copied into a second process",
        )
        .cannot_run(
            "kill-waiting",
            "it forks, and a thread cannot be copied into a second process",
        )
        .cannot_run(
            "fork-churn",
            "it forks, and a thread cannot be copied into a second process",
        )
        .cannot_run("across-server", ACROSS_HOSTS)
        .cannot_run("across-client", ACROSS_HOSTS)
        .cannot_run("across-soak", ACROSS_HOSTS)
        .cannot_run("across-probe", ACROSS_HOSTS)
        .cannot_run("across-idle", ACROSS_HOSTS)
        .cannot_run("net-bench-server", ACROSS_HOSTS)
        .cannot_run("net-bench-client", ACROSS_HOSTS)
        .cannot_run(
            "hello",
            "it is written on the raw `syscall` instruction, not on ethos-compat, so it has \
             no host function",
        )
}
