//! Finds devices at boot and binds drivers to them: the drivers this kernel has,
//! keyed by (class, backend) ([`DRIVERS`]), checked against the backend chosen for
//! each class before anything is probed; PCI enumeration (through ECAM where the
//! ACPI MCFG describes a window, else port I/O), BAR mapping, INTx routing; the
//! `@ethos device` line of every class served; and the slots the rest of the kernel
//! takes devices from, one per class.
//!
//! A device whose driver fails to start is reported and left alone; a class with
//! no device is reported by name (and has no device line) and the kernel goes on. A
//! class is never served by another backend than the one chosen for it. Nothing
//! here may panic on what a device reports.

mod interrupts;
mod mmio;
mod msix;
mod net_queues;
mod virtio_hal;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use ethos_abi::Report;
use ethos_abi::drivers::driver_name::{SMOLTCP, UART_16550, VIRTIO_BLK, VIRTIO_NET, VIRTIO_RNG};
use ethos_core::pci::{self, Bar, ConfigSpace, DeviceMatch, PciFunction, Registry, register};
use ethos_core::virtio_mmio::{MmioDevice, MmioDevices};
use ethos_devices::backends::{self, find_driver};
use ethos_devices::{
    Backend, BackendChoice, BackendUnavailable, BlockDevice, Datagram, DeviceClass, DriverEntry,
    EntropyError, EntropySource, Inventory, NetworkDevice,
};
use ethos_net::{NetConfig, NetStack};
use spin::Mutex;

use ethos_virtio::devices::{BLOCK_QUEUE_SIZE, ENTROPY_QUEUE_SIZE, NET_QUEUE_SIZE};
use ethos_virtio::pci::{ModernLayout, Region};
use ethos_virtio::{LegacyTransport, Machine, ModernError, ModernTransport, ModernWindows};
pub use interrupts::{
    InterruptLine, device_event, line_event, line_fired, message_fired, total as interrupts_total,
    totals as interrupt_totals, unmask_line,
};

use crate::{arch, console, memory, time};

/// This platform, as the native virtio drivers see it.
#[derive(Debug)]
struct X86Machine;

impl Machine for X86Machine {
    type Hal = virtio_hal::KernelHal;
    type Ports = arch::IoWindow;
    type Memory = arch::DeviceMemoryWindow;
    type Interrupt = InterruptLine;
    type NetQueues =
        net_queues::RawNetQueues<virtio_hal::KernelHal, VirtioTransport, NET_QUEUE_SIZE>;
}

type VirtioTransport = ethos_virtio::VirtioTransport<arch::IoWindow, arch::DeviceMemoryWindow>;
type VirtioBlock = ethos_virtio::VirtioBlock<X86Machine>;
type VirtioNetwork = ethos_virtio::VirtioNetwork<X86Machine>;
type VirtioEntropy = ethos_virtio::VirtioEntropy<X86Machine>;

const VIRTIO_VENDOR: u16 = 0x1af4;

/// Every driver this kernel has, keyed by (class, backend): the native ones, and,
/// in a kernel built with the `rump` feature, NetBSD's network interfaces, TCP/IP
/// and disk driver in a rump kernel.
pub const DRIVERS: &[DriverEntry] = &[
    native(DeviceClass::Network, VIRTIO_NET),
    native(DeviceClass::Datagram, SMOLTCP),
    native(DeviceClass::Block, VIRTIO_BLK),
    native(DeviceClass::Entropy, VIRTIO_RNG),
    native(DeviceClass::Console, UART_16550),
    #[cfg(feature = "rump")]
    rump(
        DeviceClass::Network,
        ethos_abi::drivers::driver_name::RUMP_VIOIF,
    ),
    #[cfg(feature = "rump")]
    rump(
        DeviceClass::Datagram,
        ethos_abi::drivers::driver_name::RUMP_NETINET,
    ),
    #[cfg(feature = "rump")]
    rump(DeviceClass::Block, ethos_abi::drivers::driver_name::RUMP_LD),
];

const fn native(class: DeviceClass, driver: &'static str) -> DriverEntry {
    DriverEntry {
        class,
        backend: Backend::Native,
        driver,
    }
}

#[cfg(feature = "rump")]
const fn rump(class: DeviceClass, driver: &'static str) -> DriverEntry {
    DriverEntry {
        class,
        backend: Backend::Rump,
        driver,
    }
}

