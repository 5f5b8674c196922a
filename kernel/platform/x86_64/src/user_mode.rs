//! Running programs in ring 3 against the portable process model.
//!
//! `processes::install` makes a process model and the programs its processes may
//! run the kernel's; [`spawn`] starts a process; `scheduler::run` runs them all. System
//! calls arrive in [`syscall_dispatch`], which hands the raw registers to the core's
//! one system-call path (`dispatch::handle`) with a [`ProcessEnvironment`] for memory
//! access, then does what the answer asks and only the platform can: copy an address space (`fork`), load a
//! program (`exec`), park a process in `block`, stop one (`exit`, `kill`, faults).
//!
//! Every address a program gives is an allegation: `UserRange` (in the portable core)
//! checks its bounds, and [`MappedRange::new`] is the one place that turns it into
//! kernel-readable memory, page by page through the process's own tables. This
//! module must never dereference a program's pointer directly, and never lets a
//! program's text start a console line the test harness would read as a report.
//! System calls run with interrupts off.

use alloc::vec::Vec;
use core::fmt;

use ethos_abi::{EventId, ProcessId, Report, Status};
use ethos_core::memory_map::PAGE_SIZE;
use ethos_core::process_model::dispatch::{
    Environment, Outcome, ParkedCall, answer_running, handle, parked_collect,
};
use ethos_core::process_model::events::Instant;
use ethos_core::process_model::identity::{ProgramName, UserName};
use ethos_core::process_model::request::UserRange;
use ethos_core::program_image::Image;
use x86_64::instructions::interrupts;

use crate::arch::{self, AddressSpace, ContextPlace, PageRights, TrapFrame, UserContext};
use crate::processes::{Ending, SYSTEM, System};
use crate::scheduler::{SCHEDULER, Scheduler, Task};
use crate::{console, memory, time};

/// How many pages the user stack has.
const STACK_PAGES: u64 = 16;
/// Where a program's image may lie: from the start of the user range to below its
/// stack.
pub const IMAGE_RANGE: core::ops::Range<u64> =
    arch::USER_START..arch::USER_STACK_TOP - STACK_PAGES * PAGE_SIZE;
/// A program's first stack pointer: as after a call (8 bytes below a 16-byte
/// boundary), so an entry point may be an ordinary function.
const FIRST_STACK_POINTER: u64 = arch::USER_STACK_TOP - 8;

/// Why a process could not be started.
#[derive(Debug)]
pub enum RunError {
    NoModel,
    NoFrameAllocator,
    UnknownProgram(ProgramName),
    Model(Status),
    Map(arch::MapError),
    SegmentOutsideUserRange(u64),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NoModel => write!(f, "no process model is installed"),
            RunError::NoFrameAllocator => write!(f, "the frame allocator is not set up"),
            RunError::UnknownProgram(name) => write!(f, "no program `{name}` is installed"),
            RunError::Model(status) => write!(f, "the process model refused: {status}"),
            RunError::Map(error) => write!(f, "mapping the program: {error}"),
            RunError::SegmentOutsideUserRange(address) => {
                write!(f, "a segment at {address:#x} is outside the user range")
            }
        }
    }
}

