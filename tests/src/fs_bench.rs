//! The file system benchmark's runs (`cargo xtask bench fs`): one guest on one disk,
//! and the figures it prints, read from its transcript.
//!
//! Both sides print one line of `key=value` words: Ethos's `fs-bench`
//! (`user alice: fs-bench write_small_ns=… large_samples=…`) and the Linux guest's
//! `/init` (`linux-guest fs write_small_ns=… large_samples=…`). Nothing here judges a
//! time.

use std::path::Path;

use crate::harness::{Transcript, field};
use crate::linux_guest::LINE_PREFIX;
use crate::qemu::{Accelerator, Machine, QemuConfig};

/// What Ethos's `fs-bench` prints its figures after, past the kernel's `user NAME: `.
pub const ETHOS_PREFIX: &str = "fs-bench ";
/// What the Linux guest prints its figures after, past [`LINE_PREFIX`].
pub const LINUX_PREFIX: &str = "fs ";

/// One run's figures: each the median over its samples, in nanoseconds by the
/// guest's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsFigures {
    /// Replacing a small file, durably.
    pub write_small_ns: u64,
    /// Making a new small file, durably.
    pub create_small_ns: u64,
    /// Reading a small file from the disk.
    pub read_small_ns: u64,
    pub write_large_ns: u64,
    pub read_large_ns: u64,
    pub small_bytes: u64,
    pub large_bytes: u64,
    /// Timed calls of each small kind.
    pub samples: u64,
    /// Timed writes and reads of the large value.
    pub large_samples: u64,
}

/// Reads a line of figures.
pub fn parse_figures(line: &str) -> Result<FsFigures, String> {
    Ok(FsFigures {
        write_small_ns: field(line, "write_small_ns")?,
        create_small_ns: field(line, "create_small_ns")?,
        read_small_ns: field(line, "read_small_ns")?,
        write_large_ns: field(line, "write_large_ns")?,
        read_large_ns: field(line, "read_large_ns")?,
        small_bytes: field(line, "small_bytes")?,
        large_bytes: field(line, "large_bytes")?,
        samples: field(line, "samples")?,
        large_samples: field(line, "large_samples")?,
    })
}

/// Ethos's figures: the line `fs-bench` printed.
pub fn ethos_figures(transcript: &Transcript) -> Result<FsFigures, String> {
    let line = transcript
        .lines
        .iter()
        .find_map(|(_, line)| {
            let (_, rest) = line.strip_prefix("user ")?.split_once(": ")?;
            rest.strip_prefix(ETHOS_PREFIX)
        })
        .ok_or("fs-bench printed no `fs-bench …` line")?;
    parse_figures(line)
}

/// The Linux guest's figures.
pub fn linux_figures(transcript: &Transcript) -> Result<FsFigures, String> {
    let line = transcript
        .lines
        .iter()
        .find_map(|(_, line)| line.strip_prefix(LINE_PREFIX)?.strip_prefix(LINUX_PREFIX))
        .ok_or("the Linux guest printed no `linux-guest fs …` line")?;
    parse_figures(line)
}

/// How QEMU backs the guest's disk (`-drive cache=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskCache {
    /// QEMU's default: writes go through the host's page cache and a guest's flush
    /// becomes an `fdatasync` of the image, so what the guest made durable is.
    Writeback,
    /// The image is opened `O_DIRECT`, flushes as with `Writeback`.
    None,
    /// Flushes are ignored: the guest's software alone, no host disk in the figures.
    Unsafe,
}

impl DiskCache {
    pub fn name(self) -> &'static str {
        match self {
            DiskCache::Writeback => "writeback",
            DiskCache::None => "none",
            DiskCache::Unsafe => "unsafe",
        }
    }
}

/// A guest of the benchmark: `kernel` with `command_line` (and `initramfs`), the
/// raw image `disk` as a virtio-blk device on microvm's virtio-mmio transport,
/// under TCG.
pub fn guest_config(
    kernel: &Path,
    command_line: &str,
    initramfs: Option<&Path>,
    disk: &Path,
    cache: DiskCache,
) -> QemuConfig {
    let mut config = QemuConfig::pvh(kernel, command_line, Machine::Microvm, Accelerator::Tcg);
    if let Some(initramfs) = initramfs {
        config
            .extra
            .extend(["-initrd".into(), initramfs.display().to_string()]);
    }
    config.extra.extend([
        "-drive".into(),
        format!(
            "file={},format=raw,if=none,id=d0,cache={}",
            disk.display(),
            cache.name()
        ),
        "-device".into(),
        "virtio-blk-device,drive=d0".into(),
    ]);
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{self, RunEnd};

    fn transcript(lines: &[&str]) -> Transcript {
        harness::transcript_of(lines, RunEnd::Kernel(ethos_abi::ExitCode::Success))
    }

    const LINE: &str = "write_small_ns=2000 create_small_ns=3000 read_small_ns=400 \
                        write_large_ns=90000 read_large_ns=8000 small_bytes=4096 \
                        large_bytes=1048576 samples=200 large_samples=8";

    #[test]
    fn ethos_figures_come_from_the_programs_line() {
        let figures = ethos_figures(&transcript(&[
            "@ethos store backend=native driver=virtio-blk",
            &format!("user alice: fs-bench {LINE}"),
        ]))
        .unwrap();
        assert_eq!(figures.write_small_ns, 2000);
        assert_eq!(figures.create_small_ns, 3000);
        assert_eq!(figures.read_large_ns, 8000);
        assert_eq!(figures.large_bytes, 1 << 20);
        assert_eq!(figures.large_samples, 8);
        assert!(ethos_figures(&transcript(&["user alice: fs-bench write_small_ns=1"])).is_err());
        assert!(ethos_figures(&transcript(&[])).is_err());
    }

    #[test]
    fn linux_figures_come_from_the_guests_line() {
        let figures = linux_figures(&transcript(&[
            "linux-guest init monotonic_ns=1 tsc=2",
            &format!("linux-guest fs {LINE}"),
        ]))
        .unwrap();
        assert_eq!(figures.read_small_ns, 400);
        assert_eq!(figures.samples, 200);
        // Ethos's line is not the Linux guest's.
        assert!(linux_figures(&transcript(&[&format!("user alice: fs-bench {LINE}")])).is_err());
    }

    #[test]
    fn the_disk_is_a_virtio_mmio_block_device_with_the_cache_asked_for() {
        let config = guest_config(
            Path::new("vmlinuz"),
            "console=ttyS0",
            Some(Path::new("fs.cpio")),
            Path::new("disk.img"),
            DiskCache::Unsafe,
        );
        let shown = config.display();
        assert!(shown.contains(" -M microvm "), "{shown}");
        assert!(shown.contains(" -initrd fs.cpio "), "{shown}");
        assert!(
            shown.ends_with(
                "-drive file=disk.img,format=raw,if=none,id=d0,cache=unsafe \
                 -device virtio-blk-device,drive=d0"
            ),
            "{shown}"
        );
    }
}
