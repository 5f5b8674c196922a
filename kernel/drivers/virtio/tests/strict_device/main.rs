//! The native transports, and `virtio-drivers`' device drivers over them, against a
//! model device that enforces the virtio specification (see `model`): every access
//! at its width, no 8-byte access, the status one step at a time and FEATURES_OK
//! checked, queues set up at the right moment. The model first shows it refuses the
//! crate's own initialisation sequence and an 8-byte write, so these tests can fail.
//!
//! This test crate holds `unsafe`, where `ethos-virtio` may not: its `guest` module
//! stands in for a platform's DMA (`virtio_drivers::Hal` is an unsafe trait).

mod guest;
mod model;

use ethos_devices::{BlockDevice, EntropySource, NetworkDevice, block_check};
use ethos_virtio::{
    DeviceInterrupt, LegacyTransport, Machine, MemoryWindow, MmioError, MmioTransport, ModernError,
    ModernTransport, ModernWindows, Refusal, StartError, VirtioBlock, VirtioEntropy, VirtioNetwork,
    VirtioTransport,
};
use virtio_drivers::transport::{DeviceType, InterruptStatus, Transport};

use model::{
    Access, DRIVER_OK, Device, FAILED, Function, Interface, ModelPorts, ModelWindow,
    NOTIFY_OFF_MULTIPLIER, Shared, Structure,
};

/// The machine the drivers run on here: the model's windows and guest memory.
#[derive(Debug)]
struct ModelMachine;

impl Machine for ModelMachine {
    type Hal = guest::GuestHal;
    type Ports = ModelPorts;
    type Memory = ModelWindow;
    type Interrupt = Polled;
    type NetQueues = ethos_virtio::WaitingNetQueues<
        guest::GuestHal,
        ModelTransport,
        { ethos_virtio::devices::NET_QUEUE_SIZE },
    >;
}

/// No interrupt line: the drivers poll, and acknowledge the device after each
/// request as they would a line.
#[derive(Clone, Copy, Debug)]
struct Polled;

impl DeviceInterrupt for Polled {
    fn service(self, acknowledge: impl FnOnce() -> InterruptStatus) {
        acknowledge();
    }
}

type ModelTransport = VirtioTransport<ModelPorts, ModelWindow>;

bitflags::bitflags! {
    /// Feature bits for calling `begin_init` directly.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        const VERSION_1 = 1 << 32;
    }
}

const INTERFACES: [Interface; 4] = [
    Interface::ModernPci,
    Interface::LegacyPci,
    Interface::Mmio,
    Interface::MmioLegacy,
];

fn device_type(function: &Function) -> DeviceType {
    match function {
        Function::Entropy => DeviceType::EntropySource,
        Function::Block { .. } => DeviceType::Block,
        Function::Network { .. } => DeviceType::Network,
    }
}

/// The transport the kernel builds for the model, as its platform would.
fn transport(device: &Shared) -> ModelTransport {
    let (interface, device_type) = {
        let model = device.borrow();
        (model.interface, device_type(&model.function))
    };
    let window = |structure| ModelWindow::new(device, structure);
    match interface {
        Interface::ModernPci => {
            let windows = ModernWindows {
                common: window(Structure::Common),
                notify: window(Structure::Notify),
                notify_off_multiplier: NOTIFY_OFF_MULTIPLIER,
                isr: window(Structure::Isr),
                device: Some(window(Structure::DeviceConfig)),
            };
            VirtioTransport::Modern(ModernTransport::new(device_type, windows).unwrap())
        }
        Interface::LegacyPci => {
            VirtioTransport::Legacy(LegacyTransport::new(device_type, ModelPorts::new(device)))
        }
        Interface::Mmio | Interface::MmioLegacy => {
            VirtioTransport::Mmio(MmioTransport::new(window(Structure::Mmio)).unwrap())
        }
    }
}

