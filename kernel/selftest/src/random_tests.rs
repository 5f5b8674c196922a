//! The kernel test of the random generator: draws a mebibyte through the same call
//! the `random` system call uses and checks it (byte histogram, repeated blocks),
//! and checks that its first use seeded the generator from every source the machine
//! has.
//!
//! The sources and what each was credited are reported as metrics.

use alloc::vec;
use core::fmt;

use ethos_core::random::SEED_BITS;
use ethos_core::random::output_check::{OutputCheck, OutputError};
use ethos_devices::DeviceClass;

use crate::driver_tests::metric;
use ethos_platform_x86_64::{arch, drivers, entropy};

/// Bytes drawn.
const DRAWN_BYTES: usize = 1 << 20;
/// Bytes a request, as a program asks for them.
const REQUEST_BYTES: usize = 4096;

/// Why the random test failed.
#[derive(Debug)]
pub(crate) enum RandomFailure {
    NotSeeded { credited_bits: u32 },
    CpuSourceUnused { instruction: &'static str },
    DeviceUnused { failed: bool },
    Output(OutputError),
}

impl fmt::Display for RandomFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RandomFailure::NotSeeded { credited_bits } => write!(
                f,
                "seeding credited {credited_bits} bits, fewer than the {SEED_BITS} needed"
            ),
            RandomFailure::CpuSourceUnused { instruction } => write!(
                f,
                "the CPU has {instruction}, but seeding got nothing from it"
            ),
            RandomFailure::DeviceUnused { failed } => write!(
                f,
                "an entropy device is bound, but seeding got nothing from it{}",
                if *failed { " (it failed)" } else { "" }
            ),
            RandomFailure::Output(error) => write!(f, "generator output: {error}"),
        }
    }
}

pub(crate) fn random() -> Result<(), RandomFailure> {
    // The first draw seeds the generator; it is not timed.
    entropy::fill(&mut [0u8; 1]);
    let report = entropy::seed_report();
    metric("random_rdseed_bits", report.rdseed_bits.into(), "bits");
    metric("random_rdrand_bits", report.rdrand_bits.into(), "bits");
    metric("random_device_bits", report.device_bits.into(), "bits");
    metric("random_jitter_bits", report.jitter_bits.into(), "bits");
    metric(
        "random_jitter_samples",
        report.jitter_samples.into(),
        "count",
    );
    metric("random_credited_bits", report.credited_bits.into(), "bits");
    if report.credited_bits < SEED_BITS {
        return Err(RandomFailure::NotSeeded {
            credited_bits: report.credited_bits,
        });
    }
    let cpu = arch::cpu_random();
    if cpu.rdseed && report.rdseed_bits == 0 {
        return Err(RandomFailure::CpuSourceUnused {
            instruction: "RDSEED",
        });
    }
    if cpu.rdrand && report.rdseed_bits == 0 && report.rdrand_bits == 0 {
        return Err(RandomFailure::CpuSourceUnused {
            instruction: "RDRAND",
        });
    }
    let device_bound =
        drivers::with_devices(|devices| devices.inventory.count(DeviceClass::Entropy)).unwrap_or(0)
            > 0;
    if device_bound && report.device_bits == 0 {
        return Err(RandomFailure::DeviceUnused {
            failed: report.device_failed,
        });
    }

    let mut check = OutputCheck::new();
    let mut request = vec![0u8; REQUEST_BYTES];
    let start = arch::read_tsc();
    for _ in 0..DRAWN_BYTES / REQUEST_BYTES {
        entropy::fill(&mut request);
        check.feed(&request);
    }
    let cycles = arch::read_tsc() - start;
    let summary = check.finish().map_err(RandomFailure::Output)?;
    metric("random_bytes", summary.bytes, "bytes");
    metric("random_chi_square", summary.chi_square, "chi2");
    metric(
        "random_cycles_per_kib",
        cycles / (DRAWN_BYTES as u64 / 1024),
        "cycles",
    );
    Ok(())
}
