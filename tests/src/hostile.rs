//! The hostile rows: each boots `init=SET` for one of mallory's programs that does
//! what once took the kernel down (`images/programs/system-tests/src/hostile/`):
//! values of 32 MiB, peeks until refused, waiters cancelled by the hundred
//! thousand, processes killed while they wait or ended by the thousand, a deadlock
//! behind a cancelled timer, prints of 32 MiB.
//!
//! A row passes when the kernel ran the set to its end; every process ended as the
//! row expects; the program printed that each call was answered with the status it
//! should be (a refusal for memory is `LimitReached`, after exactly as much as the
//! per-process limit the kernel reported holds); and the kernel heap, measured by
//! the kernel before the set started, at its peak and after the last process ended,
//! came back to where it began, its peak within that limit and one value read in.
//! The figures (times, counts, heap) are printed beside the verdict.

use std::time::Duration;

use crate::harness::Transcript;
use crate::scenarios::{
    Ending, HEAP_SLACK_PEAK, ended, endings, heap_figures, kernel_memory_limit, printed, row,
};
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

/// The status with which the kernel refuses to hold more for a process past its
/// kernel memory limit. The limit is at most a quarter of the kernel heap, so it
/// bites before the heap does: a `NoMemory` in these rows is a failure.
const LIMIT_REFUSAL: &str = "LimitReached";

/// What the kernel counts for one event before any value
/// (`ethos_abi::arguments::EVENT_KERNEL_BYTES`).
const EVENT_BYTES: u64 = ethos_abi::arguments::EVENT_KERNEL_BYTES as u64;

/// The largest value a call may carry (`ethos_abi::arguments::MAXIMUM_VALUE_SIZE`).
const LARGEST_VALUE: u64 = ethos_abi::arguments::MAXIMUM_VALUE_SIZE;

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

/// Mallory's line starting `start` ends with [`LIMIT_REFUSAL`].
fn refused_by_limit(transcript: &Transcript, start: &str) -> Result<(), String> {
    let status = line_after(transcript, start)?;
    if status == LIMIT_REFUSAL {
        Ok(())
    } else {
        Err(format!("`{start}` ends `{status}`, not {LIMIT_REFUSAL}"))
    }
}

