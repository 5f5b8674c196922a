//! The hostile rows: each boots `init=SET` for one of mallory's programs that does
//! what once took the kernel down (`images/programs/system-tests/src/hostile/`):
//! values of 32 MiB, peeks by the hundred, waiters cancelled by the hundred
//! thousand, processes killed while they wait or ended by the thousand, a deadlock
//! behind a cancelled timer, prints of 32 MiB.
//!
//! A row passes when the kernel ran the set to its end; every process ended as the
//! row expects; the program printed that each call was answered with the status it
//! should be; and the kernel heap, measured by the kernel before the set started,
//! at its peak and after the last process ended, came back to where it began. The
//! figures (times, counts, heap) are printed beside the verdict.

use std::time::Duration;

use crate::harness::Transcript;
use crate::scenarios::{Ending, HEAP_SLACK_PEAK, ended, endings, heap_figures, printed, row};
use crate::system::SystemTest;

/// The user the hostile programs run as.
const USER: &str = "mallory";

/// How far above its start the kernel heap may end once a hostile set ended, in
/// bytes: what the run left in tables that keep their capacity, the service name
/// and the descriptor queue it made, and the record of the set's endings.
const HEAP_SLACK_AFTER: u64 = 16 * 1024;

/// As [`HEAP_SLACK_AFTER`], for a set that ended more processes than the
/// scheduler's record of recent endings holds (64, some 150 bytes each): a constant,
/// however many processes ended.
const HEAP_SLACK_AFTER_MANY_ENDINGS: u64 = 32 * 1024;

/// The statuses with which the kernel refuses to hold more for a process: its heap
/// cannot (`NoMemory`), or the process would pass its kernel memory limit
/// (`LimitReached`).
const MEMORY_REFUSALS: [&str; 2] = ["NoMemory", "LimitReached"];

/// The per-process kernel memory limit, which bounds how much one process can make
/// the kernel hold: the image's `[limits] kernel_memory_per_process` gives the
/// default.
const KERNEL_MEMORY_PER_PROCESS: u64 = ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY as u64;

/// What the kernel counts for one event before any value
/// (`ethos_abi::arguments::EVENT_KERNEL_BYTES`).
const EVENT_BYTES: u64 = ethos_abi::arguments::EVENT_KERNEL_BYTES as u64;

/// The text after `start` of mallory's first console line that begins with it and
/// holds `holding`.
fn line_holding<'a>(
    transcript: &'a Transcript,
    start: &str,
    holding: &str,
) -> Result<&'a str, String> {
    let start = format!("user {USER}: {start}");
    transcript
        .lines
        .iter()
        .find_map(|(_, line)| {
            line.strip_prefix(&start)
                .filter(|rest| rest.contains(holding))
        })
        .ok_or_else(|| format!("no console line starting `{start}` with `{holding}`"))
}

/// The text after `start` of mallory's first console line that begins with it.
fn line_after<'a>(transcript: &'a Transcript, start: &str) -> Result<&'a str, String> {
    line_holding(transcript, start, "")
}

/// The number `text` starts with, and the text after it.
fn leading_number(text: &str) -> Result<(u64, &str), String> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, rest) = text.split_at(digits);
    number
        .parse()
        .map(|number| (number, rest))
        .map_err(|_| format!("no number at the start of `{text}`"))
}

/// The number in mallory's line `start<number>end`.
fn figure(transcript: &Transcript, start: &str, end: &str) -> Result<u64, String> {
    let rest = line_after(transcript, start)?;
    match leading_number(rest)? {
        (number, rest) if rest == end => Ok(number),
        _ => Err(format!("the line `{start}{rest}` does not end `{end}`")),
    }
}

/// The refusal that ends mallory's line starting `start`, which must be one of
/// [`MEMORY_REFUSALS`].
fn refused_for_memory<'a>(transcript: &'a Transcript, start: &str) -> Result<&'a str, String> {
    let status = line_after(transcript, start)?;
    MEMORY_REFUSALS
        .contains(&status)
        .then_some(status)
        .ok_or_else(|| format!("`{start}` ends `{status}`, not one of {MEMORY_REFUSALS:?}"))
}

