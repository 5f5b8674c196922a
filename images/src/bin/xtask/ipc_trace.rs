//! Reading QEMU's `-d in_asm,exec,nochain` log as it streams: each executed
//! translated block's instructions are credited to the function the block starts
//! in, inside windows delimited by entries into one function (of `bench-client`
//! for `bench ipc --profile`, of the kernel for `bench net --profile`).
//!
//! The log names a translated block twice. When QEMU translates one, it prints
//! `IN:` and the block's instructions, each with its address and bytes; each time
//! it runs one, it prints a `Trace` line with the block's host code pointer and its
//! guest `pc`. The block printed by the last `IN:` is the one the next `Trace` of
//! its `pc` runs, so its pointer is learnt there; a later `IN:` may reuse the
//! pointer (after QEMU flushed its code buffer) and replaces what it meant. A
//! `Stopped execution of TB chain before` line says the block just traced did not
//! run (an interrupt or the instruction budget of `-icount` came first): its credit
//! is taken back.
//!
//! Kernel addresses are named by the kernel's symbols. Both programs are linked at
//! the same base, so a user block belongs to the program whose loadable bytes at
//! its addresses are the block's bytes, or to both when they are the same there.
//!
//! This module never keeps the log: memory grows with the translated blocks and the
//! functions named, not with the log's length.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SectionKind, SymbolKind};
use serde::Serialize;

/// Where user programs live: the upper half of the user range.
pub(crate) const USER_RANGE: Range<u64> = 0x4000_0000_0000..0x8000_0000_0000;

/// Why the executables could not be read.
#[derive(Debug)]
pub(crate) enum TraceError {
    /// An executable could not be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// An executable is not an ELF file `object` can parse.
    Parse { path: PathBuf, problem: String },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Read { path, error } => write!(f, "{}: {error}", path.display()),
            TraceError::Parse { path, problem } => {
                write!(f, "{}: not a readable ELF file: {problem}", path.display())
            }
        }
    }
}

/// Whose code a block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Owner {
    Kernel,
    Client,
    Server,
    /// User code whose bytes are the same in both programs (shared library code).
    Both,
    /// Neither the kernel's symbols nor either program's bytes cover it.
    Unknown,
}

impl Owner {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Owner::Kernel => "kernel",
            Owner::Client => "client",
            Owner::Server => "server",
            Owner::Both => "both",
            Owner::Unknown => "unknown",
        }
    }
}

/// An executable's function symbols by address, demangled.
#[derive(Debug, Default)]
pub(crate) struct SymbolTable {
    /// Functions by ascending start address.
    functions: Vec<Function>,
    /// The executable sections' addresses, lowest start to highest end.
    text: Range<u64>,
}

/// A symbol in executable code. Symbols an assembler defined have no size.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Function {
    pub(crate) address: u64,
    pub(crate) size: u64,
    pub(crate) name: String,
}

impl SymbolTable {
    /// A table of `functions` (raw symbol names) in `text`.
    pub(crate) fn new(functions: Vec<Function>, text: Range<u64>) -> SymbolTable {
        let mut functions: Vec<Function> = functions
            .into_iter()
            .map(|function| Function {
                name: demangle(&function.name),
                ..function
            })
            .collect();
        functions.sort();
        // Identical code folded into one copy has several names; the first is kept.
        functions.dedup_by_key(|function| function.address);
        SymbolTable { functions, text }
    }

    /// The name of the function `address` lies in: the closest symbol at or below
    /// it, unless that symbol's size ends before `address`.
    fn function_at(&self, address: u64) -> Option<String> {
        if !self.text.contains(&address) {
            return None;
        }
        let after = self
            .functions
            .partition_point(|function| function.address <= address);
        let function = &self.functions[after.checked_sub(1)?];
        if function.size == 0 || address - function.address < function.size {
            Some(function.name.clone())
        } else {
            Some(format!("(no symbol, after {})", function.name))
        }
    }

    /// The address of the one function whose demangled name `wanted` accepts; when
    /// there is not exactly one, every function it accepts, named with its address.
    pub(crate) fn only_address_of(
        &self,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<u64, Vec<String>> {
        let found: Vec<&Function> = self
            .functions
            .iter()
            .filter(|function| wanted(&function.name))
            .collect();
        match found.as_slice() {
            [function] => Ok(function.address),
            _ => Err(found
                .iter()
                .map(|function| format!("{} at {:#x}", function.name, function.address))
                .collect()),
        }
    }
}

/// A symbol's name without Rust's mangling and hash.
fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// One program: its symbols and its loadable bytes by address.
#[derive(Debug, Default)]
pub(crate) struct Program {
    pub(crate) symbols: SymbolTable,
    segments: Vec<(u64, Vec<u8>)>,
}

impl Program {
    pub(crate) fn new(symbols: SymbolTable, segments: Vec<(u64, Vec<u8>)>) -> Program {
        Program { symbols, segments }
    }

