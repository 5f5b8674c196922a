//! `syscall-fuzz`: 200,000 random system calls against the kernel, from a fixed seed,
//! with forked children that fuzz too and `fuzz-server` beside it, so that the
//! kernel's checks, its IPC, descriptor, event and process paths and its clean-up of
//! whatever a process leaves behind all meet hostile input. The kernel must stay up,
//! answer every call with a possible answer, and end every process with a report.
//!
//! **Seed.** Programs take no arguments, so the seed comes from the identity the init
//! set gives the process: its user. A user `fuzz-N` fuzzes with seed N (the boot
//! image declares `fuzz-1`, `fuzz-7`, `fuzz-42` and `fuzz-1337`, one init set each).
//! The draws are SplitMix64 from the seed ([`system_test_programs::fuzz`]); the
//! kernel's answers (descriptors, events, process ids) steer later arguments, so a
//! seed replays exactly as far as the kernel answers the same.
//!
//! **Calls.** Each call is a number (mostly one of the 33 calls, sometimes 0, past
//! the last, above 32 bits or any word) and six words shaped by the call's layout:
//! small integers; addresses of the names and well-typed requests it keeps, of its
//! scratch memory and of its code; kernel, non-canonical and unmapped addresses;
//! lengths of 0, the limit, just past it, huge and wrapping; live descriptors, events
//! and processes. Registers past the layout hold wild words.
//!
//! **Memory.** The kernel writes only where a call's buffer lies, so every buffer
//! the fuzzer names is either in its scratch (and never longer than the scratch that
//! follows: no Rust object lives there, nothing reads it back) or somewhere the
//! kernel must refuse to write (its code, kernel, non-canonical, unmapped): the
//! kernel can never overwrite the fuzzer's own state.
//!
//! **What it avoids, and why.** The first fuzzer never calls `exit`, never `kill`s
//! itself and never names a program to `exec`: it must make every call and then
//! stop the server, or the set would end early or never. No fuzzer `kill`s the
//! first. Children `exit` and `kill` themselves only one time in 32 that they draw
//! it, and may `exec` only `hello` (never `syscall-fuzz`, which would start a second
//! first fuzzer). `fork` is made while the budget lasts: 4 children of the first,
//! each of which may fork 1 (4,000 calls for a child, 2,000 for a grandchild; a
//! child gets a seed derived from its parent's and the call number). Before a
//! `block` on its event list the fuzzer makes a `beep` for now and puts it first, and
//! a `blockAndRetire` that names an event it may hold (any word below 2^32 but 0)
//! names such a beep instead, so no call waits for ever; every other call is as
//! drawn. It tracks at most 48
//! events, cancelling the oldest, so the kernel's event limit is reached only by
//! what the kernel leaks.
//!
//! **Reports.** Before each call it records the call; when an answer is impossible
//! (a status word that is no status, a value beside a failure, a success for an
//! unknown call or for arguments the kernel must refuse, a clock going back, another
//! process id, an answer from a call that ends or replaces the caller) it prints
//! `syscall-fuzz: seed S call #K: nr=… (name) args=[…]: impossible answer …` and
//! exits 1. A process the kernel ends cannot print; the kernel reports how it ended,
//! and the first fuzzer prints `syscall-fuzz: seed S pid P at call #K` every 25,000
//! calls, which bounds where to look. At its end the first fuzzer kills its
//! children, closes what it holds, stops `fuzz-server` and prints
//! `syscall-fuzz: seed S pid P: 200000 calls in T ns, C children` and the count of
//! answers by status.
//!
//! Exit status: 0 every call made and every answer possible; 1 an impossible
//! answer; 2 the user names no seed; 3 the fuzzer's own bookkeeping calls failed
//! (`getUser`, `getPid`, `getTime`). A child also ends with what it drew (`exit` of
//! any status, `kill` of itself, `exec` into `hello`) or killed by its parent.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(program::main);

#[cfg(target_os = "none")]
mod program {
    extern crate alloc;

    use core::cell::UnsafeCell;

