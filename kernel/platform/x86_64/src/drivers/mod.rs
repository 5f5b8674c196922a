//! Finds devices at boot and binds drivers to them: PCI enumeration (through ECAM
//! where the ACPI MCFG describes a window, else port I/O), the registry of native
//! drivers, BAR mapping, INTx routing, and the slots the rest of the kernel
//! takes devices from, one per class.
//!
//! A device whose driver fails to start is reported and left alone; a class with
//! no device is reported by name and the kernel goes on. Nothing here may panic on
//! what a device reports.

mod interrupts;
mod msix;
mod virtio_hal;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use ethos_core::pci::{self, Bar, ConfigSpace, DeviceMatch, PciFunction, Registry, register};
use ethos_devices::{
    Backend, BlockDevice, DeviceClass, EntropyError, EntropySource, Inventory, NetworkDevice,
};
use spin::Mutex;
use virtio_drivers::transport::DeviceType;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{DeviceFunction, PciRoot};

use ethos_virtio::devices::{BLOCK_QUEUE_SIZE, ENTROPY_QUEUE_SIZE, NET_QUEUE_SIZE};
use ethos_virtio::{DeviceInterrupt, LegacyTransport, Machine, PortWindow};
pub use interrupts::{
    InterruptLine, line_fired, message_fired, total as interrupts_total, totals as interrupt_totals,
};
use virtio_drivers::transport::InterruptStatus;

use crate::{arch, memory};

/// This platform, as the native virtio drivers see it.
#[derive(Debug)]
struct X86Machine;

impl Machine for X86Machine {
    type Hal = virtio_hal::KernelHal;
    type Ports = arch::IoWindow;
    type Interrupt = InterruptLine;
}

impl PortWindow for arch::IoWindow {
    fn read8(&self, offset: u16) -> u8 {
        arch::IoWindow::read8(self, offset)
    }
    fn read16(&self, offset: u16) -> u16 {
        arch::IoWindow::read16(self, offset)
    }
    fn read32(&self, offset: u16) -> u32 {
        arch::IoWindow::read32(self, offset)
    }
    fn write8(&mut self, offset: u16, value: u8) {
        arch::IoWindow::write8(self, offset, value);
    }
    fn write16(&mut self, offset: u16, value: u16) {
        arch::IoWindow::write16(self, offset, value);
    }
    fn write32(&mut self, offset: u16, value: u32) {
        arch::IoWindow::write32(self, offset, value);
    }
}

impl DeviceInterrupt for InterruptLine {
    fn service(self, acknowledge: impl FnOnce() -> InterruptStatus) {
        InterruptLine::service(self, acknowledge);
    }
}

type VirtioTransport = ethos_virtio::VirtioTransport<arch::IoWindow>;
type VirtioBlock = ethos_virtio::VirtioBlock<X86Machine>;
type VirtioNetwork = ethos_virtio::VirtioNetwork<X86Machine>;
type VirtioEntropy = ethos_virtio::VirtioEntropy<X86Machine>;

const VIRTIO_VENDOR: u16 = 0x1af4;

/// A native driver the registry can bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    Virtio(DeviceClass),
}

fn registry() -> Registry<Driver> {
    let mut registry = Registry::default();
    for (device_id, class) in [
        (0x1000, DeviceClass::Network),
        (0x1041, DeviceClass::Network),
        (0x1001, DeviceClass::Block),
        (0x1042, DeviceClass::Block),
        (0x1005, DeviceClass::Entropy),
        (0x1044, DeviceClass::Entropy),
    ] {
        registry.register(
            DeviceMatch::vendor_device(VIRTIO_VENDOR, device_id),
            Driver::Virtio(class),
        );
    }
    registry
}

/// One device a driver was bound to.
#[derive(Debug)]
pub struct BoundDevice {
    pub function: PciFunction,
    pub class: DeviceClass,
    pub driver: &'static str,
    pub transport: &'static str,
    pub line: InterruptLine,
}

/// Why a driver did not start on a device.
#[derive(Debug)]
enum BindError {
    NoUsableTransport,
    LegacyQueueSize {
        queue: u16,
        device: u16,
        driver: u16,
    },
    MapBar(u64),
    Virtio(virtio_drivers::Error),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::NoUsableTransport => {
                write!(f, "neither a modern nor a legacy virtio transport answers")
            }
            BindError::LegacyQueueSize {
                queue,
                device,
                driver,
            } => write!(
                f,
                "legacy queue {queue} has {device} entries, the driver needs {driver} \
                 (give the device `queue-size={driver}`)"
            ),
            BindError::MapBar(address) => write!(f, "cannot map the BAR at {address:#x}"),
            BindError::Virtio(error) => write!(f, "virtio: {error}"),
        }
    }
}

/// What the probe found and the devices it holds until a user takes them.
pub struct Devices {
    pub functions: Vec<PciFunction>,
    pub bound: Vec<BoundDevice>,
    pub inventory: Inventory,
    /// How configuration space was reached: `ecam` or `port-io`.
    pub config_access: &'static str,
    network: Option<Box<dyn NetworkDevice + Send>>,
    block: Option<Box<dyn BlockDevice + Send>>,
    entropy: Option<Box<dyn EntropySource + Send>>,
}