    /// Whether this program's loadable bytes are `bytes` at `address`.
    fn holds(&self, address: u64, bytes: &[u8]) -> bool {
        self.segments.iter().any(|(start, data)| {
            address
                .checked_sub(*start)
                .and_then(|offset| usize::try_from(offset).ok())
                .and_then(|offset| data.get(offset..offset.checked_add(bytes.len())?))
                == Some(bytes)
        })
    }

    fn holds_block(&self, block: &[Instruction]) -> bool {
        !block.is_empty()
            && block
                .iter()
                .all(|instruction| self.holds(instruction.address, &instruction.bytes))
    }
}

/// Reads an ELF executable's function symbols and loadable segments.
pub(crate) fn read_executable(path: &Path) -> Result<Program, TraceError> {
    let data = std::fs::read(path).map_err(|error| TraceError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let parse_error = |problem: object::Error| TraceError::Parse {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    };
    let file = object::File::parse(&*data).map_err(parse_error)?;
    let mut text: Option<Range<u64>> = None;
    for section in file.sections() {
        if section.kind() == SectionKind::Text && section.size() > 0 {
            let range = section.address()..section.address() + section.size();
            text = Some(match text {
                Some(known) => known.start.min(range.start)..known.end.max(range.end),
                None => range,
            });
        }
    }
    let in_text = |symbol: &object::Symbol<'_, '_>| {
        symbol
            .section_index()
            .and_then(|index| file.section_by_index(index).ok())
            .is_some_and(|section| section.kind() == SectionKind::Text)
    };
    // Assembly's symbols (`syscall_entry`) have no type: `object` says `Unknown`.
    let functions = file
        .symbols()
        .filter(|symbol| {
            matches!(
                symbol.kind(),
                SymbolKind::Text | SymbolKind::Label | SymbolKind::Unknown
            )
        })
        .filter(in_text)
        .filter_map(|symbol| {
            let name = symbol.name().ok().filter(|name| !name.is_empty())?;
            Some(Function {
                address: symbol.address(),
                size: symbol.size(),
                name: name.to_string(),
            })
        })
        .collect();
    let mut segments = Vec::new();
    for segment in file.segments() {
        let bytes = segment.data().map_err(parse_error)?;
        segments.push((segment.address(), bytes.to_vec()));
    }
    Ok(Program::new(
        SymbolTable::new(functions, text.unwrap_or(0..0)),
        segments,
    ))
}

/// The kernel and the two programs a log's blocks are named by.
#[derive(Debug, Default)]
pub(crate) struct Executables {
    pub(crate) kernel: SymbolTable,
    pub(crate) client: Program,
    pub(crate) server: Program,
}

impl Executables {
    /// Whose code `block` (starting at `pc`) is, and the function it starts in.
    fn function_of(&self, pc: u64, block: &[Instruction]) -> (Owner, String) {
        if !USER_RANGE.contains(&pc) {
            return match self.kernel.function_at(pc) {
                Some(name) => (Owner::Kernel, name),
                None => (Owner::Unknown, "outside the kernel's code".to_string()),
            };
        }
        let name = |program: &Program| {
            program
                .symbols
                .function_at(pc)
                .unwrap_or_else(|| "(no symbol)".to_string())
        };
        match (
            self.client.holds_block(block),
            self.server.holds_block(block),
        ) {
            (true, true) => (Owner::Both, name(&self.client)),
            (true, false) => (Owner::Client, name(&self.client)),
            (false, true) => (Owner::Server, name(&self.server)),
            (false, false) => (Owner::Unknown, "user code of neither program".to_string()),
        }
    }
}

/// One guest instruction of an `IN:` block.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Instruction {
    address: u64,
    bytes: Vec<u8>,
}

/// A translated block as the log named it.
#[derive(Clone, Copy, Debug)]
struct Block {
    /// Its guest address.
    pc: u64,
    function: usize,
    instructions: u64,
    /// Whether the block is the window function's entry in the client.
    entry: bool,
}

/// The function whose entries place the windows: its first block's address in
/// the code of `owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) owner: Owner,
    pub(crate) address: u64,
}

/// A stretch of the run to profile: from the `first`-th entry into the window
/// function (counted from 1) up to, not including, the `end`-th.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) first: u64,
    pub(crate) end: u64,
}

