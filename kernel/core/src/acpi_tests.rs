//! Host tests of the ACPI parser on byte fixtures built here: an RSDP, RSDT or XSDT,
//! MCFG and MADT laid out at chosen physical addresses.

use std::collections::BTreeMap;

use super::*;

/// Physical memory as a few byte regions; anything else is unreadable.
#[derive(Default)]
struct Memory {
    regions: BTreeMap<u64, Vec<u8>>,
}

impl Memory {
    fn place(&mut self, address: u64, bytes: Vec<u8>) {
        self.regions.insert(address, bytes);
    }
}

impl PhysicalReader for Memory {
    fn read(&self, address: u64, into: &mut [u8]) -> Result<(), AcpiError> {
        let unreadable = AcpiError::Unreadable {
            address,
            length: into.len(),
        };
        let (start, bytes) = self
            .regions
            .range(..=address)
            .next_back()
            .ok_or(unreadable)?;
        let offset = (address - start) as usize;
        let end = offset.checked_add(into.len()).ok_or(unreadable)?;
        into.copy_from_slice(bytes.get(offset..end).ok_or(unreadable)?);
        Ok(())
    }
}

fn fix_checksum(bytes: &mut [u8], at: usize) {
    bytes[at] = 0;
    let sum = bytes.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte));
    bytes[at] = 0u8.wrapping_sub(sum);
}

fn table(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(signature);
    bytes.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    bytes.push(1); // revision
    bytes.push(0); // checksum, fixed below
    bytes.extend_from_slice(b"ETHOS ");
    bytes.extend_from_slice(b"FIXTURE ");
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(b"TEST");
    bytes.extend_from_slice(&1u32.to_le_bytes());
    assert_eq!(bytes.len(), 36);
    bytes.extend_from_slice(body);
    fix_checksum(&mut bytes, 9);
    bytes
}

fn rsdp_v1(rsdt: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RSD PTR ");
    bytes.push(0);
    bytes.extend_from_slice(b"ETHOS ");
    bytes.push(0); // revision
    bytes.extend_from_slice(&rsdt.to_le_bytes());
    fix_checksum(&mut bytes, 8);
    bytes
}

fn rsdp_v2(rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut bytes = rsdp_v1(rsdt);
    bytes[15] = 2;
    fix_checksum(&mut bytes, 8);
    bytes.extend_from_slice(&36u32.to_le_bytes());
    bytes.extend_from_slice(&xsdt.to_le_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 0]); // extended checksum and reserved
    fix_checksum(&mut bytes, 32);
    bytes
}

fn mcfg(entries: &[(u64, u16, u8, u8)]) -> Vec<u8> {
    let mut body = vec![0u8; 8];
    for &(base, segment, start, end) in entries {
        body.extend_from_slice(&base.to_le_bytes());
        body.extend_from_slice(&segment.to_le_bytes());
        body.extend_from_slice(&[start, end, 0, 0, 0, 0]);
    }
    table(b"MCFG", &body)
}