    use ethos_abi::arguments::{MAXIMUM_BLOCK_EVENTS, MAXIMUM_FD_SEND};
    use ethos_abi::{Call, ProcessId};
    use ethos_compat::{Descriptor, RpcConnection, calls, println};
    use system_test_programs::fuzz::{
        self, CHECKPOINT_CALLS, CHILD_CALLS, FORKS, Generator, Learned, Live, Memory, Planned,
        ROOT_CALLS, Role, Tally, Text,
    };
    use system_test_programs::serving::connect;
    use system_test_programs::types::CalculatorClient;

    /// Where the names and requests live.
    const TEXTS_BYTES: usize = 4096;
    /// The event ids `block` reads.
    const BLOCK_LIST_BYTES: usize = MAXIMUM_BLOCK_EVENTS as usize * 8;
    /// The descriptor numbers `fdSend` reads.
    const DESCRIPTOR_LIST_BYTES: usize = MAXIMUM_FD_SEND as usize * 4;
    /// What the kernel may write.
    const SCRATCH_BYTES: usize = 60 * 1024;
    const ARENA_BYTES: usize =
        TEXTS_BYTES + BLOCK_LIST_BYTES + DESCRIPTOR_LIST_BYTES + SCRATCH_BYTES;
    const BLOCK_LIST: usize = TEXTS_BYTES;
    const DESCRIPTOR_LIST: usize = BLOCK_LIST + BLOCK_LIST_BYTES;
    const SCRATCH: usize = DESCRIPTOR_LIST + DESCRIPTOR_LIST_BYTES;

    /// The memory the fuzzer names to the kernel. The program reaches it only through
    /// raw pointers ([`put`]), never through a reference, since the kernel writes its
    /// scratch during calls.
    #[repr(C, align(4096))]
    struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

    // SAFETY: the program has one thread; the arena is only written by `put` and by
    // the kernel during a call that thread makes, never at the same time.
    unsafe impl Sync for Arena {}

