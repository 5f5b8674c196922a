//! The per-process kernel memory limit against the kernel heap the platform has.
//!
//! The image configures the limit (`[limits] kernel_memory_per_process`), but only
//! the platform knows how large its kernel heap is. A limit larger than the heap
//! does not bound anything: one process would fill the heap and every other
//! process's requests would fail with `NoMemory`. So a platform with a bounded heap
//! lowers the limit to [`effective_limit`] before the first process starts, and
//! says so. This module never raises a limit the image set.

use super::model::ProcessModel;

/// One process may hold at most this fraction (1 / `HEAP_SHARE`) of the kernel
/// heap: a quarter.
///
/// A process at its limit leaves three quarters of the heap to the others and to
/// the kernel itself. On QEMU's default machine (256 MiB, a heap of about 63 MiB)
/// that is some 47 MiB: room for the largest value a call reads in
/// before the model sees it (the ABI's 32 MiB) beside the kernel's own tables, so
/// another process's call is answered on its own merits, not with `NoMemory`. A
/// half would leave less than one such value. The bound is per process: several
/// processes at their limits still share one heap.
pub const HEAP_SHARE: usize = 4;

/// The kernel memory limit of each process on a kernel heap of `heap_bytes`: the
/// configured limit, or [`HEAP_SHARE`]'s fraction of the heap if that is less, but
/// never below the least limit an image may set
/// ([`ethos_abi::arguments::MINIMUM_PROCESS_KERNEL_MEMORY`], so every process can
/// make progress) unless the configured limit is.
pub fn effective_limit(configured: usize, heap_bytes: usize) -> usize {
    let share = (heap_bytes / HEAP_SHARE).max(ethos_abi::arguments::MINIMUM_PROCESS_KERNEL_MEMORY);
    configured.min(share)
}

/// A limit lowered to fit the kernel heap, for the platform's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoweredLimit {
    /// The limit the image configured, in bytes.
    pub configured: usize,
    /// The limit each process now has, in bytes.
    pub effective: usize,
    /// The kernel heap it was fitted to, in bytes.
    pub heap: usize,
}

impl core::fmt::Display for LoweredLimit {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            formatter,
            "the per-process kernel memory limit is lowered from the configured {} bytes \
             to {} bytes, 1/{HEAP_SHARE} of the {}-byte kernel heap",
            self.configured, self.effective, self.heap
        )
    }
}

impl ProcessModel {
    /// The kernel memory each process may hold, in bytes.
    pub fn kernel_memory_limit(&self) -> usize {
        self.kernel_memory_limit
    }

    /// Lowers the per-process limit to [`effective_limit`] for a kernel heap of
    /// `heap_bytes`; what changed, if it did. A platform whose kernel heap is bounded
    /// calls it once, before the first process starts.
    pub fn fit_kernel_memory_limit(&mut self, heap_bytes: usize) -> Option<LoweredLimit> {
        let configured = self.kernel_memory_limit;
        let effective = effective_limit(configured, heap_bytes);
        if effective == configured {
            return None;
        }
        self.kernel_memory_limit = effective;
        Some(LoweredLimit {
            configured,
            effective,
            heap: heap_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use ethos_abi::arguments::{DEFAULT_PROCESS_KERNEL_MEMORY, MINIMUM_PROCESS_KERNEL_MEMORY};

    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn a_limit_above_a_quarter_of_the_heap_is_lowered_to_it() {
        // QEMU's 256 MiB machine: a heap of 16,102 frames.
        let heap = 16_102 * 4096;
        assert_eq!(
            effective_limit(DEFAULT_PROCESS_KERNEL_MEMORY, heap),
            heap / 4
        );
        // The heap is at most 64 MiB whatever the RAM, so the limit is at most 16 MiB:
        // below the ABI's largest value.
        assert_eq!(
            effective_limit(DEFAULT_PROCESS_KERNEL_MEMORY, 64 * MIB),
            16 * MIB
        );
    }

    #[test]
    fn a_limit_within_a_quarter_of_the_heap_is_kept() {
        assert_eq!(effective_limit(MIB, 64 * MIB), MIB);
        assert_eq!(effective_limit(16 * MIB, 64 * MIB), 16 * MIB);
        assert_eq!(
            effective_limit(MINIMUM_PROCESS_KERNEL_MEMORY, 4096),
            MINIMUM_PROCESS_KERNEL_MEMORY
        );
    }

    #[test]
    fn a_tiny_heap_still_leaves_the_least_limit() {
        assert_eq!(
            effective_limit(DEFAULT_PROCESS_KERNEL_MEMORY, 8192),
            MINIMUM_PROCESS_KERNEL_MEMORY
        );
        assert_eq!(effective_limit(usize::MAX, usize::MAX), usize::MAX / 4);
    }
}
