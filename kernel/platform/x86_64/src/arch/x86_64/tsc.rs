//! Finding the TSC frequency without waiting where the machine can tell it:
//! CPUID leaf 0x15 (with leaf 0x16's base frequency where 0x15 names no crystal),
//! the hypervisor timing leaf 0x4000_0010 (KVM's and VMware's convention, which
//! Firecracker and QEMU with `vmware-cpuid-freq` follow), KVM's pvclock, Xen's time
//! leaf; only where none answers, a PIT measurement begun here and finished when the
//! time is first needed (QEMU's TCG announces none of them).

use ethos_core::clock::{hz_from_crystal_ratio, hz_from_pvclock, hz_from_ratio_and_base};
use x86_64::registers::model_specific::Msr;

use super::cpu::{cpuid, under_hypervisor};
use super::pit::PitWindow;

/// Where the frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TscSource {
    CrystalRatio,
    BaseFrequency,
    HypervisorLeaf,
    KvmClock,
    XenLeaf,
    PitMeasurement,
}

impl TscSource {
    pub fn name(self) -> &'static str {
        match self {
            TscSource::CrystalRatio => "cpuid-0x15",
            TscSource::BaseFrequency => "cpuid-0x16",
            TscSource::XenLeaf => "xen-cpuid-time",
            TscSource::HypervisorLeaf => "cpuid-0x40000010",
            TscSource::KvmClock => "kvmclock",
            TscSource::PitMeasurement => "pit",
        }
    }
}

/// The pvclock page KVM fills in (`struct pvclock_vcpu_time_info`).
#[derive(Debug)]
#[repr(C, align(64))]
struct PvclockTimeInfo {
    version: u32,
    pad0: u32,
    tsc_timestamp: u64,
    system_time: u64,
    tsc_to_system_multiplier: u32,
    tsc_shift: i8,
    flags: u8,
    pad: [u8; 2],
}

static mut PVCLOCK: PvclockTimeInfo = PvclockTimeInfo {
    version: 0,
    pad0: 0,
    tsc_timestamp: 0,
    system_time: 0,
    tsc_to_system_multiplier: 0,
    tsc_shift: 0,
    flags: 0,
    pad: [0; 2],
};

const KVM_FEATURE_CLOCKSOURCE2: u32 = 1 << 3;
const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;

fn kvm_clock_hz() -> Option<u64> {
    let signature = cpuid(0x4000_0000);
    let is_kvm =
        [signature.ebx, signature.ecx, signature.edx] == [0x4b4d_564b, 0x564b_4d56, 0x0000_004d];
    if !is_kvm || cpuid(0x4000_0001).eax & KVM_FEATURE_CLOCKSOURCE2 == 0 {
        return None;
    }
    // The kernel runs identity-mapped, so the static's address is its physical one.
    let page = core::ptr::addr_of_mut!(PVCLOCK);
    let mut msr = Msr::new(MSR_KVM_SYSTEM_TIME_NEW);
    // SAFETY: KVM advertised the MSR; it makes the hypervisor write the 32-byte
    // structure at that physical address, which is ours and suitably aligned.
    unsafe { msr.write(page as u64 | 1) };
    let (multiplier, shift) = loop {
        // SAFETY: the hypervisor writes the page; volatile reads with the version
        // protocol (odd = update in progress) give a consistent snapshot.
        unsafe {
            let before = core::ptr::addr_of!((*page).version).read_volatile();
            let multiplier = core::ptr::addr_of!((*page).tsc_to_system_multiplier).read_volatile();
            let shift = core::ptr::addr_of!((*page).tsc_shift).read_volatile();
            let after = core::ptr::addr_of!((*page).version).read_volatile();
            if before == after && before.is_multiple_of(2) && before != 0 {
                break (multiplier, shift);
            }
        }
    };
    // SAFETY: writing 0 turns the clock updates off again; the page is not used after.
    unsafe { msr.write(0) };
    hz_from_pvclock(multiplier, shift)
}

/// The signature of Xen's CPUID leaves, "XenVMMXenVMM".
const XEN_SIGNATURE: [u32; 3] = [0x566e_6558, 0x6558_4d4d, 0x4d4d_566e];

/// The TSC frequency Xen announces: leaf `base + 3`, subleaf 0, ECX in kHz. Xen's
/// leaves start at 0x4000_0000, or at 0x4000_0100 when it also offers Hyper-V's.
fn xen_hz() -> Option<u64> {
    [0x4000_0000, 0x4000_0100].into_iter().find_map(|base| {
        let signature = cpuid(base);
        let is_xen = [signature.ebx, signature.ecx, signature.edx] == XEN_SIGNATURE;
        // `cpuid` asks for subleaf 0, the one that holds the frequency.
        (is_xen && signature.eax >= base + 3)
            .then(|| u64::from(cpuid(base + 3).ecx) * 1000)
            .filter(|hz| *hz != 0)
    })
}

/// What the machine says about the TSC's frequency.
#[derive(Debug)]
pub enum TscFrequency {
    /// Announced: the frequency in Hz and where it came from.
    Known(u64, TscSource),
    /// Being measured against the PIT; [`PitWindow::finish`] gives it.
    Measuring(PitWindow),
    /// Neither announced nor measurable: there is no PIT.
    Unknown,
}

/// The TSC frequency where the machine announces it, else a PIT measurement begun.
pub fn discover_tsc_frequency() -> TscFrequency {
    let max_leaf = cpuid(0).eax;
    if max_leaf >= 0x15 {
        let leaf = cpuid(0x15);
        if let Some(hz) = hz_from_crystal_ratio(leaf.eax, leaf.ebx, leaf.ecx) {
            return TscFrequency::Known(hz, TscSource::CrystalRatio);
        }
        if max_leaf >= 0x16
            && let Some(hz) = hz_from_ratio_and_base(leaf.eax, leaf.ebx, cpuid(0x16).eax & 0xffff)
        {
            return TscFrequency::Known(hz, TscSource::BaseFrequency);
        }
    }
    if under_hypervisor() {
        if cpuid(0x4000_0000).eax >= 0x4000_0010 {
            let khz = cpuid(0x4000_0010).eax as u64;
            if khz != 0 {
                return TscFrequency::Known(khz * 1000, TscSource::HypervisorLeaf);
            }
        }
        if let Some(hz) = kvm_clock_hz() {
            return TscFrequency::Known(hz, TscSource::KvmClock);
        }
        if let Some(hz) = xen_hz() {
            return TscFrequency::Known(hz, TscSource::XenLeaf);
        }
    }
    match PitWindow::start() {
        Some(window) => TscFrequency::Measuring(window),
        None => TscFrequency::Unknown,
    }
}