impl Window {
    pub(crate) fn round_trips(self) -> u64 {
        self.end - self.first
    }
}

/// How often one block (keyed by its address and function) ran in a window.
#[derive(Clone, Copy, Debug)]
struct BlockRuns {
    instructions: u64,
    runs: u64,
}

/// The last block traced, so that its credit can be taken back.
#[derive(Clone, Copy, Debug)]
struct Traced {
    host: u64,
    block: Block,
    window: Option<usize>,
}

/// The parser's state over one log.
pub(crate) struct Profiler<'a> {
    executables: &'a Executables,
    entry: Entry,
    windows: Vec<Window>,
    /// Every function named so far, and its index.
    functions: Vec<(Owner, String)>,
    function_index: HashMap<(Owner, String), usize>,
    blocks: HashMap<u64, Block>,
    /// The block of the last `IN:`, until the `Trace` that runs it.
    translation: Option<(u64, Vec<Instruction>)>,
    reading_translation: bool,
    entries: u64,
    last: Option<Traced>,
    /// Instructions per function index, per window.
    counts: Vec<Vec<u64>>,
    /// Runs per block, per window, by guest address and function index: the two
    /// programs share addresses.
    block_runs: Vec<HashMap<(u64, usize), BlockRuns>>,
    /// Executions of blocks the log never showed translated.
    untranslated: u64,
}

/// What a log says about one window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct WindowProfile {
    pub(crate) window_first_entry: u64,
    pub(crate) window_end_entry: u64,
    pub(crate) round_trips: u64,
    pub(crate) instructions: u64,
    /// Every function with instructions in the window, most first.
    pub(crate) functions: Vec<FunctionCount>,
    /// Every block that ran in the window, most instructions first: where inside
    /// a function its instructions go.
    pub(crate) blocks: Vec<BlockCount>,
}

/// One translated block's share of a window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct BlockCount {
    pub(crate) owner: Owner,
    pub(crate) function: String,
    /// The block's guest address.
    pub(crate) address: u64,
    /// Its length in instructions.
    pub(crate) length: u64,
    /// How often it ran.
    pub(crate) runs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct FunctionCount {
    pub(crate) owner: Owner,
    pub(crate) function: String,
    pub(crate) instructions: u64,
}

impl WindowProfile {
    pub(crate) fn per_round_trip(&self, instructions: u64) -> f64 {
        instructions as f64 / self.round_trips as f64
    }

    /// The instructions of each owner, in the order of [`Owner`].
    pub(crate) fn owners(&self) -> Vec<(Owner, u64)> {
        let mut owners: Vec<(Owner, u64)> = Vec::new();
        for count in &self.functions {
            match owners.iter_mut().find(|(owner, _)| *owner == count.owner) {
                Some((_, sum)) => *sum += count.instructions,
                None => owners.push((count.owner, count.instructions)),
            }
        }
        owners.sort();
        owners
    }
}

/// What a whole log said.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Profile {
    pub(crate) entries: u64,
    pub(crate) untranslated: u64,
    pub(crate) windows: Vec<WindowProfile>,
}

impl Profile {
    /// What a report says of the block runs the log had no translation for, if any.
    pub(crate) fn untranslated_note(&self) -> Option<String> {
        (self.untranslated > 0).then(|| {
            format!(
                "{} block runs had no translation in the log and are not counted",
                self.untranslated
            )
        })
    }
}

