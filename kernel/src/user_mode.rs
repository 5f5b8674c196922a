//! Running one program in ring 3 against the portable process model.
//!
//! [`run`] builds an address space from an [`Image`], enters it and returns how the
//! process ended: by `exit`, or killed by a fault it took, which is reported and
//! never stops the kernel. System calls arrive in [`syscall_dispatch`], which hands
//! the raw registers to `Request::parse` and `dispatch` with a
//! [`ProcessEnvironment`] for memory access.
//!
//! Every address a program gives is an allegation: `UserRange` (in the portable core)
//! checks its bounds, and [`MappedRange::new`] is the one place that turns it into
//! kernel-readable memory, page by page through the process's own tables. This
//! module must never dereference a program's pointer directly, and never lets a
//! program's text start a console line the test harness would read as a report.
//!
//! One process runs at a time and runs until it ends; there is no preemption yet.
//! System calls run with interrupts off.

use alloc::vec::Vec;
use core::fmt;

use ethos_abi::{ProcessId, Report, Status};
use ethos_kernel::memory_map::PAGE_SIZE;
use ethos_kernel::process_model::ProcessModel;
use ethos_kernel::process_model::dispatch::{Answer, Environment, dispatch};
use ethos_kernel::process_model::events::Instant;
use ethos_kernel::process_model::identity::UserName;
use ethos_kernel::process_model::request::{Request, UserRange};
use ethos_kernel::program_image::Image;
use spin::Mutex;

use crate::arch::{self, AddressSpace, PageRights, SyscallFrame, TrapFrame};
use crate::{console, memory, time};

/// How long a process may run, in timer ticks, before the timer stops it. There is
/// no scheduler yet: this only keeps a program that never ends from stopping the
/// kernel.
const TIME_LIMIT_TICKS: u64 = time::TICK_HZ as u64;

/// How many pages the user stack has.
const STACK_PAGES: u64 = 4;
/// Where a program's image may lie: from the start of the user range to below its
/// stack.
pub(crate) const IMAGE_RANGE: core::ops::Range<u64> =
    arch::USER_START..arch::USER_STACK_TOP - STACK_PAGES * PAGE_SIZE;
/// The size of each process's kernel stack (system calls run on it).
const KERNEL_STACK_BYTES: usize = 16 * 1024;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It called `exit` with this status.
    Exited(i32),
    /// It took a CPU exception and was killed.
    Faulted {
        vector: u64,
        error_code: u64,
        address: u64,
        instruction: u64,
    },
    /// Its `syscall` came from an address `sysret` cannot return to.
    BadReturn(u64),
    /// It ran past its time limit and was stopped by the timer.
    TimeLimit { ticks: u64 },
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Exited(status) => write!(f, "exited with status {status}"),
            Ending::Faulted {
                vector,
                error_code,
                address,
                instruction,
            } => write!(
                f,
                "killed by {} (vector {vector}, error code {error_code:#x}) at rip {instruction:#x}, address {address:#x}",
                arch::exception_name(*vector)
            ),
            Ending::BadReturn(address) => {
                write!(f, "killed: system call from {address:#x}")
            }
            Ending::TimeLimit { ticks } => {
                write!(f, "killed: ran past its time limit ({ticks} timer ticks)")
            }
        }
    }
}

/// Why a program could not be started.
#[derive(Debug)]
pub(crate) enum RunError {
    NoFrameAllocator,
    Map(arch::MapError),
    SegmentOutsideUserRange(u64),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NoFrameAllocator => write!(f, "the frame allocator is not set up"),
            RunError::Map(error) => write!(f, "mapping the program: {error}"),
            RunError::SegmentOutsideUserRange(address) => {
                write!(f, "a segment at {address:#x} is outside the user range")
            }
        }
    }
}

/// The running process.
struct Running {
    process: ProcessId,
    /// The timer tick at which the process is stopped.
    deadline: u64,
    space: AddressSpace,
    ending: Option<Ending>,
}