    static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_BYTES]));

    fn arena_address(offset: usize) -> u64 {
        ARENA.0.get() as usize as u64 + offset as u64
    }

    /// Copies `bytes` into the arena at `offset`; false if they do not fit.
    fn put(offset: usize, bytes: &[u8]) -> bool {
        if offset
            .checked_add(bytes.len())
            .is_none_or(|end| end > ARENA_BYTES)
        {
            return false;
        }
        // SAFETY: the range lies inside the arena (checked above); no reference to
        // the arena exists, and the kernel writes it only during a call, which this
        // single thread is not making now.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                ARENA.0.get().cast::<u8>().add(offset),
                bytes.len(),
            );
        }
        true
    }

    /// The code the kernel must refuse to write: this function's.
    #[inline(never)]
    fn code() -> u64 {
        core::hint::black_box(0xc0de)
    }

    fn memory(user: &str) -> Memory {
        let mut texts = alloc::vec::Vec::new();
        let mut offset = 0;
        for (bytes, exec_target) in fuzz::texts(user) {
            if put(offset, &bytes) {
                texts.push(Text {
                    address: arena_address(offset),
                    length: bytes.len() as u64,
                    exec_target,
                    own_name: bytes == b"syscall-fuzz",
                });
                offset += bytes.len();
            }
        }
        let code_address = code as fn() -> u64 as usize as u64;
        let _ = code();
        Memory {
            scratch: (arena_address(SCRATCH), SCRATCH_BYTES as u64),
            texts,
            block_list: arena_address(BLOCK_LIST),
            descriptor_list: arena_address(DESCRIPTOR_LIST),
            code: code_address,
        }
    }

    struct Fuzzer {
        seed: u64,
        generator: Generator,
        role: Role,
        live: Live,
        memory: Memory,
        /// Calls made and to make by this process.
        made: u64,
        total: u64,
        tally: Tally,
    }

    /// A call whose answer no correct kernel gives.
    struct Impossible;

    impl Fuzzer {
        /// Makes the beep the `block` list starts with and fills the list; false if
        /// the beep was refused (then the `block` is not made).
        fn prepare_block(&mut self) -> bool {
            let Ok(beep) = calls::beep(0) else {
                return false;
            };
            if let Some(oldest) = self.live.add_event(beep.id()) {
                let _ = calls::cancel(ethos_compat::Event::from_id(oldest));
            }
            let mut list = [0u8; BLOCK_LIST_BYTES];
            list[..8].copy_from_slice(&beep.id().to_le_bytes());
            for slot in list[8..].chunks_exact_mut(8) {
                let event = match self.generator.below(3) {
                    0 => self.generator.pick(&self.live.events).unwrap_or(0),
                    1 => self.generator.below(64),
                    _ => self.generator.next_u64(),
                };
                slot.copy_from_slice(&event.to_le_bytes());
            }
            put(BLOCK_LIST, &list)
        }

        /// Puts a `beep` for now in place of an event the plan's `blockAndRetire`
        /// names, if it names one the process may hold, so that it cannot wait for
        /// ever; false if the beep was refused (then the call is not made).
        fn prepare_block_and_retire(&mut self, planned: &mut fuzz::Planned) -> bool {
            let named = planned.words[0];
            if named == 0 || named > u64::from(u32::MAX) {
                return true;
            }
            let Ok(beep) = calls::beep(0) else {
                return false;
            };
            if let Some(oldest) = self.live.add_event(beep.id()) {
                let _ = calls::cancel(ethos_compat::Event::from_id(oldest));
            }
            planned.words[0] = beep.id();
            true
        }

        fn prepare_descriptors(&mut self) {
            let mut list = [0u8; DESCRIPTOR_LIST_BYTES];
            for slot in list.chunks_exact_mut(4) {
                let descriptor = match self.generator.below(3) {
                    0 => self.generator.pick(&self.live.descriptors).unwrap_or(5),
                    1 => self.generator.below(24),
                    _ => self.generator.next_u64() & 0xffff_ffff,
                };
                slot.copy_from_slice(&(descriptor as u32).to_le_bytes());
            }
            put(DESCRIPTOR_LIST, &list);
        }

        fn report(&self, planned: &Planned, status: u64, value: u64, why: &str) {
            println!(
                "syscall-fuzz: seed {} call #{}: {planned}: impossible answer status={status} \
                 value={value:#x}: {why}",
                self.seed, self.made
            );
        }

        /// After `fork` answered 0: this process is a child with its own seed,
        /// count and budget.
        fn become_child(&mut self) -> Result<(), Impossible> {
            let parent = self.live.own;
            let (parent_seed, forked_at) = (self.seed, self.made);
            let generation = self.role.generation() + 1;
            self.seed = fuzz::child_seed(self.seed, self.made);
            self.generator = Generator::new(self.seed);
            self.role = Role::Child { generation };
            let generation = self.role.generation();
            self.live.own = calls::get_pid().map_err(|_| Impossible)?.0;
            self.live.children.clear();
            self.live.forks_left = FORKS[generation];
            self.made = 0;
            self.total = CHILD_CALLS[generation];
            self.tally = Tally::default();
            println!(
                "syscall-fuzz: seed {} pid {}: child of pid {parent} (seed {parent_seed}, call \
                 #{forked_at}), {} calls",
                self.seed, self.live.own, self.total
            );
            Ok(())
        }

        fn run(&mut self) -> Result<(), Impossible> {
            while self.made < self.total {
                let mut planned =
                    fuzz::plan(&mut self.generator, &self.memory, &self.live, self.role);
                if planned.blocks_on_list(&self.memory) && !self.prepare_block() {
                    continue;
                }
                if planned.call() == Some(Call::BlockAndRetire)
                    && !self.prepare_block_and_retire(&mut planned)
                {
                    continue;
                }
                if planned.call() == Some(Call::WriteRead) {
                    // A `writeRead` whose value went would wait for a reply that no
                    // peer of the fuzzer's connections may ever send: its value is
                    // made empty, which no interface (the type of every connection
                    // a fuzzer holds) admits, so it is refused before anything is
                    // sent. The descriptor, the address and the buffer stay wild.
                    planned.words[2] = 0;
                }
                if planned.call() == Some(Call::FdSend)
                    && planned.words[0] == self.memory.descriptor_list
                {
                    self.prepare_descriptors();
                }
                // SAFETY: every range the plan names for the kernel to write is in
                // the scratch, which holds no Rust object, or where the kernel must
                // refuse to write (code, kernel, non-canonical and unmapped
                // addresses); `fork`, `exec`, `exit` and `kill` are planned only as
                // the module documentation says, and a child goes on from here.
                let answer = unsafe { calls::system_call_unchecked(planned.number, planned.words) };
                self.tally.count(answer.status);
                if let Some(why) = fuzz::impossible(&planned, answer.status, answer.value) {
                    self.report(&planned, answer.status, answer.value, why);
                    return Err(Impossible);
                }
                match self.live.learn(&planned, answer.status, answer.value) {
                    Ok(Learned::Nothing) => {}
                    Ok(Learned::Cancel(oldest)) => {
                        let _ = calls::cancel(ethos_compat::Event::from_id(oldest));
                    }
                    Ok(Learned::BecameChild) => {
                        self.become_child()?;
                        continue;
                    }
                    Err(why) => {
                        self.report(&planned, answer.status, answer.value, why);
                        return Err(Impossible);
                    }
                }
                self.made += 1;
                if self.role == Role::First && self.made.is_multiple_of(CHECKPOINT_CALLS) {
                    println!(
                        "syscall-fuzz: seed {} pid {} at call #{}",
                        self.seed, self.live.own, self.made
                    );
                }
            }
            Ok(())
        }

        /// Kills the children this process forked; they may have ended already.
        fn end_children(&self) {
            for child in &self.live.children {
                let _ = calls::kill(ProcessId(*child));
            }
        }
    }

    /// Drops every event tracked and every descriptor that is not reserved, so that
    /// the connection that stops the server can be made.
    fn let_go(live: &Live) {
        for event in &live.events {
            let _ = calls::cancel(ethos_compat::Event::from_id(*event));
        }
        for number in
            ethos_abi::arguments::reserved::FIRST_FREE..ethos_abi::arguments::DESCRIPTOR_TABLE_SIZE
        {
            let _ = calls::close(Descriptor::from_number(number));
        }
    }

    fn stop_server() {
        match connect(fuzz::SERVICE) {
            Ok(connection) => {
                let mut server = CalculatorClient {
                    transport: RpcConnection::new(connection),
                };
                if let Err(error) = server.echo(fuzz::STOP_TEXT.into()) {
                    println!("syscall-fuzz: stopping fuzz-server failed: {error}");
                }
                let _ = calls::close(connection);
            }
            Err(status) => println!("syscall-fuzz: cannot reach fuzz-server: {status}"),
        }
    }

    pub(crate) fn main() -> i32 {
        let Ok(user) = calls::get_user() else {
            return 3;
        };
        let Some(seed) = fuzz::seed_of_user(&user) else {
            println!("syscall-fuzz: user {user} names no seed (a user fuzz-N fuzzes with seed N)");
            return 2;
        };
        let (Ok(own), Ok(start)) = (calls::get_pid(), calls::get_time()) else {
            return 3;
        };
        let mut fuzzer = Fuzzer {
            seed,
            generator: Generator::new(seed),
            role: Role::First,
            live: Live {
                own: own.0,
                first: own.0,
                now: start,
                forks_left: FORKS[0],
                ..Live::default()
            },
            memory: memory(&user),
            made: 0,
            total: ROOT_CALLS,
            tally: Tally::default(),
        };
        println!(
            "syscall-fuzz: seed {seed} pid {}: {ROOT_CALLS} calls",
            own.0
        );
        let outcome = fuzzer.run();
        fuzzer.end_children();
        if outcome.is_err() {
            return 1;
        }
        if let Role::Child { .. } = fuzzer.role {
            println!(
                "syscall-fuzz: seed {} pid {}: {} calls; {}",
                fuzzer.seed, fuzzer.live.own, fuzzer.made, fuzzer.tally
            );
            return 0;
        }
        let Ok(end) = calls::get_time() else {
            return 3;
        };
        let_go(&fuzzer.live);
        stop_server();
        println!(
            "syscall-fuzz: seed {seed} pid {}: {} calls in {} ns, {} children",
            own.0,
            fuzzer.made,
            end.saturating_sub(start),
            fuzzer.live.children.len()
        );
        println!("syscall-fuzz: seed {seed} answers: {}", fuzzer.tally);
        0
    }
}

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("syscall-fuzz is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
