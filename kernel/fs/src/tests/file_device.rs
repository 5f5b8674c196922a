//! The image-file device of host tools: a store formatted on it survives being
//! closed and opened again, and the checker reads it.

use std::path::PathBuf;

use crate::native::{self, FileDevice};
use crate::{DirectoryId, Store};

use super::{name, root_record};

#[test]
fn a_store_in_an_image_file_survives_reopening() {
    let path: PathBuf =
        std::env::temp_dir().join(alloc::format!("ethos-fs-image-{}.img", std::process::id()));
    let device = FileDevice::create(&path, 512).unwrap();
    let mut store = native::format(device, &root_record(), 1).unwrap();
    store
        .write_file(DirectoryId::ROOT, &name("kept"), b"in a file", 2)
        .unwrap();
    drop(store);
    let mut device = FileDevice::open_read_only(&path).unwrap();
    assert!(native::check(&mut device).is_clean());
    let mut store = native::mount(FileDevice::open(&path).unwrap()).unwrap();
    let value = store.read_file(DirectoryId::ROOT, &name("kept"));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(value, Ok(b"in a file".to_vec()));
}

#[test]
fn the_file_device_passes_the_block_class_checks() {
    use ethos_devices::block_check::{check_beyond_capacity, verify_pattern, write_pattern};

    let path: PathBuf = std::env::temp_dir().join(alloc::format!(
        "ethos-fs-pattern-{}.img",
        std::process::id()
    ));
    let mut device = FileDevice::create(&path, 300).unwrap();
    let outcome = write_pattern(&mut device, 5)
        .and_then(|_| verify_pattern(&mut device, 5))
        .and_then(|_| check_beyond_capacity(&mut device));
    std::fs::remove_file(&path).unwrap();
    outcome.unwrap();
}
