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