/// The kernel heap before, at its peak and after, with the end within `slack` of
/// the start.
fn heap_came_back(transcript: &Transcript, slack: u64) -> Result<(u64, u64, u64), String> {
    let (before, peak, after) = heap_figures(transcript)?;
    if after.saturating_sub(before) > slack {
        return Err(format!(
            "kernel heap use was {before} bytes before the set and {after} after (allowed: \
             {slack} more)"
        ));
    }
    Ok((before, peak, after))
}

/// The peak stayed within [`HEAP_SLACK_PEAK`] of the start: what the run did many
/// times did not pile up while it ran.
fn peak_bounded(before: u64, peak: u64, rounds: &str) -> Result<(), String> {
    if peak.saturating_sub(before) > HEAP_SLACK_PEAK {
        return Err(format!(
            "kernel heap use was {before} bytes before {rounds} and {peak} at most (allowed: \
             {HEAP_SLACK_PEAK} more)"
        ));
    }
    Ok(())
}

/// The program's last line: every call was answered and the kernel went on.
fn went_on(transcript: &Transcript, program: &str) -> Result<(), String> {
    printed(
        transcript,
        USER,
        &format!("{program}: every call was answered and the kernel went on"),
    )
}

fn value_flood_checked(transcript: &Transcript) -> Result<(), String> {
    ended(transcript, &[(USER, "value-flood", "exit", 0)])?;
    // The limit holds one 32 MiB value beside the pending read, never two: the first
    // write or the second is refused.
    let (large, refusal) = [0, 1]
        .into_iter()
        .find_map(|attempt| {
            let start = format!("value-flood: write #{attempt} of 32 MiB refused, ");
            refused_for_memory(transcript, &start)
                .ok()
                .map(|status| (attempt, status))
        })
        .ok_or("neither the first nor the second 32 MiB write was refused for memory")?;
    let nanoseconds = figure(
        transcript,
        &format!("value-flood: 32 MiB write #{large} answered in "),
        " ns",
    )?;
    let ipc = refused_for_memory(
        transcript,
        "value-flood: ipc with a 32 MiB first value refused, ",
    )?;
    let rest = line_holding(transcript, "value-flood: ", " writes of 1 MiB queued")?;
    let (queued, tail) = leading_number(rest)?;
    let small_refusal = tail
        .strip_prefix(" writes of 1 MiB queued for a peer that never reads, then refused, ")
        .filter(|status| MEMORY_REFUSALS.contains(status))
        .ok_or_else(|| format!("the 1 MiB writes ended `{tail}`"))?;
    // Beside the pending read and any 32 MiB value, the limit holds at most 63 values
    // of 1 MiB; fewer than 16 would be a refusal with the kernel nearly empty.
    let most = (KERNEL_MEMORY_PER_PROCESS - EVENT_BYTES - large * (32 << 20)) >> 20;
    if !(16..=most).contains(&queued) {
        return Err(format!(
            "{queued} writes of 1 MiB were queued before one was refused; expected 16 to {most}"
        ));
    }
    went_on(transcript, "value-flood")?;
    let (before, peak, after) = heap_came_back(transcript, HEAP_SLACK_AFTER)?;
    // The kernel took the 32 MiB value in before it refused it (or queued it).
    if peak.saturating_sub(before) < 32 << 20 {
        return Err(format!(
            "heap_peak {peak} is not 32 MiB above heap_before {before}, though the kernel read a \
             32 MiB value"
        ));
    }
    println!(
        "     the 32 MiB write #{large} was {refusal} after {:.1} ms; the 32 MiB ipc {ipc}; \
         {queued} writes of 1 MiB, then {small_refusal}; kernel heap {before} bytes before, \
         {peak} at most, {after} after",
        nanoseconds as f64 / 1e6
    );
    Ok(())
}

/// The message `peek-flood` peeks, and what the kernel counts for each copy.
const PEEKED_MESSAGE: u64 = 256 << 10;

