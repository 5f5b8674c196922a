//! `memory-hog`: asks the kernel for more memory than it has and checks that every
//! request is answered with a status while the program (and the kernel) go on:
//! `random` of the largest value (32 MiB) until the kernel answers `NoMemory` (at
//! most 8 requests); `retire` of a 32 MiB result into a 16-byte buffer, which must be
//! `BufferTooSmall` and leave the event in place; `print` longer than the print limit,
//! which must be `InvalidArgument`. It then cancels every event it holds, so the
//! kernel's heap is where it began.
//!
//! Exit status: 0 every check passed; 1 no `random` was refused with `NoMemory`;
//! 2 a `random` was answered with another failure; 3 the small `retire` was not
//! `BufferTooSmall`; 4 the event was gone after it; 5 the long `print` was not
//! `InvalidArgument`; 6 a `cancel` failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
ethos_compat::entry!(program::main);

#[cfg(target_os = "none")]
mod program {
    use ethos_abi::Status;
    use ethos_abi::arguments::{MAXIMUM_PRINT_LENGTH, MAXIMUM_VALUE_SIZE};
    use ethos_compat::{calls, println};

    /// At most this many largest-value requests before the kernel must refuse one.
    const TRIES: usize = 8;

    fn checks(held: &mut heapless_events::Held) -> Result<(), i32> {
        let mut refused = false;
        for attempt in 0..TRIES {
            match calls::random(MAXIMUM_VALUE_SIZE as usize) {
                Ok(event) => held.push(event),
                Err(Status::NoMemory) => {
                    println!("memory-hog: random #{attempt} of 32 MiB refused, NoMemory");
                    refused = true;
                    break;
                }
                Err(other) => {
                    println!("memory-hog: random #{attempt} answered {other:?}");
                    return Err(2);
                }
            }
        }
        if !refused {
            println!("memory-hog: {TRIES} random requests of 32 MiB, none refused");
            return Err(1);
        }
        let Some(large) = held.first() else {
            println!("memory-hog: the first random of 32 MiB was refused: nothing to retire");
            return Err(1);
        };
        let mut small = [0u8; 16];
        match calls::retire(large, &mut small) {
            Err(Status::BufferTooSmall) => {
                println!("memory-hog: retire of 32 MiB into 16 bytes refused, BufferTooSmall")
            }
            other => {
                println!("memory-hog: retire of 32 MiB into 16 bytes answered {other:?}");
                return Err(3);
            }
        }
        if calls::retire(large, &mut small) != Err(Status::BufferTooSmall) {
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

        pub(super) struct Held {
            events: [Option<Event>; super::TRIES],
        }

        impl Held {
            pub(super) const fn new() -> Held {
                Held {
                    events: [None; super::TRIES],
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
