//! Power cuts: for random calls on a disk with a volatile cache, the power fails
//! after a random number of the call's writes, with a random part of the unflushed
//! writes reaching the disk in a random order. After each cut the disk mounts, the
//! checker finds it clean, and it holds exactly what it held before the call or
//! exactly what it holds after it: every value whole, every call that answered
//! `Ok` before it durable.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::memory::MemoryStore;
use crate::native::{self, NativeStore};
use crate::testing::{CrashDevice, Random};
use crate::{DirectoryId, Store};

use super::{Content, apply, name, random_operation, root_record, snapshot};

const SEEDS: u64 = 10;
const CUTS_PER_SEED: u64 = 1_000;
/// Cuts in a call that writes; a call refused before it writes gets one.
const CUTS_PER_WRITING_CALL: u64 = 6;

struct Run {
    cuts: u64,
    cuts_during_writes: u64,
    new_state_survived: u64,
}

fn run(seed: u64) -> Run {
    let mut random = Random::new(seed);
    // The last seed runs on 4096-byte blocks.
    let disk = if seed + 1 == SEEDS {
        CrashDevice::new(128, 4096)
    } else {
        CrashDevice::new(512, 512)
    };
    let mut store: NativeStore<CrashDevice> = native::format(disk, &root_record(), 1).unwrap();
    let mut model = MemoryStore::new(root_record());
    let mut directories = Vec::from([DirectoryId::ROOT]);
    let mut before: BTreeMap<String, Content> = snapshot(&mut model);
    let mut tally = Run {
        cuts: 0,
        cuts_during_writes: 0,
        new_state_survived: 0,
    };
    let mut step = 0;
    while tally.cuts < CUTS_PER_SEED {
        step += 1;
        let operation = random_operation(&mut random, &directories, 3000);
        let now = 10 + step;
        let template = store.clone();
        let writes_before = store.device_mut().writes();
        let answer = apply(&mut store, &operation, now);
        let writes = store.device_mut().writes() - writes_before;
        let expected = apply(&mut model, &operation, now);
        assert_eq!(answer, expected, "seed {seed} step {step}: {operation:?}");
        if let Ok(Some(created)) = answer {
            directories.push(created);
        }
        let after = snapshot(&mut model);
        let cuts = if writes == 0 {
            1
        } else {
            CUTS_PER_WRITING_CALL
        };
        for cut in 0..cuts {
            let mut branch = template.clone();
            let power_cut = random.below(writes + 1);
            branch.device_mut().cut_power_after(power_cut);
            let branch_answer = apply(&mut branch, &operation, now);
            if answer.is_ok() {
                assert!(branch_answer.is_err(), "the cut call must fail");
            }
            let mut disk = branch.into_device().crash(&mut random);
            let report = native::check(&mut disk);
            assert!(
                report.is_clean(),
                "seed {seed} step {step} cut {cut} after {power_cut} of {writes} writes: {operation:?}\n{report}"
            );
            let mut remounted = native::mount(disk).unwrap_or_else(|error| {
                panic!("seed {seed} step {step}: mount after a power cut: {error}")
            });
            let found = snapshot(&mut remounted);
            tally.cuts += 1;
            if writes > 0 {
                tally.cuts_during_writes += 1;
            }
            if found == after && after != before {
                tally.new_state_survived += 1;
            } else {
                assert!(
                    found == before || found == after,
                    "seed {seed} step {step} cut after {power_cut} of {writes} writes: \
                     {operation:?}\nfound {found:?}\nbefore {before:?}\nafter {after:?}"
                );
            }
            // The store goes on from the cut: the blocks it now thinks free are.
            if cut == 0 {
                let value = random.bytes(700);
                remounted
                    .write_file(DirectoryId::ROOT, &name("after-cut"), &value, now)
                    .unwrap();
                assert_eq!(
                    remounted.read_file(DirectoryId::ROOT, &name("after-cut")),
                    Ok(value)
                );
                let mut disk = remounted.into_device();
                let report = native::check(&mut disk);
                assert!(report.is_clean(), "seed {seed} step {step}: {report}");
            }
        }
        before = after;
        // Now and then the store is opened again, as after a clean shutdown.
        if step % 50 == 49 {
            store = native::mount(store.into_device()).unwrap();
        }
    }
    let mut disk = store.into_device();
    assert!(native::check(&mut disk).is_clean());
    tally
}