/// The peak stayed within what one process may make the kernel hold (`limit`) and
/// `transient` bytes it reads in to answer one call, beside [`HEAP_SLACK_PEAK`]: the
/// limit, not the heap, bounded the process.
fn peak_within_limit(before: u64, peak: u64, limit: u64, transient: u64) -> Result<(), String> {
    let most = limit + transient + HEAP_SLACK_PEAK;
    if peak.saturating_sub(before) > most {
        return Err(format!(
            "kernel heap use was {before} bytes before the set and {peak} at most: more than \
             the {limit}-byte limit and {transient} bytes read in for one call (allowed: \
             {most} more)"
        ));
    }
    Ok(())
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

/// The size of `value-flood`'s smaller values.
const SMALL_VALUE: u64 = 1 << 20;

fn value_flood_checked(transcript: &Transcript) -> Result<(), String> {
    ended(transcript, &[(USER, "value-flood", "exit", 0)])?;
    let limit = kernel_memory_limit(transcript)?;
    // Beside its pending read (one event), the process may hold `large` values of
    // 32 MiB: none on the machine, whose limit is at most a quarter of a heap of at
    // most 64 MiB; one under the hosted platform's 64 MiB.
    let large = limit.saturating_sub(EVENT_BYTES) / LARGEST_VALUE;
    for queued in 0..large {
        printed(
            transcript,
            USER,
            &format!("value-flood: write #{queued} of 32 MiB queued"),
        )?;
    }
    refused_by_limit(
        transcript,
        &format!("value-flood: write #{large} of 32 MiB refused, "),
    )?;
    let nanoseconds = figure(
        transcript,
        &format!("value-flood: 32 MiB write #{large} answered in "),
        " ns",
    )?;
    let held = EVENT_BYTES + large * LARGEST_VALUE;
    let ipc = if held + EVENT_BYTES + LARGEST_VALUE <= limit {
        printed(
            transcript,
            USER,
            "value-flood: ipc with a 32 MiB first value connected",
        )?;
        "connected"
    } else {
        refused_by_limit(
            transcript,
            "value-flood: ipc with a 32 MiB first value refused, ",
        )?;
        "refused"
    };
    // What the limit leaves beside the pending read and the 32 MiB values, exactly.
    let expected = (limit - held) / SMALL_VALUE;
    let rest = line_holding(transcript, "value-flood: ", " writes of 1 MiB queued")?;
    let (queued, tail) = leading_number(rest)?;
    if tail
        != format!(
            " writes of 1 MiB queued for a peer that never reads, then refused, {LIMIT_REFUSAL}"
        )
    {
        return Err(format!("the 1 MiB writes ended `{tail}`"));
    }
    if queued != expected {
        return Err(format!(
            "{queued} writes of 1 MiB were queued before one was refused; the {limit}-byte \
             limit holds {expected} beside the pending read and {large} of 32 MiB"
        ));
    }
    went_on(transcript, "value-flood")?;
    let (before, peak, after) = heap_came_back(transcript, HEAP_SLACK_AFTER)?;
    // The kernel read each 32 MiB value in once before it refused (or queued) it.
    if peak.saturating_sub(before) < LARGEST_VALUE {
        return Err(format!(
            "heap_peak {peak} is not 32 MiB above heap_before {before}, though the kernel read a \
             32 MiB value"
        ));
    }
    peak_within_limit(before, peak, limit, LARGEST_VALUE)?;
    println!(
        "     limit {limit} bytes: {large} writes of 32 MiB queued, #{large} {LIMIT_REFUSAL} \
         after {:.1} ms; the 32 MiB ipc {ipc}; {queued} writes of 1 MiB, then \
         {LIMIT_REFUSAL}; kernel heap {before} bytes before, {peak} at most, {after} after",
        nanoseconds as f64 / 1e6
    );
    Ok(())
}

/// The message `peek-flood` peeks, and what the kernel counts for each copy.
const PEEKED_MESSAGE: u64 = 256 << 10;

fn peek_flood_checked(transcript: &Transcript) -> Result<(), String> {
    ended(transcript, &[(USER, "peek-flood", "exit", 0)])?;
    let limit = kernel_memory_limit(transcript)?;
    let rest = line_holding(
        transcript,
        "peek-flood: ",
        " peeks of a 256 KiB message held",
    )?;
    let (peeks, tail) = leading_number(rest)?;
    if tail != format!(" peeks of a 256 KiB message held, then refused, {LIMIT_REFUSAL}") {
        return Err(format!("the peeks ended `{tail}`"));
    }
    // The limit holds the message itself and exactly this many copies with their
    // events. The event limit alone (4,096) would have let 1 GiB of copies through.
    let expected = (limit - PEEKED_MESSAGE) / (PEEKED_MESSAGE + EVENT_BYTES);
    if peeks != expected {
        return Err(format!(
            "{peeks} peeks were held before one was refused; the {limit}-byte limit holds \
             {expected}"
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
    peak_within_limit(before, peak, limit, PEEKED_MESSAGE)?;
    println!(
        "     limit {limit} bytes: {peeks} copies of 256 KiB held, then {LIMIT_REFUSAL}; kernel \
         heap {before} bytes before, {peak} at most, {after} after"
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
             refused with LimitReached where the per-process limit (a quarter of the kernel \
             heap at most) says; the kernel goes on and its heap ends where it began",
            "init=value-flood",
            value_flood_checked,
            None,
        ),
        row(
            "process-peek-flood",
            "peeks of a 256 KiB message are refused with LimitReached once the copies fill \
             the per-process limit (a quarter of the kernel heap at most); cancelled, they \
             give the memory back",
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::harness::RunEnd;

    /// A transcript of `lines`, as the kernel would print them.
    fn transcript(lines: &[String]) -> Transcript {
        Transcript {
            command: "qemu-system-x86_64".into(),
            lines: lines
                .iter()
                .map(|line| (Duration::ZERO, line.clone()))
                .collect(),
            stderr: String::new(),
            end: RunEnd::Kernel(ethos_abi::ExitCode::Success),
        }
    }

    /// What `value-flood` printed on a 256 MiB machine, whose 63 MiB kernel heap
    /// gives each process a limit of 16,488,448 bytes: the refusal of the 1 MiB
    /// writes, the status of every refusal and the peak are the parts to change.
    fn value_flood(small: &str, status: &str, peak: u64) -> Transcript {
        transcript(&[
            "@ethos metric name=kernel_memory_per_process value=16488448 unit=bytes".into(),
            "@ethos metric name=heap_before value=46488 unit=bytes".into(),
            "user mallory: value-flood: 32 MiB write #0 answered in 143800000 ns".into(),
            format!("user mallory: value-flood: write #0 of 32 MiB refused, {status}"),
            format!("user mallory: value-flood: ipc with a 32 MiB first value refused, {status}"),
            format!(
                "user mallory: value-flood: {small} writes of 1 MiB queued for a peer that never \
                 reads, then refused, {status}"
            ),
            "user mallory: value-flood: every call was answered and the kernel went on".into(),
            "@ethos process-end pid=1 user=mallory program=value-flood how=exit status=0".into(),
            format!("@ethos metric name=heap_peak value={peak} unit=bytes"),
            "@ethos metric name=heap_after value=56168 unit=bytes".into(),
        ])
    }

    #[test]
    fn value_flood_passes_only_on_the_limits_refusals() {
        assert_eq!(
            value_flood_checked(&value_flood("15", "LimitReached", 33_897_720)),
            Ok(())
        );
        // What the kernel answered when its limit was larger than its heap.
        assert!(value_flood_checked(&value_flood("61", "NoMemory", 65_103_080)).is_err());
        assert!(value_flood_checked(&value_flood("15", "NoMemory", 33_897_720)).is_err());
        // One write more or fewer than the limit holds.
        assert!(value_flood_checked(&value_flood("14", "LimitReached", 33_897_720)).is_err());
        assert!(value_flood_checked(&value_flood("16", "LimitReached", 33_897_720)).is_err());
        // A peak past the limit and one value read in: the heap, not the limit, held.
        assert!(value_flood_checked(&value_flood("15", "LimitReached", 60_000_000)).is_err());
    }

    fn peek_flood(peeks: u64, status: &str, peak: u64) -> Transcript {
        transcript(&[
            "@ethos metric name=kernel_memory_per_process value=16488448 unit=bytes".into(),
            "@ethos metric name=heap_before value=46488 unit=bytes".into(),
            format!(
                "user mallory: peek-flood: {peeks} peeks of a 256 KiB message held, then refused, \
                 {status}"
            ),
            "user mallory: peek-flood: every copy cancelled".into(),
            "user mallory: peek-flood: a peek after them gives the message".into(),
            "user mallory: peek-flood: every call was answered and the kernel went on".into(),
            "@ethos process-end pid=1 user=mallory program=peek-flood how=exit status=0".into(),
            format!("@ethos metric name=heap_peak value={peak} unit=bytes"),
            "@ethos metric name=heap_after value=56168 unit=bytes".into(),
        ])
    }

    #[test]
    fn peek_flood_passes_only_on_the_limits_refusal() {
        assert_eq!(
            peek_flood_checked(&peek_flood(61, "LimitReached", 16_339_256)),
            Ok(())
        );
        assert!(peek_flood_checked(&peek_flood(250, "NoMemory", 65_902_352)).is_err());
        assert!(peek_flood_checked(&peek_flood(61, "NoMemory", 16_339_256)).is_err());
        assert!(peek_flood_checked(&peek_flood(60, "LimitReached", 16_339_256)).is_err());
        assert!(peek_flood_checked(&peek_flood(61, "LimitReached", 40_000_000)).is_err());
    }
}
