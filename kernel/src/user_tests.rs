//! The ring-3 tests: small programs, assembled into the kernel image as data, run as
//! processes of a process model made for the test.
//!
//! The programs are position-independent machine code copied into one read-execute
//! page at `USER_START`; they are never executed where they lie in the kernel.

use alloc::borrow::Cow;
use alloc::vec;
use alloc::vec::Vec;
use core::arch::global_asm;
use core::fmt;

use ethos_abi::{ProcessId, Report, Status};
use ethos_kernel::process_model::identity::{
    Label, Program, ProgramId, ProgramName, PublicKey, User, UserName,
};
use ethos_kernel::process_model::policy::Policy;
use ethos_kernel::process_model::{Configuration, ProcessModel};
use ethos_typesys::TypeGraph;

use crate::arch::{self, PageRights};
use crate::console;
use crate::user_mode::{self, Ending, Image, Segment};

/// The kernel address the fault program reads (the start of the identity map's RAM).
pub(crate) const KERNEL_ADDRESS: u64 = 0x10_0000;

global_asm!(
    r#"
    .section .rodata.user_programs, "a"

    .global user_hello_start
user_hello_start:
    leaq user_hello_text(%rip), %rdi
    movl $(user_hello_text_end - user_hello_text), %esi
    movl $27, %eax
    syscall
    movq %rax, %r12
    movl $0x100000, %edi
    movl $16, %esi
    movl $27, %eax
    syscall
    shlq $8, %rax
    orq %r12, %rax
    movq %rax, %rdi
    movl $20, %eax
    syscall
    ud2
user_hello_text:
    .ascii "hello from ring 3"
user_hello_text_end:
    .global user_hello_end
user_hello_end:

    .global user_read_kernel_start
user_read_kernel_start:
    movl $0x100000, %eax
    movq (%rax), %rax
    movl $20, %eax
    xorl %edi, %edi
    syscall
    .global user_read_kernel_end
user_read_kernel_end:

    .global user_invalid_opcode_start
user_invalid_opcode_start:
    nop
    ud2
    .global user_invalid_opcode_end
user_invalid_opcode_end:
"#,
    options(att_syntax)
);

unsafe extern "C" {
    static user_hello_start: u8;
    static user_hello_end: u8;
    static user_read_kernel_start: u8;
    static user_read_kernel_end: u8;
    static user_invalid_opcode_start: u8;
    static user_invalid_opcode_end: u8;
}

/// The bytes between two symbols of the kernel's read-only data.
fn between(start: *const u8, end: *const u8) -> &'static [u8] {
    let length = end as usize - start as usize;
    // SAFETY: both symbols bound one blob in `.rodata`, which lives and never changes
    // for the kernel's life.
    unsafe { core::slice::from_raw_parts(start, length) }
}

fn hello_code() -> &'static [u8] {
    between(&raw const user_hello_start, &raw const user_hello_end)
}

fn read_kernel_code() -> &'static [u8] {
    between(
        &raw const user_read_kernel_start,
        &raw const user_read_kernel_end,
    )
}

fn invalid_opcode_code() -> &'static [u8] {
    between(
        &raw const user_invalid_opcode_start,
        &raw const user_invalid_opcode_end,
    )
}

/// A flat program: its code in one read-execute region at `USER_START`.
fn flat_image(code: &[u8]) -> Image<'_> {
    Image {
        entry: arch::USER_START,
        segments: vec![Segment {
            address: arch::USER_START,
            bytes: code,
            memory_size: code.len() as u64,
            rights: PageRights {
                write: false,
                execute: true,
            },
        }],
    }
}

/// Why a ring-3 test failed.
#[derive(Debug)]
pub(crate) enum UserFailure {
    Model(&'static str),
    Run(user_mode::RunError),
    Ending {
        program: &'static str,
        ending: Ending,
        expected: &'static str,
    },
}

impl fmt::Display for UserFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserFailure::Model(what) => write!(f, "process model: {what}"),
            UserFailure::Run(error) => write!(f, "starting the program: {error}"),
            UserFailure::Ending {
                program,
                ending,
                expected,
            } => write!(f, "program `{program}` {ending}; expected {expected}"),
        }
    }
}

const USER: &str = "ethos";

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
    })
    .map_err(|_| UserFailure::Model("configuration refused"))
}

fn start(program: &str) -> Result<ProcessId, UserFailure> {
    let user = UserName::new(USER).map_err(|_| UserFailure::Model("user name"))?;
    let program = ProgramName::new(program).map_err(|_| UserFailure::Model("program name"))?;
    user_mode::with_model(|model| model.create_process(&user, &program))
        .ok_or(UserFailure::Model("no model installed"))?
        .map_err(|_| UserFailure::Model("create_process refused"))
}

fn run_one(name: &'static str, code: &[u8]) -> Result<Ending, UserFailure> {
    let process = start(name)?;
    let ending = user_mode::run(process, &flat_image(code)).map_err(UserFailure::Run)?;
    let mut line = console::LineBuffer::new();
    let _ = fmt::Write::write_fmt(&mut line, format_args!("program {name}: {ending}\n"));
    console::write_str(line.as_str());
    Ok(ending)
}

/// What `hello` exits with: `print`'s status for its text (low byte) and for a
/// kernel address (next byte).
fn hello_expected_status() -> i32 {
    i32::from(Status::Ok.code() as u8) | (i32::from(Status::InvalidArgument.code() as u8) << 8)
}

/// `user_hello`: print, a refused pointer, exit.
pub(crate) fn hello() -> Result<(), UserFailure> {
    user_mode::install_model(model(&[("hello", hello_code())])?);
    let ending = run_one("hello", hello_code())?;
    if ending != Ending::Exited(hello_expected_status()) {
        return Err(UserFailure::Ending {
            program: "hello",
            ending,
            expected: "exit with print's statuses (ok, then invalid argument)",
        });
    }
    Ok(())
}

/// `user_fault`: a kernel read and an invalid instruction each kill their program;
/// then a program runs to its exit.
pub(crate) fn faults() -> Result<(), UserFailure> {
    user_mode::install_model(model(&[
        ("hello", hello_code()),
        ("read_kernel", read_kernel_code()),
        ("invalid_opcode", invalid_opcode_code()),
    ])?);
    let ending = run_one("read_kernel", read_kernel_code())?;
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
    let ending = run_one("invalid_opcode", invalid_opcode_code())?;
    if !matches!(ending, Ending::Faulted { vector: 6, instruction, .. } if instruction == arch::USER_START + 1)
    {
        return Err(UserFailure::Ending {
            program: "invalid_opcode",
            ending,
            expected: "#UD at the program's second byte",
        });
    }
    let ending = run_one("hello", hello_code())?;
    if ending != Ending::Exited(hello_expected_status()) {
        return Err(UserFailure::Ending {
            program: "hello",
            ending,
            expected: "a clean exit after the faults",
        });
    }
    console::report(Report::Metric {
        name: "user_processes_killed",
        value: 2,
        unit: "count",
    });
    Ok(())
}