fn build_space(image: &Image<'_>) -> Result<AddressSpace, RunError> {
    let mut guard = memory::FRAMES.lock();
    let frames = guard.as_mut().ok_or(RunError::NoFrameAllocator)?;
    let mut space = AddressSpace::new(frames).map_err(RunError::Map)?;
    let result = (|| {
        for segment in &image.segments {
            let end = segment
                .address
                .checked_add(segment.memory_size.max(segment.bytes.len() as u64))
                .filter(|end| *end <= IMAGE_RANGE.end)
                .ok_or(RunError::SegmentOutsideUserRange(segment.address))?;
            if segment.address < IMAGE_RANGE.start {
                return Err(RunError::SegmentOutsideUserRange(segment.address));
            }
            let mut page = segment.address & !(PAGE_SIZE - 1);
            while page < end {
                let rights = PageRights {
                    write: segment.writable,
                    execute: segment.executable,
                };
                let frame = space
                    .map_new_page(page, rights, frames)
                    .map_err(RunError::Map)?;
                // The part of the segment's file bytes that falls in this page.
                let copy_start = page.max(segment.address);
                let copy_end = (page + PAGE_SIZE).min(segment.address + segment.bytes.len() as u64);
                if copy_start < copy_end {
                    let source = &segment.bytes[(copy_start - segment.address) as usize
                        ..(copy_end - segment.address) as usize];
                    let destination = (frame + (copy_start - page)) as *mut u8;
                    // SAFETY: the frame is fresh RAM of this space, identity-mapped,
                    // and `source` fits within the page by construction.
                    unsafe {
                        core::ptr::copy_nonoverlapping(source.as_ptr(), destination, source.len())
                    };
                }
                page += PAGE_SIZE;
            }
        }
        for index in 1..=STACK_PAGES {
            let rights = PageRights {
                write: true,
                execute: false,
            };
            space
                .map_new_page(arch::USER_STACK_TOP - index * PAGE_SIZE, rights, frames)
                .map_err(RunError::Map)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(space),
        Err(error) => {
            space.release(frames);
            Err(error)
        }
    }
}

/// Starts `program` for `user` as a new ready process, stopped by the timer after
/// `limit_ticks` of CPU if given.
pub fn spawn(
    user: &UserName,
    program: &ProgramName,
    limit_ticks: Option<u64>,
) -> Result<ProcessId, RunError> {
    interrupts::without_interrupts(|| {
        let mut scheduler = SCHEDULER.lock();
        let mut guard = SYSTEM.lock();
        let system = guard.as_mut().ok_or(RunError::NoModel)?;
        let image = system
            .programs
            .get(program)
            .ok_or_else(|| RunError::UnknownProgram(program.clone()))?;
        let space = build_space(image)?;
        let process = match system.model.create_process(user, program) {
            Ok(process) => process,
            Err(status) => {
                if let Some(frames) = memory::FRAMES.lock().as_mut() {
                    space.release(frames);
                }
                return Err(RunError::Model(status));
            }
        };
        let context = UserContext::start(image.entry, FIRST_STACK_POINTER);
        scheduler.add(
            process,
            Task::new(user.clone(), program.clone(), space, context),
            limit_ticks,
        );
        Ok(process)
    })
}

/// Ends the running process with `ending`, which the model may not have seen yet,
/// and gives the CPU back to the scheduler. Nothing may be held by the caller.
fn end_current(ending: Ending) -> ! {
    {
        let mut scheduler = SCHEDULER.lock();
        if let Some(process) = scheduler.current() {
            if let Some(system) = SYSTEM.lock().as_mut() {
                // Already gone from the model if it called `exit`.
                let _ = system.model.end_process(process);
            }
            scheduler.finish(process, ending);
        }
    }
    arch::resume_kernel()
}

/// After an interrupt taken in ring 3 was handled: runs due timers, stops the
/// process if it used up its CPU limit, and takes the CPU from it if its slice is
/// over and another process is ready.
pub fn after_user_interrupt(frame: &TrapFrame) {
    let Some(mut scheduler) = SCHEDULER.try_lock() else {
        return;
    };
    if let Some(ticks) = scheduler.over_limit() {
        drop(scheduler);
        end_current(Ending::TimeLimit { ticks });
    }
    if let Some(mut guard) = SYSTEM.try_lock()
        && let Some(system) = guard.as_mut()
    {
        scheduler.wake_due(&mut system.model);
    }
    if scheduler.slice_over() {
        scheduler.preempt(UserContext::interrupted(frame));
        drop(scheduler);
        arch::resume_kernel();
    }
}

/// An exception taken in ring 3: reports it and kills the process.
pub fn user_fault(frame: &TrapFrame, address: u64) -> ! {
    let ending = Ending::Faulted {
        vector: frame.vector,
        error_code: frame.error_code,
        address,
        instruction: frame.rip,
    };
    console::report(Report::Fault {
        vector: frame.vector as u8,
        address,
        instruction: frame.rip,
    });
    end_current(ending)
}

/// What happens after a system call: back to the program (or, through the same
/// return, to the one the call switched to), off the CPU, or on to another program
/// that needs `iretq`.
enum Next {
    Return,
    Leave,
    Switch(ContextPlace),
}

/// The calling program's registers, which the `syscall` shell saved in its context
/// slot. The slot is reached only through this pointer while the call runs, and
/// never through a lasting reference: the call may also answer other programs'
/// slots, and the shell restores from whichever slot is current when it returns.
#[derive(Clone, Copy)]
struct CallFrame(*mut UserContext);

impl CallFrame {
    fn read(self) -> UserContext {
        // SAFETY: the caller's slot, live while its call runs (see the type).
        unsafe { self.0.read() }
    }

    /// The call's argument registers, in the order of the system-call ABI.
    fn arguments(self) -> [u64; 6] {
        // SAFETY: as in `read`; the fields are read through the pointer.
        unsafe {
            let context = self.0;
            [
                (*context).rdi,
                (*context).rsi,
                (*context).rdx,
                (*context).r10,
                (*context).r8,
                (*context).r9,
            ]
        }
    }

    fn write(self, context: UserContext) {
        // SAFETY: as in `read`.
        unsafe { self.0.write(context) }
    }

    /// The call goes back to its program with `rax` and `rdx`.
    fn answer(self, (rax, rdx): (u64, u64)) -> Next {
        // SAFETY: as in `read`; the fields are written through the pointer.
        unsafe {
            (*self.0).rax = rax;
            (*self.0).rdx = rdx;
        }
        Next::Return
    }
}

/// Where the `syscall` shell lands, on the system-call stack, interrupts off, with
/// the caller saved in its context slot.
///
/// # Safety
/// Called only by `syscall_entry`, with `context` pointing at the slot it pushed
/// the caller's registers into.
#[unsafe(no_mangle)]
unsafe extern "C" fn syscall_dispatch(context: *mut UserContext) {
    let frame = CallFrame(context);
    // SAFETY: the slot the shell just filled; the reference ends with the block.
    let (number, return_address) = unsafe {
        let context = &mut *context;
        context.entered_by_syscall();
        (context.rax, context.rip)
    };
    // `sysret` to a non-canonical or kernel address would fault in ring 0.
    if !(arch::USER_START..arch::USER_STACK_TOP).contains(&return_address) {
        end_current(Ending::BadReturn(return_address));
    }
    match system_call(frame, number) {
        Next::Return => {}
        Next::Leave => arch::resume_kernel(),
        // `system_call` has released both locks.
        Next::Switch(place) => arch::switch_to_user(place),
    }
}

fn answer(frame: CallFrame, result: Result<u64, Status>) -> Next {
    frame.answer(Status::to_registers(result))
}

/// One system call of the current process, with the scheduler and the model locked.
fn system_call(frame: CallFrame, number: u64) -> Next {
    let mut scheduler = SCHEDULER.lock();
    // `getPid` and `getTime` need neither the model nor its lock.
    if let Some(process) = scheduler.current()
        && let Some(result) = answer_running(number, process, || {
            Instant(time::since_boot_nanos().unwrap_or(0))
        })
    {
        return answer(frame, result);
    }
    let mut guard = SYSTEM.lock();
    let (Some(process), Some(system)) = (scheduler.current(), guard.as_mut()) else {
        return answer(frame, Err(Status::NoSuchObject));
    };
    let mut environment = ProcessEnvironment {
        scheduler: &mut scheduler,
        process,
    };
    let outcome = handle(
        &mut system.model,
        &mut environment,
        process,
        number,
        frame.arguments(),
    );
    match outcome {
        Outcome::Return(result) => answer(frame, result),
        Outcome::Kept { status, event } => frame.answer(status.to_registers_keeping(event)),
        Outcome::Park(call) => {
            // Parked: when an event completes, the kernel makes `call` (the same
            // `block`, or the `blockAndRetire` a `writeRead` waits in) before the
            // process runs ([`resume_parked`]); the process goes on after its
            // `syscall`, from the registers the shell saved in its slot.
            // The clock is read once for the park and the switch.
            let now = time::since_boot_nanos();
            scheduler.park_in(call, now);
            // The next process, when one is ready, runs without a detour through
            // the kernel's loop: through this call's own return when it was
            // parked in a call too (the round trip's case), otherwise by `iretq`.
            match scheduler.switch_directly(&mut system.model, now) {
                Some(next) if next.returns_by_sysret() => {
                    arch::return_to_user(next);
                    Next::Return
                }
                Some(next) => Next::Switch(next),
                None => Next::Leave,
            }
        }
        Outcome::Exit(status) => {
            scheduler.finish(process, Ending::Exited(status));
            Next::Leave
        }
        Outcome::Kill(target) => {
            scheduler.finish(target, Ending::Killed { by: process });
            answer(frame, Ok(target.0))
        }
        Outcome::Fork(child) => fork(&mut scheduler, system, frame, process, child),
        Outcome::Exec(program) => exec(&mut scheduler, system, frame, process, program),
    }
}

/// Before `process`, just chosen to run, goes back to ring 3: if it is parked in a
/// call (`block`), makes that call again with its registers, exactly as the program
/// would on its return, and gives it the answer. Answers whether it may run: false
/// when the call found nothing completed yet and it waits again. Doing this here,
/// rather than stepping the program back onto its `syscall`, spares a woken process
/// a second entry into the kernel for every wait. Called from the scheduler's loop
/// with the scheduler locked (the model is locked after it).
pub(crate) fn resume_parked(scheduler: &mut Scheduler, process: ProcessId) -> bool {
    let Some(call) = scheduler.task(process).and_then(Task::parked) else {
        return true;
    };
    let mut guard = SYSTEM.lock();
    match guard.as_mut() {
        Some(system) => resume_parked_in(scheduler, &mut system.model, process, call),
        None => true,
    }
}

/// [`resume_parked`] of `process`, parked in `call`, with the model already locked.
pub(crate) fn resume_parked_in(
    scheduler: &mut Scheduler,
    model: &mut ethos_core::process_model::ProcessModel,
    process: ProcessId,
    call: ParkedCall,
) -> bool {
    let outcome = {
        let mut environment = ProcessEnvironment { scheduler, process };
        handle(
            model,
            &mut environment,
            process,
            call.number,
            call.arguments,
        )
    };
    let answer = match outcome {
        Outcome::Park(_) => {
            scheduler.park_again();
            return false;
        }
        Outcome::Return(result) => Status::to_registers(result),
        Outcome::Kept { status, event } => status.to_registers_keeping(event),
        // Only `block` and `blockAndRetire` park, and they answer or park again;
        // any other outcome would be a kernel fault, answered as the call's
        // failure.
        _ => Status::to_registers(Err(Status::NotSupported)),
    };
    if let Some(task) = scheduler.task_mut(process) {
        task.answer_parked(answer);
    }
    true
}

/// `fork`: the child gets a copy of the parent's pages and registers, and 0 for
/// the call's answer; the parent gets the child's id.
fn fork(
    scheduler: &mut Scheduler,
    system: &mut System,
    frame: CallFrame,
    parent: ProcessId,
    child: ProcessId,
) -> Next {
    let Some(task) = scheduler.task(parent) else {
        return answer(frame, Err(Status::NoSuchObject));
    };
    let copied = memory::FRAMES
        .lock()
        .as_mut()
        .map(|frames| task.space.duplicate(frames));
    let Some(Ok(space)) = copied else {
        // Out of memory: the child never existed.
        let _ = system.model.end_process(child);
        return answer(frame, Err(Status::LimitReached));
    };
    let mut context = frame.read();
    (context.rax, context.rdx) = Status::to_registers(Ok(0));
    let child_task = Task::new(task.user.clone(), task.program.clone(), space, context);
    let limit = scheduler.limit(parent);
    scheduler.add(child, child_task, limit);
    answer(frame, Ok(child.0))
}

/// `exec`: the process's address space is replaced by `program`'s image and the
/// call returns into its entry point with a fresh stack.
fn exec(
    scheduler: &mut Scheduler,
    system: &mut System,
    frame: CallFrame,
    process: ProcessId,
    program: ProgramName,
) -> Next {
    let built = match system.programs.get(&program) {
        Some(image) => build_space(image).map(|space| (image.entry, space)).ok(),
        None => None,
    };
    let Some((entry, space)) = built else {
        // The model already names the new program: the process cannot go on as the old.
        let _ = system.model.end_process(process);
        scheduler.finish(process, Ending::ExecFailed);
        return Next::Leave;
    };
    let Some(task) = scheduler.task_mut(process) else {
        if let Some(frames) = memory::FRAMES.lock().as_mut() {
            space.release(frames);
        }
        return answer(frame, Err(Status::NoSuchObject));
    };
    space.activate();
    let old = core::mem::replace(&mut task.space, space);
    task.program = program;
    if let Some(frames) = memory::FRAMES.lock().as_mut() {
        old.release(frames);
    }
    frame.write(UserContext::restarted(entry, FIRST_STACK_POINTER));
    Next::Return
}

/// Whether a range is read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// A program's range, split at page boundaries and translated through its tables
/// with the access asked: each piece is an identity-mapped kernel address and a
/// length within one page. The pieces are made as they are walked, so checking a
/// range allocates nothing.
#[derive(Clone, Copy)]
struct MappedRange<'a> {
    space: &'a AddressSpace,
    address: u64,
    end: u64,
    access: Access,
}

impl<'a> MappedRange<'a> {
    /// The only way from a program's alleged range to memory the kernel touches.
    fn new(space: &'a AddressSpace, range: UserRange, access: Access) -> Result<Self, Status> {
        let end = range
            .address()
            .checked_add(range.length())
            .ok_or(Status::InvalidArgument)?;
        Ok(MappedRange {
            space,
            address: range.address(),
            end,
            access,
        })
    }
}

/// The one kernel address of a range that is not empty and lies within one page,
/// translated with the access asked (`InvalidArgument` where the page is not mapped
/// for it); `None` for any other range, which [`MappedRange`] walks piece by piece.
/// One translation is then both the check and the place: every value a program
/// sends or receives comes this way.
#[inline(always)]
fn within_one_page(
    space: &AddressSpace,
    range: UserRange,
    access: Access,
) -> Option<Result<u64, Status>> {
    let offset = range.address() & (PAGE_SIZE - 1);
    if range.length() == 0 || offset + range.length() > PAGE_SIZE {
        return None;
    }
    Some(
        space
            .translate(range.address(), access == Access::Write)
            .ok_or(Status::InvalidArgument),
    )
}

impl Iterator for MappedRange<'_> {
    /// A piece, or `InvalidArgument` where a page is not mapped for the access.
    type Item = Result<(u64, usize), Status>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.address >= self.end {
            return None;
        }
        let page_end = (self.address & !(PAGE_SIZE - 1)) + PAGE_SIZE;
        let piece_end = page_end.min(self.end);
        let translated = self
            .space
            .walk(self.address, self.access == Access::Write)
            .map(|kernel_address| (kernel_address, (piece_end - self.address) as usize))
            .ok_or(Status::InvalidArgument);
        // A page that is not mapped ends the walk.
        self.address = if translated.is_ok() {
            piece_end
        } else {
            self.end
        };
        Some(translated)
    }
}

