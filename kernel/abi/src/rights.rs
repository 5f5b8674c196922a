//! Rights as types: what a descriptor lets its holder do, and what a label lets a
//! (user, program) pair do.
//!
//! The two sets are different types so that a policy right can never be mistaken for
//! a descriptor right. Both are closed: bits outside the defined ones are refused when
//! a set is built from a program's register, never silently dropped.

use core::fmt;
use core::ops::BitOr;

/// Rights carried by a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DescriptorRights(u32);

/// Rights the policy grants on a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct LabelRights(u32);

/// A rights word from a program with bits no right uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UndefinedRights(pub u64);

impl fmt::Display for UndefinedRights {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "rights word {:#x} has undefined bits", self.0)
    }
}

macro_rules! rights_set {
    ($set:ident, $all:expr) => {
        impl $set {
            /// No right at all.
            pub const NONE: $set = $set(0);
            /// Every right the set defines.
            pub const ALL: $set = $set($all);

            /// The bits, as a program sees them.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// The set behind a program's word, if every bit names a right.
            pub const fn from_bits(bits: u64) -> Result<$set, UndefinedRights> {
                if bits & !(Self::ALL.0 as u64) != 0 {
                    return Err(UndefinedRights(bits));
                }
                Ok($set(bits as u32))
            }

            /// Whether every right of `other` is in `self`.
            pub const fn contains(self, other: $set) -> bool {
                self.0 & other.0 == other.0
            }

            /// The rights in both sets.
            pub const fn intersection(self, other: $set) -> $set {
                $set(self.0 & other.0)
            }

            /// The rights in either set.
            pub const fn union(self, other: $set) -> $set {
                $set(self.0 | other.0)
            }

            /// Whether the set holds no right.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }
        }

        impl BitOr for $set {
            type Output = $set;

            fn bitor(self, other: $set) -> $set {
                self.union(other)
            }
        }
    };
}

impl DescriptorRights {
    /// `read` and `peek`.
    pub const READ: DescriptorRights = DescriptorRights(1 << 0);
    /// `write`.
    pub const WRITE: DescriptorRights = DescriptorRights(1 << 1);
    /// `import` on a listening descriptor.
    pub const IMPORT: DescriptorRights = DescriptorRights(1 << 2);
    /// Passing the descriptor on with `fdSend`.
    pub const TRANSFER: DescriptorRights = DescriptorRights(1 << 3);
    /// Copying the descriptor with `copyFd`.
    pub const COPY: DescriptorRights = DescriptorRights(1 << 4);
}

rights_set!(DescriptorRights, 0b1_1111);

impl LabelRights {
    /// `advertise` a service carrying the label.
    pub const ADVERTISE: LabelRights = LabelRights(1 << 0);
    /// `import` connections to a service carrying the label.
    pub const IMPORT: LabelRights = LabelRights(1 << 1);
    /// `ipc` to a service carrying the label.
    pub const IPC: LabelRights = LabelRights(1 << 2);
    /// `fdReceive` as the virtual process of a program carrying the label.
    pub const FD_RECEIVE: LabelRights = LabelRights(1 << 3);
    /// Reading files in a directory carrying the label.
    pub const READ: LabelRights = LabelRights(1 << 4);
    /// Replacing files (`writeVar` on an existing name) in a directory carrying the
    /// label.
    pub const WRITE: LabelRights = LabelRights(1 << 5);
    /// Creating files and directories (`writeVar` on a new name, `createDirectory`)
    /// in a directory carrying the label.
    pub const CREATE: LabelRights = LabelRights(1 << 6);
    /// Removing files and directories from a directory carrying the label.
    pub const REMOVE: LabelRights = LabelRights(1 << 7);

    /// Every right with its name, as descriptions of the policy (`image.toml`, the
    /// initial image's `policy` record) write it.
    pub const NAMES: [(&'static str, LabelRights); 8] = [
        ("advertise", LabelRights::ADVERTISE),
        ("import", LabelRights::IMPORT),
        ("ipc", LabelRights::IPC),
        ("fd-receive", LabelRights::FD_RECEIVE),
        ("read", LabelRights::READ),
        ("write", LabelRights::WRITE),
        ("create", LabelRights::CREATE),
        ("remove", LabelRights::REMOVE),
    ];

    /// The right with this name in [`LabelRights::NAMES`].
    pub fn from_name(name: &str) -> Option<LabelRights> {
        Self::NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, right)| *right)
    }
}

rights_set!(LabelRights, 0b1111_1111);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_bits_are_refused() {
        assert_eq!(
            DescriptorRights::from_bits(1 << 5),
            Err(UndefinedRights(1 << 5))
        );
        assert_eq!(
            DescriptorRights::from_bits(u64::from(u32::MAX) + 1),
            Err(UndefinedRights(u64::from(u32::MAX) + 1))
        );
        assert_eq!(LabelRights::from_bits(1 << 8), Err(UndefinedRights(1 << 8)));
        assert_eq!(
            DescriptorRights::from_bits(0b1_1111),
            Ok(DescriptorRights::ALL)
        );
    }

    #[test]
    fn containment_and_intersection() {
        let read_write = DescriptorRights::READ | DescriptorRights::WRITE;
        assert!(read_write.contains(DescriptorRights::READ));
        assert!(!read_write.contains(DescriptorRights::TRANSFER));
        assert!(read_write.contains(DescriptorRights::NONE));
        assert_eq!(
            read_write.intersection(DescriptorRights::WRITE | DescriptorRights::COPY),
            DescriptorRights::WRITE
        );
        assert!(DescriptorRights::NONE.is_empty());
        assert!(LabelRights::ALL.contains(LabelRights::FD_RECEIVE));
    }

    #[test]
    fn every_label_right_has_one_name() {
        let named = LabelRights::NAMES
            .iter()
            .fold(LabelRights::NONE, |all, (_, right)| all | *right);
        assert_eq!(named, LabelRights::ALL);
        for (name, right) in LabelRights::NAMES {
            assert_eq!(LabelRights::from_name(name), Some(right));
        }
        assert_eq!(LabelRights::from_name("fd_receive"), None);
    }
}
