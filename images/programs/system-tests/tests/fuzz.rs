//! The fuzzer's generator, argument shapes and judgement of answers, on the host:
//! the parts of `syscall-fuzz` that decide what it calls and what it reports.

use ethos_abi::arguments::{USER_SPACE_END, layout};
use ethos_abi::{Call, Status};
use system_test_programs::fuzz::{
    self, FORKS, Generator, Learned, Live, Memory, Planned, Role, Text, impossible, plan,
};
use system_test_programs::serving::Calculator;
use system_test_programs::types::{serve_bouncer, serve_calculator};

const SCRATCH: u64 = 0x4000_0010_0000;
const SCRATCH_BYTES: u64 = 60 * 1024;

fn memory() -> Memory {
    let mut texts = Vec::new();
    let mut address = 0x4000_0000_8000;
    for (bytes, exec_target) in fuzz::texts("fuzz-7") {
        texts.push(Text {
            address,
            length: bytes.len() as u64,
            exec_target,
            own_name: bytes == b"syscall-fuzz",
        });
        address += bytes.len() as u64;
    }
    Memory {
        scratch: (SCRATCH, SCRATCH_BYTES),
        texts,
        block_list: 0x4000_000f_0000,
        descriptor_list: 0x4000_000f_1000,
        code: 0x4000_0000_1000,
    }
}

fn live() -> Live {
    Live {
        own: 2,
        first: 2,
        forks_left: FORKS[0],
        events: vec![11, 12],
        descriptors: vec![5],
        children: vec![3],
        now: 1_000_000,
    }
}