/// The kernel's process model, once installed. Locked after [`RUNNING`] where both
/// are needed.
static MODEL: Mutex<Option<ProcessModel>> = Mutex::new(None);

/// Makes `model` the kernel's process model, replacing any earlier one.
pub(crate) fn install_model(model: ProcessModel) {
    *MODEL.lock() = Some(model);
}

/// Runs `action` on the installed process model, if there is one. Not while a
/// process runs.
pub(crate) fn with_model<T>(action: impl FnOnce(&mut ProcessModel) -> T) -> Option<T> {
    MODEL.lock().as_mut().map(action)
}

/// Set while a process runs. Locked by system calls (interrupts off) and by the
/// fault path (only for faults taken in ring 3, so never while a call holds it).
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

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

/// Runs `process` (of the installed model) from `image` until it ends.
pub(crate) fn run(process: ProcessId, image: &Image<'_>) -> Result<Ending, RunError> {
    let space = build_space(image)?;
    let mut kernel_stack = alloc::vec![0u8; KERNEL_STACK_BYTES];
    let kernel_stack_top = (kernel_stack.as_mut_ptr() as u64 + KERNEL_STACK_BYTES as u64) & !15;
    let kernel_root = arch::current_root();
    space.activate();
    *RUNNING.lock() = Some(Running {
        process,
        deadline: time::ticks() + TIME_LIMIT_TICKS,
        space,
        ending: None,
    });
    // The stack is as after a call (8 bytes below a 16-byte boundary), so an entry
    // point may be an ordinary function.
    arch::enter_user(image.entry, arch::USER_STACK_TOP - 8, kernel_stack_top);
    arch::switch_to_root(kernel_root);
    drop(kernel_stack);
    let running = RUNNING
        .lock()
        .take()
        .expect("a process that ended leaves its state");
    if let Some(frames) = memory::FRAMES.lock().as_mut() {
        running.space.release(frames);
    }
    let ending = running
        .ending
        .expect("a process leaves only by exit or a fault");
    Ok(ending)
}

/// Ends the running process with `ending`: records it, drops the process from the
/// model and returns to [`run`]. Nothing may be held by the caller.
fn end(ending: Ending) -> ! {
    {
        let mut guard = RUNNING.lock();
        if let Some(running) = guard.as_mut() {
            if !matches!(ending, Ending::Exited(_))
                && let Some(model) = MODEL.lock().as_mut()
            {
                let _ = model.end_process(running.process);
            }
            running.ending = Some(ending);
        }
    }
    arch::resume_kernel()
}

/// After an interrupt taken in ring 3 was handled: stops the process if it ran
/// past its time limit.
pub(crate) fn after_user_interrupt() {
    let over = RUNNING
        .try_lock()
        .and_then(|guard| guard.as_ref().map(|running| running.deadline))
        .is_some_and(|deadline| time::ticks() >= deadline);
    if over {
        end(Ending::TimeLimit {
            ticks: TIME_LIMIT_TICKS,
        });
    }
}

/// An exception taken in ring 3: reports it and kills the process.
pub(crate) fn user_fault(frame: &TrapFrame, address: u64) -> ! {
    let ending = Ending::Faulted {
        vector: frame.vector,
        error_code: frame.error_code,
        address,
        instruction: frame.rip,
    };
    let mut line = console::LineBuffer::new();
    let _ = fmt::Write::write_fmt(&mut line, format_args!("user process {ending}\n"));
    console::write_str(line.as_str());
    console::report(Report::Fault {
        vector: frame.vector as u8,
        address,
        instruction: frame.rip,
    });
    end(ending)
}