/// Runs `test` on a thread of its own and fails if it has not finished within 30
/// seconds: a driver waiting for a device that ignored it spins forever, and that
/// must fail the test, not hang it. (The spinning thread ends with the process.)
fn within_time_limit(test: impl FnOnce() + Send + 'static) {
    let (finished, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(test));
        let _ = finished.send(result);
    });
    match outcome.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the driver waited 30 s for a device that never answered"),
    }
}

/// A model that records violations without panicking, for a test that provokes
/// them.
fn tolerant(mut device: Device) -> Shared {
    device.tolerate_violations = true;
    device.shared()
}

fn assert_no_violations(device: &Shared) {
    let model = device.borrow();
    assert!(
        model.violations.is_empty(),
        "{:?} saw the specification broken: {:#?}",
        model.interface,
        model.violations
    );
}

/// The statuses a device takes while its driver starts: reset, then one bit at a
/// time; a legacy device never sees FEATURES_OK.
fn started(interface: Interface) -> Vec<u8> {
    if interface.is_legacy() {
        vec![0, 0x1, 0x3, 0x7]
    } else {
        vec![0, 0x1, 0x3, 0xb, 0xf]
    }
}

#[test]
fn the_model_refuses_acknowledge_and_driver_in_one_status_write() {
    for interface in [Interface::ModernPci, Interface::Mmio] {
        let device = tolerant(Device::new(interface, Function::Entropy));
        // The inner transports keep the crate's provided `begin_init`: the sequence
        // the kernel ran before, which Firecracker refuses.
        match transport(&device) {
            VirtioTransport::Modern(mut modern) => {
                Transport::begin_init(&mut modern, Features::VERSION_1);
            }
            VirtioTransport::Mmio(mut mmio) => {
                Transport::begin_init(&mut mmio, Features::VERSION_1);
            }
            VirtioTransport::Legacy(_) => unreachable!(),
        }
        let model = device.borrow();
        assert!(
            model.violations[0].contains("transition 0x0 -> 0x3"),
            "{interface:?}: {:#?}",
            model.violations
        );
        assert!(
            !model.history.contains(&0x3),
            "the write was not carried out"
        );
    }
}

#[test]
fn the_model_refuses_an_eight_byte_access() {
    let device = tolerant(Device::new(Interface::ModernPci, Function::Entropy));
    let mut transport = transport(&device);
    transport.begin_init(Features::VERSION_1);
    let address = 0x1_2345_6000u64;
    let mut model = device.borrow_mut();
    model.access(Structure::Common, 0x16, 2, Access::Write(0));
    model.access(Structure::Common, 0x20, 8, Access::Write(address));
    assert!(
        model.violations[0].contains("invalid data length for virtio access: len 8"),
        "{:#?}",
        model.violations
    );
    assert_eq!(
        model.queues[0].descriptors, 0,
        "the write was not carried out"
    );
    // The same address as two 32-bit halves is what the device takes.
    model.access(
        Structure::Common,
        0x20,
        4,
        Access::Write(address & 0xffff_ffff),
    );
    model.access(Structure::Common, 0x24, 4, Access::Write(address >> 32));
    assert_eq!(model.queues[0].descriptors, address);
    assert_eq!(model.violations.len(), 1);
}

#[test]
fn the_model_refuses_queues_before_features_ok_and_notifications_before_driver_ok() {
    let device = tolerant(Device::new(Interface::ModernPci, Function::Entropy));
    let VirtioTransport::Modern(mut modern) = transport(&device) else {
        unreachable!()
    };
    modern.queue_set(0, 8, 0x1_0000_0000, 0x1_0000_0080, 0x1_0000_1000);
    modern.notify(0);
    let model = device.borrow();
    assert!(
        model.violations[0].contains("queues are set up after FEATURES_OK"),
        "{:#?}",
        model.violations
    );
    assert!(
        model
            .violations
            .last()
            .unwrap()
            .contains("not after DRIVER_OK"),
        "{:#?}",
        model.violations
    );
    assert!(!model.queues[0].enabled);
}

