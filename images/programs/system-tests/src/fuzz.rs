//! What `syscall-fuzz` draws and how it judges an answer, kept free of `unsafe` so
//! that the host tests it (`tests/fuzz.rs`); and `fuzz-server`, the service the
//! fuzzers connect to.
//!
//! - [`Generator`]: SplitMix64, the only source of the fuzzer's choices, so a seed
//!   replays the same draws (the kernel's answers, which steer later draws through
//!   the live descriptors, events and processes, are the only other input);
//! - [`plan`]: one call — a number and six argument words shaped by the call's ABI
//!   layout: small integers, addresses in the fuzzer's own memory, kernel,
//!   non-canonical and unmapped addresses, huge and wrapping lengths, live
//!   descriptors, events and processes;
//! - [`impossible`]: the answers no correct kernel gives to such a call;
//! - [`server`], the loop of `fuzz-server`.
//!
//! Nothing here issues a call with a word the library did not check: the program
//! (`src/bin/syscall_fuzz.rs`) issues the planned words raw.

use alloc::vec::Vec;
use core::fmt;

use ethos_abi::arguments::{
    Argument, DESCRIPTOR_TABLE_SIZE, MAXIMUM_BLOCK_EVENTS, MAXIMUM_FD_SEND, MAXIMUM_NAME_LENGTH,
    MAXIMUM_PRINT_LENGTH, MAXIMUM_RANDOM_SIZE, MAXIMUM_VALUE_SIZE, USER_SPACE_END, layout,
};
use ethos_abi::{Call, Status};
use ethos_compat::results::{IMPORT, VALUE, retire_as};
use ethos_compat::{Descriptor, EventSet, advertise, close, import, println, read};

use crate::serving::{Calculator, Counted, Next};
use ethos_typesys::wire::encode;

use crate::types::{
    BouncerBounce, BouncerRequest, CalculatorAdd, CalculatorEcho, CalculatorEchoReply,
    CalculatorRequest, CalculatorServer, CalculatorShutdown, Payload, serve_calculator_into,
};

/// Calls one run of the first fuzzer makes.
pub const ROOT_CALLS: u64 = 200_000;
/// Calls a forked child makes, by generation (1: forked by the first fuzzer).
pub const CHILD_CALLS: [u64; 3] = [ROOT_CALLS, 4_000, 2_000];
/// Children each generation may fork: 4 from the first fuzzer, 1 from each of its
/// children, none from theirs — at most 8 fuzzers beside the first.
pub const FORKS: [u32; 3] = [4, 1, 0];
/// How often the first fuzzer prints where it is.
pub const CHECKPOINT_CALLS: u64 = 25_000;

/// The service `fuzz-server` advertises (interface `Calculator`).
pub const SERVICE: &str = "fuzz";
/// A service the fuzzers themselves may advertise, import and connect to.
pub const LOOP_SERVICE: &str = "fuzz-loop";
/// The `Echo` text that stops `fuzz-server`: the first fuzzer sends it at its end.
/// The fuzzers' own values never hold it.
pub const STOP_TEXT: &str = "syscall-fuzz: every call made, stop serving";

/// Where a process that is not among those the fuzzer tracks is looked for.
const SMALL_PROCESSES: u64 = 16;

/// SplitMix64 (Steele, Lea, Flood 2014): one 64-bit state, every seed a good one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generator {
    state: u64,
}

impl Generator {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Generator {
        Generator { state: seed }
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// A number below `bound` (0 for a bound of 0), by multiply-shift.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// True `numerator` times in `denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    /// One element of `items` (`None` if it is empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        let index = self.below(items.len() as u64) as usize;
        items.get(index).copied()
    }
}

/// The seed of a fuzzer run for `user`: the number after `fuzz-` in the user's name
/// (the init set says which user runs it, so the boot image fixes the seed).
pub fn seed_of_user(user: &str) -> Option<u64> {
    user.strip_prefix("fuzz-")?.parse().ok()
}

/// The seed of the child a fuzzer with `seed` forked at its call `call`.
pub fn child_seed(seed: u64, call: u64) -> u64 {
    Generator::new(seed ^ call.rotate_left(32) ^ 0x6368_696c_6400_0000).next_u64()
}

