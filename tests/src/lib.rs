//! The QEMU harness.
