//! Host tests of PCI enumeration against a model of configuration space.

use std::collections::BTreeMap;

use super::*;

/// A function's registers, with per-register masks for writable bits (BARs).
#[derive(Default)]
struct ModelFunction {
    registers: BTreeMap<u16, u32>,
    writable: BTreeMap<u16, u32>,
}

#[derive(Default)]
struct Model {
    functions: BTreeMap<FunctionAddress, ModelFunction>,
}

impl ConfigSpace for Model {
    fn read(&self, function: FunctionAddress, offset: u16) -> u32 {
        match self.functions.get(&function) {
            Some(model) => model.registers.get(&offset).copied().unwrap_or(0),
            None => u32::MAX,
        }
    }
    fn write(&mut self, function: FunctionAddress, offset: u16, value: u32) {
        if let Some(model) = self.functions.get_mut(&function) {
            let mask = model.writable.get(&offset).copied().unwrap_or(0);
            let old = model.registers.get(&offset).copied().unwrap_or(0);
            model
                .registers
                .insert(offset, (old & !mask) | (value & mask));
        }
    }
}

fn at(bus: u8, device: u8, function: u8) -> FunctionAddress {
    FunctionAddress {
        bus,
        device,
        function,
    }
}

fn virtio_net() -> ModelFunction {
    let mut model = ModelFunction::default();
    model.registers.insert(0x00, 0x1000_1af4);
    model
        .registers
        .insert(0x04, register::STATUS_CAPABILITIES | 0x7);
    model.registers.insert(0x08, 0x0200_0000);
    // BAR0: I/O at 0xc040, 32 ports.
    model.registers.insert(0x10, 0xc041);
    model.writable.insert(0x10, 0xffff_ffe0);
    // BAR1: 32-bit memory at 0xfebd_1000, 4 KiB.
    model.registers.insert(0x14, 0xfebd_1000);
    model.writable.insert(0x14, 0xffff_f000);
    // BAR4/5: 64-bit prefetchable memory at 0x8_0000_0000, 16 KiB.
    model.registers.insert(0x20, 0x0000_000c);
    model.writable.insert(0x20, 0xffff_c000);
    model.registers.insert(0x24, 0x8);
    model.writable.insert(0x24, 0xffff_ffff);
    model.registers.insert(0x34, 0x98);
    model
        .registers
        .insert(0x98, 0x8400 | capability::MSI_X as u32);
    model
        .registers
        .insert(0x84, 0x7000 | capability::VENDOR as u32);
    model.registers.insert(0x70, capability::VENDOR as u32);
    model.registers.insert(0x3c, 0x010b);
    model
}

#[test]
fn bars_are_sized_and_restored() {
    let mut model = Model::default();
    model.functions.insert(at(0, 3, 0), virtio_net());
    let bars = size_bars(&mut model, at(0, 3, 0));
    assert_eq!(
        bars[0],
        Some(Bar::Io {
            port: 0xc040,
            size: 32
        })
    );
    assert_eq!(
        bars[1],
        Some(Bar::Memory {
            address: 0xfebd_1000,
            size: 4096,
            prefetchable: false,
            wide: false
        })
    );
    assert_eq!(
        bars[4],
        Some(Bar::Memory {
            address: 0x8_0000_0000,
            size: 16 * 1024,
            prefetchable: true,
            wide: true
        })
    );
    assert_eq!(bars[5], None);
    assert_eq!(model.read(at(0, 3, 0), 0x10), 0xc041, "BAR restored");
    assert_eq!(
        model.read(at(0, 3, 0), 0x04) & 0x7,
        0x7,
        "decoding restored"
    );
}

#[test]
fn enumeration_finds_functions_behind_bridges_and_reads_capabilities() {
    let mut model = Model::default();
    let mut host = ModelFunction::default();
    host.registers.insert(0x00, 0x1237_8086);
    host.registers.insert(0x08, 0x0600_0000);
    model.functions.insert(at(0, 0, 0), host);
    let mut bridge = ModelFunction::default();
    bridge.registers.insert(0x00, 0x0001_1b36);
    bridge.registers.insert(0x08, 0x0604_0000);
    bridge.registers.insert(0x0c, 0x0001_0000);
    bridge.registers.insert(0x18, 0x0000_0500);
    model.functions.insert(at(0, 2, 0), bridge);
    model.functions.insert(at(5, 1, 0), virtio_net());

    let found = enumerate(&mut model);
    let addresses: Vec<_> = found.iter().map(|function| function.address).collect();
    assert_eq!(addresses, [at(0, 0, 0), at(0, 2, 0), at(5, 1, 0)]);
    let net = &found[2];
    assert_eq!((net.vendor_id, net.device_id), (0x1af4, 0x1000));
    assert_eq!((net.class, net.subclass), (2, 0));
    assert_eq!((net.interrupt_line, net.interrupt_pin), (0x0b, 1));
    assert_eq!(
        net.capabilities,
        [
            (capability::MSI_X, 0x98),
            (capability::VENDOR, 0x84),
            (capability::VENDOR, 0x70)
        ]
    );
    assert_eq!(net.capability(capability::MSI_X), Some(0x98));
}

#[test]
fn a_looping_capability_list_ends() {
    let mut model = Model::default();
    let mut function = virtio_net();
    function
        .registers
        .insert(0x98, 0x9800 | capability::MSI_X as u32);
    model.functions.insert(at(0, 4, 0), function);
    assert_eq!(capabilities(&model, at(0, 4, 0)).len(), 48);
}

#[test]
fn the_registry_prefers_the_first_match() {
    let mut model = Model::default();
    model.functions.insert(at(0, 3, 0), virtio_net());
    let found = enumerate(&mut model);
    let mut registry = Registry::default();
    registry.register(DeviceMatch::vendor_device(0x1af4, 0x1000), "virtio-net");
    registry.register(DeviceMatch::class(0x02, 0x00), "any ethernet");
    assert_eq!(registry.driver_for(&found[0]), Some("virtio-net"));
    let mut other = found[0].clone();
    other.vendor_id = 0x8086;
    assert_eq!(registry.driver_for(&other), Some("any ethernet"));
    other.class = 0x01;
    assert_eq!(registry.driver_for(&other), None);
}

/// An ECAM window that reads zeros where no function is, as Firecracker's does.
struct ZeroWindow(Model);

impl ConfigSpace for ZeroWindow {
    fn read(&self, function: FunctionAddress, offset: u16) -> u32 {
        match self.0.functions.get(&function) {
            Some(_) => self.0.read(function, offset),
            None => 0,
        }
    }
    fn write(&mut self, function: FunctionAddress, offset: u16, value: u32) {
        self.0.write(function, offset, value);
    }
}

#[test]
fn a_window_of_zeros_holds_no_ghost_functions() {
    let mut model = Model::default();
    model.functions.insert(at(0, 3, 0), virtio_net());
    let found = enumerate(&mut ZeroWindow(model));
    let addresses: Vec<FunctionAddress> = found.iter().map(|function| function.address).collect();
    assert_eq!(addresses, [at(0, 3, 0)]);
}
