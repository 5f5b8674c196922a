//! Finding the TSC frequency without waiting where the machine can tell it:
//! CPUID leaf 0x15, the hypervisor timing leaf 0x4000_0010, KVM's pvclock; only
//! where none answers, a PIT measurement.

use ethos_core::clock::{hz_from_crystal_ratio, hz_from_pvclock, hz_from_reference};
use x86_64::registers::model_specific::Msr;

use super::apic::{measure_tsc_with_pit, pit_hz};
use super::cpu::{cpuid, under_hypervisor};

/// Where the frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TscSource {
    CrystalRatio,
    HypervisorLeaf,
    KvmClock,
    PitMeasurement,
}

impl TscSource {
    pub fn name(self) -> &'static str {
        match self {
            TscSource::CrystalRatio => "cpuid-0x15",
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

/// The TSC frequency in Hz and where it came from.
pub fn discover_tsc_frequency() -> (u64, TscSource) {
    if cpuid(0).eax >= 0x15 {
        let leaf = cpuid(0x15);
        if let Some(hz) = hz_from_crystal_ratio(leaf.eax, leaf.ebx, leaf.ecx) {
            return (hz, TscSource::CrystalRatio);
        }
    }
    if under_hypervisor() {
        if cpuid(0x4000_0000).eax >= 0x4000_0010 {
            let khz = cpuid(0x4000_0010).eax as u64;
            if khz != 0 {
                return (khz * 1000, TscSource::HypervisorLeaf);
            }
        }
        if let Some(hz) = kvm_clock_hz() {
            return (hz, TscSource::KvmClock);
        }
    }
    let hz = measure_tsc_with_pit(10)
        .and_then(|(tsc_ticks, pit_ticks)| hz_from_reference(tsc_ticks, pit_ticks, pit_hz()))
        .unwrap_or(0);
    (hz, TscSource::PitMeasurement)
}
