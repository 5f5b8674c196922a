//! `memory-hog`: asks the kernel to hold more for it than its kernel memory limit
//! allows and checks that every request is answered with a status while the program
//! (and the kernel) go on: `random` of the largest value (32 MiB), past the most one
//! `random` may give, which must be `InvalidArgument`; `random` of that most (1 MiB)
//! until one is refused (at most 128, more than a 64 MiB limit holds); `retire` of the first value it holds into a 16-byte
//! buffer, which must be `BufferTooSmall` and leave the event in place; `print`
//! longer than the print limit, which must be `InvalidArgument`. Each refusal is
//! printed with its status; on the machine the limit is at most a quarter of the
//! kernel heap (at most 16 MiB), so it is `LimitReached`, given before the kernel
//! allocates the value. It then cancels every event it holds, so the kernel's heap
//! is where it began.
//!
//! Exit status: 0 every check passed; 1 no `random` was refused, or none was held;
//! 2 a `random` was answered with a failure that is no memory refusal; 3 the small
//! `retire` was not `BufferTooSmall`; 4 the event was gone after it; 5 the long
//! `print` was not `InvalidArgument`; 6 a `cancel` failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(program::main);

#[cfg(target_os = "none")]
mod program {
    use ethos_abi::Status;
    use ethos_abi::arguments::{MAXIMUM_PRINT_LENGTH, MAXIMUM_RANDOM_SIZE, MAXIMUM_VALUE_SIZE};
    use ethos_compat::{calls, println};

    /// At most this many 1 MiB requests before the kernel must refuse one: more than
    /// a 64 MiB limit holds.
    const SMALL_TRIES: usize = 128;
    /// The smaller values' size: the most one `random` gives.
    const SMALL_VALUE: usize = MAXIMUM_RANDOM_SIZE as usize;

    /// `random` of `size` until one is refused, at most `tries` times, each value
    /// held in `held`. The refusal, or the exit status for a wrong answer.
    fn randoms_until_refused(
        held: &mut heapless_events::Held,
        size: usize,
        tries: usize,
    ) -> Result<(usize, Status), i32> {
        for attempt in 0..tries {
            match calls::random(size) {
                Ok(event) => held.push(event),
                Err(refusal @ (Status::LimitReached | Status::NoMemory)) => {
                    return Ok((attempt, refusal));
                }
                Err(other) => {
                    println!("memory-hog: random #{attempt} of {size} bytes answered {other:?}");
                    return Err(2);
                }
            }
        }
        println!("memory-hog: {tries} random requests of {size} bytes, none refused");
        Err(1)
    }

    fn checks(held: &mut heapless_events::Held) -> Result<(), i32> {
        match calls::random(MAXIMUM_VALUE_SIZE as usize) {
            Err(Status::InvalidArgument) => {
                println!("memory-hog: random of 32 MiB refused, InvalidArgument")
            }
            Ok(event) => {
                held.push(event);
                println!("memory-hog: random of 32 MiB was given, past the per-call maximum");
                return Err(2);
            }
            Err(other) => {
                println!("memory-hog: random of 32 MiB answered {other:?}");
                return Err(2);
            }
        }
        let (small, refusal) = randoms_until_refused(held, SMALL_VALUE, SMALL_TRIES)?;
        println!("memory-hog: {small} randoms of 1 MiB held, then refused, {refusal:?}");
        let Some(first) = held.first() else {
            println!("memory-hog: no random was given: nothing to retire");
            return Err(1);
        };
        let mut small = [0u8; 16];
        match calls::retire(first, &mut small) {
            Err(Status::BufferTooSmall) => {
                println!("memory-hog: retire of a held value into 16 bytes refused, BufferTooSmall")
            }
            other => {
                println!("memory-hog: retire of a held value into 16 bytes answered {other:?}");
                return Err(3);
            }
        }
        if calls::retire(first, &mut small) != Err(Status::BufferTooSmall) {
            println!("memory-hog: the event was not left in place");
            return Err(4);
        }
        // The length is refused before the kernel reads a byte; the address is this
        // program's own buffer.
        let text = small.as_ptr() as u64;
        match calls::print_unchecked(text, MAXIMUM_PRINT_LENGTH + 1) {
            Err(Status::InvalidArgument) => {
                println!("memory-hog: print over the limit refused, InvalidArgument")
            }
            other => {
                println!("memory-hog: print over the limit answered {other:?}");
                return Err(5);
            }
        }
        Ok(())
    }

    /// The events the program holds, without a heap of its own to speak of.
    mod heapless_events {
        use ethos_compat::Event;

        use super::SMALL_TRIES;

        pub(super) struct Held {
            events: [Option<Event>; SMALL_TRIES],
        }

        impl Held {
            pub(super) const fn new() -> Held {
                Held {
                    events: [None; SMALL_TRIES],
                }
            }

            pub(super) fn push(&mut self, event: Event) {
                if let Some(slot) = self.events.iter_mut().find(|slot| slot.is_none()) {
                    *slot = Some(event);
                }
            }

            pub(super) fn first(&self) -> Option<Event> {
                self.events[0]
            }

            pub(super) fn all(&self) -> impl Iterator<Item = Event> + '_ {
                self.events.iter().flatten().copied()
            }
        }
    }

    pub(crate) fn main() -> i32 {
        let mut held = heapless_events::Held::new();
        let outcome = checks(&mut held);
        let cancelled: Result<(), Status> = held.all().try_for_each(calls::cancel);
        match (outcome, cancelled) {
            (Err(status), _) => status,
            (Ok(()), Err(status)) => {
                println!("memory-hog: cancel answered {status:?}");
                6
            }
            (Ok(()), Ok(())) => {
                println!("memory-hog: every request was answered and the kernel went on");
                0
            }
        }
    }
}

/// The program only runs on Ethos; built for a host it says so.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("memory-hog is an Ethos program: build it with `cargo xtask build`");
    std::process::exit(2);
}
