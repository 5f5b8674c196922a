//! The kernel's random generator: one [`Generator`] for the whole kernel, seeded
//! from every source the machine offers when randomness is first asked for, serving
//! the `random` system call. Seeding is not part of boot: under a hypervisor where
//! each port read exits, the jitter batches alone cost a second, which a boot that
//! never draws a random byte should not pay.
//!
//! What each source is credited with (the generator needs [`SEED_BITS`]):
//! - RDSEED, else RDRAND: 64 bytes, credited with half their bits (256);
//! - the entropy device (virtio-rng), if one was bound: 32 bytes, credited with half
//!   their bits (128); it is the host's generator, which the guest trusts anyway;
//! - timing jitter: batches of samples, credited by [`jitter::credit`] (at most half
//!   a bit a sample), gathered until the generator is seeded. At least one batch is
//!   always mixed in, so no single source decides the key alone.
//!
//! Under QEMU's TCG the TSC follows the host's clock through translated code: the
//! samples vary, but much of that variation could be predicted by whoever watches
//! the host, so a TCG guest without RDRAND or an entropy device has a weak seed.
//! The log line at seeding says which sources were used.
//!
//! This module must never hand out bytes from an unseeded generator: [`fill`] seeds
//! it on first use, and panics rather than return predictable bytes when no source
//! gives enough.

use alloc::vec;
use core::fmt;

use ethos_core::random::{Generator, SEED_BITS, jitter};
use spin::Mutex;

use crate::{arch, drivers};

/// Bytes read from RDSEED or RDRAND.
const CPU_BYTES: usize = 64;
/// Bytes read from the entropy device.
const DEVICE_BYTES: usize = 32;
/// Jitter samples per batch.
const JITTER_BATCH: usize = 256;
/// Most jitter batches gathered in one seeding.
const JITTER_BATCHES: usize = 64;
/// Seeding attempts at first use before giving up.
const FIRST_USE_ATTEMPTS: usize = 4;

static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);
static REPORT: Mutex<SeedReport> = Mutex::new(SeedReport::NONE);

/// What seeding gathered, in credited bits per source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedReport {
    pub rdseed_bits: u32,
    pub rdrand_bits: u32,
    pub device_bits: u32,
    pub jitter_bits: u32,
    pub jitter_samples: u32,
    /// An entropy device was bound but did not answer.
    pub device_failed: bool,
    /// The generator's total after seeding.
    pub credited_bits: u32,
}

impl SeedReport {
    const NONE: SeedReport = SeedReport {
        rdseed_bits: 0,
        rdrand_bits: 0,
        device_bits: 0,
        jitter_bits: 0,
        jitter_samples: 0,
        device_failed: false,
        credited_bits: 0,
    };

    /// The sources that were credited, as `rdrand+jitter`.
    pub fn sources(&self) -> Sources {
        Sources(*self)
    }
}

/// The names of the credited sources, joined by `+`; `none` if there were none.
#[derive(Clone, Copy, Debug)]
pub struct Sources(SeedReport);

impl fmt::Display for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = &self.0;
        let mut first = true;
        for (name, bits) in [
            ("rdseed", report.rdseed_bits),
            ("rdrand", report.rdrand_bits),
            ("virtio-rng", report.device_bits),
            ("jitter", report.jitter_bits),
        ] {
            if bits > 0 {
                f.write_str(if first { "" } else { "+" })?;
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Half of `bytes` bytes' bits: the credit for a source the kernel cannot inspect.
fn half_credit(bytes: usize) -> u32 {
    u32::try_from(bytes * 8 / 2).unwrap_or(u32::MAX)
}

/// Mixes every source into `generator` once; adds what each gave to `report`.
fn gather(generator: &mut Generator, report: &mut SeedReport) {
    // Worth nothing, but different on every boot that is not an exact replay.
    generator.add_entropy(&arch::read_tsc().to_le_bytes(), 0);

    let mut bytes = [0u8; CPU_BYTES];
    let read = arch::read_rdseed(&mut bytes);
    generator.add_entropy(&bytes[..read], half_credit(read));
    report.rdseed_bits += half_credit(read);
    if read < CPU_BYTES {
        let read = arch::read_rdrand(&mut bytes);
        generator.add_entropy(&bytes[..read], half_credit(read));
        report.rdrand_bits += half_credit(read);
    }
    bytes.fill(0);

    let mut device = [0u8; DEVICE_BYTES];
    match drivers::read_entropy(&mut device) {
        Some(Ok(())) => {
            generator.add_entropy(&device, half_credit(DEVICE_BYTES));
            report.device_bits += half_credit(DEVICE_BYTES);
        }
        Some(Err(error)) => {
            tracing::warn!(%error, "the entropy device gave nothing to seed with");
            report.device_failed = true;
        }
        None => {}
    }
    device.fill(0);

    let mut samples = vec![0u64; JITTER_BATCH];
    let mut sample_bytes = vec![0u8; JITTER_BATCH * 8];
    for batch in 0..JITTER_BATCHES {
        if batch > 0 && generator.is_seeded() {
            break;
        }
        arch::timing_jitter(&mut samples);
        for (chunk, sample) in sample_bytes.chunks_exact_mut(8).zip(&samples) {
            chunk.copy_from_slice(&sample.to_le_bytes());
        }
        let credit = jitter::credit(&samples);
        generator.add_entropy(&sample_bytes, credit);
        report.jitter_bits += credit;
        report.jitter_samples += JITTER_BATCH as u32;
    }
    report.credited_bits = generator.credited_bits();
}

/// Seeds the generator from every source (the devices must be probed and the clock
/// running). Logs what was gathered.
fn seed(generator: &mut Generator) {
    let mut report = REPORT.lock();
    gather(generator, &mut report);
    let cpu = arch::cpu_random();
    if generator.is_seeded() {
        tracing::info!(
            sources = %report.sources(),
            credited_bits = report.credited_bits,
            rdseed = cpu.rdseed,
            rdrand = cpu.rdrand,
            rdseed_bits = report.rdseed_bits,
            rdrand_bits = report.rdrand_bits,
            device_bits = report.device_bits,
            jitter_bits = report.jitter_bits,
            jitter_samples = report.jitter_samples,
            "random generator seeded"
        );
    } else {
        tracing::warn!(
            sources = %report.sources(),
            credited_bits = report.credited_bits,
            needed = SEED_BITS,
            rdseed = cpu.rdseed,
            rdrand = cpu.rdrand,
            jitter_samples = report.jitter_samples,
            "random generator not seeded yet; gathering again"
        );
    }
}

/// What seeding has gathered so far.
pub fn seed_report() -> SeedReport {
    *REPORT.lock()
}

/// Fills `buffer` with random bytes from the kernel generator.
///
/// The first call seeds the generator, gathering again up to a few times; if the
/// sources still give too little, this panics: predictable bytes are never returned.
pub fn fill(buffer: &mut [u8]) {
    let mut guard = GENERATOR.lock();
    let generator = guard.get_or_insert_with(Generator::new);
    for _ in 0..FIRST_USE_ATTEMPTS {
        if generator.is_seeded() {
            break;
        }
        seed(generator);
    }
    if let Err(error) = generator.fill(buffer) {
        panic!("{error}: no entropy source of this machine gave enough");
    }
}