/// Which fuzzer a process is: the first one (which must see its run to the end) or
/// a child of generation 1 or 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The process the init set started.
    First,
    /// A forked fuzzer.
    Child { generation: usize },
}

impl Role {
    /// Index into [`CHILD_CALLS`] and [`FORKS`].
    pub fn generation(self) -> usize {
        match self {
            Role::First => 0,
            Role::Child { generation } => generation.min(FORKS.len() - 1),
        }
    }
}

/// A name the fuzzer keeps in its own memory for calls to read, and whether `exec`
/// may be pointed at it (only `hello`, and only by children: the first fuzzer must
/// not be replaced, and no fuzzer may become a second first one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text {
    pub address: u64,
    pub length: u64,
    pub exec_target: bool,
    /// The fuzzer's own program name: never an `exec` target, since a fuzzer that
    /// becomes `syscall-fuzz` again starts over believing it is the first, and may
    /// then end the real first fuzzer.
    pub own_name: bool,
}

/// The fuzzer's memory as calls may name it.
#[derive(Clone, Debug)]
pub struct Memory {
    /// Bytes the kernel may write (buffers) and calls may read; no Rust object lives
    /// there.
    pub scratch: (u64, u64),
    /// Names and values prepared at start: read by the kernel, never written.
    pub texts: Vec<Text>,
    /// The `u64` event ids `block` reads: the program fills them before each
    /// `block`, a completed event first, so that no `block` can wait for ever.
    pub block_list: u64,
    /// The `u32` descriptor numbers `fdSend` reads.
    pub descriptor_list: u64,
    /// Some of the program's code: readable, never writable.
    pub code: u64,
}

/// What the fuzzer knows from the kernel's answers.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// Descriptors answered by `advertise` and `copyFd`.
    pub descriptors: Vec<u64>,
    /// Events answered and not yet retired or cancelled, oldest first.
    pub events: Vec<u64>,
    /// This process.
    pub own: u64,
    /// The first fuzzer (never killed by the others).
    pub first: u64,
    /// The children this process forked.
    pub children: Vec<u64>,
    /// The last kernel clock read.
    pub now: u64,
    /// Forks this process may still make.
    pub forks_left: u32,
}

/// Most events a fuzzer tracks; the oldest is cancelled to make room.
pub const TRACKED_EVENTS: usize = 48;
/// Most descriptors a fuzzer tracks.
const TRACKED_DESCRIPTORS: usize = 32;

impl Live {
    /// Remembers an event answered; the oldest one to cancel if the table is full.
    pub fn add_event(&mut self, event: u64) -> Option<u64> {
        self.events.push(event);
        (self.events.len() > TRACKED_EVENTS).then(|| self.events.remove(0))
    }

    /// Forgets an event retired or cancelled.
    pub fn forget_event(&mut self, event: u64) {
        self.events.retain(|known| *known != event);
    }

    /// Remembers a descriptor answered.
    pub fn add_descriptor(&mut self, descriptor: u64) {
        if self.descriptors.len() >= TRACKED_DESCRIPTORS {
            self.descriptors.remove(0);
        }
        self.descriptors.push(descriptor);
    }
}

/// What an answer taught the fuzzer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// Nothing to act on.
    Nothing,
    /// The event table was full: cancel this, the oldest.
    Cancel(u64),
    /// `fork` answered in the child: this process is now a new fuzzer.
    BecameChild,
}