/// Where the `syscall` shell lands, on the process's kernel stack, interrupts off.
///
/// # Safety
/// Called only by `syscall_entry`, with `frame` pointing at the frame it pushed.
#[unsafe(no_mangle)]
unsafe extern "C" fn syscall_dispatch(frame: *mut SyscallFrame) {
    // SAFETY: the shell passes the frame it just pushed; nothing else refers to it.
    let frame = unsafe { &mut *frame };
    // `sysret` to a non-canonical or kernel address would fault in ring 0.
    if !(arch::USER_START..arch::USER_STACK_TOP).contains(&frame.rcx) {
        end(Ending::BadReturn(frame.rcx));
    }
    let exited = {
        let mut guard = RUNNING.lock();
        let mut model_guard = MODEL.lock();
        let (Some(running), Some(model)) = (guard.as_mut(), model_guard.as_mut()) else {
            drop(model_guard);
            drop(guard);
            end(Ending::BadReturn(frame.rcx));
        };
        let mut environment = ProcessEnvironment {
            space: &running.space,
        };
        let answer = Request::parse(
            frame.rax,
            [
                frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9,
            ],
        )
        .and_then(|request| dispatch(model, &mut environment, running.process, request));
        match answer {
            Ok(Answer::Value(value)) => {
                frame.rax = u64::from(Status::Ok.code());
                frame.rdx = value;
                None
            }
            Ok(Answer::Exited(status)) => Some(status),
            Err(status) => {
                frame.rax = u64::from(status.code());
                frame.rdx = 0;
                None
            }
        }
    };
    if let Some(status) = exited {
        end(Ending::Exited(status));
    }
}

/// Whether a range is read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// A program's range, every page of it checked mapped for the program with the
/// access asked: the pieces are identity-mapped kernel addresses and lengths.
struct MappedRange {
    pieces: Vec<(u64, usize)>,
}

impl MappedRange {
    /// The only way from a program's alleged range to memory the kernel touches.
    fn new(space: &AddressSpace, range: UserRange, access: Access) -> Result<MappedRange, Status> {
        let mut pieces = Vec::new();
        let mut address = range.address();
        let end = address
            .checked_add(range.length())
            .ok_or(Status::InvalidArgument)?;
        while address < end {
            let page_end = (address & !(PAGE_SIZE - 1)) + PAGE_SIZE;
            let piece_end = page_end.min(end);
            let kernel_address = space
                .translate(address, access == Access::Write)
                .ok_or(Status::InvalidArgument)?;
            pieces.push((kernel_address, (piece_end - address) as usize));
            address = piece_end;
        }
        Ok(MappedRange { pieces })
    }
}

/// The platform side of a system call: the caller's memory, the clock, randomness
/// and the console.
struct ProcessEnvironment<'a> {
    space: &'a AddressSpace,
}

impl Environment for ProcessEnvironment<'_> {
    fn read_memory(&self, range: UserRange) -> Result<Vec<u8>, Status> {
        let mapped = MappedRange::new(self.space, range, Access::Read)?;
        let mut bytes = Vec::with_capacity(range.length() as usize);
        for (address, length) in mapped.pieces {
            // SAFETY: `MappedRange::new` checked the piece lies in one page mapped for
            // the process; its frame is RAM, identity-mapped for the kernel.
            let piece = unsafe { core::slice::from_raw_parts(address as *const u8, length) };
            bytes.extend_from_slice(piece);
        }
        Ok(bytes)
    }

    fn write_memory(&mut self, range: UserRange, bytes: &[u8]) -> Result<(), Status> {
        if (bytes.len() as u64) > range.length() {
            return Err(Status::InvalidArgument);
        }
        let range = UserRange::new(range.address(), bytes.len() as u64, range.length())?;
        let mapped = MappedRange::new(self.space, range, Access::Write)?;
        let mut rest = bytes;
        for (address, length) in mapped.pieces {
            let (piece, after) = rest.split_at(length);
            // SAFETY: as in `read_memory`, and the pages were checked writable.
            unsafe { core::ptr::copy_nonoverlapping(piece.as_ptr(), address as *mut u8, length) };
            rest = after;
        }
        Ok(())
    }

    fn now(&self) -> Instant {
        Instant(time::since_boot_nanos().unwrap_or(0))
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
