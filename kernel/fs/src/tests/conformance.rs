use crate::memory::MemoryStore;
use crate::native;
use crate::testing::{CrashDevice, conformance};

use super::{formatted, root_record};

#[test]
fn the_memory_store_conforms() {
    conformance(&mut MemoryStore::new(root_record()));
}

#[test]
fn the_native_store_conforms() {
    let mut store = formatted(4096);
    conformance(&mut store);
    let mut device = store.into_device();
    let report = native::check(&mut device);
    assert!(report.is_clean(), "{report}");
    let mut store = native::mount(device).unwrap();
    assert_eq!(super::snapshot(&mut store).len(), 1);
}

#[test]
fn the_native_store_conforms_on_a_cached_disk_with_4096_byte_blocks() {
    let device = CrashDevice::new(1024, 4096);
    let mut store = native::format(device, &root_record(), 1).unwrap();
    conformance(&mut store);
    let mut device = store.into_device();
    assert!(native::check(&mut device).is_clean());
}

/// The test devices are block devices like any other: the class's own checks pass.
#[test]
fn the_test_devices_pass_the_block_class_checks() {
    use crate::testing::{FaultyDevice, MemoryDevice};
    use ethos_devices::BlockDevice;
    use ethos_devices::block_check::{check_beyond_capacity, verify_pattern, write_pattern};

    let mut devices: [&mut dyn BlockDevice; 3] = [
        &mut MemoryDevice::new(300, 512),
        &mut CrashDevice::new(300, 4096),
        &mut FaultyDevice::new(MemoryDevice::new(300, 512)),
    ];
    for device in &mut devices {
        write_pattern(*device, 3).unwrap();
        verify_pattern(*device, 3).unwrap();
        check_beyond_capacity(*device).unwrap();
    }
}