/// Writes `bytes` at the start of `range` (at least as long) in `space`; every page
/// is checked before any byte is written, so a refused write leaves the program's
/// memory as it was.
fn write_into(space: &AddressSpace, range: UserRange, bytes: &[u8]) -> Result<(), Status> {
    if (bytes.len() as u64) > range.length() {
        return Err(Status::InvalidArgument);
    }
    let range = UserRange::new(range.address(), bytes.len() as u64, range.length())?;
    if let Some(address) = within_one_page(space, range, Access::Write) {
        let address = address?;
        // SAFETY: as below: one page mapped writable for the process, identity-mapped
        // RAM, and `bytes` ends within it.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) };
        return Ok(());
    }
    let mapped = MappedRange::new(space, range, Access::Write)?;
    for piece in mapped {
        piece?;
    }
    let mut rest = bytes;
    for piece in mapped {
        let (address, length) = piece?;
        let (piece, after) = rest.split_at(length);
        // SAFETY: `MappedRange` translated the piece through the process's tables:
        // it lies in one page mapped writable for the process (checked above), whose
        // frame is RAM, identity-mapped for the kernel.
        unsafe { core::ptr::copy_nonoverlapping(piece.as_ptr(), address as *mut u8, length) };
        rest = after;
    }
    Ok(())
}