impl core::fmt::Debug for Devices {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter
            .debug_struct("Devices")
            .field("functions", &self.functions.len())
            .field("bound", &self.bound.len())
            .finish_non_exhaustive()
    }
}

static DEVICES: Mutex<Option<Devices>> = Mutex::new(None);

/// Runs `body` on what the probe found (nothing before the probe).
pub fn with_devices<R>(body: impl FnOnce(&mut Devices) -> R) -> Option<R> {
    DEVICES.lock().as_mut().map(body)
}

/// Takes the first network device out of its slot.
pub fn take_network() -> Option<Box<dyn NetworkDevice + Send>> {
    with_devices(|devices| devices.network.take()).flatten()
}

/// Takes the first block device out of its slot.
pub fn take_block() -> Option<Box<dyn BlockDevice + Send>> {
    with_devices(|devices| devices.block.take()).flatten()
}

/// Takes the first entropy source out of its slot.
pub fn take_entropy() -> Option<Box<dyn EntropySource + Send>> {
    with_devices(|devices| devices.entropy.take()).flatten()
}

/// Fills `buffer` from the first entropy source, leaving it in its slot; `None` when
/// there is none (or it was taken).
pub fn read_entropy(buffer: &mut [u8]) -> Option<Result<(), EntropyError>> {
    with_devices(|devices| {
        devices
            .entropy
            .as_mut()
            .map(|source| source.fill_all(buffer))
    })
    .flatten()
}

fn enable(config: &mut arch::PciConfig, function: &PciFunction) {
    let command = config.read(function.address, register::COMMAND_STATUS) & 0xffff;
    let command =
        (command | register::COMMAND_IO | register::COMMAND_MEMORY | register::COMMAND_BUS_MASTER)
            & !register::COMMAND_INTX_DISABLE;
    config.write(function.address, register::COMMAND_STATUS, command);
}

fn map_bars(function: &PciFunction) -> Result<(), BindError> {
    for bar in function.bars.iter().flatten() {
        if let Bar::Memory { address, size, .. } = *bar
            && address != 0
        {
            let mut guard = memory::FRAMES.lock();
            let frames = guard.as_mut().ok_or(BindError::MapBar(address))?;
            arch::map_device_memory(address, size, frames)
                .map_err(|_| BindError::MapBar(address))?;
        }
    }
    Ok(())
}

fn legacy_device_type(device_id: u16) -> Option<DeviceType> {
    match device_id {
        0x1000 => Some(DeviceType::Network),
        0x1001 => Some(DeviceType::Block),
        0x1005 => Some(DeviceType::EntropySource),
        _ => None,
    }
}

/// The modern transport where the device has one, else the legacy one.
fn transport(
    config: arch::PciConfig,
    function: &PciFunction,
    class: DeviceClass,
) -> Result<VirtioTransport, BindError> {
    let mut root = PciRoot::new(config);
    let device_function = DeviceFunction {
        bus: function.address.bus,
        device: function.address.device,
        function: function.address.function,
    };
    if let Ok(modern) = PciTransport::new::<virtio_hal::KernelHal, _>(&mut root, device_function) {
        return Ok(VirtioTransport::Modern(modern));
    }
    let (Some(device_type), Some(Bar::Io { port, size })) =
        (legacy_device_type(function.device_id), function.bars[0])
    else {
        return Err(BindError::NoUsableTransport);
    };
    let (Ok(port), Ok(size)) = (u16::try_from(port), u16::try_from(size)) else {
        return Err(BindError::NoUsableTransport);
    };
    // SAFETY: BAR 0 of this function is an I/O BAR the firmware assigned, and this
    // probe binds exactly one driver to the function.
    let window = unsafe { arch::IoWindow::new(port, size) };
    let mut legacy = LegacyTransport::new(device_type, window);
    let needed: &[(u16, u16)] = match class {
        DeviceClass::Network => &[(0, NET_QUEUE_SIZE as u16), (1, NET_QUEUE_SIZE as u16)],
        DeviceClass::Block => &[(0, BLOCK_QUEUE_SIZE)],
        DeviceClass::Entropy => &[(0, ENTROPY_QUEUE_SIZE)],
        DeviceClass::Datagram | DeviceClass::Console => &[],
    };
    for &(queue, driver) in needed {
        let device = legacy.fixed_queue_size(queue);
        if device != driver {
            return Err(BindError::LegacyQueueSize {
                queue,
                device,
                driver,
            });
        }
    }
    Ok(VirtioTransport::Legacy(legacy))
}

