//! The system-test programs on the host, as threads on the hosted platform: the init
//! sets of the real initial image (`images/boot/image.toml`, packed as `cargo xtask
//! build` packs it and read back with the kernel's reader), run as `cargo xtask run
//! --platform hosted` runs them. The executables in the image are stand-ins, one
//! per program with bytes of its own: a host run never loads them, and the policy
//! names programs through the identities the image gives them.
//!
//! The `hosted-process-*` rows of `cargo xtask test` run these sets with the image
//! of the real programs and judge them as the QEMU rows do; this checks the
//! programs, the core and the platform together where it is quick: no fork, no
//! fault and no long soak.

use std::sync::OnceLock;

use ethos_abi::report::contract::HOSTED_UNSUPPORTED;
use ethos_abi::{ExitCode, Report};
use ethos_compat::hosted::{Console, init};
use ethos_images::initial_image::LoadedDescription;
use system_test_programs::hosted::programs;

/// The initial image the description declares, packed once.
fn image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        LoadedDescription::load_default()
            .and_then(|description| description.pack_with_stand_ins())
            .unwrap_or_else(|error| panic!("the initial image: {error}"))
    })
}

/// How a run ended: its code, each process's (user, program, how, status) in the
/// order the set starts them (process ids are given in that order), and the console.
struct Run {
    code: ExitCode,
    ended: Vec<(String, String, String, i64)>,
    console: Vec<String>,
}

fn run(set: &str) -> Run {
    let outcome = init::run(
        image(),
        &format!("init={set}"),
        programs(),
        Console::collected(),
    );
    let mut ended: Vec<(u64, String, String, String, i64)> = outcome
        .lines
        .iter()
        .filter_map(|line| match Report::parse(line) {
            Ok(Some(Report::ProcessEnd {
                process,
                user,
                program,
                how,
                status,
            })) => Some((
                process,
                user.to_string(),
                program.to_string(),
                how.to_string(),
                status,
            )),
            _ => None,
        })
        .collect();
    ended.sort_by_key(|(process, ..)| *process);
    Run {
        code: outcome.code,
        ended: ended
            .into_iter()
            .map(|(_, user, program, how, status)| (user, program, how, status))
            .collect(),
        console: outcome.lines,
    }
}

impl Run {
    /// Every process exited, with these statuses in the set's order, and the run
    /// ended as a QEMU run does.
    fn exited(&self, processes: &[(&str, &str, i64)]) {
        let expected: Vec<(String, String, String, i64)> = processes
            .iter()
            .map(|(user, program, status)| {
                (
                    user.to_string(),
                    program.to_string(),
                    "exit".to_string(),
                    *status,
                )
            })
            .collect();
        assert_eq!(self.ended, expected, "{:#?}", self.console);
        assert_eq!(self.code, ExitCode::Success, "{:#?}", self.console);
    }

    fn printed(&self, line: &str) -> bool {
        self.console.iter().any(|printed| printed == line)
    }

    /// The run was refused as something the hosted platform cannot do, with a
    /// reason containing `why`, and no process ran.
    fn refused(&self, why: &str) {
        assert_eq!(self.code, ExitCode::Failure, "{:#?}", self.console);
        assert!(self.ended.is_empty(), "{:#?}", self.console);
        assert!(
            self.console.iter().any(|line| matches!(
                Report::parse(line),
                Ok(Some(Report::TestFail { name, reason }))
                    if name == HOSTED_UNSUPPORTED && reason.contains(why)
            )),
            "no {HOSTED_UNSUPPORTED} report naming `{why}`: {:#?}",
            self.console
        );
    }
}

#[test]
fn ipc() {
    let run = run("ipc");
    run.exited(&[("alice", "calc-server", 0), ("bob", "calc-client", 0)]);
    assert!(run.printed("user alice: calc-server: connection from bob"));
    assert!(run.printed("user alice: calc-server: served 111 requests, 0 malformed"));
    assert!(run.printed("user bob: calc-client: 110 replies correct"));
}

#[test]
fn typecheck() {
    let run = run("typecheck");
    run.exited(&[("alice", "calc-server", 0), ("bob", "calc-ill-typed", 0)]);
    assert!(run.printed("user alice: calc-server: served 2 requests, 0 malformed"));
}

#[test]
fn authorization() {
    let run = run("authorization");
    run.exited(&[
        ("alice", "calc-server", 0),
        ("bob", "calc-client", 0),
        ("carol", "calc-client", 3),
        ("bob", "calc-probe", 0),
    ]);
    assert!(run.printed("user carol: calc-client: not authorized"));
}

#[test]
fn fdsend() {
    let run = run("fdsend");
    run.exited(&[
        ("alice", "desk-dispatcher", 0),
        ("carol", "desk-worker", 0),
        ("bob", "desk-client", 0),
    ]);
    assert!(run.printed("user carol: desk-worker: served 11 requests for carol, 0 malformed"));
    assert!(run.printed("user bob: desk-client: 10 replies correct"));
}

#[test]
fn event_calls() {
    let run = run("events");
    run.exited(&[("alice", "events", 0)]);
    assert!(run.printed("user alice: events: every check passed"));
}

#[test]
fn bench() {
    let run = run("bench");
    run.exited(&[("alice", "bench-server", 0), ("bob", "bench-client", 0)]);
    assert!(
        run.console
            .iter()
            .any(|line| line.starts_with("user bob: bench null_ns=")
                && line.ends_with(" samples=2000")),
        "{:#?}",
        run.console
    );
    assert!(run.printed("user alice: bench-server: served 4001 requests, 0 malformed"));
}

#[test]
fn sets_the_host_cannot_run_are_refused_with_the_reason() {
    run("faults").refused("program `fault-kernel-read` cannot run hosted");
    run("faults").refused("program `fault-invalid-opcode` cannot run hosted");
    run("family").refused("program `family` cannot run hosted: it forks");
    run("memory").refused("program `memory-hog` cannot run hosted");
    run("hello").refused("program `hello` cannot run hosted");
    run("kill-waiting").refused("program `kill-waiting` cannot run hosted: it forks");
    run("fork-churn").refused("program `fork-churn` cannot run hosted: it forks");
    run("across-client").refused("program `across-client` cannot run hosted");
    run("across-idle").refused("program `across-idle` cannot run hosted");
    run("across-soak").refused("program `across-soak` cannot run hosted");
}

#[test]
fn an_unknown_set_fails_the_run_and_names_the_sets() {
    let run = run("no-such-set");
    assert_eq!(run.code, ExitCode::Failure);
    assert!(run.ended.is_empty());
    assert!(
        run.console.iter().any(|line| line.contains(
            "the initial image has no init set `no-such-set`; it has: across-client across-idle \
             across-refused across-server across-soak authorization bench"
        )),
        "{:#?}",
        run.console
    );
}
