//! The words a virtual machine monitor puts on the command line beside the kernel's.
//!
//! A VMM that boots Linux guests writes Linux words: Firecracker appends `pci=off`
//! unless PCI is enabled and one `virtio_mmio.device=SIZE@ADDR:IRQ` per device, QEMU's
//! `microvm` without ACPI appends the latter too, and a user who knows Linux writes
//! `console=ttyS0 reboot=k panic=1`. The kernel acts on the ones it understands
//! (virtio-mmio devices, `pci=off`, `console=ttyS0`) and reports the others as
//! ignored; only a word that looks like a misspelling of one of its own stays an
//! error, so a typo still cannot silently change what a test boots.
//!
//! The misspelling test is an edit distance (insertions, deletions, substitutions
//! and swaps of neighbours) written here: the kernel's keys are a handful of short
//! words, and the string-similarity crates need the standard library.

use crate::virtio_mmio::{MINIMUM_MMIO_WINDOW, MmioDevice};

/// The kernel's own keys, as a misspelling is measured against them.
const OWN_KEYS: [&str; 8] = [
    "test", "init", "log", "timer", "console", "backend", "storage", "rump.dma",
];

/// A number as Linux's `memparse` reads it: `0x` hexadecimal, a leading `0` octal,
/// decimal otherwise, then an optional binary suffix (K, M, G, T, P, E).
fn memory_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        b't' | b'T' => (&text[..text.len() - 1], 40),
        b'p' | b'P' => (&text[..text.len() - 1], 50),
        b'e' | b'E' => (&text[..text.len() - 1], 60),
        _ => (text, 0),
    };
    let number = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse().ok()?
    };
    number
        .checked_mul(1u64.checked_shl(shift)?)
        .filter(|value| {
            // `checked_mul` by a power of two cannot tell a shifted-out high bit.
            shift == 0 || value >> shift == number
        })
}

/// The value of a `virtio_mmio.device=` word: `SIZE@ADDR:IRQ`, optionally `:ID`
/// (Linux's platform device id, which the kernel does not need).
pub(super) fn mmio_device(value: &str) -> Option<MmioDevice> {
    let (size, rest) = value.split_once('@')?;
    let (base, rest) = rest.split_once(':')?;
    let interrupt = match rest.split_once(':') {
        Some((interrupt, id)) => {
            id.parse::<u32>().ok()?;
            interrupt
        }
        None => rest,
    };
    let device = MmioDevice {
        base: memory_size(base)?,
        size: memory_size(size)?,
        interrupt: interrupt.parse().ok()?,
    };
    let fits = device.base.checked_add(device.size).is_some();
    (fits && device.size >= MINIMUM_MMIO_WINDOW && device.base.is_multiple_of(4)).then_some(device)
}

/// What a `console=` value names, if it is a Linux console rather than the kernel's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinuxConsole {
    /// `ttyS0`, with or without `,options`: the first UART, which is the kernel's
    /// serial console.
    FirstUart,
    /// Any other Linux console device (`tty0`, `ttyS1`, `hvc0`, `ttyAMA0`, …).
    Other,
}

pub(super) fn linux_console(value: &str) -> Option<LinuxConsole> {
    let device = value.split_once(',').map_or(value, |(device, _)| device);
    if device == "ttyS0" {
        Some(LinuxConsole::FirstUart)
    } else if ["tty", "hvc", "xvc", "uart", "lp"]
        .iter()
        .any(|prefix| device.starts_with(prefix))
    {
        Some(LinuxConsole::Other)
    } else {
        None
    }
}

/// The kernel key `key` (a word's text before `=`) is a misspelling of, if any:
/// within one edit of a key of four letters or fewer, two of a longer one.
pub(super) fn misspelt_key(key: &str) -> Option<&'static str> {
    // `backend.CLASS` is judged by what comes before its dot; `rump.dma` whole.
    let head = key.split_once('.').map_or(key, |(head, _)| head);
    OWN_KEYS.into_iter().find(|own| {
        let measured = if *own == "backend" { head } else { key };
        let allowed = if own.len() <= 4 { 1 } else { 2 };
        edit_distance(measured.as_bytes(), own.as_bytes())
            .is_some_and(|distance| distance <= allowed)
    })
}

/// The longest word the edit distance is measured for; longer ones resemble no key.
const LONGEST_MEASURED: usize = 24;

