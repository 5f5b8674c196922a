//! The ring-3 tests: small programs, assembled into the kernel image as data, run as
//! processes of a process model made for the test.
//!
//! The programs are position-independent machine code copied into one read-execute
//! page at `USER_START`; they are never executed where they lie in the kernel.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use ethos_abi::{Report, Status};
use ethos_core::process_model::identity::{
    Label, Program, ProgramId, ProgramName, PublicKey, User, UserName,
};
use ethos_core::process_model::policy::Policy;
use ethos_core::process_model::{Configuration, ProcessModel};
use ethos_typesys::TypeGraph;

use ethos_core::program_image::{self, Image, Segment};
use ethos_platform_x86_64::arch::{self, probe};
use ethos_platform_x86_64::processes::{self, Ending};
use ethos_platform_x86_64::user_mode;
use ethos_platform_x86_64::{console, memory, scheduler, time};

/// The kernel address the fault program reads (the start of the identity map's RAM).
pub(crate) const KERNEL_ADDRESS: u64 = 0x10_0000;

/// The `hello` program's executable, as the build embedded it (empty when the
/// kernel was built without `cargo xtask`).
static HELLO_ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hello.elf"));

fn hello_image() -> Result<Image<'static>, UserFailure> {
    if HELLO_ELF.is_empty() {
        return Err(UserFailure::Missing("hello"));
    }
    program_image::parse(HELLO_ELF, user_mode::IMAGE_RANGE).map_err(UserFailure::Image)
}

/// A flat program: its code in one read-execute region at `USER_START`.
fn flat_image(code: &[u8]) -> Image<'_> {
    Image {
        entry: arch::USER_START,
        segments: vec![Segment {
            address: arch::USER_START,
            bytes: code,
            memory_size: code.len() as u64,
            writable: false,
            executable: true,
        }],
    }
}

/// Why a ring-3 test failed.
#[derive(Debug)]
pub(crate) enum UserFailure {
    Model(&'static str),
    Missing(&'static str),
    Image(program_image::ImageError),
    Run(user_mode::RunError),
    Count(usize),
    Ending {
        program: &'static str,
        ending: Ending,
        expected: &'static str,
    },
    FramesLeaked {
        before: usize,
        after: usize,
    },
}

impl fmt::Display for UserFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserFailure::Model(what) => write!(f, "process model: {what}"),
            UserFailure::Missing(program) => write!(
                f,
                "the kernel was built without the `{program}` program (build with `cargo xtask`)"
            ),
            UserFailure::Image(error) => write!(f, "the program's executable: {error}"),
            UserFailure::Run(error) => write!(f, "starting the program: {error}"),
            UserFailure::Count(count) => write!(f, "{count} processes ended; expected one"),
            UserFailure::Ending {
                program,
                ending,
                expected,
            } => write!(f, "program `{program}` {ending}; expected {expected}"),
            UserFailure::FramesLeaked { before, after } => write!(
                f,
                "free frames were {before} before the programs ran and {after} after"
            ),
        }
    }
}

pub(crate) const USER: &str = "ethos";

/// The CPU the `spin` program may use before the timer stops it: one second.
const SPIN_LIMIT_TICKS: u64 = time::TICK_HZ as u64;