impl<'a> Profiler<'a> {
    /// A parser crediting blocks inside `windows` of entries into the function
    /// `entry`.
    pub(crate) fn new(
        executables: &'a Executables,
        entry: Entry,
        windows: Vec<Window>,
    ) -> Profiler<'a> {
        Profiler {
            executables,
            entry,
            counts: vec![Vec::new(); windows.len()],
            block_runs: vec![HashMap::new(); windows.len()],
            windows,
            functions: Vec::new(),
            function_index: HashMap::new(),
            blocks: HashMap::new(),
            translation: None,
            reading_translation: false,
            entries: 0,
            last: None,
            untranslated: 0,
        }
    }

    /// Reads one line of the log, without its line end.
    pub(crate) fn line(&mut self, line: &[u8]) {
        if self.reading_translation {
            if line.iter().all(u8::is_ascii_whitespace) {
                self.reading_translation = false;
            } else if let Some((address, bytes, starts_instruction)) = instruction_line(line) {
                self.add_instruction(address, bytes, starts_instruction);
            }
            return;
        }
        if line.starts_with(b"Trace ") {
            if let Some((host, pc)) = trace_line(line) {
                self.trace(host, pc);
            }
        } else if line.starts_with(b"IN:") {
            self.translation = None;
            self.reading_translation = true;
        } else if let Some(rest) = line.strip_prefix(b"Stopped execution of TB chain before ")
            && let Some(host) = leading_hex(rest)
        {
            self.not_run(host);
        }
    }

    fn add_instruction(&mut self, address: u64, bytes: Vec<u8>, starts_instruction: bool) {
        match &mut self.translation {
            Some((_, instructions)) if !starts_instruction => {
                // The disassembler prints a long instruction's further bytes on
                // lines of their own, with no mnemonic.
                if let Some(last) = instructions.last_mut() {
                    last.bytes.extend(bytes);
                }
            }
            Some((_, instructions)) => instructions.push(Instruction { address, bytes }),
            None if starts_instruction => {
                self.translation = Some((address, vec![Instruction { address, bytes }]));
            }
            None => {}
        }
    }

    fn function(&mut self, owner: Owner, name: String) -> usize {
        let key = (owner, name);
        if let Some(&index) = self.function_index.get(&key) {
            return index;
        }
        let index = self.functions.len();
        self.functions.push(key.clone());
        self.function_index.insert(key, index);
        index
    }

    fn trace(&mut self, host: u64, pc: u64) {
        if let Some((start, instructions)) = self.translation.take()
            && start == pc
        {
            let (owner, name) = self.executables.function_of(pc, &instructions);
            let block = Block {
                pc,
                function: self.function(owner, name),
                instructions: instructions.len() as u64,
                entry: pc == self.entry.address && owner == self.entry.owner,
            };
            self.blocks.insert(host, block);
        }
        let Some(&block) = self.blocks.get(&host) else {
            self.untranslated += 1;
            self.last = None;
            return;
        };
        if block.entry {
            self.entries += 1;
        }
        let window = self
            .windows
            .iter()
            .position(|window| (window.first..window.end).contains(&self.entries));
        if let Some(window) = window {
            let counts = &mut self.counts[window];
            if counts.len() <= block.function {
                counts.resize(self.functions.len(), 0);
            }
            counts[block.function] += block.instructions;
            self.block_runs[window]
                .entry((block.pc, block.function))
                .and_modify(|runs| runs.runs += 1)
                .or_insert(BlockRuns {
                    instructions: block.instructions,
                    runs: 1,
                });
        }
        self.last = Some(Traced {
            host,
            block,
            window,
        });
    }

    fn not_run(&mut self, host: u64) {
        let Some(last) = self.last.take() else { return };
        if last.host != host {
            return;
        }
        if let Some(window) = last.window {
            self.counts[window][last.block.function] -= last.block.instructions;
            if let Some(runs) =
                self.block_runs[window].get_mut(&(last.block.pc, last.block.function))
            {
                runs.runs -= 1;
            }
        }
        if last.block.entry {
            self.entries -= 1;
        }
    }

    /// The profile of each window.
    pub(crate) fn finish(self) -> Profile {
        let windows = self
            .windows
            .iter()
            .zip(&self.counts)
            .zip(&self.block_runs)
            .map(|((window, counts), block_runs)| {
                let mut functions: Vec<FunctionCount> = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(|(index, count)| FunctionCount {
                        owner: self.functions[index].0,
                        function: self.functions[index].1.clone(),
                        instructions: *count,
                    })
                    .collect();
                functions.sort_by(|a, b| {
                    b.instructions
                        .cmp(&a.instructions)
                        .then_with(|| (a.owner, &a.function).cmp(&(b.owner, &b.function)))
                });
                let mut blocks: Vec<BlockCount> = block_runs
                    .iter()
                    .filter(|(_, runs)| runs.runs > 0)
                    .map(|(&(address, function), runs)| BlockCount {
                        owner: self.functions[function].0,
                        function: self.functions[function].1.clone(),
                        address,
                        length: runs.instructions,
                        runs: runs.runs,
                    })
                    .collect();
                blocks.sort_by(|a, b| {
                    (b.runs * b.length)
                        .cmp(&(a.runs * a.length))
                        .then_with(|| (a.address, a.owner).cmp(&(b.address, b.owner)))
                });
                WindowProfile {
                    window_first_entry: window.first,
                    window_end_entry: window.end,
                    round_trips: window.round_trips(),
                    instructions: functions.iter().map(|count| count.instructions).sum(),
                    functions,
                    blocks,
                }
            })
            .collect();
        Profile {
            entries: self.entries,
            untranslated: self.untranslated,
            windows,
        }
    }
}