fn peek_flood_checked(transcript: &Transcript) -> Result<(), String> {
    ended(transcript, &[(USER, "peek-flood", "exit", 0)])?;
    let rest = line_holding(
        transcript,
        "peek-flood: ",
        " peeks of a 256 KiB message held",
    )?;
    let (peeks, tail) = leading_number(rest)?;
    let refusal = tail
        .strip_prefix(" peeks of a 256 KiB message held, then refused, ")
        .filter(|status| MEMORY_REFUSALS.contains(status))
        .ok_or_else(|| format!("the peeks ended `{tail}`"))?;
    // The limit holds the message itself and at most 254 copies with their events;
    // fewer than 200 (50 MiB) would be a refusal long before the kernel was full. The
    // event limit alone (4,096) would have let 1 GiB of copies through.
    let most = (KERNEL_MEMORY_PER_PROCESS - PEEKED_MESSAGE) / (PEEKED_MESSAGE + EVENT_BYTES);
    if !(200..=most).contains(&peeks) {
        return Err(format!(
            "{peeks} peeks were held before one was refused; expected 200 to {most}"
        ));
    }
    for line in [
        "peek-flood: every copy cancelled",
        "peek-flood: a peek after them gives the message",
    ] {
        printed(transcript, USER, line)?;
    }
    went_on(transcript, "peek-flood")?;
    let (before, peak, after) = heap_came_back(transcript, HEAP_SLACK_AFTER)?;
    if peak.saturating_sub(before) < peeks * PEEKED_MESSAGE {
        return Err(format!(
            "heap_peak {peak} is not {peeks} copies of 256 KiB above heap_before {before}"
        ));
    }
    println!(
        "     {peeks} copies of 256 KiB held, then {refusal}; kernel heap {before} bytes \
         before, {peak} at most, {after} after"
    );
    Ok(())
}

/// The waiters `cancel-churn` makes and cancels, [`CHURN_ROUNDS`] of each.
const CHURNED: [&str; 4] = ["beep", "read", "import", "fdReceive"];
/// Rounds of each.
const CHURN_ROUNDS: u64 = 100_000;

fn cancel_churn_checked(transcript: &Transcript) -> Result<(), String> {
    ended(transcript, &[(USER, "cancel-churn", "exit", 0)])?;
    let mut times = Vec::new();
    for what in CHURNED {
        let milliseconds = figure(
            transcript,
            &format!("cancel-churn: {CHURN_ROUNDS} rounds of {what} and cancel in "),
            " ms",
        )?;
        times.push(format!("{what} {milliseconds} ms"));
    }
    printed(
        transcript,
        USER,
        "cancel-churn: a read, an import, an fdReceive and a beep made afterwards are answered",
    )?;
    went_on(transcript, "cancel-churn")?;
    let (before, peak, after) = heap_came_back(transcript, HEAP_SLACK_AFTER)?;
    // 400,000 waiters came and went: one byte kept for each would pass the bound.
    peak_bounded(before, peak, "400,000 waiters were made and cancelled")?;
    println!(
        "     {CHURN_ROUNDS} rounds each: {}; kernel heap {before} bytes before, {peak} at \
         most, {after} after",
        times.join(", ")
    );
    Ok(())
}

/// Children `kill-waiting` kills while they wait, and children that exit with
/// timers set.
const KILLED_WAITING: usize = 1_000;
const EXITED_WITH_TIMERS: usize = 100;

/// How far above its start the kernel heap may go while `kill-waiting` runs: one
/// child's 1,000 timers and their events, and the parent's queues and tables.
const HEAP_SLACK_PEAK_KILL_WAITING: u64 = 512 * 1024;

