use std::collections::BTreeMap;

use ethos_core::pci::{Bar, ConfigSpace, FunctionAddress, PciFunction, capability};
use virtio_drivers::transport::DeviceType;

use super::{LayoutError, ModernLayout, Region, device_type};

const FUNCTION: FunctionAddress = FunctionAddress {
    bus: 0,
    device: 3,
    function: 0,
};
const BAR_ADDRESS: u64 = 0xfe00_0000;

/// One function's configuration space, by dword.
#[derive(Default)]
struct Config(BTreeMap<u16, u32>);

impl ConfigSpace for Config {
    fn read(&self, function: FunctionAddress, offset: u16) -> u32 {
        assert_eq!(function, FUNCTION);
        assert_eq!(offset % 4, 0, "configuration space is read by dwords");
        self.0.get(&offset).copied().unwrap_or(u32::MAX)
    }

    fn write(&mut self, _: FunctionAddress, _: u16, _: u32) {
        panic!("finding the layout writes nothing");
    }
}

/// A function with a 16 KiB memory BAR 4, an I/O BAR 0 and the vendor
/// capabilities `(offset in config space, cfg_type, bar, offset, length)`; a
/// notification capability (type 2) is 20 bytes with multiplier 4, the others 16.
fn virtio_function(capabilities: &[(u8, u8, u8, u32, u32)]) -> (Config, PciFunction) {
    let mut config = Config::default();
    for &(at, kind, bar, offset, length) in capabilities {
        let at = u16::from(at);
        let cap_len: u32 = if kind == 2 { 20 } else { 16 };
        config.0.insert(
            at,
            u32::from(capability::VENDOR) | (cap_len << 16) | (u32::from(kind) << 24),
        );
        config.0.insert(at + 4, u32::from(bar));
        config.0.insert(at + 8, offset);
        config.0.insert(at + 12, length);
        if kind == 2 {
            config.0.insert(at + 16, 4);
        }
    }
    let mut bars = [None; 6];
    bars[0] = Some(Bar::Io {
        port: 0xc000,
        size: 0x40,
    });
    bars[4] = Some(Bar::Memory {
        address: BAR_ADDRESS,
        size: 0x4000,
        prefetchable: true,
        wide: true,
    });
    let function = PciFunction {
        address: FUNCTION,
        vendor_id: 0x1af4,
        device_id: 0x1044,
        class: 0xff,
        subclass: 0,
        programming_interface: 0,
        revision: 1,
        header_type: 0,
        interrupt_line: 11,
        interrupt_pin: 1,
        bars,
        capabilities: capabilities
            .iter()
            .map(|&(at, ..)| (capability::VENDOR, at))
            .chain([(capability::MSI_X, 0x98)])
            .collect(),
    };
    (config, function)
}

/// QEMU's layout: common, ISR, device, notify, each 4 KiB apart in BAR 4.
const QEMU: [(u8, u8, u8, u32, u32); 4] = [
    (0x84, 1, 4, 0x0000, 0x1000),
    (0x74, 3, 4, 0x1000, 0x1000),
    (0x64, 4, 4, 0x2000, 0x1000),
    (0x50, 2, 4, 0x3000, 0x1000),
];

#[test]
fn structures_are_found_in_the_memory_bar() {
    let (config, function) = virtio_function(&QEMU);
    let layout = ModernLayout::find(&config, &function).unwrap();
    let at = |offset, length| Region {
        address: BAR_ADDRESS + offset,
        length,
    };
    assert_eq!(
        layout,
        ModernLayout {
            common: at(0, 0x1000),
            notify: at(0x3000, 0x1000),
            notify_off_multiplier: 4,
            isr: at(0x1000, 0x1000),
            device: Some(at(0x2000, 0x1000)),
        }
    );
}

#[test]
fn the_first_usable_instance_of_each_structure_is_taken() {
    // A common configuration in the I/O BAR, then one past the end of BAR 4, then
    // the usable one; a second ISR is ignored.
    let (config, function) = virtio_function(&[
        (0x40, 1, 0, 0x0, 0x38),
        (0x50, 1, 4, 0x3ff0, 0x38),
        (0x60, 1, 4, 0x100, 0x38),
        (0x70, 3, 4, 0x1000, 1),
        (0x80, 3, 4, 0x1800, 1),
        (0x90, 2, 4, 0x2000, 0x100),
    ]);
    let layout = ModernLayout::find(&config, &function).unwrap();
    assert_eq!(layout.common.address, BAR_ADDRESS + 0x100);
    assert_eq!(layout.isr.address, BAR_ADDRESS + 0x1000);
    assert_eq!(layout.device, None);
}

#[test]
fn a_missing_or_unusable_structure_is_named() {
    let (config, function) = virtio_function(&[]);
    assert_eq!(
        ModernLayout::find(&config, &function),
        Err(LayoutError::Missing {
            structure: "common configuration"
        })
    );
    // A common configuration shorter than virtio 1.0's layout is not usable.
    let (config, function) = virtio_function(&[(0x40, 1, 4, 0, 0x20), (0x50, 2, 4, 0x1000, 4)]);
    assert_eq!(
        ModernLayout::find(&config, &function),
        Err(LayoutError::Missing {
            structure: "common configuration"
        })
    );
    let (config, function) = virtio_function(&QEMU[..3]);
    assert_eq!(
        ModernLayout::find(&config, &function),
        Err(LayoutError::Missing {
            structure: "notification"
        })
    );
    let mut unassigned = virtio_function(&QEMU);
    unassigned.1.bars[4] = Some(Bar::Memory {
        address: 0,
        size: 0x4000,
        prefetchable: true,
        wide: true,
    });
    assert!(ModernLayout::find(&unassigned.0, &unassigned.1).is_err());
}

#[test]
fn device_types_come_from_transitional_and_modern_ids() {
    assert_eq!(device_type(0x1000), Some(DeviceType::Network));
    assert_eq!(device_type(0x1001), Some(DeviceType::Block));
    assert_eq!(device_type(0x1005), Some(DeviceType::EntropySource));
    assert_eq!(device_type(0x1041), Some(DeviceType::Network));
    assert_eq!(device_type(0x1042), Some(DeviceType::Block));
    assert_eq!(device_type(0x1044), Some(DeviceType::EntropySource));
    assert_eq!(device_type(0x1040), None);
    assert_eq!(device_type(0x1100), None);
}
