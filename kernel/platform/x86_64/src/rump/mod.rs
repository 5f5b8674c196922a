//! NetBSD's drivers and TCP/IP in a rump kernel inside this kernel.
//!
//! Present with the platform's `rump` feature; linked only when the kernel is built
//! with `RUMPKERNEL_DIR` naming a rump kernel build (see `rump-sys/README.md` for
//! the properties that build must have). Without one the code still compiles and is
//! linted, and the kernel links none of it.
//!
//! - [`host`]: the rumpuser host over kernel threads; [`pci`]: the PCI hypercalls;
//! - `worker`: the rump kernel's own thread, which boots NetBSD and runs every call
//!   into it ([`worker::call`]);
//! - [`datagram`]: the datagram class over NetBSD's UDP on the interface the rump
//!   kernel attached (`vioif0` on virtio-net, `wm0` on an e1000);
//! - [`block`]: the block class over NetBSD's `ld0` at virtio.
//!
//! The rump kernel boots once, at kernel start, and only when a class is chosen
//! `rump` ([`start`]). Its components registered themselves through constructors
//! (the build's ctor mode), which [`start`] runs first, before `rump_init`.

pub mod block;
pub mod datagram;
mod frames;
mod host;
pub mod pci;
pub mod worker;

use alloc::string::String;
use core::ffi::{CStr, c_int};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use ethos_core::pci::{Bar, PciFunction};
use ethos_net::NetConfig;
use rump_sys::bindings;

use crate::arch::PciConfig;
use crate::{kernel_threads, time};

pub use host::KernelHost;

static HOST: KernelHost = KernelHost::new();

/// How long `rump_init` may take, in kernel time, before the boot gives up.
const BOOT_PATIENCE_NANOS: u64 = 600 * 1_000_000_000;

/// Why the rump kernel did not start.
#[derive(Debug)]
pub enum StartError {
    /// Another host is registered already (the rump kernel starts once).
    AlreadyStarted,
    /// Its thread could not be made.
    Thread(kernel_threads::KernelThreadError),
    /// `rump_init` failed with this NetBSD errno.
    Init(i32),
    /// `rump_init` did not finish in time.
    Timeout,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::AlreadyStarted => write!(f, "the rump kernel was started already"),
            StartError::Thread(error) => write!(f, "no thread for the rump kernel: {error}"),
            StartError::Init(errno) => write!(
                f,
                "rump_init failed: {}",
                rump_sys::NetbsdErrno::from_netbsd(*errno)
            ),
            StartError::Timeout => write!(
                f,
                "rump_init did not finish within {} s",
                BOOT_PATIENCE_NANOS / 1_000_000_000
            ),
        }
    }
}

/// What NetBSD attached, once booted.
#[derive(Clone, Debug)]
pub struct Started {
    /// Kernel time `rump_init` took (with the constructors before it).
    pub boot_nanos: u64,
}

/// Boots the rump kernel on its own thread, with `memory_limit` bytes of memory
/// (`RUMP_MEMLIMIT`), and waits (running threads) until `rump_init` returned.
pub fn start(config: PciConfig, memory_limit: u64) -> Result<Started, StartError> {
    HOST.set_memory_limit(memory_limit);
    rump_sys::host::register(&HOST).map_err(|_| StartError::AlreadyStarted)?;
    pci::set_config_access(config);
    static DONE: AtomicBool = AtomicBool::new(false);
    static RESULT: AtomicI32 = AtomicI32::new(0);
    static TOOK: AtomicU64 = AtomicU64::new(0);
    worker::start(|| {
        let begin = time::since_boot_nanos().unwrap_or(0);
        run_constructors();
        // SAFETY: before rump_init, once; the rump kernel must never signal (there
        // is no host process to signal).
        unsafe { bindings::rump_boot_setsigmodel(bindings::rump_sigmodel_RUMP_SIGMODEL_IGNORE) };
        // SAFETY: once, on a thread with TLS, after the host was registered.
        let result = unsafe { bindings::rump_init() };
        TOOK.store(
            time::since_boot_nanos().unwrap_or(0).saturating_sub(begin),
            Ordering::Relaxed,
        );
        RESULT.store(result, Ordering::Relaxed);
        DONE.store(true, Ordering::Release);
    })
    .map_err(StartError::Thread)?;
    if !kernel_threads::run_until(|| DONE.load(Ordering::Acquire), BOOT_PATIENCE_NANOS) {
        return Err(StartError::Timeout);
    }
    match RESULT.load(Ordering::Relaxed) {
        0 => Ok(Started {
            boot_nanos: TOOK.load(Ordering::Relaxed),
        }),
        errno => Err(StartError::Init(errno)),
    }
}

/// How many frames the rump kernel holds (its page-sized memory and its drivers' DMA
/// memory); none where it never started. Its caches (buffers and vnodes when FFS
/// serves the store, the pools of mbufs and socket buffers after traffic) grow and
/// shrink as it serves, within its memory limit: what it holds is its own, not a
/// leak of whoever caused the work.
pub fn held_frames() -> u64 {
    frames::held()
}

