//! Message-signalled interrupts on x86: the address and data a device writes to
//! raise a vector on the boot CPU's local APIC, and the vectors set aside for them.
//!
//! This module only composes messages; it never touches a device. A vector it hands
//! out must have a handler behind it (`interrupt::handle` serves the whole range).

use super::apic::local_apic_id;

/// The first vector for message-signalled interrupts; slot `n` gets `MSI_VECTOR_BASE + n`.
pub const MSI_VECTOR_BASE: u8 = 0x70;
/// How many message-signalled vectors there are.
pub const MSI_SLOTS: u8 = 16;

/// The message (address, data) that raises `MSI_VECTOR_BASE + slot` on the boot CPU:
/// address `0xfee0_0000 | apic_id << 12` (physical destination, no redirection),
/// data the vector (fixed delivery, edge triggered). `None` for a slot out of range.
pub fn msi_message(slot: u8) -> Option<(u64, u32)> {
    if slot >= MSI_SLOTS {
        return None;
    }
    let address = 0xfee0_0000u64 | (u64::from(local_apic_id()) << 12);
    Some((address, u32::from(MSI_VECTOR_BASE + slot)))
}