#[test]
fn entropy_starts_and_is_served_by_the_specification_on_every_transport() {
    within_time_limit(|| {
        for interface in INTERFACES {
            let device = Device::new(interface, Function::Entropy).shared();
            let mut entropy =
                VirtioEntropy::<ModelMachine>::new(transport(&device), Polled).unwrap();
            let mut bytes = [0u8; 32];
            assert_eq!(entropy.fill(&mut bytes).unwrap(), 32, "{interface:?}");
            assert_eq!(bytes, std::array::from_fn(|index| index as u8));
            assert_no_violations(&device);
            {
                let model = device.borrow();
                assert_eq!(model.history, started(interface), "{interface:?}");
                assert_eq!(model.served, 1);
                // The rings lie above 4 GiB: both halves of each address reached the
                // device, or it could not have served the request.
                assert!(model.queues[0].descriptors > u64::from(u32::MAX));
            }
            drop(entropy);
            assert_no_violations(&device);
            let model = device.borrow();
            if interface == Interface::LegacyPci {
                assert!(!model.queues[0].enabled, "the legacy queue is stopped");
            } else {
                assert_eq!(model.status, 0, "{interface:?}: dropping the driver resets");
            }
        }
    });
}

#[test]
fn block_passes_the_class_checks_on_every_transport() {
    within_time_limit(|| {
        for interface in INTERFACES {
            let disk = vec![0u8; 64 * 512];
            let device = Device::new(interface, Function::Block { disk }).shared();
            let mut block = VirtioBlock::<ModelMachine>::new(transport(&device), Polled).unwrap();
            // The capacity is a 64-bit field: read as two 32-bit halves.
            assert_eq!(block.capacity_blocks(), 64, "{interface:?}");
            block_check::write_pattern(&mut block, 7).unwrap();
            block_check::verify_pattern(&mut block, 7).unwrap();
            block_check::check_beyond_capacity(&mut block).unwrap();
            assert_no_violations(&device);
            let model = device.borrow();
            assert_eq!(model.history, started(interface), "{interface:?}");
            let Function::Block { disk } = &model.function else {
                unreachable!()
            };
            assert!(
                disk.iter().any(|&byte| byte != 0),
                "the pattern reached the disk"
            );
        }
    });
}

#[test]
fn network_reads_its_address_at_byte_width_on_every_transport() {
    within_time_limit(|| {
        let mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        for interface in INTERFACES {
            let device = Device::new(interface, Function::Network { mac }).shared();
            let network = VirtioNetwork::<ModelMachine>::new(transport(&device), Polled).unwrap();
            assert_eq!(network.mac_address(), mac, "{interface:?}");
            assert_no_violations(&device);
            let model = device.borrow();
            assert_eq!(model.history, started(interface), "{interface:?}");
            assert!(model.queues.iter().all(|queue| queue.enabled));
        }
    });
}

#[test]
fn a_device_refusing_the_features_is_marked_failed_and_not_started() {
    within_time_limit(|| {
        for interface in [Interface::ModernPci, Interface::Mmio] {
            let mut model = Device::new(interface, Function::Entropy);
            model.refuse_features = true;
            let device = model.shared();
            let error = VirtioEntropy::<ModelMachine>::new(transport(&device), Polled).unwrap_err();
            assert_eq!(
                error,
                StartError::Refused(Refusal::FeaturesNotAccepted { status: 0x3 }),
                "{interface:?}"
            );
            assert!(error.to_string().contains("FEATURES_OK did not stick"));
            // Nothing reached the device after FAILED: no queue, no DRIVER_OK, and the
            // transport's drop left it FAILED rather than resetting it.
            assert_no_violations(&device);
            let model = device.borrow();
            assert_eq!(model.history, [0, 0x1, 0x3, 0x3 | FAILED]);
            assert_eq!(model.status & DRIVER_OK, 0);
            assert!(model.queues.iter().all(|queue| !queue.enabled));
        }
    });
}