unsafe extern "C" {
    static __init_array_start: Option<unsafe extern "C" fn()>;
    static __init_array_end: Option<unsafe extern "C" fn()>;
}

/// Runs the constructors of the linked C objects (the rump components'
/// registrations), in link order.
fn run_constructors() {
    let start = &raw const __init_array_start;
    let end = &raw const __init_array_end;
    let count = (end as usize - start as usize) / core::mem::size_of::<usize>();
    for index in 0..count {
        // SAFETY: the linker script puts exactly the `.init_array` entries between
        // the two symbols, each a constructor or null.
        let constructor = unsafe { start.add(index).read() };
        if let Some(constructor) = constructor {
            // SAFETY: a constructor of a linked object, run once, before rump_init.
            unsafe { constructor() };
        }
    }
}

/// A network interface NetBSD attached, configured for the datagram class.
#[derive(Clone, Debug)]
pub struct Interface {
    /// Its NetBSD name (`vioif0`, `wm0`).
    pub name: &'static str,
    pub mac: [u8; 6],
    pub config: NetConfig,
}

/// The interfaces this kernel looks for, in order: NetBSD's virtio-net and e1000.
const INTERFACES: [&CStr; 2] = [c"vioif0", c"wm0"];

/// Brings up the first interface NetBSD attached, with the address its MAC gives
/// (as the native stack does), and answers it.
pub fn configure_network(functions: &[PciFunction]) -> Result<Interface, String> {
    worker::call(|| {
        for name in INTERFACES {
            // SAFETY: `name` is NUL-terminated.
            let up = unsafe { bindings::rump_pub_netconfig_ifup(name.as_ptr()) };
            if up != 0 {
                continue;
            }
            let name = name.to_str().unwrap_or("?");
            let name: &'static str = match name {
                "vioif0" => "vioif0",
                _ => "wm0",
            };
            let mac = mac_address(name, functions)
                .ok_or_else(|| alloc::format!("{name}: no MAC address found"))?;
            let config = NetConfig::for_mac(mac);
            let address = alloc::format!("{}\0", config.address);
            let mask = prefix_mask(config.prefix_length);
            let mask = alloc::format!("{}.{}.{}.{}\0", mask[0], mask[1], mask[2], mask[3]);
            let name_c = alloc::format!("{name}\0");
            // SAFETY: all three strings are NUL-terminated.
            let status = unsafe {
                bindings::rump_pub_netconfig_ipv4_ifaddr(
                    name_c.as_ptr().cast(),
                    address.as_ptr().cast(),
                    mask.as_ptr().cast(),
                )
            };
            if status != 0 {
                return Err(alloc::format!(
                    "{name}: address {} refused: {}",
                    config.address,
                    rump_sys::NetbsdErrno::from_netbsd(status)
                ));
            }
            return Ok(Interface { name, mac, config });
        }
        Err(String::from(
            "NetBSD attached no network interface (looked for vioif0 and wm0)",
        ))
    })
}

/// How long NetBSD's duplicate address detection may hold a new address back
/// (RFC 5227 probes and the announcement take some seconds).
const ADDRESS_PATIENCE_NANOS: u64 = 30 * 1_000_000_000;
/// How often the address's state is asked for meanwhile.
const ADDRESS_POLL_NANOS: u64 = 50 * 1_000_000;
/// NetBSD's IPv4 address flags (`netinet/in_var.h`): still probing, found in use by
/// another host, about to probe.
const IN_IFF_TENTATIVE: c_int = 0x01;
const IN_IFF_DUPLICATED: c_int = 0x02;
const IN_IFF_TRYTENTATIVE: c_int = 0x08;
/// `SIOCGIFAFLAG_IN`: `_IOWR('i', 39, struct ifreq)`, a `struct ifreq` being 144
/// bytes (a 16-byte name, then a union as large as a `sockaddr_storage`).
const SIOCGIFAFLAG_IN: bindings::u_long = 0xc090_6927;

/// A NetBSD `struct ifreq`: the interface's name, then the union that holds the
/// address asked about and, on return, its flags.
#[repr(C, align(8))]
struct InterfaceRequest([u8; 144]);

/// Why an address did not become usable.
#[derive(Debug)]
pub enum AddressError {
    /// Another host on the link answers for it.
    Duplicated,
    /// Still probing after the patience.
    StillTentative,
    /// NetBSD did not answer the address's flags (its errno).
    Flags(c_int),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Duplicated => f.write_str("another host on the link uses the address"),
            AddressError::StillTentative => write!(
                f,
                "the address is still tentative after {} s of duplicate address detection",
                ADDRESS_PATIENCE_NANOS / 1_000_000_000
            ),
            AddressError::Flags(errno) => write!(
                f,
                "the address's flags cannot be read: {}",
                rump_sys::NetbsdErrno::from_netbsd(*errno)
            ),
        }
    }
}