/// A PCI driver the registry can bind.
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

/// Where a bound device is: a PCI function, or a virtio-mmio region.
#[derive(Clone, Debug)]
pub enum DeviceLocation {
    Pci(PciFunction),
    Mmio(MmioDevice),
}

impl fmt::Display for DeviceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceLocation::Pci(function) => write!(f, "{function}"),
            DeviceLocation::Mmio(device) => write!(f, "virtio-mmio {device}"),
        }
    }
}

/// One device a driver was bound to.
#[derive(Debug)]
pub struct BoundDevice {
    pub location: DeviceLocation,
    pub class: DeviceClass,
    pub backend: Backend,
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
    Modern(ModernError),
    Start(ethos_virtio::StartError),
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
            BindError::Modern(error) => write!(f, "modern virtio transport: {error}"),
            BindError::Start(error) => write!(f, "{error}"),
        }
    }
}

/// Which backend and driver serve a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serving {
    pub class: DeviceClass,
    pub backend: Backend,
    pub driver: &'static str,
}

/// What the probe found and the devices it holds until a user takes them.
pub struct Devices {
    pub functions: Vec<PciFunction>,
    pub bound: Vec<BoundDevice>,
    pub inventory: Inventory,
    /// The backend chosen for each class.
    pub backends: BackendChoice,
    /// What serves each class, by [`DeviceClass::index`]; `None` for a class
    /// nothing serves.
    serving: [Option<Serving>; DeviceClass::ALL.len()],
    /// How configuration space was reached: `ecam` or `port-io`.
    pub config_access: &'static str,
    network: Option<Box<dyn NetworkDevice + Send>>,
    block: Option<Box<dyn BlockDevice + Send>>,
    entropy: Option<Box<dyn EntropySource + Send>>,
    /// The datagram service of a backend that comes with its own stack (rump).
    datagram: Option<Box<dyn Datagram + Send>>,
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

/// Whether the rump kernel's drivers are refused DMA memory (`rump.dma=refuse`).
static REFUSE_RUMP_DMA: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Has every DMA allocation a rump kernel's driver asks for refused, so that a
/// regression run shows the failed request reported and the kernel going on. Takes
/// effect for a rump kernel started afterwards (by [`probe`]); in a kernel without
/// one it changes nothing.
pub fn refuse_rump_dma(refuse: bool) {
    REFUSE_RUMP_DMA.store(refuse, core::sync::atomic::Ordering::Relaxed);
}

/// Whether [`refuse_rump_dma`] asked for refusals.
pub fn rump_dma_refused() -> bool {
    REFUSE_RUMP_DMA.load(core::sync::atomic::Ordering::Relaxed)
}

impl Devices {
    /// What serves `class`, if anything does.
    pub fn serving(&self, class: DeviceClass) -> Option<Serving> {
        self.serving[class.index()]
    }

