//! The PCI hypercalls NetBSD's PCI glue (`librumpdev_pci`) calls: configuration
//! space through the kernel's own access (ECAM or port I/O), memory BARs mapped
//! uncached, port I/O from ring 0, INTx through the I/O APIC delivered to an
//! interrupt thread, and DMA memory that is physically contiguous.
//!
//! The C names and types are fixed by `pci_user.h` of the rump build (built with
//! its I/O space and DMA-free features). Every request is checked: a bad one (a
//! register past the header, an unknown interrupt cookie, a DMA size or alignment the
//! kernel cannot give) is an error back to NetBSD and a warning here, never a panic.
//!
//! Interrupts: one kernel thread per INTx line a driver established. The interrupt
//! path masks the line and signals the line's event; the thread wakes, enters the
//! rump kernel (`rumpuser_component_schedule`), runs every handler of the line,
//! leaves it, and unmasks the line — the order §4.2 of the rumpuser reference asks
//! for a level-triggered line.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ffi::{c_int, c_uint, c_ulong, c_void};

use ethos_core::pci::{ConfigSpace, FunctionAddress};
use ethos_core::threads::EventId;
use spin::Mutex;

use crate::arch::{self, PciConfig};
use crate::drivers::{self, InterruptLine};
use crate::kernel_threads::{self, ThreadOptions};
use crate::memory;

use super::frames;
use super::host::RUMP_STACK_BYTES;

const EINVAL: c_int = 22;
const ENOMEM: c_int = 12;
const EOPNOTSUPP: c_int = 45;

/// The largest DMA allocation granted in one piece.
const MAXIMUM_DMA_BYTES: usize = 16 * 1024 * 1024;

/// An interrupt handler NetBSD established: it answers whether it claimed the
/// interrupt.
type Handler = unsafe extern "C" fn(*mut c_void) -> c_int;

#[derive(Clone, Copy, Debug)]
struct Establishment {
    handler: Handler,
    argument: usize,
}

#[derive(Debug, Default)]
struct PciState {
    /// Configuration-space access, set when the rump kernel is started.
    config: Option<PciConfig>,
    /// The functions NetBSD may see; every other reads as absent.
    visible: Vec<FunctionAddress>,
    /// INTx line of each cookie `pci_intr_map` handed out.
    lines_by_cookie: BTreeMap<c_uint, u8>,
    /// Handlers of each line that has an interrupt thread.
    handlers: BTreeMap<u8, Vec<Establishment>>,
}

static STATE: Mutex<PciState> = Mutex::new(PciState {
    config: None,
    visible: Vec::new(),
    lines_by_cookie: BTreeMap::new(),
    handlers: BTreeMap::new(),
});

fn with_state<T>(action: impl FnOnce(&mut PciState) -> T) -> T {
    kernel_threads::without_preemption(|| action(&mut STATE.lock()))
}

/// Gives the hypercalls the kernel's configuration-space access.
pub(super) fn set_config_access(config: PciConfig) {
    with_state(|state| state.config = Some(config));
}

/// Shows NetBSD only `functions` (the devices of the classes chosen rump): the rest
/// read as absent, so no device gets a native and a NetBSD driver.
pub fn set_visible(functions: Vec<FunctionAddress>) {
    with_state(|state| state.visible = functions);
}

/// Configuration access to `address`, if NetBSD may see it.
fn access(address: FunctionAddress) -> Option<PciConfig> {
    with_state(|state| {
        state
            .visible
            .contains(&address)
            .then_some(state.config)
            .flatten()
    })
}

/// Interrupts delivered to NetBSD handlers, per line, for reports.
pub fn established_lines() -> Vec<u8> {
    with_state(|state| state.handlers.keys().copied().collect())
}

fn function(
    bus: c_uint,
    device: c_uint,
    function: c_uint,
    register: c_int,
) -> Option<(FunctionAddress, u16)> {
    let register = u16::try_from(register)
        .ok()
        .filter(|r| r % 4 == 0 && *r <= 0xffc)?;
    Some((
        FunctionAddress {
            bus: u8::try_from(bus).ok()?,
            device: u8::try_from(device).ok().filter(|d| *d < 32)?,
            function: u8::try_from(function).ok().filter(|f| *f < 8)?,
        },
        register,
    ))
}

/// `int rumpcomp_pci_iospace_init(void)`: ring 0 may use port I/O already.
#[unsafe(no_mangle)]
pub extern "C" fn rumpcomp_pci_iospace_init() -> c_int {
    0
}

