//! The raw entropy an x86_64 machine offers: RDSEED and RDRAND where CPUID reports
//! them, and timing jitter (TSC samples around a loop and a port read).
//!
//! Only reading happens here: how much each source is worth is decided by the
//! caller. Nothing here may loop without bound on an instruction that keeps failing,
//! or hand back a word the instruction did not mark valid.

use core::arch::x86_64::{__cpuid_count, _rdrand64_step, _rdseed64_step};
use core::hint::black_box;

use x86_64::instructions::port::Port;

use super::cpu::{cpuid, read_tsc};

/// Intel's guidance: RDRAND fails ten times in a row only if the CPU is broken.
const RDRAND_RETRIES: usize = 10;
/// RDSEED may run dry under load; it is retried longer, with a pause between tries.
const RDSEED_RETRIES: usize = 100;
/// Loop iterations timed for one jitter sample.
const JITTER_LOOP: u64 = 256;
/// The POST diagnostic port. Reading it has no effect on any PC (Linux writes it to
/// delay I/O); under a hypervisor the read leaves the guest, whose return time
/// varies with the host.
const JITTER_PORT: u16 = 0x80;

/// The random-number instructions this CPU has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuRandom {
    /// RDSEED: CPUID.(EAX=7,ECX=0):EBX bit 18.
    pub rdseed: bool,
    /// RDRAND: CPUID.1:ECX bit 30.
    pub rdrand: bool,
}

/// Which of RDSEED and RDRAND the CPU reports.
pub fn cpu_random() -> CpuRandom {
    let rdseed = cpuid(0).eax >= 7 && __cpuid_count(7, 0).ebx & (1 << 18) != 0;
    CpuRandom {
        rdseed,
        rdrand: cpuid(1).ecx & (1 << 30) != 0,
    }
}

/// A word some CPUs hand back, marked valid, when their generator is broken (AMD
/// parts after resume returned all ones): never accepted.
fn plausible(word: u64) -> bool {
    word != 0 && word != u64::MAX
}

/// # Safety
/// The CPU must have RDSEED.
#[target_feature(enable = "rdseed")]
unsafe fn rdseed_word() -> Option<u64> {
    for _ in 0..RDSEED_RETRIES {
        let mut word = 0;
        if _rdseed64_step(&mut word) == 1 && plausible(word) {
            return Some(word);
        }
        core::hint::spin_loop();
    }
    None
}

/// # Safety
/// The CPU must have RDRAND.
#[target_feature(enable = "rdrand")]
unsafe fn rdrand_word() -> Option<u64> {
    for _ in 0..RDRAND_RETRIES {
        let mut word = 0;
        if _rdrand64_step(&mut word) == 1 && plausible(word) {
            return Some(word);
        }
    }
    None
}

/// Fills a prefix of `buffer` with `next` words; returns its length in bytes, which
/// ends at the first word that could not be had.
fn fill_words(buffer: &mut [u8], mut next: impl FnMut() -> Option<u64>) -> usize {
    let mut filled = 0;
    for chunk in buffer.chunks_mut(8) {
        let Some(word) = next() else { break };
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        filled += chunk.len();
    }
    filled
}

/// Fills a prefix of `buffer` from RDSEED; returns its length (0 without RDSEED).
pub fn read_rdseed(buffer: &mut [u8]) -> usize {
    if !cpu_random().rdseed {
        return 0;
    }
    // SAFETY: CPUID reported RDSEED just above.
    fill_words(buffer, || unsafe { rdseed_word() })
}

/// Fills a prefix of `buffer` from RDRAND; returns its length (0 without RDRAND).
pub fn read_rdrand(buffer: &mut [u8]) -> usize {
    if !cpu_random().rdrand {
        return 0;
    }
    // SAFETY: CPUID reported RDRAND just above.
    fill_words(buffer, || unsafe { rdrand_word() })
}

/// Fills `samples` with TSC durations of the same work: a loop over a small buffer
/// and one read of the POST port.
pub fn timing_jitter(samples: &mut [u64]) {
    let mut scratch = [0u64; 16];
    let mut port = Port::<u8>::new(JITTER_PORT);
    for sample in samples {
        let start = read_tsc();
        for index in 0..JITTER_LOOP {
            let slot = (index as usize * 7) % scratch.len();
            scratch[slot] = black_box(scratch[slot].rotate_left(5) ^ index);
        }
        // SAFETY: reading the POST diagnostic port changes nothing on any machine;
        // the value is only timed, never used.
        let value = unsafe { port.read() };
        black_box(value);
        *sample = read_tsc().wrapping_sub(start);
    }
}
