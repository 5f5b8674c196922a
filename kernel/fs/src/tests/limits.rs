//! A full disk, failing devices and the largest value: refused or failed calls
//! change nothing, and the store goes on afterwards.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::memory::MemoryStore;
use crate::native;
use crate::testing::{Fault, FaultyDevice, MemoryDevice};
use crate::{DirectoryId, MAXIMUM_FILE_SIZE, Store, StoreError};

use super::{Operation, apply, formatted, name, root_record, snapshot};

const ROOT: DirectoryId = DirectoryId::ROOT;

#[test]
fn a_full_disk_answers_full_loses_nothing_and_recovers_after_removals() {
    let mut store = formatted(96);
    let mut written = Vec::new();
    let full = loop {
        let index = written.len();
        let value = vec![index as u8; 1500];
        match store.write_file(ROOT, &name(&format!("file{index}")), &value, 5) {
            Ok(()) => written.push(value),
            Err(error) => break error,
        }
    };
    assert_eq!(full, StoreError::Full);
    assert!(written.len() >= 10, "only {} files fit", written.len());
    let usage = store.usage();
    assert!(usage.free < 30, "{usage:?}");
    // A larger value for a file that exists, or a new directory: full too.
    assert_eq!(
        store.write_file(ROOT, &name("file0"), &[9; 4000], 6),
        Err(StoreError::Full)
    );
    for (index, value) in written.iter().enumerate() {
        let file = name(&format!("file{index}"));
        assert_eq!(store.read_file(ROOT, &file).as_ref(), Ok(value));
    }
    let mut device = store.clone().into_device();
    assert!(native::check(&mut device).is_clean());
    // Removals always have room; then writes fit again.
    for index in 0..written.len() {
        store
            .remove(ROOT, &name(&format!("file{index}")))
            .unwrap_or_else(|error| panic!("remove file{index}: {error}"));
    }
    store
        .write_file(ROOT, &name("again"), &[1; 1500], 7)
        .unwrap();
    let mut directory_count = 0;
    while store
        .create_directory(
            ROOT,
            &name(&format!("d{directory_count}")),
            &root_record(),
            8,
        )
        .is_ok()
    {
        directory_count += 1;
    }
    assert!(directory_count > 5);
    for index in 0..directory_count {
        store.remove(ROOT, &name(&format!("d{index}"))).unwrap();
    }
    let mut remounted = native::mount(store.into_device()).unwrap();
    assert_eq!(remounted.read_file(ROOT, &name("again")), Ok(vec![1; 1500]));
    assert_eq!(remounted.next_name(ROOT, None), Ok(Some(name("again"))));
}

/// Runs `operation` on a store whose device fails `fault`; the store must answer a
/// device error, hold what the model holds, and go on when the fault is gone.
fn fails_cleanly(fault: Fault, operation: &Operation) -> bool {
    let device = FaultyDevice::new(MemoryDevice::new(256, 512));
    let mut store = native::format(device, &root_record(), 1).unwrap();
    let mut model = MemoryStore::new(root_record());
    let setup = [
        Operation::Write {
            directory: ROOT,
            name: name("kept"),
            value: vec![3; 700],
        },
        Operation::CreateDirectory {
            directory: ROOT,
            name: name("inner"),
            label: "inner".into(),
        },
    ];
    for (index, step) in setup.iter().enumerate() {
        apply(&mut store, step, index as u64).unwrap();
        apply(&mut model, step, index as u64).unwrap();
    }
    let before = snapshot(&mut model);
    let used_before = store.usage().used;
    store.device_mut().add(fault);
    let answer = apply(&mut store, operation, 10);
    let failed = store.device_mut().failed > 0;
    store.device_mut().clear();
    if !failed {
        assert!(answer.is_ok(), "{fault:?}: {answer:?}");
        return false;
    }
    assert!(
        matches!(answer, Err(StoreError::Device(_))),
        "{fault:?}: {answer:?}"
    );
    assert_eq!(snapshot(&mut store), before, "{fault:?}");
    // Blocks written under a superblock the device may have kept (its write or the
    // flush after it failed) stay out of use until the next commit.
    if fault == Fault::FlushNumber(2) {
        assert!(store.usage().used > used_before, "{fault:?}");
    } else {
        assert!(store.usage().used >= used_before, "{fault:?}");
    }
    // The disk may or may not hold the failed call (the device may have kept its
    // superblock), but it is sound either way.
    let mut disk = store.clone().into_device().into_inner();
    assert!(native::check(&mut disk).is_clean(), "{fault:?}");
    let mut after_failure = native::mount(disk).unwrap();
    let mut applied = model.clone();
    apply(&mut applied, operation, 10).unwrap();
    let found = snapshot(&mut after_failure);
    assert!(
        found == before || found == snapshot(&mut applied),
        "{fault:?}"
    );
    // The next call succeeds and replaces whatever the failed one left.
    let next = Operation::Write {
        directory: ROOT,
        name: name("next"),
        value: vec![4; 1200],
    };
    apply(&mut store, &next, 11).unwrap();
    apply(&mut model, &next, 11).unwrap();
    let usage = store.usage();
    let mut disk = store.into_device().into_inner();
    assert_eq!(
        native::mount(disk.clone()).unwrap().usage(),
        usage,
        "{fault:?}: no block is lost"
    );
    assert!(native::check(&mut disk).is_clean(), "{fault:?}");
    let mut remounted = native::mount(disk).unwrap();
    assert_eq!(snapshot(&mut remounted), snapshot(&mut model), "{fault:?}");
    true
}