impl Live {
    /// Takes in the answer (status and value words) to `planned`, which
    /// [`impossible`] found possible; `Err` for an answer that contradicts what came
    /// before (another process id, a clock going back, a call that ends the caller
    /// answering).
    pub fn learn(
        &mut self,
        planned: &Planned,
        status: u64,
        value: u64,
    ) -> Result<Learned, &'static str> {
        let Some(call) = planned.call() else {
            return Ok(Learned::Nothing);
        };
        if Status::from_code(status) != Some(Status::Ok) {
            return Ok(Learned::Nothing);
        }
        let target = planned.words[0];
        match call {
            _ if call.returns_event() => {
                if let Some(oldest) = self.add_event(value) {
                    return Ok(Learned::Cancel(oldest));
                }
            }
            Call::Retire | Call::BlockAndRetire | Call::Cancel => self.forget_event(target),
            Call::Advertise | Call::CopyFd => self.add_descriptor(value),
            Call::GetPid if value != self.own => return Err("getPid answered another process"),
            Call::GetTime if value < self.now => return Err("the kernel clock went back"),
            Call::GetTime => self.now = value,
            Call::Fork if value == 0 => return Ok(Learned::BecameChild),
            Call::Fork if value == self.own => return Err("fork answered the caller's own id"),
            Call::Fork => {
                self.children.push(value);
                self.forks_left = self.forks_left.saturating_sub(1);
            }
            Call::Exit | Call::Exec => {
                return Err("a call that replaces or ends the caller answered");
            }
            Call::Kill if target == self.own => return Err("kill of the caller answered it"),
            _ => {}
        }
        Ok(Learned::Nothing)
    }
}

/// One planned call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    pub number: u64,
    pub words: [u64; 6],
}

impl Planned {
    /// The call, if the number names one.
    pub fn call(&self) -> Option<Call> {
        u32::try_from(self.number)
            .ok()
            .and_then(|number| Call::try_from(number).ok())
    }

    /// Whether this is a `block` on the prepared list, which the program must fill
    /// (a completed event first) before making it.
    pub fn blocks_on_list(&self, memory: &Memory) -> bool {
        self.call() == Some(Call::Block) && self.words[0] == memory.block_list
    }
}

impl fmt::Display for Planned {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.call().map_or("unknown", Call::name);
        write!(formatter, "nr={} ({name}) args=[", self.number)?;
        for (index, word) in self.words.iter().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            write!(formatter, "{separator}{word:#x}")?;
        }
        formatter.write_str("]")
    }
}

/// Addresses of the kernel's half, and the first page of the kernel image, which
/// no program may name.
const KERNEL_ADDRESSES: [u64; 4] = [
    0x10_0000,
    0xffff_8000_0000_0000,
    0xffff_ffff_8000_0000,
    0xffff_ffff_ffff_f000,
];
/// Addresses between the canonical halves.
const NON_CANONICAL: [u64; 3] = [USER_SPACE_END, 0x0000_8000_0000_1000, 0xdead_beef_0000_0000];
/// In the user range, above the program and below its stack: nothing is mapped.
pub const UNMAPPED_BASE: u64 = 0x6000_0000_0000;
/// Below the program: nothing is mapped from 0 to here.
pub const LOW_UNMAPPED_END: u64 = 0x1_0000;

/// Whether `address` is one no call may read a byte at: the kernel's half, the
/// non-canonical hole, or one of the unmapped places the fuzzer names.
fn never_readable(address: u64) -> bool {
    !(LOW_UNMAPPED_END..USER_SPACE_END).contains(&address)
        || (UNMAPPED_BASE..UNMAPPED_BASE + (1 << 30)).contains(&address)
        || KERNEL_ADDRESSES.contains(&address)
}

fn small_integer(generator: &mut Generator) -> u64 {
    generator.below(17)
}

fn wild_word(generator: &mut Generator) -> u64 {
    match generator.below(6) {
        0 => small_integer(generator),
        1 => generator.pick(&KERNEL_ADDRESSES).unwrap_or(0),
        2 => generator.pick(&NON_CANONICAL).unwrap_or(0),
        3 => u64::MAX - generator.below(16),
        4 => UNMAPPED_BASE + generator.below(1 << 20),
        _ => generator.next_u64(),
    }
}

/// An address no byte of which the kernel may read or write, with any length.
fn bad_address(generator: &mut Generator) -> u64 {
    match generator.below(5) {
        0 => small_integer(generator),
        1 => generator.pick(&KERNEL_ADDRESSES).unwrap_or(0),
        2 => generator.pick(&NON_CANONICAL).unwrap_or(USER_SPACE_END),
        3 => UNMAPPED_BASE + generator.below(1 << 20),
        _ => u64::MAX - generator.below(4096),
    }
}