fn kill_waiting_checked(transcript: &Transcript) -> Result<(), String> {
    // The children are killed by their parent: the status of a killed ending.
    let ends = endings(transcript);
    let parent = ends
        .iter()
        .find(|(_, _, _, how, _)| how == "killed")
        .map(|(.., killer)| *killer)
        .ok_or("no child was killed")?;
    if !ends.iter().any(|(process, _, _, how, status)| {
        *process as i64 == parent && how == "exit" && *status == 0
    }) {
        return Err(format!("the killer, process {parent}, did not exit 0"));
    }
    let mut expected: Vec<Ending> = vec![(USER, "kill-waiting", "exit", 0)];
    expected.extend(std::iter::repeat_n(
        (USER, "kill-waiting", "killed", parent),
        KILLED_WAITING,
    ));
    expected.extend(std::iter::repeat_n(
        (USER, "kill-waiting", "exit", 0),
        EXITED_WITH_TIMERS,
    ));
    ended(transcript, &expected).map_err(|_| {
        let unexpected: Vec<_> = ends
            .iter()
            .filter(|(_, _, _, how, status)| {
                !(how == "exit" && *status == 0 || how == "killed" && *status == parent)
            })
            .take(4)
            .collect();
        format!(
            "{} processes ended; expected the parent, {KILLED_WAITING} killed by it and \
             {EXITED_WITH_TIMERS} exiting 0; unexpected: {unexpected:?}",
            ends.len()
        )
    })?;
    let killing = figure(
        transcript,
        &format!(
            "kill-waiting: {KILLED_WAITING} children killed while waiting on read, beep, import \
             and fdReceive in "
        ),
        " ms",
    )?;
    let exiting = figure(
        transcript,
        &format!(
            "kill-waiting: {EXITED_WITH_TIMERS} children exited with 1000 timers set each in "
        ),
        " ms",
    )?;
    printed(
        transcript,
        USER,
        "kill-waiting: a read, an import, an fdReceive and a beep made afterwards are answered",
    )?;
    went_on(transcript, "kill-waiting")?;
    let (before, peak, after) = heap_came_back(transcript, HEAP_SLACK_AFTER_MANY_ENDINGS)?;
    if peak.saturating_sub(before) > HEAP_SLACK_PEAK_KILL_WAITING {
        return Err(format!(
            "kernel heap use was {before} bytes before the children and {peak} at most \
             (allowed: {HEAP_SLACK_PEAK_KILL_WAITING} more)"
        ));
    }
    println!(
        "     {KILLED_WAITING} killed while waiting in {killing} ms, {EXITED_WITH_TIMERS} \
         exited with 1,000 timers each in {exiting} ms; kernel heap {before} bytes before, \
         {peak} at most, {after} after"
    );
    Ok(())
}

/// Children `fork-churn` forks.
const FORK_CHURN_CHILDREN: usize = 2_000;

fn fork_churn_checked(transcript: &Transcript) -> Result<(), String> {
    let expected = vec![(USER, "fork-churn", "exit", 0); FORK_CHURN_CHILDREN + 1];
    ended(transcript, &expected).map_err(|_| {
        format!(
            "{} processes ended, not {} exiting 0",
            endings(transcript).len(),
            FORK_CHURN_CHILDREN + 1
        )
    })?;
    let counted = transcript.metric("processes_ended");
    if counted != Some(FORK_CHURN_CHILDREN as u64 + 1) {
        return Err(format!("processes_ended is {counted:?}"));
    }
    let milliseconds = figure(
        transcript,
        &format!("fork-churn: {FORK_CHURN_CHILDREN} children forked and ended in "),
        " ms",
    )?;
    went_on(transcript, "fork-churn")?;
    let (before, peak, after) = heap_came_back(transcript, HEAP_SLACK_AFTER_MANY_ENDINGS)?;
    peak_bounded(before, peak, "2,000 processes were forked and ended")?;
    println!(
        "     {FORK_CHURN_CHILDREN} children in {milliseconds} ms; kernel heap {before} bytes \
         before, {peak} at most, {after} after"
    );
    Ok(())
}

fn deadlock_checked(transcript: &Transcript) -> Result<(), String> {
    ended(
        transcript,
        &[(USER, "deadlock-after-cancel", "deadlock", 0)],
    )?;
    printed(
        transcript,
        USER,
        "deadlock-after-cancel: a beep an hour ahead cancelled; blocking on an import nobody \
         answers",
    )?;
    let (before, peak, after) = heap_came_back(transcript, HEAP_SLACK_AFTER)?;
    println!("     kernel heap {before} bytes before, {peak} at most, {after} after");
    Ok(())
}

/// The line of a maximal print: 65,536 bytes, `=` after the words.
fn maximal_print_line() -> String {
    let mut line = String::from("print-flood: a print of 65536 bytes: ");
    line.extend(std::iter::repeat_n('=', 65_536 - line.len()));
    line
}