#[test]
fn ten_thousand_power_cuts_leave_the_old_state_or_the_new() {
    let mut cuts = 0;
    let mut during_writes = 0;
    let mut new_survived = 0;
    for seed in 0..SEEDS {
        let tally = run(seed);
        cuts += tally.cuts;
        during_writes += tally.cuts_during_writes;
        new_survived += tally.new_state_survived;
    }
    std::eprintln!(
        "{cuts} power cuts: {during_writes} during a call's writes, \
         {new_survived} found the call's change"
    );
    assert!(cuts >= 10_000, "{cuts} cuts");
    // The test must see both outcomes often, or it proves little.
    assert!(
        during_writes > cuts / 2,
        "{during_writes} of {cuts} cuts fell in writes"
    );
    assert!(
        new_survived > cuts / 50,
        "only {new_survived} cuts kept the new state"
    );
}

/// A call whose last flush fails may have left its superblock in the device's
/// cache; a power cut during the next call finds the state before the failed call,
/// the failed call's state whole, or the next call's, and never damage.
#[test]
fn a_power_cut_after_a_failed_flush_finds_a_whole_state() {
    use crate::testing::{Fault, FaultyDevice};

    let mut random = Random::new(99);
    let mut outcomes = [0u32; 3];
    for round in 0..300 {
        let device = FaultyDevice::new(CrashDevice::new(256, 512));
        let mut store = native::format(device, &root_record(), 1).unwrap();
        let mut model = MemoryStore::new(root_record());
        let setup = super::Operation::Write {
            directory: DirectoryId::ROOT,
            name: name("a"),
            value: random.bytes(900),
        };
        apply(&mut store, &setup, 2).unwrap();
        apply(&mut model, &setup, 2).unwrap();
        let before = snapshot(&mut model);
        let failing = random_operation(&mut random, &[DirectoryId::ROOT], 2000);
        let mut failed_model = model.clone();
        if apply(&mut failed_model, &failing, 3).is_err() {
            continue;
        }
        store.device_mut().add(Fault::FlushNumber(2));
        assert!(apply(&mut store, &failing, 3).is_err(), "round {round}");
        store.device_mut().clear();
        let failed = snapshot(&mut failed_model);
        let next = super::Operation::Write {
            directory: DirectoryId::ROOT,
            name: name("next"),
            value: random.bytes(1500),
        };
        let mut next_model = model.clone();
        apply(&mut next_model, &next, 4).unwrap();
        let after_next = snapshot(&mut next_model);
        let mut probe = store.clone();
        let writes_before = probe.device_mut().inner_mut().writes();
        apply(&mut probe, &next, 4).unwrap();
        let writes = probe.device_mut().inner_mut().writes() - writes_before;
        store
            .device_mut()
            .inner_mut()
            .cut_power_after(random.below(writes + 1));
        let _ = apply(&mut store, &next, 4);
        let mut disk = store.into_device().into_inner().crash(&mut random);
        let report = native::check(&mut disk);
        assert!(report.is_clean(), "round {round}: {report}");
        let found = snapshot(&mut native::mount(disk).unwrap());
        let outcome = [&before, &failed, &after_next]
            .iter()
            .position(|state| **state == found);
        match outcome {
            Some(index) => outcomes[index] += 1,
            None => panic!("round {round}: {failing:?} then {next:?} left {found:?}"),
        }
    }
    // Each outcome happens, or the test shows little.
    assert!(outcomes.iter().all(|&count| count > 0), "{outcomes:?}");
}