/// The optimal-string-alignment distance between `a` and `b`, ignoring ASCII case,
/// or `None` when either is longer than [`LONGEST_MEASURED`].
fn edit_distance(a: &[u8], b: &[u8]) -> Option<usize> {
    if a.len() > LONGEST_MEASURED || b.len() > LONGEST_MEASURED {
        return None;
    }
    let mut rows = [[0usize; LONGEST_MEASURED + 1]; LONGEST_MEASURED + 1];
    for (i, row) in rows.iter_mut().enumerate().take(a.len() + 1) {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let same = a[i - 1].eq_ignore_ascii_case(&b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + usize::from(!same));
            if i > 1
                && j > 1
                && a[i - 1].eq_ignore_ascii_case(&b[j - 2])
                && a[i - 2].eq_ignore_ascii_case(&b[j - 1])
            {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    Some(rows[a.len()][b.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firecracker_and_qemu_device_words_are_read() {
        assert_eq!(
            mmio_device("4K@0xc0001000:5"),
            Some(MmioDevice {
                base: 0xc000_1000,
                size: 4096,
                interrupt: 5
            })
        );
        assert_eq!(
            mmio_device("512@0xfeb00000:24"),
            Some(MmioDevice {
                base: 0xfeb0_0000,
                size: 512,
                interrupt: 24
            })
        );
        assert_eq!(
            mmio_device("0x1000@3221229568:6:2"),
            Some(MmioDevice {
                base: 0xc000_1000,
                size: 4096,
                interrupt: 6
            })
        );
    }

    #[test]
    fn malformed_device_words_are_refused() {
        for bad in [
            "",
            "4K",
            "4K@0xc0001000",
            "4K@0xc0001000:",
            "4K@0xc0001000:x",
            "4K@zz:5",
            "4Q@0xc0001000:5",
            "0@0xc0001000:5",
            "255@0xc0001000:5",
            "4K@0xc0001001:5",
            "4K@0xfffffffffffff000:5",
            "16E@0x1000:5",
            "4K@0xc0001000:5:x",
        ] {
            assert_eq!(mmio_device(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sizes_read_as_memparse_reads_them() {
        assert_eq!(memory_size("512"), Some(512));
        assert_eq!(memory_size("0x200"), Some(512));
        assert_eq!(memory_size("01000"), Some(512));
        assert_eq!(memory_size("4k"), Some(4096));
        assert_eq!(memory_size("1M"), Some(1 << 20));
        assert_eq!(memory_size("2G"), Some(2 << 30));
        assert_eq!(memory_size("16E"), None);
        assert_eq!(memory_size("K"), None);
    }

    #[test]
    fn linux_consoles_are_told_from_the_kernels() {
        assert_eq!(linux_console("ttyS0"), Some(LinuxConsole::FirstUart));
        assert_eq!(
            linux_console("ttyS0,115200n8"),
            Some(LinuxConsole::FirstUart)
        );
        assert_eq!(linux_console("ttyS1"), Some(LinuxConsole::Other));
        assert_eq!(linux_console("hvc0"), Some(LinuxConsole::Other));
        assert_eq!(linux_console("tty0"), Some(LinuxConsole::Other));
        assert_eq!(linux_console("serial"), None);
        assert_eq!(linux_console("vga"), None);
    }

    #[test]
    fn misspellings_of_own_keys_are_caught_and_linux_words_are_not() {
        for (word, own) in [
            ("tset", "test"),
            ("tes", "test"),
            ("inti", "init"),
            ("lgo", "log"),
            ("tmier", "timer"),
            ("consloe", "console"),
            ("CONSOLE", "console"),
            ("backedn.network", "backend"),
            ("backend", "backend"),
            ("rump.dam", "rump.dma"),
        ] {
            assert_eq!(misspelt_key(word), Some(own), "{word}");
        }
        for linux in [
            "reboot",
            "panic",
            "pci",
            "root",
            "ro",
            "rw",
            "quiet",
            "tsc",
            "nokaslr",
            "acpi",
            "noapic",
            "i8042.noaux",
            "8250.nr_uarts",
            "random.trust_cpu",
            "earlyprintk",
            "virtio_mmio.device",
            "loglevel",
        ] {
            assert_eq!(misspelt_key(linux), None, "{linux}");
        }
    }
}