/// A length of any shape for a range at `address` whose kind allows `maximum`.
fn any_length(generator: &mut Generator, address: u64, maximum: u64) -> u64 {
    match generator.below(8) {
        0 => 0,
        1 => 1 + generator.below(16),
        2 => maximum,
        3 => maximum + 1 + generator.below(4),
        4 => 1 << (32 + generator.below(31)),
        5 => u64::MAX - generator.below(4),
        // Wraps past the end of the address space.
        6 => 0u64
            .wrapping_sub(address)
            .wrapping_add(1 + generator.below(64)),
        _ => generator.below(maximum.saturating_add(1)),
    }
}

/// A range somewhere in scratch, no longer than what lies after its start.
fn scratch_range(generator: &mut Generator, memory: &Memory, maximum: u64) -> (u64, u64) {
    let (start, size) = memory.scratch;
    let offset = generator.below(size);
    let room = (size - offset).min(maximum);
    let length = match generator.below(4) {
        0 => room,
        1 => generator.below(room + 1),
        _ => generator.below(room.min(64) + 1),
    };
    (start + offset, length)
}

/// A range the kernel only reads: a prepared text, scratch, code, or a bad place.
fn read_range(
    generator: &mut Generator,
    memory: &Memory,
    maximum: u64,
    exec_targets: bool,
    exec: bool,
) -> (u64, u64) {
    match generator.below(10) {
        0..=4 => {
            let usable: Vec<Text> = memory
                .texts
                .iter()
                .copied()
                .filter(|text| (exec_targets || !text.exec_target) && !(exec && text.own_name))
                .collect();
            let Some(text) = generator.pick(&usable) else {
                return (0, 0);
            };
            // Now and then one byte short or long.
            let length = match generator.below(8) {
                0 => text.length.saturating_sub(1),
                1 => text.length + 1,
                _ => text.length,
            };
            (text.address, length)
        }
        5 | 6 => scratch_range(generator, memory, maximum),
        7 => (
            memory.code + generator.below(256),
            generator.below(maximum.min(4096) + 1),
        ),
        _ => {
            let address = bad_address(generator);
            (address, any_length(generator, address, maximum))
        }
    }
}

/// A range the kernel writes: scratch (never longer than scratch), the program's
/// code (the kernel must refuse), or a bad place with any length.
fn write_range(generator: &mut Generator, memory: &Memory, maximum: u64) -> (u64, u64) {
    match generator.below(10) {
        0..=5 => scratch_range(generator, memory, maximum),
        6 => {
            let address = memory.code + generator.below(256);
            (address, any_length(generator, address, maximum))
        }
        _ => {
            let address = bad_address(generator);
            (address, any_length(generator, address, maximum))
        }
    }
}

fn descriptor_word(generator: &mut Generator, live: &Live) -> u64 {
    match generator.below(10) {
        0..=4 => small_integer(generator),
        5..=7 => generator
            .pick(&live.descriptors)
            .unwrap_or_else(|| small_integer(generator)),
        8 => u64::from(DESCRIPTOR_TABLE_SIZE) - 1 + generator.below(2),
        _ => wild_word(generator),
    }
}

fn event_word(generator: &mut Generator, live: &Live) -> u64 {
    match generator.below(10) {
        0..=6 => generator
            .pick(&live.events)
            .unwrap_or_else(|| small_integer(generator)),
        7 => small_integer(generator),
        _ => wild_word(generator),
    }
}

fn process_word(generator: &mut Generator, live: &Live) -> u64 {
    match generator.below(8) {
        0 => live.own,
        1..=3 => generator
            .pick(&live.children)
            .unwrap_or_else(|| 1 + generator.below(SMALL_PROCESSES)),
        4..=6 => 1 + generator.below(SMALL_PROCESSES),
        _ => wild_word(generator),
    }
}

fn count_word(generator: &mut Generator, maximum: u64) -> u64 {
    match generator.below(6) {
        0 => 0,
        1 => maximum + 1,
        2 => wild_word(generator),
        _ => 1 + generator.below(maximum),
    }
}

