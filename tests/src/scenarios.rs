//! The process-model rows: each boots the kernel with `init=SET`, which starts the
//! initial image's process set SET (`images/boot/image.toml`) and runs it to its end.
//!
//! A row is judged on how every process ended (the kernel's `process-end` reports:
//! exactly the expected set, no more, no fewer) and on lines the programs print,
//! which the kernel prefixes with the user's name so no program can forge a report.

use std::time::Duration;

use ethos_abi::{ExitCode, Report};

use crate::harness::{Expectation, Transcript};
use crate::qemu::{Accelerator, GuestConsole, Machine};
use crate::system::{Media, SystemTest};

/// One expected ending: user, program, how (`exit`, `fault`, `killed`, …) and its number.
pub(crate) type Ending = (&'static str, &'static str, &'static str, i64);

/// One reported ending: process id, user, program, how and its number.
pub(crate) type Reported = (u64, String, String, String, i64);

pub(crate) fn endings(transcript: &Transcript) -> Vec<Reported> {
    transcript
        .reports()
        .filter_map(Result::ok)
        .filter_map(|report| match report {
            Report::ProcessEnd {
                process,
                user,
                program,
                how,
                status,
            } => Some((
                process,
                user.to_string(),
                program.to_string(),
                how.to_string(),
                status,
            )),
            _ => None,
        })
        .collect()
}

/// Every process ended as `expected` says, in any order, and no other process ended.
pub(crate) fn ended(transcript: &Transcript, expected: &[Ending]) -> Result<(), String> {
    let mut seen: Vec<(String, String, String, i64)> = endings(transcript)
        .into_iter()
        .map(|(_, user, program, how, status)| (user, program, how, status))
        .collect();
    let mut wanted: Vec<(String, String, String, i64)> = expected
        .iter()
        .map(|(user, program, how, status)| {
            (
                user.to_string(),
                program.to_string(),
                how.to_string(),
                *status,
            )
        })
        .collect();
    seen.sort();
    wanted.sort();
    if seen == wanted {
        Ok(())
    } else {
        Err(format!("processes ended as {seen:?}; expected {wanted:?}"))
    }
}

/// A console line from `user`'s program: exactly `text`.
pub(crate) fn printed(transcript: &Transcript, user: &str, text: &str) -> Result<(), String> {
    let expected = format!("user {user}: {text}");
    transcript
        .lines
        .iter()
        .any(|(_, line)| *line == expected)
        .then_some(())
        .ok_or_else(|| format!("no console line `{expected}`"))
}

fn ipc_checked(transcript: &Transcript) -> Result<(), String> {
    ended(
        transcript,
        &[
            ("alice", "calc-server", "exit", 0),
            ("bob", "calc-client", "exit", 0),
        ],
    )?;
    printed(transcript, "alice", "calc-server: connection from bob")?;
    printed(transcript, "bob", "calc-client: 110 replies correct")
}

fn typecheck_checked(transcript: &Transcript) -> Result<(), String> {
    ended(
        transcript,
        &[
            ("alice", "calc-server", "exit", 0),
            ("bob", "calc-ill-typed", "exit", 0),
        ],
    )?;
    // The server decoded every request it read: the bad bytes never reached it.
    printed(
        transcript,
        "alice",
        "calc-server: served 2 requests, 0 malformed",
    )
}

fn authorization_checked(transcript: &Transcript) -> Result<(), String> {
    ended(
        transcript,
        &[
            ("alice", "calc-server", "exit", 0),
            ("bob", "calc-client", "exit", 0),
            // The program is granted, its user is not.
            ("carol", "calc-client", "exit", 3),
            // The user is granted for another program, not for this one.
            ("bob", "calc-probe", "exit", 0),
        ],
    )?;
    printed(transcript, "carol", "calc-client: not authorized")?;
    printed(
        transcript,
        "bob",
        "calc-probe: not authorized, as the policy says",
    )
}

fn faults_checked(transcript: &Transcript) -> Result<(), String> {
    ended(
        transcript,
        &[
            ("alice", "calc-server", "exit", 0),
            ("bob", "calc-client", "exit", 0),
            ("carol", "bad-pointer", "exit", 0),
            ("carol", "fault-kernel-read", "fault", 14),
            ("carol", "fault-invalid-opcode", "fault", 6),
        ],
    )?;
    let faults = transcript
        .reports()
        .filter_map(Result::ok)
        .filter(|report| matches!(report, Report::Fault { .. }))
        .count();
    if faults != 2 {
        return Err(format!("{faults} fault reports, expected 2"));
    }
    printed(transcript, "bob", "calc-client: 110 replies correct")?;
    printed(
        transcript,
        "alice",
        "calc-server: served 111 requests, 0 malformed",
    )
}

fn fdsend_checked(transcript: &Transcript) -> Result<(), String> {
    ended(
        transcript,
        &[
            ("alice", "desk-dispatcher", "exit", 0),
            ("carol", "desk-worker", "exit", 0),
            ("bob", "desk-client", "exit", 0),
        ],
    )?;
    printed(
        transcript,
        "carol",
        "desk-worker: served 11 requests for carol, 0 malformed",
    )?;
    printed(transcript, "bob", "desk-client: 10 replies correct")
}

fn events_checked(transcript: &Transcript) -> Result<(), String> {
    ended(transcript, &[("alice", "events", "exit", 0)])?;
    printed(transcript, "alice", "events: every check passed")
}

fn sign_refused_checked(transcript: &Transcript) -> Result<(), String> {
    ended(
        transcript,
        &[
            ("alice", "sign-check", "exit", 3),
            ("carol", "sign-check", "exit", 3),
        ],
    )?;
    for user in ["alice", "carol"] {
        printed(transcript, user, "sign-check: sign refused: NotAuthorized")?;
        printed(
            transcript,
            user,
            "sign-check: a signature nobody made refused: InvalidAuthentication",
        )?;
    }
    Ok(())
}

fn family_checked(transcript: &Transcript) -> Result<(), String> {
    // The parent exits 0, the child that exec'd `hello` exits 0 as `hello`, and the
    // spinning child (still `family`) is killed by the parent.
    let ends = endings(transcript);
    let parent = ends
        .iter()
        .find(|(_, user, program, how, status)| {
            user == "alice" && program == "family" && how == "exit" && *status == 0
        })
        .ok_or_else(|| format!("`family` did not exit 0: {ends:?}"))?
        .0;
    let killed = ends.iter().any(|(process, user, program, how, status)| {
        *process != parent
            && user == "alice"
            && program == "family"
            && how == "killed"
            && *status == parent as i64
    });
    let became_hello = ends.iter().any(|(_, user, program, how, status)| {
        user == "alice" && program == "hello" && how == "exit" && *status == 0
    });
    if !killed || !became_hello || ends.len() != 3 {
        return Err(format!(
            "expected the parent's exit, a child killed by it and a child ending as hello: {ends:?}"
        ));
    }
    printed(transcript, "alice", "hello, world, from an ELF program")
}

/// How far the kernel heap may be from where it started once the soak ended, in bytes.
const HEAP_SLACK_AFTER: u64 = 16 * 1024;
/// The kernel heap's use before the set ran, its true peak, and its use after: the
/// init set's `heap_before`, `heap_peak` and `heap_after` metrics.
pub(crate) fn heap_figures(transcript: &Transcript) -> Result<(u64, u64, u64), String> {
    let metric = |name: &str| {
        transcript
            .metric(name)
            .ok_or_else(|| format!("no {name} metric"))
    };
    Ok((
        metric("heap_before")?,
        metric("heap_peak")?,
        metric("heap_after")?,
    ))
}

/// The kernel memory each process may hold, as the kernel reported it before the set
/// started (`kernel_memory_per_process`): the image's limit, lowered on the machine
/// to a quarter of the kernel heap.
pub(crate) fn kernel_memory_limit(transcript: &Transcript) -> Result<u64, String> {
    transcript
        .metric("kernel_memory_per_process")
        .ok_or_else(|| "no kernel_memory_per_process metric".to_string())
}

/// How far above its start the kernel heap may go while the soak runs, in bytes.
pub(crate) const HEAP_SLACK_PEAK: u64 = 256 * 1024;

fn soak_checked(transcript: &Transcript) -> Result<(), String> {
    ended(
        transcript,
        &[
            ("alice", "soak-server", "exit", 0),
            ("bob", "soak-client", "exit", 0),
        ],
    )?;
    printed(transcript, "bob", "soak-client: 1000000 messages")?;
    let (before, peak, after) = heap_figures(transcript)?;
    // Tables the run grew keep their capacity, and while the processes live their
    // descriptor and event tables and the messages in flight take room: constants,
    // whatever the count of messages. A leak of one byte per message would be
    // 1,000,000 bytes, far beyond either bound.
    if after.abs_diff(before) > HEAP_SLACK_AFTER || peak.saturating_sub(before) > HEAP_SLACK_PEAK {
        return Err(format!(
            "kernel heap use was {before} bytes before the soak, {peak} at most and {after} after \
             (allowed: {HEAP_SLACK_AFTER} bytes apart at the end, {HEAP_SLACK_PEAK} at the peak)"
        ));
    }
    Ok(())
}

/// Most bytes the kernel heap may hold after `memory-hog` beyond what it held before:
/// the values it was given are gone with their events.
const HEAP_SLACK_AFTER_HOG: u64 = 16 * 1024;

/// What `memory-hog` holds: values of the most one `random` gives (1 MiB), after a
/// 32 MiB one past that most is refused.
const HOG_SMALL: u64 = ethos_abi::arguments::MAXIMUM_RANDOM_SIZE;

fn memory_checked(transcript: &Transcript) -> Result<(), String> {
    ended(transcript, &[("carol", "memory-hog", "exit", 0)])?;
    let limit = kernel_memory_limit(transcript)?;
    let event = ethos_abi::arguments::EVENT_KERNEL_BYTES as u64;
    // A 32 MiB random is past the per-call maximum; the limit, at most a quarter of
    // the kernel heap, refuses before the heap can: after exactly as many values,
    // with their events, as it holds.
    let small = limit / (HOG_SMALL + event);
    for line in [
        "memory-hog: random of 32 MiB refused, InvalidArgument".to_string(),
        format!("memory-hog: {small} randoms of 1 MiB held, then refused, LimitReached"),
        "memory-hog: retire of a held value into 16 bytes refused, BufferTooSmall".into(),
        "memory-hog: print over the limit refused, InvalidArgument".into(),
        "memory-hog: every request was answered and the kernel went on".into(),
    ] {
        printed(transcript, "carol", &line)?;
    }
    // The peak is the allocator's own: the values the kernel held show, and nothing
    // past the limit does, as a value is refused before it is allocated.
    let (before, peak, after) = heap_figures(transcript)?;
    let held = small * HOG_SMALL;
    if peak.saturating_sub(before) < held {
        return Err(format!(
            "heap_peak {peak} is not {held} bytes above heap_before {before}, though the \
             kernel held that much"
        ));
    }
    if peak.saturating_sub(before) > limit + HEAP_SLACK_PEAK {
        return Err(format!(
            "heap_peak {peak} is more than the {limit}-byte limit above heap_before {before} \
             (allowed: {HEAP_SLACK_PEAK} more)"
        ));
    }
    if after.saturating_sub(before) > HEAP_SLACK_AFTER_HOG {
        return Err(format!(
            "kernel heap use was {before} bytes before memory-hog and {after} after \
             (allowed: {HEAP_SLACK_AFTER_HOG} more)"
        ));
    }
    println!(
        "     limit {limit} bytes: a 32 MiB random refused, {small} of 1 MiB held, then \
         LimitReached; kernel heap {before} bytes before, {peak} at most, {after} after"
    );
    Ok(())
}

/// How far the kernel heap may be from where it started once a fuzz set ended, in
/// bytes: what every fuzzer held went with it.
const HEAP_SLACK_AFTER_FUZZ: u64 = 16 * 1024;

/// The last place the first fuzzer of `seed` said it had reached, for a failure.
fn fuzz_checkpoint(transcript: &Transcript, seed: u64) -> String {
    let prefix = format!("user fuzz-{seed}: syscall-fuzz: seed {seed} pid ");
    transcript
        .lines
        .iter()
        .rev()
        .find(|(_, line)| line.starts_with(&prefix) && line.contains(" at call #"))
        .map_or_else(
            || "before its first checkpoint".to_string(),
            |(_, line)| format!("last checkpoint `{line}`"),
        )
}

/// The first fuzzer's closing line: its process id, calls made and nanoseconds.
fn fuzz_summary(transcript: &Transcript, seed: u64) -> Option<(u64, u64, u64)> {
    let prefix = format!("user fuzz-{seed}: syscall-fuzz: seed {seed} pid ");
    transcript.lines.iter().find_map(|(_, line)| {
        let rest = line.strip_prefix(&prefix)?;
        let (pid, rest) = rest.split_once(": ")?;
        let (calls, rest) = rest.split_once(" calls in ")?;
        let (nanoseconds, _) = rest.split_once(" ns")?;
        Some((
            pid.parse().ok()?,
            calls.parse().ok()?,
            nanoseconds.parse().ok()?,
        ))
    })
}

/// A fuzz set with `seed` (`syscall-fuzz` as fuzz-SEED beside `fuzz-server`): the
/// kernel ran the set to its end; no fuzzer saw an impossible answer; the first made
/// all its calls and exited 0; every child it announced ended with a report, by
/// `exit` (of whatever it drew), killed, or as `hello`; nothing faulted, hit a
/// limit or deadlocked; the server was stopped with no malformed request; and the
/// kernel heap came back within [`HEAP_SLACK_AFTER_FUZZ`] of where it started.
fn fuzz_checked(transcript: &Transcript, seed: u64) -> Result<(), String> {
    let user = format!("fuzz-{seed}");
    if let Some((_, line)) = transcript
        .lines
        .iter()
        .find(|(_, line)| line.contains("impossible answer"))
    {
        return Err(format!("seed {seed}: {line}"));
    }
    let (first, calls, nanoseconds) = fuzz_summary(transcript, seed).ok_or_else(|| {
        format!(
            "seed {seed}: the first fuzzer never finished ({})",
            fuzz_checkpoint(transcript, seed)
        )
    })?;
    if calls != 200_000 {
        return Err(format!(
            "seed {seed}: the first fuzzer made {calls} calls, not 200000"
        ));
    }
    let ends = endings(transcript);
    let mut server_ended = false;
    for (process, who, program, how, status) in &ends {
        let fine = if who == "alice" && program == "fuzz-server" {
            server_ended = how == "exit" && *status == 0;
            server_ended
        } else if *process == first {
            who == &user && program == "syscall-fuzz" && how == "exit" && *status == 0
        } else if program == "fuzz-server" {
            // A child that became fuzz-server as the fuzz user: the policy grants that
            // user no `advertise`, so it must end there (status 1), or be killed.
            who == &user && ((how == "exit" && *status == 1) || how == "killed")
        } else {
            who == &user
                && (program == "syscall-fuzz" || program == "hello")
                && (how == "exit" || how == "killed")
        };
        if !fine {
            return Err(format!(
                "seed {seed}: process {process} ({program} as {who}) ended {how} {status} ({})",
                fuzz_checkpoint(transcript, seed)
            ));
        }
    }
    if !server_ended {
        return Err(format!("seed {seed}: fuzz-server did not exit 0: {ends:?}"));
    }
    // Every child announced itself; each must have ended with a report.
    let child_prefix = format!("user {user}: syscall-fuzz: seed ");
    let children: Vec<u64> = transcript
        .lines
        .iter()
        .filter_map(|(_, line)| {
            let rest = line.strip_prefix(&child_prefix)?;
            let (_, rest) = rest.split_once(" pid ")?;
            let (pid, rest) = rest.split_once(": ")?;
            rest.starts_with("child of pid").then(|| pid.parse().ok())?
        })
        .collect();
    if let Some(child) = children
        .iter()
        .find(|child| !ends.iter().any(|(process, ..)| process == *child))
    {
        return Err(format!(
            "seed {seed}: child {child} has no process-end report"
        ));
    }
    if !transcript.lines.iter().any(|(_, line)| {
        line.starts_with("user alice: fuzz-server: served ") && line.contains(" 0 malformed")
    }) {
        return Err(format!(
            "seed {seed}: no line of fuzz-server serving with 0 malformed"
        ));
    }
    let (before, peak, after) = heap_figures(transcript)?;
    let per_second = calls as f64 / (nanoseconds.max(1) as f64 / 1e9);
    // The figures the issue asks for, beside the row's verdict.
    println!(
        "     seed {seed}: {calls} calls by the first fuzzer in {:.1} s ({per_second:.0} calls/s), \
         {} children; kernel heap {before} bytes before, {peak} at most, {after} after",
        nanoseconds as f64 / 1e9,
        children.len()
    );
    if after.abs_diff(before) > HEAP_SLACK_AFTER_FUZZ {
        return Err(format!(
            "seed {seed}: kernel heap use was {before} bytes before the fuzz set and {after} \
             after (allowed: {HEAP_SLACK_AFTER_FUZZ} bytes apart)"
        ));
    }
    Ok(())
}

fn fuzz_seed_1(transcript: &Transcript) -> Result<(), String> {
    fuzz_checked(transcript, 1)
}

fn fuzz_seed_7(transcript: &Transcript) -> Result<(), String> {
    fuzz_checked(transcript, 7)
}

fn fuzz_seed_42(transcript: &Transcript) -> Result<(), String> {
    fuzz_checked(transcript, 42)
}

fn fuzz_seed_1337(transcript: &Transcript) -> Result<(), String> {
    fuzz_checked(transcript, 1337)
}

/// How long a fuzz set may take under TCG.
const FUZZ_TIMEOUT: Duration = Duration::from_secs(300);

/// The production kernel said it has no in-kernel tests and ran none.
fn self_tests_absent(transcript: &Transcript) -> Result<(), String> {
    let reports: Vec<Report<'_>> = transcript.reports().filter_map(Result::ok).collect();
    if reports
        .iter()
        .any(|report| matches!(report, Report::TestBegin { .. } | Report::TestPass { .. }))
    {
        return Err("the production kernel began or passed an in-kernel test".into());
    }
    reports
        .iter()
        .any(|report| {
            matches!(report, Report::TestFail { name, reason }
                if *name == "boot" && reason.contains("built without its in-kernel tests"))
        })
        .then_some(())
        .ok_or_else(|| "no report that the kernel was built without its in-kernel tests".into())
}

pub(crate) const fn row(
    name: &'static str,
    about: &'static str,
    command_line: &'static str,
    check: fn(&Transcript) -> Result<(), String>,
    timeout: Option<Duration>,
) -> SystemTest {
    SystemTest {
        name,
        about,
        machine: Machine::Microvm,
        accelerator: Accelerator::Tcg,
        media: Media::Pvh {
            test: None,
            words: command_line,
        },
        console: GuestConsole::Serial,
        expectation: Expectation::Ends {
            code: ExitCode::Success,
            check,
        },
        must_fail_with: None,
        cpu: None,
        reports_initial_image: false,
        timeout,
    }
}

/// The process-model rows.
pub fn all() -> Vec<SystemTest> {
    vec![
        row(
            "process-ipc",
            "two programs of different users exchange typed requests and replies over a service",
            "init=ipc",
            ipc_checked,
            None,
        ),
        row(
            "process-typecheck",
            "an ill-typed write is refused with invalid-type and the server never sees it",
            "init=typecheck",
            typecheck_checked,
            None,
        ),
        row(
            "process-authorization",
            "ipc is refused unless the policy grants both the user and the program",
            "init=authorization",
            authorization_checked,
            None,
        ),
        row(
            "process-faults",
            "a kernel read and #UD kill their programs, a bad pointer gets invalid-argument, the rest finish",
            "init=faults",
            faults_checked,
            None,
        ),
        row(
            "process-fdsend",
            "fdSend hands a connection to another user's virtual process, which serves it",
            "init=fdsend",
            fdsend_checked,
            None,
        ),
        row(
            "process-events",
            "block answers the first completed event, cancel drops one, beep wakes",
            "init=events",
            events_checked,
            None,
        ),
        row(
            "process-sign-refused",
            "the default image holds no user's key: sign is refused with NotAuthorized, and \
             authenticate refuses a signature nobody made",
            "init=signing",
            sign_refused_checked,
            None,
        ),
        row(
            "process-family",
            "fork, exec and kill: a child becomes hello, a spinning child is killed by its parent",
            "init=family",
            family_checked,
            None,
        ),
        row(
            "process-soak",
            "1,000,000 typed messages with the kernel heap the same size before and after",
            "init=soak",
            soak_checked,
            Some(Duration::from_secs(900)),
        ),
        row(
            "process-memory-hog",
            "requests for more kernel memory than the per-process limit (a quarter of the \
             heap at most) are answered LimitReached before the heap is touched, then \
             BufferTooSmall and InvalidArgument; the kernel goes on and its heap ends where it \
             began",
            "init=memory",
            memory_checked,
            None,
        ),
        row(
            "syscall-fuzz-seed-1",
            "200,000 random system calls (seed 1), forked fuzzers and a server beside: the \
             kernel stays up, every answer is possible, every process ends with a report \
             and the kernel heap ends where it began",
            "init=fuzz-1",
            fuzz_seed_1,
            Some(FUZZ_TIMEOUT),
        ),
        row(
            "syscall-fuzz-seed-7",
            "syscall-fuzz-seed-1 with seed 7",
            "init=fuzz-7",
            fuzz_seed_7,
            Some(FUZZ_TIMEOUT),
        ),
        row(
            "syscall-fuzz-seed-42",
            "syscall-fuzz-seed-1 with seed 42",
            "init=fuzz-42",
            fuzz_seed_42,
            Some(FUZZ_TIMEOUT),
        ),
        row(
            "syscall-fuzz-seed-1337",
            "syscall-fuzz-seed-1 with seed 1337",
            "init=fuzz-1337",
            fuzz_seed_1337,
            Some(FUZZ_TIMEOUT),
        ),
        // The kernel users boot carries no in-kernel tests, yet runs programs alike.
        SystemTest {
            media: Media::ProductionPvh { words: "init=ipc" },
            ..row(
                "production-process-ipc",
                "the production kernel (no in-kernel tests) runs the typed exchange of process-ipc",
                "",
                ipc_checked,
                None,
            )
        },
        SystemTest {
            media: Media::ProductionPvh { words: "test=boot" },
            expectation: Expectation::Ends {
                code: ExitCode::Failure,
                check: self_tests_absent,
            },
            ..row(
                "production-refuses-tests",
                "the production kernel refuses test=NAME: its in-kernel tests are not linked",
                "",
                self_tests_absent,
                None,
            )
        },
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::harness::RunEnd;

    /// What `memory-hog` printed on a 256 MiB machine (a limit of 16,488,448 bytes),
    /// with the refusals and the peak to change.
    fn memory_hog(large: &str, small: &str, peak: u64) -> Transcript {
        let lines: Vec<String> = vec![
            "@ethos metric name=kernel_memory_per_process value=16488448 unit=bytes".into(),
            "@ethos metric name=heap_before value=46488 unit=bytes".into(),
            format!("user carol: memory-hog: {large}"),
            format!("user carol: memory-hog: {small}"),
            "user carol: memory-hog: retire of a held value into 16 bytes refused, \
             BufferTooSmall"
                .into(),
            "user carol: memory-hog: print over the limit refused, InvalidArgument".into(),
            "user carol: memory-hog: every request was answered and the kernel went on".into(),
            "@ethos process-end pid=1 user=carol program=memory-hog how=exit status=0".into(),
            format!("@ethos metric name=heap_peak value={peak} unit=bytes"),
            "@ethos metric name=heap_after value=51632 unit=bytes".into(),
        ];
        Transcript {
            command: "qemu-system-x86_64".into(),
            lines: lines
                .into_iter()
                .map(|line| (Duration::ZERO, line))
                .collect(),
            stderr: String::new(),
            end: RunEnd::Kernel(ExitCode::Success),
        }
    }

    #[test]
    fn memory_hog_passes_only_when_the_limit_refuses_first() {
        let large = "random of 32 MiB refused, InvalidArgument";
        let small = "15 randoms of 1 MiB held, then refused, LimitReached";
        assert_eq!(
            memory_checked(&memory_hog(large, small, 15_806_344)),
            Ok(())
        );
        // What the kernel answered when a random could be as large as a value.
        let limit_refused = "random #0 of 32 MiB refused, LimitReached";
        assert!(memory_checked(&memory_hog(limit_refused, small, 15_806_344)).is_err());
        let fewer = "14 randoms of 1 MiB held, then refused, LimitReached";
        assert!(memory_checked(&memory_hog(large, fewer, 15_806_344)).is_err());
        // More than the limit was allocated.
        assert!(memory_checked(&memory_hog(large, small, 49_000_000)).is_err());
    }
}