fn madt(io_apics: &[(u8, u32, u32)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    // A local APIC entry first, as firmware writes it.
    body.extend_from_slice(&[0, 8, 0, 0, 1, 0, 0, 0]);
    for &(id, address, gsi_base) in io_apics {
        body.extend_from_slice(&[1, 12, id, 0]);
        body.extend_from_slice(&address.to_le_bytes());
        body.extend_from_slice(&gsi_base.to_le_bytes());
    }
    // An interrupt source override after, which must be skipped by its length.
    body.extend_from_slice(&[2, 10, 0, 0, 2, 0, 0, 0, 0, 0]);
    table(b"APIC", &body)
}

fn rsdt(entries: &[u32]) -> Vec<u8> {
    let body: Vec<u8> = entries
        .iter()
        .flat_map(|entry| entry.to_le_bytes())
        .collect();
    table(b"RSDT", &body)
}

fn xsdt(entries: &[u64]) -> Vec<u8> {
    let body: Vec<u8> = entries
        .iter()
        .flat_map(|entry| entry.to_le_bytes())
        .collect();
    table(b"XSDT", &body)
}

/// A Q35-like machine: RSDP v2 at `0xf5a00` in the BIOS area, XSDT listing a FACP
/// stand-in, the MADT and the MCFG.
fn q35_like() -> Memory {
    let mut memory = Memory::default();
    memory.place(0xf_5a00, rsdp_v2(0x7fe_1000, 0x7fe_2000));
    memory.place(0x7fe_1000, rsdt(&[0x7fe_3000, 0x7fe_4000, 0x7fe_5000]));
    memory.place(0x7fe_2000, xsdt(&[0x7fe_3000, 0x7fe_4000, 0x7fe_5000]));
    memory.place(0x7fe_3000, table(b"FACP", &[0u8; 20]));
    memory.place(0x7fe_4000, madt(&[(0, 0xfec0_0000, 0)]));
    memory.place(0x7fe_5000, mcfg(&[(0xb000_0000, 0, 0, 0xff)]));
    memory
}

#[test]
fn q35_tables_give_the_ecam_window_and_the_io_apic() {
    let memory = q35_like();
    let platform = discover(&memory, Some(0xf_5a00)).unwrap();
    assert_eq!(
        platform.ecam,
        Some(EcamRegion {
            base: 0xb000_0000,
            segment: 0,
            start_bus: 0,
            end_bus: 0xff
        })
    );
    assert_eq!(
        platform.io_apic,
        Some(IoApicEntry {
            id: 0,
            address: 0xfec0_0000,
            gsi_base: 0
        })
    );
    let ecam = platform.ecam.unwrap();
    assert_eq!(ecam.window_length(), 256 << 20);
    assert_eq!(
        ecam.register_address(1, 2, 3, 0x40),
        Some(0xb000_0000 + (1 << 20) + (2 << 15) + (3 << 12) + 0x40)
    );
    assert_eq!(ecam.register_address(0, 32, 0, 0), None);
    assert_eq!(ecam.register_address(0, 0, 0, 4096), None);
}

#[test]
fn the_rsdp_is_found_by_scanning_when_not_handed_over() {
    let memory = q35_like();
    assert_eq!(find_rsdp(&memory, None), Ok(0xf_5a00));
    assert_eq!(find_rsdp(&memory, Some(0)), Ok(0xf_5a00));
    assert_eq!(find_rsdp(&Memory::default(), None), Err(AcpiError::NoRsdp));
}

#[test]
fn a_scan_of_a_whole_bios_area_skips_a_signature_that_does_not_check() {
    // The BIOS area readable whole, as on a PC: the scan reads it a block at a time.
    let mut area = vec![0u8; 0x2_0000];
    let mut damaged = rsdp_v1(0x7fe_1000);
    damaged[8] ^= 1;
    area[0x1000..0x1000 + damaged.len()].copy_from_slice(&damaged);
    let good = rsdp_v1(0x7fe_1000);
    area[0x1_0410..0x1_0410 + good.len()].copy_from_slice(&good);
    let mut memory = Memory::default();
    memory.place(0xe_0000, area);
    assert_eq!(find_rsdp(&memory, None), Ok(0xf_0410));
    // Found in the last candidate a block holds, too.
    let mut area = vec![0u8; 0x2_0000];
    area[0x1_03f0..0x1_03f0 + good.len()].copy_from_slice(&good);
    memory.place(0xe_0000, area);
    assert_eq!(find_rsdp(&memory, None), Ok(0xf_03f0));
}

#[test]
fn an_rsdt_only_machine_without_mcfg_has_no_ecam() {
    // The PC (i440FX): revision 0 RSDP, no MCFG.
    let mut memory = Memory::default();
    memory.place(0xf_6000, rsdp_v1(0x7fe_1000));
    memory.place(0x7fe_1000, rsdt(&[0x7fe_4000]));
    memory.place(0x7fe_4000, madt(&[(1, 0xfec1_0000, 0)]));
    let platform = discover(&memory, None).unwrap();
    assert_eq!(platform.ecam, None);
    assert_eq!(platform.io_apic.map(|io| io.address), Some(0xfec1_0000));
}

#[test]
fn only_the_io_apic_serving_gsi_0_is_taken() {
    let mut memory = q35_like();
    memory.place(
        0x7fe_4000,
        madt(&[(2, 0xfec8_0000, 24), (3, 0xfec4_0000, 0)]),
    );
    let platform = discover(&memory, Some(0xf_5a00)).unwrap();
    assert_eq!(
        platform.io_apic.map(|io| (io.id, io.address)),
        Some((3, 0xfec4_0000))
    );
}

#[test]
fn an_mcfg_window_not_covering_bus_0_of_segment_0_is_not_used() {
    let mut memory = q35_like();
    memory.place(
        0x7fe_5000,
        mcfg(&[(0xc000_0000, 1, 0, 0xff), (0xd000_0000, 0, 0x80, 0xff)]),
    );
    assert_eq!(discover(&memory, Some(0xf_5a00)).unwrap().ecam, None);
}

#[test]
fn damaged_tables_are_errors_not_panics() {
    // A bad table checksum.
    let mut memory = q35_like();
    let mut broken = mcfg(&[(0xb000_0000, 0, 0, 0xff)]);
    broken[40] ^= 0xff;
    memory.place(0x7fe_5000, broken);
    assert_eq!(
        discover(&memory, Some(0xf_5a00)),
        Err(AcpiError::BadChecksum {
            address: 0x7fe_5000,
            signature: *b"MCFG"
        })
    );
    // A length beyond what was placed: unreadable, not an out-of-bounds read.
    let mut memory = q35_like();
    let mut long = madt(&[(0, 0xfec0_0000, 0)]);
    long[4..8].copy_from_slice(&4000u32.to_le_bytes());
    memory.place(0x7fe_4000, long);
    assert!(matches!(
        discover(&memory, Some(0xf_5a00)),
        Err(AcpiError::Unreadable { .. })
    ));
    // An impossible length.
    let mut memory = q35_like();
    let mut short = table(b"APIC", &[]);
    short[4..8].copy_from_slice(&10u32.to_le_bytes());
    memory.place(0x7fe_4000, short);
    assert!(matches!(
        discover(&memory, Some(0xf_5a00)),
        Err(AcpiError::BadLength { length: 10, .. })
    ));
    // A handed-over RSDP that is not one.
    let memory = q35_like();
    assert_eq!(
        discover(&memory, Some(0x7fe_3000)),
        Err(AcpiError::BadRsdp(0x7fe_3000))
    );
    // A root table entry of the wrong kind.
    let mut memory = q35_like();
    memory.place(0xf_5a00, rsdp_v2(0x7fe_3000, 0x7fe_3000));
    assert_eq!(
        discover(&memory, None),
        Err(AcpiError::WrongSignature {
            address: 0x7fe_3000,
            expected: *b"XSDT"
        })
    );
}

#[test]
fn madt_entries_with_zero_length_end_the_walk() {
    let mut body = Vec::new();
    body.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0]);
    let mut memory = q35_like();
    memory.place(0x7fe_4000, table(b"APIC", &body));
    assert_eq!(discover(&memory, Some(0xf_5a00)).unwrap().io_apic, None);
}