fn call_number(generator: &mut Generator) -> u64 {
    match generator.below(20) {
        0 => 0,
        1 => Call::ALL.len() as u64 + 1 + generator.below(8),
        2 => (1 << 32) | (1 + generator.below(Call::ALL.len() as u64)),
        3 => generator.next_u64(),
        _ => 1 + generator.below(Call::ALL.len() as u64),
    }
}

/// Whether a fuzzer in `role` may make `call` with `words` now: the first fuzzer
/// never ends itself (`exit`, `kill` of itself) and no fuzzer kills the first; a
/// child ends itself only now and then, so that it gets some calls done; `fork` only
/// while the budget lasts.
fn allowed(generator: &mut Generator, role: Role, live: &Live, call: Call, words: &[u64]) -> bool {
    match call {
        Call::Exit => role != Role::First && generator.chance(1, 32),
        Call::Kill => {
            let target = words.first().copied().unwrap_or(0);
            if target == live.own {
                role != Role::First && generator.chance(1, 32)
            } else {
                target != live.first
            }
        }
        Call::Fork => live.forks_left > 0,
        _ => true,
    }
}

/// One call for a fuzzer in `role`: a number (mostly one of the calls, sometimes
/// none) and words shaped by that call's layout; registers past the layout hold
/// wild words, which the kernel must ignore.
pub fn plan(generator: &mut Generator, memory: &Memory, live: &Live, role: Role) -> Planned {
    loop {
        let number = call_number(generator);
        let mut words = [0u64; 6];
        for word in &mut words {
            *word = wild_word(generator);
        }
        let call = u32::try_from(number)
            .ok()
            .and_then(|number| Call::try_from(number).ok());
        let Some(call) = call else {
            return Planned { number, words };
        };
        fill(generator, memory, live, role, call, &mut words);
        if allowed(generator, role, live, call, &words) {
            return Planned { number, words };
        }
    }
}

fn fill(
    generator: &mut Generator,
    memory: &Memory,
    live: &Live,
    role: Role,
    call: Call,
    words: &mut [u64; 6],
) {
    let arguments = layout(call);
    // `exec` may become `hello` in a child only; in the first fuzzer it names no
    // program at all (no text, no scratch, which a kernel answer might have filled).
    let exec_targets = call != Call::Exec || role != Role::First;
    let first_exec = call == Call::Exec && role == Role::First;
    let mut index = 0;
    while let Some(argument) = arguments.get(index) {
        let pair = match argument {
            Argument::NameAddress if first_exec => {
                let address = bad_address(generator);
                Some((address, any_length(generator, address, MAXIMUM_NAME_LENGTH)))
            }
            Argument::NameAddress => Some(read_range(
                generator,
                memory,
                MAXIMUM_NAME_LENGTH,
                exec_targets,
                call == Call::Exec,
            )),
            Argument::ValueAddress => {
                let maximum = if call == Call::Print {
                    MAXIMUM_PRINT_LENGTH
                } else {
                    MAXIMUM_VALUE_SIZE
                };
                Some(read_range(generator, memory, maximum, true, false))
            }
            Argument::BufferAddress => {
                let maximum =
                    if matches!(call, Call::Retire | Call::BlockAndRetire | Call::WriteRead) {
                        MAXIMUM_VALUE_SIZE
                    } else {
                        MAXIMUM_NAME_LENGTH
                    };
                Some(write_range(generator, memory, maximum))
            }
            Argument::DescriptorsAddress => Some(if generator.chance(3, 4) {
                (
                    memory.descriptor_list,
                    count_word(generator, MAXIMUM_FD_SEND),
                )
            } else {
                (
                    bad_address(generator),
                    count_word(generator, MAXIMUM_FD_SEND),
                )
            }),
            Argument::EventsAddress => Some(if generator.chance(4, 5) {
                (
                    memory.block_list,
                    count_word(generator, MAXIMUM_BLOCK_EVENTS),
                )
            } else {
                (
                    bad_address(generator),
                    count_word(generator, MAXIMUM_BLOCK_EVENTS),
                )
            }),
            _ => None,
        };
        if let Some((address, length)) = pair {
            words[index] = address;
            if let Some(word) = words.get_mut(index + 1) {
                *word = length;
            }
            index += 2;
            continue;
        }
        words[index] = match argument {
            Argument::Descriptor => descriptor_word(generator, live),
            Argument::Event => event_word(generator, live),
            Argument::Process => process_word(generator, live),
            Argument::Rights => match generator.below(4) {
                0 => wild_word(generator),
                _ => generator.below(64),
            },
            Argument::Time => match generator.below(5) {
                0 => 0,
                1 => live.now + generator.below(2_000_000),
                2 => u64::MAX,
                3 => live.now.saturating_sub(generator.below(1_000_000)),
                _ => wild_word(generator),
            },
            Argument::Size => match generator.below(16) {
                0 => 0,
                1 => MAXIMUM_RANDOM_SIZE + 1,
                2 => wild_word(generator),
                // Now and then a value of 64 KiB: larger ones, kept in tens of
                // events, would only measure how fast the kernel fills them.
                3 => 1 << 16,
                4 => 4096,
                _ => 1 + generator.below(64),
            },
            Argument::ExitStatus => match generator.below(3) {
                0 => generator.below(4),
                _ => generator.next_u64(),
            },
            Argument::TypeHashAddress | Argument::PublicKeyAddress | Argument::SignatureAddress => {
                match generator.below(3) {
                    0 => memory.scratch.0,
                    1 => memory.code,
                    _ => bad_address(generator),
                }
            }
            _ => wild_word(generator),
        };
        index += 1;
    }
}