/// The flags NetBSD holds for `interface`'s address (`IN_IFF_*`); on the rump thread.
fn address_flags(interface: &Interface) -> Result<c_int, c_int> {
    // SAFETY: socket takes plain integers.
    let descriptor = unsafe {
        bindings::rump_sys_socket(
            bindings::RUMP_AF_INET as c_int,
            bindings::RUMP_SOCK_DGRAM as c_int,
            0,
        )
    };
    if descriptor < 0 {
        return Err(last_errno());
    }
    let mut request = InterfaceRequest([0; 144]);
    let name = interface.name.as_bytes();
    request.0[..name.len()].copy_from_slice(name);
    // A `sockaddr_in`: length, family, port 0, the address.
    request.0[16] = 16;
    request.0[17] = bindings::RUMP_AF_INET as u8;
    request.0[20..24].copy_from_slice(&interface.config.address.octets());
    // SAFETY: the request is a NetBSD `struct ifreq`, which the call reads and writes.
    let answered = unsafe {
        bindings::rump_sys_ioctl(descriptor, SIOCGIFAFLAG_IN, (&raw mut request).cast::<u8>())
    };
    let result = if answered == 0 {
        let mut flags = [0u8; 4];
        flags.copy_from_slice(&request.0[16..20]);
        Ok(c_int::from_ne_bytes(flags))
    } else {
        Err(last_errno())
    };
    // SAFETY: the descriptor was made here and is closed once.
    unsafe { bindings::rump_sys_close(descriptor) };
    result
}

/// Waits until NetBSD lets `interface`'s address carry datagrams: until its
/// duplicate address detection is over (RFC 5227: some seconds of probes, then an
/// announcement). Until then NetBSD neither sends from the address nor takes what
/// is sent to it, so a class served sooner would lose the first datagrams its user
/// sends or is sent, which the native stack, whose address is usable at once, never
/// does. Answers how long it waited, in kernel time.
pub fn wait_for_address(interface: &Interface) -> Result<u64, AddressError> {
    let begin = time::since_boot_nanos().unwrap_or(0);
    loop {
        let flags = worker::call(|| address_flags(interface)).map_err(AddressError::Flags)?;
        if flags & IN_IFF_DUPLICATED != 0 {
            return Err(AddressError::Duplicated);
        }
        let waited = time::since_boot_nanos().unwrap_or(0).saturating_sub(begin);
        if flags & (IN_IFF_TENTATIVE | IN_IFF_TRYTENTATIVE) == 0 {
            return Ok(waited);
        }
        if waited >= ADDRESS_PATIENCE_NANOS {
            return Err(AddressError::StillTentative);
        }
        pause(ADDRESS_POLL_NANOS);
    }
}

/// Lets `nanos` pass with the CPU given to threads (NetBSD's among them), from a
/// thread or from the hub.
fn pause(nanos: u64) {
    if crate::arch::in_thread() {
        let deadline = time::since_boot_nanos().unwrap_or(0).saturating_add(nanos);
        let _ = kernel_threads::sleep_until(deadline);
    } else {
        let _ = kernel_threads::run_until(|| false, nanos);
    }
}

fn prefix_mask(prefix: u8) -> [u8; 4] {
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    bits.to_be_bytes()
}

/// The MAC of the device under `interface`, read from the device as NetBSD left it:
/// a legacy virtio-net's configuration (I/O BAR 0, offset 20), or an e1000's
/// receive address registers (memory BAR 0, offset 0x5400).
fn mac_address(interface: &str, functions: &[PciFunction]) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    if interface.starts_with("vioif") {
        let function = functions
            .iter()
            .find(|f| f.vendor_id == 0x1af4 && f.device_id == 0x1000)?;
        let Some(Bar::Io { port, .. }) = function.bars[0] else {
            return None;
        };
        let base = u16::try_from(port).ok()?;
        for (index, byte) in mac.iter_mut().enumerate() {
            let mut register =
                x86_64::instructions::port::PortReadOnly::<u8>::new(base + 20 + index as u16);
            // SAFETY: reading the device configuration of a legacy virtio-net (its I/O
            // BAR, which NetBSD's driver owns) has no side effect.
            *byte = unsafe { register.read() };
        }
    } else {
        let function = functions
            .iter()
            .find(|f| f.vendor_id == 0x8086 && f.class == 0x02)?;
        let Some(Bar::Memory { address, .. }) = function.bars[0] else {
            return None;
        };
        // SAFETY: NetBSD's driver mapped BAR 0 (uncached, at its physical address)
        // when it attached; reading the receive address registers has no side effect.
        let (low, high) = unsafe {
            (
                core::ptr::read_volatile((address + 0x5400) as *const u32),
                core::ptr::read_volatile((address + 0x5404) as *const u32),
            )
        };
        mac[..4].copy_from_slice(&low.to_le_bytes());
        mac[4..].copy_from_slice(&high.to_le_bytes()[..2]);
    }
    Some(mac)
}

/// The NetBSD errno of the last failed system call of the calling (rump) thread.
fn last_errno() -> c_int {
    rump_sys::host::active().thread_errno()
}

/// A byte count a `rump_sys_*` call answered on the rump thread, or the errno it set.
fn answered(count: isize) -> Result<usize, c_int> {
    usize::try_from(count).map_err(|_| last_errno())
}