/// QEMU's options that log every block it translates and runs to `pipe`.
pub(crate) fn log_options(pipe: &Path) -> [String; 4] {
    [
        "-d".into(),
        "in_asm,exec,nochain".into(),
        "-D".into(),
        pipe.display().to_string(),
    ]
}

/// What the reader of a log gave: the profile and the bytes it read, the reading's
/// failure, or `Err` when the reader panicked.
pub(crate) type Streamed = std::thread::Result<std::io::Result<(Profile, u64)>>;

/// Does `run` (which starts the QEMU that logs to `pipe`) while a thread feeds that
/// log to a profiler of `executables` with `entry` and `windows`; removes the pipe.
pub(crate) fn profiled<T>(
    pipe: &Path,
    executables: &Executables,
    entry: Entry,
    windows: Vec<Window>,
    run: impl FnOnce() -> T,
) -> (T, Streamed) {
    let outcome = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut profiler = Profiler::new(executables, entry, windows);
            read_log(pipe, &mut profiler).map(|bytes| (profiler.finish(), bytes))
        });
        let ran = run();
        release_reader(pipe, &reader);
        (ran, reader.join())
    });
    let _ = std::fs::remove_file(pipe);
    outcome
}

/// Makes the named pipe QEMU logs to (anew, should one be left from a run that
/// was stopped).
pub(crate) fn make_pipe(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    nix::unistd::mkfifo(
        path,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .map_err(std::io::Error::from)
}

/// Feeds every line of the pipe to `profiler`, until QEMU closes it; the bytes read.
fn read_log(pipe: &Path, profiler: &mut Profiler<'_>) -> std::io::Result<u64> {
    const REPORT_EVERY: u64 = 1 << 30;
    let mut reader = BufReader::with_capacity(1 << 20, File::open(pipe)?);
    let mut line = Vec::with_capacity(256);
    let mut bytes = 0u64;
    let mut reported = 0u64;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(bytes);
        }
        bytes += read as u64;
        if bytes / REPORT_EVERY > reported {
            reported = bytes / REPORT_EVERY;
            println!("  log: {reported} GiB read");
        }
        let end = line.len() - usize::from(line.last() == Some(&b'\n'));
        profiler.line(&line[..end]);
    }
}

/// Lets the reader end when QEMU never opened the pipe: opening its writing end
/// without waiting wakes a reader still waiting to open it, and fails only when no
/// reader has it open.
fn release_reader<T>(pipe: &Path, reader: &std::thread::ScopedJoinHandle<'_, T>) {
    while !reader.is_finished() {
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(pipe);
        if opened.is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The hexadecimal number at the start of `text`, with or without `0x`.
fn leading_hex(text: &[u8]) -> Option<u64> {
    let text = text.strip_prefix(b"0x").unwrap_or(text);
    let digits = text.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    text[..digits].iter().try_fold(0u64, |value, &c| {
        Some(value << 4 | (c as char).to_digit(16)? as u64)
    })
}

/// `Trace N: HOST [CS_BASE/PC/FLAGS/CFLAGS] …`: the host pointer and the pc.
fn trace_line(line: &[u8]) -> Option<(u64, u64)> {
    let colon = line.windows(2).position(|pair| pair == b": ")?;
    let rest = &line[colon + 2..];
    let host = leading_hex(rest)?;
    let bracket = rest.iter().position(|&c| c == b'[')?;
    let fields = &rest[bracket + 1..];
    let slash = fields.iter().position(|&c| c == b'/')?;
    let pc = leading_hex(&fields[slash + 1..])?;
    Some((host, pc))
}

/// `0xADDRESS:  b1 b2 …   mnemonic operands`: the address, the bytes, and whether
/// the line starts an instruction (it has a mnemonic) or continues the last one.
fn instruction_line(line: &[u8]) -> Option<(u64, Vec<u8>, bool)> {
    if !line.starts_with(b"0x") {
        return None;
    }
    let address = leading_hex(line)?;
    let colon = line.iter().position(|&c| c == b':')?;
    // `0x…: ` then ` xx` per byte.
    let mut rest = line[colon + 1..].strip_prefix(b" ")?;
    let mut bytes = Vec::new();
    while let [b' ', high, low, tail @ ..] = rest
        && high.is_ascii_hexdigit()
        && low.is_ascii_hexdigit()
        && tail.first().is_none_or(|&c| c == b' ')
    {
        bytes.push(leading_hex(&[*high, *low])? as u8);
        rest = tail;
    }
    if bytes.is_empty() {
        return None;
    }
    let mnemonic = rest.iter().any(|c| !c.is_ascii_whitespace());
    Some((address, bytes, mnemonic))
}

#[cfg(test)]
mod tests;