#[test]
fn features_are_written_in_halves_and_version_1_reaches_the_device() {
    for interface in [Interface::ModernPci, Interface::Mmio] {
        let device = Device::new(interface, Function::Entropy).shared();
        let mut transport = transport(&device);
        let negotiated = transport.begin_init(Features::VERSION_1);
        assert_eq!(negotiated, Features::VERSION_1);
        assert_no_violations(&device);
        assert_eq!(device.borrow().driver_features, 1 << 32, "{interface:?}");
    }
}

/// A window of fixed 32-bit registers, for regions that are not the model.
#[derive(Debug)]
struct FixedRegisters {
    words: Vec<u32>,
}

impl FixedRegisters {
    fn mmio(magic: u32, version: u32, device_id: u32) -> FixedRegisters {
        let mut words = vec![0; 0x100 / 4];
        words[..3].copy_from_slice(&[magic, version, device_id]);
        FixedRegisters { words }
    }
}

impl MemoryWindow for FixedRegisters {
    fn length(&self) -> usize {
        self.words.len() * 4
    }
    fn read8(&self, _: usize) -> u8 {
        panic!("only 32-bit registers here")
    }
    fn read16(&self, _: usize) -> u16 {
        panic!("only 32-bit registers here")
    }
    fn read32(&self, offset: usize) -> u32 {
        self.words[offset / 4]
    }
    fn write8(&mut self, _: usize, _: u8) {
        panic!("nothing is written while a region is checked")
    }
    fn write16(&mut self, _: usize, _: u16) {
        panic!("nothing is written while a region is checked")
    }
    fn write32(&mut self, _: usize, _: u32) {
        panic!("nothing is written while a region is checked")
    }
}

#[test]
fn a_region_without_a_usable_virtio_mmio_device_is_refused_with_its_reason() {
    let magic = ethos_virtio::mmio::MAGIC;
    let refusal = |window| MmioTransport::new(window).map(|_| ()).unwrap_err();
    assert_eq!(
        refusal(FixedRegisters::mmio(0xffff_ffff, 2, 4)),
        MmioError::BadMagic { found: 0xffff_ffff }
    );
    assert_eq!(
        refusal(FixedRegisters::mmio(magic, 3, 4)),
        MmioError::UnsupportedVersion { version: 3 }
    );
    assert_eq!(
        refusal(FixedRegisters::mmio(magic, 2, 0)),
        MmioError::NoDevice
    );
    assert_eq!(
        refusal(FixedRegisters::mmio(magic, 1, 99)),
        MmioError::UnknownDevice { device_id: 99 }
    );
    let short = FixedRegisters {
        words: vec![magic, 2, 4],
    };
    assert_eq!(refusal(short), MmioError::RegionTooSmall { length: 12 });
    assert!(MmioError::NoDevice.to_string().contains("no device"));
    let legacy = MmioTransport::new(FixedRegisters::mmio(magic, 1, 2)).unwrap();
    assert_eq!(legacy.version(), ethos_virtio::MmioVersion::Legacy);
    assert_eq!(legacy.device_type(), DeviceType::Block);
    // Dropping it would reset the device; these registers take no writes.
    std::mem::forget(legacy);
}

#[test]
fn a_modern_structure_shorter_than_its_layout_is_refused() {
    let short = |words: usize| FixedRegisters {
        words: vec![0; words],
    };
    let windows = ModernWindows {
        common: short(0x20 / 4),
        notify: short(1),
        notify_off_multiplier: 4,
        isr: short(1),
        device: None,
    };
    let error = ModernTransport::new(DeviceType::EntropySource, windows)
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        error,
        ModernError::StructureTooShort {
            structure: "common configuration",
            length: 0x20,
            needed: 0x38
        }
    );
}