/// A model with one user and the test programs.
fn model(programs: &[(&'static str, &[u8])]) -> Result<ProcessModel, UserFailure> {
    let user = UserName::new(USER).map_err(|_| UserFailure::Model("user name"))?;
    let label = Label::new("programs").map_err(|_| UserFailure::Model("label"))?;
    let programs = programs
        .iter()
        .map(|(name, bytes)| {
            Ok(Program {
                name: ProgramName::new(name).map_err(|_| UserFailure::Model("program name"))?,
                identity: ProgramId::of_executable(bytes),
                label: label.clone(),
            })
        })
        .collect::<Result<Vec<_>, UserFailure>>()?;
    let types =
        TypeGraph::new(Cow::Owned(Vec::new())).map_err(|_| UserFailure::Model("type graph"))?;
    ProcessModel::new(Configuration {
        users: vec![User {
            name: user,
            public_key: PublicKey([0; 32]),
            groups: Vec::new(),
        }],
        programs,
        policy: Policy::new(Vec::new()),
        types,
        services: Vec::new(),
        kernel_memory_per_process: ethos_abi::arguments::DEFAULT_PROCESS_KERNEL_MEMORY,
    })
    .map_err(|_| UserFailure::Model("configuration refused"))
}

fn run_one(name: &'static str, limit_ticks: Option<u64>) -> Result<Ending, UserFailure> {
    let (smep, smap) = arch::supervisor_protection();
    tracing::info!(smep, smap, program = name, "running a program in ring 3");
    let user = UserName::new(USER).map_err(|_| UserFailure::Model("user name"))?;
    let program = ProgramName::new(name).map_err(|_| UserFailure::Model("program name"))?;
    user_mode::spawn(&user, &program, limit_ticks).map_err(UserFailure::Run)?;
    let finished = scheduler::run();
    match (finished.count, finished.recent.as_slice()) {
        (1, [one]) => Ok(one.ending),
        (count, _) => Err(UserFailure::Count(count as usize)),
    }
}

/// What `pointers` exits with: `print`'s status for its text, for a kernel address
/// and for an unmapped user address, and `getUser`'s for a read-only buffer, one per
/// byte.
fn pointers_expected_status() -> i32 {
    let invalid = i32::from(Status::InvalidArgument.code() as u8);
    i32::from(Status::Ok.code() as u8) | invalid << 8 | invalid << 16 | invalid << 24
}

/// The models' programs: the embedded `hello` (when there) and the assembled ones.
pub(crate) fn test_model() -> Result<(), UserFailure> {
    let assembled = [
        ("pointers", probe::pointers_program()),
        ("read_kernel", probe::read_kernel_program()),
        ("invalid_opcode", probe::invalid_opcode_program()),
        ("spin", probe::spin_program()),
    ];
    let mut images = BTreeMap::new();
    if !HELLO_ELF.is_empty() {
        images.insert(program_name("hello")?, hello_image()?);
    }
    for (name, code) in assembled {
        images.insert(program_name(name)?, flat_image(code));
    }
    let mut executables = vec![("hello", HELLO_ELF)];
    executables.extend(assembled);
    processes::install(model(&executables)?, images);
    Ok(())
}

fn program_name(name: &str) -> Result<ProgramName, UserFailure> {
    ProgramName::new(name).map_err(|_| UserFailure::Model("program name"))
}

fn free_frames() -> usize {
    memory::FRAMES
        .lock()
        .as_ref()
        .map_or(0, |frames| frames.free_frames())
}

/// `user_hello`: the `hello` program, built from its own crate, loaded from its ELF
/// file, prints and exits with 0.
pub(crate) fn hello() -> Result<(), UserFailure> {
    test_model()?;
    hello_image()?;
    let ending = run_one("hello", None)?;
    if ending != Ending::Exited(0) {
        return Err(UserFailure::Ending {
            program: "hello",
            ending,
            expected: "exit with status 0",
        });
    }
    Ok(())
}

/// `user_pointers`: a program's text is printed, and addresses of the kernel,
/// unmapped addresses and read-only buffers are refused with `InvalidArgument`.
pub(crate) fn pointers() -> Result<(), UserFailure> {
    test_model()?;
    let ending = run_one("pointers", None)?;
    if ending != Ending::Exited(pointers_expected_status()) {
        return Err(UserFailure::Ending {
            program: "pointers",
            ending,
            expected: "exit with the statuses ok, then three invalid arguments",
        });
    }
    Ok(())
}

/// `user_fault`: a kernel read and an invalid instruction each kill their program,
/// a program that never ends is stopped at its time limit; then a program runs to
/// its exit, and every frame the three took is free again.
pub(crate) fn faults() -> Result<(), UserFailure> {
    test_model()?;
    let before = free_frames();
    let ending = run_one("read_kernel", None)?;
    if !matches!(
        ending,
        Ending::Faulted {
            vector: 14,
            address: KERNEL_ADDRESS,
            error_code,
            ..
        } if error_code & 4 != 0
    ) {
        return Err(UserFailure::Ending {
            program: "read_kernel",
            ending,
            expected: "a user-mode page fault at the kernel address",
        });
    }
    let ending = run_one("invalid_opcode", None)?;
    if !matches!(ending, Ending::Faulted { vector: 6, instruction, .. } if instruction == arch::USER_START + 1)
    {
        return Err(UserFailure::Ending {
            program: "invalid_opcode",
            ending,
            expected: "#UD at the program's second byte",
        });
    }
    let ending = run_one("spin", Some(SPIN_LIMIT_TICKS))?;
    if !matches!(ending, Ending::TimeLimit { .. }) {
        return Err(UserFailure::Ending {
            program: "spin",
            ending,
            expected: "stopped at its time limit",
        });
    }
    hello_image()?;
    let ending = run_one("hello", None)?;
    if ending != Ending::Exited(0) {
        return Err(UserFailure::Ending {
            program: "hello",
            ending,
            expected: "a clean exit after the faults",
        });
    }
    let after = free_frames();
    if after != before {
        return Err(UserFailure::FramesLeaked { before, after });
    }
    console::report(Report::Metric {
        name: "user_processes_killed",
        value: 3,
        unit: "count",
    });
    Ok(())
}