/// A range the call reads or writes, and whether the answer may be a success with it
/// refused: the length checks are the ABI's, done before any byte is touched.
fn range_refused(address: u64, length: u64, maximum: u64) -> bool {
    if length == 0 {
        return false;
    }
    length > maximum
        || address
            .checked_add(length)
            .is_none_or(|end| end > USER_SPACE_END)
        || never_readable(address)
}

/// Why `answer` (status and value words) to `planned` is one no correct kernel
/// gives, or `None` if it is a possible answer. A success must have read every range
/// the call names, so no range of it may be one the kernel has to refuse.
pub fn impossible(planned: &Planned, status: u64, value: u64) -> Option<&'static str> {
    let Some(decoded) = Status::from_code(status) else {
        return Some("the status word is no status");
    };
    // Only a kept event is answered beside a failure: by `blockAndRetire` and
    // `writeRead`, when its result could not be written into the buffer.
    let kept = matches!(planned.call(), Some(Call::BlockAndRetire | Call::WriteRead))
        && matches!(decoded, Status::BufferTooSmall | Status::InvalidArgument);
    if decoded != Status::Ok && value != 0 && !kept {
        return Some("a failure answered a value");
    }
    let Some(call) = planned.call() else {
        return (decoded != Status::UnknownCall).then_some("an unknown call was not UnknownCall");
    };
    if decoded != Status::Ok {
        return None;
    }
    let words = planned.words;
    let arguments = layout(call);
    for (index, argument) in arguments.iter().enumerate() {
        let address = words[index];
        let length = words.get(index + 1).copied().unwrap_or(0);
        let refused = match argument {
            Argument::NameAddress => range_refused(address, length, MAXIMUM_NAME_LENGTH),
            Argument::ValueAddress if call == Call::Print => {
                range_refused(address, length, MAXIMUM_PRINT_LENGTH)
            }
            Argument::ValueAddress => range_refused(address, length, MAXIMUM_VALUE_SIZE),
            Argument::DescriptorsAddress => {
                length == 0
                    || length > MAXIMUM_FD_SEND
                    || range_refused(address, length * 4, MAXIMUM_FD_SEND * 4)
            }
            Argument::EventsAddress => {
                length == 0
                    || length > MAXIMUM_BLOCK_EVENTS
                    || range_refused(address, length * 8, MAXIMUM_BLOCK_EVENTS * 8)
            }
            // A buffer is checked for bounds at once, for being mapped only for the
            // bytes written: a success that wrote nothing says nothing of them.
            Argument::BufferAddress => {
                let maximum =
                    if matches!(call, Call::Retire | Call::BlockAndRetire | Call::WriteRead) {
                        MAXIMUM_VALUE_SIZE
                    } else {
                        MAXIMUM_NAME_LENGTH
                    };
                let bounds = length > maximum
                    || (length > 0
                        && address
                            .checked_add(length)
                            .is_none_or(|end| end > USER_SPACE_END));
                bounds || (value > 0 && never_readable(address))
            }
            Argument::Descriptor => address >= u64::from(DESCRIPTOR_TABLE_SIZE),
            Argument::PublicKeyAddress => range_refused(address, 32, 32),
            Argument::SignatureAddress => range_refused(address, 64, 64),
            _ => false,
        };
        if refused {
            return Some("a success for a call whose arguments the kernel must refuse");
        }
    }
    match call {
        Call::Random if words[0] == 0 || words[0] > MAXIMUM_RANDOM_SIZE => {
            Some("random of a size out of range succeeded")
        }
        Call::Kill if words[0] == 0 => Some("kill of process 0 succeeded"),
        // The fuzzer's `writeRead` sends an empty value (see `syscall-fuzz`), which
        // is of no interface type: every connection it holds is of one.
        Call::WriteRead => Some("writeRead of an empty value succeeded"),
        Call::Retire | Call::BlockAndRetire | Call::Cancel if words[0] == 0 => {
            Some("event 0 was found")
        }
        Call::ReadVar
        | Call::WriteVar
        | Call::CreateDirectory
        | Call::OpenDirectory
        | Call::GetNextName
        | Call::FileInformation
        | Call::RemoveDirectoryOrFile => Some("a call this kernel does not provide succeeded"),
        // The fuzzer never holds a signature anyone made.
        Call::Authenticate => Some("a signature nobody made was accepted"),
        _ => None,
    }
}