/// `int rumpcomp_pci_confread(unsigned bus, unsigned dev, unsigned fun, int reg, unsigned *value)`.
///
/// # Safety
/// `value` must be writable (NetBSD passes a local).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rumpcomp_pci_confread(
    bus: c_uint,
    device: c_uint,
    function_number: c_uint,
    register: c_int,
    value: *mut c_uint,
) -> c_int {
    if value.is_null() {
        return EINVAL;
    }
    let answer = match function(bus, device, function_number, register) {
        Some((address, offset)) => {
            Ok(access(address).map_or(u32::MAX, |config| config.read(address, offset)))
        }
        None => Err(EINVAL),
    };
    let (read, status) = match answer {
        Ok(read) => (read, 0),
        Err(status) => {
            tracing::warn!(
                bus,
                device,
                function_number,
                register,
                "rump: configuration read refused"
            );
            (u32::MAX, status)
        }
    };
    // SAFETY: checked non-null; the caller passes a writable word.
    unsafe { value.write(read) };
    status
}

/// `int rumpcomp_pci_confwrite(unsigned bus, unsigned dev, unsigned fun, int reg, unsigned value)`.
#[unsafe(no_mangle)]
pub extern "C" fn rumpcomp_pci_confwrite(
    bus: c_uint,
    device: c_uint,
    function_number: c_uint,
    register: c_int,
    value: c_uint,
) -> c_int {
    let target = function(bus, device, function_number, register)
        .and_then(|(address, offset)| Some((address, offset, access(address)?)));
    match target {
        Some((address, offset, mut config)) => {
            config.write(address, offset, value);
            0
        }
        None => {
            tracing::warn!(
                bus,
                device,
                function_number,
                register,
                "rump: configuration write refused"
            );
            EINVAL
        }
    }
}

/// `void *rumpcomp_pci_map(unsigned long paddr, unsigned long len)`: maps a memory
/// BAR uncached where it is (the kernel's map is physical = virtual).
#[unsafe(no_mangle)]
pub extern "C" fn rumpcomp_pci_map(address: c_ulong, length: c_ulong) -> *mut c_void {
    if address == 0 || length == 0 || address.checked_add(length).is_none() {
        tracing::warn!(address, length, "rump: BAR mapping refused");
        return core::ptr::null_mut();
    }
    let mapped = kernel_threads::without_preemption(|| {
        memory::FRAMES
            .lock()
            .as_mut()
            .map(|frames| arch::map_device_memory(address, length, frames))
    });
    match mapped {
        Some(Ok(())) => address as *mut c_void,
        _ => {
            tracing::warn!(address, length, "rump: BAR could not be mapped");
            core::ptr::null_mut()
        }
    }
}

/// `int rumpcomp_pci_irq_map(unsigned bus, unsigned dev, unsigned fun, int intrline, unsigned cookie)`.
#[unsafe(no_mangle)]
pub extern "C" fn rumpcomp_pci_irq_map(
    bus: c_uint,
    device: c_uint,
    function_number: c_uint,
    line: c_int,
    cookie: c_uint,
) -> c_int {
    let Some(line) = u8::try_from(line).ok().filter(|line| *line < 24) else {
        tracing::warn!(
            bus,
            device,
            function_number,
            line,
            "rump: INTx line out of range"
        );
        return EINVAL;
    };
    with_state(|state| state.lines_by_cookie.insert(cookie, line));
    0
}

/// `void *rumpcomp_pci_irq_establish(unsigned cookie, int (*handler)(void *), void *arg)`.
#[unsafe(no_mangle)]
pub extern "C" fn rumpcomp_pci_irq_establish(
    cookie: c_uint,
    handler: Option<Handler>,
    argument: *mut c_void,
) -> *mut c_void {
    let (Some(handler), Some(line)) = (
        handler,
        with_state(|s| s.lines_by_cookie.get(&cookie).copied()),
    ) else {
        tracing::warn!(cookie, "rump: interrupt for an unknown cookie refused");
        return core::ptr::null_mut();
    };
    let establishment = Establishment {
        handler,
        argument: argument as usize,
    };
    let first = with_state(|state| {
        let handlers = state.handlers.entry(line).or_default();
        handlers.push(establishment);
        handlers.len() == 1
    });
    if first {
        let routed = InterruptLine::route(line);
        let Some(event) = routed.line().and_then(drivers::line_event) else {
            tracing::warn!(line, "rump: INTx line not routed");
            with_state(|state| state.handlers.remove(&line));
            return core::ptr::null_mut();
        };
        let options = ThreadOptions {
            name: "rump-interrupt",
            stack_bytes: RUMP_STACK_BYTES,
            fpu: false,
            tls: true,
            joinable: false,
        };
        if let Err(error) = kernel_threads::spawn(&options, move || interrupt_thread(line, event)) {
            tracing::warn!(line, %error, "rump: no interrupt thread");
            with_state(|state| state.handlers.remove(&line));
            return core::ptr::null_mut();
        }
        tracing::info!(line, "rump: INTx line delivered to an interrupt thread");
    }
    // An opaque non-null handle; `pci_intr_disestablish` never comes (NetBSD's glue
    // panics there itself), so the record lives as long as the kernel.
    Box::into_raw(Box::new(establishment)).cast()
}