/// A FADT of ACPI 2.0's length pointing at the DSDT by its 64-bit field alone.
fn fadt(dsdt: u64) -> Vec<u8> {
    let mut body = vec![0u8; 244 - 36];
    body[140 - 36..148 - 36].copy_from_slice(&dsdt.to_le_bytes());
    table(b"FACP", &body)
}

/// A microvm-like machine: two I/O APICs and a DSDT declaring one virtio-mmio device
/// at GSI 24, on the second.
fn microvm_like(dsdt_body: &[u8]) -> Memory {
    let mut memory = Memory::default();
    memory.place(0xf_5a00, rsdp_v2(0x7fe_1000, 0x7fe_2000));
    memory.place(0x7fe_2000, xsdt(&[0x7fe_3000, 0x7fe_4000]));
    memory.place(0x7fe_1000, rsdt(&[0x7fe_3000, 0x7fe_4000]));
    memory.place(0x7fe_3000, fadt(0x7fe_6000));
    memory.place(
        0x7fe_4000,
        madt(&[(0, 0xfec0_0000, 0), (1, 0xfec1_0000, 24)]),
    );
    memory.place(0x7fe_6000, table(b"DSDT", dsdt_body));
    memory
}

/// `Device (VR00) { Name (_HID, "LNRO0005") Name (_CRS, ResourceTemplate () {
/// Memory32Fixed (ReadWrite, 0xfeb00000, 0x200) Interrupt (…) { 24 } }) }`.
const VIRTIO_DEVICE_AML: &[u8] = &[
    0x5b, 0x82, 0x31, b'V', b'R', b'0', b'0', // Device, length, name
    0x08, b'_', b'H', b'I', b'D', 0x0d, b'L', b'N', b'R', b'O', b'0', b'0', b'0', b'5', 0x00, 0x08,
    b'_', b'C', b'R', b'S', 0x11, 0x19, 0x0a, 0x16, // Name, Buffer, size
    0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xb0, 0xfe, 0x00, 0x02, 0x00, 0x00, // Memory32Fixed
    0x89, 0x06, 0x00, 0x09, 0x01, 0x18, 0x00, 0x00, 0x00, // Interrupt { 24 }
    0x79, 0x00, // End
];

