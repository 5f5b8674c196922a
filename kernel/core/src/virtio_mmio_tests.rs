//! Host tests of the DSDT scan on AML built here as QEMU's `microvm` and Firecracker
//! encode their virtio-mmio devices.

use super::*;

/// Memory that is one table at `address`.
struct Table {
    address: u64,
    bytes: Vec<u8>,
}

impl PhysicalReader for Table {
    fn read(&self, address: u64, into: &mut [u8]) -> Result<(), AcpiError> {
        let unreadable = AcpiError::Unreadable {
            address,
            length: into.len(),
        };
        let offset = address.checked_sub(self.address).ok_or(unreadable)? as usize;
        let bytes = self
            .bytes
            .get(offset..offset + into.len())
            .ok_or(unreadable)?;
        into.copy_from_slice(bytes);
        Ok(())
    }
}

/// An AML package length for `body` bytes that follow it (the length counts itself).
fn package_length(body: usize) -> Vec<u8> {
    if body + 1 < 0x40 {
        vec![(body + 1) as u8]
    } else {
        let total = body + 2;
        assert!(total < 0x1000);
        vec![0x40 | (total & 0x0f) as u8, (total >> 4) as u8]
    }
}

fn name(segment: &[u8; 4], value: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x08];
    bytes.extend_from_slice(segment);
    bytes.extend_from_slice(value);
    bytes
}

/// `ResourceTemplate () { Memory32Fixed (ReadWrite, base, size) Interrupt (…) {irq} }`
/// as a `Buffer`, the way QEMU's aml-build writes it.
fn resource_template(descriptors: &[u8]) -> Vec<u8> {
    let mut body = descriptors.to_vec();
    body.extend_from_slice(&[0x79, 0x00]);
    let mut buffer = vec![0x0a, body.len() as u8];
    buffer.extend_from_slice(&body);
    let mut bytes = vec![0x11];
    bytes.extend(package_length(buffer.len()));
    bytes.extend(buffer);
    bytes
}

fn memory32_fixed(base: u32, size: u32) -> Vec<u8> {
    let mut bytes = vec![0x86, 0x09, 0x00, 0x01];
    bytes.extend_from_slice(&base.to_le_bytes());
    bytes.extend_from_slice(&size.to_le_bytes());
    bytes
}

fn extended_interrupt(irq: u32) -> Vec<u8> {
    let mut bytes = vec![0x89, 0x06, 0x00, 0x01, 0x01];
    bytes.extend_from_slice(&irq.to_le_bytes());
    bytes
}

fn legacy_irq(irq: u8) -> Vec<u8> {
    let mask = 1u16 << irq;
    let mut bytes = vec![0x22];
    bytes.extend_from_slice(&mask.to_le_bytes());
    bytes
}

fn device(segment: &[u8; 4], hid: &[u8], resources: &[u8]) -> Vec<u8> {
    let mut body = segment.to_vec();
    let mut text = vec![0x0d];
    text.extend_from_slice(hid);
    text.push(0);
    body.extend(name(b"_HID", &text));
    body.extend(name(b"_UID", &[0x00]));
    body.extend(name(b"_CCA", &[0x01]));
    body.extend(name(b"_CRS", &resource_template(resources)));
    let mut bytes = vec![0x5b, 0x82];
    bytes.extend(package_length(body.len()));
    bytes.extend(body);
    bytes
}

fn dsdt(aml: &[u8]) -> Table {
    let mut bytes = b"DSDT".to_vec();
    bytes.extend_from_slice(&((36 + aml.len()) as u32).to_le_bytes());
    bytes.resize(36, 0);
    bytes.extend_from_slice(aml);
    Table {
        address: 0x7fe_0000,
        bytes,
    }
}

fn scan(table: &Table) -> Vec<MmioDevice> {
    scan_dsdt(table, table.address, table.bytes.len())
        .unwrap()
        .iter()
        .collect()
}

fn virtio(base: u32, size: u32, irq: u32) -> Vec<u8> {
    [memory32_fixed(base, size), extended_interrupt(irq)].concat()
}