#[test]
fn splitmix_matches_its_reference_values() {
    // The first outputs of SplitMix64 from seed 0, as the reference implementation
    // gives them.
    let mut generator = Generator::new(0);
    assert_eq!(generator.next_u64(), 0xe220_a839_7b1d_cdaf);
    assert_eq!(generator.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    assert_eq!(generator.next_u64(), 0x06c4_5d18_8009_454f);
}

#[test]
fn a_seed_replays_the_same_calls() {
    let (memory, live) = (memory(), live());
    let draw = |seed| {
        let mut generator = Generator::new(seed);
        (0..1000)
            .map(|_| plan(&mut generator, &memory, &live, Role::First))
            .collect::<Vec<Planned>>()
    };
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
}

#[test]
fn bounded_draws_stay_below_their_bound() {
    let mut generator = Generator::new(1);
    for bound in [1, 2, 3, 17, 1000, u64::MAX] {
        for _ in 0..1000 {
            assert!(generator.below(bound) < bound);
        }
    }
    assert_eq!(generator.below(0), 0);
}

#[test]
fn seeds_come_from_the_user_name() {
    assert_eq!(fuzz::seed_of_user("fuzz-1337"), Some(1337));
    assert_eq!(fuzz::seed_of_user("fuzz-"), None);
    assert_eq!(fuzz::seed_of_user("alice"), None);
    assert_ne!(fuzz::child_seed(7, 10), fuzz::child_seed(7, 11));
    assert_ne!(fuzz::child_seed(7, 10), 7);
}

/// Every shape the issue asks for shows up in a run's draws, and the fuzzer never
/// names a buffer the kernel could write outside its scratch but for places it must
/// refuse.
#[test]
fn draws_cover_every_shape_and_never_aim_writes_at_the_fuzzer() {
    let (memory, live) = (memory(), live());
    let mut generator = Generator::new(7);
    let mut calls = std::collections::BTreeSet::new();
    let (mut unknown, mut kernel, mut non_canonical, mut wrapping, mut huge, mut scratch) =
        (0, 0, 0, 0, 0, 0);
    for _ in 0..200_000 {
        let planned = plan(&mut generator, &memory, &live, Role::First);
        let Some(call) = planned.call() else {
            unknown += 1;
            continue;
        };
        calls.insert(call.number());
        assert_ne!(call, Call::Exit, "the first fuzzer must not exit");
        if call == Call::Kill {
            assert_ne!(
                planned.words[0], live.own,
                "the first fuzzer must not kill itself"
            );
        }
        if call == Call::Exec {
            let (address, length) = (planned.words[1], planned.words[2]);
            assert!(
                !memory
                    .texts
                    .iter()
                    .any(|text| text.address == address && length > 0),
                "the first fuzzer must not exec a program: {planned}"
            );
        }
        for (index, argument) in layout(call).iter().enumerate() {
            let (address, length) = (planned.words[index], planned.words.get(index + 1));
            use ethos_abi::arguments::Argument::*;
            match argument {
                NameAddress | ValueAddress | BufferAddress => {
                    let length = *length.unwrap();
                    kernel += u32::from(address >= 0xffff_8000_0000_0000);
                    non_canonical +=
                        u32::from((USER_SPACE_END..0xffff_8000_0000_0000).contains(&address));
                    wrapping += u32::from(address.checked_add(length).is_none());
                    huge += u32::from(length >= 1 << 32);
                    let in_scratch = (SCRATCH..SCRATCH + SCRATCH_BYTES).contains(&address);
                    scratch += u32::from(in_scratch);
                    if *argument == BufferAddress && in_scratch {
                        assert!(
                            address + length <= SCRATCH + SCRATCH_BYTES,
                            "a buffer runs past the scratch: {planned}"
                        );
                    }
                    if *argument == BufferAddress {
                        // Outside the scratch, only its code or far from the program.
                        let code = memory.code..memory.code + 256;
                        let program = 0x4000_0000_0000..0x4000_1000_0000;
                        assert!(
                            in_scratch || code.contains(&address) || !program.contains(&address),
                            "a buffer aims at the fuzzer's own state: {planned}"
                        );
                    }
                }
                _ => {}
            }
        }
    }
    // Every call but `exit`, which the first fuzzer never makes.
    assert_eq!(calls.len(), Call::ALL.len() - 1, "{calls:?}");
    assert!(!calls.contains(&Call::Exit.number()));
    for (what, count) in [
        ("unknown numbers", unknown),
        ("kernel addresses", kernel),
        ("non-canonical addresses", non_canonical),
        ("wrapping ranges", wrapping),
        ("huge lengths", huge),
        ("scratch addresses", scratch),
    ] {
        assert!(count > 100, "{what}: only {count}");
    }
}

#[test]
fn children_may_end_themselves_and_exec_hello() {
    let (memory, mut live) = (memory(), live());
    live.own = 3;
    let hello = memory
        .texts
        .iter()
        .find(|text| text.exec_target)
        .copied()
        .unwrap();
    let own_name = memory
        .texts
        .iter()
        .find(|text| text.own_name)
        .copied()
        .unwrap();
    let mut generator = Generator::new(9);
    let (mut exits, mut exec_hello) = (0, 0);
    for _ in 0..200_000 {
        let planned = plan(
            &mut generator,
            &memory,
            &live,
            Role::Child { generation: 1 },
        );
        match planned.call() {
            Some(Call::Exit) => exits += 1,
            Some(Call::Exec) if planned.words[1] == hello.address => exec_hello += 1,
            Some(Call::Exec) => assert_ne!(
                planned.words[1], own_name.address,
                "a child must never become syscall-fuzz again: {planned}"
            ),
            Some(Call::Kill) => assert_ne!(planned.words[0], live.first, "{planned}"),
            _ => {}
        }
    }
    assert!(
        exits > 0 && exec_hello > 0,
        "{exits} exits, {exec_hello} execs of hello"
    );
}

#[test]
fn prepared_requests_pass_the_type_check() {
    let texts = fuzz::texts("fuzz-1");
    let typed = texts
        .iter()
        .filter(|(bytes, _)| {
            serve_calculator(&mut Calculator::default(), bytes).is_ok()
                || serve_bouncer(
                    &mut system_test_programs::serving::Bouncer::default(),
                    bytes,
                )
                .is_ok()
        })
        .count();
    // Add, Echo, Shutdown, and a Bounce (which Calculator may also read some of).
    assert!(typed >= 4, "{typed} well-typed requests");
    assert!(
        !texts.iter().any(|(bytes, _)| bytes
            .windows(fuzz::STOP_TEXT.len())
            .any(|window| window == fuzz::STOP_TEXT.as_bytes())),
        "no fuzzer value may stop the server"
    );
}

fn answer(status: Status) -> u64 {
    u64::from(status.code())
}

#[test]
fn impossible_answers_are_caught() {
    let unknown = Planned {
        number: 99,
        words: [0; 6],
    };
    assert!(impossible(&unknown, answer(Status::UnknownCall), 0).is_none());
    assert!(impossible(&unknown, answer(Status::Ok), 0).is_some());
    let print_kernel = Planned {
        number: u64::from(Call::Print.number()),
        words: [0xffff_8000_0000_0000, 16, 0, 0, 0, 0],
    };
    assert!(impossible(&print_kernel, answer(Status::InvalidArgument), 0).is_none());
    assert!(impossible(&print_kernel, answer(Status::Ok), 0).is_some());
    let print_wrapping = Planned {
        number: u64::from(Call::Print.number()),
        words: [0x4000_0000_0000, u64::MAX - 8, 0, 0, 0, 0],
    };
    assert!(impossible(&print_wrapping, answer(Status::Ok), 0).is_some());
    let print_empty = Planned {
        number: u64::from(Call::Print.number()),
        words: [0xffff_8000_0000_0000, 0, 0, 0, 0, 0],
    };
    assert!(impossible(&print_empty, answer(Status::Ok), 0).is_none());
    let get_pid = Planned {
        number: u64::from(Call::GetPid.number()),
        words: [0; 6],
    };
    assert!(
        impossible(&get_pid, 77, 0).is_some(),
        "no status has code 77"
    );
    assert!(impossible(&get_pid, answer(Status::NoSuchObject), 5).is_some());
    let read_var = Planned {
        number: u64::from(Call::ReadVar.number()),
        words: [1, 0, 0, 0, 0, 0],
    };
    assert!(impossible(&read_var, answer(Status::Ok), 0).is_some());
}

#[test]
fn answers_steer_what_the_fuzzer_knows() {
    let mut live = live();
    let fork = Planned {
        number: u64::from(Call::Fork.number()),
        words: [0; 6],
    };
    let ok = answer(Status::Ok);
    assert_eq!(live.learn(&fork, ok, 9), Ok(Learned::Nothing));
    assert_eq!(
        (live.children.clone(), live.forks_left),
        (vec![3, 9], FORKS[0] - 1)
    );
    assert_eq!(live.learn(&fork, ok, 0), Ok(Learned::BecameChild));
    assert!(live.learn(&fork, ok, live.own).is_err());
    let get_pid = Planned {
        number: u64::from(Call::GetPid.number()),
        words: [0; 6],
    };
    assert!(live.learn(&get_pid, ok, live.own).is_ok());
    assert!(live.learn(&get_pid, ok, live.own + 1).is_err());
    let get_time = Planned {
        number: u64::from(Call::GetTime.number()),
        words: [0; 6],
    };
    assert!(live.learn(&get_time, ok, live.now + 5).is_ok());
    assert!(live.learn(&get_time, ok, live.now - 1).is_err());
    let beep = Planned {
        number: u64::from(Call::Beep.number()),
        words: [0; 6],
    };
    let mut cancelled = None;
    for event in 100..100 + fuzz::TRACKED_EVENTS as u64 {
        if let Ok(Learned::Cancel(oldest)) = live.learn(&beep, ok, event) {
            cancelled.get_or_insert(oldest);
        }
    }
    assert_eq!(cancelled, Some(11), "the oldest event is cancelled first");
    assert!(live.events.len() <= fuzz::TRACKED_EVENTS);
}