fn interrupt_thread(line: u8, event: EventId) -> u64 {
    rump_sys::hypercalls::component::rumpuser_component_kthread();
    drivers::unmask_line(line);
    loop {
        let _ = kernel_threads::wait_event(event, None);
        let handlers = with_state(|state| state.handlers.get(&line).cloned().unwrap_or_default());
        rump_sys::hypercalls::component::rumpuser_component_schedule(core::ptr::null_mut());
        for establishment in handlers {
            // SAFETY: NetBSD established this handler with this argument for the line,
            // and it runs scheduled into the rump kernel, as NetBSD's glue expects.
            unsafe { (establishment.handler)(establishment.argument as *mut c_void) };
        }
        rump_sys::hypercalls::component::rumpuser_component_unschedule();
        drivers::unmask_line(line);
    }
}

/// `int rumpcomp_pci_dmalloc(size_t size, size_t align, unsigned long *pap, unsigned long *vap)`.
///
/// # Safety
/// `physical` and `virtual_address` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rumpcomp_pci_dmalloc(
    size: usize,
    alignment: usize,
    physical: *mut c_ulong,
    virtual_address: *mut c_ulong,
) -> c_int {
    if physical.is_null() || virtual_address.is_null() {
        return EINVAL;
    }
    if size == 0 || size > MAXIMUM_DMA_BYTES || !alignment.is_power_of_two() && alignment != 0 {
        tracing::warn!(size, alignment, "rump: DMA allocation refused");
        return EINVAL;
    }
    if drivers::rump_dma_refused() {
        tracing::warn!(
            size,
            alignment,
            "rump: DMA allocation refused (rump.dma=refuse)"
        );
        return ENOMEM;
    }
    let Some(start) = frames::allocate(size, alignment) else {
        tracing::warn!(size, alignment, "rump: no contiguous memory for DMA");
        return ENOMEM;
    };
    // SAFETY: both checked non-null; NetBSD passes writable locals.
    unsafe {
        physical.write(start);
        virtual_address.write(start);
    }
    0
}

/// `void rumpcomp_pci_dmafree(unsigned long va, size_t size)`.
#[unsafe(no_mangle)]
pub extern "C" fn rumpcomp_pci_dmafree(address: c_ulong, _size: usize) {
    frames::free(address);
}

/// `struct rumpcomp_pci_dmaseg`.
#[repr(C)]
#[derive(Debug)]
pub struct DmaSegment {
    physical: c_ulong,
    length: c_ulong,
    virtual_cookie: c_ulong,
}

/// `int rumpcomp_pci_dmamem_map(struct rumpcomp_pci_dmaseg *, size_t nseg, size_t totlen, void **vap)`:
/// one segment (what `dmalloc` gives), whose address is already mapped.
///
/// # Safety
/// `segments` must point to `count` segments and `mapped` be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rumpcomp_pci_dmamem_map(
    segments: *const DmaSegment,
    count: usize,
    _total: usize,
    mapped: *mut *mut c_void,
) -> c_int {
    if segments.is_null() || mapped.is_null() || count != 1 {
        tracing::warn!(count, "rump: mapping DMA segments other than one refused");
        return EOPNOTSUPP;
    }
    // SAFETY: non-null, and the caller passes `count` (one) segments.
    let segment = unsafe { &*segments };
    // SAFETY: checked non-null; the caller passes a writable pointer.
    unsafe { mapped.write(segment.virtual_cookie as *mut c_void) };
    0
}

/// `unsigned long rumpcomp_pci_virt_to_mach(void *)`: RAM is identity-mapped.
#[unsafe(no_mangle)]
pub extern "C" fn rumpcomp_pci_virt_to_mach(address: *mut c_void) -> c_ulong {
    address as c_ulong
}