#[test]
fn the_dsdt_through_the_fadt_gives_virtio_mmio_devices() {
    let memory = microvm_like(VIRTIO_DEVICE_AML);
    let platform = discover(&memory, Some(0xf_5a00)).unwrap();
    let devices: Vec<_> = platform.virtio_mmio.unwrap().iter().collect();
    assert_eq!(
        devices,
        [crate::virtio_mmio::MmioDevice {
            base: 0xfeb0_0000,
            size: 0x200,
            interrupt: 24
        }]
    );
}

#[test]
fn a_damaged_dsdt_costs_only_its_devices() {
    let mut memory = microvm_like(VIRTIO_DEVICE_AML);
    let mut broken = table(b"DSDT", VIRTIO_DEVICE_AML);
    broken[40] ^= 0xff;
    memory.place(0x7fe_6000, broken);
    let platform = discover(&memory, Some(0xf_5a00)).unwrap();
    assert!(matches!(
        platform.virtio_mmio,
        Err(AcpiError::BadChecksum { .. })
    ));
    assert_eq!(platform.io_apic.map(|io| io.address), Some(0xfec0_0000));
    // Without a FADT there is no DSDT to read, and that is no error.
    let q35 = discover(&q35_like(), Some(0xf_5a00)).unwrap();
    assert_eq!(q35.virtio_mmio.map(|devices| devices.is_empty()), Ok(true));
}

#[test]
fn each_gsi_is_served_by_the_io_apic_whose_range_holds_it() {
    let memory = microvm_like(VIRTIO_DEVICE_AML);
    let platform = discover(&memory, Some(0xf_5a00)).unwrap();
    let serving = |gsi| {
        platform
            .io_apic_for(gsi)
            .map(|(apic, input)| (apic.address, input))
    };
    assert_eq!(serving(5), Some((0xfec0_0000, 5)));
    assert_eq!(serving(23), Some((0xfec0_0000, 23)));
    assert_eq!(serving(24), Some((0xfec1_0000, 0)));
    assert_eq!(serving(47), Some((0xfec1_0000, 23)));
    assert_eq!(serving(48), None);
}

#[test]
fn the_oem_id_tells_firecrackers_tables() {
    let platform = discover(&q35_like(), Some(0xf_5a00)).unwrap();
    assert_eq!(&platform.oem_id, b"ETHOS ");
    assert!(!platform.is_firecracker());
    let mut memory = Memory::default();
    let mut rsdp = rsdp_v1(0x7fe_1000);
    rsdp[9..15].copy_from_slice(b"FIRECK");
    fix_checksum(&mut rsdp, 8);
    memory.place(0xe_0000, rsdp);
    memory.place(0x7fe_1000, rsdt(&[0x7fe_4000]));
    memory.place(0x7fe_4000, madt(&[(0, 0xfec0_0000, 0)]));
    assert!(discover(&memory, None).unwrap().is_firecracker());
}

proptest::proptest! {
    #[test]
    fn byte_sum_is_the_byte_loop_sum(
        start in proptest::prelude::any::<u8>(),
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
    ) {
        let expected = bytes.iter().fold(start, |sum, byte| sum.wrapping_add(*byte));
        proptest::prop_assert_eq!(byte_sum(start, &bytes), expected);
    }
}