#[test]
fn microvm_devices_are_found_with_their_window_and_interrupt() {
    let mut aml = Vec::new();
    // Something else first: a serial port with a legacy interrupt.
    aml.extend(device(b"COM1", b"PNP0501", &legacy_irq(4)));
    aml.extend(device(b"VR00", b"LNRO0005", &virtio(0xfeb0_0000, 512, 24)));
    aml.extend(device(b"VR03", b"LNRO0005", &virtio(0xfeb0_0600, 512, 27)));
    assert_eq!(
        scan(&dsdt(&aml)),
        [
            MmioDevice {
                base: 0xfeb0_0000,
                size: 512,
                interrupt: 24
            },
            MmioDevice {
                base: 0xfeb0_0600,
                size: 512,
                interrupt: 27
            },
        ]
    );
}

#[test]
fn a_legacy_irq_descriptor_serves_as_the_interrupt() {
    let resources = [memory32_fixed(0xc000_1000, 0x1000), legacy_irq(5)].concat();
    let aml = device(b"V000", b"LNRO0005", &resources);
    assert_eq!(
        scan(&dsdt(&aml)),
        [MmioDevice {
            base: 0xc000_1000,
            size: 0x1000,
            interrupt: 5
        }]
    );
}

#[test]
fn devices_without_both_resources_or_of_another_kind_are_not_taken() {
    let mut aml = Vec::new();
    aml.extend(device(
        b"VR00",
        b"LNRO0005",
        &memory32_fixed(0xfeb0_0000, 512),
    ));
    aml.extend(device(b"VR01", b"LNRO0005", &extended_interrupt(25)));
    aml.extend(device(b"VR02", b"LNRO0005", &virtio(0xfeb0_0400, 0x80, 26)));
    aml.extend(device(
        b"XHCI",
        b"PNP0D10",
        &virtio(0xfe90_0000, 0x1000, 10),
    ));
    assert_eq!(scan(&dsdt(&aml)), []);
}

#[test]
fn a_crs_beyond_the_next_hid_belongs_to_another_device() {
    // A virtio `_HID` with no `_CRS`, then another device's: not taken.
    let mut aml = name(b"_HID", b"\x0dLNRO0005\x00");
    aml.extend(device(b"COM1", b"PNP0501", &virtio(0x3f8, 0x100, 4)));
    assert_eq!(scan(&dsdt(&aml)), []);
}

#[test]
fn truncated_and_repeated_declarations_are_harmless() {
    let whole = device(b"VR00", b"LNRO0005", &virtio(0xfeb0_0000, 512, 24));
    for cut in 0..whole.len() {
        // Any prefix of the device scans without a panic or a read past the table.
        let _ = scan(&dsdt(&whole[..cut]));
    }
    let twice = [whole.clone(), whole].concat();
    assert_eq!(scan(&dsdt(&twice)).len(), 1, "one window is one device");
}

#[test]
fn a_long_template_uses_a_two_byte_package_length() {
    // Enough padding descriptors (vendor-defined, small type 0xE) to pass 63 bytes.
    let mut resources = Vec::new();
    for _ in 0..12 {
        resources.extend_from_slice(&[0x76, 1, 2, 3, 4, 5, 6]);
    }
    resources.extend(virtio(0xfeb0_0200, 512, 25));
    let aml = device(b"VR01", b"LNRO0005", &resources);
    assert_eq!(
        scan(&dsdt(&aml)),
        [MmioDevice {
            base: 0xfeb0_0200,
            size: 512,
            interrupt: 25
        }]
    );
}

#[test]
fn the_table_holds_its_maximum_and_no_more() {
    let mut devices = MmioDevices::default();
    assert!(devices.is_empty());
    let device = MmioDevice {
        base: 0xfeb0_0000,
        size: 512,
        interrupt: 24,
    };
    for _ in 0..MAXIMUM_MMIO_DEVICES {
        assert!(devices.push(device));
    }
    assert!(!devices.push(device));
    assert_eq!(devices.iter().count(), MAXIMUM_MMIO_DEVICES);
    assert!(devices.has_base(0xfeb0_0000));
}