/// The platform side of a system call: the caller's memory, the clock, randomness
/// and the console. The caller's address space is looked up only by the calls that
/// touch its memory.
struct ProcessEnvironment<'a> {
    scheduler: &'a mut Scheduler,
    process: ProcessId,
}

impl ProcessEnvironment<'_> {
    fn space(&self) -> Result<&AddressSpace, Status> {
        self.scheduler
            .task(self.process)
            .map(|task| &task.space)
            .ok_or(Status::NoSuchObject)
    }
}

impl Environment for ProcessEnvironment<'_> {
    fn read_memory(&self, range: UserRange) -> Result<Vec<u8>, Status> {
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(range.length() as usize)
            .map_err(|_| Status::NoMemory)?;
        for piece in MappedRange::new(self.space()?, range, Access::Read)? {
            let (address, length) = piece?;
            // SAFETY: `MappedRange` translated the piece through the process's
            // tables: it lies in one page mapped readable for the process, whose
            // frame is RAM, identity-mapped for the kernel.
            let piece = unsafe { core::slice::from_raw_parts(address as *const u8, length) };
            bytes.extend_from_slice(piece);
        }
        Ok(bytes)
    }

    fn read_memory_into(&self, range: UserRange, buffer: &mut [u8]) -> Result<(), Status> {
        if buffer.len() as u64 != range.length() {
            return Err(Status::InvalidArgument);
        }
        let space = self.space()?;
        if let Some(address) = within_one_page(space, range, Access::Read) {
            let address = address?;
            // SAFETY: as in `read_memory`: one page mapped readable for the
            // process, identity-mapped RAM, and the range ends within it.
            let piece = unsafe { core::slice::from_raw_parts(address as *const u8, buffer.len()) };
            buffer.copy_from_slice(piece);
            return Ok(());
        }
        let mut rest = buffer;
        for piece in MappedRange::new(space, range, Access::Read)? {
            let (address, length) = piece?;
            let (into, after) = rest.split_at_mut(length);
            // SAFETY: as in `read_memory`.
            let piece = unsafe { core::slice::from_raw_parts(address as *const u8, length) };
            into.copy_from_slice(piece);
            rest = after;
        }
        Ok(())
    }

    fn write_memory(&mut self, range: UserRange, bytes: &[u8]) -> Result<(), Status> {
        write_into(self.space()?, range, bytes)
    }

    fn deliver(&mut self, process: ProcessId, event: EventId, bytes: &[u8]) -> bool {
        let Some(task) = self.scheduler.task_mut(process) else {
            return false;
        };
        let Some(call) = task.parked() else {
            return false;
        };
        match parked_collect(call.number, call.arguments) {
            Some((parked, buffer)) if parked == event => {
                if write_into(&task.space, buffer, bytes).is_err() {
                    // Its re-run meets the same refusal and answers it.
                    return false;
                }
                task.answer_parked(Status::to_registers(Ok(bytes.len() as u64)));
                true
            }
            _ => false,
        }
    }

    fn now(&self) -> Instant {
        Instant(time::since_boot_nanos().unwrap_or(0))
    }

    fn wall_time(&self) -> u64 {
        // A machine without a real-time clock records times since boot.
        crate::rtc::unix_millis().map_or_else(
            |_| time::since_boot_nanos().unwrap_or(0),
            |millis| millis.saturating_mul(1_000_000),
        )
    }

    fn fill_random(&mut self, buffer: &mut [u8]) {
        crate::entropy::fill(buffer);
    }

    fn print(&mut self, user: &UserName, text: &str) {
        // Each line carries the user's name first, so no program text can pass for
        // a harness report.
        for line in text.split('\n') {
            console::write_str("user ");
            console::write_str(user.as_str());
            console::write_str(": ");
            for character in line.chars() {
                let mut buffer = [0; 4];
                let shown = if character.is_control() {
                    '?'
                } else {
                    character
                };
                console::write_str(shown.encode_utf8(&mut buffer));
            }
            console::write_str("\n");
        }
    }
}