fn bind(
    devices: &mut Devices,
    mut config: arch::PciConfig,
    function: &PciFunction,
    class: DeviceClass,
) -> Result<(), BindError> {
    enable(&mut config, function);
    map_bars(function)?;
    let transport = transport(config, function, class)?;
    let generation = transport.generation();
    let intx = || {
        if function.interrupt_pin != 0 && function.interrupt_line != 0xff {
            InterruptLine::route(function.interrupt_line)
        } else {
            InterruptLine::NONE
        }
    };
    // MSI-X only on the modern transport (see `msix`); INTx otherwise.
    let (msix, line) = match &transport {
        VirtioTransport::Modern(_) if function.capability(pci::capability::MSI_X).is_some() => {
            match msix::enable(&mut config, function) {
                Ok((msix, line)) => (Some(msix), line),
                Err(error) => {
                    tracing::warn!(%function, %error, "MSI-X not used; INTx");
                    (None, intx())
                }
            }
        }
        _ => (None, intx()),
    };
    let (driver, slot_taken) = match class {
        DeviceClass::Network => {
            let device = VirtioNetwork::new(transport, line).map_err(BindError::Virtio)?;
            let taken = devices.network.is_some();
            devices.network.get_or_insert_with(|| Box::new(device));
            ("virtio-net", taken)
        }
        DeviceClass::Block => {
            let device = VirtioBlock::new(transport, line).map_err(BindError::Virtio)?;
            let taken = devices.block.is_some();
            devices.block.get_or_insert_with(|| Box::new(device));
            ("virtio-blk", taken)
        }
        DeviceClass::Entropy => {
            let device = VirtioEntropy::new(transport, line).map_err(BindError::Virtio)?;
            let taken = devices.entropy.is_some();
            devices.entropy.get_or_insert_with(|| Box::new(device));
            ("virtio-rng", taken)
        }
        DeviceClass::Datagram | DeviceClass::Console => {
            return Err(BindError::NoUsableTransport);
        }
    };
    if let Some(msix) = msix
        && let Err(error) = msix.route_queues()
    {
        msix.disable(&mut config, function);
        tracing::warn!(%function, %error, "MSI-X queues not routed; polling only");
    }
    if slot_taken {
        tracing::info!(%function, driver, "a second device of the class is not used yet");
    }
    devices.inventory.add(class);
    devices.bound.push(BoundDevice {
        function: function.clone(),
        class,
        driver,
        transport: generation,
        line,
    });
    Ok(())
}

/// Enumerates PCI, binds every native driver that matches, and says which classes
/// have no device. The serial console always exists, so it is always counted.
/// The configuration-space access this machine offers: ECAM when the firmware
/// tables describe a window that maps, else port I/O.
fn config_access() -> arch::PciConfig {
    let ecam = match arch::firmware_platform() {
        Ok(platform) => {
            tracing::info!(
                rsdp = %format_args!("{:#x}", platform.rsdp),
                ecam_base = %format_args!("{:#x}", platform.ecam.map_or(0, |ecam| ecam.base)),
                ecam_buses = ?platform.ecam.map(|ecam| ecam.start_bus..=ecam.end_bus),
                io_apic = %format_args!("{:#x}", platform.io_apic.map_or(0, |io| io.address)),
                "ACPI tables (0: absent)"
            );
            platform.ecam
        }
        Err(error) => {
            tracing::warn!(%error, "ACPI tables not usable; port I/O and defaults");
            None
        }
    };
    let mut guard = memory::FRAMES.lock();
    let Some(frames) = guard.as_mut() else {
        return arch::PciConfig::Port(arch::PortConfigSpace);
    };
    arch::PciConfig::for_platform(ecam, frames).unwrap_or_else(|error| {
        tracing::warn!(%error, "ECAM window not mapped; port I/O");
        arch::PciConfig::Port(arch::PortConfigSpace)
    })
}

pub fn probe() {
    let mut config = config_access();
    tracing::info!(access = config.name(), "PCI configuration space");
    let functions = pci::enumerate(&mut config);
    let registry = registry();
    let mut devices = Devices {
        functions: Vec::new(),
        bound: Vec::new(),
        inventory: Inventory::default(),
        config_access: config.name(),
        network: None,
        block: None,
        entropy: None,
    };
    devices.inventory.add(DeviceClass::Console);
    for function in &functions {
        tracing::debug!(%function, "PCI function");
        let Some(Driver::Virtio(class)) = registry.driver_for(function) else {
            continue;
        };
        match bind(&mut devices, config, function, class) {
            Ok(()) => {
                if let Some(bound) = devices.bound.last() {
                    tracing::info!(
                        function = %bound.function,
                        driver = bound.driver,
                        transport = bound.transport,
                        interrupt = bound.line.kind(),
                        line = ?bound.line.line(),
                        backend = Backend::Native.name(),
                        "device bound"
                    );
                }
            }
            Err(error) => tracing::warn!(%function, %error, "driver did not start"),
        }
    }
    // The native datagram stack serves over the network device.
    if devices.inventory.count(DeviceClass::Network) > 0 {
        devices.inventory.add(DeviceClass::Datagram);
    }
    for class in devices.inventory.missing() {
        tracing::warn!(
            class = class.name(),
            "no device of this class; going on without"
        );
    }
    devices.functions = functions;
    *DEVICES.lock() = Some(devices);
}