/// How late `tick-counter`'s latest beep may be answered while `print-flood`
/// prints: a few maximal prints under a loaded TCG host. A print of 32 MiB, when
/// the kernel took one, held the scheduler for 23 s.
const TICK_LATENESS_MILLISECONDS: u64 = 5_000;

fn print_flood_checked(transcript: &Transcript) -> Result<(), String> {
    ended(
        transcript,
        &[
            (USER, "tick-counter", "exit", 0),
            (USER, "print-flood", "exit", 0),
        ],
    )?;
    for line in [
        "print-flood: print of 32 MiB refused, InvalidArgument",
        "print-flood: print of 64 KiB and one byte refused, InvalidArgument",
    ] {
        printed(transcript, USER, line)?;
    }
    let maximal = format!("user {USER}: {}", maximal_print_line());
    let prints = transcript
        .lines
        .iter()
        .filter(|(_, line)| *line == maximal)
        .count();
    if prints != 4 {
        return Err(format!("{prints} lines of a maximal print, not 4"));
    }
    let longest = figure(
        transcript,
        "print-flood: 4 prints of 64 KiB, the longest in ",
        " ms",
    )?;
    let late = figure(
        transcript,
        "tick-counter: 100 beeps 10 ms apart, the latest ",
        " ms late",
    )?;
    if late > TICK_LATENESS_MILLISECONDS {
        return Err(format!(
            "tick-counter's latest beep was {late} ms late (allowed: \
             {TICK_LATENESS_MILLISECONDS} ms)"
        ));
    }
    went_on(transcript, "print-flood")?;
    let (before, peak, after) = heap_came_back(transcript, HEAP_SLACK_AFTER)?;
    // The 32 MiB text was refused before the kernel copied a byte of it.
    peak_bounded(before, peak, "a 32 MiB print")?;
    println!(
        "     the longest 64 KiB print {longest} ms, the latest beep beside them {late} ms \
         late; kernel heap {before} bytes before, {peak} at most, {after} after"
    );
    Ok(())
}

/// How long `kill-waiting` and `fork-churn` may take under TCG: some seconds each
/// of forks, on a host that may be busy. The other sets take a second or two and
/// have the default deadline; a kernel that waited out a cancelled timer would
/// miss it by an hour.
const FORKING_TIMEOUT: Duration = Duration::from_secs(120);

/// The hostile rows.
pub fn all() -> Vec<SystemTest> {
    vec![
        row(
            "process-value-flood",
            "a write and an ipc of 32 MiB, then 1 MiB writes to a peer that never reads, are \
             refused with NoMemory or LimitReached; the kernel goes on and its heap ends where \
             it began",
            "init=value-flood",
            value_flood_checked,
            None,
        ),
        row(
            "process-peek-flood",
            "peeks of a 256 KiB message are refused with NoMemory or LimitReached once the \
             kernel holds 50 to 64 MiB of copies; cancelled, they give the memory back",
            "init=peek-flood",
            peek_flood_checked,
            None,
        ),
        row(
            "process-cancel-churn",
            "100,000 rounds each of beep, read, import and fdReceive, each cancelled: the \
             kernel heap stays flat",
            "init=cancel-churn",
            cancel_churn_checked,
            None,
        ),
        row(
            "process-kill-waiting",
            "1,000 children killed while they wait and 100 that exit with 1,000 timers set \
             leave nothing behind",
            "init=kill-waiting",
            kill_waiting_checked,
            Some(FORKING_TIMEOUT),
        ),
        row(
            "process-fork-churn",
            "2,000 short-lived children: the kernel heap ends where it began",
            "init=fork-churn",
            fork_churn_checked,
            Some(FORKING_TIMEOUT),
        ),
        row(
            "process-deadlock-after-cancel",
            "a process that cancelled a far timer and blocks on what never comes is ended as \
             deadlocked at once",
            "init=deadlock-after-cancel",
            deadlock_checked,
            None,
        ),
        row(
            "process-print-flood",
            "a 32 MiB print is refused with InvalidArgument and 64 KiB prints succeed while \
             another process's beeps are answered",
            "init=print-flood",
            print_flood_checked,
            None,
        ),
    ]
}