/// The names and values a fuzzer keeps for calls to read, each with whether `exec`
/// may name it: the services and users of the boot image and `user` itself,
/// programs, names the kernel must refuse (empty, too long, with `/` or a control
/// character, not UTF-8), and well-typed requests of both interfaces, so that some
/// writes pass the type check and reach a server.
pub fn texts(user: &str) -> Vec<(Vec<u8>, bool)> {
    let mut texts: Vec<(Vec<u8>, bool)> = [
        SERVICE,
        LOOP_SERVICE,
        "calc",
        "echo",
        "",
        "alice",
        user,
        "syscall-fuzz",
        "fuzz-server",
        "nobody",
        "a/b",
        "tab\there",
    ]
    .iter()
    .map(|text| (text.as_bytes().to_vec(), false))
    .collect();
    texts.push((b"hello".to_vec(), true));
    texts.push((alloc::vec![b'x'; MAXIMUM_NAME_LENGTH as usize + 1], false));
    texts.push((alloc::vec![0xff, 0xfe, b'x'], false));
    let requests = [
        encode(&CalculatorRequest::Add(CalculatorAdd { a: 2, b: 3 })),
        encode(&CalculatorRequest::Echo(CalculatorEcho {
            text: "fuzz".into(),
        })),
        encode(&CalculatorRequest::Shutdown(CalculatorShutdown {})),
        encode(&BouncerRequest::Bounce(BouncerBounce {
            data: Payload(alloc::vec![7; 24]),
        })),
    ];
    texts.extend(requests.into_iter().flatten().map(|bytes| (bytes, false)));
    texts
}

/// Counts of answers, by status code (the last slot: codes no status has).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub by_status: [u64; Status::ALL.len() + 1],
}