    /// Records what serves `class`; the first device bound for a class serves it.
    fn serve(&mut self, class: DeviceClass, backend: Backend, driver: &'static str) {
        self.serving[class.index()].get_or_insert(Serving {
            class,
            backend,
            driver,
        });
    }
}

/// Runs `body` on what the probe found (nothing before the probe).
pub fn with_devices<R>(body: impl FnOnce(&mut Devices) -> R) -> Option<R> {
    DEVICES.lock().as_mut().map(body)
}

/// Takes the first network device out of its slot.
pub fn take_network() -> Option<Box<dyn NetworkDevice + Send>> {
    with_devices(|devices| devices.network.take()).flatten()
}

/// Takes the datagram service: the stack of the backend chosen for the class,
/// over the network device, which leaves its slot. `None` when no network device
/// was found or it was taken.
pub fn take_datagram() -> Option<Box<dyn Datagram + Send>> {
    let serving = with_devices(|devices| devices.serving(DeviceClass::Datagram)).flatten()?;
    if serving.backend == Backend::Rump {
        return with_devices(|devices| devices.datagram.take()).flatten();
    }
    // The boot check admits only the drivers of `DRIVERS`, whose other datagram
    // stack is the native one; anything else would be a stack this kernel lacks.
    if (serving.backend, serving.driver) != (Backend::Native, SMOLTCP) {
        tracing::warn!(
            backend = serving.backend.name(),
            driver = serving.driver,
            "this kernel has no such datagram stack"
        );
        return None;
    }
    let device = take_network()?;
    let mac = device.mac_address();
    let config = NetConfig::for_mac(mac);
    tracing::info!(
        address = %config.address,
        prefix = config.prefix_length,
        mac = ?mac,
        backend = serving.backend.name(),
        driver = serving.driver,
        "datagram service up"
    );
    let now_ms = time::since_boot_nanos().unwrap_or(0) / 1_000_000;
    Some(Box::new(NetStack::new(device, config, now_ms)))
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

/// The modern transport over the structures `layout` found, each in a window of
/// its own.
fn modern_transport(
    function: &PciFunction,
    layout: ModernLayout,
) -> Result<VirtioTransport, BindError> {
    let device_type =
        ethos_virtio::pci::device_type(function.device_id).ok_or(BindError::NoUsableTransport)?;
    let window = |region: Region| {
        // SAFETY: `ModernLayout::find` placed every region inside an assigned memory
        // BAR of this function, which `map_bars` mapped uncached at its physical
        // address, and this probe binds exactly one driver to the function.
        unsafe { arch::DeviceMemoryWindow::new(region.address, region.length) }
    };
    let windows = ModernWindows {
        common: window(layout.common),
        notify: window(layout.notify),
        notify_off_multiplier: layout.notify_off_multiplier,
        isr: window(layout.isr),
        device: layout.device.map(window),
    };
    ModernTransport::new(device_type, windows)
        .map(VirtioTransport::Modern)
        .map_err(BindError::Modern)
}

/// The modern transport where the device has one, else the legacy one (a
/// transitional device ID with registers in I/O BAR 0).
fn transport(
    config: &arch::PciConfig,
    function: &PciFunction,
    class: DeviceClass,
) -> Result<VirtioTransport, BindError> {
    match ModernLayout::find(config, function) {
        Ok(layout) => return modern_transport(function, layout),
        Err(error) => tracing::debug!(%function, %error, "no modern virtio transport"),
    }
    let device_type =
        ethos_virtio::pci::device_type(function.device_id).filter(|_| function.device_id < 0x1040);
    let (Some(device_type), Some(Bar::Io { port, size })) = (device_type, function.bars[0]) else {
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
    let transport = transport(&config, function, class)?;
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
    attach(
        devices,
        DeviceLocation::Pci(function.clone()),
        transport,
        line,
        class,
    )?;
    if let Some(msix) = msix
        && let Err(error) = msix.route_queues()
    {
        msix.disable(&mut config, function);
        tracing::warn!(%function, %error, "MSI-X queues not routed; polling only");
    }
    Ok(())
}

/// Starts the native driver of `class` over `transport` and records the device at
/// `location` as serving the class (the first of a class serves; a second is kept
/// unused). PCI and virtio-mmio devices alike end here.
fn attach(
    devices: &mut Devices,
    location: DeviceLocation,
    transport: VirtioTransport,
    line: InterruptLine,
    class: DeviceClass,
) -> Result<(), BindError> {
    let generation = transport.generation();
    let (driver, slot_taken) = match class {
        DeviceClass::Network => {
            let device = VirtioNetwork::new(transport, line).map_err(BindError::Start)?;
            let taken = devices.network.is_some();
            devices.network.get_or_insert_with(|| Box::new(device));
            (VIRTIO_NET, taken)
        }
        DeviceClass::Block => {
            let device = VirtioBlock::new(transport, line).map_err(BindError::Start)?;
            let taken = devices.block.is_some();
            devices.block.get_or_insert_with(|| Box::new(device));
            (VIRTIO_BLK, taken)
        }
        DeviceClass::Entropy => {
            let device = VirtioEntropy::new(transport, line).map_err(BindError::Start)?;
            let taken = devices.entropy.is_some();
            devices.entropy.get_or_insert_with(|| Box::new(device));
            (VIRTIO_RNG, taken)
        }
        DeviceClass::Datagram | DeviceClass::Console => {
            return Err(BindError::NoUsableTransport);
        }
    };
    if slot_taken {
        tracing::info!(%location, driver, "a second device of the class is not used yet");
    }
    devices.inventory.add(class);
    devices.serve(class, Backend::Native, driver);
    devices.bound.push(BoundDevice {
        location,
        class,
        backend: Backend::Native,
        driver,
        transport: generation,
        line,
    });
    Ok(())
}

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

/// Whether NetBSD, in the rump kernel, may see `function`: a network device when
/// the network class is chosen rump, a virtio disk when the block class is. Every
/// other function stays hidden from it, so no device has two drivers.
#[cfg(feature = "rump")]
fn given_to_rump(function: &PciFunction, choice: &BackendChoice) -> bool {
    let rump = |class| choice.backend(class) == Backend::Rump;
    let virtio =
        |ids: [u16; 2]| function.vendor_id == VIRTIO_VENDOR && ids.contains(&function.device_id);
    let intel_ethernet = function.vendor_id == 0x8086 && function.class == 0x02;
    (rump(DeviceClass::Network) && (virtio([0x1000, 0x1041]) || intel_ethernet))
        || (rump(DeviceClass::Block) && virtio([0x1001, 0x1042]))
}

/// Boots the rump kernel with the functions it may drive, then brings up the
/// interface NetBSD attached and records what serves the rump classes. A failure
/// is reported and the classes stay unserved (the kernel goes on).
#[cfg(feature = "rump")]
fn start_rump(
    devices: &mut Devices,
    config: arch::PciConfig,
    functions: &[PciFunction],
    choice: &BackendChoice,
) {
    use ethos_abi::drivers::driver_name::{RUMP_LD, RUMP_NETINET};

    let visible: Vec<_> = functions
        .iter()
        .filter(|function| given_to_rump(function, choice))
        .map(|function| function.address)
        .collect();
    crate::rump::pci::set_visible(visible);
    let memory_limit = crate::boot_image::rump_memory_limit().unwrap_or_else(|error| {
        tracing::warn!(%error, "the image's rump memory limit is unreadable; the default");
        ethos_abi::arguments::DEFAULT_RUMP_KERNEL_MEMORY
    });
    let started = match crate::rump::start(config, memory_limit) {
        Ok(started) => started,
        Err(error) => {
            tracing::warn!(%error, "rump kernel not started; its classes are not served");
            return;
        }
    };
    tracing::info!(
        boot_ms = started.boot_nanos / 1_000_000,
        memory_limit,
        "rump kernel booted"
    );
    if choice.backend(DeviceClass::Block) == Backend::Rump {
        match crate::rump::block::RumpDisk::open() {
            Ok(disk) => {
                tracing::info!(
                    device = %crate::rump::block::WHOLE_DISK.to_string_lossy(),
                    block_size = disk.block_size(),
                    blocks = disk.capacity_blocks(),
                    "rump disk ready"
                );
                devices.inventory.add(DeviceClass::Block);
                devices.serve(DeviceClass::Block, Backend::Rump, RUMP_LD);
                devices.block = Some(Box::new(disk));
            }
            Err(error) => tracing::warn!(%error, "no rump disk"),
        }
    }
    if choice.backend(DeviceClass::Network) != Backend::Rump {
        return;
    }
    match crate::rump::configure_network(functions) {
        Ok(interface) => {
            tracing::info!(
                interface = interface.name,
                address = %interface.config.address,
                prefix = interface.config.prefix_length,
                mac = ?interface.mac,
                "rump network interface up"
            );
            devices.inventory.add(DeviceClass::Network);
            devices.serve(DeviceClass::Network, Backend::Rump, interface.name);
            if choice.backend(DeviceClass::Datagram) == Backend::Rump {
                // The class is served once its address carries datagrams, as the
                // native stack's is from the start.
                match crate::rump::wait_for_address(&interface) {
                    Ok(waited) => tracing::info!(
                        address = %interface.config.address,
                        waited_ms = waited / 1_000_000,
                        "rump address usable after duplicate address detection"
                    ),
                    Err(error @ crate::rump::AddressError::Duplicated) => {
                        tracing::warn!(%error, "rump datagrams not served");
                        return;
                    }
                    Err(error) => tracing::warn!(%error, "rump datagrams served regardless"),
                }
                devices.inventory.add(DeviceClass::Datagram);
                devices.serve(DeviceClass::Datagram, Backend::Rump, RUMP_NETINET);
                devices.datagram = Some(Box::new(crate::rump::datagram::RumpDatagram::new(
                    interface,
                )));
            }
        }
        Err(error) => tracing::warn!(%error, "no rump network interface"),
    }
}

/// The classes an inventory has no device of, as `network,block`.
struct MissingClasses<'a>(&'a Inventory);

impl fmt::Display for MissingClasses<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, class) in self.0.missing().enumerate() {
            if index > 0 {
                formatter.write_str(",")?;
            }
            formatter.write_str(class.name())?;
        }
        Ok(())
    }
}