#[test]
fn write_and_flush_errors_fail_the_call_and_change_nothing() {
    let operations = [
        Operation::Write {
            directory: ROOT,
            name: name("kept"),
            value: vec![8; 2000],
        },
        Operation::Write {
            directory: DirectoryId(2),
            name: name("new"),
            value: vec![5; 100],
        },
        Operation::CreateDirectory {
            directory: DirectoryId(2),
            name: name("deeper"),
            label: "deeper".into(),
        },
        Operation::Remove {
            directory: ROOT,
            name: name("kept"),
        },
    ];
    let mut failures = 0;
    for operation in &operations {
        for number in 1..=8 {
            failures += u32::from(fails_cleanly(Fault::WriteNumber(number), operation));
        }
        for number in 1..=2 {
            assert!(fails_cleanly(Fault::FlushNumber(number), operation));
            failures += 1;
        }
    }
    assert!(failures >= 16, "{failures}");
}

#[test]
fn read_errors_surface_as_device_errors() {
    let device = FaultyDevice::new(MemoryDevice::new(256, 512));
    let mut store = native::format(device, &root_record(), 1).unwrap();
    store.write_file(ROOT, &name("value"), b"held", 2).unwrap();
    for block in 2..256 {
        store.device_mut().add(Fault::ReadOf(block));
    }
    assert!(matches!(
        store.read_file(ROOT, &name("value")),
        Err(StoreError::Device(_))
    ));
    assert_eq!(store.lookup(ROOT, &name("value")), Ok(crate::Entry::File));
    let mut device = store.into_device();
    assert!(!native::check(&mut device).is_clean());
    assert!(matches!(
        native::mount(device.clone()),
        Err(native::MountError::Device(_))
    ));
    device.clear();
    let mut store = native::mount(device).unwrap();
    assert_eq!(store.read_file(ROOT, &name("value")), Ok(b"held".to_vec()));
}

#[test]
fn a_value_of_the_largest_size_is_stored_whole() {
    let blocks = (MAXIMUM_FILE_SIZE / 512) as u64 + 256;
    let mut store = native::format(MemoryDevice::new(blocks, 512), &root_record(), 1).unwrap();
    let value: Vec<u8> = (0..MAXIMUM_FILE_SIZE).map(|at| (at % 253) as u8).collect();
    store.write_file(ROOT, &name("largest"), &value, 2).unwrap();
    assert_eq!(
        store.write_file(ROOT, &name("larger"), &[0; MAXIMUM_FILE_SIZE + 1], 3),
        Err(StoreError::TooLarge)
    );
    let mut device = store.into_device();
    let report = native::check(&mut device);
    assert!(report.is_clean(), "{report}");
    let mut store = native::mount(device).unwrap();
    assert!(store.read_file(ROOT, &name("largest")) == Ok(value));
}

#[test]
fn a_small_write_costs_a_few_blocks_and_two_flushes() {
    let device = crate::testing::CrashDevice::new(4096, 512);
    let mut store = native::format(device, &root_record(), 1).unwrap();
    let mut directory = ROOT;
    for depth in 0..3 {
        for index in 0..20 {
            store
                .write_file(directory, &name(&format!("file{index}")), &[7; 300], 2)
                .unwrap();
        }
        directory = store
            .create_directory(
                directory,
                &name(&format!("level{depth}")),
                &root_record(),
                3,
            )
            .unwrap();
    }
    let (writes, blocks, flushes) = {
        let device = store.device_mut();
        (device.writes(), device.blocks_written(), device.flushes())
    };
    store
        .write_file(directory, &name("value"), &[9; 4096], 4)
        .unwrap();
    let device = store.device_mut();
    let (writes, blocks, flushes) = (
        device.writes() - writes,
        device.blocks_written() - blocks,
        device.flushes() - flushes,
    );
    // The value (8 blocks), four directories on the path (the three with twenty
    // names take 3 blocks each), and the superblock.
    assert_eq!(flushes, 2);
    assert!(writes <= 6, "{writes} write requests");
    assert!(blocks <= 8 + 1 + 3 * 3 + 1, "{blocks} blocks written");
}
