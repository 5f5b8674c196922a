//! Virtio-mmio devices: the ones the command line announces (`virtio_mmio.device=`,
//! as Firecracker and QEMU's `microvm` without ACPI pass them) and the ones the DSDT
//! declares (QEMU's `microvm` with ACPI), each bound to the native driver of its
//! class like a PCI device, through `ethos-virtio`'s virtio-mmio transport, with its
//! interrupt routed through the I/O APIC serving its GSI.

use alloc::vec::Vec;
use core::fmt;

use ethos_abi::drivers::{Backend, DeviceClass};
use ethos_core::virtio_mmio::{MmioDevice, MmioDevices};
use ethos_virtio::{MmioError, MmioTransport};
use virtio_drivers::transport::{DeviceType, Transport};

use super::{BindError, DeviceLocation, Devices, InterruptLine, VirtioTransport};
use crate::{arch, memory};

/// Why a virtio-mmio device was not bound.
#[derive(Debug)]
pub(super) enum MmioBindError {
    /// Its window could not be mapped.
    Map,
    /// Its window holds no usable virtio-mmio device.
    Transport(MmioError),
    /// Its device type is none of the classes the native drivers serve.
    Unserved(DeviceType),
    /// The class's driver did not start.
    Bind(BindError),
}

impl fmt::Display for MmioBindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmioBindError::Map => write!(f, "its register window cannot be mapped"),
            MmioBindError::Transport(error) => write!(f, "{error}"),
            MmioBindError::Unserved(device_type) => {
                write!(f, "no native driver serves virtio {device_type:?} devices")
            }
            MmioBindError::Bind(error) => write!(f, "{error}"),
        }
    }
}

/// Every virtio-mmio device the machine announces: the command line's first, then
/// the DSDT's that the command line did not name (a VMM may give both).
pub(super) fn announced(command_line: &MmioDevices) -> Vec<MmioDevice> {
    let mut devices: Vec<MmioDevice> = command_line.iter().collect();
    match arch::firmware_platform().map(|platform| platform.virtio_mmio) {
        Ok(Ok(declared)) => devices.extend(
            declared
                .iter()
                .filter(|device| !command_line.has_base(device.base)),
        ),
        Ok(Err(error)) => {
            tracing::warn!(%error, "the DSDT could not be read; its virtio-mmio devices are unknown");
        }
        // No usable ACPI: the probe already said so.
        Err(_) => {}
    }
    devices
}

/// The class a virtio device type serves.
fn class_of(device_type: DeviceType) -> Option<DeviceClass> {
    match device_type {
        DeviceType::Network => Some(DeviceClass::Network),
        DeviceType::Block => Some(DeviceClass::Block),
        DeviceType::EntropySource => Some(DeviceClass::Entropy),
        _ => None,
    }
}

/// Binds the native driver of `device`'s class, unless the class is chosen for
/// another backend (`Ok(None)`: NetBSD's drivers in the rump kernel see PCI only).
pub(super) fn bind(
    devices: &mut Devices,
    device: MmioDevice,
) -> Result<Option<DeviceClass>, MmioBindError> {
    let size = usize::try_from(device.size).map_err(|_| MmioBindError::Map)?;
    {
        let mut guard = memory::FRAMES.lock();
        let frames = guard.as_mut().ok_or(MmioBindError::Map)?;
        arch::map_device_memory(device.base, device.size, frames)
            .map_err(|_| MmioBindError::Map)?;
    }
    // SAFETY: the window is the device's own register region, as the VMM announced
    // it (command line or DSDT), mapped uncached just above; each announced region
    // is bound once, by this probe alone.
    let window = unsafe { arch::DeviceMemoryWindow::new(device.base, size) };
    let transport = MmioTransport::new(window).map_err(MmioBindError::Transport)?;
    let device_type = transport.device_type();
    let class = class_of(device_type).ok_or(MmioBindError::Unserved(device_type))?;
    if devices.backends.backend(class) != Backend::Native {
        return Ok(None);
    }
    let line = match u8::try_from(device.interrupt) {
        Ok(gsi) if gsi < arch::DEVICE_LINES => InterruptLine::route(gsi),
        _ => {
            tracing::warn!(%device, "interrupt beyond the routed GSIs; polling only");
            InterruptLine::NONE
        }
    };
    super::attach(
        devices,
        DeviceLocation::Mmio(device),
        VirtioTransport::Mmio(transport),
        line,
        class,
    )
    .map_err(MmioBindError::Bind)?;
    Ok(Some(class))
}