impl Tally {
    /// Counts one answer.
    pub fn count(&mut self, status: u64) {
        let slot = usize::try_from(status)
            .ok()
            .filter(|slot| *slot < Status::ALL.len())
            .unwrap_or(Status::ALL.len());
        self.by_status[slot] += 1;
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (status, count) in Status::ALL.iter().zip(self.by_status) {
            if count > 0 {
                let separator = if first { "" } else { " " };
                write!(formatter, "{separator}{status:?}={count}")?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Exit statuses of `fuzz-server`.
pub mod server_status {
    /// `advertise` failed.
    pub const ADVERTISE: i32 = 1;
    /// `import` failed.
    pub const IMPORT: i32 = 2;
    /// Waiting for events failed.
    pub const BLOCK: i32 = 6;
}

/// What an event of the server's set stands for.
enum Source {
    Import,
    Request(Descriptor),
}

/// The `Calculator` of `fuzz-server`: [`Calculator`], except that only an `Echo` of
/// [`STOP_TEXT`] stops it (a `Shutdown` is answered and ignored, since a fuzzer's
/// bytes may well spell one).
#[derive(Debug, Default)]
struct StopOnText {
    calculator: Calculator,
    stop: bool,
}

impl CalculatorServer for StopOnText {
    fn add(&mut self, a: u64, b: u64) -> crate::types::CalculatorAddReply {
        self.calculator.add(a, b)
    }

    fn echo(&mut self, text: alloc::string::String) -> CalculatorEchoReply {
        self.stop |= text == STOP_TEXT;
        CalculatorEchoReply { text }
    }

    fn shutdown(&mut self) -> crate::types::CalculatorShutdownReply {
        crate::types::CalculatorShutdownReply {}
    }
}

impl crate::serving::Stoppable for StopOnText {
    fn stop_requested(&self) -> bool {
        self.stop
    }
}

/// `fuzz-server`: advertises [`SERVICE`] and serves every connection at once
/// (at most 63 open; more are closed as they come), whatever its clients do: a read
/// or reply that fails closes that connection. Ends after answering an `Echo` of
/// [`STOP_TEXT`], printing `fuzz-server: served N requests, M malformed, C
/// connections` (M must be 0: the kernel checks every request's type).
pub fn server() -> i32 {
    let program = "fuzz-server";
    let listening = match advertise(SERVICE) {
        Ok(listening) => listening,
        Err(status) => {
            println!("{program}: advertise {SERVICE} failed: {status}");
            return server_status::ADVERTISE;
        }
    };
    println!("{program}: advertised {SERVICE}");
    let mut waiting = EventSet::new();
    match import(listening) {
        Ok(event) => waiting.insert(event, Source::Import),
        Err(status) => {
            println!("{program}: import failed: {status}");
            return server_status::IMPORT;
        }
    }
    let mut served = Counted::<StopOnText>::default();
    let mut connections = 0u64;
    loop {
        let (event, source) = match waiting.wait() {
            Ok(answered) => answered,
            Err(status) => {
                println!("{program}: block failed: {status}");
                return server_status::BLOCK;
            }
        };
        match source {
            Source::Import => {
                if let Ok((connection, _)) = retire_as(event, &IMPORT) {
                    connections += 1;
                    if waiting.len() as u64 >= MAXIMUM_BLOCK_EVENTS - 1 {
                        let _ = close(connection);
                    } else {
                        wait_for_request(&mut waiting, connection);
                    }
                }
                match import(listening) {
                    Ok(next) => waiting.insert(next, Source::Import),
                    Err(status) => {
                        println!("{program}: import failed: {status}");
                        return server_status::IMPORT;
                    }
                }
            }
            Source::Request(connection) => {
                let Ok(request) = retire_as(event, &VALUE) else {
                    let _ = close(connection);
                    continue;
                };
                match served.handle(connection, &request, serve_calculator_into) {
                    Ok(Next::Continue) => wait_for_request(&mut waiting, connection),
                    Ok(Next::Stop) => {
                        println!(
                            "{program}: served {} requests, {} malformed, {connections} connections",
                            served.answered, served.malformed
                        );
                        return 0;
                    }
                    Err(_) => {
                        let _ = close(connection);
                    }
                }
            }
        }
    }
}

/// Adds a read of the next request on `connection`, or closes it if that fails.
fn wait_for_request(waiting: &mut EventSet<Source>, connection: Descriptor) {
    match read(connection) {
        Ok(event) => waiting.insert(event, Source::Request(connection)),
        Err(_) => {
            let _ = close(connection);
        }
    }
}