/// Says which device was bound last, and how.
fn log_bound(devices: &Devices) {
    if let Some(bound) = devices.bound.last() {
        tracing::info!(
            device = %bound.location,
            driver = bound.driver,
            transport = bound.transport,
            interrupt = bound.line.kind(),
            line = ?bound.line.line(),
            backend = bound.backend.name(),
            "device bound"
        );
    }
}

/// Checks that this kernel has a driver for the backend chosen for every class,
/// then enumerates PCI (unless `pci` is false: the command line's `pci=off`) and
/// the virtio-mmio devices of the command line and the DSDT, binds
/// the native driver of every device whose class is chosen native, says which
/// classes have no device, and reports the device line
/// of every class served. The serial console always exists, so it is always
/// counted. A choice the kernel cannot serve is the error, and nothing is probed.
pub fn probe(
    choice: &BackendChoice,
    pci: bool,
    mmio_devices: &MmioDevices,
) -> Result<(), BackendUnavailable> {
    backends::check_choice(choice, DRIVERS)?;
    let mut config = config_access();
    let functions = if pci {
        tracing::info!(access = config.name(), "PCI configuration space");
        pci::enumerate(&mut config)
    } else {
        tracing::info!("PCI left alone (pci=off)");
        Vec::new()
    };
    let registry = registry();
    let mut devices = Devices {
        functions: Vec::new(),
        bound: Vec::new(),
        inventory: Inventory::default(),
        backends: *choice,
        serving: [None; DeviceClass::ALL.len()],
        config_access: config.name(),
        network: None,
        block: None,
        entropy: None,
        datagram: None,
    };
    devices.inventory.add(DeviceClass::Console);
    devices.serve(
        DeviceClass::Console,
        Backend::Native,
        console::driver_name(),
    );
    for function in &functions {
        tracing::debug!(%function, "PCI function");
        let Some(Driver::Virtio(class)) = registry.driver_for(function) else {
            continue;
        };
        // Only a class chosen native is bound by a native driver.
        if find_driver(DRIVERS, class, choice.backend(class))
            .is_none_or(|entry| entry.backend != Backend::Native)
        {
            continue;
        }
        match bind(&mut devices, config, function, class) {
            Ok(()) => log_bound(&devices),
            Err(error) => tracing::warn!(%function, %error, "driver did not start"),
        }
    }
    for device in mmio::announced(mmio_devices) {
        match mmio::bind(&mut devices, device) {
            Ok(Some(_)) => log_bound(&devices),
            Ok(None) => {
                tracing::info!(%device, "virtio-mmio device left alone: its class is not native")
            }
            Err(error) => tracing::warn!(%device, %error, "virtio-mmio driver did not start"),
        }
    }
    #[cfg(feature = "rump")]
    if DeviceClass::ALL
        .iter()
        .any(|class| choice.backend(*class) == Backend::Rump)
    {
        start_rump(&mut devices, config, &functions, choice);
    }
    // The datagram stack of the chosen backend serves over the network device (a
    // rump stack serves over its own, above).
    if let Some(network) = devices.serving(DeviceClass::Network)
        && choice.backend(DeviceClass::Datagram) == Backend::Native
        && let Some(stack) = find_driver(
            DRIVERS,
            DeviceClass::Datagram,
            choice.backend(DeviceClass::Datagram),
        )
    {
        tracing::info!(
            over = network.driver,
            driver = stack.driver,
            "datagram stack chosen"
        );
        devices.inventory.add(DeviceClass::Datagram);
        devices.serve(DeviceClass::Datagram, stack.backend, stack.driver);
    }
    // One line names every missing class (a line each cost some 1,500 instructions
    // of the boot on a machine without devices).
    if devices.inventory.missing().next().is_some() {
        tracing::warn!(
            classes = %MissingClasses(&devices.inventory),
            "no device of these classes; going on without"
        );
    }
    for class in DeviceClass::ALL {
        if let Some(serving) = devices.serving(class) {
            console::report(Report::Device {
                class,
                backend: serving.backend,
                driver: serving.driver,
            });
        }
    }
    devices.functions = functions;
    *DEVICES.lock() = Some(devices);
    Ok(())
}
